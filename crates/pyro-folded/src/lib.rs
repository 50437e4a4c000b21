//! Readers for folded ("collapsed") stacks and `lines` text, as Pyroscope's `/ingest` takes them.
//!
//! Both readers borrow from the input and push into any [`pyro_tree::StackSink`] (usually a
//! [`pyro_tree::StackTree`]). They find lines with `memchr`, aggregate whole stacks first and
//! split frames only once per distinct stack, so repetitive input costs little more than a scan.
//!
//! Strict where OG Pyroscope loses data (see the spec's Part 1, decision 1): a line without a
//! count is skipped and counted, a bad/negative/overflowing count is an [`Error`] with its line
//! and byte offset, and a line over [`Options::max_line_len`] (default 1 MiB) is an error.
//!
//! ```
//! use pyro_folded::{ErrorKind, Options, parse_folded};
//! use pyro_tree::StackTree;
//!
//! let mut tree = StackTree::new();
//! let s = parse_folded(b"a;b 2\nno-count\na;c 3\n", &Options::default(), &mut tree)?;
//! assert_eq!((s.lines, s.skipped_lines, s.total), (3, 1, 5));
//!
//! let err = parse_folded(b"a;b -2\n", &Options::default(), &mut tree).unwrap_err();
//! assert_eq!(err.kind(), &ErrorKind::NegativeCount);
//! assert_eq!((err.line(), err.offset()), (1, 4));
//! # Ok::<(), pyro_folded::Error>(())
//! ```

mod direct;
mod error;
mod limits;
#[doc(hidden)]
pub mod naive;
mod read;

pub use error::{Error, ErrorKind, Result};
pub use limits::{
    DEFAULT_MAX_DISTINCT_STACKS, DEFAULT_MAX_LINE_LEN, DEFAULT_MAX_STACK_DEPTH, Options,
};
pub use read::{
    Summary, parse_folded, parse_folded_hashed, parse_folded_prefix_shared, parse_lines,
};

/// The README example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
