//! The embedded default storage: series trees in 10-second slots, in a redb database.
//!
//! Tables: `series` (normalized key → metadata JSON) and `slots` ((key, slot start) → writes
//! count + the merged tree in the `tree` transport format). A request's series are written in one
//! transaction, committed durably (fsync) before `/ingest` answers, so an acknowledged write
//! survives `kill -9`; redb recovers a torn tail on open. Writes are never split across slots:
//! each lands whole in the slot of its start time (spec Part 1, decision 6).

use std::path::Path;

use pyro_labels::SeriesName;
use pyro_tree::{StackTree, TransportLimits};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use pyro_ingest::Series;

/// Slot width in seconds (OG's segment resolution).
pub const SLOT_SECONDS: i64 = 10;

const SERIES: TableDefinition<&str, &[u8]> = TableDefinition::new("series");
const SLOTS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("slots");

/// What is stored about a series (the last write wins, as in OG).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// The tenant (`X-Scope-OrgID` with `--multi-tenant`; empty otherwise).
    #[serde(default)]
    pub tenant: String,
    /// The app name (stored apart from the key, which cannot always be parsed back).
    #[serde(default)]
    pub app: String,
    /// The labels.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// `units`.
    pub units: String,
    /// `aggregationType`.
    pub aggregation: String,
    /// `sampleRate`.
    pub sample_rate: u32,
    /// `spyName`.
    pub spy_name: String,
}

/// One series of a request, owned so it can travel to the writer thread.
#[derive(Debug)]
pub struct OwnedSeries {
    /// Normalized series key.
    pub key: String,
    /// Its metadata.
    pub meta: Meta,
    /// Its stacks.
    pub tree: StackTree<'static>,
}

/// Everything one request stores.
#[derive(Debug)]
pub struct Write {
    /// Start time (Unix seconds); the write lands whole in this time's slot.
    pub start: i64,
    /// The series.
    pub series: Vec<OwnedSeries>,
}

/// The storage key of a series of `tenant`: its unambiguous key, prefixed by the tenant and a
/// unit separator when there is one.
pub fn storage_key(tenant: &str, name: &SeriesName) -> String {
    if tenant.is_empty() {
        name.key()
    } else {
        format!("{tenant}\u{1f}{}", name.key())
    }
}

impl Write {
    /// Turns a request's series into an owned write for `tenant` (empty: single tenant).
    pub fn new(tenant: &str, start: i64, series: Vec<Series<'_>>) -> Write {
        Write {
            start,
            series: series
                .into_iter()
                .map(|s| OwnedSeries {
                    key: storage_key(tenant, &s.name),
                    meta: Meta {
                        tenant: tenant.to_owned(),
                        app: s.name.app().to_owned(),
                        labels: s.name.labels().clone(),
                        units: s.units,
                        aggregation: s.aggregation.as_str().to_owned(),
                        sample_rate: s.sample_rate,
                        spy_name: s.spy_name,
                    },
                    tree: s.tree.into_owned(),
                })
                .collect(),
        }
    }
}

/// A series ready to insert: key, metadata JSON, slot bytes.
type Prepared = (String, Vec<u8>, Vec<u8>);

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
}

impl Writer {
    /// Starts the writer thread over `store`; `queue` bounds how many writes may wait.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn spawn(store: std::sync::Arc<Store>, queue: usize) -> std::io::Result<Writer> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Job>(queue.max(1));
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
                    let results = supervised_batch(&store, writes, &mut failures);
                    for (result, reply) in results.into_iter().zip(replies) {
                        let _ = reply.send(result);
                    }
                }
            })?;
        Ok(Writer { tx })
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
    writes: Vec<Write>,
    failures: &mut u32,
) -> Vec<Result<(), StoreError>> {
    let n = writes.len();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| store.commit(writes)));
    match outcome {
        Ok(Ok(results)) => {
            *failures = 0;
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

/// One slot read back.
#[derive(Debug)]
pub struct Slot {
    /// Slot start, Unix seconds.
    pub start: i64,
    /// Number of writes merged into it.
    pub writes: u64,
    /// The merged tree.
    pub tree: StackTree<'static>,
}

/// A storage failure.
#[derive(Debug, Clone)]
pub struct StoreError(String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

/// The slot a time falls in.
pub fn slot_of(t: i64) -> i64 {
    t.div_euclid(SLOT_SECONDS) * SLOT_SECONDS
}

fn encode_slot(writes: u64, tree: &StackTree<'_>) -> Vec<u8> {
    let mut v = writes.to_le_bytes().to_vec();
    v.extend_from_slice(&tree.to_tree_bytes());
    v
}

fn decode_slot(bytes: &[u8]) -> Result<(u64, StackTree<'static>), StoreError> {
    let (w, tree_bytes) = bytes
        .split_first_chunk::<8>()
        .ok_or_else(|| err("corrupt slot: shorter than its header"))?;
    let mut tree = StackTree::new();
    // Our own bytes: read back whatever ingest accepted (a stack deeper than the transport
    // default, a long frame name), with no limit but the data itself.
    pyro_tree::transport::read_tree(tree_bytes, &TransportLimits::unlimited(), &mut tree)
        .map_err(|e| err(format!("corrupt slot: {e}")))?;
    Ok((u64::from_le_bytes(*w), tree.into_owned()))
}

/// Opens (or creates) the database at `path` with its tables. redb panics on some truncated
/// files; such a panic is reported like any other corrupt file.
fn open_db(path: &Path) -> Result<Database, StoreError> {
    let open = || -> Result<Database, StoreError> {
        let db = Database::create(path).map_err(|e| err(format!("{}: {e}", path.display())))?;
        let tx = db.begin_write().map_err(err)?;
        tx.open_table(SERIES).map_err(err)?;
        tx.open_table(SLOTS).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(db)
    };
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(open));
    std::panic::set_hook(hook);
    match opened {
        Ok(r) => r,
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown");
            Err(err(format!(
                "{}: corrupt or truncated database ({why})",
                path.display()
            )))
        }
    }
}

/// The database.
pub struct Store {
    /// `None` only while [`Store::reopen`] replaces a database that had an I/O error.
    db: std::sync::RwLock<Option<Database>>,
    path: std::path::PathBuf,
}

impl Store {
    /// Opens (or creates) `dir/pyro.redb`. A database left half-written by a crash is repaired by
    /// redb; one that cannot be opened (corrupt, truncated) is reported as an error, never a
    /// panic; an existing empty file is refused rather than replaced by a new database.
    ///
    /// # Errors
    /// The directory cannot be created or the database cannot be opened.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
        let path = dir.join("pyro.redb");
        if let Ok(m) = std::fs::metadata(&path)
            && m.len() == 0
        {
            return Err(err(format!(
                "{}: the file exists but is empty; refusing to replace it with a new database \
                 (move it away to start with an empty store)",
                path.display()
            )));
        }
        let db = open_db(&path)?;
        Ok(Store {
            db: std::sync::RwLock::new(Some(db)),
            path,
        })
    }

    /// The open database, for one transaction.
    fn db(&self) -> Result<std::sync::RwLockReadGuard<'_, Option<Database>>, StoreError> {
        let g = self
            .db
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if g.is_none() {
            return Err(err("storage is being reopened after an I/O error"));
        }
        Ok(g)
    }

    /// Closes and reopens the database: what redb asks for after an I/O error (a full disk, a
    /// failing device). On open redb repairs the file; every committed transaction is kept.
    ///
    /// # Errors
    /// The database cannot be opened again (the cause persists).
    pub fn reopen(&self) -> Result<(), StoreError> {
        let mut g = self
            .db
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // The file lock is released before the new handle takes it.
        drop(g.take());
        *g = Some(open_db(&self.path)?);
        Ok(())
    }

    /// Stores several requests in one durable transaction (group commit). Each request is
    /// applied entirely or not at all: its merged slots are computed first and only inserted
    /// when all of them are valid. Returns one result per request, in order.
    pub fn put_batch(&self, writes: Vec<Write>) -> Vec<Result<(), StoreError>> {
        let n = writes.len();
        match self.commit(writes) {
            Ok(r) => r,
            Err(e) => (0..n).map(|_| Err(e.clone())).collect(),
        }
    }

    /// [`Store::put_batch`], with a failure of the transaction itself (rather than of one
    /// request) as the outer error.
    ///
    /// # Errors
    /// The transaction could not be committed; nothing of the batch is stored.
    pub fn commit(&self, writes: Vec<Write>) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let n = writes.len();
        let run = || -> Result<Vec<Result<(), StoreError>>, StoreError> {
            let db = self.db()?;
            let tx = db
                .as_ref()
                .ok_or_else(|| err("closed"))?
                .begin_write()
                .map_err(err)?;
            let mut results = Vec::with_capacity(n);
            {
                let mut meta = tx.open_table(SERIES).map_err(err)?;
                let mut slots = tx.open_table(SLOTS).map_err(err)?;
                for w in &writes {
                    let slot = slot_of(w.start).max(0) as u64;
                    // Series of one request that share a key (several profiles of one push
                    // series) are merged first, so none overwrites another.
                    let mut unique: Vec<(&OwnedSeries, Option<StackTree<'static>>)> = Vec::new();
                    for s in &w.series {
                        match unique.iter_mut().find(|(u, _)| u.key == s.key) {
                            Some((u, merged)) => {
                                merged.get_or_insert_with(|| u.tree.clone()).merge(&s.tree)
                            }
                            None => unique.push((s, None)),
                        }
                    }
                    // Compute every merged slot of this request before inserting any.
                    let merged: Result<Vec<Prepared>, StoreError> = unique
                        .iter()
                        .map(|(s, combined)| {
                            let new_tree = combined.as_ref().unwrap_or(&s.tree);
                            let existing = slots
                                .get((s.key.as_str(), slot))
                                .map_err(err)?
                                .map(|v| decode_slot(v.value()))
                                .transpose()?;
                            let bytes = match existing {
                                Some((writes, mut tree)) => {
                                    tree.merge(new_tree);
                                    if tree.overflowed() {
                                        return Err(err(format!(
                                            "{}: stored values overflow 64 bits",
                                            s.key
                                        )));
                                    }
                                    encode_slot(writes + 1, &tree)
                                }
                                None => {
                                    if new_tree.overflowed() {
                                        return Err(err(format!(
                                            "{}: values overflow 64 bits",
                                            s.key
                                        )));
                                    }
                                    encode_slot(1, new_tree)
                                }
                            };
                            let m = serde_json::to_vec(&s.meta).map_err(err)?;
                            Ok((s.key.clone(), m, bytes))
                        })
                        .collect();
                    match merged {
                        Ok(items) => {
                            for (key, m, bytes) in &items {
                                meta.insert(key.as_str(), m.as_slice()).map_err(err)?;
                                slots
                                    .insert((key.as_str(), slot), bytes.as_slice())
                                    .map_err(err)?;
                            }
                            results.push(Ok(()));
                        }
                        Err(e) => results.push(Err(e)),
                    }
                }
            }
            tx.commit().map_err(err)?;
            Ok(results)
        };
        run()
    }

    /// Every series with its metadata, sorted by key.
    ///
    /// # Errors
    /// A storage failure or a corrupt entry.
    pub fn series(&self) -> Result<Vec<(SeriesName, Meta)>, StoreError> {
        let db = self.db()?;
        let tx = db
            .as_ref()
            .ok_or_else(|| err("closed"))?
            .begin_read()
            .map_err(err)?;
        let t = tx.open_table(SERIES).map_err(err)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(err)? {
            let (k, v) = item.map_err(err)?;
            let meta: Meta = serde_json::from_slice(v.value()).map_err(err)?;
            let name = SeriesName::from_parts(
                &meta.app,
                meta.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            )
            .map_err(|e| err(format!("corrupt series {:?}: {e}", k.value())))?;
            out.push((name, meta));
        }
        Ok(out)
    }

    /// The slots of series `key` whose start lies in `[from, until]`.
    ///
    /// # Errors
    /// A storage failure or a corrupt slot.
    pub fn read(&self, key: &str, from: i64, until: i64) -> Result<Vec<Slot>, StoreError> {
        let db = self.db()?;
        let tx = db
            .as_ref()
            .ok_or_else(|| err("closed"))?
            .begin_read()
            .map_err(err)?;
        let t = tx.open_table(SLOTS).map_err(err)?;
        let (lo, hi) = (from.max(0) as u64, until.max(0) as u64);
        let mut out = Vec::new();
        if lo > hi {
            return Ok(out);
        }
        for item in t.range((key, lo)..=(key, hi)).map_err(err)? {
            let (k, v) = item.map_err(err)?;
            let (writes, tree) = decode_slot(v.value())?;
            out.push(Slot {
                start: k.value().1 as i64,
                writes,
                tree,
            });
        }
        Ok(out)
    }

    /// Deletes every slot that starts before `before`; returns how many.
    ///
    /// # Errors
    /// A storage failure.
    pub fn delete_before(&self, before: i64) -> Result<usize, StoreError> {
        let keys: Vec<String> = self
            .series()?
            .into_iter()
            .map(|(n, _)| n.to_string())
            .collect();
        let db = self.db()?;
        let tx = db
            .as_ref()
            .ok_or_else(|| err("closed"))?
            .begin_write()
            .map_err(err)?;
        let mut n = 0;
        {
            let mut t = tx.open_table(SLOTS).map_err(err)?;
            for k in &keys {
                let old: Vec<u64> = t
                    .range((k.as_str(), 0)..(k.as_str(), before.max(0) as u64))
                    .map_err(err)?
                    .map(|item| item.map(|(k, _)| k.value().1))
                    .collect::<Result<_, _>>()
                    .map_err(err)?;
                for s in old {
                    t.remove((k.as_str(), s)).map_err(err)?;
                    n += 1;
                }
            }
        }
        tx.commit().map_err(err)?;
        Ok(n)
    }
}

/// Deletes slots older than `retention_secs` every `every`, forever.
pub async fn retention_task(
    store: std::sync::Arc<Store>,
    retention_secs: i64,
    every: std::time::Duration,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let store = store.clone();
        let cutoff = crate::http::now() - retention_secs;
        match tokio::task::spawn_blocking(move || store.delete_before(cutoff)).await {
            Ok(Ok(n)) if n > 0 => tracing::info!(deleted_slots = n, "retention"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "retention failed"),
            Err(e) => tracing::error!(error = %e, "retention task failed"),
        }
    }
}
