//! [`TreeBuilder`]: a [`StackTree`] built node by node, for readers that already hold their
//! stacks as a tree (each node is looked up once instead of once per stack through it).

use crate::{FrameId, NodeId, StackTree};

/// Builds a [`StackTree`] node by node: intern frames, add children (found or created, or
/// appended without a lookup when the caller knows they are new), add self values; then
/// [`finish`](TreeBuilder::finish) computes every total.
///
/// The builder keeps the tree's invariants in every build, not only in debug builds: a child
/// appended with [`new_child`](TreeBuilder::new_child) that turns out to duplicate a sibling
/// (same frame under the same parent) is merged into it by `finish`, so a wrong promise costs
/// time, never a tree with two nodes for one stack.
///
/// ```
/// use pyro_tree::{NodeId, TreeBuilder};
///
/// let mut b = TreeBuilder::new();
/// let main = b.intern("main");
/// let work = b.intern("work");
/// let m = b.new_child(NodeId::ROOT, main).unwrap();
/// let w = b.new_child(m, work).unwrap();
/// b.add_self(w, 3);
/// // A wrong promise: `work` is already a child of `main`.
/// let again = b.new_child(m, work).unwrap();
/// b.add_self(again, 2);
/// let tree = b.finish();
/// assert_eq!(tree.to_folded(), "main;work 5\n");
/// assert_eq!(tree.node_count(), 3);
/// ```
#[derive(Debug, Default)]
pub struct TreeBuilder<'a> {
    tree: StackTree<'a>,
    /// Whether any child was appended without a lookup (then `finish` checks siblings).
    unchecked: bool,
}

impl<'a> TreeBuilder<'a> {
    /// A builder of an empty tree (just the root).
    pub fn new() -> Self {
        Self::default()
    }

    /// A builder with room for `nodes` nodes and `frames` distinct frame names.
    pub fn with_capacity(nodes: usize, frames: usize) -> Self {
        TreeBuilder {
            tree: StackTree::with_capacity(nodes, frames),
            unchecked: false,
        }
    }

    /// A builder holding `shape`'s frames and nodes (same [`FrameId`]s and [`NodeId`]s) with
    /// every value zero: to fill one shape with other values, e.g. another sample type of the
    /// same stacks, without looking anything up again.
    pub fn from_shape(shape: &StackTree<'a>) -> Self {
        TreeBuilder {
            tree: shape.zeroed_copy(),
            unchecked: false,
        }
    }

    /// Interns a frame name borrowed for `'a`.
    pub fn intern(&mut self, name: &'a str) -> FrameId {
        self.tree.intern(name)
    }

    /// Interns a frame name that only lives for this call (copied the first time).
    pub fn intern_transient(&mut self, name: &str) -> FrameId {
        self.tree.intern_transient(name)
    }

    /// Number of distinct frame names so far.
    pub fn frame_count(&self) -> usize {
        self.tree.frame_count()
    }

    /// Number of nodes so far, the root included.
    pub fn node_count(&self) -> usize {
        self.tree.node_count()
    }

    /// Whether a value saturated or a node could not be added at [`crate::MAX_NODES`].
    pub fn overflowed(&self) -> bool {
        self.tree.overflowed()
    }

    /// The child of `parent` with `frame`, created with zero values if missing; `None` when
    /// the tree already holds [`crate::MAX_NODES`] nodes.
    ///
    /// # Panics
    /// If `parent` is not a node of this builder or `frame` was not returned by its interner.
    #[inline(always)]
    pub fn child(&mut self, parent: NodeId, frame: FrameId) -> Option<NodeId> {
        self.tree.child_node(parent, frame)
    }

    /// Appends a child of `parent` with `frame` without looking for an existing one: for a
    /// caller that knows `parent` has no such child yet (its own tree has distinct children).
    /// If it had one after all, [`finish`](TreeBuilder::finish) merges the two.
    ///
    /// # Panics
    /// If `parent` is not a node of this builder or `frame` was not returned by its interner.
    #[inline]
    pub fn new_child(&mut self, parent: NodeId, frame: FrameId) -> Option<NodeId> {
        self.unchecked = true;
        self.tree.push_new_child(parent, frame)
    }

    /// Adds `value` to the node's self value (saturating, which sets
    /// [`overflowed`](TreeBuilder::overflowed)).
    ///
    /// # Panics
    /// If `node` is not a node of this builder.
    #[inline]
    pub fn add_self(&mut self, node: NodeId, value: u64) {
        self.tree.add_self(node, value);
    }

    /// The tree: siblings that share a frame merged (only possible after a wrong
    /// [`new_child`](TreeBuilder::new_child)), every total computed.
    pub fn finish(self) -> StackTree<'a> {
        let mut tree = self.tree;
        if self.unchecked && tree.has_duplicate_siblings() {
            let mut merged = StackTree::with_capacity(tree.node_count(), tree.frame_count());
            merged.merge(&tree);
            tree = merged;
        }
        tree.recompute_totals();
        tree
    }
}
