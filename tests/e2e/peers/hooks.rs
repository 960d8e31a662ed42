//! Peers for the custom-function (webhook) and custom-JWT providers.
//!
//! `WebhookReceiver` is the developer's endpoint: the official PyPI `standardwebhooks` library
//! (`tests/peers/webhook_verify.py`) verifies every request's signature, as an app's receiver
//! would, and hands it to an in-process responder that records it byte for byte and answers what
//! the test scripts (slow, broken JSON, per-payload decisions). A request the library refuses is
//! answered 401 with the library's message and recorded as refused. No check of our own decides
//! whether a signature is good: that would only prove the server agrees with itself.
//!
//! `JwksServer` is the developer's token issuer: it publishes a JWKS and signs tokens by hand
//! (no JWT library), so tests can also forge what a library would refuse to produce: `alg: none`,
//! an unpublished "attacker" key, `jku`/`jwk` headers, HS256 with a public key as secret.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt as _;

use super::{b64url, serve, Served};

/// Set by `webhook_verify.py` on a request the library verified.
const VERIFIED: &str = "x-standardwebhooks-verified";
/// Set by `webhook_verify.py` on a request the library refused; the value is its message.
const REFUSED: &str = "x-standardwebhooks-refused";

/// The header value a Standard Webhooks sender puts in `webhook-signature`, keyed with raw
/// bytes (a `whsec_` secret's key is its base64-decoded tail). Only for sending test requests.
pub fn sign_standard_webhook(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key);
    let mut message = format!("{id}.{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    format!("v1,{}", STANDARD.encode(ring::hmac::sign(&key, &message)))
}

pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

type Decide = Arc<dyn Fn(&Value) -> (u16, Value) + Send + Sync>;

/// What the receiver answers.
#[derive(Clone)]
pub enum Responder {
    Answer(u16, Value),
    /// Waits, then answers (a slow function: tests the server's timeout).
    Sleep(Duration, u16, Value),
    /// 200 with `Content-Type: application/json` and a body that is not JSON.
    InvalidJson,
    /// Decides from the request body parsed as JSON (`Value::Null` if it is not JSON).
    With(Decide),
}

impl Responder {
    pub fn with(f: impl Fn(&Value) -> (u16, Value) + Send + Sync + 'static) -> Responder {
        Responder::With(Arc::new(f))
    }
}

/// One recorded delivery.
#[derive(Debug, Clone)]
pub struct HookRequest {
    pub method: String,
    /// Path and query as received.
    pub uri: String,
    /// The sender's headers (the verifier's own marker removed).
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// `standardwebhooks` verified the signature and timestamp (replay is not part of this: a
    /// retry legitimately reuses its webhook-id; see `repeated_id`).
    pub signature_ok: bool,
    /// The library's message when it refused.
    pub signature_error: Option<String>,
    /// An earlier request carried the same webhook-id.
    pub repeated_id: bool,
}

impl HookRequest {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

struct HookState {
    responder: Mutex<Responder>,
    requests: Mutex<Vec<HookRequest>>,
}

pub struct WebhookReceiver {
    state: Arc<HookState>,
    /// The in-process responder the verifier forwards to.
    served: Served,
    /// The verifier's base URL (what the server under test calls).
    base: String,
    /// `webhook_verify.py`, killed on drop.
    _verifier: tokio::process::Child,
}

fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers")
}

impl WebhookReceiver {
    /// Starts the responder on 127.0.0.1:0 (any path, answering `200 {}` until told otherwise)
    /// and the `standardwebhooks` verifier in front of it, keyed with `secret` as an app's
    /// receiver would be: a `whsec_` secret as the library reads it, another as its bytes.
    pub async fn start(secret: &str) -> WebhookReceiver {
        let state = Arc::new(HookState {
            responder: Mutex::new(Responder::Answer(200, json!({}))),
            requests: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(state.clone());
        let served = serve(app).await;
        let python = peers_dir().join(".venv/bin/python");
        assert!(
            python.exists(),
            "tests/peers/.venv is missing: run scripts/setup.sh (it installs standardwebhooks)"
        );
        let mut child = tokio::process::Command::new(python)
            .arg(peers_dir().join("webhook_verify.py"))
            .arg(&served.base)
            .env("WEBHOOK_SECRET", secret)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("webhook_verify.py starts");
        let stdout = child.stdout.take().unwrap();
        let mut first = String::new();
        tokio::time::timeout(
            Duration::from_secs(20),
            tokio::io::BufReader::new(stdout).read_line(&mut first),
        )
        .await
        .expect("webhook_verify.py prints its port")
        .unwrap();
        let port: u16 = first.trim().parse().unwrap_or_else(|_| {
            panic!(
                "webhook_verify.py did not start (is standardwebhooks installed? run \
                 scripts/setup.sh): {first:?}"
            )
        });
        WebhookReceiver {
            state,
            served,
            base: format!("http://127.0.0.1:{port}"),
            _verifier: child,
        }
    }

    /// The endpoint URL to configure (`{base}/hook`; every path is accepted).
    pub fn url(&self) -> String {
        format!("{}/hook", self.base)
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn respond(&self, responder: Responder) {
        *self.state.responder.lock().unwrap() = responder;
    }

    pub fn requests(&self) -> Vec<HookRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.state.requests.lock().unwrap().clear();
    }

    /// Sends a recorded request's body and headers to the verifier again, as a replaying
    /// attacker or a retrying sender would; answers the status.
    pub async fn resend(&self, request: &HookRequest, body: &[u8], at: Option<i64>) -> u16 {
        let mut headers = request.headers.clone();
        headers.remove(header::CONTENT_LENGTH);
        headers.remove(header::HOST);
        if let Some(ts) = at {
            headers.insert("webhook-timestamp", ts.to_string().parse().unwrap());
        }
        reqwest::Client::new()
            .post(format!("{}{}", self.base, request.uri))
            .headers(headers)
            .body(body.to_vec())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

async fn receive(
    State(state): State<Arc<HookState>>,
    method: Method,
    uri: Uri,
    mut headers: HeaderMap,
    body: Bytes,
) -> Response {
    let refused = headers
        .remove(REFUSED)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let verified = headers.remove(VERIFIED).is_some() && refused.is_none();
    let signature_error = match (verified, refused.clone()) {
        (true, _) => None,
        (false, Some(why)) => Some(why),
        (false, None) => Some("not delivered through the standardwebhooks verifier".into()),
    };
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    {
        let mut requests = state.requests.lock().unwrap();
        let repeated_id = id.is_some()
            && requests
                .iter()
                .any(|r| r.header("webhook-id") == id.as_deref());
        requests.push(HookRequest {
            method: method.to_string(),
            uri: uri.to_string(),
            headers: headers.clone(),
            body: body.to_vec(),
            signature_ok: verified,
            signature_error,
            repeated_id,
        });
    }
    if !verified {
        // The verifier answers the sender itself; nothing a refused request says is acted on.
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let responder = state.responder.lock().unwrap().clone();
    let (status, value) = match responder {
        Responder::Answer(s, v) => (s, v),
        Responder::Sleep(d, s, v) => {
            tokio::time::sleep(d).await;
            (s, v)
        }
        Responder::InvalidJson => {
            return (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"id\": \"u1\", oops",
            )
                .into_response();
        }
        Responder::With(f) => f(&serde_json::from_slice(&body).unwrap_or(Value::Null)),
    };
    (StatusCode::from_u16(status).unwrap(), axum::Json(value)).into_response()
}

// ---------------------------------------------------------------------------------------------

struct SigningKey {
    kid: String,
    pair: EcdsaKeyPair,
}

impl SigningKey {
    fn generate(kid: &str) -> SigningKey {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        SigningKey {
            kid: kid.to_string(),
            pair,
        }
    }

    /// The public JWK, from ring's uncompressed point 0x04 || x || y.
    fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        assert_eq!((point.len(), point[0]), (65, 4));
        json!({"kty": "EC", "crv": "P-256", "x": b64url(&point[1..33]), "y": b64url(&point[33..]),
               "kid": self.kid, "alg": "ES256", "use": "sig"})
    }

    /// Compact JWS over exactly these header and claims, signed ES256 (r || s, 64 bytes).
    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64url(header.to_string()),
            b64url(claims.to_string())
        );
        let sig = self
            .pair
            .sign(&ring::rand::SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", b64url(sig.as_ref()))
    }
}

struct JwksState {
    /// Published keys; the last one signs.
    keys: Mutex<Vec<SigningKey>>,
    attacker: SigningKey,
    next_kid: AtomicUsize,
    fetches: AtomicUsize,
    down: AtomicBool,
}

pub struct JwksServer {
    state: Arc<JwksState>,
    served: Served,
}

impl JwksServer {
    /// Generates key `k1` (ES256) and an unpublished attacker key, and serves `/jwks.json`.
    pub async fn start() -> JwksServer {
        let state = Arc::new(JwksState {
            keys: Mutex::new(vec![SigningKey::generate("k1")]),
            attacker: SigningKey::generate("attacker"),
            next_kid: AtomicUsize::new(2),
            fetches: AtomicUsize::new(0),
            down: AtomicBool::new(false),
        });
        let app = axum::Router::new()
            .route("/jwks.json", axum::routing::get(jwks))
            .with_state(state.clone());
        JwksServer {
            state,
            served: serve(app).await,
        }
    }

    pub fn base(&self) -> &str {
        &self.served.base
    }

    pub fn jwks_url(&self) -> String {
        format!("{}/jwks.json", self.served.base)
    }

    /// Number of GET /jwks.json so far (caching tests).
    pub fn fetches(&self) -> usize {
        self.state.fetches.load(Ordering::SeqCst)
    }

    /// While down, /jwks.json answers 503.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    pub fn current_kid(&self) -> String {
        self.state.keys.lock().unwrap().last().unwrap().kid.clone()
    }

    /// A new signing key with a new kid (k2, k3, …); the old keys stay published when
    /// `keep_old`, else the new key replaces them. Returns the new kid.
    pub fn rotate(&self, keep_old: bool) -> String {
        let kid = format!("k{}", self.state.next_kid.fetch_add(1, Ordering::SeqCst));
        let mut keys = self.state.keys.lock().unwrap();
        if !keep_old {
            keys.clear();
        }
        keys.push(SigningKey::generate(&kid));
        kid
    }

    /// The published JWKS document.
    pub fn public_jwks(&self) -> Value {
        let keys = self.state.keys.lock().unwrap();
        let keys: Vec<Value> = keys.iter().map(SigningKey::jwk).collect();
        json!({ "keys": keys })
    }

    /// The public JWK of the unpublished attacker key (for embedded-`jwk` header attacks).
    pub fn attacker_jwk(&self, kid: &str) -> Value {
        let mut jwk = self.state.attacker.jwk();
        jwk["kid"] = kid.into();
        jwk
    }

    /// `{"alg":"ES256","typ":"JWT","kid":<current>}` over `claims`, signed by the current key.
    pub fn sign(&self, claims: &Value) -> String {
        let keys = self.state.keys.lock().unwrap();
        let key = keys.last().unwrap();
        key.sign(
            &json!({"alg": "ES256", "typ": "JWT", "kid": key.kid}),
            claims,
        )
    }

    /// Exactly `header` (nothing added) over `claims`, signed ES256 by the current key.
    pub fn sign_with_header(&self, header: Value, claims: &Value) -> String {
        self.state
            .keys
            .lock()
            .unwrap()
            .last()
            .unwrap()
            .sign(&header, claims)
    }

    /// Signed ES256 by the attacker key, header `{"alg":"ES256","typ":"JWT","kid":kid}` (use a
    /// published kid to test that the signature, not the kid, decides).
    pub fn sign_with_attacker_key(&self, kid: &str, claims: &Value) -> String {
        self.state
            .attacker
            .sign(&json!({"alg": "ES256", "typ": "JWT", "kid": kid}), claims)
    }

    /// Exactly `header` over `claims` with an HMAC-SHA256 signature keyed by `secret` (algorithm
    /// confusion: e.g. `alg: HS256` keyed with the public JWK's bytes).
    pub fn sign_hs256(&self, header: Value, claims: &Value, secret: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            b64url(header.to_string()),
            b64url(claims.to_string())
        );
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
        format!(
            "{input}.{}",
            b64url(ring::hmac::sign(&key, input.as_bytes()))
        )
    }

    /// `header.claims.` with an empty signature (for `alg: none`).
    pub fn unsigned(&self, header: Value, claims: &Value) -> String {
        format!(
            "{}.{}.",
            b64url(header.to_string()),
            b64url(claims.to_string())
        )
    }
}

async fn jwks(State(state): State<Arc<JwksState>>) -> Response {
    state.fetches.fetch_add(1, Ordering::SeqCst);
    if state.down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response();
    }
    let body =
        json!({"keys": state.keys.lock().unwrap().iter().map(SigningKey::jwk).collect::<Vec<_>>()});
    (
        [
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::CONTENT_TYPE, "application/json"),
        ],
        body.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{decode, decode_header, jwk::Jwk, Algorithm, DecodingKey, Validation};

    /// The Standard Webhooks specification's example secret (24 bytes once decoded).
    const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn whsec_key() -> Vec<u8> {
        STANDARD.decode(&WHSEC["whsec_".len()..]).unwrap()
    }

    async fn post(
        hook: &WebhookReceiver,
        id: &str,
        ts: i64,
        sig: &str,
        body: &str,
    ) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(hook.url())
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_standardwebhooks_library_decides_what_reaches_the_responder() {
        let hook = WebhookReceiver::start(WHSEC).await;
        let body = r#"{"username":"bob"}"#;
        let ts = now_unix();
        let good = |id: &str| sign_standard_webhook(&whsec_key(), id, ts, body.as_bytes());
        assert_eq!(post(&hook, "m1", ts, &good("m1"), body).await.0, 200);
        hook.respond(Responder::with(|v| {
            (
                200,
                json!({"id": format!("fn-{}", v["username"].as_str().unwrap())}),
            )
        }));
        assert_eq!(
            post(&hook, "m1", ts, &good("m1"), body).await,
            (200, json!({"id": "fn-bob"}))
        );
        // One valid signature among several (key rotation) is enough.
        let multi = format!("v1,AAAA {} v2,whatever", good("m2"));
        assert_eq!(post(&hook, "m2", ts, &multi, body).await.0, 200);
        // Keyed with the secret's text instead of its decoded bytes: what the library refuses.
        let text_keyed = sign_standard_webhook(WHSEC.as_bytes(), "m3", ts, body.as_bytes());
        assert_eq!(
            post(&hook, "m3", ts, &text_keyed, body).await,
            (401, json!({"error": "No matching signature found"}))
        );
        let stale = ts - 360;
        let old = sign_standard_webhook(&whsec_key(), "m4", stale, body.as_bytes());
        assert_eq!(
            post(&hook, "m4", stale, &old, body).await,
            (401, json!({"error": "Message timestamp too old"}))
        );
        assert_eq!(
            post(&hook, "m5", ts, &good("m5"), "{}").await.0,
            401,
            "another body"
        );
        hook.respond(Responder::InvalidJson);
        let (status, answer) = post(&hook, "m6", ts, &good("m6"), body).await;
        assert_eq!((status, answer), (200, Value::Null), "passed on as it was");
        let reqs = hook.requests();
        let verdicts: Vec<bool> = reqs.iter().map(|r| r.signature_ok).collect();
        assert_eq!(verdicts, [true, true, true, false, false, false, true]);
        assert_eq!(
            reqs[3].signature_error.as_deref(),
            Some("No matching signature found")
        );
        assert!(!reqs[0].repeated_id && reqs[1].repeated_id);
        assert_eq!(reqs[0].json()["username"], "bob");
        assert_eq!(reqs[0].body, body.as_bytes());
        assert!(
            reqs[0].header(VERIFIED).is_none(),
            "the marker is not recorded"
        );
        // A recorded delivery sent again verbatim verifies (replay is the receiver's to catch,
        // by webhook-id), and not with another timestamp.
        assert_eq!(hook.resend(&reqs[0], &reqs[0].body, None).await, 200);
        assert_eq!(
            hook.resend(&reqs[0], &reqs[0].body, Some(ts + 1)).await,
            401
        );
        assert!(hook.requests()[7].repeated_id);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_plain_secret_is_keyed_as_its_bytes() {
        let secret = "a plain secret of at least 32 bytes!";
        let hook = WebhookReceiver::start(secret).await;
        let body = r#"{"a":1}"#;
        let ts = now_unix();
        let sig = sign_standard_webhook(secret.as_bytes(), "p1", ts, body.as_bytes());
        assert_eq!(post(&hook, "p1", ts, &sig, body).await.0, 200);
        let missing = reqwest::Client::new()
            .post(hook.url())
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 401);
        assert_eq!(
            missing.json::<Value>().await.unwrap(),
            json!({"error": "Missing required headers"})
        );
        // Any other method is recorded too (tests assert that nothing was fetched).
        let get = reqwest::get(format!("{}/jwks", hook.base())).await.unwrap();
        assert_eq!(get.status(), 401);
        let last = hook.requests().pop().unwrap();
        assert_eq!((last.method.as_str(), last.uri.as_str()), ("GET", "/jwks"));
        assert!(!last.signature_ok);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jwks_server_tokens_verify_with_jsonwebtoken() {
        let jwks = JwksServer::start().await;
        let resp = reqwest::get(jwks.jwks_url()).await.unwrap();
        assert_eq!(resp.headers()["cache-control"], "public, max-age=300");
        let doc: Value = resp.json().await.unwrap();
        assert_eq!(jwks.fetches(), 1);
        let claims = json!({
            "sub": "user-1", "aud": "gatehouse", "iss": "https://issuer.test",
            "exp": now_unix() + 600
        });
        let token = jwks.sign(&claims);
        assert_eq!(decode_header(&token).unwrap().kid.as_deref(), Some("k1"));
        let key_for = |doc: &Value, kid: &str| {
            let jwk = doc["keys"]
                .as_array()
                .unwrap()
                .iter()
                .find(|k| k["kid"] == kid)
                .unwrap()
                .clone();
            DecodingKey::from_jwk(&serde_json::from_value::<Jwk>(jwk).unwrap()).unwrap()
        };
        let mut v = Validation::new(Algorithm::ES256);
        v.set_audience(&["gatehouse"]);
        v.set_issuer(&["https://issuer.test"]);
        assert_eq!(
            decode::<Value>(&token, &key_for(&doc, "k1"), &v)
                .unwrap()
                .claims,
            claims
        );

        // The attacker key is not published and its signature does not verify under k1.
        let forged = jwks.sign_with_attacker_key("k1", &claims);
        assert!(decode::<Value>(&forged, &key_for(&doc, "k1"), &v).is_err());
        assert!(!jwks
            .public_jwks()
            .to_string()
            .contains(jwks.attacker_jwk("k1")["x"].as_str().unwrap()));
        // alg none is refused by a real verifier.
        assert!(decode::<Value>(
            &jwks.unsigned(json!({"alg": "none"}), &claims),
            &key_for(&doc, "k1"),
            &v
        )
        .is_err());

        // Rotation keeping the old key: both published, new tokens carry k2.
        let k2 = jwks.rotate(true);
        let doc: Value = reqwest::get(jwks.jwks_url())
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["keys"].as_array().unwrap().len(), 2);
        let t2 = jwks.sign(&claims);
        assert_eq!(
            decode_header(&t2).unwrap().kid.as_deref(),
            Some(k2.as_str())
        );
        assert!(decode::<Value>(&t2, &key_for(&doc, &k2), &v).is_ok());
        let custom = jwks.sign_with_header(
            json!({"alg": "ES256", "kid": k2, "jku": "http://evil.test/jwks"}),
            &claims,
        );
        assert!(decode::<Value>(&custom, &key_for(&doc, &k2), &v).is_ok());
        jwks.rotate(false);
        assert_eq!(jwks.public_jwks()["keys"].as_array().unwrap().len(), 1);
        assert_eq!(jwks.fetches(), 2);
    }
}
