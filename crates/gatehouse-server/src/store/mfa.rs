//! Second factors, recovery codes and sign-in challenges (issue 13). TOTP secrets arrive here
//! already sealed (`mfa::secret_box`), recovery codes as SHA-256 hashes; every single-use rule
//! (a challenge, a code, a TOTP step) is decided by one conditional UPDATE, so two concurrent
//! requests can never both win.

use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row as _};

#[derive(Clone)]
pub struct FactorRow {
    pub id: String,
    pub user_id: String,
    pub app_id: String,
    /// `totp` or `passkey` (`gatehouse_proto::mfa::kind`).
    pub kind: String,
    pub name: String,
    /// The sealed TOTP secret (never the secret itself).
    pub secret_enc: Option<String>,
    /// A passkey's credential (JSON).
    pub credential: Option<String>,
    pub confirmed: bool,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// The TOTP step accepted last (replay guard).
    pub last_step: Option<i64>,
}

impl std::fmt::Debug for FactorRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FactorRow")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("kind", &self.kind)
            .field("confirmed", &self.confirmed)
            .finish_non_exhaustive()
    }
}

impl FactorRow {
    pub fn to_wire(&self) -> gatehouse_proto::mfa::MfaFactor {
        gatehouse_proto::mfa::MfaFactor {
            id: self.id.clone(),
            kind: self.kind.clone(),
            name: self.name.clone(),
            confirmed: self.confirmed,
            created_at: self.created_at,
            last_used_at: self.last_used_at,
        }
    }
}

const FACTOR_COLUMNS: &str = "id, user_id, app_id, kind, name, secret_enc, credential, confirmed, \
                              created_at, last_used_at, last_step";

fn factor(r: &AnyRow) -> Result<FactorRow, sqlx::Error> {
    Ok(FactorRow {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        app_id: r.try_get("app_id")?,
        kind: r.try_get("kind")?,
        name: r.try_get("name")?,
        secret_enc: r.try_get("secret_enc")?,
        credential: r.try_get("credential")?,
        confirmed: r.try_get::<i64, _>("confirmed")? != 0,
        created_at: r.try_get("created_at")?,
        last_used_at: r.try_get("last_used_at")?,
        last_step: r.try_get("last_step")?,
    })
}

pub async fn insert_factor<'c>(
    ex: impl Executor<'c, Database = Any>,
    row: &FactorRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO mfa_factors ({FACTOR_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    ))
    .bind(&row.id)
    .bind(&row.user_id)
    .bind(&row.app_id)
    .bind(&row.kind)
    .bind(&row.name)
    .bind(row.secret_enc.as_deref())
    .bind(row.credential.as_deref())
    .bind(i64::from(row.confirmed))
    .bind(row.created_at)
    .bind(row.last_used_at)
    .bind(row.last_step)
    .execute(ex)
    .await?;
    Ok(())
}

/// The user's factors, oldest first (unconfirmed ones included).
pub async fn factors<'c>(
    ex: impl Executor<'c, Database = Any>,
    user_id: &str,
) -> Result<Vec<FactorRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {FACTOR_COLUMNS} FROM mfa_factors WHERE user_id = $1 ORDER BY created_at, id"
    ))
    .bind(user_id)
    .fetch_all(ex)
    .await?
    .iter()
    .map(factor)
    .collect()
}

pub async fn factor_of<'c>(
    ex: impl Executor<'c, Database = Any>,
    user_id: &str,
    id: &str,
) -> Result<Option<FactorRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {FACTOR_COLUMNS} FROM mfa_factors WHERE id = $1 AND user_id = $2"
    ))
    .bind(id)
    .bind(user_id)
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(factor)
    .transpose()
}

/// Removes the user's unconfirmed factors of `kind` (a new enrolment replaces them).
pub async fn delete_unconfirmed<'c>(
    ex: impl Executor<'c, Database = Any>,
    user_id: &str,
    kind: &str,
) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM mfa_factors WHERE user_id = $1 AND kind = $2 AND confirmed = 0")
            .bind(user_id)
            .bind(kind)
            .execute(ex)
            .await?
            .rows_affected(),
    )
}

/// Marks the factor confirmed with its first accepted step; false when it was confirmed
/// already (or is gone).
pub async fn confirm<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    step: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE mfa_factors SET confirmed = 1, last_step = $2, last_used_at = $3 \
         WHERE id = $1 AND confirmed = 0",
    )
    .bind(id)
    .bind(step)
    .bind(now)
    .execute(ex)
    .await?
    .rows_affected()
        == 1)
}

/// Records `step` as used; false when this step (or a later one) was used already — the
/// replay guard, decided by the UPDATE.
pub async fn use_step<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    step: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE mfa_factors SET last_step = $2, last_used_at = $3 \
         WHERE id = $1 AND (last_step IS NULL OR last_step < $2)",
    )
    .bind(id)
    .bind(step)
    .bind(now)
    .execute(ex)
    .await?
    .rows_affected()
        == 1)
}

/// Stamps a factor's last use (passkeys: the step guard is TOTP's only).
pub async fn touch_factor<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE mfa_factors SET last_used_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(ex)
        .await?;
    Ok(())
}

pub async fn delete_factor<'c>(
    ex: impl Executor<'c, Database = Any>,
    user_id: &str,
    id: &str,
) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM mfa_factors WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(ex)
            .await?
            .rows_affected()
            == 1,
    )
}

/// Replaces the user's recovery codes with these hashes (the old ones are void).
pub async fn replace_codes(
    tx: &mut sqlx::Transaction<'_, Any>,
    user_id: &str,
    hashes: &[String],
) -> Result<(), sqlx::Error> {
    delete_codes(&mut **tx, user_id).await?;
    for hash in hashes {
        sqlx::query("INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES ($1, $2)")
            .bind(user_id)
            .bind(hash)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

pub async fn delete_codes<'c>(
    ex: impl Executor<'c, Database = Any>,
    user_id: &str,
) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
            .bind(user_id)
            .execute(ex)
            .await?
            .rows_affected(),
    )
}

/// Uses the unused code with this hash; false when there is none (wrong, or used already).
pub async fn use_code<'c>(
    ex: impl Executor<'c, Database = Any>,
    user_id: &str,
    code_hash: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE mfa_recovery_codes SET used_at = $3 \
         WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
    )
    .bind(user_id)
    .bind(code_hash)
    .bind(now)
    .execute(ex)
    .await?
    .rows_affected()
        == 1)
}

pub async fn codes_left<'c>(
    ex: impl Executor<'c, Database = Any>,
    user_id: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query(
        "SELECT COUNT(*) AS n FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
    )
    .bind(user_id)
    .fetch_one(ex)
    .await?
    .try_get("n")
}

/// A sign-in waiting for its second factor.
#[derive(Debug, Clone)]
pub struct ChallengeRow {
    pub id: String,
    pub app_id: String,
    pub user_id: String,
    /// The first factor's provider: the session opened at the end is of this provider.
    pub provider_type: String,
    /// The device id the first login sent (lower case), if it sent one.
    pub device_id: Option<String>,
    /// `verify` or `enroll`.
    pub kind: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub attempts: i64,
    /// Passkey answers (H2): the hash of the one-time code the passkey page handed out, and
    /// the PKCE challenge it is bound to.
    pub passkey_code_hash: Option<String>,
    pub code_challenge: Option<String>,
}

pub const CHALLENGE_VERIFY: &str = "verify";
pub const CHALLENGE_ENROLL: &str = "enroll";

const CHALLENGE_COLUMNS: &str = "id, app_id, user_id, provider_type, device_id, kind, created_at, \
                                 expires_at, used_at, attempts, passkey_code_hash, code_challenge";

fn challenge(r: &AnyRow) -> Result<ChallengeRow, sqlx::Error> {
    Ok(ChallengeRow {
        id: r.try_get("id")?,
        app_id: r.try_get("app_id")?,
        user_id: r.try_get("user_id")?,
        provider_type: r.try_get("provider_type")?,
        device_id: r.try_get("device_id")?,
        kind: r.try_get("kind")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        used_at: r.try_get("used_at")?,
        attempts: r.try_get("attempts")?,
        passkey_code_hash: r.try_get("passkey_code_hash")?,
        code_challenge: r.try_get("code_challenge")?,
    })
}

pub async fn insert_challenge<'c>(
    ex: impl Executor<'c, Database = Any>,
    row: &ChallengeRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "INSERT INTO mfa_challenges ({CHALLENGE_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    ))
    .bind(&row.id)
    .bind(&row.app_id)
    .bind(&row.user_id)
    .bind(&row.provider_type)
    .bind(row.device_id.as_deref())
    .bind(&row.kind)
    .bind(row.created_at)
    .bind(row.expires_at)
    .bind(row.used_at)
    .bind(row.attempts)
    .bind(row.passkey_code_hash.as_deref())
    .bind(row.code_challenge.as_deref())
    .execute(ex)
    .await?;
    Ok(())
}

pub async fn challenge_of<'c>(
    ex: impl Executor<'c, Database = Any>,
    app_id: &str,
    id: &str,
) -> Result<Option<ChallengeRow>, sqlx::Error> {
    sqlx::query(&format!(
        "SELECT {CHALLENGE_COLUMNS} FROM mfa_challenges WHERE id = $1 AND app_id = $2"
    ))
    .bind(id)
    .bind(app_id)
    .fetch_optional(ex)
    .await?
    .as_ref()
    .map(challenge)
    .transpose()
}

/// Counts one answer to a live challenge, atomically; None when the challenge is used, expired
/// or has had `max` answers already (then it is void).
pub async fn count_answer<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    now: i64,
    max: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE mfa_challenges SET attempts = attempts + 1 \
         WHERE id = $1 AND used_at IS NULL AND expires_at > $2 AND attempts < $3 \
         RETURNING attempts",
    )
    .bind(id)
    .bind(now)
    .bind(max)
    .fetch_optional(ex)
    .await
}

/// Uses the challenge up; false when another request did first.
pub async fn take_challenge<'c>(
    ex: impl Executor<'c, Database = Any>,
    id: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE mfa_challenges SET used_at = $2 \
         WHERE id = $1 AND used_at IS NULL AND expires_at > $2",
    )
    .bind(id)
    .bind(now)
    .execute(ex)
    .await?
    .rows_affected()
        == 1)
}

/// Every factor, recovery code and open challenge of the user (`admin user reset-mfa`); the number
/// of factors removed.
pub async fn reset_user(
    tx: &mut sqlx::Transaction<'_, Any>,
    user_id: &str,
) -> Result<u64, sqlx::Error> {
    let factors = sqlx::query("DELETE FROM mfa_factors WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    delete_codes(&mut **tx, user_id).await?;
    sqlx::query("DELETE FROM mfa_challenges WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(factors)
}

/// Deletes challenges that expired before `cutoff` (for the maintenance round).
pub async fn prune_challenges<'c>(
    ex: impl Executor<'c, Database = Any>,
    cutoff: i64,
) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM mfa_challenges WHERE expires_at < $1")
            .bind(cutoff)
            .execute(ex)
            .await?
            .rows_affected(),
    )
}
