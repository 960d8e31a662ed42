//! Token-mode Google and Apple ID tokens, and duplicate JSON members in any external JWT
//! (issue 12, item 17). The tokens are minted by panva's `jose` (peers/jose.rs), so the server
//! verifies what a real JOSE implementation produces: a stale `iat`, a foreign `azp`, a replayed
//! `jti` (or a replayed token without one), a nonce that does not match the client's, and a
//! header or payload that names a member twice. Every refusal creates nobody.

use gatehouse_server::config::{Config, CustomTokenConfig, OAuthClientConfig};
use serde_json::{json, Value};

use crate::peers::hooks::now_unix;
use crate::peers::jose::JoseMinter;
use crate::peers::random_token;
use crate::support::{Backend, TestServer, APP};

const WEB_CLIENT: &str = "web-client.apps.example";
const ANDROID_CLIENT: &str = "android-client.apps.example";

fn client(minter: &JoseMinter) -> OAuthClientConfig {
    OAuthClientConfig {
        client_id: WEB_CLIENT.into(),
        extra_audiences: vec![ANDROID_CLIENT.into()],
        issuer: Some(minter.issuer.clone()),
        jwks_url: Some(minter.jwks_url()),
        ..Default::default()
    }
}

fn enable(c: &mut Config, minter: &JoseMinter) {
    c.outbound.allow_loopback_http = true;
    let app = c.apps.get_mut(APP).unwrap();
    app.providers.push("oauth2-google".into());
    app.providers.push("oauth2-apple".into());
    app.google = Some(client(minter));
    app.apple = Some(client(minter));
}

/// Claims of a fresh ID token for `sub`, with a random `jti`; `extra` overrides (null removes).
fn claims(minter: &JoseMinter, sub: &str, extra: Value) -> Value {
    let now = now_unix();
    let mut c = json!({
        "iss": minter.issuer, "aud": WEB_CLIENT, "sub": sub, "iat": now - 5,
        "exp": now + 3600, "jti": random_token(16), "email": format!("{sub}@example.test"),
        "email_verified": true,
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

/// Logs in with `body` at `provider` and asserts a 401 AuthError whose message says `why`.
async fn refused(t: &TestServer, provider: &str, body: Value, why: &str) {
    let reply = t.login(APP, provider, body).await;
    assert_eq!(
        reply.status.as_u16(),
        401,
        "expected a refusal ({why}), got {}",
        reply.json
    );
    let e = reply.err(401, "AuthError");
    let message = e["error"].as_str().unwrap();
    assert!(message.contains(why), "expected {why:?} in {message:?}");
}

async fn id_token_checks(backend: Backend) {
    let minter = JoseMinter::start().await;
    let t = TestServer::start_with(backend, |c| enable(c, &minter)).await;
    let google = "oauth2-google";

    // The control: a fresh token signs in.
    let token = minter.mint(claims(&minter, "g-1", json!({}))).await;
    let first = t
        .login(APP, google, json!({ "id_token": token }))
        .await
        .ok();

    // Replays: the same token again (its jti was used), and a token without jti twice (its hash).
    refused(&t, google, json!({ "id_token": token }), "already used").await;
    let no_jti = minter
        .mint(claims(&minter, "g-1", json!({"jti": null})))
        .await;
    let again = t
        .login(APP, google, json!({ "idToken": no_jti }))
        .await
        .ok();
    assert_eq!(again["user_id"], first["user_id"]);
    refused(&t, google, json!({ "id_token": no_jti }), "already used").await;
    // One jti at two providers: each provider has its own namespace.
    let shared = json!({"jti": "shared-jti-1"});
    let at_google = minter.mint(claims(&minter, "g-2", shared.clone())).await;
    let at_apple = minter.mint(claims(&minter, "a-2", shared)).await;
    t.login(APP, google, json!({ "id_token": at_google }))
        .await
        .ok();
    t.login(APP, "oauth2-apple", json!({ "id_token": at_apple }))
        .await
        .ok();
    refused(
        &t,
        "oauth2-apple",
        json!({ "id_token": at_apple }),
        "already used",
    )
    .await;

    // Age: ten minutes (plus a minute of clock skew), not the token's whole lifetime.
    let now = now_unix();
    for iat in [now - 3600, now - 12 * 60] {
        let stale = minter
            .mint(claims(&minter, "g-3", json!({ "iat": iat })))
            .await;
        refused(
            &t,
            google,
            json!({ "id_token": stale }),
            "issued too long ago",
        )
        .await;
    }
    let nine_minutes = minter
        .mint(claims(&minter, "g-3", json!({ "iat": now - 9 * 60 })))
        .await;
    t.login(APP, google, json!({ "id_token": nine_minutes }))
        .await
        .ok();

    // azp, when present, is one of the configured client ids.
    let foreign = minter
        .mint(claims(
            &minter,
            "g-4",
            json!({"azp": "someone-elses-client"}),
        ))
        .await;
    refused(&t, google, json!({ "id_token": foreign }), "audience").await;
    let android = minter
        .mint(claims(&minter, "g-4", json!({ "azp": ANDROID_CLIENT })))
        .await;
    t.login(APP, google, json!({ "id_token": android }))
        .await
        .ok();

    // nonce: checked when the client gives one.
    let with_nonce = |n: &str| claims(&minter, "g-5", json!({ "nonce": n }));
    let token = minter.mint(with_nonce("n-right")).await;
    refused(
        &t,
        google,
        json!({"id_token": token, "nonce": "n-wrong"}),
        "nonce",
    )
    .await;
    let bare = minter.mint(claims(&minter, "g-5", json!({}))).await;
    refused(
        &t,
        google,
        json!({"id_token": bare, "nonce": "n-right"}),
        "nonce",
    )
    .await;
    let token = minter.mint(with_nonce("n-right")).await;
    t.login(APP, google, json!({"id_token": token, "nonce": 7}))
        .await
        .err(400, "InvalidParameter");
    t.login(APP, google, json!({"id_token": token, "nonce": "n-right"}))
        .await
        .ok();
    let token = minter.mint(with_nonce("n-other")).await;
    t.login(APP, google, json!({ "id_token": token }))
        .await
        .ok();

    // Every refusal above created nobody: g-1, g-2, a-2, g-3, g-4, g-5.
    assert_eq!(t.user_count().await, 6);
}

/// A payload with two `sub`s: serde_json would keep the last, another parser the first.
fn two_subs(iss: &str, aud: &str) -> String {
    let now = now_unix();
    format!(
        r#"{{"iss":"{iss}","aud":"{aud}","sub":"victim","iat":{},"exp":{},"sub":"attacker"}}"#,
        now - 5,
        now + 600
    )
}

async fn duplicate_members_are_refused(backend: Backend) {
    let minter = JoseMinter::start().await;
    let issuer = minter.issuer.clone();
    let t = TestServer::start_with(backend, |c| {
        enable(c, &minter);
        let app = c.apps.get_mut(APP).unwrap();
        app.providers.push("custom-token".into());
        app.custom_token = Some(CustomTokenConfig {
            issuer: Some(issuer.clone()),
            audience: vec![APP.into()],
            algorithm: "RS256".into(),
            jwks_url: Some(minter.jwks_url()),
            public_key_pem: None,
            secret: None,
            max_age_secs: Some(3600),
            metadata: vec![],
        });
    })
    .await;
    let header_twice = r#"{"alg":"RS256","kid":"mint-rs-1","typ":"JWT","kid":"mint-rs-1"}"#;
    for (provider, field, aud) in [
        ("custom-token", "token", APP),
        ("oauth2-google", "id_token", WEB_CLIENT),
        ("oauth2-apple", "id_token", WEB_CLIENT),
    ] {
        let payload = two_subs(&issuer, aud);
        let token = minter.mint_raw(None, &payload).await;
        refused(&t, provider, json!({ field: token }), "more than once").await;
        let fine = payload.replacen(r#""sub":"victim","#, "", 1);
        let token = minter.mint_raw(Some(header_twice), &fine).await;
        refused(&t, provider, json!({ field: token }), "more than once").await;
        // The control: the same payload without the duplicate, in a plain header, signs in.
        let token = minter.mint_raw(None, &fine).await;
        t.login(APP, provider, json!({ field: token })).await.ok();
    }
    assert_eq!(
        t.user_count().await,
        3,
        "one attacker per provider, no victim"
    );
}

crate::both_backends!(id_token_checks, duplicate_members_are_refused);
