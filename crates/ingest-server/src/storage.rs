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

use crate::ingest::Series;

/// Slot width in seconds (OG's segment resolution).
pub const SLOT_SECONDS: i64 = 10;

const SERIES: TableDefinition<&str, &[u8]> = TableDefinition::new("series");
const SLOTS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("slots");

/// What is stored about a series (the last write wins, as in OG).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// `units`.
    pub units: String,
    /// `aggregationType`.
    pub aggregation: String,
    /// `sampleRate`.
    pub sample_rate: u32,
    /// `spyName`.
    pub spy_name: String,
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
#[derive(Debug)]
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
    pyro_tree::transport::read_tree(tree_bytes, &TransportLimits::default(), &mut tree)
        .map_err(|e| err(format!("corrupt slot: {e}")))?;
    Ok((u64::from_le_bytes(*w), tree.into_owned()))
}

/// The database.
pub struct Store {
    db: Database,
}

impl Store {
    /// Opens (or creates) `dir/pyro.redb`. A database left half-written by a crash is repaired by
    /// redb; one that cannot be opened is reported as an error, never a panic.
    ///
    /// # Errors
    /// The directory cannot be created or the database cannot be opened.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
        let path = dir.join("pyro.redb");
        let db = Database::create(&path).map_err(|e| err(format!("{}: {e}", path.display())))?;
        let tx = db.begin_write().map_err(err)?;
        tx.open_table(SERIES).map_err(err)?;
        tx.open_table(SLOTS).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Store { db })
    }

    /// Merges every series of one request into the slot of `start`, in one durable transaction:
    /// all of them are stored or none.
    ///
    /// # Errors
    /// A storage failure; nothing is stored then.
    pub fn put(&self, start: i64, series: &[Series<'_>]) -> Result<(), StoreError> {
        let slot = slot_of(start).max(0) as u64;
        let tx = self.db.begin_write().map_err(err)?;
        {
            let mut meta = tx.open_table(SERIES).map_err(err)?;
            let mut slots = tx.open_table(SLOTS).map_err(err)?;
            for s in series {
                let key = s.name.to_string();
                let m = Meta {
                    units: s.units.clone(),
                    aggregation: s.aggregation.clone(),
                    sample_rate: s.sample_rate,
                    spy_name: s.spy_name.clone(),
                };
                let m = serde_json::to_vec(&m).map_err(err)?;
                meta.insert(key.as_str(), m.as_slice()).map_err(err)?;
                let existing = slots
                    .get((key.as_str(), slot))
                    .map_err(err)?
                    .map(|v| decode_slot(v.value()))
                    .transpose()?;
                let bytes = match existing {
                    Some((writes, mut tree)) => {
                        tree.merge(&s.tree.clone().into_owned());
                        if tree.overflowed() {
                            return Err(err(format!("{key}: stored values overflow 64 bits")));
                        }
                        encode_slot(writes + 1, &tree)
                    }
                    None => encode_slot(1, &s.tree),
                };
                slots
                    .insert((key.as_str(), slot), bytes.as_slice())
                    .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// Every series with its metadata, sorted by key.
    ///
    /// # Errors
    /// A storage failure or a corrupt entry.
    pub fn series(&self) -> Result<Vec<(SeriesName, Meta)>, StoreError> {
        let tx = self.db.begin_read().map_err(err)?;
        let t = tx.open_table(SERIES).map_err(err)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(err)? {
            let (k, v) = item.map_err(err)?;
            let name =
                SeriesName::parse(k.value()).map_err(|e| err(format!("corrupt key: {e}")))?;
            let meta: Meta = serde_json::from_slice(v.value()).map_err(err)?;
            out.push((name, meta));
        }
        Ok(out)
    }

    /// The slots of series `key` whose start lies in `[from, until]`.
    ///
    /// # Errors
    /// A storage failure or a corrupt slot.
    pub fn read(&self, key: &str, from: i64, until: i64) -> Result<Vec<Slot>, StoreError> {
        let tx = self.db.begin_read().map_err(err)?;
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
        let tx = self.db.begin_write().map_err(err)?;
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
