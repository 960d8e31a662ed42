//! Wire fidelity: the details official clients depend on (protocol.md A.0, A.3, A.14).

use reqwest::Method;
use serde_json::json;

use crate::both_backends;
use crate::support::*;

both_backends!(
    location_names_this_server,
    unknown_app_and_provider_have_clear_codes,
    errors_and_void_answers_have_the_exact_shapes,
    public_endpoints_ignore_authorization,
    bad_tokens_are_invalid_session,
    canonical_ejson_bodies_are_understood,
    hostile_bodies_are_refused_cleanly,
    cors_preflight_allows_browser_clients,
    cors_allows_no_origin_by_default,
    injection_strings_are_plain_data
);

async fn location_names_this_server(b: Backend) {
    let t = TestServer::start(b).await;
    let loc = t
        .call(Method::GET, &t.app_path(APP, "/location"), None, None)
        .await
        .ok();
    assert_eq!(loc["hostname"], t.base.as_str());
    assert_eq!(loc["ws_hostname"], t.base.replace("http://", "ws://"));
    let providers = t
        .call(Method::GET, &t.app_path(APP, "/auth/providers"), None, None)
        .await
        .ok();
    let names: Vec<_> = providers
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["anon-user", "local-userpass", "api-key"]);
}

async fn unknown_app_and_provider_have_clear_codes(b: Backend) {
    let t = TestServer::start(b).await;
    let e = t
        .call(
            Method::GET,
            &t.app_path("no-such-app", "/location"),
            None,
            None,
        )
        .await
        .err(404, "AppNotFound");
    assert!(e["error"].as_str().unwrap().contains("no-such-app"));
    t.login(APP, "oauth2-github", json!({}))
        .await
        .err(404, "AuthProviderNotFound");
    t.login("no-such-app", "anon-user", json!({}))
        .await
        .err(404, "AppNotFound");
    t.call(Method::GET, &format!("{}/nothing/here", t.base), None, None)
        .await
        .err(404, "NotFound");
}

async fn errors_and_void_answers_have_the_exact_shapes(b: Backend) {
    let t = TestServer::start(b).await;
    let r = t
        .login(
            APP,
            "local-userpass",
            json!({"username": "nobody@example.test", "password": PASSWORD}),
        )
        .await;
    assert_eq!(
        r.headers["content-type"], "application/json",
        "exactly, without charset"
    );
    r.err(401, "InvalidPassword");
    let user = t.anonymous().await;
    t.call(
        Method::DELETE,
        &t.api("/auth/session"),
        Some(&user.refresh),
        None,
    )
    .await
    .void();
}

async fn public_endpoints_ignore_authorization(b: Backend) {
    let t = TestServer::start(b).await;
    // realm-web attaches the current user's (possibly stale) access token to these calls.
    let email = unique_email("pub");
    t.call(
        Method::POST,
        &t.app_path(APP, "/auth/providers/local-userpass/register"),
        Some("stale.garbage.token"),
        Some(json!({"email": email, "password": PASSWORD})),
    )
    .await
    .void();
    t.call(
        Method::GET,
        &t.app_path(APP, "/location"),
        Some("null"),
        None,
    )
    .await
    .ok();
    t.call(
        Method::POST,
        &t.app_path(APP, "/auth/providers/anon-user/login"),
        Some("null"),
        Some(json!({})),
    )
    .await
    .ok();
}

async fn bad_tokens_are_invalid_session(b: Backend) {
    let t = TestServer::start(b).await;
    let user = t.anonymous().await;
    for bad in ["null", "undefined", "a.b.c", "", &user.refresh] {
        t.call(Method::GET, &t.api("/auth/profile"), Some(bad), None)
            .await
            .err(401, "InvalidSession");
    }
    // An access token is not a refresh token and the other way round.
    t.call(
        Method::POST,
        &t.api("/auth/session"),
        Some(&user.access),
        None,
    )
    .await
    .err(401, "InvalidSession");
    t.call(
        Method::GET,
        &t.api("/auth/api_keys"),
        Some(&user.access),
        None,
    )
    .await
    .err(401, "InvalidSession");
    let e = t
        .call(Method::GET, &t.api("/auth/profile"), None, None)
        .await
        .err(401, "MissingAuthReq");
    assert_eq!(e["error"], "must authenticate first");
    // Logout with something we never issued: the text realm-web tolerates.
    let e = t
        .call(Method::DELETE, &t.api("/auth/session"), Some("null"), None)
        .await
        .err(401, "InvalidSession");
    assert!(e["error"]
        .as_str()
        .unwrap()
        .contains("failed to find refresh token"));
}

async fn canonical_ejson_bodies_are_understood(b: Backend) {
    let t = TestServer::start(b).await;
    let device = "65f000000000000000000001";
    let body = json!({
        "options": {
            "device": {"sdkVersion": "2.0.1", "platform": "node", "deviceId": {"$oid": device}}
        }
    });
    let login = Tokens::from(t.login(APP, "anon-user", body).await.ok());
    assert_eq!(
        login.device_id, device,
        "a valid incoming device id is reused"
    );
    let fresh = t.anonymous().await;
    assert_ne!(fresh.device_id, device);
    assert_ne!(fresh.device_id, "000000000000000000000000");
    // Numbers as {"$numberInt"} inside a body that expects strings are a clear 400, not a 500.
    t.post(
        APP,
        "/auth/providers/local-userpass/confirm",
        json!({"token": {"$numberInt": "5"}, "tokenId": "x"}),
    )
    .await
    .err(400, "InvalidParameter");
}

async fn hostile_bodies_are_refused_cleanly(b: Backend) {
    let t = TestServer::start(b).await;
    let url = t.app_path(APP, "/auth/providers/local-userpass/register");
    // The server answers 413 from the declared length and closes, so the client may see the
    // answer or a broken pipe while still writing; either way nothing was read or stored.
    match t
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(vec![b'x'; 10 * 1024 * 1024])
        .send()
        .await
    {
        Ok(huge) => assert_eq!(huge.status(), 413),
        Err(e) => assert!(e.is_request(), "{e}"),
    }
    let raw = t
        .http
        .post(&url)
        .header("content-type", "application/json")
        .header("content-length", "10485760")
        .body(vec![b'{'; 100])
        .send()
        .await;
    if let Ok(r) = raw {
        assert_eq!(r.status(), 413);
    }
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let r = t
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let nested = format!("{{\"email\":{}1{}}}", "[".repeat(40), "]".repeat(40));
    let r = t
        .http
        .post(&url)
        .header("content-type", "application/json")
        .body(nested)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    t.post(
        APP,
        "/auth/providers/local-userpass/register",
        json!({"email": "a@example.test", "password": PASSWORD, "admin": true}),
    )
    .await
    .err(400, "InvalidParameter");
    let r = t
        .http
        .post(&url)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // A 1 MiB password is refused by size before any hashing.
    let before = t.state().hasher.verifications();
    let big = json!({"username": "a@example.test", "password": "p".repeat(1 << 20)});
    t.login(APP, "local-userpass", big)
        .await
        .err(413, "ReadSizeLimitExceeded");
    assert_eq!(t.state().hasher.verifications(), before);
}

async fn cors_preflight_allows_browser_clients(b: Backend) {
    let t = TestServer::start_with(b, |c| {
        c.cors.allowed_origins = vec!["https://app.example.com".into()];
    })
    .await;
    let r = t
        .http
        .request(Method::OPTIONS, t.api("/auth/session"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "DELETE")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let h = r.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
    assert_eq!(h["access-control-allow-credentials"], "true");
    let methods = h["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_string();
    for m in ["GET", "POST", "PUT", "DELETE"] {
        assert!(methods.contains(m), "{methods}");
    }
    let r = t
        .http
        .get(t.app_path(APP, "/location"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["access-control-expose-headers"],
        "x-baas-location"
    );
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    // An origin that is not listed gets no CORS headers at all, preflight or not (issue 12,
    // item 13): its pages cannot read the answers, with or without credentials.
    for origin in [
        "https://evil.example.net",
        "https://app.example.com.evil.net",
        "http://app.example.com",
        "null",
    ] {
        let preflight = t
            .http
            .request(Method::OPTIONS, t.api("/auth/session"))
            .header("origin", origin)
            .header("access-control-request-method", "DELETE")
            .header("access-control-request-headers", "authorization")
            .send()
            .await
            .unwrap();
        let plain = t
            .http
            .get(t.app_path(APP, "/location"))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        for r in [preflight, plain] {
            let cors: Vec<_> = r
                .headers()
                .keys()
                .filter(|k| k.as_str().starts_with("access-control-allow"))
                .collect();
            assert!(cors.is_empty(), "{origin}: {cors:?}");
        }
    }
}

/// Without configured origins (the default, and the desktop's Local backend) no origin gets
/// CORS headers (issue 12, item 13).
async fn cors_allows_no_origin_by_default(b: Backend) {
    let t = TestServer::start(b).await;
    let r = t
        .http
        .get(t.app_path(APP, "/location"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert!(r.headers().get("access-control-allow-origin").is_none());
    assert!(r
        .headers()
        .get("access-control-allow-credentials")
        .is_none());
}

async fn injection_strings_are_plain_data(b: Backend) {
    let t = TestServer::start(b).await;
    let user = t.email_user(&unique_email("inj")).await;
    for evil in [
        "' OR '1'='1",
        "\"; DROP TABLE users;--",
        "%27",
        "Robert'); DROP TABLE sessions;--",
    ] {
        t.login(
            APP,
            "local-userpass",
            json!({"username": evil, "password": evil}),
        )
        .await
        .err(401, "InvalidPassword");
        t.post(
            APP,
            "/auth/providers/local-userpass/register",
            json!({"email": evil, "password": PASSWORD}),
        )
        .await
        .err(400, "InvalidEmail");
        let key = t
            .call(
                Method::POST,
                &t.api("/auth/api_keys"),
                Some(&user.refresh),
                Some(json!({"name": evil})),
            )
            .await
            .ok();
        assert_eq!(key["name"], evil);
        t.login(APP, "api-key", json!({"key": evil}))
            .await
            .err(401, "InvalidPassword");
    }
    t.login(APP, "x' OR 1=1 --", json!({}))
        .await
        .err(404, "AuthProviderNotFound");
    // Everything still works afterwards.
    let keys = t
        .call(
            Method::GET,
            &t.api("/auth/api_keys"),
            Some(&user.refresh),
            None,
        )
        .await
        .ok();
    assert_eq!(keys.as_array().unwrap().len(), 4);
    t.call(
        Method::GET,
        &t.api("/auth/profile"),
        Some(&user.access),
        None,
    )
    .await
    .ok();
}
