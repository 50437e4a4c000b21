//! Limits and options of the readers.

/// Default longest line, without its line ending: 1 MiB (OG Pyroscope silently stops at 64 KiB).
pub const DEFAULT_MAX_LINE_LEN: usize = 1 << 20;
/// Default most frames in one stack.
pub const DEFAULT_MAX_STACK_DEPTH: usize = 8192;
/// Default most distinct stacks in one body.
pub const DEFAULT_MAX_DISTINCT_STACKS: usize = 1 << 20;

/// Limits applied by [`parse_folded`](crate::parse_folded) and [`parse_lines`](crate::parse_lines).
///
/// Memory is bounded by the input (frames are borrowed from it) plus one table entry per distinct
/// stack, at most `max_distinct_stacks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub(crate) max_line_len: usize,
    pub(crate) max_stack_depth: usize,
    pub(crate) max_distinct_stacks: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_line_len: DEFAULT_MAX_LINE_LEN,
            max_stack_depth: DEFAULT_MAX_STACK_DEPTH,
            max_distinct_stacks: DEFAULT_MAX_DISTINCT_STACKS,
        }
    }
}

impl Options {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Longest line accepted, in bytes without the line ending.
    pub fn max_line_len(mut self, v: usize) -> Self {
        self.max_line_len = v;
        self
    }
    /// Most frames accepted in one stack.
    pub fn max_stack_depth(mut self, v: usize) -> Self {
        self.max_stack_depth = v;
        self
    }
    /// Most distinct stacks accepted in one body.
    pub fn max_distinct_stacks(mut self, v: usize) -> Self {
        self.max_distinct_stacks = v;
        self
    }
}
