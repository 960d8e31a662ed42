//! Bodies of the email/password provider actions (`local-userpass`). Field names are exactly what
//! realm-web sends: register uses `email`, login uses `username`, tokens use camelCase `tokenId`.

use serde::{Deserialize, Serialize};

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    pub email: String,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub token: String,
    #[serde(rename = "tokenId")]
    pub token_id: String,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    pub token: String,
    #[serde(rename = "tokenId")]
    pub token_id: String,
    pub password: String,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetCallRequest {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub arguments: Vec<serde_json::Value>,
}

// Passwords and tokens must never reach a log through `Debug`.
macro_rules! redacted_debug {
    ($($ty:ident),*) => {$(
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($ty), " { .. redacted .. }"))
            }
        }
    )*};
}
redacted_debug!(
    RegisterRequest,
    TokenRequest,
    ResetRequest,
    ResetCallRequest
);

/// `phone-password` register and reset bodies.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhonePasswordRequest {
    pub phone: String,
    pub password: String,
    /// The texted code (reset only; left out of the body when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Register: binds the texted confirmation code to this flow (PKCE S256 challenge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<String>,
    /// Reset: the verifier of the challenge the reset code was sent for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_verifier: Option<String>,
}

/// `phone-password` confirm body.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneCodeRequest {
    pub phone: String,
    pub code: String,
    /// The verifier of the challenge the code was sent for (when it was sent for one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_verifier: Option<String>,
}

/// Bodies that name a phone number to send a code to; `code_challenge` (PKCE S256) binds the
/// code to the flow that asked, so only its verifier redeems it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneRequest {
    pub phone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<String>,
}

redacted_debug!(PhonePasswordRequest, PhoneCodeRequest);

/// `sms-code/send`: text a sign-in code to a confirmed number, bound to the flow that asked by a
/// PKCE S256 challenge; `sms-code/login` then needs the matching `code_verifier`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsCodeRequest {
    pub phone: String,
    pub code_challenge: String,
    #[serde(default = "s256")]
    pub code_challenge_method: String,
}

/// `magic-link/send`: ask for a sign-in link for a confirmed address, bound to this device by a
/// PKCE S256 challenge; the link's page hands a one-time code to `redirect_uri`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MagicLinkRequest {
    pub email: String,
    pub code_challenge: String,
    #[serde(default = "s256")]
    pub code_challenge_method: String,
    pub redirect_uri: String,
    #[serde(default)]
    pub state: String,
}

fn s256() -> String {
    "S256".into()
}
