//! The desktop app's state: its connections (the Local backend and remote servers, one SDK `App`
//! each), which account is active, and the sign-ins waiting for a browser. Every Tauri command
//! is one method here (in this file and in `sign_in.rs`, `accounts.rs`, `panels.rs`), so the
//! commands stay thin and the command tests can drive it with Tauri's mock runtime.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatehouse_client::{App, Event, SecretStorage, User, UserState};

use crate::error::{DesktopError, Result};
use crate::local_backend::{self, LocalBackend};
use crate::settings::{ActiveAccount, RemoteConnection, Settings, SettingsFile};
use crate::shell::{Shell, UiEvent};
use crate::sign_in::Pending;
use crate::views::{self, AccountView, ConnectionView, Overview, PendingView, SecretsView};

pub const LOCAL_ID: &str = "local";

/// Set by [`Desktop::new`] on first use; `run()` sets it earlier, as the process starts.
pub static LAUNCHED_AT_MS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
/// Where OAuth and magic-link redirects come back (registered for the Local app by default).
pub const REDIRECT_URI: &str = "gatehouse://auth/callback";

/// Where tokens go, chosen at start and changeable to memory-only by the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secrets {
    OsKeychain,
    MemoryOnly,
}

pub struct Options {
    pub data_dir: PathBuf,
    pub secrets: Secrets,
    /// Start the embedded server (off in tests that only need remote connections).
    pub start_local: bool,
}

pub(crate) struct Connection {
    pub id: String,
    pub name: String,
    pub url: String,
    pub app_id: String,
    pub local: bool,
    pub app: Option<App>,
    pub problem: Option<String>,
    pub offline: Arc<AtomicBool>,
}

pub struct Desktop {
    pub(crate) dir: PathBuf,
    pub(crate) shell: Arc<dyn Shell>,
    settings_file: SettingsFile,
    pub(crate) settings: Mutex<Settings>,
    notices: Mutex<Vec<String>>,
    secrets: Mutex<Secrets>,
    keychain_problem: Mutex<Option<String>>,
    pub(crate) connections: tokio::sync::RwLock<Vec<Connection>>,
    local: tokio::sync::Mutex<Option<LocalBackend>>,
    pub(crate) pending: Mutex<HashMap<String, Pending>>,
    start_local: bool,
    started: tokio::sync::OnceCell<()>,
}

impl Desktop {
    /// Cheap: reads the settings file only. The Local backend and the SDK apps start in
    /// [`Desktop::ready`], which every command awaits (so the window can show at once).
    pub fn new(options: Options, shell: Arc<dyn Shell>) -> Desktop {
        LAUNCHED_AT_MS.get_or_init(now_ms);
        let settings_file = SettingsFile::in_dir(&options.data_dir);
        let (settings, notice) = settings_file.load();
        Desktop {
            dir: options.data_dir,
            shell,
            settings_file,
            settings: Mutex::new(settings),
            notices: Mutex::new(notice.into_iter().collect()),
            secrets: Mutex::new(options.secrets),
            keychain_problem: Mutex::new(None),
            connections: tokio::sync::RwLock::new(Vec::new()),
            local: tokio::sync::Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
            start_local: options.start_local,
            started: tokio::sync::OnceCell::new(),
        }
    }

    /// Starts the Local backend and opens every connection's accounts, once.
    pub async fn ready(self: &Arc<Self>) {
        self.started.get_or_init(|| self.start()).await;
    }

    async fn start(self: &Arc<Self>) {
        let mut list = Vec::new();
        if self.start_local {
            match LocalBackend::start(&self.dir.join("local-server")).await {
                Ok(backend) => {
                    let url = backend.url();
                    *self.local.lock().await = Some(backend);
                    list.push(self.open(LOCAL_ID, "Local", &url, local_backend::APP_ID, true).await);
                }
                Err(e) => {
                    let mut c = self.closed(LOCAL_ID, "Local", "", local_backend::APP_ID, true);
                    c.problem = Some(e.to_string());
                    list.push(c);
                }
            }
        }
        let remotes = self.settings.lock().expect("settings").remotes.clone();
        for r in remotes {
            list.push(self.open(&r.id, &r.name, &r.url, &r.app_id, false).await);
        }
        *self.connections.write().await = list;
        self.restore_active().await;
    }

    /// Stops the Local backend (on exit), letting in-flight requests finish.
    pub async fn shutdown(&self) {
        if let Some(local) = self.local.lock().await.take() {
            local.stop().await;
        }
    }

    fn closed(&self, id: &str, name: &str, url: &str, app_id: &str, local: bool) -> Connection {
        Connection { id: id.into(), name: name.into(), url: url.into(), app_id: app_id.into(), local, app: None, problem: None,
            offline: Arc::new(AtomicBool::new(false)) }
    }

    /// Opens one connection's SDK app (no network). Never fails: a connection that cannot open
    /// is listed with its problem, and its accounts stay untouched on disk and in the keychain.
    pub(crate) async fn open(self: &Arc<Self>, id: &str, name: &str, url: &str, app_id: &str, local: bool) -> Connection {
        let mut c = self.closed(id, name, url, app_id, local);
        let secrets = *self.secrets.lock().expect("secrets");
        // Memory-only runs keep their own account lists: marking keychain users "logged out"
        // there must not touch the real lists.
        let (storage, dir) = match secrets {
            Secrets::OsKeychain => (SecretStorage::OsKeychain, self.dir.join("accounts")),
            Secrets::MemoryOnly => (SecretStorage::MemoryOnly, self.dir.join("accounts-memory-only")),
        };
        // The Local server's port changes every start: its accounts are filed under "local".
        let key = if local { "local".to_string() } else { url.to_string() };
        let built = App::builder(app_id).base_url(url).data_dir(dir).store_key(key).secret_storage(storage)
            .request_timeout(Duration::from_secs(20)).build().await;
        match built {
            Ok(app) => {
                self.forward_events(&app);
                c.app = Some(app);
            }
            Err(e) => {
                if matches!(e, gatehouse_client::Error::Keychain { .. }) {
                    *self.keychain_problem.lock().expect("keychain problem") = Some(e.to_string());
                }
                c.problem = Some(DesktopError::from(e).to_string());
            }
        }
        c
    }

    /// SDK events become window events.
    fn forward_events(self: &Arc<Self>, app: &App) {
        let mut events = app.subscribe();
        let shell = self.shell.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(Event::ReauthenticationNeeded { .. }) => {
                        shell.emit(UiEvent::notice("warning", "A session ended on the server (revoked, expired or password changed): sign in to that account again."));
                        shell.emit(UiEvent::AccountsChanged);
                    }
                    Ok(Event::TokensRefreshed { .. }) => {}
                    Ok(_) => shell.emit(UiEvent::AccountsChanged),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => shell.emit(UiEvent::AccountsChanged),
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
    }

    /// At start: the active account from the settings if it is still signed in, else the next.
    async fn restore_active(self: &Arc<Self>) {
        match self.saved_active().await {
            Some((_, app, user)) => {
                let _ = app.switch_user(&user);
            }
            None => self.activate_next().await,
        }
    }

    /// The account the settings name as active, if it is on this device and signed in.
    async fn saved_active(&self) -> Option<(String, App, User)> {
        let a = self.settings.lock().expect("settings").active.clone()?;
        let conns = self.connections.read().await;
        let c = conns.iter().find(|c| c.id == a.connection)?;
        let user = find_user(c, &a.user).filter(|u| u.state() == UserState::LoggedIn)?;
        Some((c.id.clone(), c.app.clone()?, user))
    }

    pub(crate) fn save_settings(&self) -> Result<()> {
        let snapshot = self.settings.lock().expect("settings").clone();
        self.settings_file.save(&snapshot)
    }

    /// The connection's SDK app, or why it cannot be used.
    pub(crate) async fn app(self: &Arc<Self>, connection: &str) -> Result<(App, Arc<AtomicBool>)> {
        self.ready().await;
        let conns = self.connections.read().await;
        let c = conns.iter().find(|c| c.id == connection).ok_or_else(|| DesktopError::UnknownConnection(connection.into()))?;
        match &c.app {
            Some(app) => Ok((app.clone(), c.offline.clone())),
            None => Err(DesktopError::Unavailable(format!("{} cannot be used: {}", c.name, c.problem.as_deref().unwrap_or("it did not open")))),
        }
    }

    pub(crate) async fn user(self: &Arc<Self>, connection: &str, user_id: &str) -> Result<(App, User, Arc<AtomicBool>)> {
        let (app, offline) = self.app(connection).await?;
        let user = app.all_users().into_iter().find(|u| u.id() == user_id).ok_or(DesktopError::UnknownAccount)?;
        Ok((app, user, offline))
    }

    /// Makes `user` the active account (in the SDK and in the settings) and tells the window.
    pub(crate) fn activate(&self, connection: &str, app: &App, user: &User) -> Result<()> {
        app.switch_user(user)?;
        self.settings.lock().expect("settings").active = Some(ActiveAccount { connection: connection.into(), user: user.id().into() });
        let saved = self.save_settings();
        self.shell.emit(UiEvent::AccountsChanged);
        saved
    }

    /// After the active account was logged out or removed: the next signed-in account, if any.
    pub(crate) async fn activate_next(self: &Arc<Self>) {
        if self.saved_active().await.is_some() {
            return;
        }
        // Each connection's own last active user first (the SDK remembers it), then anyone
        // signed in.
        let next = {
            let conns = self.connections.read().await;
            let pick = |c: &Connection, own: bool| {
                let app = c.app.as_ref()?;
                let user = if own { app.current_user() } else { app.all_users().into_iter().find(|u| u.state() == UserState::LoggedIn) }?;
                Some((c.id.clone(), app.clone(), user))
            };
            conns.iter().find_map(|c| pick(c, true)).or_else(|| conns.iter().find_map(|c| pick(c, false)))
        };
        match next {
            Some((id, app, user)) => {
                let _ = self.activate(&id, &app, &user);
            }
            None => {
                let had = self.settings.lock().expect("settings").active.take().is_some();
                if had {
                    let _ = self.save_settings();
                }
                self.shell.emit(UiEvent::AccountsChanged);
            }
        }
    }

    /// Records whether the server answered, for the "offline" state.
    pub(crate) fn track<T>(offline: &AtomicBool, result: gatehouse_client::Result<T>) -> Result<T> {
        match &result {
            Err(gatehouse_client::Error::Transport { .. }) => offline.store(true, Ordering::Relaxed),
            _ => offline.store(false, Ordering::Relaxed),
        }
        Ok(result?)
    }

    pub async fn overview(self: &Arc<Self>) -> Overview {
        self.ready().await;
        let active = self.settings.lock().expect("settings").active.clone();
        let conns = self.connections.read().await;
        let mut accounts = Vec::new();
        for c in conns.iter() {
            let Some(app) = &c.app else { continue };
            for user in app.all_users() {
                let is_active = active.as_ref().is_some_and(|a| a.connection == c.id && a.user == user.id());
                accounts.push(account_view(c, &user, is_active));
            }
        }
        let connections = conns.iter().map(connection_view).collect();
        drop(conns);
        let secrets = *self.secrets.lock().expect("secrets");
        let pending = self.pending_views();
        Overview {
            active: accounts.iter().find(|a| a.state == "active").cloned(),
            accounts,
            connections,
            secrets: SecretsView {
                storage: match secrets {
                    Secrets::OsKeychain => "the OS keychain".into(),
                    Secrets::MemoryOnly => "memory only (this run): signing out happens when the app closes".into(),
                },
                memory_only: secrets == Secrets::MemoryOnly,
                problem: if secrets == Secrets::OsKeychain { self.keychain_problem.lock().expect("keychain problem").clone() } else { None },
            },
            pending,
            notices: std::mem::take(&mut *self.notices.lock().expect("notices")),
            launched_at_ms: LAUNCHED_AT_MS.get().copied().unwrap_or(0),
        }
    }

    pub(crate) fn push_notice(&self, text: String) {
        self.notices.lock().expect("notices").push(text);
    }

    fn pending_views(&self) -> Vec<PendingView> {
        let mut pending = self.pending.lock().expect("pending");
        pending.retain(|_, p| !p.expired());
        pending.iter().map(|(state, p)| p.view(state)).collect()
    }

    /// The person chose memory-only sessions because the keychain is unusable: every connection
    /// reopens without the keychain. Nothing in the keychain or the saved lists is changed.
    pub async fn use_memory_only(self: &Arc<Self>) -> Result<Overview> {
        self.ready().await;
        *self.secrets.lock().expect("secrets") = Secrets::MemoryOnly;
        let old: Vec<(String, String, String, String, bool)> = self.connections.read().await.iter()
            .map(|c| (c.id.clone(), c.name.clone(), c.url.clone(), c.app_id.clone(), c.local)).collect();
        let mut reopened = Vec::new();
        for (id, name, url, app_id, local) in old {
            if url.is_empty() {
                reopened.push(self.closed(&id, &name, &url, &app_id, local));
                continue;
            }
            reopened.push(self.open(&id, &name, &url, &app_id, local).await);
        }
        *self.connections.write().await = reopened;
        self.shell.emit(UiEvent::AccountsChanged);
        Ok(self.overview().await)
    }

    /// The Local backend's outbox (mail and texts it would have sent), newest first.
    pub async fn outbox(self: &Arc<Self>) -> Result<Vec<local_backend::OutboxMessage>> {
        self.ready().await;
        let local = self.local.lock().await;
        let backend = local.as_ref().ok_or_else(|| DesktopError::Unavailable("the Local backend is not running".into()))?;
        Ok(backend.outbox(50))
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn next_remote_id(settings: &Settings) -> String {
        (1..).map(|n| format!("remote-{n}")).find(|id| !settings.remotes.iter().any(|r: &RemoteConnection| &r.id == id)).expect("an unused id")
    }
}

pub(crate) fn find_user(c: &Connection, id: &str) -> Option<User> {
    c.app.as_ref()?.all_users().into_iter().find(|u| u.id() == id)
}

pub(crate) fn account_view(c: &Connection, user: &User, active: bool) -> AccountView {
    let offline = c.offline.load(Ordering::Relaxed);
    AccountView {
        connection: c.id.clone(),
        connection_name: c.name.clone(),
        id: user.id().into(),
        display_name: views::display_name(user),
        email: user.email(),
        provider: user.provider_type(),
        state: views::state_name(user, active, offline).into(),
        reauth_at: if user.state() == UserState::LoggedIn { user.session_expires_at() } else { None },
    }
}

fn connection_view(c: &Connection) -> ConnectionView {
    ConnectionView {
        id: c.id.clone(),
        name: c.name.clone(),
        url: c.url.clone(),
        app_id: c.app_id.clone(),
        local: c.local,
        status: if c.app.is_some() { "ready".into() } else { "unavailable".into() },
        problem: c.problem.clone(),
    }
}
