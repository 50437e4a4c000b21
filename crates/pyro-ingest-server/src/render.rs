//! `/render`: merged trees of the matching series as OG Pyroscope's JSON (spec §6.2) or collapsed
//! text.

use std::collections::BTreeMap;

use serde::Serialize;

use pyro_tree::{Flamebearer, StackTree};

use pyro_store::{Found, Meta, ReadBudget, SLOT_SECONDS, Store, StoreError, Typed};

use crate::attime::rfc3339;

/// OG's `max-nodes-render` default.
pub const DEFAULT_MAX_NODES: usize = 8192;

/// A timeline: `samples[i]` is 0 for no data, else 1 + the values ingested in bucket `i`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    /// First bucket start (Unix seconds).
    pub start_time: i64,
    /// One entry per bucket.
    pub samples: Vec<u64>,
    /// Bucket width in seconds.
    pub duration_delta: i64,
    /// Always `{}`.
    pub watermarks: serde_json::Map<String, serde_json::Value>,
}

/// `[st, et]` normalized to slots as OG does: `st` truncated; `et` kept when aligned and
/// different from `st`, else truncated plus one slot.
pub fn normalize(from: i64, until: i64) -> (i64, i64) {
    let st = from.div_euclid(SLOT_SECONDS) * SLOT_SECONDS;
    let et = if until.rem_euclid(SLOT_SECONDS) == 0 && until != st {
        until
    } else {
        until.div_euclid(SLOT_SECONDS) * SLOT_SECONDS + SLOT_SECONDS
    };
    (st, et)
}

/// OG's timeline width for `[st, et)`: the largest `10·10^k` below `(et − st) / 1024`, at least
/// 10 s (`GenerateTimeline`, `pkg/og/storage/segment/timeline.go` in grafana/pyroscope), and the
/// number of buckets.
pub fn timeline_shape(st: i64, et: i64) -> (i64, usize) {
    let span = (et - st).max(0);
    let mut delta = SLOT_SECONDS;
    while delta * 10 < span / 1024 {
        delta *= 10;
    }
    // The last bucket may be partial (a range that is not a multiple of the width): it is kept,
    // or a wide range would hide the most recent data.
    let n = ((span + delta - 1) / delta).clamp(0, 1 << 20) as usize;
    (delta, n)
}

/// A timeline without data.
pub fn empty_timeline(st: i64, et: i64) -> Timeline {
    let (delta, n) = timeline_shape(st, et);
    Timeline {
        start_time: st,
        samples: vec![0; n],
        duration_delta: delta,
        watermarks: serde_json::Map::new(),
    }
}

/// The timeline of `series` over `[st, et)` with OG's bucket width, read from the store's levels
/// (entry totals only): bucket `i` is 0 without data, else 1 + the values ingested in it in OG
/// units (`scale`: the answer's [`Typed::scale`]). Each stored window counts in the bucket of its
/// start, as OG places segment nodes.
///
/// # Errors
/// A storage failure or a cancelled read.
pub fn timeline(
    store: &Store,
    tenant: &str,
    series: &[&Found],
    (st, et): (i64, i64),
    scale: u64,
    budget: &ReadBudget<'_>,
) -> Result<Timeline, StoreError> {
    let mut t = empty_timeline(st, et);
    let mut buckets = vec![(0u64, 0u64); t.samples.len()];
    for f in series {
        store.totals(
            tenant,
            f.id,
            (st, et),
            st,
            t.duration_delta,
            budget,
            &mut buckets,
        )?;
    }
    for (s, (total, entries)) in t.samples.iter_mut().zip(buckets) {
        if entries > 0 {
            *s = 1u64.saturating_add(total / scale.max(1));
        }
    }
    Ok(t)
}

/// The merged tree of `series` over `[st, et)` in OG's units: the store's merge (values in the
/// profile type's unit) divided by the answer's scale, and with `average`/`avg` aggregation by
/// the number of writes (OG's integer per-node division). The answer's metadata is the last
/// series' (OG: the last segment's).
///
/// # Errors
/// A storage failure, an answer over the read budget, a cancelled read.
pub fn merged(
    store: &Store,
    tenant: &str,
    series: &[&Found],
    (st, et): (i64, i64),
    budget: &ReadBudget<'_>,
) -> Result<(StackTree<'static>, Meta), StoreError> {
    let mut m = pyro_store::Merged::default();
    for f in series {
        store.merge_range_into(tenant, f.id, st, et, budget, &mut m)?;
    }
    let meta = series.last().map(|f| f.meta.clone()).unwrap_or_default();
    let mut tree = m.tree;
    if meta.averaged() && m.writes > 1 {
        tree = tree.divide(m.writes);
    }
    Ok((tree.divide(meta.typed().scale), meta))
}

/// What a series' values are, as every answer's `metadata` states it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Values<'m> {
    spy_name: &'m str,
    sample_rate: u32,
    units: &'m str,
}

impl<'m> Values<'m> {
    fn of(meta: &'m Meta) -> Self {
        Values {
            spy_name: &meta.spy_name,
            sample_rate: meta.sample_rate,
            units: &meta.units,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Metadata<'m> {
    format: &'static str,
    #[serde(flatten)]
    values: Values<'m>,
    name: String,
    app_name: &'m str,
    start_time: i64,
    end_time: i64,
    query: &'m str,
    max_nodes: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Response<'t> {
    version: u32,
    flamebearer: Flamebearer<'t>,
    timeline: &'t Timeline,
    groups: BTreeMap<&'t str, &'t Timeline>,
    heatmap: Option<()>,
    metadata: Metadata<'t>,
    annotations: [(); 0],
}

/// The app name and query text a response echoes.
pub struct Names<'n> {
    /// `metadata.appName`.
    pub app: &'n str,
    /// `metadata.query`.
    pub query: &'n str,
}

/// The `/render?format=json` body; `groups` holds one timeline per `groupBy` value (or `*`),
/// and groups without data are left out.
pub fn json(
    tree: &StackTree<'_>,
    timeline: &Timeline,
    groups: &BTreeMap<String, Timeline>,
    meta: &Meta,
    names: &Names<'_>,
    (st, et): (i64, i64),
    max_nodes: Option<usize>,
) -> String {
    let (app_name, query) = (names.app, names.query);
    let groups: BTreeMap<&str, &Timeline> = groups
        .iter()
        .filter(|(_, t)| t.samples.iter().any(|&s| s != 0))
        .map(|(g, t)| (g.as_str(), t))
        .collect();
    let r = Response {
        version: 1,
        flamebearer: tree.flamebearer(max_nodes),
        timeline,
        groups,
        heatmap: None,
        metadata: Metadata {
            format: "single",
            values: Values::of(meta),
            name: format!("{app_name} {}", rfc3339(st)),
            app_name,
            start_time: st,
            end_time: et,
            query,
            max_nodes: max_nodes.map_or(-1, |n| n as i64),
        },
        annotations: [],
    };
    serde_json::to_string(&r).unwrap_or_default()
}

/// The `/render` JSON of one tree outside the store (`convert --output html`): no timeline
/// data, no truncation, `title` as the name and query.
pub fn json_of_tree(tree: &StackTree<'_>, meta: &Meta, title: &str) -> String {
    let empty = Timeline {
        start_time: 0,
        samples: Vec::new(),
        duration_delta: SLOT_SECONDS,
        watermarks: serde_json::Map::new(),
    };
    json(
        tree,
        &empty,
        &BTreeMap::new(),
        meta,
        &Names {
            app: &meta.app,
            query: title,
        },
        (0, 0),
        None,
    )
}

/// One side of a comparison: its merged tree and what its answer echoes.
pub struct Side<'s> {
    /// The merged tree.
    pub tree: &'s StackTree<'s>,
    /// The series' metadata (units, sample rate).
    pub meta: &'s Meta,
    /// The app name and query.
    pub names: Names<'s>,
    /// The normalized range.
    pub range: (i64, i64),
    /// Its timeline.
    pub timeline: Timeline,
    /// Whether it holds data.
    pub has_data: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SideMetadata<'m> {
    name: String,
    app_name: &'m str,
    query: &'m str,
    start_time: i64,
    end_time: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DiffResponse<'t> {
    version: u32,
    flamebearer: pyro_tree::DiffFlamebearer,
    left_ticks: u64,
    right_ticks: u64,
    timeline: Timeline,
    left_timeline: Timeline,
    right_timeline: Timeline,
    metadata: DiffMetadata<'t>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DiffMetadata<'m> {
    format: &'static str,
    #[serde(flatten)]
    values: Values<'m>,
    name: String,
    app_name: &'m str,
    max_nodes: i64,
    left: SideMetadata<'m>,
    right: SideMetadata<'m>,
}

/// The `/render-diff` body: OG's `double` flamebearer of the two sides (`leftTicks`,
/// `rightTicks` beside it), the right side's timeline as `timeline` and each side's own; units
/// and sample rate are the right side's (the left's when the right has no data).
pub fn diff_json(left: &Side<'_>, right: &Side<'_>, max_nodes: Option<usize>) -> String {
    fn side_meta<'m>(s: &Side<'m>) -> SideMetadata<'m> {
        SideMetadata {
            name: format!("{} {}", s.names.app, rfc3339(s.range.0)),
            app_name: s.names.app,
            query: s.names.query,
            start_time: s.range.0,
            end_time: s.range.1,
        }
    }
    let meta = if right.has_data {
        right.meta
    } else {
        left.meta
    };
    let right_timeline = right.timeline.clone();
    let r = DiffResponse {
        version: 1,
        flamebearer: pyro_tree::diff_flamebearer(left.tree, right.tree, max_nodes),
        left_ticks: left.tree.total(),
        right_ticks: right.tree.total(),
        timeline: right_timeline.clone(),
        left_timeline: left.timeline.clone(),
        right_timeline,
        metadata: DiffMetadata {
            format: "double",
            values: Values::of(meta),
            name: format!("{} vs {}", left.names.query, right.names.query),
            app_name: right.names.app,
            max_nodes: max_nodes.map_or(-1, |n| n as i64),
            left: side_meta(left),
            right: side_meta(right),
        },
    };
    serde_json::to_string(&r).unwrap_or_default()
}

/// What a series' values count, as a flamegraph's count label: CPU samples with a rate are
/// `samples`, otherwise the stored units (`samples` when none).
fn count_name(meta: &Meta) -> String {
    if meta.units.is_empty() {
        "samples".to_owned()
    } else {
        meta.units.clone()
    }
}

/// The tree as an SVG flamegraph drawn by `inferno` (the same picture `flamegraph.pl` draws:
/// frames sorted by name, hover titles with values and shares, click to zoom inside the SVG).
/// An empty tree gives a small SVG that says so.
pub fn svg(tree: &StackTree<'_>, meta: &Meta, title: &str) -> Vec<u8> {
    let lines: Vec<String> = tree
        .folded_lines()
        .into_iter()
        .map(|(stack, value)| format!("{stack} {value}"))
        .collect();
    if lines.is_empty() {
        return empty_svg(title);
    }
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_owned();
    options.count_name = count_name(meta);
    options.hash = true;
    let mut out = Vec::new();
    match inferno::flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), &mut out)
    {
        Ok(()) => out,
        Err(_) => empty_svg(title),
    }
}

fn empty_svg(title: &str) -> Vec<u8> {
    let escaped = title
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<?xml version=\"1.0\" standalone=\"no\"?>\n<svg version=\"1.1\" width=\"1200\" height=\"60\" \
         xmlns=\"http://www.w3.org/2000/svg\"><text x=\"600\" y=\"24\" text-anchor=\"middle\" \
         font-family=\"Verdana\" font-size=\"17\">{escaped}</text><text x=\"600\" y=\"48\" \
         text-anchor=\"middle\" font-family=\"Verdana\" font-size=\"12\">no data in this range</text></svg>\n"
    )
    .into_bytes()
}

/// The tree (in OG units, as `/render` answers) as a pprof profile, as OG's `tree.Pprof` builds
/// it: one function and location per distinct frame name, one mapping, one sample per node with
/// a non-zero self value (leaf first); sample and period types are the series' Grafana
/// Pyroscope profile type, values scaled back to its unit (CPU samples at a rate become
/// nanoseconds with a `cpu/nanoseconds` period), so `go tool pprof` prints durations and bytes.
pub fn pprof(tree: &StackTree<'_>, meta: &Meta) -> Vec<u8> {
    let typed = meta.typed();
    // The sample type is named after the app's type suffix, so reading the file back with the
    // app name gives the same series; its unit is the profile type's.
    let suffix = meta.app.rsplit_once('.').map_or("cpu", |(_, t)| t);
    let t = PprofType {
        sample_type: (suffix.to_owned(), typed.profile_type.sample_unit.clone()),
        period: typed.period,
        period_type: None,
        default_sample_type: false,
        scale: typed.scale,
    };
    pprof_as(tree, &t)
}

/// A pprof's one sample type, its period and the factor its values are scaled by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PprofType {
    /// Sample type and unit (`cpu`, `nanoseconds`).
    pub sample_type: (String, String),
    /// Period in nanoseconds, with period type `cpu/nanoseconds` unless `period_type` says
    /// otherwise.
    pub period: Option<i64>,
    /// The period type and unit, when not `cpu/nanoseconds` of a `period`.
    pub period_type: Option<(String, String)>,
    /// Name the sample type as the default one (`default_sample_type`).
    pub default_sample_type: bool,
    /// Factor applied to every value.
    pub scale: u64,
}

impl PprofType {
    /// The pprof of a series of this type whose tree is in the type's unit already: its sample
    /// type and unit, the period for CPU and wall time at a sample rate, no scaling.
    pub fn of(typed: &Typed) -> PprofType {
        let t = &typed.profile_type;
        PprofType {
            sample_type: (t.sample_type.clone(), t.sample_unit.clone()),
            period: typed.period,
            period_type: None,
            default_sample_type: false,
            scale: 1,
        }
    }

    /// A merged profile as Grafana Pyroscope's `SelectMergeProfile` answers it
    /// (`SetProfileMetadata`, pkg/pprof/pprof.go): the type's sample type (the default one) and
    /// period type, and its guess of the period (`process_cpu` 10⁹, `memory` 512 KiB, else 1).
    pub fn of_merge(t: &pyro_store::ProfileType) -> PprofType {
        PprofType {
            sample_type: (t.sample_type.clone(), t.sample_unit.clone()),
            period: Some(gp_period(&t.name)),
            period_type: Some((t.period_type.clone(), t.period_unit.clone())),
            default_sample_type: true,
            scale: 1,
        }
    }

    /// A JFR series as grafana/jfr-parser builds its pprof: the period type of its profile type
    /// (`cpu/nanoseconds`, `wall/nanoseconds`, `space/bytes`, `mutex/count`, `block/count`,
    /// `objects/count`; spec §10 of the JFR notes), with the sample period for CPU and wall.
    pub fn of_jfr(typed: &Typed) -> PprofType {
        let t = &typed.profile_type;
        let period_type = (!t.period_type.is_empty() && !t.period_unit.is_empty())
            .then(|| (t.period_type.clone(), t.period_unit.clone()));
        PprofType {
            period: typed.period.or_else(|| Some(gp_period(&t.name))),
            period_type,
            ..PprofType::of(typed)
        }
    }
}

/// Grafana Pyroscope's period of a merged profile by metric (`SetProfileMetadata`), which
/// jfr-parser's allocation (512 KiB) and lock (1) profiles carry too.
fn gp_period(metric: &str) -> i64 {
    match metric {
        "process_cpu" => 1_000_000_000,
        "memory" => 512 * 1024,
        _ => 1,
    }
}

/// The tree as a pprof profile of type `t` ([`pprof`]'s layout).
pub fn pprof_as(tree: &StackTree<'_>, t: &PprofType) -> Vec<u8> {
    use prost::Message;
    pprof_model(tree, t).encode_to_vec()
}

/// [`pprof_as`] before it is encoded.
pub fn pprof_model(tree: &StackTree<'_>, t: &PprofType) -> pyro_pprof::model::Profile {
    use pyro_pprof::model::{Function, Line, Location, Mapping, Profile, Sample, ValueType};

    let (period, scale) = (t.period, t.scale);
    let mut strings: Vec<String> = vec![
        String::new(),
        t.sample_type.0.clone(),
        t.sample_type.1.clone(),
    ];
    let mut ids: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut p = Profile {
        sample_type: vec![ValueType { r#type: 1, unit: 2 }],
        mapping: vec![Mapping {
            id: 1,
            ..Default::default()
        }],
        ..Default::default()
    };
    let period_type = match (&t.period_type, period) {
        (Some((ty, unit)), _) => Some((ty.clone(), unit.clone())),
        (None, Some(_)) => Some(("cpu".to_owned(), "nanoseconds".to_owned())),
        (None, None) => None,
    };
    if let Some((ty, unit)) = period_type {
        strings.push(ty);
        strings.push(unit);
        p.period_type = Some(ValueType { r#type: 3, unit: 4 });
        p.period = period.unwrap_or(0);
    }
    if t.default_sample_type {
        p.default_sample_type = 1;
    }
    tree.for_each_stack(|frames, value| {
        let mut location_id = Vec::with_capacity(frames.len());
        for f in frames.iter().rev() {
            let next = ids.len() as u64 + 1;
            let id = *ids.entry((*f).to_owned()).or_insert_with(|| {
                strings.push((*f).to_owned());
                let name = strings.len() as i64 - 1;
                p.function.push(Function {
                    id: next,
                    name,
                    ..Default::default()
                });
                p.location.push(Location {
                    id: next,
                    mapping_id: 1,
                    line: vec![Line {
                        function_id: next,
                        line: 0,
                    }],
                    ..Default::default()
                });
                next
            });
            location_id.push(id);
        }
        p.sample.push(Sample {
            location_id,
            value: vec![i64::try_from(value.saturating_mul(scale)).unwrap_or(i64::MAX)],
            label: Vec::new(),
        });
    });
    p.string_table = strings;
    p
}
