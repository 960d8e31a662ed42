//! App Services' rules and words where clients look at them (issue 15, item 5): in strict mode
//! every error text of docs/protocol.md's table, checked word for word by the official realm-web
//! client (tests/realm-web/strict_words.cjs), with the descriptive texts kept in the default mode;
//! and custom JWTs that need `iss` and `iat` only when an issuer and a maximum age are configured.
//! The confirmation and reset functions are real webhooks behind the `standardwebhooks` verifier.

use gatehouse_server::config::{AppConfig, ClaimMapping, Config, CustomTokenConfig, WebhookConfig};
use gatehouse_server::Secret;
use serde_json::{json, Value};

use crate::both_backends;
use crate::peers::b64url;
use crate::peers::hooks::{now_unix, Responder, WebhookReceiver};
use crate::support::*;

both_backends!(
    realm_web_reads_app_services_words_in_strict_mode,
    custom_jwts_need_iss_and_iat_only_when_configured
);

/// Strict, automatic confirmation, a refusing reset function and custom JWTs.
const STRICT_AUTO: &str = "e2e-strict-auto";
/// The same without strict mode.
const PLAIN_AUTO: &str = "e2e-plain-auto";
const JWT_SECRET: &str = "0123456789abcdef0123456789abcdef-jwt-key";
const HOOK_SECRET: &str = "whsec_3q2+7wEjRWeJq83vASNFZ4mrze8BI0VniavN7wEjRWc=";

fn token_config(issuer: Option<&str>, max_age_secs: Option<i64>) -> CustomTokenConfig {
    CustomTokenConfig {
        issuer: issuer.map(str::to_string),
        audience: vec![STRICT_AUTO.into()],
        algorithm: "HS256".into(),
        jwks_url: None,
        public_key_pem: None,
        secret: Some(Secret::new(JWT_SECRET)),
        max_age_secs,
        metadata: vec![ClaimMapping {
            claim: "mySecretField".into(),
            field: "secret".into(),
            required: false,
        }],
    }
}

fn hook(url: &str) -> Option<WebhookConfig> {
    Some(WebhookConfig {
        url: url.into(),
        secret: Secret::new(HOOK_SECRET),
    })
}

fn configure(c: &mut Config, url: &str) {
    c.outbound.allow_loopback_http = true;
    for (id, strict) in [(STRICT_AUTO, true), (PLAIN_AUTO, false)] {
        let mut app = AppConfig {
            strict_app_services_errors: strict,
            reset_function: hook(url),
            custom_token: Some(token_config(None, None)),
            ..AppConfig::default()
        };
        app.providers.push("custom-token".into());
        app.userpass.auto_confirm = true;
        c.apps.insert(id.into(), app);
    }
    c.apps.get_mut(STRICT_APP).unwrap().confirm_function = hook(url);
}

async fn realm_web_reads_app_services_words_in_strict_mode(b: Backend) {
    let functions = WebhookReceiver::start(HOOK_SECRET).await;
    functions.respond(Responder::Answer(200, json!({"status": "fail"})));
    let url = functions.url();
    let t = TestServer::start_with(b, |c| configure(c, &url)).await;
    let steps = realm_web_steps(
        "strict_words.cjs",
        &[
            ("GATEHOUSE_URL", &t.base),
            ("GATEHOUSE_STRICT_APP", STRICT_AUTO),
            ("GATEHOUSE_STRICT_FN_APP", STRICT_APP),
            ("GATEHOUSE_DEFAULT_APP", PLAIN_AUTO),
            ("GATEHOUSE_JWT_SECRET", JWT_SECRET),
        ],
    )
    .await;
    assert!(steps.len() >= 17, "{steps:?}");
    // The one row realm-web cannot send (it always attaches a token when it has one).
    let anonymous = t
        .call(reqwest::Method::GET, &t.api("/auth/profile"), None, None)
        .await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json["error_code"], "MissingAuthReq");
    assert_eq!(anonymous.json["error"], "must authenticate first");
    // Every function call reached the app's receiver signed as the library expects.
    let calls = functions.requests();
    assert!(
        calls.len() >= 3,
        "reset (strict and default) and confirmation functions ran"
    );
    for call in &calls {
        assert!(call.signature_ok, "{:?}", call.signature_error);
    }
}

fn hs256(claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64url(json!({"alg": "HS256", "typ": "JWT"}).to_string()),
        b64url(claims.to_string())
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, JWT_SECRET.as_bytes());
    format!(
        "{input}.{}",
        b64url(ring::hmac::sign(&key, input.as_bytes()))
    )
}

async fn custom_jwts_need_iss_and_iat_only_when_configured(b: Backend) {
    const WITH_ISSUER: &str = "e2e-jwt-issuer";
    const WITH_AGE: &str = "e2e-jwt-age";
    let t = TestServer::start_with(b, |c| {
        for (id, cfg) in [
            (STRICT_AUTO, token_config(None, None)),
            (WITH_ISSUER, token_config(Some("https://idp.example"), None)),
            (WITH_AGE, token_config(None, Some(600))),
        ] {
            let mut app = AppConfig {
                custom_token: Some(CustomTokenConfig {
                    audience: vec![id.into()],
                    ..cfg
                }),
                ..AppConfig::default()
            };
            app.providers.push("custom-token".into());
            c.apps.insert(id.into(), app);
        }
    })
    .await;
    let now = now_unix();
    let token = |app: &str, extra: Value| {
        let mut claims = json!({"aud": app, "sub": "ext-1", "exp": now + 600});
        claims
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"token": hs256(&claims)})
    };
    let login = |app: &'static str, body: Value| t.login(app, "custom-token", body);
    // Neither configured (the default, as in App Services): a token with neither is fine, and
    // any `iss` or old `iat` is not looked at; `exp` still is.
    login(STRICT_AUTO, token(STRICT_AUTO, json!({}))).await.ok();
    login(
        STRICT_AUTO,
        token(STRICT_AUTO, json!({"iss": "anyone", "iat": now - 86_400})),
    )
    .await
    .ok();
    login(STRICT_AUTO, token(STRICT_AUTO, json!({"exp": now - 120})))
        .await
        .err(401, "AuthError");
    // An issuer configured: `iss` is required and compared.
    for refused in [json!({}), json!({"iss": "https://elsewhere.example"})] {
        login(WITH_ISSUER, token(WITH_ISSUER, refused))
            .await
            .err(401, "AuthError");
    }
    login(
        WITH_ISSUER,
        token(WITH_ISSUER, json!({"iss": "https://idp.example"})),
    )
    .await
    .ok();
    // A maximum age configured: `iat` is required and bounded.
    for refused in [json!({}), json!({"iat": now - 3600})] {
        login(WITH_AGE, token(WITH_AGE, refused))
            .await
            .err(401, "AuthError");
    }
    login(WITH_AGE, token(WITH_AGE, json!({"iat": now - 10})))
        .await
        .ok();
}
