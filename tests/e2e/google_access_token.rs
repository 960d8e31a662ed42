//! Google `accessToken` logins (the Node SDK's `Credentials.google({accessToken})`, issue 15
//! item 8) against the real `oidc-provider`: the server first proves the token was issued to our
//! client (RFC 7662 introspection at the OP, or a Google-shaped tokeninfo stand-in), then reads
//! the OP's userinfo, whose `sub` is the same identity the ID-token and auth-code forms give.
//! A token of another client, a revoked or forged token, a dead endpoint and an answer without
//! `sub` fail closed (401 `AuthError`) and create no user.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gatehouse_client::Credentials;
use gatehouse_server::config::{Config, OAuthClientConfig};
use gatehouse_server::Secret;
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::peers::oidc::{OidcPeer, PEER_CALLBACK};
use crate::sdk::Sdk;
use crate::support::{test_config, Backend, TestServer, APP};

both_backends!(
    google_access_token_signs_in_the_same_user_as_the_id_token,
    google_access_token_links_and_signs_in_through_the_sdk,
    google_access_token_of_another_client_is_refused,
    google_access_token_revoked_or_garbage_is_refused,
);

/// The client that is not ours: registered at the OP as public (PKCE, no secret).
const OTHER_CLIENT: &str = "test-public-client";

fn google(c: &mut Config, op: &OidcPeer, userinfo_url: String) {
    c.outbound.allow_loopback_http = true;
    let app = c.apps.get_mut(APP).unwrap();
    app.providers.push("oauth2-google".into());
    app.google = Some(OAuthClientConfig {
        client_id: op.client_id.clone(),
        client_secret: Some(Secret::new(op.client_secret.clone())),
        issuer: Some(op.issuer.clone()),
        authorize_url: Some(op.authorize_url()),
        token_url: Some(op.token_url()),
        jwks_url: Some(op.jwks_url()),
        userinfo_url: Some(userinfo_url),
        introspection_url: Some(op.introspection_url()),
        token_endpoint_auth: Some("client_secret_basic".into()),
        ..Default::default()
    });
}

/// A real access token (and the ID token beside it) the OP issued to the Google-configured
/// client for `login`, through the browser code + PKCE flow.
async fn op_tokens(op: &OidcPeer, login: &str) -> (String, String) {
    let (verifier, challenge) = crate::peers::pkce_pair();
    let nonce = crate::peers::random_token(12);
    let code = op.auth_code(login, PEER_CALLBACK, &challenge, &nonce).await;
    let tokens = op.exchange(&code, PEER_CALLBACK, &verifier).await;
    let s = |k: &str| tokens[k].as_str().unwrap().to_string();
    (s("access_token"), s("id_token"))
}

async fn profile(t: &TestServer, access: &str) -> Value {
    t.call(Method::GET, &t.api("/auth/profile"), Some(access), None)
        .await
        .ok()
}

async fn google_access_token_signs_in_the_same_user_as_the_id_token(b: Backend) {
    let op = OidcPeer::start(&[]).await;
    let userinfo = op.userinfo_url();
    let t = TestServer::start_with(b, |c| google(c, &op, userinfo)).await;
    let (access, id_token) = op_tokens(&op, "gina@example.test").await;
    let by_access = t
        .login(APP, "oauth2-google", json!({"accessToken": access}))
        .await
        .ok();
    let p = profile(&t, by_access["access_token"].as_str().unwrap()).await;
    assert_eq!(p["identities"][0]["provider_type"], "oauth2-google");
    assert_eq!(p["identities"][0]["id"], "gina@example.test", "the sub");
    assert_eq!(
        p["data"]["email"], "gina@example.test",
        "verified email kept"
    );
    let by_id_token = t
        .login(APP, "oauth2-google", json!({"id_token": id_token}))
        .await
        .ok();
    assert_eq!(
        by_id_token["user_id"], by_access["user_id"],
        "the ID token and the access token of one account sign in one user"
    );
    // The same token again is still good (it is not single-use, unlike an ID token).
    let again = t
        .login(APP, "oauth2-google", json!({"accessToken": access}))
        .await
        .ok();
    assert_eq!(again["user_id"], by_access["user_id"]);
    // A token the OP never issued, our own access token, a non-string: refused.
    let e = t
        .login(
            APP,
            "oauth2-google",
            json!({"accessToken": "not-a-real-token"}),
        )
        .await
        .err(401, "AuthError");
    assert!(e["error"].as_str().unwrap().contains("not active"), "{e}");
    t.login(
        APP,
        "oauth2-google",
        json!({"accessToken": by_access["access_token"]}),
    )
    .await
    .err(401, "AuthError");
    t.login(APP, "oauth2-google", json!({"accessToken": 7}))
        .await
        .err(400, "InvalidParameter");
}

async fn google_access_token_links_and_signs_in_through_the_sdk(b: Backend) {
    let op = OidcPeer::start(&[]).await;
    let userinfo = op.userinfo_url();
    let t = TestServer::start_with(b, |c| google(c, &op, userinfo)).await;
    // Raw link: an anonymous user gains the Google identity.
    let anon = t.anonymous().await;
    let (access, _) = op_tokens(&op, "hugo@example.test").await;
    let url = format!(
        "{}?link=true",
        t.app_path(APP, "/auth/providers/oauth2-google/login")
    );
    let linked = t
        .call(
            Method::POST,
            &url,
            Some(&anon.access),
            Some(json!({"accessToken": access})),
        )
        .await
        .ok();
    assert_eq!(linked["user_id"], anon.user_id.as_str());
    let p = profile(&t, linked["access_token"].as_str().unwrap()).await;
    let providers: Vec<&str> = p["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["provider_type"].as_str().unwrap())
        .collect();
    assert!(providers.contains(&"oauth2-google"), "{p}");
    // Through the SDK: the access token signs in that same (linked) user.
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let user = app
        .log_in(Credentials::google_access_token(&access))
        .await
        .unwrap();
    assert_eq!(user.id(), anon.user_id.as_str());
    // A second Google account through the SDK is another user; a bad token is refused.
    let (other, _) = op_tokens(&op, "ines@example.test").await;
    let ines = app
        .log_in(Credentials::google_access_token(&other))
        .await
        .unwrap();
    assert_ne!(ines.id(), user.id());
    let err = app
        .log_in(Credentials::google_access_token("forged"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "AuthError", "{err}");
}

/// No database difference in these refusals: SQLite only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_access_token_fails_closed_when_userinfo_is_down_or_answers_no_sub() {
    let op = OidcPeer::start(&[]).await;
    let (access, _) = op_tokens(&op, "jo@example.test").await;
    // Nothing listens there.
    let dead = format!("http://127.0.0.1:{}/userinfo", crate::peers::free_port());
    let t = TestServer::start_with(Backend::Sqlite, |c| google(c, &op, dead)).await;
    let e = t
        .login(APP, "oauth2-google", json!({"accessToken": access}))
        .await
        .err(401, "AuthError");
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("could not be reached"),
        "{e}"
    );
    // An endpoint that answers 200 without `sub` vouches for nobody.
    let no_sub = crate::peers::serve(axum::Router::new().route(
        "/userinfo",
        axum::routing::get(|| async { axum::Json(json!({"email": "jo@example.test"})) }),
    ))
    .await;
    let url = format!("{}/userinfo", no_sub.base);
    let t2 = TestServer::start_with(Backend::Sqlite, |c| google(c, &op, url)).await;
    let e = t2
        .login(APP, "oauth2-google", json!({"accessToken": access}))
        .await
        .err(401, "AuthError");
    assert!(e["error"].as_str().unwrap().contains("no sub"), "{e}");
}

fn error_text(e: &Value) -> &str {
    e["error"].as_str().unwrap_or_default()
}

/// A token the OP really issued to another client for the same person is good at the OP's
/// userinfo (so only the audience check stands between it and a login here), yet signs in
/// nobody and links to nobody.
async fn google_access_token_of_another_client_is_refused(b: Backend) {
    let op = OidcPeer::start(&[]).await;
    let userinfo = op.userinfo_url();
    let t = TestServer::start_with(b, |c| google(c, &op, userinfo)).await;
    let tokens = op
        .public_client_tokens(OTHER_CLIENT, "kim@example.test")
        .await;
    let foreign = tokens["access_token"].as_str().unwrap().to_string();
    let me: Value = reqwest::Client::new()
        .get(op.userinfo_url())
        .bearer_auth(&foreign)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        me["sub"], "kim@example.test",
        "the OP's userinfo vouches for it"
    );

    let before = t.user_count().await;
    let e = t
        .login(APP, "oauth2-google", json!({"accessToken": foreign}))
        .await
        .err(401, "AuthError");
    assert!(error_text(&e).contains("issued to another client"), "{e}");
    assert_eq!(t.user_count().await, before, "no user was created");

    // Nor can it attach kim's Google identity to someone else's account.
    let anon = t.anonymous().await;
    let url = format!(
        "{}?link=true",
        t.app_path(APP, "/auth/providers/oauth2-google/login")
    );
    let e = t
        .call(
            Method::POST,
            &url,
            Some(&anon.access),
            Some(json!({"accessToken": foreign})),
        )
        .await
        .err(401, "AuthError");
    assert!(error_text(&e).contains("issued to another client"), "{e}");
    let p = profile(&t, &anon.access).await;
    assert!(
        !p["identities"].to_string().contains("oauth2-google"),
        "{p}"
    );
    // The same person's token issued to our client signs in.
    let (ours, _) = op_tokens(&op, "kim@example.test").await;
    t.login(APP, "oauth2-google", json!({"accessToken": ours}))
        .await
        .ok();
}

async fn google_access_token_revoked_or_garbage_is_refused(b: Backend) {
    let op = OidcPeer::start(&[]).await;
    let userinfo = op.userinfo_url();
    let t = TestServer::start_with(b, |c| google(c, &op, userinfo)).await;
    let (access, _) = op_tokens(&op, "lou@example.test").await;
    t.login(APP, "oauth2-google", json!({"accessToken": access}))
        .await
        .ok();
    let users = t.user_count().await;
    op.revoke(&access).await;
    let e = t
        .login(APP, "oauth2-google", json!({"accessToken": access}))
        .await
        .err(401, "AuthError");
    assert!(error_text(&e).contains("not active"), "{e}");
    for garbage in ["garbage", "x".repeat(43).as_str(), "a.b.c"] {
        let e = t
            .login(APP, "oauth2-google", json!({"accessToken": garbage}))
            .await
            .err(401, "AuthError");
        assert!(error_text(&e).contains("not active"), "{e}");
    }
    assert_eq!(t.user_count().await, users, "no user was created");
}

/// Introspection that cannot be had (nothing listening, our credentials refused) vouches for
/// nothing. No database difference: SQLite only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_access_token_fails_closed_when_introspection_fails() {
    let op = OidcPeer::start(&[]).await;
    let (access, _) = op_tokens(&op, "max@example.test").await;
    let dead = format!(
        "http://127.0.0.1:{}/token/introspection",
        crate::peers::free_port()
    );
    let t = TestServer::start_with(Backend::Sqlite, |c| {
        google(c, &op, op.userinfo_url());
        let g = c.apps.get_mut(APP).unwrap().google.as_mut().unwrap();
        g.introspection_url = Some(dead);
    })
    .await;
    let e = t
        .login(APP, "oauth2-google", json!({"accessToken": access}))
        .await
        .err(401, "AuthError");
    assert!(error_text(&e).contains("could not be reached"), "{e}");
    assert!(!error_text(&e).contains(&access), "{e}");

    let t2 = TestServer::start_with(Backend::Sqlite, |c| {
        google(c, &op, op.userinfo_url());
        let g = c.apps.get_mut(APP).unwrap().google.as_mut().unwrap();
        g.client_secret = Some(Secret::new("not-the-secret".to_string()));
    })
    .await;
    let e = t2
        .login(APP, "oauth2-google", json!({"accessToken": access}))
        .await
        .err(401, "AuthError");
    assert!(error_text(&e).contains("HTTP 401"), "{e}");
    assert_eq!(t2.user_count().await, 0);
}

/// What a Google-shaped tokeninfo stand-in answers per token (anything else: Google's 400), and
/// the query strings it was called with.
#[derive(Clone, Default)]
struct TokenInfo {
    answers: Arc<Mutex<HashMap<String, Value>>>,
    seen: Arc<Mutex<Vec<HashMap<String, String>>>>,
}

async fn tokeninfo_standin(info: TokenInfo) -> crate::peers::Served {
    use axum::extract::Query;
    use axum::http::StatusCode;
    crate::peers::serve(axum::Router::new().route(
        "/tokeninfo",
        axum::routing::get(move |Query(q): Query<HashMap<String, String>>| async move {
            info.seen.lock().unwrap().push(q.clone());
            let token = q.get("access_token").cloned().unwrap_or_default();
            match info.answers.lock().unwrap().get(&token) {
                Some(answer) => (StatusCode::OK, axum::Json(answer.clone())),
                None => (
                    StatusCode::BAD_REQUEST,
                    axum::Json(
                        json!({"error": "invalid_token", "error_description": "Invalid Value"}),
                    ),
                ),
            }
        }),
    ))
    .await
}

/// Without `introspection_url` the audience is Google's tokeninfo's `aud`/`azp` (its answers
/// have string numbers); the profile still comes from userinfo, about the same `sub`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_access_token_audience_is_checked_at_tokeninfo_without_introspection() {
    let op = OidcPeer::start(&[]).await;
    let info = TokenInfo::default();
    let standin = tokeninfo_standin(info.clone()).await;
    let t = TestServer::start_with(Backend::Sqlite, |c| {
        google(c, &op, op.userinfo_url());
        let g = c.apps.get_mut(APP).unwrap().google.as_mut().unwrap();
        g.introspection_url = None;
        g.tokeninfo_url = Some(format!("{}/tokeninfo", standin.base));
    })
    .await;
    let google_answer = |aud: &str, sub: &str, left: &str| {
        json!({
            "azp": aud, "aud": aud, "sub": sub, "scope": "openid email profile",
            "exp": "1999999999", "expires_in": left, "email": sub, "email_verified": "true",
            "access_type": "online"
        })
    };
    let (ours, _) = op_tokens(&op, "nia@example.test").await;
    let (mismatched, _) = op_tokens(&op, "oli@example.test").await;
    let (expired, _) = op_tokens(&op, "pat@example.test").await;
    let foreign = op
        .public_client_tokens(OTHER_CLIENT, "nia@example.test")
        .await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    {
        let mut answers = info.answers.lock().unwrap();
        let client = op.client_id.as_str();
        answers.insert(
            ours.clone(),
            google_answer(client, "nia@example.test", "3599"),
        );
        answers.insert(
            foreign.clone(),
            google_answer(OTHER_CLIENT, "nia@example.test", "3599"),
        );
        answers.insert(
            mismatched.clone(),
            google_answer(client, "nia@example.test", "3599"),
        );
        answers.insert(
            expired.clone(),
            google_answer(client, "pat@example.test", "0"),
        );
    }

    let nia = t
        .login(APP, "oauth2-google", json!({"accessToken": ours}))
        .await
        .ok();
    let p = profile(&t, nia["access_token"].as_str().unwrap()).await;
    assert_eq!(p["identities"][0]["id"], "nia@example.test");
    let seen = info.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].get("access_token"),
        Some(&ours),
        "GET ?access_token="
    );

    for (token, why) in [
        (&foreign, "issued to another client"),
        (&mismatched, "another user"),
        (&expired, "expired"),
    ] {
        let e = t
            .login(APP, "oauth2-google", json!({"accessToken": token}))
            .await
            .err(401, "AuthError");
        assert!(error_text(&e).contains(why), "{why}: {e}");
        assert!(!error_text(&e).contains(token.as_str()), "{e}");
    }
    let e = t
        .login(APP, "oauth2-google", json!({"accessToken": "ya29.forged"}))
        .await
        .err(401, "AuthError");
    assert!(error_text(&e).contains("HTTP 400"), "{e}");
    assert_eq!(t.user_count().await, 1, "only nia signed in");
}

/// Introspection authenticates as the client, so it needs the client's secret.
#[test]
fn introspection_without_a_client_secret_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = test_config(dir.path(), "sqlite::memory:");
    let app = c.apps.get_mut(APP).unwrap();
    app.providers.push("oauth2-google".into());
    app.google = Some(OAuthClientConfig {
        client_id: "web-client".into(),
        introspection_url: Some("https://op.example/token/introspection".into()),
        ..Default::default()
    });
    let e = c.validate().unwrap_err().to_string();
    assert!(e.contains("introspection_url needs"), "{e}");
    let g = c.apps.get_mut(APP).unwrap().google.as_mut().unwrap();
    g.client_secret = Some(Secret::new("s3cret".to_string()));
    c.validate().expect("with a secret it is fine");
    let g = c.apps.get_mut(APP).unwrap().google.as_mut().unwrap();
    g.tokeninfo_url = Some("ftp://tokeninfo.example/".into());
    assert!(c
        .validate()
        .unwrap_err()
        .to_string()
        .contains("tokeninfo_url"));
}
