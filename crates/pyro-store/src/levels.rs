//! Time as levels, and reads over them.
//!
//! Level 0 is the raw 10-second slots (deltas); level `k` (1 ≤ k < [`LEVELS`]) holds rollups of
//! windows `10·10^k` seconds wide, aligned to the epoch (OG's ×10 ladder: 100 s, 1000 s, …,
//! 10⁶ s). A range decomposes into the widest windows it contains whole; a window without a
//! rollup (not closed yet, or invalidated by a late write) is read from the level below, runs of
//! such windows as one range, so a read touches O(levels × 18) entries whatever its length.

use std::sync::atomic::{AtomicBool, Ordering};

use pyro_tree::StackTree;
use redb::ReadableTable;

use crate::error::{ErrorKind, StoreError};
use crate::stacks::{NODES, PARTITION_SECONDS, SYMBOLS, Shape, partition_of};
use crate::{DELTAS, ROLLUPS, Store, codec};

/// Width of a slot in seconds (OG's segment resolution).
pub const SLOT_SECONDS: i64 = 10;

/// Number of levels, raw slots included.
pub const LEVELS: usize = 6;

/// Width in seconds of a window at `level` (10 s at level 0, ×10 per level).
pub const fn level_width(level: usize) -> i64 {
    let mut w = SLOT_SECONDS;
    let mut i = 0;
    while i < level {
        w *= 10;
        i += 1;
    }
    w
}

/// The slot a time (Unix seconds) falls in.
pub fn slot_of(t: i64) -> i64 {
    t.div_euclid(SLOT_SECONDS) * SLOT_SECONDS
}

/// A caller's hook that reserves memory for an answer as it grows: called with the answer's
/// node count each time it grew; an error stops the read with it (e.g. [`ErrorKind::Busy`]
/// when a process-wide budget is spent).
pub type Reserve<'c> = &'c (dyn Fn(usize) -> Result<(), StoreError> + Sync);

/// What a read may cost: the largest answer, in call-tree nodes, a flag that stops it, and a
/// hook that reserves the answer's memory as it grows.
#[derive(Clone, Copy)]
pub struct ReadBudget<'c> {
    /// Most nodes the merged tree may hold; a larger answer is an [`ErrorKind::Budget`] error.
    pub max_nodes: usize,
    /// Set by the caller to stop the read (checked between entries): [`ErrorKind::Cancelled`].
    pub cancel: Option<&'c AtomicBool>,
    /// Reserves memory for the answer's nodes as they are merged in.
    pub reserve: Option<Reserve<'c>>,
}

impl std::fmt::Debug for ReadBudget<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadBudget")
            .field("max_nodes", &self.max_nodes)
            .field("cancel", &self.cancel)
            .field("reserve", &self.reserve.is_some())
            .finish()
    }
}

impl Default for ReadBudget<'_> {
    /// Four million nodes (about 256 MB of tree), no cancel flag, no reservations.
    fn default() -> Self {
        ReadBudget {
            max_nodes: 4 << 20,
            cancel: None,
            reserve: None,
        }
    }
}

impl ReadBudget<'_> {
    /// An [`ErrorKind::Cancelled`] error once the read's cancel flag is set (checked between
    /// entries here, and by callers that loop over the store's answers themselves).
    ///
    /// # Errors
    /// The read was cancelled.
    pub fn check_cancelled(&self) -> Result<(), StoreError> {
        if self.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(StoreError::new(ErrorKind::Cancelled, "read cancelled"));
        }
        Ok(())
    }

    /// An error when `tree` grew past the budget, or its memory cannot be reserved.
    pub(crate) fn check_tree(&self, tree: &StackTree<'_>) -> Result<(), StoreError> {
        if let Some(reserve) = self.reserve {
            reserve(tree.node_count())?;
        }
        if tree.node_count() > self.max_nodes {
            return Err(StoreError::new(
                ErrorKind::Budget,
                format_args!(
                    "the answer would hold more than {} call-tree nodes (the read budget); \
                     narrow the query or the time range",
                    self.max_nodes
                ),
            ));
        }
        Ok(())
    }
}

/// A read's answer: the merged tree (values in the profile type's unit) and the number of
/// writes merged into it (for averaged series).
#[derive(Debug, Default)]
pub struct Merged {
    /// The merged tree.
    pub tree: StackTree<'static>,
    /// Writes merged.
    pub writes: u64,
    /// Stored entries (deltas and rollups) read.
    pub entries: u64,
}

/// Values by node id and writes merged, per stack-table partition.
type Parts = std::collections::BTreeMap<u64, (Vec<u64>, u64)>;

/// Adds a stored entry of the slot starting at `slot` to its partition in `parts`.
fn add_to_part(parts: &mut Parts, slot: u64, entry: &[u8]) -> Result<(), StoreError> {
    let (values, writes) = parts.entry(partition_of(slot as i64) as u64).or_default();
    *writes += codec::add_into(entry, values, codec::MAX_NODE_IDS)?;
    Ok(())
}

/// The slots starting in `[from, until)` as stored keys (times before 1970 are 0); `None` when
/// the range is empty.
fn slot_range((from, until): (i64, i64)) -> Option<(u64, u64)> {
    let (lo, hi) = (from.max(0) as u64, until.max(0) as u64);
    (lo < hi).then_some((lo, hi))
}

/// Builds each partition's tree of `parts` (series `id` of `tenant`) and merges it into `into`,
/// reserving its nodes in the budget first.
fn merge_parts(
    tx: &redb::ReadTransaction,
    (tenant, id): (&str, u64),
    parts: Parts,
    budget: &ReadBudget<'_>,
    into: &mut Merged,
) -> Result<(), StoreError> {
    let syms = tx.open_table(crate::stacks::SYMBOLS)?;
    let nodes = tx.open_table(crate::stacks::NODES)?;
    for (part, (values, writes)) in parts {
        if let Some(reserve) = budget.reserve {
            reserve(into.tree.node_count().saturating_add(values.len()))?;
        }
        merge_partition(&syms, &nodes, (tenant, id, part), &values, budget, into)?;
        into.writes += writes;
        into.entries += 1;
    }
    Ok(())
}

/// One stored upload of a series ([`Store::uploads`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upload {
    /// Its slot (Unix seconds).
    pub slot: i64,
    /// Writes merged in it (more than one after a compaction).
    pub writes: u64,
    /// Its total, in the profile type's unit.
    pub total: u64,
    /// Its sequence number, unique in the store: what names it
    /// ([`Store::merge_uploads`]).
    pub seq: u64,
}

/// The tables a read walks (deltas, rollups, the stack tables), from a read or a write
/// transaction, for one series.
pub(crate) struct Walk<'t, D, R, S, N> {
    pub(crate) deltas: &'t D,
    pub(crate) rollups: &'t R,
    pub(crate) syms: &'t S,
    pub(crate) nodes: &'t N,
    pub(crate) tenant: &'t str,
    pub(crate) id: u64,
}

type Visit<'f> = dyn FnMut(usize, i64, &[u8]) -> Result<(), StoreError> + 'f;

/// Entries stored as `(tenant, series id, slot or level, window or sequence)` → bytes.
type EntryTable = redb::ReadOnlyTable<(&'static str, u64, u64, u64), &'static [u8]>;

/// A [`Walk`] over a read transaction's tables.
type ReadWalk<'t> = Walk<'t, EntryTable, EntryTable, EntryTable, EntryTable>;

impl<D, R, S, N> Walk<'_, D, R, S, N>
where
    D: ReadableTable<(&'static str, u64, u64, u64), &'static [u8]>,
    R: ReadableTable<(&'static str, u64, u64, u64), &'static [u8]>,
    S: ReadableTable<(&'static str, u64, u64, u64), &'static [u8]>,
    N: ReadableTable<(&'static str, u64, u64, u64), &'static [u8]>,
{
    /// Visits the entries that hold `[a, b)` (Unix seconds, `0 ≤ a`) exactly once each, using
    /// levels up to `top`: `f(level, start, bytes)`.
    pub(crate) fn cover(
        &self,
        top: usize,
        a: i64,
        b: i64,
        f: &mut Visit<'_>,
    ) -> Result<(), StoreError> {
        let a = a.max(0);
        if a >= b {
            return Ok(());
        }
        if top == 0 {
            let (t, id) = (self.tenant, self.id);
            for item in self
                .deltas
                .range((t, id, a as u64, 0)..(t, id, b as u64, 0))?
            {
                let (k, v) = item?;
                f(0, k.value().2 as i64, v.value())?;
            }
            return Ok(());
        }
        let w = level_width(top);
        let w0 = a.div_euclid(w) * w + if a.rem_euclid(w) == 0 { 0 } else { w };
        let w1 = b.div_euclid(w) * w;
        if w0 >= w1 {
            return self.cover(top - 1, a, b, f);
        }
        self.cover(top - 1, a, w0, f)?;
        let mut cursor = w0;
        let (t, id, level) = (self.tenant, self.id, top as u64);
        for item in self
            .rollups
            .range((t, id, level, w0 as u64)..(t, id, level, w1 as u64))?
        {
            let (k, v) = item?;
            let start = k.value().3 as i64;
            if start > cursor {
                self.cover(top - 1, cursor, start, f)?;
            }
            f(top, start, v.value())?;
            cursor = start + w;
        }
        self.cover(top - 1, cursor, w1, f)?;
        self.cover(top - 1, w1, b, f)
    }

    /// Adds the values of `[a, b)`, which lies in one partition, into `values` (by node id).
    /// Returns the writes and entries merged.
    pub(crate) fn merge_values(
        &self,
        top: usize,
        a: i64,
        b: i64,
        values: &mut Vec<u64>,
        budget: &ReadBudget<'_>,
    ) -> Result<(u64, u64), StoreError> {
        let (mut writes, mut entries) = (0, 0);
        self.cover(top, a, b, &mut |_, _, bytes| {
            budget.check_cancelled()?;
            writes += codec::add_into(bytes, values, codec::MAX_NODE_IDS)?;
            entries += 1;
            Ok(())
        })?;
        Ok((writes, entries))
    }

    /// The first partition at or after `from` that holds data before `until`.
    fn next_partition(&self, from: i64, until: i64) -> Result<Option<i64>, StoreError> {
        let (t, id) = (self.tenant, self.id);
        let mut r = self
            .deltas
            .range((t, id, from.max(0) as u64, 0)..(t, id, until.max(0) as u64, 0))?;
        Ok(match r.next() {
            Some(item) => Some(partition_of(item?.0.value().2 as i64)),
            None => None,
        })
    }

    /// Merges `[a, b)` into `into`: partition by partition, the entries' values added by node
    /// id, then turned into a tree with the partition's stack table and merged in.
    pub(crate) fn merge(
        &self,
        a: i64,
        b: i64,
        into: &mut Merged,
        budget: &ReadBudget<'_>,
    ) -> Result<(), StoreError> {
        let mut values = Vec::new();
        let mut from = a.max(0);
        while from < b {
            let Some(part) = self.next_partition(from, b)? else {
                break;
            };
            let (lo, hi) = (from.max(part), b.min(part + PARTITION_SECONDS));
            values.clear();
            let (writes, entries) = self.merge_values(LEVELS - 1, lo, hi, &mut values, budget)?;
            if entries > 0 {
                // Reserved before the partition's table and tree are built: its nodes beside the
                // answer so far.
                if let Some(reserve) = budget.reserve {
                    let table =
                        crate::stacks::node_count(self.nodes, (self.tenant, self.id, part as u64))?;
                    reserve(into.tree.node_count().saturating_add(table))?;
                }
                merge_partition(
                    self.syms,
                    self.nodes,
                    (self.tenant, self.id, part as u64),
                    &values,
                    budget,
                    into,
                )?;
                into.writes += writes;
                into.entries += entries;
            }
            from = part + PARTITION_SECONDS;
        }
        Ok(())
    }
}

/// Builds the tree of `values` (by node id) with the stack table of partition `key` and merges
/// it into `into`, within the budget's node limit.
fn merge_partition<S, N>(
    syms: &S,
    nodes: &N,
    key: (&str, u64, u64),
    values: &[u64],
    budget: &ReadBudget<'_>,
    into: &mut Merged,
) -> Result<(), StoreError>
where
    S: ReadableTable<(&'static str, u64, u64, u64), &'static [u8]>,
    N: ReadableTable<(&'static str, u64, u64, u64), &'static [u8]>,
{
    let shape = Shape::load(syms, nodes, key)?;
    if values.len() > shape.len() {
        return Err(crate::error::corrupt("node id past the stack table"));
    }
    let room = budget.max_nodes.saturating_sub(into.tree.node_count()) + 1;
    let tree = shape.tree(values, room)?;
    into.tree.merge(&tree);
    budget.check_tree(&into.tree)
}

/// Seconds of a millisecond bound: the first second a slot may start at and be inside
/// (`ceil`), so `[from_ms, until_ms)` holds slot `s` exactly when `from_ms ≤ s·1000 < until_ms`.
pub fn ms_to_s(ms: i64) -> i64 {
    ms.div_euclid(1000) + i64::from(ms.rem_euclid(1000) != 0)
}

impl Store {
    /// Merges series `id` of `tenant` over the slots that start in `[from, until)` (Unix
    /// seconds), streaming: one tree is held and each stored entry is merged into it as it is
    /// read, rollups used wherever a whole window lies in the range.
    ///
    /// # Errors
    /// A storage failure, a corrupt entry, an answer larger than `budget` or a cancelled read.
    pub fn merge_range(
        &self,
        tenant: &str,
        id: u64,
        from: i64,
        until: i64,
        budget: &ReadBudget<'_>,
    ) -> Result<Merged, StoreError> {
        let mut into = Merged::default();
        self.merge_range_into(tenant, id, from, until, budget, &mut into)?;
        Ok(into)
    }

    /// [`Store::merge_range`] into an answer that already holds other series.
    ///
    /// # Errors
    /// As [`Store::merge_range`].
    pub fn merge_range_into(
        &self,
        tenant: &str,
        id: u64,
        from: i64,
        until: i64,
        budget: &ReadBudget<'_>,
        into: &mut Merged,
    ) -> Result<(), StoreError> {
        self.walk(tenant, id, |walk| walk.merge(from, until, into, budget))
    }

    /// Adds the totals of series `id` of `tenant` over the slots that start in `[from, until)`
    /// into buckets `width` seconds wide from `origin`: `out[j] += (total, entries)` for bucket
    /// `j`. Reads only entry headers, from the coarsest level whose windows divide `width`; an
    /// entry counts in the bucket of its window at that level, as OG's timeline places a
    /// segment-tree node by its own start (`populateTimeline`), so with `origin` not aligned to
    /// that level a window's data shows in the bucket where the window starts. Entries before
    /// `origin` go to bucket 0. [`Store::totals_exact`] splits at the buckets' own edges.
    ///
    /// # Errors
    /// A storage failure, a corrupt entry or a cancelled read.
    #[allow(clippy::too_many_arguments)]
    pub fn totals(
        &self,
        tenant: &str,
        id: u64,
        (from, until): (i64, i64),
        origin: i64,
        width: i64,
        budget: &ReadBudget<'_>,
        out: &mut [(u64, u64)],
    ) -> Result<(), StoreError> {
        let width = width.max(SLOT_SECONDS);
        let top = (0..LEVELS)
            .rev()
            .find(|&l| width % level_width(l) == 0)
            .unwrap_or(0);
        let w = level_width(top);
        let mut n = 0u32;
        self.walk(tenant, id, |walk| {
            walk.cover(top, from, until, &mut |_, start, bytes| {
                n = n.wrapping_add(1);
                if n.is_multiple_of(1024) {
                    budget.check_cancelled()?;
                }
                let (_, total) = codec::header(bytes)?;
                let window = start.div_euclid(w) * w;
                let j = (window - origin).div_euclid(width).max(0);
                if let Some(b) = usize::try_from(j).ok().and_then(|j| out.get_mut(j)) {
                    b.0 = b.0.saturating_add(total);
                    b.1 += 1;
                }
                Ok(())
            })
        })
    }

    /// [`Store::totals`] with every bucket exact: bucket `j` holds the slots that start in
    /// `[origin + j·width, origin + (j+1)·width)` (within `[from, until)`), each bucket read
    /// through the levels on its own (a few dozen entry headers per bucket whatever its width).
    /// `out[j] += (total, writes)`: the writes (uploads) merged into the bucket's entries, what
    /// an average over the bucket divides by.
    ///
    /// # Errors
    /// A storage failure, a corrupt entry or a cancelled read.
    #[allow(clippy::too_many_arguments)]
    pub fn totals_exact(
        &self,
        tenant: &str,
        id: u64,
        (from, until): (i64, i64),
        origin: i64,
        width: i64,
        budget: &ReadBudget<'_>,
        out: &mut [(u64, u64)],
    ) -> Result<(), StoreError> {
        let width = width.max(1);
        self.walk(tenant, id, |walk| {
            for (j, b) in out.iter_mut().enumerate() {
                budget.check_cancelled()?;
                let lo = origin.saturating_add(width.saturating_mul(j as i64));
                let (lo, hi) = (lo.max(from), lo.saturating_add(width).min(until));
                walk.cover(LEVELS - 1, lo, hi, &mut |_, _, bytes| {
                    let (writes, total) = codec::header(bytes)?;
                    b.0 = b.0.saturating_add(total);
                    b.1 = b.1.saturating_add(writes.max(1));
                    Ok(())
                })?;
            }
            Ok(())
        })
    }

    /// Runs `f` over the tables of series `id` of `tenant` in one read transaction.
    fn walk<R>(
        &self,
        tenant: &str,
        id: u64,
        f: impl FnOnce(&ReadWalk<'_>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let tx = self.begin_read()?;
        let deltas = tx.open_table(DELTAS)?;
        let rollups = tx.open_table(ROLLUPS)?;
        let syms = tx.open_table(SYMBOLS)?;
        let nodes = tx.open_table(NODES)?;
        f(&Walk {
            deltas: &deltas,
            rollups: &rollups,
            syms: &syms,
            nodes: &nodes,
            tenant,
            id,
        })
    }

    /// Merges the samples of series `id` of `tenant` that carried one of `spans` (span ids) in
    /// the slots that start in `[from, until)` into `into`: what `SelectMergeSpanProfile`
    /// answers. Span samples are kept per write (no rollups); the read is bounded by `budget`.
    ///
    /// # Errors
    /// A storage failure, a corrupt entry, an answer larger than `budget` or a cancelled read.
    pub fn merge_spans(
        &self,
        tenant: &str,
        id: u64,
        range: (i64, i64),
        spans: &std::collections::HashSet<&str>,
        budget: &ReadBudget<'_>,
        into: &mut Merged,
    ) -> Result<(), StoreError> {
        let Some((lo, hi)) = slot_range(range).filter(|_| !spans.is_empty()) else {
            return Ok(());
        };
        let tx = self.begin_read()?;
        let table = tx.open_table(crate::SPANS)?;
        let mut parts = Parts::new();
        let mut n = 0u32;
        for item in table.range((tenant, id, lo, "", 0)..(tenant, id, hi, "", 0))? {
            let (k, v) = item?;
            n = n.wrapping_add(1);
            if n.is_multiple_of(1024) {
                budget.check_cancelled()?;
            }
            let (_, _, slot, span, _) = k.value();
            if !spans.contains(span) {
                continue;
            }
            add_to_part(&mut parts, slot, v.value())?;
        }
        merge_parts(&tx, (tenant, id), parts, budget, into)
    }

    /// The uploads of series `id` of `tenant` in the slots that start in `[from, until)`, as
    /// stored (raw entries, entry headers only), slot order. An entry compaction made of several
    /// writes is one row with their count.
    ///
    /// # Errors
    /// A storage failure, a corrupt entry or a cancelled read.
    pub fn uploads(
        &self,
        tenant: &str,
        id: u64,
        range: (i64, i64),
        budget: &ReadBudget<'_>,
    ) -> Result<Vec<Upload>, StoreError> {
        let mut out = Vec::new();
        let Some((lo, hi)) = slot_range(range) else {
            return Ok(out);
        };
        let tx = self.begin_read()?;
        let t = tx.open_table(DELTAS)?;
        for item in t.range((tenant, id, lo, 0)..(tenant, id, hi, 0))? {
            let (k, v) = item?;
            if out.len().is_multiple_of(1024) {
                budget.check_cancelled()?;
            }
            let (writes, total) = codec::header(v.value())?;
            let (_, _, slot, seq) = k.value();
            out.push(Upload {
                slot: slot as i64,
                writes,
                total,
                seq,
            });
        }
        Ok(out)
    }

    /// Merges the uploads of series `id` of `tenant` whose sequence numbers ([`Upload::seq`])
    /// are in `seqs`, among the slots that start in `[from, until)`, into `into`: one profile
    /// of a heatmap's exemplar. Raw entries only (a compaction has a sequence number of its
    /// own); the read is bounded by `budget`.
    ///
    /// # Errors
    /// A storage failure, a corrupt entry, an answer larger than `budget` or a cancelled read.
    pub fn merge_uploads(
        &self,
        tenant: &str,
        id: u64,
        range: (i64, i64),
        seqs: &std::collections::HashSet<u64>,
        budget: &ReadBudget<'_>,
        into: &mut Merged,
    ) -> Result<(), StoreError> {
        let Some((lo, hi)) = slot_range(range).filter(|_| !seqs.is_empty()) else {
            return Ok(());
        };
        let tx = self.begin_read()?;
        let table = tx.open_table(DELTAS)?;
        let mut parts = Parts::new();
        let mut n = 0u32;
        for item in table.range((tenant, id, lo, 0)..(tenant, id, hi, 0))? {
            let (k, v) = item?;
            n = n.wrapping_add(1);
            if n.is_multiple_of(1024) {
                budget.check_cancelled()?;
            }
            let (_, _, slot, seq) = k.value();
            if !seqs.contains(&seq) {
                continue;
            }
            add_to_part(&mut parts, slot, v.value())?;
        }
        merge_parts(&tx, (tenant, id), parts, budget, into)
    }

    /// The span samples of series `id` of `tenant` in the slots that start in `[from, until)`:
    /// `(slot, span id, total)` each (entry headers only).
    ///
    /// # Errors
    /// A storage failure, a corrupt entry or a cancelled read.
    pub fn span_uploads(
        &self,
        tenant: &str,
        id: u64,
        range: (i64, i64),
        budget: &ReadBudget<'_>,
    ) -> Result<Vec<(i64, String, u64)>, StoreError> {
        let mut out = Vec::new();
        let Some((lo, hi)) = slot_range(range) else {
            return Ok(out);
        };
        let tx = self.begin_read()?;
        let t = tx.open_table(crate::SPANS)?;
        for item in t.range((tenant, id, lo, "", 0)..(tenant, id, hi, "", 0))? {
            let (k, v) = item?;
            if out.len().is_multiple_of(1024) {
                budget.check_cancelled()?;
            }
            let (_, total) = codec::header(v.value())?;
            let (_, _, slot, span, _) = k.value();
            out.push((slot as i64, span.to_owned(), total));
        }
        Ok(out)
    }

    /// What a read of series `id` of `tenant` over the slots that start in `[from, until)`
    /// touches: the entries (raw and rolled up) the levels cover it with, the writes merged in
    /// them and their bytes (entry headers only are read).
    ///
    /// # Errors
    /// A storage failure, a corrupt entry or a cancelled read.
    pub fn range_stats(
        &self,
        tenant: &str,
        id: u64,
        (from, until): (i64, i64),
        budget: &ReadBudget<'_>,
    ) -> Result<RangeStats, StoreError> {
        let mut stats = RangeStats::default();
        self.walk(tenant, id, |walk| {
            walk.cover(LEVELS - 1, from, until, &mut |_, _, bytes| {
                if stats.entries.is_multiple_of(1024) {
                    budget.check_cancelled()?;
                }
                let (writes, _) = codec::header(bytes)?;
                stats.entries += 1;
                stats.writes = stats.writes.saturating_add(writes);
                stats.bytes = stats.bytes.saturating_add(bytes.len() as u64);
                Ok(())
            })
        })?;
        Ok(stats)
    }

    /// Whether series `id` of `tenant` has data in a slot that starts in `[from, until)`.
    ///
    /// # Errors
    /// A storage failure.
    pub fn has_data(
        &self,
        tenant: &str,
        id: u64,
        from: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        let (lo, hi) = (from.max(0), until.max(0));
        if lo >= hi {
            return Ok(false);
        }
        let tx = self.begin_read()?;
        let t = tx.open_table(DELTAS)?;
        Ok(
            t.range((tenant, id, lo as u64, 0)..(tenant, id, hi as u64, 0))?
                .next()
                .is_some(),
        )
    }
}

/// What [`Store::range_stats`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RangeStats {
    /// Entries read (raw slots and rollups).
    pub entries: u64,
    /// Writes (uploads) merged in them.
    pub writes: u64,
    /// Their stored bytes.
    pub bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_and_millisecond_bounds() {
        assert_eq!(
            (0..LEVELS).map(level_width).collect::<Vec<_>>(),
            [10, 100, 1000, 10_000, 100_000, 1_000_000]
        );
        assert_eq!(ms_to_s(10_000), 10);
        assert_eq!(ms_to_s(10_001), 11);
        assert_eq!(ms_to_s(0), 0);
        assert_eq!(slot_of(-1), -10);
    }
}
