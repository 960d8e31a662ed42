//! Route paths and header names. `{app}` routes carry the app id; `/auth/*` routes find the app
//! from the bearer token (App Services convention).

/// Fixed base path of the client API.
pub const BASE: &str = "/api/client/v2.0";

/// Request header a client sends on `POST /auth/session` to opt into refresh-token rotation.
/// Stock App Services clients never send it and keep one refresh token per session.
pub const ROTATION_HEADER: &str = "x-gatehouse-refresh-rotation";

/// Provider names on the wire (for built-in providers the name equals the type).
pub mod provider {
    pub const ANONYMOUS: &str = "anon-user";
    pub const USERPASS: &str = "local-userpass";
    pub const API_KEY: &str = "api-key";
    pub const CUSTOM_TOKEN: &str = "custom-token";
    pub const CUSTOM_FUNCTION: &str = "custom-function";
    pub const GOOGLE: &str = "oauth2-google";
    pub const APPLE: &str = "oauth2-apple";
    pub const FACEBOOK: &str = "oauth2-facebook";
    /// Gatehouse: redirect sign-in only (browser → provider → server → app).
    pub const GITHUB: &str = "oauth2-github";
    pub const DISCORD: &str = "oauth2-discord";
    pub const TWITTER: &str = "oauth2-twitter";
    /// Providers that can sign in through a browser redirect (`GET …/login?redirect=…`).
    pub const REDIRECT: &[&str] = &[GOOGLE, APPLE, FACEBOOK, GITHUB, DISCORD, TWITTER];
    /// Gatehouse: phone number + password (actions like `local-userpass`, codes by SMS).
    pub const PHONE_PASSWORD: &str = "phone-password";
    /// Gatehouse: a one-time code texted to a confirmed number (`send`, then login).
    pub const SMS_CODE: &str = "sms-code";
    /// Gatehouse: a link (and a short code) mailed to a confirmed address, redeemed with PKCE.
    pub const MAGIC_LINK: &str = "magic-link";
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

pub fn session(id: &str) -> String {
    format!("{SESSIONS}/{id}")
}

pub fn api_key(id: &str) -> String {
    format!("{API_KEYS}/{id}")
}
