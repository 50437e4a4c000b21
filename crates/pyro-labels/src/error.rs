//! The error type of this crate.

use std::fmt;

/// An invalid series name, label or query.
///
/// `Display` gives OG Pyroscope's message (`invalid application name: my app: character is not
/// allowed: ' '`), which the server puts in its 400 responses; [`Error::offset`] is the byte
/// offset in the parsed text where the problem was found, when there is one.
#[derive(Clone, PartialEq, Eq)]
pub struct Error(Box<Inner>);

#[derive(Clone, PartialEq, Eq)]
struct Inner {
    kind: ErrorKind,
    offset: Option<usize>,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The app name is empty.
    AppNameRequired,
    /// The app name has a character outside `[A-Za-z0-9_.\-/]`.
    InvalidAppName {
        /// The name (for queries: up to and including the bad character, as OG reports it).
        name: String,
        /// The character (`None` when OG's message names no character).
        ch: Option<char>,
    },
    /// A label key is empty.
    LabelKeyRequired,
    /// A label key has a character outside `[A-Za-z0-9_.]`.
    InvalidLabelKey {
        /// The key.
        key: String,
        /// The character.
        ch: char,
    },
    /// A label key is reserved (`__name__`).
    ReservedLabelKey {
        /// The key.
        key: String,
    },
    /// A label name is longer than the limit.
    LabelNameTooLong {
        /// The name.
        name: String,
        /// The limit in bytes.
        max: usize,
    },
    /// A label value is longer than the limit.
    LabelValueTooLong {
        /// The label's name.
        name: String,
        /// The limit in bytes.
        max: usize,
    },
    /// A series has more labels than the limit.
    TooManyLabels {
        /// How many it has.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A query has more matchers, regex matchers or regex bytes than the query limits.
    QueryTooLarge {
        /// What is counted.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// A query is not `app{matchers}`.
    InvalidQuerySyntax {
        /// What was expected.
        detail: String,
    },
    /// The text between a query's braces holds no matcher.
    InvalidMatchersSyntax {
        /// The text.
        text: String,
    },
    /// A matcher's value is not a double-quoted string (or is empty).
    InvalidTagValueSyntax {
        /// The text.
        text: String,
    },
    /// A matcher has no operator.
    MatchOperatorRequired {
        /// The matcher.
        text: String,
    },
    /// A matcher's operator is not `=`, `!=`, `=~` or `!~`.
    UnknownMatchOperator {
        /// The matcher.
        text: String,
    },
    /// A regex matcher does not compile.
    InvalidRegex {
        /// The pattern.
        pattern: String,
        /// The regex engine's message.
        message: String,
    },
}

impl Error {
    #[cold]
    pub(crate) fn new(kind: ErrorKind, offset: Option<usize>) -> Self {
        Error(Box::new(Inner { kind, offset }))
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// Byte offset in the parsed text, when the error points at one place.
    pub fn offset(&self) -> Option<usize> {
        self.0.offset
    }
}

/// Writes `c` the way Go's `%q` prints a rune.
pub(crate) fn go_quote(f: &mut fmt::Formatter<'_>, c: char) -> fmt::Result {
    match c {
        '\'' => f.write_str("'\\''"),
        '\\' => f.write_str("'\\\\'"),
        '\x07' => f.write_str("'\\a'"),
        '\x08' => f.write_str("'\\b'"),
        '\x0c' => f.write_str("'\\f'"),
        '\n' => f.write_str("'\\n'"),
        '\r' => f.write_str("'\\r'"),
        '\t' => f.write_str("'\\t'"),
        '\x0b' => f.write_str("'\\v'"),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "'\\x{:02x}'", c as u32),
        c if c.is_control() => {
            if (c as u32) <= 0xffff {
                write!(f, "'\\u{:04x}'", c as u32)
            } else {
                write!(f, "'\\U{:08x}'", c as u32)
            }
        }
        c => write!(f, "'{c}'"),
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::AppNameRequired => f.write_str("application name is required"),
            ErrorKind::InvalidAppName { name, ch: Some(c) } => {
                write!(
                    f,
                    "invalid application name: {name}: character is not allowed: "
                )?;
                go_quote(f, *c)
            }
            ErrorKind::InvalidAppName { name, ch: None } => {
                write!(f, "invalid application name: {name}")
            }
            ErrorKind::LabelKeyRequired => f.write_str("tag key is required"),
            ErrorKind::InvalidLabelKey { key, ch } => {
                write!(f, "invalid tag key: {key}: character is not allowed: ")?;
                go_quote(f, *ch)
            }
            ErrorKind::ReservedLabelKey { key } => write!(f, "tag key is reserved: {key}"),
            ErrorKind::LabelNameTooLong { name, max } => write!(
                f,
                "label name too long: {}: {} bytes exceeds the limit of {max}",
                clip(name),
                name.len()
            ),
            ErrorKind::LabelValueTooLong { name, max } => write!(
                f,
                "label value too long: {}: exceeds the limit of {max} bytes",
                clip(name)
            ),
            ErrorKind::TooManyLabels { count, max } => {
                write!(f, "too many labels: {count} exceeds the limit of {max}")
            }
            ErrorKind::QueryTooLarge { what, max } => {
                write!(f, "query too large: more than {max} {what}")
            }
            ErrorKind::InvalidQuerySyntax { detail } => {
                write!(f, "invalid query syntax: {detail}")
            }
            ErrorKind::InvalidMatchersSyntax { text } => {
                write!(f, "invalid tag matchers syntax: {text}")
            }
            ErrorKind::InvalidTagValueSyntax { text } => {
                write!(f, "invalid tag value syntax: {text}")
            }
            ErrorKind::MatchOperatorRequired { text } => {
                write!(f, "match operator is required: {text}")
            }
            ErrorKind::UnknownMatchOperator { text } => {
                write!(f, "unknown tag match operator: {text}")
            }
            ErrorKind::InvalidRegex { pattern, message } => write!(f, "{message}: {pattern}"),
        }
    }
}

/// At most 64 bytes of `s` (on a char boundary) for messages, with `…` when cut.
fn clip(s: &str) -> String {
    if s.len() <= 64 {
        return s.to_owned();
    }
    let mut end = 64;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.kind, f)
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
