//! The aggregation behind [`crate::to_series`]: every sample of a profile goes into one call
//! tree of locations shared by all label sets, and series trees are cut from it.
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
use pyro_tree::{FrameId, NodeId, StackTree, TreeBuilder};

use crate::error::{Error, ErrorKind, Result};
use crate::limits::Limits;
use crate::profile::Profile;

/// No node, no id.
pub(crate) const NONE: u32 = u32::MAX;

/// Open-addressing map from a `u64` key (`parent << 32 | location key` for the call tree,
/// `set << 32 | node` for entries) to a `u32`.
struct ChildTable {
    /// `(key, value)`; [`EMPTY_KEY`] marks a free slot.
    slots: Vec<(u64, u32)>,
    len: usize,
    shift: u32,
}

const EMPTY_KEY: u64 = u64::MAX;

impl ChildTable {
    /// A table that holds `n` keys before it grows.
    fn with_capacity(n: usize) -> Self {
        let bits = (n.max(512) * 2).next_power_of_two().trailing_zeros();
        ChildTable {
            slots: vec![(EMPTY_KEY, 0); 1 << bits],
            len: 0,
            shift: 64 - bits,
        }
    }

    #[inline]
    fn slot(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    /// The value stored for `key`, or the free slot to store it in.
    #[inline]
    fn find(&self, key: u64) -> Result<u32, usize> {
        let mask = self.slots.len() - 1;
        let mut i = self.slot(key);
        loop {
            let (k, v) = self.slots[i];
            if k == key {
                return Ok(v);
            }
            if k == EMPTY_KEY {
                return Err(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// Stores `value` for `key` in the free slot `at` that [`ChildTable::find`] returned.
    fn insert_at(&mut self, at: usize, key: u64, value: u32) {
        self.slots[at] = (key, value);
        self.len += 1;
        if self.len * 2 > self.slots.len() {
            let grown = vec![(EMPTY_KEY, 0); self.slots.len() * 2];
            let old = std::mem::replace(&mut self.slots, grown);
            self.shift -= 1;
            let mask = self.slots.len() - 1;
            for (k, v) in old.into_iter().filter(|&(k, _)| k != EMPTY_KEY) {
                let mut i = self.slot(k);
                while self.slots[i].0 != EMPTY_KEY {
                    i = (i + 1) & mask;
                }
                self.slots[i] = (k, v);
            }
        }
    }
}

/// The frames of every location as name ids, root first (lines outermost first). A name id below
/// the string-table length is a string index; above it, an entry of `extra` (the
/// `<mapping basename>!0x<address>` names of unsymbolized locations).
pub(crate) struct Frames {
    /// `(start, len)` of every location's names in `names`, by location index.
    ranges: Vec<(u32, u32)>,
    names: Vec<u32>,
    extra: Vec<String>,
    nstrings: usize,
}

impl Frames {
    pub(crate) fn new(p: &Profile<'_>) -> Frames {
        let nstrings = p.strings.len();
        let mut f = Frames {
            ranges: Vec::with_capacity(p.locations.len()),
            names: Vec::with_capacity(p.line_functions.len()),
            extra: Vec::new(),
            nstrings,
        };
        for loc in &p.locations {
            let start = f.names.len();
            let (ls, ln) = loc.lines;
            if ln == 0 {
                let file = p
                    .mapping(loc.mapping_id)
                    .map(|m| p.string(m.filename))
                    .unwrap_or("");
                let base = file.rsplit('/').next().filter(|b| !b.is_empty());
                f.names.push((nstrings + f.extra.len()) as u32);
                f.extra
                    .push(format!("{}!0x{:x}", base.unwrap_or("unknown"), loc.address));
            } else {
                for &fid in p.line_functions[ls as usize..(ls + ln) as usize]
                    .iter()
                    .rev()
                {
                    // Functions without a name are left out.
                    if let Some(func) = p.function(fid)
                        && !p.string(func.name).is_empty()
                    {
                        f.names.push(func.name as u32);
                    }
                }
            }
            f.ranges
                .push((start as u32, (f.names.len() - start) as u32));
        }
        f
    }

    fn count(&self) -> usize {
        self.nstrings + self.extra.len()
    }
}

/// A stack seen before, by the bytes of its packed location ids: the node it ended at.
struct Seen<'a> {
    bytes: &'a [u8],
    leaf: u32,
    hash: u64,
}

/// What [`Forest::resolve`] found: the location index of every node ([`NONE`] for the root and
/// unknown ids), and whether the series trees' children are distinct by construction.
pub(crate) struct Resolved {
    locs: Vec<u32>,
    simple: bool,
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

/// Children of a node are found by scanning its list up to this many; beyond, in a table.
const SCAN_LIMIT: u32 = 8;

/// Trees with more nodes than this are renumbered depth first before series are cut.
const DEPTH_FIRST_FROM: usize = 1 << 16;

/// The root of the call tree.
const ROOT: u32 = 0;

/// A node's place among its siblings and children: what finding a child reads.
#[derive(Clone, Copy)]
struct Link {
    /// Location key ([`loc_key`]).
    loc: u32,
    /// Next sibling.
    next: u32,
    /// First child. Children are found by scanning that list, or for nodes with more than
    /// [`SCAN_LIMIT`] children in the table.
    first: u32,
    /// The number of children (up to [`SCAN_LIMIT`] + 1) in the low [`COUNT_BITS`] bits, and
    /// above them a bit per child location key ([`key_bit`]): a key whose bit is clear is not a
    /// child, so a new child is usually added without scanning the list.
    kids: u32,
}

/// Bits of [`Link::kids`] that count children.
const COUNT_BITS: u32 = 4;

/// The child count of [`Link::kids`].
const COUNT_MASK: u32 = (1 << COUNT_BITS) - 1;

/// The bit of [`Link::kids`] for a child at location key `key`: one of the 28 above the count.
#[inline(always)]
fn key_bit(key: u32) -> u32 {
    let h = (u64::from(key.wrapping_mul(0x9e37_79b9)) * 28) >> 32;
    1 << (COUNT_BITS + h as u32)
}

/// What the rest of a node holds.
#[derive(Clone, Copy)]
struct Node {
    /// Parent ([`NONE`] for the root).
    parent: u32,
    /// The entry of (label set 0, this node), if any.
    entry0: u32,
}

impl Link {
    fn new(loc: u32, next: u32) -> Link {
        Link {
            loc,
            next,
            first: NONE,
            kids: 0,
        }
    }
}

/// Every sample of a profile aggregated: one call tree of locations shared by all label sets,
/// and one entry per (label set, node a stack ended at) with a value per sample type. Series
/// trees are cut from it ([`Forest::trees`]): the work per location of a stack is done once per
/// distinct stack, not once per sample or per series, and frame names are looked at once per
/// node of each series.
pub(crate) struct Forest<'a> {
    ntypes: usize,
    /// The most nodes the call tree may have (`max_tree_nodes` over the sample types), and
    /// that limit.
    max_nodes: usize,
    max_tree_nodes: usize,
    /// The call tree's nodes.
    nodes: Vec<Node>,
    /// Per node, the last `(location key, child)` looked up under it: checked first.
    hints: Vec<(u32, u32)>,
    /// Per node, what finding a child reads (apart from the rest, [`Forest::nodes`], so that
    /// more of what walking a stack reads stays in the caches).
    links: Vec<Link>,
    children: ChildTable,
    /// Stacks seen, by their encoded location ids.
    seen: Vec<Seen<'a>>,
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
            max_nodes: limits.max_tree_nodes / ntypes.max(1),
            max_tree_nodes: limits.max_tree_nodes,
            nodes: with_root(
                nodes,
                Node {
                    parent: NONE,
                    entry0: NONE,
                },
            ),
            hints: with_root(nodes, (NONE, NONE)),
            links: with_root(nodes, Link::new(NONE, NONE)),
            children: ChildTable::with_capacity(512),
            seen: Vec::with_capacity(samples),
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

    pub(crate) fn label_set(
        &mut self,
        labels: &[(usize, usize)],
        limits: &Limits,
        at: usize,
    ) -> Result<u32> {
        if labels.is_empty() {
            return Ok(0);
        }
        if let Some(&id) = self.label_index.get(labels) {
            return Ok(id);
        }
        if self.label_sets.len() > limits.max_label_sets {
            return Err(Error::limit(
                "distinct label sets",
                limits.max_label_sets,
                at,
                "Profile.sample.label",
            ));
        }
        let id = self.label_sets.len() as u32;
        self.label_sets.push(labels.to_vec());
        self.label_index.insert(labels.to_vec(), id);
        Ok(id)
    }

    /// The node a stack of packed location ids ended at before, if its bytes were seen.
    ///
    /// Stacks are only remembered while that pays: when none of the first [`MEMO_EARLY`]
    /// lookups hit, or fewer than one in [`MEMO_MIN_HITS`] of the first [`MEMO_TRIAL`] (every
    /// stack distinct, as in Go profiles), hashing stops and every sample is walked.
    #[inline]
    pub(crate) fn seen(&mut self, bytes: &[u8]) -> (Option<u32>, u64) {
        if !self.memo {
            return (None, 0);
        }
        let hash = self.hasher.hash_one(bytes);
        let found = self
            .seen_index
            .find(hash, |&e| self.seen[e as usize].bytes == bytes)
            .map(|&e| self.seen[e as usize].leaf);
        if self.lookups < MEMO_TRIAL {
            self.lookups += 1;
            self.hits += u32::from(found.is_some());
            let give_up = match self.lookups {
                MEMO_EARLY => self.hits == 0,
                MEMO_TRIAL => self.hits * MEMO_MIN_HITS < MEMO_TRIAL,
                _ => false,
            };
            if give_up {
                self.memo = false;
                self.seen = Vec::new();
                self.seen_index = HashTable::new();
            }
        }
        (found, hash)
    }

    /// Remembers the node the stack of `bytes` (hashed to `hash` by [`Forest::seen`]) ends at.
    pub(crate) fn remember(&mut self, bytes: &'a [u8], hash: u64, leaf: u32) {
        if !self.memo {
            return;
        }
        let e = self.seen.len() as u32;
        self.seen.push(Seen { bytes, leaf, hash });
        let seen = &self.seen;
        self.seen_index
            .insert_unique(hash, e, |&x| seen[x as usize].hash);
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
    /// (the hint, else [`Forest::child`]), or `node` itself for an id no location has.
    #[inline(always)]
    fn step(&mut self, node: u32, id: u64, p: &Profile<'_>) -> Result<u32> {
        let Some(key) = loc_key(id, p) else {
            return Ok(node);
        };
        let (hk, hc) = self.hints[node as usize];
        match if hk == key { hc } else { self.child(node, key) } {
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

    /// The child of `node` at location key `li` (created if missing), remembered as its hint;
    /// [`NONE`] when the call tree is full.
    #[inline(never)]
    fn child(&mut self, node: u32, li: u32) -> u32 {
        let Link { first, kids, .. } = self.links[node as usize];
        let key = (u64::from(node) << 32) | u64::from(li);
        let mut c = NONE;
        if kids & COUNT_MASK > SCAN_LIMIT {
            c = self.children.find(key).unwrap_or(NONE);
        } else if kids & key_bit(li) != 0 {
            c = first;
            while c != NONE {
                let Link { loc, next, .. } = self.links[c as usize];
                if loc == li {
                    break;
                }
                c = next;
            }
        }
        if c == NONE {
            c = self.new_child(node, li, first, kids, key);
            if c == NONE {
                return NONE;
            }
        }
        self.hints[node as usize] = (li, c);
        c
    }

    /// Appends a child of `node` at location key `li` (`key` in the table) to its list;
    /// [`NONE`] when the call tree is full.
    fn new_child(&mut self, node: u32, li: u32, first: u32, kids: u32, key: u64) -> u32 {
        let n = self.nodes.len() as u32;
        if n as usize >= self.max_nodes {
            return NONE;
        }
        self.nodes.push(Node {
            parent: node,
            entry0: NONE,
        });
        self.hints.push((NONE, NONE));
        self.links.push(Link::new(li, first));
        let count = (kids & COUNT_MASK) + 1;
        let w = &mut self.links[node as usize];
        w.first = n;
        if count <= SCAN_LIMIT + 1 {
            w.kids = (kids & !COUNT_MASK) | key_bit(li) | count;
        }
        if count == SCAN_LIMIT + 1 {
            // Past the scan limit: index every child.
            let mut c = n;
            while c != NONE {
                let Link { loc, next, .. } = self.links[c as usize];
                let k = (u64::from(node) << 32) | u64::from(loc);
                if let Err(at) = self.children.find(k) {
                    self.children.insert_at(at, k, c);
                }
                c = next;
            }
        } else if count > SCAN_LIMIT
            && let Err(at) = self.children.find(key)
        {
            self.children.insert_at(at, key, n);
        }
        n
    }

    /// A new entry of (`set`, `node`) holding `values`.
    fn new_entry(&mut self, set: u32, node: u32, values: &[u64]) -> u32 {
        let e = self.entries.len() as u32;
        self.entries.push((set, node));
        self.values.extend_from_slice(values);
        e
    }

    /// Adds `values` to the entry of (`set`, `node`).
    #[inline]
    pub(crate) fn add_values(
        &mut self,
        set: u32,
        node: u32,
        values: &[u64],
        at: usize,
    ) -> Result<()> {
        let e = if set == 0 {
            // Set 0 (no labels, the usual case) is held by the node.
            match self.nodes[node as usize].entry0 {
                NONE => {
                    self.nodes[node as usize].entry0 = self.new_entry(set, node, values);
                    return Ok(());
                }
                e => e,
            }
        } else {
            let key = (u64::from(set) << 32) | u64::from(node);
            // Made on first use: most profiles have no labels.
            let mut index = self
                .entry_index
                .take()
                .unwrap_or_else(|| ChildTable::with_capacity(self.samples.min(1 << 12)));
            let found = match index.find(key) {
                Ok(e) => Some(e),
                Err(slot) => {
                    let e = self.new_entry(set, node, values);
                    index.insert_at(slot, key, e);
                    None
                }
            };
            self.entry_index = Some(index);
            match found {
                Some(e) => e,
                None => return Ok(()),
            }
        };
        let n = self.ntypes;
        let e = e as usize;
        for (slot, v) in self.values[e * n..(e + 1) * n].iter_mut().zip(values) {
            *slot = slot
                .checked_add(*v)
                .ok_or_else(|| Error::new(ErrorKind::SumOverflow, at, "Profile.sample.value"))?;
        }
        Ok(())
    }

    /// The location index of every node ([`NONE`] for the root and for ids no location has),
    /// after checking that no stack has more frames than the limit once locations are expanded
    /// into their lines; and whether every node's location is one frame whose name index no other
    /// location used has (then the children of a series tree node are distinct by construction,
    /// see [`Forest::trees`]).
    pub(crate) fn resolve(
        &self,
        p: &Profile<'_>,
        frames: &Frames,
        limits: &Limits,
    ) -> Result<Resolved> {
        let nodes = self.nodes.len();
        let mut locs = vec![NONE; nodes];
        let mut depth = vec![0u32; nodes];
        let mut owner = vec![NONE; frames.count()];
        let mut simple = true;
        for n in 1..nodes {
            let li = location_of(self.links[n].loc, p);
            locs[n] = li;
            let (start, len) = if li == NONE {
                (0, 0)
            } else {
                frames.ranges[li as usize]
            };
            if len == 1 {
                let o = &mut owner[frames.names[start as usize] as usize];
                if *o == NONE {
                    *o = li;
                }
                simple &= *o == li;
            } else {
                simple = false;
            }
            let d = depth[self.nodes[n].parent as usize] as usize + len as usize;
            if d > limits.max_stack_depth {
                return Err(Error::limit(
                    "frames per stack",
                    limits.max_stack_depth,
                    0,
                    "Profile.sample",
                ));
            }
            depth[n] = d as u32;
        }
        Ok(Resolved { locs, simple })
    }

    /// The nodes renumbered in depth-first order (over the sibling lists the walk built):
    /// parents, location indices (from `locs`) and the node of every entry, all by new number.
    fn depth_first(&self, locs: &[u32]) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
        let nodes = self.nodes.len();
        let mut new_of = vec![NONE; nodes];
        let mut parent = Vec::with_capacity(nodes);
        let mut new_locs = Vec::with_capacity(nodes);
        let mut stack = vec![ROOT];
        while let Some(n) = stack.pop() {
            let n = n as usize;
            new_of[n] = parent.len() as u32;
            parent.push(match self.nodes[n].parent {
                NONE => NONE,
                p => new_of[p as usize],
            });
            new_locs.push(locs[n]);
            let mut c = self.links[n].first;
            while c != NONE {
                stack.push(c);
                c = self.links[c as usize].next;
            }
        }
        let leaves = self
            .entries
            .iter()
            .map(|&(_, n)| new_of[n as usize])
            .collect();
        (parent, new_locs, leaves)
    }

    /// Builds one tree per (sample type, label set) with a non-zero total: the nodes on the
    /// paths of the set's entries whose total for that type is not zero, each location expanded
    /// into its frames.
    pub(crate) fn trees(
        &self,
        p: &Profile<'a>,
        frames: &Frames,
        Resolved { locs, simple }: Resolved,
        limits: &Limits,
    ) -> Result<Vec<(usize, u32, StackTree<'a>)>> {
        let nt = self.ntypes;
        let nodes = self.nodes.len();
        // A large tree is renumbered depth first: passes in index order then walk it with
        // parents just visited and siblings together, and series trees are built in that order
        // too (worth it once the tree outgrows the caches).
        let (parent, locs, leaves) = if nodes > DEPTH_FIRST_FROM {
            self.depth_first(&locs)
        } else {
            let leaves = self.entries.iter().map(|&(_, n)| n).collect();
            let parent = self.nodes.iter().map(|w| w.parent).collect();
            (parent, locs, leaves)
        };
        // Entries grouped by label set (already so with one set).
        let nsets = self.label_sets.len();
        let (offsets, order) = if nsets == 1 {
            let n = self.entries.len() as u32;
            (vec![0, n], (0..n).collect())
        } else {
            let mut offsets = vec![0u32; nsets + 1];
            for &(s, _) in &self.entries {
                offsets[s as usize + 1] += 1;
            }
            for i in 1..offsets.len() {
                offsets[i] += offsets[i - 1];
            }
            let mut order = vec![0u32; self.entries.len()];
            let mut fill = offsets.clone();
            for (e, &(s, _)) in self.entries.iter().enumerate() {
                order[fill[s as usize] as usize] = e as u32;
                fill[s as usize] += 1;
            }
            (offsets, order)
        };
        // Per node: the set that last reached it and its entry in that set.
        let mut mark = vec![NONE; nodes];
        let mut entry = vec![NONE; nodes];
        // Totals per node and type, only needed with several types (with one, every node on
        // a path has a non-zero total: zero samples were left out).
        let mut totals = vec![0u64; if nt > 1 { nodes * nt } else { 0 }];
        let mut reached: Vec<u32> = Vec::new();
        let mut map = vec![NONE; nodes];
        // Frame ids of the current tree by name id, valid when the stamp is the tree's.
        let mut ids: Vec<(u32, u32)> = vec![(NONE, 0); frames.count()];
        let mut stamp = 0u32;
        let mut out: Vec<(usize, u32, StackTree<'a>)> = Vec::new();
        // Nodes of all series trees so far, within the same limit as the shared tree.
        let mut built = 0usize;
        let too_many = || {
            Error::limit(
                "series tree nodes",
                limits.max_tree_nodes,
                0,
                "Profile.sample",
            )
        };
        for set in 0..nsets {
            let group = &order[offsets[set] as usize..offsets[set + 1] as usize];
            if group.is_empty() {
                continue;
            }
            // The nodes on the set's paths, root included, in arena order (parents first).
            reached.clear();
            if group.len() == self.entries.len() {
                // The only set: every node is on the path of one of its entries.
                reached.extend(0..nodes as u32);
            } else {
                for &e in group {
                    let mut n = leaves[e as usize];
                    while mark[n as usize] != set as u32 {
                        mark[n as usize] = set as u32;
                        reached.push(n);
                        if n == ROOT {
                            break;
                        }
                        n = parent[n as usize];
                    }
                }
                // A scan of the marks when the set reaches much of the tree, else a sort.
                if reached.len() >= nodes / 8 {
                    reached.clear();
                    reached.extend((0..nodes as u32).filter(|&n| mark[n as usize] == set as u32));
                } else {
                    reached.sort_unstable();
                }
            }
            for &e in group {
                entry[leaves[e as usize] as usize] = e;
            }
            let self_value = |n: usize, t: usize| match entry[n] {
                NONE => 0,
                e => self.values[e as usize * nt + t],
            };
            if nt > 1 {
                for &n in &reached {
                    let n = n as usize;
                    for t in 0..nt {
                        totals[n * nt + t] = self_value(n, t);
                    }
                }
                for &n in reached[1..].iter().rev() {
                    let (n, parent) = (n as usize, parent[n as usize] as usize);
                    for t in 0..nt {
                        let v = totals[n * nt + t];
                        let slot = &mut totals[parent * nt + t];
                        *slot = slot.saturating_add(v);
                    }
                }
            }
            // The last tree built in full for this set, when it did not overflow (its type and
            // place in `out`): `map` holds its node of every node with a non-zero total for its
            // type.
            let mut shape: Option<(usize, usize)> = None;
            for t in 0..nt {
                if nt > 1 && totals[t] == 0 {
                    continue;
                }
                // A type whose non-zero nodes are the shape's (e.g. `alloc_objects` and
                // `alloc_space`) gets a copy of its tree with its own values.
                let same_shape = shape.filter(|&(st, _)| {
                    reached.iter().all(|&n| {
                        (totals[n as usize * nt + st] == 0) == (totals[n as usize * nt + t] == 0)
                    })
                });
                let (tree, copied) = if let Some((_, at)) = same_shape {
                    let mut tree = TreeBuilder::from_shape(&out[at].2);
                    for &n in &reached {
                        let v = self_value(n as usize, t);
                        if v != 0 {
                            tree.add_self(NodeId(map[n as usize]), v);
                        }
                    }
                    (tree, true)
                } else {
                    let mut tree = TreeBuilder::with_capacity(
                        reached.len(),
                        reached.len().min(frames.names.len()),
                    );
                    // Children can be appended without a lookup while the profile is simple
                    // and no two name indices of this tree turned out to be the same string.
                    let mut distinct = simple;
                    tree.add_self(NodeId::ROOT, self_value(ROOT as usize, t));
                    map[ROOT as usize] = NodeId::ROOT.0;
                    'nodes: for &n in &reached[1..] {
                        let n = n as usize;
                        if nt > 1 && totals[n * nt + t] == 0 {
                            continue;
                        }
                        let mut at = map[parent[n] as usize];
                        if at != NONE {
                            let (start, len) = match locs[n] {
                                NONE => (0, 0),
                                li => frames.ranges[li as usize],
                            };
                            for &name in &frames.names[start as usize..(start + len) as usize] {
                                let name = name as usize;
                                let slot = &mut ids[name];
                                if slot.0 != stamp {
                                    let before = tree.frame_count();
                                    let id = if name < frames.nstrings {
                                        tree.intern(p.strings[name])
                                    } else {
                                        tree.intern_transient(&frames.extra[name - frames.nstrings])
                                    };
                                    distinct &= tree.frame_count() > before;
                                    *slot = (stamp, id.0);
                                }
                                let frame = FrameId(slot.1);
                                let child = if distinct {
                                    tree.new_child(NodeId(at), frame)
                                } else {
                                    tree.child(NodeId(at), frame)
                                };
                                match child {
                                    Some(c) => at = c.0,
                                    None => {
                                        // The tree is full (it records that it overflowed).
                                        map[n] = NONE;
                                        continue 'nodes;
                                    }
                                }
                            }
                            let v = self_value(n, t);
                            if v != 0 {
                                tree.add_self(NodeId(at), v);
                            }
                        }
                        map[n] = at;
                        if built + tree.node_count() > limits.max_tree_nodes {
                            return Err(too_many());
                        }
                    }
                    (tree, false)
                };
                let tree = tree.finish();
                built += tree.node_count();
                if built > limits.max_tree_nodes {
                    return Err(too_many());
                }
                if !copied {
                    shape = (!tree.overflowed()).then_some((t, out.len()));
                    stamp += 1;
                }
                out.push((t, set as u32, tree));
            }
            for &e in group {
                entry[leaves[e as usize] as usize] = NONE;
            }
        }
        Ok(out)
    }
}

/// A per-node vector with room for `capacity` nodes, holding the root's `root`.
fn with_root<T>(capacity: usize, root: T) -> Vec<T> {
    let mut v = Vec::with_capacity(capacity);
    v.push(root);
    v
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

/// How many bytes `a` and `b` end with in common, cut back to whole varints: the shared bytes
/// hold the same ids in both (a varint ends at a byte with the high bit clear, so both split
/// them alike once the byte before is such an end in both).
#[inline]
fn shared_tail(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut k = 0;
    loop {
        if k + 8 > n {
            while k < n && a[a.len() - 1 - k] == b[b.len() - 1 - k] {
                k += 1;
            }
            break;
        }
        // Eight bytes at a time; the last byte of each is the most significant.
        let word = |s: &[u8]| {
            u64::from_le_bytes(s[s.len() - k - 8..s.len() - k].try_into().unwrap_or([0; 8]))
        };
        let diff = word(a) ^ word(b);
        if diff != 0 {
            k += (diff.leading_zeros() / 8) as usize;
            break;
        }
        k += 8;
    }
    let continues = |s: &[u8]| s.len() > k && s[s.len() - 1 - k] >= 0x80;
    if k > 0 && (continues(a) || continues(b)) {
        // The first shared bytes finish a varint that started before them: skip up to its end.
        let shared = &a[a.len() - k..];
        k -= shared.iter().position(|&c| c < 0x80).map_or(k, |i| i + 1);
    }
    k
}

/// A varint of three or more bytes that ends with `last`, its earlier bytes at the end of
/// `head` (high bit set): its value and what precedes it. `None` past ten bytes or when a
/// tenth byte is over 1 (the protobuf rules).
#[cold]
fn long_varint(mut head: &[u8], last: u8) -> Option<(u64, &[u8])> {
    let mut id = u64::from(last);
    let mut len = 1;
    while let [h @ .., b] = head
        && *b >= 0x80
    {
        len += 1;
        if len > 10 {
            return None;
        }
        id = (id << 7) | u64::from(b & 0x7f);
        head = h;
    }
    if len == 10 && last > 1 {
        return None;
    }
    Some((id, head))
}

#[cfg(test)]
mod tests {
    use super::shared_tail;
    use proptest::prelude::*;

    /// The oracle: split both into varints (a varint ends at a byte with the high bit clear)
    /// and count the bytes of the varints they end with in common.
    fn oracle(a: &[u8], b: &[u8]) -> usize {
        let split = |s: &[u8]| -> Vec<Vec<u8>> {
            let mut out = vec![];
            let mut cur = vec![];
            for &x in s {
                cur.push(x);
                if x < 0x80 {
                    out.push(std::mem::take(&mut cur));
                }
            }
            out
        };
        let (a, b) = (split(a), split(b));
        a.iter()
            .rev()
            .zip(b.iter().rev())
            .take_while(|(x, y)| x == y)
            .map(|(x, _)| x.len())
            .sum()
    }

    #[test]
    fn shared_tail_cuts_back_to_whole_varints() {
        // ids 5, 129 vs 6, 129: the 129 is shared.
        assert_eq!(shared_tail(&[0x05, 0x81, 0x01], &[0x06, 0x81, 0x01]), 2);
        // 133 vs 134 share their last byte only: nothing.
        assert_eq!(shared_tail(&[0x85, 0x01], &[0x86, 0x01]), 0);
        // One is the other's tail.
        assert_eq!(
            shared_tail(&[0x01, 0x85, 0x02, 0x03], &[0x85, 0x02, 0x03]),
            3
        );
        // The shared bytes start inside a's three-byte varint: only the last id is shared.
        assert_eq!(
            shared_tail(&[0x81, 0x85, 0x02, 0x03], &[0x85, 0x02, 0x03]),
            1
        );
        // Past eight bytes, a difference in the second word.
        let a = [9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        let b = [7, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        assert_eq!(shared_tail(&a, &b), 11);
        assert_eq!(shared_tail(&a, &a), 13);
        assert_eq!(shared_tail(&[], &a), 0);
    }

    proptest! {
        #[test]
        fn shared_tail_matches_the_oracle(
            common in proptest::collection::vec(0u64..40_000, 0..12),
            a in proptest::collection::vec(0u64..40_000, 0..6),
            b in proptest::collection::vec(0u64..40_000, 0..6),
        ) {
            let enc = |ids: &[u64]| -> Vec<u8> {
                let mut out = vec![];
                for &id in ids.iter().chain(&common) {
                    let mut v = id;
                    while v >= 0x80 {
                        out.push((v as u8) | 0x80);
                        v >>= 7;
                    }
                    out.push(v as u8);
                }
                out
            };
            let (a, b) = (enc(&a), enc(&b));
            prop_assert_eq!(shared_tail(&a, &b), oracle(&a, &b));
        }

        #[test]
        fn shared_tail_matches_the_oracle_on_any_bytes(
            common in proptest::collection::vec(any::<u8>(), 0..20),
            a in proptest::collection::vec(any::<u8>(), 0..12),
            b in proptest::collection::vec(any::<u8>(), 0..12),
        ) {
            // Payloads as walked: ending with a varint's last byte.
            let end = |head: &[u8]| [head, &common[..], &[1]].concat();
            let (a, b) = (end(&a), end(&b));
            prop_assert_eq!(shared_tail(&a, &b), oracle(&a, &b));
        }
    }
}
