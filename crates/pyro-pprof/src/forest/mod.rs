//! The aggregation behind [`crate::to_series`]: every sample of a profile goes into one call
//! tree of locations shared by all label sets (pyro-tree's [`CallTree`], the core
//! [`StackTree`] is built on, keyed here by location id), and series trees are cut from it.
//!
//! A stack is walked once per distinct encoding of its location ids (identical stacks are
//! recognised by their bytes), straight from the packed bytes read backwards (pprof lists the
//! leaf first); a sample then only adds its values to the entry of (label set, node it ended
//! at). Locations are keyed by their id and resolved into frames once per node when the series
//! trees are cut ([`Forest::trees`]), so the work per frame of a sample is a varint and one
//! child lookup (a per-node hint, then the node's list or table), and a stack starts where the
//! bytes it shares with the stack walked before end.

use std::hash::BuildHasher;

use hashbrown::HashTable;
use pyro_tree::calltree::{CallTree, ChildTable};
use pyro_tree::{FrameId, NodeId, StackTree, TreeBuilder};

use crate::error::{Error, ErrorKind, Result};
use crate::limits::Limits;
use crate::profile::Profile;
use crate::wire::{long_varint, shared_tail};

mod cut;
mod frames;
mod samples;

pub(crate) use frames::Frames;

/// No node, no id.
pub(crate) const NONE: u32 = pyro_tree::calltree::NONE;

/// A stack seen before, by the bytes of its packed location ids (a range of
/// [`Forest::seen_bytes`]): the node it ended at.
struct Seen {
    start: u32,
    len: u32,
    leaf: u32,
    hash: u64,
}

/// Stack lookups after which remembering stacks stops unless one in [`MEMO_MIN_HITS`] hit.
const MEMO_TRIAL: u32 = 1024;

/// Stack lookups after which remembering stacks stops if none hit (Go profiles, whose stacks
/// are all distinct: small ones are over before the whole trial).
const MEMO_EARLY: u32 = 256;

/// Remembering stacks stops when fewer than one in this many of the first lookups hit. Low on
/// purpose: hits are rare at first even when stacks repeat a lot later (a skewed profile, many
/// distinct stacks each repeated) and a hit saves a walk through a tree that may be far out of
/// the caches, while a profile that never repeats a stack (Go merges them) has no hits at all.
const MEMO_MIN_HITS: u32 = 32;

/// Trees with more nodes than this are renumbered depth first before series are cut.
const DEPTH_FIRST_FROM: usize = 1 << 16;

/// The root of the call tree.
const ROOT: u32 = 0;

/// Every sample of a profile aggregated: one call tree of locations shared by all label sets,
/// and one entry per (label set, node a stack ended at) with a value per sample type. Series
/// trees are cut from it ([`Forest::trees`]): the work per location of a stack is done once per
/// distinct stack, not once per sample or per series, and frame names are looked at once per
/// node of each series.
pub(crate) struct Forest<'a> {
    ntypes: usize,
    /// The limit of nodes over all series trees (the call tree holds it over the sample types).
    max_tree_nodes: usize,
    /// The call tree of location keys (pyro-tree's call-tree core), with per node the entry of
    /// (label set 0, this node), [`NONE`] if none.
    tree: CallTree<u32>,
    /// Stacks seen, by their encoded location ids, copied together: a repeated stack is
    /// compared with bytes that stay in the caches, not with its first sample's bytes somewhere
    /// in the input (a cache miss per sample: 12 % of a 33 MB profile's conversion).
    seen: Vec<Seen>,
    seen_bytes: Vec<u8>,
    seen_index: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    /// The packed ids of the last stack walked, and the node its last `k` bytes lead to at
    /// `tail[k]` for every `k` that starts a varint: the next stack resumes after the bytes it
    /// shares with it (the root end of the stack, which consecutive samples often share).
    prev: &'a [u8],
    tail: Vec<u32>,
    /// Whether stacks are still remembered, and the lookups and hits of the trial.
    memo: bool,
    lookups: u32,
    hits: u32,
    /// `(label set, node)` of every entry, its index by `set << 32 | node` (for sets other than
    /// 0, whose entries the nodes hold), and `ntypes` values per entry.
    entries: Vec<(u32, u32)>,
    entry_index: Option<ChildTable>,
    /// Samples in the profile (capped), to size tables made later.
    samples: usize,
    values: Vec<u64>,
    /// Distinct label sets as sorted `(key, value)` string indices; set 0 is empty.
    pub(crate) label_sets: Vec<Vec<(usize, usize)>>,
    label_index: hashbrown::HashMap<Vec<(usize, usize)>, u32, foldhash::fast::RandomState>,
}

impl<'a> Forest<'a> {
    pub(crate) fn new(ntypes: usize, samples: usize, limits: &Limits) -> Self {
        // Room for the usual sizes up front, never more than a few MB (hostile inputs with
        // millions of tiny samples grow the vectors as they go instead).
        let samples = samples.min(1 << 16);
        let nodes = samples * 2 + 1;
        Forest {
            ntypes,
            max_tree_nodes: limits.max_tree_nodes,
            tree: CallTree::with_capacity(nodes, limits.max_tree_nodes / ntypes.max(1), NONE),
            seen: Vec::with_capacity(samples),
            seen_bytes: Vec::new(),
            seen_index: HashTable::with_capacity(samples),
            hasher: Default::default(),
            prev: &[],
            tail: vec![ROOT],
            memo: true,
            lookups: 0,
            hits: 0,
            entries: Vec::with_capacity(samples),
            entry_index: None,
            samples,
            values: Vec::with_capacity(samples * ntypes),
            label_sets: vec![Vec::new()],
            label_index: hashbrown::HashMap::with_hasher(Default::default()),
        }
    }

    /// Walks (creating as needed) the path of a packed `location_id` payload (leaf first, so
    /// read backwards) from the root, and returns the node it ends at. `Ok(None)` when the
    /// payload is malformed or has more than `limits.max_stack_depth` ids: the caller's
    /// decoder then reports why (these are the same rules, checked from the other end).
    ///
    /// The walk starts after the bytes this payload ends with in common with the last one
    /// walked, at the node those led to.
    #[inline]
    pub(crate) fn walk_packed(
        &mut self,
        bytes: &'a [u8],
        p: &Profile<'_>,
        limits: &Limits,
    ) -> Result<Option<u32>> {
        // A payload longer than the depth limit may hold too many ids: the general decoder
        // counts them (and so bounds the ids read here without counting).
        if bytes.len() > limits.max_stack_depth || bytes.last().is_some_and(|&b| b >= 0x80) {
            return Ok(None);
        }
        if self.tail.len() <= bytes.len() {
            self.tail.resize(bytes.len() + 1, ROOT);
        }
        let shared = shared_tail(bytes, self.prev);
        // Until this walk completes, `tail` beyond `shared` describes neither stack.
        self.prev = &[];
        let mut node = self.tail[shared];
        let mut rest = &bytes[..bytes.len() - shared];
        // Each varint read from its last byte (high bit clear) back over the bytes before it
        // that have the high bit set; earlier bytes hold the lower bits.
        while let [head @ .., last] = rest {
            let id = match head {
                [h @ .., b] if *b >= 0x80 => match h {
                    [.., c] if *c >= 0x80 => {
                        let Some((id, h)) = long_varint(head, *last) else {
                            return Ok(None);
                        };
                        rest = h;
                        id
                    }
                    _ => {
                        rest = h;
                        (u64::from(*last) << 7) | u64::from(b & 0x7f)
                    }
                },
                _ => {
                    rest = head;
                    u64::from(*last)
                }
            };
            node = self.step(node, id, p)?;
            self.tail[bytes.len() - rest.len()] = node;
        }
        self.prev = bytes;
        Ok(Some(node))
    }

    /// Walks the path of location ids `ids` (leaf first) from the root; ids no location has are
    /// left out.
    pub(crate) fn walk_ids(&mut self, ids: &[u64], p: &Profile<'_>) -> Result<u32> {
        let mut node = ROOT;
        for &id in ids.iter().rev() {
            node = self.step(node, id, p)?;
        }
        Ok(node)
    }

    /// The node a stack goes on to from `node` with location id `id`: the child at its key
    /// (made if missing), or `node` itself for an id no location has.
    #[inline(always)]
    fn step(&mut self, node: u32, id: u64, p: &Profile<'_>) -> Result<u32> {
        let Some(key) = loc_key(id, p) else {
            return Ok(node);
        };
        match self.tree.child(node, key) {
            NONE => Err(self.full()),
            c => Ok(c),
        }
    }

    /// The error for a call tree that reached its node limit.
    #[cold]
    fn full(&self) -> Error {
        Error::limit(
            "call-tree nodes × sample types",
            self.max_tree_nodes,
            0,
            "Profile.sample",
        )
    }
}

/// Location ids below this are their own key in the call tree; larger ids are keyed by
/// `LARGE_ID + their location index`.
const LARGE_ID: u64 = 1 << 31;

/// The call-tree key of location id `id`: the id itself (resolved when the series are cut, so
/// the walk needs no lookup), or for a large id its location's index; `None` for a large id no
/// location has (such ids are left out of the stack).
#[inline(always)]
fn loc_key(id: u64, p: &Profile<'_>) -> Option<u32> {
    if id < LARGE_ID {
        Some(id as u32)
    } else {
        p.location_index
            .get(id)
            .map(|i| (LARGE_ID as usize + i) as u32)
    }
}

/// The location index of a call-tree key, [`NONE`] if no location has that id.
fn location_of(key: u32, p: &Profile<'_>) -> u32 {
    if u64::from(key) >= LARGE_ID {
        key - LARGE_ID as u32
    } else {
        p.location_index
            .get(u64::from(key))
            .map_or(NONE, |i| i as u32)
    }
}
