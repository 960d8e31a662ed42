//! Operator commands (`gatehoused admin …`). They open the same database the server uses and
//! work while it runs (SQLite WAL and PostgreSQL both allow it).

use gatehouse_proto::auth::{ActivityEvent, ApiKey};
use serde::Serialize;

use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{activity, api_keys, sessions, users};

#[derive(Debug, Serialize)]
pub struct UserSummary {
    pub id: String,
    #[serde(rename = "type")]
    pub user_type: String,
    pub disabled: bool,
    pub providers: Vec<String>,
    pub email: Option<String>,
    pub created_at: i64,
}

/// `rotate-keys`: replaces the access-token key — in the database row every instance shares
/// when a key-encryption key is configured (once for the cluster), else in the key file
/// (atomically, mode 0600). Former keys older than one access-token lifetime are dropped.
pub async fn rotate_keys(
    config: &crate::config::Config,
) -> anyhow::Result<crate::tokens::key_file::Rotation> {
    let now = crate::clock::Clock::default().now();
    let keep = config.tokens.access_ttl_secs;
    let rotation = match crate::tokens::key_store::kek(config)? {
        Some(kek) => {
            let db = crate::db::Db::connect(&config.database_url()).await?;
            let rotation = crate::tokens::key_store::rotate(&db, &kek, now, keep).await;
            db.close().await;
            rotation?
        }
        None => crate::tokens::key_file::rotate(&crate::tokens::key_file::path(config), now, keep)?,
    };
    tracing::info!(
        new_kid = %rotation.new_kid,
        old_kid = %rotation.old_kid,
        "signing key rotated"
    );
    Ok(rotation)
}

/// `migrate`: applies the pending database migrations and closes the database. The server
/// also migrates at start; this makes the step separate and visible, so the systemd unit runs it
/// before the server (`ExecStartPre`) and an operator can upgrade a schema on purpose. Checks the
/// configuration as the server would, so a bad file fails here, before the server starts.
pub async fn migrate(config: &crate::config::Config) -> anyhow::Result<crate::db::Migrated> {
    config.validate()?;
    // The SQLite default lives in the data directory, made as the server makes it.
    crate::files::create_private_dir(&config.data_dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot create data directory {}: {e}",
            config.data_dir.display()
        )
    })?;
    let (db, migrated) = crate::db::Db::connect_migrated(&config.database_url()).await?;
    db.close().await;
    tracing::info!(
        before = migrated.before,
        after = migrated.after,
        "database schema migrated"
    );
    Ok(migrated)
}

fn err(e: ApiError) -> anyhow::Error {
    anyhow::anyhow!(e.message)
}

pub async fn create_server_key(
    state: &AppState,
    app_id: &str,
    name: &str,
) -> anyhow::Result<ApiKey> {
    crate::providers::api_key::create_server_key(state, app_id, name)
        .await
        .map_err(err)
}

pub async fn list_server_keys(state: &AppState, app_id: &str) -> anyhow::Result<Vec<ApiKey>> {
    state.app(app_id).map_err(err)?;
    Ok(api_keys::list_kind(state.db.reader(), app_id, "server")
        .await?
        .iter()
        .map(|k| k.to_wire())
        .collect())
}

/// Deletes a server key together with the server user it logs in as (ending its sessions).
pub async fn revoke_server_key(state: &AppState, key_id: &str) -> anyhow::Result<()> {
    let key = api_keys::get(state.db.reader(), key_id)
        .await?
        .filter(|k| k.kind == "server")
        .ok_or_else(|| anyhow::anyhow!("no server API key with id {key_id}"))?;
    users::delete(state.db.writer(), &key.user_id).await?;
    Ok(())
}

pub async fn list_users(state: &AppState, app_id: &str) -> anyhow::Result<Vec<UserSummary>> {
    state.app(app_id).map_err(err)?;
    let mut out = Vec::new();
    for user in users::list(state.db.reader(), app_id).await? {
        let identities = users::identities(state.db.reader(), &user.id).await?;
        out.push(UserSummary {
            email: user
                .data
                .get("email")
                .and_then(|e| e.as_str())
                .map(str::to_string),
            id: user.id,
            user_type: user.user_type,
            disabled: user.disabled,
            providers: identities.into_iter().map(|i| i.provider_type).collect(),
            created_at: user.created_at,
        });
    }
    Ok(out)
}

/// Disables (and ends every session of) a user, or enables it again.
pub async fn set_user_disabled(
    state: &AppState,
    user_id: &str,
    disabled: bool,
) -> anyhow::Result<()> {
    let mut tx = state.db.writer().begin().await?;
    anyhow::ensure!(
        users::set_disabled(&mut *tx, user_id, disabled).await?,
        "no user with id {user_id}"
    );
    if disabled {
        sessions::revoke_user(&mut *tx, user_id, None, "user disabled", state.now()).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// `set-custom-data`: replaces a user's custom data with the JSON object `json` (`null` clears
/// it); clients see it at their next refresh.
pub async fn set_custom_data(state: &AppState, user_id: &str, json: &str) -> anyhow::Result<()> {
    let doc: serde_json::Value =
        serde_json::from_str(json).map_err(|e| anyhow::anyhow!("--json is not valid JSON: {e}"))?;
    crate::custom_data::set(state, user_id, doc)
        .await
        .map_err(err)
}

pub async fn get_custom_data(
    state: &AppState,
    user_id: &str,
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    crate::custom_data::get(state, user_id).await.map_err(err)
}

/// `reset-mfa`: removes every second factor and recovery code of the user (for an owner who
/// lost both), recorded as `mfa_reset`. The number of factors removed.
pub async fn reset_mfa(state: &AppState, user_id: &str) -> anyhow::Result<u64> {
    crate::mfa::manage::reset(state, user_id).await.map_err(err)
}

/// The most events `admin activity` prints at once.
pub const MAX_ACTIVITY: i64 = 1000;

/// `activity`: the user's security events, newest first; `app_id` defaults to the user's own.
pub async fn activity(
    state: &AppState,
    user_id: &str,
    app_id: Option<&str>,
    limit: i64,
) -> anyhow::Result<Vec<ActivityEvent>> {
    anyhow::ensure!(
        (1..=MAX_ACTIVITY).contains(&limit),
        "--limit must be between 1 and {MAX_ACTIVITY}"
    );
    let user = users::get(state.db.reader(), user_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no user with id {user_id}"))?;
    if let Some(app) = app_id {
        anyhow::ensure!(
            user.app_id == app,
            "user {user_id} does not belong to app {app}"
        );
    }
    let rows = activity::list(state.db.reader(), &user.app_id, user_id, limit).await?;
    Ok(rows.into_iter().map(ActivityEvent::from).collect())
}

/// `new-admin-key`: a fresh key for the admin HTTP API and the line that lets it in (only its
/// SHA-256 goes into the configuration).
pub fn new_admin_key() -> (String, String) {
    let key = format!("gh_admin_{}", crate::crypto::secret_256());
    let hash = crate::crypto::sha256_hex(key.as_bytes());
    (key, hash)
}
