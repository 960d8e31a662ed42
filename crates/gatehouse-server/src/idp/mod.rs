//! Identities from outside the server: JWT verification against configured keys or cached JWKS,
//! signed webhooks, and the upstream OAuth/OIDC providers. Everything here ends in an
//! [`ExternalIdentity`] — (provider, issuer, subject) plus profile data — which
//! `providers::external` turns into a user and a session.

pub mod jwks;
pub mod jwt;
pub mod unique_members;
pub mod upstream;
pub mod webhook;

use gatehouse_proto::ErrorCode;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// A verified identity at an outside provider. Users are found by (provider, subject) only —
/// never by email — and each provider has exactly one issuer, so that pair is the
/// (provider, issuer, subject) key of security.md S-52.
#[derive(Debug, Clone)]
pub struct ExternalIdentity {
    pub provider: &'static str,
    pub issuer: String,
    pub subject: String,
    /// Profile fields (`email`, `name`, `first_name`, `last_name`, `picture_url`, …).
    pub data: Map<String, Value>,
}

/// The one answer for a credential an outside provider did not vouch for. The reason is specific
/// enough to act on and carries no secret.
pub fn refused(provider: &str, reason: impl std::fmt::Display) -> ApiError {
    tracing::info!(provider, reason = %reason, "external login refused");
    ApiError::new(
        ErrorCode::AuthError,
        format!("{provider} sign-in failed: {reason}"),
    )
}

/// The provider could not be reached or answered nonsense: retryable, nothing changed.
pub fn upstream_unavailable(provider: &str, reason: impl std::fmt::Display) -> ApiError {
    tracing::warn!(provider, reason = %reason, "identity provider unavailable");
    ApiError::unavailable(format!(
        "{provider} could not be reached to verify the sign-in; try again shortly"
    ))
}

/// Maps a JWT failure of `provider` to the error the client sees.
pub fn jwt_error(provider: &str, e: jwt::JwtError) -> ApiError {
    match e {
        jwt::JwtError::KeysUnavailable(detail) => upstream_unavailable(provider, detail),
        other => refused(provider, other),
    }
}

/// Copies the usual OIDC profile claims into App Services profile fields. An email is kept only
/// when the provider says it is verified (`email_verified` true, or Apple's `"true"`).
pub fn oidc_profile(claims: &Map<String, Value>) -> Map<String, Value> {
    let mut data = Map::new();
    let verified = matches!(claims.get("email_verified"), Some(Value::Bool(true)))
        || claims.get("email_verified").and_then(Value::as_str) == Some("true");
    if let (Some(email), true) = (claims.get("email").and_then(Value::as_str), verified) {
        data.insert("email".into(), Value::String(email.into()));
    }
    for (claim, field) in [
        ("name", "name"),
        ("given_name", "first_name"),
        ("family_name", "last_name"),
        ("picture", "picture_url"),
    ] {
        if let Some(v) = claims.get(claim).and_then(Value::as_str) {
            data.insert(field.into(), Value::String(v.into()));
        }
    }
    data
}
