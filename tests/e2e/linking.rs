//! Linking identities to the logged-in user (protocol.md A.6).

use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::support::*;

both_backends!(
    an_anonymous_user_links_email_password,
    identities_of_other_users_cannot_be_linked
);

async fn an_anonymous_user_links_email_password(b: Backend) {
    let t = TestServer::start(b).await;
    let anon = t.anonymous().await;
    let email = unique_email("link");
    t.register_and_confirm(APP, &email, PASSWORD).await;
    let url = format!(
        "{}?link=true",
        t.app_path(APP, "/auth/providers/local-userpass/login")
    );
    let linked = t
        .call(
            Method::POST,
            &url,
            Some(&anon.access),
            Some(json!({"username": email, "password": PASSWORD})),
        )
        .await
        .ok();
    assert_eq!(linked["user_id"], anon.user_id.as_str());
    assert_eq!(linked["device_id"], anon.device_id.as_str());
    assert!(linked.get("refresh_token").is_none());
    let profile = t
        .call(
            Method::GET,
            &t.api("/auth/profile"),
            Some(linked["access_token"].as_str().unwrap()),
            None,
        )
        .await
        .ok();
    let types: Vec<_> = profile["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["provider_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["anon-user", "local-userpass"]);
    assert_eq!(profile["data"]["email"], email.as_str());
    let later = t
        .login(
            APP,
            "local-userpass",
            json!({"username": email, "password": PASSWORD}),
        )
        .await
        .ok();
    assert_eq!(
        later["user_id"],
        anon.user_id.as_str(),
        "the linked identity logs in as the same user"
    );
    // Now that it has a real identity, the formerly anonymous user may have API keys.
    t.call(
        Method::POST,
        &t.api("/auth/api_keys"),
        Some(&anon.refresh),
        Some(json!({"name": "k"})),
    )
    .await
    .ok();
}

async fn identities_of_other_users_cannot_be_linked(b: Backend) {
    let t = TestServer::start(b).await;
    let email = unique_email("owned");
    let owner = t.email_user(&email).await;
    let anon = t.anonymous().await;
    let url = |p: &str| {
        format!(
            "{}?link=true",
            t.app_path(APP, &format!("/auth/providers/{p}/login"))
        )
    };
    t.call(
        Method::POST,
        &url("local-userpass"),
        Some(&anon.access),
        Some(json!({"username": email, "password": PASSWORD})),
    )
    .await
    .err(409, "IdentityInUse");
    t.call(
        Method::POST,
        &url("local-userpass"),
        Some(&anon.access),
        Some(json!({"username": email, "password": "wrong but long enough"})),
    )
    .await
    .err(401, "InvalidPassword");
    t.call(
        Method::POST,
        &url("anon-user"),
        Some(&owner.access),
        Some(json!({})),
    )
    .await
    .err(400, "BadRequest");
    t.call(
        Method::POST,
        &url("api-key"),
        Some(&owner.access),
        Some(json!({"key": "x"})),
    )
    .await
    .err(400, "BadRequest");
    t.call(
        Method::POST,
        &url("local-userpass"),
        None,
        Some(json!({"username": email, "password": PASSWORD})),
    )
    .await
    .err(401, "MissingAuthReq");
    t.call(
        Method::POST,
        &url("local-userpass"),
        Some(&anon.refresh),
        Some(json!({"username": email, "password": PASSWORD})),
    )
    .await
    .err(401, "InvalidSession");
    let profile = t
        .call(
            Method::GET,
            &t.api("/auth/profile"),
            Some(&owner.access),
            None,
        )
        .await
        .ok();
    assert_eq!(profile["identities"].as_array().unwrap().len(), 1);
}
