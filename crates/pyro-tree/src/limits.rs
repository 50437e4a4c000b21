//! Limits of the transport readers.

/// Default deepest tree accepted by [`TransportLimits`] (nodes on one root-to-leaf path).
pub const DEFAULT_MAX_DEPTH: usize = 4096;
/// Default longest node name (Grafana Pyroscope's `MaxProfileSymbolValueLength`).
pub const DEFAULT_MAX_NAME_LEN: usize = 65_535;
/// Default longest trie key (concatenated names on one path), matching the folded line limit.
pub const DEFAULT_MAX_KEY_LEN: usize = 1 << 20;

/// Limits applied while reading `tree` and `trie` bodies.
///
/// Memory is bounded by the input size plus `max_depth` path entries (a trie also keeps one key
/// of at most `max_key_len` bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportLimits {
    max_depth: usize,
    max_name_len: usize,
    max_key_len: usize,
}

impl Default for TransportLimits {
    fn default() -> Self {
        TransportLimits {
            max_depth: DEFAULT_MAX_DEPTH,
            max_name_len: DEFAULT_MAX_NAME_LEN,
            max_key_len: DEFAULT_MAX_KEY_LEN,
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
