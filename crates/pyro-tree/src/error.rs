//! The error type of the transport readers.

use std::fmt;

/// An error reading a legacy `tree` or `trie` transport body.
///
/// Carries what went wrong ([`Error::kind`]) and the absolute byte offset in the input where it
/// was detected ([`Error::offset`]).
pub struct Error(Box<Inner>);

struct Inner {
    kind: ErrorKind,
    offset: usize,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ended inside a node; `what` names the field being read.
    UnexpectedEof {
        /// The field being read.
        what: &'static str,
    },
    /// A varint was longer than 10 bytes or did not fit in `u64`.
    VarintOverflow,
    /// A node name is longer than the configured maximum.
    NameTooLong {
        /// Declared length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// The tree is deeper than the configured maximum.
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// A trie key (the concatenated names on a path) is longer than the configured maximum.
    KeyTooLong {
        /// The limit.
        max: usize,
    },
    /// Bytes follow the last node of the tree.
    TrailingData,
    /// The stacks of the body expand to more frames than its size allows
    /// ([`crate::TransportLimits::max_frames_per_byte`]).
    TooManyFrames {
        /// The budget of this body.
        max: usize,
    },
}

impl Error {
    #[cold]
    pub(crate) fn new(kind: ErrorKind, offset: usize) -> Self {
        Error(Box::new(Inner { kind, offset }))
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// Absolute byte offset in the input.
    pub fn offset(&self) -> usize {
        self.0.offset
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::UnexpectedEof { what } => {
                write!(f, "unexpected end of input reading {what}")
            }
            ErrorKind::VarintOverflow => f.write_str("varint overflows u64"),
            ErrorKind::NameTooLong { len, max } => {
                write!(f, "node name of {len} bytes exceeds the limit of {max}")
            }
            ErrorKind::TooDeep { max } => write!(f, "tree deeper than the limit of {max}"),
            ErrorKind::KeyTooLong { max } => {
                write!(f, "trie key longer than the limit of {max} bytes")
            }
            ErrorKind::TrailingData => f.write_str("trailing data after the last node"),
            ErrorKind::TooManyFrames { max } => {
                write!(f, "stacks expand to more than {max} frames")
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at offset {:#x})", self.0.kind, self.0.offset)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.0.kind)
            .field("offset", &self.0.offset)
            .finish()
    }
}

impl std::error::Error for Error {}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
