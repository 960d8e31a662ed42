//! The HTTP surface: the App Services client API (both URL families), Gatehouse extensions,
//! small HTML pages for mailed links, health and JWKS. This is the only place (with `server.rs`
//! and `main.rs`) that knows axum: handlers extract, call one domain function, and answer;
//! `status` maps each error code to its status, `error` renders error bodies.

mod activity_api;
mod admin_api;
mod body_timeout;
mod client_api;
mod email_change_pages;
mod error;
pub mod extract;
mod mfa_api;
mod pages;
mod passkey_api;
mod provider_api;
mod redirect_api;
mod self_service_api;
pub mod status;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put, MethodRouter};
use axum::Router;
use gatehouse_proto::{ErrorCode, ProviderType};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub fn router(state: AppState) -> Router {
    let b = gatehouse_proto::routes::BASE;
    let api = Router::new()
        .route(
            &format!("{b}/app/{{app}}/location"),
            get(client_api::location),
        )
        .route(
            &format!("{b}/app/{{app}}/auth/providers"),
            get(client_api::providers),
        )
        .merge(provider_routes())
        .route(
            &format!("{b}/auth/callback/{{provider}}"),
            get(redirect_api::callback_get).post(redirect_api::callback_post),
        )
        .route(
            gatehouse_proto::routes::OAUTH_START,
            get(redirect_api::start_bound),
        )
        .route(
            &format!("{b}/app/{{app}}/functions/call"),
            post(client_api::call_function).get(client_api::call_function_stream),
        )
        .route(
            &format!("{b}/auth/profile"),
            get(client_api::profile).patch(self_service_api::update_profile),
        )
        .route(
            gatehouse_proto::routes::EMAIL_CHANGE,
            post(self_service_api::change_email),
        )
        .route(
            gatehouse_proto::routes::PHONE_CHANGE,
            post(self_service_api::change_phone),
        )
        .route(
            gatehouse_proto::routes::PHONE_CHANGE_CONFIRM,
            post(self_service_api::confirm_phone_change),
        )
        .route(
            &format!("{b}/auth/session"),
            post(client_api::refresh).delete(client_api::logout),
        )
        .route(
            &format!("{b}/auth/delete"),
            axum::routing::delete(client_api::delete_user),
        )
        .route(
            &format!("{b}/auth/sessions"),
            get(client_api::list_sessions).delete(client_api::revoke_sessions),
        )
        .route(
            &format!("{b}/auth/sessions/{{id}}"),
            axum::routing::delete(client_api::revoke_session),
        )
        .route(
            &format!("{b}/auth/identities/{{provider}}/{{id}}"),
            axum::routing::delete(client_api::unlink_identity),
        )
        .route(
            &format!("{b}/auth/password"),
            post(client_api::change_password),
        )
        .route(gatehouse_proto::routes::ACTIVITY, get(activity_api::list))
        .route(
            &format!("{b}/auth/api_keys"),
            get(client_api::list_keys).post(client_api::create_key),
        )
        .route(
            &format!("{b}/auth/api_keys/{{id}}"),
            get(client_api::get_key).delete(client_api::delete_key),
        )
        .route(
            &format!("{b}/auth/api_keys/{{id}}/enable"),
            put(client_api::enable_key),
        )
        .route(
            &format!("{b}/auth/api_keys/{{id}}/disable"),
            put(client_api::disable_key),
        )
        .route("/.well-known/jwks.json", get(client_api::jwks))
        .route("/health/live", get(|| async { StatusCode::NO_CONTENT }))
        .route("/health/ready", get(client_api::ready));
    Router::new()
        .merge(api)
        .merge(pages::router())
        .merge(passkey_api::router())
        .merge(email_change_pages::router())
        .merge(admin_api::router())
        .merge(mfa_api::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            Duration::from_millis(state.config.limits.body_read_timeout_ms),
            body_timeout::body_read_timeout,
        ))
        .layer(axum::middleware::from_fn(refuse_control_uri))
        .layer(cors(&state.config.cors.allowed_origins))
        .layer(axum::middleware::from_fn_with_state(
            allowed_origins(&state.config.cors.allowed_origins),
            strip_cors_for_unlisted_origins,
        ))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                let id = req
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", id, method = %req.method(), path = %req.uri().path())
            }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, RandomRequestId))
        .with_state(state)
}

/// `{app}/auth/providers/{provider}/{action}`: login for every provider (`GET` starts a browser
/// sign-in), one route per other action, and one answer for actions no provider has. `GET` on
/// any action but `login` is 405.
fn provider_routes() -> Router<AppState> {
    use provider_api as h;
    let base = gatehouse_proto::routes::BASE;
    let at = |provider: ProviderType, action: &str| {
        format!("{base}/app/{{app}}/auth/providers/{provider}/{action}")
    };
    let action = |handler: MethodRouter<AppState>| handler.get(redirect_api::not_login);
    let (userpass, phone) = (ProviderType::Userpass, ProviderType::PhonePassword);
    Router::new()
        .route(
            &format!("{base}/app/{{app}}/auth/providers/{{provider}}/login"),
            post(h::login).get(redirect_api::start),
        )
        .route(
            &format!("{base}/app/{{app}}/auth/providers/{{provider}}/{{*action}}"),
            action(post(h::unknown_action)),
        )
        .route(
            &at(userpass, "register"),
            action(post(h::userpass_register)),
        )
        .route(&at(userpass, "confirm"), action(post(h::userpass_confirm)))
        .route(
            &at(userpass, "confirm/send"),
            action(post(h::userpass_confirm_send)),
        )
        .route(
            &at(userpass, "confirm/call"),
            action(post(h::userpass_confirm_call)),
        )
        .route(&at(userpass, "reset"), action(post(h::userpass_reset)))
        .route(
            &at(userpass, "reset/send"),
            action(post(h::userpass_reset_send)),
        )
        .route(
            &at(userpass, "reset/call"),
            action(post(h::userpass_reset_call)),
        )
        .route(&at(phone, "register"), action(post(h::phone_register)))
        .route(&at(phone, "confirm"), action(post(h::phone_confirm)))
        .route(
            &at(phone, "confirm/send"),
            action(post(h::phone_confirm_send)),
        )
        .route(&at(phone, "reset"), action(post(h::phone_reset)))
        .route(&at(phone, "reset/send"), action(post(h::phone_reset_send)))
        .route(
            &at(ProviderType::SmsCode, "send"),
            action(post(h::sms_code_send)),
        )
        .route(
            &at(ProviderType::MagicLink, "send"),
            action(post(h::magic_link_send)),
        )
}

/// CORS for browser clients (protocol.md A.3.4): only the configured origins (`[cors]
/// allowed_origins`, none by default) get `Access-Control-Allow-Origin` — with credentials, which
/// the OAuth link start needs — and `x-baas-location` exposed; any other origin gets no CORS
/// headers, so a browser keeps its pages from reading the answers.
fn cors(allowed: &[String]) -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed_origins(allowed).iter().cloned()))
        .allow_credentials(true)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static(gatehouse_proto::routes::ROTATION_HEADER),
        ])
        .expose_headers([HeaderName::from_static("x-baas-location")])
        .max_age(Duration::from_secs(600))
}

#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&hex::encode(crate::crypto::random_bytes::<8>()))
            .ok()
            .map(RequestId::new)
    }
}

fn allowed_origins(allowed: &[String]) -> Arc<[HeaderValue]> {
    allowed
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect()
}

/// `CorsLayer` leaves out `Access-Control-Allow-Origin` for an origin it does not allow but still
/// sends the other `Access-Control-*` headers; an unlisted origin gets none of them.
async fn strip_cors_for_unlisted_origins(
    axum::extract::State(allowed): axum::extract::State<Arc<[HeaderValue]>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let listed = req
        .headers()
        .get(header::ORIGIN)
        .is_some_and(|origin| allowed.contains(origin));
    let mut response = next.run(req).await;
    if !listed {
        let headers = response.headers_mut();
        let cors: Vec<HeaderName> = headers
            .keys()
            .filter(|k| k.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in cors {
            headers.remove(name);
        }
    }
    response
}

/// An id, `state` or `code` with a control character in the path or query answers 400 before
/// any handler looks it up (issue 12, item 16).
async fn refuse_control_uri(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if extract::uri_has_control(req.uri()) {
        return ApiError::invalid_parameter(
            "the request path and query must not contain NUL or other control characters",
        )
        .into_response();
    }
    next.run(req).await
}

async fn not_found() -> Response {
    ApiError::new(ErrorCode::NotFound, "no such endpoint").into_response()
}

async fn method_not_allowed() -> Response {
    error::method_not_allowed()
}
