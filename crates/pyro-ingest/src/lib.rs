//! One Pyroscope upload → the series it stores.
//!
//! This is the library form of one `/ingest` (or push) request, what `ingest-server`, its
//! `convert` CLI and the fuzz targets all call: the format is chosen as OG Pyroscope chooses it
//! ([`Format::select`]), or sniffed from the body when nothing names it ([`Format::detect`]);
//! the body goes to its reader (`pyro-folded`, `pyro-tree`'s transport, `pyro-pprof`,
//! `pyro-jfr`) within one [`Limits`]; every gunzip is `pyro-tree`'s bounded one; the result is a
//! list of [`Series`] (normalized name, units, aggregation, sample rate, stack tree); failures are
//! one [`Error`] with a [`kind`](Error::kind), an offset and the reader's error as its source.
//!
//! ```
//! use pyro_ingest::{Request, Limits, decode};
//!
//! let req = Request::new("myapp.cpu{env=prod}", &b"foo;bar 2\nfoo;baz 3\n"[..]);
//! let series = decode(&req, &Limits::default())?;
//! assert_eq!(series[0].name.to_string(), "myapp.cpu{env=prod}");
//! assert_eq!(series[0].tree.to_folded(), "foo;bar 2\nfoo;baz 3\n");
//! # Ok::<(), pyro_ingest::Error>(())
//! ```
//!
//! Push bodies (`push.v1.PushRequest`) go through [`push::decode`] and [`push::to_series`].

mod budget;
mod error;
mod format;
mod jfr;
mod limits;
pub mod output;
pub mod pprof;
pub mod push;
mod request;
mod series;
mod text;

pub use error::{Error, ErrorKind, Result};
pub use format::Format;
pub use limits::{
    DEFAULT_MAX_DECOMPRESSED, DEFAULT_MAX_SERIES, DEFAULT_MAX_SERIES_BYTES, DEFAULT_MAX_TREE_NODES,
    INPUT_BYTES_PER_NODE, Limits,
};
pub use pprof::PprofFacts;
pub use pyro_tree::gzip::{GunzipError, gunzip, is_gzip};
pub use request::{Cancel, DEFAULT_SAMPLE_RATE, Request, parse_sample_rate};
pub use series::{Aggregation, Series};

use pyro_labels::{Precedence, SeriesName};

/// Reads one upload and returns the series it stores, each with the request's
/// [`extra_labels`](Request::extra_labels) added. The format is [`Format::detect`]'s choice;
/// a [`Format::PprofMultipart`] request is expected to carry the form's `profile` part as its
/// body (the caller splits the form), and is read as pprof.
///
/// # Errors
/// [`ErrorKind::Name`] for a bad name or label, [`ErrorKind::Body`] with the reader's message
/// (line and byte offset) for a bad body, [`ErrorKind::TooLarge`] when a gzip or recording is
/// over the size limit, [`ErrorKind::LimitExceeded`] past another limit (series per request
/// among them), [`ErrorKind::Unsupported`] for `speedscope`.
pub fn decode<'a>(req: &'a Request, limits: &Limits) -> Result<Vec<Series<'a>>> {
    Ok(decode_with_facts(req, limits)?.0)
}

/// What a body says of itself beside its series: what a gateway needs to pass it on as Grafana
/// Pyroscope would store it.
#[derive(Debug)]
pub enum Facts {
    /// A pprof body.
    Pprof(PprofFacts),
    /// A JFR recording, with its async-profiler `event` setting (`None` for a JDK recording).
    Jfr {
        /// The `event` setting.
        event: Option<String>,
        /// With [`Request::split_jfr_locks`]: the lock events as grafana/jfr-parser splits them
        /// (`<app>.mutex_count`/`mutex_duration` from monitor enters,
        /// `<app>.block_count`/`block_duration` from parks), in place of the stored series'
        /// `lock_count`/`lock_duration` for Grafana Pyroscope. Empty otherwise.
        locks: Vec<Series<'static>>,
    },
}

/// [`decode`], with what a pprof or JFR body says of itself ([`Facts`]; `None` for other
/// formats).
///
/// # Errors
/// As [`decode`].
pub fn decode_with_facts<'a>(
    req: &'a Request,
    limits: &Limits,
) -> Result<(Vec<Series<'a>>, Option<Facts>)> {
    let name = request_name(req, limits)?;
    let format = Format::detect(
        req.format.as_deref(),
        req.content_type.as_deref(),
        &req.body,
    );
    let mut facts = None;
    let mut series = match format {
        Format::Folded | Format::Lines | Format::Trie | Format::Tree => {
            text::read(req, name, format, limits)?
        }
        Format::Pprof | Format::PprofMultipart => {
            let (series, f) = pprof::read(req, name, limits)?;
            facts = Some(Facts::Pprof(f));
            series
        }
        Format::Jfr => {
            let (series, event, locks) = jfr::read(req, &name, limits)?;
            facts = Some(Facts::Jfr { event, locks });
            series
        }
        Format::Speedscope => {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("format {} is not supported yet", format.as_str()),
            ));
        }
    };
    finish(&mut series, req, limits)?;
    Ok((series, facts))
}

/// The request's series name, unless the request was given up.
fn request_name(req: &Request, limits: &Limits) -> Result<SeriesName> {
    request::check(req.cancel.as_ref())?;
    SeriesName::parse_with(&req.name, &limits.labels)
        .map_err(|e| Error::wrap(ErrorKind::Name, "name: ", e, None))
}

/// What every read does with its series: the series limit, then the request's extra labels.
fn finish(series: &mut [Series<'_>], req: &Request, limits: &Limits) -> Result<()> {
    check_series_count(series, limits)?;
    add_labels(series, &req.extra_labels)
}

/// [`decode_with_facts`] of a JFR recording (not gzipped) of `len` bytes read from `input`
/// rather than held in [`Request::body`] (which is ignored): the recording is read a chunk at a
/// time into one buffer the size of its largest chunk, so a file of many chunks is never held
/// whole (nor paged in whole: reading a 98 MB file into memory cost a third of its conversion).
/// The series and errors are [`decode_with_facts`]'s for the same bytes as its body.
///
/// ```
/// use pyro_ingest::{Limits, Request, decode_jfr_read};
///
/// // An empty recording has no chunks, hence no series.
/// let req = Request::new("myapp", &b""[..]);
/// let (series, _facts) = decode_jfr_read(&req, &mut &b""[..], 0, &Limits::default())?;
/// assert!(series.is_empty());
/// # Ok::<(), pyro_ingest::Error>(())
/// ```
///
/// # Errors
/// As [`decode_with_facts`], and [`ErrorKind::Io`] when `input` fails or ends before `len`
/// bytes.
pub fn decode_jfr_read(
    req: &Request,
    input: &mut dyn std::io::Read,
    len: u64,
    limits: &Limits,
) -> Result<(Vec<Series<'static>>, Option<Facts>)> {
    let name = request_name(req, limits)?;
    let (mut series, event, locks) = jfr::read_stream(req, &name, limits, input, len)?;
    finish(&mut series, req, limits)?;
    Ok((series, Some(Facts::Jfr { event, locks })))
}

/// Adds `labels` to every series, overwriting labels of the same name.
///
/// # Errors
/// [`ErrorKind::Name`] for an invalid label or one past the label limits.
pub fn add_labels(series: &mut [Series<'_>], labels: &[(String, String)]) -> Result<()> {
    for s in series {
        for (k, v) in labels {
            s.name
                .insert(k, v, Precedence::Overwrite)
                .map_err(|e| Error::wrap(ErrorKind::Name, "name: ", e, None))?;
        }
    }
    Ok(())
}

pub(crate) fn check_series_count(series: &[Series<'_>], limits: &Limits) -> Result<()> {
    let n = series.len();
    if n > limits.series {
        return Err(Error::new(
            ErrorKind::LimitExceeded,
            format!(
                "{n} series exceed the limit of {} per request",
                limits.series
            ),
        ));
    }
    // Every series' name and labels are stored and indexed: long values times many label sets
    // amplify one small upload into gigabytes.
    let bytes: usize = series
        .iter()
        .map(|s| {
            s.name.app().len()
                + s.name
                    .labels()
                    .iter()
                    .map(|(k, v)| k.len() + v.len())
                    .sum::<usize>()
        })
        .sum();
    if bytes > limits.series_bytes {
        return Err(Error::new(
            ErrorKind::LimitExceeded,
            format!(
                "the names and labels of {n} series take {bytes} bytes, over the limit of {} \
                 per request",
                limits.series_bytes
            ),
        ));
    }
    Ok(())
}

/// The README example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
