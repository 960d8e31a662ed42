//! The fast tier: requests through [`super::router`] in process (`tower::ServiceExt::oneshot`)
//! on a temporary SQLite database — no socket, no binary. The real-process journeys are in
//! `tests/e2e`.

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use gatehouse_proto::{ErrorBody, ErrorCode};
use serde_json::{json, Value};
use tower::ServiceExt as _;

use crate::config::{AppConfig, Config};
use crate::error::ApiError;
use crate::state::AppState;

const APP: &str = "router-app";
const BASE: &str = gatehouse_proto::routes::BASE;

struct Fixture {
    router: Router,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: dir.path().to_path_buf(),
        database_url: Some(format!(
            "sqlite://{}",
            dir.path().join("gatehouse.db").display()
        )),
        ..Config::default()
    };
    config.passwords.argon2_memory_kib = 256;
    config.passwords.argon2_iterations = 1;
    config.passwords.insecure_fast_hashing = true;
    config.rate_limits.enabled = false;
    let mut app = AppConfig {
        name: "Router App".into(),
        ..AppConfig::default()
    };
    app.providers.extend([
        "phone-password".to_string(),
        "sms-code".to_string(),
        "magic-link".to_string(),
    ]);
    app.phone.allowed_countries = vec!["*".into()];
    config.apps.insert(APP.into(), app);
    let state = AppState::build(config).await.expect("state");
    Fixture {
        router: super::router(state),
        _dir: dir,
    }
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// The error body, after checking it is one (content type exactly `application/json`).
    fn error(&self) -> (ErrorCode, String) {
        assert_eq!(
            self.headers
                .get(header::CONTENT_TYPE)
                .expect("content type"),
            "application/json"
        );
        let body: ErrorBody = serde_json::from_slice(&self.body).expect("an error body");
        (
            ErrorCode::parse(&body.error_code).expect("a known code"),
            body.error,
        )
    }
}

async fn call(
    router: &Router,
    method: Method,
    path: &str,
    body: Option<&str>,
    bearer: Option<&str>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(path);
    if body.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    if let Some(token) = bearer {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request
        .body(Body::from(body.unwrap_or("").to_string()))
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body")
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

fn provider_path(provider: &str, action: &str) -> String {
    format!("{BASE}/app/{APP}/auth/providers/{provider}/{action}")
}

#[tokio::test]
async fn location_answers_the_public_url() {
    let f = fixture().await;
    let a = call(
        &f.router,
        Method::GET,
        &gatehouse_proto::routes::location(APP),
        None,
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    let body = a.json();
    assert_eq!(body["deployment_model"], "GLOBAL");
    assert!(body["hostname"]
        .as_str()
        .expect("hostname")
        .starts_with("http://127.0.0.1"));
    let unknown = call(
        &f.router,
        Method::GET,
        &gatehouse_proto::routes::location("nope"),
        None,
        None,
    )
    .await;
    assert_eq!(
        (unknown.status, unknown.error().0),
        (StatusCode::NOT_FOUND, ErrorCode::AppNotFound)
    );
}

#[tokio::test]
async fn anonymous_login_opens_a_session_and_the_token_works() {
    let f = fixture().await;
    let device = json!({"deviceId": {"$oid": "65f000000000000000000001"}, "platform": "test"});
    let body = json!({"options": {"device": device}});
    let a = call(
        &f.router,
        Method::POST,
        &gatehouse_proto::routes::login(APP, "anon-user"),
        Some(&body.to_string()),
        None,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.headers.get(header::CACHE_CONTROL).expect("cache-control"),
        "no-store"
    );
    let login = a.json();
    assert_eq!(
        login["device_id"], "65f000000000000000000001",
        "EJSON is relaxed before the device is read"
    );
    let access = login["access_token"].as_str().expect("access token");
    assert!(login["refresh_token"].is_string());
    let profile = call(
        &f.router,
        Method::GET,
        gatehouse_proto::routes::PROFILE,
        None,
        Some(access),
    )
    .await;
    assert_eq!(profile.status, StatusCode::OK);
    assert_eq!(
        profile.json()["identities"][0]["provider_type"],
        "anon-user"
    );
}

#[tokio::test]
async fn bad_bodies_are_400_with_the_right_code() {
    let f = fixture().await;
    let register = provider_path("local-userpass", "register");
    let a = call(&f.router, Method::POST, &register, Some("{"), None).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let (code, message) = a.error();
    assert_eq!(code, ErrorCode::BadRequest);
    assert!(
        message.starts_with("request body is not valid JSON"),
        "{message}"
    );

    let a = call(
        &f.router,
        Method::POST,
        &register,
        Some(r#"{"email": 1, "password": "x"}"#),
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.error().0),
        (StatusCode::BAD_REQUEST, ErrorCode::InvalidParameter)
    );

    // Login bodies keep their per-field answers, after the provider is checked.
    let login = gatehouse_proto::routes::login(APP, "local-userpass");
    let a = call(
        &f.router,
        Method::POST,
        &login,
        Some(r#"{"password": "x"}"#),
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.error()),
        (
            StatusCode::BAD_REQUEST,
            (
                ErrorCode::MissingParameter,
                "missing parameter: username".into()
            )
        )
    );
    let a = call(
        &f.router,
        Method::POST,
        &login,
        Some(r#"{"username": 3, "password": "x"}"#),
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.error()),
        (
            StatusCode::BAD_REQUEST,
            (
                ErrorCode::InvalidParameter,
                "username must be a string".into()
            )
        )
    );

    // Every typed action route is reached (its own body type is what refuses `{}`).
    for (provider, action) in [
        ("local-userpass", "confirm"),
        ("local-userpass", "confirm/send"),
        ("local-userpass", "confirm/call"),
        ("local-userpass", "reset"),
        ("local-userpass", "reset/send"),
        ("local-userpass", "reset/call"),
        ("phone-password", "register"),
        ("phone-password", "confirm"),
        ("phone-password", "confirm/send"),
        ("phone-password", "reset"),
        ("phone-password", "reset/send"),
        ("sms-code", "send"),
        ("magic-link", "send"),
    ] {
        let a = call(
            &f.router,
            Method::POST,
            &provider_path(provider, action),
            Some("{}"),
            None,
        )
        .await;
        assert_eq!(
            (a.status, a.error().0),
            (StatusCode::BAD_REQUEST, ErrorCode::InvalidParameter),
            "{provider}/{action}"
        );
    }
}

#[tokio::test]
async fn unknown_provider_actions_answer_as_before() {
    let f = fixture().await;
    let a = call(
        &f.router,
        Method::POST,
        &provider_path("local-userpass", "frobnicate"),
        Some("{}"),
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.error()),
        (
            StatusCode::NOT_FOUND,
            (
                ErrorCode::NotFound,
                "unknown email/password action \"frobnicate\"".into()
            )
        )
    );
    let a = call(
        &f.router,
        Method::POST,
        &provider_path("anon-user", "register"),
        Some("{}"),
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.error()),
        (
            StatusCode::NOT_FOUND,
            (
                ErrorCode::NotFound,
                "provider \"anon-user\" has no action \"register\"".into()
            )
        )
    );
    let a = call(
        &f.router,
        Method::POST,
        &provider_path("sms-code", "confirm/send"),
        Some("{}"),
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.error().0),
        (StatusCode::NOT_FOUND, ErrorCode::NotFound)
    );
    let a = call(
        &f.router,
        Method::POST,
        &provider_path("oauth2-gitlab", "register"),
        Some("{}"),
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.error().0),
        (StatusCode::NOT_FOUND, ErrorCode::AuthProviderNotFound)
    );
    let a = call(
        &f.router,
        Method::POST,
        &gatehouse_proto::routes::login(APP, "oauth2-gitlab"),
        Some("{}"),
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.error().0),
        (StatusCode::NOT_FOUND, ErrorCode::AuthProviderNotFound)
    );
    // A broken body is reported before the unknown action.
    let a = call(
        &f.router,
        Method::POST,
        &provider_path("local-userpass", "frobnicate"),
        Some("["),
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.error().0),
        (StatusCode::BAD_REQUEST, ErrorCode::BadRequest)
    );
    // `GET` on an action other than login: 405 with the BadRequest body, and no `Allow` header.
    for action in ["register", "confirm/send", "frobnicate"] {
        let a = call(
            &f.router,
            Method::GET,
            &provider_path("local-userpass", action),
            None,
            None,
        )
        .await;
        assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{action}");
        assert_eq!(
            a.error(),
            (
                ErrorCode::BadRequest,
                "method not allowed on this endpoint".into()
            )
        );
        assert!(a.headers.get(header::ALLOW).is_none());
    }
    let a = call(
        &f.router,
        Method::POST,
        &format!("{BASE}/nowhere"),
        None,
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.error().0),
        (StatusCode::NOT_FOUND, ErrorCode::NotFound)
    );
}

#[tokio::test]
async fn refresh_with_a_bad_token_is_401_invalid_session() {
    let f = fixture().await;
    let a = call(
        &f.router,
        Method::POST,
        gatehouse_proto::routes::SESSION,
        None,
        Some("not-a-token"),
    )
    .await;
    assert_eq!(
        (a.status, a.error().0),
        (StatusCode::UNAUTHORIZED, ErrorCode::InvalidSession)
    );
    let a = call(
        &f.router,
        Method::POST,
        gatehouse_proto::routes::SESSION,
        None,
        None,
    )
    .await;
    assert_eq!(
        (a.status, a.error().0),
        (StatusCode::UNAUTHORIZED, ErrorCode::MissingAuthReq)
    );
    let a = call(
        &f.router,
        Method::GET,
        gatehouse_proto::routes::API_KEYS,
        None,
        Some("null"),
    )
    .await;
    assert_eq!(
        (a.status, a.error().0),
        (StatusCode::UNAUTHORIZED, ErrorCode::InvalidSession)
    );
    let a = call(
        &f.router,
        Method::DELETE,
        gatehouse_proto::routes::SESSION,
        None,
        Some("junk"),
    )
    .await;
    assert_eq!(
        (a.status, a.error()),
        (
            StatusCode::UNAUTHORIZED,
            (
                ErrorCode::InvalidSession,
                "failed to find refresh token".into()
            )
        )
    );
}

/// The wire contract, written out once more by hand: changing a status is a protocol change.
fn expected_status(code: ErrorCode) -> u16 {
    match code.as_str() {
        "InvalidSession" | "MissingAuthReq" | "InvalidPassword" | "AuthError" => 401,
        "MfaRequired" | "MfaEnrollmentRequired" => 401,
        "UserDisabled" | "Forbidden" | "RecentSignInRequired" => 403,
        "UserNotFound"
        | "AuthProviderNotFound"
        | "APIKeyNotFound"
        | "FunctionNotFound"
        | "AppNotFound"
        | "NotFound"
        | "SessionNotFound" => 404,
        "AccountNameInUse" | "APIKeyAlreadyExists" | "IdentityInUse" | "Conflict" => 409,
        "ReadSizeLimitExceeded" => 413,
        "RequestTimeout" => 408,
        "TooManyRequests" => 429,
        "InternalServerError" => 500,
        "ServiceUnavailable" => 503,
        // App Services' status for a function that threw; named so a change shows here.
        "FunctionExecutionError" => 400,
        _ => 400,
    }
}

#[test]
fn every_error_code_has_its_status_and_the_wire_shape() {
    use axum::response::IntoResponse as _;
    for code in ErrorCode::ALL {
        assert_eq!(
            super::status::of(*code).as_u16(),
            expected_status(*code),
            "{code}"
        );
        let response = ApiError::new(*code, "m").into_response();
        assert_eq!(response.status().as_u16(), expected_status(*code), "{code}");
        assert_eq!(
            response
                .headers()
                .get(header::CONTENT_TYPE)
                .expect("content type"),
            "application/json"
        );
        assert_eq!(
            response
                .headers()
                .get(header::CACHE_CONTROL)
                .expect("cache-control"),
            "no-store"
        );
    }
    let limited = ApiError::too_many_requests(7).into_response();
    assert_eq!(
        limited
            .headers()
            .get(header::RETRY_AFTER)
            .expect("retry-after"),
        "7"
    );
    assert_eq!(
        super::error::method_not_allowed().status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
}
