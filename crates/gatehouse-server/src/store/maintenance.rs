//! Pruning rows that no longer matter: sessions ended or expired long ago (kept a while for the
//! audit trail), expired mailed tokens, stale failure counters, activity older than
//! `[activity] keep_days` (90 by default), expired "this wasn't me" links and email-change links,
//! second-factor challenges and passkey ceremonies.

use crate::db::Db;

/// How long ended sessions stay visible before they are deleted.
pub const KEEP_ENDED_SESSIONS_SECS: i64 = 30 * 24 * 3600;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub sessions: u64,
    pub tokens: u64,
    pub failures: u64,
    pub activity: u64,
    /// Second-factor challenges and passkey ceremonies.
    pub second_factor: u64,
}

/// [`prune_keeping`] with the default activity retention.
pub async fn prune(db: &Db, now: i64, failure_window_secs: i64) -> Result<Pruned, sqlx::Error> {
    prune_keeping(db, now, failure_window_secs, super::activity::KEEP_SECS).await
}

/// One maintenance round; activity events older than `activity_keep_secs` go.
pub async fn prune_keeping(
    db: &Db,
    now: i64,
    failure_window_secs: i64,
    activity_keep_secs: i64,
) -> Result<Pruned, sqlx::Error> {
    let cutoff = now - KEEP_ENDED_SESSIONS_SECS;
    let sessions = sqlx::query(
        "DELETE FROM sessions WHERE (revoked_at IS NOT NULL AND revoked_at \
         < $1) OR expires_at < $1",
    )
    .bind(cutoff)
    .execute(db.writer())
    .await?
    .rows_affected();
    let tokens = sqlx::query("DELETE FROM email_tokens WHERE expires_at < $1")
        .bind(now - 24 * 3600)
        .execute(db.writer())
        .await?
        .rows_affected();
    let failures = sqlx::query("DELETE FROM login_failures WHERE last_failure_at < $1")
        .bind(now - failure_window_secs)
        .execute(db.writer())
        .await?
        .rows_affected();
    // Flows are kept a day past expiry so a late replayed code still finds (and revokes) its
    // session.
    sqlx::query("DELETE FROM oauth_flows WHERE expires_at < $1")
        .bind(now - 24 * 3600)
        .execute(db.writer())
        .await?;
    sqlx::query("DELETE FROM used_jtis WHERE expires_at < $1")
        .bind(now)
        .execute(db.writer())
        .await?;
    let activity = super::activity::prune(db.writer(), now - activity_keep_secs).await?;
    // Expired links are kept a day, so a late click still hears "expired", not "unknown".
    super::device_alerts::prune(db.writer(), now - 24 * 3600).await?;
    sqlx::query("DELETE FROM email_changes WHERE expires_at < $1")
        .bind(now - 24 * 3600)
        .execute(db.writer())
        .await?;
    // Second-factor challenges and passkey ceremonies are single use and minutes long; a day
    // past expiry a late answer still hears "expired".
    crate::ratelimit::shared::prune(db).await?;
    crate::ratelimit::shared_sends::prune(db).await?;
    let second_factor = super::mfa::prune_challenges(db.writer(), now - 24 * 3600).await?
        + super::passkeys::prune_ceremonies(db.writer(), now - 24 * 3600).await?;
    Ok(Pruned {
        sessions,
        tokens,
        failures,
        activity,
        second_factor,
    })
}
