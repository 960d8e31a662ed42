//! What the CLI tests share: a stand-in agent on a real Unix socket (a thread answering canned
//! v1 lines and recording the request lines it received) and a runner for the real binary.
//!
//! The stand-in only plays the app's part in these tests of the command's shape; the real app
//! is tested end to end in tests/e2e/desktop.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gatehouse_proto::agent::{
    AgentAccount, AgentError, AgentErrorCode, AgentResponse, AgentResult, AgentSecret, AgentToken,
};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");
/// A token-looking string that must appear only where a token is printed on purpose.
pub const TOKEN: &str =
    "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhZGEiLCJ0ZXN0Ijp0cnVlfQ.c2lnbmF0dXJlLWNsaQ";
pub const BASE_URL: &str = "https://auth.example.test";
pub const APP_ID: &str = "gatehouse-dev";

/// A private runtime directory (`XDG_RUNTIME_DIR`) for one test.
pub struct Runtime {
    pub dir: tempfile::TempDir,
}

impl Runtime {
    pub fn new() -> Runtime {
        Runtime {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("gatehouse").join("agent.sock")
    }

    /// Serve `answers` (one line each, in order, one per connection) on the socket now.
    pub fn serve(&self, answers: Vec<String>) -> Agent {
        let listener = bind(&self.socket());
        Agent::spawn(move || Some(listener), answers)
    }

    /// Serve once `marker` exists (the fake desktop binary wrote it), as a starting app does.
    pub fn serve_after(&self, marker: PathBuf, answers: Vec<String>) -> Agent {
        let socket = self.socket();
        Agent::spawn(
            move || {
                let deadline = Instant::now() + Duration::from_secs(20);
                while !marker.exists() {
                    if Instant::now() > deadline {
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Some(bind(&socket))
            },
            answers,
        )
    }

    /// The command with this runtime dir and no display; a desktop binary that does not exist.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("XDG_RUNTIME_DIR", self.dir.path())
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env(
                "GATEHOUSE_DESKTOP_BIN",
                self.dir.path().join("no-such-gatehouse-desktop"),
            );
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        run_with(self.command(args), "")
    }

    pub fn run_stdin(&self, args: &[&str], stdin: &str) -> Run {
        run_with(self.command(args), stdin)
    }
}

fn bind(socket: &Path) -> UnixListener {
    std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(socket.parent().unwrap())
        .unwrap();
    UnixListener::bind(socket).unwrap()
}

/// The stand-in agent: what it received, one JSON value per request line.
pub struct Agent {
    requests: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    fn spawn(
        listen: impl FnOnce() -> Option<UnixListener> + Send + 'static,
        answers: Vec<String>,
    ) -> Agent {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            let Some(listener) = listen() else { return };
            for answer in answers {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                let mut line = String::new();
                let mut reader = BufReader::new(&stream);
                let _ = reader.read_line(&mut line);
                seen.lock().unwrap().push(line);
                let mut writer = &stream;
                let _ = writer.write_all(answer.as_bytes());
            }
        });
        Agent { requests }
    }

    /// The request lines received, parsed (each must be one JSON line ending in a newline).
    pub fn requests(&self) -> Vec<Value> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .map(|line| {
                assert!(
                    line.ends_with('\n'),
                    "request not newline-terminated: {line:?}"
                );
                assert_eq!(line.matches('\n').count(), 1, "one line: {line:?}");
                serde_json::from_str(line).unwrap()
            })
            .collect()
    }

    /// The one request received.
    pub fn request(&self) -> Value {
        let mut all = self.requests();
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run the binary to completion (60 s at most). Every run checks that no token reached stderr.
pub fn run_with(mut cmd: Command, stdin: &str) -> Run {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_owned();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(stdin.as_bytes());
    });
    let output = wait_output(child, Duration::from_secs(60));
    feeder.join().unwrap();
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    };
    assert!(
        !run.stderr.contains(TOKEN),
        "a token on stderr: {}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("c2lnbmF0dXJl"),
        "a token part on stderr: {}",
        run.stderr
    );
    run
}

fn wait_output(child: std::process::Child, limit: Duration) -> std::process::Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("gatehouse did not finish within {limit:?}");
        }
    }
}

pub fn account(name: &str, email: &str, id: &str, active: bool) -> AgentAccount {
    AgentAccount {
        connection: "conn-work".into(),
        connection_name: "Work".into(),
        id: id.into(),
        display_name: name.into(),
        email: Some(email.into()),
        provider: Some("local-userpass".into()),
        state: if active { "active" } else { "logged_in" }.into(),
        active,
        reauth_at: Some(1_900_000_000),
    }
}

pub fn ada() -> AgentAccount {
    account("Ada Lovelace", "ada@example.test", "65f0aa01", true)
}

/// A v1 answer line.
pub fn ok(result: AgentResult) -> String {
    serde_json::to_string(&AgentResponse::ok(result)).unwrap() + "\n"
}

pub fn err(code: AgentErrorCode, message: &str) -> String {
    serde_json::to_string(&AgentResponse::error(AgentError::new(code, message))).unwrap() + "\n"
}

pub fn token_answer() -> String {
    ok(AgentResult::Token(AgentToken {
        access_token: AgentSecret(TOKEN.into()),
        expires_at: Some(1_900_000_000),
        base_url: BASE_URL.into(),
        app_id: APP_ID.into(),
        account: ada(),
    }))
}
