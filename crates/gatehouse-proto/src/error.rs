//! Error bodies and the stable `error_code` vocabulary.
//!
//! Codes that exist in App Services keep their exact spelling (clients match on them); codes that
//! Gatehouse adds are listed after them. Clients must treat unknown codes as opaque strings.

use serde::{Deserialize, Serialize};

/// `{"error": <human message>, "error_code": <Code>, "link": <URL>}`, sent with
/// `Content-Type: application/json` exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub error_code: String,
    #[serde(default)]
    pub link: String,
    /// Gatehouse: the challenge of a `MfaRequired` / `MfaEnrollmentRequired` answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mfa: Option<crate::mfa::MfaChallengeInfo>,
}

macro_rules! codes {
    ($($variant:ident => $wire:literal),* $(,)?) => {
        /// Stable machine-readable error codes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $($variant),* }
        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),*];
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $wire),* }
            }
            pub fn parse(s: &str) -> Option<ErrorCode> {
                match s { $($wire => Some(ErrorCode::$variant),)* _ => None }
            }
        }
    };
}

codes! {
    // App Services vocabulary (realm-core error_codes.cpp spelling).
    InvalidSession => "InvalidSession",
    MissingAuthReq => "MissingAuthReq",
    InvalidParameter => "InvalidParameter",
    MissingParameter => "MissingParameter",
    BadRequest => "BadRequest",
    InvalidPassword => "InvalidPassword",
    AccountNameInUse => "AccountNameInUse",
    UserNotFound => "UserNotFound",
    UserDisabled => "UserDisabled",
    UserAlreadyConfirmed => "UserAlreadyConfirmed",
    UserpassTokenInvalid => "UserpassTokenInvalid",
    AuthError => "AuthError",
    AuthProviderNotFound => "AuthProviderNotFound",
    APIKeyNotFound => "APIKeyNotFound",
    APIKeyAlreadyExists => "APIKeyAlreadyExists",
    FunctionNotFound => "FunctionNotFound",
    FunctionExecutionError => "FunctionExecutionError",
    ReadSizeLimitExceeded => "ReadSizeLimitExceeded",
    InternalServerError => "InternalServerError",
    // Gatehouse additions.
    AppNotFound => "AppNotFound",
    WeakPassword => "WeakPassword",
    InvalidEmail => "InvalidEmail",
    TooManyRequests => "TooManyRequests",
    ServiceUnavailable => "ServiceUnavailable",
    Forbidden => "Forbidden",
    IdentityInUse => "IdentityInUse",
    NotConfigured => "NotConfigured",
    NotFound => "NotFound",
    SessionNotFound => "SessionNotFound",
    InvalidPhone => "InvalidPhone",
    CountryNotAllowed => "CountryNotAllowed",
    InvalidCode => "InvalidCode",
    CodeExpired => "CodeExpired",
    CodeAlreadyUsed => "CodeAlreadyUsed",
    TooManyAttempts => "TooManyAttempts",
    // A write that collided with another (a unique constraint) and has no more specific meaning.
    Conflict => "Conflict",
    // A lasting change (API key, linked identity, deletion, password) needs a sign-in within the
    // last few minutes; the client signs in again and retries (security.md S-67).
    RecentSignInRequired => "RecentSignInRequired",
    // The request body did not arrive within `[limits] body_read_timeout_ms`.
    RequestTimeout => "RequestTimeout",
    // Multi-factor sign-in (crate::mfa): the first factor was right; the body's `mfa` member
    // holds the challenge to answer (401).
    MfaRequired => "MfaRequired",
    // The app requires a second factor and the user has none: enroll one through the challenge.
    MfaEnrollmentRequired => "MfaEnrollmentRequired",
    // The challenge id is unknown, expired, used, or bound to another device or app.
    MfaChallengeInvalid => "MfaChallengeInvalid",
    // The TOTP or recovery code is wrong, or was used already (a replay).
    MfaCodeInvalid => "MfaCodeInvalid",
    // Passkeys (WebAuthn): each refusal of an assertion or registration says what was wrong.
    PasskeyOriginMismatch => "PasskeyOriginMismatch",
    PasskeyReplay => "PasskeyReplay",
    PasskeyCounterRegressed => "PasskeyCounterRegressed",
    PasskeyUnknown => "PasskeyUnknown",
    PasskeyInvalid => "PasskeyInvalid",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_wire_name() {
        for code in ErrorCode::ALL {
            assert_eq!(ErrorCode::parse(code.as_str()), Some(*code));
        }
        assert_eq!(ErrorCode::APIKeyNotFound.as_str(), "APIKeyNotFound");
        assert_eq!(ErrorCode::parse("ApiKeyNotFound"), None);
    }
}
