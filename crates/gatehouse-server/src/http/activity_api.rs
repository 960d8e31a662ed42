//! `GET /auth/activity` (Gatehouse extension): the signed-in user's own security events.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::client_api::no_store;
use super::extract::AccessCaller;
use crate::error::ApiResult;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct ActivityQuery {
    limit: Option<String>,
    before: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    AccessCaller(auth): AccessCaller,
    Query(q): Query<ActivityQuery>,
) -> ApiResult<Response> {
    let events =
        crate::activity::list(&state, &auth, q.limit.as_deref(), q.before.as_deref()).await?;
    Ok(no_store(StatusCode::OK, events))
}
