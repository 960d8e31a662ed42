//! User and server API keys (protocol.md A.11, security.md S-48/S-49).

use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::support::*;

both_backends!(
    user_keys_round_trip,
    keys_are_scoped_to_their_owner,
    limits_names_and_anonymous_users,
    disabling_or_deleting_a_key_ends_its_sessions,
    server_keys_log_in_as_server_users,
    disabled_users_cannot_log_in,
    many_workers_logging_in_with_one_key_at_once_all_get_sessions
);

async fn user_keys_round_trip(b: Backend) {
    let t = TestServer::start(b).await;
    let u = t.email_user(&unique_email("keys")).await;
    let keys = t.api("/auth/api_keys");
    assert_eq!(
        t.call(Method::GET, &keys, Some(&u.refresh), None)
            .await
            .ok(),
        json!([])
    );
    let created = t
        .call(
            Method::POST,
            &keys,
            Some(&u.refresh),
            Some(json!({"name": "ci"})),
        )
        .await;
    assert_eq!(created.status, 201);
    let created = created.json;
    let id = created["_id"].as_str().unwrap().to_string();
    let secret = created["key"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 24);
    assert!(
        secret.starts_with("gh_uk_") && secret.len() >= 43 + 6,
        "{secret}"
    );
    assert_eq!(created["disabled"], false);
    let listed = t
        .call(Method::GET, &keys, Some(&u.refresh), None)
        .await
        .ok();
    assert_eq!(
        listed,
        json!([{"_id": id, "name": "ci", "disabled": false}]),
        "no secret after create"
    );
    let one = t
        .call(Method::GET, &format!("{keys}/{id}"), Some(&u.refresh), None)
        .await
        .ok();
    assert!(one.get("key").is_none());
    let login = t.login(APP, "api-key", json!({"key": secret})).await.ok();
    assert_eq!(
        login["user_id"],
        u.user_id.as_str(),
        "a user key logs in as its owner"
    );
    t.call(
        Method::PUT,
        &format!("{keys}/{id}/disable"),
        Some(&u.refresh),
        None,
    )
    .await
    .void();
    assert_eq!(
        t.call(Method::GET, &format!("{keys}/{id}"), Some(&u.refresh), None)
            .await
            .ok()["disabled"],
        true
    );
    t.login(APP, "api-key", json!({"key": secret}))
        .await
        .err(401, "InvalidPassword");
    t.call(
        Method::PUT,
        &format!("{keys}/{id}/enable"),
        Some(&u.refresh),
        None,
    )
    .await
    .void();
    t.login(APP, "api-key", json!({"key": secret})).await.ok();
    t.call(
        Method::DELETE,
        &format!("{keys}/{id}"),
        Some(&u.refresh),
        None,
    )
    .await
    .void();
    assert_eq!(
        t.call(Method::GET, &keys, Some(&u.refresh), None)
            .await
            .ok(),
        json!([])
    );
    t.login(APP, "api-key", json!({"key": secret}))
        .await
        .err(401, "InvalidPassword");
    let e = t
        .call(Method::GET, &format!("{keys}/{id}"), Some(&u.refresh), None)
        .await
        .err(404, "APIKeyNotFound");
    assert_eq!(e["error"], "API key not found");
}

async fn keys_are_scoped_to_their_owner(b: Backend) {
    let t = TestServer::start(b).await;
    let alice = t.email_user(&unique_email("alice")).await;
    let bob = t.email_user(&unique_email("bob")).await;
    let key = t
        .call(
            Method::POST,
            &t.api("/auth/api_keys"),
            Some(&alice.refresh),
            Some(json!({"name": "mine"})),
        )
        .await
        .ok();
    let path = t.api(&format!("/auth/api_keys/{}", key["_id"].as_str().unwrap()));
    t.call(Method::GET, &path, Some(&bob.refresh), None)
        .await
        .err(404, "APIKeyNotFound");
    t.call(
        Method::PUT,
        &format!("{path}/disable"),
        Some(&bob.refresh),
        None,
    )
    .await
    .err(404, "APIKeyNotFound");
    t.call(Method::DELETE, &path, Some(&bob.refresh), None)
        .await
        .err(404, "APIKeyNotFound");
    assert_eq!(
        t.call(Method::GET, &path, Some(&alice.refresh), None)
            .await
            .ok()["disabled"],
        false
    );
    t.call(Method::GET, &t.api("/auth/api_keys"), None, None)
        .await
        .err(401, "MissingAuthReq");
    // A key of one app does not log in to another.
    t.login(STRICT_APP, "api-key", json!({"key": key["key"]}))
        .await
        .err(401, "InvalidPassword");
}

async fn limits_names_and_anonymous_users(b: Backend) {
    let t = TestServer::start(b).await;
    let anon = t.anonymous().await;
    t.call(
        Method::POST,
        &t.api("/auth/api_keys"),
        Some(&anon.refresh),
        Some(json!({"name": "k"})),
    )
    .await
    .err(403, "Forbidden");
    let u = t.email_user(&unique_email("limit")).await;
    let keys = t.api("/auth/api_keys");
    for i in 0..20 {
        t.call(
            Method::POST,
            &keys,
            Some(&u.refresh),
            Some(json!({"name": format!("k{i}")})),
        )
        .await
        .ok();
    }
    let e = t
        .call(
            Method::POST,
            &keys,
            Some(&u.refresh),
            Some(json!({"name": "k20"})),
        )
        .await
        .err(400, "BadRequest");
    assert!(e["error"].as_str().unwrap().contains("at most 20"));
    t.call(
        Method::DELETE,
        &format!(
            "{keys}/{}",
            t.call(Method::GET, &keys, Some(&u.refresh), None)
                .await
                .ok()[0]["_id"]
                .as_str()
                .unwrap()
        ),
        Some(&u.refresh),
        None,
    )
    .await
    .void();
    t.call(
        Method::POST,
        &keys,
        Some(&u.refresh),
        Some(json!({"name": "k1"})),
    )
    .await
    .err(409, "APIKeyAlreadyExists");
    t.call(
        Method::POST,
        &keys,
        Some(&u.refresh),
        Some(json!({"name": ""})),
    )
    .await
    .err(400, "InvalidParameter");
    t.call(
        Method::POST,
        &keys,
        Some(&u.refresh),
        Some(json!({"name": "a\nb"})),
    )
    .await
    .err(400, "InvalidParameter");
    t.call(Method::POST, &keys, Some(&u.refresh), Some(json!({})))
        .await
        .err(400, "InvalidParameter");
}

async fn disabling_or_deleting_a_key_ends_its_sessions(b: Backend) {
    let t = TestServer::start(b).await;
    let u = t.email_user(&unique_email("revoke")).await;
    let keys = t.api("/auth/api_keys");
    let k = t
        .call(
            Method::POST,
            &keys,
            Some(&u.refresh),
            Some(json!({"name": "svc"})),
        )
        .await
        .ok();
    let id = k["_id"].as_str().unwrap();
    let via_key = Tokens::from(t.login(APP, "api-key", json!({"key": k["key"]})).await.ok());
    t.call(
        Method::PUT,
        &format!("{keys}/{id}/disable"),
        Some(&u.refresh),
        None,
    )
    .await
    .void();
    t.call(
        Method::POST,
        &t.api("/auth/session"),
        Some(&via_key.refresh),
        None,
    )
    .await
    .err(401, "InvalidSession");
    t.call(
        Method::GET,
        &t.api("/auth/profile"),
        Some(&via_key.access),
        None,
    )
    .await
    .err(401, "InvalidSession");
    // The owner's own session is untouched.
    t.call(
        Method::POST,
        &t.api("/auth/session"),
        Some(&u.refresh),
        None,
    )
    .await
    .ok();
    t.call(
        Method::PUT,
        &format!("{keys}/{id}/enable"),
        Some(&u.refresh),
        None,
    )
    .await
    .void();
    let again = Tokens::from(t.login(APP, "api-key", json!({"key": k["key"]})).await.ok());
    t.call(
        Method::DELETE,
        &format!("{keys}/{id}"),
        Some(&u.refresh),
        None,
    )
    .await
    .void();
    t.call(
        Method::POST,
        &t.api("/auth/session"),
        Some(&again.refresh),
        None,
    )
    .await
    .err(401, "InvalidSession");
}

async fn server_keys_log_in_as_server_users(b: Backend) {
    let t = TestServer::start(b).await;
    let key = gatehouse_server::admin::create_server_key(t.state(), APP, "backend")
        .await
        .unwrap();
    let secret = key.key.clone().unwrap();
    assert!(secret.starts_with("gh_sk_"));
    let login = Tokens::from(t.login(APP, "api-key", json!({"key": secret})).await.ok());
    let profile = t
        .call(
            Method::GET,
            &t.api("/auth/profile"),
            Some(&login.access),
            None,
        )
        .await
        .ok();
    assert_eq!(profile["type"], "server");
    let listed = gatehouse_server::admin::list_server_keys(t.state(), APP)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].key.is_none());
    gatehouse_server::admin::revoke_server_key(t.state(), &key.id)
        .await
        .unwrap();
    t.login(APP, "api-key", json!({"key": secret}))
        .await
        .err(401, "InvalidPassword");
    t.call(
        Method::POST,
        &t.api("/auth/session"),
        Some(&login.refresh),
        None,
    )
    .await
    .err(401, "InvalidSession");
}

async fn disabled_users_cannot_log_in(b: Backend) {
    let t = TestServer::start(b).await;
    let email = unique_email("disabled");
    let u = t.email_user(&email).await;
    gatehouse_server::admin::set_user_disabled(t.state(), &u.user_id, true)
        .await
        .unwrap();
    t.call(
        Method::POST,
        &t.api("/auth/session"),
        Some(&u.refresh),
        None,
    )
    .await
    .err(401, "InvalidSession");
    t.login(
        APP,
        "local-userpass",
        json!({"username": email, "password": PASSWORD}),
    )
    .await
    .err(403, "UserDisabled");
    let users = gatehouse_server::admin::list_users(t.state(), APP)
        .await
        .unwrap();
    assert!(users
        .iter()
        .any(|x| x.id == u.user_id && x.disabled && x.email.as_deref() == Some(email.as_str())));
    gatehouse_server::admin::set_user_disabled(t.state(), &u.user_id, false)
        .await
        .unwrap();
    t.login(
        APP,
        "local-userpass",
        json!({"username": email, "password": PASSWORD}),
    )
    .await
    .ok();
}

/// Workers sharing one key log in at the same moment: each insert of a session is followed by the
/// eviction of the user's oldest ones, which on PostgreSQL deadlocked (answering 503) until
/// evictions skipped the rows another login was evicting. The cap still holds: a login alone
/// afterwards leaves exactly the 50 newest sessions live.
async fn many_workers_logging_in_with_one_key_at_once_all_get_sessions(b: Backend) {
    let t = TestServer::start(b).await;
    let key = gatehouse_server::admin::create_server_key(t.state(), APP, "workers")
        .await
        .unwrap();
    let secret = key.key.clone().unwrap();
    let url = format!(
        "{}/api/client/v2.0/app/{APP}/auth/providers/api-key/login",
        t.base
    );
    let http = reqwest::Client::new();
    // Past the 50 sessions a user keeps, every login also ends the oldest ones.
    for _round in 0..4 {
        logins_at_once(&http, &url, &secret, b).await;
    }
    let live = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM sessions WHERE revoked_at IS NULL")
            .fetch_one(t.state().db.reader())
            .await
            .unwrap()
    };
    assert!(live().await >= 50, "{b:?}: {}", live().await);
    let alone = http.post(&url).json(&json!({"key": secret})).send().await;
    assert_eq!(alone.unwrap().status(), 200);
    assert_eq!(live().await, 50, "{b:?}: the cap of 50 sessions per user");
}

async fn logins_at_once(http: &reqwest::Client, url: &str, secret: &str, b: Backend) {
    let tasks: Vec<_> = (0..60)
        .map(|_| {
            let (http, url, secret) = (http.clone(), url.to_string(), secret.to_string());
            tokio::spawn(async move {
                let r = http
                    .post(url)
                    .json(&json!({"key": secret}))
                    .send()
                    .await
                    .unwrap();
                (r.status().as_u16(), r.text().await.unwrap_or_default())
            })
        })
        .collect();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        assert_eq!(status, 200, "{b:?}: {body}");
    }
}
