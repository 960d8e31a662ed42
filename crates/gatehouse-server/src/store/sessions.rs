//! Session rows: one per (user, device) login. A session holds the hash of its current refresh
//! secret and, for rotating sessions, the hash of the immediately previous one.

use sqlx::{Any, Executor, Row as _};

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: String,
    pub app_id: String,
    pub user_id: String,
    pub device_id: String,
    pub provider_type: String,
    pub api_key_id: Option<String>,
    pub secret_hash: String,
    pub prev_secret_hash: Option<String>,
    pub rotated_at: Option<i64>,
    pub rotating: bool,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    pub device: String,
}

const COLUMNS: &str =
    "id, app_id, user_id, device_id, provider_type, api_key_id, secret_hash, prev_secret_hash, \
    rotated_at, rotating, created_at, last_used_at, expires_at, revoked_at, user_agent, ip, device";

fn from_row(r: &sqlx::any::AnyRow) -> Result<SessionRow, sqlx::Error> {
    Ok(SessionRow {
        id: r.try_get("id")?,
        app_id: r.try_get("app_id")?,
        user_id: r.try_get("user_id")?,
        device_id: r.try_get("device_id")?,
        provider_type: r.try_get("provider_type")?,
        api_key_id: r.try_get("api_key_id")?,
        secret_hash: r.try_get("secret_hash")?,
        prev_secret_hash: r.try_get("prev_secret_hash")?,
        rotated_at: r.try_get("rotated_at")?,
        rotating: r.try_get::<i64, _>("rotating")? != 0,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
        expires_at: r.try_get("expires_at")?,
        revoked_at: r.try_get("revoked_at")?,
        user_agent: r.try_get("user_agent")?,
        ip: r.try_get("ip")?,
        device: r.try_get("device")?,
    })
}

pub async fn insert<'c>(
    ex: impl Executor<'c, Database = Any>,
    s: &SessionRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO sessions ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
         $11, $12, $13, $14, $15, $16, $17)"
    ))
    .bind(&s.id)
    .bind(&s.app_id)
    .bind(&s.user_id)
    .bind(&s.device_id)
    .bind(&s.provider_type)
    .bind(&s.api_key_id)
    .bind(&s.secret_hash)
    .bind(&s.prev_secret_hash)
    .bind(s.rotated_at)
    .bind(crate::db::flag(s.rotating))
    .bind(s.created_at)
    .bind(s.last_used_at)
    .bind(s.expires_at)
    .bind(s.revoked_at)
    .bind(&s.user_agent)
    .bind(&s.ip)
    .bind(&s.device)
    .execute(ex)
    .await?;
    Ok(())
}

pub async fn get<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
) -> Result<Option<SessionRow>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM sessions WHERE id = $1"))
        .bind(id)
        .fetch_optional(ex)
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Live sessions of a user, newest first.
pub async fn list_active<'c>(
    ex: impl Executor<'c, Database = Any>,
    user_id: &str,
    now: i64,
) -> Result<Vec<SessionRow>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM sessions \
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
         ORDER BY created_at DESC, id DESC"
    ))
    .bind(user_id)
    .bind(now)
    .fetch_all(ex)
    .await?;
    rows.iter().map(from_row).collect()
}

/// Records use at a coarse granularity: idle expiry is measured in days, and writing (with an
/// fsync) on every refresh would cap throughput for nothing.
pub async fn touch<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE sessions SET last_used_at = $1 WHERE id = $2")
        .bind(now)
        .bind(id)
        .execute(ex)
        .await?;
    Ok(())
}

/// Moves a rotating session to its next secret if its current secret is still `old_hash`.
/// False means another refresh won the race.
pub async fn rotate<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    old_hash: &str,
    new_hash: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE sessions SET secret_hash = $1, prev_secret_hash = $2, rotated_at = $3, \
         rotating = 1, last_used_at = $3 \
         WHERE id = $4 AND secret_hash = $2 AND revoked_at IS NULL",
    )
    .bind(new_hash)
    .bind(old_hash)
    .bind(now)
    .bind(id)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Uses up a rotated session's one grace answer for its previous secret `prev_hash`: true for
/// the first caller only (the previous secret is forgotten, so any later use is a reuse).
pub async fn take_grace<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    prev_hash: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE sessions SET prev_secret_hash = NULL \
         WHERE id = $1 AND prev_secret_hash = $2 AND revoked_at IS NULL",
    )
    .bind(id)
    .bind(prev_hash)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn revoke<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    reason: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $1, revoke_reason = $2 \
         WHERE id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(reason)
    .bind(id)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes every live session of a user except `keep` (password change keeps the current one).
pub async fn revoke_user<'c>(
    ex: impl Executor<'c, Database = Any>,
    user_id: &str,
    keep: Option<&str>,
    reason: &str,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $1, revoke_reason = $2 \
         WHERE user_id = $3 AND revoked_at IS NULL AND id <> $4",
    )
    .bind(now)
    .bind(reason)
    .bind(user_id)
    .bind(keep.unwrap_or(""))
    .execute(ex)
    .await?;
    Ok(done.rows_affected())
}

/// Revokes the sessions opened with an API key (the key was disabled or deleted).
pub async fn revoke_api_key<'c>(
    ex: impl Executor<'c, Database = Any>,
    key_id: &str,
    reason: &str,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $1, revoke_reason = $2 \
         WHERE api_key_id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(reason)
    .bind(key_id)
    .execute(ex)
    .await?;
    Ok(done.rows_affected())
}

/// Revokes the live sessions of a user on one device (a replayed sign-in code ends what it opened).
pub async fn revoke_device<'c>(
    ex: impl Executor<'c, Database = Any>,
    user_id: &str,
    device_id: &str,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $1, revoke_reason = 'replaced' \
         WHERE user_id = $2 AND device_id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(user_id)
    .bind(device_id)
    .execute(ex)
    .await?;
    Ok(done.rows_affected())
}

/// Keeps at most `cap` live sessions for a user by revoking the oldest (security.md S-46).
pub async fn evict_beyond<'c>(
    ex: impl Executor<'c, Database = Any>,
    user_id: &str,
    cap: i64,
    now: i64,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE sessions SET revoked_at = $1, revoke_reason = 'evicted' WHERE id IN ( \
                              SELECT id FROM sessions WHERE user_id = $2 AND revoked_at IS NULL \
                              ORDER BY created_at DESC, id DESC LIMIT 1000000 OFFSET $3)",
    )
    .bind(now)
    .bind(user_id)
    .bind(cap)
    .execute(ex)
    .await?;
    Ok(done.rows_affected())
}
