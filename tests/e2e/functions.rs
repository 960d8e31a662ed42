//! App functions over signed webhooks (issue 15, item 3): the official realm-web client
//! (tests/realm-web/functions.cjs) and the SDK call functions whose webhooks sit behind the
//! official `standardwebhooks` verifier; EJSON travels both ways untouched; a function that
//! answers an error, an unknown one, a private one and a slow one get App Services' codes.

use std::time::Duration;

use gatehouse_server::config::{Config, FunctionConfig};
use gatehouse_server::Secret;
use serde_json::{json, Value};

use crate::both_backends;
use crate::peers::hooks::{HookRequest, Responder, WebhookReceiver};
use crate::sdk::{email_login, Sdk};
use crate::support::*;

both_backends!(
    realm_web_calls_functions_with_ejson_and_their_errors,
    the_sdk_calls_functions_as_its_user
);

const HOOK_SECRET: &str = "whsec_3q2+7wEjRWeJq83vASNFZ4mrze8BI0VniavN7wEjRWc=";
/// The slow hook is keyed with a plain secret: the other form the server signs with.
const SLOW_SECRET: &str = "a plain function secret of 32+ bytes";

/// What the app's function webhook does, by function name.
fn functions_hook() -> Responder {
    Responder::with(|v| {
        let data = &v["data"];
        let args = data["arguments"].as_array().cloned().unwrap_or_default();
        match data["name"].as_str().unwrap_or("") {
            "echo" => (
                200,
                json!({"result": {"args": args, "user": data["user"]["id"]}}),
            ),
            "add" => {
                let sum: f64 = args.iter().filter_map(number).sum();
                (200, json!({"result": sum as i64}))
            }
            "fails" => (
                500,
                json!({"error": format!("boom: {}", args[0].as_str().unwrap())}),
            ),
            "whoami" => (200, json!({"result": data["user"].clone()})),
            "void" => (200, json!({})),
            other => (
                200,
                json!({"result": format!("{other} must not be called")}),
            ),
        }
    })
}

/// A plain JSON number (the SDK) or a canonical EJSON one (realm-web: `{"$numberInt": "2"}`).
fn number(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_object()?.values().next()?.as_str()?.parse().ok())
}

fn function(url: &str, secret: &str, private: bool, timeout_ms: Option<u64>) -> FunctionConfig {
    FunctionConfig {
        url: url.into(),
        secret: Secret::new(secret),
        private,
        timeout_ms,
    }
}

fn configure(c: &mut Config, hook: &str, slow: &str) {
    c.outbound.allow_loopback_http = true;
    let app = c.apps.get_mut(APP).unwrap();
    for name in ["echo", "add", "fails", "whoami", "void"] {
        app.functions
            .insert(name.into(), function(hook, HOOK_SECRET, false, None));
    }
    app.functions
        .insert("secret".into(), function(hook, HOOK_SECRET, true, None));
    app.functions
        .insert("slow".into(), function(slow, SLOW_SECRET, false, Some(500)));
}

fn names(requests: &[HookRequest]) -> Vec<String> {
    requests
        .iter()
        .map(|r| r.json()["data"]["name"].as_str().unwrap_or("").to_string())
        .collect()
}

async fn realm_web_calls_functions_with_ejson_and_their_errors(b: Backend) {
    let hook = WebhookReceiver::start(HOOK_SECRET).await;
    hook.respond(functions_hook());
    let slow = WebhookReceiver::start(SLOW_SECRET).await;
    slow.respond(Responder::Sleep(
        Duration::from_secs(3),
        200,
        json!({"result": 1}),
    ));
    let (hook_url, slow_url) = (hook.url(), slow.url());
    let t = TestServer::start_with(b, |c| configure(c, &hook_url, &slow_url)).await;
    let steps = realm_web_steps(
        "functions.cjs",
        &[("GATEHOUSE_URL", &t.base), ("GATEHOUSE_APP", APP)],
    )
    .await;
    assert_eq!(steps.len(), 10, "{steps:?}");
    let user_id = steps[0]["user_id"].as_str().unwrap();

    let calls = hook.requests();
    for call in &calls {
        assert!(call.signature_ok, "{:?}", call.signature_error);
        assert_eq!(call.method, "POST");
    }
    // Unknown and private functions never reach a webhook.
    assert_eq!(names(&calls), ["echo", "add", "fails", "echo"]);
    let echo = calls[0].json();
    assert_eq!(
        (echo["type"].as_str(), echo["app_id"].as_str()),
        (Some("function.call"), Some(APP))
    );
    // The arguments as realm-web sent them, canonical EJSON, not relaxed on the way.
    assert_eq!(
        echo["data"]["arguments"],
        json!([
            {"$numberLong": "9007199254740993"},
            {"$date": {"$numberLong": "1700000000123"}},
            {"id": {"$oid": "65f0000000000000000000bb"}, "n": {"$numberDouble": "1.5"}},
            "text"
        ])
    );
    let caller = &echo["data"]["user"];
    assert_eq!(caller["id"], user_id);
    assert_eq!(caller["identities"][0]["provider_type"], "anon-user");
    assert!(caller.get("custom_data").is_none(), "none was set");
    let slow_calls = slow.requests();
    assert_eq!(names(&slow_calls), ["slow"]);
    assert!(
        slow_calls[0].signature_ok,
        "{:?}",
        slow_calls[0].signature_error
    );
}

async fn the_sdk_calls_functions_as_its_user(b: Backend) {
    let hook = WebhookReceiver::start(HOOK_SECRET).await;
    hook.respond(functions_hook());
    let hook_url = hook.url();
    let t = TestServer::start_with(b, |c| configure(c, &hook_url, "http://127.0.0.1:9/")).await;
    let sdk = Sdk::new();
    let app = sdk.app(&t).await;
    let user = email_login(&t, &app, "functions").await;
    gatehouse_server::custom_data::set(t.state(), user.id(), json!({"plan": "gold"}))
        .await
        .unwrap();

    assert_eq!(
        user.call_function("add", vec![json!(40), json!(2)])
            .await
            .unwrap(),
        json!(42)
    );
    let me = user.call_function("whoami", vec![]).await.unwrap();
    assert_eq!(me["id"], user.id());
    assert_eq!(me["identities"][0]["provider_type"], "local-userpass");
    assert_eq!(me["custom_data"], json!({"plan": "gold"}));
    assert_eq!(
        user.call_function("void", vec![]).await.unwrap_err().code(),
        "FunctionExecutionError",
        "an answer without a result is the hook's mistake, not null"
    );
    let err = user
        .call_function("fails", vec![json!("sdk")])
        .await
        .unwrap_err();
    assert_eq!(err.code(), "FunctionExecutionError");
    assert!(err.to_string().contains("boom: sdk"), "{err}");
    for name in ["nope", "secret"] {
        let err = user.call_function(name, vec![]).await.unwrap_err();
        assert_eq!(err.code(), "FunctionNotFound", "{name}");
    }
    // A hook nobody listens on: a clear execution error, not an outage or a hang.
    let err = user.call_function("slow", vec![]).await.unwrap_err();
    assert_eq!(err.code(), "FunctionExecutionError");
    assert!(err.to_string().contains("could not be reached"), "{err}");
    // Without a token there is nothing to call, named or not.
    let anonymous = t
        .call(
            reqwest::Method::POST,
            &t.app_path(APP, "/functions/call"),
            None,
            Some(json!({"name": "add", "arguments": [1, 2]})),
        )
        .await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(names(&hook.requests()), ["add", "whoami", "void", "fails"]);
    assert!(hook.requests().iter().all(|r| r.signature_ok));
}
