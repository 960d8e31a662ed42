//! Group commit for SQLite (issue 14): with `synchronous=FULL` every commit waits for its own
//! fsync of the WAL, so logins — a few small inserts each — were bound by the disk, not the
//! CPU. One thread owns the batches ([`GroupCommit::start`]): it takes every unit of work
//! waiting (up to [`MAX_BATCH`]), runs each inside one transaction under a SAVEPOINT of its
//! own (a unit that fails is rolled back alone and gets its own error), commits once — one
//! fsync for the batch — and only then answers each caller. So every answered write is on
//! disk, exactly as before; concurrent writers just share the wait. An idle server runs a
//! batch of one at once. Units are serial (one writer), so each round trip to the connection
//! inside a unit costs every unit behind it: a unit sends its writes as one
//! [`super::Script`] where it can.
//!
//! PostgreSQL runs the same units in their own transactions on its pool (it has many writer
//! connections and its own group commit).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sqlx::{Any, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::{Backend, Db};

/// At most this many units per transaction.
const MAX_BATCH: usize = 256;
/// Units waiting for the batcher; beyond that, callers wait for room.
const QUEUE: usize = 4096;

/// A write transaction shared by a batch.
pub type Tx = Transaction<'static, Any>;

/// A boxed future borrowing the transaction.
pub type BoxFuture<'t, T> = Pin<Box<dyn Future<Output = T> + Send + 't>>;

/// What a unit reports to the batcher: whether to keep its writes, and how to answer its
/// caller once the batch's commit is known.
struct Outcome {
    keep: bool,
    answer: Box<dyn FnOnce(Result<(), sqlx::Error>) + Send>,
}

type Unit = Box<dyn for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Outcome> + Send>;

#[derive(Debug, Clone)]
pub struct GroupCommit {
    units: mpsc::Sender<Unit>,
    /// Transactions committed (or tried) so far: units per batch = units / this.
    batches: Arc<AtomicU64>,
}

impl GroupCommit {
    /// Starts the batcher on a thread of its own, with a single-threaded runtime: a batch is a
    /// chain of statements, each a round trip to sqlx's connection thread, and on the server's
    /// runtime every answer from that thread queued behind the HTTP requests being served before
    /// the batcher could send the next statement (logins were bound by that wait). The thread
    /// ends when every sender is gone.
    pub fn start(db: Db) -> std::io::Result<GroupCommit> {
        let (units, queue) = mpsc::channel(QUEUE);
        let batches = Arc::new(AtomicU64::new(0));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let counted = batches.clone();
        std::thread::Builder::new()
            .name("gatehouse-group-commit".into())
            .spawn(move || runtime.block_on(run(db, queue, counted)))?;
        Ok(GroupCommit { units, batches })
    }

    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }
}

impl Db {
    /// Runs `work` in a write transaction and answers once it is committed: batched with
    /// concurrent callers on SQLite (one fsync for all), alone on PostgreSQL. An `Err` from
    /// `work` rolls back its writes only. `work` must be quick database work: the batch waits
    /// for it (tokens are signed, webhooks asked, mail sent after, never inside).
    pub async fn write<T, E, F>(&self, work: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<sqlx::Error> + Send + 'static,
        F: for<'t> FnOnce(&'t mut Tx) -> BoxFuture<'t, Result<T, E>> + Send + 'static,
    {
        let Some(batcher) = &self.group_commit else {
            let mut tx = self.writer.begin().await?;
            let value = work(&mut tx).await?;
            tx.commit().await?;
            return Ok(value);
        };
        let (reply, answer) = oneshot::channel::<Result<T, E>>();
        let unit: Unit = Box::new(move |tx| {
            Box::pin(async move {
                let result = work(tx).await;
                Outcome {
                    keep: result.is_ok(),
                    answer: Box::new(move |committed| {
                        let _ = reply.send(match committed {
                            Ok(()) => result,
                            Err(e) => Err(E::from(e)),
                        });
                    }),
                }
            })
        });
        let stopped = || sqlx::Error::PoolClosed;
        batcher
            .units
            .send(unit)
            .await
            .map_err(|_| E::from(stopped()))?;
        answer.await.map_err(|_| E::from(stopped()))?
    }

    /// How many batch transactions the group commit has run (None: no batching, PostgreSQL);
    /// units answered divided by this is the batch size.
    pub fn write_batches(&self) -> Option<u64> {
        self.group_commit.as_ref().map(GroupCommit::batches)
    }

    /// The batcher, for SQLite only.
    pub(super) fn with_group_commit(mut self) -> std::io::Result<Db> {
        if self.backend == Backend::Sqlite {
            self.group_commit = Some(GroupCommit::start(self.clone())?);
        }
        Ok(self)
    }
}

async fn run(db: Db, mut queue: mpsc::Receiver<Unit>, batches: Arc<AtomicU64>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(unit) => batch.push(unit),
                Err(_) => break,
            }
        }
        batches.fetch_add(1, Ordering::Relaxed);
        commit_batch(&db, batch).await;
    }
}

async fn commit_batch(db: &Db, batch: Vec<Unit>) {
    let mut tx = match db.writer.begin().await {
        Ok(tx) => tx,
        Err(e) => return fail_all(batch, &e),
    };
    let mut answers = Vec::with_capacity(batch.len());
    // One savepoint named `unit` stays open under the unit being run: a failed unit is undone
    // with `ROLLBACK TO` (which keeps the savepoint for the next one), a good one is kept by
    // `RELEASE` and the next one's savepoint opened in the same round trip. So a unit costs one
    // round trip to the connection beyond its own statements.
    let mut broken = sqlx::query("SAVEPOINT unit").execute(&mut *tx).await.err();
    for unit in batch {
        if broken.is_some() {
            // The transaction is unusable: a unit not run is dropped, which answers its caller
            // "unavailable" (503) through its closed reply channel.
            drop(unit);
            continue;
        }
        let outcome = unit(&mut tx).await;
        let end = if outcome.keep {
            "RELEASE SAVEPOINT unit; SAVEPOINT unit"
        } else {
            "ROLLBACK TO SAVEPOINT unit"
        };
        if let Err(e) = sqlx::raw_sql(end).execute(&mut *tx).await {
            broken = Some(e);
        }
        answers.push(outcome.answer);
    }
    let committed = match broken {
        Some(e) => {
            let _ = tx.rollback().await;
            Err(e)
        }
        // COMMIT releases the open savepoint with the rest.
        None => tx.commit().await,
    };
    let failure = committed.err().map(|e| e.to_string());
    for answer in answers {
        answer(match &failure {
            None => Ok(()),
            Some(why) => Err(sqlx::Error::Protocol(format!(
                "the batch's transaction failed: {why}"
            ))),
        });
    }
}

fn fail_all(batch: Vec<Unit>, e: &sqlx::Error) {
    // The units never ran, so they hold their callers' reply channels: dropping them answers
    // each caller with "stopped" (a 503), which is what a failed begin means.
    tracing::error!(error = %e, "cannot start a write transaction");
    drop(batch);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_units_share_commits_and_a_failing_unit_is_undone_alone() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("g.db").display());
        let db = Db::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE t (x BIGINT PRIMARY KEY)")
            .execute(db.writer())
            .await
            .unwrap();
        let tasks: Vec<_> = (0..200i64)
            .map(|i| {
                let db = db.clone();
                tokio::spawn(async move {
                    db.write(move |tx| {
                        Box::pin(async move {
                            sqlx::query("INSERT INTO t (x) VALUES ($1)")
                                .bind(i)
                                .execute(&mut **tx)
                                .await?;
                            if i % 10 == 0 {
                                // A unit that wrote, then failed: its row must not stay.
                                return Err(sqlx::Error::Protocol("refused".into()));
                            }
                            if i % 10 == 5 {
                                // A statement that fails (duplicate key) inside the batch.
                                sqlx::query("INSERT INTO t (x) VALUES ($1)")
                                    .bind(i)
                                    .execute(&mut **tx)
                                    .await?;
                            }
                            Ok(i)
                        })
                    })
                    .await
                })
            })
            .collect();
        let mut ok = 0;
        for (i, task) in tasks.into_iter().enumerate() {
            let result = task.await.unwrap();
            assert_eq!(result.is_ok(), i % 10 != 0 && i % 10 != 5, "unit {i}");
            ok += usize::from(result.is_ok());
        }
        let rows: Vec<i64> = sqlx::query_scalar("SELECT x FROM t ORDER BY x")
            .fetch_all(db.reader())
            .await
            .unwrap();
        assert_eq!(rows.len(), ok);
        assert!(rows.iter().all(|x| x % 10 != 0 && x % 10 != 5), "{rows:?}");
        let batches = db.write_batches().unwrap();
        assert!(
            batches < 200,
            "{batches} transactions for 200 units: nothing was grouped"
        );
    }
}
