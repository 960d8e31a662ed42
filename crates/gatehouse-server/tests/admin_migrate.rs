//! `gatehoused admin migrate` with the real binary, as the systemd unit runs it (ExecStartPre,
//! then the server): on an empty database it applies every migration and says so, a second run
//! applies nothing, the server then starts on that schema and answers; a schema newer than the
//! binary is refused with a non-zero exit. On SQLite always, on PostgreSQL when
//! GATEHOUSE_TEST_PG_URL is set (scripts/test.sh starts one).

// A test crate: its helpers may panic, a panic is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_gatehoused");
const APP: &str = "migrate-test";

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write_config(dir: &Path, port: u16, database_url: Option<&str>) -> PathBuf {
    let path = dir.join("gatehoused.toml");
    let database = database_url
        .map(|url| format!("database_url = \"{url}\"\n"))
        .unwrap_or_default();
    std::fs::write(
        &path,
        format!(
            r#"
listen = "127.0.0.1:{port}"
data_dir = "{dir}"
{database}
[passwords]
argon2_memory_kib = 256
argon2_iterations = 1
insecure_fast_hashing = true
[apps.{APP}]
providers = ["anon-user"]
"#,
            dir = dir.join("data").display()
        ),
    )
    .unwrap();
    path
}

fn admin_migrate(config: &Path) -> Output {
    Command::new(BIN)
        .arg("--config")
        .arg(config)
        .args(["admin", "migrate"])
        .env("GATEHOUSE_LOG", "warn")
        .output()
        .expect("gatehoused runs")
}

/// Runs `admin migrate`, which must succeed, and returns its (before, after) versions.
fn migrate_ok(config: &Path) -> (i64, i64) {
    let out = admin_migrate(config);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "admin migrate failed ({}): {stdout}{stderr}",
        out.status
    );
    let v: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("admin migrate printed no JSON ({e}): {stdout:?}"));
    let (before, after) = (v["before"].as_i64().unwrap(), v["after"].as_i64().unwrap());
    assert!(
        stderr.contains(&format!("version {before} -> {after}")),
        "stderr does not say what was done: {stderr}"
    );
    (before, after)
}

/// The versions recorded in the database itself: (count, max).
async fn recorded_versions(database_url: &str) -> (i64, i64) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(database_url).await.unwrap();
    let row: (i64, i64) =
        sqlx::query_as("SELECT COUNT(*), COALESCE(MAX(version), 0) FROM schema_migrations")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    row
}

async fn serve(config: &Path, port: u16) -> Daemon {
    let child = Command::new(BIN)
        .arg("--config")
        .arg(config)
        .arg("serve")
        .env("GATEHOUSE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("gatehoused starts");
    let daemon = Daemon(child);
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(r) = http.get(format!("{base}/health/ready")).send().await {
            if r.status() == 204 {
                return daemon;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("gatehoused did not become ready after admin migrate");
}

/// The whole sequence on one database: migrate, migrate again, serve and answer, refuse a newer
/// schema.
async fn migrate_then_serve(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let config = write_config(dir.path(), port, database_url);
    let url = database_url.map(str::to_owned).unwrap_or_else(|| {
        format!(
            "sqlite://{}",
            dir.path().join("data").join("gatehouse.db").display()
        )
    });

    let (before, latest) = migrate_ok(&config);
    assert_eq!(before, 0, "a fresh database starts at version 0");
    assert!(latest > 0, "no migration applied");
    assert_eq!(recorded_versions(&url).await, (latest, latest));

    // Idempotent: nothing left to apply, nothing applied twice.
    assert_eq!(migrate_ok(&config), (latest, latest));
    assert_eq!(recorded_versions(&url).await, (latest, latest));

    {
        let _daemon = serve(&config, port).await;
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let r = http
            .get(format!("{base}/api/client/v2.0/app/{APP}/location"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let location: Value = r.json().await.unwrap();
        assert_eq!(location["hostname"], Value::from(base.clone()));
        // A login writes users, identities and sessions: the tables are there.
        let r = http
            .post(format!(
                "{base}/api/client/v2.0/app/{APP}/auth/providers/anon-user/login"
            ))
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }
    // The server itself found nothing to apply either.
    assert_eq!(recorded_versions(&url).await, (latest, latest));

    // A schema from a newer gatehoused: refused, with the reason, and a failing exit code (the
    // unit then does not start the server).
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.unwrap();
    sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)")
        .bind(latest + 1)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let out = admin_migrate(&config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a newer schema was accepted");
    assert!(stderr.contains("newer than this gatehoused"), "{stderr}");
}

#[tokio::test]
async fn migrate_is_idempotent_and_the_server_starts_after_it_sqlite() {
    migrate_then_serve(None).await;
}

#[tokio::test]
async fn migrate_is_idempotent_and_the_server_starts_after_it_postgres() {
    let Ok(admin) = std::env::var("GATEHOUSE_TEST_PG_URL") else {
        println!("skipped: GATEHOUSE_TEST_PG_URL is not set (scripts/test.sh starts PostgreSQL)");
        return;
    };
    // A database of its own: migrations start from nothing.
    let name = format!(
        "gh_migrate_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let status = Command::new("psql")
        .args([
            admin.as_str(),
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            &format!("CREATE DATABASE {name}"),
        ])
        .status()
        .expect("psql runs (apt package postgresql-client)");
    assert!(status.success(), "CREATE DATABASE {name} failed");
    let (prefix, _) = admin.rsplit_once('/').expect("URL has a database path");
    migrate_then_serve(Some(&format!("{prefix}/{name}"))).await;
}
