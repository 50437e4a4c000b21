//! Writes: a request's series, each appended as one delta in the type's unit, committed in one
//! transaction with whatever else the caller queues in it ([`Outbox`]).

use std::collections::HashMap;
use std::sync::Arc;

use pyro_tree::StackTree;
use redb::ReadableTable;

use crate::SPANS;
use crate::error::{ErrorKind, StoreError};
use crate::levels::{LEVELS, level_width, slot_of};
use crate::queue::{Queue, QueueItem};
use crate::stacks::{NODES, PartitionIndex, SYMBOLS, partition_of};
use crate::{
    COMPACT_AT, DELTAS, DIRTY, LABEL_NAMES, LABEL_VALUES, META, Meta, NAME, POSTINGS, ROLLUPS,
    SEEN, SEEN_AT, SERIES, SERIES_KEY, SlotRef, Store, TYPE_POSTINGS, Typed, codec,
};

/// One series of a request, owned so it can travel to the writer thread, with what can be
/// prepared on the request's own thread (values converted to the profile type's unit, the
/// metadata's hash) done there; the writer thread maps its stacks to stack-table ids and inserts.
#[derive(Debug)]
pub struct OwnedSeries {
    /// Normalized series key (without the tenant).
    pub key: String,
    /// Its metadata, as uploaded.
    pub meta: Meta,
    /// Its profile type.
    pub typed: Typed,
    /// Its stacks, values in the profile type's unit (CPU samples × [`Typed::scale`]).
    pub tree: StackTree<'static>,
    /// The samples of `tree` that carried a span id, per span, in the same unit.
    pub spans: Vec<(String, StackTree<'static>)>,
    /// Hash of `meta` (a known series whose metadata did not change touches only the deltas).
    meta_hash: u64,
}

impl OwnedSeries {
    /// A series to store: converts its values (given in the upload's units, `meta.units` at
    /// `meta.sample_rate`) to its profile type's unit and hashes its metadata. A value that overflows 64 bits, as sent or once converted, makes the write
    /// fail with [`ErrorKind::Overflow`] when it is committed.
    pub fn new(key: String, meta: Meta, mut tree: StackTree<'static>) -> OwnedSeries {
        let typed = meta.typed();
        tree.multiply(typed.scale);
        OwnedSeries {
            meta_hash: meta_hash(&meta),
            typed,
            key,
            meta,
            tree,
            spans: Vec::new(),
        }
    }

    /// The series with its span trees (span id, the samples that carried it), converted to its
    /// profile type's unit as its tree is.
    pub fn with_spans(mut self, spans: Vec<(String, StackTree<'static>)>) -> OwnedSeries {
        self.spans = spans
            .into_iter()
            .map(|(id, mut t)| {
                t.multiply(self.typed.scale);
                (id, t)
            })
            .collect();
        self
    }
}

/// Requests to queue durably in the transaction that stores a write (one commit, one fsync):
/// one item on each of `queues`.
#[derive(Debug)]
pub struct Outbox {
    /// The queues that take it.
    pub queues: Vec<Arc<Queue>>,
    /// The item.
    pub item: QueueItem,
}

/// Everything one request stores.
#[derive(Debug)]
pub struct Write {
    /// The tenant (empty: single tenant).
    pub tenant: String,
    /// IDs of the push samples it came from: a write whose IDs were stored before is a
    /// redelivery and is acknowledged without storing it again.
    pub ids: Vec<String>,
    /// Start time (Unix seconds); the write lands whole in this time's slot.
    pub start: i64,
    /// The series.
    pub series: Vec<OwnedSeries>,
    /// Items queued in the same transaction.
    pub outbox: Option<Outbox>,
}

impl Write {
    /// An empty write of `tenant` at `start`.
    pub fn at(tenant: &str, start: i64) -> Write {
        Write {
            tenant: tenant.to_owned(),
            ids: Vec::new(),
            start,
            series: Vec::new(),
            outbox: None,
        }
    }

    /// Turns a request's series into an owned write for `tenant` (empty: single tenant).
    pub fn new(tenant: &str, start: i64, series: Vec<pyro_ingest::Series<'_>>) -> Write {
        // Trees that share one shape (a profile's sample types and label sets) keep sharing it.
        Write {
            series: pyro_tree::StackTree::take_owned_all(series, |s| &mut s.tree)
                .into_iter()
                .map(|(s, tree)| {
                    let meta = Meta::of(tenant, &s);
                    let spans = s
                        .spans
                        .into_iter()
                        .map(|(id, t)| (id, t.into_owned()))
                        .collect();
                    OwnedSeries::new(s.name.key(), meta, tree).with_spans(spans)
                })
                .collect(),
            ..Write::at(tenant, start)
        }
    }
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
    /// tenant → (series id, partition) → stack-table index; and the entries they hold.
    stacks: HashMap<String, HashMap<(u64, u64), PartitionIndex>>,
    stacks_len: usize,
}

/// Seconds a slot's delta counter is kept after newer slots were written.
const SLOT_COUNTER_WINDOW: u64 = 60;

/// Entries of either cache map before it is cleared.
const CACHE_LIMIT: usize = 1 << 20;

/// Names and nodes of cached stack tables before the cache is cleared (about 100 bytes each).
const STACKS_LIMIT: usize = 4 << 20;

impl WriteCache {
    pub(crate) fn clear(&mut self) {
        self.series.clear();
        self.slots.clear();
        self.stacks.clear();
        self.series_len = 0;
        self.slots_len = 0;
        self.stacks_len = 0;
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

/// The rollup watermarks: windows of level `k` that end at or before `until[k]` are closed
/// (may have a rollup). `until[0]` is unused.
pub(crate) fn watermarks(
    meta: &impl ReadableTable<&'static str, u64>,
) -> Result<[i64; LEVELS], StoreError> {
    let mut until = [0i64; LEVELS];
    for (k, u) in until.iter_mut().enumerate().skip(1) {
        *u = meta
            .get(watermark_key(k).as_str())?
            .map_or(0, |g| g.value() as i64);
    }
    Ok(until)
}

/// The `meta` key of level `k`'s watermark.
pub(crate) fn watermark_key(k: usize) -> String {
    format!("rollup_until_{k}")
}

impl Store {
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
    /// A write into a window that is already rolled up (a late or back-dated upload) removes
    /// that window's rollups at every level and marks it for the [`crate::Roller`], in this same
    /// transaction: a read sees either the rollup or the raw data, never both.
    ///
    /// # Errors
    /// The transaction could not be committed; nothing of the batch is stored.
    #[allow(clippy::type_complexity)]
    pub fn commit(
        &self,
        writes: Vec<Write>,
    ) -> Result<(Vec<Result<(), StoreError>>, Vec<SlotRef>), StoreError> {
        let r = self.commit_inner(writes);
        if r.is_err() {
            // The writer's memory may name ids of the transaction that failed.
            self.forget();
        }
        r
    }

    #[allow(clippy::type_complexity)]
    fn commit_inner(
        &self,
        writes: Vec<Write>,
    ) -> Result<(Vec<Result<(), StoreError>>, Vec<SlotRef>), StoreError> {
        let tx = self.begin_write()?;
        let mut results = Vec::with_capacity(writes.len());
        let mut crowded = Vec::new();
        let mut queued = Vec::new();
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.series_len > CACHE_LIMIT
            || cache.slots_len > CACHE_LIMIT
            || cache.stacks_len > STACKS_LIMIT
        {
            cache.clear();
        }
        {
            let mut t = Tables::open(&tx)?;
            let until = watermarks(&t.meta)?;
            let now = crate::now().max(0);
            let max_series = self.max_series.load(std::sync::atomic::Ordering::Relaxed);
            let mut seq = t.meta.get("next_seq")?.map_or(0, |g| g.value());
            for w in &writes {
                if let Some(s) = w.series.iter().find(|s| s.tree.overflowed()) {
                    results.push(Err(StoreError::new(
                        ErrorKind::Overflow,
                        format_args!(
                            "{}: values overflow 64 bits in {}",
                            s.key, s.typed.profile_type.sample_unit
                        ),
                    )));
                    continue;
                }
                if max_series > 0 {
                    let mut new = 0u64;
                    for s in &w.series {
                        if cache.series_id(&w.tenant, &s.key, s.meta_hash).is_none()
                            && t.series_key
                                .get((w.tenant.as_str(), s.key.as_str()))?
                                .is_none()
                        {
                            new += 1;
                        }
                    }
                    let have = if new > 0 {
                        t.label_names
                            .get((w.tenant.as_str(), NAME))?
                            .map_or(0, |g| g.value())
                    } else {
                        0
                    };
                    if new > 0 && have + new > max_series {
                        results.push(Err(StoreError::new(
                            ErrorKind::SeriesLimit,
                            format_args!(
                                "the tenant has {have} series; {new} more would pass its limit \
                                 of {max_series}"
                            ),
                        )));
                        continue;
                    }
                }
                let slot = slot_of(w.start).max(0);
                let mut redelivered = false;
                for id in &w.ids {
                    redelivered |= t.seen.get((w.tenant.as_str(), id.as_str()))?.is_some();
                }
                if redelivered {
                    results.push(Ok(()));
                    continue;
                }
                for id in &w.ids {
                    t.seen
                        .insert((w.tenant.as_str(), id.as_str()), now as u64)?;
                    t.seen_at
                        .insert((now as u64, w.tenant.as_str(), id.as_str()), ())?;
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
                    let part = partition_of(slot) as u64;
                    let (values, grown) = {
                        let stacks = of_tenant(&mut cache.stacks, &w.tenant);
                        // A freshly loaded index counts whole in the cache's bound.
                        let (ix, before) = match stacks.entry((id, part)) {
                            std::collections::hash_map::Entry::Occupied(e) => {
                                let ix = e.into_mut();
                                let n = ix.len();
                                (ix, n)
                            }
                            std::collections::hash_map::Entry::Vacant(e) => (
                                e.insert(PartitionIndex::load(
                                    &t.syms,
                                    &t.nodes,
                                    (&w.tenant, id, part),
                                )?),
                                0,
                            ),
                        };
                        let v =
                            ix.intern(&s.tree, &mut t.syms, &mut t.nodes, (&w.tenant, id, part))?;
                        (v, ix.len() - before)
                    };
                    cache.stacks_len += grown;
                    let delta = codec::encode(1, &values).ok_or_else(|| {
                        StoreError::new(ErrorKind::Overflow, "values overflow 64 bits")
                    })?;
                    t.deltas
                        .insert((w.tenant.as_str(), id, slot as u64, seq), delta.as_slice())?;
                    // Span samples: node ids of the same stack table (their stacks are the
                    // series' own, interned above).
                    for (span, tree) in &s.spans {
                        let ix = of_tenant(&mut cache.stacks, &w.tenant)
                            .get_mut(&(id, part))
                            .ok_or_else(|| crate::error::corrupt("stack index gone"))?;
                        let before = ix.len();
                        let v =
                            ix.intern(tree, &mut t.syms, &mut t.nodes, (&w.tenant, id, part))?;
                        cache.stacks_len += ix.len() - before;
                        let entry = codec::encode(1, &v).ok_or_else(|| {
                            StoreError::new(ErrorKind::Overflow, "values overflow 64 bits")
                        })?;
                        t.spans.insert(
                            (w.tenant.as_str(), id, slot as u64, span.as_str(), seq),
                            entry.as_slice(),
                        )?;
                    }
                    if slot < until[1] {
                        t.invalidate(&w.tenant, id, slot, &until)?;
                    }
                    if cache.count_delta(&w.tenant, id, slot as u64) {
                        crowded.push((w.tenant.clone(), id, slot as u64));
                    }
                }
                if let Some(o) = &w.outbox {
                    for q in &o.queues {
                        q.append(&tx, &mut t.meta, &o.item)?;
                    }
                    queued.push(o);
                }
                results.push(Ok(()));
            }
            t.meta.insert("next_seq", seq)?;
        }
        drop(cache);
        tx.commit()?;
        for o in queued {
            for q in &o.queues {
                q.appended(o.item.body.len() as u64);
            }
        }
        Ok((results, crowded))
    }
}

/// The tables a write touches, open in one write transaction.
pub(crate) struct Tables<'t> {
    pub(crate) meta: redb::Table<'t, &'static str, u64>,
    pub(crate) series: redb::Table<'t, (&'static str, u64), &'static [u8]>,
    pub(crate) series_key: redb::Table<'t, (&'static str, &'static str), u64>,
    pub(crate) postings: redb::Table<'t, (&'static str, &'static str, &'static str, u64), ()>,
    pub(crate) type_postings: redb::Table<'t, (&'static str, &'static str, u64), ()>,
    pub(crate) label_names: redb::Table<'t, (&'static str, &'static str), u64>,
    pub(crate) label_values: redb::Table<'t, (&'static str, &'static str, &'static str), u64>,
    pub(crate) deltas: redb::Table<'t, (&'static str, u64, u64, u64), &'static [u8]>,
    pub(crate) rollups: redb::Table<'t, (&'static str, u64, u64, u64), &'static [u8]>,
    pub(crate) dirty: redb::Table<'t, (u64, u64, &'static str, u64), ()>,
    pub(crate) seen: redb::Table<'t, (&'static str, &'static str), u64>,
    pub(crate) seen_at: redb::Table<'t, (u64, &'static str, &'static str), ()>,
    pub(crate) syms: redb::Table<'t, (&'static str, u64, u64, u64), &'static [u8]>,
    pub(crate) nodes: redb::Table<'t, (&'static str, u64, u64, u64), &'static [u8]>,
    pub(crate) spans: redb::Table<'t, (&'static str, u64, u64, &'static str, u64), &'static [u8]>,
}

impl<'t> Tables<'t> {
    pub(crate) fn open(tx: &'t redb::WriteTransaction) -> Result<Tables<'t>, StoreError> {
        Ok(Tables {
            meta: tx.open_table(META)?,
            series: tx.open_table(SERIES)?,
            series_key: tx.open_table(SERIES_KEY)?,
            postings: tx.open_table(POSTINGS)?,
            type_postings: tx.open_table(TYPE_POSTINGS)?,
            label_names: tx.open_table(LABEL_NAMES)?,
            label_values: tx.open_table(LABEL_VALUES)?,
            deltas: tx.open_table(DELTAS)?,
            rollups: tx.open_table(ROLLUPS)?,
            dirty: tx.open_table(DIRTY)?,
            seen: tx.open_table(SEEN)?,
            seen_at: tx.open_table(SEEN_AT)?,
            syms: tx.open_table(SYMBOLS)?,
            nodes: tx.open_table(NODES)?,
            spans: tx.open_table(SPANS)?,
        })
    }

    /// The next value of counter `name` (starting at 1).
    pub(crate) fn next(&mut self, name: &str) -> Result<u64, StoreError> {
        let v = self.meta.get(name)?.map_or(0, |g| g.value()) + 1;
        self.meta.insert(name, v)?;
        Ok(v)
    }

    /// Drops the rollups of every closed window that holds `slot` and marks its level-1 window
    /// for rebuilding (which climbs to the levels above).
    pub(crate) fn invalidate(
        &mut self,
        tenant: &str,
        id: u64,
        slot: i64,
        until: &[i64; LEVELS],
    ) -> Result<(), StoreError> {
        for (k, &u) in until.iter().enumerate().skip(1) {
            if slot >= u {
                break;
            }
            let w = level_width(k);
            let window = slot.div_euclid(w) * w;
            self.rollups.remove((tenant, id, k as u64, window as u64))?;
        }
        let w1 = slot.div_euclid(level_width(1)) * level_width(1);
        self.dirty.insert((1, w1 as u64, tenant, id), ())?;
        Ok(())
    }

    /// The id of a series (created with its postings when new); its metadata updated when it
    /// changed (the last write wins).
    pub(crate) fn series_id(&mut self, tenant: &str, s: &OwnedSeries) -> Result<u64, StoreError> {
        let meta = serde_json::to_vec(&s.meta).map_err(crate::error::io)?;
        if let Some(id) = self
            .series_key
            .get((tenant, s.key.as_str()))?
            .map(|g| g.value())
        {
            let old: Option<Meta> = match self.series.get((tenant, id))? {
                Some(g) if g.value() == meta.as_slice() => return Ok(id),
                Some(g) => serde_json::from_slice(g.value()).ok(),
                None => None,
            };
            self.series.insert((tenant, id), meta.as_slice())?;
            // A new type (other units or sample rate under the same name) moves its posting.
            if let Some(old) = old {
                let was = old.typed().profile_type.id;
                if was != s.typed.profile_type.id {
                    self.type_postings.remove((tenant, was.as_str(), id))?;
                    self.type_postings
                        .insert((tenant, s.typed.profile_type.id.as_str(), id), ())?;
                }
            }
            return Ok(id);
        }
        let id = self.next("next_series")?;
        self.add_series(tenant, id, &s.key, &s.meta, &meta)?;
        Ok(id)
    }

    /// Inserts series `id` with its key, metadata and postings.
    pub(crate) fn add_series(
        &mut self,
        tenant: &str,
        id: u64,
        key: &str,
        meta: &Meta,
        meta_json: &[u8],
    ) -> Result<(), StoreError> {
        self.series_key.insert((tenant, key), id)?;
        self.series.insert((tenant, id), meta_json)?;
        self.type_postings
            .insert((tenant, meta.typed().profile_type.id.as_str(), id), ())?;
        let labels = std::iter::once((NAME, meta.app.as_str()))
            .chain(meta.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        for (k, v) in labels {
            self.postings.insert((tenant, k, v, id), ())?;
            let n = self.label_names.get((tenant, k))?.map_or(0, |g| g.value());
            self.label_names.insert((tenant, k), n + 1)?;
            let n = self
                .label_values
                .get((tenant, k, v))?
                .map_or(0, |g| g.value());
            self.label_values.insert((tenant, k, v), n + 1)?;
        }
        Ok(())
    }

    /// Removes a series, its key and its postings (its deltas and rollups must be gone already).
    pub(crate) fn remove_series(&mut self, tenant: &str, id: u64) -> Result<(), StoreError> {
        let Some(meta) = self.series.remove((tenant, id))? else {
            return Ok(());
        };
        let meta: Meta = serde_json::from_slice(meta.value()).map_err(crate::error::corrupt)?;
        let name = meta.name()?;
        self.series_key.remove((tenant, name.key().as_str()))?;
        self.type_postings
            .remove((tenant, meta.typed().profile_type.id.as_str(), id))?;
        let labels = std::iter::once((NAME, meta.app.as_str()))
            .chain(meta.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        for (k, v) in labels {
            self.postings.remove((tenant, k, v, id))?;
            let n = self.label_names.get((tenant, k))?.map_or(0, |g| g.value());
            if n <= 1 {
                self.label_names.remove((tenant, k))?;
            } else {
                self.label_names.insert((tenant, k), n - 1)?;
            }
            let n = self
                .label_values
                .get((tenant, k, v))?
                .map_or(0, |g| g.value());
            if n <= 1 {
                self.label_values.remove((tenant, k, v))?;
            } else {
                self.label_values.insert((tenant, k, v), n - 1)?;
            }
        }
        Ok(())
    }
}
