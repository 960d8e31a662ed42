//! The official, unmodified `realm-web` 2.0.1 npm client against a real gatehoused: the script
//! in tests/realm-web/flow.cjs logs each step as a JSON line and exits non-zero on the first
//! failure.

use std::process::Stdio;

use crate::support::*;

const ACCESS_TTL_SECS: i64 = 2;

async fn run_flow(backend: Backend) {
    let t = TestServer::start_with(backend, |c| c.tokens.access_ttl_secs = ACCESS_TTL_SECS).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/realm-web/flow.cjs");
    let modules = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/realm-web/node_modules/realm-web"
    );
    assert!(
        std::path::Path::new(modules).exists(),
        "realm-web is not installed: run scripts/setup.sh (it runs npm ci in tests/realm-web)"
    );
    let output = tokio::process::Command::new("node")
        .arg(script)
        .env("GATEHOUSE_URL", &t.base)
        .env("GATEHOUSE_APP_ID", APP)
        .env("GATEHOUSE_OUTBOX", t.dir.path().join("outbox.jsonl"))
        .env("GATEHOUSE_ACCESS_TTL_SECS", ACCESS_TTL_SECS.to_string())
        .stdin(Stdio::null())
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let steps: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        output.status.success() && steps.last().is_some_and(|s| s["step"] == "done"),
        "realm-web flow failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(steps.iter().all(|s| s["ok"] == true));
    assert!(steps.len() >= 6, "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realm_web_works_unchanged_on_sqlite() {
    run_flow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realm_web_works_unchanged_on_postgres() {
    run_flow(Backend::Postgres).await;
}

/// Issue 15, item 1: two realm-web `App`s on one device, signed in as one user, both keep working
/// (tests/realm-web/one-device.cjs).
async fn two_apps_on_one_device(backend: Backend) {
    let t = TestServer::start(backend).await;
    let email = unique_email("one-device");
    t.register_and_confirm(APP, &email, PASSWORD).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/realm-web/one-device.cjs");
    let output = tokio::process::Command::new("node")
        .arg(script)
        .env("GATEHOUSE_URL", &t.base)
        .env("GATEHOUSE_APP_ID", APP)
        .env("GATEHOUSE_EMAIL", &email)
        .env("GATEHOUSE_PASSWORD", PASSWORD)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("\"ok\":true"),
        "two realm-web Apps on one device:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_realm_web_apps_on_one_device_keep_their_sessions_on_sqlite() {
    two_apps_on_one_device(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_realm_web_apps_on_one_device_keep_their_sessions_on_postgres() {
    two_apps_on_one_device(Backend::Postgres).await;
}
