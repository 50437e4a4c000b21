//! The group-commit writer thread and its supervision.

use std::sync::Arc;

use super::compact::{CompactionStats, Compactor};
use super::{Store, StoreError, Write, err};

/// Most requests committed in one transaction by the writer.
pub const MAX_BATCH: usize = 512;

/// A queued write and where to send its result.
type Job = (Write, tokio::sync::oneshot::Sender<Result<(), StoreError>>);

/// The group-commit writer: one thread owns all write transactions; requests queue up while a
/// commit (fsync) is in flight and the next transaction takes all of them at once, so throughput
/// grows with concurrency while every acknowledged write is durable.
#[derive(Clone)]
pub struct Writer {
    tx: tokio::sync::mpsc::Sender<Job>,
    compaction: Arc<CompactionStats>,
    commit_seconds: prometheus_client::metrics::histogram::Histogram,
}

/// Buckets of the commit latency histogram, in seconds (1 ms … 16 s).
pub fn commit_buckets() -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 15)
}

impl Writer {
    /// Starts the writer thread over `store`; `queue` bounds how many writes may wait.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn spawn(store: std::sync::Arc<Store>, queue: usize) -> std::io::Result<Writer> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Job>(queue.max(1));
        let compactor = Compactor::spawn(store.clone())?;
        let compaction = compactor.stats.clone();
        let commit_seconds =
            prometheus_client::metrics::histogram::Histogram::new(commit_buckets());
        let observed = commit_seconds.clone();
        std::thread::Builder::new()
            .name("pyro-writer".into())
            .spawn(move || {
                let mut failures = 0u32;
                while let Some(first) = rx.blocking_recv() {
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(j) => batch.push(j),
                            Err(_) => break,
                        }
                    }
                    let (writes, replies): (Vec<Write>, Vec<_>) = batch.into_iter().unzip();
                    let started = std::time::Instant::now();
                    let results = supervised_batch(&store, &compactor, writes, &mut failures);
                    observed.observe(started.elapsed().as_secs_f64());
                    for (result, reply) in results.into_iter().zip(replies) {
                        let _ = reply.send(result);
                    }
                }
            })?;
        Ok(Writer {
            tx,
            compaction,
            commit_seconds,
        })
    }

    /// Writes waiting for the writer thread.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Whether the writer thread is running.
    pub fn is_alive(&self) -> bool {
        !self.tx.is_closed()
    }

    /// Commit latency (seconds per group commit).
    pub fn commit_seconds(&self) -> &prometheus_client::metrics::histogram::Histogram {
        &self.commit_seconds
    }

    /// The compactor's counters.
    pub fn compaction(&self) -> &CompactionStats {
        &self.compaction
    }

    /// Queues a write and waits until it is committed (or failed).
    ///
    /// # Errors
    /// The storage failure, or the writer having stopped.
    pub async fn put(&self, write: Write) -> Result<(), StoreError> {
        let (reply, wait) = tokio::sync::oneshot::channel();
        self.tx
            .send((write, reply))
            .await
            .map_err(|_| err("writer stopped"))?;
        wait.await.map_err(|_| err("writer stopped"))?
    }
}

/// Reopen attempts in a row that may fail before the process exits for its supervisor.
const MAX_REOPEN_FAILURES: u32 = 3;

/// Commits one batch on the writer thread, keeping it alive: a transaction-level failure (an I/O
/// error: full disk, failing device) fails the batch and reopens the database, which redb needs
/// before it writes again; when the database cannot be reopened [`MAX_REOPEN_FAILURES`] times in
/// a row the process exits with code 3, so a supervisor restarts it instead of it answering 500
/// to every write while looking healthy. A panic fails only its batch.
fn supervised_batch(
    store: &Store,
    compactor: &Compactor,
    writes: Vec<Write>,
    failures: &mut u32,
) -> Vec<Result<(), StoreError>> {
    let n = writes.len();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| store.commit(writes)));
    match outcome {
        Ok(Ok((results, crowded))) => {
            *failures = 0;
            for slot in crowded {
                compactor.request(slot);
            }
            results
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "storage commit failed; reopening the database");
            match store.reopen() {
                Ok(()) => {
                    *failures = 0;
                    tracing::warn!("database reopened");
                }
                Err(again) => {
                    *failures += 1;
                    tracing::error!(error = %again, attempt = *failures, "database cannot be reopened");
                    if *failures >= MAX_REOPEN_FAILURES {
                        tracing::error!(
                            "storage is unusable; exiting with code 3 for the supervisor"
                        );
                        std::process::exit(3);
                    }
                }
            }
            (0..n).map(|_| Err(e.clone())).collect()
        }
        Err(_) => {
            tracing::error!("storage writer panicked on a batch; the batch failed");
            (0..n).map(|_| Err(err("internal storage error"))).collect()
        }
    }
}
