//! pprof bodies (raw or gzipped; a form's `profile`, `prev_profile`, `sample_type_config`), and
//! the pprof samples of push requests.

use pyro_labels::SeriesName;
use pyro_sampletype::SampleTypes;

use crate::budget::Budget;
use crate::error::{Error, ErrorKind, Result};
use crate::{Aggregation, Limits, Request, Series};

/// What a pprof body says of itself, beside its series: what a gateway needs to pass the body on
/// as received (Grafana Pyroscope stores a pprof `/ingest` body as is, in one series).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PprofFacts {
    /// The profile's sample type names, in order.
    pub sample_types: Vec<String>,
    /// `time_nanos` (0 when absent).
    pub time_nanos: i64,
    /// The `__name__` Grafana Pyroscope gives the profile (its `metricName`): `wall` when a type is
    /// `wall`; else, by the first type whose name (or display name in the sample-type table)
    /// contains `cpu` → `process_cpu`, `alloc_`/`inuse_` or is `space`/`objects` → `memory`,
    /// `mutex_` → `mutex`, `block_` → `block`, `goroutines` → `goroutines`; else the last type's
    /// name.
    pub metric_name: String,
}

impl PprofFacts {
    fn of(p: &pyro_pprof::Profile<'_>, types: &SampleTypes) -> PprofFacts {
        let sample_types: Vec<String> = p
            .sample_type_names()
            .into_iter()
            .map(str::to_owned)
            .collect();
        PprofFacts {
            metric_name: metric_name(&sample_types, types),
            time_nanos: p.time_nanos(),
            sample_types,
        }
    }
}

/// Grafana Pyroscope's `metricName` of a profile with these sample types ([`PprofFacts`]).
pub fn metric_name(sample_types: &[String], table: &SampleTypes) -> String {
    if sample_types.iter().any(|t| t == "wall") {
        return "wall".to_owned();
    }
    for t in sample_types {
        let st = table.get(t).map_or(t.as_str(), |c| c.suffix(t));
        let metric = if st.contains("cpu") {
            "process_cpu"
        } else if st.contains("alloc_") || st.contains("inuse_") || st == "space" || st == "objects"
        {
            "memory"
        } else if st.contains("mutex_") {
            "mutex"
        } else if st.contains("block_") {
            "block"
        } else if st.contains("goroutines") {
            "goroutines"
        } else {
            continue;
        };
        return metric.to_owned();
    }
    sample_types.last().cloned().unwrap_or_default()
}

/// A raw (gzipped or not) pprof body with `/ingest`'s parameters.
pub(crate) fn read(
    req: &Request,
    name: SeriesName,
    limits: &Limits,
) -> Result<(Vec<Series<'static>>, PprofFacts)> {
    let mut budget = Budget::new(limits);
    let types = match &req.sample_type_config {
        Some(json) => {
            SampleTypes::from_json(json).map_err(|e| Error::wrap(ErrorKind::Body, "", e, None))?
        }
        None => SampleTypes::default(),
    };
    let (series, facts, _) = series(
        &name,
        &req.body,
        &types,
        req.prev_profile.as_deref(),
        req.spy_name(),
        &mut budget,
        req.cancel.as_ref(),
    )?;
    Ok((series, facts))
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
/// with what the profile says of itself (its `time_nanos`, sample types) and its sample rate.
/// `prev` is the previous profile of a cumulative pair. The profile is read within what is left
/// of the request's `budget`, and spends what it builds.
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
) -> Result<(Vec<Series<'static>>, PprofFacts, Option<u32>)> {
    crate::request::check(cancel)?;
    // Decompression is bounded by the size limits alone; the tree-node limit follows the input.
    let dlimits = budget.pprof();
    let prev_buf = prev
        .map(|p| pyro_pprof::decode(p, &dlimits).map_err(|e| decode_err(e, "prev_profile: ")))
        .transpose()?;
    crate::request::check(cancel)?;
    let buf = pyro_pprof::decode(body, &dlimits).map_err(|e| decode_err(e, ""))?;
    budget.read(buf.len() + prev_buf.as_ref().map_or(0, |b| b.len()));
    let plimits = budget.pprof();
    let prev = prev_buf
        .as_deref()
        .map(|b| {
            pyro_pprof::Profile::parse(b, &plimits).map_err(|e| parse_err(e, "prev_profile: "))
        })
        .transpose()?;
    let p = pyro_pprof::Profile::parse(&buf, &plimits).map_err(|e| parse_err(e, ""))?;
    let series = pyro_pprof::to_series(&p, name, types, prev.as_ref(), &plimits)
        .map_err(|e| parse_err(e, ""))?;
    // Samples with a span id, per series and span (a profile of delta values only: a cumulative
    // pair's spans would need diffing). A profile of more spans than the label-set limit keeps
    // its series and loses its span data.
    let mut by_span: std::collections::BTreeMap<(String, String), pyro_tree::StackTree<'static>> =
        std::collections::BTreeMap::new();
    if prev.is_none() {
        // Bounded by what the request's node budget has left beside the series themselves.
        let series_nodes: usize = series.iter().map(|s| s.tree.node_count()).sum();
        let slimits = budget
            .pprof()
            .max_tree_nodes(budget.left().saturating_sub(series_nodes));
        for s in pyro_pprof::to_span_trees(&p, name, types, &slimits).unwrap_or_default() {
            // GP reads span ids as 8 bytes in 16 hex digits (`NewSpanSelector`); others are
            // not span ids it could select.
            if s.span_id.len() != 16 || !s.span_id.bytes().all(|b| b.is_ascii_hexdigit()) {
                continue;
            }
            let tree = s.tree.into_owned();
            match by_span.entry((s.series, s.span_id.to_ascii_lowercase())) {
                std::collections::btree_map::Entry::Occupied(mut e) => e.get_mut().merge(&tree),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(tree);
                }
            }
        }
    }
    let mut spans: std::collections::HashMap<String, Vec<(String, pyro_tree::StackTree<'static>)>> =
        std::collections::HashMap::new();
    for ((series, span), tree) in by_span {
        spans.entry(series).or_default().push((span, tree));
    }
    // The series outlive the decompressed buffer, so their trees own their names (trees that
    // share one shape keep sharing one owned copy of it).
    let series: Vec<Series<'static>> =
        pyro_tree::StackTree::take_owned_all(series, |s| &mut s.tree)
            .into_iter()
            .map(|(s, tree)| Series {
                spans: spans.remove(&s.name.key()).unwrap_or_default(),
                name: s.name,
                units: s.units,
                aggregation: Aggregation::parse(&s.aggregation),
                sample_rate: s.sample_rate,
                spy_name: spy_name.to_owned(),
                tree,
            })
            .collect();
    budget.spend(&series)?;
    Ok((series, PprofFacts::of(&p, types), period_hz(&p)))
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
