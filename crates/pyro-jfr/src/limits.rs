//! Limits of the JFR reader.

/// Default largest (decompressed) recording or labels snapshot: 256 MiB.
pub const DEFAULT_MAX_DECOMPRESSED_SIZE: usize = 256 << 20;
/// Default most frames in one stack trace (async-profiler's own maximum `jstackdepth` is 2048;
/// pyroscope-java uses 2048).
pub const DEFAULT_MAX_STACK_DEPTH: usize = 8_192;
/// Default longest string, in bytes or UTF-16 code units.
pub const DEFAULT_MAX_STRING_LEN: usize = 1 << 20;
/// Default most classes declared in one chunk's metadata.
pub const DEFAULT_MAX_CLASSES: usize = 65_536;
/// Default most checkpoints in one chunk's chain.
pub const DEFAULT_MAX_CHECKPOINTS: usize = 1 << 20;
/// Default most constant-pool entries kept per chunk (stacks, methods, classes, symbols, thread
/// states, strings together; about 24 bytes each).
pub const DEFAULT_MAX_POOL_ENTRIES: usize = 1 << 22;
/// Default largest metadata record (JDK recordings carry about 100 KiB, async-profiler 6 KiB).
pub const DEFAULT_MAX_METADATA_SIZE: usize = 16 << 20;
/// Default most distinct (event type, stack, context) keys aggregated in one chunk: bounds the
/// memory of a chunk whose every event has its own stack (about 100 bytes per key).
pub const DEFAULT_MAX_EVENT_KEYS: usize = 1 << 20;
/// Default most distinct series (profile type × label set) in one recording.
pub const DEFAULT_MAX_SERIES: usize = 10_000;
/// Default most nodes of all series trees together (checked after each chunk).
pub const DEFAULT_MAX_TREE_NODES: usize = 8 << 20;
/// Nesting depth of inline (non-pool) struct fields; metadata element depth.
pub const MAX_NESTING: usize = 32;

/// Limits applied while reading a recording.
///
/// Memory is bounded by the input size: every table (metadata, pool offsets, strings) holds at
/// most one entry per input byte it was read from, and is capped by the limits below (the
/// per-chunk aggregation by `max_event_keys`); the output holds one tree per series, at most
/// `max_series`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub(crate) max_decompressed_size: usize,
    pub(crate) max_stack_depth: usize,
    pub(crate) max_string_len: usize,
    pub(crate) max_classes: usize,
    pub(crate) max_checkpoints: usize,
    pub(crate) max_pool_entries: usize,
    pub(crate) max_series: usize,
    pub(crate) max_event_keys: usize,
    pub(crate) max_metadata_size: usize,
    pub(crate) max_tree_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_decompressed_size: DEFAULT_MAX_DECOMPRESSED_SIZE,
            max_stack_depth: DEFAULT_MAX_STACK_DEPTH,
            max_string_len: DEFAULT_MAX_STRING_LEN,
            max_classes: DEFAULT_MAX_CLASSES,
            max_checkpoints: DEFAULT_MAX_CHECKPOINTS,
            max_pool_entries: DEFAULT_MAX_POOL_ENTRIES,
            max_series: DEFAULT_MAX_SERIES,
            max_event_keys: DEFAULT_MAX_EVENT_KEYS,
            max_metadata_size: DEFAULT_MAX_METADATA_SIZE,
            max_tree_nodes: DEFAULT_MAX_TREE_NODES,
        }
    }
}

impl Limits {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Most nodes of all series trees together, checked after each chunk is merged.
    pub fn max_tree_nodes(mut self, v: usize) -> Self {
        self.max_tree_nodes = v;
        self
    }
    /// Largest recording or labels snapshot after decompression, in bytes.
    pub fn max_decompressed_size(mut self, v: usize) -> Self {
        self.max_decompressed_size = v;
        self
    }
    /// The largest recording [`Converter::feed`](crate::Converter::feed) reads, in bytes (as
    /// set by [`Limits::max_decompressed_size`]): for a caller that feeds a recording in parts.
    pub fn decompressed_size_limit(&self) -> usize {
        self.max_decompressed_size
    }
    /// Most frames in one stack trace.
    pub fn max_stack_depth(mut self, v: usize) -> Self {
        self.max_stack_depth = v;
        self
    }
    /// Longest string.
    pub fn max_string_len(mut self, v: usize) -> Self {
        self.max_string_len = v;
        self
    }
    /// Most classes in one chunk's metadata.
    pub fn max_classes(mut self, v: usize) -> Self {
        self.max_classes = v;
        self
    }
    /// Most checkpoints in one chunk.
    pub fn max_checkpoints(mut self, v: usize) -> Self {
        self.max_checkpoints = v;
        self
    }
    /// Most constant-pool entries kept per chunk.
    pub fn max_pool_entries(mut self, v: usize) -> Self {
        self.max_pool_entries = v;
        self
    }
    /// Most series in one recording.
    pub fn max_series(mut self, v: usize) -> Self {
        self.max_series = v;
        self
    }
    /// Largest metadata record, in bytes.
    pub fn max_metadata_size(mut self, v: usize) -> Self {
        self.max_metadata_size = v;
        self
    }
    /// Most distinct (event type, stack, context) keys aggregated in one chunk.
    pub fn max_event_keys(mut self, v: usize) -> Self {
        self.max_event_keys = v;
        self
    }
}
