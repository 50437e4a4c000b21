//! The folded reader for stacks that share long prefixes with the line before them (the sorted
//! output of profilers, e.g. Java's collapsed stacks), building a [`StackTree`] node by node.
//!
//! No line is hashed whole. Each stack is compared with the one before it (eight bytes at a
//! time); the frames inside the bytes they share keep their nodes, and only the frames after
//! them are checked as UTF-8, split, interned and looked up. A stack equal to the one before
//! costs that one comparison. Self values go to the nodes and totals are summed once at the end.
//!
//! The result is the tree, [`Summary`] and error the general reader ([`crate::read`]) gives for
//! the same input: nodes are made in the order stacks first appear, as there; distinct stacks are
//! counted by their bytes (a node and whether the stack ended in `;`, the only two texts that
//! split into the same frames); a stack too deep is reported after every line was read, as
//! there. A stack that is not UTF-8 (whose lossy decoding could merge stacks) hands the input
//! back to the general reader.

use memchr::memchr_iter;
use pyro_tree::{NodeId, StackTree, TreeBuilder};

use crate::error::{Error, ErrorKind};
use crate::limits::Options;
use crate::read::{Summary, check_len, next_line, parse_count, split_count};

/// What [`read`] made of an input.
pub(crate) enum Outcome {
    /// The tree is in the sink.
    Done(Summary),
    /// The input's error; the sink is untouched.
    Failed(Error),
    /// Not for this reader (a stack that is not UTF-8); the sink is untouched.
    NotDirect,
}

/// Lines looked at to choose the reader, and the fewest that make a choice.
const PROBE_LINES: usize = 256;
const PROBE_MIN_LINES: usize = 16;

/// Whether `input` looks like stacks that share most of their bytes with the line before: at
/// least half of the stack bytes of its first lines (of at least 16).
pub(crate) fn worth_it(input: &[u8]) -> bool {
    let (mut shared, mut total, mut lines, mut pos) = (0usize, 0usize, 0usize, 0usize);
    let mut prev: &[u8] = &[];
    while pos < input.len() && lines < PROBE_LINES && pos < 1 << 20 {
        let (line, next) = next_line(input, pos);
        pos = next;
        let Some((stack, _, _)) = split_count(line) else {
            continue;
        };
        shared += common_prefix(stack, prev);
        total += stack.len();
        prev = stack;
        lines += 1;
    }
    lines >= PROBE_MIN_LINES && shared * 2 >= total
}

/// The length of the longest common prefix of `a` and `b`.
#[inline]
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut i = 0;
    while i + 8 <= n {
        let x = u64::from_le_bytes(a[i..i + 8].try_into().unwrap_or_default());
        let y = u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or_default());
        if x != y {
            return i + ((x ^ y).trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    i
}

/// The stack before: its bytes, the index of the `;` after each of its frames that has one,
/// and the node of each of its frames.
#[derive(Default)]
struct Prev<'a> {
    stack: Option<&'a [u8]>,
    seps: Vec<usize>,
    path: Vec<NodeId>,
}

/// Reads folded text into `tree` (which must be empty), or says why not.
pub(crate) fn read<'a>(input: &'a [u8], opts: &Options, tree: &mut StackTree<'a>) -> Outcome {
    match read_tree(input, opts) {
        Ok(Some((t, summary))) => {
            *tree = t;
            Outcome::Done(summary)
        }
        Ok(None) => Outcome::NotDirect,
        Err(e) => Outcome::Failed(e),
    }
}

fn read_tree<'a>(
    input: &'a [u8],
    opts: &Options,
) -> Result<Option<(StackTree<'a>, Summary)>, Error> {
    let mut b = TreeBuilder::new();
    let mut summary = Summary::default();
    let mut total = 0u64;
    let mut distinct = 0usize;
    // Per node: bit 0 when a stack without a trailing `;` ends there, bit 1 when one with.
    let mut ends: Vec<u8> = vec![0];
    let mut prev = Prev::default();
    // The first stack too deep (reported once every line was read) and the distinct ones.
    let mut deep: Option<Error> = None;
    let mut deep_stacks: hashbrown::HashSet<&[u8], foldhash::fast::RandomState> =
        Default::default();
    let mut pos = 0;
    let mut line_no = 0u64;
    while pos < input.len() {
        let start = pos;
        line_no += 1;
        let (line, next) = next_line(input, pos);
        pos = next;
        check_len(line, opts, start, line_no)?;
        if line.is_empty() {
            summary.empty_lines += 1;
            continue;
        }
        let Some((stack, count, at)) = split_count(line) else {
            summary.skipped_lines += 1;
            continue;
        };
        let value = parse_count(count).map_err(|k| Error::new(k, start + at, line_no))?;
        total = total
            .checked_add(value)
            .ok_or_else(|| Error::new(ErrorKind::SumOverflow, start, line_no))?;
        let c = prev.stack.map_or(0, |p| common_prefix(stack, p));
        if prev.stack.is_some_and(|p| c == stack.len() && c == p.len()) {
            // The stack before, again.
            let leaf = prev.path.last().copied().unwrap_or(NodeId::ROOT);
            b.add_self(leaf, value);
            continue;
        }
        // Frames inside the shared bytes (their `;` included) keep their nodes.
        let k = prev.seps.partition_point(|&s| s < c);
        let from = if k == 0 { 0 } else { prev.seps[k - 1] + 1 };
        let semi = stack.last() == Some(&b';');
        let body = stack.len() - usize::from(semi);
        let Ok(rest) = std::str::from_utf8(&stack[from.min(stack.len())..]) else {
            return Ok(None);
        };
        let has_rest = !stack.is_empty() && from <= body;
        let rest = if has_rest { &rest[..body - from] } else { "" };
        let depth = k + if has_rest {
            memchr_iter(b';', rest.as_bytes()).count() + 1
        } else {
            0
        };
        let bit = if semi { 2 } else { 1 };
        if depth > opts.max_stack_depth {
            if deep_stacks.insert(stack) {
                new_stack(&mut distinct, opts, start, line_no)?;
            }
            deep.get_or_insert(Error::new(
                ErrorKind::StackTooDeep {
                    max: opts.max_stack_depth,
                },
                start,
                line_no,
            ));
            continue;
        }
        prev.seps.truncate(k);
        prev.path.truncate(k);
        let mut node = prev.path.last().copied().unwrap_or(NodeId::ROOT);
        if has_rest {
            let mut frame_start = 0;
            let seps = memchr_iter(b';', rest.as_bytes()).chain(std::iter::once(rest.len()));
            for sep in seps {
                let frame = b.intern(&rest[frame_start..sep]);
                let Some(child) = b.child(node, frame) else {
                    // The node limit: the general reader says what happens then.
                    return Ok(None);
                };
                node = child;
                prev.path.push(node);
                if sep < rest.len() || semi {
                    prev.seps.push(from + sep);
                }
                frame_start = sep + 1;
            }
        }
        prev.stack = Some(stack);
        let leaf = node.0 as usize;
        if ends.len() <= leaf {
            ends.resize(b.node_count(), 0);
        }
        if ends[leaf] & bit == 0 {
            new_stack(&mut distinct, opts, start, line_no)?;
            ends[leaf] |= bit;
        }
        b.add_self(node, value);
    }
    if let Some(e) = deep {
        return Err(e);
    }
    summary.lines = line_no;
    summary.distinct_stacks = distinct as u64;
    summary.total = total;
    Ok(Some((b.finish(), summary)))
}

/// Counts a stack not seen before, within the limit.
fn new_stack(distinct: &mut usize, opts: &Options, offset: usize, line: u64) -> Result<(), Error> {
    if *distinct >= opts.max_distinct_stacks {
        return Err(Error::new(
            ErrorKind::TooManyStacks {
                max: opts.max_distinct_stacks,
            },
            offset,
            line,
        ));
    }
    *distinct += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::common_prefix;

    #[test]
    fn common_prefix_finds_the_first_difference() {
        assert_eq!(common_prefix(b"", b"abc"), 0);
        assert_eq!(common_prefix(b"abcdefghij", b"abcdefghiX"), 9);
        assert_eq!(common_prefix(b"abcdefgh", b"abcdefgh"), 8);
        assert_eq!(common_prefix(b"abcdefghijklmnopq", b"abcdefghijklmnop"), 16);
        assert_eq!(common_prefix(b"aXcdefghij", b"abcdefghij"), 1);
    }
}
