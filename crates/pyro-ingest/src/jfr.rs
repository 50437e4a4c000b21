//! JFR recordings (raw or gzipped) with an optional LabelsSnapshot.

use pyro_labels::SeriesName;

use crate::error::{Error, ErrorKind, Result};
use crate::{Aggregation, Limits, Request, Series};

/// The series of a JFR read: the stored ones, the recording's `event` setting, and the lock
/// series split as grafana/jfr-parser splits them (with [`Request::split_jfr_locks`]).
type Read = (Vec<Series<'static>>, Option<String>, Vec<Series<'static>>);

/// A JFR recording (gzipped or not) and its optional labels snapshot: one series per profile
/// type and label set, named `<app>.<type>{request labels, overwritten by context labels}`, and
/// the recording's async-profiler `event` setting.
pub(crate) fn read(req: &Request, name: &SeriesName, limits: &Limits) -> Result<Read> {
    let data = pyro_jfr::decode(&req.body, &limits.jfr).map_err(|e| jfr_error(e, ""))?;
    convert(req, name, limits, data.len(), |c| match &req.cancel {
        None => c.feed(&data).map_err(|e| jfr_error(e, "")),
        Some(cancel) => {
            // Chunk by chunk, so that an abandoned request stops between chunks.
            for chunk in pyro_jfr::chunks(&data) {
                crate::request::check(Some(cancel))?;
                let chunk = chunk.map_err(|e| jfr_error(e, ""))?;
                c.feed(chunk.data).map_err(|e| jfr_error(e, ""))?;
            }
            Ok(())
        }
    })
}

/// [`read`] of a recording (not gzipped) of `len` bytes read from `input` a chunk at a time,
/// into one buffer the size of the largest chunk: the same series and errors as [`read`] of
/// the whole recording (chunks are read one after the other there too), without the recording
/// ever held whole.
pub(crate) fn read_stream(
    req: &Request,
    name: &SeriesName,
    limits: &Limits,
    input: &mut dyn std::io::Read,
    len: u64,
) -> Result<Read> {
    let Ok(size) = usize::try_from(len) else {
        return Err(Error::new(
            ErrorKind::TooLarge,
            "recording size past the address space",
        ));
    };
    convert(req, name, limits, size, |c| {
        let max = limits.jfr.decompressed_size_limit();
        if size > max {
            // What feeding the whole recording answers.
            return Err(jfr_error(
                pyro_jfr::Error::too_large("recording size", max, 0),
                "",
            ));
        }
        let mut buf = Vec::new();
        let mut left = len;
        while left > 0 {
            crate::request::check(req.cancel.as_ref())?;
            buf.clear();
            // The header, then as much of the chunk as the header says and the input holds:
            // a size past the end (or a bad header) is fed as is, for the reader to refuse.
            read_up_to(
                input,
                &mut buf,
                (pyro_jfr::HEADER_SIZE as u64).min(left),
                left,
            )?;
            let chunk_size = match buf.get(8..16) {
                Some(b) => u64::from_be_bytes(b.try_into().unwrap_or_default()),
                None => 0,
            };
            let more = chunk_size.clamp(buf.len() as u64, left) - buf.len() as u64;
            read_up_to(input, &mut buf, more, left)?;
            left -= buf.len() as u64;
            c.feed(&buf).map_err(|e| jfr_error(e, ""))?;
        }
        Ok(())
    })
}

/// Appends `n` more bytes of `input` to `buf`, of the `left` bytes the recording has from the
/// start of `buf`: [`ErrorKind::Io`] if `input` fails or ends first.
fn read_up_to(input: &mut dyn std::io::Read, buf: &mut Vec<u8>, n: u64, left: u64) -> Result<()> {
    use std::io::Read;
    let want = buf.len() as u64 + n;
    // Room for all of it first: grown as it is read, the buffer was copied several times (half
    // the page faults of converting a 3 MB recording). `n` is at most the recording's size,
    // which is within the size limit.
    buf.reserve(usize::try_from(n).unwrap_or(usize::MAX));
    input
        .take(n)
        .read_to_end(buf)
        .map_err(|e| Error::new(ErrorKind::Io, format!("reading the recording: {e}")))?;
    if (buf.len() as u64) < want {
        return Err(Error::new(
            ErrorKind::Io,
            format!(
                "the recording ended {} bytes early",
                left - buf.len() as u64
            ),
        ));
    }
    Ok(())
}

/// A pyro-jfr error as this crate reports it, its message after `what`.
fn jfr_error(e: pyro_jfr::Error, what: &str) -> Error {
    let offset = Some(e.offset() as u64);
    match e.kind() {
        pyro_jfr::ErrorKind::InputTooLarge { .. } => {
            Error::wrap(ErrorKind::TooLarge, what, e, offset)
        }
        pyro_jfr::ErrorKind::LimitExceeded { .. } => Error::wrap(
            ErrorKind::LimitExceeded,
            &format!("unable to parse JFR format: {what}"),
            e,
            offset,
        ),
        _ => Error::wrap(
            ErrorKind::Body,
            &format!("unable to parse JFR format: {what}"),
            e,
            offset,
        ),
    }
}

/// The conversion both reads share: the labels snapshot, the limits for a recording of `size`
/// bytes, the chunks (`feed`) and the series split as [`Read`] says.
fn convert(
    req: &Request,
    name: &SeriesName,
    limits: &Limits,
    size: usize,
    feed: impl FnOnce(&mut pyro_jfr::Converter<'_>) -> Result<()>,
) -> Result<Read> {
    let labels = req
        .jfr_labels
        .as_deref()
        .map(|b| pyro_jfr::LabelsSnapshot::decode_body(b, &limits.jfr))
        .transpose()
        .map_err(|e| jfr_error(e, "labels: "))?;
    let mut budget = crate::budget::Budget::new(limits);
    budget.read(size);
    let opts = pyro_jfr::Options {
        sample_rate: req.sample_rate(),
        limits: budget.jfr(),
        label_limits: limits.labels,
        split_locks: req.split_jfr_locks,
        // Samples of a span kept per span, as GP keeps them for SelectMergeSpanProfile.
        span_trees: true,
        ..pyro_jfr::Options::default()
    };
    let spy_name = req.spy_name();
    let mut c = pyro_jfr::Converter::new(name.clone(), labels.as_ref(), opts);
    feed(&mut c)?;
    let event = c.event().map(str::to_owned);
    use pyro_jfr::ProfileType::{BlockCount, BlockDuration, MutexCount, MutexDuration};
    let (locks, series): (Vec<_>, Vec<_>) = c.finish().into_iter().partition(|s| {
        matches!(
            s.profile,
            MutexCount | MutexDuration | BlockCount | BlockDuration
        )
    });
    let series_of = |s: pyro_jfr::Series| Series {
        units: s.units().to_owned(),
        aggregation: Aggregation::parse(s.aggregation()),
        name: s.name,
        sample_rate: s.sample_rate,
        spy_name: spy_name.to_owned(),
        tree: s.tree,
        spans: s.spans,
    };
    Ok((
        series.into_iter().map(series_of).collect(),
        event,
        locks.into_iter().map(series_of).collect(),
    ))
}
