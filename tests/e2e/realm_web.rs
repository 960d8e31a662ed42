//! The official, unmodified `realm-web` 2.0.1 npm client against a real gatehoused: the script
//! in tests/realm-web/flow.cjs logs each step as a JSON line and exits non-zero on the first
//! failure.

use crate::support::*;

const ACCESS_TTL_SECS: i64 = 2;

async fn run_flow(backend: Backend) {
    let t = TestServer::start_with(backend, |c| c.tokens.access_ttl_secs = ACCESS_TTL_SECS).await;
    let outbox = t.dir.path().join("outbox.jsonl");
    let ttl = ACCESS_TTL_SECS.to_string();
    let steps = realm_web_steps(
        "flow.cjs",
        &[
            ("GATEHOUSE_URL", &t.base),
            ("GATEHOUSE_APP_ID", APP),
            ("GATEHOUSE_OUTBOX", outbox.to_str().unwrap()),
            ("GATEHOUSE_ACCESS_TTL_SECS", &ttl),
        ],
    )
    .await;
    assert!(steps.len() >= 6, "{steps:?}");
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
    let steps = realm_web_steps(
        "one-device.cjs",
        &[
            ("GATEHOUSE_URL", &t.base),
            ("GATEHOUSE_APP_ID", APP),
            ("GATEHOUSE_EMAIL", &email),
            ("GATEHOUSE_PASSWORD", PASSWORD),
        ],
    )
    .await;
    assert_eq!(steps.len(), 5, "{steps:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_realm_web_apps_on_one_device_keep_their_sessions_on_sqlite() {
    two_apps_on_one_device(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_realm_web_apps_on_one_device_keep_their_sessions_on_postgres() {
    two_apps_on_one_device(Backend::Postgres).await;
}
