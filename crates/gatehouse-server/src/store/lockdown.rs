//! Removing every other way into a user after a password reset the owner did not expect: its API
//! keys, its identities but one, and the phone or other email accounts attached to it.

use gatehouse_proto::routes::provider;
use sqlx::Any;

/// Deletes the user's API keys, every identity but `keep_account`'s email/password one, and the
/// other local accounts attached to the user, inside the caller's transaction. Returns how many
/// keys and identities went.
pub async fn strip_user(
    tx: &mut sqlx::Transaction<'_, Any>,
    user_id: &str,
    keep_account: &str,
) -> Result<(u64, u64), sqlx::Error> {
    let keys = sqlx::query("DELETE FROM api_keys WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    let identities = sqlx::query(
        "DELETE FROM identities WHERE user_id = $1 \
         AND NOT (provider_type = $2 AND subject = $3)",
    )
    .bind(user_id)
    .bind(provider::USERPASS)
    .bind(keep_account)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    sqlx::query("DELETE FROM phone_accounts WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM userpass WHERE user_id = $1 AND id <> $2")
        .bind(user_id)
        .bind(keep_account)
        .execute(&mut **tx)
        .await?;
    Ok((keys, identities))
}
