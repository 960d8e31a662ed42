//! Detaching one identity from a user, in one transaction with what hangs on it.

use gatehouse_proto::routes::provider;
use sqlx::Any;

/// Deletes the identity `(provider_type, subject)` of `user_id`. An email/password or
/// phone/password identity's account is detached too (it signs in as a new user afterwards), and
/// the user's other live sessions opened through that provider end. Returns false when the user
/// has no such identity.
pub async fn detach(
    tx: &mut sqlx::Transaction<'_, Any>,
    user_id: &str,
    provider_type: &str,
    subject: &str,
    keep_session: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let gone = sqlx::query(
        "DELETE FROM identities WHERE user_id = $1 AND provider_type = $2 AND subject = $3",
    )
    .bind(user_id)
    .bind(provider_type)
    .bind(subject)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if gone == 0 {
        return Ok(false);
    }
    let table = match provider_type {
        provider::USERPASS => Some("userpass"),
        provider::PHONE_PASSWORD => Some("phone_accounts"),
        _ => None,
    };
    if let Some(table) = table {
        sqlx::query(&format!(
            "UPDATE {table} SET user_id = NULL WHERE id = $1 AND user_id = $2"
        ))
        .bind(subject)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query(
        "UPDATE sessions SET revoked_at = $1, revoke_reason = 'identity unlinked' \
         WHERE user_id = $2 AND provider_type = $3 AND revoked_at IS NULL AND id <> $4",
    )
    .bind(now)
    .bind(user_id)
    .bind(provider_type)
    .bind(keep_session)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}
