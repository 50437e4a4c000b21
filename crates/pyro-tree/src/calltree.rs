//! [`CallTree`]: the call-tree core every aggregator is built on — [`crate::StackTree`] (keyed
//! by frame ids) and pyro-pprof's location tree (keyed by location ids).
//!
//! Nodes live in an arena (index 0 is the root) with a parent and a `u32` key. A child is found
//! through the parent's hint (the last child looked up under it), else by scanning the parent's
//! child list — skipped when a per-parent bit filter says the key is not there — or, for parents
//! with more than [`SCAN_LIMIT`] children, in an open-addressing table. What finding a child
//! reads (key, next sibling, first child, child count and filter) sits in one 16-byte link per
//! node, apart from everything else a user keeps per node, so walking stacks stays in the
//! caches. The tree holds at most the node limit it was made with.

/// No node, no key.
pub const NONE: u32 = u32::MAX;

/// Children of a node are found by scanning its list up to this many; beyond, in the table.
pub const SCAN_LIMIT: u32 = 8;

/// Bits of [`Link::kids`] that count children.
const COUNT_BITS: u32 = 4;

/// The child count of [`Link::kids`].
const COUNT_MASK: u32 = (1 << COUNT_BITS) - 1;

/// The bit of [`Link::kids`] for a child at `key`: one of the 28 above the count.
#[inline(always)]
fn key_bit(key: u32) -> u32 {
    let h = (u64::from(key.wrapping_mul(0x9e37_79b9)) * 28) >> 32;
    1 << (COUNT_BITS + h as u32)
}

/// What finding a child reads: a node's key and its place among its siblings and children.
#[derive(Clone, Copy, Debug)]
struct Link {
    key: u32,
    /// Next sibling.
    next: u32,
    /// First child (the most recently added).
    first: u32,
    /// The number of children (up to [`SCAN_LIMIT`] + 1) in the low [`COUNT_BITS`] bits, and
    /// above them a bit per child key ([`key_bit`]): a key whose bit is clear is not a child,
    /// so a new child is usually added without scanning the list.
    kids: u32,
}

/// The rest of a node: its parent and what the user keeps per node.
#[derive(Clone, Copy, Debug)]
struct Slot<T> {
    parent: u32,
    data: T,
}

/// Nodes keyed by `(parent, key)`, each with a `T` of the user's: see the [module](self)
/// documentation.
///
/// ```
/// use pyro_tree::calltree::{CallTree, NONE};
///
/// let mut t: CallTree<u64> = CallTree::with_capacity(16, 1_000, 0);
/// let main = t.child(0, 7);
/// let work = t.child(main, 9);
/// assert_eq!(t.child(0, 7), main); // found, not made again
/// *t.data_mut(work) += 3;
/// assert_eq!((t.parent(work), t.key(work), *t.data(work)), (main, 9, 3));
/// assert_eq!(t.children(0).collect::<Vec<_>>(), [main]);
/// assert_eq!(t.parent(0), NONE);
/// ```
#[derive(Clone, Debug)]
pub struct CallTree<T: Copy = ()> {
    /// Per node, what finding a child reads: 16 bytes, apart from the rest so that walks read
    /// as few cache lines as they can.
    links: Vec<Link>,
    /// Per node, its parent and data.
    slots: Vec<Slot<T>>,
    /// Per node, the last `(key, child)` looked up under it: checked first (empty when the tree
    /// was made without hints).
    hints: Vec<(u32, u32)>,
    wide: ChildTable,
    max_nodes: usize,
    /// What a new node's data starts as.
    fresh: T,
}

impl<T: Copy> CallTree<T> {
    /// A tree of just the root, with room for `nodes` nodes, that never grows past
    /// `max_nodes` (at least 1: the root), with a hint per node ([`CallTree::child`]); every
    /// node's data starts as `fresh`. Its table for wide nodes is made up front (16 KB): trees
    /// walked with hints are the large ones.
    pub fn with_capacity(nodes: usize, max_nodes: usize, fresh: T) -> CallTree<T> {
        Self::make(nodes, max_nodes, fresh, true)
    }

    /// [`CallTree::with_capacity`] without hints, for users that remember their last path
    /// themselves ([`CallTree::child_unhinted`]): a node costs 8 bytes less, and the table for
    /// wide nodes is made when a node first needs it.
    pub fn without_hints(nodes: usize, max_nodes: usize, fresh: T) -> CallTree<T> {
        Self::make(nodes, max_nodes, fresh, false)
    }

    fn make(nodes: usize, max_nodes: usize, fresh: T, hinted: bool) -> CallTree<T> {
        let mut links = Vec::with_capacity(nodes);
        links.push(Link {
            key: NONE,
            next: NONE,
            first: NONE,
            kids: 0,
        });
        let mut slots = Vec::with_capacity(nodes);
        slots.push(Slot {
            parent: NONE,
            data: fresh,
        });
        let mut hints = Vec::with_capacity(if hinted { nodes } else { 0 });
        if hinted {
            hints.push((NONE, NONE));
        }
        CallTree {
            links,
            slots,
            hints,
            wide: if hinted {
                ChildTable::with_capacity(0)
            } else {
                ChildTable::unallocated()
            },
            max_nodes: max_nodes.max(1),
            fresh,
        }
    }

    /// Nodes, the root included.
    #[inline]
    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// Whether the tree is just its root.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.links.len() == 1
    }

    /// The most nodes the tree may hold.
    pub fn max_nodes(&self) -> usize {
        self.max_nodes
    }

    /// The parent of `node` ([`NONE`] for the root).
    #[inline]
    pub fn parent(&self, node: u32) -> u32 {
        self.slots[node as usize].parent
    }

    /// The key of `node` ([`NONE`] for the root).
    #[inline]
    pub fn key(&self, node: u32) -> u32 {
        self.links[node as usize].key
    }

    /// The data of `node`.
    #[inline]
    pub fn data(&self, node: u32) -> &T {
        &self.slots[node as usize].data
    }

    /// The data of `node`, to change.
    #[inline]
    pub fn data_mut(&mut self, node: u32) -> &mut T {
        &mut self.slots[node as usize].data
    }

    /// Every node's data, in node order.
    pub fn data_iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator + '_ {
        self.slots.iter().map(|n| &n.data)
    }

    /// Every node's data, in node order, to change.
    pub fn data_iter_mut(&mut self) -> impl Iterator<Item = &mut T> + '_ {
        self.slots.iter_mut().map(|n| &mut n.data)
    }

    /// The children of `node`, most recently added first.
    pub fn children(&self, node: u32) -> impl Iterator<Item = u32> + '_ {
        let mut c = self.links[node as usize].first;
        std::iter::from_fn(move || {
            let n = c;
            (n != NONE).then(|| {
                c = self.links[n as usize].next;
                n
            })
        })
    }

    /// The first child of `node` ([`NONE`] if none); lists go on through
    /// [`CallTree::next_sibling`].
    #[inline]
    pub fn first_child(&self, node: u32) -> u32 {
        self.links[node as usize].first
    }

    /// The next sibling of `node` ([`NONE`] at the end of the list).
    #[inline]
    pub fn next_sibling(&self, node: u32) -> u32 {
        self.links[node as usize].next
    }

    /// The child of `node` at `key`, if it has one (the hint is not updated).
    #[inline]
    pub fn find(&self, node: u32, key: u32) -> Option<u32> {
        if let Some(&(hk, hc)) = self.hints.get(node as usize)
            && hk == key
            && hc != NONE
        {
            return Some(hc);
        }
        let Link { first, kids, .. } = self.links[node as usize];
        let c = self.scan(node, key, first, kids);
        (c != NONE).then_some(c)
    }

    /// The child of `node` (whose first child and `kids` are given) at `key`, or [`NONE`].
    #[inline(always)]
    fn scan(&self, node: u32, key: u32, first: u32, kids: u32) -> u32 {
        if kids & COUNT_MASK > SCAN_LIMIT {
            return self.wide.find(wide_key(node, key)).unwrap_or(NONE);
        }
        if kids & key_bit(key) == 0 {
            return NONE;
        }
        let mut c = first;
        while c != NONE {
            let n = &self.links[c as usize];
            if n.key == key {
                return c;
            }
            c = n.next;
        }
        NONE
    }

    /// The child of `node` at `key`, made if missing, without hints; [`NONE`] when it is
    /// missing and the tree holds its node limit.
    #[inline(always)]
    pub fn child_unhinted(&mut self, node: u32, key: u32) -> u32 {
        let Link { first, kids, .. } = self.links[node as usize];
        match self.scan(node, key, first, kids) {
            NONE => self.add(node, key, first, kids),
            c => c,
        }
    }

    /// The child of `node` at `key`, made if missing, remembered as `node`'s hint; [`NONE`] when
    /// it is missing and the tree holds its node limit.
    ///
    /// # Panics
    /// If the tree was made [`CallTree::without_hints`].
    #[inline(always)]
    pub fn child(&mut self, node: u32, key: u32) -> u32 {
        let (hk, hc) = self.hints[node as usize];
        if hk == key {
            return hc;
        }
        self.child_slow(node, key)
    }

    /// [`CallTree::child`] past the hint: one call that scans and, if it must, adds.
    #[inline(never)]
    fn child_slow(&mut self, node: u32, key: u32) -> u32 {
        let Link { first, kids, .. } = self.links[node as usize];
        let mut c = self.scan(node, key, first, kids);
        if c == NONE {
            c = self.add(node, key, first, kids);
            if c == NONE {
                return NONE;
            }
        }
        self.hints[node as usize] = (key, c);
        c
    }

    /// Makes room for `additional` more nodes (capped at the node limit), so that growing by
    /// them does not move the tree.
    pub fn reserve(&mut self, additional: usize) {
        let additional = additional.min(self.max_nodes.saturating_sub(self.links.len()));
        self.links.reserve(additional);
        self.slots.reserve(additional);
        if !self.hints.is_empty() {
            self.hints.reserve(additional);
        }
    }

    /// Appends a child of `node` at `key` without looking for one, for a caller that knows it
    /// is new; [`NONE`] when the tree holds its node limit. A wrong promise is not undefined:
    /// both children exist, [`CallTree::children`] lists both, and lookups find one of them
    /// (which one is unspecified). Not public: [`crate::TreeBuilder::new_child`] is the checked
    /// way (it merges such duplicates when it finishes).
    pub(crate) fn push_child(&mut self, node: u32, key: u32) -> u32 {
        let Link { first, kids, .. } = self.links[node as usize];
        self.add(node, key, first, kids)
    }

    /// [`CallTree::push_child`] with `node`'s first child and `kids` already read.
    #[inline(always)]
    fn add(&mut self, node: u32, key: u32, first: u32, kids: u32) -> u32 {
        let n = self.links.len() as u32;
        if n as usize >= self.max_nodes {
            return NONE;
        }
        self.links.push(Link {
            key,
            next: first,
            first: NONE,
            kids: 0,
        });
        self.slots.push(Slot {
            parent: node,
            data: self.fresh,
        });
        if !self.hints.is_empty() {
            self.hints.push((NONE, NONE));
        }
        let count = (kids & COUNT_MASK) + 1;
        let p = &mut self.links[node as usize];
        p.first = n;
        if count <= SCAN_LIMIT + 1 {
            p.kids = (kids & !COUNT_MASK) | key_bit(key) | count;
        }
        if count > SCAN_LIMIT {
            self.widen(node, key, n, count);
        }
        n
    }

    /// Indexes the new child `n` at `key` of a wide `node` (with `count` children now), or
    /// every child of a node that just passed the scan limit.
    #[cold]
    fn widen(&mut self, node: u32, key: u32, n: u32, count: u32) {
        self.wide.allocate();
        if count == SCAN_LIMIT + 1 {
            let mut c = n;
            while c != NONE {
                let Link { key: k, next, .. } = self.links[c as usize];
                if let Err(at) = self.wide.find(wide_key(node, k)) {
                    self.wide.insert_at(at, wide_key(node, k), c);
                }
                c = next;
            }
        } else if let Err(at) = self.wide.find(wide_key(node, key)) {
            self.wide.insert_at(at, wide_key(node, key), n);
        }
    }
}

#[inline(always)]
fn wide_key(node: u32, key: u32) -> u64 {
    (u64::from(node) << 32) | u64::from(key)
}

/// Open-addressing map from a `u64` key to a `u32` (children of wide nodes; also usable for
/// other `(a << 32 | b)` indexes).
#[derive(Clone, Debug)]
pub struct ChildTable {
    /// `(key, value)`; [`EMPTY_KEY`] marks a free slot.
    slots: Vec<(u64, u32)>,
    len: usize,
    shift: u32,
}

/// The key of a free [`ChildTable`] slot (not a key a user may store).
pub const EMPTY_KEY: u64 = u64::MAX;

impl ChildTable {
    /// A table that holds `n` keys before it grows (512 at least).
    pub fn with_capacity(n: usize) -> Self {
        let bits = (n.max(512) * 2).next_power_of_two().trailing_zeros();
        ChildTable {
            slots: vec![(EMPTY_KEY, 0); 1 << bits],
            len: 0,
            shift: 64 - bits,
        }
    }

    /// A table with no room yet (nothing allocated): [`ChildTable::find`] must not be called
    /// before [`ChildTable::allocate`].
    fn unallocated() -> Self {
        ChildTable {
            slots: Vec::new(),
            len: 0,
            shift: 64,
        }
    }

    /// Makes room (for 16 keys: one node past the scan limit and room to grow) if there is
    /// none yet.
    fn allocate(&mut self) {
        if self.slots.is_empty() {
            *self = ChildTable {
                slots: vec![(EMPTY_KEY, 0); 32],
                len: 0,
                shift: 64 - 5,
            };
        }
    }

    /// Keys stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no key is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn slot(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    /// The value stored for `key`, or the free slot to store it in.
    #[inline]
    pub fn find(&self, key: u64) -> Result<u32, usize> {
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

    /// Stores `value` for `key` (not [`EMPTY_KEY`]) in the free slot `at` that
    /// [`ChildTable::find`] returned.
    pub fn insert_at(&mut self, at: usize, key: u64, value: u32) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Children are found again whether the parent scans its list or uses the table, across the
    /// switch at the scan limit, with hints pointing elsewhere.
    #[test]
    fn children_are_found_across_the_scan_limit() {
        let mut t: CallTree = CallTree::with_capacity(4, 10_000, ());
        let mut made = Vec::new();
        for k in 0..40u32 {
            let key = k.wrapping_mul(2_654_435_761);
            let c = t.child(0, key);
            assert_ne!(c, NONE);
            made.push((key, c));
            for &(key, c) in &made {
                assert_eq!(t.find(0, key), Some(c));
            }
            assert_eq!(t.find(0, key ^ 1), None);
        }
        for &(key, c) in made.iter().rev() {
            assert_eq!(t.child(0, key), c);
            assert_eq!(t.parent(c), 0);
            assert_eq!(t.key(c), key);
        }
        assert_eq!(t.len(), 41);
        let mut kids: Vec<u32> = t.children(0).collect();
        kids.sort_unstable();
        assert_eq!(kids, (1..=40).collect::<Vec<_>>());
    }

    #[test]
    fn without_hints_the_same_children() {
        let mut a: CallTree = CallTree::with_capacity(4, 100, ());
        let mut b: CallTree = CallTree::without_hints(4, 100, ());
        for (p, k) in [(0, 5), (1, 6), (0, 7), (1, 6), (2, 1), (0, 5)] {
            assert_eq!(a.child(p, k), b.child_unhinted(p, k));
        }
        assert_eq!(a.len(), b.len());
        assert_eq!(b.find(1, 6), Some(2));
    }

    /// Without hints (the table for wide nodes made when the first node needs it) children are
    /// found across the scan limit, under several wide parents, as the table grows.
    #[test]
    fn without_hints_wide_nodes_are_found() {
        let mut t: CallTree<u32> = CallTree::without_hints(1, 100_000, 7);
        let mut made = Vec::new();
        for parent in 0..4u32 {
            let p = if parent == 0 {
                0
            } else {
                t.child_unhinted(0, 1_000 + parent)
            };
            for k in 0..200u32 {
                let c = t.child_unhinted(p, k * 31);
                assert_eq!(*t.data(c), 7);
                made.push((p, k * 31, c));
            }
        }
        for &(p, k, c) in &made {
            assert_eq!(t.find(p, k), Some(c));
            assert_eq!(t.child_unhinted(p, k), c);
            assert_eq!((t.parent(c), t.key(c)), (p, k));
        }
        assert_eq!(t.find(0, 5), None);
        assert_eq!(t.len(), 1 + 3 + 800);
    }

    /// A child pushed twice at one key: both exist and are listed, a lookup finds one.
    #[test]
    fn a_pushed_duplicate_is_listed_and_one_is_found() {
        let mut t: CallTree = CallTree::without_hints(4, 100, ());
        let a = t.push_child(0, 5);
        let b = t.push_child(0, 5);
        assert_ne!(a, b);
        assert_eq!(t.children(0).count(), 2);
        assert!([a, b].contains(&t.find(0, 5).unwrap()));
    }

    #[test]
    fn the_node_limit_holds() {
        let mut t: CallTree = CallTree::with_capacity(4, 3, ());
        let a = t.child(0, 1);
        let b = t.child(a, 2);
        assert_eq!(t.child(b, 3), NONE);
        assert_eq!(t.child(a, 2), b);
        assert_eq!(t.push_child(0, 9), NONE);
        assert_eq!(t.len(), 3);
    }
}
