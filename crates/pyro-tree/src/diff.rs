//! OG Pyroscope's diff of cumulative trees.

use crate::StackTree;

#[derive(Clone, Copy)]
enum State {
    /// Dropped with its subtree.
    Dropped,
    /// Kept; the matching node in the previous tree, if any.
    Kept(Option<u32>),
}

impl<'a> StackTree<'a> {
    /// The increase from `prev` to `self` for cumulative profiles, with OG Pyroscope's per-node
    /// rule (`tree.Diff`): a node whose total or self went down is zeroed and its subtree dropped;
    /// a node whose total and self did not change is dropped with its subtree; otherwise its self
    /// value becomes `self − prev`. The result is built from those self values, so its totals are
    /// consistent (OG keeps the raw differences of totals).
    pub fn diff(&self, prev: &StackTree<'_>) -> StackTree<'a> {
        let mut out = StackTree::new();
        let (_, _, root_self, root_total) = self.raw_node(0);
        let (_, _, prev_self, prev_total) = prev.raw_node(0);
        if root_total < prev_total || root_self < prev_self {
            return out;
        }
        let len = self.arena_len();
        let mut state = vec![State::Dropped; len];
        let mut mine = vec![u32::MAX; len];
        state[0] = State::Kept(Some(0));
        mine[0] = 0;
        out.bump_self(0, root_self - prev_self);
        for i in (1..len as u32).filter(|&i| self.alive(i)) {
            let (parent, frame, s, t) = self.raw_node(i);
            let State::Kept(prev_parent) = state[parent as usize] else {
                continue;
            };
            let name = self.name_of(frame);
            let prev_node = prev_parent.and_then(|pp| prev.find_child(pp, name));
            let (ps, pt) = prev_node.map_or((0, 0), |n| {
                let (_, _, ps, pt) = prev.raw_node(n);
                (ps, pt)
            });
            if (s == ps && t == pt) || t < pt || s < ps {
                continue;
            }
            let Some(node) = out.child_named(mine[parent as usize], self.frame_cow(frame)) else {
                continue;
            };
            mine[i as usize] = node;
            state[i as usize] = State::Kept(prev_node);
            out.bump_self(node, s - ps);
        }
        out.recompute_totals();
        out
    }
}

impl<'a> StackTree<'a> {
    /// Every node's self and total divided by `n` (integer division, as OG's average
    /// aggregation does at read time); `n == 0` leaves the tree unchanged.
    pub fn divide(mut self, n: u64) -> StackTree<'a> {
        if n > 0 {
            self.scale_down(n);
        }
        self
    }
}
