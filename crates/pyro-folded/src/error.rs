//! The error type of the text readers.

use std::fmt;

/// An error reading folded or `lines` text: what went wrong ([`Error::kind`]), the 1-based line
/// ([`Error::line`]) and the absolute byte offset ([`Error::offset`]) where it was found.
pub struct Error(Box<Inner>);

struct Inner {
    kind: ErrorKind,
    offset: usize,
    line: u64,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text after the last space is not an integer (`[+-]?[0-9]+`).
    InvalidCount {
        /// The offending text (at most 64 bytes of it, lossily decoded).
        text: String,
    },
    /// The count is negative (OG Pyroscope wraps it to 2^64 - n; we refuse).
    NegativeCount,
    /// The count does not fit in `u64`.
    CountOverflow,
    /// Adding this line's count overflows the stack's sum or the body's total.
    SumOverflow,
    /// The line is longer than the configured maximum.
    LineTooLong {
        /// Length of the line in bytes, without its line ending.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A stack has more frames than the configured maximum.
    StackTooDeep {
        /// The limit.
        max: usize,
    },
    /// The body has more distinct stacks than the configured maximum.
    TooManyStacks {
        /// The limit.
        max: usize,
    },
}

impl Error {
    #[cold]
    pub(crate) fn new(kind: ErrorKind, offset: usize, line: u64) -> Self {
        Error(Box::new(Inner { kind, offset, line }))
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// Absolute byte offset in the input.
    pub fn offset(&self) -> usize {
        self.0.offset
    }

    /// 1-based line number.
    pub fn line(&self) -> u64 {
        self.0.line
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::InvalidCount { text } => write!(f, "invalid count {text:?}"),
            ErrorKind::NegativeCount => f.write_str("negative count"),
            ErrorKind::CountOverflow => f.write_str("count does not fit in 64 bits"),
            ErrorKind::SumOverflow => f.write_str("sum of counts does not fit in 64 bits"),
            ErrorKind::LineTooLong { len, max } => {
                write!(f, "line of {len} bytes exceeds the limit of {max}")
            }
            ErrorKind::StackTooDeep { max } => write!(f, "stack has more than {max} frames"),
            ErrorKind::TooManyStacks { max } => write!(f, "more than {max} distinct stacks"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} on line {} (at offset {:#x})",
            self.0.kind, self.0.line, self.0.offset
        )
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.0.kind)
            .field("line", &self.0.line)
            .field("offset", &self.0.offset)
            .finish()
    }
}

impl std::error::Error for Error {}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
