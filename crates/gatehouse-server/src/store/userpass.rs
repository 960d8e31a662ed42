//! Email/password accounts and the single-use tokens mailed for confirmation and reset.
//! An account gets its user on first login (or when linked), as in App Services.

use sqlx::{Any, Executor, Row as _};

use crate::crypto::object_id;

#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub app_id: String,
    pub email: String,
    pub password_hash: String,
    pub confirmed: bool,
    pub user_id: Option<String>,
}

const COLUMNS: &str = "id, app_id, email, password_hash, confirmed_at, user_id";

fn account_from(r: &sqlx::any::AnyRow) -> Result<Account, sqlx::Error> {
    Ok(Account {
        id: r.try_get("id")?,
        app_id: r.try_get("app_id")?,
        email: r.try_get("email")?,
        password_hash: r.try_get("password_hash")?,
        confirmed: r.try_get::<Option<i64>, _>("confirmed_at")?.is_some(),
        user_id: r.try_get("user_id")?,
    })
}

pub async fn by_email<'c>(
    ex: impl Executor<'c, Database = Any>,
    app_id: &str,
    email: &str,
) -> Result<Option<Account>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM userpass WHERE app_id = $1 AND email = $2"
    ))
    .bind(app_id)
    .bind(email)
    .fetch_optional(ex)
    .await?;
    row.as_ref().map(account_from).transpose()
}

pub async fn by_id<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
) -> Result<Option<Account>, sqlx::Error> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM userpass WHERE id = $1"))
        .bind(id)
        .fetch_optional(ex)
        .await?;
    row.as_ref().map(account_from).transpose()
}

pub async fn by_user<'c>(
    ex: impl Executor<'c, Database = Any>,
    user_id: &str,
) -> Result<Option<Account>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM userpass WHERE user_id = $1"
    ))
    .bind(user_id)
    .fetch_optional(ex)
    .await?;
    row.as_ref().map(account_from).transpose()
}

/// Inserts a new account; `Ok(None)` when the email is already taken (unique constraint).
pub async fn insert<'c>(
    ex: impl Executor<'c, Database = Any>,
    app_id: &str,
    email: &str,
    hash: &str,
    confirmed: bool,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    let id = object_id(now);
    let result = sqlx::query(
        "INSERT INTO userpass (id, app_id, email, password_hash, norm_version, confirmed_at, \
         user_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)",
    )
    .bind(&id)
    .bind(app_id)
    .bind(email)
    .bind(hash)
    .bind(crate::password::policy::NORMALIZATION_VERSION)
    .bind(confirmed.then_some(now))
    .bind(now)
    .execute(ex)
    .await;
    match result {
        Ok(_) => Ok(Some(id)),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn set_password<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    hash: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE userpass SET password_hash = $1, norm_version = $2 WHERE id = $3")
        .bind(hash)
        .bind(crate::password::policy::NORMALIZATION_VERSION)
        .bind(id)
        .execute(ex)
        .await?;
    Ok(())
}

pub async fn confirm<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE userpass SET confirmed_at = $1 WHERE id = $2 AND confirmed_at IS NULL")
        .bind(now)
        .bind(id)
        .execute(ex)
        .await?;
    Ok(())
}

/// The fingerprint of a password hash a confirmation token is bound to.
pub fn password_fingerprint(hash: &str) -> String {
    crate::crypto::sha256_hex(format!("gatehouse-password-fp:{hash}").as_bytes())
}

/// Attaches the account to a user unless it already has one; false when someone else won.
pub async fn attach_user<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    user_id: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE userpass SET user_id = $1 WHERE id = $2 AND user_id IS NULL")
        .bind(user_id)
        .bind(id)
        .execute(ex)
        .await?;
    Ok(done.rows_affected() == 1)
}

pub use super::Purpose;

/// Stores a new mailed token (its hash) and voids earlier unused ones of the same purpose
/// (security.md S-19). A confirmation token is bound to the account's current password hash
/// (its fingerprint). Returns the token id.
pub async fn issue_token(
    tx: &mut sqlx::Transaction<'_, Any>,
    account: &Account,
    purpose: Purpose,
    token_hash: &str,
    now: i64,
    ttl: i64,
) -> Result<String, sqlx::Error> {
    sqlx::query(
        "UPDATE email_tokens SET used_at = $1 \
         WHERE userpass_id = $2 AND purpose = $3 AND used_at IS NULL",
    )
    .bind(now)
    .bind(&account.id)
    .bind(purpose.as_str())
    .execute(&mut **tx)
    .await?;
    let id = object_id(now);
    let fingerprint =
        (purpose == Purpose::Confirm).then(|| password_fingerprint(&account.password_hash));
    sqlx::query(
        "INSERT INTO email_tokens (id, app_id, userpass_id, purpose, token_hash, email, \
         expires_at, used_at, created_at, password_fp) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8, $9)",
    )
    .bind(&id)
    .bind(&account.app_id)
    .bind(&account.id)
    .bind(purpose.as_str())
    .bind(token_hash)
    .bind(&account.email)
    .bind(now + ttl)
    .bind(now)
    .bind(fingerprint)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// Consumes a token atomically: the hash is compared in constant time, then a conditional update
/// marks it used, so two concurrent uses cannot both succeed. Returns the account it belongs to,
/// provided the account's email is still the one the token was issued for and, for a
/// confirmation token, its password hash is still the one the token was issued for.
pub async fn consume_token(
    tx: &mut sqlx::Transaction<'_, Any>,
    app_id: &str,
    token_id: &str,
    token_hash: &str,
    purpose: Purpose,
    now: i64,
) -> Result<Option<Account>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT userpass_id, token_hash, email, expires_at, used_at, password_fp \
         FROM email_tokens \
                           WHERE id = $1 AND app_id = $2 AND purpose = $3",
    )
    .bind(token_id)
    .bind(app_id)
    .bind(purpose.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let stored: String = row.try_get("token_hash")?;
    let expires_at: i64 = row.try_get("expires_at")?;
    let used: Option<i64> = row.try_get("used_at")?;
    if !crate::crypto::ct_eq(&stored, token_hash) || used.is_some() || expires_at <= now {
        return Ok(None);
    }
    let done =
        sqlx::query("UPDATE email_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
            .bind(now)
            .bind(token_id)
            .execute(&mut **tx)
            .await?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    let account = by_id(&mut **tx, &row.try_get::<String, _>("userpass_id")?).await?;
    let issued_to: String = row.try_get("email")?;
    let fingerprint: Option<String> = row.try_get("password_fp")?;
    Ok(account.filter(|a| {
        a.email == issued_to
            && (purpose != Purpose::Confirm
                || fingerprint.as_deref().is_some_and(|fp| {
                    crate::crypto::ct_eq(fp, &password_fingerprint(&a.password_hash))
                }))
    }))
}

/// The address a token was issued for, provided the token is right, unused and unexpired —
/// without consuming it (a reset checks its token before the costly hashing of the new
/// password, then consumes it with [`consume_token`]).
pub async fn check_token<'c>(
    ex: impl Executor<'c, Database = Any>,
    app_id: &str,
    token_id: &str,
    token_hash: &str,
    purpose: Purpose,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT token_hash, email, expires_at, used_at FROM email_tokens \
         WHERE id = $1 AND app_id = $2 AND purpose = $3",
    )
    .bind(token_id)
    .bind(app_id)
    .bind(purpose.as_str())
    .fetch_optional(ex)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let stored: String = row.try_get("token_hash")?;
    let expires_at: i64 = row.try_get("expires_at")?;
    let used: Option<i64> = row.try_get("used_at")?;
    if !crate::crypto::ct_eq(&stored, token_hash) || used.is_some() || expires_at <= now {
        return Ok(None);
    }
    Ok(Some(row.try_get("email")?))
}

/// Removes an account that never got confirmed (a registration its confirmation function refused).
pub async fn delete_unconfirmed<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM userpass WHERE id = $1 AND confirmed_at IS NULL AND user_id IS NULL")
        .bind(id)
        .execute(ex)
        .await?;
    Ok(())
}
