//! The activity log records every security event (issue 17): each kind with its detail and the
//! request's origin, paged newest first, kept `[activity] keep_days` and pruned by the server's
//! own maintenance round, printed by `gatehoused admin activity`; and new-device alerts, read
//! from a real SMTP server, whose "this wasn't me" link ends every session and starts a reset.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::peers::SmtpPeer;
use crate::support::*;

both_backends!(
    every_action_is_recorded_with_its_detail_and_origin,
    pages_are_newest_first_and_bad_boundaries_are_refused,
    old_events_are_pruned_by_the_servers_maintenance,
    the_cli_prints_a_users_activity,
    a_new_device_is_mailed_and_this_wasnt_me_ends_every_session,
    no_alert_on_first_sign_in_for_anonymous_users_or_when_off,
    phone_only_accounts_get_a_text_and_their_events_are_recorded
);

const UA: &str = "activity-log-test/1.0";

/// Requests as a named client sends them (every event should carry this user agent).
struct Client {
    http: reqwest::Client,
}

impl Client {
    fn new() -> Client {
        Client {
            http: reqwest::Client::builder().user_agent(UA).build().unwrap(),
        }
    }

    async fn call(
        &self,
        method: Method,
        url: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        send_json(&self.http, method, url, bearer, body).await
    }

    async fn login(&self, t: &TestServer, email: &str, password: &str, device: &str) -> Reply {
        let body = json!({
            "username": email,
            "password": password,
            "options": {"device": {"deviceId": device, "platform": "linux",
                "platformVersion": "6.1", "appId": "activity-tests", "appVersion": "2.0"}},
        });
        let url = t.app_path(APP, "/auth/providers/local-userpass/login");
        self.call(Method::POST, &url, None, Some(body)).await
    }
}

fn device(n: u8) -> String {
    format!(
        "{:024x}",
        0x6500_0000_0000_0000_0000_0000u128 + u128::from(n)
    )
}

/// Every event of `user`, newest first, read through the API by a fresh session.
async fn events_of(t: &TestServer, email: &str, password: &str) -> Vec<Value> {
    let reader = t.password_login(email, password).await;
    let list = t
        .call(
            Method::GET,
            &t.api("/auth/activity?limit=100"),
            Some(&reader.access),
            None,
        )
        .await
        .ok();
    list.as_array().unwrap().clone()
}

/// Waits (bounded) until `user_id` has `n` events of `kind`: failed sign-ins and lockouts are
/// written a moment after their answer.
async fn wait_for(t: &TestServer, user_id: &str, kind: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows =
            gatehouse_server::store::activity::list(t.state().db.reader(), APP, user_id, 100)
                .await
                .unwrap();
        let found = rows.iter().filter(|r| r.kind == kind).count();
        if found >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{found} {kind} events, not {n}: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[track_caller]
fn one<'a>(events: &'a [Value], kind: &str, matches: impl Fn(&Value) -> bool) -> &'a Value {
    let found: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == kind && matches(e))
        .collect();
    assert_eq!(found.len(), 1, "one {kind} event expected in {events:#?}");
    found[0]
}

#[track_caller]
fn from_client(event: &Value) {
    assert_eq!(event["ip"], "127.0.0.1", "{event}");
    assert_eq!(event["user_agent"], UA, "{event}");
}

async fn every_action_is_recorded_with_its_detail_and_origin(b: Backend) {
    let t = TestServer::start_with(b, |c| {
        c.rate_limits.enabled = true;
        c.rate_limits.lockout_after = 3;
    })
    .await;
    let clock = &t.state().clock;
    let c = Client::new();
    let email = unique_email("everything");
    t.register_and_confirm(APP, &email, PASSWORD).await;

    // Sign-in on a first device, a wrong password, sign-in on a second device.
    let first = Tokens::from(c.login(&t, &email, PASSWORD, &device(1)).await.ok());
    c.login(&t, &email, "not the password at all", &device(1))
        .await
        .err(401, "InvalidPassword");
    clock.advance(5); // past the progressive delay
    let second = Tokens::from(c.login(&t, &email, PASSWORD, &device(2)).await.ok());

    // API keys: created, used to sign in, disabled, enabled, deleted; one is kept.
    let keys = t.api("/auth/api_keys");
    let key = c
        .call(
            Method::POST,
            &keys,
            Some(&second.refresh),
            Some(json!({"name": "ci"})),
        )
        .await
        .ok();
    let key_id = key["_id"].as_str().unwrap().to_string();
    let by_key = t
        .login(APP, "api-key", json!({"key": key["key"]}))
        .await
        .ok();
    let one_key = |action: &str| format!("{keys}/{key_id}/{action}");
    c.call(
        Method::PUT,
        &one_key("disable"),
        Some(&second.refresh),
        None,
    )
    .await
    .void();
    c.call(Method::PUT, &one_key("enable"), Some(&second.refresh), None)
        .await
        .void();
    c.call(
        Method::DELETE,
        &format!("{keys}/{key_id}"),
        Some(&second.refresh),
        None,
    )
    .await
    .void();
    c.call(
        Method::POST,
        &keys,
        Some(&second.refresh),
        Some(json!({"name": "kept"})),
    )
    .await
    .ok();

    // Sessions: one revoked by id, then every other one, then the password changed, then a
    // sign-out.
    let sessions = c
        .call(
            Method::GET,
            &t.api("/auth/sessions"),
            Some(&second.access),
            None,
        )
        .await
        .ok();
    let first_session = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["device_id"] == device(1).as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let url = t.api(&format!("/auth/sessions/{first_session}"));
    c.call(Method::DELETE, &url, Some(&second.access), None)
        .await
        .void();
    let third = Tokens::from(c.login(&t, &email, PASSWORD, &device(3)).await.ok());
    let url = t.api("/auth/sessions?scope=others");
    c.call(Method::DELETE, &url, Some(&third.access), None)
        .await
        .void();
    let new_password = "a different horse battery staple";
    let body = json!({"current_password": PASSWORD, "new_password": new_password});
    c.call(
        Method::POST,
        &t.api("/auth/password"),
        Some(&third.access),
        Some(body),
    )
    .await
    .void();
    c.call(
        Method::DELETE,
        &t.api("/auth/session"),
        Some(&third.refresh),
        None,
    )
    .await
    .void();
    assert!(first.access.len() > 10);

    // A reset (its ended sessions are one event), then the notice's lockdown link.
    let later = t.password_login(&email, new_password).await;
    let seen = t.outbox().len();
    let newest = "the newest horse battery staple";
    t.reset_password_by_mail(&email, newest).await;
    let (token, token_id) = t.mailed_token_after(seen, &email, "/lockdown").await;
    let lockdown = format!("{}/app/{APP}/lockdown", t.base);
    let page = press_button(&c.http, &lockdown, &token, &token_id).await;
    assert!(page.contains("Deleted 1 API keys"), "{page}");
    assert!(later.refresh.len() > 10);

    // The soft lock: with lockout_after = 3, the fourth wrong password in a row engages it.
    for _ in 0..4 {
        clock.advance(15);
        c.login(&t, &email, "wrong again and again", &device(4))
            .await
            .err(401, "InvalidPassword");
    }
    clock.advance(15);
    let user_id = second.user_id.clone();
    wait_for(&t, &user_id, "sign_in_failed", 5).await;
    wait_for(&t, &user_id, "lockout", 1).await;
    // Locked: read the log from the store (a login is refused now), newest first.
    let rows = gatehouse_server::store::activity::list(t.state().db.reader(), APP, &user_id, 100)
        .await
        .unwrap();
    let events: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({"id": r.id, "kind": r.kind, "detail": r.detail, "ip": r.ip,
                "user_agent": r.user_agent, "created_at": r.created_at})
        })
        .collect();

    let signed_in = |d: u8| {
        let id = device(d);
        move |e: &Value| e["detail"]["device_id"] == id.as_str()
    };
    let e = one(&events, "sign_in", signed_in(1));
    from_client(e);
    assert_eq!(e["detail"]["provider_type"], "local-userpass");
    assert_eq!(e["detail"]["device"]["platform"], "linux");
    assert_eq!(e["detail"]["device"]["appVersion"], "2.0");
    assert!(e["detail"]["session_id"].as_str().is_some());
    from_client(one(&events, "sign_in", signed_in(2)));
    let e = one(&events, "sign_in", |e| {
        e["detail"]["provider_type"] == "api-key"
    });
    assert_eq!(e["detail"]["api_key_id"], key_id.as_str());
    assert_eq!(e["detail"]["device_id"], by_key["device_id"]);
    // Devices 2 and 3 were new (alerts are off here: recorded, not sent); device 1 was the first.
    for d in [2, 3] {
        let e = one(&events, "new_device", signed_in(d));
        assert_eq!(e["detail"]["alerted"], false);
    }
    assert!(!events
        .iter()
        .any(|e| e["kind"] == "new_device" && signed_in(1)(e)));

    let failed: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "sign_in_failed")
        .collect();
    assert_eq!(
        failed.len(),
        5,
        "one wrong password, then four: {events:#?}"
    );
    for e in &failed {
        from_client(e);
        assert_eq!(e["detail"]["provider_type"], "local-userpass");
    }
    assert_eq!(failed[0]["detail"]["reason"], "locked");
    assert_eq!(failed[4]["detail"]["reason"], "wrong_password");
    let e = one(&events, "lockout", |_| true);
    from_client(e);
    assert_eq!(e["detail"]["failures"], 4);

    for (kind, name) in [
        ("api_key_created", "ci"),
        ("api_key_disabled", "ci"),
        ("api_key_enabled", "ci"),
        ("api_key_deleted", "ci"),
        ("api_key_created", "kept"),
    ] {
        let e = one(&events, kind, |e| e["detail"]["name"] == name);
        from_client(e);
        assert!(e["detail"]["api_key_id"].as_str().is_some());
    }
    let e = one(&events, "session_revoked", |e| {
        e["detail"]["scope"] == "one"
    });
    from_client(e);
    assert_eq!(e["detail"]["session_id"], first_session.as_str());
    assert_eq!(e["detail"]["device_id"], device(1).as_str());
    let e = one(&events, "session_revoked", |e| {
        e["detail"]["scope"] == "others"
    });
    from_client(e);
    assert_eq!(
        e["detail"]["sessions_ended"], 1,
        "device 2 (the API-key one ended with it)"
    );
    let e = one(&events, "password_changed", |_| true);
    from_client(e);
    assert_eq!(e["detail"]["provider_type"], "local-userpass");
    let e = one(&events, "sign_out", |_| true);
    from_client(e);
    assert_eq!(e["detail"]["device_id"], device(3).as_str());
    let e = one(&events, "password_reset", |_| true);
    assert_eq!(
        e["detail"]["sessions_ended"], 1,
        "one event for the reset's ended sessions"
    );
    let e = one(&events, "lockdown", |_| true);
    assert_eq!(e["ip"], "127.0.0.1");
    assert_eq!(e["detail"]["via"], "reset_notice");
    assert_eq!(e["detail"]["api_keys_deleted"], 1);

    // Identities: an anonymous user links an email/password identity, then drops its anonymous
    // one.
    let anon = t.anonymous().await;
    let linked = unique_email("linked");
    t.register_and_confirm(APP, &linked, PASSWORD).await;
    let url = format!(
        "{}?link=true",
        t.app_path(APP, "/auth/providers/local-userpass/login")
    );
    let body = json!({"username": linked, "password": PASSWORD});
    c.call(Method::POST, &url, Some(&anon.access), Some(body))
        .await
        .ok();
    let profile = c
        .call(
            Method::GET,
            &t.api("/auth/profile"),
            Some(&anon.access),
            None,
        )
        .await
        .ok();
    let anon_identity = profile["identities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["provider_type"] == "anon-user")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let url = t.api(&format!("/auth/identities/anon-user/{anon_identity}"));
    c.call(Method::DELETE, &url, Some(&anon.access), None)
        .await
        .void();
    let events = events_of(&t, &linked, PASSWORD).await;
    let e = one(&events, "identity_linked", |_| true);
    assert_eq!(e["detail"]["provider_type"], "local-userpass");
    assert_eq!(e["ip"], "127.0.0.1");
    let e = one(&events, "identity_unlinked", |_| true);
    from_client(e);
    assert_eq!(e["detail"]["provider_type"], "anon-user");
    assert_eq!(e["detail"]["identity_id"], anon_identity.as_str());
    let e = one(&events, "sign_in", |e| {
        e["detail"]["provider_type"] == "anon-user"
    });
    assert_eq!(e["ip"], "127.0.0.1");
}

async fn pages_are_newest_first_and_bad_boundaries_are_refused(b: Backend) {
    let t = TestServer::start(b).await;
    let owner = unique_email("pages");
    t.register_and_confirm(APP, &owner, PASSWORD).await;
    let c = Client::new();
    for d in 1..=6 {
        c.login(&t, &owner, PASSWORD, &device(d)).await.ok();
    }
    let me = t.password_login(&owner, PASSWORD).await;
    let tr = &t;
    let access = me.access.clone();
    let list = |query: String| {
        let access = access.clone();
        async move {
            let url = tr.api(&format!("/auth/activity{query}"));
            tr.call(Method::GET, &url, Some(&access), None).await
        }
    };
    let all = list("?limit=100".into()).await.ok();
    let all = all.as_array().unwrap().clone();
    // 7 sign-ins and 6 new devices (all but the first; the last login had no device id).
    assert_eq!(all.len(), 13, "{all:#?}");
    let created: Vec<i64> = all
        .iter()
        .map(|e| e["created_at"].as_i64().unwrap())
        .collect();
    assert!(created.windows(2).all(|w| w[0] >= w[1]), "newest first");

    let mut paged = vec![];
    let mut before: Option<String> = None;
    loop {
        let query = match &before {
            None => "?limit=5".to_string(),
            Some(id) => format!("?limit=5&before={id}"),
        };
        let page = list(query).await.ok();
        let page = page.as_array().unwrap().clone();
        assert!(page.len() <= 5);
        let Some(last) = page.last() else { break };
        before = Some(last["id"].as_str().unwrap().to_string());
        paged.extend(page);
    }
    assert_eq!(paged, all, "the pages, joined, are the whole log in order");

    // The SDK pages the same way.
    let sdk = crate::sdk::Sdk::new();
    let app = sdk.app(&t).await;
    let user = app
        .log_in(gatehouse_client::Credentials::email_password(
            &owner, PASSWORD,
        ))
        .await
        .unwrap();
    let head = user.activity_page(2, None).await.unwrap();
    let next = user.activity_page(2, Some(&head[1].id)).await.unwrap();
    assert!(next[0].created_at <= head[1].created_at && next[0].id != head[1].id);
    assert!(user.activity_page(2, Some("not-an-id")).await.is_err());

    // Bad boundaries: not an id, an unknown id, another user's event; and bad limits.
    let other = t.email_user(&unique_email("other")).await;
    let theirs = t
        .call(
            Method::GET,
            &t.api("/auth/activity"),
            Some(&other.access),
            None,
        )
        .await
        .ok();
    let their_id = theirs[0]["id"].as_str().unwrap().to_string();
    for bad in ["zzz".to_string(), "0".repeat(24), their_id] {
        let refused = list(format!("?before={bad}"))
            .await
            .err(400, "InvalidParameter");
        assert!(
            refused["error"]
                .as_str()
                .unwrap()
                .contains("before must be the id of one of your"),
            "{refused}"
        );
    }
    for bad in ["0", "101", "ten"] {
        let refused = list(format!("?limit={bad}"))
            .await
            .err(400, "InvalidParameter");
        assert!(refused["error"]
            .as_str()
            .unwrap()
            .contains("limit must be between 1 and 100"));
    }
}

async fn old_events_are_pruned_by_the_servers_maintenance(b: Backend) {
    let mut t = TestServer::start(b).await;
    let owner = unique_email("retention");
    t.register_and_confirm(APP, &owner, PASSWORD).await;
    let u = t.password_login(&owner, PASSWORD).await;
    t.password_login(&owner, PASSWORD).await;
    // Age the first two events by 40 days, as time would.
    let db = &t.state().db;
    let rows = gatehouse_server::store::activity::list(db.reader(), APP, &u.user_id, 100)
        .await
        .unwrap();
    assert_eq!(rows.len(), 3, "two sign-ins and a new device");
    for row in &rows[1..] {
        sqlx::query("UPDATE activity SET created_at = created_at - $1 WHERE id = $2")
            .bind(40 * 24 * 3600_i64)
            .bind(&row.id)
            .execute(db.writer())
            .await
            .unwrap();
    }
    // A restart runs a maintenance round at once; keep_days = 30 drops the aged ones only.
    t.restart(|c| c.activity.keep_days = 30).await;
    let kept = || async {
        gatehouse_server::store::activity::list(t.state().db.reader(), APP, &u.user_id, 100)
            .await
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while kept().await.len() != 1 {
        assert!(Instant::now() < deadline, "not pruned: {:?}", kept().await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(kept().await[0].id, rows[0].id, "the recent event stays");

    // keep_days outside 1..=3650 is refused at start.
    for bad in [0, 3651] {
        let mut config = test_config(t.dir.path(), &t.database_url);
        config.activity.keep_days = bad;
        let e = gatehouse_server::Server::start(config).await.err().unwrap();
        assert!(
            e.to_string()
                .contains("activity.keep_days must be between 1 and 3650"),
            "{e}"
        );
    }
}

async fn the_cli_prints_a_users_activity(b: Backend) {
    let t = TestServer::start(b).await;
    let owner = unique_email("cli");
    t.register_and_confirm(APP, &owner, PASSWORD).await;
    let c = Client::new();
    let u = Tokens::from(c.login(&t, &owner, PASSWORD, &device(1)).await.ok());
    c.login(&t, &owner, "wrong password for the cli", &device(1))
        .await
        .err(401, "InvalidPassword");
    t.call(
        Method::DELETE,
        &t.api("/auth/session"),
        Some(&u.refresh),
        None,
    )
    .await
    .void();
    wait_for(&t, &u.user_id, "sign_in_failed", 1).await;
    let dir = t.dir.path().to_str().unwrap().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--data-dir",
            &dir,
            "--database-url",
            &t.database_url,
            "admin",
        ];
        args.push("activity");
        args.extend_from_slice(extra);
        run_gatehoused(&args)
    };
    let out = run(&[&u.user_id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = lines.iter().map(|l| l["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        ["sign_out", "sign_in_failed", "sign_in"],
        "newest first"
    );
    assert_eq!(lines[2]["user_agent"], UA);
    assert_eq!(lines[2]["detail"]["device_id"], device(1).as_str());

    let out = run(&[&u.user_id, "--app", APP, "--limit", "1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1);
    assert!(text.contains("\"sign_out\""));

    let out = run(&[&u.user_id, "--app", STRICT_APP]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not belong to app"));
    let out = run(&[&u.user_id, "--limit", "0"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--limit must be between 1 and 1000"));
    let out = run(&[&"0".repeat(24)]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user with id"));
}

// ---- new-device alerts over real SMTP -----------------------------------------------------------

fn link_in(body: &str, path: &str) -> String {
    body.split_whitespace()
        .find(|w| w.starts_with("http") && w.contains(path))
        .unwrap_or_else(|| panic!("no {path} link in {body}"))
        .to_string()
}

async fn a_new_device_is_mailed_and_this_wasnt_me_ends_every_session(b: Backend) {
    let peer = SmtpPeer::start();
    let t = TestServer::start_with(b, |c| {
        c.smtp = Some(peer.config());
        c.apps.get_mut(APP).unwrap().new_device_alerts.enabled = true;
    })
    .await;
    let owner = unique_email("alerted");
    let seen = |subject: &str| {
        let n = peer
            .mails(&owner)
            .iter()
            .filter(|m| m["subject"].as_str().unwrap().contains(subject))
            .count();
        n
    };
    // Registration by mail (read from the peer), then the first device: no alert.
    t.post(
        APP,
        "/auth/providers/local-userpass/register",
        json!({"email": owner, "password": PASSWORD}),
    )
    .await
    .void();
    let confirm = peer.wait_for(&owner, "Confirm").await;
    let (token, token_id) = token_of(&link_in(confirm["body"].as_str().unwrap(), "/confirm"));
    t.post(
        APP,
        "/auth/providers/local-userpass/confirm",
        json!({"token": token, "tokenId": token_id}),
    )
    .await
    .void();
    let c = Client::new();
    let home = Tokens::from(c.login(&t, &owner, PASSWORD, &device(1)).await.ok());
    // The same device again: still nothing.
    c.login(&t, &owner, PASSWORD, &device(1)).await.ok();
    t.settle().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(seen("New sign-in"), 0, "{:?}", peer.mails(&owner));

    // A new device: the login answers at once, the alert follows.
    let at = t.state().now();
    let stranger = Tokens::from(c.login(&t, &owner, PASSWORD, &device(2)).await.ok());
    let alert = peer.wait_for(&owner, "New sign-in").await;
    let body = alert["body"].as_str().unwrap();
    assert!(
        alert["subject"].as_str().unwrap().contains("E2E App"),
        "{alert}"
    );
    assert!(
        body.contains("Device: linux 6.1, app activity-tests 2.0"),
        "{body}"
    );
    assert!(body.contains(&format!("user agent \"{UA}\"")), "{body}");
    assert!(body.contains("Address: 127.0.0.1"), "{body}");
    let when = gatehouse_server::new_device::utc(at);
    let day = &when[..10];
    assert!(
        body.contains(&format!("Time: {day}")) && body.contains(" UTC"),
        "{body}"
    );
    let link = link_in(body, "/not-me");
    assert!(link.starts_with(&t.base), "{link}");

    // Opening the link only shows a button; nothing has happened yet.
    let page = page_text(&t.http, &link).await;
    assert!(page.contains("<form method=\"post\">"), "{page}");
    assert!(page.contains("Sign out everywhere"), "{page}");
    let tr = &t;
    let refresh = |token: String| async move {
        let url = tr.api("/auth/session");
        tr.call(Method::POST, &url, Some(&token), None).await
    };
    refresh(home.refresh.clone()).await.ok();

    // The button: every session ends, a reset mail arrives, the events are recorded.
    let (token, token_id) = token_of(&link);
    let done = press_button(&c.http, &link, &token, &token_id).await;
    assert!(done.contains("Signed out 3 sessions"), "{done}");
    assert!(done.contains("We sent a password reset link"), "{done}");
    refresh(home.refresh.clone())
        .await
        .err(401, "InvalidSession");
    refresh(stranger.refresh.clone())
        .await
        .err(401, "InvalidSession");
    let reset = peer.wait_for(&owner, "Reset your password").await;
    let (rt, rid) = token_of(&link_in(reset["body"].as_str().unwrap(), "/reset"));
    let fresh = "a fresh horse battery staple";
    t.post(
        APP,
        "/auth/providers/local-userpass/reset",
        json!({"token": rt, "tokenId": rid, "password": fresh}),
    )
    .await
    .void();

    // A used link says so; so does an expired one (7 days), and a forged one.
    let again = press_button(&c.http, &link, &token, &token_id).await;
    assert!(again.contains("this link was already used"), "{again}");
    let third = Tokens::from(c.login(&t, &owner, fresh, &device(3)).await.ok());
    let second_alert = {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let alerts: Vec<Value> = peer
                .mails(&owner)
                .into_iter()
                .filter(|m| m["subject"].as_str().unwrap().contains("New sign-in"))
                .collect();
            if alerts.len() == 2 {
                break alerts
                    .into_iter()
                    .map(|m| link_in(m["body"].as_str().unwrap(), "/not-me"))
                    .find(|l| *l != link)
                    .unwrap();
            }
            assert!(Instant::now() < deadline, "no second alert");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    t.state().clock.advance(7 * 24 * 3600 + 1);
    let (token, token_id) = token_of(&second_alert);
    let expired = press_button(&c.http, &second_alert, &token, &token_id).await;
    assert!(expired.contains("this link has expired"), "{expired}");
    let forged = press_button(&c.http, &second_alert, &"x".repeat(43), &token_id).await;
    assert!(forged.contains("this link is not valid"), "{forged}");
    assert!(third.access.len() > 10);

    let rows =
        gatehouse_server::store::activity::list(t.state().db.reader(), APP, &home.user_id, 100)
            .await
            .unwrap();
    let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
    let new_devices: Vec<_> = rows.iter().filter(|r| r.kind == "new_device").collect();
    assert_eq!(new_devices.len(), 2, "{kinds:?}");
    assert_eq!(new_devices[1].detail["device_id"], device(2).as_str());
    assert_eq!(new_devices[1].detail["alerted"], true);
    assert_eq!(new_devices[1].user_agent.as_deref(), Some(UA));
    let lockdowns: Vec<_> = rows.iter().filter(|r| r.kind == "lockdown").collect();
    assert_eq!(lockdowns.len(), 1, "{kinds:?}");
    assert_eq!(lockdowns[0].detail["via"], "new_device_alert");
    assert_eq!(lockdowns[0].detail["sessions_ended"], 3);
    assert_eq!(lockdowns[0].user_agent.as_deref(), Some(UA));
}

async fn no_alert_on_first_sign_in_for_anonymous_users_or_when_off(b: Backend) {
    let t = TestServer::start_with(b, |c| {
        c.apps.get_mut(APP).unwrap().new_device_alerts.enabled = true;
    })
    .await;
    let c = Client::new();
    let owner = unique_email("first");
    t.register_and_confirm(APP, &owner, PASSWORD).await;
    c.login(&t, &owner, PASSWORD, &device(1)).await.ok();
    // Anonymous users: a new device id each time, never an alert (nobody to tell).
    for d in [7, 8] {
        let body = json!({"options": {"device": {"deviceId": device(d)}}});
        t.login(APP, "anon-user", body).await.ok();
    }
    t.settle().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let alerts = |to: &str| {
        t.outbox()
            .into_iter()
            .filter(|m| {
                m["to"] == to && m["subject"].as_str().unwrap_or("").contains("New sign-in")
            })
            .count()
    };
    assert_eq!(alerts(&owner), 0, "the first sign-in is no alert");
    assert!(
        !t.outbox()
            .iter()
            .any(|m| m["subject"].as_str().unwrap_or("").contains("New sign-in")),
        "{:?}",
        t.outbox()
    );
    // The second device is: through the outbox this time.
    c.login(&t, &owner, PASSWORD, &device(2)).await.ok();
    let deadline = Instant::now() + Duration::from_secs(10);
    while alerts(&owner) == 0 {
        assert!(Instant::now() < deadline, "no alert in {:?}", t.outbox());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(alerts(&owner), 1);

    // Off (the default): recorded as a new device, no mail.
    let off = TestServer::start(b).await;
    let quiet = unique_email("quiet");
    off.register_and_confirm(APP, &quiet, PASSWORD).await;
    c.login(&off, &quiet, PASSWORD, &device(1)).await.ok();
    let u = Tokens::from(c.login(&off, &quiet, PASSWORD, &device(2)).await.ok());
    off.settle().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!off
        .outbox()
        .iter()
        .any(|m| m["subject"].as_str().unwrap_or("").contains("New sign-in")));
    let rows =
        gatehouse_server::store::activity::list(off.state().db.reader(), APP, &u.user_id, 100)
            .await
            .unwrap();
    let e = rows.iter().find(|r| r.kind == "new_device").unwrap();
    assert_eq!(e.detail["alerted"], false);
}

async fn phone_only_accounts_get_a_text_and_their_events_are_recorded(b: Backend) {
    const NUMBER: &str = "+14155550199";
    // The Twilio stand-in of tests/e2e/phone.rs (its account id and token).
    let (twilio, url) = crate::phone::Twilio::start().await;
    let t = TestServer::start_with(b, |c| {
        c.sms = Some(gatehouse_server::config::SmsConfig {
            base_url: url,
            account_sid: "AC0123456789abcdef0123456789abcdef".into(),
            auth_token: gatehouse_server::Secret::new("twilio-auth-token"),
            from: "+15005550006".into(),
        });
        let app = c.apps.get_mut(APP).unwrap();
        app.providers.push("phone-password".into());
        app.phone.allowed_countries = vec!["US".into()];
        app.new_device_alerts.enabled = true;
    })
    .await;
    let c = Client::new();
    let phone_login = |password: &'static str, d: u8| {
        let body = json!({"phone": NUMBER, "password": password,
            "options": {"device": {"deviceId": device(d), "platform": "android"}}});
        let url = t.app_path(APP, "/auth/providers/phone-password/login");
        let c = &c;
        async move { c.call(Method::POST, &url, None, Some(body)).await }
    };
    t.post(
        APP,
        "/auth/providers/phone-password/register",
        json!({"phone": NUMBER, "password": PASSWORD}),
    )
    .await
    .void();
    let code = twilio.code_after(NUMBER, 0).await;
    t.post(
        APP,
        "/auth/providers/phone-password/confirm",
        json!({"phone": NUMBER, "code": code}),
    )
    .await
    .void();
    let first = Tokens::from(phone_login(PASSWORD, 1).await.ok());
    phone_login("not the right password", 1)
        .await
        .err(401, "InvalidPassword");
    let texts = || {
        twilio
            .sent
            .lock()
            .unwrap()
            .iter()
            .filter(|(to, _)| to == NUMBER)
            .count()
    };
    let before = texts();
    phone_login(PASSWORD, 2).await.ok();
    let deadline = Instant::now() + Duration::from_secs(10);
    let alert = loop {
        let newest = twilio
            .sent
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|(to, _)| to == NUMBER)
            .cloned();
        if texts() > before {
            break newest.unwrap().1;
        }
        assert!(Instant::now() < deadline, "no alert text");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        alert.starts_with("New E2E App sign-in: android from 127.0.0.1 at "),
        "{alert}"
    );
    let link = link_in(&alert, "/not-me");
    let (token, token_id) = token_of(&link);
    let done = press_button(&c.http, &link, &token, &token_id).await;
    assert!(done.contains("We texted a password reset code"), "{done}");
    let code = twilio.code_after(NUMBER, before + 1).await;
    let fresh = "a fresh horse battery staple";
    t.post(
        APP,
        "/auth/providers/phone-password/reset",
        json!({"phone": NUMBER, "code": code, "password": fresh}),
    )
    .await
    .void();
    phone_login(fresh, 1).await.ok();
    wait_for(&t, &first.user_id, "sign_in_failed", 1).await;

    let rows =
        gatehouse_server::store::activity::list(t.state().db.reader(), APP, &first.user_id, 100)
            .await
            .unwrap();
    let kind = |k: &str| rows.iter().filter(|r| r.kind == k).collect::<Vec<_>>();
    let failed = kind("sign_in_failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].detail["provider_type"], "phone-password");
    assert_eq!(failed[0].user_agent.as_deref(), Some(UA));
    assert_eq!(kind("sign_in").len(), 3);
    assert_eq!(kind("new_device").len(), 1);
    assert_eq!(kind("lockdown")[0].detail["sessions_ended"], 2);
    let reset = kind("password_reset");
    assert_eq!(reset.len(), 1);
    assert_eq!(reset[0].detail["provider_type"], "phone-password");
    assert_eq!(
        reset[0].detail["sessions_ended"], 0,
        "the link had ended them already"
    );
    assert_eq!(reset[0].ip.as_deref(), Some("127.0.0.1"));
}
