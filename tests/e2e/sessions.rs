//! Sessions: compat refresh, opt-in rotation with reuse detection and grace, concurrency,
//! logout, deletion, expiry, caps, restarts (security.md B.4).

use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::support::*;

both_backends!(
    compat_refresh_keeps_one_refresh_token,
    rotation_is_opt_in_with_grace_and_reuse_detection,
    concurrent_rotations_rotate_once,
    logout_is_immediate_and_idempotent,
    deleting_a_user_ends_everything,
    idle_and_absolute_expiry_end_sessions,
    the_oldest_sessions_beyond_the_cap_are_evicted,
    a_device_id_is_kept_and_each_login_is_a_session,
    sessions_and_keys_survive_a_restart,
    access_tokens_carry_the_claims_clients_read
);

async fn refresh(t: &TestServer, token: &str, rotate: bool) -> Reply {
    let mut req = t.http.post(t.api("/auth/session")).bearer_auth(token);
    if rotate {
        req = req.header("x-gatehouse-refresh-rotation", "1");
    }
    let resp = req.send().await.unwrap();
    Reply::read(resp).await
}

async fn compat_refresh_keeps_one_refresh_token(b: Backend) {
    let t = TestServer::start(b).await;
    let u = t.anonymous().await;
    for _ in 0..3 {
        let r = refresh(&t, &u.refresh, false).await;
        assert_eq!(r.status, 201);
        assert_eq!(r.headers["cache-control"], "no-store");
        let body = r.json;
        assert!(
            body.get("refresh_token").is_none(),
            "stock clients never rotate"
        );
        t.call(
            Method::GET,
            &t.api("/auth/profile"),
            Some(body["access_token"].as_str().unwrap()),
            None,
        )
        .await
        .ok();
    }
}

async fn rotation_is_opt_in_with_grace_and_reuse_detection(b: Backend) {
    let t = TestServer::start(b).await;
    let u = t.anonymous().await;
    let rt0 = u.refresh.clone();
    let r1 = refresh(&t, &rt0, true).await.ok();
    let rt1 = r1["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt0);
    // Lost response: the previous token within the grace period returns the same successor.
    let again = refresh(&t, &rt0, true).await.ok();
    assert_eq!(
        again["refresh_token"],
        rt1.as_str(),
        "idempotent within grace"
    );
    let r2 = refresh(&t, &rt1, true).await.ok();
    let rt2 = r2["refresh_token"].as_str().unwrap().to_string();
    // The grandparent is reuse even inside the grace period: the whole session ends.
    refresh(&t, &rt0, true).await.err(401, "InvalidSession");
    refresh(&t, &rt2, true).await.err(401, "InvalidSession");
    t.call(
        Method::GET,
        &t.api("/auth/profile"),
        Some(r2["access_token"].as_str().unwrap()),
        None,
    )
    .await
    .err(401, "InvalidSession");

    // The previous token after the grace period is reuse too.
    let v = t.anonymous().await;
    let s1 = refresh(&t, &v.refresh, true).await.ok()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    t.state().clock.advance(11);
    refresh(&t, &v.refresh, true)
        .await
        .err(401, "InvalidSession");
    refresh(&t, &s1, true).await.err(401, "InvalidSession");
}

async fn concurrent_rotations_rotate_once(b: Backend) {
    let t = TestServer::start(b).await;
    let u = t.anonymous().await;
    let mut set = tokio::task::JoinSet::new();
    // Two racing rotations (two tabs, a retried request): one rotates, the other gets the one
    // grace answer. A third use of the old token would be a reuse (takeover.rs).
    for _ in 0..2 {
        let (http, url, token) = (t.http.clone(), t.api("/auth/session"), u.refresh.clone());
        set.spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .header("x-gatehouse-refresh-rotation", "1")
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        });
    }
    let mut successors = std::collections::BTreeSet::new();
    while let Some(reply) = set.join_next().await {
        let (status, body) = reply.unwrap();
        assert_eq!(status, 201, "{body}");
        successors.insert(body["refresh_token"].as_str().unwrap().to_string());
    }
    assert_eq!(
        successors.len(),
        1,
        "exactly one rotation; every answer names the same successor"
    );
    let next = successors.into_iter().next().unwrap();
    refresh(&t, &next, true).await.ok();
}

async fn logout_is_immediate_and_idempotent(b: Backend) {
    let t = TestServer::start(b).await;
    let u = t.anonymous().await;
    t.call(
        Method::DELETE,
        &t.api("/auth/session"),
        Some(&u.refresh),
        None,
    )
    .await
    .void();
    refresh(&t, &u.refresh, false)
        .await
        .err(401, "InvalidSession");
    t.call(Method::GET, &t.api("/auth/profile"), Some(&u.access), None)
        .await
        .err(401, "InvalidSession");
    t.call(
        Method::GET,
        &t.api("/auth/api_keys"),
        Some(&u.refresh),
        None,
    )
    .await
    .err(401, "InvalidSession");
    t.call(
        Method::DELETE,
        &t.api("/auth/session"),
        Some(&u.refresh),
        None,
    )
    .await
    .void();
}

async fn deleting_a_user_ends_everything(b: Backend) {
    let t = TestServer::start(b).await;
    let email = unique_email("del");
    let u = t.email_user(&email).await;
    let key = t
        .call(
            Method::POST,
            &t.api("/auth/api_keys"),
            Some(&u.refresh),
            Some(json!({"name": "k"})),
        )
        .await
        .ok();
    t.call(
        Method::DELETE,
        &t.api("/auth/delete"),
        Some(&u.access),
        None,
    )
    .await
    .void();
    refresh(&t, &u.refresh, false)
        .await
        .err(401, "InvalidSession");
    t.call(Method::GET, &t.api("/auth/profile"), Some(&u.access), None)
        .await
        .err(401, "InvalidSession");
    t.login(APP, "api-key", json!({"key": key["key"]}))
        .await
        .err(401, "InvalidPassword");
    t.login(
        APP,
        "local-userpass",
        json!({"username": email, "password": PASSWORD}),
    )
    .await
    .err(401, "InvalidPassword");
    // realm-web follows deletion with a logout of the deleted session: that must not throw.
    let r = t
        .call(
            Method::DELETE,
            &t.api("/auth/session"),
            Some(&u.refresh),
            None,
        )
        .await;
    assert!(
        r.status == 204
            || r.json["error"]
                .as_str()
                .unwrap_or("")
                .contains("failed to find refresh token")
    );
    // The address is free again.
    t.email_user(&email).await;
}

async fn idle_and_absolute_expiry_end_sessions(b: Backend) {
    let t = TestServer::start(b).await;
    let idle = t.anonymous().await;
    let busy = t.anonymous().await;
    t.state().clock.advance(13 * 24 * 3600);
    refresh(&t, &busy.refresh, false).await.ok();
    t.state().clock.advance(2 * 24 * 3600);
    refresh(&t, &idle.refresh, false)
        .await
        .err(401, "InvalidSession");
    refresh(&t, &busy.refresh, false).await.ok();
    for _ in 0..2 {
        t.state().clock.advance(7 * 24 * 3600);
        refresh(&t, &busy.refresh, false).await.ok();
    }
    // Day 31: past the 30-day absolute limit however busy the session is.
    t.state().clock.advance(2 * 24 * 3600);
    refresh(&t, &busy.refresh, false)
        .await
        .err(401, "InvalidSession");
}

async fn the_oldest_sessions_beyond_the_cap_are_evicted(b: Backend) {
    let t = TestServer::start_with(b, |c| c.tokens.sessions_per_user = 3).await;
    let email = unique_email("cap");
    let first = t.email_user(&email).await;
    let mut later = Vec::new();
    for _ in 0..3 {
        t.state().clock.advance(1);
        later.push(t.password_login(&email, PASSWORD).await);
    }
    refresh(&t, &first.refresh, false)
        .await
        .err(401, "InvalidSession");
    for s in &later {
        refresh(&t, &s.refresh, false).await.ok();
    }
}

async fn a_device_id_is_kept_and_each_login_is_a_session(b: Backend) {
    let t = TestServer::start(b).await;
    let email = unique_email("dev");
    let a = t.email_user(&email).await;
    let body = json!({
        "username": email, "password": PASSWORD,
        "options": {"device": {"deviceId": {"$oid": a.device_id}}}
    });
    let b2 = Tokens::from(t.login(APP, "local-userpass", body).await.ok());
    assert_eq!(b2.device_id, a.device_id, "the EJSON device id is kept");
    // Each login is its own session (issue 15, item 1): the first one on this device lives on.
    refresh(&t, &a.refresh, false).await.ok();
    refresh(&t, &b2.refresh, false).await.ok();
    let other = t.password_login(&email, PASSWORD).await;
    assert_ne!(other.device_id, a.device_id);
    refresh(&t, &b2.refresh, false).await.ok();
}

async fn sessions_and_keys_survive_a_restart(b: Backend) {
    let mut t = TestServer::start(b).await;
    let u = t.email_user(&unique_email("restart")).await;
    let key = t
        .call(
            Method::POST,
            &t.api("/auth/api_keys"),
            Some(&u.refresh),
            Some(json!({"name": "k"})),
        )
        .await
        .ok();
    let rotated = refresh(&t, &u.refresh, true).await.ok()["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    t.restart(|_| {}).await;
    t.call(Method::GET, &t.api("/auth/profile"), Some(&u.access), None)
        .await
        .ok();
    refresh(&t, &rotated, true).await.ok();
    let login = t
        .login(APP, "api-key", json!({"key": key["key"]}))
        .await
        .ok();
    assert_eq!(login["user_id"], u.user_id.as_str());
}

async fn access_tokens_carry_the_claims_clients_read(b: Backend) {
    use base64::Engine as _;
    let t = TestServer::start(b).await;
    let u = t.anonymous().await;
    for token in [&u.access, &u.refresh] {
        let parts: Vec<_> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let payload: serde_json::Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(parts[1])
                .unwrap(),
        )
        .unwrap();
        assert!(payload["exp"].is_i64() && payload["iat"].is_i64());
        assert_eq!(payload["sub"], u.user_id.as_str());
        assert_eq!(payload["baas_device_id"], u.device_id.as_str());
        if token == &u.access {
            let life = payload["exp"].as_i64().unwrap() - payload["iat"].as_i64().unwrap();
            assert!(life > 0 && life <= 1800, "{life}");
            assert_eq!(payload["aud"], APP);
        }
    }
    let jwks = t
        .call(
            Method::GET,
            &format!("{}/.well-known/jwks.json", t.base),
            None,
            None,
        )
        .await
        .ok();
    assert_eq!(jwks["keys"][0]["alg"], "EdDSA");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ended_sessions_are_pruned_after_the_retention_period() {
    for b in [Backend::Sqlite, Backend::Postgres] {
        // Sessions live 60 days here, so only the ended one is past the 30-day retention.
        let t =
            TestServer::start_with(b, |c| c.tokens.refresh_absolute_secs = 60 * 24 * 3600).await;
        let ended = t.anonymous().await;
        let live = t.anonymous().await;
        t.call(
            Method::DELETE,
            &t.api("/auth/session"),
            Some(&ended.refresh),
            None,
        )
        .await
        .void();
        let now = t.state().now();
        let db = &t.state().db;
        let window = 24 * 3600;
        let none = gatehouse_server::store::maintenance::prune(db, now, window)
            .await
            .unwrap();
        assert_eq!(
            none.sessions, 0,
            "recently ended sessions stay for the audit trail"
        );
        let later = now + gatehouse_server::store::maintenance::KEEP_ENDED_SESSIONS_SECS + 1;
        let pruned = gatehouse_server::store::maintenance::prune(db, later, window)
            .await
            .unwrap();
        assert_eq!(pruned.sessions, 1, "{b:?}");
        t.call(
            Method::POST,
            &t.api("/auth/session"),
            Some(&live.refresh),
            None,
        )
        .await
        .ok();
    }
}
