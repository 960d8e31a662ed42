//! Peers for the custom-function (webhook) and custom-JWT providers.
//!
//! `WebhookReceiver` is the developer's endpoint: it records every request byte for byte and
//! checks its Standard Webhooks signature the way the spec's receivers do, and answers what the
//! test scripts (slow, broken JSON, per-payload decisions).
//!
//! `JwksServer` is the developer's token issuer: it publishes a JWKS and signs tokens by hand
//! (no JWT library), so tests can also forge what a library would refuse to produce: `alg: none`,
//! an unpublished "attacker" key, `jku`/`jwk` headers, HS256 with a public key as secret.

use std::collections::HashSet;
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

use super::{b64url, serve, Served};

/// Standard Webhooks tolerance for `webhook-timestamp` (either direction).
pub const TOLERANCE_SECS: i64 = 5 * 60;

/// The Standard Webhooks receiver check: `webhook-signature` holds at least one `v1,<base64
/// HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>` among its space-separated entries (compared
/// in constant time), the timestamp is within 5 minutes of `now_unix`, and the `webhook-id` was
/// not seen before (replay). On success the id is added to `seen_ids`.
pub fn verify_standard_webhook(
    secret: &[u8],
    headers: &HeaderMap,
    body: &[u8],
    now_unix: i64,
    seen_ids: &mut HashSet<String>,
) -> Result<(), String> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| format!("missing {name} header"))
    };
    let id = get("webhook-id")?;
    let timestamp = get("webhook-timestamp")?;
    let signatures = get("webhook-signature")?;
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| format!("webhook-timestamp is not unix seconds: {timestamp:?}"))?;
    if (now_unix - ts).abs() > TOLERANCE_SECS {
        return Err(format!(
            "webhook-timestamp {ts} is more than {TOLERANCE_SECS} s from now ({now_unix})"
        ));
    }
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let mut message = format!("{id}.{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    let valid = signatures.split_whitespace().any(|entry| {
        let Some(("v1", sig)) = entry.split_once(',') else {
            return false;
        };
        STANDARD
            .decode(sig)
            .is_ok_and(|sig| ring::hmac::verify(&key, &message, &sig).is_ok())
    });
    if !valid {
        return Err("no valid v1 signature in webhook-signature".into());
    }
    if !seen_ids.insert(id.clone()) {
        return Err(format!("webhook-id {id} was already delivered (replay)"));
    }
    Ok(())
}

/// The header value a Standard Webhooks sender puts in `webhook-signature`.
pub fn sign_standard_webhook(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
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
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// Signature and timestamp verified with the receiver's secret (replay is not part of this:
    /// a retry legitimately reuses its webhook-id; see `repeated_id`).
    pub signature_ok: bool,
    /// Why verification failed, if it did.
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
    secret: Vec<u8>,
    responder: Mutex<Responder>,
    requests: Mutex<Vec<HookRequest>>,
}

pub struct WebhookReceiver {
    state: Arc<HookState>,
    served: Served,
}

impl WebhookReceiver {
    /// Listens on 127.0.0.1:0 (any path), answering `200 {}` until told otherwise.
    pub async fn start(secret: &str) -> WebhookReceiver {
        let state = Arc::new(HookState {
            secret: secret.as_bytes().to_vec(),
            responder: Mutex::new(Responder::Answer(200, json!({}))),
            requests: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(state.clone());
        WebhookReceiver {
            state,
            served: serve(app).await,
        }
    }

    /// The endpoint URL to configure (`{base}/hook`; every path is accepted).
    pub fn url(&self) -> String {
        format!("{}/hook", self.served.base)
    }

    pub fn base(&self) -> &str {
        &self.served.base
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
}

async fn receive(
    State(state): State<Arc<HookState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let verdict = verify_standard_webhook(
        &state.secret,
        &headers,
        &body,
        now_unix(),
        &mut HashSet::new(),
    );
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
            signature_ok: verdict.is_ok(),
            signature_error: verdict.err(),
            repeated_id,
        });
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
    use axum::http::HeaderValue;
    use jsonwebtoken::{decode, decode_header, jwk::Jwk, Algorithm, DecodingKey, Validation};

    fn headers(id: &str, ts: i64, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("webhook-id", HeaderValue::from_str(id).unwrap());
        h.insert(
            "webhook-timestamp",
            HeaderValue::from_str(&ts.to_string()).unwrap(),
        );
        h.insert("webhook-signature", HeaderValue::from_str(sig).unwrap());
        h
    }

    #[test]
    fn standard_webhook_verification() {
        let secret = b"whsec-test-secret";
        let body = br#"{"username":"bob"}"#;
        let now = 1_700_000_000;
        let sig = sign_standard_webhook(secret, "msg_1", now, body);
        let mut seen = HashSet::new();
        assert_eq!(
            verify_standard_webhook(secret, &headers("msg_1", now, &sig), body, now, &mut seen),
            Ok(())
        );
        // Replay of the same id.
        assert!(verify_standard_webhook(
            secret,
            &headers("msg_1", now, &sig),
            body,
            now,
            &mut seen
        )
        .unwrap_err()
        .contains("replay"));
        // One valid among several signatures (key rotation).
        let sig2 = sign_standard_webhook(secret, "msg_2", now, body);
        let multi = format!("v1,AAAA {sig2} v2,whatever");
        assert_eq!(
            verify_standard_webhook(
                secret,
                &headers("msg_2", now, &multi),
                body,
                now + 299,
                &mut seen
            ),
            Ok(())
        );
        // Tampered body, wrong secret, stale and future timestamps, missing header.
        let sig3 = sign_standard_webhook(secret, "msg_3", now, body);
        assert!(verify_standard_webhook(
            secret,
            &headers("msg_3", now, &sig3),
            b"{}",
            now,
            &mut seen
        )
        .is_err());
        assert!(verify_standard_webhook(
            b"other",
            &headers("msg_3", now, &sig3),
            body,
            now,
            &mut seen
        )
        .is_err());
        assert!(verify_standard_webhook(
            secret,
            &headers("msg_3", now, &sig3),
            body,
            now + 301,
            &mut seen
        )
        .is_err());
        assert!(verify_standard_webhook(
            secret,
            &headers("msg_3", now, &sig3),
            body,
            now - 301,
            &mut seen
        )
        .is_err());
        let mut h = headers("msg_3", now, &sig3);
        h.remove("webhook-timestamp");
        assert!(verify_standard_webhook(secret, &h, body, now, &mut seen).is_err());
        // Failures did not burn the id.
        assert_eq!(
            verify_standard_webhook(secret, &headers("msg_3", now, &sig3), body, now, &mut seen),
            Ok(())
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn webhook_receiver_records_and_answers() {
        let hook = WebhookReceiver::start("s3cret").await;
        let body = r#"{"username":"bob"}"#;
        let ts = now_unix();
        let send = |id: &'static str, sig: String| {
            reqwest::Client::new()
                .post(hook.url())
                .header("content-type", "application/json")
                .header("webhook-id", id)
                .header("webhook-timestamp", ts.to_string())
                .header("webhook-signature", sig)
                .body(body)
                .send()
        };
        let r = send(
            "m1",
            sign_standard_webhook(b"s3cret", "m1", ts, body.as_bytes()),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
        hook.respond(Responder::with(|v| {
            (
                200,
                json!({"id": format!("fn-{}", v["username"].as_str().unwrap())}),
            )
        }));
        let r: Value = send(
            "m1",
            sign_standard_webhook(b"s3cret", "m1", ts, body.as_bytes()),
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        assert_eq!(r, json!({"id": "fn-bob"}));
        hook.respond(Responder::InvalidJson);
        let r = send("m2", "v1,bm90IGl0".into()).await.unwrap();
        assert!(r.json::<Value>().await.is_err());
        let reqs = hook.requests();
        assert_eq!(reqs.len(), 3);
        assert!(reqs[0].signature_ok && reqs[1].signature_ok && !reqs[2].signature_ok);
        assert!(!reqs[0].repeated_id && reqs[1].repeated_id);
        assert_eq!(reqs[0].json()["username"], "bob");
        assert_eq!(reqs[0].body, body.as_bytes());
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
