//! Loopback stand-ins for OAuth providers that have no runnable open-source server: GitHub,
//! Discord, X (OAuth 2.0 + PKCE) and Facebook. Each speaks the provider's real paths, parameter
//! names, success shapes and error bodies (including the odd ones: GitHub's HTTP 200 errors and
//! form-encoded default, Facebook's `{"error":{…}}` envelope and `debug_token`), and checks what
//! the real one checks (client credentials, single-use codes, redirect_uri equality, PKCE S256),
//! so the server's provider code is tested against the wire, not against our assumptions.
//!
//! Shared behaviour lives in [`Core`], reachable from every stand-in through `Deref`:
//! `set_user`, `set_deny`, `set_down`, `set_token_delay`, `token_calls`, `user_calls`, …
//! `down` and `token_delay` apply to every server-to-server endpoint (token and API), never to the
//! browser-facing authorize page.

mod discord;
mod facebook;
mod github;
mod x;

pub use discord::{DiscordStandin, DiscordUser};
pub use facebook::{FacebookStandin, FacebookUser};
pub use github::{GithubEmail, GithubStandin, GithubUser};
pub use x::{XStandin, XUser};

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::random_token;

/// Authorization codes live 10 minutes, as at GitHub.
pub const CODE_TTL: Duration = Duration::from_secs(600);

/// A provider account; `key` is its stable id in the user table.
pub trait StandinUser: Clone + Send + Sync + 'static {
    fn key(&self) -> String;
}

/// What an authorization code was issued for.
#[derive(Debug, Clone)]
pub struct Grant {
    pub client_id: String,
    pub redirect_uri: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub user: String,
    pub scope: String,
    issued: Instant,
}

/// An access token the stand-in issued.
#[derive(Debug, Clone)]
pub struct TokenInfo {
    pub user: String,
    pub app_id: String,
    pub scope: String,
    pub expires_at: i64,
    pub valid: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    UnknownCode,
    UsedCode,
    ExpiredCode,
    /// The code was issued to another client.
    ClientMismatch,
    RedirectMismatch,
    MissingVerifier,
    BadVerifier,
}

pub struct Core<U: StandinUser> {
    pub client_id: String,
    pub client_secret: String,
    users: Mutex<HashMap<String, U>>,
    signed_in: Mutex<Option<String>>,
    codes: Mutex<HashMap<String, Grant>>,
    used_codes: Mutex<HashSet<String>>,
    tokens: Mutex<HashMap<String, TokenInfo>>,
    deny: AtomicBool,
    down: AtomicBool,
    token_delay: Mutex<Duration>,
    token_calls: AtomicUsize,
    user_calls: AtomicUsize,
}

impl<U: StandinUser> Core<U> {
    fn new(client_id: &str, client_secret: &str, user: U) -> Core<U> {
        let core = Core {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            users: Mutex::default(),
            signed_in: Mutex::default(),
            codes: Mutex::default(),
            used_codes: Mutex::default(),
            tokens: Mutex::default(),
            deny: AtomicBool::new(false),
            down: AtomicBool::new(false),
            token_delay: Mutex::new(Duration::ZERO),
            token_calls: AtomicUsize::new(0),
            user_calls: AtomicUsize::new(0),
        };
        core.set_user(user);
        core
    }

    /// Adds or replaces `user` in the table and makes it the signed-in browser user (the one the
    /// authorize page approves for). Changing a user's data is seen by tokens already issued.
    pub fn set_user(&self, user: U) {
        let key = user.key();
        self.add_user(user);
        *self.signed_in.lock().unwrap() = Some(key);
    }

    /// Adds or replaces `user` without signing it in.
    pub fn add_user(&self, user: U) {
        self.users.lock().unwrap().insert(user.key(), user);
    }

    /// No one signed in: the authorize page shows a login page (200 HTML) instead of redirecting.
    pub fn sign_out(&self) {
        *self.signed_in.lock().unwrap() = None;
    }

    pub fn user(&self, key: &str) -> Option<U> {
        self.users.lock().unwrap().get(key).cloned()
    }

    pub fn signed_in_user(&self) -> Option<U> {
        let key = self.signed_in.lock().unwrap().clone()?;
        self.user(&key)
    }

    /// The user refuses consent: authorize redirects back with the provider's error parameters.
    pub fn set_deny(&self, deny: bool) {
        self.deny.store(deny, Ordering::SeqCst);
    }

    /// Server-to-server endpoints answer 5xx.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Server-to-server endpoints wait this long before answering.
    pub fn set_token_delay(&self, delay: Duration) {
        *self.token_delay.lock().unwrap() = delay;
    }

    /// Requests to the token endpoint so far (valid or not).
    pub fn token_calls(&self) -> usize {
        self.token_calls.load(Ordering::SeqCst)
    }

    /// Requests to the user/API endpoints so far (valid or not).
    pub fn user_calls(&self) -> usize {
        self.user_calls.load(Ordering::SeqCst)
    }

    /// Makes an issued access token invalid (revoked by the user).
    pub fn revoke_token(&self, token: &str) {
        if let Some(t) = self.tokens.lock().unwrap().get_mut(token) {
            t.valid = false;
        }
    }

    /// The grant behind a live code (to assert what the server sent at authorize time).
    pub fn grant(&self, code: &str) -> Option<Grant> {
        self.codes.lock().unwrap().get(code).cloned()
    }

    pub(crate) fn is_denying(&self) -> bool {
        self.deny.load(Ordering::SeqCst)
    }

    /// Issues a code for the signed-in user from the authorize query; None if no one is signed in.
    pub(crate) fn issue_code(&self, q: &HashMap<String, String>) -> Option<String> {
        let user = self.signed_in.lock().unwrap().clone()?;
        let code = random_token(20);
        let grant = Grant {
            client_id: q.get("client_id").cloned().unwrap_or_default(),
            redirect_uri: q.get("redirect_uri").cloned(),
            code_challenge: q.get("code_challenge").cloned(),
            code_challenge_method: q.get("code_challenge_method").cloned(),
            user,
            scope: q.get("scope").cloned().unwrap_or_default(),
            issued: Instant::now(),
        };
        self.codes.lock().unwrap().insert(code.clone(), grant);
        Some(code)
    }

    /// The token-endpoint checks on a code, after the caller checked client credentials. A code
    /// is consumed only by a successful exchange (like oidc-provider), so a failed attempt can be
    /// retried with the right verifier; a consumed code answers `UsedCode`.
    pub(crate) fn redeem(
        &self,
        code: &str,
        client_id: &str,
        redirect_uri: Option<&str>,
        redirect_required: bool,
        verifier: Option<&str>,
    ) -> Result<Grant, TokenError> {
        if self.used_codes.lock().unwrap().contains(code) {
            return Err(TokenError::UsedCode);
        }
        let mut codes = self.codes.lock().unwrap();
        let grant = codes.get(code).ok_or(TokenError::UnknownCode)?.clone();
        if grant.issued.elapsed() > CODE_TTL {
            codes.remove(code);
            return Err(TokenError::ExpiredCode);
        }
        if grant.client_id != client_id {
            return Err(TokenError::ClientMismatch);
        }
        match (grant.redirect_uri.as_deref(), redirect_uri) {
            (Some(g), Some(r)) if g != r => return Err(TokenError::RedirectMismatch),
            (Some(_), None) if redirect_required => return Err(TokenError::RedirectMismatch),
            _ => {}
        }
        if let Some(challenge) = &grant.code_challenge {
            let verifier = verifier.ok_or(TokenError::MissingVerifier)?;
            let ok = match grant.code_challenge_method.as_deref() {
                Some("plain") => verifier == challenge,
                _ => &super::s256(verifier) == challenge,
            };
            if !ok {
                return Err(TokenError::BadVerifier);
            }
        }
        codes.remove(code);
        self.used_codes.lock().unwrap().insert(code.to_string());
        Ok(grant)
    }

    pub(crate) fn mint_token(
        &self,
        token: String,
        user: &str,
        app_id: &str,
        scope: &str,
        ttl_secs: i64,
    ) -> String {
        let info = TokenInfo {
            user: user.into(),
            app_id: app_id.into(),
            scope: scope.into(),
            expires_at: unix_now() + ttl_secs,
            valid: true,
        };
        self.tokens.lock().unwrap().insert(token.clone(), info);
        token
    }

    /// A live token's record and its user.
    pub(crate) fn lookup(&self, token: &str) -> Option<(TokenInfo, U)> {
        let info = self.tokens.lock().unwrap().get(token).cloned()?;
        if !info.valid || info.expires_at <= unix_now() {
            return None;
        }
        let user = self.user(&info.user)?;
        Some((info, user))
    }

    /// Any issued token's record, live or not (Facebook's debug_token reports dead ones).
    pub(crate) fn token_info(&self, token: &str) -> Option<TokenInfo> {
        self.tokens.lock().unwrap().get(token).cloned()
    }

    /// Entry of the token endpoint: counts, waits `token_delay`; true when `down`.
    pub(crate) async fn enter_token(&self) -> bool {
        self.token_calls.fetch_add(1, Ordering::SeqCst);
        self.enter().await
    }

    /// Entry of an API endpoint: counts, waits `token_delay`; true when `down`.
    pub(crate) async fn enter_api(&self) -> bool {
        self.user_calls.fetch_add(1, Ordering::SeqCst);
        self.enter().await
    }

    async fn enter(&self) -> bool {
        let delay = *self.token_delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        self.down.load(Ordering::SeqCst)
    }
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Credentials from `Authorization: Basic …` (RFC 6749 §2.3.1: each part form-urlencoded).
pub(crate) fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, b64) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(b64.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| {
        super::parse_form(&format!("v={s}"))
            .remove("v")
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

/// The token of `Authorization: <scheme> <token>` when the scheme is one of `schemes`.
pub(crate) fn bearer(headers: &HeaderMap, schemes: &[&str]) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    schemes
        .iter()
        .any(|s| s.eq_ignore_ascii_case(scheme))
        .then(|| token.trim().to_string())
}

pub(crate) fn redirect(to: String) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

pub(crate) fn json(status: u16, body: serde_json::Value) -> Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

/// The page a provider shows when no one is signed in (the test forgot `set_user`, or called
/// `sign_out` on purpose).
pub(crate) fn login_page(provider: &str) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!(
            "<html><body><h1>Sign in to {provider}</h1>\
             <form method=\"post\" action=\"/session\"></form></body></html>"
        ),
    )
        .into_response()
}

/// Body parameters of a token request: form-encoded, or JSON (GitHub accepts both).
pub(crate) fn body_params(headers: &HeaderMap, body: &[u8]) -> HashMap<String, String> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if is_json {
        let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        value
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    } else {
        super::parse_form(&String::from_utf8_lossy(body))
    }
}

#[cfg(test)]
mod tests;
