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
    AccessCaller, Authorization, Caller, CanonicalEJson, RefreshCaller, RotationOptIn, Typed,
};
use crate::error::{ApiError, ApiResult};
use crate::functions;
use crate::providers::api_key;
use crate::sessions;
use crate::state::AppState;
use crate::step_up::{require_recent_sign_in, LastingChange};
use crate::store::activity::Kind;
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

/// The request as an activity event names it.
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

/// `POST {app}/functions/call`: the app's function webhook answers (`crate::functions`). The
/// body is checked before the app and the token, as it always was.
pub async fn call_function(
    State(state): State<AppState>,
    Path(app): Path<String>,
    authorization: Authorization,
    body: CanonicalEJson,
) -> ApiResult<Response> {
    let call = functions::Call::parse(body.0)?;
    state.app(&app)?;
    let auth = authorization.access(&state).await?;
    let result = functions::call(&state, &app, &auth, call).await?;
    Ok(no_store(StatusCode::OK, result))
}

#[derive(Deserialize)]
pub struct StreamQuery {
    baas_request: Option<String>,
}

/// `GET {app}/functions/call?baas_request=<base64 of the POST body>` (realm-web's
/// `callFunctionStreaming`): the same call, answered as `text/event-stream` with the result as one
/// event. Everything that fails before the function answers is an ordinary JSON error.
pub async fn call_function_stream(
    State(state): State<AppState>,
    Path(app): Path<String>,
    Query(query): Query<StreamQuery>,
    authorization: Authorization,
) -> ApiResult<Response> {
    use base64::Engine as _;
    let encoded = query
        .baas_request
        .ok_or_else(|| ApiError::new(ErrorCode::MissingParameter, "baas_request is required"))?;
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let body: serde_json::Value = engine
        .decode(encoded.as_bytes())
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .filter(|v| gatehouse_proto::ejson::depth(v) <= super::extract::MAX_DEPTH)
        .ok_or_else(|| ApiError::bad_request("baas_request is not base64 of a JSON call"))?;
    let call = functions::Call::parse(body)?;
    state.app(&app)?;
    let auth = authorization.access(&state).await?;
    let result = functions::call(&state, &app, &auth, call).await?;
    Ok((
        StatusCode::OK,
        [
            (axum::http::header::CONTENT_TYPE, "text/event-stream"),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        functions::sse_event(&result),
    )
        .into_response())
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
        .check(crate::ratelimit::Group::Refresh, caller.ip)
        .await?;
    let from = caller.origin();
    let response = sessions::refresh(&state, authorization.bearer(), rotation.0, from).await?;
    Ok(no_store(StatusCode::CREATED, response))
}

pub async fn logout(
    State(state): State<AppState>,
    authorization: Authorization,
    caller: Caller,
) -> ApiResult<Response> {
    sessions::logout(&state, authorization.bearer()?, caller.origin()).await?;
    Ok(no_content())
}

/// Deletes the user of the access token, with everything it owns.
pub async fn delete_user(
    State(state): State<AppState>,
    AccessCaller(auth): AccessCaller,
) -> ApiResult<Response> {
    require_recent_sign_in(&state, &auth.session, LastingChange::DeleteAccount)?;
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
    caller: Caller,
    Typed(req): Typed<CreateApiKeyRequest>,
) -> ApiResult<Response> {
    require_recent_sign_in(&state, &session, LastingChange::CreateApiKey)?;
    let key =
        api_key::create_user_key(&state, &session.user_id, &session.app_id, &req.name).await?;
    let (kind, from) = (Kind::ApiKeyCreated, caller.origin());
    api_key::record_change(&state, &session, kind, (&key.id, &key.name), from).await;
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
    caller: Caller,
) -> ApiResult<Response> {
    let name = api_key::set_disabled(&state, &session.user_id, &id, false).await?;
    let (kind, from) = (Kind::ApiKeyEnabled, caller.origin());
    api_key::record_change(&state, &session, kind, (&id, &name), from).await;
    Ok(no_content())
}

pub async fn disable_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RefreshCaller { session, .. }: RefreshCaller,
    caller: Caller,
) -> ApiResult<Response> {
    let name = api_key::set_disabled(&state, &session.user_id, &id, true).await?;
    let (kind, from) = (Kind::ApiKeyDisabled, caller.origin());
    api_key::record_change(&state, &session, kind, (&id, &name), from).await;
    Ok(no_content())
}

pub async fn delete_key(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RefreshCaller { session, .. }: RefreshCaller,
    caller: Caller,
) -> ApiResult<Response> {
    let name = api_key::delete(&state, &session.user_id, &id).await?;
    let (kind, from) = (Kind::ApiKeyDeleted, caller.origin());
    api_key::record_change(&state, &session, kind, (&id, &name), from).await;
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
    caller: Caller,
) -> ApiResult<Response> {
    crate::user_sessions::revoke(&state, &auth, &id, caller.origin()).await?;
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
    caller: Caller,
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
    crate::user_sessions::revoke_all(&state, &auth, keep_current, caller.origin()).await?;
    Ok(no_content())
}

pub async fn change_password(
    State(state): State<AppState>,
    AccessCaller(auth): AccessCaller,
    caller: Caller,
    Typed(req): Typed<ChangePasswordRequest>,
) -> ApiResult<Response> {
    require_recent_sign_in(&state, &auth.session, LastingChange::ChangePassword)?;
    crate::user_sessions::change_password(
        &state,
        &auth,
        &req.current_password,
        &req.new_password,
        caller.origin(),
    )
    .await?;
    Ok(no_content())
}

/// `DELETE /auth/identities/{provider}/{id}`.
pub async fn unlink_identity(
    State(state): State<AppState>,
    Path((provider, id)): Path<(String, String)>,
    AccessCaller(auth): AccessCaller,
    caller: Caller,
) -> ApiResult<Response> {
    crate::user_identities::unlink(&state, &auth, &provider, &id, caller.origin()).await?;
    Ok(no_content())
}

pub async fn jwks(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.keys.jwks(state.now()))
}

/// 200 when the database answers, 503 otherwise (liveness stays 204 either way).
pub async fn ready(State(state): State<AppState>) -> Response {
    match state.db.ping().await {
        Ok(()) => no_content(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
