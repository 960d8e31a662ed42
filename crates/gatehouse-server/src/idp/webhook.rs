//! Calls to the app's webhooks (custom-function login, custom confirmation and reset), signed
//! the Standard Webhooks way (security.md S-55): headers `webhook-id`, `webhook-timestamp` and
//! `webhook-signature: v1,<base64 HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`. A receiver
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

/// POSTs `{"type", "app_id", "data"}` and answers the JSON object the hook returned.
pub async fn call(
    outbound: &Outbound,
    hook: &WebhookConfig,
    kind: &str,
    app_id: &str,
    data: Value,
    now: i64,
) -> Result<serde_json::Map<String, Value>, WebhookError> {
    let id = format!("msg_{}", object_id(now));
    // Invariant: a `serde_json::Value` (string keys only) always serialises.
    #[allow(clippy::expect_used)]
    let body = serde_json::to_vec(&json!({"type": kind, "app_id": app_id, "data": data}))
        .expect("JSON values serialize");
    let headers = [
        ("webhook-id", id.clone()),
        ("webhook-timestamp", now.to_string()),
        (
            "webhook-signature",
            signature(hook.secret.expose().as_bytes(), &id, now, &body),
        ),
    ];
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
}
