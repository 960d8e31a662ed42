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
