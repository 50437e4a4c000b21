//! Every per-request limit in one struct.

/// Default most series one request may produce.
pub const DEFAULT_MAX_SERIES: usize = 10_000;

/// Default most bytes of series names and labels one request may produce (app names, label
/// names and values, all its series together): 4 MiB, a thousand series with every label at
/// Grafana Pyroscope's value limit.
pub const DEFAULT_MAX_SERIES_BYTES: usize = 4 << 20;

/// Default most tree nodes one request may produce, all its parts and series together.
pub const DEFAULT_MAX_TREE_NODES: usize = 8 << 20;

/// A request may build one tree node per this many bytes of its (decompressed) profiles where
/// that is more than [`Limits::tree_nodes`]: a large profile is not refused for the size of its
/// trees, and their memory (about 40 bytes a node) stays proportional to the input. A profile's
/// distinct stack prefixes are at most its location ids, so real profiles build far fewer (the
/// 33 MB synthetic Go-like CPU profile of the benches: 7.2 million series-tree nodes, one per
/// 4.6 bytes).
pub const INPUT_BYTES_PER_NODE: usize = 2;

/// Default largest decompressed body (`Content-Encoding: gzip`, gzipped profiles), in bytes.
pub const DEFAULT_MAX_DECOMPRESSED: usize = 256 << 20;

/// The limits one request is read within: one field per reader plus the request-wide ones.
///
/// Build it with [`Limits::new`] (or `default()`) and the setters, which also pass a shared limit
/// (stack depth, decompressed size) to every reader that has it:
///
/// ```
/// let limits = pyro_ingest::Limits::new().max_stack_depth(1024).max_series(100);
/// assert_eq!(limits.series, 100);
/// assert_eq!(limits.pprof, pyro_pprof::Limits::new().max_stack_depth(1024));
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Limits {
    /// Folded and lines limits.
    pub text: pyro_folded::Options,
    /// Trie and tree limits.
    pub transport: pyro_tree::TransportLimits,
    /// Label limits of every series name.
    pub labels: pyro_labels::Limits,
    /// pprof limits.
    pub pprof: pyro_pprof::Limits,
    /// JFR limits.
    pub jfr: pyro_jfr::Limits,
    /// Most series one request may produce ([`ErrorKind::LimitExceeded`](crate::ErrorKind)
    /// beyond).
    pub series: usize,
    /// Most bytes of series names and labels one request may produce, all its series together
    /// ([`ErrorKind::LimitExceeded`](crate::ErrorKind) beyond): each is stored and indexed.
    pub series_bytes: usize,
    /// Largest output of any gunzip of the request (body, parts), in bytes
    /// ([`ErrorKind::TooLarge`](crate::ErrorKind) beyond).
    pub decompressed: usize,
    /// Most stack-tree nodes the whole request may produce, or one per
    /// [`INPUT_BYTES_PER_NODE`] bytes of its decompressed pprof and JFR profiles where that is
    /// more: every push sample, `profile` and `prev_profile`, every JFR chunk counts against it
    /// as it is built ([`ErrorKind::LimitExceeded`](crate::ErrorKind) beyond).
    pub tree_nodes: usize,
    /// Whether the node limit grows past [`Limits::tree_nodes`] with the input, one node per
    /// [`INPUT_BYTES_PER_NODE`] bytes (default `true`; a server that accounts memory per request
    /// turns it off for a request it could not reserve those trees for).
    pub scale_tree_nodes: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            text: pyro_folded::Options::default(),
            transport: pyro_tree::TransportLimits::default(),
            labels: pyro_labels::Limits::default(),
            pprof: pyro_pprof::Limits::default(),
            jfr: pyro_jfr::Limits::default(),
            series: DEFAULT_MAX_SERIES,
            series_bytes: DEFAULT_MAX_SERIES_BYTES,
            decompressed: DEFAULT_MAX_DECOMPRESSED,
            tree_nodes: DEFAULT_MAX_TREE_NODES,
            scale_tree_nodes: true,
        }
    }
}

impl Limits {
    /// The defaults of every reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Most frames in one stack, in every format.
    pub fn max_stack_depth(mut self, n: usize) -> Self {
        self.text = self.text.max_stack_depth(n);
        self.transport = self.transport.max_depth(n);
        self.pprof = self.pprof.max_stack_depth(n);
        self.jfr = self.jfr.max_stack_depth(n);
        self
    }

    /// Largest decompressed body or part, in bytes, in every format.
    pub fn max_decompressed(mut self, n: usize) -> Self {
        self.decompressed = n;
        self.pprof = self.pprof.max_decompressed_size(n);
        self.jfr = self.jfr.max_decompressed_size(n);
        self
    }

    /// Most stack-tree nodes one request may produce, all parts together.
    pub fn max_tree_nodes(mut self, n: usize) -> Self {
        self.tree_nodes = n;
        self
    }

    /// Whether the node limit grows with the input ([`Limits::scale_tree_nodes`]).
    pub fn scale_tree_nodes(mut self, on: bool) -> Self {
        self.scale_tree_nodes = on;
        self
    }

    /// The most tree nodes a request whose profiles are `input` bytes (decompressed) may build:
    /// [`Limits::tree_nodes`], or one per [`INPUT_BYTES_PER_NODE`] bytes where that is more and
    /// scaling is on.
    pub fn tree_nodes_for(&self, input: usize) -> usize {
        if self.scale_tree_nodes {
            self.tree_nodes.max(input / INPUT_BYTES_PER_NODE)
        } else {
            self.tree_nodes
        }
    }

    /// Most series one request may produce.
    pub fn max_series(mut self, n: usize) -> Self {
        self.series = n;
        self
    }

    /// Most bytes of series names and labels one request may produce.
    pub fn max_series_bytes(mut self, n: usize) -> Self {
        self.series_bytes = n;
        self
    }

    /// Most distinct label sets per sample type (pprof) or series (JFR) in one profile.
    pub fn max_label_sets(mut self, n: usize) -> Self {
        self.pprof = self.pprof.max_label_sets(n);
        self.jfr = self.jfr.max_series(n);
        self
    }

    /// Longest folded/lines line, in bytes.
    pub fn max_line_len(mut self, n: usize) -> Self {
        self.text = self.text.max_line_len(n);
        self
    }

    /// Most distinct stacks in one folded/lines body.
    pub fn max_distinct_stacks(mut self, n: usize) -> Self {
        self.text = self.text.max_distinct_stacks(n);
        self
    }

    /// Most labels per series.
    pub fn max_labels(mut self, n: usize) -> Self {
        self.labels = self.labels.max_labels(n);
        self
    }
}
