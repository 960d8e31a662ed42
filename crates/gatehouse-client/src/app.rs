//! `App`: one app on one server, with every user signed in to it on this device.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_proto::auth::{DeviceInfo, LocationResponse, LoginResponse, Profile, ProviderInfo};
use gatehouse_proto::login::{
    FunctionLogin, LoginCredential, LoginDevice, LoginOptions, LoginRequest,
};
use gatehouse_proto::routes;
use gatehouse_proto::ProviderType;
use reqwest::Method;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::credentials::Credentials;
use crate::email_password::EmailPasswordAuth;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::http::{Body, Http, Request, Void};
use crate::pending_redirects::PendingRedirects;
use crate::phone_flows::PhoneFlows;
use crate::store::keychain::{self, Keychain, MemoryKeychain, OsKeychain, StoredTokens};
use crate::store::{AccountStore, Ending, MetadataFile, NewLogin};
use crate::user::User;

/// What every handle of one app shares: where the server is, how to reach it, and the accounts.
pub(crate) struct Shared {
    pub app_id: String,
    pub server: String,
    pub http: Http,
    /// The account list, the keychain and the live users (the only owner of account state).
    pub accounts: Arc<AccountStore>,
    /// Browser sign-ins started and not yet completed (state + PKCE verifier; memory only).
    pub redirects: PendingRedirects,
    /// Phone confirmation and reset codes asked for and not yet used (PKCE verifiers).
    pub phone_flows: PhoneFlows,
}

impl Shared {
    pub fn user(self: &Arc<Self>, id: &str) -> Option<User> {
        let core = self.accounts.core(id)?;
        Some(User {
            shared: self.clone(),
            core,
        })
    }
}

/// An App Services app on one server, and the users signed in to it on this device.
#[derive(Clone)]
pub struct App {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("app_id", &self.shared.app_id)
            .field("server", &self.shared.server)
            .finish_non_exhaustive()
    }
}

/// Where tokens go.
pub enum SecretStorage {
    /// The OS keychain, after a self-test (the default).
    OsKeychain,
    /// Memory only: sessions end with the process. Chosen explicitly, never as a silent fallback.
    MemoryOnly,
    /// A keychain of the caller's (tests, other platforms).
    Custom(Arc<dyn Keychain>),
}

pub struct AppBuilder {
    app_id: String,
    base_url: String,
    data_dir: Option<PathBuf>,
    store_key: Option<String>,
    secrets: SecretStorage,
    timeout: Duration,
}

impl App {
    pub fn builder(app_id: impl Into<String>) -> AppBuilder {
        AppBuilder {
            app_id: app_id.into(),
            base_url: "http://127.0.0.1:9090".into(),
            data_dir: None,
            store_key: None,
            secrets: SecretStorage::OsKeychain,
            timeout: Duration::from_secs(30),
        }
    }
}

impl AppBuilder {
    /// The server's origin, e.g. `https://auth.example.com`.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into().trim_end_matches('/').to_string();
        self
    }

    /// Folder for the account list (default: the platform data dir, e.g.
    /// `~/.local/share/gatehouse`).
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Files this app's accounts (account list and keychain entries) under `key` instead of the
    /// base URL: for a server whose address changes between runs, such as a desktop app's
    /// embedded server on an ephemeral loopback port.
    pub fn store_key(mut self, key: impl Into<String>) -> Self {
        self.store_key = Some(key.into());
        self
    }

    pub fn secret_storage(mut self, storage: SecretStorage) -> Self {
        self.secrets = storage;
        self
    }

    /// Per-request timeout (default 30 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Opens the account list and the keychain. Works offline: no request is sent.
    pub async fn build(self) -> Result<App> {
        if !self.base_url.starts_with("http://") && !self.base_url.starts_with("https://") {
            return Err(Error::InvalidArgument(format!(
                "server URL must start with http:// or https:// (got {:?})",
                self.base_url
            )));
        }
        if self.app_id.is_empty() {
            return Err(Error::InvalidArgument("app id must not be empty".into()));
        }
        let keychain: Arc<dyn Keychain> = match self.secrets {
            SecretStorage::OsKeychain => Arc::new(
                tokio::task::spawn_blocking(OsKeychain::self_test)
                    .await
                    .map_err(|e| Error::Keychain {
                        reason: format!("the keychain self-test failed: {e}"),
                        advice: keychain::ADVICE.into(),
                    })??,
            ),
            SecretStorage::MemoryOnly => Arc::new(MemoryKeychain::default()),
            SecretStorage::Custom(k) => k,
        };
        let dir = match self.data_dir {
            Some(dir) => dir,
            None => dirs::data_dir()
                .map(|d| d.join("gatehouse"))
                .ok_or_else(|| {
                    Error::InvalidArgument(
                        "no platform data directory; set one with AppBuilder::data_dir".into(),
                    )
                })?,
        };
        let store_key = self.store_key.unwrap_or_else(|| self.base_url.clone());
        let file = MetadataFile::for_app(&dir, &store_key, &self.app_id);
        let accounts = AccountStore::open(file, store_key, self.app_id.clone(), keychain).await?;
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(Duration::from_secs(10))
            // gatehoused closes a kept-alive connection that sends nothing for
            // `[limits] header_read_timeout_ms` (10 s by default): reusing one the server is
            // closing at that moment fails the request, so idle connections are dropped first.
            .pool_idle_timeout(Duration::from_secs(5))
            .user_agent(concat!("gatehouse-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::InvalidArgument(format!("cannot build the HTTP client: {e}")))?;
        let shared = Arc::new(Shared {
            app_id: self.app_id,
            server: self.base_url.clone(),
            http: Http {
                client,
                base: self.base_url,
            },
            accounts,
            redirects: PendingRedirects::default(),
            phone_flows: PhoneFlows::default(),
        });
        Ok(App { shared })
    }
}

impl App {
    pub fn app_id(&self) -> &str {
        &self.shared.app_id
    }

    pub fn server(&self) -> &str {
        &self.shared.server
    }

    /// Where this app keeps tokens, in words.
    pub fn secret_storage_description(&self) -> &'static str {
        self.shared.accounts.describe_keychain()
    }

    /// Events about this app's users.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.shared.accounts.subscribe()
    }

    /// Checks the server answers for this app (the App Services location request).
    pub async fn location(&self) -> Result<LocationResponse> {
        self.shared
            .http
            .send(Request::new(
                Method::GET,
                routes::location(&self.shared.app_id),
            ))
            .await
    }

    /// The providers the app has enabled (Gatehouse extension).
    pub async fn providers(&self) -> Result<Vec<ProviderInfo>> {
        self.shared
            .http
            .send(Request::new(
                Method::GET,
                routes::providers(&self.shared.app_id),
            ))
            .await
    }

    pub fn email_password_auth(&self) -> EmailPasswordAuth {
        EmailPasswordAuth {
            shared: self.shared.clone(),
        }
    }

    pub fn phone_password_auth(&self) -> crate::phone::PhonePasswordAuth {
        crate::phone::PhonePasswordAuth {
            shared: self.shared.clone(),
        }
    }

    /// The active user, if it is logged in.
    pub fn current_user(&self) -> Option<User> {
        self.shared.user(&self.shared.accounts.active_user_id()?)
    }

    /// Every user on this device, logged in or out, in the order they were first added.
    pub fn all_users(&self) -> Vec<User> {
        self.shared
            .accounts
            .user_ids()
            .iter()
            .filter_map(|id| self.shared.user(id))
            .collect()
    }

    /// Makes a logged-in user the active one. No network; persisted in the background.
    pub fn switch_user(&self, user: &User) -> Result<()> {
        self.shared.accounts.switch_to(user.id())
    }

    /// Logs in and makes the user active. The same user id always gives the same `User`.
    pub async fn log_in(&self, credentials: Credentials) -> Result<User> {
        if credentials.reuse_anonymous {
            if let Some(user) = self.active_anonymous_user() {
                self.switch_user(&user)?;
                return Ok(user);
            }
        }
        let shared = &self.shared;
        let device_id = shared.accounts.device_id();
        let body = login_body(&credentials.payload, device_id.as_deref())?;
        let path = routes::login(&shared.app_id, credentials.provider.as_str());
        let login: LoginResponse = shared
            .http
            .send(Request::new(Method::POST, path).body(&body))
            .await
            // A challenge is answered with the device options this login sent.
            .map_err(|e| crate::mfa::bind_device(e, device_id))?;
        self.record_session(login, credentials.provider).await
    }

    /// Keeps the session a login (or a completed challenge) opened: the profile, the tokens in
    /// the keychain, the account list; the user becomes active. A session that cannot be kept
    /// is ended on the server.
    pub(crate) async fn record_session(
        &self,
        login: LoginResponse,
        provider: ProviderType,
    ) -> Result<User> {
        let shared = &self.shared;
        let refresh = login
            .refresh_token
            .clone()
            .ok_or_else(|| Error::Decode("the login answer has no refresh token".into()))?;
        let profile = match self.fetch_profile(&login.access_token).await {
            Ok(p) => p,
            Err(e) => {
                self.discard_session(&refresh).await;
                return Err(e);
            }
        };
        let tokens = StoredTokens {
            refresh_token: refresh.clone(),
            access_token: Some(login.access_token.clone()),
        };
        if let Err(e) = shared
            .accounts
            .persist_tokens(&login.user_id, &tokens)
            .await
        {
            self.discard_session(&refresh).await;
            return Err(e);
        }
        let recorded = NewLogin {
            user_id: login.user_id,
            device_id: login.device_id,
            provider,
            profile,
            tokens,
        };
        let (core, replaced) = shared.accounts.record_login(recorded).await?;
        if let Some(old) = replaced {
            // Logging in again as a user we already hold: end the session we are replacing
            // rather than leave it alive on the server with nobody holding its token.
            let app = self.clone();
            tokio::spawn(async move { app.discard_session(&old.refresh_token).await });
        }
        Ok(User {
            shared: shared.clone(),
            core,
        })
    }

    fn active_anonymous_user(&self) -> Option<User> {
        // Reuse only a logged-in user whose identities are all anonymous (a linked user is not
        // "the anonymous user" any more) — realm-web reuses logged-out ones, a known bug.
        let anonymous = ProviderType::Anonymous.as_str();
        let id = self
            .shared
            .accounts
            .find_logged_in(|u| u.provider_type == anonymous && u.is_anonymous())?;
        self.shared.user(&id)
    }

    pub(crate) async fn fetch_profile(&self, access: &str) -> Result<Profile> {
        self.shared
            .http
            .send(Request::new(Method::GET, routes::PROFILE).bearer(access))
            .await
    }

    /// Ends a session we will not keep (best effort; the server expires it anyway).
    async fn discard_session(&self, refresh: &str) {
        let _ = self
            .shared
            .http
            .send::<Void>(Request::new(Method::DELETE, routes::SESSION).bearer(refresh))
            .await;
    }

    /// Logs the user out on the server, then forgets it on this device (list and keychain).
    /// If the server cannot be reached the user is kept and the error returned: removing must not
    /// leave a live session behind silently.
    pub async fn remove_user(&self, user: &User) -> Result<()> {
        if user.state() == crate::user::UserState::LoggedIn {
            user.log_out().await?;
        }
        self.forget(user.id()).await
    }

    /// Deletes *this* user on the server (with its own token, not the active user's), then
    /// forgets it here.
    pub async fn delete_user(&self, user: &User) -> Result<()> {
        user.access_request::<Void>(Method::DELETE, routes::DELETE_USER.into(), None)
            .await?;
        self.forget(user.id()).await
    }

    pub(crate) async fn forget(&self, user_id: &str) -> Result<()> {
        self.shared
            .accounts
            .end_session(user_id, Ending::Forgotten)
            .await
    }
}

/// `options` of a login body: this device as the App Services SDKs describe it.
pub(crate) fn login_options(device_id: Option<&str>) -> LoginOptions {
    let device = LoginDevice {
        info: DeviceInfo {
            device_id: device_id.map(str::to_string),
            platform: Some(std::env::consts::OS.into()),
            sdk: Some("Gatehouse Rust SDK".into()),
            sdk_version: Some(env!("CARGO_PKG_VERSION").into()),
            ..DeviceInfo::default()
        },
        cpu_arch: Some(std::env::consts::ARCH.into()),
    };
    LoginOptions { device }
}

/// The login body: the credential with `options.device` beside it, as the App Services SDKs send
/// it. A custom-function payload that is not an object is sent as it is.
fn login_body(credential: &LoginCredential, device_id: Option<&str>) -> Result<Body> {
    let options = login_options(device_id);
    match credential {
        LoginCredential::Function(FunctionLogin {
            payload: Value::Object(fields),
        }) => {
            // Our `options` replace any the payload carries (one key, not two).
            let mut fields = fields.clone();
            fields.remove("options");
            let credential = LoginCredential::Function(FunctionLogin {
                payload: Value::Object(fields),
            });
            Body::json(&LoginRequest {
                credential: &credential,
                options,
            })
        }
        LoginCredential::Function(other) => Body::json(other),
        _ => Body::json(&LoginRequest {
            credential,
            options,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sent(body: Body) -> Value {
        serde_json::from_slice(&body.into_bytes()).unwrap()
    }

    /// What `login_body` built with `json!` before the body was typed.
    fn old_login_body(payload: Value, device_id: Option<&str>) -> Value {
        let mut device = json!({
            "sdk": "Gatehouse Rust SDK",
            "sdkVersion": env!("CARGO_PKG_VERSION"),
            "platform": std::env::consts::OS,
            "cpuArch": std::env::consts::ARCH,
        });
        if let Some(id) = device_id {
            device["deviceId"] = json!({"$oid": id});
        }
        let mut body = payload;
        if let Value::Object(map) = &mut body {
            map.insert("options".into(), json!({"device": device}));
        }
        body
    }

    #[test]
    fn the_login_body_is_what_the_sdk_sent_before() {
        let id = "65f000000000000000000001";
        let cases = [
            Credentials::email_password("a@b.c", "pw"),
            Credentials::anonymous(),
            Credentials::api_key("k"),
            Credentials::function(json!({"u": "ada"})),
            Credentials::function(json!({"u": "ada", "options": {"mine": true}})),
            Credentials::function(json!(["not", "an", "object"])),
            Credentials::function(json!("text")),
            Credentials::facebook("f"),
        ];
        for c in cases {
            let payload = serde_json::to_value(&c.payload).unwrap();
            for device_id in [None, Some(id)] {
                let body = sent(login_body(&c.payload, device_id).unwrap());
                assert_eq!(
                    body,
                    old_login_body(payload.clone(), device_id),
                    "{c:?} {device_id:?}"
                );
            }
        }
    }
}
