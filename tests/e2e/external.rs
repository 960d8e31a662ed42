//! Token-mode external providers over real HTTP: custom JWTs verified against a JWKS the test
//! serves, the custom-function webhook (signed, fail-closed, SSRF-guarded), Google and Apple ID
//! tokens and a Google auth code from the real `oidc-provider`, Facebook access tokens checked
//! with the Graph API stand-in. Adversarial cases of security.md B.3 and B.6.

use std::time::Duration;

use gatehouse_server::config::{
    ClaimMapping, Config, CustomTokenConfig, OAuthClientConfig, WebhookConfig,
};
use gatehouse_server::Secret;
use serde_json::{json, Value};

use crate::peers::hooks::{now_unix, JwksServer, Responder, WebhookReceiver};
use crate::peers::oidc::OidcPeer;
use crate::peers::standins::{FacebookStandin, FacebookUser};
use crate::support::{Backend, TestServer, APP};

/// In the Standard Webhooks form (`whsec_` + base64 of 32 random bytes): the receivers, built on
/// the official `standardwebhooks` library, key their check with the decoded bytes.
const HOOK_SECRET: &str = "whsec_3q2+7wEjRWeJq83vASNFZ4mrze8BI0VniavN7wEjRWc=";
/// A secret without the prefix: the key is its text (documented), the receiver given its bytes.
const PLAIN_HOOK_SECRET: &str = "plain-hook-secret-0123456789abcdef0123456789";

fn enable<'a>(
    config: &'a mut Config,
    provider: &str,
) -> &'a mut gatehouse_server::config::AppConfig {
    config.outbound.allow_loopback_http = true;
    let app = config.apps.get_mut(APP).unwrap();
    app.providers.push(provider.into());
    app
}

fn jwt_config(jwks: &JwksServer) -> CustomTokenConfig {
    CustomTokenConfig {
        issuer: Some("https://idp.example".into()),
        audience: vec![APP.into()],
        algorithm: "ES256".into(),
        jwks_url: Some(jwks.jwks_url()),
        public_key_pem: None,
        secret: None,
        max_age_secs: Some(3600),
        metadata: vec![
            ClaimMapping {
                claim: "name".into(),
                field: "name".into(),
                required: false,
            },
            ClaimMapping {
                claim: "user_data.team".into(),
                field: "team".into(),
                required: false,
            },
        ],
    }
}

fn claims(extra: Value) -> Value {
    let now = now_unix();
    let mut c = json!({
        "iss": "https://idp.example", "aud": APP, "sub": "ext-42", "exp": now + 600,
        "iat": now - 5, "name": "Ext Person", "user_data": {"team": "blue"}
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

async fn custom_token_journey(backend: Backend) {
    let jwks = JwksServer::start().await;
    let t = TestServer::start_with(backend, |c| {
        let cfg = jwt_config(&jwks);
        enable(c, "custom-token").custom_token = Some(cfg);
    })
    .await;
    let first = t
        .login(
            APP,
            "custom-token",
            json!({"token": jwks.sign(&claims(json!({})))}),
        )
        .await
        .ok();
    let again = t
        .login(
            APP,
            "custom-token",
            json!({"token": jwks.sign(&claims(json!({})))}),
        )
        .await
        .ok();
    assert_eq!(
        first["user_id"], again["user_id"],
        "the same (issuer, subject) is the same user"
    );
    let profile = t
        .call(
            reqwest::Method::GET,
            &t.api("/auth/profile"),
            first["access_token"].as_str(),
            None,
        )
        .await
        .ok();
    assert_eq!(profile["data"]["name"], "Ext Person");
    assert_eq!(
        profile["data"]["team"], "blue",
        "dotted claim paths map nested claims"
    );
    assert_eq!(profile["identities"][0]["provider_type"], "custom-token");
    assert_eq!(profile["identities"][0]["id"], "ext-42");
    assert_eq!(jwks.fetches(), 1, "the key set is cached");
}

crate::both_backends!(custom_token_journey);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_token_attacks_are_refused_and_create_nobody() {
    let jwks = JwksServer::start().await;
    let jku_host = WebhookReceiver::start(HOOK_SECRET).await;
    let t = TestServer::start_with(Backend::Sqlite, |c| {
        let cfg = jwt_config(&jwks);
        enable(c, "custom-token").custom_token = Some(cfg);
    })
    .await;
    let now = now_unix();
    let kid = jwks.current_kid();
    let none = || claims(json!({}));
    let public_jwk = jwks.public_jwks()["keys"][0].to_string();
    let jku = json!({"alg": "ES256", "kid": "evil", "jku": format!("{}/jwks", jku_host.base())});
    let x5u = json!({
        "alg": "ES256", "kid": "../../etc/passwd", "x5u": format!("{}/x5u", jku_host.base())
    });
    let cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            jwks.unsigned(json!({"alg": "none", "typ": "JWT", "kid": kid}), &none()),
        ),
        (
            "alg NONE",
            jwks.unsigned(json!({"alg": "NONE", "kid": kid}), &none()),
        ),
        (
            "another key reusing the trusted kid",
            jwks.sign_with_attacker_key(&kid, &none()),
        ),
        (
            "HS256 keyed with the public JWK",
            jwks.sign_hs256(
                json!({"alg": "HS256", "kid": kid}),
                &none(),
                public_jwk.as_bytes(),
            ),
        ),
        (
            "expired 61 s ago",
            jwks.sign(&claims(json!({"exp": now - 61}))),
        ),
        (
            "nbf 5 minutes ahead",
            jwks.sign(&claims(json!({"nbf": now + 300}))),
        ),
        (
            "iat an hour ahead",
            jwks.sign(&claims(json!({"iat": now + 3600}))),
        ),
        (
            "issued 2 hours ago",
            jwks.sign(&claims(json!({"iat": now - 7200}))),
        ),
        ("no exp", jwks.sign(&claims(json!({"exp": null})))),
        (
            "wrong audience",
            jwks.sign(&claims(json!({"aud": "other-app"}))),
        ),
        (
            "audience plus an untrusted one",
            jwks.sign(&claims(json!({"aud": [APP, "evil"]}))),
        ),
        (
            "issuer with a trailing slash",
            jwks.sign(&claims(json!({"iss": "https://idp.example/"}))),
        ),
        ("no subject", jwks.sign(&claims(json!({"sub": null})))),
        ("jku header", jwks.sign_with_header(jku, &none())),
        ("x5u header", jwks.sign_with_header(x5u, &none())),
        ("two segments", "a.b".into()),
        ("16 KiB", "e".repeat(16 * 1024)),
        ("our own access token", t.anonymous().await.access),
    ];
    let before = t.user_count().await;
    for (name, token) in cases {
        let reply = t.login(APP, "custom-token", json!({"token": token})).await;
        assert!(
            reply.status == 401 || reply.status == 400,
            "{name}: {} {}",
            reply.status,
            reply.json
        );
        assert!(
            reply.json["error_code"] == "AuthError"
                || reply.json["error_code"] == "MissingParameter",
            "{name}: {}",
            reply.json
        );
    }
    assert_eq!(
        t.user_count().await,
        before,
        "refused tokens create no user"
    );
    assert!(
        jku_host.requests().is_empty(),
        "header key URLs are never fetched"
    );
    // Within the leeway: accepted.
    t.login(
        APP,
        "custom-token",
        json!({"token": jwks.sign(&claims(json!({"exp": now - 30})))}),
    )
    .await
    .ok();
    // A jti is single use.
    let once = jwks.sign(&claims(json!({"jti": "token-1"})));
    t.login(APP, "custom-token", json!({"token": once.clone()}))
        .await
        .ok();
    t.login(APP, "custom-token", json!({"token": once}))
        .await
        .err(401, "AuthError");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kids_refetch_at_most_once_per_30_seconds_and_rotation_works() {
    let jwks = JwksServer::start().await;
    let t = TestServer::start_with(Backend::Sqlite, |c| {
        let cfg = jwt_config(&jwks);
        enable(c, "custom-token").custom_token = Some(cfg);
    })
    .await;
    t.login(
        APP,
        "custom-token",
        json!({"token": jwks.sign(&claims(json!({})))}),
    )
    .await
    .ok();
    assert_eq!(jwks.fetches(), 1);
    for i in 0..50 {
        let token = jwks.sign_with_header(
            json!({"alg": "ES256", "kid": format!("random-{i}")}),
            &claims(json!({})),
        );
        t.login(APP, "custom-token", json!({"token": token}))
            .await
            .err(401, "AuthError");
    }
    assert!(
        jwks.fetches() <= 2,
        "50 unknown kids caused {} fetches",
        jwks.fetches()
    );
    // The provider rotates its key; after the cool-down the new kid is fetched and accepted.
    jwks.rotate(false);
    t.state().clock.advance(31);
    t.login(
        APP,
        "custom-token",
        json!({"token": jwks.sign(&claims(json!({"exp": now_unix() + 3600})))}),
    )
    .await
    .ok();
    // The JWKS endpoint goes down: the last good set keeps working.
    jwks.set_down(true);
    t.state().clock.advance(31);
    t.login(
        APP,
        "custom-token",
        json!({"token": jwks.sign(&claims(json!({"exp": now_unix() + 3600})))}),
    )
    .await
    .ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_token_with_a_pem_key_or_an_hmac_secret() {
    let jwks = JwksServer::start().await;
    let secret = "an-hmac-secret-of-at-least-32-bytes-0123456789";
    let t = TestServer::start_with(Backend::Sqlite, |c| {
        let mut cfg = jwt_config(&jwks);
        cfg.jwks_url = None;
        cfg.algorithm = "HS256".into();
        cfg.secret = Some(Secret::new(secret));
        enable(c, "custom-token").custom_token = Some(cfg);
    })
    .await;
    let token = jwks.sign_hs256(
        json!({"alg": "HS256", "typ": "JWT"}),
        &claims(json!({})),
        secret.as_bytes(),
    );
    t.login(APP, "custom-token", json!({"token": token}))
        .await
        .ok();
    let wrong = jwks.sign_hs256(
        json!({"alg": "HS256"}),
        &claims(json!({})),
        b"another-secret-of-at-least-32-bytes-xxxxx",
    );
    t.login(APP, "custom-token", json!({"token": wrong}))
        .await
        .err(401, "AuthError");
    let es = jwks.sign(&claims(json!({})));
    t.login(APP, "custom-token", json!({"token": es}))
        .await
        .err(401, "AuthError");
}

fn function_config(c: &mut Config, url: String) {
    enable(c, "custom-function").custom_function = Some(WebhookConfig {
        url,
        secret: Secret::new(HOOK_SECRET),
    });
    c.outbound.timeout_ms = 1500;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_function_webhook_decides_and_fails_closed() {
    let hook = WebhookReceiver::start(HOOK_SECRET).await;
    hook.respond(Responder::with(|body| {
        let payload = &body["data"];
        if payload["username"] == "alice" && payload["pin"] == "1234" {
            (
                200,
                json!({"id": "ext-alice", "name": "Alice", "role": "ignored"}),
            )
        } else {
            (401, json!({"error": "wrong pin"}))
        }
    }));
    let url = hook.url();
    let t = TestServer::start_with(Backend::Sqlite, |c| function_config(c, url)).await;
    let body =
        json!({"username": "alice", "pin": "1234", "options": {"device": {"sdkVersion": "x"}}});
    let alice = t.login(APP, "custom-function", body.clone()).await.ok();
    let again = t.login(APP, "custom-function", body).await.ok();
    assert_eq!(alice["user_id"], again["user_id"]);
    let profile = t
        .call(
            reqwest::Method::GET,
            &t.api("/auth/profile"),
            alice["access_token"].as_str(),
            None,
        )
        .await
        .ok();
    assert_eq!(profile["data"]["name"], "Alice");
    assert!(
        profile["data"].get("role").is_none(),
        "only profile fields are taken from the hook"
    );
    let requests = hook.requests();
    let first = &requests[0];
    assert!(first.signature_ok, "{:?}", first.signature_error);
    assert_eq!(first.json()["type"], "custom-function.login");
    assert!(
        first.json()["data"].get("options").is_none(),
        "device options are not the payload"
    );
    // The library binds the signature to the body and the timestamp: a changed body, or the
    // same one under another timestamp, is refused; the delivery verbatim is a repeated id.
    let mut tampered = first.body.clone();
    tampered.push(b' ');
    assert_eq!(hook.resend(first, &tampered, None).await, 401);
    assert_eq!(
        hook.resend(first, &first.body, Some(now_unix() - 360))
            .await,
        401
    );
    assert_eq!(hook.resend(first, &first.body, None).await, 200);
    let seen = hook.requests();
    assert!(!seen[seen.len() - 3].signature_ok && !seen[seen.len() - 2].signature_ok);
    assert!(seen[seen.len() - 1].repeated_id);
    let before = t.user_count().await;
    t.login(
        APP,
        "custom-function",
        json!({"username": "alice", "pin": "0000"}),
    )
    .await
    .err(401, "AuthError");
    for responder in [
        Responder::Answer(500, json!({"id": "x"})),
        Responder::InvalidJson,
        Responder::Answer(200, json!({"nope": 1})),
        Responder::Sleep(Duration::from_secs(5), 200, json!({"id": "slow"})),
    ] {
        hook.respond(responder);
        let started = std::time::Instant::now();
        t.login(APP, "custom-function", json!({"username": "bob"}))
            .await
            .err(401, "AuthError");
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "the outbound timeout bounds a slow hook"
        );
    }
    assert_eq!(
        t.user_count().await,
        before,
        "failed hook calls create no user"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_function_ids_are_namespaced_and_private_targets_are_refused() {
    let hook = WebhookReceiver::start(HOOK_SECRET).await;
    let url = hook.url();
    let jwks = JwksServer::start().await;
    let t = TestServer::start_with(Backend::Sqlite, |c| {
        function_config(c, url);
        let cfg = jwt_config(&jwks);
        enable(c, "custom-token").custom_token = Some(cfg);
    })
    .await;
    let jwt_user = t
        .login(
            APP,
            "custom-token",
            json!({"token": jwks.sign(&claims(json!({})))}),
        )
        .await
        .ok();
    hook.respond(Responder::Answer(200, json!({"id": "ext-42"})));
    let fn_user = t
        .login(APP, "custom-function", json!({"any": 1}))
        .await
        .ok();
    assert_ne!(
        jwt_user["user_id"], fn_user["user_id"],
        "a hook cannot hand out another provider's user"
    );
    // SSRF: private, metadata and (without the loopback allowance) loopback targets.
    for target in [
        "http://169.254.169.254/latest/meta-data",
        "https://10.0.0.1/hook",
        "https://0x7f000001/",
        "https://2130706433/",
        "https://0177.0.0.1/",
        "https://[::1]/",
    ] {
        let t2 =
            TestServer::start_with(Backend::Sqlite, |c| function_config(c, target.to_string()))
                .await;
        t2.login(APP, "custom-function", json!({"any": 1}))
            .await
            .err(401, "AuthError");
    }
    let hook2 = WebhookReceiver::start(HOOK_SECRET).await;
    let url2 = hook2.url();
    let t3 = TestServer::start_with(Backend::Sqlite, |c| {
        function_config(c, url2);
        c.outbound.allow_loopback_http = false;
    })
    .await;
    t3.login(APP, "custom-function", json!({"any": 1}))
        .await
        .err(401, "AuthError");
    assert!(
        hook2.requests().is_empty(),
        "no packet reached the loopback hook"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_confirmation_and_reset_functions() {
    let hook = WebhookReceiver::start(HOOK_SECRET).await;
    let url = hook.url();
    let t = TestServer::start_with(Backend::Sqlite, |c| {
        c.outbound.allow_loopback_http = true;
        let app = c.apps.get_mut(APP).unwrap();
        app.confirm_function = Some(WebhookConfig {
            url: url.clone(),
            secret: Secret::new(HOOK_SECRET),
        });
        app.reset_function = Some(WebhookConfig {
            url,
            secret: Secret::new(HOOK_SECRET),
        });
    })
    .await;
    let pw = crate::support::PASSWORD;
    hook.respond(Responder::with(|b| {
        let ok = b["data"]["username"] == "ok@example.com";
        (
            200,
            json!({"status": if ok { "success" } else { "pending" }}),
        )
    }));
    t.post(
        APP,
        "/auth/providers/local-userpass/register",
        json!({"email": "ok@example.com", "password": pw}),
    )
    .await
    .void();
    t.login(
        APP,
        "local-userpass",
        json!({"username": "ok@example.com", "password": pw}),
    )
    .await
    .ok();
    t.post(
        APP,
        "/auth/providers/local-userpass/register",
        json!({"email": "later@example.com", "password": pw}),
    )
    .await
    .void();
    t.login(
        APP,
        "local-userpass",
        json!({"username": "later@example.com", "password": pw}),
    )
    .await
    .err(401, "AuthError");
    // Pending: the function got the token and delivers it its own way.
    let sent = hook.requests().last().unwrap().json();
    assert_eq!(sent["type"], "local-userpass.confirm");
    t.post(
        APP,
        "/auth/providers/local-userpass/confirm",
        json!({"token": sent["data"]["token"], "tokenId": sent["data"]["tokenId"]}),
    )
    .await
    .void();
    t.login(
        APP,
        "local-userpass",
        json!({"username": "later@example.com", "password": pw}),
    )
    .await
    .ok();
    // confirm/call for a confirmed account answers as for any other (strict apps say
    // UserAlreadyConfirmed: takeover.rs).
    t.post(
        APP,
        "/auth/providers/local-userpass/confirm/call",
        json!({"email": "later@example.com"}),
    )
    .await
    .void();
    // A refusing function fails the registration and leaves no account behind.
    hook.respond(Responder::Answer(200, json!({"status": "fail"})));
    t.post(
        APP,
        "/auth/providers/local-userpass/register",
        json!({"email": "no@example.com", "password": pw}),
    )
    .await
    .err(400, "BadRequest");
    hook.respond(Responder::Answer(200, json!({"status": "success"})));
    t.post(
        APP,
        "/auth/providers/local-userpass/register",
        json!({"email": "no@example.com", "password": pw}),
    )
    .await
    .void();
    // reset/call: success changes the password at once.
    let new_pw = "a different long passphrase 42";
    t.post(
        APP,
        "/auth/providers/local-userpass/reset/call",
        json!({"email": "ok@example.com", "password": new_pw, "arguments": ["sms"]}),
    )
    .await
    .void();
    let sent = hook.requests().last().unwrap().json();
    assert_eq!(sent["type"], "local-userpass.reset");
    assert_eq!(sent["data"]["arguments"], json!(["sms"]));
    t.login(
        APP,
        "local-userpass",
        json!({"username": "ok@example.com", "password": new_pw}),
    )
    .await
    .ok();
    hook.respond(Responder::Answer(200, json!({"status": "fail"})));
    t.post(
        APP,
        "/auth/providers/local-userpass/reset/call",
        json!({"email": "ok@example.com", "password": "yet another long passphrase"}),
    )
    .await
    .err(400, "BadRequest");
    t.login(
        APP,
        "local-userpass",
        json!({"username": "ok@example.com", "password": new_pw}),
    )
    .await
    .ok();
    let requests = hook.requests();
    assert!(requests.len() >= 6);
    for r in &requests {
        assert!(r.signature_ok, "standardwebhooks: {:?}", r.signature_error);
    }
}

/// A secret without `whsec_` is its own text as the key (documented); a receiver keyed with those
/// bytes verifies, one that reads the secret the specification's way does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_webhook_secret_signs_with_its_text() {
    let hook = WebhookReceiver::start(PLAIN_HOOK_SECRET).await;
    let url = hook.url();
    let t = TestServer::start_with(Backend::Sqlite, |c| {
        function_config(c, url);
        let app = c.apps.get_mut(APP).unwrap();
        app.custom_function.as_mut().unwrap().secret = Secret::new(PLAIN_HOOK_SECRET);
    })
    .await;
    hook.respond(Responder::Answer(200, json!({"id": "plain-1"})));
    t.login(APP, "custom-function", json!({"u": 1})).await.ok();
    let first = &hook.requests()[0];
    assert!(first.signature_ok, "{:?}", first.signature_error);
    // The same delivery, checked by a receiver holding the spec-form secret of other bytes.
    let other = WebhookReceiver::start(HOOK_SECRET).await;
    assert_eq!(other.resend(first, &first.body, None).await, 401);
    assert_eq!(
        other.requests()[0].signature_error.as_deref(),
        Some("No matching signature found")
    );
}

fn oidc_client(op: &OidcPeer) -> OAuthClientConfig {
    OAuthClientConfig {
        client_id: op.client_id.clone(),
        client_secret: Some(Secret::new(op.client_secret.clone())),
        issuer: Some(op.issuer.clone()),
        authorize_url: Some(op.authorize_url()),
        token_url: Some(op.token_url()),
        jwks_url: Some(op.jwks_url()),
        token_endpoint_auth: Some("client_secret_basic".into()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_and_apple_id_tokens_and_a_google_auth_code_from_a_real_openid_provider() {
    let code_redirect = "http://127.0.0.1:1/app-callback".to_string();
    let op = OidcPeer::start(std::slice::from_ref(&code_redirect)).await;
    let t = TestServer::start_with(Backend::Sqlite, |c| {
        enable(c, "oauth2-google").google = Some(oidc_client(&op));
        enable(c, "oauth2-apple").apple = Some(oidc_client(&op));
    })
    .await;
    let token = op.id_token("alice@example.test", "n-1").await;
    let alice = t
        .login(APP, "oauth2-google", json!({"id_token": token}))
        .await
        .ok();
    let profile = t
        .call(
            reqwest::Method::GET,
            &t.api("/auth/profile"),
            alice["access_token"].as_str(),
            None,
        )
        .await
        .ok();
    assert_eq!(
        profile["data"]["email"], "alice@example.test",
        "a verified email is kept"
    );
    assert_eq!(profile["identities"][0]["provider_type"], "oauth2-google");
    let apple = t
        .login(
            APP,
            "oauth2-apple",
            json!({"id_token": op.id_token("alice@example.test", "n-2").await}),
        )
        .await
        .ok();
    assert_ne!(
        apple["user_id"], alice["user_id"],
        "the same email at another provider is another user (never merged by email)"
    );
    // authCode: the server exchanges it (with the PKCE verifier the client used).
    let (verifier, challenge) = crate::peers::pkce_pair();
    let code = op
        .auth_code("alice@example.test", &code_redirect, &challenge, "n-3")
        .await;
    let by_code = t
        .login(
            APP,
            "oauth2-google",
            json!({"authCode": code, "redirectUri": code_redirect, "codeVerifier": verifier}),
        )
        .await
        .ok();
    assert_eq!(by_code["user_id"], alice["user_id"]);
    t.login(
        APP,
        "oauth2-google",
        json!({"authCode": code, "redirectUri": code_redirect, "codeVerifier": verifier}),
    )
    .await
    .err(401, "AuthError");
    // An ID token for another audience, or our own access token, is refused.
    let t2 = TestServer::start_with(Backend::Sqlite, |c| {
        let mut cfg = oidc_client(&op);
        cfg.client_id = "some-other-client".into();
        enable(c, "oauth2-google").google = Some(cfg);
    })
    .await;
    t2.login(
        APP,
        "oauth2-google",
        json!({"id_token": op.id_token("bob", "n-4").await}),
    )
    .await
    .err(401, "AuthError");
    t.login(
        APP,
        "oauth2-google",
        json!({"id_token": alice["access_token"]}),
    )
    .await
    .err(401, "AuthError");
    t.login(APP, "oauth2-google", json!({}))
        .await
        .err(400, "MissingParameter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn facebook_access_tokens_are_checked_with_the_graph_api() {
    let fb = FacebookStandin::start().await;
    let t = TestServer::start_with(Backend::Sqlite, |c| {
        enable(c, "oauth2-facebook").facebook = Some(OAuthClientConfig {
            client_id: fb.client_id.clone(),
            client_secret: Some(Secret::new(fb.client_secret.clone())),
            api_url: Some(fb.graph_base()),
            ..Default::default()
        });
    })
    .await;
    let user = FacebookUser::new(
        "10158000000000001",
        "Fiona Book",
        Some("fiona@example.test"),
    );
    fb.add_user(user.clone());
    fb.set_require_appsecret_proof(true);
    let first = t
        .login(
            APP,
            "oauth2-facebook",
            json!({"accessToken": fb.issue_token(&user, &fb.client_id)}),
        )
        .await
        .ok();
    let again = t
        .login(
            APP,
            "oauth2-facebook",
            json!({"accessToken": fb.issue_token(&user, &fb.client_id)}),
        )
        .await
        .ok();
    assert_eq!(first["user_id"], again["user_id"]);
    let profile = t
        .call(
            reqwest::Method::GET,
            &t.api("/auth/profile"),
            first["access_token"].as_str(),
            None,
        )
        .await
        .ok();
    assert_eq!(profile["data"]["name"], "Fiona Book");
    t.login(
        APP,
        "oauth2-facebook",
        json!({"accessToken": fb.issue_token(&user, "another-app-id")}),
    )
    .await
    .err(401, "AuthError");
    t.login(APP, "oauth2-facebook", json!({"accessToken": "EAAGarbage"}))
        .await
        .err(401, "AuthError");
    fb.set_down(true);
    t.login(
        APP,
        "oauth2-facebook",
        json!({"accessToken": fb.issue_token(&user, &fb.client_id)}),
    )
    .await
    .err(503, "ServiceUnavailable");
}
