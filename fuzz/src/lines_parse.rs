//! `lines_parse`: the lines reader never panics and agrees with the naive reader.

use pyro_folded::{Options, naive, parse_lines};
use pyro_tree::StackTree;

/// Runs one input.
pub fn run(data: &[u8]) {
    let small = Options::new()
        .max_line_len(64)
        .max_stack_depth(8)
        .max_distinct_stacks(16);
    let _ = parse_lines(data, &small, StackTree::new());

    let mut tree = StackTree::new();
    let summary = parse_lines(data, &Options::default(), &mut tree)
        .expect("no limit is reachable with default options on fuzz-sized input");
    assert_eq!(summary.total, tree.total());
    let want = crate::folded_parse::naive_tree(&naive::lines_format(data));
    assert_eq!(tree.to_folded(), want.to_folded());
}

#[cfg(test)]
mod tests {
    use crate::replay::{folded_like, replay};

    #[test]
    fn replays() {
        replay("lines_parse", &["folded"], 3000, folded_like, super::run);
    }
}
