//! The desktop app's one error type. It crosses IPC as `{code, message}`: `code` is stable (the
//! server's `error_code`, the SDK's code, or one of this module's), `message` is a sentence a
//! person can act on.

use serde::ser::SerializeStruct;

pub mod codes {
    pub const INVALID_INPUT: &str = "InvalidInput";
    pub const UNKNOWN_CONNECTION: &str = "UnknownConnection";
    pub const UNKNOWN_ACCOUNT: &str = "UnknownAccount";
    pub const NO_ACTIVE_ACCOUNT: &str = "NoActiveAccount";
    pub const CONNECTION_CHECK: &str = "ConnectionCheckFailed";
    pub const SETTINGS: &str = "SettingsUnwritable";
    pub const LOCAL_BACKEND: &str = "LocalBackendUnavailable";
    pub const UNAVAILABLE: &str = "ConnectionUnavailable";
    pub const BROWSER: &str = "BrowserUnavailable";
    pub const NO_PENDING: &str = "NoPendingSignIn";
    pub const NO_CONSENT: &str = "NoPendingConsent";
    pub const UNKNOWN_GRANT: &str = "UnknownProgram";
}

#[derive(Debug, thiserror::Error)]
pub enum DesktopError {
    /// Anything the SDK reported; its code and text are kept.
    #[error("{}", sdk_message(.0))]
    Sdk(#[from] gatehouse_client::Error),
    #[error("{0}")]
    InvalidInput(String),
    #[error("There is no connection {0:?} (it may have been removed)")]
    UnknownConnection(String),
    #[error("That account is not on this device any more")]
    UnknownAccount,
    #[error("No account is active: sign in or pick one in the list first")]
    NoActiveAccount,
    /// Adding or editing a connection: the server did not answer as an App Services server would.
    #[error("{0}")]
    ConnectionCheck(String),
    #[error("Cannot save the app settings at {path}: {detail}")]
    Settings { path: String, detail: String },
    #[error("The Local backend could not start: {0}")]
    LocalBackend(String),
    /// The connection exists but cannot be used now (e.g. no keychain and memory-only not chosen).
    #[error("{0}")]
    Unavailable(String),
    #[error(
        "Cannot open the web browser ({0}). Open the address shown under \"Waiting for …\" in a \
         browser yourself"
    )]
    Browser(String),
    #[error(
        "That sign-in is no longer waiting (it finished, was cancelled or expired); start it again"
    )]
    NoPending,
    #[error(
        "That request is no longer waiting (it was answered, timed out, or the program went away)"
    )]
    NoConsent,
    #[error("That program is not in the list any more")]
    UnknownGrant,
}

impl DesktopError {
    pub fn code(&self) -> &str {
        match self {
            DesktopError::Sdk(e) => e.code(),
            DesktopError::InvalidInput(_) => codes::INVALID_INPUT,
            DesktopError::UnknownConnection(_) => codes::UNKNOWN_CONNECTION,
            DesktopError::UnknownAccount => codes::UNKNOWN_ACCOUNT,
            DesktopError::NoActiveAccount => codes::NO_ACTIVE_ACCOUNT,
            DesktopError::ConnectionCheck(_) => codes::CONNECTION_CHECK,
            DesktopError::Settings { .. } => codes::SETTINGS,
            DesktopError::LocalBackend(_) => codes::LOCAL_BACKEND,
            DesktopError::Unavailable(_) => codes::UNAVAILABLE,
            DesktopError::Browser(_) => codes::BROWSER,
            DesktopError::NoPending => codes::NO_PENDING,
            DesktopError::NoConsent => codes::NO_CONSENT,
            DesktopError::UnknownGrant => codes::UNKNOWN_GRANT,
        }
    }
}

/// Server errors read "message (Code, HTTP 401)" in the SDK; people get the sentence, with the
/// first letter raised, and the code travels separately.
fn sdk_message(e: &gatehouse_client::Error) -> String {
    let text = match e {
        gatehouse_client::Error::Server { message, .. } => message.clone(),
        other => other.to_string(),
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

impl serde::Serialize for DesktopError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut out = s.serialize_struct("DesktopError", 2)?;
        out.serialize_field("code", self.code())?;
        out.serialize_field("message", &self.to_string())?;
        out.end()
    }
}

pub type Result<T> = std::result::Result<T, DesktopError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crosses_ipc_as_code_and_message() {
        let e = DesktopError::from(gatehouse_client::Error::Server {
            status: 401,
            code: "InvalidPassword".into(),
            message: "invalid username/password".into(),
        });
        let expected =
            serde_json::json!({"code": "InvalidPassword", "message": "Invalid username/password"});
        assert_eq!(serde_json::to_value(&e).unwrap(), expected);
        let e = DesktopError::UnknownConnection("x".into());
        assert_eq!(
            serde_json::to_value(&e).unwrap()["code"],
            "UnknownConnection"
        );
    }
}
