//! Handlers of the App Services client API. Thin: extract, call one function, map the answer.
//! Void answers are `204 No Content` without a Content-Type (realm-web parses any JSON body).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use gatehouse_proto::auth::{ChangePasswordRequest, CreateApiKeyRequest, DeviceInfo, LocationResponse, Profile, ProviderInfo};
use gatehouse_proto::routes::provider as providers_wire;
use gatehouse_proto::userpass::{EmailRequest, ResetCallRequest, PhoneCodeRequest, PhonePasswordRequest, PhoneRequest, RegisterRequest, ResetRequest, TokenRequest};
use gatehouse_proto::ErrorCode;
use serde::Deserialize;

use super::extract::{Caller, EJson};
use crate::error::{ApiError, ApiResult};
use crate::providers::{self, api_key, userpass, userpass_functions};
use crate::sessions::{self, LoginContext};
use crate::state::AppState;
use crate::store::users;

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Token-bearing answers must not be cached by anything in between (RFC 6749 §5.1).
fn no_store<T: serde::Serialize>(status: StatusCode, body: T) -> Response {
    let mut r = (status, Json(body)).into_response();
    r.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    r
}

pub async fn location(State(state): State<AppState>, Path(app): Path<String>) -> ApiResult<Json<LocationResponse>> {
    state.app(&app)?;
    let hostname = state.public_url.clone();
    let ws_hostname = hostname.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1);
    Ok(Json(LocationResponse { deployment_model: "GLOBAL".into(), location: "LOCAL".into(), hostname, ws_hostname }))
}

/// Gatehouse extension: which providers this app has enabled.
pub async fn providers(State(state): State<AppState>, Path(app): Path<String>) -> ApiResult<Json<Vec<ProviderInfo>>> {
    let app = state.app(&app)?;
    Ok(Json(app.providers.iter().map(|p| ProviderInfo { name: p.clone(), provider_type: p.clone() }).collect()))
}

#[derive(Deserialize)]
pub struct LoginQuery {
    #[serde(default)]
    link: Option<String>,
}

/// `POST {app}/auth/providers/{provider}/{action}`: login (and linking) for every provider, and
/// the `local-userpass` actions (register, confirm, reset, …).
pub async fn provider_action(State(state): State<AppState>, Path((app, provider, action)): Path<(String, String, String)>,
    Query(query): Query<LoginQuery>, headers: HeaderMap, caller: Caller, body: EJson) -> ApiResult<Response> {
    if action == "login" {
        let device = DeviceInfo::from_login_body(&body.0);
        if query.link.as_deref() == Some("true") {
            let auth = sessions::authenticate_access(&state, &headers).await?;
            let response = providers::link(&state, &app, &provider, &body.0, &auth, caller.ip).await?;
            return Ok(no_store(StatusCode::OK, response));
        }
        let ctx = LoginContext { device, user_agent: caller.user_agent, ip: Some(caller.ip.to_string()) };
        let response = providers::login(&state, &app, &provider, &body.0, &ctx, caller.ip).await?;
        return Ok(no_store(StatusCode::OK, response));
    }
    if provider == providers_wire::MAGIC_LINK && action == "send" {
        crate::providers::magic_link::send(&state, &app, body.parse()?, caller.ip).await?;
        return Ok(no_content());
    }
    if provider == providers_wire::PHONE_PASSWORD || provider == providers_wire::SMS_CODE {
        phone_action(&state, &app, &provider, &action, caller.ip, body).await?;
        return Ok(no_content());
    }
    if provider != providers_wire::USERPASS {
        state.provider(&app, &provider)?;
        return Err(ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, format!("provider {provider:?} has no action {action:?}")));
    }
    // The Authorization header realm-web attaches here is deliberately ignored (protocol.md A.0.3).
    match action.as_str() {
        "register" => userpass::register(&state, &app, body.parse::<RegisterRequest>()?, caller.ip).await?,
        "confirm" => userpass::confirm(&state, &app, body.parse::<TokenRequest>()?).await?,
        "confirm/send" => userpass::resend_confirmation(&state, &app, &body.parse::<EmailRequest>()?.email, caller.ip).await?,
        "reset/send" => userpass::send_reset(&state, &app, &body.parse::<EmailRequest>()?.email, caller.ip).await?,
        "reset" => userpass::reset(&state, &app, body.parse::<ResetRequest>()?).await?,
        "confirm/call" => userpass_functions::call_confirm(&state, &app, &body.parse::<EmailRequest>()?.email, caller.ip).await?,
        "reset/call" => userpass_functions::call_reset(&state, &app, body.parse::<ResetCallRequest>()?, caller.ip).await?,
        other => return Err(ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, format!("unknown email/password action {other:?}"))),
    }
    Ok(no_content())
}

/// The `phone-password` actions and `sms-code`'s `send` (Gatehouse extensions).
async fn phone_action(state: &AppState, app: &str, provider: &str, action: &str, ip: std::net::IpAddr, body: EJson) -> ApiResult<()> {
    use crate::providers::phone;
    match (provider, action) {
        (providers_wire::PHONE_PASSWORD, "register") => {
            let req: PhonePasswordRequest = body.parse()?;
            phone::register(state, app, &req.phone, &req.password, ip).await
        }
        (providers_wire::PHONE_PASSWORD, "confirm") => {
            let req: PhoneCodeRequest = body.parse()?;
            phone::confirm(state, app, &req.phone, &req.code).await
        }
        (providers_wire::PHONE_PASSWORD, "confirm/send" | "reset/send") | (providers_wire::SMS_CODE, "send") => {
            let req: PhoneRequest = body.parse()?;
            phone::send(state, app, provider, action, &req.phone, ip).await
        }
        (providers_wire::PHONE_PASSWORD, "reset") => {
            let req: PhonePasswordRequest = body.parse()?;
            let code = req.code.ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::MissingParameter, "missing parameter: code"))?;
            phone::reset(state, app, &req.phone, &code, &req.password).await
        }
        _ => {
            state.provider(app, provider)?;
            Err(ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, format!("provider {provider:?} has no action {action:?}")))
        }
    }
}

/// Functions are not part of this server yet; the answer says so with the App Services code.
pub async fn call_function(State(state): State<AppState>, Path(app): Path<String>, headers: HeaderMap, body: EJson) -> ApiResult<Response> {
    state.app(&app)?;
    sessions::authenticate_access(&state, &headers).await?;
    let name = body.0.get("name").and_then(|n| n.as_str()).unwrap_or("").to_string();
    Err(ApiError::new(StatusCode::NOT_FOUND, ErrorCode::FunctionNotFound, format!("function not found: {name:?}")))
}

pub async fn profile(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let auth = sessions::authenticate_access(&state, &headers).await?;
    let user = sessions::user_of(&state, &auth.session).await?;
    let identities = users::identities(state.db.reader(), &user.id).await?;
    let mut data = user.data;
    // realm-web reads `picture`, realm-core `picture_url`: send both when there is one.
    if let Some(p) = data.get("picture").or_else(|| data.get("picture_url")).cloned() {
        data.insert("picture".into(), p.clone());
        data.insert("picture_url".into(), p);
    }
    Ok(no_store(StatusCode::OK, Profile { user_id: user.id, domain_id: user.app_id, user_type: user.user_type, identities, data }))
}

pub async fn refresh(State(state): State<AppState>, headers: HeaderMap, caller: Caller) -> ApiResult<Response> {
    state.limiter.check(crate::ratelimit::Group::Refresh, caller.ip)?;
    let rotate = headers.get(gatehouse_proto::routes::ROTATION_HEADER).is_some_and(|v| v.as_bytes() == b"1");
    let response = sessions::refresh(&state, &headers, rotate).await?;
    Ok(no_store(StatusCode::CREATED, response))
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    sessions::logout(&state, &headers).await?;
    Ok(no_content())
}

/// Deletes the user of the access token, with everything it owns.
pub async fn delete_user(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let auth = sessions::authenticate_access(&state, &headers).await?;
    users::delete(state.db.writer(), &auth.session.user_id).await?;
    tracing::info!(user_id = %auth.session.user_id, app_id = %auth.session.app_id, "user deleted");
    Ok(no_content())
}

pub async fn list_keys(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let (_, session) = sessions::authenticate_refresh(&state, &headers).await?;
    Ok(Json(api_key::list(&state, &session.user_id).await?).into_response())
}

pub async fn create_key(State(state): State<AppState>, headers: HeaderMap, body: EJson) -> ApiResult<Response> {
    let (_, session) = sessions::authenticate_refresh(&state, &headers).await?;
    let req: CreateApiKeyRequest = body.parse()?;
    let key = api_key::create_user_key(&state, &session.user_id, &session.app_id, &req.name).await?;
    Ok(no_store(StatusCode::CREATED, key))
}

pub async fn get_key(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Response> {
    let (_, session) = sessions::authenticate_refresh(&state, &headers).await?;
    Ok(Json(api_key::get(&state, &session.user_id, &id).await?).into_response())
}

pub async fn enable_key(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Response> {
    let (_, session) = sessions::authenticate_refresh(&state, &headers).await?;
    api_key::set_disabled(&state, &session.user_id, &id, false).await?;
    Ok(no_content())
}

pub async fn disable_key(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Response> {
    let (_, session) = sessions::authenticate_refresh(&state, &headers).await?;
    api_key::set_disabled(&state, &session.user_id, &id, true).await?;
    Ok(no_content())
}

pub async fn delete_key(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Response> {
    let (_, session) = sessions::authenticate_refresh(&state, &headers).await?;
    api_key::delete(&state, &session.user_id, &id).await?;
    Ok(no_content())
}

pub async fn list_sessions(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let auth = sessions::authenticate_access(&state, &headers).await?;
    Ok(no_store(StatusCode::OK, crate::user_sessions::list(&state, &auth).await?))
}

pub async fn revoke_session(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> ApiResult<Response> {
    let auth = sessions::authenticate_access(&state, &headers).await?;
    crate::user_sessions::revoke(&state, &auth, &id).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
pub struct ScopeQuery {
    scope: Option<String>,
}

/// `DELETE /auth/sessions?scope=others|all`.
pub async fn revoke_sessions(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<ScopeQuery>) -> ApiResult<Response> {
    let auth = sessions::authenticate_access(&state, &headers).await?;
    let keep_current = match q.scope.as_deref() {
        Some("others") => true,
        Some("all") => false,
        _ => return Err(ApiError::invalid_parameter("scope must be \"others\" or \"all\"")),
    };
    crate::user_sessions::revoke_all(&state, &auth, keep_current).await?;
    Ok(no_content())
}

pub async fn change_password(State(state): State<AppState>, headers: HeaderMap, caller: Caller, body: EJson) -> ApiResult<Response> {
    let auth = sessions::authenticate_access(&state, &headers).await?;
    let req: ChangePasswordRequest = body.parse()?;
    crate::user_sessions::change_password(&state, &auth, &req.current_password, &req.new_password, caller.ip).await?;
    Ok(no_content())
}

pub async fn jwks(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.keys.jwks())
}

/// 200 when the database answers, 503 otherwise (liveness stays 204 either way).
pub async fn ready(State(state): State<AppState>) -> Response {
    match state.db.ping().await {
        Ok(()) => no_content(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
