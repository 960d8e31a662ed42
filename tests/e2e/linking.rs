//! Linking identities to the logged-in user (protocol.md A.6).

use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::support::*;

both_backends!(
    an_anonymous_user_links_email_password,
    identities_of_other_users_cannot_be_linked,
    an_identity_can_be_unlinked_while_a_way_back_in_remains
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

fn identities(profile: &serde_json::Value) -> Vec<(String, String)> {
    profile["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["provider_type"].as_str().unwrap().to_string(),
                i["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Issue 15, item 7: `DELETE /auth/identities/{provider}/{id}` unlinks one identity while the
/// user keeps one it can sign in again with; the detached email signs in as a new user after.
async fn an_identity_can_be_unlinked_while_a_way_back_in_remains(b: Backend) {
    let t = TestServer::start(b).await;
    let anon = t.anonymous().await;
    let (first, second) = (unique_email("keep"), unique_email("drop"));
    for email in [&first, &second] {
        t.register_and_confirm(APP, email, PASSWORD).await;
        t.call(
            Method::POST,
            &format!(
                "{}?link=true",
                t.app_path(APP, "/auth/providers/local-userpass/login")
            ),
            Some(&anon.access),
            Some(json!({"username": email, "password": PASSWORD})),
        )
        .await
        .ok();
    }
    let profile_of = |access: String| {
        let t = &t;
        async move {
            t.call(Method::GET, &t.api("/auth/profile"), Some(&access), None)
                .await
                .ok()
        }
    };
    let all = identities(&profile_of(anon.access.clone()).await);
    assert_eq!(all.len(), 3, "{all:?}");
    let (anon_id, first_id, second_id) = (all[0].1.clone(), all[1].1.clone(), all[2].1.clone());
    let via_second = t.password_login(&second, PASSWORD).await;
    assert_eq!(via_second.user_id, anon.user_id);
    let unlink = |provider: &'static str, id: String, access: String| {
        let t = &t;
        async move {
            t.call(
                Method::DELETE,
                &t.api(&format!("/auth/identities/{provider}/{id}")),
                Some(&access),
                None,
            )
            .await
        }
    };

    unlink("local-userpass", "0".repeat(24), anon.access.clone())
        .await
        .err(404, "NotFound");
    unlink("local-userpass", second_id.clone(), anon.access.clone())
        .await
        .void();
    let left = identities(&profile_of(anon.access.clone()).await);
    assert_eq!(
        left.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        ["anon-user", "local-userpass"]
    );
    // The session opened through the unlinked address ended; the address now signs in alone.
    t.call(
        Method::POST,
        &t.api("/auth/session"),
        Some(&via_second.refresh),
        None,
    )
    .await
    .err(401, "InvalidSession");
    let alone = t
        .login(
            APP,
            "local-userpass",
            json!({"username": second, "password": PASSWORD}),
        )
        .await
        .ok();
    assert_ne!(alone["user_id"], anon.user_id.as_str());

    // The last permanent identity stays while only an anonymous one would be left...
    unlink("local-userpass", first_id.clone(), anon.access.clone())
        .await
        .err(400, "BadRequest");
    // ...but the anonymous one can go, and then the last one cannot.
    unlink("anon-user", anon_id, anon.access.clone())
        .await
        .void();
    unlink("local-userpass", first_id.clone(), anon.access.clone())
        .await
        .err(400, "BadRequest");

    // Unlinking needs a recent sign-in like linking does (the anonymous sign-in was exempt).
    let owner = t.password_login(&first, PASSWORD).await;
    t.state().clock.advance(301);
    let fresh = t
        .call(
            Method::POST,
            &t.api("/auth/session"),
            Some(&owner.refresh),
            None,
        )
        .await
        .ok();
    unlink(
        "local-userpass",
        first_id,
        fresh["access_token"].as_str().unwrap().to_string(),
    )
    .await
    .err(403, "RecentSignInRequired");
}
