//! PostgreSQL going away (security.md RT-4): auth endpoints answer 503 with Retry-After — never
//! 401, which would make clients throw their tokens away — readiness turns 503 while liveness
//! stays up, and service returns without restarting gatehoused once the database is back.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::Method;

use crate::support::*;

/// A private PostgreSQL cluster this test may stop and start (the shared one must stay up).
struct Cluster {
    root: tempfile::TempDir,
    port: u16,
}

impl Cluster {
    fn start() -> Cluster {
        let root = tempfile::Builder::new()
            .prefix("gh-outage")
            .tempdir_in("/tmp")
            .unwrap();
        Command::new("chmod")
            .args(["755"])
            .arg(root.path())
            .status()
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let up = Command::new(script("pg-up.sh"))
            .arg(root.path().join("pg"))
            .arg(port.to_string())
            .output()
            .unwrap();
        assert!(
            up.status.success(),
            "pg-up.sh failed: {}",
            String::from_utf8_lossy(&up.stderr)
        );
        Cluster { root, port }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data = self.root.path().join("pg/data");
        let status = Command::new("runuser")
            .args(["-u", "postgres", "--", &pg_bin("pg_ctl"), "-D"])
            .arg(&data)
            .args(args)
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl {args:?} failed");
    }

    /// A clean stop: the throwaway cluster runs with synchronous_commit=off, so an immediate
    /// (crash) stop could drop its own last commits and blur what this test checks.
    fn stop(&self) {
        self.pg_ctl(&["-m", "fast", "-w", "stop"]);
    }

    fn resume(&self) {
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off",
            self.port,
            self.root.path().join("pg").display()
        );
        let log = self.root.path().join("pg/server.log");
        self.pg_ctl(&[
            "-l",
            log.to_str().unwrap(),
            "-w",
            "-t",
            "30",
            "-o",
            &opts,
            "start",
        ]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(script("pg-down.sh"))
            .arg(self.root.path().join("pg"))
            .status();
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(name)
}

fn pg_bin(tool: &str) -> String {
    let mut dirs: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server installed")
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs.last()
        .unwrap()
        .join("bin")
        .join(tool)
        .display()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_answers_503_and_recovers_without_restart() {
    let cluster = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let url = cluster.url();
    let server = gatehouse_server::Server::start(test_config(dir.path(), &url))
        .await
        .unwrap();
    let t = TestServer {
        base: server.url(),
        server: Some(server),
        http: reqwest::Client::new(),
        dir,
        database_url: url,
    };
    let user = t.anonymous().await;

    cluster.stop();
    let live = t
        .call(Method::GET, &format!("{}/health/live", t.base), None, None)
        .await;
    assert_eq!(live.status, 204);
    let ready = t
        .call(Method::GET, &format!("{}/health/ready", t.base), None, None)
        .await;
    assert_eq!(ready.status, 503);
    let refresh = t
        .call(
            Method::POST,
            &t.api("/auth/session"),
            Some(&user.refresh),
            None,
        )
        .await;
    assert!(refresh.headers.contains_key("retry-after"));
    refresh.err(503, "ServiceUnavailable");
    t.call(
        Method::GET,
        &t.api("/auth/profile"),
        Some(&user.access),
        None,
    )
    .await
    .err(503, "ServiceUnavailable");

    cluster.resume();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = t
            .call(
                Method::POST,
                &t.api("/auth/session"),
                Some(&user.refresh),
                None,
            )
            .await;
        if r.status == 201 {
            break;
        }
        assert_ne!(
            r.status, 401,
            "an outage must never look like a dead session"
        );
        assert!(
            Instant::now() < deadline,
            "no recovery after the database came back: {}",
            r.json
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    t.call(
        Method::GET,
        &t.api("/auth/profile"),
        Some(&user.access),
        None,
    )
    .await
    .ok();
}
