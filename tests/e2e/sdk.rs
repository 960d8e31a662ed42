//! The client SDK against a real gatehoused: every credential type, several users, API keys,
//! token refresh (single flight, outages, revocation), events, and restarts from disk.
//! Secrets go to an in-memory keychain here; `keychain.rs` runs the same SDK on the real one.

// Test code: a panic is a failed test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_client::store::keychain::MemoryKeychain;
use gatehouse_client::{App, Credentials, Error, Event, LogoutReason, SecretStorage, UserState};
use serde_json::json;

use crate::both_backends;
use crate::support::*;

both_backends!(
    every_credential_type_logs_in,
    three_users_switch_log_out_remove_delete_and_survive_a_restart,
    api_keys_round_trip_through_the_sdk,
    email_password_actions_through_the_sdk,
    linking_an_anonymous_user,
    a_stale_sign_in_is_its_own_error_and_keeps_the_user,
    a_hundred_concurrent_calls_on_an_expired_token_refresh_once,
    a_server_outage_keeps_every_token,
    a_revoked_session_logs_the_user_out_with_events,
    rotation_keeps_working_across_restarts_of_the_app,
    a_store_key_keeps_accounts_when_the_server_address_changes
);

pub struct Sdk {
    pub dir: tempfile::TempDir,
    pub keychain: MemoryKeychain,
}

impl Sdk {
    pub fn new() -> Sdk {
        Sdk {
            dir: tempfile::tempdir().unwrap(),
            keychain: MemoryKeychain::default(),
        }
    }

    /// An App over the test server; the same `Sdk` gives the same disk and keychain (a restart).
    pub async fn app(&self, t: &TestServer) -> App {
        App::builder(APP)
            .base_url(&t.base)
            .data_dir(self.dir.path())
            .secret_storage(SecretStorage::Custom(Arc::new(self.keychain.clone())))
            .build()
            .await
            .expect("app builds")
    }
}

pub async fn email_login(t: &TestServer, app: &App, tag: &str) -> gatehouse_client::User {
    let email = unique_email(tag);
    t.register_and_confirm(APP, &email, PASSWORD).await;
    app.log_in(Credentials::email_password(&email, PASSWORD))
        .await
        .unwrap()
}

async fn every_credential_type_logs_in(b: Backend) {
    let t = TestServer::start(b).await;
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    app.location().await.unwrap();
    assert_eq!(app.providers().await.unwrap().len(), 3);

    let anon = app.log_in(Credentials::anonymous()).await.unwrap();
    assert_eq!(anon.provider_type().as_deref(), Some("anon-user"));
    assert_eq!(anon.state(), UserState::LoggedIn);
    let again = app.log_in(Credentials::anonymous()).await.unwrap();
    assert_eq!(
        again, anon,
        "anonymous() reuses the device's logged-in anonymous user"
    );
    let fresh = app.log_in(Credentials::anonymous_new()).await.unwrap();
    assert_ne!(fresh.id(), anon.id());
    assert_eq!(
        fresh.device_id(),
        anon.device_id(),
        "one device id per app on this device"
    );

    let user = email_login(&t, &app, "sdk").await;
    assert_eq!(user.provider_type().as_deref(), Some("local-userpass"));
    assert!(user.email().unwrap().starts_with("sdk-"));
    assert_eq!(app.current_user().unwrap(), user);

    let key = user.api_keys().create("k").await.unwrap();
    let via_key = app
        .log_in(Credentials::api_key(key.key.as_deref().unwrap()))
        .await
        .unwrap();
    assert_eq!(
        via_key, user,
        "a user key logs in as its owner: the same User"
    );

    let server_key = gatehouse_server::admin::create_server_key(t.state(), APP, "svc")
        .await
        .unwrap();
    let server_user = app
        .log_in(Credentials::api_key(server_key.key.as_deref().unwrap()))
        .await
        .unwrap();
    assert_eq!(server_user.profile().unwrap().user_type, "server");

    let wrong = app
        .log_in(Credentials::email_password("nobody@example.test", PASSWORD))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), "InvalidPassword");
    assert!(matches!(wrong, Error::Server { status: 401, .. }));
    // Providers this server does not offer yet fail with the server's own code.
    let jwt = app.log_in(Credentials::jwt("a.b.c")).await.unwrap_err();
    assert_eq!(jwt.code(), "AuthProviderNotFound");
    assert!(
        format!("{:?}", Credentials::email_password("a@b.c", "visible?"))
            .find("visible?")
            .is_none()
    );
}

async fn three_users_switch_log_out_remove_delete_and_survive_a_restart(b: Backend) {
    let t = TestServer::start(b).await;
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let mut events = app.subscribe();
    let a = email_login(&t, &app, "a").await;
    let b2 = email_login(&t, &app, "b").await;
    let c = email_login(&t, &app, "c").await;
    let ids = |users: Vec<gatehouse_client::User>| {
        users.iter().map(|u| u.id().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(app.all_users()),
        [a.id(), b2.id(), c.id()],
        "stable order: first added first"
    );
    assert_eq!(app.current_user().unwrap(), c);
    app.switch_user(&a).unwrap();
    assert_eq!(app.current_user().unwrap(), a);
    assert_eq!(
        ids(app.all_users()),
        [a.id(), b2.id(), c.id()],
        "switching does not reorder"
    );

    b2.log_out().await.unwrap();
    assert_eq!(b2.state(), UserState::LoggedOut);
    assert!(matches!(app.switch_user(&b2), Err(Error::LoggedOut(_))));
    assert!(b2.api_keys().fetch_all().await.is_err());
    app.remove_user(&c).await.unwrap();
    assert_eq!(c.state(), UserState::Removed);
    assert_eq!(ids(app.all_users()), [a.id(), b2.id()]);
    let d = email_login(&t, &app, "d").await;
    let d_email = d.email().unwrap();
    app.switch_user(&a).unwrap();
    // Delete d while a is active: d is deleted (with d's token), a stays.
    app.delete_user(&d).await.unwrap();
    assert_eq!(d.state(), UserState::Removed);
    assert_eq!(app.current_user().unwrap(), a);
    t.login(
        APP,
        "local-userpass",
        json!({"username": d_email, "password": PASSWORD}),
    )
    .await
    .err(401, "InvalidPassword");
    assert!(d.access_token().is_none(), "a removed user keeps no tokens");
    a.refresh_profile()
        .await
        .expect("the active user was not the one deleted");

    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    assert!(seen.contains(&Event::LoggedOut {
        user_id: b2.id().into(),
        reason: LogoutReason::Requested
    }));
    assert!(seen.contains(&Event::Removed {
        user_id: c.id().into()
    }));
    assert!(seen.contains(&Event::ActiveUserChanged {
        user_id: Some(a.id().into())
    }));

    // Restart the App from disk: same users, same states, same active user, usable tokens.
    // Let the background save of the switch land.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let active = app.current_user().unwrap().id().to_string();
    drop(app);
    let app = sdk.app(&t).await;
    assert_eq!(ids(app.all_users()), [a.id(), b2.id()]);
    assert_eq!(app.current_user().unwrap().id(), active);
    let a2 = app.current_user().unwrap();
    assert_eq!(a2.state(), UserState::LoggedIn);
    assert_eq!(app.all_users()[1].state(), UserState::LoggedOut);
    a2.refresh_profile().await.unwrap();
    assert_eq!(a2.email(), a.email());
}

async fn api_keys_round_trip_through_the_sdk(b: Backend) {
    let t = TestServer::start(b).await;
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let user = email_login(&t, &app, "keys").await;
    let keys = user.api_keys();
    let created = keys.create("laptop").await.unwrap();
    assert!(created.key.is_some());
    let listed = keys.fetch_all().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].key.is_none());
    keys.disable(&created.id).await.unwrap();
    assert!(keys.fetch(&created.id).await.unwrap().disabled);
    keys.enable(&created.id).await.unwrap();
    keys.delete(&created.id).await.unwrap();
    assert!(keys.fetch_all().await.unwrap().is_empty());
    assert_eq!(
        keys.fetch(&created.id).await.unwrap_err().code(),
        "APIKeyNotFound"
    );
    assert_eq!(
        keys.fetch("not-an-id").await.unwrap_err().code(),
        "InvalidArgument"
    );
    let anon = app.log_in(Credentials::anonymous()).await.unwrap();
    assert_eq!(
        anon.api_keys().create("x").await.unwrap_err().code(),
        "Forbidden"
    );
}

async fn email_password_actions_through_the_sdk(b: Backend) {
    let t = TestServer::start(b).await;
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let auth = app.email_password_auth();
    let email = unique_email("ep");
    auth.register(&email, PASSWORD).await.unwrap();
    // The account is made just after the answer (equal time for known addresses, issue 12).
    t.settle().await;
    assert_eq!(
        app.log_in(Credentials::email_password(&email, PASSWORD))
            .await
            .unwrap_err()
            .code(),
        "AuthError"
    );
    // The registration's own mail first (it is sent in the background), so that the one after
    // `seen` is the resend's: the resend voids the first link.
    t.mailed_token(&email, "/confirm").await;
    let seen = t.outbox().len();
    auth.resend_confirmation(&email).await.unwrap();
    let (token, token_id) = t.mailed_token_after(seen, &email, "/confirm").await;
    auth.confirm(&token, &token_id).await.unwrap();
    app.log_in(Credentials::email_password(&email, PASSWORD))
        .await
        .unwrap();
    auth.send_reset_password_email(&email).await.unwrap();
    let (token, token_id) = t.mailed_token(&email, "/reset").await;
    let weak = auth
        .reset_password(&token, &token_id, "short")
        .await
        .unwrap_err();
    assert_eq!(weak.code(), "WeakPassword");
    assert!(weak.to_string().contains("at least"), "{weak}");
    auth.reset_password(&token, &token_id, "a new passphrase for the sdk")
        .await
        .unwrap();
    app.log_in(Credentials::email_password(
        &email,
        "a new passphrase for the sdk",
    ))
    .await
    .unwrap();
    assert_eq!(
        auth.retry_custom_confirmation(&email)
            .await
            .unwrap_err()
            .code(),
        "NotConfigured"
    );
}

async fn linking_an_anonymous_user(b: Backend) {
    let t = TestServer::start(b).await;
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let anon = app.log_in(Credentials::anonymous()).await.unwrap();
    assert!(anon.is_anonymous());
    assert_eq!(anon.sign_in_provider().as_deref(), Some("anon-user"));
    let email = unique_email("link");
    t.register_and_confirm(APP, &email, PASSWORD).await;
    anon.link_credentials(Credentials::email_password(&email, PASSWORD))
        .await
        .unwrap();
    // The account's kind follows its identities (issue 15, item 6): permanent now, signed in
    // again with email/password, still first logged in anonymously.
    assert!(!anon.is_anonymous());
    assert_eq!(anon.sign_in_provider().as_deref(), Some("local-userpass"));
    assert_eq!(anon.provider_type().as_deref(), Some("anon-user"));
    let key = anon.api_keys().create("after-link").await.unwrap();
    assert!(key.key.is_some(), "a permanent user keeps API keys");
    let types: Vec<_> = anon
        .identities()
        .iter()
        .map(|i| i.provider_type.clone())
        .collect();
    assert_eq!(types, ["anon-user", "local-userpass"]);
    // Linked: no longer "the anonymous user" to reuse.
    let next = app.log_in(Credentials::anonymous()).await.unwrap();
    assert_ne!(next, anon);
    assert_eq!(
        app.log_in(Credentials::email_password(&email, PASSWORD))
            .await
            .unwrap(),
        anon
    );
    assert_eq!(
        anon.link_credentials(Credentials::anonymous())
            .await
            .unwrap_err()
            .code(),
        "InvalidArgument"
    );
    // Logged out it stays on the device, signed out, and signs in again as the same user.
    anon.log_out().await.unwrap();
    assert_eq!(anon.state(), UserState::LoggedOut);
    assert!(app.all_users().iter().any(|u| u == &anon));
    assert!(
        !anon.is_anonymous(),
        "the stored profile still says permanent"
    );
    let again = app
        .log_in(Credentials::email_password(&email, PASSWORD))
        .await
        .unwrap();
    assert_eq!(again, anon);
    assert_eq!(again.api_keys().fetch_all().await.unwrap().len(), 1);
    // Unlinking the anonymous identity leaves an email-only user (issue 15, item 7); the last
    // identity cannot go.
    let anon_identity = again.identities()[0].clone();
    let profile = again
        .unlink_identity(&anon_identity.provider_type, &anon_identity.id)
        .await
        .unwrap();
    assert_eq!(profile.identities.len(), 1);
    assert_eq!(again.identities().len(), 1, "the stored profile follows");
    let last = again.identities()[0].clone();
    let err = again
        .unlink_identity(&last.provider_type, &last.id)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "BadRequest", "{err}");
}

/// Issue 12, item 4: past the recent-sign-in window a new key is refused with its own variant;
/// the user stays signed in, and signing in again lets the same call through.
async fn a_stale_sign_in_is_its_own_error_and_keeps_the_user(b: Backend) {
    let t = TestServer::start(b).await;
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let email = unique_email("stale");
    t.register_and_confirm(APP, &email, PASSWORD).await;
    let user = app
        .log_in(Credentials::email_password(&email, PASSWORD))
        .await
        .unwrap();
    t.state().clock.advance(301);
    let err = user.api_keys().create("late").await.unwrap_err();
    assert!(
        matches!(&err, Error::RecentSignInRequired { message } if message.contains("API key")),
        "{err:?}"
    );
    assert_eq!(
        user.state(),
        UserState::LoggedIn,
        "the session is still good"
    );
    user.refresh_profile().await.unwrap();
    let again = app
        .log_in(Credentials::email_password(&email, PASSWORD))
        .await
        .unwrap();
    assert_eq!(again, user);
    assert!(user.api_keys().create("late").await.unwrap().key.is_some());
}

async fn a_hundred_concurrent_calls_on_an_expired_token_refresh_once(b: Backend) {
    let t = TestServer::start_with(b, |c| c.tokens.access_ttl_secs = 2).await;
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let user = email_login(&t, &app, "flight").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let before = t.state().metrics.refreshes.load(Ordering::Relaxed);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..100 {
        let user = user.clone();
        // A cheap call with the access token (API-key calls use the refresh token), so that
        // the 100 finish well within the new token's life even on a loaded machine.
        set.spawn(async move { user.refresh_profile().await });
    }
    while let Some(r) = set.join_next().await {
        // Each call must reach the server authenticated and come back with the user's profile.
        assert_eq!(r.unwrap().unwrap().identities.len(), 1);
    }
    assert_eq!(
        t.state().metrics.refreshes.load(Ordering::Relaxed) - before,
        1,
        "exactly one refresh request"
    );
}

async fn a_server_outage_keeps_every_token(b: Backend) {
    let mut t = TestServer::start_with(b, |c| c.tokens.access_ttl_secs = 2).await;
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let user = email_login(&t, &app, "outage").await;
    t.stop().await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let err = user.refresh_profile().await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    assert!(err.is_transient());
    assert_eq!(
        user.state(),
        UserState::LoggedIn,
        "a network error never logs anyone out"
    );
    assert!(
        user.log_out().await.is_err(),
        "log out needs the server; nothing is dropped meanwhile"
    );
    assert_eq!(user.state(), UserState::LoggedIn);
    // Offline start: the App and its users load without the server.
    let offline = sdk.app(&t).await;
    assert_eq!(offline.current_user().unwrap().id(), user.id());
    t.start_again(|c| c.tokens.access_ttl_secs = 2).await;
    user.refresh_profile().await.unwrap();
    offline
        .current_user()
        .unwrap()
        .refresh_profile()
        .await
        .unwrap();
}

async fn a_revoked_session_logs_the_user_out_with_events(b: Backend) {
    let t = TestServer::start_with(b, |c| c.tokens.access_ttl_secs = 2).await;
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let user = email_login(&t, &app, "revoked").await;
    let other = app.log_in(Credentials::anonymous_new()).await.unwrap();
    app.switch_user(&user).unwrap();
    let mut events = app.subscribe();
    gatehouse_server::admin::set_user_disabled(t.state(), user.id(), true)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let err = user.refresh_profile().await.unwrap_err();
    assert!(err.is_invalid_session(), "{err}");
    assert_eq!(user.state(), UserState::LoggedOut);
    assert_eq!(
        app.current_user().unwrap(),
        other,
        "the active user moves to another logged-in user"
    );
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    assert!(seen.contains(&Event::LoggedOut {
        user_id: user.id().into(),
        reason: LogoutReason::SessionEnded
    }));
    assert!(seen.contains(&Event::ReauthenticationNeeded {
        user_id: user.id().into()
    }));
    assert!(sdk.keychain_is_empty_for(&t, user.id()));
}

async fn rotation_keeps_working_across_restarts_of_the_app(b: Backend) {
    let t = TestServer::start_with(b, |c| c.tokens.access_ttl_secs = 2).await;
    let sdk = Sdk::new();
    let id = {
        let app = sdk.app(&t).await;
        let user = email_login(&t, &app, "rotate").await;
        for _ in 0..2 {
            tokio::time::sleep(Duration::from_millis(2100)).await;
            user.refresh_profile().await.unwrap();
        }
        user.id().to_string()
    };
    // A new App reads the rotated (latest) refresh token back from the keychain.
    let app = sdk.app(&t).await;
    let user = app.current_user().unwrap();
    assert_eq!(user.id(), id);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    user.refresh_profile().await.unwrap();
    assert!(user.session_expires_at().unwrap() > 0);
}

/// The desktop app's Local server gets a new port each start; its accounts are filed under a
/// fixed key instead of the address.
async fn a_store_key_keeps_accounts_when_the_server_address_changes(b: Backend) {
    let t = TestServer::start(b).await;
    let sdk = Sdk::new();
    let build = |base: String, key: Option<&'static str>| {
        let mut builder = App::builder(APP)
            .base_url(base)
            .data_dir(sdk.dir.path())
            .secret_storage(SecretStorage::Custom(Arc::new(sdk.keychain.clone())));
        if let Some(k) = key {
            builder = builder.store_key(k);
        }
        builder.build()
    };
    let first = build(t.base.clone(), Some("local")).await.unwrap();
    let user = email_login(&t, &first, "storekey").await;
    let moved = t.base.replace("127.0.0.1", "localhost");
    let again = build(moved.clone(), Some("local")).await.unwrap();
    let found = again
        .current_user()
        .expect("the account is found under its key");
    assert_eq!(found.id(), user.id());
    found
        .refresh_profile()
        .await
        .expect("and its tokens work at the new address");
    let by_address = build(moved, None).await.unwrap();
    assert!(
        by_address.all_users().is_empty(),
        "without the key, accounts are filed by address"
    );
}

impl Sdk {
    fn keychain_is_empty_for(&self, t: &TestServer, user_id: &str) -> bool {
        use gatehouse_client::store::keychain::{account, Keychain};
        self.keychain
            .get(&account(&t.base, APP, user_id))
            .unwrap()
            .is_none()
    }
}
