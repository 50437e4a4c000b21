//! The error type of the JFR reader.

use std::fmt;

/// An error reading a JFR recording or a labels snapshot: what went wrong ([`Error::kind`]),
/// what was being read ([`Error::context`], e.g. `checkpoint pool entry`) and at which byte of
/// the (decompressed) input ([`Error::offset`]).
#[derive(Clone)]
pub struct Error(Box<Inner>);

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    offset: usize,
    context: &'static str,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ends inside a value, or a chunk or record claims more bytes than there are.
    Truncated,
    /// A chunk does not start with `FLR\0`.
    BadMagic,
    /// A chunk header is inconsistent (version, size, offsets, ticks per second).
    BadHeader(&'static str),
    /// Something this reader does not support (uncompressed integers, an unfinished chunk).
    Unsupported(&'static str),
    /// A record has size 0 or its size does not cover its header.
    BadRecordSize(u64),
    /// A record of an unexpected type where metadata (0) or a checkpoint (1) was expected.
    UnexpectedRecord(u64),
    /// Malformed metadata (missing attribute, bad class id, unknown field type, …).
    BadMetadata(&'static str),
    /// A value refers to a type id the chunk's metadata does not declare.
    UnknownType(u64),
    /// The checkpoint chain loops, moves forward or points outside the chunk.
    BadCheckpointChain,
    /// An unknown string encoding byte.
    BadStringEncoding(u8),
    /// The gzip stream is malformed.
    Gzip(String),
    /// The labels snapshot is not a valid `LabelsSnapshot` protobuf.
    Labels(String),
    /// A context label or the resulting series name is invalid.
    InvalidLabel(String),
    /// Summing values overflows `u64`.
    SumOverflow,
    /// The input (the recording, or what its gzip inflates to) is larger than
    /// `Limits::max_decompressed_size`: the caller's size limit, not a property of its contents.
    InputTooLarge {
        /// `recording size` or `decompressed size`.
        what: &'static str,
        /// The limit, in bytes.
        max: usize,
    },
    /// A documented limit on the recording's contents was exceeded (stack depth, series,
    /// metadata size, …).
    LimitExceeded {
        /// Which limit.
        what: &'static str,
        /// Its value.
        max: usize,
    },
}

impl Error {
    #[cold]
    pub(crate) fn new(kind: ErrorKind, offset: usize, context: &'static str) -> Self {
        Error(Box::new(Inner {
            kind,
            offset,
            context,
        }))
    }

    #[cold]
    pub(crate) fn limit(what: &'static str, max: usize, offset: usize) -> Self {
        Error::new(ErrorKind::LimitExceeded { what, max }, offset, what)
    }

    /// [`ErrorKind::InputTooLarge`]: `what` (e.g. `"recording size"`) is over `max` bytes, at
    /// `offset`. For a caller that knows a recording's size before it has read it.
    #[cold]
    pub fn too_large(what: &'static str, max: usize, offset: usize) -> Self {
        Error::new(ErrorKind::InputTooLarge { what, max }, offset, what)
    }

    /// Moves the offset by `base` (errors found in a chunk are relative to the chunk).
    #[cold]
    pub(crate) fn shifted(mut self, base: usize) -> Self {
        self.0.offset = self.0.offset.saturating_add(base);
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// Absolute byte offset in the (decompressed) input.
    pub fn offset(&self) -> usize {
        self.0.offset
    }

    /// What was being read, e.g. `chunk header` or `event record`.
    pub fn context(&self) -> &'static str {
        self.0.context
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Truncated => f.write_str("unexpected end of input"),
            ErrorKind::BadMagic => f.write_str("not a JFR chunk (magic is not FLR\\0)"),
            ErrorKind::BadHeader(what) => write!(f, "bad chunk header: {what}"),
            ErrorKind::Unsupported(what) => write!(f, "unsupported: {what}"),
            ErrorKind::BadRecordSize(s) => write!(f, "bad record size {s}"),
            ErrorKind::UnexpectedRecord(t) => write!(f, "unexpected record type {t}"),
            ErrorKind::BadMetadata(what) => write!(f, "bad metadata: {what}"),
            ErrorKind::UnknownType(t) => write!(f, "unknown type id {t}"),
            ErrorKind::BadCheckpointChain => f.write_str("broken checkpoint chain"),
            ErrorKind::BadStringEncoding(b) => write!(f, "unknown string encoding {b}"),
            ErrorKind::Gzip(e) => write!(f, "failed to decompress gzip: {e}"),
            ErrorKind::Labels(e) => write!(f, "invalid labels snapshot: {e}"),
            ErrorKind::InvalidLabel(e) => f.write_str(e),
            ErrorKind::SumOverflow => f.write_str("sum of values does not fit in 64 bits"),
            ErrorKind::InputTooLarge { what, max } | ErrorKind::LimitExceeded { what, max } => {
                write!(f, "{what} exceeds the limit of {max}")
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} while reading {} (at offset {:#x})",
            self.0.kind, self.0.context, self.0.offset
        )
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.0.kind)
            .field("context", &self.0.context)
            .field("offset", &self.0.offset)
            .finish()
    }
}

impl std::error::Error for Error {}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
