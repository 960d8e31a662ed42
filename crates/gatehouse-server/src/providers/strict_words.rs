//! App Services' exact error texts, for apps with `strict_app_services_errors = true`.
//!
//! Stock clients and their tests compare some error messages word for word (realm-js's
//! integration tests, apps that branch on `err.error`). A strict app gets those words; every
//! other app keeps Gatehouse's descriptive text, which says what to do next. The code and status
//! are the same in both modes: only the message changes. docs/protocol.md has the table; each
//! entry is tested with realm-web (tests/e2e/strict_words.rs).

use gatehouse_proto::ErrorCode;

use crate::error::ApiError;

/// A bad, used or expired confirmation or reset token (`confirm`, `reset`).
pub const INVALID_TOKEN: &str = "invalid token data";

/// `confirm` / `reset` refused the token: App Services' words in strict mode.
pub fn token_refused(strict: bool, error: ApiError) -> ApiError {
    if strict && error.code == ErrorCode::UserpassTokenInvalid {
        ApiError {
            message: INVALID_TOKEN.into(),
            ..error
        }
    } else {
        error
    }
}

/// `confirm/call` on an app that confirms every registration itself. Strict apps hear it in
/// App Services' words; others get `None` and their usual answer (no function configured).
pub fn automatic_confirmation(strict: bool, auto_confirm: bool, email: &str) -> Option<ApiError> {
    (strict && auto_confirm).then(|| {
        ApiError::bad_request(format!(
            "cannot run confirmation for {email}: automatic confirmation is enabled"
        ))
    })
}

/// The confirmation function answered `fail` (registration or `confirm/call`).
pub fn confirmation_refused(strict: bool, email: &str) -> ApiError {
    ApiError::bad_request(if strict {
        format!("failed to confirm user \"{email}\"")
    } else {
        "the confirmation function refused this address".into()
    })
}

/// The reset function answered `fail` (`reset/call`).
pub fn reset_refused(strict: bool, email: &str) -> ApiError {
    ApiError::bad_request(if strict {
        format!("failed to reset password for user \"{email}\"")
    } else {
        "the password reset function refused; the password is unchanged".into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_apps_get_app_services_words_and_others_keep_theirs() {
        let bad = || ApiError::new(ErrorCode::UserpassTokenInvalid, "the link is wrong");
        assert_eq!(token_refused(true, bad()).message, "invalid token data");
        assert_eq!(token_refused(false, bad()).message, "the link is wrong");
        let other = ApiError::new(ErrorCode::TooManyRequests, "wait");
        assert_eq!(token_refused(true, other).message, "wait");
        let email = "a@example.com";
        assert_eq!(
            automatic_confirmation(true, true, email).unwrap().message,
            "cannot run confirmation for a@example.com: automatic confirmation is enabled"
        );
        assert!(automatic_confirmation(false, true, email).is_none());
        assert!(automatic_confirmation(true, false, email).is_none());
        assert_eq!(
            confirmation_refused(true, email).message,
            r#"failed to confirm user "a@example.com""#
        );
        assert_eq!(
            reset_refused(true, email).message,
            r#"failed to reset password for user "a@example.com""#
        );
        for e in [
            confirmation_refused(false, email),
            reset_refused(false, email),
        ] {
            assert_eq!(e.code, ErrorCode::BadRequest);
            assert!(!e.message.contains(email));
        }
    }
}
