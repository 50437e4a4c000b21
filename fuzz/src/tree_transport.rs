//! `tree_transport`: the `tree` and `trie` readers never panic on arbitrary bytes, honour their
//! limits, and whatever they accept re-serializes to a body that reads back the same.

use pyro_tree::transport::{read_tree, read_trie};
use pyro_tree::{StackTree, TransportLimits};

fn has_empty_leaf(t: &StackTree<'_>) -> bool {
    let mut found = false;
    t.for_each_stack(|frames, _| found |= frames.last().is_some_and(|f| f.is_empty()));
    found
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let small = TransportLimits::new()
        .max_depth(4)
        .max_name_len(8)
        .max_key_len(32);
    let _ = read_tree(data, &small, StackTree::new());
    let _ = read_trie(data, &small, StackTree::new());

    let lim = TransportLimits::default();
    for trie in [false, true] {
        let mut t = StackTree::new();
        let res = if trie {
            read_trie(data, &lim, &mut t)
        } else {
            read_tree(data, &lim, &mut t)
        };
        match res {
            // The formats cannot carry a stack whose last frame is empty (`a;` reads as `a`).
            Ok(()) if !has_empty_leaf(&t) => {
                let bytes = t.to_tree_bytes();
                let mut back = StackTree::new();
                read_tree(&bytes, &lim, &mut back).unwrap();
                assert_eq!(back.to_folded(), t.to_folded());
            }
            Ok(()) => {}
            Err(e) => assert!(e.offset() <= data.len(), "{e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::replay::{Rng, replay};

    fn make(rng: &mut Rng) -> Vec<u8> {
        let mut out = Vec::new();
        // Mostly well-formed small nodes, sometimes noise.
        for _ in 0..rng.below(12) {
            let name = rng.bytes_from(b"ab;", 4);
            out.push(name.len() as u8);
            out.extend_from_slice(&name);
            out.push(rng.below(4) as u8);
            out.push(rng.below(3) as u8);
            if rng.below(10) == 0 {
                out.push(rng.below(256) as u8);
            }
        }
        out
    }

    #[test]
    fn replays() {
        replay("tree_transport", &["tree"], 3000, make, super::run);
    }
}
