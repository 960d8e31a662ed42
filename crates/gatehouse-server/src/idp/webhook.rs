//! Calls to the app's webhooks (custom-function login, custom confirmation and reset), signed
//! the Standard Webhooks way (security.md S-55): headers `webhook-id`, `webhook-timestamp` and
//! `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, where the key of
//! a `whsec_` secret is its base64-decoded tail, as the official libraries read it. A receiver
//! checks the signature, refuses timestamps more than 5 minutes off and repeated ids
//! (docs/providers.md has the reference check). Fail closed: any timeout, transport error,
//! non-2xx status or malformed answer is a refusal.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::config::WebhookConfig;
use crate::crypto::{hmac_sha256, object_id};
use crate::outbound::Outbound;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("{0}")]
    Call(#[from] crate::outbound::OutboundError),
    #[error("the webhook secret {0}")]
    Key(String),
    #[error("the webhook answered HTTP {0}")]
    Status(u16),
    #[error("the webhook's answer is not a JSON object")]
    Malformed,
}

pub fn signature(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut message = format!("{id}.{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(hmac_sha256(secret, &message))
    )
}

/// The body every webhook receives: `{"type", "app_id", "data"}`.
pub fn envelope(kind: &str, app_id: &str, data: Value) -> Vec<u8> {
    // Invariant: a `serde_json::Value` (string keys only) always serialises.
    #[allow(clippy::expect_used)]
    serde_json::to_vec(&json!({"type": kind, "app_id": app_id, "data": data}))
        .expect("JSON values serialize")
}

/// `webhook-id` (fresh), `webhook-timestamp` and `webhook-signature` for `body`.
pub fn signed_headers(key: &[u8], body: &[u8], now: i64) -> [(&'static str, String); 3] {
    let id = format!("msg_{}", object_id(now));
    let signature = signature(key, &id, now, body);
    [
        ("webhook-id", id),
        ("webhook-timestamp", now.to_string()),
        ("webhook-signature", signature),
    ]
}

/// POSTs `{"type", "app_id", "data"}` and answers the JSON object the hook returned.
pub async fn call(
    outbound: &Outbound,
    hook: &WebhookConfig,
    kind: &str,
    app_id: &str,
    data: Value,
    now: i64,
) -> Result<serde_json::Map<String, Value>, WebhookError> {
    let key = hook.signing_key().map_err(WebhookError::Key)?;
    let body = envelope(kind, app_id, data);
    let headers = signed_headers(&key, &body, now);
    let reply = outbound.post_json(&hook.url, &headers, body).await?;
    if !reply.ok() {
        return Err(WebhookError::Status(reply.status));
    }
    match reply.json() {
        Some(Value::Object(map)) => Ok(map),
        _ => Err(WebhookError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // From the Standard Webhooks specification's test vectors.
        let secret = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        )
        .unwrap();
        let sig = super::signature(
            &secret,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_whsec_secret_is_its_decoded_key_and_a_plain_one_its_text() {
        use crate::config::webhook_key;
        let spec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let key = webhook_key(spec).unwrap();
        assert_eq!(key.len(), 24);
        let sig = super::signature(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        // Unpadded base64 is the same key.
        let padded = webhook_key("whsec_3q2+7wEjRWeJq83vASNFZ4mrze8BI0VniavN7wEjRWc=").unwrap();
        let unpadded = webhook_key("whsec_3q2+7wEjRWeJq83vASNFZ4mrze8BI0VniavN7wEjRWc").unwrap();
        assert_eq!((padded.len(), &padded), (32, &unpadded));
        let plain = "a plain secret of at least 32 bytes!";
        assert_eq!(webhook_key(plain).unwrap(), plain.as_bytes());
        assert!(webhook_key("whsec_not*base64*at*all*but*long*enough")
            .unwrap_err()
            .contains("not valid base64"));
        assert!(webhook_key("whsec_c2hvcnQ=")
            .unwrap_err()
            .contains("24 to 64"));
        assert!(webhook_key("short").unwrap_err().contains("32 bytes"));
    }
}
