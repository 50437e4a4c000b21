//! Cutting series trees from the call tree: one [`pyro_tree::StackTree`] per (sample type,
//! label set). A label set whose stacks reach a quarter of the call tree or more gets columns
//! of values over one frame tree shared by all such series ([`StackTree::from_column`]); a
//! smaller one gets a tree of its own, built node by node with [`TreeBuilder`].

use std::sync::Arc;

/// A label set gets columns over the shared frame tree when its stacks times this reach the
/// call tree's node count (so a column's pass over the tree costs at most this many steps per
/// stack of the set); smaller sets get trees of their own.
const COLUMN_FROM: usize = 64;

use super::*;

impl<'a> Forest<'a> {
    /// The nodes renumbered in depth-first order (over the sibling lists the walk built):
    /// parents, location indices (from `locs`) and the node of every entry, all by new number.
    fn depth_first(&self, locs: &[u32]) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
        let nodes = self.tree.len();
        let mut new_of = vec![NONE; nodes];
        let mut parent = Vec::with_capacity(nodes);
        let mut new_locs = Vec::with_capacity(nodes);
        let mut stack = vec![ROOT];
        while let Some(n) = stack.pop() {
            let n = n as usize;
            new_of[n] = parent.len() as u32;
            parent.push(match self.tree.parent(n as u32) {
                NONE => NONE,
                p => new_of[p as usize],
            });
            new_locs.push(locs[n]);
            stack.extend(self.tree.children(n as u32));
        }
        let leaves = self
            .entries
            .iter()
            .map(|&(_, n)| new_of[n as usize])
            .collect();
        (parent, new_locs, leaves)
    }

    /// The frame tree of the whole call tree (every location expanded into its frames), with
    /// zero values, and the frame node of every call-tree node.
    fn shape(
        &self,
        p: &Profile<'a>,
        frames: &Frames,
        parent: &[u32],
        locs: &[u32],
    ) -> Option<(Arc<StackTree<'a>>, Vec<u32>)> {
        let nodes = parent.len();
        let mut tree = TreeBuilder::with_capacity(nodes, frames.names.len());
        let mut ids = vec![NONE; frames.count()];
        let mut at_of = vec![NONE; nodes];
        at_of[ROOT as usize] = NodeId::ROOT.0;
        for n in 1..nodes {
            let mut at = NodeId(at_of[parent[n] as usize]);
            let (start, len) = match locs[n] {
                NONE => (0, 0),
                li => frames.ranges[li as usize],
            };
            for &name in &frames.names[start as usize..(start + len) as usize] {
                let name = name as usize;
                if ids[name] == NONE {
                    ids[name] = if name < frames.nstrings {
                        tree.intern(p.strings[name]).0
                    } else {
                        tree.intern_transient(&frames.extra[name - frames.nstrings])
                            .0
                    };
                }
                at = tree.child(at, FrameId(ids[name]))?;
            }
            at_of[n] = at.0;
        }
        Some((Arc::new(tree.finish()), at_of))
    }

    /// Builds one tree per (sample type, label set) with a non-zero total: the nodes on the
    /// paths of the set's entries whose total for that type is not zero, each location expanded
    /// into its frames.
    pub(crate) fn trees(
        &self,
        p: &Profile<'a>,
        frames: &Frames,
        locs: Vec<u32>,
        limits: &Limits,
    ) -> Result<Vec<(usize, u32, StackTree<'a>)>> {
        let nt = self.ntypes;
        let nodes = self.tree.len();
        // A large tree is renumbered depth first: passes in index order then walk it with
        // parents just visited and siblings together, and series trees are built in that order
        // too (worth it once the tree outgrows the caches).
        let (parent, locs, leaves) = if nodes > DEPTH_FIRST_FROM {
            self.depth_first(&locs)
        } else {
            let leaves = self.entries.iter().map(|&(_, n)| n).collect();
            let parent = (0..nodes as u32).map(|n| self.tree.parent(n)).collect();
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
        // The frame tree large sets share, made when the first needs it.
        let mut shared: Option<(Arc<StackTree<'a>>, Vec<u32>)> = None;
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
            // A set with many stacks gets columns over the shared frame tree: each costs a pass
            // over that tree, at most `COLUMN_FROM` times the set's stacks. A profile of one set
            // and at most two types builds its tree directly: a shape and two columns would take
            // the memory of the tree and its copy, and one more pass (3 % on Go's CPU profiles).
            let columns = nsets > 1 || nt > 2;
            if columns && group.len() * COLUMN_FROM >= nodes {
                if shared.is_none() {
                    shared = Some(self.shape(p, frames, &parent, &locs).ok_or_else(too_many)?);
                }
                let Some((shape, at_of)) = &shared else {
                    unreachable!("made above")
                };
                for t in 0..nt {
                    let mut column = vec![0u64; shape.node_count()];
                    let mut saturated = false;
                    let mut any = false;
                    for &e in group {
                        let v = self.values[e as usize * nt + t];
                        if v == 0 {
                            continue;
                        }
                        any = true;
                        let slot = &mut column[at_of[leaves[e as usize] as usize] as usize];
                        *slot = slot.checked_add(v).unwrap_or_else(|| {
                            saturated = true;
                            u64::MAX
                        });
                    }
                    if !any {
                        continue;
                    }
                    let tree = StackTree::from_column(shape, column, saturated);
                    built += tree.node_count();
                    if built > limits.max_tree_nodes {
                        return Err(too_many());
                    }
                    out.push((t, set as u32, tree));
                }
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
                                    let id = if name < frames.nstrings {
                                        tree.intern(p.strings[name])
                                    } else {
                                        tree.intern_transient(&frames.extra[name - frames.nstrings])
                                    };
                                    *slot = (stamp, id.0);
                                }
                                let frame = FrameId(slot.1);
                                // Looked up, not appended blindly: a child whose key bit is
                                // clear in its parent's filter is added without a scan, which
                                // costs less than checking every sibling list when the tree is
                                // finished (4 % fewer instructions on the synthetic profile).
                                match tree.child(NodeId(at), frame) {
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
