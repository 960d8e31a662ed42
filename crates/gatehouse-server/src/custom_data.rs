//! Custom user data, as App Services has it: one JSON document per user, written by the operator
//! (`gatehoused admin set-custom-data`, or `PUT /api/admin/v1/users/{id}/custom_data` with an
//! admin key) and carried to clients in every access token's `user_data` claim — so it is fresh
//! after each refresh (`refreshCustomData()` in realm-web, `refresh_custom_data()` in the SDK).
//! An app may instead name a signed webhook (`[apps.<id>.custom_data_webhook]`) that is asked
//! for the document each time a token is issued; it fails closed (503) unless `fail_open`.

use gatehouse_proto::ErrorCode;
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::custom_data as rows;
use crate::store::sessions::SessionRow;

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

/// The user's stored document, as the caller read it with the session (a refresh), or not yet.
pub enum Stored {
    Read(Option<Map<String, Value>>),
    Unread,
}

impl Stored {
    async fn get(self, state: &AppState, user_id: &str) -> ApiResult<Option<Map<String, Value>>> {
        match self {
            Stored::Read(doc) => Ok(doc),
            Stored::Unread => Ok(rows::read(&state.db, user_id).await?),
        }
    }
}

/// The document to sign into an access token for `session`: the app's webhook's answer when it
/// has one, else the stored document.
pub async fn for_token(
    state: &AppState,
    session: &SessionRow,
    stored: Stored,
) -> ApiResult<Option<Map<String, Value>>> {
    let hook = state
        .app(&session.app_id)
        .ok()
        .and_then(|app| app.custom_data_webhook.as_ref());
    let Some(hook) = hook else {
        return stored.get(state, &session.user_id).await;
    };
    let data = serde_json::json!({
        "user_id": session.user_id,
        "provider_type": session.provider_type,
        "device_id": session.device_id,
    });
    let answer = crate::idp::webhook::call(
        &state.outbound,
        &hook.as_webhook(),
        "custom_data.fetch",
        &session.app_id,
        data,
        state.now(),
    )
    .await;
    let failure = match answer {
        Ok(mut map) => match map.remove("custom_data").map(gatehouse_proto::ejson::relax) {
            Some(Value::Object(doc))
                if Value::Object(doc.clone()).to_string().len() <= MAX_BYTES =>
            {
                return Ok(Some(doc))
            }
            Some(Value::Null) => return Ok(None),
            Some(Value::Object(_)) => format!("its document is over {MAX_BYTES} bytes"),
            _ => "its answer has no \"custom_data\" object (or null)".to_string(),
        },
        Err(e) => e.to_string(),
    };
    if hook.fail_open {
        tracing::warn!(app_id = %session.app_id, why = %failure,
            "custom data webhook failed; issuing the token with the stored document");
        return stored.get(state, &session.user_id).await;
    }
    tracing::warn!(app_id = %session.app_id, why = %failure, "custom data webhook failed");
    Err(ApiError::unavailable(
        "the app's custom user data could not be fetched; try again shortly",
    ))
}
