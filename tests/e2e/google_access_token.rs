//! Google `accessToken` logins (the Node SDK's `Credentials.google({accessToken})`, issue 15
//! item 8) against the real `oidc-provider`: the server checks the token at the OP's userinfo
//! endpoint, and the answer's `sub` is the same identity the ID-token and auth-code forms give.
//! Refused tokens, a dead endpoint and an answer without `sub` fail closed (401 `AuthError`).

use gatehouse_client::Credentials;
use gatehouse_server::config::{Config, OAuthClientConfig};
use gatehouse_server::Secret;
use reqwest::Method;
use serde_json::{json, Value};

use crate::both_backends;
use crate::peers::oidc::{OidcPeer, PEER_CALLBACK};
use crate::sdk::Sdk;
use crate::support::{Backend, TestServer, APP};

both_backends!(
    google_access_token_signs_in_the_same_user_as_the_id_token,
    google_access_token_links_and_signs_in_through_the_sdk,
);

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
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .contains("userinfo endpoint refused"),
        "{e}"
    );
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

/// Userinfo does not say which app a token was issued to, so the form is off unless the operator
/// names the endpoint: without `userinfo_url` a real token is refused before any call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_access_tokens_are_refused_unless_the_app_opts_in() {
    let op = OidcPeer::start(&[]).await;
    let t = TestServer::start_with(Backend::Sqlite, |c| {
        google(c, &op, String::new());
        c.apps
            .get_mut(APP)
            .unwrap()
            .google
            .as_mut()
            .unwrap()
            .userinfo_url = None;
    })
    .await;
    let (access, id_token) = op_tokens(&op, "opt@example.test").await;
    let refused = t
        .login(APP, "oauth2-google", json!({"accessToken": access}))
        .await
        .err(400, "InvalidParameter");
    assert!(
        refused["error"].as_str().unwrap().contains("userinfo_url"),
        "{refused}"
    );
    t.login(APP, "oauth2-google", json!({"id_token": id_token}))
        .await
        .ok();
}
