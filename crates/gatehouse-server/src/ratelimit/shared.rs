//! Token buckets shared by every instance on one PostgreSQL database (`[rate_limits] shared =
//! true`, issue 14): a client that spreads its requests over several instances gets the budget
//! it would get from one. Each bucket is a row of `rate_buckets` (tokens left at a wall-clock
//! time, refilled at its rate on the next use), and every take is decided in the database.
//!
//! Batching keeps that cheap: one task per instance collects the takes that arrive while the
//! previous round trip is in flight and decides them all with one multi-row upsert (one row
//! per bucket, its `wanted` count; the database answers how many it `granted`). Under load a
//! round trip decides hundreds of requests; idle, a request waits one round trip. Rows are
//! written in bucket order so that concurrent batches of different instances cannot deadlock.
//! A database that does not answer fails the request with 503, as the request itself would.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::Row as _;
use tokio::sync::{mpsc, oneshot};

use crate::db::Db;
use crate::error::ApiError;

/// At most this many buckets per round trip (7 parameters each, far below PostgreSQL's 65,535).
const MAX_BATCH: usize = 512;
/// Takes waiting for the batcher; beyond that, callers wait for room (backpressure).
const QUEUE: usize = 8192;

/// One request's take from a bucket.
struct Take {
    bucket: String,
    capacity: f64,
    rate: f64,
    reply: oneshot::Sender<Result<(), ApiError>>,
}

#[derive(Debug, Clone)]
pub struct SharedBuckets {
    takes: mpsc::Sender<Take>,
    /// The database, for the shared send windows ([`super::shared_sends`]).
    db: Db,
}

impl SharedBuckets {
    /// Starts the batcher on `db` (PostgreSQL).
    pub fn start(db: Db) -> SharedBuckets {
        let (takes, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(db.clone(), queue));
        SharedBuckets { takes, db }
    }

    /// Takes one token from `bucket` (`capacity` tokens, refilled at `rate` per second), or
    /// answers 429 with the seconds until one is back.
    pub async fn take(&self, bucket: String, capacity: f64, rate: f64) -> Result<(), ApiError> {
        let (reply, answer) = oneshot::channel();
        let take = Take {
            bucket,
            capacity,
            rate,
            reply,
        };
        let gone = || ApiError::unavailable("the rate limiter stopped; try again shortly");
        self.takes.send(take).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    pub fn db(&self) -> &Db {
        &self.db
    }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

async fn run(db: Db, mut queue: mpsc::Receiver<Take>) {
    while let Some(first) = queue.recv().await {
        let mut by_bucket: BTreeMap<String, Vec<Take>> = BTreeMap::new();
        by_bucket
            .entry(first.bucket.clone())
            .or_default()
            .push(first);
        while by_bucket.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(take) => by_bucket.entry(take.bucket.clone()).or_default().push(take),
                Err(_) => break,
            }
        }
        decide(&db, by_bucket).await;
    }
}

/// The upsert: a new bucket starts full; an existing one is refilled for the time since its
/// last use, then gives what it has of what was wanted. SET expressions read the old row.
fn statement(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|i| {
            let p = i * 7;
            format!(
                "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6,
                p + 7
            )
        })
        .collect();
    let refilled = "LEAST(excluded.capacity, b.tokens + GREATEST(0, excluded.at - b.at) * \
                    excluded.rate)";
    format!(
        "INSERT INTO rate_buckets AS b (bucket, tokens, at, wanted, capacity, rate, granted) \
         VALUES {} ON CONFLICT (bucket) DO UPDATE SET \
         granted = LEAST(excluded.wanted, FLOOR({refilled})), \
         tokens = {refilled} - LEAST(excluded.wanted, FLOOR({refilled})), \
         at = GREATEST(b.at, excluded.at), wanted = excluded.wanted, \
         capacity = excluded.capacity, rate = excluded.rate \
         RETURNING bucket, granted, tokens",
        values.join(", ")
    )
}

async fn decide(db: &Db, mut by_bucket: BTreeMap<String, Vec<Take>>) {
    let at = now_secs();
    let sql = statement(by_bucket.len());
    let mut query = sqlx::query(&sql);
    for (bucket, takes) in &by_bucket {
        let (capacity, rate) = (takes[0].capacity, takes[0].rate);
        let wanted = takes.len() as f64;
        let granted = wanted.min(capacity.floor());
        query = query
            .bind(bucket.as_str())
            .bind(capacity - granted)
            .bind(at)
            .bind(wanted)
            .bind(capacity)
            .bind(rate)
            .bind(granted);
    }
    let rows = match query.fetch_all(db.writer()).await {
        Ok(rows) => rows,
        Err(e) => {
            let e = ApiError::from(e);
            for take in by_bucket.into_values().flatten() {
                let _ = take.reply.send(Err(e.clone()));
            }
            return;
        }
    };
    for row in rows {
        let (Ok(bucket), Ok(granted), Ok(tokens)) = (
            row.try_get::<String, _>("bucket"),
            row.try_get::<f64, _>("granted"),
            row.try_get::<f64, _>("tokens"),
        ) else {
            continue;
        };
        let Some(takes) = by_bucket.remove(&bucket) else {
            continue;
        };
        for (i, take) in takes.into_iter().enumerate() {
            let answer = if (i as f64) < granted {
                Ok(())
            } else {
                let wait = ((1.0 - tokens) / take.rate.max(f64::MIN_POSITIVE)).ceil();
                Err(ApiError::too_many_requests(wait.max(1.0) as u64))
            };
            let _ = take.reply.send(answer);
        }
    }
    // A row the database did not return (cannot happen with RETURNING): fail closed.
    for take in by_bucket.into_values().flatten() {
        let _ = take.reply.send(Err(ApiError::unavailable(
            "the rate limiter lost an answer",
        )));
    }
}

/// Deletes buckets that have been full again for a while (maintenance): a missing row is a
/// full bucket, so nothing changes for anyone.
pub async fn prune(db: &Db) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query("DELETE FROM rate_buckets WHERE at + (capacity - tokens) / rate < $1 - 3600")
            .bind(now_secs())
            .execute(db.writer())
            .await?;
    Ok(done.rows_affected())
}
