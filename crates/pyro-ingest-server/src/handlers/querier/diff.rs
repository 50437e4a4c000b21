//! `Diff`: two merged flame graphs compared as Grafana Pyroscope compares them
//! (`NewFlamegraphDiff`, pkg/model/flamegraph_diff.go): both trees combined into one shape under
//! a fake root (children in byte order, a node missing on one side present there with zeros),
//! nodes below the `max_nodes`-th largest of `max(left, right)` totals folded into `other`, laid
//! out as OG's `double` flamebearer levels.

use std::collections::{HashMap, VecDeque};

use pyro_tree::{NodeId, StackTree};

use super::proto::{FlameGraphDiff, Level};

/// A node of both trees combined.
struct Node {
    name: String,
    /// Left (total, self).
    left: (u64, u64),
    /// Right (total, self).
    right: (u64, u64),
    children: Vec<usize>,
}

/// Each node's children in `tree`, by node id.
fn children_of(tree: &StackTree<'_>) -> Vec<Vec<u32>> {
    let mut out = vec![Vec::new(); tree.node_id_bound()];
    for n in tree.node_ids() {
        if let Some(p) = tree.node_parent(n) {
            out[p.0 as usize].push(n.0);
        }
    }
    out
}

fn name_of<'t>(tree: &'t StackTree<'_>, n: u32) -> &'t str {
    tree.node_frame(NodeId(n))
        .map_or("", |f| tree.frame_name(f))
}

fn values(tree: &StackTree<'_>, n: Option<u32>) -> (u64, u64) {
    n.and_then(|n| tree.node_values(NodeId(n)))
        .map_or((0, 0), |(own, total)| (total, own))
}

/// GP's `combineTree`: both trees in one shape under a fake root whose totals are the sums of
/// the real roots', children merged in byte order of their names (`combineNodes`).
fn combine(left: &StackTree<'_>, right: &StackTree<'_>) -> Vec<Node> {
    let (lk, rk) = (children_of(left), children_of(right));
    let sum = |t: &StackTree<'_>, k: &[Vec<u32>]| -> u64 {
        k.first()
            .into_iter()
            .flatten()
            .filter_map(|&c| t.node_values(NodeId(c)))
            .map(|(_, total)| total)
            .sum()
    };
    let mut arena = vec![Node {
        name: String::new(),
        left: (sum(left, &lk), 0),
        right: (sum(right, &rk), 0),
        children: Vec::new(),
    }];
    let mut queue: VecDeque<(usize, Option<u32>, Option<u32>)> = VecDeque::new();
    queue.push_back((0, Some(0), Some(0)));
    while let Some((at, l, r)) = queue.pop_front() {
        let sorted = |t: &StackTree<'_>, k: &[Vec<u32>], n: Option<u32>| {
            let mut v: Vec<u32> = n.map(|n| k[n as usize].clone()).unwrap_or_default();
            v.sort_by(|a, b| name_of(t, *a).as_bytes().cmp(name_of(t, *b).as_bytes()));
            v
        };
        let (ls, rs) = (sorted(left, &lk, l), sorted(right, &rk, r));
        let (mut i, mut j) = (0, 0);
        while i < ls.len() || j < rs.len() {
            let (a, b) = (ls.get(i).copied(), rs.get(j).copied());
            let order = match (a, b) {
                (Some(a), Some(b)) => name_of(left, a)
                    .as_bytes()
                    .cmp(name_of(right, b).as_bytes()),
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            let (ln, rn) = match order {
                std::cmp::Ordering::Equal => {
                    i += 1;
                    j += 1;
                    (a, b)
                }
                std::cmp::Ordering::Less => {
                    i += 1;
                    (a, None)
                }
                std::cmp::Ordering::Greater => {
                    j += 1;
                    (None, b)
                }
            };
            let name = match (ln, rn) {
                (Some(n), _) => name_of(left, n),
                (None, Some(n)) => name_of(right, n),
                (None, None) => "",
            };
            let id = arena.len();
            arena.push(Node {
                name: name.to_owned(),
                left: values(left, ln),
                right: values(right, rn),
                children: Vec::new(),
            });
            arena[at].children.push(id);
            queue.push_back((id, ln, rn));
        }
    }
    arena
}

/// GP's `combineMinValues`: with more nodes than `max_nodes`, the `max_nodes`-th largest
/// `max(left total, right total)`; else 0.
fn min_value(arena: &[Node], max_nodes: usize) -> u64 {
    if max_nodes == 0 || arena.len() <= max_nodes {
        return 0;
    }
    let mut v: Vec<u64> = arena.iter().map(|n| n.left.0.max(n.right.0)).collect();
    let k = max_nodes - 1;
    let (_, kth, _) = v.select_nth_unstable_by(k, |a, b| b.cmp(a));
    *kth
}

/// What is laid out: a combined node, or an `other` of the folded children.
enum Item {
    Node(usize),
    Other { left: u64, right: u64 },
}

/// GP's `NewFlamegraphDiff` of `left` and `right`, truncated to `max_nodes` (0: none).
pub fn flamegraph_diff(
    left: &StackTree<'_>,
    right: &StackTree<'_>,
    max_nodes: usize,
) -> FlameGraphDiff {
    let arena = combine(left, right);
    let (total_left, total_right) = (arena[0].left.0, arena[0].right.0);
    let min = min_value(&arena, max_nodes);
    let i = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let mut names: Vec<String> = Vec::new();
    let mut cache: HashMap<String, usize> = HashMap::new();
    let mut levels: Vec<Vec<i64>> = Vec::new();
    let mut max_self = 0u64;
    // (item, left x, right x, level), taken from the front; children are put in front.
    let mut todo: VecDeque<(Item, u64, u64, usize)> = VecDeque::new();
    todo.push_back((Item::Node(0), 0, 0, 0));
    while let Some((item, mut xl, mut xr, level)) = todo.pop_front() {
        let (name, (lt, ls), (rt, rs), children): (&str, _, _, &[usize]) = match &item {
            Item::Node(n) => {
                let n = &arena[*n];
                (&n.name, n.left, n.right, &n.children)
            }
            Item::Other { left, right } => ("other", (*left, *left), (*right, *right), &[]),
        };
        if !(lt >= min || rt >= min || name == "other") {
            continue;
        }
        let index = *cache.entry(name.to_owned()).or_insert_with(|| {
            let k = names.len();
            names.push(if k == 0 { "total" } else { name }.to_owned());
            k
        });
        if level == levels.len() {
            levels.push(Vec::new());
        }
        max_self = max_self.max(ls).max(rs);
        levels[level].extend([i(xl), i(lt), i(ls), i(xr), i(rt), i(rs), index as i64]);
        xl += ls;
        xr += rs;
        let (mut other_l, mut other_r) = (0u64, 0u64);
        for &c in children {
            let c_node = &arena[c];
            if c_node.left.0 >= min || c_node.right.0 >= min {
                todo.push_front((Item::Node(c), xl, xr, level + 1));
                xl += c_node.left.0;
                xr += c_node.right.0;
            } else {
                other_l += c_node.left.0;
                other_r += c_node.right.0;
            }
        }
        if other_l != 0 || other_r != 0 {
            todo.push_front((
                Item::Other {
                    left: other_l,
                    right: other_r,
                },
                xl,
                xr,
                level + 1,
            ));
        }
    }
    // Nodes were appended in reverse; then offsets become deltas (`deltaEncoding` at 0 and 3).
    for l in &mut levels {
        let chunks: Vec<[i64; 7]> = l
            .chunks_exact(7)
            .rev()
            .map(|c| [c[0], c[1], c[2], c[3], c[4], c[5], c[6]])
            .collect();
        *l = chunks.concat();
        for start in [0, 3] {
            let mut prev = 0i64;
            for k in (start..l.len()).step_by(7) {
                l[k] -= prev;
                prev += l[k] + l[k + 1];
            }
        }
    }
    FlameGraphDiff {
        names,
        levels: levels.into_iter().map(|values| Level { values }).collect(),
        total: i(total_left.saturating_add(total_right)),
        max_self: i(max_self),
        left_ticks: i(total_left),
        right_ticks: i(total_right),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(stacks: &[(&[&str], u64)]) -> StackTree<'static> {
        let mut t = StackTree::new();
        for (frames, v) in stacks {
            let ids: Vec<_> = frames
                .iter()
                .map(|f| t.intern_cow((*f).to_owned().into()))
                .collect();
            t.add_ids(&ids, *v);
        }
        t
    }

    fn levels(d: &FlameGraphDiff) -> Vec<Vec<i64>> {
        d.levels.iter().map(|l| l.values.clone()).collect()
    }

    /// GP's tests of `NewFlamegraphDiff` (pkg/model/flamegraph_diff_test.go), the same trees
    /// (its stacks are leaf first), the same answers.
    #[test]
    fn the_diff_of_two_trees_is_gps() {
        // Test_Diff_Tree
        let l = tree(&[(&["a", "b"], 1), (&["a", "c"], 2)]);
        let r = tree(&[(&["a", "b"], 4), (&["a", "c"], 8)]);
        let d = flamegraph_diff(&l, &r, 1024);
        assert_eq!(d.names, ["total", "a", "c", "b"]);
        assert_eq!((d.max_self, d.total), (8, 15));
        assert_eq!(
            levels(&d),
            [
                vec![0, 3, 0, 0, 12, 0, 0],
                vec![0, 3, 0, 0, 12, 0, 1],
                vec![0, 1, 1, 0, 4, 4, 3, 0, 2, 2, 0, 8, 8, 2],
            ]
        );
        // Test_Diff_Tree_With_Different_Structure
        let l = tree(&[(&["a", "b"], 1), (&["a", "c"], 2), (&["a", "e"], 3)]);
        let r = tree(&[(&["a", "b"], 4), (&["a", "d"], 8), (&["a", "e"], 12)]);
        let d = flamegraph_diff(&l, &r, 1024);
        assert_eq!(d.names, ["total", "a", "e", "d", "c", "b"]);
        assert_eq!((d.max_self, d.total), (12, 30));
        assert_eq!(
            levels(&d),
            [
                vec![0, 6, 0, 0, 24, 0, 0],
                vec![0, 6, 0, 0, 24, 0, 1],
                vec![
                    0, 1, 1, 0, 4, 4, 5, 0, 2, 2, 0, 0, 0, 4, 0, 0, 0, 0, 8, 8, 3, 0, 3, 3, 0, 12,
                    12, 2,
                ],
            ]
        );
        assert_eq!((d.left_ticks, d.right_ticks), (6, 24));
        // Test_Diff_Tree_With_MaxNodes
        let l = tree(&[(&["a", "b"], 1), (&["a", "c"], 2)]);
        let r = tree(&[(&["a", "b"], 4), (&["a", "c"], 8)]);
        let d = flamegraph_diff(&l, &r, 2);
        assert_eq!(d.names, ["total", "a", "other"]);
        assert_eq!((d.max_self, d.total), (12, 15));
        let d = flamegraph_diff(&l, &r, usize::MAX);
        assert_eq!(d.names, ["total", "a", "c", "b"]);
        assert_eq!(d.max_self, 8);
        // Test_Diff_No_Common_Root
        let l = tree(&[(&["a", "b"], 1)]);
        let r = tree(&[(&["k", "b", "a", "c"], 8)]);
        let d = flamegraph_diff(&l, &r, 1024);
        assert_eq!((d.left_ticks, d.right_ticks), (1, 8));
    }
}
