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
        self.for_each_stack(|frames, v| {
            let mut s = String::new();
            join_stack(&mut s, frames);
            lines.push((s, v));
        });
        lines.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        lines
    }

    /// The tree as folded text: `stack value\n` lines sorted bytewise (deterministic).
    pub fn to_folded(&self) -> String {
        let mut out = String::new();
        for (s, v) in self.folded_lines() {
            out.push_str(&s);
            out.push(' ');
            out.push_str(itoa_u64(v, &mut [0u8; 20]));
            out.push('\n');
        }
        out
    }
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
