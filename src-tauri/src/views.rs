//! What the window sees: plain data built from SDK objects. No token, refresh token or PKCE
//! verifier ever appears here (a test serialises every view and looks for them); the only
//! secrets that cross are shown once because showing them is the point: a new API key, a new
//! TOTP secret (text and QR code) and new recovery codes. A second-factor challenge crosses as
//! its id only; the SDK's challenge stays in this process.

use gatehouse_client::{ProviderType, User, UserState};
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountView {
    pub connection: String,
    pub connection_name: String,
    pub id: String,
    /// Name, else email, else phone, else a description of the provider ("Anonymous user").
    pub display_name: String,
    pub email: Option<String>,
    /// The provider to sign in again with (for an anonymous account that linked a permanent
    /// identity, that identity's); `anon-user` only for anonymous-only accounts.
    pub provider: Option<String>,
    pub state: AccountState,
    /// Unix seconds when the session must be renewed by signing in again, if known.
    pub reauth_at: Option<i64>,
    /// The profile's picture address, https only (the window shows initials without it).
    pub picture: Option<String>,
}

/// An account's state as the window shows it (spelled `active`, `logged_in`, `logged_out`,
/// `offline`; ui/js/format.js has their words).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountState {
    /// Signed in, and the account the panels act on.
    Active,
    LoggedIn,
    /// Signed out on this device (or removed a moment ago): it must sign in again.
    LoggedOut,
    /// Signed in, but its server did not answer the last request.
    Offline,
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
    /// The operator's custom data from the current access token (empty when none).
    pub custom_data: serde_json::Map<String, serde_json::Value>,
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
    /// The device as the login described it (its name, else its platform): the raw words.
    pub device: String,
    /// The device in words ("Firefox on Windows", "Gatehouse on Linux — this computer"); see
    /// `device_label.rs`.
    pub device_label: String,
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

/// A user's second factor (TOTP or passkey).
#[derive(Debug, Clone, Serialize)]
pub struct FactorView {
    pub id: String,
    /// `totp` or `passkey`.
    pub kind: String,
    pub name: String,
    /// An unconfirmed TOTP factor is listed until confirmed or replaced; it never counts.
    pub confirmed: bool,
    /// Unix seconds.
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl From<gatehouse_client::MfaFactor> for FactorView {
    fn from(f: gatehouse_client::MfaFactor) -> FactorView {
        FactorView {
            id: f.id,
            kind: f.kind,
            name: f.name,
            confirmed: f.confirmed,
            created_at: f.created_at,
            last_used_at: f.last_used_at,
        }
    }
}

/// An account's two-step sign-in: its factors, its recovery codes left, and whether the app
/// requires a second factor.
#[derive(Debug, Clone, Serialize)]
pub struct MfaView {
    pub factors: Vec<FactorView>,
    pub recovery_codes_left: u32,
    pub required: bool,
}

/// A new TOTP secret, shown once: as text, as the `otpauth://` URI, and as a QR code of that
/// URI (an SVG document).
#[derive(Clone, Serialize)]
pub struct TotpEnrollmentView {
    pub factor_id: String,
    pub secret: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

impl std::fmt::Debug for TotpEnrollmentView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpEnrollmentView")
            .field("factor_id", &self.factor_id)
            .finish_non_exhaustive()
    }
}

/// A confirmed TOTP factor; for the account's first factor, its ten recovery codes (shown
/// once).
#[derive(Clone, Serialize)]
pub struct ConfirmedView {
    pub factor: FactorView,
    pub recovery_codes: Option<Vec<String>>,
}

/// A sign-in waiting for its second factor (`answer_mfa`, `enroll_for_challenge` when `enroll`,
/// `mfa_with_passkey`, `cancel_mfa` take its `id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChallengeView {
    pub id: String,
    pub connection: String,
    /// The first factor's provider.
    pub provider: String,
    /// Some of `totp`, `recovery_code`, `passkey`.
    pub methods: Vec<String>,
    /// Unix seconds.
    pub expires_at: i64,
    /// The app requires a second factor and the account has none: set one up first.
    pub enroll: bool,
}

/// A challenge answered: the account signed in, and for an enrollment challenge the new
/// recovery codes (shown once).
#[derive(Clone, Serialize)]
pub struct MfaAnswerView {
    pub account: AccountView,
    pub recovery_codes: Option<Vec<String>>,
}

/// The window's behaviour, stored in `settings.json`.
pub use crate::settings::WindowPrefs;

/// A program asking, through the local agent, to act as an account: the window asks the
/// person (allow once, always allow this program, deny) before anything is handed out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsentPrompt {
    pub id: String,
    /// `token`, `git_credential` or `api_keys`.
    pub purpose: String,
    pub program: ProgramView,
    pub account: AccountView,
    pub connection_name: String,
    /// For `git_credential`: the host git asked about.
    pub host: Option<String>,
    /// Unix milliseconds when the request gives up unanswered.
    pub expires_at_ms: u64,
}

/// The program on the other end of the agent's socket, as `/proc` describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProgramView {
    /// Its executable's path (what "always allow" is remembered by).
    pub exe: String,
    /// Its command line, arguments separated by spaces, at most 512 characters.
    pub cmdline: String,
    pub pid: u32,
    /// When the request came through the `gatehouse` command (or a shell wrapper): that
    /// command's line; `exe` is then the program that ran it.
    pub via: Option<String>,
}

/// A program the person chose to "always allow" for one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProgramGrantView {
    pub id: String,
    pub exe: String,
    pub connection: String,
    pub connection_name: String,
    pub user: String,
    pub account_name: String,
    /// Unix seconds.
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub uses: u64,
}

/// A git host and the account the credential helper answers for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostMappingView {
    pub host: String,
    pub connection: String,
    pub user: String,
    pub account_name: String,
}

/// A profile field a person would recognise the account by.
pub fn display_name(user: &User) -> String {
    let profile = user.profile();
    let field = |k: &str| {
        profile
            .as_ref()
            .and_then(|p| p.data.get(k))
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    field("name")
        .or_else(|| user.email())
        .or_else(|| field("email"))
        .or_else(|| field("phone"))
        .unwrap_or_else(|| match user.sign_in_provider().as_deref() {
            None => "Unknown user".into(),
            Some(p) => match ProviderType::parse(p) {
                Some(ProviderType::Anonymous) => "Anonymous user".into(),
                Some(ProviderType::ApiKey) => "API key user".into(),
                _ => format!("{} user", provider_label(p)),
            },
        })
}

/// The profile's picture (`picture`, else `picture_url`), when it is an https address: the
/// window loads nothing else from outside (no http, no `data:` or `file:` from a profile).
pub fn picture(user: &User) -> Option<String> {
    picture_of(&user.profile()?.data)
}

fn picture_of(data: &serde_json::Map<String, serde_json::Value>) -> Option<String> {
    ["picture", "picture_url"]
        .iter()
        .filter_map(|k| data.get(*k)?.as_str())
        .find_map(|raw| {
            let u = url::Url::parse(raw.trim()).ok()?;
            (u.scheme() == "https" && u.host_str().is_some()).then(|| u.to_string())
        })
}

/// Whether the account is anonymous-only (it cannot sign in again once logged out). Follows
/// its identities: one that linked a permanent identity is not.
pub fn is_anonymous(user: &User) -> bool {
    user.is_anonymous()
}

/// Words for a provider type (its wire name when this app does not know it).
pub fn provider_label(provider_type: &str) -> &str {
    let Some(known) = ProviderType::parse(provider_type) else {
        return provider_type;
    };
    match known {
        ProviderType::Anonymous => "Anonymous",
        ProviderType::Userpass => "Email",
        ProviderType::PhonePassword => "Phone",
        ProviderType::SmsCode => "SMS code",
        ProviderType::MagicLink => "Magic link",
        ProviderType::ApiKey => "API key",
        ProviderType::CustomToken => "Custom JWT",
        ProviderType::CustomFunction => "Custom function",
        ProviderType::Google => "Google",
        ProviderType::Apple => "Apple",
        ProviderType::Facebook => "Facebook",
        ProviderType::Github => "GitHub",
        ProviderType::Discord => "Discord",
        ProviderType::Twitter => "X",
        ProviderType::Passkey => "Passkey",
    }
}

pub fn account_state(user: &User, active: bool, offline: bool) -> AccountState {
    match user.state() {
        UserState::LoggedIn if active => AccountState::Active,
        UserState::LoggedIn if offline => AccountState::Offline,
        UserState::LoggedIn => AccountState::LoggedIn,
        UserState::LoggedOut | UserState::Removed => AccountState::LoggedOut,
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
        assert_eq!(
            super::object_id_time("5f1b2c3d0000000000000000"),
            Some(0x5f1b2c3d)
        );
        assert_eq!(super::object_id_time("nope"), None);
    }

    #[test]
    fn only_https_pictures_are_shown() {
        let data = |v: serde_json::Value| v.as_object().cloned().unwrap();
        let pic = "https://lh3.googleusercontent.com/a/abc=s96-c";
        assert_eq!(
            super::picture_of(&data(serde_json::json!({"picture": pic}))).as_deref(),
            Some(pic)
        );
        let url_only = serde_json::json!({"picture_url": "https://example.test/a.png"});
        assert_eq!(
            super::picture_of(&data(url_only)).as_deref(),
            Some("https://example.test/a.png")
        );
        for bad in [
            "http://example.test/a.png",
            "data:image/png;base64,AAAA",
            "javascript:1",
            "",
        ] {
            let d = data(serde_json::json!({"picture": bad}));
            assert_eq!(super::picture_of(&d), None, "{bad}");
        }
    }
}
