//! HTTP side of passkeys (`crate::passkey`): the ceremony pages and their script, the pages'
//! answers, the app's start and redemption calls. Pages carry a CSP that lets them run this
//! server's script and call this server only.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use gatehouse_proto::auth::DeviceInfo;
use gatehouse_proto::mfa::{routes as mfa_routes, CodeRedemption, PasskeyRegistrationStart};
use gatehouse_proto::routes::BASE;
use serde::Deserialize;
use serde_json::Value;

use super::client_api::no_store;
use super::extract::{Authorization, Caller, EJson, Typed};
use crate::error::{ApiError, ApiResult};
use crate::passkey::pages::{self, CeremonyPage};
use crate::passkey::{registration, sign_in};
use crate::sessions::LoginContext;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            &format!("{BASE}/app/{{app}}/auth/providers/passkey/login"),
            get(sign_in_page).post(sign_in_redeem),
        )
        .route(
            &mfa_routes::passkey_challenge_page("{app}"),
            get(challenge_page),
        )
        .route(
            &registration::page_path("{app}"),
            get(registration_page).post(registration_finish),
        )
        .route(&sign_in::finish_path("{app}"), post(assertion))
        .route(pages::SCRIPT_PATH, get(script))
        .route(mfa_routes::PASSKEY_REGISTRATIONS, post(registration_start))
        .route(
            mfa_routes::PASSKEY_REGISTRATIONS_COMPLETE,
            post(registration_complete),
        )
}

fn secure_headers(r: &mut Response) {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(pages::CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

fn answer_page(result: ApiResult<CeremonyPage>) -> Response {
    match result {
        Ok(page) => {
            let mut r = Html(pages::render(&page)).into_response();
            secure_headers(&mut r);
            r
        }
        Err(e) => {
            let body = format!("<p id=\"status\" data-code=\"{}\">{}</p>", e.code, {
                super::pages::escape(&e.message)
            });
            let mut r = super::pages::page("Passkey", &body);
            *r.status_mut() = super::status::of(e.code);
            r
        }
    }
}

async fn script() -> Response {
    let mut r = (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        pages::SCRIPT,
    )
        .into_response();
    r.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

async fn sign_in_page(
    State(state): State<AppState>,
    Path(app): Path<String>,
    Query(q): Query<sign_in::PageQuery>,
) -> Response {
    answer_page(sign_in::sign_in_page(&state, &app, q).await)
}

async fn challenge_page(
    State(state): State<AppState>,
    Path(app): Path<String>,
    Query(q): Query<sign_in::PageQuery>,
) -> Response {
    answer_page(sign_in::challenge_page(&state, &app, q).await)
}

#[derive(Deserialize)]
struct RegistrationPageQuery {
    #[serde(default)]
    ceremony: String,
    #[serde(default)]
    key: String,
}

async fn registration_page(
    State(state): State<AppState>,
    Path(app): Path<String>,
    Query(q): Query<RegistrationPageQuery>,
) -> Response {
    answer_page(registration::page(&state, &app, &q.ceremony, &q.key).await)
}

/// What the page's script posts.
#[derive(Deserialize)]
struct PageAnswer {
    ceremony: String,
    key: String,
    credential: Value,
}

#[derive(serde::Serialize)]
struct Next {
    redirect: String,
}

async fn registration_finish(
    State(state): State<AppState>,
    Path(app): Path<String>,
    Typed(a): Typed<PageAnswer>,
) -> ApiResult<Response> {
    let redirect = registration::finish(&state, &app, &a.ceremony, &a.key, a.credential).await?;
    Ok(no_store(StatusCode::OK, Next { redirect }))
}

async fn assertion(
    State(state): State<AppState>,
    Path(app): Path<String>,
    Typed(a): Typed<PageAnswer>,
) -> ApiResult<Response> {
    let redirect = sign_in::finish(&state, &app, &a.ceremony, &a.key, a.credential).await?;
    Ok(no_store(StatusCode::OK, Next { redirect }))
}

/// `POST …/providers/passkey/login {code, code_verifier, options?}`.
async fn sign_in_redeem(
    State(state): State<AppState>,
    Path(app): Path<String>,
    caller: Caller,
    body: EJson,
) -> ApiResult<Response> {
    let text = |name: &str| body.0.get(name).and_then(Value::as_str).unwrap_or_default();
    let (code, verifier) = (text("code"), text("code_verifier"));
    if code.is_empty() {
        return Err(ApiError::missing_parameter("code"));
    }
    let ctx = LoginContext {
        device: DeviceInfo::from_login_body(&body.0),
        user_agent: caller.user_agent.clone(),
        ip: Some(caller.ip.to_string()),
    };
    let response = sign_in::redeem(&state, &app, code, verifier, &ctx).await?;
    Ok(no_store(StatusCode::OK, response))
}

async fn registration_start(
    State(state): State<AppState>,
    authorization: Authorization,
    Typed(req): Typed<PasskeyRegistrationStart>,
) -> ApiResult<Response> {
    let auth = authorization.access(&state).await?;
    let page = registration::start(&state, &auth, req).await?;
    Ok(no_store(StatusCode::OK, page))
}

async fn registration_complete(
    State(state): State<AppState>,
    authorization: Authorization,
    Typed(body): Typed<CodeRedemption>,
) -> ApiResult<Response> {
    let auth = authorization.access(&state).await?;
    let factor = registration::complete(&state, &auth, body).await?;
    Ok(no_store(StatusCode::OK, factor))
}
