//! What the window sees: plain data built from SDK objects. No token, refresh token or PKCE
//! verifier ever appears here (a test serialises every view and looks for them); the only
//! secret that crosses is a new API key, once, because showing it is the point.

use gatehouse_client::{User, UserState};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct ConnectionView {
    pub id: String,
    pub name: String,
    pub url: String,
    pub app_id: String,
    pub local: bool,
    /// `ready`, `starting`, or `unavailable` (then `problem` says why).
    pub status: String,
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    pub connection: String,
    pub connection_name: String,
    pub id: String,
    /// Name, else email, else phone, else a description of the provider ("Anonymous user").
    pub display_name: String,
    pub email: Option<String>,
    pub provider: Option<String>,
    /// `active`, `logged_in`, `logged_out` or `offline` (logged in, server not answering).
    pub state: String,
    /// Unix seconds when the session must be renewed by signing in again, if known.
    pub reauth_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecretsView {
    /// "the OS keychain" or "memory only (this run)".
    pub storage: String,
    pub memory_only: bool,
    /// Why the OS keychain cannot be used, when it cannot.
    pub problem: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PendingView {
    pub state: String,
    pub connection: String,
    pub provider: String,
    /// `browser` or `magic_link`.
    pub kind: String,
    /// For a browser sign-in, the address that was opened (to copy if no browser came up).
    pub url: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    pub connections: Vec<ConnectionView>,
    pub accounts: Vec<AccountView>,
    pub active: Option<AccountView>,
    pub secrets: SecretsView,
    pub pending: Vec<PendingView>,
    pub notices: Vec<String>,
    /// Unix milliseconds when this process started (the window reports its first full render
    /// against it; the desktop benchmark reads that).
    pub launched_at_ms: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProviderView {
    pub name: String,
    #[serde(rename = "type")]
    pub provider_type: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct IdentityView {
    pub provider: String,
    pub id: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccountDetails {
    pub account: AccountView,
    pub user_type: String,
    pub profile: serde_json::Map<String, serde_json::Value>,
    pub identities: Vec<IdentityView>,
    pub device_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiKeyView {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    /// Unix seconds, from the ObjectId the key is named by.
    pub created_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewApiKey {
    pub key: ApiKeyView,
    /// Shown once; the server never returns it again.
    pub secret: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    pub id: String,
    pub device: String,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub provider: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub current: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct StartedSignIn {
    pub state: String,
    pub url: Option<String>,
}

/// A profile field a person would recognise the account by.
pub fn display_name(user: &User) -> String {
    let profile = user.profile();
    let field = |k: &str| profile.as_ref().and_then(|p| p.data.get(k)).and_then(|v| v.as_str()).filter(|s| !s.is_empty()).map(str::to_string);
    field("name")
        .or_else(|| user.email())
        .or_else(|| field("email"))
        .or_else(|| field("phone"))
        .unwrap_or_else(|| match user.provider_type().as_deref() {
            Some("anon-user") => "Anonymous user".into(),
            Some("api-key") => "API key user".into(),
            Some(p) => format!("{} user", provider_label(p)),
            None => "Unknown user".into(),
        })
}

/// Words for a provider type.
pub fn provider_label(provider_type: &str) -> &str {
    match provider_type {
        "anon-user" => "Anonymous",
        "local-userpass" => "Email",
        "phone-password" => "Phone",
        "sms-code" => "SMS code",
        "magic-link" => "Magic link",
        "api-key" => "API key",
        "custom-token" => "Custom JWT",
        "custom-function" => "Custom function",
        "oauth2-google" => "Google",
        "oauth2-apple" => "Apple",
        "oauth2-facebook" => "Facebook",
        "oauth2-github" => "GitHub",
        "oauth2-discord" => "Discord",
        "oauth2-twitter" => "X",
        other => other,
    }
}

pub fn state_name(user: &User, active: bool, offline: bool) -> &'static str {
    match user.state() {
        UserState::LoggedIn if active => "active",
        UserState::LoggedIn if offline => "offline",
        UserState::LoggedIn => "logged_in",
        UserState::LoggedOut | UserState::Removed => "logged_out",
    }
}

/// An ObjectId's first four bytes are its creation time.
pub fn object_id_time(id: &str) -> Option<i64> {
    if id.len() != 24 {
        return None;
    }
    i64::from_str_radix(id.get(..8)?, 16).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn object_ids_carry_their_creation_time() {
        assert_eq!(super::object_id_time("5f1b2c3d0000000000000000"), Some(0x5f1b2c3d));
        assert_eq!(super::object_id_time("nope"), None);
    }
}
