//! The local agent protocol: what the `gatehouse` command (and any other program of the same
//! user) says to the running desktop app over its Unix socket, and what the app answers.
//!
//! Transport: a Unix stream socket at `$XDG_RUNTIME_DIR/gatehouse/agent.sock` (directory 0700;
//! the app also checks the peer's uid). One connection carries one exchange: the client writes
//! one [`AgentRequest`] as a single JSON line, the agent answers one [`AgentResponse`] line and
//! closes. A line is at most [`MAX_LINE`] bytes. The agent hands out access tokens only:
//! refresh tokens and stored API-key secrets never cross this socket.
//!
//! Versioning: every request and response carries [`AGENT_PROTOCOL_VERSION`]. An agent that
//! does not speak the client's version answers `version_mismatch` with its own version, so the
//! client can say which side to update. Within a version, fields are only ever added, optional.

use serde::{Deserialize, Serialize};

/// The version this crate speaks.
pub const AGENT_PROTOCOL_VERSION: u32 = 1;
/// The longest request or response line either side accepts (bytes, newline included).
pub const MAX_LINE: usize = 64 * 1024;
/// The directory under `$XDG_RUNTIME_DIR` that holds the socket.
pub const SOCKET_DIR: &str = "gatehouse";
/// The socket's file name in that directory.
pub const SOCKET_FILE: &str = "agent.sock";

/// A secret on this socket (a password typed into the terminal, an access token, a new API
/// key): serialised as a plain string, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentSecret(pub String);

impl AgentSecret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for AgentSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgentSecret(<redacted>)")
    }
}

/// Which account a command is about: `account` matches an id, an email or a display name
/// (exactly, case-insensitively for email and name); `connection` an id or a name. Both empty
/// means the active account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSelector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
}

/// One request line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRequest {
    pub version: u32,
    #[serde(flatten)]
    pub command: AgentCommand,
}

impl AgentRequest {
    pub fn new(command: AgentCommand) -> AgentRequest {
        AgentRequest {
            version: AGENT_PROTOCOL_VERSION,
            command,
        }
    }
}

/// What a client asks. `token`, `credential` and `api_key` act as an account and need the
/// person's consent for the asking program; the others do not hand out anything that acts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum AgentCommand {
    /// Connections, accounts and the active one → [`AgentResult::Status`].
    Status,
    /// Make an account the active one → [`AgentResult::Account`].
    Switch {
        #[serde(flatten)]
        select: AccountSelector,
    },
    /// A fresh access token → [`AgentResult::Token`].
    Token {
        #[serde(flatten)]
        select: AccountSelector,
    },
    /// git's credential `get` for `protocol://host[/path]`: the account mapped to that host
    /// → [`AgentResult::Credential`], or `no_mapping`.
    Credential {
        protocol: String,
        host: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
    },
    /// Start a sign-in in the app and wait for its outcome → [`AgentResult::Account`].
    Login(LoginRequest),
    /// Sign an account out → [`AgentResult::Status`].
    Logout {
        #[serde(flatten)]
        select: AccountSelector,
    },
    /// Manage an account's API keys → [`AgentResult::ApiKeys`] or [`AgentResult::NewApiKey`].
    ApiKey {
        #[serde(flatten)]
        select: AccountSelector,
        action: ApiKeyAction,
    },
}

/// A sign-in started from the terminal. `provider` is a provider type as the server names it
/// (`local-userpass`, `oauth2-google`, `anon-user`, …). Browser providers open the system
/// browser and wait for the deep link; password providers carry what the terminal prompted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    pub provider: String,
    /// Email address or phone number, for password providers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<AgentSecret>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ApiKeyAction {
    List,
    Create { name: String },
    Enable { id: String },
    Disable { id: String },
    Delete { id: String },
}

/// One response line: `{"version":1,"ok":{…}}` or `{"version":1,"error":{…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentResponse {
    pub version: u32,
    #[serde(flatten)]
    pub outcome: AgentOutcome,
}

// One response per connection, built once and written: the size of the larger variant is moot.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentOutcome {
    Ok(AgentResult),
    Error(AgentError),
}

impl AgentResponse {
    pub fn ok(result: AgentResult) -> AgentResponse {
        AgentResponse {
            version: AGENT_PROTOCOL_VERSION,
            outcome: AgentOutcome::Ok(result),
        }
    }

    pub fn error(error: AgentError) -> AgentResponse {
        AgentResponse {
            version: AGENT_PROTOCOL_VERSION,
            outcome: AgentOutcome::Error(error),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AgentResult {
    Status(AgentStatus),
    Account(AgentAccount),
    Token(AgentToken),
    Credential(AgentCredential),
    ApiKeys {
        keys: Vec<AgentApiKey>,
    },
    NewApiKey {
        key: AgentApiKey,
        secret: AgentSecret,
    },
    /// An API-key action that changes a key answers with nothing more.
    Done,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// The app's version (its Cargo package version).
    pub app_version: String,
    /// Where the tokens are kept: "the OS keychain" or "memory only (this run)".
    pub storage: String,
    pub connections: Vec<AgentConnection>,
    pub accounts: Vec<AgentAccount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentConnection {
    pub id: String,
    pub name: String,
    /// The server's base URL (what `GATEHOUSE_BASE_URL` is set to).
    pub url: String,
    pub app_id: String,
    pub local: bool,
    /// `ready`, `starting` or `unavailable` (then `problem` says why).
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentAccount {
    pub connection: String,
    pub connection_name: String,
    pub id: String,
    pub display_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// `active`, `logged_in`, `logged_out` or `offline`.
    pub state: String,
    pub active: bool,
    /// Unix seconds when the account must sign in again, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reauth_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentToken {
    pub access_token: AgentSecret,
    /// Unix seconds when the access token expires, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// The server's base URL.
    pub base_url: String,
    pub app_id: String,
    pub account: AgentAccount,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentCredential {
    /// The account's email, else its display name.
    pub username: String,
    /// A fresh access token.
    pub password: AgentSecret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    pub account: AgentAccount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentApiKey {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<i64>,
}

/// A refusal: a stable `code` (see [`AgentErrorCode`]) and a sentence for the person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentError {
    pub code: AgentErrorCode,
    pub message: String,
    /// For `ambiguous_account`: the accounts the selector matched.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<AgentAccount>,
}

impl AgentError {
    pub fn new(code: AgentErrorCode, message: impl Into<String>) -> AgentError {
        AgentError {
            code,
            message: message.into(),
            candidates: Vec::new(),
        }
    }
}

/// The agent's error vocabulary. Unknown codes from a newer agent read as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentErrorCode {
    /// The request's version is not one this agent speaks.
    VersionMismatch,
    /// The line was not a request this version knows, or a field is wrong.
    BadRequest,
    /// The peer is another user (never answered further).
    Forbidden,
    /// No account (or connection) matches the selector; or none is active.
    UnknownAccount,
    /// The selector matches several accounts (`candidates` lists them).
    AmbiguousAccount,
    UnknownConnection,
    /// The person chose "deny".
    ConsentDenied,
    /// Nobody answered the consent prompt in time.
    ConsentTimeout,
    /// The account is signed out (or its session ended): sign in again in the app.
    SignInRequired,
    /// The server wants a recent sign-in for this action (e.g. creating an API key).
    RecentSignInRequired,
    /// `credential`: no account is mapped to that host.
    NoMapping,
    /// The sign-in was cancelled, expired, or refused by the server.
    SignInFailed,
    /// The provider is not enabled on the connection, or cannot be used from a terminal.
    UnsupportedProvider,
    /// The server could not be reached or answered with an outage.
    Unavailable,
    /// The server refused the request (its message is passed on).
    Server,
    #[serde(other)]
    Other,
}

impl AgentErrorCode {
    /// The code as spelled on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentErrorCode::VersionMismatch => "version_mismatch",
            AgentErrorCode::BadRequest => "bad_request",
            AgentErrorCode::Forbidden => "forbidden",
            AgentErrorCode::UnknownAccount => "unknown_account",
            AgentErrorCode::AmbiguousAccount => "ambiguous_account",
            AgentErrorCode::UnknownConnection => "unknown_connection",
            AgentErrorCode::ConsentDenied => "consent_denied",
            AgentErrorCode::ConsentTimeout => "consent_timeout",
            AgentErrorCode::SignInRequired => "sign_in_required",
            AgentErrorCode::RecentSignInRequired => "recent_sign_in_required",
            AgentErrorCode::NoMapping => "no_mapping",
            AgentErrorCode::SignInFailed => "sign_in_failed",
            AgentErrorCode::UnsupportedProvider => "unsupported_provider",
            AgentErrorCode::Unavailable => "unavailable",
            AgentErrorCode::Server => "server",
            AgentErrorCode::Other => "other",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_are_flat_lines() {
        let r = AgentRequest::new(AgentCommand::Token {
            select: AccountSelector {
                account: Some("ada@example.test".into()),
                connection: None,
            },
        });
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            json!({"version": 1, "command": "token", "account": "ada@example.test"})
        );
        assert_eq!(serde_json::from_value::<AgentRequest>(v).unwrap(), r);
        let status: AgentRequest =
            serde_json::from_value(json!({"version": 1, "command": "status"})).unwrap();
        assert_eq!(status.command, AgentCommand::Status);
        let create = json!({"action": "create", "name": "ci"});
        let key: AgentRequest =
            serde_json::from_value(json!({"version": 1, "command": "api_key", "action": create}))
                .unwrap();
        assert!(matches!(key.command, AgentCommand::ApiKey { .. }));
    }

    #[test]
    fn responses_say_ok_or_error_and_secrets_hide_from_debug() {
        let r = AgentResponse::error(AgentError::new(AgentErrorCode::ConsentDenied, "no"));
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            json!({"version": 1, "error": {"code": "consent_denied", "message": "no"}})
        );
        let newer: AgentResponse = serde_json::from_value(
            json!({"version": 1, "error": {"code": "from_the_future", "message": "?"}}),
        )
        .unwrap();
        assert!(matches!(
            newer.outcome,
            AgentOutcome::Error(AgentError {
                code: AgentErrorCode::Other,
                ..
            })
        ));
        let secret = AgentSecret("eyJ.secret".into());
        assert!(!format!("{secret:?}").contains("eyJ"));
        let done = serde_json::to_value(AgentResponse::ok(AgentResult::Done)).unwrap();
        assert_eq!(done, json!({"version": 1, "ok": {"kind": "done"}}));
    }

    #[test]
    fn every_code_is_spelled_as_serde_spells_it() {
        use AgentErrorCode::*;
        for code in [
            VersionMismatch,
            BadRequest,
            Forbidden,
            UnknownAccount,
            AmbiguousAccount,
            UnknownConnection,
            ConsentDenied,
            ConsentTimeout,
            SignInRequired,
            RecentSignInRequired,
            NoMapping,
            SignInFailed,
            UnsupportedProvider,
            Unavailable,
            Server,
            Other,
        ] {
            assert_eq!(serde_json::to_value(code).unwrap(), json!(code.as_str()));
        }
    }
}
