//! The SQL of a phone-number change (`crate::phone_change`): the user's phone account, which
//! number a flow's pending code went to, and moving the account with its identity and profile.

use sqlx::{Any, Executor, Row as _};

use super::Purpose;

/// The phone account attached to `user_id`, if any: its id and number.
pub async fn account_of<'c>(
    ex: impl Executor<'c, Database = Any>,
    user_id: &str,
) -> Result<Option<(String, String)>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, phone FROM phone_accounts WHERE user_id = $1 ORDER BY created_at, id LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(ex)
    .await?;
    row.map(|r| Ok((r.try_get("id")?, r.try_get("phone")?)))
        .transpose()
}

/// The number the newest unused change code of `flow` was texted to.
pub async fn pending_number<'c>(
    ex: impl Executor<'c, Database = Any>,
    app_id: &str,
    flow: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT phone FROM sms_codes WHERE app_id = $1 AND purpose = $2 AND flow = $3 \
         AND used_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(app_id)
    .bind(Purpose::ChangePhone.as_str())
    .bind(flow)
    .fetch_optional(ex)
    .await
}

/// Moves the account from `from` to `to` (only while it still has `from`), and the number its
/// identity and profile carry with it. False when the account no longer has `from`; a unique
/// violation when `to` was taken meanwhile.
pub async fn move_number(
    tx: &mut sqlx::Transaction<'_, Any>,
    (account_id, user_id): (&str, &str),
    (from, to): (&str, &str),
) -> Result<bool, sqlx::Error> {
    let moved = sqlx::query("UPDATE phone_accounts SET phone = $1 WHERE id = $2 AND phone = $3")
        .bind(to)
        .bind(account_id)
        .bind(from)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if moved != 1 {
        return Ok(false);
    }
    super::users::set_identity_field(tx, (user_id, account_id), "phone", to).await?;
    if let Some(user) = super::users::get(&mut **tx, user_id).await? {
        let mut data = user.data;
        data.insert("phone".into(), to.into());
        super::users::set_data(&mut **tx, user_id, &data).await?;
    }
    Ok(true)
}
