//! A private desktop for the app: Xvfb on a free display, a fresh HOME, a "browser" that only
//! writes down what it was asked to open, and tauri-driver in front of WebKitWebDriver. The
//! session bus and the unlocked gnome-keyring come from scripts/keyring-session.sh, which runs
//! the whole test binary.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::peers::free_port;

use super::webdriver::Driver;

/// One window at a time: two apps, each under its own Xvfb with its own WebDriver, starve each
/// other's start-up on a 2-core runner (the suite runs two tests at once).
static ONE_WINDOW_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub struct Gui {
    /// Held for the Gui's life; released after `Drop` has stopped its processes.
    _turn: std::sync::MutexGuard<'static, ()>,
    pub home: tempfile::TempDir,
    xvfb: Child,
    /// Started once the rest is in place (it needs `command`).
    driver: Option<Child>,
    display: String,
    port: u16,
    pub app: PathBuf,
    pub shots: PathBuf,
    /// Extra environment for the app (e.g. a session bus address that leads nowhere).
    extra_env: Vec<(String, String)>,
}

fn find_tool(name: &str) -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        candidates.push(PathBuf::from(home).join("bin").join(name));
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home).join(".cargo/bin").join(name));
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed: run scripts/setup.sh \
                 (it installs Xvfb, WebKitWebDriver and tauri-driver)"
            )
        })
}

/// The desktop binary next to this test binary (`target/debug/deps/e2e-…` → `target/debug/`).
pub fn app_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("GATEHOUSE_DESKTOP_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("gatehouse-desktop");
    assert!(
        bin.is_file(),
        "{} is missing: build it first (cargo build -p gatehouse-desktop; scripts/test.sh does)",
        bin.display()
    );
    bin
}

impl Gui {
    pub fn start() -> Gui {
        Gui::start_with_env(&[])
    }

    pub fn start_with_env(extra_env: &[(&str, &str)]) -> Gui {
        // A test that failed while holding the turn poisons nothing that matters here.
        let turn = ONE_WINDOW_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let app = app_binary();
        let shots = app.parent().unwrap().parent().unwrap().join("desktop-e2e");
        std::fs::create_dir_all(&shots).unwrap();
        let home = tempfile::tempdir().unwrap();
        // The app's agent socket lives here (`gatehouse` finds it the same way): one per test.
        std::fs::create_dir(home.path().join("run")).unwrap();
        std::fs::set_permissions(
            home.path().join("run"),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        // Xvfb picks a free display and writes its number to fd 1.
        let mut xvfb = Command::new(find_tool("Xvfb"))
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb starts");
        let mut line = String::new();
        BufReader::new(xvfb.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let display = format!(":{}", line.trim());
        assert!(
            line.trim().parse::<u32>().is_ok(),
            "Xvfb did not report a display: {line:?}"
        );
        let browser = home.path().join("browser.sh");
        std::fs::write(
            &browser,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$1\" >> {}/opened-urls\n",
                home.path().display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(
            &browser,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        // The fake browser is also the desktop's http(s) handler: `xdg-open` prefers a MIME
        // default (Chromium registers itself when installed) over `$BROWSER`.
        let apps = home.path().join(".local/share/applications");
        std::fs::create_dir_all(&apps).unwrap();
        std::fs::write(
            apps.join("test-browser.desktop"),
            format!(
                "[Desktop Entry]\nType=Application\nName=Test browser\nExec={} %u\n\
                 MimeType=x-scheme-handler/http;x-scheme-handler/https;\n",
                browser.display()
            ),
        )
        .unwrap();
        std::fs::create_dir_all(home.path().join(".config")).unwrap();
        std::fs::write(
            home.path().join(".config/mimeapps.list"),
            "[Default Applications]\nx-scheme-handler/http=test-browser.desktop\n\
             x-scheme-handler/https=test-browser.desktop\n",
        )
        .unwrap();
        let port = free_port();
        let native = free_port();
        let extra_env = extra_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut gui = Gui {
            _turn: turn,
            home,
            xvfb,
            driver: None,
            display,
            port,
            app,
            shots,
            extra_env,
        };
        let log = std::fs::File::create(gui.home.path().join("tauri-driver.log")).unwrap();
        gui.driver = Some(
            gui.command(&find_tool("tauri-driver"))
                .args([
                    "--port",
                    &port.to_string(),
                    "--native-port",
                    &native.to_string(),
                ])
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .expect("tauri-driver starts"),
        );
        gui
    }

    /// A command in the app's environment (display, HOME, runtime dir, browser, session bus).
    pub fn command(&self, program: &Path) -> Command {
        let mut c = Command::new(program);
        let h = self.home.path();
        c.env("DISPLAY", &self.display)
            .env("HOME", h)
            .env("XDG_DATA_HOME", h.join(".local/share"))
            .env("XDG_CONFIG_HOME", h.join(".config"))
            .env("XDG_CACHE_HOME", h.join(".cache"))
            .env("XDG_RUNTIME_DIR", h.join("run"))
            .env("BROWSER", h.join("browser.sh"))
            .env_remove("XDG_CURRENT_DESKTOP")
            .env("GATEHOUSE_LOG", "info");
        for (k, v) in &self.extra_env {
            c.env(k, v);
        }
        c
    }

    pub async fn launch(&self) -> Driver {
        self.launch_with(&[]).await
    }

    /// Starts the app with arguments (a cold start by a deep link passes the URL).
    pub async fn launch_with(&self, args: &[&str]) -> Driver {
        self.wait_for_previous_instance().await;
        let d = Driver::launch(self.port, &self.app, args).await;
        d.until(
            "the window to be ready",
            "return document.body.dataset.ready === 'true';",
            serde_json::json!([]),
        )
        .await;
        d
    }

    /// Processes of this test's app (its binary, its HOME) still running.
    fn instances(&self) -> Vec<u32> {
        let home = format!("HOME={}", self.home.path().display());
        let app = std::fs::canonicalize(&self.app).unwrap_or_else(|_| self.app.clone());
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
                let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
                exe.as_deref() == Some(app.as_path())
                    && environ.split(|b| *b == 0).any(|var| var == home.as_bytes())
            })
            .collect()
    }

    /// A restart must not meet the previous instance still shutting down: the single-instance
    /// plugin would hand the new one's start to it and the new one would exit, leaving
    /// WebKitWebDriver waiting for a window that never comes. Waits for it to go (and stops it
    /// after 20 s, saying so).
    async fn wait_for_previous_instance(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = self.instances();
            if left.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                eprintln!("the previous app instance {left:?} did not exit in 20 s; killing it");
                for pid in left {
                    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Delivers a deep link the way a launcher does: a second instance with the URL as its only
    /// argument, which hands it to the running one and exits.
    pub fn open_link(&self, url: &str) {
        let status = self
            .command(&self.app)
            .arg(url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "the second instance exits 0 after handing over the link: {status}"
        );
    }

    /// The next URL the app asked the browser to open.
    pub async fn opened_url(&self, seen: usize) -> String {
        let file = self.home.path().join("opened-urls");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let lines: Vec<String> = std::fs::read_to_string(&file)
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect();
            if lines.len() > seen {
                return lines[seen].clone();
            }
            assert!(
                Instant::now() < deadline,
                "the app never opened a browser (BROWSER={})",
                self.home.path().join("browser.sh").display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn shot(&self, name: &str) -> PathBuf {
        self.shots.join(format!("{name}.png"))
    }
}

impl Drop for Gui {
    fn drop(&mut self) {
        if let Some(driver) = &mut self.driver {
            let _ = driver.kill();
            let _ = driver.wait();
        }
        let _ = self.xvfb.kill();
        let _ = self.xvfb.wait();
    }
}
