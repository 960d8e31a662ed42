//! Signing-key rotation with the real `gatehoused admin rotate-keys`, and the refusal to start
//! with a key file others can read (issue 12, item 17). The running server re-reads the key
//! file: after the command, new access tokens carry the new `kid`, the JWKS publishes old and new
//! keys, old tokens keep working, through a restart too; one access-token lifetime later the old
//! key is gone from the JWKS and its tokens are refused.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::support::{fresh_database, run_gatehoused, test_config, Backend, TestServer};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

async fn jwks_kids(t: &TestServer) -> Vec<String> {
    let jwks = t
        .http
        .get(format!("{}/.well-known/jwks.json", t.base))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn profile_status(t: &TestServer, access: &str) -> u16 {
    t.call(Method::GET, &t.api("/auth/profile"), Some(access), None)
        .await
        .status
        .as_u16()
}

async fn rotation_keeps_old_tokens_for_one_access_lifetime(backend: Backend) {
    let mut t = TestServer::start(backend).await;
    let ttl = t.state().config.tokens.access_ttl_secs;
    let keys = t.dir.path().join("keys.json");
    let before = t.anonymous().await;
    let old_kid = kid_of(&before.access);
    assert_eq!(jwks_kids(&t).await, vec![old_kid.clone()]);

    let data_dir = t.dir.path().to_str().unwrap().to_string();
    let out = run_gatehoused(&["--data-dir", &data_dir, "admin", "rotate-keys"]);
    assert!(
        out.status.success(),
        "rotate-keys failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let new_kid = printed["kid"].as_str().unwrap().to_string();
    assert_ne!(new_kid, old_kid);
    assert_eq!(printed["retired"], old_kid.as_str());
    assert_eq!(mode(&keys), 0o600, "the rotated file is private");
    let files: Vec<_> = std::fs::read_dir(t.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("keys"))
        .collect();
    assert_eq!(files, vec!["keys.json"], "no temp file is left behind");

    // The running server re-reads the file within a few seconds.
    let mut kids = vec![];
    for _ in 0..100 {
        kids = jwks_kids(&t).await;
        if kids.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(kids, vec![new_kid.clone(), old_kid.clone()]);
    let after = t.anonymous().await;
    assert_eq!(kid_of(&after.access), new_kid, "new tokens use the new key");
    assert_eq!(profile_status(&t, &before.access).await, 200, "old token");
    assert_eq!(profile_status(&t, &after.access).await, 200, "new token");

    // A restarted server has both keys too.
    t.restart(|_| {}).await;
    assert_eq!(jwks_kids(&t).await, vec![new_kid.clone(), old_kid.clone()]);
    assert_eq!(profile_status(&t, &before.access).await, 200);
    assert_eq!(kid_of(&t.anonymous().await.access), new_kid);

    // One access-token lifetime after the rotation, the old key is gone.
    t.state().clock.advance(ttl + 5);
    assert_eq!(jwks_kids(&t).await, vec![new_kid.clone()]);
    assert_eq!(profile_status(&t, &before.access).await, 401);
}

crate::both_backends!(rotation_keeps_old_tokens_for_one_access_lifetime);

#[tokio::test]
async fn rotating_without_a_key_file_explains_itself() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let out = run_gatehoused(&["--data-dir", data_dir, "admin", "rotate-keys"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no signing key file"), "{stderr}");
}

#[tokio::test]
async fn a_key_file_others_can_read_stops_the_server() {
    let mut t = TestServer::start(Backend::Sqlite).await;
    t.stop().await;
    let keys = t.dir.path().join("keys.json");
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o644)).unwrap();

    // In-process.
    let config = test_config(t.dir.path(), &t.database_url);
    let err = gatehouse_server::Server::start(config)
        .await
        .err()
        .expect("the server refuses to start")
        .to_string();
    assert!(err.contains(&keys.display().to_string()), "{err}");
    assert!(err.contains("chmod 600"), "{err}");

    // The real binary, with a key file named by configuration, readable by the group only.
    let other = tempfile::tempdir().unwrap();
    let custom = other.path().join("signing.json");
    std::fs::copy(&keys, &custom).unwrap();
    std::fs::set_permissions(&custom, std::fs::Permissions::from_mode(0o640)).unwrap();
    let conf = other.path().join("gatehoused.toml");
    std::fs::write(
        &conf,
        format!("[tokens]\nkey_file = {:?}\n", custom.display().to_string()),
    )
    .unwrap();
    let data = other.path().join("data");
    let db = fresh_database(Backend::Sqlite, other.path());
    let out = run_gatehoused(&[
        "--config",
        conf.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--database-url",
        &db,
        "--listen",
        "127.0.0.1:0",
        "serve",
    ]);
    assert!(!out.status.success(), "gatehoused started anyway");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&custom.display().to_string()), "{stderr}");
    assert!(stderr.contains("chmod 600"), "{stderr}");
    assert_eq!(mode(&custom), 0o640, "the file is not silently changed");

    // After the fix it starts, and the keys are the same.
    std::fs::set_permissions(&keys, std::fs::Permissions::from_mode(0o600)).unwrap();
    t.start_again(|_| {}).await;
    t.anonymous().await;
}
