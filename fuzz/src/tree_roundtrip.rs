//! `tree_roundtrip`: a tree built from arbitrary stacks survives the `tree` and `trie` transport
//! formats and folded text, merging halves equals building whole, and the flamebearer is
//! consistent.

use pyro_tree::transport::{read_tree, read_trie};
use pyro_tree::{StackSink, StackTree, TransportLimits};

/// Decodes `data` into stacks: each stack is a run of bytes up to `\n`, frames split on `;`
/// (empty frames dropped so every format can carry them), the value is the last byte.
fn stacks(data: &[u8]) -> Vec<(Vec<String>, u64)> {
    data.split(|&b| b == b'\n')
        .filter_map(|chunk| {
            let (&v, body) = chunk.split_last()?;
            let text = String::from_utf8_lossy(body);
            let frames = text
                .split(';')
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect();
            Some((frames, u64::from(v) << (v % 7 * 8)))
        })
        .collect()
}

fn build(stacks: &[(Vec<String>, u64)]) -> StackTree<'_> {
    let mut t = StackTree::new();
    for (frames, v) in stacks {
        let f: Vec<&str> = frames.iter().map(String::as_str).collect();
        t.add(&f, *v);
    }
    t
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let s = stacks(data);
    let tree = build(&s);
    let want = tree.to_folded();
    let lim = TransportLimits::default();

    let tree_bytes = tree.to_tree_bytes();
    let mut a = StackTree::new();
    read_tree(&tree_bytes, &lim, &mut a).unwrap();
    assert_eq!(a.to_folded(), want);
    // Zero-valued subtrees are not emitted, so compare the second generation byte for byte.
    let again = a.to_tree_bytes();
    let mut c = StackTree::new();
    read_tree(&again, &lim, &mut c).unwrap();
    assert_eq!(c.to_tree_bytes(), again);
    // Children in the order they were made (storage): the same nodes, and read back the same
    // tree as the sorted bytes give.
    let unsorted = tree.to_tree_bytes_unsorted();
    assert_eq!(unsorted.len(), tree_bytes.len());
    let mut d = StackTree::new();
    read_tree(&unsorted, &lim, &mut d).unwrap();
    assert_eq!(d.to_tree_bytes(), again);

    let mut b = StackTree::new();
    read_trie(&tree.to_trie_bytes(), &lim, &mut b).unwrap();
    assert_eq!(b.to_folded(), want);

    let (l, r) = s.split_at(s.len() / 2);
    let mut m = build(r);
    m.merge(&build(l));
    assert_eq!(m.to_folded(), want);

    let fb = tree.flamebearer(Some(16));
    assert_eq!(fb.num_ticks, tree.total());
    if let Some(first) = fb.levels.first() {
        assert_eq!(first[1], tree.total());
    }
    for level in &fb.levels {
        assert_eq!(level.len() % 4, 0);
        for g in level.chunks(4) {
            assert!((g[3] as usize) < fb.names.len());
            assert!(g[2] <= g[1]);
        }
    }
    let mut t2 = StackTree::new();
    t2.add_transient(&[], 1);
    let _ = t2.flamebearer(None);
}

#[cfg(test)]
mod tests {
    use crate::replay::{Rng, replay};

    fn make(rng: &mut Rng) -> Vec<u8> {
        rng.bytes_from(b"abc;;\n\x01\x02\x05", 200)
    }

    #[test]
    fn replays() {
        replay("tree_roundtrip", &[], 3000, make, super::run);
    }
}
