//! `pyro-store`: embedded storage for profiles (redb), with no HTTP in it.
//!
//! - **One data model.** Every series has a Grafana Pyroscope profile type ([`types::of`]) and
//!   its values are stored in that type's unit: CPU and wall samples at a sample rate become
//!   nanoseconds (× 10⁹ / rate, GP's period), bytes stay bytes, counts stay counts. A merge over
//!   series of different formats adds like with like; OG's `/render` divides back by the
//!   series' [`Typed::scale`] at the end, so an OG client sees what it sent.
//! - **Writes cost their own size.** A request's series append one delta each, keyed by
//!   (tenant, series, 10-second slot, sequence), in one transaction committed with fsync before
//!   the caller acknowledges (group commit, [`Writer`]).
//! - **Time has levels.** In the background ([`Roller`]) closed windows of 100 s, 1000 s, …,
//!   10⁶ s (OG's ×10 ladder) are pre-merged into rollups, each from the level below. A read of
//!   any range merges O(levels × 18) trees ([`Store::merge_range`]) and a timeline reads only
//!   the totals in the entries' headers ([`Store::totals`]). A write into a window already
//!   rolled up (a late or back-dated upload) deletes that window's rollups at every level in its
//!   own transaction and marks it for rebuilding, so raw and rolled-up data of one window are
//!   never both counted.
//! - **Reads are bounded.** A read streams into one tree under a [`ReadBudget`]: a node limit
//!   (an answer larger than it is a [`ErrorKind::Budget`] error) and a cancel flag checked
//!   between entries.
//! - **Series are found through postings**: (tenant, label, value) → series ids, and
//!   (tenant, profile type) → series ids.
//!
//! ```
//! use pyro_store::{Meta, OwnedSeries, ReadBudget, Store, Write};
//! use pyro_tree::{StackSink, StackTree};
//!
//! let dir = std::env::temp_dir().join(format!("pyro-store-doc-{}", std::process::id()));
//! let store = Store::open(&dir)?;
//! let mut tree = StackTree::new();
//! tree.add(&["main", "work"], 3);
//! let meta = Meta {
//!     app: "app.cpu".into(),
//!     units: "samples".into(),
//!     sample_rate: 100,
//!     ..Meta::default()
//! };
//! let write = Write {
//!     series: vec![OwnedSeries::new("app.cpu{}".into(), meta, tree)],
//!     ..Write::at("", 1_700_000_000)
//! };
//! store.put_batch(vec![write]).into_iter().collect::<Result<Vec<()>, _>>()?;
//! let found = store.select("", pyro_store::Selection::All)?;
//! let merged = store.merge_range("", found[0].id, 1_699_999_990, 1_700_000_010, &ReadBudget::default())?;
//! // Stored in nanoseconds: 3 samples at 100 Hz.
//! assert_eq!(merged.tree.total(), 30_000_000);
//! # drop(store);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), pyro_store::StoreError>(())
//! ```

mod codec;
mod compact;
mod error;
mod levels;
mod migrate;
pub mod queue;
mod read;
mod retention;
mod rollup;
mod stacks;
pub mod types;
mod write;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use pyro_labels::SeriesName;
use redb::{Database, TableDefinition};
use serde::{Deserialize, Serialize};

pub use compact::{COMPACT_AT, CompactionStats, Compactor, SlotRef};
pub use error::{ErrorKind, StoreError};
pub use levels::{
    LEVELS, Merged, RangeStats, ReadBudget, Reserve, SLOT_SECONDS, Upload, level_width, ms_to_s,
    slot_of,
};
pub use migrate::{V1Slots, write_v1};
pub use read::{Found, Selection, labels_of};
pub use retention::parse_retention;
pub use rollup::{GRACE, Roller, RollupStats};
pub use stacks::{PARTITION_SECONDS, partition_of};
pub use types::{ProfileType, Typed};
pub use write::{Outbox, OwnedSeries, Write};
pub use writer::{MAX_BATCH, Writer, WriterHooks};

use error::{corrupt, io};

/// Page cache of the store's database (redb's default is 1 GiB, which let RSS follow the
/// database's size).
pub const STORE_CACHE_BYTES: usize = 64 << 20;

/// The label the app name is posted under.
pub const NAME: &str = "__name__";

/// Counters: `version`, `next_series`, `next_seq`, rollup watermarks, queue counters.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// (tenant, series id) → [`Meta`] JSON.
pub(crate) const SERIES: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("series_v2");
/// (tenant, series key) → series id.
pub(crate) const SERIES_KEY: TableDefinition<(&str, &str), u64> =
    TableDefinition::new("series_key");
/// Postings: (tenant, label, value, series id).
pub(crate) const POSTINGS: TableDefinition<(&str, &str, &str, u64), ()> =
    TableDefinition::new("postings");
/// Profile-type postings: (tenant, profile type id, series id).
pub(crate) const TYPE_POSTINGS: TableDefinition<(&str, &str, u64), ()> =
    TableDefinition::new("type_postings");
/// (tenant, label) → number of series with it.
pub(crate) const LABEL_NAMES: TableDefinition<(&str, &str), u64> =
    TableDefinition::new("label_names");
/// (tenant, label, value) → number of series with it.
pub(crate) const LABEL_VALUES: TableDefinition<(&str, &str, &str), u64> =
    TableDefinition::new("label_values");
/// (tenant, push sample id) → Unix seconds when it was stored (redeliveries are stored once).
pub(crate) const SEEN: TableDefinition<(&str, &str), u64> = TableDefinition::new("seen");
/// (Unix seconds when stored, tenant, push sample id): [`SEEN`] by age, for forgetting.
pub(crate) const SEEN_AT: TableDefinition<(u64, &str, &str), ()> = TableDefinition::new("seen_at");

/// Seconds a push sample ID is remembered (a redelivery within it is stored once), or the
/// retention when that is shorter.
pub const SEEN_SECONDS: i64 = 7 * 86_400;
/// (tenant, series id, slot, sequence) → entry ([`codec`]), values in the type's unit.
pub(crate) const DELTAS: TableDefinition<(&str, u64, u64, u64), &[u8]> =
    TableDefinition::new("deltas_v3");
/// (tenant, series id, level, window start) → entry: the merge of the window at that level.
pub(crate) const ROLLUPS: TableDefinition<(&str, u64, u64, u64), &[u8]> =
    TableDefinition::new("rollups");
/// (tenant, series id, slot, span id, sequence) → entry ([`codec`]): the samples of a write that
/// carried that span id, node ids of the series' stack table (trace to profiles).
pub(crate) const SPANS: TableDefinition<(&str, u64, u64, &str, u64), &[u8]> =
    TableDefinition::new("spans");
/// (level, window start, tenant, series id): windows whose rollup is to be (re)built.
pub(crate) const DIRTY: TableDefinition<(u64, u64, &str, u64), ()> =
    TableDefinition::new("rollup_dirty");

/// What is stored about a series, as its uploads described it (the last write wins, as in OG).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// The tenant (`X-Scope-OrgID` with multi-tenancy; empty otherwise).
    #[serde(default)]
    pub tenant: String,
    /// The app name (stored apart from the key, which cannot always be parsed back).
    #[serde(default)]
    pub app: String,
    /// The labels.
    #[serde(default)]
    pub labels: std::collections::BTreeMap<String, String>,
    /// `units` as uploaded.
    pub units: String,
    /// `aggregationType`.
    pub aggregation: pyro_ingest::Aggregation,
    /// `sampleRate`.
    pub sample_rate: u32,
    /// `spyName`.
    pub spy_name: String,
}

impl Meta {
    /// What is stored about `series` for `tenant`.
    pub fn of(tenant: &str, series: &pyro_ingest::Series<'_>) -> Meta {
        Meta {
            tenant: tenant.to_owned(),
            app: series.name.app().to_owned(),
            labels: series.name.labels().clone(),
            units: series.units.clone(),
            aggregation: series.aggregation,
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
        .map_err(|e| corrupt(format_args!("series {:?}: {e}", self.app)))
    }

    /// Its profile type and unit conversion.
    pub fn typed(&self) -> Typed {
        types::of(self)
    }

    /// Whether reads average it (`aggregationType` `average` or `avg`).
    pub fn averaged(&self) -> bool {
        self.aggregation == pyro_ingest::Aggregation::Average
    }
}

/// The store's file in its data directory.
pub const FILE_NAME: &str = "pyro.redb";

/// Opens (or creates) the database at `path` with its tables, migrating older formats. redb
/// panics on some truncated files; such a panic is reported like any other corrupt file (the
/// default panic hook still prints it).
fn open_db(path: &Path) -> Result<Database, StoreError> {
    let open = || -> Result<Database, StoreError> {
        // A bounded page cache: the process' memory must not follow the database's size.
        let mut db = Database::builder()
            .set_cache_size(STORE_CACHE_BYTES)
            .create(path)
            .map_err(|e| io(format_args!("{}: {e}", path.display())))?;
        if migrate::create_and_migrate(&db)? {
            // The converted format takes a fraction of the old one's pages: give them back.
            let before = std::fs::metadata(path).map_or(0, |m| m.len());
            db.compact()
                .map_err(|e| io(format_args!("{}: compacting: {e}", path.display())))?;
            let after = std::fs::metadata(path).map_or(0, |m| m.len());
            tracing::info!(before, after, "database compacted after the conversion");
        }
        Ok(db)
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(open)) {
        Ok(r) => r,
        Err(panic) => {
            let why = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("unknown");
            Err(StoreError::new(
                ErrorKind::Corrupt,
                format_args!("{}: corrupt or truncated database ({why})", path.display()),
            ))
        }
    }
}

/// The database.
pub struct Store {
    /// `None` only while [`Store::reopen`] replaces a database that had an I/O error.
    db: RwLock<Option<Database>>,
    path: PathBuf,
    /// What the writer knows without reading the tables back.
    cache: std::sync::Mutex<write::WriteCache>,
    /// Most series one tenant may have (0: no limit).
    max_series: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (or creates) `dir/pyro.redb`, converting a data dir of an earlier format (1 or 2)
    /// on the way. A database left half-written by a crash is repaired by redb; one that cannot
    /// be opened (corrupt, truncated) is reported as an error, never a panic; an existing empty
    /// file is refused rather than replaced by a new database.
    ///
    /// # Errors
    /// The directory cannot be created or the database cannot be opened.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| io(format_args!("{}: {e}", dir.display())))?;
        let path = dir.join(FILE_NAME);
        if let Ok(m) = std::fs::metadata(&path)
            && m.len() == 0
        {
            return Err(StoreError::new(
                ErrorKind::Format,
                format_args!(
                    "{}: the file exists but is empty; refusing to replace it with a new \
                     database (move it away to start with an empty store)",
                    path.display()
                ),
            ));
        }
        let db = open_db(&path)?;
        Ok(Store {
            db: RwLock::new(Some(db)),
            path,
            cache: Default::default(),
            max_series: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// The open database, for one transaction.
    fn db(&self) -> Result<std::sync::RwLockReadGuard<'_, Option<Database>>, StoreError> {
        let g = self
            .db
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if g.is_none() {
            return Err(StoreError::new(
                ErrorKind::Unavailable,
                "storage is being reopened after an I/O error",
            ));
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
    pub fn begin_read(&self) -> Result<redb::ReadTransaction, StoreError> {
        let db = self.db()?;
        let db = db
            .as_ref()
            .ok_or_else(|| StoreError::new(ErrorKind::Unavailable, "closed"))?;
        Ok(redb::ReadableDatabase::begin_read(db)?)
    }

    /// A write transaction.
    pub fn begin_write(&self) -> Result<redb::WriteTransaction, StoreError> {
        let db = self.db()?;
        let db = db
            .as_ref()
            .ok_or_else(|| StoreError::new(ErrorKind::Unavailable, "closed"))?;
        Ok(db.begin_write()?)
    }

    /// Drops the writer's memory of series ids (call while holding a write transaction that
    /// deletes series).
    pub(crate) fn forget(&self) {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clear();
    }

    /// Sets the most series one tenant may have (0: no limit). A write that would create more
    /// fails whole with [`ErrorKind::SeriesLimit`]; writes to existing series go on.
    pub fn set_max_series_per_tenant(&self, n: u64) {
        self.max_series
            .store(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// Size of the database file, in bytes.
    pub fn file_bytes(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }
}

/// The stored-entry decoder on arbitrary bytes, for the fuzz target `store_entry`: the write
/// count and the values by node id of an entry, or why it is corrupt (never a panic, never more
/// than [`codec`]'s id bound allocated).
///
/// # Errors
/// A corrupt entry.
#[doc(hidden)]
pub fn decode_entry(bytes: &[u8]) -> Result<(u64, u64, Vec<u64>), StoreError> {
    let (writes, total) = codec::header(bytes)?;
    let mut values = Vec::new();
    // A tighter id bound than the stores' own, so fuzzing does not spend its time allocating.
    let w = codec::add_into(bytes, &mut values, 1 << 16)?;
    debug_assert_eq!(w, writes);
    Ok((writes, total, values))
}

/// Encodes an entry ([`decode_entry`]'s inverse), for the fuzz target.
#[doc(hidden)]
pub fn encode_entry(writes: u64, values: &[u64]) -> Option<Vec<u8>> {
    codec::encode(writes, values)
}

/// Decodes a stack table's symbol run and node run (for the fuzz target): the names and the
/// (parent, symbol) pairs.
///
/// # Errors
/// A run cut short, longer than its count, or with a name that is not UTF-8.
#[doc(hidden)]
pub fn decode_stack_runs(syms: &[u8], nodes: &[u8]) -> Result<stacks::DecodedRuns, StoreError> {
    stacks::decode_runs(syms, nodes)
}

/// Encodes names and nodes as the writer's runs (for the fuzz target).
#[doc(hidden)]
pub fn encode_stack_runs(names: &[String], nodes: &[(u32, u32)]) -> (Vec<u8>, Vec<u8>) {
    stacks::encode_runs(names, nodes)
}

/// Unix seconds now.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The README example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
