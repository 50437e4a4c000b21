//! Limits of the pprof reader.

/// Default largest (decompressed) profile: 64 MiB.
pub const DEFAULT_MAX_DECOMPRESSED_SIZE: usize = 64 << 20;
/// Default most frames in one stack (after inline expansion), and most lines per location.
pub const DEFAULT_MAX_STACK_DEPTH: usize = 16_384;
/// Default most sample types in one profile.
pub const DEFAULT_MAX_SAMPLE_TYPES: usize = 64;
/// Default most distinct label sets (hence series per sample type) in one profile.
pub const DEFAULT_MAX_LABEL_SETS: usize = 10_000;
/// Default most labels on one sample.
pub const DEFAULT_MAX_SAMPLE_LABELS: usize = 100;
/// Default most call-tree nodes: of a profile's shared tree times its sample types, and of all
/// its series trees together (a few dozen bytes each, so a few hundred MB at most).
pub const DEFAULT_MAX_TREE_NODES: usize = 8 << 20;

/// Limits applied while reading and converting a profile.
///
/// Memory is bounded by the decompressed size (every decoded table is proportional to it) plus
/// the call trees: the shared tree of distinct stack prefixes (its nodes × sample types) and the
/// series trees cut from it (their nodes together), each at most `max_tree_nodes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub(crate) max_decompressed_size: usize,
    pub(crate) max_stack_depth: usize,
    pub(crate) max_sample_types: usize,
    pub(crate) max_label_sets: usize,
    pub(crate) max_sample_labels: usize,
    pub(crate) max_tree_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_decompressed_size: DEFAULT_MAX_DECOMPRESSED_SIZE,
            max_stack_depth: DEFAULT_MAX_STACK_DEPTH,
            max_sample_types: DEFAULT_MAX_SAMPLE_TYPES,
            max_label_sets: DEFAULT_MAX_LABEL_SETS,
            max_sample_labels: DEFAULT_MAX_SAMPLE_LABELS,
            max_tree_nodes: DEFAULT_MAX_TREE_NODES,
        }
    }
}

impl Limits {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Largest profile after decompression, in bytes.
    pub fn max_decompressed_size(mut self, v: usize) -> Self {
        self.max_decompressed_size = v;
        self
    }
    /// Most frames per stack and lines per location.
    pub fn max_stack_depth(mut self, v: usize) -> Self {
        self.max_stack_depth = v;
        self
    }
    /// Most sample types.
    pub fn max_sample_types(mut self, v: usize) -> Self {
        self.max_sample_types = v;
        self
    }
    /// Most distinct label sets.
    pub fn max_label_sets(mut self, v: usize) -> Self {
        self.max_label_sets = v;
        self
    }
    /// Most labels on one sample.
    pub fn max_sample_labels(mut self, v: usize) -> Self {
        self.max_sample_labels = v;
        self
    }
    /// Most call-tree nodes: distinct stack prefixes times sample types, and series tree nodes
    /// in all.
    pub fn max_tree_nodes(mut self, v: usize) -> Self {
        self.max_tree_nodes = v;
        self
    }
}
