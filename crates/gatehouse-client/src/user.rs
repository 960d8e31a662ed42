//! `User`: one signed-in (or signed-out) user, and the token handling behind its calls.
//!
//! Access tokens are refreshed shortly before they expire and once after a 401 `InvalidSession`;
//! per user at most one refresh is in flight (callers that find it done use its result). A refresh
//! the server refuses with 401 logs the user out; a network error or 5xx changes nothing and is
//! returned — tokens are never dropped because the network failed. There are no retry loops.

use std::sync::{Arc, Mutex};

use gatehouse_proto::auth::{Identity, LoginResponse, Profile, SessionResponse};
use gatehouse_proto::routes;
use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::api_keys::ApiKeys;
use crate::app::{App, Shared};
use crate::credentials::Credentials;
use crate::error::{Error, Result};
use crate::events::{Event, LogoutReason};
use crate::http::{jwt_claims, Request};
use crate::store::keychain::{self, StoredTokens};
use crate::store::UserStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserState {
    LoggedIn,
    LoggedOut,
    /// No longer on this device (removed or deleted).
    Removed,
}

pub(crate) struct UserCore {
    pub id: String,
    pub tokens: Mutex<Option<StoredTokens>>,
    refresh_lock: tokio::sync::Mutex<()>,
}

impl UserCore {
    pub fn new(id: &str, tokens: Option<StoredTokens>) -> UserCore {
        UserCore { id: id.to_string(), tokens: Mutex::new(tokens), refresh_lock: tokio::sync::Mutex::new(()) }
    }
}

/// A user of an [`App`]. Cheap to clone; clones are the same user.
#[derive(Clone)]
pub struct User {
    pub(crate) shared: Arc<Shared>,
    pub(crate) core: Arc<UserCore>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User").field("id", &self.core.id).field("state", &self.state()).finish()
    }
}

impl PartialEq for User {
    fn eq(&self, other: &User) -> bool {
        Arc::ptr_eq(&self.core, &other.core)
    }
}

/// Seconds before expiry at which an access token is refreshed ahead of use: 60 s, or a quarter
/// of a short token's lifetime.
fn refresh_margin(claims: &Value) -> i64 {
    let lifetime = claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0);
    (lifetime / 4).clamp(0, 60)
}

fn is_fresh(access: &str) -> bool {
    let Some(claims) = jwt_claims(access) else { return false };
    let Some(exp) = claims["exp"].as_i64() else { return false };
    exp - refresh_margin(&claims) > Shared::now()
}

impl User {
    pub fn id(&self) -> &str {
        &self.core.id
    }

    pub fn state(&self) -> UserState {
        let meta = self.shared.meta.lock().expect("metadata");
        match meta.users.iter().find(|u| u.id == self.core.id) {
            None => UserState::Removed,
            Some(u) if u.status == UserStatus::LoggedIn => UserState::LoggedIn,
            Some(_) => UserState::LoggedOut,
        }
    }

    fn stored<T>(&self, f: impl FnOnce(&crate::store::StoredUser) -> T) -> Option<T> {
        self.shared.meta.lock().expect("metadata").users.iter().find(|u| u.id == self.core.id).map(f)
    }

    /// Provider of the first login.
    pub fn provider_type(&self) -> Option<String> {
        self.stored(|u| u.provider_type.clone())
    }

    pub fn device_id(&self) -> Option<String> {
        self.stored(|u| u.device_id.clone())
    }

    /// The profile as of the last login or refresh (available offline).
    pub fn profile(&self) -> Option<Profile> {
        self.stored(|u| u.profile.clone()).flatten()
    }

    pub fn identities(&self) -> Vec<Identity> {
        self.profile().map(|p| p.identities).unwrap_or_default()
    }

    /// The email in the profile, if any.
    pub fn email(&self) -> Option<String> {
        self.profile().and_then(|p| p.data.get("email").and_then(|e| e.as_str()).map(str::to_string))
    }

    /// Custom user data from the current access token (`user_data` claim); empty when none.
    pub fn custom_data(&self) -> Map<String, Value> {
        let tokens = self.core.tokens.lock().expect("tokens").clone();
        tokens.and_then(|t| t.access_token).and_then(|a| jwt_claims(&a))
            .and_then(|c| c.get("user_data").and_then(|d| d.as_object()).cloned())
            .unwrap_or_default()
    }

    /// Seconds until the session's refresh token expires (when the person must sign in again).
    pub fn session_expires_at(&self) -> Option<i64> {
        let tokens = self.core.tokens.lock().expect("tokens").clone()?;
        jwt_claims(&tokens.refresh_token)?["exp"].as_i64()
    }

    /// The current access token, for calling your own services. Handle with care.
    pub fn access_token(&self) -> Option<String> {
        self.core.tokens.lock().expect("tokens").as_ref().and_then(|t| t.access_token.clone())
    }

    fn app(&self) -> App {
        App { shared: self.shared.clone() }
    }

    fn refresh_token(&self) -> Result<String> {
        self.core.tokens.lock().expect("tokens").as_ref().map(|t| t.refresh_token.clone())
            .ok_or_else(|| Error::LoggedOut(self.core.id.clone()))
    }

    /// A usable access token: the current one, or a fresh one if it is about to expire.
    pub async fn valid_access_token(&self) -> Result<String> {
        let current = self.core.tokens.lock().expect("tokens").clone().ok_or_else(|| Error::LoggedOut(self.core.id.clone()))?;
        match current.access_token {
            Some(access) if is_fresh(&access) => Ok(access),
            stale => self.refresh_after(stale.as_deref()).await,
        }
    }

    /// Refreshes the access token unless someone already replaced `stale` meanwhile
    /// (single flight: many callers, one request).
    async fn refresh_after(&self, stale: Option<&str>) -> Result<String> {
        let _flight = self.core.refresh_lock.lock().await;
        let current = self.core.tokens.lock().expect("tokens").clone().ok_or_else(|| Error::LoggedOut(self.core.id.clone()))?;
        if let Some(access) = &current.access_token {
            if Some(access.as_str()) != stale && is_fresh(access) {
                return Ok(access.clone());
            }
        }
        let answer = self.shared.http.send(Request {
            method: Method::POST, path: routes::SESSION.into(), bearer: Some(&current.refresh_token), body: None, rotate: true,
        }).await;
        let v = match answer {
            Ok(v) => v,
            Err(e @ Error::Server { status: 401, .. }) => {
                self.shared.session_ended(&self.core.id).await;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let session: SessionResponse = serde_json::from_value(v).map_err(|e| Error::Decode(format!("refresh answer: {e}")))?;
        let tokens = StoredTokens {
            refresh_token: session.refresh_token.unwrap_or(current.refresh_token),
            access_token: Some(session.access_token.clone()),
        };
        // The rotated refresh token is stored before it is ever used, so a crash right here
        // leaves the keychain with a token the server still accepts (or the grace period covers).
        let account = self.shared.account(&self.core.id);
        let to_store = tokens.clone();
        if let Err(e) = keychain::call(&self.shared.keychain, move |k| k.set(&account, &to_store)).await {
            tracing::error!(error = %e, "could not store refreshed tokens in the keychain; they are kept for this run only");
        }
        *self.core.tokens.lock().expect("tokens") = Some(tokens);
        self.shared.emit(Event::TokensRefreshed { user_id: self.core.id.clone() });
        Ok(session.access_token)
    }

    /// A request with the access token, refreshed before if needed and once after a 401
    /// `InvalidSession`.
    pub(crate) async fn access_request(&self, method: Method, path: String, body: Option<&Value>) -> Result<Value> {
        let token = self.valid_access_token().await?;
        let first = self.shared.http.send(Request { method: method.clone(), path: path.clone(), bearer: Some(&token), body, rotate: false }).await;
        match first {
            Err(e) if e.is_invalid_session() => {
                let token = self.refresh_after(Some(&token)).await?;
                self.shared.http.send(Request { method, path, bearer: Some(&token), body, rotate: false }).await
            }
            other => other,
        }
    }

    /// A request with the refresh token (the API-key endpoints). A 401 there means the session
    /// is over.
    pub(crate) async fn refresh_request(&self, method: Method, path: String, body: Option<&Value>) -> Result<Value> {
        let token = self.refresh_token()?;
        let answer = self.shared.http.send(Request { method, path, bearer: Some(&token), body, rotate: false }).await;
        if let Err(e) = &answer {
            if e.is_invalid_session() {
                self.shared.session_ended(&self.core.id).await;
            }
        }
        answer
    }

    /// Fetches the profile again and caches it.
    pub async fn refresh_profile(&self) -> Result<Profile> {
        let v = self.access_request(Method::GET, routes::PROFILE.into(), None).await?;
        let profile: Profile = serde_json::from_value(v).map_err(|e| Error::Decode(format!("profile: {e}")))?;
        {
            let mut meta = self.shared.meta.lock().expect("metadata");
            if let Some(u) = meta.users.iter_mut().find(|u| u.id == self.core.id) {
                u.profile = Some(profile.clone());
            }
        }
        self.shared.save().await?;
        Ok(profile)
    }

    /// Gets a new access token (and with it fresh custom data) from the server.
    pub async fn refresh_custom_data(&self) -> Result<Map<String, Value>> {
        let stale = self.access_token();
        self.refresh_after(stale.as_deref()).await?;
        Ok(self.custom_data())
    }

    /// Ends the session on the server, then drops the tokens here. The user stays listed
    /// (logged out). A network error leaves everything as it was.
    pub async fn log_out(&self) -> Result<()> {
        let token = self.refresh_token()?;
        match self.shared.http.send(Request { method: Method::DELETE, path: routes::SESSION.into(), bearer: Some(&token), body: None, rotate: false }).await {
            Ok(_) => {}
            Err(e @ Error::Server { status: 401, .. }) => tracing::debug!(error = %e, "the session had already ended"),
            Err(e) => return Err(e),
        }
        // Keychain first: if it refuses, nothing local has changed and the call can be retried.
        let account = self.shared.account(&self.core.id);
        keychain::call(&self.shared.keychain, move |k| k.delete(&account)).await?;
        *self.core.tokens.lock().expect("tokens") = None;
        {
            let mut meta = self.shared.meta.lock().expect("metadata");
            if let Some(u) = meta.users.iter_mut().find(|u| u.id == self.core.id) {
                u.status = UserStatus::LoggedOut;
            }
            self.shared.reassign_active(&mut meta, &self.core.id);
        }
        self.shared.save().await?;
        self.shared.emit(Event::LoggedOut { user_id: self.core.id.clone(), reason: LogoutReason::Requested });
        Ok(())
    }

    /// Adds another identity (e.g. email/password to an anonymous user) to this user.
    pub async fn link_credentials(&self, credentials: Credentials) -> Result<()> {
        if credentials.provider == routes::provider::ANONYMOUS {
            return Err(Error::InvalidArgument("anonymous credentials cannot be linked to an existing user".into()));
        }
        let path = format!("{}?link=true", routes::login(&self.shared.app_id, credentials.provider));
        let v = self.access_request(Method::POST, path, Some(&credentials.payload)).await?;
        let linked: LoginResponse = serde_json::from_value(v).map_err(|e| Error::Decode(format!("link answer: {e}")))?;
        if linked.user_id != self.core.id {
            return Err(Error::Decode(format!("the link answer is for user {} instead of {}", linked.user_id, self.core.id)));
        }
        let tokens = {
            let mut guard = self.core.tokens.lock().expect("tokens");
            let t = guard.as_mut().ok_or_else(|| Error::LoggedOut(self.core.id.clone()))?;
            t.access_token = Some(linked.access_token);
            t.clone()
        };
        let account = self.shared.account(&self.core.id);
        keychain::call(&self.shared.keychain, move |k| k.set(&account, &tokens)).await?;
        self.refresh_profile().await?;
        Ok(())
    }

    /// Calls a server function with positional arguments.
    pub async fn call_function(&self, name: &str, args: Vec<Value>) -> Result<Value> {
        let path = format!("{}/functions/call", routes::app_base(&self.shared.app_id));
        self.access_request(Method::POST, path, Some(&json!({"name": name, "arguments": args}))).await
    }

    /// This user's API keys.
    pub fn api_keys(&self) -> ApiKeys {
        ApiKeys { user: self.clone() }
    }

    /// This user's sessions on all devices.
    pub fn sessions(&self) -> crate::sessions::Sessions {
        crate::sessions::Sessions { user: self.clone() }
    }

    /// Changes the password of this user's email/password identity; the server ends every other
    /// session of the user (this one stays).
    pub async fn change_password(&self, current: &str, new: &str) -> Result<()> {
        let body = json!({"current_password": current, "new_password": new});
        self.access_request(Method::POST, routes::PASSWORD.into(), Some(&body)).await.map(|_| ())
    }

    /// Deletes this user on the server and forgets it here (same as `App::delete_user`).
    pub async fn delete(&self) -> Result<()> {
        self.app().delete_user(self).await
    }
}
