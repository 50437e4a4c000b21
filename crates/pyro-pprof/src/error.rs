//! The error type of the pprof reader.

use std::fmt;

/// An error reading a pprof profile: what went wrong ([`Error::kind`]), where in the message tree
/// ([`Error::path`], e.g. `Profile.sample[3].location_id`) and at which byte of the decompressed
/// profile ([`Error::offset`]).
pub struct Error(Box<Inner>);

struct Inner {
    kind: ErrorKind,
    offset: usize,
    path: String,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input ends inside a field.
    Truncated,
    /// A varint is longer than 10 bytes.
    VarintOverflow,
    /// A field has a wire type the schema does not allow (or wire type 3/4/6/7).
    InvalidWireType(u8),
    /// Field number 0.
    InvalidFieldNumber,
    /// A string is not valid UTF-8 (Grafana Pyroscope rejects such profiles too).
    InvalidUtf8,
    /// A string-table index is negative or past the end of the table.
    StringIndexOutOfRange(i64),
    /// A sample has a different number of values than the profile has sample types.
    ValueCount {
        /// Number of sample types.
        expected: usize,
        /// Number of values found.
        found: usize,
    },
    /// A sample value is negative.
    NegativeValue(i64),
    /// Summing values overflows `u64`.
    SumOverflow,
    /// The gzip stream is malformed.
    Gzip(String),
    /// A sample label or the resulting series name is invalid (bad key, too long, too many).
    InvalidLabel(String),
    /// A sample type index past the profile's sample types ([`crate::read_into`]).
    NoSuchSampleType {
        /// The index asked for.
        index: usize,
        /// Number of sample types.
        count: usize,
    },
    /// A configured limit was exceeded.
    LimitExceeded {
        /// Which limit.
        what: &'static str,
        /// Its value.
        max: usize,
    },
}

impl Error {
    #[cold]
    pub(crate) fn new(kind: ErrorKind, offset: usize, path: impl Into<String>) -> Self {
        Error(Box::new(Inner {
            kind,
            offset,
            path: path.into(),
        }))
    }

    /// A limit of [`crate::Limits`] exceeded: `what` counted past `max`.
    #[cold]
    pub(crate) fn limit(what: &'static str, max: usize, offset: usize, path: &str) -> Self {
        Error::new(ErrorKind::LimitExceeded { what, max }, offset, path)
    }

    /// Prefixes the path with `outer` (`outer.path`), for errors from nested messages.
    #[cold]
    pub(crate) fn within(mut self, outer: &str) -> Self {
        self.0.path = if self.0.path.is_empty() {
            outer.to_owned()
        } else {
            format!("{outer}.{}", self.0.path)
        };
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// Byte offset in the (decompressed) profile.
    pub fn offset(&self) -> usize {
        self.0.offset
    }

    /// The message field path, e.g. `Profile.sample[3].location_id`.
    pub fn path(&self) -> &str {
        &self.0.path
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Truncated => f.write_str("truncated field"),
            ErrorKind::VarintOverflow => f.write_str("varint longer than 10 bytes"),
            ErrorKind::InvalidWireType(w) => write!(f, "invalid wire type {w}"),
            ErrorKind::InvalidFieldNumber => f.write_str("invalid field number 0"),
            ErrorKind::InvalidUtf8 => f.write_str("string is not valid UTF-8"),
            ErrorKind::StringIndexOutOfRange(i) => write!(f, "string index {i} out of range"),
            ErrorKind::ValueCount { expected, found } => {
                write!(f, "{found} values for {expected} sample types")
            }
            ErrorKind::NegativeValue(v) => write!(f, "negative value {v}"),
            ErrorKind::NoSuchSampleType { index, count } => {
                write!(f, "sample type {index} asked of a profile with {count}")
            }
            ErrorKind::SumOverflow => f.write_str("sum of values does not fit in 64 bits"),
            ErrorKind::Gzip(e) => write!(f, "failed to decompress gzip: {e}"),
            ErrorKind::InvalidLabel(e) => f.write_str(e),
            ErrorKind::LimitExceeded { what, max } => {
                write!(f, "{what} exceeds the limit of {max}")
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.path.is_empty() {
            write!(f, "{} (at offset {:#x})", self.0.kind, self.0.offset)
        } else {
            write!(
                f,
                "{}: {} (at offset {:#x})",
                self.0.path, self.0.kind, self.0.offset
            )
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.0.kind)
            .field("path", &self.0.path)
            .field("offset", &self.0.offset)
            .finish()
    }
}

impl std::error::Error for Error {}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
