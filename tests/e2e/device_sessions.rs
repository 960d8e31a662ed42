//! Per-device sessions (issue: "list the user's sessions, revoke one, revoke all others, revoke
//! all; a password change or reset revokes all others"), through the SDK on two "devices" (two
//! Apps with their own storage, hence their own device ids).

use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::sdk::Sdk;
use crate::support::*;
use gatehouse_client::{Credentials, UserState};

both_backends!(
    sessions_are_listed_per_device_and_one_can_be_revoked,
    revoke_others_and_revoke_all,
    sessions_of_other_users_are_out_of_reach,
    changing_the_password_ends_the_other_sessions,
    two_logins_from_one_device_keep_both_sessions
);

/// Issue 15, item 1: each login is its own session. Two programs on one device (two realm-web
/// `App`s share a device id) signed in as one user both keep working; the SDK, signing an account
/// in again, ends the session it replaces itself.
async fn two_logins_from_one_device_keep_both_sessions(b: Backend) {
    let t = TestServer::start(b).await;
    let email = unique_email("one-device");
    t.register_and_confirm(APP, &email, PASSWORD).await;
    let first = t.password_login(&email, PASSWORD).await;
    let second = Tokens::from(
        t.login(
            APP,
            "local-userpass",
            json!({"username": email, "password": PASSWORD,
                   "options": {"device": {"deviceId": first.device_id}}}),
        )
        .await
        .ok(),
    );
    assert_eq!(second.device_id, first.device_id, "one device");
    for tokens in [&first, &second] {
        t.call(
            Method::POST,
            &t.api("/auth/session"),
            Some(&tokens.refresh),
            None,
        )
        .await
        .ok();
        t.call(
            Method::GET,
            &t.api("/auth/api_keys"),
            Some(&tokens.refresh),
            None,
        )
        .await
        .ok();
    }
    let listed = t
        .call(
            Method::GET,
            &t.api("/auth/sessions"),
            Some(&first.access),
            None,
        )
        .await
        .ok();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");

    // Through the SDK: logging the same account in again replaces its session, and only it.
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let user = app
        .log_in(Credentials::email_password(&email, PASSWORD))
        .await
        .unwrap();
    app.log_in(Credentials::email_password(&email, PASSWORD))
        .await
        .unwrap();
    let mut live = 0;
    for _ in 0..100 {
        live = user.sessions().list().await.unwrap().len();
        if live == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(live, 3, "the two raw logins and the SDK's newest session");
    t.call(
        Method::POST,
        &t.api("/auth/session"),
        Some(&first.refresh),
        None,
    )
    .await
    .ok();
}

async fn two_devices(
    t: &TestServer,
) -> (
    Sdk,
    gatehouse_client::User,
    Sdk,
    gatehouse_client::User,
    String,
) {
    let email = unique_email("devices");
    t.register_and_confirm(APP, &email, PASSWORD).await;
    let laptop = Sdk::new();
    let a = laptop
        .app(t)
        .await
        .log_in(Credentials::email_password(&email, PASSWORD))
        .await
        .unwrap();
    let phone = Sdk::new();
    let b = phone
        .app(t)
        .await
        .log_in(Credentials::email_password(&email, PASSWORD))
        .await
        .unwrap();
    assert_eq!(a.id(), b.id());
    assert_ne!(a.device_id(), b.device_id(), "each device has its own id");
    (laptop, a, phone, b, email)
}

async fn sessions_are_listed_per_device_and_one_can_be_revoked(b: Backend) {
    let t = TestServer::start(b).await;
    let (_l, laptop, _p, phone, _) = two_devices(&t).await;
    let listed = laptop.sessions().list().await.unwrap();
    assert_eq!(listed.len(), 2);
    let current: Vec<_> = listed.iter().filter(|s| s.current).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(Some(current[0].device_id.clone()), laptop.device_id());
    for s in &listed {
        assert_eq!(s.ip.as_deref(), Some("127.0.0.1"));
        assert!(
            s.user_agent
                .as_deref()
                .unwrap()
                .starts_with("gatehouse-client/"),
            "{:?}",
            s.user_agent
        );
        assert_eq!(s.device.platform.as_deref(), Some(std::env::consts::OS));
        assert_eq!(s.provider_type, "local-userpass");
        assert!(s.created_at > 0 && s.last_used_at >= s.created_at && s.expires_at > s.created_at);
        assert!(!s.rotating, "no refresh has rotated these sessions yet");
    }
    let other = listed.iter().find(|s| !s.current).unwrap();
    laptop.sessions().revoke(&other.id).await.unwrap();
    // The phone's next call fails at once (its access token's session is gone) and the SDK there
    // logs the user out.
    let err = phone.refresh_profile().await.unwrap_err();
    assert!(err.is_invalid_session(), "{err}");
    assert_eq!(phone.state(), UserState::LoggedOut);
    assert_eq!(laptop.sessions().list().await.unwrap().len(), 1);
    laptop.refresh_profile().await.unwrap();
}

async fn revoke_others_and_revoke_all(b: Backend) {
    let t = TestServer::start(b).await;
    let (_l, laptop, _p, phone, email) = two_devices(&t).await;
    let third = Sdk::new();
    let tablet = third
        .app(&t)
        .await
        .log_in(Credentials::email_password(&email, PASSWORD))
        .await
        .unwrap();
    assert_eq!(tablet.sessions().list().await.unwrap().len(), 3);
    tablet.sessions().revoke_others().await.unwrap();
    let left = tablet.sessions().list().await.unwrap();
    assert_eq!(left.len(), 1);
    assert!(left[0].current);
    assert!(laptop
        .refresh_profile()
        .await
        .unwrap_err()
        .is_invalid_session());
    assert!(phone
        .api_keys()
        .fetch_all()
        .await
        .unwrap_err()
        .is_invalid_session());
    assert_eq!(phone.state(), UserState::LoggedOut);
    tablet.sessions().revoke_all().await.unwrap();
    assert_eq!(
        tablet.state(),
        UserState::LoggedOut,
        "revoking all includes this device"
    );
    let again = third
        .app(&t)
        .await
        .log_in(Credentials::email_password(&email, PASSWORD))
        .await
        .unwrap();
    assert_eq!(again.sessions().list().await.unwrap().len(), 1);
}

async fn sessions_of_other_users_are_out_of_reach(b: Backend) {
    let t = TestServer::start(b).await;
    let alice = t.email_user(&unique_email("alice")).await;
    let bob = t.email_user(&unique_email("bob")).await;
    let bobs = t
        .call(
            Method::GET,
            &t.api("/auth/sessions"),
            Some(&bob.access),
            None,
        )
        .await
        .ok();
    let bob_session = bobs[0]["id"].as_str().unwrap();
    t.call(
        Method::DELETE,
        &t.api(&format!("/auth/sessions/{bob_session}")),
        Some(&alice.access),
        None,
    )
    .await
    .err(404, "SessionNotFound");
    t.call(
        Method::DELETE,
        &t.api("/auth/sessions?scope=everything"),
        Some(&alice.access),
        None,
    )
    .await
    .err(400, "InvalidParameter");
    t.call(
        Method::GET,
        &t.api("/auth/sessions"),
        Some(&alice.refresh),
        None,
    )
    .await
    .err(401, "InvalidSession");
    t.call(
        Method::GET,
        &t.api("/auth/profile"),
        Some(&bob.access),
        None,
    )
    .await
    .ok();
    // A revoked session is gone from the list and cannot be revoked twice.
    let alices = t
        .call(
            Method::GET,
            &t.api("/auth/sessions"),
            Some(&alice.access),
            None,
        )
        .await
        .ok();
    assert_eq!(alices.as_array().unwrap().len(), 1);
    assert_eq!(alices[0]["current"], true);
}

async fn changing_the_password_ends_the_other_sessions(b: Backend) {
    let t = TestServer::start(b).await;
    let (_l, laptop, _p, phone, email) = two_devices(&t).await;
    assert_eq!(
        laptop
            .change_password("not my password at all", "whatever new passphrase")
            .await
            .unwrap_err()
            .code(),
        "InvalidPassword"
    );
    assert_eq!(
        laptop
            .change_password(PASSWORD, "short")
            .await
            .unwrap_err()
            .code(),
        "WeakPassword"
    );
    let new = "a brand new passphrase here";
    laptop.change_password(PASSWORD, new).await.unwrap();
    laptop
        .refresh_profile()
        .await
        .expect("this device stays signed in");
    assert!(phone
        .refresh_profile()
        .await
        .unwrap_err()
        .is_invalid_session());
    t.login(
        APP,
        "local-userpass",
        json!({"username": email, "password": PASSWORD}),
    )
    .await
    .err(401, "InvalidPassword");
    t.login(
        APP,
        "local-userpass",
        json!({"username": email, "password": new}),
    )
    .await
    .ok();
    assert!(t.mails_to(&email).await.iter().any(|m| m["subject"]
        .as_str()
        .unwrap()
        .contains("password was changed")));
    let anon = t.anonymous().await;
    t.call(
        Method::POST,
        &t.api("/auth/password"),
        Some(&anon.access),
        Some(json!({"current_password": "x", "new_password": "y"})),
    )
    .await
    .err(400, "BadRequest");
}
