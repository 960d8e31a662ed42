//! The JOSE minter peer (tests/peers/oidc/mint.mjs): panva's `jose` on Node signs ID tokens with
//! whatever claims a test needs (a stale `iat`, a foreign `azp`, a `jti`, a nonce) and, through
//! raw header and payload text, tokens with duplicate members, all verifiable against the JWKS
//! it serves. Tokens from a real JOSE implementation, not from our own signer.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub struct JoseMinter {
    /// `http://127.0.0.1:PORT`: use it as the issuer of the tokens it mints.
    pub issuer: String,
    child: Child,
    log: tempfile::NamedTempFile,
    http: reqwest::Client,
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/oidc")
}

impl JoseMinter {
    /// Starts the minter and waits (≤ 20 s) until its JWKS answers.
    pub async fn start() -> JoseMinter {
        assert!(
            dir().join("node_modules/jose/package.json").exists(),
            "jose is not installed in tests/peers/oidc: run scripts/setup.sh (npm ci there)"
        );
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let port = super::free_port();
            let log = tempfile::NamedTempFile::new().unwrap();
            let child = Command::new("node")
                .arg("mint.mjs")
                .current_dir(dir())
                .env("MINT_PORT", port.to_string())
                .stdin(Stdio::null())
                .stdout(log.reopen().unwrap())
                .stderr(log.reopen().unwrap())
                .spawn()
                .expect("node runs (Debian package nodejs; scripts/setup.sh)");
            let mut peer = JoseMinter {
                issuer: format!("http://127.0.0.1:{port}"),
                child,
                log,
                http: reqwest::Client::new(),
            };
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(r) = peer.http.get(peer.jwks_url()).send().await {
                    if r.status().is_success() {
                        return peer;
                    }
                }
                if peer.child.try_wait().unwrap().is_some() {
                    last_log = std::fs::read_to_string(peer.log.path()).unwrap_or_default();
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the jose minter did not answer within 20 s; log:\n{}",
                    std::fs::read_to_string(peer.log.path()).unwrap_or_default()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        panic!("the jose minter exited at start three times; last log:\n{last_log}");
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks", self.issuer)
    }

    async fn post(&self, body: Value) -> String {
        let r = self
            .http
            .post(format!("{}/mint", self.issuer))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "mint answered {status}: {text}");
        text
    }

    /// An RS256 JWT (kid `mint-rs-1`) with exactly these claims.
    pub async fn mint(&self, claims: Value) -> String {
        self.post(json!({ "claims": claims })).await
    }

    /// A JWT whose header (when given) and payload are these exact texts, signed correctly.
    pub async fn mint_raw(&self, header: Option<&str>, payload: &str) -> String {
        match header {
            Some(h) => {
                self.post(json!({"header_raw": h, "payload_raw": payload}))
                    .await
            }
            None => self.post(json!({ "payload_raw": payload })).await,
        }
    }
}

impl Drop for JoseMinter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
