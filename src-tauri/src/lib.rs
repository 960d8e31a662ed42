//! Gatehouse desktop: a Tauri 2 shell around [`Desktop`], which does everything through the
//! client SDK. See ARCHITECTURE.md ("Desktop app") for the map and its invariants.

mod accounts;
pub mod agent;
mod commands;
mod connections;
mod consent;
pub mod desktop;
mod device_label;
pub mod error;
mod grants;
mod host_accounts;
mod local_backend;
mod mfa;
mod panels;
pub mod scheme_handler;
mod security_centre;
mod self_service;
pub mod settings;
pub mod shell;
mod sign_in;
mod sync;
pub mod tray;
pub mod views;
pub mod webview;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tauri::{Emitter, Manager, Runtime};

pub use desktop::{Desktop, Options, Secrets};
pub use shell::{Shell, UiEvent};
use views::WindowPrefs;

// `ipc_commands!` and `command_names!`: the command list, shared with build.rs.
include!("ipc_commands.rs");

macro_rules! command_handler {
    ($($name:ident),* $(,)?) => {
        tauri::generate_handler![$(commands::$name),*]
    };
}

/// The window's commands by name (as `invoke` spells them; the permissions are
/// `allow-<name with dashes>`).
pub const COMMANDS: &[&str] = ipc_commands!(command_names);

/// The window's command table, for the real app and for the mock-runtime tests alike.
pub fn with_commands<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder.invoke_handler(ipc_commands!(command_handler))
}

/// What the window's close button and the shell share: whether closing hides the window
/// (`keep_in_tray`, from the preferences) and whether there is a tray to bring it back from.
struct WindowState {
    keep_in_tray: AtomicBool,
    has_tray: AtomicBool,
}

/// The real surroundings: window events, the system browser, the tray and start at login.
struct TauriShell<R: Runtime> {
    handle: tauri::AppHandle<R>,
    window: Arc<WindowState>,
}

impl<R: Runtime> Shell for TauriShell<R> {
    fn emit(&self, event: UiEvent) {
        if let Err(e) = self.handle.emit(event.name(), &event) {
            tracing::warn!(error = %e, "cannot send an event to the window");
        }
        if event == UiEvent::AccountsChanged && self.window.has_tray.load(Ordering::Relaxed) {
            let handle = self.handle.clone();
            tauri::async_runtime::spawn(async move { tray::refresh(&handle).await });
        }
    }

    fn open_browser(&self, url: &str) -> Result<(), String> {
        use tauri_plugin_opener::OpenerExt as _;
        self.handle
            .opener()
            .open_url(url, None::<&str>)
            .map_err(|e| e.to_string())
    }

    fn raise_window(&self) {
        raise_main_window(&self.handle);
    }

    fn apply_window_prefs(&self, prefs: &WindowPrefs) {
        self.window
            .keep_in_tray
            .store(prefs.keep_in_tray, Ordering::Relaxed);
        let Some(autostart) = self
            .handle
            .try_state::<tauri_plugin_autostart::AutoLaunchManager>()
        else {
            tracing::warn!("start at login is not available");
            return;
        };
        let enabled = autostart.is_enabled().unwrap_or(!prefs.start_at_login);
        let result = match (prefs.start_at_login, enabled) {
            (true, false) => autostart.enable(),
            (false, true) => autostart.disable(),
            _ => Ok(()),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, on = prefs.start_at_login, "cannot change start at login");
        }
    }
}

/// Shows the main window, unminimised and focused (a consent prompt, "Open Gatehouse", a
/// second start).
pub(crate) fn raise_main_window<R: Runtime>(app: &tauri::AppHandle<R>) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}

/// `--background`: start with the window hidden (at login, or started by the `gatehouse`
/// command); the tray and the agent run as usual.
fn in_background<S: AsRef<str>>(argv: &[S]) -> bool {
    argv.iter().skip(1).any(|a| a.as_ref() == BACKGROUND_ARG)
}

const BACKGROUND_ARG: &str = "--background";

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GATEHOUSE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,gatehouse_desktop=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs the desktop app until it quits (its window closes, or "Quit Gatehouse" in the tray);
/// fails only when the window cannot be created.
pub fn run() -> Result<(), tauri::Error> {
    desktop::LAUNCHED_AT_MS.get_or_init(desktop::now_ms);
    init_logging();
    let started = std::time::Instant::now();
    let argv: Vec<String> = std::env::args().collect();
    let background = in_background(&argv);
    let app = with_commands(tauri::Builder::default())
        // Must be first: a second instance (e.g. started by a deep link) hands its arguments to
        // this one and exits; with the `deep-link` feature they reach `on_open_url` below. A
        // second `--background` start (the `gatehouse` command) only wanted the app running.
        .plugin(tauri_plugin_single_instance::init(|app, argv, _cwd| {
            if !in_background(&argv) {
                raise_main_window(app);
            }
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_opener::init())
        // Start at login (off unless the person turns it on): an XDG autostart entry that
        // starts the app in the tray. The page gets none of its commands (capability file).
        .plugin(
            tauri_plugin_autostart::Builder::new()
                .arg(BACKGROUND_ARG)
                .build(),
        )
        .on_window_event(|window, event| {
            let tauri::WindowEvent::CloseRequested { api, .. } = event else {
                return;
            };
            let Some(state) = window.try_state::<Arc<WindowState>>() else {
                return;
            };
            // Without a tray there would be nothing to bring the window back from: quit.
            if state.keep_in_tray.load(Ordering::Relaxed) && state.has_tray.load(Ordering::Relaxed)
            {
                api.prevent_close();
                let _ = window.hide();
            }
        })
        .setup(move |app| {
            use tauri_plugin_deep_link::DeepLinkExt as _;
            if let Some(window) = app.get_webview_window("main") {
                webview::without_compositing(&window);
                // Hidden before the event loop first runs, so a background start does not
                // flash a window. (Created visible: WebKitWebDriver cannot attach to a webview
                // whose window was created hidden, and the window tests drive this build.)
                if background {
                    let _ = window.hide();
                }
            }
            let data_dir = app.path().app_data_dir()?;
            let window_state = Arc::new(WindowState {
                keep_in_tray: AtomicBool::new(WindowPrefs::default().keep_in_tray),
                has_tray: AtomicBool::new(false),
            });
            app.manage(window_state.clone());
            let shell = Arc::new(TauriShell {
                handle: app.handle().clone(),
                window: window_state.clone(),
            });
            let desktop = Arc::new(Desktop::new(
                Options {
                    data_dir,
                    secrets: Secrets::OsKeychain,
                    start_local: true,
                    agent_socket: agent::default_socket_path(),
                },
                shell,
            ));
            app.manage(desktop.clone());
            let first_menu = tray::TrayModel {
                header: tray::NO_ACCOUNT.into(),
                accounts: Vec::new(),
            };
            match tray::create(app.handle(), &first_menu) {
                Ok(_) => window_state.has_tray.store(true, Ordering::Relaxed),
                Err(e) => tracing::warn!(
                    error = %e,
                    "no tray indicator: closing the window will quit the app"
                ),
            }
            let warm = desktop.clone();
            let handle = app.handle().clone();
            tauri::async_runtime::spawn(async move {
                warm.ready().await;
                tray::refresh(&handle).await;
            });
            #[cfg(target_os = "linux")]
            {
                let handle = app.handle().clone();
                std::thread::spawn(move || scheme_handler::at_start(&handle));
            }
            // Cold start: the link this process was started with. Its sign-in (state and PKCE
            // verifier) lived in a process that is gone, so it can only be refused, visibly.
            let first: Vec<String> = app
                .deep_link()
                .get_current()
                .ok()
                .flatten()
                .unwrap_or_default()
                .iter()
                .map(|u| u.to_string())
                .collect();
            for url in first.clone() {
                let d = desktop.clone();
                tauri::async_runtime::spawn(async move { d.startup_link(&url).await });
            }
            let d = desktop.clone();
            app.deep_link().on_open_url(move |event| {
                for url in event.urls() {
                    let url = url.to_string();
                    if first.contains(&url) && started.elapsed() < std::time::Duration::from_secs(5)
                    {
                        continue; // the cold-start link, reported twice
                    }
                    let d = d.clone();
                    tauri::async_runtime::spawn(async move {
                        let _ = d.complete_from_url(&url).await;
                    });
                }
            });
            tracing::info!(
                ms = started.elapsed().as_millis() as u64,
                background,
                "window set up"
            );
            Ok(())
        })
        .build(tauri::generate_context!())?;
    app.run(|handle, event| {
        if let tauri::RunEvent::Exit = event {
            if let Some(desktop) = handle.try_state::<Arc<Desktop>>() {
                tauri::async_runtime::block_on(desktop.shutdown());
            }
        }
    });
    Ok(())
}
