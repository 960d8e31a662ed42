//! The recent-sign-in rule for lasting changes and the reset notice's lockdown link (issue 12,
//! item 4; security.md S-67).

use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::support::*;

both_backends!(
    lasting_changes_need_a_recent_sign_in,
    anonymous_users_link_whenever,
    a_reset_lists_what_else_reaches_the_account_and_one_link_removes_it
);

/// The default window, as `[tokens] recent_sign_in_secs` ships.
const WINDOW: i64 = 300;

fn link_url(t: &TestServer) -> String {
    format!(
        "{}?link=true",
        t.app_path(APP, "/auth/providers/local-userpass/login")
    )
}

async fn create_key(t: &TestServer, refresh: &str, name: &str) -> Reply {
    t.call(
        Method::POST,
        &t.api("/auth/api_keys"),
        Some(refresh),
        Some(json!({"name": name})),
    )
    .await
}

async fn change_password(t: &TestServer, access: &str, new: &str) -> Reply {
    t.call(
        Method::POST,
        &t.api("/auth/password"),
        Some(access),
        Some(json!({"current_password": PASSWORD, "new_password": new})),
    )
    .await
}

async fn fresh_access(t: &TestServer, refresh: &str) -> String {
    let r = t
        .call(Method::POST, &t.api("/auth/session"), Some(refresh), None)
        .await
        .ok();
    r["access_token"].as_str().unwrap().to_string()
}

async fn lasting_changes_need_a_recent_sign_in(b: Backend) {
    let t = TestServer::start(b).await;
    let email = unique_email("stepup");
    let u = t.email_user(&email).await;
    let other = unique_email("stepup-other");
    t.register_and_confirm(APP, &other, PASSWORD).await;

    // Within the window everything works.
    assert_eq!(create_key(&t, &u.refresh, "early").await.status, 201);

    // Past it, the token is still good (profile, refresh) but lasting changes are refused
    // with 403 RecentSignInRequired — never 401, which would make clients drop the token.
    t.state().clock.advance(WINDOW + 1);
    let access = fresh_access(&t, &u.refresh).await;
    t.call(Method::GET, &t.api("/auth/profile"), Some(&access), None)
        .await
        .ok();
    let refused = create_key(&t, &u.refresh, "late")
        .await
        .err(403, "RecentSignInRequired");
    assert!(
        refused["error"].as_str().unwrap().contains("sign in again"),
        "{refused}"
    );
    change_password(&t, &access, "another horse battery staple")
        .await
        .err(403, "RecentSignInRequired");
    t.call(
        Method::POST,
        &link_url(&t),
        Some(&access),
        Some(json!({"username": other, "password": PASSWORD})),
    )
    .await
    .err(403, "RecentSignInRequired");
    t.call(Method::DELETE, &t.api("/auth/delete"), Some(&access), None)
        .await
        .err(403, "RecentSignInRequired");
    // Nothing changed: the old password still signs in, one key, one identity.
    let again = Tokens::from(
        t.login(
            APP,
            "local-userpass",
            json!({"username": email, "password": PASSWORD,
                   "options": {"device": {"deviceId": u.device_id}}}),
        )
        .await
        .ok(),
    );
    assert_eq!(again.user_id, u.user_id);
    assert_eq!(
        again.device_id, u.device_id,
        "the same device signs in again"
    );

    // Signed in again: every change goes through.
    assert_eq!(create_key(&t, &again.refresh, "late").await.status, 201);
    t.call(
        Method::POST,
        &link_url(&t),
        Some(&again.access),
        Some(json!({"username": other, "password": PASSWORD})),
    )
    .await
    .ok();
    change_password(&t, &again.access, "another horse battery staple")
        .await
        .void();
    t.call(
        Method::DELETE,
        &t.api("/auth/delete"),
        Some(&again.access),
        None,
    )
    .await
    .void();
    assert_eq!(t.user_count().await, 0);
}

async fn anonymous_users_link_whenever(b: Backend) {
    let t = TestServer::start(b).await;
    let anon = t.anonymous().await;
    let email = unique_email("stepup-anon");
    t.register_and_confirm(APP, &email, PASSWORD).await;
    t.state().clock.advance(WINDOW * 10);
    let access = fresh_access(&t, &anon.refresh).await;
    let linked = t
        .call(
            Method::POST,
            &link_url(&t),
            Some(&access),
            Some(json!({"username": email, "password": PASSWORD})),
        )
        .await
        .ok();
    assert_eq!(linked["user_id"], anon.user_id.as_str());
}

fn identity_types(profile: &Value) -> Vec<String> {
    profile["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["provider_type"].as_str().unwrap().to_string())
        .collect()
}

async fn a_reset_lists_what_else_reaches_the_account_and_one_link_removes_it(b: Backend) {
    let t = TestServer::start(b).await;
    // An anonymous user becomes permanent with an email, then gains a key and a second address
    // (as an attacker holding the session might have done).
    let anon = t.anonymous().await;
    let email = unique_email("lockdown");
    t.register_and_confirm(APP, &email, PASSWORD).await;
    t.call(
        Method::POST,
        &link_url(&t),
        Some(&anon.access),
        Some(json!({"username": email, "password": PASSWORD})),
    )
    .await
    .ok();
    let owner = t.password_login(&email, PASSWORD).await;
    let planted = unique_email("planted");
    t.register_and_confirm(APP, &planted, PASSWORD).await;
    t.call(
        Method::POST,
        &link_url(&t),
        Some(&owner.access),
        Some(json!({"username": planted, "password": PASSWORD})),
    )
    .await
    .ok();
    let key = create_key(&t, &owner.refresh, "backdoor").await.ok();
    let secret = key["key"].as_str().unwrap().to_string();

    // The owner resets the password.
    let seen = t.outbox().len();
    let new_password = "a brand new horse battery staple";
    t.reset_password_by_mail(&email, new_password).await;
    // Every session ended at once.
    t.call(
        Method::GET,
        &t.api("/auth/profile"),
        Some(&owner.access),
        None,
    )
    .await
    .err(401, "InvalidSession");

    let notice = notice_after(&t, seen, &email).await;
    let text = notice["text"].as_str().unwrap();
    assert!(text.contains("API key \"backdoor\" (enabled)"), "{text}");
    assert!(
        text.contains(&format!("local-userpass ({planted})")),
        "{text}"
    );
    assert!(text.contains("anon-user"), "{text}");
    let link = notice["links"][0].as_str().unwrap().to_string();
    assert!(link.contains("/lockdown?"), "{link}");

    // Opening the link (a mail scanner does) changes nothing.
    let page = t.http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    t.login(APP, "api-key", json!({"key": secret})).await.ok();

    // The button: keys, the other identities and every session go.
    let (token, token_id) = token_of(&link);
    let form = [("token", token.as_str()), ("tokenId", token_id.as_str())];
    let done = t.http.post(&link).form(&form).send().await.unwrap();
    assert_eq!(done.status(), 200);
    let body = done.text().await.unwrap();
    assert!(
        body.contains("Deleted 1 API keys and 2 other sign-in methods"),
        "{body}"
    );
    t.login(APP, "api-key", json!({"key": secret}))
        .await
        .err(401, "InvalidPassword");
    t.login(
        APP,
        "local-userpass",
        json!({"username": planted, "password": PASSWORD}),
    )
    .await
    .err(401, "InvalidPassword");
    let fresh = t.password_login(&email, new_password).await;
    assert_eq!(
        fresh.user_id, anon.user_id,
        "the owner keeps the account and its data"
    );
    let profile = t
        .call(
            Method::GET,
            &t.api("/auth/profile"),
            Some(&fresh.access),
            None,
        )
        .await
        .ok();
    assert_eq!(identity_types(&profile), ["local-userpass"]);

    // The link works once.
    let again = t.http.post(&link).form(&form).send().await.unwrap();
    assert!(again.text().await.unwrap().contains("did not work"));
}

/// The password-changed notice to `to` among the mails after the first `seen`.
async fn notice_after(t: &TestServer, seen: usize, to: &str) -> Value {
    for _ in 0..100 {
        if let Some(m) =
            t.outbox().into_iter().skip(seen).find(|m| {
                m["to"] == to && m["subject"].as_str().unwrap_or("").contains("was changed")
            })
        {
            return m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no reset notice to {to}: {:?}", t.outbox());
}
