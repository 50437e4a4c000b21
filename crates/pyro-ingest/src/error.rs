//! The one error type of an ingest request.

use std::error::Error as StdError;
use std::fmt;

/// What went wrong, coarsely: enough to pick an HTTP status or a Connect code without looking at
/// the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The series name (`name`, push `service_name` or a label) is invalid: HTTP 400.
    Name,
    /// The body cannot be read in its format: HTTP 422.
    Body,
    /// A part the format requires is missing (the JFR form's `jfr` part): HTTP 422.
    MissingPart,
    /// A size limit on decompressed data was passed (a gzip bomb, a huge recording): HTTP 413.
    TooLarge,
    /// Another request limit was passed (series per request, tree nodes, stack depth…): HTTP 422.
    LimitExceeded,
    /// A format this build does not read (`speedscope`): HTTP 422.
    Unsupported,
    /// A push body whose content type is neither protobuf nor JSON: Connect `invalid_argument`.
    ContentType,
    /// The caller gave up (its [`Request::cancel`](crate::Request::cancel) flag was set):
    /// reading stopped at the next part, chunk or sample.
    Cancelled,
    /// The body's source (a file or pipe given to [`decode_jfr_read`](crate::decode_jfr_read))
    /// could not be read.
    Io,
}

/// Why an upload cannot become series: a [`kind`](Error::kind), the byte offset in the body
/// where there is one, a message as the server reports it, and the reader's own error as
/// [`source`](StdError::source).
pub struct Error(Box<Inner>);

struct Inner {
    kind: ErrorKind,
    offset: Option<u64>,
    message: String,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl Error {
    #[cold]
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error(Box::new(Inner {
            kind,
            offset: None,
            message: message.into(),
            source: None,
        }))
    }

    /// An error whose message is `prefix` then the reader's own message, chaining the reader's
    /// error as its source.
    #[cold]
    pub(crate) fn wrap<E>(kind: ErrorKind, prefix: &str, source: E, offset: Option<u64>) -> Error
    where
        E: StdError + Send + Sync + 'static,
    {
        Error(Box::new(Inner {
            kind,
            offset,
            message: format!("{prefix}{source}"),
            source: Some(Box::new(source)),
        }))
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The byte offset in the (decompressed) body or part where reading failed, when the reader
    /// knows it.
    pub fn offset(&self) -> Option<u64> {
        self.0.offset
    }

    /// The message as the server reports it (the reader's message with its line and offset).
    pub fn message(&self) -> &str {
        &self.0.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.0.kind)
            .field("offset", &self.0.offset)
            .field("message", &self.0.message)
            .finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0
            .source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
