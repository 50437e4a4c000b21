//! Series names: OG Pyroscope's `app.name{k=v,k2=v2}` grammar and its normalized form.

use std::collections::BTreeMap;
use std::fmt;

use nom::IResult;
use nom::Parser;
use nom::bytes::complete::take_till;
use nom::character::complete::anychar;
use nom::combinator::opt;

use crate::error::{Error, ErrorKind, Result};

/// The reserved label that holds the app name.
pub const NAME_LABEL: &str = "__name__";
/// Default longest label name, in bytes (Grafana Pyroscope's `max-length-label-name`).
pub const DEFAULT_MAX_LABEL_NAME_LEN: usize = 1024;
/// Default longest label value (and app name), in bytes (`max-length-label-value`).
pub const DEFAULT_MAX_LABEL_VALUE_LEN: usize = 2048;
/// Default most labels per series, `__name__` not counted (`max-label-names-per-series`).
pub const DEFAULT_MAX_LABELS: usize = 30;

/// Limits on one series' labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    max_name_len: usize,
    max_value_len: usize,
    max_labels: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_name_len: DEFAULT_MAX_LABEL_NAME_LEN,
            max_value_len: DEFAULT_MAX_LABEL_VALUE_LEN,
            max_labels: DEFAULT_MAX_LABELS,
        }
    }
}

impl Limits {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Longest label name in bytes.
    pub fn max_name_len(mut self, v: usize) -> Self {
        self.max_name_len = v;
        self
    }
    /// Longest label value (and app name) in bytes.
    pub fn max_value_len(mut self, v: usize) -> Self {
        self.max_value_len = v;
        self
    }
    /// Most labels per series (`__name__` not counted).
    pub fn max_labels(mut self, v: usize) -> Self {
        self.max_labels = v;
        self
    }
}

/// Whether `c` may appear in a label key: `[A-Za-z0-9_.]` (dots as current clients send
/// `otel.scope.name`).
pub fn is_label_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.'
}

/// Whether `c` may appear in an app name: `[A-Za-z0-9_.\-/]`.
pub fn is_app_name_char(c: char) -> bool {
    is_label_key_char(c) || c == '-' || c == '/'
}

/// Checks an app name.
///
/// # Errors
/// Empty, or a character outside [`is_app_name_char`].
pub fn validate_app_name(name: &str) -> Result<()> {
    validate_app_name_at(name, None)
}

fn validate_app_name_at(name: &str, base: Option<usize>) -> Result<()> {
    if name.is_empty() {
        return Err(Error::new(ErrorKind::AppNameRequired, base));
    }
    if let Some((i, c)) = name.char_indices().find(|&(_, c)| !is_app_name_char(c)) {
        return Err(Error::new(
            ErrorKind::InvalidAppName {
                name: name.to_owned(),
                ch: Some(c),
            },
            base.map(|b| b + i),
        ));
    }
    Ok(())
}

/// Checks a label key (not the reserved `__name__`).
///
/// # Errors
/// Empty, a character outside [`is_label_key_char`], or reserved.
pub fn validate_label_key(key: &str) -> Result<()> {
    validate_label_key_at(key, None)?;
    if key == NAME_LABEL {
        return Err(Error::new(
            ErrorKind::ReservedLabelKey {
                key: key.to_owned(),
            },
            None,
        ));
    }
    Ok(())
}

fn validate_label_key_at(key: &str, base: Option<usize>) -> Result<()> {
    if key.is_empty() {
        return Err(Error::new(ErrorKind::LabelKeyRequired, base));
    }
    if let Some((i, c)) = key.char_indices().find(|&(_, c)| !is_label_key_char(c)) {
        return Err(Error::new(
            ErrorKind::InvalidLabelKey {
                key: key.to_owned(),
                ch: c,
            },
            base.map(|b| b + i),
        ));
    }
    Ok(())
}

/// Which side wins when two label sets name the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precedence {
    /// Labels already in the series are kept (pprof: request labels win over sample labels).
    KeepExisting,
    /// Incoming labels overwrite (JFR: context labels win over request labels).
    Overwrite,
}

/// A series name: an app name plus labels, e.g. `my.app.cpu{env=staging}`.
///
/// [`SeriesName::parse`] follows OG Pyroscope's `segment.ParseKey` (values are trimmed and not
/// validated, keys without `=` are dropped, the last duplicate wins, text after `}` is ignored)
/// with this project's character rules and limits. `Display` gives the normalized storage key
/// `app{k1=v1,k2=v2}`, keys sorted, braces always present.
///
/// ```
/// use pyro_labels::SeriesName;
///
/// let n = SeriesName::parse("test.app{foo=bar, baz = qux }")?;
/// assert_eq!(n.app(), "test.app");
/// assert_eq!(n.to_string(), "test.app{baz=qux,foo=bar}");
/// assert_eq!(n.with_suffix("cpu").to_string(), "test.app.cpu{baz=qux,foo=bar}");
///
/// let err = SeriesName::parse("my app").unwrap_err();
/// assert_eq!(err.to_string(), "invalid application name: my app: character is not allowed: ' '");
/// # Ok::<(), pyro_labels::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesName {
    app: String,
    labels: BTreeMap<String, String>,
}

/// One `key=value` found by the grammar, with the key's byte offset.
struct RawLabel<'s> {
    key: &'s str,
    value: &'s str,
    key_offset: usize,
}

/// What [`grammar`] finds: the raw app name and the raw `(key, value)` pairs.
type Parsed<'s> = (&'s str, Vec<(&'s str, &'s str)>);

/// The OG state machine as nom parsers: the app name runs to the first `{`; then keys run to
/// `=` (a key ended by `}` or the end is dropped, and `}` ends the name) and values run to `,` or
/// `}` (a value cut by the end of input is dropped).
fn grammar(input: &str) -> IResult<&str, Parsed<'_>> {
    let (mut rest, app) = take_till(|c| c == '{')(input)?;
    let mut labels = Vec::new();
    if rest.is_empty() {
        return Ok((rest, (app, labels)));
    }
    rest = &rest[1..];
    loop {
        let (r, key) = take_till(|c| c == '=' || c == '}')(rest)?;
        let (r, delim) = opt(anychar).parse(r)?;
        match delim {
            Some('=') => {}
            _ => return Ok((r, (app, labels))),
        }
        let (r, value) = take_till(|c| c == ',' || c == '}')(r)?;
        let (r, end) = opt(anychar).parse(r)?;
        if end.is_none() {
            return Ok((r, (app, labels)));
        }
        labels.push((key, value));
        rest = r;
    }
}

/// A name with two brace groups, `svc{env=test}.cpu{region=eu}` (pyroscope-io 0.8 appends
/// `.cpu{tags}` to an application name that already carries braces), as one:
/// `svc.cpu{env=test,region=eu}`. The app is the text before the first `{` plus the suffix
/// between the groups (app-name characters only, possibly none); the labels are both groups, the
/// later value of a key named twice winning (spec Part 1, decision 9). `None` for any other
/// shape, which keeps OG's grammar.
fn merge_brace_groups(input: &str) -> Option<String> {
    let open = input.find('{')?;
    let close = open + input[open..].find('}')?;
    let rest = &input[close + 1..];
    if rest.trim().is_empty() {
        return None;
    }
    // Only with a second group: OG's own quirks (`app{a=1}garbage`, `app{a=1}b=2}`) stay.
    let i = rest.find('{')?;
    let (suffix, second) = (&rest[..i], rest[i + 1..].strip_suffix('}')?);
    if !suffix.trim().chars().all(is_app_name_char) || second.contains(['{', '}']) {
        return None;
    }
    let suffix = suffix.trim();
    let first = &input[open + 1..close];
    let sep = if first.trim().is_empty() || second.trim().is_empty() {
        ""
    } else {
        ","
    };
    Some(format!(
        "{}{suffix}{{{first}{sep}{second}}}",
        &input[..open]
    ))
}

fn offset_in(outer: &str, inner: &str) -> usize {
    (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize)
}

/// Trims keys and values as OG does and records each key's offset in `input`.
fn raw_labels<'s>(input: &'s str, labels: Vec<(&'s str, &'s str)>) -> Vec<RawLabel<'s>> {
    labels
        .into_iter()
        .map(|(k, v)| {
            let key = k.trim();
            RawLabel {
                key,
                value: v.trim(),
                key_offset: offset_in(input, key),
            }
        })
        .collect()
}

impl SeriesName {
    /// A series with no labels.
    ///
    /// # Errors
    /// An invalid app name.
    pub fn new(app: &str) -> Result<Self> {
        validate_app_name(app)?;
        Ok(SeriesName {
            app: app.to_owned(),
            labels: BTreeMap::new(),
        })
    }

    /// Parses `app{k=v,…}` with the default [`Limits`].
    ///
    /// # Errors
    /// An empty or invalid app name, an invalid key, or a limit exceeded; see [`ErrorKind`].
    pub fn parse(input: &str) -> Result<Self> {
        Self::parse_with(input, &Limits::default())
    }

    /// Parses `app{k=v,…}` with the given limits.
    ///
    /// A `__name__` key inside the braces replaces the app name (OG does this without
    /// validating it; here the replacement must be a valid app name too).
    ///
    /// # Errors
    /// An empty or invalid app name, an invalid key, or a limit exceeded; see [`ErrorKind`].
    pub fn parse_with(input: &str, limits: &Limits) -> Result<Self> {
        if let Some(merged) = merge_brace_groups(input) {
            return Self::parse_with(&merged, limits);
        }
        let (app_raw, labels) = match grammar(input) {
            Ok((_, parsed)) => parsed,
            // The grammar accepts every string; keep a defined answer anyway.
            Err(_) => (input, Vec::new()),
        };
        let app = app_raw.trim();
        let app_offset = offset_in(input, app);
        validate_app_name_at(app, Some(app_offset))?;
        let mut name = SeriesName {
            app: app.to_owned(),
            labels: BTreeMap::new(),
        };
        for l in raw_labels(input, labels) {
            if l.key == NAME_LABEL {
                validate_app_name_at(l.value, Some(offset_in(input, l.value)))?;
                l.value.clone_into(&mut name.app);
                continue;
            }
            validate_label_key_at(l.key, Some(l.key_offset))?;
            name.labels.insert(l.key.to_owned(), l.value.to_owned());
        }
        name.check(limits)?;
        Ok(name)
    }

    /// Checks the label limits.
    ///
    /// # Errors
    /// The first label name or value over its limit, or too many labels.
    pub fn check(&self, limits: &Limits) -> Result<()> {
        if self.app.len() > limits.max_value_len {
            return Err(Error::new(
                ErrorKind::LabelValueTooLong {
                    name: NAME_LABEL.to_owned(),
                    max: limits.max_value_len,
                },
                None,
            ));
        }
        for (k, v) in &self.labels {
            if k.len() > limits.max_name_len {
                return Err(Error::new(
                    ErrorKind::LabelNameTooLong {
                        name: k.clone(),
                        max: limits.max_name_len,
                    },
                    None,
                ));
            }
            if v.len() > limits.max_value_len {
                return Err(Error::new(
                    ErrorKind::LabelValueTooLong {
                        name: k.clone(),
                        max: limits.max_value_len,
                    },
                    None,
                ));
            }
        }
        if self.labels.len() > limits.max_labels {
            return Err(Error::new(
                ErrorKind::TooManyLabels {
                    count: self.labels.len(),
                    max: limits.max_labels,
                },
                None,
            ));
        }
        Ok(())
    }

    /// The app name (the `__name__` label).
    pub fn app(&self) -> &str {
        &self.app
    }

    /// The labels other than `__name__`, sorted by key.
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    /// The value of label `key` (`__name__` gives the app name).
    pub fn get(&self, key: &str) -> Option<&str> {
        if key == NAME_LABEL {
            return Some(&self.app);
        }
        self.labels.get(key).map(String::as_str)
    }

    /// The same series with `.suffix` appended to the app name (`my-app{}` + `cpu` →
    /// `my-app.cpu{}`), as pprof and JFR ingestion name their series.
    pub fn with_suffix(&self, suffix: &str) -> SeriesName {
        SeriesName {
            app: format!("{}.{suffix}", self.app),
            labels: self.labels.clone(),
        }
    }

    /// Adds one label after validating its key; `__name__` replaces the app name.
    ///
    /// # Errors
    /// An invalid key (or app name, for `__name__`).
    pub fn insert(&mut self, key: &str, value: &str, precedence: Precedence) -> Result<()> {
        if key == NAME_LABEL {
            validate_app_name(value)?;
            if precedence == Precedence::Overwrite {
                value.clone_into(&mut self.app);
            }
            return Ok(());
        }
        validate_label_key_at(key, None)?;
        match precedence {
            Precedence::Overwrite => {
                self.labels.insert(key.to_owned(), value.to_owned());
            }
            Precedence::KeepExisting => {
                self.labels
                    .entry(key.to_owned())
                    .or_insert_with(|| value.to_owned());
            }
        }
        Ok(())
    }

    /// Merges `labels` into this series with the given precedence, validating every key.
    ///
    /// # Errors
    /// The first invalid key; labels before it are already merged.
    pub fn merge<'k>(
        &mut self,
        labels: impl IntoIterator<Item = (&'k str, &'k str)>,
        precedence: Precedence,
    ) -> Result<()> {
        for (k, v) in labels {
            self.insert(k, v, precedence)?;
        }
        Ok(())
    }

    /// Builds a series from an app name and labels (as stored), validating both.
    ///
    /// # Errors
    /// An invalid app name or label key.
    pub fn from_parts<'k>(
        app: &str,
        labels: impl IntoIterator<Item = (&'k str, &'k str)>,
    ) -> Result<Self> {
        let mut name = SeriesName::new(app)?;
        name.merge(labels, Precedence::Overwrite)?;
        Ok(name)
    }

    /// An unambiguous key for storage: the normalized form with `\`, `,`, `}` and `=` in values
    /// escaped by `\`, so label sets that print alike (`{a=1,b=2}` vs `{a="1,b=2"}`) never share
    /// a key. Equal to `to_string()` when no value holds those characters.
    pub fn key(&self) -> String {
        let mut out = String::with_capacity(self.app.len() + 2);
        out.push_str(&self.app);
        out.push('{');
        for (i, (k, v)) in self.labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push('=');
            for c in v.chars() {
                if matches!(c, '\\' | ',' | '}' | '=') {
                    out.push('\\');
                }
                out.push(c);
            }
        }
        out.push('}');
        out
    }

    /// Removes a label, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.labels.remove(key)
    }
}

impl fmt::Display for SeriesName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.app)?;
        f.write_str("{")?;
        for (i, (k, v)) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v}")?;
        }
        f.write_str("}")
    }
}

impl std::str::FromStr for SeriesName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// Splits a `service_name` that carries braces (`py.app{env=test}`, as pyroscope-io 1.x sends)
/// into an app name plus labels; a plain name gives no labels.
///
/// # Errors
/// As [`SeriesName::parse`].
pub fn split_service_name(service_name: &str) -> Result<SeriesName> {
    SeriesName::parse(service_name)
}
