//! HTTP side of redirect sign-in (providers/redirect.rs): the browser's start, the app-started
//! link's start, and the per-provider callback (GET, or Apple's `form_post` POST).

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;

use super::extract::{Authorization, Cookies};
use crate::error::ApiResult;
use crate::providers::redirect::{self, CallbackParams, Finish, Start, StartQuery};
use crate::state::AppState;

fn answer(start: Start) -> Response {
    match start {
        Start::Browser { location, cookie } => {
            let mut r = StatusCode::FOUND.into_response();
            let h = r.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&location) {
                h.insert(header::LOCATION, v);
            }
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                h.insert(header::SET_COOKIE, v);
            }
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            r
        }
        // realm-web's link start reads this header (protocol.md A.13.2); 200, not a redirect.
        Start::Header { location } => {
            let mut r = StatusCode::OK.into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert("x-baas-location", v);
            }
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
    }
}

/// `GET {app}/auth/providers/{provider}/login?redirect=…`.
pub async fn start(
    State(state): State<AppState>,
    Path((app, provider)): Path<(String, String)>,
    Query(query): Query<StartQuery>,
    authorization: Authorization,
) -> ApiResult<Response> {
    let link = if query.link.as_deref() == Some("true") {
        Some(authorization.access(&state).await?)
    } else {
        None
    };
    Ok(answer(
        redirect::start(&state, &app, &provider, query, link).await?,
    ))
}

/// `GET` on a provider action other than `login`: those take `POST` only.
pub async fn not_login() -> Response {
    super::error::method_not_allowed()
}

#[derive(Deserialize)]
pub struct StartBoundQuery {
    #[serde(default)]
    flow: String,
    #[serde(default)]
    key: String,
}

/// `GET /auth/oauth2/start?flow=…&key=…`.
pub async fn start_bound(
    State(state): State<AppState>,
    Query(q): Query<StartBoundQuery>,
) -> Response {
    match redirect::start_bound(&state, &q.flow, &q.key).await {
        Ok(start) => answer(start),
        Err(e) => finish(Finish::Page {
            code: e.code,
            title: "Sign-in failed",
            message: e.message,
        }),
    }
}

fn finish(done: Finish) -> Response {
    match done {
        Finish::Redirect(location) => {
            let mut r = StatusCode::SEE_OTHER.into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r.headers_mut().insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            r
        }
        Finish::Page {
            code,
            title,
            message,
        } => {
            let mut r =
                super::pages::page(title, &format!("<p>{}</p>", super::pages::escape(&message)));
            *r.status_mut() = super::status::of(code);
            r
        }
    }
}

pub async fn callback_get(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Query(params): Query<CallbackParams>,
    Cookies(cookies): Cookies,
) -> Response {
    finish(redirect::callback(&state, &provider, params, &cookies).await)
}

/// Apple's `response_mode=form_post`.
pub async fn callback_post(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Cookies(cookies): Cookies,
    Form(params): Form<CallbackParams>,
) -> Response {
    finish(redirect::callback(&state, &provider, params, &cookies).await)
}
