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
use crate::sync::lock;
use crate::views::{
    self, AccountState, AccountView, ConnectionView, Overview, PendingView, SecretsView,
    WindowPrefs,
};

pub const LOCAL_ID: &str = "local";

/// Set by [`Desktop::new`] on first use; `run()` sets it earlier, as the process starts.
pub static LAUNCHED_AT_MS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
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
    /// Where the local agent listens (`agent::default_socket_path()` in the app); `None`: no
    /// agent.
    pub agent_socket: Option<PathBuf>,
}

/// What a connection is apart from its SDK app: enough to open it (again).
#[derive(Debug, Clone)]
pub(crate) struct ConnectionSpec {
    pub id: String,
    pub name: String,
    /// Empty when the connection never got an address (the Local backend did not start).
    pub url: String,
    pub app_id: String,
    pub local: bool,
}

impl ConnectionSpec {
    pub fn local(url: &str) -> ConnectionSpec {
        ConnectionSpec {
            id: LOCAL_ID.into(),
            name: "Local".into(),
            url: url.into(),
            app_id: local_backend::APP_ID.into(),
            local: true,
        }
    }

    pub fn remote(r: &RemoteConnection) -> ConnectionSpec {
        ConnectionSpec {
            id: r.id.clone(),
            name: r.name.clone(),
            url: r.url.clone(),
            app_id: r.app_id.clone(),
            local: false,
        }
    }
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
    /// Remote connections and the active account. The active account is the desktop's own
    /// state, not a copy of the SDK's: each SDK `App` knows the current user of its one
    /// connection, while the window has one active account across all connections (Local and
    /// every remote). `activate` sets both, so each `App`'s current user stays its
    /// connection's last active one (`activate_next` falls back on it).
    pub(crate) settings: Mutex<Settings>,
    /// Held across taking a snapshot of `settings` and writing it, so writes land in order.
    saving: tokio::sync::Mutex<()>,
    notices: Mutex<Vec<String>>,
    secrets: Mutex<Secrets>,
    keychain_problem: Mutex<Option<String>>,
    pub(crate) connections: tokio::sync::RwLock<Vec<Connection>>,
    local: tokio::sync::Mutex<Option<LocalBackend>>,
    /// Sign-ins waiting for a deep link, by state: which connection each belongs to (a deep
    /// link names only its state), what the window shows while waiting, and for magic links the
    /// SDK's `PendingMagicLink`, which the SDK hands to its caller instead of keeping. Browser
    /// sign-ins' verifiers stay in the SDK.
    pub(crate) pending: Mutex<HashMap<String, Pending>>,
    /// SMS sign-in codes asked for and not yet used, by (connection, number as typed): the SDK's
    /// `PendingSmsCode` holds the verifier that alone can redeem the code.
    pub(crate) sms_codes: Mutex<HashMap<(String, String), crate::sign_in::SmsWaiting>>,
    /// Phone-number changes waiting for their texted code, by (connection, account): the SDK's
    /// `PendingPhoneChange` holds the verifier that alone can redeem the code. Memory only.
    pub(crate) phone_changes:
        Mutex<HashMap<(String, String), gatehouse_client::PendingPhoneChange>>,
    /// Sign-ins waiting for their second factor, by challenge id: the SDK's challenge (with
    /// the device binding the completion sends again) and its connection. Memory only; each
    /// goes when answered, cancelled, voided by the server or expired.
    pub(crate) mfa_challenges: Mutex<HashMap<String, crate::mfa::Held>>,
    start_local: bool,
    started: tokio::sync::OnceCell<()>,
    agent_socket: Option<PathBuf>,
    /// The running agent (its listener task and socket), from `ready` to `shutdown`.
    pub(crate) agent: Mutex<Option<crate::agent::Running>>,
    /// Test hook only: lets the agent serve from a directory others can enter (the peer-check
    /// test connects as another user). Never set by the app.
    pub(crate) agent_dir_open_for_tests: AtomicBool,
    /// Consent prompts waiting for the person.
    pub(crate) consents: crate::consent::Consents,
    /// The programs always allowed (`programs.json`).
    pub(crate) grants: crate::grants::Grants,
    /// Browser and magic-link sign-ins that ended, for the agent's `login` to wait on.
    pub(crate) sign_in_done: tokio::sync::broadcast::Sender<crate::sign_in::SignInDone>,
}

impl Desktop {
    /// Cheap: reads the settings file only. The Local backend and the SDK apps start in
    /// [`Desktop::ready`], which every command awaits (so the window can show at once).
    pub fn new(options: Options, shell: Arc<dyn Shell>) -> Desktop {
        LAUNCHED_AT_MS.get_or_init(now_ms);
        let settings_file = SettingsFile::in_dir(&options.data_dir);
        let (settings, notice) = settings_file.load();
        let (grants, grants_notice) = crate::grants::Grants::load(&options.data_dir);
        Desktop {
            dir: options.data_dir,
            shell,
            settings_file,
            settings: Mutex::new(settings),
            saving: tokio::sync::Mutex::new(()),
            notices: Mutex::new(notice.into_iter().chain(grants_notice).collect()),
            secrets: Mutex::new(options.secrets),
            keychain_problem: Mutex::new(None),
            connections: tokio::sync::RwLock::new(Vec::new()),
            local: tokio::sync::Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
            sms_codes: Mutex::new(HashMap::new()),
            phone_changes: Mutex::new(HashMap::new()),
            mfa_challenges: Mutex::new(HashMap::new()),
            start_local: options.start_local,
            started: tokio::sync::OnceCell::new(),
            agent_socket: options.agent_socket,
            agent: Mutex::new(None),
            agent_dir_open_for_tests: AtomicBool::new(false),
            consents: crate::consent::Consents::new(crate::consent::timeout_from_env()),
            grants,
            sign_in_done: tokio::sync::broadcast::channel(16).0,
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
                    list.push(self.open(ConnectionSpec::local(&url)).await);
                }
                Err(e) => {
                    let mut c = Connection::closed(ConnectionSpec::local(""));
                    c.problem = Some(e.to_string());
                    list.push(c);
                }
            }
        }
        let remotes = lock(&self.settings).remotes.clone();
        for r in &remotes {
            list.push(self.open(ConnectionSpec::remote(r)).await);
        }
        *self.connections.write().await = list;
        self.restore_active().await;
        let prefs = lock(&self.settings).window.clone();
        self.shell.apply_window_prefs(&prefs);
        if let Some(path) = self.agent_socket.clone() {
            crate::agent::start(self, &path);
        }
    }

    /// Test hook, never used by the app: the agent's directory and socket are left open to
    /// every user (0777), so a test can connect as another uid and see the peer check refuse
    /// it. Call before [`Desktop::ready`].
    pub fn open_agent_dir_for_tests(&self) {
        self.agent_dir_open_for_tests.store(true, Ordering::Relaxed);
    }

    /// The window's behaviour settings.
    pub fn window_prefs(&self) -> WindowPrefs {
        lock(&self.settings).window.clone()
    }

    /// Saves the window's behaviour settings and applies them.
    pub async fn set_window_prefs(&self, prefs: WindowPrefs) -> Result<WindowPrefs> {
        lock(&self.settings).window = prefs.clone();
        self.save_settings().await?;
        self.shell.apply_window_prefs(&prefs);
        Ok(prefs)
    }

    /// Stops the agent (its socket removed) and the Local backend (on exit), letting in-flight
    /// requests finish.
    pub async fn shutdown(&self) {
        crate::agent::stop(self);
        if let Some(local) = self.local.lock().await.take() {
            local.stop().await;
        }
    }

    /// Opens one connection's SDK app (no network). Never fails: a connection that cannot open
    /// is listed with its problem, and its accounts stay untouched on disk and in the keychain.
    pub(crate) async fn open(self: &Arc<Self>, spec: ConnectionSpec) -> Connection {
        let mut c = Connection::closed(spec);
        let secrets = *lock(&self.secrets);
        // Memory-only runs keep their own account lists: marking keychain users "logged out"
        // there must not touch the real lists.
        let (storage, dir) = match secrets {
            Secrets::OsKeychain => (SecretStorage::OsKeychain, self.dir.join("accounts")),
            Secrets::MemoryOnly => (
                SecretStorage::MemoryOnly,
                self.dir.join("accounts-memory-only"),
            ),
        };
        // The Local server's port changes every start: its accounts are filed under "local".
        let key = if c.local {
            LOCAL_ID.to_string()
        } else {
            c.url.clone()
        };
        let built = App::builder(&c.app_id)
            .base_url(&c.url)
            .data_dir(dir)
            .store_key(key)
            .secret_storage(storage)
            .request_timeout(Duration::from_secs(20))
            .build()
            .await;
        match built {
            Ok(app) => {
                self.forward_events(&app);
                c.app = Some(app);
            }
            Err(e) => {
                if matches!(e, gatehouse_client::Error::Keychain { .. }) {
                    *lock(&self.keychain_problem) = Some(e.to_string());
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
                        shell.emit(UiEvent::notice(
                            "warning",
                            "A session ended on the server (revoked, expired or password \
                             changed): sign in to that account again.",
                        ));
                        shell.emit(UiEvent::AccountsChanged);
                    }
                    // Routine (and the window's own account view fetches the profile: answering
                    // that with a refresh would loop). Changes below do refresh the window.
                    Ok(Event::TokensRefreshed { .. } | Event::ProfileRefreshed { .. }) => {}
                    Ok(_) => shell.emit(UiEvent::AccountsChanged),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        shell.emit(UiEvent::AccountsChanged)
                    }
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
        let a = lock(&self.settings).active.clone()?;
        let conns = self.connections.read().await;
        let c = conns.iter().find(|c| c.id == a.connection)?;
        let user = find_user(c, &a.user).filter(|u| u.state() == UserState::LoggedIn)?;
        Some((c.id.clone(), c.app.clone()?, user))
    }

    /// Writes the settings as they are now, off the async runtime (fsync and rename block).
    pub(crate) async fn save_settings(&self) -> Result<()> {
        let _in_order = self.saving.lock().await;
        let snapshot = lock(&self.settings).clone();
        let file = self.settings_file.clone();
        tokio::task::spawn_blocking(move || file.save(&snapshot))
            .await
            .map_err(|e| {
                self.settings_file
                    .error(format!("the write did not finish: {e}"))
            })?
    }

    /// The connection's SDK app, or why it cannot be used.
    pub(crate) async fn app(self: &Arc<Self>, connection: &str) -> Result<(App, Arc<AtomicBool>)> {
        self.ready().await;
        let conns = self.connections.read().await;
        let c = conns
            .iter()
            .find(|c| c.id == connection)
            .ok_or_else(|| DesktopError::UnknownConnection(connection.into()))?;
        match &c.app {
            Some(app) => Ok((app.clone(), c.offline.clone())),
            None => Err(DesktopError::Unavailable(format!(
                "{} cannot be used: {}",
                c.name,
                c.problem.as_deref().unwrap_or("it did not open")
            ))),
        }
    }

    pub(crate) async fn user(
        self: &Arc<Self>,
        connection: &str,
        user_id: &str,
    ) -> Result<(App, User, Arc<AtomicBool>)> {
        let (app, offline) = self.app(connection).await?;
        let user = app
            .all_users()
            .into_iter()
            .find(|u| u.id() == user_id)
            .ok_or(DesktopError::UnknownAccount)?;
        Ok((app, user, offline))
    }

    /// Makes `user` the active account (in the SDK and in the settings) and tells the window.
    pub(crate) async fn activate(&self, connection: &str, app: &App, user: &User) -> Result<()> {
        app.switch_user(user)?;
        lock(&self.settings).active = Some(ActiveAccount {
            connection: connection.into(),
            user: user.id().into(),
        });
        let saved = self.save_settings().await;
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
                let user = if own {
                    app.current_user()
                } else {
                    app.all_users()
                        .into_iter()
                        .find(|u| u.state() == UserState::LoggedIn)
                }?;
                Some((c.id.clone(), app.clone(), user))
            };
            conns
                .iter()
                .find_map(|c| pick(c, true))
                .or_else(|| conns.iter().find_map(|c| pick(c, false)))
        };
        match next {
            Some((id, app, user)) => {
                let _ = self.activate(&id, &app, &user).await;
            }
            None => {
                let had = lock(&self.settings).active.take().is_some();
                if had {
                    let _ = self.save_settings().await;
                }
                self.shell.emit(UiEvent::AccountsChanged);
            }
        }
    }

    /// Records whether the server answered, for the "offline" state.
    pub(crate) fn track<T>(offline: &AtomicBool, result: gatehouse_client::Result<T>) -> Result<T> {
        match &result {
            Err(gatehouse_client::Error::Transport { .. }) => {
                offline.store(true, Ordering::Relaxed)
            }
            _ => offline.store(false, Ordering::Relaxed),
        }
        Ok(result?)
    }

    /// What the window shows, handing it the notices waiting for it (they are shown once).
    pub async fn overview(self: &Arc<Self>) -> Overview {
        let mut o = self.peek_overview().await;
        o.notices = std::mem::take(&mut *lock(&self.notices));
        o
    }

    /// The overview for the tray and the agent: the notices stay for the window.
    pub async fn peek_overview(self: &Arc<Self>) -> Overview {
        self.ready().await;
        let active = lock(&self.settings).active.clone();
        let conns = self.connections.read().await;
        let mut accounts = Vec::new();
        for c in conns.iter() {
            let Some(app) = &c.app else { continue };
            for user in app.all_users() {
                let is_active = active
                    .as_ref()
                    .is_some_and(|a| a.connection == c.id && a.user == user.id());
                accounts.push(account_view(c, &user, is_active));
            }
        }
        let connections = conns.iter().map(connection_view).collect();
        drop(conns);
        let secrets = *lock(&self.secrets);
        let pending = self.pending_views();
        Overview {
            active: accounts
                .iter()
                .find(|a| a.state == AccountState::Active)
                .cloned(),
            accounts,
            connections,
            secrets: SecretsView {
                storage: match secrets {
                    Secrets::OsKeychain => "the OS keychain".into(),
                    Secrets::MemoryOnly => {
                        "memory only (this run): signing out happens when the app closes".into()
                    }
                },
                memory_only: secrets == Secrets::MemoryOnly,
                problem: if secrets == Secrets::OsKeychain {
                    lock(&self.keychain_problem).clone()
                } else {
                    None
                },
            },
            pending,
            notices: Vec::new(),
            launched_at_ms: LAUNCHED_AT_MS.get().copied().unwrap_or(0),
        }
    }

    pub(crate) fn push_notice(&self, text: String) {
        lock(&self.notices).push(text);
    }

    /// Gives back the notices an action's overview took, when the window did not ask for it
    /// (an action from the tray or the agent): the window shows them on its next refresh.
    pub(crate) fn keep_notices(&self, overview: &mut Overview) {
        lock(&self.notices).append(&mut overview.notices);
    }

    fn pending_views(&self) -> Vec<PendingView> {
        let mut pending = lock(&self.pending);
        pending.retain(|_, p| !p.expired());
        pending.iter().map(|(state, p)| p.view(state)).collect()
    }

    /// The person chose memory-only sessions because the keychain is unusable: every connection
    /// reopens without the keychain. Nothing in the keychain or the saved lists is changed.
    pub async fn use_memory_only(self: &Arc<Self>) -> Result<Overview> {
        self.ready().await;
        *lock(&self.secrets) = Secrets::MemoryOnly;
        let old: Vec<ConnectionSpec> = self
            .connections
            .read()
            .await
            .iter()
            .map(Connection::spec)
            .collect();
        let mut reopened = Vec::new();
        for spec in old {
            if spec.url.is_empty() {
                reopened.push(Connection::closed(spec));
                continue;
            }
            reopened.push(self.open(spec).await);
        }
        *self.connections.write().await = reopened;
        self.shell.emit(UiEvent::AccountsChanged);
        Ok(self.overview().await)
    }

    /// The Local backend's outbox (mail and texts it would have sent), newest first.
    pub async fn outbox(self: &Arc<Self>) -> Result<Vec<local_backend::OutboxMessage>> {
        self.ready().await;
        let local = self.local.lock().await;
        let backend = local
            .as_ref()
            .ok_or_else(|| DesktopError::Unavailable("the Local backend is not running".into()))?;
        Ok(backend.outbox(50).await)
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// `remote-1`, `remote-2`, …: the first that no saved connection uses.
    pub(crate) fn next_remote_id(settings: &Settings) -> String {
        let taken = |id: &str| settings.remotes.iter().any(|r| r.id == id);
        let mut n = 1;
        while taken(&format!("remote-{n}")) {
            n += 1;
        }
        format!("remote-{n}")
    }
}

impl Connection {
    /// Listed, but without an SDK app (yet): `open` fills it in, or says why it could not.
    fn closed(spec: ConnectionSpec) -> Connection {
        let ConnectionSpec {
            id,
            name,
            url,
            app_id,
            local,
        } = spec;
        Connection {
            id,
            name,
            url,
            app_id,
            local,
            app: None,
            problem: None,
            offline: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn spec(&self) -> ConnectionSpec {
        ConnectionSpec {
            id: self.id.clone(),
            name: self.name.clone(),
            url: self.url.clone(),
            app_id: self.app_id.clone(),
            local: self.local,
        }
    }
}

pub(crate) fn find_user(c: &Connection, id: &str) -> Option<User> {
    c.app
        .as_ref()?
        .all_users()
        .into_iter()
        .find(|u| u.id() == id)
}

pub(crate) fn account_view(c: &Connection, user: &User, active: bool) -> AccountView {
    let offline = c.offline.load(Ordering::Relaxed);
    AccountView {
        connection: c.id.clone(),
        connection_name: c.name.clone(),
        id: user.id().into(),
        display_name: views::display_name(user),
        email: user.email(),
        provider: user.sign_in_provider(),
        state: views::account_state(user, active, offline),
        reauth_at: if user.state() == UserState::LoggedIn {
            user.session_expires_at()
        } else {
            None
        },
        picture: views::picture(user),
    }
}

fn connection_view(c: &Connection) -> ConnectionView {
    ConnectionView {
        id: c.id.clone(),
        name: c.name.clone(),
        url: c.url.clone(),
        app_id: c.app_id.clone(),
        local: c.local,
        status: if c.app.is_some() {
            "ready".into()
        } else {
            "unavailable".into()
        },
        problem: c.problem.clone(),
    }
}
