//! Property-based fuzzing of the parsers that read attacker-controlled input (security.md T-23,
//! T-42): the EJSON body extractor (through the real router), the JWT parser, and the email and
//! phone canonicalisers. 10,000 cases per target; each property is "never panics, never a 5xx,
//! and what is accepted is canonical".

// A panic in a test is its failure message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::body::Body;
use axum::http::{header, Method, Request};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use gatehouse_server::config::{AppConfig, Config, OutboundConfig};
use gatehouse_server::idp::jwks::JwksCache;
use gatehouse_server::idp::jwt::{self, KeySource, Rules};
use gatehouse_server::outbound::Outbound;
use gatehouse_server::state::AppState;
use jsonwebtoken::{Algorithm, DecodingKey};
use proptest::prelude::*;
use serde_json::{json, Value};
use tower::ServiceExt as _;

const CASES: u32 = 10_000;
const APP: &str = "fuzz-app";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Arbitrary JSON, nested a few levels, with EJSON-looking keys mixed in.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        3 => "[a-zA-Z_]{0,8}",
        1 => prop::sample::select(vec![
            "$oid", "$numberInt", "$numberLong", "$numberDouble", "$date", "$binary",
            "$undefined", "username", "password", "options", "device", "deviceId", "email",
        ])
        .prop_map(str::to_string),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// Request bodies: arbitrary JSON, JSON cut short, and arbitrary bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => (json_value(), any::<prop::sample::Index>()).prop_map(|(v, cut)| {
            let bytes = serde_json::to_vec(&v).unwrap();
            let at = cut.index(bytes.len() + 1);
            bytes[..at].to_vec()
        }),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

#[test]
fn the_ejson_body_extractor_answers_every_body_without_a_server_error() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let router = rt.block_on(async {
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            database_url: Some(format!("sqlite://{}", dir.path().join("fuzz.db").display())),
            ..Config::default()
        };
        config.passwords.argon2_memory_kib = 256;
        config.passwords.argon2_iterations = 1;
        config.passwords.insecure_fast_hashing = true;
        config.rate_limits.enabled = false;
        config.apps.insert(APP.into(), AppConfig::default());
        gatehouse_server::http::router(AppState::build(config).await.unwrap())
    });
    // Routes whose bodies are typed differently: a login (read by provider), an action body,
    // and an authenticated one (refused before or after the body, never with a 5xx).
    let paths = [
        format!("/api/client/v2.0/app/{APP}/auth/providers/local-userpass/login"),
        format!("/api/client/v2.0/app/{APP}/auth/providers/local-userpass/register"),
        format!("/api/client/v2.0/app/{APP}/auth/providers/local-userpass/confirm"),
        "/api/client/v2.0/auth/api_keys".to_string(),
    ];
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(CASES));
    runner
        .run(&(body(), 0..paths.len()), |(bytes, which)| {
            let request = Request::builder()
                .method(Method::POST)
                .uri(&paths[which])
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(bytes.clone()))
                .unwrap();
            let response = rt.block_on(router.clone().oneshot(request)).unwrap();
            let status = response.status().as_u16();
            prop_assert!(
                status < 500,
                "{} answered {status} to {:?}",
                paths[which],
                String::from_utf8_lossy(&bytes)
            );
            Ok(())
        })
        .unwrap();
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Compact-JWS-shaped strings: three segments of base64url JSON (or junk), and plain junk.
fn token() -> impl Strategy<Value = String> {
    let header = prop_oneof![
        json_value(),
        (
            prop::sample::select(vec!["HS256", "HS512", "RS256", "ES256", "none", "NONE", ""]),
            proptest::option::of("[a-z0-9./]{0,12}"),
        )
            .prop_map(|(alg, kid)| json!({"alg": alg, "typ": "JWT", "kid": kid})),
    ];
    let segment = prop_oneof![
        json_value().prop_map(|v| b64(serde_json::to_vec(&v).unwrap())),
        "[A-Za-z0-9_=+/-]{0,40}",
    ];
    prop_oneof![
        4 => (header, segment.clone(), segment).prop_map(|(h, p, s)| {
            format!("{}.{p}.{s}", b64(serde_json::to_vec(&h).unwrap()))
        }),
        1 => ".{0,80}",
    ]
}

#[test]
fn the_jwt_parser_refuses_every_unsigned_or_forged_token_without_panicking() {
    let rt = runtime();
    let outbound = Outbound::new(&OutboundConfig::default()).unwrap();
    let cache = JwksCache::default();
    let key = DecodingKey::from_secret(b"a shared secret of at least thirty-two bytes!!");
    let issuers = vec!["https://issuer.test".to_string()];
    let audiences = vec!["gatehouse".to_string()];
    let rules = Rules {
        algorithms: &[Algorithm::HS256],
        issuers: Some(&issuers),
        audiences: &audiences,
        max_age_secs: None,
        nonce: None,
        azp: None,
    };
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(CASES));
    runner
        .run(&token(), |token| {
            let verdict = rt.block_on(jwt::verify(
                &outbound,
                &cache,
                &token,
                KeySource::Static(&key),
                &rules,
                1_700_000_000,
            ));
            prop_assert!(verdict.is_err(), "accepted a token nobody signed: {token}");
            Ok(())
        })
        .unwrap();
}

fn address_like() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => any::<String>(),
        3 => (
            "[A-Za-z0-9.!#$%&'*+/=?^_`{|}~ \u{0}-\u{1f}\u{7f}\u{200b}-]{0,20}",
            prop::sample::select(vec!["@", "@@", "", "@x@"]),
            "[A-Za-z0-9.\u{ad}\u{ff21}ä-]{0,20}",
        )
            .prop_map(|(local, at, domain)| format!("{local}{at}{domain}")),
    ]
}

fn phone_like() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => any::<String>(),
        3 => "[+]?[0-9 ()+.\u{0}-]{0,24}",
        2 => "\\+[1-9][0-9]{6,14}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn email_canonicalisation_is_idempotent_and_clean(input in address_like()) {
        if let Ok(address) = gatehouse_server::email::canonicalize(&input) {
            prop_assert!(
                !address.chars().any(char::is_control) && !address.contains(char::is_whitespace),
                "{address:?} from {input:?}"
            );
            prop_assert_eq!(gatehouse_server::email::canonicalize(&address), Ok(address.clone()));
        }
    }

    #[test]
    fn phone_canonicalisation_is_idempotent_e164(input in phone_like()) {
        if let Ok(phone) = gatehouse_server::phone::canonicalize(&input) {
            let digits = &phone.e164[1..];
            prop_assert!(
                phone.e164.starts_with('+')
                    && (2..=15).contains(&digits.len())
                    && digits.bytes().all(|b| b.is_ascii_digit()),
                "{:?} from {input:?}",
                phone.e164
            );
            let again = gatehouse_server::phone::canonicalize(&phone.e164);
            prop_assert_eq!(again, Ok(phone.clone()));
        }
    }

    #[test]
    fn ejson_relaxing_never_deepens_and_is_idempotent(value in json_value()) {
        let relaxed = gatehouse_proto::ejson::relax(value.clone());
        use gatehouse_proto::ejson::{depth, relax};
        prop_assert!(depth(&relaxed) <= depth(&value));
        prop_assert_eq!(relax(relaxed.clone()), relaxed);
    }
}
