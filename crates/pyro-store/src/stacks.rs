//! Stack tables: per series and time partition (a window of [`PARTITION_SECONDS`], the widest
//! rollup level's), every frame name once (a symbol table) and every distinct call path once (a
//! node: its parent node and its symbol), as Grafana Pyroscope's symdb keeps one stack table per
//! block. Entries ([`crate::codec`]) hold node ids and values only.
//!
//! Only the writer thread (and the migration, before it starts) adds symbols and nodes; readers
//! load a partition's table once per read and merge entries as arrays of values indexed by node.

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

/// (tenant, series id, partition, symbol id) → frame name.
pub(crate) const SYMBOLS: TableDefinition<(&str, u64, u64, u64), &str> =
    TableDefinition::new("stack_symbols");
/// (tenant, series id, partition, node id) → parent node id and symbol id (varints). Node 0 is
/// the root and is not stored; a node's parent has a smaller id.
pub(crate) const NODES: TableDefinition<(&str, u64, u64, u64), &[u8]> =
    TableDefinition::new("stack_nodes");

/// What the writer knows of one partition's stack table: names and paths to their ids.
#[derive(Debug, Default)]
pub(crate) struct PartitionIndex {
    names: HashMap<Box<str>, u32, foldhash::fast::RandomState>,
    nodes: HashMap<(u32, u32), u32, foldhash::fast::RandomState>,
    /// Symbols and nodes (root included) so far.
    n_syms: u32,
    n_nodes: u32,
}

impl PartitionIndex {
    /// The index of a partition as stored.
    pub(crate) fn load(
        syms: &impl ReadableTable<(&'static str, u64, u64, u64), &'static str>,
        nodes: &impl ReadableTable<(&'static str, u64, u64, u64), &'static [u8]>,
        (tenant, id, part): (&str, u64, u64),
    ) -> Result<PartitionIndex, StoreError> {
        let mut ix = PartitionIndex {
            n_nodes: 1,
            ..PartitionIndex::default()
        };
        for item in syms.range((tenant, id, part, 0)..=(tenant, id, part, u64::MAX))? {
            let (k, v) = item?;
            ix.names.insert(v.value().into(), k.value().3 as u32);
            ix.n_syms = ix.n_syms.max(k.value().3 as u32 + 1);
        }
        for item in nodes.range((tenant, id, part, 0)..=(tenant, id, part, u64::MAX))? {
            let (k, v) = item?;
            let (parent, sym) = node_value(v.value())?;
            let node = k.value().3 as u32;
            ix.nodes.insert((parent, sym), node);
            ix.n_nodes = ix.n_nodes.max(node + 1);
        }
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
        syms: &mut redb::Table<'_, (&'static str, u64, u64, u64), &'static str>,
        nodes: &mut redb::Table<'_, (&'static str, u64, u64, u64), &'static [u8]>,
        (tenant, id, part): (&str, u64, u64),
    ) -> Result<Vec<u64>, StoreError> {
        let mut sym_of: Vec<u32> = Vec::with_capacity(tree.frame_count());
        for f in 0..tree.frame_count() as u32 {
            let name = tree.frame_name(FrameId(f));
            let sym = match self.names.get(name) {
                Some(&s) => s,
                None => {
                    let s = self.n_syms;
                    self.n_syms += 1;
                    syms.insert((tenant, id, part, u64::from(s)), name)?;
                    self.names.insert(name.into(), s);
                    s
                }
            };
            sym_of.push(sym);
        }
        // By node id: a tree that shares a shape has ids with gaps.
        let mut node_of: Vec<u32> = vec![0; tree.node_id_bound()];
        let mut values: Vec<u64> = Vec::new();
        let mut buf = Vec::with_capacity(10);
        for n in tree.node_ids() {
            let mine = match (tree.node_parent(n), tree.node_frame(n)) {
                (Some(parent), Some(frame)) => {
                    let key = (node_of[parent.0 as usize], sym_of[frame.0 as usize]);
                    match self.nodes.get(&key) {
                        Some(&m) => m,
                        None => {
                            let m = self.n_nodes;
                            self.n_nodes += 1;
                            buf.clear();
                            put_varint(&mut buf, u64::from(key.0));
                            put_varint(&mut buf, u64::from(key.1));
                            nodes.insert((tenant, id, part, u64::from(m)), buf.as_slice())?;
                            self.nodes.insert(key, m);
                            m
                        }
                    }
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
        Ok(values)
    }
}

fn node_value(mut b: &[u8]) -> Result<(u32, u32), StoreError> {
    let parent = varint(&mut b)?;
    let sym = varint(&mut b)?;
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
        syms: &impl ReadableTable<(&'static str, u64, u64, u64), &'static str>,
        nodes: &impl ReadableTable<(&'static str, u64, u64, u64), &'static [u8]>,
        (tenant, id, part): (&str, u64, u64),
    ) -> Result<Shape, StoreError> {
        let mut s = Shape {
            parents: vec![0],
            syms: vec![0],
            names: Vec::new(),
        };
        for item in syms.range((tenant, id, part, 0)..=(tenant, id, part, u64::MAX))? {
            let (k, v) = item?;
            if k.value().3 != s.names.len() as u64 {
                return Err(corrupt("symbol ids not dense"));
            }
            s.names.push(v.value().to_owned());
        }
        for item in nodes.range((tenant, id, part, 0)..=(tenant, id, part, u64::MAX))? {
            let (k, v) = item?;
            let (parent, sym) = node_value(v.value())?;
            if k.value().3 != s.parents.len() as u64
                || parent as usize >= s.parents.len()
                || sym as usize >= s.names.len()
            {
                return Err(corrupt("stack node ids not dense or out of order"));
            }
            s.parents.push(parent);
            s.syms.push(sym);
        }
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
