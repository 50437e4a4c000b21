//! Text outputs: folded stacks.

use crate::StackTree;

/// Appends `frames` joined the way a folded reader splits them back: `;` between frames, plus one
/// extra `;` when the last frame is empty (so `["a", ""]` is `a;;` and `[""]` is `;`).
///
/// Frames that themselves contain `;` or a newline cannot round-trip through folded text.
pub fn join_stack(out: &mut String, frames: &[&str]) {
    for (i, f) in frames.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(f);
    }
    if frames.last().is_some_and(|f| f.is_empty()) {
        out.push(';');
    }
}

impl StackTree<'_> {
    /// Every stack with a non-zero self value as `(folded stack, value)`, sorted bytewise by the
    /// stack text. The root's own value, if any, is the stack `""`.
    pub fn folded_lines(&self) -> Vec<(String, u64)> {
        let mut lines = Vec::new();
        self.for_each_folded_line(|line, v| lines.push((line.to_owned(), v)));
        lines
    }

    /// The tree as folded text: `stack value\n` lines sorted bytewise (deterministic).
    pub fn to_folded(&self) -> String {
        let mut out = String::with_capacity(self.folded_len());
        self.for_each_folded_line(|line, v| {
            out.push_str(line);
            out.push(' ');
            out.push_str(itoa_u64(v, &mut [0u8; 20]));
            out.push('\n');
        });
        out
    }

    /// Writes [`StackTree::to_folded`]'s text to `w` in 64 KiB pieces, without holding the
    /// whole text in memory (what `convert` prints with).
    ///
    /// # Errors
    /// The first error `w` returns.
    pub fn write_folded(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        const CHUNK: usize = 64 << 10;
        let mut buf: Vec<u8> = Vec::with_capacity(CHUNK + 4096);
        let mut result = Ok(());
        self.for_each_folded_line(|line, v| {
            if result.is_err() {
                return;
            }
            buf.extend_from_slice(line.as_bytes());
            buf.push(b' ');
            buf.extend_from_slice(itoa_u64(v, &mut [0u8; 20]).as_bytes());
            buf.push(b'\n');
            if buf.len() >= CHUNK {
                result = w.write_all(&buf);
                buf.clear();
            }
        });
        result?;
        w.write_all(&buf)
    }

    /// The exact length of [`StackTree::to_folded`]'s text, from one pass over the nodes
    /// (parents come before children), so the text is written into one allocation.
    fn folded_len(&self) -> usize {
        let count = self.arena_len();
        let mut path_len = vec![0usize; count];
        let digits = |v: u64| v.checked_ilog10().map_or(1, |d| d as usize + 1);
        let (_, _, root_self, _) = self.raw_node(0);
        let mut total = if root_self != 0 {
            digits(root_self) + 2
        } else {
            0
        };
        for i in (1..count as u32).filter(|&i| self.alive(i)) {
            let (parent, frame, self_value, _) = self.raw_node(i);
            let name = self.name_of(frame).len();
            let len = if parent == 0 {
                name
            } else {
                path_len[parent as usize] + 1 + name
            };
            path_len[i as usize] = len;
            if self_value != 0 {
                total += len + usize::from(name == 0) + digits(self_value) + 2;
            }
        }
        total
    }

    /// Calls `f` with every folded stack (as [`join_stack`] writes it) that has a non-zero self
    /// value, and that value, in bytewise order of the stack text.
    ///
    /// One depth-first walk builds the lines in one reused buffer; nothing sorts whole stack
    /// strings. Siblings are ordered by integer ranks of their names, computed once per distinct
    /// frame name: a node's own line sorts by its name, its subtree by its name followed by `;`,
    /// so a frame that is a prefix of a sibling's (`run` and `run$1`) still lands where a
    /// bytewise sort puts it. (Frames containing `;` cannot round-trip through folded text; their
    /// order is deterministic but not guaranteed bytewise.)
    pub fn for_each_folded_line(&self, mut f: impl FnMut(&str, u64)) {
        let ranks = self.folded_key_ranks();
        let (_, _, root_self, _) = self.raw_node(0);
        if root_self != 0 {
            f("", root_self);
        }
        let mut path = String::new();
        // Items of the nodes being walked, each node's children sorted in place: `(rank, item)`
        // with item `child << 1` for its own line, `child << 1 | 1` for its subtree.
        let mut items: Vec<(u32, u64)> = Vec::new();
        // Per open node, the root first: (next item, its items' start and end, path length to
        // restore). Its items sit at the end of `items` when it is opened and are dropped when
        // it closes.
        let mut stack: Vec<(usize, usize, usize, usize)> = Vec::new();
        let push_children = |items: &mut Vec<(u32, u64)>, node: u32| {
            let start = items.len();
            for c in self.child_ids(node) {
                let (_, frame, self_value, _) = self.raw_node(c);
                if self_value != 0 {
                    items.push((ranks[2 * frame as usize], u64::from(c) << 1));
                }
                if self.has_children(c) {
                    items.push((ranks[2 * frame as usize + 1], (u64::from(c) << 1) | 1));
                }
            }
            // The own line before the subtree when their ranks tie (an empty name).
            items[start..].sort_unstable();
            start
        };
        let first = push_children(&mut items, 0);
        stack.push((first, first, items.len(), 0));
        while let Some(top) = stack.last_mut() {
            let (next, start, end, restore) = *top;
            if next == end {
                stack.pop();
                items.truncate(start);
                path.truncate(restore);
                continue;
            }
            top.0 += 1;
            let (_, item) = items[next];
            let node = (item >> 1) as u32;
            let (_, frame, self_value, _) = self.raw_node(node);
            let name = self.name_of(frame);
            let before = path.len();
            // Below the root's children, frames are joined with `;`.
            if stack.len() > 1 {
                path.push(';');
            }
            path.push_str(name);
            if item & 1 == 0 {
                if name.is_empty() {
                    path.push(';');
                }
                f(&path, self_value);
                path.truncate(before);
            } else {
                let start = push_children(&mut items, node);
                stack.push((start, start, items.len(), before));
            }
        }
    }

    /// Ranks of the sort keys of every frame name: `2·frame` is the key of a node's own line
    /// (its name; `;` for an empty name, as [`join_stack`] writes it), `2·frame + 1` the key of
    /// its subtree (its name and `;`). Equal keys get equal ranks.
    fn folded_key_ranks(&self) -> Vec<u32> {
        let frames = self.frame_count();
        let key = |k: u32| -> (&[u8], bool) {
            let name = self.name_of(k / 2).as_bytes();
            (name, k % 2 == 1 || name.is_empty())
        };
        let mut order: Vec<u32> = (0..2 * frames as u32).collect();
        order.sort_unstable_by(|&a, &b| cmp_key(key(a), key(b)));
        let mut ranks = vec![0u32; 2 * frames];
        let mut rank = 0u32;
        for (i, &k) in order.iter().enumerate() {
            if i > 0 && cmp_key(key(order[i - 1]), key(k)).is_ne() {
                rank += 1;
            }
            ranks[k as usize] = rank;
        }
        ranks
    }
}

/// Compares `a` and `b`, each followed by `;` when its flag is set, bytewise.
fn cmp_key((a, a_semi): (&[u8], bool), (b, b_semi): (&[u8], bool)) -> std::cmp::Ordering {
    let n = a.len().min(b.len());
    a[..n].cmp(&b[..n]).then_with(|| {
        let rest = |s: &[u8], semi: bool| s.get(n).copied().or(semi.then_some(b';'));
        let (ra, rb) = (rest(a, a_semi), rest(b, b_semi));
        // Past the shared part: the next byte, else `;`, else the end of the key.
        ra.cmp(&rb).then_with(|| {
            let len = |s: &[u8], semi: bool| s.len() + usize::from(semi);
            len(a, a_semi).cmp(&len(b, b_semi))
        })
    })
}

impl StackTree<'_> {
    /// OG Pyroscope's `/render?format=collapsed`: `stack self` lines for every node with a
    /// non-zero self value, in breadth-first order (siblings in bytewise name order).
    pub fn to_collapsed_bfs(&self) -> String {
        let (offsets, kids) = self.sorted_children();
        let mut out = String::new();
        let mut queue: std::collections::VecDeque<(u32, String)> =
            std::collections::VecDeque::from([(0, String::new())]);
        while let Some((node, path)) = queue.pop_front() {
            let (_, _, self_value, _) = self.raw_node(node);
            if self_value != 0 && node != 0 {
                out.push_str(&path);
                out.push(' ');
                out.push_str(itoa_u64(self_value, &mut [0u8; 20]));
                out.push('\n');
            }
            let (s, e) = (
                offsets[node as usize] as usize,
                offsets[node as usize + 1] as usize,
            );
            for &k in &kids[s..e] {
                let (_, frame, _, _) = self.raw_node(k);
                let mut p = path.clone();
                if node != 0 {
                    p.push(';');
                }
                p.push_str(self.name_of(frame));
                queue.push_back((k, p));
            }
        }
        out
    }
}

/// Formats `v` in decimal into `buf`.
fn itoa_u64(mut v: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}
