//! Restart safety with the real binary (security.md RT-1, RT-10): `kill -9` during a burst of
//! registrations, logins (anonymous ones group-committed) and logouts; after a restart every
//! acknowledged registration can log in, every acknowledged anonymous session refreshes, every
//! acknowledged logout is still in force, and the database passes its integrity check.
//! Also: SIGTERM shuts down cleanly with exit code 0.

// A test crate: its helpers may panic, a panic is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_gatehoused");
const APP: &str = "crash";
const PASSWORD: &str = "correct horse battery staple";

struct Daemon {
    child: Child,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_config(dir: &Path, port: u16) -> PathBuf {
    let path = dir.join("gatehoused.toml");
    std::fs::write(
        &path,
        format!(
            r#"
listen = "127.0.0.1:{port}"
data_dir = "{dir}"
[passwords]
argon2_memory_kib = 256
argon2_iterations = 1
insecure_fast_hashing = true
[rate_limits]
enabled = false
[apps.{APP}]
providers = ["anon-user", "local-userpass", "api-key"]
[apps.{APP}.userpass]
auto_confirm = true
"#,
            dir = dir.display()
        ),
    )
    .unwrap();
    path
}

async fn start(config: &Path, base: &str) -> Daemon {
    let child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .env("GATEHOUSE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("gatehoused starts");
    let daemon = Daemon { child };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(r) = http.get(format!("{base}/health/ready")).send().await {
            if r.status() == 204 {
                return daemon;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("gatehoused did not become ready");
}

#[derive(Default)]
struct Acked {
    registered: Vec<String>,
    logged_out: Vec<String>,
    /// Refresh tokens of acknowledged anonymous logins (group-committed on SQLite).
    anonymous: Vec<String>,
}

async fn login(
    http: &reqwest::Client,
    base: &str,
    email: &str,
) -> reqwest::Result<reqwest::Response> {
    http.post(format!(
        "{base}/api/client/v2.0/app/{APP}/auth/providers/local-userpass/login"
    ))
    .json(&json!({"username": email, "password": PASSWORD}))
    .send()
    .await
}

/// One client: register, log in, log out, in a loop; records only what the server acknowledged.
async fn worker(id: usize, base: String, acked: Arc<Mutex<Acked>>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for n in 0.. {
        let email = format!("w{id}-{n}-{}@example.test", std::process::id());
        let Ok(r) = http
            .post(format!(
                "{base}/api/client/v2.0/app/{APP}/auth/providers/local-userpass/register"
            ))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
        else {
            return;
        };
        if r.status() != 204 {
            return;
        }
        acked.lock().unwrap().registered.push(email.clone());
        // An anonymous login: batched with the other workers' into one commit.
        let Ok(r) = http
            .post(format!(
                "{base}/api/client/v2.0/app/{APP}/auth/providers/anon-user/login"
            ))
            .json(&json!({}))
            .send()
            .await
        else {
            return;
        };
        if r.status() == 200 {
            let Ok(body) = r.json::<Value>().await else {
                return;
            };
            if let Some(refresh) = body["refresh_token"].as_str() {
                acked.lock().unwrap().anonymous.push(refresh.to_string());
            }
        }
        let Ok(r) = login(&http, &base, &email).await else {
            return;
        };
        let Ok(body) = r.json::<Value>().await else {
            return;
        };
        let Some(refresh) = body["refresh_token"].as_str().map(str::to_string) else {
            return;
        };
        if n % 2 == 0 {
            let Ok(r) = http
                .delete(format!("{base}/api/client/v2.0/auth/session"))
                .bearer_auth(&refresh)
                .send()
                .await
            else {
                return;
            };
            if r.status() == 204 {
                acked.lock().unwrap().logged_out.push(refresh);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_writes_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port);
    let base = format!("http://127.0.0.1:{port}");
    let acked = Arc::new(Mutex::new(Acked::default()));
    // Seeded kill moments, so a failure can be replayed.
    let kill_after_ms = [150u64, 420, 90, 700, 260, 530, 333, 610];
    for (round, wait) in kill_after_ms.iter().enumerate() {
        let mut daemon = start(&config, &base).await;
        let workers: Vec<_> = (0..8)
            .map(|i| tokio::spawn(worker(round * 100 + i, base.clone(), acked.clone())))
            .collect();
        tokio::time::sleep(Duration::from_millis(*wait)).await;
        daemon.child.kill().unwrap(); // SIGKILL
        daemon.child.wait().unwrap();
        for w in workers {
            let _ = w.await;
        }
    }
    let acked = Arc::try_unwrap(acked).ok().unwrap().into_inner().unwrap();
    assert!(
        acked.registered.len() >= 20,
        "the burst did real work: {}",
        acked.registered.len()
    );

    let check = Command::new(BIN)
        .args(["--config"])
        .arg(&config)
        .args(["admin", "check"])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&check.stdout).trim(), "ok");

    let _daemon = start(&config, &base).await;
    let http = reqwest::Client::new();
    for email in &acked.registered {
        let r = login(&http, &base, email).await.unwrap();
        assert_eq!(
            r.status(),
            200,
            "acknowledged registration of {email} was lost"
        );
    }
    for refresh in &acked.logged_out {
        let r = http
            .post(format!("{base}/api/client/v2.0/auth/session"))
            .bearer_auth(refresh)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "an acknowledged logout came back to life");
    }
    for refresh in &acked.anonymous {
        let r = http
            .post(format!("{base}/api/client/v2.0/auth/session"))
            .bearer_auth(refresh)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "an acknowledged anonymous login was lost");
    }
    assert!(
        !acked.anonymous.is_empty(),
        "anonymous logins were answered"
    );
    eprintln!(
        "survived {} kills: {} registrations, {} anonymous logins and {} logouts acknowledged, \
         all intact",
        kill_after_ms.len(),
        acked.registered.len(),
        acked.anonymous.len(),
        acked.logged_out.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port);
    let base = format!("http://127.0.0.1:{port}");
    let mut daemon = start(&config, &base).await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!(
            "{base}/api/client/v2.0/app/{APP}/auth/providers/anon-user/login"
        ))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let status = Command::new("kill")
        .args(["-TERM", &daemon.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = daemon.child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "gatehoused ignored SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "{exit:?}");
    // The WAL was checkpointed into the main file at shutdown.
    let wal = dir.path().join("gatehouse.db-wal");
    assert!(
        !wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0,
        "WAL left behind"
    );
}

#[test]
fn help_documents_every_setting() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--config",
        "--listen",
        "--database-url",
        "--data-dir",
        "--public-url",
        "--dev",
        "GATEHOUSE_DATABASE_URL",
        "admin",
    ] {
        assert!(
            text.contains(flag),
            "--help does not mention {flag}:\n{text}"
        );
    }
    let bad = Command::new(BIN)
        .args(["--database-url", "mysql://x", "admin", "check"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("sqlite:// or postgres://"));
}
