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
    let err = |e: pyro_jfr::Error, what: &str| {
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
    };
    let data = pyro_jfr::decode(&req.body, &limits.jfr).map_err(|e| err(e, ""))?;
    let labels = req
        .jfr_labels
        .as_deref()
        .map(|b| pyro_jfr::LabelsSnapshot::decode_body(b, &limits.jfr))
        .transpose()
        .map_err(|e| err(e, "labels: "))?;
    let mut budget = crate::budget::Budget::new(limits);
    budget.read(data.len());
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
    // Chunk by chunk, so that an abandoned request stops between chunks.
    let mut c = pyro_jfr::Converter::new(name.clone(), labels.as_ref(), opts);
    match &req.cancel {
        None => c.feed(&data).map_err(|e| err(e, ""))?,
        Some(cancel) => {
            for chunk in pyro_jfr::chunks(&data) {
                crate::request::check(Some(cancel))?;
                let chunk = chunk.map_err(|e| err(e, ""))?;
                c.feed(chunk.data).map_err(|e| err(e, ""))?;
            }
        }
    }
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
