//! `api-key`: user keys (created by a logged-in user, at most 20 each, none for anonymous users)
//! and server keys (created by an operator with `gatehoused admin`, each owning a `server` user).
//! Both log in through the same provider; the session belongs to the key's owner.

use gatehouse_proto::auth::{ApiKey, LoginResponse};
use gatehouse_proto::routes::provider;
use gatehouse_proto::ErrorCode;
use serde_json::Value;

use super::credentials::ApiKeyLogin;
use crate::crypto::{object_id, secret_256, sha256_hex};
use crate::error::{ApiError, ApiResult};
use crate::ratelimit::Group;
use crate::sessions::{self, LoginContext};
use crate::state::AppState;
use crate::store::api_keys::{self, Created, KeyRow};
use crate::store::{sessions as session_rows, users};

pub const MAX_KEYS_PER_USER: i64 = 20;
const MAX_NAME_CHARS: usize = 100;

/// Recognisable prefixes so secret scanners can find leaked keys.
const USER_KEY_PREFIX: &str = "gh_uk_";
const SERVER_KEY_PREFIX: &str = "gh_sk_";

pub async fn login(
    state: &AppState,
    app_id: &str,
    creds: ApiKeyLogin,
    ctx: &LoginContext,
    ip: std::net::IpAddr,
) -> ApiResult<LoginResponse> {
    state.limiter.check(Group::Login, ip).await?;
    let key = creds.key.required("key")?;
    let row = api_keys::by_hash(&state.db, app_id, &sha256_hex(key.as_bytes()))
        .await?
        .filter(|k| !k.disabled)
        .ok_or_else(ApiError::invalid_credentials)?;
    // Checked before the write (off the group commit's serial path); the session's insert
    // checks again, so a user disabled in between gets no session.
    if users::enabled(&state.db, &row.user_id).await? != Some(true) {
        return Err(ApiError::invalid_credentials());
    }
    let (st, app, ctx, key_row) = (state.clone(), app_id.to_string(), ctx.clone(), row.clone());
    // One unit of the SQLite group commit: answered once its batch is on disk.
    let opened = state
        .db
        .write(move |tx| {
            Box::pin(async move {
                let user_id = &key_row.user_id;
                let key = Some(key_row.id.as_str());
                sessions::open(&st, tx, &app, user_id, provider::API_KEY, key, &ctx).await
            })
        })
        .await?;
    let response = opened.respond(state).await?;
    tracing::info!(app_id, user_id = %row.user_id, key_id = %row.id, kind = %row.kind, "login");
    Ok(response)
}

fn valid_name(name: &str) -> ApiResult<&str> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::invalid_parameter(format!(
            "API key name must be 1 to {MAX_NAME_CHARS} characters without control characters"
        )));
    }
    Ok(name)
}

/// `POST /auth/api_keys` for the user of a session.
pub async fn create_user_key(
    state: &AppState,
    user_id: &str,
    app_id: &str,
    name: &str,
) -> ApiResult<ApiKey> {
    let name = valid_name(name)?;
    let identities = users::identities(state.db.reader(), user_id).await?;
    if identities
        .iter()
        .all(|i| i.provider_type == provider::ANONYMOUS)
    {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "anonymous users cannot have API keys; link an email/password identity first",
        ));
    }
    let now = state.now();
    let mut tx = state.db.writer().begin().await?;
    if api_keys::count_for_user(&mut *tx, user_id).await? >= MAX_KEYS_PER_USER {
        return Err(ApiError::new(
            ErrorCode::BadRequest,
            format!("a user can have at most {MAX_KEYS_PER_USER} API keys; delete one first"),
        ));
    }
    let (row, secret) = new_key(app_id, user_id, "user", name, now);
    let created = api_keys::insert(&mut *tx, &row, &sha256_hex(secret.as_bytes())).await?;
    if let Created::NameTaken = created {
        return Err(ApiError::new(
            ErrorCode::APIKeyAlreadyExists,
            format!("an API key named {name:?} already exists for this user"),
        ));
    }
    tx.commit().await?;
    tracing::info!(app_id, user_id, key_id = %row.id, "created a user API key");
    Ok(ApiKey {
        key: Some(secret),
        ..row.to_wire()
    })
}

fn new_key(app_id: &str, user_id: &str, kind: &str, name: &str, now: i64) -> (KeyRow, String) {
    let prefix = if kind == "server" {
        SERVER_KEY_PREFIX
    } else {
        USER_KEY_PREFIX
    };
    let row = KeyRow {
        id: object_id(now),
        app_id: app_id.into(),
        user_id: user_id.into(),
        kind: kind.into(),
        name: name.into(),
        disabled: false,
        created_at: now,
    };
    (row, format!("{prefix}{}", secret_256()))
}

/// A server key and the `server` user it logs in as. Returns the key with its secret.
pub async fn create_server_key(state: &AppState, app_id: &str, name: &str) -> ApiResult<ApiKey> {
    state.app(app_id)?;
    let name = valid_name(name)?;
    let now = state.now();
    let mut tx = state.db.writer().begin().await?;
    let mut data = serde_json::Map::new();
    data.insert("name".into(), Value::String(name.to_string()));
    let user_id = users::create(&mut *tx, app_id, "server", &data, now).await?;
    let (row, secret) = new_key(app_id, &user_id, "server", name, now);
    users::add_identity(
        &mut *tx,
        app_id,
        &user_id,
        provider::API_KEY,
        provider::API_KEY,
        &row.id,
        &data,
        now,
    )
    .await?;
    api_keys::insert(&mut *tx, &row, &sha256_hex(secret.as_bytes())).await?;
    tx.commit().await?;
    Ok(ApiKey {
        key: Some(secret),
        ..row.to_wire()
    })
}

pub async fn list(state: &AppState, user_id: &str) -> ApiResult<Vec<ApiKey>> {
    Ok(api_keys::list_for_user(state.db.reader(), user_id)
        .await?
        .iter()
        .map(KeyRow::to_wire)
        .collect())
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::APIKeyNotFound, "API key not found")
}

pub async fn get(state: &AppState, user_id: &str, key_id: &str) -> ApiResult<ApiKey> {
    Ok(api_keys::get_for_user(state.db.reader(), user_id, key_id)
        .await?
        .ok_or_else(not_found)?
        .to_wire())
}

/// Enables or disables a key; disabling ends the sessions it opened.
pub async fn set_disabled(
    state: &AppState,
    user_id: &str,
    key_id: &str,
    disabled: bool,
) -> ApiResult<String> {
    let mut tx = state.db.writer().begin().await?;
    let key = api_keys::get_for_user(&mut *tx, user_id, key_id)
        .await?
        .ok_or_else(not_found)?;
    api_keys::set_disabled(&mut *tx, key_id, disabled).await?;
    if disabled {
        session_rows::revoke_api_key(&mut *tx, key_id, "api key disabled", state.now()).await?;
    }
    tx.commit().await?;
    Ok(key.name)
}

/// Deletes a key and ends the sessions it opened; returns the key's name.
pub async fn delete(state: &AppState, user_id: &str, key_id: &str) -> ApiResult<String> {
    let mut tx = state.db.writer().begin().await?;
    let key = api_keys::get_for_user(&mut *tx, user_id, key_id)
        .await?
        .ok_or_else(not_found)?;
    session_rows::revoke_api_key(&mut *tx, key_id, "api key deleted", state.now()).await?;
    api_keys::delete(&mut *tx, key_id).await?;
    tx.commit().await?;
    Ok(key.name)
}

/// Records a change to the user's key `(id, name)`, made from `session` by the request `from`.
pub async fn record_change(
    state: &AppState,
    session: &crate::store::sessions::SessionRow,
    kind: crate::store::activity::Kind,
    (id, name): (&str, &str),
    from: crate::activity::Origin<'_>,
) {
    let detail = crate::activity::detail([
        ("api_key_id", id.into()),
        ("name", name.into()),
        ("by_session_id", session.id.as_str().into()),
    ]);
    let owner = (session.app_id.as_str(), session.user_id.as_str());
    crate::activity::record(state, owner, kind, detail, Some(from)).await;
}
