//! Passkeys (WebAuthn, with `webauthn-rs`): registering one for a signed-in user, signing in
//! with one (the first factor: user-verified, so never challenged again), and answering an
//! `MfaRequired` challenge with one. WebKitGTK has no WebAuthn, so every ceremony runs on a page
//! of this server opened in the system browser, and returns to the app like the OAuth flows: a
//! redirect to the app's URI with the app's `state` and a single-use code that only the holder
//! of the PKCE verifier redeems.
//!
//! The relying party comes from `public_url`: RP id = its host (a domain name; `localhost` works
//! for local use, an IP address cannot be an RP id), allowed origin = its origin. Each ceremony's
//! state is kept server side (`passkey_ceremonies`), single use, for [`CEREMONY_TTL_SECS`].

pub mod pages;
pub mod registration;
pub mod sign_in;

use base64::Engine as _;
use gatehouse_proto::ErrorCode;
use webauthn_rs::prelude::{Url, Uuid, WebauthnError};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// How long a ceremony page may take.
pub const CEREMONY_TTL_SECS: i64 = 300;
/// How long the app has to redeem the code the page sent it back with.
pub const APP_CODE_TTL_SECS: i64 = 60;

/// The relying party of this server, from `public_url`.
pub fn relying_party(state: &AppState) -> ApiResult<Webauthn> {
    let not_configured = |why: &str| {
        ApiError::new(
            ErrorCode::NotConfigured,
            format!(
                "passkeys are not available on this server: {why} (set public_url to the \
                 https address people reach it at, with a domain name; http://localhost:PORT \
                 for local use)"
            ),
        )
    };
    let origin = Url::parse(&state.public_url)
        .map_err(|_| not_configured("public_url is not a valid URL"))?;
    let rp_id = origin
        .domain()
        .ok_or_else(|| not_configured("public_url's host is an IP address, not a domain name"))?
        .to_string();
    if origin.scheme() != "https" && rp_id != "localhost" {
        return Err(not_configured(
            "browsers allow passkeys only on https pages (or http://localhost)",
        ));
    }
    WebauthnBuilder::new(&rp_id, &origin)
        .and_then(|b| b.rp_name("Gatehouse").build())
        .map_err(|e| not_configured(&e.to_string()))
}

/// The WebAuthn user handle of a user: derived, so nothing more is stored, and opaque (no user
/// id leaks to the authenticator).
pub fn user_handle(app_id: &str, user_id: &str) -> Uuid {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("gatehouse-passkey-user\0{app_id}\0{user_id}").as_bytes(),
    );
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    Uuid::from_bytes(bytes)
}

/// A credential id as stored and looked up (base64url, no padding).
pub fn credential_id_text(id: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(id)
}

/// Each refusal names what was wrong (contract: its own code and sentence).
pub fn refusal(e: &WebauthnError, public_url: &str) -> ApiError {
    match e {
        WebauthnError::InvalidRPOrigin => ApiError::new(
            ErrorCode::PasskeyOriginMismatch,
            format!(
                "the passkey answer came from a page that is not this server's ({public_url}); \
                 open the passkey page at that address"
            ),
        ),
        WebauthnError::MismatchedChallenge => ApiError::new(
            ErrorCode::PasskeyReplay,
            "this passkey answer was made for another ceremony (a replayed answer); start again",
        ),
        WebauthnError::CredentialPossibleCompromise => ApiError::new(
            ErrorCode::PasskeyCounterRegressed,
            "this passkey's signature counter went backwards: the authenticator may have been \
             cloned; the passkey was refused (remove it and add it again if this is expected)",
        ),
        other => ApiError::new(
            ErrorCode::PasskeyInvalid,
            format!("the passkey answer was not accepted: {other}"),
        ),
    }
}

pub(crate) fn replay() -> ApiError {
    ApiError::new(
        ErrorCode::PasskeyReplay,
        "this passkey ceremony was already answered (each page works once); start again",
    )
}

pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::PasskeyInvalid, message)
}

/// Serialises webauthn-rs's ceremony state (it lives in the database between two requests).
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> ApiResult<String> {
    serde_json::to_string(value).map_err(|_| ApiError::internal())
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> ApiResult<T> {
    serde_json::from_str(text).map_err(|_| invalid("this passkey ceremony's state is damaged"))
}

/// Where a page sends the browser back to, checked like the OAuth flows' (only URIs the app
/// registered; loopback on any port), with the app's state and PKCE challenge.
pub(crate) fn check_return(
    app: &crate::config::AppConfig,
    redirect: &str,
    client_state: &str,
    code_challenge: &str,
) -> ApiResult<()> {
    use crate::providers::magic_link::{is_pkce, redirect_allowed};
    let bad = |m: &str| ApiError::invalid_parameter(m.to_string());
    if redirect.is_empty() || !redirect_allowed(&app.redirect_uris, redirect) {
        return Err(bad("redirect is not registered for this app"));
    }
    if client_state.is_empty() || client_state.len() > 512 {
        return Err(bad("state is required (at most 512 characters)"));
    }
    if code_challenge.len() != 43 || !is_pkce(code_challenge) {
        return Err(bad(
            "code_challenge must be the base64url SHA-256 (S256) of a 43-128 character \
             code_verifier",
        ));
    }
    Ok(())
}

/// `redirect?code=…&state=…`.
pub(crate) fn back_to_app(redirect: &str, code: &str, client_state: &str) -> String {
    use crate::providers::magic_link::urlencode;
    let sep = if redirect.contains('?') { '&' } else { '?' };
    format!(
        "{redirect}{sep}code={}&state={}",
        urlencode(code),
        urlencode(client_state)
    )
}

/// The ceremony a page's answer names, provided the answer carries the page's key.
pub(crate) async fn ceremony_for_answer(
    state: &AppState,
    app_id: &str,
    ceremony_id: &str,
    key: &str,
) -> ApiResult<crate::store::passkeys::CeremonyRow> {
    use crate::crypto::{ct_eq, sha256_hex};
    let ceremony = crate::store::passkeys::get(state.db.reader(), ceremony_id)
        .await?
        .filter(|c| c.app_id == app_id && ct_eq(&c.key_hash, &sha256_hex(key.as_bytes())))
        .ok_or_else(|| invalid("this passkey page is unknown; start again from the app"))?;
    if ceremony.finished_at.is_some()
        || !crate::store::passkeys::finish(state.db.writer(), &ceremony.id, state.now()).await?
    {
        return Err(replay());
    }
    if ceremony.expires_at <= state.now() {
        return Err(invalid(
            "this passkey page took longer than 5 minutes; start again from the app",
        ));
    }
    Ok(ceremony)
}

/// Checks a ceremony's one-time app code (`ceremony_id.secret`) and the app's verifier, and
/// uses the code up (a second use, or a wrong verifier, fails).
pub(crate) async fn redeem_code(
    state: &AppState,
    app_id: &str,
    purpose: &str,
    code: &str,
    verifier: &str,
) -> ApiResult<crate::store::passkeys::CeremonyRow> {
    use crate::crypto::{ct_eq, sha256_hex};
    use crate::providers::magic_link::{is_pkce, s256};
    let bad = |m: &str| ApiError::new(ErrorCode::InvalidCode, m.to_string());
    let (id, secret) = code
        .split_once('.')
        .ok_or_else(|| bad("the passkey code is not valid"))?;
    let ceremony = crate::store::passkeys::get(state.db.reader(), id)
        .await?
        .filter(|c| c.app_id == app_id && c.purpose == purpose)
        .filter(|c| {
            c.app_code_hash
                .as_deref()
                .is_some_and(|h| ct_eq(h, &sha256_hex(secret.as_bytes())))
        })
        .ok_or_else(|| bad("the passkey code is not valid"))?;
    let now = state.now();
    if ceremony.redeemed_at.is_some()
        || !crate::store::passkeys::redeem(state.db.writer(), &ceremony.id, now).await?
    {
        return Err(ApiError::new(
            ErrorCode::CodeAlreadyUsed,
            "this passkey code was already used",
        ));
    }
    if ceremony.app_code_expires_at.is_none_or(|t| t <= now) {
        return Err(ApiError::new(
            ErrorCode::CodeExpired,
            "the passkey code has expired; start again",
        ));
    }
    if !is_pkce(verifier) || !ct_eq(&s256(verifier), &ceremony.code_challenge) {
        return Err(bad(
            "the code_verifier does not match this passkey ceremony; start again",
        ));
    }
    Ok(ceremony)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_handles_are_stable_and_differ_per_user_and_app() {
        assert_eq!(user_handle("a", "u1"), user_handle("a", "u1"));
        assert_ne!(user_handle("a", "u1"), user_handle("a", "u2"));
        assert_ne!(user_handle("a", "u1"), user_handle("b", "u1"));
    }

    #[test]
    fn refusals_have_their_own_codes() {
        let url = "http://localhost:1";
        let code = |e| refusal(&e, url).code;
        assert_eq!(
            code(WebauthnError::InvalidRPOrigin),
            ErrorCode::PasskeyOriginMismatch
        );
        assert_eq!(
            code(WebauthnError::MismatchedChallenge),
            ErrorCode::PasskeyReplay
        );
        assert_eq!(
            code(WebauthnError::CredentialPossibleCompromise),
            ErrorCode::PasskeyCounterRegressed
        );
        assert_eq!(
            code(WebauthnError::InvalidUserUniqueId),
            ErrorCode::PasskeyInvalid
        );
    }
}
