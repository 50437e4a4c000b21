//! The folded and `lines` readers.

use std::borrow::Cow;

use memchr::{memchr, memchr_iter, memrchr};
use pyro_tree::StackSink;
use pyro_tree::transport::split_stack;

use crate::error::{Error, ErrorKind, Result};
use crate::limits::Options;

/// What a reader saw, beyond the stacks it pushed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    /// Lines read (a last line without a newline counts; an empty input has none).
    pub lines: u64,
    /// Empty lines (after removing a trailing `\r`), ignored.
    pub empty_lines: u64,
    /// Folded only: non-empty lines with no space, hence no count, skipped as OG Pyroscope does.
    pub skipped_lines: u64,
    /// Distinct stacks pushed into the sink.
    pub distinct_stacks: u64,
    /// Sum of all values pushed.
    pub total: u64,
}

struct Entry<'a> {
    stack: &'a [u8],
    sum: u64,
    offset: usize,
    line: u64,
    /// The entry whose line followed this one's last time ([`NONE`] if unknown).
    next: u32,
}

const NONE: u32 = u32::MAX;

/// Aggregates whole stacks (as bytes) before any frame is split.
///
/// Besides the hash table, every entry remembers which entry followed it last time. Profiles
/// uploaded or concatenated repeatedly list their stacks in the same order, so the reader first
/// checks whether the next line is exactly the predicted stack (one `memcmp`, no newline search,
/// no hashing) and falls back to the table when it is not. The prediction only ever skips work;
/// a wrong guess costs one failed comparison.
struct Agg<'a> {
    map: hashbrown::HashMap<&'a [u8], u32, foldhash::fast::RandomState>,
    entries: Vec<Entry<'a>>,
    /// Entry of the previous line ([`NONE`] at the start or after a line without a stack).
    last: u32,
    total: u64,
    opts: Options,
}

impl<'a> Agg<'a> {
    fn new(opts: &Options) -> Self {
        Agg {
            map: hashbrown::HashMap::with_hasher(foldhash::fast::RandomState::default()),
            entries: Vec::new(),
            last: NONE,
            total: 0,
            opts: *opts,
        }
    }

    /// The stack predicted for the next line.
    #[inline]
    fn predicted(&self) -> Option<(u32, &'a [u8])> {
        let next = self.entries.get(self.last as usize)?.next;
        let e = self.entries.get(next as usize)?;
        Some((next, e.stack))
    }

    /// Adds to the entry the prediction confirmed.
    #[inline]
    fn add_predicted(&mut self, idx: u32, value: u64, offset: usize, line: u64) -> Result<()> {
        let Some(total) = self.total.checked_add(value) else {
            return Err(Error::new(ErrorKind::SumOverflow, offset, line));
        };
        self.total = total;
        // Cannot overflow: `total` bounds every sum.
        self.entries[idx as usize].sum += value;
        self.last = idx;
        Ok(())
    }

    #[inline]
    fn add(&mut self, stack: &'a [u8], value: u64, offset: usize, line: u64) -> Result<()> {
        let Some(total) = self.total.checked_add(value) else {
            return Err(Error::new(ErrorKind::SumOverflow, offset, line));
        };
        self.total = total;
        let idx = match self.map.entry(stack) {
            hashbrown::hash_map::Entry::Occupied(e) => {
                let idx = *e.get();
                self.entries[idx as usize].sum += value;
                idx
            }
            hashbrown::hash_map::Entry::Vacant(e) => {
                if self.entries.len() >= self.opts.max_distinct_stacks {
                    return Err(Error::new(
                        ErrorKind::TooManyStacks {
                            max: self.opts.max_distinct_stacks,
                        },
                        offset,
                        line,
                    ));
                }
                let idx = self.entries.len() as u32;
                e.insert(idx);
                self.entries.push(Entry {
                    stack,
                    sum: value,
                    offset,
                    line,
                    next: NONE,
                });
                idx
            }
        };
        if let Some(prev) = self.entries.get_mut(self.last as usize) {
            prev.next = idx;
        }
        self.last = idx;
        Ok(())
    }

    /// Splits each distinct stack into frames and pushes it, in the order stacks first appeared.
    fn finish<S: StackSink<'a>>(self, mut sink: S, mut summary: Summary) -> Result<Summary> {
        let max_depth = self.opts.max_stack_depth;
        // A tree gets room up front for a node per frame of every stack, its most nodes (it
        // grew and copied itself several times on 25k distinct stacks, 6 % of the read), but
        // at most a node per 4 bytes of stacks, so stacks that share prefixes do not reserve
        // much more than they use.
        let tree = sink.as_empty_tree().is_some();
        let (mut nodes, mut bytes) = (0usize, 0usize);
        // Check every stack before pushing any, so an error leaves the sink untouched.
        for e in &self.entries {
            // A stack of n bytes has at most n + 1 frames: without a tree to size, only longer
            // ones need counting (real stacks of a few KB stay under the 8192 default).
            if tree || e.stack.len() >= max_depth {
                let n = frame_count(e.stack);
                if n > max_depth {
                    return Err(Error::new(
                        ErrorKind::StackTooDeep { max: max_depth },
                        e.offset,
                        e.line,
                    ));
                }
                nodes += n;
                bytes += e.stack.len();
            }
        }
        if let Some(t) = sink.as_empty_tree() {
            t.reserve(nodes.min(bytes / 4));
        }
        // First-seen order. Sorting the stacks bytewise would hand the tree neighbours with
        // shared prefixes, but comparing kilobyte stacks that share most of their bytes cost
        // more (28 % of the read on real Java stacks) than the child lookups it saved.
        let mut frames: Vec<&'a str> = Vec::new();
        for e in &self.entries {
            // Strict validation first: much cheaper than the lossy conversion's chunked walk,
            // which only invalid stacks need.
            if let Ok(s) = std::str::from_utf8(e.stack) {
                frames.clear();
                frames.extend(split_stack(s));
                sink.add(&frames, e.sum);
                continue;
            }
            match String::from_utf8_lossy(e.stack) {
                Cow::Borrowed(s) => {
                    frames.clear();
                    frames.extend(split_stack(s));
                    sink.add(&frames, e.sum);
                }
                Cow::Owned(s) => {
                    let owned: Vec<&str> = split_stack(&s).collect();
                    sink.add_transient(&owned, e.sum);
                }
            }
        }
        summary.distinct_stacks = self.entries.len() as u64;
        summary.total = self.total;
        Ok(summary)
    }
}

/// If a line of `rest` ends at `at` (end of input, `\n`, `\r\n` or a final `\r`), returns the
/// line's length without its ending and the offset of the next line, both relative to `rest`.
#[inline]
fn line_end_at(rest: &[u8], at: usize) -> Option<(usize, usize)> {
    match rest.get(at) {
        None => Some((at, at)),
        Some(b'\n') => Some((at, at + 1)),
        Some(b'\r') => match rest.get(at + 1) {
            None => Some((at, at + 1)),
            Some(b'\n') => Some((at, at + 2)),
            Some(_) => None,
        },
        Some(_) => None,
    }
}

/// Fast path for a folded line that is exactly `stack`, a space, 1–19 digits and a line end:
/// `(count, line length without ending, next offset)`; `None` means "take the general path".
#[inline]
fn predicted_folded(rest: &[u8], stack: &[u8]) -> Option<(u64, usize, usize)> {
    let n = stack.len();
    if rest.len() <= n || rest[n] != b' ' || rest[..n] != *stack {
        return None;
    }
    let mut i = n + 1;
    let mut v: u64 = 0;
    while let Some(&d) = rest.get(i) {
        if !d.is_ascii_digit() || i - n > 19 {
            break;
        }
        v = v * 10 + u64::from(d - b'0');
        i += 1;
    }
    if i == n + 1 {
        return None;
    }
    let (len, next) = line_end_at(rest, i)?;
    Some((v, len, next))
}

/// Fast path for a `lines` line that is exactly `stack` and a line end. A stack that ends in
/// `\r` (from a line ending `\r\r\n`) takes the general path: there `abc\r\n` is `abc`, which
/// the prefix match would read as `abc\r`.
#[inline]
fn predicted_line(rest: &[u8], stack: &[u8]) -> Option<(usize, usize)> {
    let n = stack.len();
    if rest.len() < n || rest[..n] != *stack || stack.last() == Some(&b'\r') {
        return None;
    }
    line_end_at(rest, n)
}

/// Number of frames [`split_stack`] yields for `stack`.
fn frame_count(stack: &[u8]) -> usize {
    match stack.last() {
        None => 0,
        Some(&last) => memchr_iter(b';', stack).count() + 1 - usize::from(last == b';'),
    }
}

/// The line starting at `pos` without its `\n` or `\r\n`, and the offset of the next line.
#[inline]
pub(crate) fn next_line(input: &[u8], pos: usize) -> (&[u8], usize) {
    let rest = &input[pos..];
    let (line, next) = match memchr(b'\n', rest) {
        Some(i) => (&rest[..i], pos + i + 1),
        None => (rest, input.len()),
    };
    let line = match line.split_last() {
        Some((b'\r', l)) => l,
        _ => line,
    };
    (line, next)
}

#[inline]
pub(crate) fn check_len(line: &[u8], opts: &Options, offset: usize, line_no: u64) -> Result<()> {
    if line.len() > opts.max_line_len {
        return Err(Error::new(
            ErrorKind::LineTooLong {
                len: line.len(),
                max: opts.max_line_len,
            },
            offset,
            line_no,
        ));
    }
    Ok(())
}

/// Splits a folded line at its last ASCII space: `(stack, count text, offset of the count)`.
#[inline]
pub(crate) fn split_count(line: &[u8]) -> Option<(&[u8], &[u8], usize)> {
    // Fast path: walk back over the digits (and a sign) to the space.
    let mut i = line.len();
    while i > 0 && line[i - 1].is_ascii_digit() {
        i -= 1;
    }
    if i > 0 && matches!(line[i - 1], b'+' | b'-') {
        i -= 1;
    }
    if i > 0 && line[i - 1] == b' ' {
        return Some((&line[..i - 1], &line[i..], i));
    }
    let sp = memrchr(b' ', line)?;
    Some((&line[..sp], &line[sp + 1..], sp + 1))
}

/// Parses a count as OG's `strconv.Atoi` would (`[+-]?[0-9]+`), refusing negative values and
/// values over `u64::MAX`. `-0` is 0.
#[inline]
pub(crate) fn parse_count(text: &[u8]) -> std::result::Result<u64, ErrorKind> {
    let (neg, digits) = match text.first() {
        Some(b'+') => (false, &text[1..]),
        Some(b'-') => (true, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(ErrorKind::InvalidCount {
            text: String::from_utf8_lossy(&text[..text.len().min(64)]).into_owned(),
        });
    }
    let mut v: u64 = 0;
    if digits.len() <= 19 {
        for &d in digits {
            v = v * 10 + u64::from(d - b'0');
        }
    } else {
        for &d in digits {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
                .ok_or(ErrorKind::CountOverflow)?;
        }
    }
    if neg && v != 0 {
        return Err(ErrorKind::NegativeCount);
    }
    Ok(v)
}

/// Reads folded ("collapsed") stacks: one `stack count` per line, the count after the **last**
/// ASCII space, frames separated by `;` (see [`pyro_tree::transport::split_stack`]), `\n` or
/// `\r\n` line endings. Duplicate stacks are summed; each distinct stack is split into frames
/// once and pushed into `sink`, frames borrowed from `input` (stacks that are not UTF-8 are
/// decoded lossily).
///
/// Differences from OG Pyroscope (which this crate treats as bugs that lose data): a line with
/// no space is skipped and counted in [`Summary::skipped_lines`]; a bad, negative or overflowing
/// count is an error; a line longer than the limit is an error instead of silently ending the
/// input.
///
/// # Errors
/// The first bad count or exceeded limit, with its line and byte offset. On error nothing has
/// been pushed into `sink`.
///
/// ```
/// use pyro_folded::{Options, parse_folded};
/// use pyro_tree::StackTree;
///
/// let input = b"main;work 3\nmain;idle 1\r\nmain;work 2\n";
/// let mut tree = StackTree::new();
/// let summary = parse_folded(input, &Options::default(), &mut tree)?;
/// assert_eq!(summary.distinct_stacks, 2);
/// assert_eq!(tree.to_folded(), "main;idle 1\nmain;work 5\n");
///
/// let err = parse_folded(b"a 1\nb x\n", &Options::default(), &mut tree).unwrap_err();
/// assert_eq!(err.to_string(), "invalid count \"x\" on line 2 (at offset 0x6)");
/// # Ok::<(), pyro_folded::Error>(())
/// ```
pub fn parse_folded<'a, S: StackSink<'a>>(
    input: &'a [u8],
    opts: &Options,
    mut sink: S,
) -> Result<Summary> {
    // Stacks that share most of their bytes with the line before (sorted profiler output) go
    // straight into an empty tree, without hashing lines (`direct`); the same tree, summary and
    // errors as the general reader.
    if let Some(tree) = sink.as_empty_tree()
        && crate::direct::worth_it(input)
    {
        match crate::direct::read(input, opts, tree) {
            crate::direct::Outcome::Done(summary) => return Ok(summary),
            crate::direct::Outcome::Failed(e) => return Err(e),
            crate::direct::Outcome::NotDirect => {}
        }
    }
    read::<S, true>(input, opts, sink)
}

/// [`parse_folded`] by the reader for stacks that share prefixes, whatever the input looks
/// like: `None` when that reader hands the input back (a stack that is not UTF-8). For the
/// differential tests and fuzz targets that compare both readers.
#[doc(hidden)]
pub fn parse_folded_prefix_shared<'a>(
    input: &'a [u8],
    opts: &Options,
    tree: &mut pyro_tree::StackTree<'a>,
) -> Option<Result<Summary>> {
    match crate::direct::read(input, opts, tree) {
        crate::direct::Outcome::Done(summary) => Some(Ok(summary)),
        crate::direct::Outcome::Failed(e) => Some(Err(e)),
        crate::direct::Outcome::NotDirect => None,
    }
}

/// [`parse_folded`] by the general reader (whole stacks hashed, then split), whatever the input
/// looks like. For the differential tests and fuzz targets that compare both readers.
#[doc(hidden)]
pub fn parse_folded_hashed<'a, S: StackSink<'a>>(
    input: &'a [u8],
    opts: &Options,
    sink: S,
) -> Result<Summary> {
    read::<S, true>(input, opts, sink)
}

/// Reads `lines` text: every non-empty line (a trailing `\r` removed) is one sample of the stack
/// it spells, frames separated by `;`; identical lines are counted. A trailing ` 5` is part of the
/// last frame's name, not a count. Empty lines are ignored.
///
/// # Errors
/// A line longer than the limit, too many distinct stacks or a stack too deep, with its line and
/// byte offset. On error nothing has been pushed into `sink`.
///
/// ```
/// use pyro_folded::{Options, parse_lines};
/// use pyro_tree::StackTree;
///
/// let mut tree = StackTree::new();
/// parse_lines(b"a;b\na;b\n\na;c 5\n", &Options::default(), &mut tree)?;
/// assert_eq!(tree.to_folded(), "a;b 2\na;c 5 1\n");
/// # Ok::<(), pyro_folded::Error>(())
/// ```
pub fn parse_lines<'a, S: StackSink<'a>>(
    input: &'a [u8],
    opts: &Options,
    sink: S,
) -> Result<Summary> {
    read::<S, false>(input, opts, sink)
}

/// The loop both readers share: find each line (or confirm the predicted one), check the limits,
/// and aggregate it as folded (`stack count`, `FOLDED`) or `lines` (`stack`, one sample) text.
/// A const parameter, so each reader gets its own specialized loop.
fn read<'a, S: StackSink<'a>, const FOLDED: bool>(
    input: &'a [u8],
    opts: &Options,
    sink: S,
) -> Result<Summary> {
    let mut agg = Agg::new(opts);
    let mut summary = Summary::default();
    let mut pos = 0;
    let mut line_no = 0u64;
    while pos < input.len() {
        let start = pos;
        line_no += 1;
        if let Some((idx, stack)) = agg.predicted() {
            let rest = &input[pos..];
            let hit = if FOLDED {
                predicted_folded(rest, stack)
            } else {
                predicted_line(rest, stack).map(|(len, next)| (1, len, next))
            };
            if let Some((value, len, next)) = hit
                && len <= opts.max_line_len
            {
                agg.add_predicted(idx, value, start, line_no)?;
                pos += next;
                continue;
            }
        }
        let (line, next) = next_line(input, pos);
        pos = next;
        check_len(line, opts, start, line_no)?;
        if line.is_empty() {
            summary.empty_lines += 1;
            agg.last = NONE;
            continue;
        }
        if !FOLDED {
            agg.add(line, 1, start, line_no)?;
            continue;
        }
        let Some((stack, count, at)) = split_count(line) else {
            summary.skipped_lines += 1;
            agg.last = NONE;
            continue;
        };
        let value = parse_count(count).map_err(|k| Error::new(k, start + at, line_no))?;
        agg.add(stack, value, start, line_no)?;
    }
    summary.lines = line_no;
    agg.finish(sink, summary)
}
