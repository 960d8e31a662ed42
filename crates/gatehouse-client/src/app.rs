//! `App`: one app on one server, with every user signed in to it on this device.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatehouse_proto::auth::{LocationResponse, LoginResponse, Profile, ProviderInfo};
use gatehouse_proto::routes;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use crate::credentials::Credentials;
use crate::email_password::EmailPasswordAuth;
use crate::error::{Error, Result};
use crate::events::{Event, LogoutReason};
use crate::http::{Http, Request};
use crate::store::keychain::{self, Keychain, MemoryKeychain, OsKeychain, StoredTokens};
use crate::store::{Metadata, MetadataFile, StoredUser, UserStatus};
use crate::user::{User, UserCore};

pub(crate) struct Shared {
    pub app_id: String,
    pub server: String,
    /// What accounts are filed under in the keychain and the account list (default: `server`).
    pub store_key: String,
    pub http: Http,
    pub keychain: Arc<dyn Keychain>,
    file: MetadataFile,
    pub meta: Mutex<Metadata>,
    /// Serialises writes of the metadata file; each write takes the newest snapshot.
    save_lock: tokio::sync::Mutex<()>,
    pub users: Mutex<HashMap<String, Arc<UserCore>>>,
    /// Browser sign-ins started and not yet completed (state + PKCE verifier; memory only).
    pub pending_redirects: Mutex<Vec<crate::redirect_login::Pending>>,
    events: broadcast::Sender<Event>,
}

impl Shared {
    pub fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    pub fn account(&self, user_id: &str) -> String {
        keychain::account(&self.store_key, &self.app_id, user_id)
    }

    /// Writes the current metadata durably and waits for it.
    pub async fn save(self: &Arc<Self>) -> Result<()> {
        let _guard = self.save_lock.lock().await;
        let snapshot = self.meta.lock().expect("metadata").clone();
        let shared = self.clone();
        tokio::task::spawn_blocking(move || shared.file.save(&snapshot))
            .await
            .map_err(|e| Error::StoreIo { path: self.file.path.clone(), detail: e.to_string() })?
    }

    /// Writes the metadata in the background (for preferences such as the active user, where a
    /// lost write after a crash is harmless and waiting on fsync would not be).
    pub fn save_soon(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // Called outside a runtime (switch_user is a plain function): save right here.
            let snapshot = self.meta.lock().expect("metadata").clone();
            if let Err(e) = self.file.save(&snapshot) {
                tracing::warn!(error = %e, "could not save the account list");
            }
            return;
        };
        let shared = self.clone();
        runtime.spawn(async move {
            if let Err(e) = shared.save().await {
                tracing::warn!(error = %e, "could not save the account list");
            }
        });
    }

    pub fn now() -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
    }

    /// Moves "active" away from `user_id` to the most recently active other logged-in user.
    pub fn reassign_active(&self, meta: &mut Metadata, user_id: &str) -> bool {
        if meta.active.as_deref() != Some(user_id) {
            return false;
        }
        meta.active = meta.users.iter()
            .filter(|u| u.id != user_id && u.status == UserStatus::LoggedIn)
            .max_by_key(|u| u.last_active_at)
            .map(|u| u.id.clone());
        self.emit(Event::ActiveUserChanged { user_id: meta.active.clone() });
        true
    }

    pub fn user(self: &Arc<Self>, id: &str) -> Option<User> {
        let core = self.users.lock().expect("users").get(id).cloned()?;
        Some(User { shared: self.clone(), core })
    }

    /// The session ended on the server: drop its tokens, mark it logged out, tell listeners.
    pub async fn session_ended(self: &Arc<Self>, user_id: &str) {
        if let Some(core) = self.users.lock().expect("users").get(user_id) {
            *core.tokens.lock().expect("tokens") = None;
        }
        let account = self.account(user_id);
        if let Err(e) = keychain::call(&self.keychain, move |k| k.delete(&account)).await {
            tracing::warn!(error = %e, "could not delete the tokens of an ended session from the keychain");
        }
        {
            let mut meta = self.meta.lock().expect("metadata");
            if let Some(u) = meta.users.iter_mut().find(|u| u.id == user_id) {
                u.status = UserStatus::LoggedOut;
            }
            self.reassign_active(&mut meta, user_id);
        }
        if let Err(e) = self.save().await {
            tracing::warn!(error = %e, "could not save the account list");
        }
        self.emit(Event::LoggedOut { user_id: user_id.into(), reason: LogoutReason::SessionEnded });
        self.emit(Event::ReauthenticationNeeded { user_id: user_id.into() });
    }
}

/// An App Services app on one server, and the users signed in to it on this device.
#[derive(Clone)]
pub struct App {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("app_id", &self.shared.app_id).field("server", &self.shared.server).finish_non_exhaustive()
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

    /// Folder for the account list (default: the platform data dir, e.g. `~/.local/share/gatehouse`).
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
            return Err(Error::InvalidArgument(format!("server URL must start with http:// or https:// (got {:?})", self.base_url)));
        }
        if self.app_id.is_empty() {
            return Err(Error::InvalidArgument("app id must not be empty".into()));
        }
        let keychain: Arc<dyn Keychain> = match self.secrets {
            SecretStorage::OsKeychain => Arc::new(tokio::task::spawn_blocking(OsKeychain::self_test).await
                .map_err(|e| Error::Keychain { reason: format!("the keychain self-test failed: {e}"), advice: keychain::ADVICE.into() })??),
            SecretStorage::MemoryOnly => Arc::new(MemoryKeychain::default()),
            SecretStorage::Custom(k) => k,
        };
        let dir = match self.data_dir {
            Some(dir) => dir,
            None => dirs::data_dir().map(|d| d.join("gatehouse")).ok_or_else(|| {
                Error::InvalidArgument("no platform data directory; set one with AppBuilder::data_dir".into())
            })?,
        };
        let store_key = self.store_key.unwrap_or_else(|| self.base_url.clone());
        let file = MetadataFile::for_app(&dir, &store_key, &self.app_id);
        let meta = file.load(&store_key, &self.app_id)?;
        let client = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("gatehouse-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::InvalidArgument(format!("cannot build the HTTP client: {e}")))?;
        let (events, _) = broadcast::channel(256);
        let shared = Arc::new(Shared {
            app_id: self.app_id,
            server: self.base_url.clone(),
            store_key,
            http: Http { client, base: self.base_url },
            keychain,
            file,
            meta: Mutex::new(meta),
            save_lock: tokio::sync::Mutex::new(()),
            users: Mutex::new(HashMap::new()),
            pending_redirects: Mutex::new(Vec::new()),
            events,
        });
        load_users(&shared).await?;
        Ok(App { shared })
    }
}

/// Rebuilds users from the list and their tokens from the keychain (no network).
async fn load_users(shared: &Arc<Shared>) -> Result<()> {
    let listed: Vec<StoredUser> = shared.meta.lock().expect("metadata").users.clone();
    let mut lost = Vec::new();
    for stored in &listed {
        let account = shared.account(&stored.id);
        let tokens = if stored.status == UserStatus::LoggedIn {
            keychain::call(&shared.keychain, move |k| k.get(&account)).await?
        } else {
            None
        };
        if stored.status == UserStatus::LoggedIn && tokens.is_none() {
            lost.push(stored.id.clone());
        }
        shared.users.lock().expect("users").insert(stored.id.clone(), Arc::new(UserCore::new(&stored.id, tokens)));
    }
    if !lost.is_empty() {
        // Listed as logged in but the keychain has no tokens (e.g. a new keychain): logged out.
        let mut meta = shared.meta.lock().expect("metadata");
        for u in meta.users.iter_mut().filter(|u| lost.contains(&u.id)) {
            u.status = UserStatus::LoggedOut;
        }
        if meta.active.as_ref().is_some_and(|a| lost.contains(a)) {
            meta.active = None;
        }
    }
    Ok(())
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
        self.shared.keychain.describe()
    }

    /// Events about this app's users.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.shared.events.subscribe()
    }

    /// Checks the server answers for this app (the App Services location request).
    pub async fn location(&self) -> Result<LocationResponse> {
        let v = self.shared.http.send(Request { method: Method::GET, path: routes::location(&self.shared.app_id), bearer: None, body: None, rotate: false }).await?;
        serde_json::from_value(v).map_err(|e| Error::Decode(e.to_string()))
    }

    /// The providers the app has enabled (Gatehouse extension).
    pub async fn providers(&self) -> Result<Vec<ProviderInfo>> {
        let v = self.shared.http.send(Request { method: Method::GET, path: routes::providers(&self.shared.app_id), bearer: None, body: None, rotate: false }).await?;
        serde_json::from_value(v).map_err(|e| Error::Decode(e.to_string()))
    }

    pub fn email_password_auth(&self) -> EmailPasswordAuth {
        EmailPasswordAuth { shared: self.shared.clone() }
    }

    pub fn phone_password_auth(&self) -> crate::phone::PhonePasswordAuth {
        crate::phone::PhonePasswordAuth { shared: self.shared.clone() }
    }

    /// Texts a sign-in code to a confirmed number; log in with `Credentials::sms_code`. Answers
    /// the same whether or not the number has an account.
    pub async fn send_sms_code(&self, phone: &str) -> Result<()> {
        crate::phone::post(&self.shared, routes::provider::SMS_CODE, "send", json!({"phone": phone})).await
    }

    /// The active user, if it is logged in.
    pub fn current_user(&self) -> Option<User> {
        let meta = self.shared.meta.lock().expect("metadata");
        let active = meta.active.clone()?;
        meta.users.iter().find(|u| u.id == active && u.status == UserStatus::LoggedIn)?;
        drop(meta);
        self.shared.user(&active)
    }

    /// Every user on this device, logged in or out, in the order they were first added.
    pub fn all_users(&self) -> Vec<User> {
        let ids: Vec<String> = self.shared.meta.lock().expect("metadata").users.iter().map(|u| u.id.clone()).collect();
        ids.iter().filter_map(|id| self.shared.user(id)).collect()
    }

    /// Makes a logged-in user the active one. No network; persisted in the background.
    pub fn switch_user(&self, user: &User) -> Result<()> {
        {
            let mut meta = self.shared.meta.lock().expect("metadata");
            let stored = meta.users.iter_mut().find(|u| u.id == user.id()).ok_or_else(|| Error::UnknownUser(user.id().into()))?;
            if stored.status != UserStatus::LoggedIn {
                return Err(Error::LoggedOut(user.id().into()));
            }
            stored.last_active_at = Shared::now();
            if meta.active.as_deref() == Some(user.id()) {
                return Ok(());
            }
            meta.active = Some(user.id().to_string());
        }
        self.shared.emit(Event::ActiveUserChanged { user_id: Some(user.id().to_string()) });
        self.shared.save_soon();
        Ok(())
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
        let body = login_body(&credentials, shared.meta.lock().expect("metadata").device_id.as_deref());
        let path = routes::login(&shared.app_id, credentials.provider);
        let v = shared.http.send(Request { method: Method::POST, path, bearer: None, body: Some(&body), rotate: false }).await?;
        let login: LoginResponse = serde_json::from_value(v).map_err(|e| Error::Decode(format!("login answer: {e}")))?;
        let refresh = login.refresh_token.clone().ok_or_else(|| Error::Decode("the login answer has no refresh token".into()))?;
        let profile = match self.fetch_profile(&login.access_token).await {
            Ok(p) => p,
            Err(e) => {
                self.discard_session(&refresh).await;
                return Err(e);
            }
        };
        let tokens = StoredTokens { refresh_token: refresh.clone(), access_token: Some(login.access_token.clone()) };
        let account = shared.account(&login.user_id);
        let to_store = tokens.clone();
        if let Err(e) = keychain::call(&shared.keychain, move |k| k.set(&account, &to_store)).await {
            self.discard_session(&refresh).await;
            return Err(e);
        }
        let now = Shared::now();
        // A new user, or one coming back from logged-out, must be on disk before we answer; a
        // re-login of a user already listed as logged in changes only cached fields.
        let critical = {
            let mut meta = shared.meta.lock().expect("metadata");
            meta.device_id = Some(login.device_id.clone());
            let critical = meta.users.iter().find(|u| u.id == login.user_id).is_none_or(|u| u.status != UserStatus::LoggedIn);
            match meta.users.iter_mut().find(|u| u.id == login.user_id) {
                Some(u) => {
                    u.status = UserStatus::LoggedIn;
                    u.profile = Some(profile);
                    u.device_id = login.device_id.clone();
                    u.last_active_at = now;
                }
                None => meta.users.push(StoredUser {
                    id: login.user_id.clone(), status: UserStatus::LoggedIn, provider_type: credentials.provider.to_string(),
                    device_id: login.device_id.clone(), profile: Some(profile), added_at: now, last_active_at: now,
                }),
            }
            meta.active = Some(login.user_id.clone());
            critical
        };
        if critical {
            shared.save().await?;
        } else {
            shared.save_soon();
        }
        let core = shared.users.lock().expect("users").entry(login.user_id.clone())
            .or_insert_with(|| Arc::new(UserCore::new(&login.user_id, None))).clone();
        let replaced = core.tokens.lock().expect("tokens").replace(tokens);
        if let Some(old) = replaced.filter(|old| old.refresh_token != refresh) {
            // Logging in again as a user we already hold: end the session we are replacing
            // rather than leave it alive on the server with nobody holding its token.
            let app = self.clone();
            tokio::spawn(async move { app.discard_session(&old.refresh_token).await });
        }
        shared.emit(Event::LoggedIn { user_id: login.user_id.clone() });
        shared.emit(Event::ActiveUserChanged { user_id: Some(login.user_id.clone()) });
        Ok(User { shared: shared.clone(), core })
    }

    fn active_anonymous_user(&self) -> Option<User> {
        let meta = self.shared.meta.lock().expect("metadata");
        let id = meta.users.iter().filter(|u| u.status == UserStatus::LoggedIn).find(|u| {
            // Reuse only a logged-in user whose identities are all anonymous (a linked user is not
            // "the anonymous user" any more) — realm-web reuses logged-out ones, a known bug.
            u.provider_type == routes::provider::ANONYMOUS
                && u.profile.as_ref().is_none_or(|p| p.identities.iter().all(|i| i.provider_type == routes::provider::ANONYMOUS))
        })?.id.clone();
        drop(meta);
        self.shared.user(&id)
    }

    pub(crate) async fn fetch_profile(&self, access: &str) -> Result<Profile> {
        let v = self.shared.http.send(Request { method: Method::GET, path: routes::PROFILE.into(), bearer: Some(access), body: None, rotate: false }).await?;
        serde_json::from_value(v).map_err(|e| Error::Decode(format!("profile: {e}")))
    }

    /// Ends a session we will not keep (best effort; the server expires it anyway).
    async fn discard_session(&self, refresh: &str) {
        let _ = self.shared.http.send(Request { method: Method::DELETE, path: routes::SESSION.into(), bearer: Some(refresh), body: None, rotate: false }).await;
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
        user.access_request(Method::DELETE, routes::DELETE_USER.into(), None).await?;
        self.forget(user.id()).await
    }

    pub(crate) async fn forget(&self, user_id: &str) -> Result<()> {
        let shared = &self.shared;
        let account = shared.account(user_id);
        keychain::call(&shared.keychain, move |k| k.delete(&account)).await?;
        {
            let mut meta = shared.meta.lock().expect("metadata");
            if !meta.users.iter().any(|u| u.id == user_id) {
                return Err(Error::UnknownUser(user_id.into()));
            }
            meta.users.retain(|u| u.id != user_id);
            shared.reassign_active(&mut meta, user_id);
        }
        shared.save().await?;
        if let Some(core) = shared.users.lock().expect("users").remove(user_id) {
            *core.tokens.lock().expect("tokens") = None;
        }
        shared.emit(Event::Removed { user_id: user_id.into() });
        Ok(())
    }
}

fn login_body(credentials: &Credentials, device_id: Option<&str>) -> Value {
    let mut device = json!({
        "sdk": "Gatehouse Rust SDK",
        "sdkVersion": env!("CARGO_PKG_VERSION"),
        "platform": std::env::consts::OS,
        "cpuArch": std::env::consts::ARCH,
    });
    if let Some(id) = device_id {
        device["deviceId"] = json!({"$oid": id});
    }
    let mut body = credentials.payload.clone();
    if let Value::Object(map) = &mut body {
        map.insert("options".into(), json!({"device": device}));
    }
    body
}
