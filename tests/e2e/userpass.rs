//! Email/password: register → confirm → log in, resend, reset, pages, enumeration safety.

use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::support::*;

both_backends!(
    register_confirm_login_and_profile,
    unconfirmed_accounts_cannot_log_in_until_confirmed,
    unknown_user_and_wrong_password_look_identical,
    registering_twice_never_makes_a_second_account,
    strict_mode_answers_with_app_services_codes,
    resend_and_reset_requests_look_identical_for_unknown_addresses,
    reset_changes_the_password_and_ends_every_session,
    mailed_tokens_are_single_use_and_expire,
    weak_and_invalid_input_is_refused_with_reasons,
    mailed_pages_act_only_on_post,
    auto_confirm_skips_the_mail
);

async fn register_confirm_login_and_profile(b: Backend) {
    let t = TestServer::start(b).await;
    let email = unique_email("reg");
    let user = t.email_user(&email).await;
    let profile = t
        .call(
            Method::GET,
            &t.api("/auth/profile"),
            Some(&user.access),
            None,
        )
        .await
        .ok();
    assert_eq!(profile["user_id"], user.user_id.as_str());
    assert_eq!(profile["type"], "normal");
    assert_eq!(profile["data"]["email"], email.as_str());
    assert_eq!(profile["identities"][0]["provider_type"], "local-userpass");
    // A second login is the same user.
    let again = t
        .login(
            APP,
            "local-userpass",
            json!({"username": email.to_uppercase(), "password": PASSWORD}),
        )
        .await
        .ok();
    assert_eq!(
        again["user_id"],
        user.user_id.as_str(),
        "address case does not make another account"
    );
}

async fn unconfirmed_accounts_cannot_log_in_until_confirmed(b: Backend) {
    let t = TestServer::start(b).await;
    let email = unique_email("unconf");
    t.post(
        APP,
        "/auth/providers/local-userpass/register",
        json!({"email": email, "password": PASSWORD}),
    )
    .await
    .void();
    // The account is made just after the answer (equal time for known addresses, issue 12).
    t.settle().await;
    let creds = json!({"username": email, "password": PASSWORD});
    let e = t
        .login(APP, "local-userpass", creds.clone())
        .await
        .err(401, "AuthError");
    assert!(e["error"].as_str().unwrap().contains("confirm"));
    // The specific reason appears only with the right password.
    t.login(
        APP,
        "local-userpass",
        json!({"username": email, "password": "not the password at all"}),
    )
    .await
    .err(401, "InvalidPassword");
    let (token, token_id) = t.mailed_token(&email, "/confirm").await;
    t.post(
        APP,
        "/auth/providers/local-userpass/confirm",
        json!({"token": token, "tokenId": token_id}),
    )
    .await
    .void();
    t.login(APP, "local-userpass", creds).await.ok();
}

async fn unknown_user_and_wrong_password_look_identical(b: Backend) {
    let t = TestServer::start(b).await;
    let email = unique_email("enum");
    t.email_user(&email).await;
    let hashes = t.state().hasher.verifications();
    let wrong = t
        .login(
            APP,
            "local-userpass",
            json!({"username": email, "password": "wrong password, long enough"}),
        )
        .await;
    let after_wrong = t.state().hasher.verifications();
    let unknown = t
        .login(
            APP,
            "local-userpass",
            json!({"username": unique_email("ghost"), "password": "wrong password, long enough"}),
        )
        .await;
    let after_unknown = t.state().hasher.verifications();
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.raw, unknown.raw, "byte-identical bodies");
    let header_names = |r: &Reply| {
        let mut v: Vec<_> = r.headers.keys().map(|k| k.as_str().to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(header_names(&wrong), header_names(&unknown));
    assert_eq!(
        (after_wrong - hashes, after_unknown - after_wrong),
        (1, 1),
        "one Argon2 verification on each path"
    );
    wrong.err(401, "InvalidPassword");
}

async fn registering_twice_never_makes_a_second_account(b: Backend) {
    let t = TestServer::start(b).await;
    let email = unique_email("twice");
    let user = t.email_user(&email).await;
    t.post(
        APP,
        "/auth/providers/local-userpass/register",
        json!({"email": email, "password": "an attacker's long password"}),
    )
    .await
    .void();
    let mails = t.mails_to(&email).await;
    assert!(
        mails
            .iter()
            .any(|m| m["subject"].as_str().unwrap().contains("tried to sign up")),
        "{mails:?}"
    );
    // The original password still works and is the same user; the attacker's does not.
    let again = t
        .login(
            APP,
            "local-userpass",
            json!({"username": email, "password": PASSWORD}),
        )
        .await
        .ok();
    assert_eq!(again["user_id"], user.user_id.as_str());
    t.login(
        APP,
        "local-userpass",
        json!({"username": email, "password": "an attacker's long password"}),
    )
    .await
    .err(401, "InvalidPassword");
}

async fn strict_mode_answers_with_app_services_codes(b: Backend) {
    let t = TestServer::start(b).await;
    let email = unique_email("strict");
    t.register_and_confirm(STRICT_APP, &email, PASSWORD).await;
    let e = t
        .post(
            STRICT_APP,
            "/auth/providers/local-userpass/register",
            json!({"email": email, "password": PASSWORD}),
        )
        .await
        .err(409, "AccountNameInUse");
    assert_eq!(e["error"], "name already in use");
    t.post(
        STRICT_APP,
        "/auth/providers/local-userpass/confirm/send",
        json!({"email": email}),
    )
    .await
    .err(400, "UserAlreadyConfirmed");
    t.post(
        STRICT_APP,
        "/auth/providers/local-userpass/reset/send",
        json!({"email": unique_email("none")}),
    )
    .await
    .err(404, "UserNotFound");
}

async fn resend_and_reset_requests_look_identical_for_unknown_addresses(b: Backend) {
    let t = TestServer::start(b).await;
    let known = unique_email("known");
    t.email_user(&known).await;
    let unknown = unique_email("unknown");
    for action in ["/confirm/send", "/reset/send"] {
        let path = format!("/auth/providers/local-userpass{action}");
        let a = t.post(APP, &path, json!({"email": known})).await;
        let b = t.post(APP, &path, json!({"email": unknown})).await;
        assert_eq!((a.status, a.raw.clone()), (b.status, b.raw.clone()));
        a.void();
    }
    assert!(t.mails_to(&unknown).await.is_empty());
    let (_, _) = t.mailed_token(&known, "/reset").await;
}

async fn reset_changes_the_password_and_ends_every_session(b: Backend) {
    let t = TestServer::start(b).await;
    let email = unique_email("reset");
    let first = t.email_user(&email).await;
    let second = t.password_login(&email, PASSWORD).await;
    let new_password = "a completely new passphrase";
    t.reset_password_by_mail(&email, new_password).await;
    for s in [&first, &second] {
        t.call(
            Method::POST,
            &t.api("/auth/session"),
            Some(&s.refresh),
            None,
        )
        .await
        .err(401, "InvalidSession");
        t.call(Method::GET, &t.api("/auth/profile"), Some(&s.access), None)
            .await
            .err(401, "InvalidSession");
    }
    t.login(
        APP,
        "local-userpass",
        json!({"username": email, "password": PASSWORD}),
    )
    .await
    .err(401, "InvalidPassword");
    let after = t
        .login(
            APP,
            "local-userpass",
            json!({"username": email, "password": new_password}),
        )
        .await
        .ok();
    assert_eq!(after["user_id"], first.user_id.as_str());
    assert!(t
        .mails_to(&email)
        .await
        .iter()
        .any(|m| m["subject"].as_str().unwrap().contains("was changed")));
}

async fn mailed_tokens_are_single_use_and_expire(b: Backend) {
    let t = TestServer::start(b).await;
    let email = unique_email("tok");
    t.post(
        APP,
        "/auth/providers/local-userpass/register",
        json!({"email": email, "password": PASSWORD}),
    )
    .await
    .void();
    let (old, old_id) = t.mailed_token(&email, "/confirm").await;
    let seen = t.outbox().len();
    t.post(
        APP,
        "/auth/providers/local-userpass/confirm/send",
        json!({"email": email}),
    )
    .await
    .void();
    let (new, new_id) = t.mailed_token_after(seen, &email, "/confirm").await;
    assert_ne!(new_id, old_id);
    // An older token is void once a newer one was requested.
    t.post(
        APP,
        "/auth/providers/local-userpass/confirm",
        json!({"token": old, "tokenId": old_id}),
    )
    .await
    .err(400, "UserpassTokenInvalid");
    // A token for another id, or a wrong secret, fails.
    t.post(
        APP,
        "/auth/providers/local-userpass/confirm",
        json!({"token": new, "tokenId": old_id}),
    )
    .await
    .err(400, "UserpassTokenInvalid");
    t.post(
        APP,
        "/auth/providers/local-userpass/confirm",
        json!({"token": "x", "tokenId": new_id}),
    )
    .await
    .err(400, "UserpassTokenInvalid");
    // Two concurrent uses: exactly one wins.
    let body = json!({"token": new, "tokenId": new_id});
    let (a, b2) = tokio::join!(
        t.post(APP, "/auth/providers/local-userpass/confirm", body.clone()),
        t.post(APP, "/auth/providers/local-userpass/confirm", body.clone())
    );
    let wins = [a.status.as_u16(), b2.status.as_u16()]
        .iter()
        .filter(|s| **s == 204)
        .count();
    assert_eq!(wins, 1, "{} {}", a.status, b2.status);
    // Reset tokens expire after 15 minutes.
    t.post(
        APP,
        "/auth/providers/local-userpass/reset/send",
        json!({"email": email}),
    )
    .await
    .void();
    let (rt, rt_id) = t.mailed_token(&email, "/reset").await;
    t.state().clock.advance(15 * 60 + 1);
    t.post(
        APP,
        "/auth/providers/local-userpass/reset",
        json!({"token": rt, "tokenId": rt_id, "password": "another fine passphrase"}),
    )
    .await
    .err(400, "UserpassTokenInvalid");
}

async fn weak_and_invalid_input_is_refused_with_reasons(b: Backend) {
    let t = TestServer::start(b).await;
    let reg = |email: String, password: &str| {
        let body = json!({"email": email, "password": password});
        async {
            t.post(APP, "/auth/providers/local-userpass/register", body)
                .await
        }
    };
    let e = reg(unique_email("w"), "short")
        .await
        .err(400, "WeakPassword");
    assert!(e["error"].as_str().unwrap().contains("15"), "{e}");
    reg(unique_email("w"), &"x".repeat(257))
        .await
        .err(400, "WeakPassword");
    let e = reg(unique_email("w"), "1qaz2wsx3edc4rfv")
        .await
        .err(400, "WeakPassword");
    assert!(e["error"].as_str().unwrap().contains("common"), "{e}");
    reg(unique_email("w"), "my gatehouse password is long")
        .await
        .err(400, "WeakPassword");
    reg("not-an-email".into(), PASSWORD)
        .await
        .err(400, "InvalidEmail");
    reg("a@b.c\r\nBcc: x@y.z".into(), PASSWORD)
        .await
        .err(400, "InvalidEmail");
    reg("m\u{131}ke@example.org".into(), PASSWORD)
        .await
        .err(400, "InvalidEmail");
    reg(unique_email("w"), &"\u{1F600}".repeat(15)).await.void();
}

async fn mailed_pages_act_only_on_post(b: Backend) {
    let t = TestServer::start(b).await;
    let email = unique_email("page");
    t.post(
        APP,
        "/auth/providers/local-userpass/register",
        json!({"email": email, "password": PASSWORD}),
    )
    .await
    .void();
    let mail = t.mails_to(&email).await.pop().unwrap();
    let link = mail["links"][0].as_str().unwrap().to_string();
    assert!(link.starts_with(&format!("{}/app/{APP}/confirm?", t.base)));
    // A mail scanner's GET (several of them) consumes nothing.
    for _ in 0..3 {
        let page = t.http.get(&link).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"));
        assert_eq!(page.headers()["referrer-policy"], "no-referrer");
        assert!(page
            .text()
            .await
            .unwrap()
            .contains("<form method=\"post\">"));
    }
    t.login(
        APP,
        "local-userpass",
        json!({"username": email, "password": PASSWORD}),
    )
    .await
    .err(401, "AuthError");
    let (token, token_id) = token_of(&link);
    let done = t
        .http
        .post(&link)
        .form(&[("token", token.as_str()), ("tokenId", token_id.as_str())])
        .send()
        .await
        .unwrap();
    assert!(done.text().await.unwrap().contains("confirmed"));
    t.login(
        APP,
        "local-userpass",
        json!({"username": email, "password": PASSWORD}),
    )
    .await
    .ok();
    // The reset page re-asks on a weak password and keeps the link usable.
    t.post(
        APP,
        "/auth/providers/local-userpass/reset/send",
        json!({"email": email}),
    )
    .await
    .void();
    let (rt, rt_id) = t.mailed_token(&email, "/reset").await;
    let url = format!("{}/app/{APP}/reset", t.base);
    let weak = t
        .http
        .post(&url)
        .form(&[
            ("token", rt.as_str()),
            ("tokenId", rt_id.as_str()),
            ("password", "short"),
        ])
        .send()
        .await
        .unwrap();
    assert!(weak.text().await.unwrap().contains("at least 15"));
    let ok = t
        .http
        .post(&url)
        .form(&[
            ("token", rt.as_str()),
            ("tokenId", rt_id.as_str()),
            ("password", "the new page passphrase"),
        ])
        .send()
        .await
        .unwrap();
    assert!(ok.text().await.unwrap().contains("Password changed"));
    t.login(
        APP,
        "local-userpass",
        json!({"username": email, "password": "the new page passphrase"}),
    )
    .await
    .ok();
}

async fn auto_confirm_skips_the_mail(b: Backend) {
    let t = TestServer::start_with(b, |c| {
        c.apps.get_mut(APP).unwrap().userpass.auto_confirm = true;
    })
    .await;
    let email = unique_email("auto");
    t.post(
        APP,
        "/auth/providers/local-userpass/register",
        json!({"email": email, "password": PASSWORD}),
    )
    .await
    .void();
    t.login(
        APP,
        "local-userpass",
        json!({"username": email, "password": PASSWORD}),
    )
    .await
    .ok();
    assert!(t.mails_to(&email).await.is_empty());
}
