//! Debian's Chromium driven by chromedriver, with Chrome's virtual authenticator (WebDriver's
//! WebAuthn extension: ctap2, internal transport, resident keys, user verification) — the
//! browser side of the passkey tests: it runs the server's own ceremony pages as a person's
//! browser would.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use super::free_port;

const WAIT: Duration = Duration::from_secs(30);

/// chromedriver and its headless Chromium; both end with the value.
pub struct Chromium {
    driver: Child,
    http: reqwest::Client,
    base: String,
    session: String,
    authenticator: String,
    _profile: tempfile::TempDir,
}

impl Chromium {
    pub async fn start() -> Chromium {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (Debian package chromium-driver; scripts/setup.sh)");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let profile = tempfile::tempdir().unwrap();
        // The flags the machine notes name for headless Chromium on a closed network.
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args},
        }}});
        let deadline = Instant::now() + WAIT;
        let session = loop {
            match http
                .post(format!("{base}/session"))
                .json(&caps)
                .send()
                .await
            {
                Ok(r) => {
                    let v: Value = r.json().await.unwrap();
                    break v["value"]["sessionId"]
                        .as_str()
                        .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
                        .to_string();
                }
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                Err(e) => panic!("chromedriver does not answer: {e}"),
            }
        };
        let mut browser = Chromium {
            driver,
            http,
            base,
            session,
            authenticator: String::new(),
            _profile: profile,
        };
        let id = browser
            .send(
                Method::POST,
                "/webauthn/authenticator",
                Some(json!({
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": true,
                    "hasUserVerification": true,
                    "isUserVerified": true,
                    "automaticPresenceSimulation": true,
                })),
            )
            .await;
        browser.authenticator = id.as_str().expect("authenticator id").to_string();
        browser
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("chromedriver answers");
        let ok = r.status().is_success();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(ok, "WebDriver {path}: {v}");
        v["value"].clone()
    }

    pub async fn open(&self, url: &str) {
        self.send(Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    pub async fn script(&self, script: &str) -> Value {
        let body = json!({"script": script, "args": []});
        self.send(Method::POST, "/execute/sync", Some(body)).await
    }

    /// Waits for the page to finish: `Ok(the app redirect)` or `Err(error code)`.
    pub async fn outcome(&self) -> Result<String, String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self
                .script(
                    "const d = document.getElementById('done'); \
                     const s = document.getElementById('status'); \
                     if (d && d.getAttribute('href')) return {ok: d.getAttribute('href')}; \
                     if (s && s.dataset.code) return {err: s.dataset.code, text: s.textContent}; \
                     return null;",
                )
                .await;
            if let Some(ok) = v["ok"].as_str() {
                return Ok(ok.to_string());
            }
            if let Some(err) = v["err"].as_str() {
                eprintln!("passkey page: {err}: {}", v["text"]);
                return Err(err.to_string());
            }
            assert!(Instant::now() < deadline, "the passkey page never finished");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn auth_path(&self, rest: &str) -> String {
        format!("/webauthn/authenticator/{}{rest}", self.authenticator)
    }

    pub async fn credentials(&self) -> Vec<Value> {
        let v = self
            .send(Method::GET, &self.auth_path("/credentials"), None)
            .await;
        v.as_array().cloned().unwrap_or_default()
    }

    /// Puts the authenticator's one credential back with `sign_count`, as a cloned or restored
    /// authenticator would present it.
    pub async fn set_sign_count(&self, sign_count: u64) {
        let mut credential = self.credentials().await.pop().expect("one credential");
        self.send(Method::DELETE, &self.auth_path("/credentials"), None)
            .await;
        credential["signCount"] = json!(sign_count);
        self.send(
            Method::POST,
            &self.auth_path("/credential"),
            Some(credential),
        )
        .await;
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
