//! Handlers of the App Services client API. Thin: extract, call one function, map the answer.
//! Void answers are `204 No Content` without a Content-Type (realm-web parses any JSON body).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gatehouse_proto::auth::{
    ChangePasswordRequest, CreateApiKeyRequest, LocationResponse, Profile, ProviderInfo,
};
use gatehouse_proto::ErrorCode;
use serde::Deserialize;

use super::extract::{
    AccessCaller, Authorization, Caller, EJson, RefreshCaller, RotationOptIn, Typed,
};
use crate::error::{ApiError, ApiResult};
use crate::providers::api_key;
use crate::sessions;
use crate::state::AppState;
use crate::store::users;

pub(super) fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Token-bearing answers must not be cached by anything in between (RFC 6749 §5.1).
pub(super) fn no_store<T: serde::Serialize>(status: StatusCode, body: T) -> Response {
    let mut r = (status, Json(body)).into_response();
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    r
}

pub async fn location(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> ApiResult<Json<LocationResponse>> {
    state.app(&app)?;
    let hostname = state.public_url.clone();
    let ws_hostname = hostname
        .replacen("https://", "wss://", 1)
        .replacen("http://", "ws://", 1);
    Ok(Json(LocationResponse {
        deployment_model: "GLOBAL".into(),
        location: "LOCAL".into(),
        hostname,
        ws_hostname,
    }))
}

/// Gatehouse extension: which providers this app has enabled.
pub async fn providers(
    State(state): State<AppState>,
    Path(app): Path<String>,
) -> ApiResult<Json<Vec<ProviderInfo>>> {
    let app = state.app(&app)?;
    Ok(Json(
        app.providers
            .iter()
            .map(|p| ProviderInfo {
                name: p.clone(),
                provider_type: p.clone(),
            })
            .collect(),
    ))
}

/// Functions are not part of this server yet; the answer says so with the App Services code.
/// The body is checked before the app and the token, as it always was.
pub async fn call_function(
    State(state): State<AppState>,
    Path(app): Path<String>,
    authorization: Authorization,
    body: EJson,
) -> ApiResult<Response> {
    state.app(&app)?;
    authorization.access(&state).await?;
    let name = body
        .0
        .get("name")
        .and_then(|n| n.as_str())
        .unwrap_or("")
        .to_string();
    Err(ApiError::new(
        ErrorCode::FunctionNotFound,
        format!("function not found: {name:?}"),
    ))
}

pub async fn profile(
    State(state): State<AppState>,
    AccessCaller(auth): AccessCaller,
) -> ApiResult<Response> {
    let user = sessions::user_of(&state, &auth.session).await?;
    let identities = users::identities(state.db.reader(), &user.id).await?;
    let mut data = user.data;
    // realm-web reads `picture`, realm-core `picture_url`: send both when there is one.
    if let Some(p) = data
        .get("picture")
        .or_else(|| data.get("picture_url"))
        .cloned()
    {
        data.insert("picture".into(), p.clone());
        data.insert("picture_url".into(), p);
    }
    Ok(no_store(
        StatusCode::OK,
        Profile {
            user_id: user.id,
            domain_id: user.app_id,
            user_type: user.user_type,
            identities,
            data,
        },
    ))
}

/// `POST /auth/session`: the per-IP budget is checked before the token is looked at.
pub async fn refresh(
    State(state): State<AppState>,
    rotation: RotationOptIn,
    authorization: Authorization,
    caller: Caller,
) -> ApiResult<Response> {
    state
        .limiter
        .check(crate::ratelimit::Group::Refresh, caller.ip)?;
    let response = sessions::refresh(&state, authorization.bearer(), rotation.0).await?;
    Ok(no_store(StatusCode::CREATED, response))
}

pub async fn logout(
    State(state): State<AppState>,
    authorization: Authorization,
) -> ApiResult<Response> {
    sessions::logout(&state, authorization.bearer()?).await?;
    Ok(no_content())
}

/// Deletes the user of the access token, with everything it owns.
pub async fn delete_user(
    State(state): State<AppState>,
    AccessCaller(auth): AccessCaller,
) -> ApiResult<Response> {
    users::delete(state.db.writer(), &auth.session.user_id).await?;
    tracing::info!(user_id = %auth.session.user_id, app_id = %auth.session.app_id, "user deleted");
    Ok(no_content())
}

pub async fn list_keys(
    State(state): State<AppState>,
    RefreshCaller { session, .. }: RefreshCaller,
) -> ApiResult<Response> {
    Ok(Json(api_key::list(&state, &session.user_id).await?).into_response())
}

pub async fn create_key(
    State(state): State<AppState>,
    RefreshCaller { session, .. }: RefreshCaller,
    Typed(req): Typed<CreateApiKeyRequest>,
) -> ApiResult<Response> {
    let key =
        api_key::create_user_key(&state, &session.user_id, &session.app_id, &req.name).await?;
    Ok(no_store(StatusCode::CREATED, key))
}

pub async fn get_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RefreshCaller { session, .. }: RefreshCaller,
) -> ApiResult<Response> {
    Ok(Json(api_key::get(&state, &session.user_id, &id).await?).into_response())
}

pub async fn enable_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RefreshCaller { session, .. }: RefreshCaller,
) -> ApiResult<Response> {
    api_key::set_disabled(&state, &session.user_id, &id, false).await?;
    Ok(no_content())
}

pub async fn disable_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RefreshCaller { session, .. }: RefreshCaller,
) -> ApiResult<Response> {
    api_key::set_disabled(&state, &session.user_id, &id, true).await?;
    Ok(no_content())
}

pub async fn delete_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RefreshCaller { session, .. }: RefreshCaller,
) -> ApiResult<Response> {
    api_key::delete(&state, &session.user_id, &id).await?;
    Ok(no_content())
}

pub async fn list_sessions(
    State(state): State<AppState>,
    AccessCaller(auth): AccessCaller,
) -> ApiResult<Response> {
    Ok(no_store(
        StatusCode::OK,
        crate::user_sessions::list(&state, &auth).await?,
    ))
}

pub async fn revoke_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AccessCaller(auth): AccessCaller,
) -> ApiResult<Response> {
    crate::user_sessions::revoke(&state, &auth, &id).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
pub struct ScopeQuery {
    scope: Option<String>,
}

/// `DELETE /auth/sessions?scope=others|all`.
pub async fn revoke_sessions(
    State(state): State<AppState>,
    Query(q): Query<ScopeQuery>,
    AccessCaller(auth): AccessCaller,
) -> ApiResult<Response> {
    let keep_current = match q.scope.as_deref() {
        Some("others") => true,
        Some("all") => false,
        _ => {
            return Err(ApiError::invalid_parameter(
                "scope must be \"others\" or \"all\"",
            ))
        }
    };
    crate::user_sessions::revoke_all(&state, &auth, keep_current).await?;
    Ok(no_content())
}

pub async fn change_password(
    State(state): State<AppState>,
    AccessCaller(auth): AccessCaller,
    caller: Caller,
    Typed(req): Typed<ChangePasswordRequest>,
) -> ApiResult<Response> {
    crate::user_sessions::change_password(
        &state,
        &auth,
        &req.current_password,
        &req.new_password,
        caller.ip,
    )
    .await?;
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
