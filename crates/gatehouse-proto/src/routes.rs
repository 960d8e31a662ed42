//! Route paths and header names. `{app}` routes carry the app id; `/auth/*` routes find the app
//! from the bearer token (App Services convention).

/// Fixed base path of the client API.
pub const BASE: &str = "/api/client/v2.0";

/// Request header a client sends on `POST /auth/session` to opt into refresh-token rotation.
/// Stock App Services clients never send it and keep one refresh token per session.
pub const ROTATION_HEADER: &str = "x-gatehouse-refresh-rotation";

/// Provider names on the wire, as `&str` constants for paths; the spelling lives in
/// [`crate::provider::ProviderType`].
pub mod provider {
    use crate::provider::ProviderType;

    pub const ANONYMOUS: &str = ProviderType::Anonymous.as_str();
    pub const USERPASS: &str = ProviderType::Userpass.as_str();
    pub const API_KEY: &str = ProviderType::ApiKey.as_str();
    pub const CUSTOM_TOKEN: &str = ProviderType::CustomToken.as_str();
    pub const CUSTOM_FUNCTION: &str = ProviderType::CustomFunction.as_str();
    pub const GOOGLE: &str = ProviderType::Google.as_str();
    pub const APPLE: &str = ProviderType::Apple.as_str();
    pub const FACEBOOK: &str = ProviderType::Facebook.as_str();
    /// Gatehouse: redirect sign-in only (browser → provider → server → app).
    pub const GITHUB: &str = ProviderType::Github.as_str();
    pub const DISCORD: &str = ProviderType::Discord.as_str();
    pub const TWITTER: &str = ProviderType::Twitter.as_str();
    /// Providers that can sign in through a browser redirect (`GET …/login?redirect=…`).
    pub const REDIRECT: &[&str] = &[GOOGLE, APPLE, FACEBOOK, GITHUB, DISCORD, TWITTER];
    /// Gatehouse: phone number + password (actions like `local-userpass`, codes by SMS).
    pub const PHONE_PASSWORD: &str = ProviderType::PhonePassword.as_str();
    /// Gatehouse: a one-time code texted to a confirmed number (`send`, then login).
    pub const SMS_CODE: &str = ProviderType::SmsCode.as_str();
    /// Gatehouse: a link (and a short code) mailed to a confirmed address, redeemed with PKCE.
    pub const MAGIC_LINK: &str = ProviderType::MagicLink.as_str();
}

pub fn app_base(app_id: &str) -> String {
    format!("{BASE}/app/{app_id}")
}

pub fn location(app_id: &str) -> String {
    format!("{BASE}/app/{app_id}/location")
}

pub fn providers(app_id: &str) -> String {
    format!("{BASE}/app/{app_id}/auth/providers")
}

pub fn login(app_id: &str, provider: &str) -> String {
    format!("{BASE}/app/{app_id}/auth/providers/{provider}/login")
}

pub fn userpass_action(app_id: &str, action: &str) -> String {
    format!("{BASE}/app/{app_id}/auth/providers/local-userpass/{action}")
}

pub const SESSION: &str = "/api/client/v2.0/auth/session";
pub const PROFILE: &str = "/api/client/v2.0/auth/profile";
pub const DELETE_USER: &str = "/api/client/v2.0/auth/delete";
pub const API_KEYS: &str = "/api/client/v2.0/auth/api_keys";

/// Where each upstream provider sends the browser back (one path per provider: mix-up defence).
pub fn oauth_callback(provider: &str) -> String {
    format!("{BASE}/auth/callback/{provider}")
}

/// Binds a flow started without a browser (linking through `providerRedirectHeader`) to the
/// browser that opens it, then redirects to the provider.
pub const OAUTH_START: &str = "/api/client/v2.0/auth/oauth2/start";

pub const SESSIONS: &str = "/api/client/v2.0/auth/sessions";
pub const PASSWORD: &str = "/api/client/v2.0/auth/password";
/// The user's own security events, newest first (`?limit=`, 1–100, default 50).
pub const ACTIVITY: &str = "/api/client/v2.0/auth/activity";
/// Gatehouse: self-service changes of the signed-in user (`crate::self_service`).
pub const EMAIL_CHANGE: &str = "/api/client/v2.0/auth/email/change";
pub const PHONE_CHANGE: &str = "/api/client/v2.0/auth/phone/change";
pub const PHONE_CHANGE_CONFIRM: &str = "/api/client/v2.0/auth/phone/change/confirm";

/// Gatehouse: the signed-in user's identities; `DELETE {IDENTITIES}/{provider}/{id}` unlinks one.
pub const IDENTITIES: &str = "/api/client/v2.0/auth/identities";

pub fn session(id: &str) -> String {
    format!("{SESSIONS}/{id}")
}

pub fn api_key(id: &str) -> String {
    format!("{API_KEYS}/{id}")
}
