//! Pending changes of an email/password account's address: the confirmation link mailed to the
//! new address and, after it was followed, the undo link mailed to the old one. Tokens are stored
//! as SHA-256 hashes and used at most once (a conditional update).

use sqlx::{Any, Executor, Row as _};

use crate::crypto::object_id;

/// Which link a row is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Mailed to the new address; following it makes the change.
    Confirm,
    /// Mailed to the old address after the change; following it restores that address.
    Undo,
}

impl Step {
    fn as_str(self) -> &'static str {
        match self {
            Step::Confirm => "confirm",
            Step::Undo => "undo",
        }
    }
}

/// A change as stored.
#[derive(Debug, Clone)]
pub struct Change {
    pub userpass_id: String,
    pub user_id: String,
    pub old_email: String,
    pub new_email: String,
}

/// Why a link cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Unknown,
    Used,
    Expired,
}

/// Voids every unused link of `step` for the account (a newer request or a finished change
/// makes them worthless). Returns how many.
pub async fn void<'c>(
    ex: impl Executor<'c, Database = Any>,
    userpass_id: &str,
    step: Step,
    now: i64,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE email_changes SET used_at = $1 \
         WHERE userpass_id = $2 AND purpose = $3 AND used_at IS NULL",
    )
    .bind(now)
    .bind(userpass_id)
    .bind(step.as_str())
    .execute(ex)
    .await?
    .rows_affected())
}

/// Stores a new link's token hash; returns its id.
pub async fn insert<'c>(
    ex: impl Executor<'c, Database = Any>,
    (app_id, change): (&str, &Change),
    step: Step,
    token_hash: &str,
    now: i64,
    ttl: i64,
) -> Result<String, sqlx::Error> {
    let id = object_id(now);
    sqlx::query(
        "INSERT INTO email_changes (id, app_id, userpass_id, user_id, purpose, old_email, \
         new_email, token_hash, expires_at, used_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, $10)",
    )
    .bind(&id)
    .bind(app_id)
    .bind(&change.userpass_id)
    .bind(&change.user_id)
    .bind(step.as_str())
    .bind(&change.old_email)
    .bind(&change.new_email)
    .bind(token_hash)
    .bind(now + ttl)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(id)
}

/// Uses a link: the hash is compared in constant time, then a conditional update marks it used,
/// so two concurrent uses cannot both succeed.
pub async fn consume(
    tx: &mut sqlx::Transaction<'_, Any>,
    (app_id, id): (&str, &str),
    step: Step,
    token_hash: &str,
    now: i64,
) -> Result<Result<Change, Refusal>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT userpass_id, user_id, old_email, new_email, token_hash, expires_at, used_at \
         FROM email_changes WHERE id = $1 AND app_id = $2 AND purpose = $3",
    )
    .bind(id)
    .bind(app_id)
    .bind(step.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else {
        return Ok(Err(Refusal::Unknown));
    };
    let stored: String = row.try_get("token_hash")?;
    if !crate::crypto::ct_eq(&stored, token_hash) {
        return Ok(Err(Refusal::Unknown));
    }
    if row.try_get::<Option<i64>, _>("used_at")?.is_some() {
        return Ok(Err(Refusal::Used));
    }
    if row.try_get::<i64, _>("expires_at")? <= now {
        return Ok(Err(Refusal::Expired));
    }
    let done =
        sqlx::query("UPDATE email_changes SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut **tx)
            .await?;
    if done.rows_affected() != 1 {
        return Ok(Err(Refusal::Used));
    }
    Ok(Ok(Change {
        userpass_id: row.try_get("userpass_id")?,
        user_id: row.try_get("user_id")?,
        old_email: row.try_get("old_email")?,
        new_email: row.try_get("new_email")?,
    }))
}

/// Moves the account from `from` to `to` (only if it still has `from`), and the address its
/// identity and profile carry with it. False when the account no longer has `from`; a unique
/// violation when `to` was taken meanwhile.
pub async fn move_address(
    tx: &mut sqlx::Transaction<'_, Any>,
    change: &Change,
    (from, to): (&str, &str),
) -> Result<bool, sqlx::Error> {
    let moved = sqlx::query("UPDATE userpass SET email = $1 WHERE id = $2 AND email = $3")
        .bind(to)
        .bind(&change.userpass_id)
        .bind(from)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if moved != 1 {
        return Ok(false);
    }
    // The identity's subject is the account's own id, so only its identities match.
    super::users::set_identity_field(tx, (&change.user_id, &change.userpass_id), "email", to)
        .await?;
    if let Some(user) = super::users::get(&mut **tx, &change.user_id).await? {
        let mut data = user.data;
        if data.get("email").and_then(|v| v.as_str()) != Some(to) {
            data.insert("email".into(), to.into());
            super::users::set_data(&mut **tx, &change.user_id, &data).await?;
        }
    }
    Ok(true)
}
