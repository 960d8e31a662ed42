//! Work that depends on whether an address has an account (the lookup, the token row, the mail),
//! done after the answer has gone out, so that known and unknown addresses are answered after the
//! same work (issue 12, item 10; security.md T-1, T-3). Jobs run one at a time in the order they
//! were queued — a re-registration or a second link request is applied after the first, as if
//! it were done inline — each in its own task, so a panicking job is logged and the queue goes
//! on. Failures are logged with the job's name (never its data: it carries addresses and
//! secrets), never dropped silently; shutdown waits for the queue ([`Background::drain`]).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::error::ApiResult;

type Job = Pin<Box<dyn Future<Output = ApiResult<()>> + Send>>;

enum Message {
    Job(&'static str, Job),
    /// Answered once every job queued before it has finished.
    Barrier(oneshot::Sender<()>),
}

/// Queued jobs beyond this make the requests that queue more wait (back-pressure, not loss).
const QUEUE: usize = 1024;

#[derive(Clone)]
pub struct Background {
    queue: mpsc::Sender<Message>,
}

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Background")
            .field("free_slots", &self.queue.capacity())
            .finish()
    }
}

impl Background {
    /// Starts the worker (on the current Tokio runtime).
    pub fn start() -> Background {
        let (queue, mut jobs) = mpsc::channel::<Message>(QUEUE);
        tokio::spawn(async move {
            while let Some(message) = jobs.recv().await {
                match message {
                    Message::Job(what, job) => match tokio::spawn(job).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            tracing::error!(job = what, error = %e, "background job failed")
                        }
                        Err(e) => {
                            tracing::error!(job = what, error = %e, "background job panicked")
                        }
                    },
                    Message::Barrier(done) => {
                        let _ = done.send(());
                    }
                }
            }
        });
        Background { queue }
    }

    /// Queues `job` after every job queued before it.
    pub async fn run(
        &self,
        what: &'static str,
        job: impl Future<Output = ApiResult<()>> + Send + 'static,
    ) {
        if self
            .queue
            .send(Message::Job(what, Box::pin(job)))
            .await
            .is_err()
        {
            tracing::error!(job = what, "background queue is closed; job not run");
        }
    }

    /// Waits until every job queued so far has finished (tests use it between requests).
    pub async fn settle(&self) {
        let (done, finished) = oneshot::channel();
        if self.queue.send(Message::Barrier(done)).await.is_ok() {
            let _ = finished.await;
        }
    }

    /// [`Background::settle`], bounded: at shutdown, after the last request was answered and
    /// before the database closes. False when jobs were still running at the deadline.
    pub async fn drain(&self, limit: Duration) -> bool {
        let drained = tokio::time::timeout(limit, self.settle()).await.is_ok();
        if !drained {
            tracing::warn!("shutting down with background jobs still running");
        }
        drained
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn jobs_run_in_order_and_a_failure_or_panic_stops_nothing() {
        let background = Background::start();
        let seen = Arc::new(Mutex::new(Vec::new()));
        for n in 0..20 {
            let seen = seen.clone();
            background
                .run("test", async move {
                    // Later jobs are quicker: order must come from the queue, not from luck.
                    tokio::time::sleep(Duration::from_millis(20 - n)).await;
                    seen.lock().unwrap().push(n);
                    match n {
                        5 => Err(crate::error::ApiError::internal()),
                        6 => panic!("a job panics"),
                        _ => Ok(()),
                    }
                })
                .await;
        }
        assert!(background.drain(Duration::from_secs(5)).await);
        assert_eq!(*seen.lock().unwrap(), (0..20).collect::<Vec<_>>());
    }
}
