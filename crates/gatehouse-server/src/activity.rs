//! The activity log as its owner sees it (`GET /auth/activity`, a Gatehouse extension) and the
//! events the server records. Recording never decides an answer: a failed write is logged and
//! the request goes on as it would have.

use std::net::IpAddr;

use gatehouse_proto::auth::{ActivityEvent, DeviceInfo};
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::sessions::AccessAuth;
use crate::state::AppState;
use crate::store::activity::{self as rows, Kind, NewEvent};
use crate::store::sessions::SessionRow;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 100;

/// The request that caused an event.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub ip: IpAddr,
    pub user_agent: Option<&'a str>,
}

/// The caller's own events, newest first. `limit` is 1–100 (default 50).
pub async fn list(
    state: &AppState,
    auth: &AccessAuth,
    limit: Option<&str>,
) -> ApiResult<Vec<ActivityEvent>> {
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::invalid_parameter(format!("limit must be between 1 and {MAX_LIMIT}"))
            })?,
    };
    let rows = rows::list(
        state.db.reader(),
        &auth.session.app_id,
        &auth.session.user_id,
        limit,
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ActivityEvent {
            id: r.id,
            kind: r.kind,
            detail: r.detail,
            ip: r.ip,
            user_agent: r.user_agent,
            created_at: r.created_at,
        })
        .collect())
}

/// A rotated-away refresh token came back and `session` was ended: the owner should see which
/// session and device, and from where the token was presented.
pub async fn refresh_token_reuse(state: &AppState, session: &SessionRow, from: Origin<'_>) {
    let mut detail = Map::new();
    detail.insert("session_id".into(), Value::from(session.id.as_str()));
    detail.insert("device_id".into(), Value::from(session.device_id.as_str()));
    detail.insert(
        "provider_type".into(),
        Value::from(session.provider_type.as_str()),
    );
    let device = serde_json::from_str::<DeviceInfo>(&session.device).unwrap_or_default();
    detail.insert(
        "device".into(),
        serde_json::to_value(device).unwrap_or_default(),
    );
    let event = NewEvent {
        app_id: &session.app_id,
        user_id: &session.user_id,
        kind: Kind::RefreshTokenReuse,
        detail,
        ip: Some(from.ip.to_string()),
        user_agent: from.user_agent,
    };
    if let Err(e) = rows::record(state.db.writer(), &event, state.now()).await {
        tracing::warn!(error = %e, kind = event.kind.as_str(), "recording activity failed");
    }
}
