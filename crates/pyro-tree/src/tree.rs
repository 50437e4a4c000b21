//! [`StackTree`]: the zero-copy aggregator.

use std::borrow::Cow;
use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;

use crate::StackSink;
use crate::calltree::CallTree;

/// Dense id of an interned frame name in one [`StackTree`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FrameId(pub u32);

/// Index of a node in one [`StackTree`]'s arena; [`NodeId::ROOT`] is the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub u32);

impl NodeId {
    /// The root node, which has no frame.
    pub const ROOT: NodeId = NodeId(0);
}

/// Frame id stored on the root node (it has no frame).
const NO_FRAME: u32 = u32::MAX;

/// The most nodes (and so the most distinct frames) one tree holds. Stacks that would need more
/// are dropped and [`StackTree::overflowed`] is set.
pub const MAX_NODES: usize = (u32::MAX - 1) as usize;

/// A node's values.
#[derive(Debug, Clone, Copy, Default)]
struct Values {
    self_value: u64,
    total: u64,
}

/// No node.
const NONE: u32 = crate::calltree::NONE;

/// Aggregates stacks into a call tree.
///
/// Frame names are borrowed from the input for `'a` where the reader can lend them
/// ([`StackSink::add`]) and copied only when they cannot ([`StackSink::add_transient`]); each
/// distinct name is interned once to a dense [`FrameId`]. Nodes live in a [`CallTree`] keyed by
/// frame id (the call-tree core pyro-pprof's location tree is built on too) and carry a self
/// and a total value.
///
/// Values never wrap: an addition that would overflow `u64` saturates and sets
/// [`StackTree::overflowed`], which callers turn into an error.
///
/// ```
/// use pyro_tree::{StackSink, StackTree};
///
/// let input = String::from("main;work");
/// let frames: Vec<&str> = input.split(';').collect();
/// let mut tree = StackTree::new();
/// tree.add(&frames, 3);
/// tree.add(&["main"], 1);
/// assert_eq!(tree.total(), 4);
/// assert_eq!(tree.to_folded(), "main 1\nmain;work 3\n");
/// ```
#[derive(Clone)]
pub struct StackTree<'a> {
    names: Vec<Cow<'a, str>>,
    name_index: HashTable<u32>,
    /// The nodes: parents, frames (keys), children, values.
    nodes: CallTree<Values>,
    hasher: foldhash::fast::RandomState,
    overflowed: bool,
    /// Frames and nodes of the last stack added: the next stack reuses their common prefix, so
    /// stacks added in sorted order skip most child lookups.
    last_frames: Vec<u32>,
    last_nodes: Vec<u32>,
    /// Set when this tree is a column of values over a shape other trees share
    /// ([`StackTree::from_column`]); `names` and `nodes` are then unused.
    column: Option<Box<Column<'a>>>,
}

/// A tree's values over a shared shape: node `i` of the shape is a node of the tree when its
/// total is not zero (the root always is).
#[derive(Clone)]
struct Column<'a> {
    shape: Arc<StackTree<'a>>,
    /// Totals by node.
    totals: Vec<u64>,
    /// The non-zero self values, few beside the nodes (one per distinct stack at most): a bit
    /// per node that has one, per 64-node word the bits set before it, and the values in node
    /// order. Half the memory of a value per node.
    self_bits: Vec<u64>,
    self_rank: Vec<u32>,
    selfs: Vec<u64>,
    /// Nodes of the tree, the root included.
    live: usize,
}

impl Column<'_> {
    #[inline]
    fn values(&self, i: u32) -> Values {
        let (w, b) = (i as usize / 64, i % 64);
        let bits = self.self_bits[w];
        let self_value = if bits & (1 << b) == 0 {
            0
        } else {
            let below = (bits & ((1u64 << b) - 1)).count_ones();
            self.selfs[(self.self_rank[w] + below) as usize]
        };
        Values {
            self_value,
            total: self.totals[i as usize],
        }
    }
}

impl std::fmt::Debug for StackTree<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackTree")
            .field("frames", &self.frame_count())
            .field("nodes", &self.node_count())
            .field("total", &self.total())
            .field("overflowed", &self.overflowed)
            .finish()
    }
}

impl Default for StackTree<'_> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a> StackTree<'a> {
    /// An empty tree (just the root, value 0).
    pub fn new() -> Self {
        let hasher = foldhash::fast::RandomState::default();
        StackTree {
            names: Vec::new(),
            name_index: HashTable::new(),
            nodes: CallTree::without_hints(1, MAX_NODES, Values::default()),
            hasher,
            overflowed: false,
            last_frames: Vec::new(),
            last_nodes: Vec::new(),
            column: None,
        }
    }

    /// A tree over the nodes of `shape` (a tree built for its shape, e.g. with zero values)
    /// with `self_values[i]` as node `i`'s self value, its totals summed from them; a node whose
    /// total is zero is not part of the tree. `saturated` says a self value was already capped
    /// at `u64::MAX` (the tree is then [`overflowed`](StackTree::overflowed)).
    ///
    /// Trees made over one shape share it: one copy of the frames and nodes for all of them
    /// (e.g. every sample type and label set of one profile), each holding only its values.
    /// A tree that covers less than a quarter of the shape gets nodes of its own instead, so a
    /// small tree never costs a value per node of a large shape. Changing a tree that shares its
    /// shape (adding, merging) first gives it nodes of its own.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use pyro_tree::{StackSink, StackTree};
    ///
    /// let mut shape = StackTree::new();
    /// shape.add(&["main", "work"], 0);
    /// shape.add(&["main", "idle"], 0);
    /// let shape = Arc::new(shape);
    /// // Nodes in arena order: root, main, work, idle.
    /// let cpu = StackTree::from_column(&shape, vec![0, 0, 3, 1], false);
    /// let wall = StackTree::from_column(&shape, vec![0, 0, 0, 5], false);
    /// assert_eq!(cpu.to_folded(), "main;idle 1\nmain;work 3\n");
    /// assert_eq!(wall.to_folded(), "main;idle 5\n");
    /// assert_eq!((cpu.node_count(), wall.node_count()), (4, 3));
    /// ```
    ///
    /// # Panics
    /// If `self_values` does not hold one value per node of `shape`.
    pub fn from_column(
        shape: &Arc<StackTree<'a>>,
        self_values: Vec<u64>,
        saturated: bool,
    ) -> StackTree<'a> {
        let arena = shape.arena();
        let len = arena.nodes.len();
        assert_eq!(self_values.len(), len, "one value per node of the shape");
        let words = len.div_ceil(64);
        let mut self_bits = vec![0u64; words];
        let mut self_rank = Vec::with_capacity(words);
        let mut selfs = Vec::new();
        for (w, chunk) in self_values.chunks(64).enumerate() {
            self_rank.push(selfs.len() as u32);
            let mut bits = 0u64;
            for (b, &v) in chunk.iter().enumerate() {
                bits |= u64::from(v != 0) << b;
            }
            self_bits[w] = bits;
            let mut rest = bits;
            while rest != 0 {
                selfs.push(chunk[rest.trailing_zeros() as usize]);
                rest &= rest - 1;
            }
        }
        // The caller's vector becomes the totals: children come after their parents, so one
        // backward pass adds each total to its parent's (branch-free: most nodes are live).
        let mut totals = self_values;
        let mut overflowed = saturated;
        let mut live = 1;
        for i in (1..len as u32).rev() {
            let total = totals[i as usize];
            live += usize::from(total != 0);
            let p = &mut totals[arena.nodes.parent(i) as usize];
            let (sum, over) = p.overflowing_add(total);
            *p = if over { u64::MAX } else { sum };
            overflowed |= over;
        }
        let column = Column {
            shape: match &shape.column {
                Some(c) => c.shape.clone(),
                None => shape.clone(),
            },
            totals,
            self_bits,
            self_rank,
            selfs,
            live,
        };
        if live * 4 < len {
            return Self::materialize(&column, overflowed);
        }
        let mut t = StackTree::new();
        t.overflowed = overflowed;
        t.column = Some(Box::new(column));
        t
    }

    /// A tree with nodes of its own holding `column`'s nodes and values (same frame ids).
    fn materialize(column: &Column<'a>, overflowed: bool) -> StackTree<'a> {
        let shape = &*column.shape;
        let len = shape.nodes.len();
        let mut nodes = CallTree::without_hints(column.live, MAX_NODES, Values::default());
        let mut map = vec![NONE; len];
        map[0] = 0;
        *nodes.data_mut(0) = column.values(0);
        for i in 1..len as u32 {
            let v = column.values(i);
            if v.total == 0 {
                continue;
            }
            // A parent's total is at least its child's, so the parent is mapped.
            let n = nodes.push_child(map[shape.nodes.parent(i) as usize], shape.nodes.key(i));
            *nodes.data_mut(n) = v;
            map[i as usize] = n;
        }
        StackTree {
            names: shape.names.clone(),
            name_index: shape.name_index.clone(),
            nodes,
            hasher: shape.hasher.clone(),
            overflowed,
            last_frames: Vec::new(),
            last_nodes: Vec::new(),
            column: None,
        }
    }

    /// Gives a tree that shares its shape nodes of its own, before it changes.
    #[inline(always)]
    fn own(&mut self) {
        if self.column.is_some() {
            self.own_slow();
        }
    }

    #[cold]
    #[inline(never)]
    fn own_slow(&mut self) {
        if let Some(c) = self.column.take() {
            *self = Self::materialize(&c, self.overflowed);
        }
    }

    /// Whether this tree is a column over a shape shared with other trees
    /// ([`StackTree::from_column`]).
    pub fn shares_shape(&self) -> bool {
        self.column.is_some()
    }

    /// The tree holding the frames and nodes: the shared shape, or this tree.
    #[inline]
    fn arena(&self) -> &StackTree<'a> {
        match &self.column {
            Some(c) => &c.shape,
            None => self,
        }
    }

    /// Node `i`'s values.
    #[inline]
    fn vals(&self, i: u32) -> Values {
        match &self.column {
            Some(c) => c.values(i),
            None => *self.nodes.data(i),
        }
    }

    /// Whether arena node `i` is a node of this tree (always, unless it shares a shape).
    #[inline]
    pub(crate) fn alive(&self, i: u32) -> bool {
        match &self.column {
            Some(c) => i == 0 || c.totals[i as usize] != 0,
            None => true,
        }
    }

    /// Nodes of the arena ([`Self::node_count`] unless the tree shares a shape): node ids are
    /// below it.
    pub(crate) fn arena_len(&self) -> usize {
        self.arena().nodes.len()
    }

    /// An empty tree with room for `nodes` nodes and `frames` distinct frame names.
    pub fn with_capacity(nodes: usize, frames: usize) -> Self {
        let mut t = Self::new();
        t.nodes = CallTree::without_hints(nodes, MAX_NODES, Values::default());
        t.names.reserve(frames);
        t.name_index.reserve(frames, |_| 0);
        t
    }

    /// Makes room for `nodes` more nodes (a reader that knows how many stacks and frames it
    /// is about to add: growing then does not copy the tree).
    pub fn reserve(&mut self, nodes: usize) {
        self.own();
        self.nodes.reserve(nodes);
    }

    /// Interns a frame name borrowed for `'a`, without copying it.
    pub fn intern(&mut self, name: &'a str) -> FrameId {
        self.own();
        match self.lookup(name) {
            Ok(id) => id,
            Err(hash) => self.insert_new(hash, Cow::Borrowed(name)),
        }
    }

    /// Interns a frame name that only lives for this call (copied the first time it is seen).
    pub fn intern_transient(&mut self, name: &str) -> FrameId {
        self.own();
        match self.lookup(name) {
            Ok(id) => id,
            Err(hash) => self.insert_new(hash, Cow::Owned(name.to_owned())),
        }
    }

    /// Interns a frame name given as a `Cow` (borrowed names are kept borrowed, owned ones are
    /// moved in when new).
    pub fn intern_cow(&mut self, name: Cow<'a, str>) -> FrameId {
        self.own();
        match self.lookup(&name) {
            Ok(id) => id,
            Err(hash) => self.insert_new(hash, name),
        }
    }

    /// The id of `name` if interned, else the hash to insert it with.
    fn lookup(&self, name: &str) -> Result<FrameId, u64> {
        let a = self.arena();
        let hash = a.hasher.hash_one(name);
        let names = &a.names;
        match a.name_index.find(hash, |&id| names[id as usize] == name) {
            Some(&id) => Ok(FrameId(id)),
            None => Err(hash),
        }
    }

    fn insert_new(&mut self, hash: u64, name: Cow<'a, str>) -> FrameId {
        let id = self.names.len() as u32;
        self.names.push(name);
        let (names, hasher) = (&self.names, &self.hasher);
        self.name_index
            .insert_unique(hash, id, |&id| hasher.hash_one(&*names[id as usize]));
        FrameId(id)
    }

    /// The name of an interned frame.
    ///
    /// # Panics
    /// If `id` was not returned by this tree's interner.
    pub fn frame_name(&self, id: FrameId) -> &str {
        &self.arena().names[id.0 as usize]
    }

    /// Number of distinct frame names.
    pub fn frame_count(&self) -> usize {
        self.arena().names.len()
    }

    /// Number of nodes, the root included.
    pub fn node_count(&self) -> usize {
        match &self.column {
            Some(c) => c.live,
            None => self.nodes.len(),
        }
    }

    /// Sum of every value added (the root's total).
    pub fn total(&self) -> u64 {
        self.vals(0).total
    }

    /// Value added with an empty stack.
    pub fn root_self(&self) -> u64 {
        self.vals(0).self_value
    }

    /// Whether a value saturated at `u64::MAX` or a stack was dropped at [`MAX_NODES`].
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Whether nothing, not even a zero value, was added below the root and the root is 0.
    pub fn is_empty(&self) -> bool {
        self.node_count() == 1 && self.total() == 0
    }

    /// The node's frame, `None` for the root.
    pub fn node_frame(&self, node: NodeId) -> Option<FrameId> {
        if node.0 as usize >= self.arena_len() || !self.alive(node.0) {
            return None;
        }
        let f = self.arena().nodes.key(node.0);
        (f != NO_FRAME).then_some(FrameId(f))
    }

    /// The node's `(self, total)` values.
    pub fn node_values(&self, node: NodeId) -> Option<(u64, u64)> {
        if node.0 as usize >= self.arena_len() || !self.alive(node.0) {
            return None;
        }
        let n = self.vals(node.0);
        Some((n.self_value, n.total))
    }

    /// The node's parent, `None` for the root.
    pub fn node_parent(&self, node: NodeId) -> Option<NodeId> {
        if node.0 == 0 || node.0 as usize >= self.arena_len() || !self.alive(node.0) {
            return None;
        }
        Some(NodeId(self.arena().nodes.parent(node.0)))
    }

    /// The existing child of `parent` with `frame`.
    #[inline]
    fn find(&self, parent: u32, frame: u32) -> Option<u32> {
        self.arena()
            .nodes
            .find(parent, frame)
            .filter(|&c| self.alive(c))
    }

    /// The child of `parent` with `frame`, created (with zero values) if missing; `None` only at
    /// [`MAX_NODES`].
    #[inline(always)]
    fn child(&mut self, parent: u32, frame: u32) -> Option<u32> {
        let c = self.nodes.child_unhinted(parent, frame);
        self.made(c)
    }

    /// Appends a child of `parent` with `frame`, which it must not have yet.
    #[inline]
    fn new_child(&mut self, parent: u32, frame: u32) -> Option<u32> {
        let c = self.nodes.push_child(parent, frame);
        self.made(c)
    }

    /// `None` (and `overflowed`) for [`NONE`], the node limit.
    #[inline(always)]
    fn made(&mut self, c: u32) -> Option<u32> {
        if c == NONE {
            self.overflowed = true;
            return None;
        }
        Some(c)
    }

    #[inline]
    fn bump_total(&mut self, node: u32, value: u64) {
        let n = self.nodes.data_mut(node);
        match n.total.checked_add(value) {
            Some(v) => n.total = v,
            None => {
                n.total = u64::MAX;
                self.overflowed = true;
            }
        }
    }

    pub(crate) fn bump_self(&mut self, node: u32, value: u64) {
        let n = self.nodes.data_mut(node);
        match n.self_value.checked_add(value) {
            Some(v) => n.self_value = v,
            None => {
                n.self_value = u64::MAX;
                self.overflowed = true;
            }
        }
    }

    /// Adds `value` along the path of `frames` (root first): to every node's total and to the
    /// leaf's self. At [`MAX_NODES`] the rest of the stack is dropped (and `overflowed` set).
    #[inline]
    fn add_path(&mut self, frames: impl Iterator<Item = u32>, value: u64) {
        let mut node = 0;
        self.bump_total(0, value);
        let mut diverged = false;
        // Whether `node` was made by this call: it has no children, so the next is new too.
        let mut below_new = false;
        for (depth, f) in frames.enumerate() {
            if !diverged && self.last_frames.get(depth) == Some(&f) {
                node = self.last_nodes[depth];
            } else {
                if !diverged {
                    diverged = true;
                    self.last_frames.truncate(depth);
                    self.last_nodes.truncate(depth);
                }
                let c = if below_new {
                    self.new_child(node, f)
                } else {
                    let before = self.nodes.len();
                    let c = self.child(node, f);
                    below_new = self.nodes.len() > before;
                    c
                };
                let Some(c) = c else {
                    self.last_frames.truncate(depth);
                    self.last_nodes.truncate(depth);
                    return;
                };
                node = c;
                self.last_frames.push(f);
                self.last_nodes.push(c);
            }
            self.bump_total(node, value);
        }
        self.bump_self(node, value);
    }

    /// The child of `parent` with `frame`, created with zero values if missing; `None` (and
    /// [`StackTree::overflowed`] set) when the tree already holds [`MAX_NODES`] nodes.
    ///
    /// With [`StackTree::add_self`] and [`StackTree::recompute_totals`] this builds a tree node
    /// by node, for readers that already hold their stacks as a tree: each node is looked up
    /// once instead of once per stack through it.
    ///
    /// # Panics
    /// If `parent` is not a node of this tree or `frame` was not returned by its interner.
    #[inline(always)]
    pub(crate) fn child_node(&mut self, parent: NodeId, frame: FrameId) -> Option<NodeId> {
        // Only a TreeBuilder's tree gets here, and it never shares a shape.
        debug_assert!(self.column.is_none());
        self.assert_own(parent, frame);
        self.child(parent.0, frame.0).map(NodeId)
    }

    /// Panics unless `parent` and `frame` belong to this tree.
    #[inline]
    fn assert_own(&self, parent: NodeId, frame: FrameId) {
        assert!(
            (parent.0 as usize) < self.nodes.len() && (frame.0 as usize) < self.names.len(),
            "node or frame of another tree"
        );
    }

    /// Like [`StackTree::child_node`] for a child known to be new: appends it without looking
    /// for an existing one. [`crate::TreeBuilder::finish`] merges a duplicate this made.
    ///
    /// # Panics
    /// If `parent` is not a node of this tree or `frame` was not returned by its interner.
    #[inline]
    pub(crate) fn push_new_child(&mut self, parent: NodeId, frame: FrameId) -> Option<NodeId> {
        // Only a TreeBuilder's tree gets here, and it never shares a shape.
        debug_assert!(self.column.is_none());
        self.assert_own(parent, frame);
        self.new_child(parent.0, frame.0).map(NodeId)
    }

    /// Adds `value` to the node's self value (saturating, which sets
    /// [`StackTree::overflowed`]). Totals are left as they are: call
    /// [`StackTree::recompute_totals`] once the tree is built.
    ///
    /// # Panics
    /// If `node` is not a node of this tree.
    #[inline]
    pub(crate) fn add_self(&mut self, node: NodeId, value: u64) {
        // Only a TreeBuilder's tree gets here, and it never shares a shape.
        debug_assert!(self.column.is_none());
        self.bump_self(node.0, value);
    }

    /// Adds `value` to the stack of interned frames `frames` (root first).
    pub fn add_ids(&mut self, frames: &[FrameId], value: u64) {
        self.own();
        self.add_path(frames.iter().map(|f| f.0), value);
    }

    /// Adds `other`'s values into `self`, node by node. Merging is commutative and associative:
    /// the result does not depend on the order trees are merged in.
    pub fn merge(&mut self, other: &StackTree<'a>) {
        self.own();
        let arena = other.arena();
        let frame_map: Vec<FrameId> = arena
            .names
            .iter()
            .map(|n| match n {
                Cow::Borrowed(s) => self.intern(s),
                Cow::Owned(s) => self.intern_transient(s),
            })
            .collect();
        let mut node_map: Vec<u32> = Vec::with_capacity(arena.nodes.len());
        node_map.push(0);
        // Arena order puts every parent before its children.
        for i in 0..arena.nodes.len() {
            let n = other.vals(i as u32);
            let mine = if i == 0 {
                0
            } else if !other.alive(i as u32) {
                u32::MAX
            } else {
                let parent = node_map[arena.nodes.parent(i as u32) as usize];
                if parent == u32::MAX {
                    u32::MAX
                } else {
                    let frame = arena.nodes.key(i as u32);
                    self.child(parent, frame_map[frame as usize].0)
                        .unwrap_or(u32::MAX)
                }
            };
            if i > 0 {
                node_map.push(mine);
            }
            if mine != u32::MAX {
                self.bump_self(mine, n.self_value);
                self.bump_total(mine, n.total);
            }
        }
        self.overflowed |= other.overflowed;
    }

    /// Copies every borrowed name so the tree no longer borrows the input.
    pub fn into_owned(mut self) -> StackTree<'static> {
        self.own();
        StackTree {
            names: self
                .names
                .into_iter()
                .map(|n| Cow::Owned(n.into_owned()))
                .collect(),
            name_index: self.name_index,
            nodes: self.nodes,
            hasher: self.hasher,
            overflowed: self.overflowed,
            last_frames: self.last_frames,
            last_nodes: self.last_nodes,
            column: None,
        }
    }

    /// Every tree with its frame names owned, as [`StackTree::into_owned`], keeping trees that
    /// share a shape sharing one owned copy of it (`into_owned` of each would give each tree
    /// nodes of its own).
    pub fn into_owned_all(trees: Vec<StackTree<'a>>) -> Vec<StackTree<'static>> {
        let mut shapes: Vec<(Arc<StackTree<'a>>, Arc<StackTree<'static>>)> = Vec::new();
        trees
            .into_iter()
            .map(|mut t| match t.column.take() {
                None => t.into_owned(),
                Some(c) => {
                    let shape = match shapes.iter().find(|(k, _)| Arc::ptr_eq(k, &c.shape)) {
                        Some((_, s)) => s.clone(),
                        None => {
                            let s = Arc::new((*c.shape).clone().into_owned());
                            shapes.push((c.shape.clone(), s.clone()));
                            s
                        }
                    };
                    let mut owned = StackTree::new();
                    owned.overflowed = t.overflowed;
                    owned.column = Some(Box::new(Column {
                        shape,
                        totals: c.totals,
                        self_bits: c.self_bits,
                        self_rank: c.self_rank,
                        selfs: c.selfs,
                        live: c.live,
                    }));
                    owned
                }
            })
            .collect()
    }

    /// Takes the tree out of each item (`tree_of` points at it) and makes them owned together
    /// ([`StackTree::into_owned_all`]): each item beside its owned tree, in order.
    pub fn take_owned_all<T>(
        mut items: Vec<T>,
        tree_of: impl Fn(&mut T) -> &mut StackTree<'a>,
    ) -> Vec<(T, StackTree<'static>)> {
        let trees = items
            .iter_mut()
            .map(|i| std::mem::take(tree_of(i)))
            .collect();
        items.into_iter().zip(Self::into_owned_all(trees)).collect()
    }

    /// Children of every node, each list sorted bytewise by frame name, as `(offsets, kids)`:
    /// node `p`'s children are `kids[offsets[p]..offsets[p + 1]]`.
    pub(crate) fn sorted_children(&self) -> (Vec<u32>, Vec<u32>) {
        let a = self.arena();
        // Names are compared once each (frame ranks), nodes by integers.
        let mut by_name: Vec<u32> = (0..a.names.len() as u32).collect();
        by_name.sort_unstable_by(|&x, &y| {
            a.names[x as usize]
                .as_bytes()
                .cmp(a.names[y as usize].as_bytes())
        });
        let mut rank = vec![0u32; a.names.len()];
        for (r, &f) in by_name.iter().enumerate() {
            rank[f as usize] = r as u32;
        }
        let mut keyed: Vec<(u64, u32)> = (1..a.nodes.len() as u32)
            .filter(|&i| self.alive(i))
            .map(|i| {
                let (parent, frame) = (a.nodes.parent(i), a.nodes.key(i));
                (
                    (u64::from(parent) << 32) | u64::from(rank[frame as usize]),
                    i,
                )
            })
            .collect();
        keyed.sort_unstable();
        let kids: Vec<u32> = keyed.into_iter().map(|(_, i)| i).collect();
        let mut offsets = vec![0u32; a.nodes.len() + 1];
        for &k in &kids {
            offsets[a.nodes.parent(k) as usize + 1] += 1;
        }
        for i in 1..offsets.len() {
            offsets[i] += offsets[i - 1];
        }
        (offsets, kids)
    }

    /// Children of every node in the order they were made, as [`Self::sorted_children`] lays
    /// them out: a counting pass over parents, no sort.
    pub(crate) fn children_in_order(&self) -> (Vec<u32>, Vec<u32>) {
        let a = self.arena();
        let mut offsets = vec![0u32; a.nodes.len() + 1];
        for i in (1..a.nodes.len() as u32).filter(|&i| self.alive(i)) {
            offsets[a.nodes.parent(i) as usize + 1] += 1;
        }
        for i in 1..offsets.len() {
            offsets[i] += offsets[i - 1];
        }
        let mut next = offsets.clone();
        let mut kids = vec![0u32; self.node_count().saturating_sub(1)];
        for i in (1..a.nodes.len() as u32).filter(|&i| self.alive(i)) {
            let at = &mut next[a.nodes.parent(i) as usize];
            kids[*at as usize] = i;
            *at += 1;
        }
        (offsets, kids)
    }

    /// Visits every node with a non-zero self value, depth first with siblings in bytewise name
    /// order, as `(frames root first, self)`. The root's own value comes first, with no frames.
    pub fn for_each_stack(&self, mut f: impl FnMut(&[&str], u64)) {
        let (offsets, kids) = self.sorted_children();
        let mut frames: Vec<&str> = Vec::new();
        // (node, depth)
        let mut stack: Vec<(u32, usize)> = vec![(0, 0)];
        let a = self.arena();
        while let Some((node, depth)) = stack.pop() {
            let n = self.vals(node);
            frames.truncate(depth.saturating_sub(1));
            if node != 0 {
                frames.push(&a.names[a.nodes.key(node) as usize]);
            }
            if n.self_value != 0 {
                f(&frames, n.self_value);
            }
            let (s, e) = (offsets[node as usize], offsets[node as usize + 1]);
            for &k in kids[s as usize..e as usize].iter().rev() {
                stack.push((k, depth + 1));
            }
        }
    }

    /// One more than the largest node id: arrays indexed by [`NodeId`] need this many slots.
    /// It is [`StackTree::node_count`] unless the tree shares a shape
    /// ([`StackTree::from_column`]), whose ids are the shape's and may have gaps.
    pub fn node_id_bound(&self) -> usize {
        self.arena_len()
    }

    /// Node ids of the tree, root first, parents before children (arena order). Ids are below
    /// [`StackTree::node_id_bound`] and not always dense (see there).
    pub fn node_ids(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.arena_len() as u32)
            .filter(|&i| self.alive(i))
            .map(NodeId)
    }

    /// The children of node `i`, most recently added first.
    pub(crate) fn child_ids(&self, i: u32) -> impl Iterator<Item = u32> + '_ {
        self.arena().nodes.children(i).filter(|&c| self.alive(c))
    }

    /// Whether node `i` has children.
    pub(crate) fn has_children(&self, i: u32) -> bool {
        match &self.column {
            Some(_) => self.child_ids(i).next().is_some(),
            None => self.nodes.first_child(i) != NONE,
        }
    }

    pub(crate) fn raw_node(&self, i: u32) -> (u32, u32, u64, u64) {
        let a = self.arena();
        let n = self.vals(i);
        (a.nodes.parent(i), a.nodes.key(i), n.self_value, n.total)
    }

    pub(crate) fn name_of(&self, frame: u32) -> &str {
        &self.arena().names[frame as usize]
    }

    pub(crate) fn frame_cow(&self, frame: u32) -> Cow<'a, str> {
        self.arena().names[frame as usize].clone()
    }

    /// The child of `parent` named `name`, if any.
    pub(crate) fn find_child(&self, parent: u32, name: &str) -> Option<u32> {
        let frame = self.lookup(name).ok()?;
        self.find(parent, frame.0)
    }

    /// The child of `parent` named `name`, created (with zero values) if missing.
    pub(crate) fn child_named(&mut self, parent: u32, name: Cow<'a, str>) -> Option<u32> {
        self.own();
        let frame = self.intern_cow(name);
        self.child(parent, frame.0)
    }

    /// Every node's self and total multiplied by `n` (a unit conversion, e.g. CPU samples at a
    /// sample rate to nanoseconds); a product past `u64::MAX` saturates and sets
    /// [`StackTree::overflowed`].
    pub fn multiply(&mut self, n: u64) {
        if n == 1 {
            return;
        }
        let mut overflow = false;
        if let Some(c) = &mut self.column {
            for v in c.selfs.iter_mut().chain(c.totals.iter_mut()) {
                let m = v.checked_mul(n);
                overflow |= m.is_none();
                *v = m.unwrap_or(u64::MAX);
            }
            self.overflowed |= overflow;
            return;
        }
        for v in self.nodes.data_iter_mut() {
            let (s, t) = (v.self_value.checked_mul(n), v.total.checked_mul(n));
            overflow |= s.is_none() || t.is_none();
            v.self_value = s.unwrap_or(u64::MAX);
            v.total = t.unwrap_or(u64::MAX);
        }
        self.overflowed |= overflow;
    }

    pub(crate) fn scale_down(&mut self, n: u64) {
        // Dividing can make a node's total zero: it then leaves the tree.
        self.own();
        for node in self.nodes.data_iter_mut() {
            node.self_value /= n;
            node.total /= n;
        }
    }

    /// The same frames and nodes (same [`FrameId`]s and [`NodeId`]s) with every value zero and
    /// [`StackTree::overflowed`] clear: to fill one shape with other values, e.g. another sample
    /// type of the same stacks, with [`StackTree::add_self`] and [`StackTree::recompute_totals`]
    /// and without looking anything up again.
    pub(crate) fn zeroed_copy(&self) -> StackTree<'a> {
        let mut t = self.clone();
        t.own();
        t.nodes.data_iter_mut().for_each(|v| *v = Values::default());
        t.overflowed = false;
        t
    }

    /// Whether two children of one node share a frame (a [`crate::TreeBuilder`] promise that
    /// did not hold): one pass over every node's children, with a stamp per frame.
    pub(crate) fn has_duplicate_siblings(&self) -> bool {
        if self.column.is_some() {
            return false;
        }
        let mut stamp = vec![NONE; self.names.len()];
        for p in 0..self.nodes.len() as u32 {
            for c in self.nodes.children(p) {
                let slot = &mut stamp[self.nodes.key(c) as usize];
                if *slot == p {
                    return true;
                }
                *slot = p;
            }
        }
        false
    }

    /// Sets every node's total to its self value plus its children's totals (saturating, which
    /// sets [`StackTree::overflowed`]).
    pub(crate) fn recompute_totals(&mut self) {
        self.own();
        for n in self.nodes.data_iter_mut() {
            n.total = n.self_value;
        }
        for i in (1..self.nodes.len() as u32).rev() {
            let (parent, total) = (self.nodes.parent(i), self.nodes.data(i).total);
            let p = self.nodes.data_mut(parent);
            match p.total.checked_add(total) {
                Some(v) => p.total = v,
                None => {
                    p.total = u64::MAX;
                    self.overflowed = true;
                }
            }
        }
    }
}

impl<'a> StackSink<'a> for StackTree<'a> {
    fn as_empty_tree(&mut self) -> Option<&mut StackTree<'a>> {
        let empty = self.column.is_none()
            && self.nodes.len() == 1
            && self.names.is_empty()
            && !self.overflowed
            && self.nodes.data(0).total == 0
            && self.nodes.data(0).self_value == 0;
        empty.then_some(self)
    }

    fn add_transient(&mut self, frames: &[&str], value: u64) {
        self.own();
        let ids: Vec<u32> = frames.iter().map(|f| self.intern_transient(f).0).collect();
        self.add_path(ids.into_iter(), value);
    }

    fn add(&mut self, frames: &[&'a str], value: u64) {
        // Intern first: `add_path` borrows the tree mutably. The frames this stack shares with
        // the last one (sorted input shares long prefixes) take the last stack's ids after a
        // byte comparison, without hashing.
        self.own();
        let shared = frames
            .iter()
            .zip(&self.last_frames)
            .take_while(|(f, id)| *self.names[**id as usize] == ***f)
            .count();
        let mut ids = [0u32; 64];
        if frames.len() <= ids.len() {
            ids[..shared].copy_from_slice(&self.last_frames[..shared]);
            for (slot, f) in ids[shared..].iter_mut().zip(&frames[shared..]) {
                *slot = self.intern(f).0;
            }
            self.add_path(ids[..frames.len()].iter().copied(), value);
        } else {
            let mut ids: Vec<u32> = self.last_frames[..shared].to_vec();
            ids.extend(frames[shared..].iter().map(|f| self.intern(f).0));
            self.add_path(ids.into_iter(), value);
        }
    }
}
