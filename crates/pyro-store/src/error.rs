//! The store's one error type.

use std::fmt;

/// What went wrong, as a caller decides on it (an HTTP status, a retry, an exit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The database (redb) or the file system failed: a full disk, a failing device, a lock.
    /// Writes should be retried after [`crate::Store::reopen`].
    Io,
    /// Stored bytes that do not decode: a damaged file.
    Corrupt,
    /// The data dir was written by a newer build, or is otherwise not ours to open.
    Format,
    /// A request's values overflow 64 bits (as sent, or once merged or converted to its
    /// profile type's unit): the client's data, not a server fault.
    Overflow,
    /// A read's answer would exceed its memory budget.
    Budget,
    /// The process's memory budget is spent by other requests now: retry later.
    Busy,
    /// A write would create more series than its tenant may have
    /// ([`crate::Store::set_max_series_per_tenant`]).
    SeriesLimit,
    /// A read was cancelled (its client left, or its request timed out).
    Cancelled,
    /// The writer thread has stopped, or the database is being reopened.
    Unavailable,
}

/// A storage failure: its kind and a message that names what failed.
#[derive(Debug, Clone)]
pub struct StoreError {
    kind: ErrorKind,
    message: Box<str>,
}

impl StoreError {
    /// An error of `kind`.
    #[cold]
    pub fn new(kind: ErrorKind, message: impl fmt::Display) -> StoreError {
        StoreError {
            kind,
            message: message.to_string().into_boxed_str(),
        }
    }

    /// Its kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Its message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

/// An I/O (database) error.
#[cold]
pub(crate) fn io(e: impl fmt::Display) -> StoreError {
    StoreError::new(ErrorKind::Io, e)
}

/// A corrupt entry.
#[cold]
pub(crate) fn corrupt(e: impl fmt::Display) -> StoreError {
    StoreError::new(ErrorKind::Corrupt, format_args!("corrupt entry: {e}"))
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            #[cold]
            fn from(e: $t) -> StoreError {
                io(e)
            }
        }
    )*};
}

from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);
