//! Custom user data (issue 15, item 2): written by the operator through `gatehoused admin
//! set-custom-data` and the admin HTTP API, carried in every access token's `user_data`, read by
//! the official realm-web client and the SDK.

use std::process::Stdio;

use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::support::*;

both_backends!(
    the_operator_writes_and_tokens_carry_it,
    realm_web_reads_and_refreshes_it,
    the_sdk_reads_and_refreshes_it
);

const ADMIN_KEY: &str = "gh_admin_test-key-for-custom-data-0123456789";

async fn start(b: Backend) -> TestServer {
    TestServer::start_with(b, |c| {
        c.admin.key_sha256 = vec![hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            ADMIN_KEY.as_bytes(),
        ))];
    })
    .await
}

fn user_data(access: &str) -> Value {
    let payload = access.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice::<Value>(&bytes).unwrap()["user_data"].clone()
}

async fn admin(t: &TestServer, method: Method, id: &str, key: Option<&str>, body: Value) -> Reply {
    let url = format!("{}/api/admin/v1/users/{id}/custom_data", t.base);
    let body = (method == Method::PUT).then_some(body);
    t.call(method, &url, key, body).await
}

async fn refreshed(t: &TestServer, refresh: &str) -> String {
    t.call(Method::POST, &t.api("/auth/session"), Some(refresh), None)
        .await
        .ok()["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn the_operator_writes_and_tokens_carry_it(b: Backend) {
    let t = start(b).await;
    let u = t.email_user(&unique_email("custom")).await;
    assert_eq!(user_data(&u.access), Value::Null, "none set yet");

    // The admin API lets in configured keys only, and checks what it stores.
    let doc = json!({"team": "blue", "n": {"$numberLong": "5"}});
    admin(&t, Method::PUT, &u.user_id, None, doc.clone())
        .await
        .err(401, "MissingAuthReq");
    admin(
        &t,
        Method::PUT,
        &u.user_id,
        Some("gh_admin_wrong"),
        doc.clone(),
    )
    .await
    .err(401, "InvalidSession");
    admin(&t, Method::PUT, &u.user_id, Some(ADMIN_KEY), json!([1, 2]))
        .await
        .err(400, "InvalidParameter");
    let big = json!({"blob": "x".repeat(17 * 1024)});
    admin(&t, Method::PUT, &u.user_id, Some(ADMIN_KEY), big)
        .await
        .err(413, "ReadSizeLimitExceeded");
    admin(
        &t,
        Method::PUT,
        &"0".repeat(24),
        Some(ADMIN_KEY),
        doc.clone(),
    )
    .await
    .err(404, "UserNotFound");

    admin(&t, Method::PUT, &u.user_id, Some(ADMIN_KEY), doc)
        .await
        .void();
    let stored = admin(&t, Method::GET, &u.user_id, Some(ADMIN_KEY), Value::Null)
        .await
        .ok();
    assert_eq!(stored, json!({"team": "blue", "n": 5}), "EJSON relaxed");
    // The current token is as it was; the next one carries the document.
    assert_eq!(user_data(&u.access), Value::Null);
    assert_eq!(user_data(&refreshed(&t, &u.refresh).await), stored);

    // The CLI writes the same store; `null` clears it.
    let db = [
        "--data-dir",
        t.dir.path().to_str().unwrap(),
        "--database-url",
    ];
    let run = |args: &[&str]| {
        let mut all: Vec<&str> = db.to_vec();
        all.push(&t.database_url);
        all.extend_from_slice(args);
        run_gatehoused(&all)
    };
    let out = run(&[
        "admin",
        "set-custom-data",
        "--id",
        &u.user_id,
        "--json",
        "{\"team\":\"red\"}",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["admin", "get-custom-data", "--id", &u.user_id]);
    assert_eq!(
        serde_json::from_slice::<Value>(&out.stdout).unwrap(),
        json!({"team": "red"})
    );
    assert_eq!(
        user_data(&refreshed(&t, &u.refresh).await),
        json!({"team": "red"})
    );
    let out = run(&[
        "admin",
        "set-custom-data",
        "--id",
        &u.user_id,
        "--json",
        "[1]",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("must be a JSON object"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&[
        "admin",
        "set-custom-data",
        "--id",
        &u.user_id,
        "--json",
        "null",
    ]);
    assert!(out.status.success());
    assert_eq!(user_data(&refreshed(&t, &u.refresh).await), Value::Null);
}

async fn realm_web_reads_and_refreshes_it(b: Backend) {
    let t = start(b).await;
    let email = unique_email("custom-web");
    let u = t.email_user(&email).await;
    admin(
        &t,
        Method::PUT,
        &u.user_id,
        Some(ADMIN_KEY),
        json!({"team": "blue", "level": 5}),
    )
    .await
    .void();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/realm-web/custom-data.cjs");
    let output = tokio::process::Command::new("node")
        .arg(script)
        .env("GATEHOUSE_URL", &t.base)
        .env("GATEHOUSE_APP_ID", APP)
        .env("GATEHOUSE_EMAIL", &email)
        .env("GATEHOUSE_PASSWORD", PASSWORD)
        .env("GATEHOUSE_ADMIN_KEY", ADMIN_KEY)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("\"ok\":true"),
        "realm-web custom data:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn the_sdk_reads_and_refreshes_it(b: Backend) {
    let t = start(b).await;
    let email = unique_email("custom-sdk");
    t.register_and_confirm(APP, &email, PASSWORD).await;
    let sdk = crate::sdk::Sdk::new();
    let app = sdk.app(&t).await;
    let user = app
        .log_in(gatehouse_client::Credentials::email_password(
            &email, PASSWORD,
        ))
        .await
        .unwrap();
    assert!(user.custom_data().is_empty());
    admin(
        &t,
        Method::PUT,
        user.id(),
        Some(ADMIN_KEY),
        json!({"plan": "pro"}),
    )
    .await
    .void();
    assert!(user.custom_data().is_empty(), "unchanged until refreshed");
    let fresh = user.refresh_custom_data().await.unwrap();
    assert_eq!(Value::Object(fresh), json!({"plan": "pro"}));
    assert_eq!(user.custom_data()["plan"], "pro");
}
