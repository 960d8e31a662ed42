//! Where the agent's socket is, and connecting to it.
//!
//! `$XDG_RUNTIME_DIR/gatehouse/agent.sock`; without `XDG_RUNTIME_DIR`,
//! `/tmp/gatehouse-<uid>/agent.sock`. The directory must be ours and closed to others before we
//! connect: in /tmp anyone could have created it first, and a stranger's socket there would
//! receive the passwords `login` sends and could hand us tokens of its choosing.

use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use gatehouse_proto::agent::{SOCKET_DIR, SOCKET_FILE};

use crate::error::Failure;

/// How long a connect may take (a Unix connect only blocks when the app's backlog is full,
/// i.e. the app is stuck).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The socket path, from the environment.
pub fn path() -> Result<PathBuf, Failure> {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir).join(SOCKET_DIR).join(SOCKET_FILE)),
        None => {
            let uid = uid().map_err(|e| Failure::other(format!("cannot read our user id: {e}")))?;
            Ok(PathBuf::from(format!("/tmp/gatehouse-{uid}")).join(SOCKET_FILE))
        }
    }
}

/// Our (effective) uid without libc: the owner of `/proc/self`.
fn uid() -> io::Result<u32> {
    Ok(std::fs::metadata("/proc/self")?.uid())
}

/// Why connecting failed.
pub enum ConnectError {
    /// Nothing listens there (no socket file, or a stale one): the app is not running.
    NotRunning,
    /// Anything else: said to the person as is.
    Failed(Failure),
}

/// Connect to the agent, refusing a directory that is not private to us.
pub fn connect(socket: &Path) -> Result<UnixStream, ConnectError> {
    if let Some(dir) = socket.parent() {
        check_private(dir)?;
    }
    let (tx, rx) = mpsc::channel();
    let target = socket.to_path_buf();
    // std has no connect timeout for Unix sockets: connect on a thread and stop waiting after
    // CONNECT_TIMEOUT (the thread then ends with the process).
    std::thread::spawn(move || {
        let _ = tx.send(UnixStream::connect(target));
    });
    match rx.recv_timeout(CONNECT_TIMEOUT) {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e))
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
            ) =>
        {
            Err(ConnectError::NotRunning)
        }
        Ok(Err(e)) => Err(ConnectError::Failed(Failure::unreachable(format!(
            "cannot connect to the Gatehouse agent at {}: {e}",
            socket.display()
        )))),
        Err(_) => Err(ConnectError::Failed(Failure::unreachable(format!(
            "the Gatehouse agent at {} did not accept the connection within {} s",
            socket.display(),
            CONNECT_TIMEOUT.as_secs()
        )))),
    }
}

/// A missing directory is fine (the app is not running); one that exists must be a real
/// directory owned by us with no access for group or others.
fn check_private(dir: &Path) -> Result<(), ConnectError> {
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(ConnectError::NotRunning),
        Err(e) => {
            return Err(ConnectError::Failed(Failure::unreachable(format!(
                "cannot read {}: {e}",
                dir.display()
            ))))
        }
    };
    let uid = uid().map_err(|e| {
        ConnectError::Failed(Failure::other(format!("cannot read our user id: {e}")))
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if !meta.is_dir() || meta.uid() != uid || mode & 0o077 != 0 {
        return Err(ConnectError::Failed(Failure::unreachable(format!(
            "refusing to use the agent socket in {}: it must be a directory owned by you that \
             only you can open (mode 0700); it is not, so someone else may have made it",
            dir.display()
        ))));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed_message(r: Result<UnixStream, ConnectError>) -> String {
        match r {
            Err(ConnectError::Failed(f)) => f.message,
            Err(ConnectError::NotRunning) => "not running".into(),
            Ok(_) => "connected".into(),
        }
    }

    #[test]
    fn a_missing_directory_or_socket_means_not_running() {
        let tmp = tempfile::tempdir().unwrap();
        let gone = tmp.path().join("nope").join(SOCKET_FILE);
        assert_eq!(failed_message(connect(&gone)), "not running");
        let dir = tmp.path().join("gatehouse");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(
            failed_message(connect(&dir.join(SOCKET_FILE))),
            "not running"
        );
        // A stale socket file of a dead app: connection refused, also "not running".
        let stale = dir.join(SOCKET_FILE);
        drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
        assert!(stale.exists());
        assert_eq!(failed_message(connect(&stale)), "not running");
    }

    #[test]
    fn a_directory_others_can_open_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("gatehouse");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let socket = dir.join(SOCKET_FILE);
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        assert!(failed_message(connect(&socket)).contains("refusing to use"));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(failed_message(connect(&socket)), "connected");
    }

    #[test]
    fn a_symlinked_directory_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o700)).unwrap();
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(failed_message(connect(&link.join(SOCKET_FILE))).contains("refusing to use"));
    }
}
