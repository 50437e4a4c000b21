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
    /// Prometheus semantics ([`Selector`]): a missing label is the empty value, regexes match
    /// the whole value. OG's ([`Query`]): a missing label matches negations only, regexes match
    /// anywhere.
    prometheus: bool,
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
    /// With [`Selector`]'s Prometheus semantics a missing label is the empty value, so
    /// `k=""` selects the series without `k` and `k!=""` those with it, and regexes are
    /// anchored at both ends.
    pub fn matches(&self, value: Option<&str>) -> bool {
        let value = if self.prometheus {
            Some(value.unwrap_or(""))
        } else {
            value
        };
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
        MatchOp::EqualRegex | MatchOp::NotEqualRegex => {
            Some(compile(value, value, base + offset_in(s, value))?)
        }
        _ => None,
    };
    Ok(Matcher {
        key: key.to_owned(),
        value: value.to_owned(),
        op,
        regex,
        prometheus: false,
    })
}

/// `pattern` compiled within the regex limits; an error names `value` (the pattern as written)
/// at byte `at`.
fn compile(pattern: &str, value: &str, at: usize) -> Result<Regex> {
    RegexBuilder::new(pattern)
        .size_limit(MAX_REGEX_SIZE)
        .nest_limit(MAX_REGEX_NESTING)
        .build()
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidRegex {
                    pattern: value.to_owned(),
                    message: regex_message(&e),
                },
                Some(at),
            )
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

/// A Prometheus label selector, as Grafana Pyroscope's querier reads `label_selector` and
/// `matchers` (Prometheus' `parser.ParseMetricSelector`): `{k="v", k!="v", k=~"re", k!~"re"}`,
/// optionally after a metric name (`name{…}` is `{__name__="name", …}`); values double-quoted
/// (Go escapes), single-quoted or in backticks; empty values allowed; a trailing comma allowed.
/// Matching follows Prometheus: a missing label is the empty value and regexes match the whole
/// value (`^(?:re)$`). Bounded as [`Query`] is ([`MAX_MATCHERS`], [`MAX_REGEX_MATCHERS`],
/// [`MAX_REGEX_PATTERN_BYTES`]).
///
/// ```
/// use pyro_labels::Selector;
///
/// let s = Selector::parse(r#"{service_name="api", region!="", pod=~"web-.*"}"#)?;
/// let labels = |k: &str| match k {
///     "service_name" => Some("api"),
///     "region" => Some("eu"),
///     "pod" => Some("web-1"),
///     _ => None,
/// };
/// assert!(s.matches(labels));
/// // `region!=""` needs the label; `pod=~"web-.*"` is anchored.
/// assert!(!s.matches(|k| if k == "region" { None } else { labels(k) }));
/// assert!(!s.matches(|k| if k == "pod" { Some("my-web-1") } else { labels(k) }));
/// # Ok::<(), pyro_labels::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Selector {
    matchers: Vec<Matcher>,
}

impl Selector {
    /// Parses a selector; an empty text selects everything.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidMatchersSyntax`] (with the byte offset) for anything that is not a
    /// selector, [`ErrorKind::InvalidTagValueSyntax`] for a bad string,
    /// [`ErrorKind::InvalidRegex`], [`ErrorKind::QueryTooLarge`].
    pub fn parse(input: &str) -> Result<Selector> {
        let mut p = SelParser {
            s: input,
            b: input.as_bytes(),
            i: 0,
        };
        let mut matchers = Vec::new();
        let (mut regexes, mut pattern_bytes) = (0usize, 0usize);
        p.ws();
        if p.i == p.b.len() {
            return Ok(Selector { matchers });
        }
        if p.peek() != Some(b'{') {
            let at = p.i;
            let name = p.ident().ok_or_else(|| p.syntax(at))?;
            matchers.push(Matcher {
                key: NAME_LABEL.to_owned(),
                value: name.to_owned(),
                op: MatchOp::Equal,
                regex: None,
                prometheus: true,
            });
            p.ws();
            if p.i == p.b.len() {
                return Ok(Selector { matchers });
            }
        }
        if p.peek() != Some(b'{') {
            return Err(p.syntax(p.i));
        }
        p.i += 1;
        loop {
            p.ws();
            if p.peek() == Some(b'}') {
                p.i += 1;
                break;
            }
            let at = p.i;
            if matchers.len() == MAX_MATCHERS {
                return Err(too_large("matchers", MAX_MATCHERS, at));
            }
            let key = match p.peek() {
                Some(b'"') => p.string()?,
                _ => p.ident().ok_or_else(|| p.syntax(at))?.to_owned(),
            };
            p.ws();
            let op = match (p.peek(), p.b.get(p.i + 1)) {
                (Some(b'='), Some(b'~')) => (MatchOp::EqualRegex, 2),
                (Some(b'!'), Some(b'~')) => (MatchOp::NotEqualRegex, 2),
                (Some(b'!'), Some(b'=')) => (MatchOp::NotEqual, 2),
                (Some(b'='), _) => (MatchOp::Equal, 1),
                _ => return Err(p.syntax(p.i)),
            };
            p.i += op.1;
            let op = op.0;
            p.ws();
            let value_at = p.i;
            let value = p.string()?;
            let regex = if op.is_regex() {
                regexes += 1;
                pattern_bytes += value.len();
                if regexes > MAX_REGEX_MATCHERS {
                    return Err(too_large("regex matchers", MAX_REGEX_MATCHERS, at));
                }
                if pattern_bytes > MAX_REGEX_PATTERN_BYTES {
                    return Err(too_large(
                        "bytes of regex patterns",
                        MAX_REGEX_PATTERN_BYTES,
                        value_at,
                    ));
                }
                Some(compile(&format!("^(?:{value})$"), &value, value_at)?)
            } else {
                None
            };
            matchers.push(Matcher {
                key,
                value,
                op,
                regex,
                prometheus: true,
            });
            p.ws();
            match p.peek() {
                Some(b',') => p.i += 1,
                Some(b'}') => {}
                _ => return Err(p.syntax(p.i)),
            }
        }
        p.ws();
        if p.i != p.b.len() {
            return Err(p.syntax(p.i));
        }
        Ok(Selector { matchers })
    }

    /// The matchers, in the order written.
    pub fn matchers(&self) -> &[Matcher] {
        &self.matchers
    }

    /// The selector without the matchers of label `key` (`__name__` of `name{…}`, say).
    pub fn without(&self, key: &str) -> Selector {
        Selector {
            matchers: self
                .matchers
                .iter()
                .filter(|m| m.key != key)
                .cloned()
                .collect(),
        }
    }

    /// Whether a series whose labels `get` returns satisfies every matcher.
    pub fn matches<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.matchers.iter().all(|m| m.matches(get(&m.key)))
    }
}

/// `{k="v", …}` with Go escapes, which [`Selector::parse`] reads back to the same matchers.
impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted = go_quote;
        f.write_str("{")?;
        for (i, m) in self.matchers.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            let plain = m.key.bytes().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic()
                    || c == b'_'
                    || c == b':'
                    || (i > 0 && (c.is_ascii_digit() || c == b'.'))
            }) && !m.key.is_empty();
            if plain {
                f.write_str(&m.key)?;
            } else {
                f.write_str(&quoted(&m.key))?;
            }
            write!(f, "{}{}", m.op.as_str(), quoted(&m.value))?;
        }
        f.write_str("}")
    }
}

impl std::str::FromStr for Selector {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// The cursor of [`Selector::parse`].
struct SelParser<'s> {
    s: &'s str,
    b: &'s [u8],
    i: usize,
}

impl<'s> SelParser<'s> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    /// A label or metric name: `[A-Za-z_:][A-Za-z0-9_:.]*`.
    fn ident(&mut self) -> Option<&'s str> {
        let start = self.i;
        while let Some(c) = self.peek() {
            let ok = c.is_ascii_alphabetic()
                || c == b'_'
                || c == b':'
                || (self.i > start && (c.is_ascii_digit() || c == b'.'));
            if !ok {
                break;
            }
            self.i += 1;
        }
        (self.i > start).then(|| &self.s[start..self.i])
    }

    #[cold]
    fn syntax(&self, at: usize) -> Error {
        Error::new(
            ErrorKind::InvalidMatchersSyntax {
                text: self.s.to_owned(),
            },
            Some(at),
        )
    }

    /// A quoted string: `"…"` and `'…'` with Go's escapes, or a raw `` `…` ``.
    fn string(&mut self) -> Result<String> {
        let start = self.i;
        let bad = |at: usize| value_err(&self.s[start..], at);
        let Some(quote) = self.peek().filter(|q| matches!(q, b'"' | b'\'' | b'`')) else {
            return Err(bad(start));
        };
        self.i += 1;
        let mut out = String::new();
        loop {
            let rest = &self.s[self.i..];
            let Some(c) = rest.chars().next() else {
                return Err(bad(start));
            };
            self.i += c.len_utf8();
            if c as u32 == u32::from(quote) {
                return Ok(out);
            }
            if c != '\\' || quote == b'`' {
                out.push(c);
                continue;
            }
            let Some(e) = self.s[self.i..].chars().next() else {
                return Err(bad(start));
            };
            self.i += e.len_utf8();
            match e {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'a' => out.push('\u{7}'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'v' => out.push('\u{b}'),
                '\\' | '"' | '\'' => out.push(e),
                'x' | 'u' | 'U' => {
                    let n = match e {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let hex = self.s.get(self.i..self.i + n).ok_or_else(|| bad(self.i))?;
                    let v = u32::from_str_radix(hex, 16).map_err(|_| bad(self.i))?;
                    self.i += n;
                    out.push(char::from_u32(v).ok_or_else(|| bad(self.i))?);
                }
                _ => return Err(bad(self.i)),
            }
        }
    }
}

/// Go's `%q` of a string (what OG and Grafana Pyroscope quote values with in messages, and what
/// [`Selector::parse`] reads back): double-quoted, with `"`, `\`, `\n`, `\r`, `\t` and other
/// control characters escaped.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
