//! The FlameQL query grammar of `/render?query=`: `app{k="v",k!="v",k=~"re",k!~"re"}`.

use std::fmt;

use regex::{Regex, RegexBuilder};

use crate::error::{Error, ErrorKind, Result};
use crate::name::{NAME_LABEL, SeriesName, is_app_name_char, is_label_key_char};

/// Largest compiled size of one regex matcher (bounds memory for hostile queries).
pub const MAX_REGEX_SIZE: usize = 1 << 20;
/// Most matchers in one query (a series has at most 30 labels by default; OG has no limit, and
/// thousands of matchers made one request take minutes).
pub const MAX_MATCHERS: usize = 64;
/// Most regex matchers (`=~`, `!~`) in one query: with [`MAX_REGEX_SIZE`] each, compiled regexes
/// of one query stay under 16 MiB.
pub const MAX_REGEX_MATCHERS: usize = 16;
/// Most bytes of regex patterns in one query, all matchers together.
pub const MAX_REGEX_PATTERN_BYTES: usize = 4096;
/// Deepest nesting of a regex pattern (groups, repetitions of repetitions). The regex crate's
/// default, 250, let a 200-byte pattern of stacked `+` overflow a 2 MiB thread stack while
/// parsing in a debug build (found by `labels_parse_query`); label matchers need far less.
pub const MAX_REGEX_NESTING: u32 = 64;

/// A matcher's operator, in OG's priority order (negations first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchOp {
    /// `!=`
    NotEqual,
    /// `!~`
    NotEqualRegex,
    /// `=`
    Equal,
    /// `=~`
    EqualRegex,
}

impl MatchOp {
    /// Whether the operator negates (a series without the label matches).
    pub fn is_negation(self) -> bool {
        matches!(self, MatchOp::NotEqual | MatchOp::NotEqualRegex)
    }

    /// Whether the operator matches a regex (`=~`, `!~`).
    pub fn is_regex(self) -> bool {
        matches!(self, MatchOp::EqualRegex | MatchOp::NotEqualRegex)
    }

    fn as_str(self) -> &'static str {
        match self {
            MatchOp::NotEqual => "!=",
            MatchOp::NotEqualRegex => "!~",
            MatchOp::Equal => "=",
            MatchOp::EqualRegex => "=~",
        }
    }
}

/// One `key op "value"` matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    key: String,
    value: String,
    op: MatchOp,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key && self.value == other.value && self.op == other.op
    }
}

impl Matcher {
    /// The label key.
    pub fn key(&self) -> &str {
        &self.key
    }
    /// The value or pattern, unquoted.
    pub fn value(&self) -> &str {
        &self.value
    }
    /// The operator.
    pub fn op(&self) -> MatchOp {
        self.op
    }

    /// Whether a label value satisfies the matcher; `None` is a series without the label, which
    /// only negations accept. Regexes match anywhere in the value, as Go's `regexp.Match` does
    /// in OG.
    pub fn matches(&self, value: Option<&str>) -> bool {
        match (self.op, value) {
            (MatchOp::Equal, Some(v)) => v == self.value,
            (MatchOp::NotEqual, Some(v)) => v != self.value,
            (MatchOp::EqualRegex, Some(v)) => self.regex.as_ref().is_some_and(|r| r.is_match(v)),
            (MatchOp::NotEqualRegex, Some(v)) => {
                !self.regex.as_ref().is_some_and(|r| r.is_match(v))
            }
            (op, None) => op.is_negation(),
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}\"{}\"", self.key, self.op.as_str(), self.value)
    }
}

/// A parsed FlameQL query.
///
/// ```
/// use pyro_labels::{Query, SeriesName};
///
/// let q = Query::parse(r#"app.cpu{env="prod", region=~"eu-.*", host!="a"}"#)?;
/// assert_eq!(q.app(), "app.cpu");
/// assert!(q.matches(&SeriesName::parse("app.cpu{env=prod,region=eu-west}")?));
/// assert!(!q.matches(&SeriesName::parse("app.cpu{env=prod,region=us}")?));
/// assert!(!q.matches(&SeriesName::parse("app.cpu{env=prod,region=eu-1,host=a}")?));
/// # Ok::<(), pyro_labels::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    app: String,
    matchers: Vec<Matcher>,
    text: String,
}

impl Query {
    /// Parses a query exactly as OG's `flameql.ParseQuery` does (with GP's `.` in keys and `/`
    /// in app names). Matchers are sorted negations first.
    ///
    /// # Errors
    /// OG's messages: `application name is required`, `invalid application name: …`,
    /// `invalid query syntax: expected } at the end`, `invalid tag matchers syntax: …`,
    /// `invalid tag key: …`, `tag key is reserved: __name__`, `invalid tag value syntax: …`,
    /// `match operator is required: …`, `unknown tag match operator: …`, or a regex error.
    pub fn parse(input: &str) -> Result<Query> {
        let s = input.trim();
        let base = offset_in(input, s);
        for (offset, c) in s.char_indices() {
            if c == '{' {
                if offset == 0 {
                    return Err(Error::new(ErrorKind::AppNameRequired, Some(base)));
                }
                if !s.ends_with('}') {
                    return Err(Error::new(
                        ErrorKind::InvalidQuerySyntax {
                            detail: "expected } at the end".into(),
                        },
                        Some(base + s.len()),
                    ));
                }
                let inner = &s[offset + 1..s.len() - 1];
                let matchers = parse_matchers(inner, base + offset + 1)?;
                return Ok(Query {
                    app: s[..offset].to_owned(),
                    matchers,
                    text: s.to_owned(),
                });
            }
            if !is_app_name_char(c) {
                return Err(Error::new(
                    ErrorKind::InvalidAppName {
                        name: s[..offset + c.len_utf8()].to_owned(),
                        ch: None,
                    },
                    Some(base + offset),
                ));
            }
        }
        if s.is_empty() {
            return Err(Error::new(ErrorKind::AppNameRequired, Some(base)));
        }
        Ok(Query {
            app: s.to_owned(),
            matchers: Vec::new(),
            text: s.to_owned(),
        })
    }

    /// The app name.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// The matchers, negations first.
    pub fn matchers(&self) -> &[Matcher] {
        &self.matchers
    }

    /// Whether a series has this app name and satisfies every matcher.
    pub fn matches(&self, series: &SeriesName) -> bool {
        series.app() == self.app && self.matchers.iter().all(|m| m.matches(series.get(&m.key)))
    }
}

impl fmt::Display for Query {
    /// The trimmed original text (OG echoes it in `/render`'s `metadata.query`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Query {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

fn offset_in(outer: &str, inner: &str) -> usize {
    (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize)
}

/// OG's `split`: commas outside double quotes (a quote preceded by `\` does not close).
fn split(s: &str) -> Vec<&str> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut x = 0;
    let mut quoted = false;
    for i in 0..b.len() {
        match b[i] {
            b',' if !quoted => {
                out.push(&s[x..i]);
                x = i + 1;
            }
            b'"' => {
                if quoted && i > 0 && b[i - 1] != b'\\' {
                    quoted = false;
                    continue;
                }
                quoted = true;
            }
            _ => {}
        }
    }
    out.push(&s[x..]);
    out
}

fn parse_matchers(s: &str, base: usize) -> Result<Vec<Matcher>> {
    let mut matchers = Vec::new();
    let (mut regexes, mut pattern_bytes) = (0usize, 0usize);
    for part in split(s) {
        if part.is_empty() {
            continue;
        }
        let t = part.trim();
        if matchers.len() == MAX_MATCHERS {
            return Err(too_large("matchers", MAX_MATCHERS, base + offset_in(s, t)));
        }
        let m = parse_matcher(t, base + offset_in(s, t))?;
        if m.regex.is_some() {
            regexes += 1;
            pattern_bytes += m.value.len();
            if regexes > MAX_REGEX_MATCHERS {
                return Err(too_large(
                    "regex matchers",
                    MAX_REGEX_MATCHERS,
                    base + offset_in(s, t),
                ));
            }
            if pattern_bytes > MAX_REGEX_PATTERN_BYTES {
                return Err(too_large(
                    "bytes of regex patterns",
                    MAX_REGEX_PATTERN_BYTES,
                    base + offset_in(s, t),
                ));
            }
        }
        matchers.push(m);
    }
    if matchers.is_empty() && !s.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidMatchersSyntax { text: s.to_owned() },
            Some(base),
        ));
    }
    matchers.sort_by_key(|m| m.op);
    Ok(matchers)
}

#[cold]
fn too_large(what: &'static str, max: usize, at: usize) -> Error {
    Error::new(ErrorKind::QueryTooLarge { what, max }, Some(at))
}

fn value_err(text: &str, at: usize) -> Error {
    Error::new(
        ErrorKind::InvalidTagValueSyntax {
            text: text.to_owned(),
        },
        Some(at),
    )
}

fn parse_matcher(s: &str, base: usize) -> Result<Matcher> {
    let b = s.as_bytes();
    let mut op = None;
    let mut offset = 0;
    for (i, c) in s.char_indices() {
        offset = i;
        let r = s.len() - (i + 1);
        match c {
            '=' => {
                op = Some(if r <= 2 {
                    return Err(value_err(s, base + i));
                } else if b[i + 1] == b'"' {
                    MatchOp::Equal
                } else if b[i + 1] == b'~' {
                    if r <= 3 {
                        return Err(value_err(s, base + i));
                    }
                    MatchOp::EqualRegex
                } else if b[i + 2] != b'"' {
                    return Err(value_err(s, base + i));
                } else {
                    return Err(Error::new(
                        ErrorKind::UnknownMatchOperator { text: s.to_owned() },
                        Some(base + i),
                    ));
                });
                break;
            }
            '!' => {
                if r <= 3 {
                    return Err(value_err(s, base + i));
                }
                op = Some(match b[i + 1] {
                    b'=' => MatchOp::NotEqual,
                    b'~' => MatchOp::NotEqualRegex,
                    _ => {
                        return Err(Error::new(
                            ErrorKind::UnknownMatchOperator { text: s.to_owned() },
                            Some(base + i),
                        ));
                    }
                });
                break;
            }
            c if !is_label_key_char(c) => {
                return Err(Error::new(
                    ErrorKind::InvalidLabelKey {
                        key: s.to_owned(),
                        ch: c,
                    },
                    Some(base + i),
                ));
            }
            _ => {}
        }
    }
    let key = &s[..offset];
    if key == NAME_LABEL {
        return Err(Error::new(
            ErrorKind::ReservedLabelKey {
                key: key.to_owned(),
            },
            Some(base),
        ));
    }
    let Some(op) = op else {
        return Err(Error::new(
            ErrorKind::MatchOperatorRequired { text: s.to_owned() },
            Some(base),
        ));
    };
    let quoted = match op {
        MatchOp::Equal => &s[offset + 1..],
        _ => &s[offset + 2..],
    };
    let value = match quoted.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(v) if quoted.len() >= 2 => v,
        _ => return Err(value_err(quoted, base + offset_in(s, quoted))),
    };
    if matches!(op, MatchOp::EqualRegex | MatchOp::NotEqualRegex)
        && value.len() > MAX_REGEX_PATTERN_BYTES
    {
        return Err(too_large(
            "bytes of regex patterns",
            MAX_REGEX_PATTERN_BYTES,
            base + offset_in(s, value),
        ));
    }
    let regex = match op {
        MatchOp::EqualRegex | MatchOp::NotEqualRegex => Some(
            RegexBuilder::new(value)
                .size_limit(MAX_REGEX_SIZE)
                .nest_limit(MAX_REGEX_NESTING)
                .build()
                .map_err(|e| {
                    Error::new(
                        ErrorKind::InvalidRegex {
                            pattern: value.to_owned(),
                            message: regex_message(&e),
                        },
                        Some(base + offset_in(s, value)),
                    )
                })?,
        ),
        _ => None,
    };
    Ok(Matcher {
        key: key.to_owned(),
        value: value.to_owned(),
        op,
        regex,
    })
}

fn regex_message(e: &regex::Error) -> String {
    match e {
        regex::Error::CompiledTooBig(n) => format!("regex too large (limit {n} bytes)"),
        other => format!(
            "error parsing regexp: {}",
            other.to_string().lines().last().unwrap_or("")
        ),
    }
}
