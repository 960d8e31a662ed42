//! The local agent: a Unix socket through which other programs of the same user (the
//! `gatehouse` command, git's credential helper) ask the running app for access tokens and
//! account actions. One JSON line each way per connection (`gatehouse_proto::agent`). Only the
//! same uid is served (peer credentials); tokens go out only with the person's consent
//! (`consent.rs`, `grants.rs`); refresh tokens and API-key secrets never leave the app.
//!
//! `mod.rs` owns the socket and each connection's exchange; `peer.rs` says who is asking,
//! `select.rs` which account a request means, `dispatch.rs` what the app does.

mod dispatch;
mod peer;
mod select;

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use gatehouse_proto::agent::{
    AgentError, AgentErrorCode, AgentRequest, AgentResponse, AGENT_PROTOCOL_VERSION, MAX_LINE,
    SOCKET_DIR, SOCKET_FILE,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::OwnedReadHalf;
use tokio::net::{UnixListener, UnixStream};

use crate::desktop::Desktop;
use crate::sync::lock;

pub use peer::our_uid;

/// How long a client has to send its request line.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// `$XDG_RUNTIME_DIR/gatehouse/agent.sock`, else `/tmp/gatehouse-<uid>/agent.sock` (the CLI
/// looks in the same place). `None` only when our own uid cannot be read.
pub fn default_socket_path() -> Option<PathBuf> {
    let dir = match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(runtime) => PathBuf::from(runtime).join(SOCKET_DIR),
        None => PathBuf::from(format!("/tmp/gatehouse-{}", our_uid().ok()?)),
    };
    Some(dir.join(SOCKET_FILE))
}

/// The listening agent: stopped by [`stop`] (or when the app exits).
pub(crate) struct Running {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

/// Starts listening at `path`. Problems (an unsafe directory, another instance already
/// answering, a bind failure) are logged and leave the app without an agent.
/// Synchronous (binding a local socket does not wait on anything), which also keeps the
/// agent's tasks out of `Desktop::ready`'s future type.
pub(crate) fn start(desktop: &Arc<Desktop>, path: &Path) {
    let open = desktop.agent_dir_open_for_tests.load(Ordering::Relaxed);
    match listen(path, open) {
        Ok(listener) => {
            tracing::info!(socket = %path.display(), "agent listening");
            let task = tokio::spawn(accept_loop(listener, Arc::downgrade(desktop)));
            *lock(&desktop.agent) = Some(Running {
                path: path.into(),
                task,
            });
        }
        Err(e) => tracing::warn!(socket = %path.display(), "the agent did not start: {e}"),
    }
}

/// Stops accepting and removes the socket file (connections being answered finish).
pub(crate) fn stop(desktop: &Desktop) {
    if let Some(running) = lock(&desktop.agent).take() {
        running.task.abort();
        let _ = std::fs::remove_file(&running.path);
    }
}

/// The socket's directory made (0700) or checked (ours, no access for others), a stale socket
/// replaced, and the socket bound with mode 0600.
fn listen(path: &Path, open_for_tests: bool) -> std::io::Result<UnixListener> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("the socket path has no directory"))?;
    prepare_dir(dir, open_for_tests)?;
    if std::fs::symlink_metadata(path).is_ok() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::other(
                "another Gatehouse app is already answering on this socket",
            ));
        }
        // Left by an app that did not exit cleanly.
        std::fs::remove_file(path)?;
    }
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    let mode = if open_for_tests { 0o777 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    listener.set_nonblocking(true)?;
    UnixListener::from_std(listener)
}

fn prepare_dir(dir: &Path, open_for_tests: bool) -> std::io::Result<()> {
    if std::fs::symlink_metadata(dir).is_err() {
        std::fs::DirBuilder::new().mode(0o700).create(dir)?;
    }
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() {
        return Err(std::io::Error::other(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    if meta.uid() != our_uid()? {
        return Err(std::io::Error::other(format!(
            "{} belongs to another user; refusing to put the agent's socket there",
            dir.display()
        )));
    }
    if open_for_tests {
        return std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(std::io::Error::other(format!(
            "{} can be entered by other users (mode {:o}); make it 0700 or remove it",
            dir.display(),
            meta.mode() & 0o777
        )));
    }
    Ok(())
}

async fn accept_loop(listener: UnixListener, desktop: Weak<Desktop>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("agent accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(desktop) = desktop.upgrade() else {
            return;
        };
        tokio::spawn(async move {
            if let Err(e) = serve(desktop, stream).await {
                tracing::debug!("agent connection ended early: {e}");
            }
        });
    }
}

/// The other side went away: its end of the socket closed (clients keep their write side open
/// until they have read the answer).
pub(crate) struct Gone<'a>(&'a mut BufReader<OwnedReadHalf>);

impl Gone<'_> {
    pub async fn wait(&mut self) {
        let mut buf = [0u8; 256];
        loop {
            match self.0.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }
}

/// One connection: peer check, one request line, one answer, close.
async fn serve(desktop: Arc<Desktop>, stream: UnixStream) -> std::io::Result<()> {
    let cred = stream.peer_cred()?;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    if cred.uid() != our_uid()? {
        tracing::warn!(
            uid = cred.uid(),
            "agent: refused a connection from another user"
        );
        let answer = AgentError::new(
            AgentErrorCode::Forbidden,
            "The Gatehouse agent answers only its own user",
        );
        reply(&mut write, AgentResponse::error(answer)).await?;
        drain(&mut reader).await;
        return Ok(());
    }
    let answer = match tokio::time::timeout(REQUEST_TIMEOUT, read_line(&mut reader)).await {
        Err(_) => AgentResponse::error(AgentError::new(
            AgentErrorCode::BadRequest,
            "No request arrived within 10 seconds",
        )),
        Ok(Err(e)) => AgentResponse::error(e),
        Ok(Ok(line)) => match parse(&line) {
            Err(e) => AgentResponse::error(e),
            Ok(request) => {
                let program = cred.pid().and_then(|pid| peer::program(pid as u32));
                let mut gone = Gone(&mut reader);
                let name = dispatch::command_name(&request.command);
                let answer =
                    dispatch::dispatch(&desktop, request.command, program.as_ref(), &mut gone)
                        .await;
                let code = match &answer {
                    Ok(_) => "ok",
                    Err(e) => e.code.as_str(),
                };
                let exe = program.as_ref().map(|p| p.exe.as_str()).unwrap_or("?");
                tracing::info!(
                    command = name,
                    program = exe,
                    outcome = code,
                    "agent request"
                );
                match answer {
                    Ok(result) => AgentResponse::ok(result),
                    Err(e) => AgentResponse::error(e),
                }
            }
        },
    };
    reply(&mut write, answer).await?;
    drain(&mut reader).await;
    Ok(())
}

/// Reads (and drops) what the client still sends until it closes, a little while at most:
/// closing a Unix socket with unread input resets it, and the client would lose the answer.
async fn drain(reader: &mut BufReader<OwnedReadHalf>) {
    let mut buf = [0u8; 4096];
    let mut left = 4 * MAX_LINE;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while let Ok(n @ 1..) = reader.read(&mut buf).await {
            left = left.saturating_sub(n);
            if left == 0 {
                return;
            }
        }
    })
    .await;
}

async fn reply(
    write: &mut tokio::net::unix::OwnedWriteHalf,
    answer: AgentResponse,
) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(&answer).map_err(std::io::Error::other)?;
    line.push(b'\n');
    write.write_all(&line).await?;
    write.shutdown().await
}

/// One line, at most [`MAX_LINE`] bytes with its newline.
async fn read_line(reader: &mut BufReader<OwnedReadHalf>) -> Result<Vec<u8>, AgentError> {
    let mut line = Vec::new();
    let bad = |m: &str| AgentError::new(AgentErrorCode::BadRequest, m);
    (&mut *reader)
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut line)
        .await
        .map_err(|_| bad("The request could not be read"))?;
    if line.last() != Some(&b'\n') {
        return Err(if line.len() >= MAX_LINE {
            bad("The request line is too long")
        } else {
            bad("The request must end with a newline")
        });
    }
    Ok(line)
}

/// The version first (so an older or newer client learns which side to update), then the rest.
fn parse(line: &[u8]) -> Result<AgentRequest, AgentError> {
    let bad = |m: String| AgentError::new(AgentErrorCode::BadRequest, m);
    let value: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| bad(format!("The request is not JSON: {e}")))?;
    let version = value
        .get("version")
        .ok_or_else(|| bad("The request has no version".into()))?;
    if version.as_u64() != Some(u64::from(AGENT_PROTOCOL_VERSION)) {
        return Err(AgentError::new(
            AgentErrorCode::VersionMismatch,
            format!(
                "This Gatehouse app speaks agent protocol version {AGENT_PROTOCOL_VERSION}; the \
                 request used version {version}. Update the older of the app and the command."
            ),
        ));
    }
    serde_json::from_value(value).map_err(|e| bad(format!("The request is not understood: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_before_the_rest() {
        let code = |l: &str| parse(l.as_bytes()).unwrap_err().code;
        assert_eq!(
            code(r#"{"version":0,"command":"status"}"#),
            AgentErrorCode::VersionMismatch
        );
        assert_eq!(
            code(r#"{"version":2,"command":"nope"}"#),
            AgentErrorCode::VersionMismatch
        );
        assert_eq!(code(r#"{"command":"status"}"#), AgentErrorCode::BadRequest);
        assert_eq!(
            code(r#"{"version":1,"command":"nope"}"#),
            AgentErrorCode::BadRequest
        );
        assert_eq!(code("garbage"), AgentErrorCode::BadRequest);
        assert!(parse(br#"{"version":1,"command":"status"}"#).is_ok());
    }

    #[test]
    fn unsafe_directories_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(prepare_dir(&open, false)
            .unwrap_err()
            .to_string()
            .contains("other users"));
        let fresh = dir.path().join("fresh");
        prepare_dir(&fresh, false).unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}
