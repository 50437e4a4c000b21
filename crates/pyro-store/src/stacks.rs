//! Stack tables: per series and time partition (a window of [`PARTITION_SECONDS`], the widest
//! rollup level's), every frame name once (a symbol table) and every distinct call path once (a
//! node: its parent node and its symbol), as Grafana Pyroscope's symdb keeps one stack table per
//! block. Entries ([`crate::codec`]) hold node ids and values only. Both tables are stored in
//! runs of consecutive ids (a write's new entries are one row), not a row per entry.
//!
//! Only the writer thread (and the migration, before it starts) adds symbols and nodes; readers
//! load a partition's table once per read and merge entries as arrays of values indexed by node.

use std::borrow::Cow;
use std::collections::HashMap;

use pyro_tree::{FrameId, NodeId, StackTree, TreeBuilder};
use redb::{ReadableTable, TableDefinition};

use crate::codec::{put_varint, varint};
use crate::error::{ErrorKind, StoreError, corrupt};
use crate::levels::{LEVELS, level_width};

/// Width of a stack-table partition in seconds: the widest level's window, so every stored entry
/// (a slot or a rollup window) lies in exactly one partition.
pub const PARTITION_SECONDS: i64 = level_width(LEVELS - 1);

/// The partition a time falls in.
pub fn partition_of(t: i64) -> i64 {
    t.div_euclid(PARTITION_SECONDS) * PARTITION_SECONDS
}

/// The key of a run of entries: (tenant, series id, partition, id of the run's first entry).
pub(crate) type RunKey = (&'static str, u64, u64, u64);

/// (tenant, series id, partition, first symbol id) → a run of frame names with consecutive ids:
/// their count, then per name its length and bytes (varints and UTF-8).
pub(crate) const SYMBOLS: TableDefinition<RunKey, &[u8]> = TableDefinition::new("stack_symbols_v4");
/// (tenant, series id, partition, first node id) → a run of nodes with consecutive ids: their
/// count, then per node its parent node id and symbol id (varints). Node 0 is the root and is
/// not stored; a node's parent has a smaller id.
pub(crate) const NODES: TableDefinition<RunKey, &[u8]> = TableDefinition::new("stack_nodes_v4");

/// Format 3's symbol table, a row per name (converted on open).
pub(crate) const V3_SYMBOLS: TableDefinition<RunKey, &str> = TableDefinition::new("stack_symbols");
/// Format 3's node table, a row per node (converted on open).
pub(crate) const V3_NODES: TableDefinition<RunKey, &[u8]> = TableDefinition::new("stack_nodes");

/// A run shorter than this many bytes takes the next write's new entries (it is rewritten
/// longer); a longer one is left as it is and the next entries start a run of their own. Small
/// writes (an agent's few new stacks) so do not each leave a row, and a big upload's nodes are
/// one insert instead of one per node (a row per node made the write of a 33 MB profile's
/// 16 series 7 s of B-tree inserts).
const RUN_REWRITE_BELOW: usize = 4096;

/// The last run of a table: its first id and its bytes.
#[derive(Debug, Default, Clone, Copy)]
struct LastRun {
    first: u32,
    bytes: usize,
}

/// Decodes a run: its count, then `count` entries read by `entry`.
fn read_run<'b>(
    mut b: &'b [u8],
    mut entry: impl FnMut(&mut &'b [u8]) -> Result<(), StoreError>,
) -> Result<u32, StoreError> {
    let count = u32::try_from(varint(&mut b)?).map_err(|_| corrupt("stack run count"))?;
    for _ in 0..count {
        entry(&mut b)?;
    }
    if !b.is_empty() {
        return Err(corrupt("stack run longer than its count"));
    }
    Ok(count)
}

/// A name of a symbol run.
fn read_name<'b>(b: &mut &'b [u8]) -> Result<&'b str, StoreError> {
    let len = varint(b)?;
    let len = usize::try_from(len)
        .ok()
        .filter(|&l| l <= b.len())
        .ok_or_else(|| corrupt("symbol past its run"))?;
    let (name, rest) = b.split_at(len);
    *b = rest;
    std::str::from_utf8(name).map_err(|_| corrupt("symbol not UTF-8"))
}

/// Entries of a run table for one partition, in id order, checked to be dense from `first`:
/// `f(run bytes)` returns the run's count.
fn for_runs<T: ReadableTable<RunKey, &'static [u8]>>(
    table: &T,
    (tenant, id, part): (&str, u64, u64),
    mut next: u64,
    mut f: impl FnMut(&[u8]) -> Result<u32, StoreError>,
) -> Result<Option<LastRun>, StoreError> {
    let mut last = None;
    for item in table.range((tenant, id, part, 0)..=(tenant, id, part, u64::MAX))? {
        let (k, v) = item?;
        let first = k.value().3;
        if first != next {
            return Err(corrupt("stack table ids not dense"));
        }
        let bytes = v.value();
        next += u64::from(f(bytes)?);
        last = Some(LastRun {
            first: u32::try_from(first).map_err(|_| corrupt("stack table id"))?,
            bytes: bytes.len(),
        });
    }
    Ok(last)
}

/// Nodes of a partition's stack table, root included, from its last run alone.
pub(crate) fn node_count(
    nodes: &impl ReadableTable<RunKey, &'static [u8]>,
    (tenant, id, part): (&str, u64, u64),
) -> Result<usize, StoreError> {
    let last = nodes
        .range((tenant, id, part, 0)..=(tenant, id, part, u64::MAX))?
        .next_back()
        .transpose()?;
    Ok(match last {
        Some((k, v)) => {
            let mut b = v.value();
            (k.value().3 + varint(&mut b)?) as usize
        }
        None => 1,
    })
}

/// Entries stored in the runs of a table (all partitions).
pub(crate) fn entry_count(
    table: &impl ReadableTable<RunKey, &'static [u8]>,
) -> Result<u64, StoreError> {
    let mut n = 0u64;
    for item in table.iter()? {
        let (_, v) = item?;
        let mut b = v.value();
        n += varint(&mut b)?;
    }
    Ok(n)
}

/// Adds a name to a symbol run being built.
pub(crate) fn put_name(run: &mut Vec<u8>, name: &str) {
    put_varint(run, name.len() as u64);
    run.extend_from_slice(name.as_bytes());
}

/// Adds a node stored as its two varints (format 3's row value) to a node run being built.
pub(crate) fn put_node_bytes(run: &mut Vec<u8>, node: &[u8]) -> Result<(), StoreError> {
    let mut b = node;
    node_value(&mut b)?;
    if !b.is_empty() {
        return Err(corrupt("stack node longer than two ids"));
    }
    run.extend_from_slice(node);
    Ok(())
}

/// Stores `count` entries encoded in `entries` as one run under `key` (nothing when none):
/// the run's length in bytes.
pub(crate) fn insert_run(
    table: &mut redb::Table<'_, RunKey, &'static [u8]>,
    key: (&str, u64, u64, u64),
    count: u64,
    entries: &[u8],
) -> Result<usize, StoreError> {
    if count == 0 {
        return Ok(0);
    }
    let mut run = Vec::with_capacity(entries.len() + 10);
    put_varint(&mut run, count);
    run.extend_from_slice(entries);
    table.insert(key, run.as_slice())?;
    Ok(run.len())
}

/// Appends `count` entries encoded in `new` to a partition's run table: into its last run when
/// that is short, else as a run starting at id `first`.
fn append_run(
    table: &mut redb::Table<'_, RunKey, &'static [u8]>,
    (tenant, id, part): (&str, u64, u64),
    last: &mut Option<LastRun>,
    first: u32,
    count: u32,
    new: &[u8],
) -> Result<(), StoreError> {
    if count == 0 {
        return Ok(());
    }
    let (first, count, entries) = match *last {
        Some(l) if l.bytes < RUN_REWRITE_BELOW => {
            let old = table
                .get((tenant, id, part, u64::from(l.first)))?
                .ok_or_else(|| corrupt("stack run gone"))?;
            let mut b = old.value();
            let had = varint(&mut b)?;
            let mut entries = Vec::with_capacity(b.len() + new.len());
            entries.extend_from_slice(b);
            entries.extend_from_slice(new);
            (l.first, had + u64::from(count), Cow::Owned(entries))
        }
        _ => (first, u64::from(count), Cow::Borrowed(new)),
    };
    let bytes = insert_run(table, (tenant, id, part, u64::from(first)), count, &entries)?;
    *last = Some(LastRun { first, bytes });
    Ok(())
}

/// What the writer knows of one partition's stack table: names and paths to their ids.
#[derive(Debug, Default)]
pub(crate) struct PartitionIndex {
    names: HashMap<Box<str>, u32, foldhash::fast::RandomState>,
    nodes: HashMap<(u32, u32), u32, foldhash::fast::RandomState>,
    /// Symbols and nodes (root included) so far.
    n_syms: u32,
    n_nodes: u32,
    /// The tables' last runs.
    last_syms: Option<LastRun>,
    last_nodes: Option<LastRun>,
}

impl PartitionIndex {
    /// The index of a partition as stored.
    pub(crate) fn load(
        syms: &impl ReadableTable<RunKey, &'static [u8]>,
        nodes: &impl ReadableTable<RunKey, &'static [u8]>,
        key: (&str, u64, u64),
    ) -> Result<PartitionIndex, StoreError> {
        let mut ix = PartitionIndex {
            n_nodes: 1,
            ..PartitionIndex::default()
        };
        ix.last_syms = for_runs(syms, key, 0, |run| {
            read_run(run, |b| {
                let name = read_name(b)?;
                ix.names.insert(name.into(), ix.n_syms);
                ix.n_syms += 1;
                Ok(())
            })
        })?;
        ix.last_nodes = for_runs(nodes, key, 1, |run| {
            read_run(run, |b| {
                let (parent, sym) = node_value(b)?;
                ix.nodes.insert((parent, sym), ix.n_nodes);
                ix.n_nodes += 1;
                Ok(())
            })
        })?;
        Ok(ix)
    }

    /// Entries held (for the cache's bound).
    pub(crate) fn len(&self) -> usize {
        self.names.len() + self.nodes.len()
    }

    /// The values of `tree` by node id of this partition, adding the symbols and nodes it lacks
    /// to the tables (in the caller's transaction).
    pub(crate) fn intern(
        &mut self,
        tree: &StackTree<'_>,
        syms: &mut redb::Table<'_, RunKey, &'static [u8]>,
        nodes: &mut redb::Table<'_, RunKey, &'static [u8]>,
        key: (&str, u64, u64),
    ) -> Result<Vec<u64>, StoreError> {
        let (first_sym, first_node) = (self.n_syms, self.n_nodes);
        let mut new_syms = Vec::new();
        let mut sym_of: Vec<u32> = Vec::with_capacity(tree.frame_count());
        for f in 0..tree.frame_count() as u32 {
            let name = tree.frame_name(FrameId(f));
            let sym = match self.names.get(name) {
                Some(&s) => s,
                None => {
                    let s = self.n_syms;
                    self.n_syms += 1;
                    put_name(&mut new_syms, name);
                    self.names.insert(name.into(), s);
                    s
                }
            };
            sym_of.push(sym);
        }
        // By node id: a tree that shares a shape has ids with gaps.
        let mut node_of: Vec<u32> = vec![0; tree.node_id_bound()];
        let mut values: Vec<u64> = Vec::new();
        let mut new_nodes = Vec::new();
        for n in tree.node_ids() {
            let mine = match (tree.node_parent(n), tree.node_frame(n)) {
                (Some(parent), Some(frame)) => {
                    let key = (node_of[parent.0 as usize], sym_of[frame.0 as usize]);
                    *self.nodes.entry(key).or_insert_with(|| {
                        let m = self.n_nodes;
                        self.n_nodes += 1;
                        put_varint(&mut new_nodes, u64::from(key.0));
                        put_varint(&mut new_nodes, u64::from(key.1));
                        m
                    })
                }
                _ => 0,
            };
            node_of[n.0 as usize] = mine;
            let (self_value, _) = tree.node_values(n).unwrap_or_default();
            if self_value != 0 {
                let m = mine as usize;
                if values.len() <= m {
                    values.resize(m + 1, 0);
                }
                values[m] = values[m].saturating_add(self_value);
            }
        }
        append_run(
            syms,
            key,
            &mut self.last_syms,
            first_sym,
            self.n_syms - first_sym,
            &new_syms,
        )?;
        append_run(
            nodes,
            key,
            &mut self.last_nodes,
            first_node,
            self.n_nodes - first_node,
            &new_nodes,
        )?;
        Ok(values)
    }
}

fn node_value(b: &mut &[u8]) -> Result<(u32, u32), StoreError> {
    let parent = varint(b)?;
    let sym = varint(b)?;
    match (u32::try_from(parent), u32::try_from(sym)) {
        (Ok(p), Ok(s)) => Ok((p, s)),
        _ => Err(corrupt("stack node")),
    }
}

/// A partition's stack table as a reader needs it: per node its parent and symbol, and the
/// names.
#[derive(Debug, Default)]
pub(crate) struct Shape {
    parents: Vec<u32>,
    syms: Vec<u32>,
    names: Vec<String>,
}

impl Shape {
    /// The table of one partition.
    pub(crate) fn load(
        syms: &impl ReadableTable<RunKey, &'static [u8]>,
        nodes: &impl ReadableTable<RunKey, &'static [u8]>,
        key: (&str, u64, u64),
    ) -> Result<Shape, StoreError> {
        let mut s = Shape {
            parents: vec![0],
            syms: vec![0],
            names: Vec::new(),
        };
        for_runs(syms, key, 0, |run| {
            read_run(run, |b| {
                s.names.push(read_name(b)?.to_owned());
                Ok(())
            })
        })?;
        for_runs(nodes, key, 1, |run| {
            read_run(run, |b| {
                let (parent, sym) = node_value(b)?;
                if parent as usize >= s.parents.len() || sym as usize >= s.names.len() {
                    return Err(corrupt("stack node out of order"));
                }
                s.parents.push(parent);
                s.syms.push(sym);
                Ok(())
            })
        })?;
        Ok(s)
    }

    /// Nodes, root included.
    pub(crate) fn len(&self) -> usize {
        self.parents.len()
    }

    /// The tree of `values` (self value per node id): nodes whose subtree holds nothing are
    /// left out. An [`ErrorKind::Budget`] error past `max_nodes` nodes.
    pub(crate) fn tree(
        &self,
        values: &[u64],
        max_nodes: usize,
    ) -> Result<StackTree<'static>, StoreError> {
        let n = self.len().min(values.len().max(1));
        // Which nodes hold something in their subtree (children have larger ids).
        let mut live = vec![false; n];
        for i in (0..n).rev() {
            if values.get(i).is_some_and(|&v| v != 0) || live[i] {
                live[i] = true;
                let p = self.parents[i] as usize;
                if i != 0 {
                    live[p] = true;
                }
            }
        }
        let mut b = TreeBuilder::new();
        let mut frames: Vec<Option<FrameId>> = vec![None; self.names.len()];
        let mut mine: Vec<NodeId> = vec![NodeId::ROOT; n];
        let mut made = 1usize;
        for i in 0..n {
            if !live[i] {
                continue;
            }
            if i > 0 {
                made += 1;
                if made > max_nodes {
                    return Err(StoreError::new(
                        ErrorKind::Budget,
                        format_args!(
                            "the answer would hold more than {max_nodes} call-tree nodes (the \
                             read budget); narrow the query or the time range"
                        ),
                    ));
                }
                let sym = self.syms[i] as usize;
                let frame =
                    *frames[sym].get_or_insert_with(|| b.intern_transient(&self.names[sym]));
                // Distinct (parent, symbol) pairs: every child is new.
                mine[i] = b
                    .new_child(mine[self.parents[i] as usize], frame)
                    .ok_or_else(|| StoreError::new(ErrorKind::Budget, "tree node limit"))?;
            }
            if let Some(&v) = values.get(i)
                && v != 0
            {
                b.add_self(mine[i], v);
            }
        }
        Ok(b.finish().into_owned())
    }
}

/// A partition's names and (parent, symbol) pairs, as [`decode_runs`] reads them.
pub type DecodedRuns = (Vec<String>, Vec<(u32, u32)>);

/// A symbol run and a node run as a partition's rows hold them, decoded: the names and the
/// (parent, symbol) pairs (no check that parents and symbols exist: [`Shape::load`] does that).
pub(crate) fn decode_runs(syms: &[u8], nodes: &[u8]) -> Result<DecodedRuns, StoreError> {
    let mut names = Vec::new();
    read_run(syms, |b| {
        names.push(read_name(b)?.to_owned());
        Ok(())
    })?;
    let mut pairs = Vec::new();
    read_run(nodes, |b| {
        pairs.push(node_value(b)?);
        Ok(())
    })?;
    Ok((names, pairs))
}

/// The runs [`decode_runs`] reads, as the writer encodes them.
pub(crate) fn encode_runs(names: &[String], pairs: &[(u32, u32)]) -> (Vec<u8>, Vec<u8>) {
    let run = |entries: Vec<u8>, count: usize| {
        let mut run = Vec::new();
        put_varint(&mut run, count as u64);
        run.extend_from_slice(&entries);
        run
    };
    let mut s = Vec::new();
    for n in names {
        put_name(&mut s, n);
    }
    let mut n = Vec::new();
    for &(parent, sym) in pairs {
        put_varint(&mut n, u64::from(parent));
        put_varint(&mut n, u64::from(sym));
    }
    (run(s, names.len()), run(n, pairs.len()))
}
