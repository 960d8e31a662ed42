//! `User`: one signed-in (or signed-out) user, and the token handling behind its calls.
//!
//! Access tokens are refreshed shortly before they expire and once after a 401 `InvalidSession`;
//! per user at most one refresh is in flight (callers that find it done use its result). A refresh
//! the server refuses with 401 logs the user out; a network error or 5xx changes nothing and is
//! returned — tokens are never dropped because the network failed. There are no retry loops.

use std::sync::Arc;

use gatehouse_proto::auth::{
    ChangePasswordRequest, Identity, LoginResponse, Profile, SessionResponse,
};
use gatehouse_proto::functions::FunctionCallRequest;
use gatehouse_proto::routes;
use gatehouse_proto::ProviderType;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::api_keys::ApiKeys;
use crate::app::{App, Shared};
use crate::clock::unix_now;
use crate::credentials::Credentials;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::http::{jwt_claims, Body, Request, TokenClaims, Void};
use crate::store::keychain::StoredTokens;
use crate::store::{Ending, UserCore, UserStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserState {
    LoggedIn,
    LoggedOut,
    /// No longer on this device (removed or deleted).
    Removed,
}

impl From<UserStatus> for UserState {
    fn from(status: UserStatus) -> UserState {
        match status {
            UserStatus::LoggedIn => UserState::LoggedIn,
            UserStatus::LoggedOut => UserState::LoggedOut,
        }
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
        f.debug_struct("User")
            .field("id", &self.core.id())
            .field("state", &self.state())
            .finish()
    }
}

impl PartialEq for User {
    fn eq(&self, other: &User) -> bool {
        Arc::ptr_eq(&self.core, &other.core)
    }
}

/// Seconds before expiry at which an access token is refreshed ahead of use: 60 s, or a quarter
/// of a short token's lifetime.
fn refresh_margin(claims: &TokenClaims) -> i64 {
    let lifetime = claims.exp().unwrap_or(0) - claims.iat().unwrap_or(0);
    (lifetime / 4).clamp(0, 60)
}

fn is_fresh(access: &str) -> bool {
    let Some(claims) = jwt_claims(access) else {
        return false;
    };
    let Some(exp) = claims.exp() else {
        return false;
    };
    exp - refresh_margin(&claims) > unix_now()
}

impl User {
    pub fn id(&self) -> &str {
        self.core.id()
    }

    pub fn state(&self) -> UserState {
        self.shared
            .accounts
            .stored(self.id(), |u| u.status)
            .map_or(UserState::Removed, UserState::from)
    }

    /// Provider of the first login (see [`User::sign_in_provider`] for the one to sign in
    /// again with).
    pub fn provider_type(&self) -> Option<String> {
        self.shared
            .accounts
            .stored(self.id(), |u| u.provider_type.clone())
    }

    /// Whether the user is anonymous-only, derived from its identities after every login, link
    /// and profile refresh: an anonymous user that linked email/password (or any permanent
    /// identity) is a permanent user, which can sign in again after a logout.
    pub fn is_anonymous(&self) -> bool {
        self.shared
            .accounts
            .stored(self.id(), |u| u.is_anonymous())
            .unwrap_or(false)
    }

    /// The provider to sign in again with: the first login's, or for an anonymous user that
    /// linked a permanent identity, that identity's.
    pub fn sign_in_provider(&self) -> Option<String> {
        self.shared
            .accounts
            .stored(self.id(), |u| u.sign_in_provider())
    }

    pub fn device_id(&self) -> Option<String> {
        self.shared
            .accounts
            .stored(self.id(), |u| u.device_id.clone())
    }

    /// When this user last became active (logged in or switched to), in Unix seconds.
    pub fn last_active_at(&self) -> Option<i64> {
        self.shared.accounts.stored(self.id(), |u| u.last_active_at)
    }

    /// The profile as of the last login or refresh (available offline).
    pub fn profile(&self) -> Option<Profile> {
        self.shared
            .accounts
            .stored(self.id(), |u| u.profile.clone())
            .flatten()
    }

    pub fn identities(&self) -> Vec<Identity> {
        self.profile().map(|p| p.identities).unwrap_or_default()
    }

    /// The email in the profile, if any.
    pub fn email(&self) -> Option<String> {
        self.profile().and_then(|p| {
            p.data
                .get("email")
                .and_then(|e| e.as_str())
                .map(str::to_string)
        })
    }

    /// This user's events: the app's [`Event`]s about this user only (logged in or out,
    /// tokens refreshed, profile refreshed, identities or custom data changed, …).
    pub fn subscribe(&self) -> crate::UserEvents {
        crate::UserEvents {
            user_id: self.id().to_string(),
            events: self.shared.accounts.subscribe(),
        }
    }

    /// Emits [`Event::CustomDataChanged`] when `new` carries other custom data than `old`.
    fn announce_custom_data(&self, old: Option<&str>, new: &str) {
        let data = |token: &str| jwt_claims(token).and_then(|c| c.user_data().cloned());
        if old.and_then(data) != data(new) {
            self.shared.accounts.emit(Event::CustomDataChanged {
                user_id: self.id().to_string(),
            });
        }
    }

    /// Custom user data from the current access token (`user_data` claim); empty when none.
    pub fn custom_data(&self) -> Map<String, Value> {
        self.core
            .tokens()
            .and_then(|t| t.access_token)
            .and_then(|a| jwt_claims(&a))
            .and_then(|c| c.user_data().cloned())
            .unwrap_or_default()
    }

    /// Seconds until the session's refresh token expires (when the person must sign in again).
    pub fn session_expires_at(&self) -> Option<i64> {
        jwt_claims(&self.core.tokens()?.refresh_token)?.exp()
    }

    /// The current access token, for calling your own services. Handle with care.
    pub fn access_token(&self) -> Option<String> {
        self.core.tokens().and_then(|t| t.access_token)
    }

    fn app(&self) -> App {
        App {
            shared: self.shared.clone(),
        }
    }

    fn current_tokens(&self) -> Result<StoredTokens> {
        self.core
            .tokens()
            .ok_or_else(|| Error::LoggedOut(self.id().to_string()))
    }

    /// A usable access token: the current one, or a fresh one if it is about to expire.
    pub async fn valid_access_token(&self) -> Result<String> {
        match self.current_tokens()?.access_token {
            Some(access) if is_fresh(&access) => Ok(access),
            stale => self.refresh_after(stale.as_deref()).await,
        }
    }

    /// Refreshes the access token unless someone already replaced `stale` meanwhile
    /// (single flight: many callers, one request).
    async fn refresh_after(&self, stale: Option<&str>) -> Result<String> {
        let _flight = self.core.refresh_turn().await;
        let current = self.current_tokens()?;
        if let Some(access) = &current.access_token {
            if Some(access.as_str()) != stale && is_fresh(access) {
                return Ok(access.clone());
            }
        }
        let request = Request::new(Method::POST, routes::SESSION).bearer(&current.refresh_token);
        let answer = self
            .shared
            .http
            .send::<SessionResponse>(Request {
                rotate: true,
                ..request
            })
            .await;
        let session = match answer {
            Ok(session) => session,
            Err(e @ Error::Server { status: 401, .. }) => {
                self.shared
                    .accounts
                    .end_session(self.id(), Ending::EndedByServer)
                    .await?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let tokens = StoredTokens {
            refresh_token: session.refresh_token.unwrap_or(current.refresh_token),
            access_token: Some(session.access_token.clone()),
        };
        // The rotated refresh token is stored before it is ever used, so a crash right here
        // leaves the keychain with a token the server still accepts (or the grace period covers).
        if let Err(e) = self.shared.accounts.store_tokens(&self.core, tokens).await {
            let what = "could not store refreshed tokens in the keychain; kept for this run only";
            tracing::error!(error = %e, "{what}");
        }
        self.shared.accounts.emit(Event::TokensRefreshed {
            user_id: self.id().to_string(),
        });
        self.announce_custom_data(current.access_token.as_deref(), &session.access_token);
        Ok(session.access_token)
    }

    /// A request with the access token, refreshed before if needed and once after a 401
    /// `InvalidSession`.
    pub(crate) async fn access_request<T: DeserializeOwned>(
        &self,
        method: Method,
        path: String,
        body: Option<&Body>,
    ) -> Result<T> {
        let token = self.valid_access_token().await?;
        let first = self
            .shared
            .http
            .send(Request {
                method: method.clone(),
                path: path.clone(),
                bearer: Some(&token),
                body,
                rotate: false,
            })
            .await;
        match first {
            Err(e) if e.is_invalid_session() => {
                let token = self.refresh_after(Some(&token)).await?;
                self.shared
                    .http
                    .send(Request {
                        method,
                        path,
                        bearer: Some(&token),
                        body,
                        rotate: false,
                    })
                    .await
            }
            other => other,
        }
    }

    /// A request with the refresh token (the API-key endpoints). A 401 there means the session
    /// is over.
    pub(crate) async fn refresh_request<T: DeserializeOwned>(
        &self,
        method: Method,
        path: String,
        body: Option<&Body>,
    ) -> Result<T> {
        let token = self.current_tokens()?.refresh_token;
        let answer = self
            .shared
            .http
            .send(Request {
                method,
                path,
                bearer: Some(&token),
                body,
                rotate: false,
            })
            .await;
        if let Err(e) = &answer {
            if e.is_invalid_session() {
                self.shared
                    .accounts
                    .end_session(self.id(), Ending::EndedByServer)
                    .await?;
            }
        }
        answer
    }

    /// Fetches the profile again and caches it.
    pub async fn refresh_profile(&self) -> Result<Profile> {
        let profile: Profile = self
            .access_request(Method::GET, routes::PROFILE.into(), None)
            .await?;
        self.shared
            .accounts
            .set_profile(self.id(), profile.clone())
            .await?;
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
        let token = self.current_tokens()?.refresh_token;
        match self
            .shared
            .http
            .send::<Void>(Request::new(Method::DELETE, routes::SESSION).bearer(&token))
            .await
        {
            Ok(_) => {}
            Err(e @ Error::Server { status: 401, .. }) => {
                tracing::debug!(error = %e, "the session had already ended")
            }
            Err(e) => return Err(e),
        }
        self.shared
            .accounts
            .end_session(self.id(), Ending::Requested)
            .await
    }

    /// Adds another identity (e.g. email/password to an anonymous user) to this user.
    pub async fn link_credentials(&self, credentials: Credentials) -> Result<()> {
        if credentials.provider == ProviderType::Anonymous {
            return Err(Error::InvalidArgument(
                "anonymous credentials cannot be linked to an existing user".into(),
            ));
        }
        let path = format!(
            "{}?link=true",
            routes::login(&self.shared.app_id, credentials.provider.as_str())
        );
        let body = Body::json(&credentials.payload)?;
        let linked: LoginResponse = self.access_request(Method::POST, path, Some(&body)).await?;
        if linked.user_id != self.id() {
            return Err(Error::Decode(format!(
                "the link answer is for user {} instead of {}",
                linked.user_id,
                self.id()
            )));
        }
        {
            // No refresh may rotate the refresh token between reading and storing it.
            let _flight = self.core.refresh_turn().await;
            let mut tokens = self.current_tokens()?;
            self.announce_custom_data(tokens.access_token.as_deref(), &linked.access_token);
            tokens.access_token = Some(linked.access_token);
            self.shared
                .accounts
                .store_tokens(&self.core, tokens)
                .await?;
        }
        self.refresh_profile().await?;
        Ok(())
    }

    /// Removes one identity (by its provider type and id, as in [`User::identities`]) from this
    /// user, then refreshes the profile. The server keeps at least one identity the user can
    /// sign in again with (400 otherwise) and wants a recent sign-in
    /// ([`Error::RecentSignInRequired`]).
    pub async fn unlink_identity(&self, provider_type: &str, id: &str) -> Result<Profile> {
        let path = format!(
            "{}/{}/{}",
            routes::IDENTITIES,
            path_segment(provider_type),
            path_segment(id)
        );
        self.access_request::<Void>(Method::DELETE, path, None)
            .await?;
        self.refresh_profile().await
    }

    /// Calls a server function with positional arguments.
    pub async fn call_function(&self, name: &str, args: Vec<Value>) -> Result<Value> {
        let path = format!("{}/functions/call", routes::app_base(&self.shared.app_id));
        let body = Body::json(&FunctionCallRequest {
            name: name.into(),
            arguments: args,
        })?;
        self.access_request(Method::POST, path, Some(&body)).await
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
        let body = Body::json(&ChangePasswordRequest {
            current_password: current.into(),
            new_password: new.into(),
        })?;
        self.access_request::<Void>(Method::POST, routes::PASSWORD.into(), Some(&body))
            .await
            .map(|_| ())
    }

    /// Deletes this user on the server and forgets it here (same as `App::delete_user`).
    pub async fn delete(&self) -> Result<()> {
        self.app().delete_user(self).await
    }
}

/// `text` as one URL path segment: RFC 3986 unreserved characters as they are, every other byte
/// percent-encoded (an identity id may hold `/`, `@` or `%`).
pub(crate) fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn change_password_body_matches_what_the_sdk_sent_before() {
        let body = ChangePasswordRequest {
            current_password: "old".into(),
            new_password: "new".into(),
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"current_password": "old", "new_password": "new"})
        );
        assert!(!format!("{body:?}").contains("old"));
    }

    #[test]
    fn refreshes_a_quarter_of_a_short_lifetime_ahead_at_most_a_minute() {
        use base64::Engine as _;
        let token = |claims: Value| {
            format!(
                "h.{}.s",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string())
            )
        };
        let now = unix_now();
        assert!(is_fresh(&token(
            json!({"exp": now + 120, "iat": now - 780})
        )));
        assert!(
            !is_fresh(&token(json!({"exp": now + 30, "iat": now - 870}))),
            "within the last minute"
        );
        assert!(
            is_fresh(&token(json!({"exp": now + 10, "iat": now - 10}))),
            "a 20 s token is renewed 5 s ahead"
        );
        assert!(
            !is_fresh(&token(json!({"exp": now + 4, "iat": now - 16}))),
            "within a quarter of 20 s"
        );
        assert!(!is_fresh(&token(json!({"iat": now}))), "no expiry");
        assert!(!is_fresh("not-a-jwt"));
        let claims = jwt_claims(&token(
            json!({"exp": 1, "user_data": {"a": 1}, "extra": "x"}),
        ))
        .unwrap();
        assert_eq!(claims.user_data().unwrap()["a"], 1);
        let odd = jwt_claims(&token(json!({"exp": "soon", "user_data": "x"}))).unwrap();
        assert_eq!(
            (odd.exp(), odd.user_data()),
            (None, None),
            "claims of unexpected types count as absent"
        );
    }

    #[test]
    fn identity_ids_become_one_path_segment() {
        assert_eq!(super::path_segment("local-userpass"), "local-userpass");
        assert_eq!(super::path_segment("a/b@c %"), "a%2Fb%40c%20%25");
        assert_eq!(super::path_segment("ü"), "%C3%BC");
    }
}
