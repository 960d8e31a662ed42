//! Gatehouse desktop: a Tauri 2 shell around [`Desktop`], which does everything through the
//! client SDK. See ARCHITECTURE.md ("Desktop app") for the map and its invariants.

mod accounts;
mod commands;
mod connections;
pub mod desktop;
mod device_label;
pub mod error;
mod local_backend;
mod panels;
mod security_centre;
mod self_service;
pub mod settings;
pub mod shell;
mod sign_in;
mod sync;
pub mod views;
pub mod webview;

use std::sync::Arc;

use tauri::{Emitter, Manager, Runtime};

pub use desktop::{Desktop, Options, Secrets};
pub use shell::{Shell, UiEvent};

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

/// The real surroundings: window events and the system browser.
struct TauriShell<R: Runtime> {
    handle: tauri::AppHandle<R>,
}

impl<R: Runtime> Shell for TauriShell<R> {
    fn emit(&self, event: UiEvent) {
        if let Err(e) = self.handle.emit(event.name(), &event) {
            tracing::warn!(error = %e, "cannot send an event to the window");
        }
    }

    fn open_browser(&self, url: &str) -> Result<(), String> {
        use tauri_plugin_opener::OpenerExt as _;
        self.handle
            .opener()
            .open_url(url, None::<&str>)
            .map_err(|e| e.to_string())
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GATEHOUSE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,gatehouse_desktop=info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Registers `gatehouse://` with the desktop at runtime (dev builds and unpackaged binaries;
/// the .deb's desktop entry does it when installed under /usr). The plugin quotes the path in
/// `Exec`, which Debian 12's generic `xdg-open` cannot run (tauri issue 10570): unquote it when
/// that is safe. Runs off the main thread: it starts `xdg-mime` and `update-desktop-database`.
#[cfg(target_os = "linux")]
fn register_scheme<R: Runtime>(app: &tauri::AppHandle<R>) {
    use tauri_plugin_deep_link::DeepLinkExt as _;
    if std::env::current_exe().is_ok_and(|exe| exe.starts_with("/usr/")) {
        return;
    }
    if let Err(e) = app.deep_link().register_all() {
        tracing::warn!(error = %e, "cannot register the gatehouse:// scheme with the desktop");
        return;
    }
    let Some(dir) = std::env::var_os("XDG_DATA_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".local/share"))
        })
    else {
        return;
    };
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let Some(name) = exe.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let file = dir
        .join("applications")
        .join(format!("{name}-handler.desktop"));
    let Ok(text) = std::fs::read_to_string(&file) else {
        return;
    };
    let path = exe.display().to_string();
    if !path.contains(char::is_whitespace) {
        let fixed = text.replace(&format!("Exec=\"{path}\""), &format!("Exec={path}"));
        if fixed != text {
            let _ = std::fs::write(&file, fixed);
        }
    }
}

/// Runs the desktop app until its window closes; fails only when the window cannot be created.
pub fn run() -> Result<(), tauri::Error> {
    desktop::LAUNCHED_AT_MS.get_or_init(desktop::now_ms);
    init_logging();
    let started = std::time::Instant::now();
    let app = with_commands(tauri::Builder::default())
        // Must be first: a second instance (e.g. started by a deep link) hands its arguments to
        // this one and exits; with the `deep-link` feature they reach `on_open_url` below.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            if let Some(window) = app.get_webview_window("main") {
                let _ = window.unminimize();
                let _ = window.set_focus();
            }
        }))
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_opener::init())
        .setup(move |app| {
            use tauri_plugin_deep_link::DeepLinkExt as _;
            if let Some(window) = app.get_webview_window("main") {
                webview::without_compositing(&window);
            }
            let data_dir = app.path().app_data_dir()?;
            let shell = Arc::new(TauriShell {
                handle: app.handle().clone(),
            });
            let desktop = Arc::new(Desktop::new(
                Options {
                    data_dir,
                    secrets: Secrets::OsKeychain,
                    start_local: true,
                },
                shell,
            ));
            app.manage(desktop.clone());
            let warm = desktop.clone();
            tauri::async_runtime::spawn(async move { warm.ready().await });
            #[cfg(target_os = "linux")]
            {
                let handle = app.handle().clone();
                std::thread::spawn(move || register_scheme(&handle));
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
            tracing::info!(ms = started.elapsed().as_millis() as u64, "window set up");
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
