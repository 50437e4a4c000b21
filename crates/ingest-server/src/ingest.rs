//! From an `/ingest` request (query parameters, content type, body) to the series it stores.
//!
//! This module only dispatches: every byte is parsed by the `pyro-*` library crates.

use std::fmt;

use pyro_folded::Options;
use pyro_labels::SeriesName;
use pyro_tree::{StackTree, TransportLimits};

/// OG's default sample rate (`types.DefaultSampleRate`).
pub const DEFAULT_SAMPLE_RATE: u32 = 100;

/// A body format, chosen as OG's `/ingest` chooses it (spec §1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Folded ("groups") text: the default.
    Folded,
    /// One stack per line.
    Lines,
    /// Legacy binary trie.
    Trie,
    /// Legacy binary tree.
    Tree,
    /// Raw or multipart JFR.
    Jfr,
    /// Raw pprof.
    Pprof,
    /// Speedscope JSON.
    Speedscope,
    /// `multipart/form-data` with a `profile` part (pprof).
    PprofMultipart,
}

impl Format {
    /// OG's selection: a trie/tree content type (exact match) wins, then `format=` values, then a
    /// multipart content type means pprof; anything else (including unknown `format` values)
    /// means folded.
    pub fn select(format: Option<&str>, content_type: Option<&str>) -> Format {
        let format = format.unwrap_or("");
        let ct = content_type.unwrap_or("");
        match () {
            _ if format == "trie" || ct == "binary/octet-stream+trie" => Format::Trie,
            _ if format == "tree" || ct == "binary/octet-stream+tree" => Format::Tree,
            _ if format == "lines" => Format::Lines,
            _ if format == "jfr" => Format::Jfr,
            _ if format == "pprof" => Format::Pprof,
            _ if format == "speedscope" => Format::Speedscope,
            _ if ct.contains("multipart/form-data") => Format::PprofMultipart,
            _ => Format::Folded,
        }
    }

    /// The format's name as `format=` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Folded => "folded",
            Format::Lines => "lines",
            Format::Trie => "trie",
            Format::Tree => "tree",
            Format::Jfr => "jfr",
            Format::Pprof => "pprof",
            Format::Speedscope => "speedscope",
            Format::PprofMultipart => "multipart pprof",
        }
    }
}

/// The `/ingest` query parameters that shape the stored series (spec §1.2).
#[derive(Debug, Clone, Default)]
pub struct Params {
    /// `name`: the series name, `app.cpu{k=v}`.
    pub name: String,
    /// `format`.
    pub format: Option<String>,
    /// The request's `Content-Type`.
    pub content_type: Option<String>,
    /// `units` (default `samples`).
    pub units: Option<String>,
    /// `aggregationType` (default `sum`).
    pub aggregation: Option<String>,
    /// `sampleRate` as sent (default 100; unparsable or out-of-range values mean 100).
    pub sample_rate: Option<String>,
    /// `spyName` (default `unknown`).
    pub spy_name: Option<String>,
    /// pprof: the `sample_type_config` JSON (replaces the default table).
    pub sample_type_config: Option<Vec<u8>>,
    /// pprof: the `prev_profile` of a cumulative pair (gzipped or not).
    pub prev_profile: Option<Vec<u8>>,
    /// JFR: the `labels` part, a LabelsSnapshot protobuf (gzipped or not).
    pub jfr_labels: Option<Vec<u8>>,
}

/// Limits applied while reading a body.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// Folded and lines limits.
    pub text: Options,
    /// Trie and tree limits.
    pub transport: TransportLimits,
    /// Label limits of the series name.
    pub labels: pyro_labels::Limits,
    /// pprof limits.
    pub pprof: pyro_pprof::Limits,
    /// JFR limits.
    pub jfr: pyro_jfr::Limits,
}

/// One series a request stores: its normalized name, metadata and stack tree.
#[derive(Debug)]
pub struct Series<'a> {
    /// The series name; `Display` gives the normalized storage key.
    pub name: SeriesName,
    /// `units`.
    pub units: String,
    /// `aggregationType` (`sum`, `average`, …).
    pub aggregation: String,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// `spyName`.
    pub spy_name: String,
    /// The stacks.
    pub tree: StackTree<'a>,
}

/// Why a request cannot be stored.
#[derive(Debug)]
pub enum IngestError {
    /// A bad `name` (HTTP 400).
    Name(pyro_labels::Error),
    /// An unparsable body (HTTP 422).
    Body(String),
    /// A format this build cannot read yet (HTTP 422).
    Unsupported(Format),
    /// A decompressed profile over the size limit (HTTP 413).
    TooLarge(String),
}

impl fmt::Display for IngestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IngestError::Name(e) => write!(f, "name: {e}"),
            IngestError::TooLarge(e) => f.write_str(e),
            IngestError::Body(e) => f.write_str(e),
            IngestError::Unsupported(fmt) => {
                write!(f, "format {} is not supported yet", fmt.as_str())
            }
        }
    }
}

impl std::error::Error for IngestError {}

/// OG parses `sampleRate` with `Atoi`; like Grafana Pyroscope we map errors and negative values
/// to the default instead of wrapping them.
pub fn parse_sample_rate(v: Option<&str>) -> u32 {
    v.and_then(|s| s.parse::<i64>().ok())
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(DEFAULT_SAMPLE_RATE)
}

fn non_empty(v: &Option<String>, default: &str) -> String {
    match v.as_deref() {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => default.to_owned(),
    }
}

/// Reads `body` as `/ingest` would with `params` and returns the series to store.
///
/// # Errors
/// [`IngestError::Name`] for a bad name, [`IngestError::Body`] with the parser's message (line
/// and byte offset) for a bad body, [`IngestError::Unsupported`] for formats not wired yet.
pub fn parse<'a>(
    params: &Params,
    body: &'a [u8],
    limits: &Limits,
) -> Result<Vec<Series<'a>>, IngestError> {
    let name = SeriesName::parse_with(&params.name, &limits.labels).map_err(IngestError::Name)?;
    let format = Format::select(params.format.as_deref(), params.content_type.as_deref());
    let mut tree = StackTree::new();
    let body_err = |e: &dyn fmt::Display| IngestError::Body(e.to_string());
    match format {
        Format::Folded => {
            pyro_folded::parse_folded(body, &limits.text, &mut tree).map_err(|e| body_err(&e))?;
        }
        Format::Lines => {
            pyro_folded::parse_lines(body, &limits.text, &mut tree).map_err(|e| body_err(&e))?;
        }
        Format::Trie => {
            pyro_tree::transport::read_trie(body, &limits.transport, &mut tree)
                .map_err(|e| body_err(&e))?;
        }
        Format::Tree => {
            pyro_tree::transport::read_tree(body, &limits.transport, &mut tree)
                .map_err(|e| body_err(&e))?;
        }
        Format::Pprof => return parse_pprof(params, name, body, limits),
        Format::Jfr => return jfr_series(params, &name, body, limits),
        other => return Err(IngestError::Unsupported(other)),
    }
    if tree.overflowed() {
        return Err(IngestError::Body(
            "sum of values does not fit in 64 bits".to_owned(),
        ));
    }
    Ok(vec![Series {
        name,
        units: non_empty(&params.units, "samples"),
        aggregation: non_empty(&params.aggregation, "sum"),
        sample_rate: parse_sample_rate(params.sample_rate.as_deref()),
        spy_name: non_empty(&params.spy_name, "unknown"),
        tree,
    }])
}

/// A JFR recording (gzipped or not) and its optional labels snapshot: one series per profile
/// type and label set, named `<app>.<type>{request labels, overwritten by context labels}`.
///
/// # Errors
/// [`IngestError::Body`] (`unable to parse JFR format: …`, OG's message) for a malformed
/// recording or snapshot, [`IngestError::TooLarge`] past the decompressed-size limit.
pub fn jfr_series(
    params: &Params,
    name: &SeriesName,
    body: &[u8],
    limits: &Limits,
) -> Result<Vec<Series<'static>>, IngestError> {
    let err = |e: pyro_jfr::Error, what: &str| match e.kind() {
        pyro_jfr::ErrorKind::LimitExceeded {
            what: "decompressed size" | "recording size",
            ..
        } => IngestError::TooLarge(format!("{what}{e}")),
        _ => IngestError::Body(format!("unable to parse JFR format: {what}{e}")),
    };
    let data = pyro_jfr::decode(body, &limits.jfr).map_err(|e| err(e, ""))?;
    let labels = params
        .jfr_labels
        .as_deref()
        .map(|b| pyro_jfr::LabelsSnapshot::decode_body(b, &limits.jfr))
        .transpose()
        .map_err(|e| err(e, "labels: "))?;
    let opts = pyro_jfr::Options {
        sample_rate: parse_sample_rate(params.sample_rate.as_deref()),
        limits: limits.jfr,
        label_limits: limits.labels,
        ..pyro_jfr::Options::default()
    };
    let spy_name = non_empty(&params.spy_name, "unknown");
    let series =
        pyro_jfr::to_series(&data, name, labels.as_ref(), &opts).map_err(|e| err(e, ""))?;
    Ok(series
        .into_iter()
        .map(|s| Series {
            units: s.units().to_owned(),
            aggregation: s.aggregation().to_owned(),
            name: s.name,
            sample_rate: s.sample_rate,
            spy_name: spy_name.clone(),
            tree: s.tree,
        })
        .collect())
}

/// A raw (gzipped or not) pprof body with `/ingest`'s parameters.
fn parse_pprof<'a>(
    params: &Params,
    name: SeriesName,
    body: &'a [u8],
    limits: &Limits,
) -> Result<Vec<Series<'a>>, IngestError> {
    let types = match &params.sample_type_config {
        Some(json) => pyro_sampletype::SampleTypes::from_json(json)
            .map_err(|e| IngestError::Body(e.to_string()))?,
        None => pyro_sampletype::SampleTypes::default(),
    };
    let spy_name = non_empty(&params.spy_name, "unknown");
    let (series, _) = pprof_series(
        &name,
        body,
        &types,
        params.prev_profile.as_deref(),
        &spy_name,
        limits,
    )?;
    Ok(series)
}

/// One series per sample type and label set of a pprof (gzipped or not), named after `name`,
/// with the profile's `time_nanos`. `prev` is the previous profile of a cumulative pair.
///
/// # Errors
/// [`IngestError::Body`] for a malformed profile, [`IngestError::TooLarge`] when it inflates
/// past the decompressed-size limit.
pub fn pprof_series(
    name: &SeriesName,
    body: &[u8],
    types: &pyro_sampletype::SampleTypes,
    prev: Option<&[u8]>,
    spy_name: &str,
    limits: &Limits,
) -> Result<(Vec<Series<'static>>, i64), IngestError> {
    let decode_err = |e: pyro_pprof::Error, what: &str| {
        if matches!(e.kind(), pyro_pprof::ErrorKind::LimitExceeded { .. }) {
            IngestError::TooLarge(format!("{what}{e}"))
        } else {
            IngestError::Body(format!("{what}{e}"))
        }
    };
    let prev_buf = prev
        .map(|p| pyro_pprof::decode(p, &limits.pprof).map_err(|e| decode_err(e, "prev_profile: ")))
        .transpose()?;
    let prev = prev_buf
        .as_deref()
        .map(|b| {
            pyro_pprof::Profile::parse(b, &limits.pprof)
                .map_err(|e| IngestError::Body(format!("prev_profile: {e}")))
        })
        .transpose()?;
    let buf = pyro_pprof::decode(body, &limits.pprof).map_err(|e| decode_err(e, ""))?;
    let p = pyro_pprof::Profile::parse(&buf, &limits.pprof)
        .map_err(|e| IngestError::Body(e.to_string()))?;
    let series = pyro_pprof::to_series(&p, name, types, prev.as_ref(), &limits.pprof)
        .map_err(|e| IngestError::Body(e.to_string()))?;
    // The series outlive the decompressed buffer, so their trees own their names.
    let series = series
        .into_iter()
        .map(|s| Series {
            name: s.name,
            units: s.units,
            aggregation: s.aggregation,
            sample_rate: s.sample_rate,
            spy_name: spy_name.to_owned(),
            tree: s.tree.into_owned(),
        })
        .collect();
    Ok((series, p.time_nanos))
}
