//! Custom user data (issue 15, item 2): written by the operator through `gatehoused admin
//! set-custom-data` and the admin HTTP API, carried in every access token's `user_data`, read by
//! the official realm-web client and the SDK.

use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::peers::hooks::{Responder, WebhookReceiver};
use crate::support::*;

both_backends!(
    the_operator_writes_and_tokens_carry_it,
    realm_web_reads_and_refreshes_it,
    the_sdk_reads_and_refreshes_it,
    per_user_events_say_what_changed,
    a_webhook_answers_for_each_token_and_fails_closed_or_open
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
    let steps = realm_web_steps(
        "custom-data.cjs",
        &[
            ("GATEHOUSE_URL", &t.base),
            ("GATEHOUSE_APP_ID", APP),
            ("GATEHOUSE_EMAIL", &email),
            ("GATEHOUSE_PASSWORD", PASSWORD),
            ("GATEHOUSE_ADMIN_KEY", ADMIN_KEY),
        ],
    )
    .await;
    assert_eq!(steps.len(), 4, "{steps:?}");
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

const HOOK_SECRET: &str = "whsec_3q2+7wEjRWeJq83vASNFZ4mrze8BI0VniavN7wEjRWc=";

/// `[apps.<id>.custom_data_webhook]`: the hook (verified by the official `standardwebhooks`
/// library) is asked at login and at each refresh; when it fails, the token is refused with 503
/// (clients keep theirs), or with `fail_open` issued with the stored document.
async fn a_webhook_answers_for_each_token_and_fails_closed_or_open(b: Backend) {
    let hook = WebhookReceiver::start(HOOK_SECRET).await;
    hook.respond(Responder::with(|body| {
        let user = body["data"]["user_id"].as_str().unwrap_or("").to_string();
        (200, json!({"custom_data": {"plan": "gold", "for": user}}))
    }));
    let url = hook.url();
    let mut t = TestServer::start_with(b, |c| {
        c.outbound.allow_loopback_http = true;
        c.outbound.timeout_ms = 1500;
        c.apps.get_mut(APP).unwrap().custom_data_webhook = Some(custom_data_hook(&url, false));
    })
    .await;
    let email = unique_email("custom-hook");
    let u = t.email_user(&email).await;
    assert_eq!(
        user_data(&u.access),
        json!({"plan": "gold", "for": u.user_id}),
        "asked at login"
    );
    hook.respond(Responder::Answer(
        200,
        json!({"custom_data": {"plan": "silver"}}),
    ));
    assert_eq!(
        user_data(&refreshed(&t, &u.refresh).await),
        json!({"plan": "silver"})
    );
    let calls = hook.requests();
    assert!(calls.iter().all(|c| c.signature_ok), "{calls:?}");
    assert_eq!(calls.last().unwrap().json()["type"], "custom_data.fetch");
    hook.respond(Responder::Answer(200, json!({"custom_data": null})));
    assert_eq!(user_data(&refreshed(&t, &u.refresh).await), Value::Null);

    // Failing closed: the refresh answers 503 (never 401) and the session lives on.
    hook.respond(Responder::Answer(500, json!({"error": "down"})));
    let refused = t
        .call(
            Method::POST,
            &t.api("/auth/session"),
            Some(&u.refresh),
            None,
        )
        .await;
    refused.err(503, "ServiceUnavailable");
    hook.respond(Responder::Answer(200, json!({"no": "document"})));
    t.call(
        Method::POST,
        &t.api("/auth/session"),
        Some(&u.refresh),
        None,
    )
    .await
    .err(503, "ServiceUnavailable");
    // A login while it fails closed gets no tokens, and leaves no live session behind.
    let sessions = || async {
        t.call(Method::GET, &t.api("/auth/sessions"), Some(&u.access), None)
            .await
            .ok()
            .as_array()
            .unwrap()
            .len()
    };
    let before = sessions().await;
    t.login(
        APP,
        "local-userpass",
        json!({"username": email, "password": PASSWORD}),
    )
    .await
    .err(503, "ServiceUnavailable");
    assert_eq!(
        sessions().await,
        before,
        "the refused login's session was ended"
    );

    // Failing open: the stored document instead.
    let url = hook.url();
    t.restart(|c| {
        c.outbound.allow_loopback_http = true;
        c.outbound.timeout_ms = 1500;
        c.admin.key_sha256 = vec![hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            ADMIN_KEY.as_bytes(),
        ))];
        c.apps.get_mut(APP).unwrap().custom_data_webhook = Some(custom_data_hook(&url, true));
    })
    .await;
    admin(
        &t,
        Method::PUT,
        &u.user_id,
        Some(ADMIN_KEY),
        json!({"plan": "stored"}),
    )
    .await
    .void();
    hook.respond(Responder::Answer(500, json!({})));
    assert_eq!(
        user_data(&refreshed(&t, &u.refresh).await),
        json!({"plan": "stored"})
    );
}

fn custom_data_hook(
    url: &str,
    fail_open: bool,
) -> gatehouse_server::config::CustomDataWebhookConfig {
    gatehouse_server::config::CustomDataWebhookConfig {
        url: url.to_string(),
        secret: gatehouse_server::Secret::new(HOOK_SECRET),
        fail_open,
    }
}

/// The next event of `events`, within 5 seconds.
async fn next(events: &mut gatehouse_client::UserEvents) -> gatehouse_client::Event {
    tokio::time::timeout(std::time::Duration::from_secs(5), events.recv())
        .await
        .expect("an event in time")
        .expect("the app is alive")
}

/// Issue 15, item 8: a user's own events (`User::subscribe`) name profile refreshes, identity
/// and custom-data changes, token refreshes and the logout, and nothing about other users.
async fn per_user_events_say_what_changed(b: Backend) {
    use gatehouse_client::{Credentials, Event, LogoutReason};
    let t = start(b).await;
    let sdk = crate::sdk::Sdk::new();
    let app = sdk.app(&t).await;
    let email = unique_email("events");
    t.register_and_confirm(APP, &email, PASSWORD).await;
    let user = app
        .log_in(Credentials::email_password(&email, PASSWORD))
        .await
        .unwrap();
    let id = user.id().to_string();
    let mut events = user.subscribe();
    // Another user's login says nothing here.
    app.log_in(Credentials::anonymous()).await.unwrap();
    user.refresh_profile().await.unwrap();
    assert_eq!(
        next(&mut events).await,
        Event::ProfileRefreshed {
            user_id: id.clone()
        }
    );

    let second = unique_email("events-linked");
    t.register_and_confirm(APP, &second, PASSWORD).await;
    user.link_credentials(Credentials::email_password(&second, PASSWORD))
        .await
        .unwrap();
    assert_eq!(
        next(&mut events).await,
        Event::IdentitiesChanged {
            user_id: id.clone()
        }
    );
    assert_eq!(
        next(&mut events).await,
        Event::ProfileRefreshed {
            user_id: id.clone()
        }
    );

    admin(
        &t,
        Method::PUT,
        &id,
        Some(ADMIN_KEY),
        json!({"plan": "pro"}),
    )
    .await
    .void();
    user.refresh_custom_data().await.unwrap();
    assert_eq!(
        next(&mut events).await,
        Event::TokensRefreshed {
            user_id: id.clone()
        }
    );
    assert_eq!(
        next(&mut events).await,
        Event::CustomDataChanged {
            user_id: id.clone()
        }
    );
    // The same document again: a refresh, no change.
    user.refresh_custom_data().await.unwrap();
    assert_eq!(
        next(&mut events).await,
        Event::TokensRefreshed {
            user_id: id.clone()
        }
    );

    user.log_out().await.unwrap();
    let mut seen = vec![];
    loop {
        let e = next(&mut events).await;
        seen.push(e.clone());
        if matches!(e, Event::LoggedOut { .. }) {
            break;
        }
    }
    assert_eq!(
        seen.last().unwrap(),
        &Event::LoggedOut {
            user_id: id.clone(),
            reason: LogoutReason::Requested
        },
        "{seen:?}"
    );
    assert!(
        seen.iter().all(|e| e.user_id() == Some(id.as_str())),
        "{seen:?}"
    );
}
