//! The OpenID provider peer: panva's certified `oidc-provider` (tests/peers/oidc/op.mjs) run by
//! Node on an ephemeral port, in `auto` mode (login = `login_hint`, consent auto-granted), so
//! Google/Apple-style logins are tested against a real OP's ID tokens, JWKS and token endpoint
//! instead of tokens we mint ourselves. See /work/shared/test-peers.md §1.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::browser::Browser;

/// Registered at start besides the caller's redirect URIs. Nothing listens on port 1: the
/// browser stops at this URL without connecting, and the helpers read the code from it.
pub const PEER_CALLBACK: &str = "http://127.0.0.1:1/peer-callback";

pub struct OidcPeer {
    pub port: u16,
    /// `http://127.0.0.1:PORT`, no trailing slash (what the OP puts in `iss`).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// The discovery document as served.
    pub discovery: Value,
    child: Child,
    log: tempfile::NamedTempFile,
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/oidc")
}

impl OidcPeer {
    /// Starts the OP with `redirect_uris` (plus [`PEER_CALLBACK`]) registered for `test-client`
    /// and `test-public-client`, and waits (≤ 20 s) until discovery answers.
    pub async fn start(redirect_uris: &[String]) -> OidcPeer {
        assert!(
            dir()
                .join("node_modules/oidc-provider/package.json")
                .exists(),
            "oidc-provider is not installed in tests/peers/oidc: \
             run scripts/setup.sh (it runs npm ci there)"
        );
        let mut uris: Vec<String> = redirect_uris.to_vec();
        uris.push(PEER_CALLBACK.to_string());
        // The port is picked before Node binds it; if another test grabbed it meanwhile, the
        // child exits at once and we try another.
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let port = super::free_port();
            let log = tempfile::NamedTempFile::new().unwrap();
            let child = Command::new("node")
                .arg("op.mjs")
                .current_dir(dir())
                .env("OP_PORT", port.to_string())
                .env("OP_MODE", "auto")
                .env("OP_REDIRECT_URIS", uris.join(","))
                .env_remove("OP_CLIENT_ID")
                .env_remove("OP_CLIENT_SECRET")
                .env_remove("OP_JWKS_OUT")
                .stdin(Stdio::null())
                .stdout(log.reopen().unwrap())
                .stderr(log.reopen().unwrap())
                .spawn()
                .expect("node runs (Debian package nodejs; scripts/setup.sh)");
            let mut peer = OidcPeer {
                port,
                issuer: format!("http://127.0.0.1:{port}"),
                client_id: "test-client".into(),
                client_secret: "test-secret".into(),
                discovery: Value::Null,
                child,
                log,
            };
            let http = reqwest::Client::new();
            let url = format!("{}/.well-known/openid-configuration", peer.issuer);
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(r) = http.get(&url).send().await {
                    if r.status().is_success() {
                        peer.discovery = r.json().await.expect("discovery is JSON");
                        assert_eq!(peer.discovery["issuer"], peer.issuer);
                        return peer;
                    }
                }
                if peer.child.try_wait().unwrap().is_some() {
                    last_log = std::fs::read_to_string(peer.log.path()).unwrap_or_default();
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "oidc-provider did not answer within 20 s; log:\n{}",
                    peer.log_text()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        panic!("oidc-provider exited at start three times; last log:\n{last_log}");
    }

    /// What the OP printed so far (warnings, `server_error`s).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    fn endpoint(&self, key: &str) -> String {
        self.discovery[key]
            .as_str()
            .unwrap_or_else(|| panic!("discovery has no {key}"))
            .to_string()
    }

    pub fn authorize_url(&self) -> String {
        self.endpoint("authorization_endpoint")
    }

    pub fn token_url(&self) -> String {
        self.endpoint("token_endpoint")
    }

    pub fn jwks_url(&self) -> String {
        self.endpoint("jwks_uri")
    }

    pub fn userinfo_url(&self) -> String {
        self.endpoint("userinfo_endpoint")
    }

    /// RFC 7662 introspection (`{issuer}/token/introspection` in oidc-provider 9).
    pub fn introspection_url(&self) -> String {
        self.endpoint("introspection_endpoint")
    }

    /// RFC 7009 revocation, as `test-client` (it may revoke only its own tokens).
    pub async fn revoke(&self, token: &str) {
        let resp = reqwest::Client::new()
            .post(self.endpoint("revocation_endpoint"))
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "revocation: {}", resp.status());
    }

    /// Like [`OidcPeer::auth_code`], for any registered client (`test-public-client`).
    pub async fn auth_code_for(
        &self,
        client_id: &str,
        login: &str,
        code_challenge: &str,
        nonce: &str,
    ) -> String {
        let state = super::random_token(16);
        let url = super::with_query(
            &self.authorize_url(),
            &[
                ("client_id", client_id),
                ("response_type", "code"),
                ("scope", "openid email profile"),
                ("redirect_uri", PEER_CALLBACK),
                ("code_challenge", code_challenge),
                ("code_challenge_method", "S256"),
                ("nonce", nonce),
                ("state", state.as_str()),
                ("login_hint", login),
            ],
        );
        let landing = Browser::new()
            .navigate(&url, |u| u.starts_with(PEER_CALLBACK))
            .await;
        landing
            .param("code")
            .unwrap_or_else(|| panic!("no code for {client_id}: {landing:#?}"))
    }

    /// The token response a public client (token_endpoint_auth `none`, e.g.
    /// `test-public-client`) gets for `login` through the browser code + PKCE flow: the code is
    /// exchanged with its `client_id` and no secret.
    pub async fn public_client_tokens(&self, client_id: &str, login: &str) -> Value {
        let (verifier, challenge) = super::pkce_pair();
        let code = self
            .auth_code_for(client_id, login, &challenge, "n-public")
            .await;
        let resp = reqwest::Client::new()
            .post(self.token_url())
            .form(&[
                ("grant_type", "authorization_code"),
                ("client_id", client_id),
                ("code", code.as_str()),
                ("redirect_uri", PEER_CALLBACK),
                ("code_verifier", verifier.as_str()),
            ])
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert!(
            status.is_success(),
            "token endpoint answered {status}: {body}"
        );
        body
    }

    /// A full authorization request URL for `test-client` (code flow, S256 PKCE, scope
    /// `openid email profile`, `login_hint=login`, random state) plus `extra` parameters (e.g.
    /// `response_mode=form_post`).
    pub fn auth_request(
        &self,
        login: &str,
        redirect_uri: &str,
        code_challenge: &str,
        nonce: &str,
        extra: &[(&str, &str)],
    ) -> String {
        let state = super::random_token(16);
        let mut params = vec![
            ("client_id", self.client_id.as_str()),
            ("response_type", "code"),
            ("scope", "openid email profile"),
            ("redirect_uri", redirect_uri),
            ("code_challenge", code_challenge),
            ("code_challenge_method", "S256"),
            ("nonce", nonce),
            ("state", state.as_str()),
            ("login_hint", login),
        ];
        params.extend_from_slice(extra);
        super::with_query(&self.authorize_url(), &params)
    }

    /// Logs `login` in with a fresh browser (no session carried over between calls) and returns
    /// the authorization code delivered to `redirect_uri` (which must be registered). The browser
    /// stops at the redirect URI without fetching it, so the code is still unused.
    pub async fn auth_code(
        &self,
        login: &str,
        redirect_uri: &str,
        code_challenge: &str,
        nonce: &str,
    ) -> String {
        let browser = Browser::new();
        let url = self.auth_request(login, redirect_uri, code_challenge, nonce, &[]);
        let landing = browser
            .navigate(&url, |u| u.starts_with(redirect_uri))
            .await;
        assert!(
            landing.url.starts_with(redirect_uri),
            "the OP did not redirect to {redirect_uri}: {landing:#?}"
        );
        landing
            .param("code")
            .unwrap_or_else(|| panic!("no code in {}", landing.url))
    }

    /// Exchanges a code at the token endpoint as `test-client` (client_secret_basic); returns the
    /// token response JSON, panicking on an error answer.
    pub async fn exchange(&self, code: &str, redirect_uri: &str, code_verifier: &str) -> Value {
        let resp = reqwest::Client::new()
            .post(self.token_url())
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", code_verifier),
            ])
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert!(
            status.is_success(),
            "token endpoint answered {status}: {body}"
        );
        body
    }

    /// A real ID token for `login` (sub = login; email = login if it has an @, else
    /// login@example.test) with `nonce`, aud `test-client`, RS256 kid `rs-1`, from a full
    /// code + PKCE flow through the browser.
    pub async fn id_token(&self, login: &str, nonce: &str) -> String {
        let (verifier, challenge) = super::pkce_pair();
        let code = self
            .auth_code(login, PEER_CALLBACK, &challenge, nonce)
            .await;
        let tokens = self.exchange(&code, PEER_CALLBACK, &verifier).await;
        tokens["id_token"]
            .as_str()
            .expect("token response has an id_token")
            .to_string()
    }
}

impl Drop for OidcPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::{pkce_pair, serve, Browser};
    use jsonwebtoken::{decode, decode_header, jwk::Jwk, Algorithm, DecodingKey, Validation};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn id_token_verifies_against_the_op_jwks() {
        let op = OidcPeer::start(&[]).await;
        let token = op.id_token("alice@example.test", "n-123").await;
        let header = decode_header(&token).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.kid.as_deref(), Some("rs-1"));
        let jwks: Value = reqwest::get(op.jwks_url())
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let jwk = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == "rs-1")
            .unwrap();
        assert!(
            jwk.get("d").is_none(),
            "the JWKS must not publish private parts"
        );
        let jwk: Jwk = serde_json::from_value(jwk.clone()).unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&op.issuer]);
        validation.set_audience(&["test-client"]);
        let claims = decode::<Value>(&token, &DecodingKey::from_jwk(&jwk).unwrap(), &validation)
            .unwrap()
            .claims;
        assert_eq!(claims["iss"], op.issuer);
        assert_eq!(claims["aud"], "test-client");
        assert_eq!(claims["nonce"], "n-123");
        assert_eq!(claims["sub"], "alice@example.test");
        assert_eq!(claims["email"], "alice@example.test");
        assert_eq!(claims["email_verified"], true);

        // Another login gets its own subject (no session shared between helper calls).
        let bob = op.id_token("bob", "n-2").await;
        let claims = decode::<Value>(&bob, &DecodingKey::from_jwk(&jwk).unwrap(), &validation)
            .unwrap()
            .claims;
        assert_eq!(
            (claims["sub"].as_str(), claims["email"].as_str()),
            (Some("bob"), Some("bob@example.test"))
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn form_post_is_completed_by_the_browser() {
        // A real callback that receives the POST, as a server's form_post endpoint would (Apple).
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let r2 = received.clone();
        let app = axum::Router::new().route(
            "/cb",
            axum::routing::post(move |body: String| async move {
                r2.lock().unwrap().push(body);
                "signed in"
            }),
        );
        let cb = serve(app).await;
        let redirect_uri = format!("{}/cb", cb.base);
        let op = OidcPeer::start(std::slice::from_ref(&redirect_uri)).await;
        let (verifier, challenge) = pkce_pair();
        let url = op.auth_request(
            "carol",
            &redirect_uri,
            &challenge,
            "n-fp",
            &[("response_mode", "form_post")],
        );
        let browser = Browser::new();
        let landing = browser.navigate(&url, |_| false).await;
        assert_eq!(
            (landing.status, landing.body.as_str(), landing.url.as_str()),
            (200, "signed in", redirect_uri.as_str())
        );
        let posted = crate::peers::parse_form(&received.lock().unwrap()[0]);
        assert_eq!(posted["iss"], op.issuer);
        let tokens = op.exchange(&posted["code"], &redirect_uri, &verifier).await;
        assert!(tokens["id_token"].is_string());

        // Stopping at the callback instead hands the test the fields the browser would post.
        let url = op.auth_request(
            "carol",
            &redirect_uri,
            &challenge,
            "n-fp2",
            &[("response_mode", "form_post")],
        );
        let stop = Browser::new()
            .navigate(&url, |u| u.starts_with(&redirect_uri))
            .await;
        assert!(
            stop.form.is_some() && stop.param("code").is_some(),
            "{stop:#?}"
        );
        assert_eq!(received.lock().unwrap().len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wrong_verifier_is_refused_by_the_op() {
        let op = OidcPeer::start(&[]).await;
        let (_, challenge) = pkce_pair();
        let code = op.auth_code("dave", PEER_CALLBACK, &challenge, "n").await;
        let resp = reqwest::Client::new()
            .post(op.token_url())
            .basic_auth(&op.client_id, Some(&op.client_secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", PEER_CALLBACK),
                ("code_verifier", &"x".repeat(43)),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_grant");
    }
}
