//! Limits of the transport readers.

/// Default deepest tree accepted by [`TransportLimits`] (nodes on one root-to-leaf path).
pub const DEFAULT_MAX_DEPTH: usize = 4096;
/// Default longest node name (Grafana Pyroscope's `MaxProfileSymbolValueLength`).
pub const DEFAULT_MAX_NAME_LEN: usize = 65_535;
/// Default longest trie key (concatenated names on one path), matching the folded line limit.
pub const DEFAULT_MAX_KEY_LEN: usize = 1 << 20;
/// Default most frames (after splitting names at `;`) all stacks of one body may expand to, per
/// byte of body, on top of [`FRAMES_BASE`]: keeps the work per body linear in its size.
pub const DEFAULT_FRAMES_PER_BYTE: usize = 64;
/// Frames every body may expand to whatever its size (see [`DEFAULT_FRAMES_PER_BYTE`]).
pub const FRAMES_BASE: usize = 1 << 20;

/// Limits applied while reading `tree` and `trie` bodies.
///
/// `max_depth` counts frames after node names are split at `;` (a `tree`/`trie` node name may
/// hold several frames). Memory is bounded by the input size plus `max_depth` path entries (a trie
/// also keeps one key of at most `max_key_len` bytes), and work by the frames all stacks expand
/// to: at most `frames_per_byte` × the body size + [`FRAMES_BASE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportLimits {
    max_depth: usize,
    max_name_len: usize,
    max_key_len: usize,
    frames_per_byte: usize,
}

impl Default for TransportLimits {
    fn default() -> Self {
        TransportLimits {
            max_depth: DEFAULT_MAX_DEPTH,
            max_name_len: DEFAULT_MAX_NAME_LEN,
            max_key_len: DEFAULT_MAX_KEY_LEN,
            frames_per_byte: DEFAULT_FRAMES_PER_BYTE,
        }
    }
}

impl TransportLimits {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Deepest tree accepted.
    pub fn max_depth(mut self, v: usize) -> Self {
        self.max_depth = v;
        self
    }
    /// Longest node name accepted.
    pub fn max_name_len(mut self, v: usize) -> Self {
        self.max_name_len = v;
        self
    }
    /// Longest trie key accepted.
    pub fn max_key_len(mut self, v: usize) -> Self {
        self.max_key_len = v;
        self
    }
    /// Most frames all stacks of a body may expand to, per byte of body (plus [`FRAMES_BASE`]).
    pub fn max_frames_per_byte(mut self, v: usize) -> Self {
        self.frames_per_byte = v;
        self
    }
    /// No limit at all: for trees this process wrote itself (storage), which must read back
    /// whatever ingest accepted.
    pub fn unlimited() -> Self {
        TransportLimits {
            max_depth: usize::MAX,
            max_name_len: usize::MAX,
            max_key_len: usize::MAX,
            frames_per_byte: usize::MAX,
        }
    }
    /// The frame budget of a body of `len` bytes.
    pub(crate) fn frame_budget(&self, len: usize) -> usize {
        self.frames_per_byte
            .saturating_mul(len)
            .saturating_add(FRAMES_BASE)
    }
    pub(crate) fn depth(&self) -> usize {
        self.max_depth
    }
    pub(crate) fn name_len(&self) -> usize {
        self.max_name_len
    }
    pub(crate) fn key_len(&self) -> usize {
        self.max_key_len
    }
}
