//! pprof bodies (raw or gzipped; a form's `profile`, `prev_profile`, `sample_type_config`), and
//! the pprof samples of push requests.

use pyro_labels::SeriesName;
use pyro_sampletype::SampleTypes;

use crate::budget::Budget;
use crate::error::{Error, ErrorKind, Result};
use crate::{Aggregation, Limits, Request, Series};

/// A raw (gzipped or not) pprof body with `/ingest`'s parameters.
pub(crate) fn read(
    req: &Request,
    name: SeriesName,
    limits: &Limits,
) -> Result<Vec<Series<'static>>> {
    let mut budget = Budget::new(limits);
    let types = match &req.sample_type_config {
        Some(json) => {
            SampleTypes::from_json(json).map_err(|e| Error::wrap(ErrorKind::Body, "", e, None))?
        }
        None => SampleTypes::default(),
    };
    let (series, _, _) = series(
        &name,
        &req.body,
        &types,
        req.prev_profile.as_deref(),
        req.spy_name(),
        &mut budget,
        req.cancel.as_ref(),
    )?;
    Ok(series)
}

/// A pprof error as ours: a limit is `over_limit` (a size limit while inflating is
/// [`ErrorKind::TooLarge`], any other [`ErrorKind::LimitExceeded`]), the rest a bad body.
fn pprof_err(e: pyro_pprof::Error, what: &str, over_limit: ErrorKind) -> Error {
    let kind = if matches!(e.kind(), pyro_pprof::ErrorKind::LimitExceeded { .. }) {
        over_limit
    } else {
        ErrorKind::Body
    };
    let offset = e.offset() as u64;
    Error::wrap(kind, what, e, Some(offset))
}

fn decode_err(e: pyro_pprof::Error, what: &str) -> Error {
    pprof_err(e, what, ErrorKind::TooLarge)
}

fn parse_err(e: pyro_pprof::Error, what: &str) -> Error {
    pprof_err(e, what, ErrorKind::LimitExceeded)
}

/// One series per sample type and label set of a pprof (gzipped or not), named after `name`,
/// with the profile's `time_nanos`. `prev` is the previous profile of a cumulative pair. The
/// profile is read within what is left of the request's `budget`, and spends what it builds.
///
/// # Errors
/// [`ErrorKind::Body`] for a malformed profile, [`ErrorKind::TooLarge`] when it inflates past
/// the decompressed-size limit, [`ErrorKind::LimitExceeded`] past another pprof limit or the
/// request's budget.
pub(crate) fn series(
    name: &SeriesName,
    body: &[u8],
    types: &SampleTypes,
    prev: Option<&[u8]>,
    spy_name: &str,
    budget: &mut Budget,
    cancel: Option<&crate::Cancel>,
) -> Result<(Vec<Series<'static>>, i64, Option<u32>)> {
    crate::request::check(cancel)?;
    let plimits = budget.pprof();
    let prev_buf = prev
        .map(|p| pyro_pprof::decode(p, &plimits).map_err(|e| decode_err(e, "prev_profile: ")))
        .transpose()?;
    let prev = prev_buf
        .as_deref()
        .map(|b| {
            pyro_pprof::Profile::parse(b, &plimits).map_err(|e| parse_err(e, "prev_profile: "))
        })
        .transpose()?;
    crate::request::check(cancel)?;
    let buf = pyro_pprof::decode(body, &plimits).map_err(|e| decode_err(e, ""))?;
    let p = pyro_pprof::Profile::parse(&buf, &plimits).map_err(|e| parse_err(e, ""))?;
    let series = pyro_pprof::to_series(&p, name, types, prev.as_ref(), &plimits)
        .map_err(|e| parse_err(e, ""))?;
    // The series outlive the decompressed buffer, so their trees own their names.
    let series: Vec<Series<'static>> = series
        .into_iter()
        .map(|s| Series {
            name: s.name,
            units: s.units,
            aggregation: Aggregation::parse(&s.aggregation),
            sample_rate: s.sample_rate,
            spy_name: spy_name.to_owned(),
            tree: s.tree.into_owned(),
        })
        .collect();
    budget.spend(&series)?;
    Ok((series, p.time_nanos(), period_hz(&p)))
}

/// Samples per second of a profile whose period is a time (`period_type` unit `nanoseconds`,
/// `microseconds`, `milliseconds` or `seconds`): 10 ms → 100 Hz.
fn period_hz(p: &pyro_pprof::Profile<'_>) -> Option<u32> {
    let unit = p.string(p.period_type()?.unit);
    let per_second: i64 = match unit {
        "nanoseconds" => 1_000_000_000,
        "microseconds" => 1_000_000,
        "milliseconds" => 1_000,
        "seconds" => 1,
        _ => return None,
    };
    let period = p.period();
    if period <= 0 || period > per_second {
        return None;
    }
    u32::try_from(per_second / period).ok().filter(|&hz| hz > 0)
}
