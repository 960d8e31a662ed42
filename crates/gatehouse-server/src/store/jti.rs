//! `jti` values of custom-token JWTs already used, kept until the token expires (S-53).

use sqlx::{Any, Executor};

/// Records the id; false when it was seen before (a replay).
pub async fn remember<'c>(
    ex: impl Executor<'c, Database = Any>,
    app_id: &str,
    jti: &str,
    expires_at: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO used_jtis (app_id, jti, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT DO NOTHING",
    )
    .bind(app_id)
    .bind(jti)
    .bind(expires_at)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}
