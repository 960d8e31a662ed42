//! File modes (issue 12, item 12): the data directory 0700, the SQLite database with its -wal and
//! -shm and the dev outbox (live links and codes) 0600 — when created, and narrowed at start when
//! an older run left them wider.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use serde_json::json;

use crate::support::*;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

async fn start_in(data: &Path) -> TestServer {
    let data = data.to_path_buf();
    TestServer::start_with(Backend::Sqlite, move |c| {
        c.database_url = Some(format!("sqlite://{}", data.join("gatehouse.db").display()));
        c.data_dir = data;
    })
    .await
}

async fn assert_private(t: &TestServer, data: &Path) {
    // A mail, so the outbox exists.
    let email = unique_email("modes");
    t.post(
        APP,
        "/auth/providers/local-userpass/register",
        json!({"email": email, "password": PASSWORD}),
    )
    .await
    .void();
    for _ in 0..200 {
        if std::fs::read_to_string(data.join("outbox.jsonl")).is_ok_and(|o| o.contains(&email)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(mode(data), 0o700, "data directory");
    for file in [
        "gatehouse.db",
        "gatehouse.db-wal",
        "gatehouse.db-shm",
        "outbox.jsonl",
    ] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
}

#[tokio::test]
async fn new_data_directory_database_and_outbox_are_private() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("new/data");
    let t = start_in(&data).await;
    assert_private(&t, &data).await;
}

#[tokio::test]
async fn wider_modes_left_by_an_older_run_are_narrowed_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut t = start_in(&data).await;
    assert_private(&t, &data).await;
    t.stop().await;
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    for file in [
        "gatehouse.db",
        "gatehouse.db-wal",
        "gatehouse.db-shm",
        "outbox.jsonl",
    ] {
        let path = data.join(file);
        if path.exists() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    let t = start_in(&data).await;
    assert_eq!(mode(&data), 0o700, "data directory");
    assert_eq!(mode(&data.join("gatehouse.db")), 0o600);
    assert_eq!(
        mode(&data.join("outbox.jsonl")),
        0o600,
        "before the next mail"
    );
    assert_private(&t, &data).await;
}
