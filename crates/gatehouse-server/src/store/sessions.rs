//! Session rows: one per (user, device) login. A session holds the hash of its current refresh
//! secret and, for rotating sessions, the hash of the immediately previous one.

use std::sync::LazyLock;

use rusqlite::OptionalExtension as _;
use sqlx::{Any, Executor, Row as _};

use crate::db::{Backend, Db, Statement};

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

/// A [`SessionRow`] from a result row of [`COLUMNS`]: `$get` is the row's by-name getter
/// (`try_get` for sqlx, `get` for rusqlite's inline reads).
macro_rules! session_row {
    ($r:expr, $get:ident) => {
        SessionRow {
            id: $r.$get("id")?,
            app_id: $r.$get("app_id")?,
            user_id: $r.$get("user_id")?,
            device_id: $r.$get("device_id")?,
            provider_type: $r.$get("provider_type")?,
            api_key_id: $r.$get("api_key_id")?,
            secret_hash: $r.$get("secret_hash")?,
            prev_secret_hash: $r.$get("prev_secret_hash")?,
            rotated_at: $r.$get("rotated_at")?,
            rotating: {
                let flag: i64 = $r.$get("rotating")?;
                flag != 0
            },
            created_at: $r.$get("created_at")?,
            last_used_at: $r.$get("last_used_at")?,
            expires_at: $r.$get("expires_at")?,
            revoked_at: $r.$get("revoked_at")?,
            user_agent: $r.$get("user_agent")?,
            ip: $r.$get("ip")?,
            device: $r.$get("device")?,
        }
    };
}

fn from_row(r: &sqlx::any::AnyRow) -> Result<SessionRow, sqlx::Error> {
    Ok(session_row!(r, try_get))
}

fn from_inline_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(session_row!(r, get))
}

/// A new session's insert, for a [`crate::db::Script`]. Only for a user who exists and is not
/// disabled (its row count is 0 otherwise): a login that checked the user before an operator
/// disabled them (which ends their sessions) must not open one after.
pub fn insert_statement(s: &SessionRow) -> Statement {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "INSERT INTO sessions ({COLUMNS}) SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, $15, $16, $17 \
             WHERE EXISTS (SELECT 1 FROM users WHERE id = $3 AND disabled = 0)"
        )
    });
    Statement::new(
        SQL.as_str(),
        vec![
            (&s.id).into(),
            (&s.app_id).into(),
            (&s.user_id).into(),
            (&s.device_id).into(),
            (&s.provider_type).into(),
            (&s.api_key_id).into(),
            (&s.secret_hash).into(),
            (&s.prev_secret_hash).into(),
            s.rotated_at.into(),
            crate::db::flag(s.rotating).into(),
            s.created_at.into(),
            s.last_used_at.into(),
            s.expires_at.into(),
            s.revoked_at.into(),
            (&s.user_agent).into(),
            (&s.ip).into(),
            (&s.device).into(),
        ],
    )
}

pub async fn get<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
) -> Result<Option<SessionRow>, sqlx::Error> {
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("SELECT {COLUMNS} FROM sessions WHERE id = $1"));
    let row = sqlx::query(&SQL).bind(id).fetch_optional(ex).await?;
    row.as_ref().map(from_row).transpose()
}

/// [`get`] for a plain read, on the calling thread where it can be (`Db::read_inline`): the
/// session check of every request with an access token.
pub async fn read(db: &Db, id: &str) -> Result<Option<SessionRow>, sqlx::Error> {
    static SQL: LazyLock<String> =
        LazyLock::new(|| format!("SELECT {COLUMNS} FROM sessions WHERE id = $1"));
    let inline = db.read_inline(|c| {
        c.prepare_cached(&SQL)?
            .query_row([id], from_inline_row)
            .optional()
    });
    match inline {
        Some(found) => Ok(found),
        None => get(db.reader(), id).await,
    }
}

/// [`read`], with the user's custom data (the text of `users.custom_data`) in the same read: a
/// refresh needs both, and on the hot path one read is cheaper than two.
pub async fn read_with_custom_data(
    db: &Db,
    id: &str,
) -> Result<Option<(SessionRow, Option<String>)>, sqlx::Error> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        let columns: Vec<String> = COLUMNS.split(", ").map(|c| format!("s.{c}")).collect();
        format!(
            "SELECT {}, u.custom_data AS custom_data FROM sessions s \
             LEFT JOIN users u ON u.id = s.user_id WHERE s.id = $1",
            columns.join(", ")
        )
    });
    let inline = db.read_inline(|c| {
        c.prepare_cached(&SQL)?
            .query_row([id], |r| Ok((from_inline_row(r)?, r.get("custom_data")?)))
            .optional()
    });
    if let Some(found) = inline {
        return Ok(found);
    }
    let row = sqlx::query(&SQL)
        .bind(id)
        .fetch_optional(db.reader())
        .await?;
    row.as_ref()
        .map(|r| Ok((from_row(r)?, r.try_get("custom_data")?)))
        .transpose()
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
/// Revokes the user's oldest live sessions beyond the newest `cap` (as a statement for a
/// [`crate::db::Script`]: its row count is the number evicted).
///
/// On PostgreSQL, concurrent logins of one user (one API key used by many workers) each evict
/// while the others do: waiting for each other's rows, they deadlocked. `SKIP LOCKED` makes a
/// login leave the rows another one is evicting (or counting past) to it, so none waits: the
/// user may hold a session or two over `cap` until their next login. (SQLite has one writer.)
pub fn evict_beyond_statement(user_id: &str, cap: i64, now: i64, backend: Backend) -> Statement {
    let skip_locked = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    Statement::new(
        format!(
            "UPDATE sessions SET revoked_at = $1, revoke_reason = 'evicted' WHERE id IN ( \
             SELECT id FROM sessions WHERE user_id = $2 AND revoked_at IS NULL \
             ORDER BY created_at DESC, id DESC LIMIT 1000000 OFFSET $3{skip_locked})"
        ),
        vec![now.into(), user_id.into(), cap.into()],
    )
}
