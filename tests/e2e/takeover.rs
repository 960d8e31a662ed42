//! Account-takeover paths of issue 12 (items 1, 2, 5, 6, 7, 8): pre-registration hijack by email
//! and by phone, raced lockout, rotation reuse, reset floods, enumeration through custom
//! functions, and password-change guessing.

use std::time::Duration;

use serde_json::json;

use crate::both_backends;
use crate::support::*;

both_backends!(
    re_registration_replaces_an_unconfirmed_password,
    confirmation_links_are_bound_to_their_password,
    re_registration_under_the_mail_limit_is_finished_by_a_resend,
    phone_re_registration_replaces_an_unconfirmed_password,
    concurrent_wrong_guesses_are_all_counted,
    rotated_sessions_refresh_with_rotation_only_and_grace_once,
    bad_resets_are_refused_before_hashing,
    resets_and_confirmations_have_a_per_ip_bucket,
    custom_functions_answer_alike_for_unknown_and_confirmed_users,
    password_change_guesses_share_the_login_counter,
);

const ATTACKER_PW: &str = "attacker chosen passphrase";
const OWNER_PW: &str = "the owner's own passphrase";

fn register_body(email: &str, password: &str) -> serde_json::Value {
    json!({"email": email, "password": password})
}

async fn register(t: &TestServer, app: &str, email: &str, password: &str) {
    t.post(
        app,
        "/auth/providers/local-userpass/register",
        register_body(email, password),
    )
    .await
    .void();
}

async fn confirm(t: &TestServer, app: &str, token: &str, token_id: &str) -> Reply {
    t.post(
        app,
        "/auth/providers/local-userpass/confirm",
        json!({"token": token, "tokenId": token_id}),
    )
    .await
}

async fn email_login(t: &TestServer, app: &str, email: &str, password: &str) -> Reply {
    t.login(
        app,
        "local-userpass",
        json!({"username": email, "password": password}),
    )
    .await
}

/// T: an attacker pre-registers the victim's address and never confirms; the owner registers
/// and confirms: the owner's password is live, the attacker's is refused and the attacker's link
/// confirms nothing. The strict app answers the same (no 409 for an unconfirmed address).
async fn re_registration_replaces_an_unconfirmed_password(b: Backend) {
    let t = TestServer::start(b).await;
    for app in [APP, STRICT_APP] {
        let victim = unique_email("victim");
        register(&t, app, &victim, ATTACKER_PW).await;
        let (attacker_token, attacker_id) = t.mailed_token(&victim, "/confirm").await;
        let seen = t.outbox().len();
        register(&t, app, &victim, OWNER_PW).await;
        let (token, token_id) = t.mailed_token_after(seen, &victim, "/confirm").await;
        assert_ne!(token_id, attacker_id);
        // The link mailed for the attacker's password confirms nothing.
        confirm(&t, app, &attacker_token, &attacker_id)
            .await
            .err(400, "UserpassTokenInvalid");
        confirm(&t, app, &token, &token_id).await.void();
        email_login(&t, app, &victim, OWNER_PW).await.ok();
        email_login(&t, app, &victim, ATTACKER_PW)
            .await
            .err(401, "InvalidPassword");
        // Once confirmed, a registration changes nothing (strict: name in use).
        let again = t
            .post(
                app,
                "/auth/providers/local-userpass/register",
                register_body(&victim, ATTACKER_PW),
            )
            .await;
        if app == STRICT_APP {
            again.err(409, "AccountNameInUse");
        } else {
            again.void();
        }
        email_login(&t, app, &victim, OWNER_PW).await.ok();
        email_login(&t, app, &victim, ATTACKER_PW)
            .await
            .err(401, "InvalidPassword");
    }
}

/// The hijack sequence with the per-address mail limit on (one confirmation mail a minute): the
/// owner's registration right after the attacker's gets no mail, but already replaced the
/// password; after the wait a resend mails a link that makes the owner's password live.
async fn re_registration_under_the_mail_limit_is_finished_by_a_resend(b: Backend) {
    let t = TestServer::start_with(b, throttled).await;
    let victim = unique_email("limited");
    register(&t, APP, &victim, ATTACKER_PW).await;
    let (attacker_token, attacker_id) = t.mailed_token(&victim, "/confirm").await;
    register(&t, APP, &victim, OWNER_PW).await;
    assert_eq!(
        t.mails_to(&victim).await.len(),
        1,
        "the limit held the second mail"
    );
    tokio::time::sleep(Duration::from_secs(61)).await;
    let seen = t.outbox().len();
    t.post(
        APP,
        "/auth/providers/local-userpass/confirm/send",
        json!({"email": victim}),
    )
    .await
    .void();
    let (token, token_id) = t.mailed_token_after(seen, &victim, "/confirm").await;
    confirm(&t, APP, &attacker_token, &attacker_id)
        .await
        .err(400, "UserpassTokenInvalid");
    confirm(&t, APP, &token, &token_id).await.void();
    email_login(&t, APP, &victim, OWNER_PW).await.ok();
    email_login(&t, APP, &victim, ATTACKER_PW)
        .await
        .err(401, "InvalidPassword");
}

/// A confirmation token works only for the password hash it was issued for, even if nothing
/// voided it (a re-registration racing the confirmation).
async fn confirmation_links_are_bound_to_their_password(b: Backend) {
    use gatehouse_server::store::unconfirmed::{self, PasswordTable};
    use gatehouse_server::store::userpass as rows;
    let t = TestServer::start(b).await;
    let victim = unique_email("bound");
    register(&t, APP, &victim, ATTACKER_PW).await;
    let (token, token_id) = t.mailed_token(&victim, "/confirm").await;
    let db = &t.state().db;
    let account = rows::by_email(db.reader(), APP, &victim)
        .await
        .unwrap()
        .unwrap();
    let other = t.state().hasher.hash(OWNER_PW.into()).await.unwrap();
    assert!(unconfirmed::replace_password(
        db.writer(),
        PasswordTable::Userpass,
        &account.id,
        &other
    )
    .await
    .unwrap());
    confirm(&t, APP, &token, &token_id)
        .await
        .err(400, "UserpassTokenInvalid");
    let account = rows::by_id(db.reader(), &account.id)
        .await
        .unwrap()
        .unwrap();
    assert!(!account.confirmed, "a stale link made the account live");
}

/// The newest text to `phone` in the dev outbox after the first `seen` texts to it.
async fn texted_code(t: &TestServer, phone: &str, seen: usize) -> String {
    for _ in 0..200 {
        let texts: Vec<String> = t
            .outbox()
            .into_iter()
            .filter(|m| m["channel"] == "sms" && m["to"] == phone)
            .filter_map(|m| m["text"].as_str().map(str::to_string))
            .collect();
        if texts.len() > seen {
            return texts[texts.len() - 1][..6].to_string();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no new text to {phone}");
}

fn texts_to(t: &TestServer, phone: &str) -> usize {
    t.outbox()
        .iter()
        .filter(|m| m["channel"] == "sms" && m["to"] == phone)
        .count()
}

async fn phone_server(b: Backend) -> TestServer {
    TestServer::start_with(b, |c| {
        for name in [APP, STRICT_APP] {
            let app = c.apps.get_mut(name).unwrap();
            app.providers.push("phone-password".into());
            app.phone.allowed_countries = vec!["*".into()];
        }
    })
    .await
}

async fn phone_login(t: &TestServer, app: &str, phone: &str, password: &str) -> Reply {
    t.login(
        app,
        "phone-password",
        json!({"phone": phone, "password": password}),
    )
    .await
}

/// The same hijack by phone: the attacker's code confirms nothing, the owner's password wins.
async fn phone_re_registration_replaces_an_unconfirmed_password(b: Backend) {
    let t = phone_server(b).await;
    for (app, phone) in [(APP, "+14155550101"), (STRICT_APP, "+14155550102")] {
        let register = |password: &'static str| {
            t.post(
                app,
                "/auth/providers/phone-password/register",
                json!({"phone": phone, "password": password}),
            )
        };
        register(ATTACKER_PW).await.void();
        let attacker_code = texted_code(&t, phone, 0).await;
        register(OWNER_PW).await.void();
        let code = texted_code(&t, phone, 1).await;
        let confirm = |code: String| {
            t.post(
                app,
                "/auth/providers/phone-password/confirm",
                json!({"phone": phone, "code": code}),
            )
        };
        if attacker_code != code {
            confirm(attacker_code).await.err(400, "InvalidCode");
        }
        confirm(code).await.void();
        phone_login(&t, app, phone, OWNER_PW).await.ok();
        phone_login(&t, app, phone, ATTACKER_PW)
            .await
            .err(401, "InvalidPassword");
        let before = texts_to(&t, phone);
        let again = register(ATTACKER_PW).await;
        if app == STRICT_APP {
            again.err(409, "AccountNameInUse");
        } else {
            again.void();
        }
        phone_login(&t, app, phone, OWNER_PW).await.ok();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            texts_to(&t, phone),
            before,
            "a confirmed number gets no new code"
        );
    }
    // A code is bound to the password it was texted for, even if nothing voided it.
    use gatehouse_server::store::phone as rows;
    use gatehouse_server::store::unconfirmed::{self, PasswordTable};
    let phone = "+14155550103";
    t.post(
        APP,
        "/auth/providers/phone-password/register",
        json!({"phone": phone, "password": ATTACKER_PW}),
    )
    .await
    .void();
    let code = texted_code(&t, phone, 0).await;
    let db = &t.state().db;
    let account = rows::by_phone(db.reader(), APP, phone)
        .await
        .unwrap()
        .unwrap();
    let other = t.state().hasher.hash(OWNER_PW.into()).await.unwrap();
    assert!(
        unconfirmed::replace_password(db.writer(), PasswordTable::Phone, &account.id, &other)
            .await
            .unwrap()
    );
    t.post(
        APP,
        "/auth/providers/phone-password/confirm",
        json!({"phone": phone, "code": code}),
    )
    .await
    .err(400, "InvalidCode");
    let account = rows::by_phone(db.reader(), APP, phone)
        .await
        .unwrap()
        .unwrap();
    assert!(!account.confirmed, "a stale code made the number live");
}

fn throttled(c: &mut gatehouse_server::Config) {
    use gatehouse_server::config::Bucket;
    c.rate_limits.enabled = true;
    let large = Bucket {
        capacity: 100_000,
        period_secs: 1,
    };
    c.rate_limits.login = large;
    c.rate_limits.register = large;
    c.rate_limits.email_send = large;
}

/// T-4 with concurrency: 200 wrong guesses at once against one account are each counted (the
/// counter is taken atomically before anything is decided, those the progressive delay refuses
/// included), so the soft lock engages and the right password then gets the generic answer.
async fn concurrent_wrong_guesses_are_all_counted(b: Backend) {
    const GUESSES: usize = 200;
    const LOCKOUT_AFTER: i64 = 150;
    let t = TestServer::start_with(b, |c| {
        throttled(c);
        c.rate_limits.lockout_after = LOCKOUT_AFTER;
    })
    .await;
    let email = unique_email("race");
    t.email_user(&email).await;
    let url = t.app_path(APP, "/auth/providers/local-userpass/login");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(GUESSES)
        .build()
        .unwrap();
    let mut guesses = tokio::task::JoinSet::new();
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(GUESSES));
    for i in 0..GUESSES {
        let (http, url, email, start) = (http.clone(), url.clone(), email.clone(), start.clone());
        guesses.spawn(async move {
            start.wait().await;
            let body = json!({"username": email, "password": format!("wrong guess number {i}")});
            http.post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let (mut refused, mut delayed) = (0i64, 0i64);
    while let Some(status) = guesses.join_next().await {
        match status.unwrap() {
            401 => refused += 1,
            429 => delayed += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(refused + delayed, GUESSES as i64);
    let stored = gatehouse_server::store::failures::get(t.state().db.reader(), APP, &email)
        .await
        .unwrap();
    assert_eq!(
        stored.count, GUESSES as i64,
        "every guess is counted ({refused} verified, {delayed} refused by the delay)"
    );
    // The soft lock engaged: after any delay, the right password gets the generic answer.
    t.state().clock.advance(60);
    email_login(&t, APP, &email, PASSWORD)
        .await
        .err(401, "InvalidPassword");
}

async fn refresh(t: &TestServer, token: &str, rotate: bool) -> Reply {
    let mut req = t.http.post(t.api("/auth/session")).bearer_auth(token);
    if rotate {
        req = req.header("x-gatehouse-refresh-rotation", "1");
    }
    let resp = req.send().await.unwrap();
    Reply::read(resp).await
}

fn refresh_token(reply: Reply) -> String {
    reply.ok()["refresh_token"].as_str().unwrap().to_string()
}

/// Item 5: once rotated, a session never falls back to compat refreshes; the previous token
/// gets one grace answer, with rotation only; a second use of it ends the session.
async fn rotated_sessions_refresh_with_rotation_only_and_grace_once(b: Backend) {
    let t = TestServer::start(b).await;
    let u = t.anonymous().await;
    let rt1 = refresh_token(refresh(&t, &u.refresh, true).await);
    // The current token without the rotation opt-in is refused (a copied token cannot live on
    // in compat mode)...
    refresh(&t, &rt1, false).await.err(401, "InvalidSession");
    // ...but the session itself goes on.
    let rt2 = refresh_token(refresh(&t, &rt1, true).await);
    // The previous token: one grace answer (the same successor), with rotation...
    assert_eq!(refresh_token(refresh(&t, &rt1, true).await), rt2);
    // ...and a second use is a reuse: the session ends, the current token with it.
    refresh(&t, &rt1, true).await.err(401, "InvalidSession");
    refresh(&t, &rt2, true).await.err(401, "InvalidSession");

    // The previous token without rotation gets no grace answer: a reuse.
    let v = t.anonymous().await;
    let next = refresh_token(refresh(&t, &v.refresh, true).await);
    refresh(&t, &v.refresh, false)
        .await
        .err(401, "InvalidSession");
    refresh(&t, &next, true).await.err(401, "InvalidSession");
    // A session that never rotated keeps working in compat mode.
    let w = t.anonymous().await;
    for _ in 0..2 {
        assert!(refresh(&t, &w.refresh, false).await.ok()["refresh_token"].is_null());
    }
}

/// Item 6: a reset checks its token (email) or code (phone) before hashing the new password: a
/// flood of bad resets costs no Argon2 work, and logins keep answering meanwhile.
async fn bad_resets_are_refused_before_hashing(b: Backend) {
    let t = phone_server(b).await;
    let email = unique_email("flood");
    t.email_user(&email).await;
    t.post(
        APP,
        "/auth/providers/local-userpass/reset/send",
        json!({"email": email}),
    )
    .await
    .void();
    let (token, token_id) = t.mailed_token(&email, "/reset").await;
    let hashes = t.state().hasher.hashes();
    let mut flood = tokio::task::JoinSet::new();
    for i in 0..100 {
        let (http, url, token_id) = (
            t.http.clone(),
            t.app_path(APP, "/auth/providers/local-userpass/reset"),
            token_id.clone(),
        );
        flood.spawn(async move {
            let body = json!({
                "token": format!("{i:064x}"),
                "tokenId": token_id,
                "password": format!("a brand new passphrase {i}"),
            });
            http.post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    // Logins keep answering while the flood runs.
    email_login(&t, APP, &email, PASSWORD).await.ok();
    while let Some(status) = flood.join_next().await {
        assert_eq!(status.unwrap(), 400);
    }
    assert_eq!(
        t.state().hasher.hashes(),
        hashes,
        "a bad reset reached the hasher"
    );
    // Phone: wrong codes, for a number with an account and for one without.
    for phone in ["+14155550111", "+14155550112"] {
        if phone.ends_with('1') {
            t.post(
                APP,
                "/auth/providers/phone-password/register",
                json!({"phone": phone, "password": PASSWORD}),
            )
            .await
            .void();
            let code = texted_code(&t, phone, 0).await;
            t.post(
                APP,
                "/auth/providers/phone-password/confirm",
                json!({"phone": phone, "code": code}),
            )
            .await
            .void();
            t.post(
                APP,
                "/auth/providers/phone-password/reset/send",
                json!({"phone": phone}),
            )
            .await
            .void();
        }
        let hashes = t.state().hasher.hashes();
        for i in 0..10 {
            let r = t
                .post(
                    APP,
                    "/auth/providers/phone-password/reset",
                    json!({"phone": phone, "code": format!("{i:06}"), "password": OWNER_PW}),
                )
                .await;
            assert_eq!(r.status, 400, "{}", r.json);
        }
        assert_eq!(
            t.state().hasher.hashes(),
            hashes,
            "a wrong code was hashed for"
        );
    }
    // The right token still works (and is hashed for, once).
    let hashes = t.state().hasher.hashes();
    t.post(
        APP,
        "/auth/providers/local-userpass/reset",
        json!({"token": token, "tokenId": token_id, "password": OWNER_PW}),
    )
    .await
    .void();
    assert_eq!(t.state().hasher.hashes(), hashes + 1);
    email_login(&t, APP, &email, OWNER_PW).await.ok();
}

/// Item 6: confirm, reset, phone confirm and phone reset take from one per-IP bucket.
async fn resets_and_confirmations_have_a_per_ip_bucket(b: Backend) {
    let t = TestServer::start_with(b, |c| {
        throttled(c);
        c.rate_limits.redeem = gatehouse_server::config::Bucket {
            capacity: 4,
            period_secs: 3600,
        };
        let app = c.apps.get_mut(APP).unwrap();
        app.providers.push("phone-password".into());
        app.phone.allowed_countries = vec!["*".into()];
    })
    .await;
    let bad_token = json!({"token": "00", "tokenId": "000000000000000000000000"});
    let mut bad_reset = bad_token.clone();
    bad_reset["password"] = json!(OWNER_PW);
    let phone_code = json!({"phone": "+14155550121", "code": "123456"});
    let mut phone_reset = phone_code.clone();
    phone_reset["password"] = json!(OWNER_PW);
    let calls = [
        ("/auth/providers/local-userpass/confirm", bad_token),
        ("/auth/providers/local-userpass/reset", bad_reset),
        ("/auth/providers/phone-password/confirm", phone_code),
        ("/auth/providers/phone-password/reset", phone_reset),
    ];
    for (path, body) in &calls {
        assert_eq!(t.post(APP, path, body.clone()).await.status, 400, "{path}");
    }
    for (path, body) in &calls {
        t.post(APP, path, body.clone())
            .await
            .err(429, "TooManyRequests");
    }
}

/// Item 7: `confirm/call` and `reset/call` answer the same 204 for an unknown address, a confirmed
/// one and an account the function runs for; only a strict app gives App Services' codes.
async fn custom_functions_answer_alike_for_unknown_and_confirmed_users(b: Backend) {
    use crate::peers::hooks::{Responder, WebhookReceiver};
    use gatehouse_server::config::WebhookConfig;
    const SECRET: &str = "whsec_3q2+7wEjRWeJq83vASNFZ4mrze8BI0VniavN7wEjRWc=";
    let hook = WebhookReceiver::start(SECRET).await;
    let url = hook.url();
    let t = TestServer::start_with(b, |c| {
        c.outbound.allow_loopback_http = true;
        for name in [APP, STRICT_APP] {
            let app = c.apps.get_mut(name).unwrap();
            app.confirm_function = Some(WebhookConfig {
                url: url.clone(),
                secret: gatehouse_server::Secret::new(SECRET),
            });
            app.reset_function = Some(WebhookConfig {
                url: url.clone(),
                secret: gatehouse_server::Secret::new(SECRET),
            });
        }
    })
    .await;
    // The function confirms addresses starting with "ok", leaves the rest pending.
    hook.respond(Responder::with(|b| {
        let ok = b["data"]["username"]
            .as_str()
            .is_some_and(|u| u.starts_with("ok"));
        let status = if b["type"] == "local-userpass.confirm" && ok {
            "success"
        } else {
            "pending"
        };
        (200, json!({"status": status}))
    }));
    for app in [APP, STRICT_APP] {
        let confirmed = unique_email("ok");
        let pending = unique_email("pending");
        let unknown = unique_email("nobody");
        register(&t, app, &confirmed, PASSWORD).await;
        register(&t, app, &pending, PASSWORD).await;
        email_login(&t, app, &confirmed, PASSWORD).await.ok();
        let call = |path: &'static str, email: &str| {
            let mut body = json!({"email": email});
            if path.ends_with("reset/call") {
                body["password"] = json!(OWNER_PW);
                body["arguments"] = json!([]);
            }
            t.post(app, path, body)
        };
        let confirm_call = "/auth/providers/local-userpass/confirm/call";
        let reset_call = "/auth/providers/local-userpass/reset/call";
        call(confirm_call, &pending).await.void();
        call(reset_call, &confirmed).await.void();
        let calls = hook.requests().len();
        if app == APP {
            call(confirm_call, &unknown).await.void();
            call(confirm_call, &confirmed).await.void();
            call(reset_call, &unknown).await.void();
        } else {
            call(confirm_call, &unknown).await.err(404, "UserNotFound");
            call(confirm_call, &confirmed)
                .await
                .err(400, "UserAlreadyConfirmed");
            call(reset_call, &unknown).await.err(404, "UserNotFound");
        }
        assert_eq!(
            hook.requests().len(),
            calls,
            "no function runs for an unknown or confirmed address"
        );
        // A weak password is refused alike for known and unknown addresses.
        for email in [&confirmed, &unknown] {
            t.post(
                app,
                reset_call,
                json!({"email": email, "password": "short", "arguments": []}),
            )
            .await
            .err(400, "WeakPassword");
        }
    }
}

/// Item 8: the current-password check of a password change goes through the login's per-account
/// counter: its guesses are delayed and lock the account like login guesses.
async fn password_change_guesses_share_the_login_counter(b: Backend) {
    let t = TestServer::start_with(b, |c| {
        throttled(c);
        c.rate_limits.lockout_after = 5;
    })
    .await;
    let email = unique_email("change");
    let user = t.email_user(&email).await;
    let url = t.api("/auth/password");
    let change = |current: &'static str| {
        t.call(
            reqwest::Method::POST,
            &url,
            Some(&user.access),
            Some(json!({"current_password": current, "new_password": OWNER_PW})),
        )
    };
    change("not the current password")
        .await
        .err(401, "InvalidPassword");
    // Straight after a wrong guess, even the right one waits (the progressive delay)...
    change(PASSWORD).await.err(429, "TooManyRequests");
    // ...and so does a login: one counter for the account.
    email_login(&t, APP, &email, PASSWORD)
        .await
        .err(429, "TooManyRequests");
    for _ in 0..3 {
        t.state().clock.advance(15);
        change("not the current password")
            .await
            .err(401, "InvalidPassword");
    }
    let stored = gatehouse_server::store::failures::get(t.state().db.reader(), APP, &email)
        .await
        .unwrap();
    assert_eq!(stored.count, 6, "every guess counted, the delayed ones too");
    // Locked: the right current password gets the generic answer, and so does a login.
    t.state().clock.advance(15);
    change(PASSWORD).await.err(401, "InvalidPassword");
    email_login(&t, APP, &email, PASSWORD)
        .await
        .err(401, "InvalidPassword");
}
