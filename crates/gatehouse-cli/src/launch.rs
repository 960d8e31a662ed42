//! Starting the app when its socket does not answer: `gatehouse-desktop --background` (tray
//! only), detached from this command, then waiting for its agent to listen.
//!
//! Which binary: `$GATEHOUSE_DESKTOP_BIN`, else `gatehouse-desktop` next to this command's own
//! executable (the .deb installs both in /usr/bin; a build tree has both in target/…), else
//! `/usr/bin/gatehouse-desktop`, else the first one on `PATH`.

use std::io::IsTerminal;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::Failure;
use crate::socket::{self, ConnectError};

/// How long the started app has to open its socket (a cold start unlocks the keychain and may
/// start the local server).
const START_TIMEOUT: Duration = Duration::from_secs(20);
const POLL_EVERY: Duration = Duration::from_millis(50);
const BINARY: &str = "gatehouse-desktop";

/// Start the app in the background and connect once its agent listens.
pub fn start_and_connect(socket: &Path) -> Result<UnixStream, Failure> {
    if !has_display() {
        return Err(Failure::unreachable(
            "Gatehouse is not running and cannot be started: no display ($DISPLAY and \
             $WAYLAND_DISPLAY are unset). Start the Gatehouse app in your desktop session first.",
        ));
    }
    let binary = find_binary()?;
    if std::io::stderr().is_terminal() {
        eprintln!("gatehouse: starting Gatehouse in the background…");
    }
    let mut child = Command::new(&binary)
        .arg("--background")
        // Its own process group: Ctrl-C in this terminal must not stop the app, and it
        // outlives this command. No inherited stdio: it must not hold a pipe of ours open.
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            Failure::unreachable(format!(
                "Gatehouse is not running and {} could not be started: {e}",
                binary.display()
            ))
        })?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        // Checked before connecting, so an app that failed gets one last try below. One that
        // exited cleanly may have handed over to a first instance still starting (two commands
        // at once on a cold start): keep waiting for that one.
        let failed = child
            .try_wait()
            .ok()
            .flatten()
            .filter(|status| !status.success());
        match socket::connect(socket) {
            Ok(stream) => return Ok(stream),
            Err(ConnectError::Failed(failure)) => return Err(failure),
            Err(ConnectError::NotRunning) => {}
        }
        if let Some(status) = failed {
            return Err(Failure::unreachable(format!(
                "Gatehouse ({}) was started but failed ({status}) before its agent answered at {}",
                binary.display(),
                socket.display()
            )));
        }
        if Instant::now() >= deadline {
            return Err(Failure::unreachable(format!(
                "Gatehouse ({}) was started but its agent did not answer at {} within {} s",
                binary.display(),
                socket.display(),
                START_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(POLL_EVERY);
    }
}

fn has_display() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

fn find_binary() -> Result<PathBuf, Failure> {
    if let Some(path) = std::env::var_os("GATEHOUSE_DESKTOP_BIN").filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return if is_executable(&path) {
            Ok(path)
        } else {
            Err(Failure::unreachable(format!(
                "Gatehouse is not running and cannot be started: GATEHOUSE_DESKTOP_BIN names {}, \
                 which is not an executable file",
                path.display()
            )))
        };
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(BINARY)));
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(BINARY))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    beside
        .into_iter()
        .chain(std::iter::once(PathBuf::from("/usr/bin").join(BINARY)))
        .chain(on_path)
        .find(|p| is_executable(p))
        .ok_or_else(|| {
            Failure::unreachable(format!(
                "Gatehouse is not running and cannot be started: {BINARY} was not found next to \
                 this command, in /usr/bin or on PATH (set GATEHOUSE_DESKTOP_BIN to its path)"
            ))
        })
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
