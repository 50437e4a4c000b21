//! The shared stack-tree aggregator every `pyro-*` reader feeds.
//!
//! Readers push stacks (frames root first, a `u64` value) into a [`StackSink`]. [`StackTree`] is
//! the sink that aggregates them: frame names stay borrowed from the input where the reader can
//! lend them, each distinct name is interned to a dense [`FrameId`] once, and nodes live in a
//! [`calltree::CallTree`] keyed by `(parent, frame)` with a self and a total value. The call-tree
//! core (arena, per-node hint, child lists with a key filter, a table for wide nodes, a node
//! limit) is public: pyro-pprof's location tree is built on it too. A tree can be merged with
//! another ([`StackTree::merge`]) and turned into an owned tree that outlives its input
//! ([`StackTree::into_owned`]).
//!
//! Outputs: folded text ([`StackTree::to_folded`], sorted bytewise), Pyroscope's flamebearer
//! ([`StackTree::flamebearer`], with `max-nodes` truncation), and the legacy binary `tree` and
//! `trie` transport formats ([`StackTree::to_tree_bytes`], [`transport::read_tree`], …).
//!
//! ```
//! use pyro_tree::{StackSink, StackTree, TransportLimits, transport};
//!
//! let mut tree = StackTree::new();
//! tree.add(&["foo", "bar"], 2);
//! tree.add(&["foo", "baz"], 3);
//! assert_eq!(tree.to_folded(), "foo;bar 2\nfoo;baz 3\n");
//!
//! let fb = tree.flamebearer(Some(8192));
//! assert_eq!(fb.names, ["total", "foo", "baz", "bar"]);
//! assert_eq!(fb.levels, [vec![0, 5, 0, 0], vec![0, 5, 0, 1], vec![0, 2, 2, 3, 0, 3, 3, 2]]);
//!
//! // The trie test vector from OG Pyroscope's ingest tests.
//! let body = b"\x00\x00\x01\x06foo;ba\x00\x02\x01r\x02\x00\x01z\x03\x00";
//! let mut back = StackTree::new();
//! transport::read_trie(body, &TransportLimits::default(), &mut back).unwrap();
//! assert_eq!(back.to_folded(), tree.to_folded());
//! ```

mod builder;
pub mod calltree;
mod diff;
mod error;
mod flamebearer;
#[cfg(feature = "gzip")]
pub mod gzip;
mod limits;
mod output;
mod sink;
pub mod transport;
mod tree;

pub use builder::TreeBuilder;
pub use error::{Error, ErrorKind, Result};
pub use flamebearer::{DiffFlamebearer, Flamebearer, OTHER, diff_flamebearer};
pub use limits::{
    DEFAULT_FRAMES_PER_BYTE, DEFAULT_MAX_DEPTH, DEFAULT_MAX_KEY_LEN, DEFAULT_MAX_NAME_LEN,
    FRAMES_BASE, TransportLimits,
};
pub use output::join_stack;
pub use sink::{StackSink, VecSink};
pub use tree::{FrameId, MAX_NODES, NodeId, StackTree};

/// The README example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
