//! Custom user data, as App Services has it: one JSON document per user, written by the operator
//! (`gatehoused admin set-custom-data`, or `PUT /api/admin/v1/users/{id}/custom_data` with an
//! admin key) and carried to clients in every access token's `user_data` claim — so it is fresh
//! after each refresh (`refreshCustomData()` in realm-web, `refresh_custom_data()` in the SDK).

use gatehouse_proto::ErrorCode;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::custom_data as rows;

/// Largest document, as compact JSON: it rides in every access token.
pub const MAX_BYTES: usize = 16 * 1024;

/// Checks and stores `doc` (a JSON object; canonical EJSON is relaxed to plain JSON, as the
/// client API does) as `user_id`'s custom data; `Value::Null` clears it.
pub async fn set(state: &AppState, user_id: &str, doc: Value) -> ApiResult<()> {
    let doc = match gatehouse_proto::ejson::relax(doc) {
        Value::Null => None,
        Value::Object(map) => Some(map),
        _ => {
            return Err(ApiError::invalid_parameter(
                "custom user data must be a JSON object (or null to clear it)",
            ))
        }
    };
    if let Some(map) = &doc {
        let size = Value::Object(map.clone()).to_string().len();
        if size > MAX_BYTES {
            return Err(ApiError::new(
                ErrorCode::ReadSizeLimitExceeded,
                format!("custom user data is {size} bytes as JSON; at most {MAX_BYTES} fit"),
            ));
        }
    }
    if !rows::set(state.db.writer(), user_id, doc.as_ref()).await? {
        return Err(ApiError::new(ErrorCode::UserNotFound, "user not found"));
    }
    tracing::info!(user_id, "custom user data set by the operator");
    Ok(())
}

/// The user's document (empty when none is set).
pub async fn get(state: &AppState, user_id: &str) -> ApiResult<Map<String, Value>> {
    if crate::store::users::get(state.db.reader(), user_id)
        .await?
        .is_none()
    {
        return Err(ApiError::new(ErrorCode::UserNotFound, "user not found"));
    }
    Ok(rows::get(state.db.reader(), user_id)
        .await?
        .unwrap_or_default())
}
