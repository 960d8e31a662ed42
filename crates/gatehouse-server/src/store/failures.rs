//! Consecutive failed logins per (app, account name). Kept for unknown names too, so throttling
//! behaves identically whether or not an account exists (no enumeration through 429s).

use sqlx::{Any, Executor, Row as _};

#[derive(Debug, Clone, Copy, Default)]
pub struct Failures {
    pub count: i64,
    pub last_failure_at: i64,
    pub window_start: i64,
}

pub async fn get<'c>(ex: impl Executor<'c, Database = Any>, app_id: &str, account: &str) -> Result<Failures, sqlx::Error> {
    let row = sqlx::query("SELECT failures, last_failure_at, window_start FROM login_failures WHERE app_id = $1 AND account = $2")
        .bind(app_id).bind(account).fetch_optional(ex).await?;
    Ok(match row {
        Some(r) => Failures { count: r.try_get("failures")?, last_failure_at: r.try_get("last_failure_at")?, window_start: r.try_get("window_start")? },
        None => Failures::default(),
    })
}

/// Stores the counter after one more failure (a new window starts when the old one is over).
pub async fn record<'c>(ex: impl Executor<'c, Database = Any>, app_id: &str, account: &str, next: Failures) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO login_failures (app_id, account, failures, last_failure_at, window_start) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (app_id, account) DO UPDATE SET failures = $3, last_failure_at = $4, window_start = $5")
        .bind(app_id).bind(account).bind(next.count).bind(next.last_failure_at).bind(next.window_start)
        .execute(ex).await?;
    Ok(())
}

pub async fn clear<'c>(ex: impl Executor<'c, Database = Any>, app_id: &str, account: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE app_id = $1 AND account = $2").bind(app_id).bind(account).execute(ex).await?;
    Ok(())
}
