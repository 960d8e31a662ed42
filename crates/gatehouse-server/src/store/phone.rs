//! Phone/password accounts and texted one-time codes. Codes are stored as keyed hashes (HMAC with
//! a server secret: six digits are too few for a plain hash), carry an attempt counter, and are
//! consumed by conditional updates so concurrent guesses cannot exceed the attempt limit.

use sqlx::{Any, Executor, Row as _};

use super::Purpose;
use crate::crypto::object_id;

#[derive(Debug, Clone)]
pub struct PhoneAccount {
    pub id: String,
    pub app_id: String,
    pub phone: String,
    pub password_hash: String,
    pub confirmed: bool,
    pub user_id: Option<String>,
}

const COLUMNS: &str = "id, app_id, phone, password_hash, confirmed_at, user_id";

fn from_row(r: &sqlx::any::AnyRow) -> Result<PhoneAccount, sqlx::Error> {
    Ok(PhoneAccount {
        id: r.try_get("id")?,
        app_id: r.try_get("app_id")?,
        phone: r.try_get("phone")?,
        password_hash: r.try_get("password_hash")?,
        confirmed: r.try_get::<Option<i64>, _>("confirmed_at")?.is_some(),
        user_id: r.try_get("user_id")?,
    })
}

pub async fn by_phone<'c>(
    ex: impl Executor<'c, Database = Any>,
    app_id: &str,
    phone: &str,
) -> Result<Option<PhoneAccount>, sqlx::Error> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM phone_accounts WHERE app_id = $1 AND phone = $2"
    ))
    .bind(app_id)
    .bind(phone)
    .fetch_optional(ex)
    .await?;
    row.as_ref().map(from_row).transpose()
}

/// `Ok(None)` when the number already has an account.
pub async fn insert<'c>(
    ex: impl Executor<'c, Database = Any>,
    app_id: &str,
    phone: &str,
    hash: &str,
    confirmed: bool,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    let id = object_id(now);
    let result = sqlx::query(
        "INSERT INTO phone_accounts (id, app_id, phone, password_hash, norm_version, \
         confirmed_at, user_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, NULL, $7)",
    )
    .bind(&id)
    .bind(app_id)
    .bind(phone)
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
    sqlx::query("UPDATE phone_accounts SET password_hash = $1, norm_version = $2 WHERE id = $3")
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
    sqlx::query(
        "UPDATE phone_accounts SET confirmed_at = $1 WHERE id = $2 AND confirmed_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .execute(ex)
    .await?;
    Ok(())
}

pub async fn attach_user<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    user_id: &str,
) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE phone_accounts SET user_id = $1 WHERE id = $2 AND user_id IS NULL")
            .bind(user_id)
            .bind(id)
            .execute(ex)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Stores a new code (its keyed hash), voiding earlier unused codes of the same purpose and
/// flow. `flow` is the PKCE challenge of the sign-in flow that asked (`sms-code`), or empty for
/// codes bound to the number alone (confirm, reset): a send from one flow never voids a code
/// another flow is waiting for.
#[allow(clippy::too_many_arguments)]
pub async fn issue_code(
    tx: &mut sqlx::Transaction<'_, Any>,
    app_id: &str,
    phone: &str,
    purpose: Purpose,
    flow: &str,
    code_hash: &str,
    now: i64,
    ttl: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE sms_codes SET used_at = $1 \
         WHERE app_id = $2 AND phone = $3 AND purpose = $4 AND flow = $5 AND used_at IS NULL",
    )
    .bind(now)
    .bind(app_id)
    .bind(phone)
    .bind(purpose.as_str())
    .bind(flow)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO sms_codes (id, app_id, phone, purpose, flow, code_hash, attempts, \
         expires_at, used_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, NULL, $8)",
    )
    .bind(object_id(now))
    .bind(app_id)
    .bind(phone)
    .bind(purpose.as_str())
    .bind(flow)
    .bind(code_hash)
    .bind(now + ttl)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What checking a code found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    Accepted,
    Wrong,
    Expired,
    AlreadyUsed,
    TooManyAttempts,
    NoCode,
}

/// Checks the newest code of (phone, purpose, flow): a guess reaches only the code of the flow
/// it names, so it can neither redeem nor use up another flow's code. Every guess first takes
/// one of the code's `max_attempts` with a conditional update — so however many guesses arrive
/// at once, at most `max_attempts` are ever compared — and a right guess then consumes the code
/// exactly once.
#[allow(clippy::too_many_arguments)]
pub async fn check_code(
    db: &crate::db::Db,
    app_id: &str,
    phone: &str,
    purpose: Purpose,
    flow: &str,
    presented_hash: &str,
    now: i64,
    max_attempts: i64,
) -> Result<CodeCheck, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, code_hash, attempts, expires_at, used_at FROM sms_codes \
         WHERE app_id = $1 AND phone = $2 AND purpose = $3 AND flow = $4 \
         ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(app_id)
    .bind(phone)
    .bind(purpose.as_str())
    .bind(flow)
    .fetch_optional(db.writer())
    .await?;
    let Some(row) = row else {
        return Ok(CodeCheck::NoCode);
    };
    let id: String = row.try_get("id")?;
    if row.try_get::<Option<i64>, _>("used_at")?.is_some() {
        return Ok(if row.try_get::<i64, _>("attempts")? >= max_attempts {
            CodeCheck::TooManyAttempts
        } else {
            CodeCheck::AlreadyUsed
        });
    }
    if row.try_get::<i64, _>("expires_at")? <= now {
        return Ok(CodeCheck::Expired);
    }
    let took = sqlx::query(
        "UPDATE sms_codes SET attempts = attempts + 1 \
         WHERE id = $1 AND attempts < $2 AND used_at IS NULL",
    )
    .bind(&id)
    .bind(max_attempts)
    .execute(db.writer())
    .await?;
    if took.rows_affected() != 1 {
        return Ok(CodeCheck::TooManyAttempts);
    }
    let stored: String = row.try_get("code_hash")?;
    if !crate::crypto::ct_eq(&stored, presented_hash) {
        // The last allowed wrong guess voids the code, so even the right code fails afterwards.
        sqlx::query(
            "UPDATE sms_codes SET used_at = $1 \
             WHERE id = $2 AND attempts >= $3 AND used_at IS NULL",
        )
        .bind(now)
        .bind(&id)
        .bind(max_attempts)
        .execute(db.writer())
        .await?;
        return Ok(CodeCheck::Wrong);
    }
    let used = sqlx::query("UPDATE sms_codes SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
        .bind(now)
        .bind(&id)
        .execute(db.writer())
        .await?;
    Ok(if used.rows_affected() == 1 {
        CodeCheck::Accepted
    } else {
        CodeCheck::AlreadyUsed
    })
}
