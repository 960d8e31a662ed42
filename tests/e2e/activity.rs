//! The activity log (issue 12, item 5; issue 17 extends it): a refresh-token reuse ends the
//! session and records a security event its owner sees through `GET /auth/activity` and the
//! SDK's `User::activity`, and nobody else does; events are pruned after 90 days.

use gatehouse_client::Credentials;
use reqwest::Method;

use crate::both_backends;
use crate::sdk::Sdk;
use crate::support::*;

both_backends!(refresh_token_reuse_is_shown_to_its_owner_only);

const THIEF_AGENT: &str = "stolen-token-replayer/1.0";

async fn rotate(t: &TestServer, token: &str) -> Reply {
    let resp = t
        .http
        .post(t.api("/auth/session"))
        .bearer_auth(token)
        .header("x-gatehouse-refresh-rotation", "1")
        .header("user-agent", THIEF_AGENT)
        .send()
        .await
        .unwrap();
    Reply::read(resp).await
}

async fn activity(t: &TestServer, access: &str, query: &str) -> Reply {
    t.call(
        Method::GET,
        &t.api(&format!("/auth/activity{query}")),
        Some(access),
        None,
    )
    .await
}

async fn refresh_token_reuse_is_shown_to_its_owner_only(b: Backend) {
    let t = TestServer::start(b).await;
    let owner = t.email_user("owner@example.com").await;
    let other = t.email_user("other@example.com").await;
    // The owner's second device, through the SDK: it will read the log.
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let device = app
        .log_in(Credentials::email_password("owner@example.com", PASSWORD))
        .await
        .unwrap();
    // Sign-ins are recorded too (tests/e2e/activity_log.rs); no reuse yet.
    let reuses = |events: Vec<gatehouse_proto::auth::ActivityEvent>| {
        events
            .into_iter()
            .filter(|e| e.kind == "refresh_token_reuse")
            .collect::<Vec<_>>()
    };
    assert!(
        reuses(device.activity().await.unwrap()).is_empty(),
        "nothing yet"
    );

    // The first device's session, which a thief copied before it rotated.
    let sessions = t
        .call(
            Method::GET,
            &t.api("/auth/sessions"),
            Some(&owner.access),
            None,
        )
        .await
        .ok();
    let session_id = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    rotate(&t, &owner.refresh).await.ok();
    t.state().clock.advance(11); // past the grace period
    rotate(&t, &owner.refresh).await.err(401, "InvalidSession");

    let events = reuses(device.activity().await.unwrap());
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event.kind, "refresh_token_reuse");
    assert_eq!(event.detail["session_id"], session_id.as_str());
    assert_eq!(event.detail["device_id"], owner.device_id.as_str());
    assert_eq!(event.detail["provider_type"], "local-userpass");
    assert!(event.detail["device"].is_object(), "{:?}", event.detail);
    assert_eq!(event.ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(event.user_agent.as_deref(), Some(THIEF_AGENT));
    assert!((event.created_at - t.state().now()).abs() <= 1);
    // The same over raw HTTP, with a limit; the ended session itself can no longer ask.
    let raw = activity(&t, &device.access_token().unwrap(), "?limit=1")
        .await
        .ok();
    assert_eq!(raw[0]["kind"], "refresh_token_reuse", "the newest event");
    activity(&t, &owner.access, "")
        .await
        .err(401, "InvalidSession");

    // Another user sees none of it; no token, no log; limits are 1–100.
    let theirs = activity(&t, &other.access, "").await.ok();
    assert!(
        theirs
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["kind"] == "sign_in"),
        "{theirs}"
    );
    t.call(Method::GET, &t.api("/auth/activity"), None, None)
        .await
        .err(401, "MissingAuthReq");
    for bad in ["?limit=0", "?limit=101", "?limit=ten"] {
        activity(&t, &other.access, bad)
            .await
            .err(400, "InvalidParameter");
    }

    // Kept 90 days, then pruned by the maintenance round (read from the store: by then every
    // session has long expired too).
    let db = &t.state().db;
    let now = t.state().now();
    let maintenance = |at: i64| gatehouse_server::store::maintenance::prune(db, at, 24 * 3600);
    let kept = || gatehouse_server::store::activity::list(db.reader(), APP, &owner.user_id, 100);
    assert_eq!(maintenance(now + 89 * 24 * 3600).await.unwrap().activity, 0);
    let all = kept().await.unwrap().len() as u64;
    assert!(all > 1, "the reuse and the owner's sign-ins");
    let pruned = maintenance(now + 90 * 24 * 3600 + 1)
        .await
        .unwrap()
        .activity;
    assert!(pruned >= all, "{pruned} pruned, the owner had {all}");
    assert!(kept().await.unwrap().is_empty());
}
