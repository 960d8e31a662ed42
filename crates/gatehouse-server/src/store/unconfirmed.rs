//! What the two password tables (`userpass` for email, `phone_accounts` for phone numbers) share
//! about accounts that are not confirmed yet: a new registration of the same address replaces the
//! password, and a confirmation counts only for the password it was issued for (so a link or code
//! from before a re-registration confirms nothing: no pre-registration hijack).

use sqlx::{Any, Executor};

/// Which password table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordTable {
    Userpass,
    Phone,
}

impl PasswordTable {
    fn name(self) -> &'static str {
        match self {
            PasswordTable::Userpass => "userpass",
            PasswordTable::Phone => "phone_accounts",
        }
    }
}

/// Confirms the account only while its password hash is still `hash` (the one the token or code
/// was issued for); false when a re-registration replaced it meanwhile or it was confirmed.
pub async fn confirm_bound<'c>(
    ex: impl Executor<'c, Database = Any>,
    table: PasswordTable,
    id: &str,
    hash: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "UPDATE {} SET confirmed_at = $1 \
         WHERE id = $2 AND confirmed_at IS NULL AND password_hash = $3",
        table.name()
    );
    let done = sqlx::query(&sql)
        .bind(now)
        .bind(id)
        .bind(hash)
        .execute(ex)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces the password of a still unconfirmed account (the newest registrant's password wins);
/// false when the account is confirmed.
pub async fn replace_password<'c>(
    ex: impl Executor<'c, Database = Any>,
    table: PasswordTable,
    id: &str,
    hash: &str,
) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "UPDATE {} SET password_hash = $1, norm_version = $2 \
         WHERE id = $3 AND confirmed_at IS NULL",
        table.name()
    );
    let done = sqlx::query(&sql)
        .bind(hash)
        .bind(crate::password::policy::NORMALIZATION_VERSION)
        .bind(id)
        .execute(ex)
        .await?;
    Ok(done.rows_affected() == 1)
}
