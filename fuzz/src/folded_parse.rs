//! `folded_parse`: the folded reader never panics, agrees with the naive reader, both of its
//! readers (hashed whole stacks, prefixes shared with the line before) agree, and its tree
//! round-trips through folded text.

use std::collections::HashMap;

use pyro_folded::{Options, naive, parse_folded};
use pyro_tree::transport::split_stack;
use pyro_tree::{StackSink, StackTree};

pub(crate) fn naive_tree(m: &HashMap<String, u64>) -> StackTree<'static> {
    let mut t = StackTree::new();
    for (k, v) in m {
        let frames: Vec<&str> = split_stack(k).collect();
        t.add_transient(&frames, *v);
    }
    t
}

/// Runs one input.
pub fn run(data: &[u8]) {
    // Tight limits exercise the limit paths too.
    let small = Options::new()
        .max_line_len(64)
        .max_stack_depth(8)
        .max_distinct_stacks(16);
    let _ = parse_folded(data, &small, StackTree::new());
    // Both folded readers (whole stacks hashed, or each stack after the bytes it shares with the
    // line before) give the same tree and summary, or the same error, under both limits.
    for opts in [&small, &Options::default()] {
        let mut hashed = StackTree::new();
        let a = pyro_folded::parse_folded_hashed(data, opts, &mut hashed);
        let mut shared = StackTree::new();
        match pyro_folded::parse_folded_prefix_shared(data, opts, &mut shared) {
            None => assert!(std::str::from_utf8(data).is_err()),
            Some(b) => match (a, b) {
                (Ok(x), Ok(y)) => {
                    assert_eq!(x, y);
                    assert_eq!(
                        hashed.to_tree_bytes_unsorted(),
                        shared.to_tree_bytes_unsorted()
                    );
                }
                (Err(x), Err(y)) => {
                    assert_eq!(x.to_string(), y.to_string());
                    assert_eq!(shared.node_count(), 1);
                }
                (x, y) => panic!("hashed {x:?} vs prefix-shared {y:?}"),
            },
        }
    }

    let mut tree = StackTree::new();
    let fast = parse_folded(data, &Options::default(), &mut tree);
    match (fast, naive::folded(data)) {
        (Ok(summary), Ok(m)) => {
            assert_eq!(summary.total, tree.total());
            assert!(!tree.overflowed());
            let want = naive_tree(&m);
            assert_eq!(tree.to_folded(), want.to_folded());
            // folded output reads back to the same tree
            let text = tree.to_folded();
            let mut back = StackTree::new();
            parse_folded(text.as_bytes(), &Options::default(), &mut back).unwrap();
            assert_eq!(back.to_folded(), text);
        }
        (Err(e), Err(line)) => {
            assert_eq!(e.line(), line, "{e}");
            assert!(e.offset() <= data.len());
        }
        (a, b) => panic!("fast {a:?} vs naive {b:?}"),
    }
}

#[cfg(test)]
mod tests {
    use crate::replay::{folded_like, replay};

    #[test]
    fn replays() {
        let n = replay("folded_parse", &["folded"], 3000, folded_like, super::run);
        assert!(n > 3000);
    }
}
