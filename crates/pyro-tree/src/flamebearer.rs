//! Pyroscope's flamebearer JSON (`/render` `flamebearer` object).

use std::collections::HashMap;

use crate::StackTree;

/// Name of the synthetic node that collects children cut by `max-nodes`.
pub const OTHER: &str = "other";

/// The flamebearer of one tree, in the shape OG Pyroscope's `/render` returns and its front end
/// draws.
///
/// `levels[d]` holds groups of four numbers per node at depth `d`, left to right:
/// `[x offset delta, total, self, index into names]`.
/// With the `serde` feature it serializes as Pyroscope's JSON (`numTicks`, `maxSelf`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct Flamebearer<'t> {
    /// Frame names, each once, in first-visit order; `names[0]` is `"total"` (the root).
    pub names: Vec<&'t str>,
    /// Node groups per depth.
    pub levels: Vec<Vec<u64>>,
    /// The root's total.
    pub num_ticks: u64,
    /// The largest self value among the emitted nodes.
    pub max_self: u64,
}

/// A laid-out node: per value set its x and `(self, total)`, then its name index.
type Placed<const K: usize> = ([(u64, (u64, u64)); K], u64);

enum Item<const K: usize> {
    Node(u32),
    Other([u64; K]),
}

impl StackTree<'_> {
    /// The smallest total a node needs to be drawn when at most `max_nodes` nodes are wanted: the
    /// `max_nodes`-th largest node total (0 when the tree has fewer nodes, or with no limit).
    pub fn min_value(&self, max_nodes: Option<usize>) -> u64 {
        let Some(max) = max_nodes.filter(|&m| m > 0) else {
            return 0;
        };
        let mut totals: Vec<u64> = self.node_ids().map(|n| self.raw_node(n.0).3).collect();
        if totals.len() < max {
            return 0;
        }
        let (_, nth, _) = totals.select_nth_unstable_by(max - 1, |a, b| b.cmp(a));
        *nth
    }

    /// Builds the flamebearer exactly as OG Pyroscope does (`pkg/storage/tree/flamebearer.go`):
    /// children whose total is below [`StackTree::min_value`] are summed into one [`OTHER`] node;
    /// nodes are visited depth first, greater-named siblings first, so name indices follow that
    /// order while each level is laid out left to right by name. `None` (or `Some(0)`) means no
    /// truncation (OG's `-1`).
    ///
    /// As in OG, a real frame named `other` is folded into the synthetic one, and a real frame
    /// named `total` shares index 0 with the root.
    pub fn flamebearer(&self, max_nodes: Option<usize>) -> Flamebearer<'_> {
        let (names, levels, [max_self]) = self.layout(max_nodes, |i| {
            let (_, _, s, t) = self.raw_node(i);
            [(s, t)]
        });
        Flamebearer {
            names,
            levels,
            num_ticks: self.total(),
            max_self,
        }
    }

    /// The levels of the flamebearer, for `K` value sets per node (`values(node)` gives each
    /// set's `(self, total)`): groups of `3·K + 1` numbers, `[x delta, total, self]` per set,
    /// then the name index; each set is laid out on its own x axis. Truncation and order follow
    /// this tree's own totals. Returns the names, the levels and each set's largest self value.
    fn layout<const K: usize>(
        &self,
        max_nodes: Option<usize>,
        values: impl Fn(u32) -> [(u64, u64); K],
    ) -> (Vec<&str>, Vec<Vec<u64>>, [u64; K]) {
        let (offsets, kids) = self.sorted_children();
        let min_val = self.min_value(max_nodes);
        let mut names: Vec<&str> = Vec::new();
        let mut name_index: HashMap<&str, u64> = HashMap::new();
        // Each level in visit order, as (x, (self, total)) per set and the name index; OG
        // prepends, so they are reversed at the end.
        let mut levels: Vec<Vec<Placed<K>>> = Vec::new();
        let mut max_self = [0u64; K];
        let mut stack: Vec<(Item<K>, [u64; K], usize)> = vec![(Item::Node(0), [0; K], 0)];
        while let Some((item, x, level)) = stack.pop() {
            let (name, vals, node) = match item {
                Item::Node(i) => {
                    let (_, frame, _, _) = self.raw_node(i);
                    let name = if i == 0 { "total" } else { self.name_of(frame) };
                    (name, values(i), Some(i))
                }
                Item::Other(v) => (OTHER, v.map(|t| (t, t)), None),
            };
            let idx = *name_index.entry(name).or_insert_with(|| {
                names.push(name);
                names.len() as u64 - 1
            });
            if level == levels.len() {
                levels.push(Vec::new());
            }
            for k in 0..K {
                max_self[k] = max_self[k].max(vals[k].0);
            }
            levels[level].push((std::array::from_fn(|k| (x[k], vals[k])), idx));
            let Some(i) = node else { continue };
            let mut child_x: [u64; K] = std::array::from_fn(|k| x[k].saturating_add(vals[k].0));
            let mut other = [0u64; K];
            let mut has_other = false;
            let (s, e) = (
                offsets[i as usize] as usize,
                offsets[i as usize + 1] as usize,
            );
            for &c in &kids[s..e] {
                let (_, frame, _, t) = self.raw_node(c);
                let v = values(c);
                if self.name_of(frame) == OTHER || t < min_val {
                    has_other |= t != 0;
                    for k in 0..K {
                        other[k] = other[k].saturating_add(v[k].1);
                    }
                    continue;
                }
                stack.push((Item::Node(c), child_x, level + 1));
                for k in 0..K {
                    child_x[k] = child_x[k].saturating_add(v[k].1);
                }
            }
            if has_other {
                stack.push((Item::Other(other), child_x, level + 1));
            }
        }
        let levels = levels
            .into_iter()
            .map(|groups| {
                let mut out = Vec::with_capacity(groups.len() * (3 * K + 1));
                let mut prev_end = [0u64; K];
                for (sets, idx) in groups.into_iter().rev() {
                    for (k, (x, (self_value, total))) in sets.into_iter().enumerate() {
                        out.extend_from_slice(&[x.wrapping_sub(prev_end[k]), total, self_value]);
                        prev_end[k] = x.saturating_add(total);
                    }
                    out.push(idx);
                }
                out
            })
            .collect();
        (names, levels, max_self)
    }
}

/// Two trees side by side, in the shape of OG Pyroscope's `double` flamebearer (its
/// `/render-diff` and comparison views): the union of both trees' stacks, each node with the
/// left tree's values and the right tree's.
///
/// `levels[d]` holds groups of seven numbers per node at depth `d`, left to right:
/// `[left x offset delta, left total, left self, right x offset delta, right total, right self,
/// index into names]`; each side has its own x axis.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct DiffFlamebearer {
    /// Frame names, each once; `names[0]` is `"total"`.
    pub names: Vec<String>,
    /// Node groups per depth.
    pub levels: Vec<Vec<u64>>,
    /// Both roots' totals together.
    pub num_ticks: u64,
    /// The largest self value on either side.
    pub max_self: u64,
    /// The left root's total.
    pub left_ticks: u64,
    /// The right root's total.
    pub right_ticks: u64,
}

/// The comparison of `left` and `right` as a [`DiffFlamebearer`]: nodes are matched by their
/// path of frame names; a stack present on one side only has zeros on the other. Truncation to
/// `max_nodes` (as in [`StackTree::flamebearer`]) uses the sum of both sides, so a function that
/// vanished or appeared is kept as long as it mattered on either side.
pub fn diff_flamebearer(
    left: &StackTree<'_>,
    right: &StackTree<'_>,
    max_nodes: Option<usize>,
) -> DiffFlamebearer {
    let mut union = StackTree::new();
    union.merge(left);
    union.merge(right);
    // Arena order puts every parent before its children, so one pass maps each union node to
    // the node of the same path on each side.
    let count = union.node_count();
    let mut on_left: Vec<Option<u32>> = vec![None; count];
    let mut on_right: Vec<Option<u32>> = vec![None; count];
    on_left[0] = Some(0);
    on_right[0] = Some(0);
    for i in 1..count as u32 {
        let (parent, frame, _, _) = union.raw_node(i);
        let name = union.name_of(frame);
        on_left[i as usize] = on_left[parent as usize].and_then(|p| left.find_child(p, name));
        on_right[i as usize] = on_right[parent as usize].and_then(|p| right.find_child(p, name));
    }
    let side = |tree: &StackTree<'_>, node: Option<u32>| {
        node.map_or((0, 0), |n| {
            let (_, _, s, t) = tree.raw_node(n);
            (s, t)
        })
    };
    let (names, levels, [left_max, right_max]) = union.layout(max_nodes, |i| {
        [
            side(left, on_left[i as usize]),
            side(right, on_right[i as usize]),
        ]
    });
    DiffFlamebearer {
        names: names.into_iter().map(str::to_owned).collect(),
        levels,
        num_ticks: left.total().saturating_add(right.total()),
        max_self: left_max.max(right_max),
        left_ticks: left.total(),
        right_ticks: right.total(),
    }
}
