//! Mail and SMS send limits shared by every instance on one PostgreSQL database
//! (`[rate_limits] shared = true`, issue 14), beside the shared buckets of [`super::shared`].
//!
//! These limits are rolling windows of past sends (one mail of a kind per address per minute
//! and five per hour; the SMS budgets per number, per client and for the whole server), not
//! token buckets: each send is a row of `send_log` under every key it counts against, and a
//! send fits when no window already holds its limit. Deciding and recording happen in one
//! transaction that first takes each key's advisory lock, in key order (no deadlock between
//! instances): a second instance asked to send to the same address waits for the first one's
//! answer, then sees its row. Sends are rare next to logins, so one transaction each is cheap.

use std::collections::BTreeSet;

use crate::db::Db;

/// At most `limit` sends under `key` in any `secs` seconds.
#[derive(Debug, Clone)]
pub struct Window {
    pub key: String,
    pub secs: i64,
    pub limit: u32,
}

/// The longest window: rows older than this count against nothing (maintenance prunes them).
const LONGEST_SECS: i64 = 24 * 3600;

/// A send that does not fit.
#[derive(Debug)]
pub struct Full {
    /// Seconds until it would fit every window.
    pub wait: u64,
    /// Which of the windows are full (indexes into the caller's list).
    pub windows: Vec<usize>,
}

/// Records one send at `now` against every window, if it fits them all: `None`. Otherwise
/// nothing is recorded, and the answer says when it would fit.
pub async fn try_send(db: &Db, windows: &[Window], now: i64) -> Result<Option<Full>, sqlx::Error> {
    let keys: BTreeSet<&str> = windows.iter().map(|w| w.key.as_str()).collect();
    let mut tx = db.writer().begin().await?;
    for key in &keys {
        // `count(*)` because the lock function returns void, which the Any driver cannot read.
        sqlx::query(
            "SELECT count(*) FROM (SELECT pg_advisory_xact_lock(hashtextextended($1, 14))) AS l",
        )
        .bind(*key)
        .fetch_one(&mut *tx)
        .await?;
    }
    let mut wait: Option<i64> = None;
    let mut full = Vec::new();
    for (i, w) in windows.iter().enumerate() {
        // The limit-th newest send still inside the window makes the window full until it
        // leaves it.
        let nth_newest: Option<i64> = sqlx::query_scalar(
            "SELECT sent_at FROM send_log WHERE key = $1 AND sent_at > $2 \
             ORDER BY sent_at DESC LIMIT 1 OFFSET $3",
        )
        .bind(&w.key)
        .bind(now - w.secs)
        .bind(i64::from(w.limit.max(1)) - 1)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(sent_at) = nth_newest {
            let until = (sent_at + w.secs - now).max(1);
            wait = Some(wait.map_or(until, |w| w.max(until)));
            full.push(i);
        }
    }
    if let Some(wait) = wait {
        tx.rollback().await?;
        return Ok(Some(Full {
            wait: wait as u64,
            windows: full,
        }));
    }
    for key in keys {
        sqlx::query("INSERT INTO send_log (key, sent_at) VALUES ($1, $2)")
            .bind(key)
            .bind(now)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(None)
}

/// Now, in Unix seconds: the wall clock every instance shares (not the server's test clock).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Deletes sends older than the longest window (maintenance).
pub async fn prune(db: &Db) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM send_log WHERE sent_at <= $1")
        .bind(now() - LONGEST_SECS)
        .execute(db.writer())
        .await?;
    Ok(done.rows_affected())
}
