//! The group-commit writer thread and its supervision.

use std::sync::Arc;
use std::time::Duration;

use crate::compact::{CompactionStats, Compactor};
use crate::error::{ErrorKind, StoreError};
use crate::{Store, Write};

/// Most requests committed in one transaction by the writer.
pub const MAX_BATCH: usize = 512;

/// A queued write and where to send its result.
type Job = (Write, tokio::sync::oneshot::Sender<Result<(), StoreError>>);

/// Reopen attempts in a row that may fail before the writer gives up ([`WriterHooks::fatal`]).
const MAX_REOPEN_FAILURES: u32 = 3;

/// What the writer reports to its owner.
pub struct WriterHooks {
    /// Called after every group commit with its duration (a latency histogram).
    pub commit: Box<dyn Fn(Duration) + Send>,
    /// Called when the database cannot be reopened after an I/O error, several times in a row:
    /// storage is unusable. A server exits here so its supervisor restarts it, rather than
    /// answer every write with an error while looking healthy.
    pub fatal: Box<dyn Fn(&StoreError) + Send>,
}

impl Default for WriterHooks {
    fn default() -> Self {
        WriterHooks {
            commit: Box::new(|_| {}),
            fatal: Box::new(|_| {}),
        }
    }
}

/// The group-commit writer: one thread owns all write transactions; requests queue up while a
/// commit (fsync) is in flight and the next transaction takes all of them at once, so throughput
/// grows with concurrency while every acknowledged write is durable. Slots that pile up deltas
/// are handed to a [`Compactor`] thread.
#[derive(Clone)]
pub struct Writer {
    tx: tokio::sync::mpsc::Sender<Job>,
    compaction: Arc<CompactionStats>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("queued", &self.queued())
            .finish()
    }
}

impl Writer {
    /// Starts the writer thread over `store`; `queue` bounds how many writes may wait.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn spawn(store: Arc<Store>, queue: usize, hooks: WriterHooks) -> std::io::Result<Writer> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Job>(queue.max(1));
        let compactor = Compactor::spawn(store.clone())?;
        let compaction = compactor.stats.clone();
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
                    let results =
                        supervised_batch(&store, &compactor, writes, &mut failures, &hooks);
                    (hooks.commit)(started.elapsed());
                    for (result, reply) in results.into_iter().zip(replies) {
                        let _ = reply.send(result);
                    }
                }
            })?;
        Ok(Writer { tx, compaction })
    }

    /// Writes waiting for the writer thread.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Whether the writer thread is running.
    pub fn is_alive(&self) -> bool {
        !self.tx.is_closed()
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
        let stopped = || StoreError::new(ErrorKind::Unavailable, "writer stopped");
        let (reply, wait) = tokio::sync::oneshot::channel();
        self.tx.send((write, reply)).await.map_err(|_| stopped())?;
        wait.await.map_err(|_| stopped())?
    }
}

/// Commits one batch on the writer thread, keeping it alive: a transaction-level failure (an I/O
/// error: full disk, failing device) fails the batch and reopens the database, which redb needs
/// before it writes again; when the database cannot be reopened [`MAX_REOPEN_FAILURES`] times in
/// a row, `hooks.fatal` is called. A panic fails only its batch.
fn supervised_batch(
    store: &Store,
    compactor: &Compactor,
    writes: Vec<Write>,
    failures: &mut u32,
    hooks: &WriterHooks,
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
                        (hooks.fatal)(&again);
                    }
                }
            }
            (0..n).map(|_| Err(e.clone())).collect()
        }
        Err(_) => {
            tracing::error!("storage writer panicked on a batch; the batch failed");
            (0..n)
                .map(|_| Err(StoreError::new(ErrorKind::Io, "internal storage error")))
                .collect()
        }
    }
}
