//! The operator's HTTP API (`/api/admin/v1`, Gatehouse extension): custom user data. A request
//! carries one of the keys whose SHA-256 is listed in `[admin] key_sha256` as its bearer token;
//! each request spends from the caller's per-IP login bucket first, so keys cannot be guessed
//! fast.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use gatehouse_proto::ErrorCode;

use super::extract::{Authorization, Caller, EJson};
use crate::crypto::{ct_eq, sha256_hex};
use crate::error::{ApiError, ApiResult};
use crate::ratelimit::Group;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route(
        "/api/admin/v1/users/{id}/custom_data",
        get(get_custom_data).put(put_custom_data),
    )
}

/// Lets the request in when its bearer token is a configured admin key.
async fn admit(state: &AppState, authorization: &Authorization, caller: &Caller) -> ApiResult<()> {
    state.limiter.check(Group::Login, caller.ip).await?;
    let presented = sha256_hex(authorization.bearer()?.as_bytes());
    let known = &state.config.admin.key_sha256;
    // Compare with every configured hash, so the time taken does not say which one matched.
    let matched = known.iter().fold(false, |hit, k| {
        ct_eq(&k.to_ascii_lowercase(), &presented) | hit
    });
    if matched {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::InvalidSession,
            "this is not an admin key of this server (see `gatehoused admin new-admin-key`)",
        ))
    }
}

async fn get_custom_data(
    State(state): State<AppState>,
    Path(id): Path<String>,
    authorization: Authorization,
    caller: Caller,
) -> ApiResult<Response> {
    admit(&state, &authorization, &caller).await?;
    let doc = crate::custom_data::get(&state, &id).await?;
    Ok(Json(serde_json::Value::Object(doc)).into_response())
}

/// `PUT` with a JSON object replaces the document; `null` clears it. `204`.
async fn put_custom_data(
    State(state): State<AppState>,
    Path(id): Path<String>,
    authorization: Authorization,
    caller: Caller,
    EJson(doc): EJson,
) -> ApiResult<Response> {
    admit(&state, &authorization, &caller).await?;
    crate::custom_data::set(&state, &id, doc).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
