//! The SDK's one error type. Each variant says which side failed, so callers (and the desktop
//! app) can tell "the server said no" from "the network is down" from "the keychain is locked".

use std::path::PathBuf;

use gatehouse_proto::ErrorCode;

use crate::mfa::MfaChallenge;

/// Stable machine-readable codes for errors that did not come from the server (the desktop app
/// forwards them across IPC next to the server's `error_code`s).
pub mod codes {
    pub const TRANSPORT: &str = "Transport";
    pub const DECODE: &str = "Decode";
    pub const KEYCHAIN: &str = "KeychainUnavailable";
    pub const STORE: &str = "StoreCorrupt";
    pub const STORE_IO: &str = "StoreIo";
    pub const LOGGED_OUT: &str = "UserLoggedOut";
    pub const UNKNOWN_USER: &str = "UnknownUser";
    pub const INVALID_ARGUMENT: &str = "InvalidArgument";
    /// A redirect URL whose state matches no sign-in started by this app (ignored, nothing
    /// changed).
    pub const UNKNOWN_REDIRECT: &str = "UnknownRedirect";
    /// The browser sign-in ended with an error (the person declined, the provider failed, …).
    pub const REDIRECT_FAILED: &str = "RedirectFailed";
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server refused the request; `code` is its wire `error_code` (e.g. `InvalidPassword`).
    #[error("{message} ({code}, HTTP {status})")]
    Server {
        status: u16,
        code: String,
        message: String,
    },
    /// A lasting change (an API key, a linked identity, deleting the account, a new password)
    /// needs a recent sign-in: sign the same user in again, then retry. The session is still
    /// good; nothing was changed.
    #[error("{message}")]
    RecentSignInRequired { message: String },
    /// The server could not be reached or the connection failed. Nothing was changed locally.
    #[error("cannot reach the server at {url}: {detail}")]
    Transport { url: String, detail: String },
    /// The server answered something this SDK cannot read.
    #[error("unexpected answer from the server: {0}")]
    Decode(String),
    /// The OS keychain is not usable; `advice` says what the person can do.
    #[error("the OS keychain is not usable: {reason}. {advice}")]
    Keychain { reason: String, advice: String },
    /// The user store on disk cannot be read; it was left untouched.
    #[error(
        "the account list at {path} is damaged ({detail}); it was left untouched — \
         restore it from a backup or move it aside to start empty"
    )]
    StoreCorrupt { path: PathBuf, detail: String },
    /// Reading or writing the user store failed.
    #[error("cannot write the account list at {path}: {detail}")]
    StoreIo { path: PathBuf, detail: String },
    /// The operation needs a logged-in user.
    #[error("user {0} is logged out; log in again")]
    LoggedOut(String),
    /// The user is not (or no longer) known to this app.
    #[error("user {0} is not signed in on this device")]
    UnknownUser(String),
    /// A caller-supplied value was rejected before anything was sent.
    #[error("{0}")]
    InvalidArgument(String),
    /// A redirect that belongs to no pending browser sign-in.
    #[error("this sign-in link does not belong to a sign-in started here; it was ignored")]
    UnknownRedirect,
    /// The browser sign-in failed; `reason` is the server's or provider's code, `message` says why.
    #[error("the sign-in did not complete: {message} ({reason})")]
    RedirectFailed { reason: String, message: String },
    /// The first factor was right and the user has a second one (Gatehouse extension): nothing
    /// was stored; answer the challenge with [`crate::App::complete_mfa`] (a TOTP or recovery
    /// code) or [`crate::App::begin_mfa_passkey`] before it expires.
    #[error("this sign-in needs a second factor (one of: {})", .challenge.methods.join(", "))]
    MfaRequired { challenge: MfaChallenge },
    /// The app requires a second factor and this user has none yet: nothing was stored; enrol
    /// one for the challenge ([`crate::App::enroll_totp_for_challenge`]) and complete it with a
    /// first code ([`crate::App::complete_mfa_enrollment`]).
    #[error("this app requires a second factor: set one up to finish signing in")]
    MfaEnrollmentRequired { challenge: MfaChallenge },
}

impl Error {
    /// The stable code: the server's `error_code`, or one of [`codes`].
    pub fn code(&self) -> &str {
        match self {
            Error::Server { code, .. } => code,
            Error::RecentSignInRequired { .. } => ErrorCode::RecentSignInRequired.as_str(),
            Error::Transport { .. } => codes::TRANSPORT,
            Error::Decode(_) => codes::DECODE,
            Error::Keychain { .. } => codes::KEYCHAIN,
            Error::StoreCorrupt { .. } => codes::STORE,
            Error::StoreIo { .. } => codes::STORE_IO,
            Error::LoggedOut(_) => codes::LOGGED_OUT,
            Error::UnknownRedirect => codes::UNKNOWN_REDIRECT,
            Error::RedirectFailed { .. } => codes::REDIRECT_FAILED,
            Error::UnknownUser(_) => codes::UNKNOWN_USER,
            Error::InvalidArgument(_) => codes::INVALID_ARGUMENT,
            Error::MfaRequired { .. } => ErrorCode::MfaRequired.as_str(),
            Error::MfaEnrollmentRequired { .. } => ErrorCode::MfaEnrollmentRequired.as_str(),
        }
    }

    /// The challenge of an [`Error::MfaRequired`] / [`Error::MfaEnrollmentRequired`] answer.
    pub fn mfa_challenge(&self) -> Option<&MfaChallenge> {
        match self {
            Error::MfaRequired { challenge } | Error::MfaEnrollmentRequired { challenge } => {
                Some(challenge)
            }
            _ => None,
        }
    }

    /// After a failed attempt to answer a challenge: whether the same challenge can be answered
    /// again. True for a wrong code (`MfaCodeInvalid`, also a wrong passkey code), a throttled
    /// attempt (429) and failures that may go away by themselves (network, 5xx); false for
    /// everything else, notably `MfaChallengeInvalid` (expired, used, unknown, or too many wrong
    /// codes: sign in again).
    pub fn keeps_mfa_challenge(&self) -> bool {
        self.is_transient() || self.code() == ErrorCode::MfaCodeInvalid.as_str()
    }

    /// True when the server said this session is no longer valid.
    pub fn is_invalid_session(&self) -> bool {
        matches!(self, Error::Server { status: 401, code, .. } if code == "InvalidSession")
    }

    /// True for failures that may go away by themselves (network, 5xx, 429): never a reason to
    /// drop tokens.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Transport { .. } => true,
            Error::Server { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
