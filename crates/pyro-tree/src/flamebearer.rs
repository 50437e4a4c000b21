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

enum Item {
    Node(u32),
    Other(u64),
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
        let (offsets, kids) = self.sorted_children();
        let min_val = self.min_value(max_nodes);
        let mut names: Vec<&str> = Vec::new();
        let mut name_index: HashMap<&str, u64> = HashMap::new();
        // Each level in visit order; OG prepends, so they are reversed at the end.
        let mut levels: Vec<Vec<[u64; 4]>> = Vec::new();
        let mut max_self = 0u64;
        let mut stack: Vec<(Item, u64, usize)> = vec![(Item::Node(0), 0, 0)];
        while let Some((item, x, level)) = stack.pop() {
            let (name, self_value, total, node) = match item {
                Item::Node(i) => {
                    let (_, frame, s, t) = self.raw_node(i);
                    let name = if i == 0 { "total" } else { self.name_of(frame) };
                    (name, s, t, Some(i))
                }
                Item::Other(t) => (OTHER, t, t, None),
            };
            let idx = *name_index.entry(name).or_insert_with(|| {
                names.push(name);
                names.len() as u64 - 1
            });
            if level == levels.len() {
                levels.push(Vec::new());
            }
            max_self = max_self.max(self_value);
            levels[level].push([x, total, self_value, idx]);
            let Some(i) = node else { continue };
            let mut child_x = x.saturating_add(self_value);
            let mut other_total = 0u64;
            let (s, e) = (
                offsets[i as usize] as usize,
                offsets[i as usize + 1] as usize,
            );
            for &k in &kids[s..e] {
                let (_, frame, _, t) = self.raw_node(k);
                if self.name_of(frame) == OTHER || t < min_val {
                    other_total = other_total.saturating_add(t);
                    continue;
                }
                stack.push((Item::Node(k), child_x, level + 1));
                child_x = child_x.saturating_add(t);
            }
            if other_total != 0 {
                stack.push((Item::Other(other_total), child_x, level + 1));
            }
        }
        let levels = levels
            .into_iter()
            .map(|groups| {
                let mut out = Vec::with_capacity(groups.len() * 4);
                let mut prev_end = 0u64;
                for [x, total, self_value, idx] in groups.into_iter().rev() {
                    out.extend_from_slice(&[x.wrapping_sub(prev_end), total, self_value, idx]);
                    prev_end = x.saturating_add(total);
                }
                out
            })
            .collect();
        Flamebearer {
            names,
            levels,
            num_ticks: self.total(),
            max_self,
        }
    }
}
