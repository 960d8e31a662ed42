//! Gatehouse extension: a second factor (TOTP with recovery codes, passkeys) and the challenge
//! a sign-in answers with when the user has one. See docs/protocol.md ("Multi-factor sign-in").
//!
//! The flow: a first-factor login (`POST {app}/auth/providers/{p}/login`) of a user with a
//! confirmed factor answers **401 `MfaRequired`** instead of tokens. The error body is the usual
//! `{error, error_code, link}` plus `mfa` ([`MfaChallengeInfo`]): a short-lived, single-use
//! challenge id bound to the app, the user, the provider and the device that started it. The
//! client then calls [`routes::complete`] with that id and a code (or a passkey's one-time code)
//! and gets the usual [`crate::auth::LoginResponse`]. Stock App Services clients see a clear
//! error naming what is required. API-key and server-key logins are never challenged.
//!
//! An app that requires MFA (`[apps.<id>] mfa = "required"`) answers a user with no factor
//! **401 `MfaEnrollmentRequired`** with a challenge too; [`routes::enroll`] gives that challenge
//! a TOTP secret, and completing it with a first code confirms the factor and signs in (the
//! answer then carries the new recovery codes, [`MfaCompleteResponse`]).

use serde::{Deserialize, Serialize};

/// The factor kinds, as spelled on the wire.
pub mod kind {
    pub const TOTP: &str = "totp";
    pub const PASSKEY: &str = "passkey";
    pub const RECOVERY_CODE: &str = "recovery_code";
}

/// Route paths of the extension.
pub mod routes {
    use crate::routes::BASE;

    /// `POST`: finish a challenged sign-in ([`super::MfaCompleteRequest`]).
    pub fn complete(app_id: &str) -> String {
        format!("{BASE}/app/{app_id}/auth/mfa/complete")
    }

    /// `POST`: a TOTP secret for an `MfaEnrollmentRequired` challenge
    /// ([`super::ChallengeRef`] → [`super::TotpEnrollment`]).
    pub fn enroll(app_id: &str) -> String {
        format!("{BASE}/app/{app_id}/auth/mfa/enroll")
    }

    /// `GET` (browser): the passkey page that answers a challenge with a passkey, then sends the
    /// browser to `redirect?code=…&state=…`. Query: [`super::PasskeyPageQuery`] + `challenge_id`.
    pub fn passkey_challenge_page(app_id: &str) -> String {
        format!("{BASE}/app/{app_id}/auth/mfa/passkey")
    }

    /// `GET` (access token): the user's factors ([`super::MfaStatus`]).
    pub const STATUS: &str = "/api/client/v2.0/auth/mfa";
    /// `POST` (access token, recent sign-in): a new unconfirmed TOTP factor
    /// ([`super::TotpEnrollRequest`] → [`super::TotpEnrollment`]).
    pub const TOTP: &str = "/api/client/v2.0/auth/mfa/totp";
    /// `POST` (access token): `{code}` confirms the factor ([`super::TotpConfirmed`]).
    pub fn totp_confirm(factor_id: &str) -> String {
        format!("{TOTP}/{factor_id}/confirm")
    }
    /// `DELETE` (access token, recent sign-in): removes a factor → 204.
    pub fn factor(factor_id: &str) -> String {
        format!("/api/client/v2.0/auth/mfa/factors/{factor_id}")
    }
    /// `POST` (access token, recent sign-in): ten new recovery codes, the old ones void
    /// ([`super::RecoveryCodes`]).
    pub const RECOVERY_CODES: &str = "/api/client/v2.0/auth/mfa/recovery_codes";
    /// `POST` (access token, recent sign-in): start registering a passkey in the browser
    /// ([`super::PasskeyRegistrationStart`] → [`super::BrowserPage`]).
    pub const PASSKEY_REGISTRATIONS: &str = "/api/client/v2.0/auth/mfa/passkeys/registrations";
    /// `POST` (access token): redeem the registration's one-time code
    /// ([`super::CodeRedemption`] → [`super::MfaFactor`]).
    pub const PASSKEY_REGISTRATIONS_COMPLETE: &str =
        "/api/client/v2.0/auth/mfa/passkeys/registrations/complete";
}

/// The `mfa` member of a `MfaRequired` / `MfaEnrollmentRequired` error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaChallengeInfo {
    pub challenge_id: String,
    /// What may answer it: some of `totp`, `recovery_code`, `passkey` (for an enrollment
    /// challenge: `totp`, to be enrolled first).
    pub methods: Vec<String>,
    /// Unix seconds.
    pub expires_at: i64,
    /// The provider of the first factor (the session opened at the end is of this provider).
    pub provider: String,
}

/// `POST {app}/auth/mfa/complete`. Exactly one proof: `totp_code`, `recovery_code`, or
/// `passkey_code` with its `code_verifier` (PKCE, from the passkey page's redirect).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MfaCompleteRequest {
    pub challenge_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passkey_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_verifier: Option<String>,
    /// `{"device": {…}}` as a login body's `options` (the server reads it the same way): the
    /// challenge is bound to the device id the first login sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<serde_json::Value>,
}

impl std::fmt::Debug for MfaCompleteRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaCompleteRequest")
            .field("challenge_id", &self.challenge_id)
            .finish_non_exhaustive()
    }
}

/// A login response, plus the recovery codes when completing an enrollment challenge made
/// them (shown once).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaCompleteResponse {
    #[serde(flatten)]
    pub login: crate::auth::LoginResponse,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

/// `{challenge_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeRef {
    pub challenge_id: String,
}

/// `GET /auth/mfa`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaStatus {
    pub factors: Vec<MfaFactor>,
    /// Unused recovery codes left.
    pub recovery_codes_left: u32,
    /// The app requires a second factor of every user.
    pub required: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaFactor {
    pub id: String,
    /// `totp` or `passkey`.
    pub kind: String,
    pub name: String,
    /// Unconfirmed TOTP factors are listed until confirmed or replaced; they never count.
    pub confirmed: bool,
    /// Unix seconds.
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<i64>,
}

/// `POST /auth/mfa/totp`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TotpEnrollRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A new TOTP secret (RFC 6238: SHA-1, 6 digits, 30 s), shown once to be put in an
/// authenticator app: as text (`secret`, base32) and as the `otpauth://` URI a QR code carries.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpEnrollment {
    pub factor_id: String,
    pub secret: String,
    pub otpauth_uri: String,
}

impl std::fmt::Debug for TotpEnrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpEnrollment")
            .field("factor_id", &self.factor_id)
            .finish_non_exhaustive()
    }
}

/// `POST /auth/mfa/totp/{id}/confirm` body.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeBody {
    pub code: String,
}

/// The confirmed factor; `recovery_codes` when this was the user's first factor (ten codes,
/// shown once).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpConfirmed {
    pub factor: MfaFactor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_codes: Option<Vec<String>>,
}

impl std::fmt::Debug for TotpConfirmed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpConfirmed")
            .field("factor", &self.factor)
            .field(
                "recovery_codes",
                &self.recovery_codes.as_ref().map(Vec::len),
            )
            .finish()
    }
}

/// Ten single-use recovery codes, shown once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// Starts a browser ceremony bound to the app that started it: the page sends the browser to
/// `redirect_uri?code=…&state=…`, and only the holder of the PKCE verifier redeems `code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyRegistrationStart {
    pub name: String,
    pub redirect_uri: String,
    pub state: String,
    /// S256 of the verifier, base64url.
    pub code_challenge: String,
}

/// The query of the passkey pages (sign-in with a passkey, or a challenge answered by one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyPageQuery {
    pub redirect: String,
    pub state: String,
    pub code_challenge: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge_id: Option<String>,
}

/// `{url}`: a page of the server to open in the system browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrowserPage {
    pub url: String,
}

/// `{code, code_verifier}`: a one-time code from a browser ceremony, redeemed by the app that
/// started it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRedemption {
    pub code: String,
    pub code_verifier: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_complete_request_carries_one_proof_and_hides_it_from_debug() {
        let r = MfaCompleteRequest {
            challenge_id: "c1".into(),
            totp_code: Some("123456".into()),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            json!({"challenge_id": "c1", "totp_code": "123456"})
        );
        assert!(!format!("{r:?}").contains("123456"));
    }

    #[test]
    fn a_completion_with_recovery_codes_is_a_login_response_plus_codes() {
        let v = json!({"access_token": "a", "refresh_token": "r", "user_id": "u",
                       "device_id": "d", "recovery_codes": ["x"]});
        let r: MfaCompleteResponse = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(r.login.user_id, "u");
        assert_eq!(serde_json::to_value(&r).unwrap(), v);
    }
}
