//! The HTTP surface: the App Services client API (both URL families), Gatehouse extensions,
//! small HTML pages for mailed links, health and JWKS.

mod client_api;
pub mod extract;
mod pages;
mod redirect_api;

use std::time::Duration;

use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use gatehouse_proto::ErrorCode;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(state: AppState) -> Router {
    let b = gatehouse_proto::routes::BASE;
    let api = Router::new()
        .route(&format!("{b}/app/{{app}}/location"), get(client_api::location))
        .route(&format!("{b}/app/{{app}}/auth/providers"), get(client_api::providers))
        .route(&format!("{b}/app/{{app}}/auth/providers/{{provider}}/{{*action}}"),
            post(client_api::provider_action).get(redirect_api::start))
        .route(&format!("{b}/auth/callback/{{provider}}"), get(redirect_api::callback_get).post(redirect_api::callback_post))
        .route(gatehouse_proto::routes::OAUTH_START, get(redirect_api::start_bound))
        .route(&format!("{b}/app/{{app}}/functions/call"), post(client_api::call_function))
        .route(&format!("{b}/auth/profile"), get(client_api::profile))
        .route(&format!("{b}/auth/session"), post(client_api::refresh).delete(client_api::logout))
        .route(&format!("{b}/auth/delete"), axum::routing::delete(client_api::delete_user))
        .route(&format!("{b}/auth/sessions"), get(client_api::list_sessions).delete(client_api::revoke_sessions))
        .route(&format!("{b}/auth/sessions/{{id}}"), axum::routing::delete(client_api::revoke_session))
        .route(&format!("{b}/auth/password"), post(client_api::change_password))
        .route(&format!("{b}/auth/api_keys"), get(client_api::list_keys).post(client_api::create_key))
        .route(&format!("{b}/auth/api_keys/{{id}}"), get(client_api::get_key).delete(client_api::delete_key))
        .route(&format!("{b}/auth/api_keys/{{id}}/enable"), put(client_api::enable_key))
        .route(&format!("{b}/auth/api_keys/{{id}}/disable"), put(client_api::disable_key))
        .route("/.well-known/jwks.json", get(client_api::jwks))
        .route("/health/live", get(|| async { StatusCode::NO_CONTENT }))
        .route("/health/ready", get(client_api::ready));
    Router::new()
        .merge(api)
        .merge(pages::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(cors())
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
            let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", id, method = %req.method(), path = %req.uri().path())
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, RandomRequestId))
        .with_state(state)
}

/// CORS for browser clients (protocol.md A.3.4): the caller's origin echoed with credentials
/// (the OAuth link start needs them) and `x-baas-location` exposed.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::mirror_request())
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT,
            HeaderName::from_static(gatehouse_proto::routes::ROTATION_HEADER)])
        .expose_headers([HeaderName::from_static("x-baas-location")])
        .max_age(Duration::from_secs(600))
}

#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&hex::encode(crate::crypto::random_bytes::<8>())).ok().map(RequestId::new)
    }
}

async fn not_found() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no such endpoint").into_response()
}

async fn method_not_allowed() -> Response {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, ErrorCode::BadRequest, "method not allowed on this endpoint").into_response()
}
