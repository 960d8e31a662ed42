//! The local agent's figures (issue 16), printed and never asserted:
//!
//!   scripts/bench-cli.sh
//!
//! A real `Desktop`, headless (no window: the Local backend in-process, memory-only secrets, the
//! agent's socket in a temp dir), whose shell answers every consent prompt "always". Prints:
//! the agent's round trip alone (a raw Unix-socket client, one `token` request per
//! connection); `gatehouse token` as a whole process with a valid cached token; and
//! `gatehouse token --connection …` when the access token is stale and must be refreshed, against
//! a second in-process gatehoused configured like Local except for a 1-second token lifetime.

// A measurement harness: a failed step should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatehouse_desktop::{Desktop, Options, Secrets, Shell, UiEvent};
use gatehouse_server::config::DEV_APP_ID;
use gatehouse_server::{Config, Server};
use serde_json::{json, Value};
use tokio::sync::mpsc;

const ROUND_TRIPS: usize = 1_000;
const CLI_RUNS: usize = 50;
const REFRESH_RUNS: usize = 30;
/// Longer than the remote server's 1-second access-token lifetime: every run finds it stale.
const STALE_AFTER: Duration = Duration::from_millis(1_100);

/// Forwards each consent prompt's id to a task that answers "always"; opens no browser.
struct AlwaysAllow(mpsc::UnboundedSender<String>);

impl Shell for AlwaysAllow {
    fn emit(&self, event: UiEvent) {
        if let UiEvent::ConsentRequested { prompt } = event {
            let _ = self.0.send(prompt.id);
        }
    }
    fn open_browser(&self, _url: &str) -> Result<(), String> {
        Err("the benchmark opens no browser".into())
    }
}

/// One exchange over a plain blocking Unix socket, as the CLI does it: the line, then the
/// answer until the agent closes (our write side stays open until then).
fn ask(socket: &Path, request: &Value) -> Value {
    let mut s = UnixStream::connect(socket).unwrap();
    s.write_all(format!("{request}\n").as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    serde_json::from_str(&out).unwrap()
}

/// Like `ask`, on a blocking thread (the agent shares this process's runtime).
async fn ask_async(socket: &Path, request: Value) -> Value {
    let socket = socket.to_path_buf();
    tokio::task::spawn_blocking(move || ask(&socket, &request))
        .await
        .unwrap()
}

fn ok(answer: &Value) -> &Value {
    answer.get("ok").unwrap_or_else(|| {
        // Error answers carry no token: safe to show.
        panic!("the agent refused: {answer}")
    })
}

/// `target/<profile>/gatehouse` beside this bench (`target/<profile>/deps/agent-…`), or
/// `$GATEHOUSE_CLI_BIN`.
fn cli_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("GATEHOUSE_CLI_BIN").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("gatehouse");
    assert!(
        bin.is_file(),
        "{} is missing: build it in the same profile first (scripts/bench-cli.sh does: cargo \
         build --release --locked -p gatehouse-cli), or set GATEHOUSE_CLI_BIN",
        bin.display()
    );
    bin
}

/// One `gatehouse ARGS` run, spawn to exit, stdout captured: (wall time, the token printed).
/// No display in its environment, so it can never start an app of its own.
fn run_cli(cli: &Path, runtime_dir: &Path, args: &[&str]) -> (Duration, String) {
    let started = Instant::now();
    let out = Command::new(cli)
        .args(args)
        .env("XDG_RUNTIME_DIR", runtime_dir)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    assert!(
        out.status.success(),
        "gatehouse {}: {} {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("eyJ"), "gatehouse token printed a JWT");
    (elapsed, token)
}

async fn run_cli_async(cli: &Path, runtime_dir: &Path, args: &[&str]) -> (Duration, String) {
    let (cli, dir) = (cli.to_path_buf(), runtime_dir.to_path_buf());
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_cli(&cli, &dir, &args)
    })
    .await
    .unwrap()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

/// The value at percentile `p` (0..=100) of `sorted`, nearest rank.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted(mut v: Vec<Duration>) -> Vec<Duration> {
    v.sort();
    v
}

/// Another gatehoused in this process: the Local backend's settings (dev defaults, one hash at
/// a time) except that access tokens live one second.
async fn short_lived_server(data_dir: &Path) -> Server {
    let mut config = Config {
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    config.apply_dev_defaults();
    config.passwords.max_concurrent_hashes = 1;
    config.passwords.reuse_hash_memory = false;
    config.tokens.access_ttl_secs = 1;
    config.validate().unwrap();
    std::fs::create_dir_all(data_dir).unwrap();
    Server::start(config).await.unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let profile = if cfg!(debug_assertions) {
        "debug assertions on (not a release build: figures are pessimistic)"
    } else {
        "optimised"
    };
    println!("gatehouse agent benchmark ({profile})");
    let cli = cli_binary();
    let dir = tempfile::tempdir().unwrap();
    let runtime_dir = dir.path().join("run");
    std::fs::create_dir(&runtime_dir).unwrap();
    let socket = runtime_dir.join("gatehouse").join("agent.sock");

    let (tx, mut rx) = mpsc::unbounded_channel();
    let desktop = Arc::new(Desktop::new(
        Options {
            data_dir: dir.path().join("data"),
            secrets: Secrets::MemoryOnly,
            start_local: true,
            agent_socket: Some(socket.clone()),
        },
        Arc::new(AlwaysAllow(tx)),
    ));
    desktop.ready().await;
    assert!(socket.exists(), "the agent listens at {}", socket.display());
    let answering = desktop.clone();
    let answerer = tokio::spawn(async move {
        while let Some(id) = rx.recv().await {
            answering.answer_consent(&id, "always").await.unwrap();
        }
    });

    let login = json!({"version": 1, "command": "login", "provider": "anon-user"});
    let signed = ask_async(&socket, login).await;
    assert_eq!(ok(&signed)["kind"], "account");

    // 1. The agent's round trip alone: connect, one `token` line, the answer, close.
    let token = json!({"version": 1, "command": "token"});
    let (trips, wall) = {
        let socket = socket.clone();
        tokio::task::spawn_blocking(move || {
            // Warm-up; the first request is the one that meets the consent prompt.
            for _ in 0..100 {
                assert_eq!(ok(&ask(&socket, &token))["kind"], "token");
            }
            let started = Instant::now();
            let trips: Vec<Duration> = (0..ROUND_TRIPS)
                .map(|_| {
                    let t = Instant::now();
                    let answer = ask(&socket, &token);
                    let d = t.elapsed();
                    assert!(answer.get("ok").is_some(), "a token every time");
                    d
                })
                .collect();
            (trips, started.elapsed())
        })
        .await
        .unwrap()
    };
    let trips = sorted(trips);
    println!(
        "agent round trip (token)   median {:>7.3} ms   p99 {:>7.3} ms   {:>6.0}/s   \
         ({ROUND_TRIPS} one-request connections, raw socket client)   target < 1 ms",
        ms(percentile(&trips, 50.0)),
        ms(percentile(&trips, 99.0)),
        ROUND_TRIPS as f64 / wall.as_secs_f64()
    );

    // 2. `gatehouse token`, whole process, valid cached token.
    for _ in 0..5 {
        run_cli_async(&cli, &runtime_dir, &["token"]).await;
    }
    let mut runs = Vec::new();
    let mut distinct = std::collections::HashSet::new();
    for _ in 0..CLI_RUNS {
        let (d, t) = run_cli_async(&cli, &runtime_dir, &["token"]).await;
        runs.push(d);
        distinct.insert(t);
    }
    let runs = sorted(runs);
    println!(
        "gatehouse token (cached)   median {:>7.2} ms   p90 {:>7.2} ms   ({CLI_RUNS} runs, spawn \
         to exit, {} distinct token(s); {})   target < 20 ms",
        ms(percentile(&runs, 50.0)),
        ms(percentile(&runs, 90.0)),
        distinct.len(),
        cli.display()
    );

    // 3. A refresh needed on every run.
    let server = short_lived_server(&dir.path().join("remote-server")).await;
    let name = "Short-lived tokens";
    let conn = desktop
        .add_connection(name, &server.url(), DEV_APP_ID)
        .await
        .unwrap();
    assert_eq!(conn.name, name);
    let login = json!({"version": 1, "command": "login", "provider": "anon-user",
                       "connection": name});
    assert_eq!(ok(&ask_async(&socket, login).await)["kind"], "account");
    let args = ["token", "--connection", name];
    let (_, mut last) = run_cli_async(&cli, &runtime_dir, &args).await;
    let mut runs = Vec::new();
    let mut fresh = 0;
    for _ in 0..REFRESH_RUNS {
        tokio::time::sleep(STALE_AFTER).await;
        let (d, t) = run_cli_async(&cli, &runtime_dir, &args).await;
        runs.push(d);
        if t != last {
            fresh += 1;
        }
        last = t;
    }
    let runs = sorted(runs);
    println!(
        "gatehouse token (refresh)  median {:>7.2} ms   p90 {:>7.2} ms   ({REFRESH_RUNS} runs, \
         each {} ms after the last; {fresh}/{REFRESH_RUNS} got a new token)   target < 150 ms",
        ms(percentile(&runs, 50.0)),
        ms(percentile(&runs, 90.0)),
        STALE_AFTER.as_millis()
    );
    println!(
        "  (refresh server: a second in-process gatehoused configured like Local — dev \
         defaults, SQLite, one hash at a time — except tokens.access_ttl_secs = 1)"
    );

    answerer.abort();
    desktop.shutdown().await;
    server.shutdown().await;
}
