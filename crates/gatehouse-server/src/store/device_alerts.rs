//! New-device alerts: the devices each user has signed in from, and the single-use "this wasn't
//! me" links the alerts carry (stored as SHA-256 hashes, like every mailed token).

use sqlx::{Any, Executor, Row as _};

use crate::db::Statement;

/// Records `event` (a `new_device` event of `user_id`'s, for a [`crate::db::Script`]) only if
/// the user has signed in before, but never from `device_id`: run before
/// [`remember_statement`] in the same transaction, its row count (1 or 0) says whether this
/// sign-in is from a new device. An account's very first device is not new.
pub fn new_device_event_statement(
    id: &str,
    event: &crate::store::activity::NewEvent<'_>,
    now: i64,
    device_id: &str,
) -> Statement {
    crate::store::activity::record_if_statement(
        id,
        event,
        now,
        "EXISTS (SELECT 1 FROM known_devices WHERE user_id = $3) \
         AND NOT EXISTS (SELECT 1 FROM known_devices WHERE user_id = $3 AND device_id = $9)",
        vec![device_id.into()],
    )
}

/// Remembers that `user_id` signed in from `device_id` (a statement for a
/// [`crate::db::Script`]; nothing when it is known already).
pub fn remember_statement(user_id: &str, device_id: &str, now: i64) -> Statement {
    Statement::new(
        "INSERT INTO known_devices (user_id, device_id, first_seen_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, device_id) DO NOTHING",
        vec![user_id.into(), device_id.into(), now.into()],
    )
}

/// Stores a new link's token hash; returns its id.
pub async fn issue<'c>(
    ex: impl Executor<'c, Database = Any>,
    (app_id, user_id): (&str, &str),
    token_hash: &str,
    now: i64,
    ttl_secs: i64,
) -> Result<String, sqlx::Error> {
    let id = crate::crypto::object_id(now);
    sqlx::query(
        "INSERT INTO device_alerts (id, app_id, user_id, token_hash, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(app_id)
    .bind(user_id)
    .bind(token_hash)
    .bind(now + ttl_secs)
    .execute(ex)
    .await?;
    Ok(id)
}

/// Why a link was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Unknown,
    Used,
    Expired,
}

/// Marks the link used and returns its user, or why not. The UPDATE decides a race: only one of
/// two concurrent submits matches `used_at IS NULL`.
pub async fn consume(
    tx: &mut sqlx::Transaction<'_, Any>,
    (app_id, id): (&str, &str),
    token_hash: &str,
    now: i64,
) -> Result<Result<String, Refused>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT user_id, token_hash, expires_at, used_at FROM device_alerts \
         WHERE id = $1 AND app_id = $2",
    )
    .bind(id)
    .bind(app_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(Err(Refused::Unknown));
    };
    let stored: String = row.try_get("token_hash")?;
    if !crate::crypto::ct_eq(&stored, token_hash) {
        return Ok(Err(Refused::Unknown));
    }
    if row.try_get::<Option<i64>, _>("used_at")?.is_some() {
        return Ok(Err(Refused::Used));
    }
    if row.try_get::<i64, _>("expires_at")? <= now {
        return Ok(Err(Refused::Expired));
    }
    let taken =
        sqlx::query("UPDATE device_alerts SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut **tx)
            .await?
            .rows_affected();
    if taken != 1 {
        return Ok(Err(Refused::Used));
    }
    Ok(Ok(row.try_get("user_id")?))
}

/// Deletes links that expired before `cutoff` (used ones stay until then, so a second click
/// still says "already used").
pub async fn prune<'c>(
    ex: impl Executor<'c, Database = Any>,
    cutoff: i64,
) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM device_alerts WHERE expires_at < $1")
            .bind(cutoff)
            .execute(ex)
            .await?
            .rows_affected(),
    )
}

/// The user's phone number when a phone account with a confirmed number is attached.
pub async fn confirmed_phone<'c>(
    ex: impl Executor<'c, Database = Any>,
    user_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query("SELECT phone FROM phone_accounts WHERE user_id = $1 AND confirmed_at IS NOT NULL")
        .bind(user_id)
        .fetch_optional(ex)
        .await?
        .map(|r| r.try_get("phone"))
        .transpose()
}
