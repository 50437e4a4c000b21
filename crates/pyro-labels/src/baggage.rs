//! A strict W3C `baggage` header parser, and the k6 labels derived from it.

use std::collections::BTreeMap;
use std::fmt;

use crate::name::is_label_key_char;

/// Most list-members kept from one request's baggage (W3C's propagation minimum).
pub const MAX_MEMBERS: usize = 64;
/// Most bytes of baggage read from one request, all headers combined (W3C's minimum).
pub const MAX_BYTES: usize = 8192;

/// One property of a list-member (`;key` or `;key=value`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// The key (a token, never percent-encoded).
    pub key: String,
    /// The percent-decoded value, if the property has one.
    pub value: Option<String>,
}

/// One valid list-member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The key (a token; case-sensitive).
    pub key: String,
    /// The percent-decoded value (invalid UTF-8 replaced by U+FFFD); may be empty.
    pub value: String,
    /// Properties, in order.
    pub properties: Vec<Property>,
    /// Byte offset of the member in the combined header (headers joined with `,`).
    pub offset: usize,
}

/// Why a list-member was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// Nothing between two commas.
    EmptyMember,
    /// No `=` after the key.
    MissingEquals,
    /// The key is empty or has a character outside RFC 7230's `tchar`.
    InvalidKey,
    /// The value has a character outside `baggage-octet`.
    InvalidValue,
    /// A `%` not followed by two hex digits.
    InvalidPercentEncoding,
    /// A property is malformed.
    InvalidProperty,
    /// The member lies beyond [`MAX_MEMBERS`] members.
    TooManyMembers,
    /// The member ends beyond [`MAX_BYTES`] bytes.
    TooLarge,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Problem::EmptyMember => "empty list-member",
            Problem::MissingEquals => "missing '='",
            Problem::InvalidKey => "invalid key",
            Problem::InvalidValue => "invalid character in value",
            Problem::InvalidPercentEncoding => "invalid percent-encoding",
            Problem::InvalidProperty => "invalid property",
            Problem::TooManyMembers => "more than 64 list-members",
            Problem::TooLarge => "baggage larger than 8192 bytes",
        })
    }
}

/// A skipped list-member: what was wrong, where, and its raw text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// What was wrong.
    pub problem: Problem,
    /// Byte offset of the member in the combined header (headers joined with `,`).
    pub offset: usize,
    /// The member's raw text, trimmed of OWS.
    pub raw: String,
}

/// A parsed `baggage`: the valid members in order, and the skipped ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Baggage {
    /// Valid members, in order (duplicates kept).
    pub members: Vec<Member>,
    /// Members skipped, in order.
    pub skipped: Vec<Skipped>,
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

fn valid_key(k: &str) -> bool {
    !k.is_empty() && k.bytes().all(is_tchar)
}

/// Percent-decodes `raw`; invalid UTF-8 after decoding becomes U+FFFD. A `%` not followed by
/// two hex digits is an error when `strict`, and kept as it is otherwise.
fn percent_decode(raw: &str, strict: bool) -> Result<String, Problem> {
    if !raw.contains('%') {
        return Ok(raw.to_owned());
    }
    let b = raw.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' {
            if let (Some(h), Some(l)) = (
                b.get(i + 1).and_then(|&c| hex(c)),
                b.get(i + 2).and_then(|&c| hex(c)),
            ) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
            if strict {
                return Err(Problem::InvalidPercentEncoding);
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Ok(String::from_utf8(out)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// Checks and decodes a value: `*baggage-octet`, then percent-decoding.
fn decode_value(raw: &str) -> Result<String, Problem> {
    if !raw.bytes().all(is_baggage_octet) {
        return Err(Problem::InvalidValue);
    }
    percent_decode(raw, true)
}

fn parse_property(p: &str) -> Result<Option<Property>, Problem> {
    let p = trim_ows(p);
    if p.is_empty() {
        // `k=v;` is accepted (as OpenTelemetry does); the empty property is dropped.
        return Ok(None);
    }
    match p.split_once('=') {
        None if valid_key(p) => Ok(Some(Property {
            key: p.to_owned(),
            value: None,
        })),
        None => Err(Problem::InvalidProperty),
        Some((k, v)) => {
            let k = trim_ows(k);
            if !valid_key(k) {
                return Err(Problem::InvalidProperty);
            }
            let value = decode_value(trim_ows(v)).map_err(|_| Problem::InvalidProperty)?;
            Ok(Some(Property {
                key: k.to_owned(),
                value: Some(value),
            }))
        }
    }
}

fn parse_member(m: &str, offset: usize) -> Result<Member, Problem> {
    let mut parts = m.split(';');
    let kv = parts.next().unwrap_or("");
    let (k, v) = kv.split_once('=').ok_or(Problem::MissingEquals)?;
    let key = trim_ows(k);
    if !valid_key(key) {
        return Err(Problem::InvalidKey);
    }
    let value = decode_value(trim_ows(v))?;
    let mut properties = Vec::new();
    for p in parts {
        if let Some(p) = parse_property(p)? {
            properties.push(p);
        }
    }
    Ok(Member {
        key: key.to_owned(),
        value,
        properties,
        offset,
    })
}

impl Baggage {
    /// Parses one or more `baggage` header values (combined with `,`, as RFC 7230 says).
    ///
    /// Strict per W3C Baggage: keys are tokens, values are `baggage-octet`s, percent-decoded
    /// (invalid UTF-8 → U+FFFD), OWS is SP/HTAB only, properties are checked. An invalid member is
    /// skipped and reported in [`Baggage::skipped`]; the rest are kept. At most [`MAX_MEMBERS`]
    /// members and [`MAX_BYTES`] bytes are read; later members are reported as skipped, and no
    /// member is ever kept in part.
    ///
    /// ```
    /// use pyro_labels::Baggage;
    ///
    /// let b = Baggage::parse(["userId=alice, k6.name=GET%20%2Fapi;p=1", "bad member"]);
    /// assert_eq!(b.get("k6.name"), Some("GET /api"));
    /// assert_eq!(b.members.len(), 2);
    /// assert_eq!(b.skipped.len(), 1);
    /// ```
    pub fn parse<'h>(headers: impl IntoIterator<Item = &'h str>) -> Baggage {
        Self::parse_members(headers, |_| true)
    }

    /// [`Baggage::parse`], but only members for which `wanted(member text)` holds are decoded and
    /// reported; the others still count towards the limits.
    fn parse_members<'h>(
        headers: impl IntoIterator<Item = &'h str>,
        wanted: impl Fn(&str) -> bool,
    ) -> Baggage {
        let mut out = Baggage::default();
        let mut offset = 0usize;
        let mut count = 0usize;
        for (hi, header) in headers.into_iter().enumerate() {
            if hi > 0 {
                offset += 1; // the joining comma
            }
            for raw in header.split(',') {
                let start = offset;
                offset += raw.len() + 1;
                let end = offset - 1;
                let m = trim_ows(raw);
                let problem = if m.is_empty() {
                    Some(Problem::EmptyMember)
                } else if end > MAX_BYTES {
                    Some(Problem::TooLarge)
                } else if count >= MAX_MEMBERS {
                    Some(Problem::TooManyMembers)
                } else {
                    count += 1;
                    if !wanted(m) {
                        continue;
                    }
                    match parse_member(m, start) {
                        Ok(member) => {
                            out.members.push(member);
                            None
                        }
                        Err(p) => Some(p),
                    }
                };
                if let Some(problem) = problem {
                    out.skipped.push(Skipped {
                        problem,
                        offset: start,
                        raw: m.to_owned(),
                    });
                }
            }
            offset -= 1;
        }
        out
    }

    /// The value of the last member named `key` (duplicates: last one wins, as OpenTelemetry).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.members
            .iter()
            .rev()
            .find(|m| m.key == key)
            .map(|m| m.value.as_str())
    }
}

/// The labels a k6 load test's baggage adds to a profile, as Pyroscope's Go SDK (`x/k6`) maps
/// them: every member whose key starts with `k6.` (case-sensitive) becomes a label with every
/// `.` replaced by `_` (`k6.test_run_id` → `k6_test_run_id`, `k6.scenario` → `k6_scenario`,
/// `k6.name` → `k6_name`); empty values are skipped; the last duplicate wins.
///
/// What the k6 jslib really sends is tolerated: a `k6.*` member the strict parser rejects only
/// for its value (an unencoded URL or tag with spaces, quotes, a bare `%` or non-ASCII) keeps its
/// raw value, with valid `%XX` sequences decoded; the literal `undefined` run id of local runs is
/// kept as it is; several headers, or members joined with `, `, are read as one list. Keys that
/// map to an invalid label name are skipped.
///
/// ```
/// use pyro_labels::k6_labels;
///
/// let labels = k6_labels([
///     "foo=bar,k6.test_run_id=undefined,k6.scenario=default,k6.name=http://app/api/{id} x",
/// ]);
/// assert_eq!(labels.get("k6_test_run_id").map(String::as_str), Some("undefined"));
/// assert_eq!(labels.get("k6_scenario").map(String::as_str), Some("default"));
/// assert_eq!(labels.get("k6_name").map(String::as_str), Some("http://app/api/{id} x"));
/// assert_eq!(labels.len(), 3);
/// ```
pub fn k6_labels<'h>(headers: impl IntoIterator<Item = &'h str>) -> BTreeMap<String, String> {
    let baggage = Baggage::parse_members(headers, |m| m.starts_with("k6."));
    // Valid and tolerated members in header order, so the last duplicate wins.
    let mut found: Vec<(usize, &str, String)> = baggage
        .members
        .iter()
        .map(|m| (m.offset, m.key.as_str(), m.value.clone()))
        .collect();
    for s in &baggage.skipped {
        let tolerated = matches!(
            s.problem,
            Problem::InvalidValue | Problem::InvalidPercentEncoding | Problem::InvalidProperty
        );
        if let Some((k, v)) = s.raw.split_once('=')
            && tolerated
        {
            let k = trim_ows(k);
            if valid_key(k) {
                // What the k6 jslib sends unencoded: decode the valid `%XX`, keep the rest.
                let value = percent_decode(trim_ows(v), false).unwrap_or_default();
                found.push((s.offset, k, value));
            }
        }
    }
    found.sort_by_key(|f| f.0);
    let mut labels = BTreeMap::new();
    for (_, key, value) in found {
        if !key.starts_with("k6.") || value.is_empty() {
            continue;
        }
        let label = key.replace('.', "_");
        if label.chars().all(is_label_key_char) {
            labels.insert(label, value);
        }
    }
    labels
}
