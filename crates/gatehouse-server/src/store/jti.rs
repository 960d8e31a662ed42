//! One-time external tokens already used, kept until the token expires: custom-token JWTs by
//! their `jti` (S-53), Google and Apple ID tokens by their `jti` or hash (issue 12, item 17).

use sqlx::{Any, Executor};

/// Records `once` for `provider`; false when it was seen before (a replay). Each provider has
/// its own namespace, so one issuer's ids cannot use up another's.
pub async fn remember_for<'c>(
    ex: impl Executor<'c, Database = Any>,
    app_id: &str,
    provider: &str,
    once: &str,
    expires_at: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO used_jtis (app_id, jti, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(app_id)
    .bind(format!("{provider}:{once}"))
    .bind(expires_at)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}
