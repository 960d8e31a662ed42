//! Consecutive failed logins per (app, account name). Kept for unknown names too, so throttling
//! behaves identically whether or not an account exists (no enumeration through 429s).

use sqlx::{Any, Executor, Row as _};

#[derive(Debug, Clone, Copy, Default)]
pub struct Failures {
    pub count: i64,
    pub last_failure_at: i64,
    pub window_start: i64,
}

pub async fn get<'c>(
    ex: impl Executor<'c, Database = Any>,
    app_id: &str,
    account: &str,
) -> Result<Failures, sqlx::Error> {
    let row = sqlx::query(
        "SELECT failures, last_failure_at, window_start FROM login_failures \
         WHERE app_id = $1 AND account = $2",
    )
    .bind(app_id)
    .bind(account)
    .fetch_optional(ex)
    .await?;
    Ok(match row {
        Some(r) => Failures {
            count: r.try_get("failures")?,
            last_failure_at: r.try_get("last_failure_at")?,
            window_start: r.try_get("window_start")?,
        },
        None => Failures::default(),
    })
}

/// Counts one more attempt for the account, atomically, before its password is checked (so
/// concurrent guesses are all counted), and returns the count including this attempt. A window
/// that is over starts again at this attempt, in the same statement. A right password then
/// [`clear`]s the counter.
pub async fn count_attempt<'c>(
    ex: impl Executor<'c, Database = Any>,
    app_id: &str,
    account: &str,
    now: i64,
    window_secs: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO login_failures (app_id, account, failures, last_failure_at, window_start) \
         VALUES ($1, $2, 1, $3, $3) \
         ON CONFLICT (app_id, account) DO UPDATE SET \
         failures = CASE WHEN $3 - login_failures.window_start >= $4 THEN 1 \
                    ELSE login_failures.failures + 1 END, \
         window_start = CASE WHEN $3 - login_failures.window_start >= $4 THEN $3 \
                        ELSE login_failures.window_start END, \
         last_failure_at = $3 \
         RETURNING failures",
    )
    .bind(app_id)
    .bind(account)
    .bind(now)
    .bind(window_secs)
    .fetch_one(ex)
    .await
}

pub async fn clear<'c>(
    ex: impl Executor<'c, Database = Any>,
    app_id: &str,
    account: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE app_id = $1 AND account = $2")
        .bind(app_id)
        .bind(account)
        .execute(ex)
        .await?;
    Ok(())
}
