//! The embedded default storage (redb): append-only deltas, a series index with label
//! postings, compaction off the commit path, retention across tenants.
//!
//! A write costs its own size: each series of a request appends its tree as a *delta* keyed by
//! (tenant, series id, 10-second slot, sequence), in one transaction committed with fsync before
//! `/ingest` answers (group commit shared by concurrent requests, [`Writer`]). Nothing stored is
//! read back on the commit path. A read merges the deltas of the slots it covers; a background
//! [`Compactor`] merges a slot's small deltas when they pile up. A series is found through its
//! key (tenant, normalized name) and label postings ((tenant, label, value) → series ids, the app
//! name as `__name__`), so selecting series costs the series that match, not all of them;
//! `/labels` and `/label-values` read per-tenant counts of names and values. Retention deletes old
//! deltas of every series of every tenant, then series left without data and their postings. A
//! data dir of the first format (tables `series`, `slots`) is converted on open.

mod compact;
mod migrate;
mod read;
mod retention;
mod writer;

use std::collections::HashMap;
use std::path::Path;

use pyro_labels::SeriesName;
use pyro_tree::{StackTree, TransportLimits};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use pyro_ingest::Series;

pub use compact::{COMPACT_AT, Compactor};
#[doc(hidden)]
pub use migrate::{V1Slots, write_v1};
pub use read::{Found, Selection, labels_of};
pub use retention::{parse_retention, retention_task};
pub use writer::{MAX_BATCH, Writer};

/// Page cache of the store's database (redb's default is 1 GiB, which let RSS follow the
/// database's size).
pub const STORE_CACHE_BYTES: usize = 64 << 20;

/// Slot width in seconds (OG's segment resolution).
pub const SLOT_SECONDS: i64 = 10;

/// Counters: `version`, `next_series`, `next_seq`.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// (tenant, series id) → [`Meta`] JSON.
pub(crate) const SERIES: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("series_v2");
/// (tenant, series key) → series id.
pub(crate) const SERIES_KEY: TableDefinition<(&str, &str), u64> =
    TableDefinition::new("series_key");
/// Postings: (tenant, label, value, series id).
pub(crate) const POSTINGS: TableDefinition<(&str, &str, &str, u64), ()> =
    TableDefinition::new("postings");
/// (tenant, label) → number of series with it.
pub(crate) const LABEL_NAMES: TableDefinition<(&str, &str), u64> =
    TableDefinition::new("label_names");
/// (tenant, label, value) → number of series with it.
pub(crate) const LABEL_VALUES: TableDefinition<(&str, &str, &str), u64> =
    TableDefinition::new("label_values");
/// (tenant, push sample id) → slot of the write it came in (redeliveries are stored once).
pub(crate) const SEEN: TableDefinition<(&str, &str), u64> = TableDefinition::new("seen");
/// (tenant, series id, slot, sequence) → writes count + tree (`tree` transport format).
pub(crate) const DELTAS: TableDefinition<(&str, u64, u64, u64), &[u8]> =
    TableDefinition::new("deltas");

/// The label the app name is posted under.
pub const NAME: &str = "__name__";

/// What is stored about a series (the last write wins, as in OG).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

impl Meta {
    /// What is stored about `series` for `tenant`.
    pub fn of(tenant: &str, series: &Series<'_>) -> Meta {
        Meta {
            tenant: tenant.to_owned(),
            app: series.name.app().to_owned(),
            labels: series.name.labels().clone(),
            units: series.units.clone(),
            aggregation: series.aggregation.as_str().to_owned(),
            sample_rate: series.sample_rate,
            spy_name: series.spy_name.clone(),
        }
    }

    /// The series name.
    ///
    /// # Errors
    /// A stored name that no longer parses (a corrupt entry).
    pub fn name(&self) -> Result<SeriesName, StoreError> {
        SeriesName::from_parts(
            &self.app,
            self.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .map_err(|e| err(format!("corrupt series {:?}: {e}", self.app)))
    }
}

/// One series of a request, owned so it can travel to the writer thread, with what the writer
/// stores already prepared on the request's own thread (the encoded delta, the metadata's hash):
/// the single writer thread only inserts bytes.
#[derive(Debug)]
pub struct OwnedSeries {
    /// Normalized series key (without the tenant).
    pub key: String,
    /// Its metadata.
    pub meta: Meta,
    /// Its stacks.
    pub tree: StackTree<'static>,
    /// The tree as one stored delta of one write ([`encode_delta`]).
    delta: Vec<u8>,
    /// Hash of `meta` (a known series whose metadata did not change touches only the deltas).
    meta_hash: u64,
}

impl OwnedSeries {
    /// A series to store: encodes its delta and hashes its metadata.
    pub fn new(key: String, meta: Meta, tree: StackTree<'static>) -> OwnedSeries {
        OwnedSeries {
            delta: encode_delta(1, &tree),
            meta_hash: meta_hash(&meta),
            key,
            meta,
            tree,
        }
    }
}

/// Everything one request stores.
#[derive(Debug)]
pub struct Write {
    /// The tenant.
    pub tenant: String,
    /// IDs of the push samples it came from: a write whose IDs were stored before is a
    /// redelivery and is acknowledged without storing it again.
    pub ids: Vec<String>,
    /// Start time (Unix seconds); the write lands whole in this time's slot.
    pub start: i64,
    /// The series.
    pub series: Vec<OwnedSeries>,
    /// What the request sent, when a forwarder passes it on as received.
    pub received: Option<crate::forward::Received>,
    /// The tenant a forwarder names upstream (without `--forward-tenant`): the tenant, or in a
    /// single-tenant server the client's own `X-Scope-OrgID`.
    pub org_id: String,
    /// Its forwarding queue item, queued in the same transaction.
    pub outbox: Option<crate::forward::Outbox>,
}

impl Write {
    /// Turns a request's series into an owned write for `tenant` (empty: single tenant).
    pub fn new(tenant: &str, start: i64, series: Vec<Series<'_>>) -> Write {
        Write {
            tenant: tenant.to_owned(),
            ids: Vec::new(),
            received: None,
            org_id: tenant.to_owned(),
            outbox: None,
            start,
            series: series
                .into_iter()
                .map(|s| OwnedSeries::new(s.name.key(), Meta::of(tenant, &s), s.tree.into_owned()))
                .collect(),
        }
    }
}

/// One slot read back: every delta of it merged.
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

pub(crate) fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

/// The slot a time falls in.
pub fn slot_of(t: i64) -> i64 {
    t.div_euclid(SLOT_SECONDS) * SLOT_SECONDS
}

/// Top bit of a delta's 8-byte header (the write count): the tree bytes that follow are raw
/// deflate, after their inflated length (8 bytes). Deltas written before it have the bit clear
/// and plain tree bytes, and still read.
const DEFLATED: u64 = 1 << 63;

/// Largest inflated size a stored delta may declare (a corrupt length must not allocate more).
const MAX_DELTA_BYTES: u64 = 4 << 30;

/// A delta as stored: the write count, then the tree in OG's `tree` transport format, deflated
/// (libdeflate, level 1). The format repeats every node's frame name, which deflate folds back:
/// stored bytes drop 5–10× for a few milliseconds of CPU per megabyte.
pub(crate) fn encode_delta(writes: u64, tree: &StackTree<'_>) -> Vec<u8> {
    let raw = tree.to_tree_bytes_unsorted();
    let plain = || {
        let mut v = writes.to_le_bytes().to_vec();
        v.extend_from_slice(&raw);
        v
    };
    let Ok(level) = libdeflater::CompressionLvl::new(1) else {
        return plain();
    };
    let mut c = libdeflater::Compressor::new(level);
    let mut out = vec![0u8; 16 + c.deflate_compress_bound(raw.len())];
    out[..8].copy_from_slice(&(writes | DEFLATED).to_le_bytes());
    out[8..16].copy_from_slice(&(raw.len() as u64).to_le_bytes());
    match c.deflate_compress(&raw, &mut out[16..]) {
        Ok(n) if n < raw.len() => {
            out.truncate(16 + n);
            out
        }
        _ => plain(),
    }
}

pub(crate) fn decode_delta(bytes: &[u8]) -> Result<(u64, StackTree<'static>), StoreError> {
    let (w, rest) = bytes
        .split_first_chunk::<8>()
        .ok_or_else(|| err("corrupt delta: shorter than its header"))?;
    let writes = u64::from_le_bytes(*w);
    let inflated;
    let tree_bytes = if writes & DEFLATED == 0 {
        rest
    } else {
        let (len, deflated) = rest
            .split_first_chunk::<8>()
            .ok_or_else(|| err("corrupt delta: no inflated length"))?;
        let len = u64::from_le_bytes(*len);
        if len > MAX_DELTA_BYTES || len > (deflated.len() as u64).saturating_mul(1032) + 64 {
            return Err(err(format!("corrupt delta: inflated length {len}")));
        }
        let mut out = vec![0u8; len as usize];
        let n = libdeflater::Decompressor::new()
            .deflate_decompress(deflated, &mut out)
            .map_err(|e| err(format!("corrupt delta: {e}")))?;
        if n != out.len() {
            return Err(err("corrupt delta: shorter than its inflated length"));
        }
        inflated = out;
        &inflated
    };
    let mut tree = StackTree::new();
    // Our own bytes: read back whatever ingest accepted (a stack deeper than the transport
    // default, a long frame name), with no limit but the data itself.
    pyro_tree::transport::read_tree(tree_bytes, &TransportLimits::unlimited(), &mut tree)
        .map_err(|e| err(format!("corrupt delta: {e}")))?;
    Ok((writes & !DEFLATED, tree.into_owned()))
}

/// Opens (or creates) the database at `path` with its tables. redb panics on some truncated
/// files; such a panic is reported like any other corrupt file.
fn open_db(path: &Path) -> Result<Database, StoreError> {
    let open = || -> Result<Database, StoreError> {
        // A bounded page cache: the process' memory must not follow the database's size.
        let db = Database::builder()
            .set_cache_size(STORE_CACHE_BYTES)
            .create(path)
            .map_err(|e| err(format!("{}: {e}", path.display())))?;
        migrate::create_and_migrate(&db)?;
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
    /// What the writer knows without reading the tables back.
    cache: std::sync::Mutex<WriteCache>,
}

/// The writer's memory: series ids with the hash of their stored metadata (a write of a known
/// series with unchanged metadata touches only the deltas table), and deltas written per slot
/// since its last compaction (what triggers the compactor). Cleared by anything that deletes
/// series, while it holds the write transaction; bounded by clearing it when it grows large.
/// Both maps are per tenant, so a lookup borrows the write's strings instead of allocating a key.
#[derive(Debug, Default)]
pub(crate) struct WriteCache {
    /// tenant → series key → (series id, metadata hash).
    series: HashMap<String, HashMap<String, (u64, u64)>>,
    /// tenant → (series id, slot) → deltas since the slot's last compaction.
    slots: HashMap<String, HashMap<(u64, u64), u32>>,
    /// Entries in `series` and in `slots`, all tenants together.
    series_len: usize,
    slots_len: usize,
    /// The newest slot written: counters of slots a minute older are dropped now and then
    /// (agents write each slot once, so the map holds about one slot per series).
    newest: u64,
}

/// Seconds a slot's delta counter is kept after newer slots were written.
const SLOT_COUNTER_WINDOW: u64 = 60;

/// Entries of either cache map before it is cleared.
const CACHE_LIMIT: usize = 1 << 20;

impl WriteCache {
    pub(crate) fn clear(&mut self) {
        self.series.clear();
        self.slots.clear();
        self.series_len = 0;
        self.slots_len = 0;
    }

    /// The id of a series whose stored metadata hashes to `meta_hash`, if known.
    fn series_id(&self, tenant: &str, key: &str, meta_hash: u64) -> Option<u64> {
        match self.series.get(tenant)?.get(key) {
            Some(&(id, h)) if h == meta_hash => Some(id),
            _ => None,
        }
    }

    fn remember_series(&mut self, tenant: &str, key: &str, id: u64, meta_hash: u64) {
        if of_tenant(&mut self.series, tenant)
            .insert(key.to_owned(), (id, meta_hash))
            .is_none()
        {
            self.series_len += 1;
        }
    }

    /// Counts one more delta in a slot; true when the slot now holds [`COMPACT_AT`] of them
    /// (the counter starts again).
    fn count_delta(&mut self, tenant: &str, id: u64, slot: u64) -> bool {
        if slot > self.newest {
            self.newest = slot;
            let keep_from = slot.saturating_sub(SLOT_COUNTER_WINDOW);
            if self.slots_len > 4096 {
                for per in self.slots.values_mut() {
                    per.retain(|k, _| k.1 >= keep_from);
                }
                self.slots.retain(|_, per| !per.is_empty());
                self.slots_len = self.slots.values().map(HashMap::len).sum();
            }
        }
        let count = of_tenant(&mut self.slots, tenant)
            .entry((id, slot))
            .or_insert_with(|| {
                self.slots_len += 1;
                0
            });
        *count += 1;
        if u64::from(*count) >= COMPACT_AT {
            *count = 0;
            return true;
        }
        false
    }
}

/// The map of `tenant` (made when missing), without allocating its name when it exists.
fn of_tenant<'m, V: Default>(maps: &'m mut HashMap<String, V>, tenant: &str) -> &'m mut V {
    if !maps.contains_key(tenant) {
        maps.insert(tenant.to_owned(), V::default());
    }
    maps.get_mut(tenant).expect("inserted above")
}

fn meta_hash(m: &Meta) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(m)
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
            cache: Default::default(),
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

    /// A read transaction.
    pub(crate) fn begin_read(&self) -> Result<redb::ReadTransaction, StoreError> {
        let db = self.db()?;
        db.as_ref()
            .ok_or_else(|| err("closed"))?
            .begin_read()
            .map_err(err)
    }

    /// A write transaction.
    pub(crate) fn begin_write(&self) -> Result<redb::WriteTransaction, StoreError> {
        let db = self.db()?;
        db.as_ref()
            .ok_or_else(|| err("closed"))?
            .begin_write()
            .map_err(err)
    }

    /// Drops the writer's memory of series ids (call while holding a write transaction that
    /// deletes series).
    pub(crate) fn forget(&self) {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// Size of the database file, in bytes.
    pub fn file_bytes(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    /// Stores several requests in one durable transaction (group commit). Each request is
    /// checked entirely before any of it is stored. Returns one result per request, in order.
    pub fn put_batch(&self, writes: Vec<Write>) -> Vec<Result<(), StoreError>> {
        let n = writes.len();
        match self.commit(writes) {
            Ok((r, _)) => r,
            Err(e) => (0..n).map(|_| Err(e.clone())).collect(),
        }
    }

    /// [`Store::put_batch`], with a failure of the transaction itself (rather than of one
    /// request) as the outer error, and the slots that now hold [`COMPACT_AT`] deltas or more.
    ///
    /// # Errors
    /// The transaction could not be committed; nothing of the batch is stored.
    #[allow(clippy::type_complexity)]
    pub fn commit(
        &self,
        writes: Vec<Write>,
    ) -> Result<(Vec<Result<(), StoreError>>, Vec<compact::SlotRef>), StoreError> {
        let tx = self.begin_write()?;
        let mut results = Vec::with_capacity(writes.len());
        let mut crowded = Vec::new();
        let mut queued = Vec::new();
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.series_len > CACHE_LIMIT || cache.slots_len > CACHE_LIMIT {
            cache.clear();
        }
        {
            let mut t = Tables::open(&tx)?;
            let mut seq = t
                .meta
                .get("next_seq")
                .map_err(err)?
                .map_or(0, |g| g.value());
            for w in &writes {
                if let Some(s) = w.series.iter().find(|s| s.tree.overflowed()) {
                    results.push(Err(err(format!("{}: values overflow 64 bits", s.key))));
                    continue;
                }
                let slot = slot_of(w.start).max(0) as u64;
                let mut redelivered = false;
                for id in &w.ids {
                    redelivered |= t
                        .seen
                        .get((w.tenant.as_str(), id.as_str()))
                        .map_err(err)?
                        .is_some();
                }
                if redelivered {
                    results.push(Ok(()));
                    continue;
                }
                for id in &w.ids {
                    t.seen
                        .insert((w.tenant.as_str(), id.as_str()), slot)
                        .map_err(err)?;
                }
                for s in &w.series {
                    let id = match cache.series_id(&w.tenant, &s.key, s.meta_hash) {
                        Some(id) => id,
                        None => {
                            let id = t.series_id(&w.tenant, s)?;
                            cache.remember_series(&w.tenant, &s.key, id, s.meta_hash);
                            id
                        }
                    };
                    seq += 1;
                    t.deltas
                        .insert((w.tenant.as_str(), id, slot, seq), s.delta.as_slice())
                        .map_err(err)?;
                    if cache.count_delta(&w.tenant, id, slot) {
                        crowded.push((w.tenant.clone(), id, slot));
                    }
                }
                if let Some(o) = &w.outbox {
                    o.append(&tx, &mut t.meta)?;
                    queued.push(o);
                }
                results.push(Ok(()));
            }
            t.meta.insert("next_seq", seq).map_err(err)?;
        }
        drop(cache);
        tx.commit().map_err(err)?;
        for o in queued {
            o.appended();
        }
        Ok((results, crowded))
    }
}

/// Every table, open in one write transaction.
pub(crate) struct Tables<'t> {
    pub(crate) meta: redb::Table<'t, &'static str, u64>,
    pub(crate) series: redb::Table<'t, (&'static str, u64), &'static [u8]>,
    pub(crate) series_key: redb::Table<'t, (&'static str, &'static str), u64>,
    pub(crate) postings: redb::Table<'t, (&'static str, &'static str, &'static str, u64), ()>,
    pub(crate) label_names: redb::Table<'t, (&'static str, &'static str), u64>,
    pub(crate) label_values: redb::Table<'t, (&'static str, &'static str, &'static str), u64>,
    pub(crate) deltas: redb::Table<'t, (&'static str, u64, u64, u64), &'static [u8]>,
    pub(crate) seen: redb::Table<'t, (&'static str, &'static str), u64>,
}

impl<'t> Tables<'t> {
    pub(crate) fn open(tx: &'t redb::WriteTransaction) -> Result<Tables<'t>, StoreError> {
        Ok(Tables {
            meta: tx.open_table(META).map_err(err)?,
            series: tx.open_table(SERIES).map_err(err)?,
            series_key: tx.open_table(SERIES_KEY).map_err(err)?,
            postings: tx.open_table(POSTINGS).map_err(err)?,
            label_names: tx.open_table(LABEL_NAMES).map_err(err)?,
            label_values: tx.open_table(LABEL_VALUES).map_err(err)?,
            deltas: tx.open_table(DELTAS).map_err(err)?,
            seen: tx.open_table(SEEN).map_err(err)?,
        })
    }

    /// The next value of counter `name` (starting at 1).
    pub(crate) fn next(&mut self, name: &str) -> Result<u64, StoreError> {
        let v = self.meta.get(name).map_err(err)?.map_or(0, |g| g.value()) + 1;
        self.meta.insert(name, v).map_err(err)?;
        Ok(v)
    }

    /// The id of a series (created with its postings when new); its metadata updated when it
    /// changed (the last write wins).
    pub(crate) fn series_id(&mut self, tenant: &str, s: &OwnedSeries) -> Result<u64, StoreError> {
        let meta = serde_json::to_vec(&s.meta).map_err(err)?;
        if let Some(id) = self
            .series_key
            .get((tenant, s.key.as_str()))
            .map_err(err)?
            .map(|g| g.value())
        {
            let same = self
                .series
                .get((tenant, id))
                .map_err(err)?
                .is_some_and(|g| g.value() == meta.as_slice());
            if !same {
                self.series
                    .insert((tenant, id), meta.as_slice())
                    .map_err(err)?;
            }
            return Ok(id);
        }
        let id = self.next("next_series")?;
        self.series_key
            .insert((tenant, s.key.as_str()), id)
            .map_err(err)?;
        self.series
            .insert((tenant, id), meta.as_slice())
            .map_err(err)?;
        let labels = std::iter::once((NAME, s.meta.app.as_str()))
            .chain(s.meta.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        for (k, v) in labels {
            self.postings.insert((tenant, k, v, id), ()).map_err(err)?;
            let n = self
                .label_names
                .get((tenant, k))
                .map_err(err)?
                .map_or(0, |g| g.value());
            self.label_names.insert((tenant, k), n + 1).map_err(err)?;
            let n = self
                .label_values
                .get((tenant, k, v))
                .map_err(err)?
                .map_or(0, |g| g.value());
            self.label_values
                .insert((tenant, k, v), n + 1)
                .map_err(err)?;
        }
        Ok(id)
    }

    /// Removes a series, its key and its postings (its deltas must be gone already).
    pub(crate) fn remove_series(&mut self, tenant: &str, id: u64) -> Result<(), StoreError> {
        let Some(meta) = self.series.remove((tenant, id)).map_err(err)? else {
            return Ok(());
        };
        let meta: Meta = serde_json::from_slice(meta.value()).map_err(err)?;
        let name = meta.name()?;
        self.series_key
            .remove((tenant, name.key().as_str()))
            .map_err(err)?;
        let labels = std::iter::once((NAME, meta.app.as_str()))
            .chain(meta.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        for (k, v) in labels {
            self.postings.remove((tenant, k, v, id)).map_err(err)?;
            let n = self
                .label_names
                .get((tenant, k))
                .map_err(err)?
                .map_or(0, |g| g.value());
            if n <= 1 {
                self.label_names.remove((tenant, k)).map_err(err)?;
            } else {
                self.label_names.insert((tenant, k), n - 1).map_err(err)?;
            }
            let n = self
                .label_values
                .get((tenant, k, v))
                .map_err(err)?
                .map_or(0, |g| g.value());
            if n <= 1 {
                self.label_values.remove((tenant, k, v)).map_err(err)?;
            } else {
                self.label_values
                    .insert((tenant, k, v), n - 1)
                    .map_err(err)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod delta_tests {
    use super::*;
    use pyro_tree::StackSink;

    fn tree(stacks: &[(&str, u64)]) -> StackTree<'static> {
        let mut t = StackTree::new();
        for (s, v) in stacks {
            let frames: Vec<&str> = pyro_tree::transport::split_stack(s).collect();
            t.add_transient(&frames, *v);
        }
        t
    }

    fn deep() -> StackTree<'static> {
        let frames: Vec<String> = (0..60)
            .map(|i| format!("org/example/service/Handler{i}.handleRequest"))
            .collect();
        let stacks: Vec<(String, u64)> =
            (1..60).map(|d| (frames[..d].join(";"), d as u64)).collect();
        let refs: Vec<(&str, u64)> = stacks.iter().map(|(s, v)| (s.as_str(), *v)).collect();
        tree(&refs)
    }

    #[test]
    fn deltas_round_trip_deflated_and_smaller() {
        let t = deep();
        let raw = t.to_tree_bytes().len();
        let bytes = encode_delta(7, &t);
        assert_eq!(
            u64::from_le_bytes(bytes[..8].try_into().unwrap()),
            7 | DEFLATED
        );
        assert!(bytes.len() * 5 < raw, "{} of {raw}", bytes.len());
        let (writes, back) = decode_delta(&bytes).unwrap();
        assert_eq!(writes, 7);
        assert_eq!(back.to_folded(), t.to_folded());
    }

    #[test]
    fn plain_deltas_of_earlier_versions_still_read() {
        let t = tree(&[("a;b", 3), ("a;c", 4)]);
        let mut old = 2u64.to_le_bytes().to_vec();
        old.extend_from_slice(&t.to_tree_bytes());
        let (writes, back) = decode_delta(&old).unwrap();
        assert_eq!((writes, back.to_folded()), (2, "a;b 3\na;c 4\n".to_owned()));
        // A tiny tree that deflate cannot shrink is stored plain.
        let tiny = tree(&[("x", 1)]);
        let bytes = encode_delta(1, &tiny);
        assert_eq!(u64::from_le_bytes(bytes[..8].try_into().unwrap()), 1);
        assert_eq!(decode_delta(&bytes).unwrap().1.to_folded(), "x 1\n");
    }

    #[test]
    fn corrupt_deflated_deltas_are_errors() {
        let mut bytes = encode_delta(1, &deep());
        // An inflated length no stream of this size can reach.
        let mut huge = bytes.clone();
        huge[8..16].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(
            decode_delta(&huge)
                .unwrap_err()
                .to_string()
                .contains("inflated length")
        );
        // A length one byte off.
        let mut off = bytes.clone();
        let len = u64::from_le_bytes(off[8..16].try_into().unwrap());
        off[8..16].copy_from_slice(&(len + 1).to_le_bytes());
        assert!(decode_delta(&off).is_err());
        // Damaged deflate data, and a cut.
        let n = bytes.len();
        bytes[n / 2] ^= 0xff;
        assert!(decode_delta(&bytes).is_err());
        assert!(decode_delta(&bytes[..12]).is_err());
    }
}
