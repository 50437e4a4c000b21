//! `/render`: merged trees of the matching series as OG Pyroscope's JSON (spec §6.2) or collapsed
//! text.

use std::collections::BTreeMap;

use serde::Serialize;

use pyro_tree::{Flamebearer, StackTree};

use crate::attime::rfc3339;
use crate::storage::{Meta, SLOT_SECONDS, Slot};

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

/// The timeline of `slots` over `[st, et)` with OG's bucket width: the largest `10·10^k` below
/// `(et − st) / 1024`, at least 10 s.
pub fn timeline(st: i64, et: i64, slots: &[&Slot]) -> Timeline {
    let span = (et - st).max(0);
    let mut delta = SLOT_SECONDS;
    while delta * 10 < span / 1024 {
        delta *= 10;
    }
    // The last bucket may be partial (a range that is not a multiple of the width): it is kept,
    // or a wide range would hide the most recent data.
    let n = ((span + delta - 1) / delta).clamp(0, 1 << 20) as usize;
    let mut samples = vec![0u64; n];
    for s in slots {
        let i = (s.start - st).div_euclid(delta);
        if let Some(b) = usize::try_from(i).ok().and_then(|i| samples.get_mut(i)) {
            *b = (*b).max(1).saturating_add(s.tree.total());
        }
    }
    Timeline {
        start_time: st,
        samples,
        duration_delta: delta,
        watermarks: serde_json::Map::new(),
    }
}

/// Merges slots into one tree; with `average`/`avg` aggregation every node is divided by the
/// number of writes (OG's integer per-node division).
pub fn merge(slots: &[&Slot], meta: &Meta) -> StackTree<'static> {
    let mut tree = StackTree::new();
    let mut writes = 0u64;
    for s in slots {
        tree.merge(&s.tree);
        writes += s.writes;
    }
    if matches!(meta.aggregation.as_str(), "average" | "avg") && writes > 1 {
        tree.divide(writes)
    } else {
        tree
    }
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
    /// The slots read, for the timeline.
    pub slots: &'s [&'s Slot],
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
    let meta = if right.slots.is_empty() {
        left.meta
    } else {
        right.meta
    };
    let right_timeline = timeline(right.range.0, right.range.1, right.slots);
    let r = DiffResponse {
        version: 1,
        flamebearer: pyro_tree::diff_flamebearer(left.tree, right.tree, max_nodes),
        left_ticks: left.tree.total(),
        right_ticks: right.tree.total(),
        timeline: right_timeline.clone(),
        left_timeline: timeline(left.range.0, left.range.1, left.slots),
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

/// The pprof sample type (name, unit), period type and value scale of a series: the type is the
/// last `.` part of the app name (`app.cpu` → `cpu`), the unit follows the series' units: CPU
/// samples with a sample rate become `nanoseconds` (value × 10⁹ / rate, with a `cpu/nanoseconds`
/// period), `bytes` stays `bytes`, `lock_nanoseconds` is `nanoseconds`, counted things (`objects`,
/// `goroutines`, `lock_samples`, samples without a rate) are `count`. So `go tool pprof` prints
/// durations and bytes, and reading the file back with the app name gives the same series name.
fn pprof_types(meta: &Meta) -> PprofType {
    let ty = meta
        .app
        .rsplit_once('.')
        .map_or(meta.app.as_str(), |(_, t)| t)
        .to_owned();
    let units = if meta.units.is_empty() {
        "samples"
    } else {
        meta.units.as_str()
    };
    let rate = i64::from(meta.sample_rate);
    // The type decides where it is unambiguous (a folded `app.alloc_space` upload is `samples`
    // by default, yet bytes), as Grafana Pyroscope's ingest adapter maps them.
    let by_type = match ty.as_str() {
        t if t.ends_with("_space") || t.ends_with("_bytes") => Some("bytes"),
        t if t.ends_with("_objects")
            || matches!(t, "goroutine" | "goroutines" | "contentions" | "live")
            || t.ends_with("_count") =>
        {
            Some("count")
        }
        "delay" | "lock_duration" | "mutex_duration" | "block_duration" => Some("nanoseconds"),
        _ => None,
    };
    let (unit, period, scale) = match (by_type, units) {
        (Some(unit), _) => (unit, None, 1),
        // `samples` itself is the pprof name of CPU sample counts (Go's samples/count).
        (None, "samples") if rate > 0 && ty != "samples" => {
            let period = 1_000_000_000 / rate;
            ("nanoseconds", Some(period), period as u64)
        }
        (None, "samples") if rate > 0 => ("count", Some(1_000_000_000 / rate), 1),
        (None, "bytes") => ("bytes", None, 1),
        (None, "nanoseconds" | "lock_nanoseconds") => ("nanoseconds", None, 1),
        _ => ("count", None, 1),
    };
    PprofType {
        sample_type: (ty, unit.to_owned()),
        period,
        scale,
    }
}

/// The tree as a pprof profile (protobuf, uncompressed), as OG's `tree.Pprof` builds it: one
/// function and location per distinct frame name, one mapping, one sample per node with a
/// non-zero self value (leaf first); sample and period types as `pprof_types` derives them
/// from the series' type and units, so reading the file back with the app name gives the same
/// series.
pub fn pprof(tree: &StackTree<'_>, meta: &Meta) -> Vec<u8> {
    pprof_as(tree, &pprof_types(meta))
}

/// A pprof's one sample type, its period and the factor its values are scaled by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PprofType {
    /// Sample type and unit (`cpu`, `nanoseconds`).
    pub sample_type: (String, String),
    /// Period in nanoseconds, with period type `cpu/nanoseconds`.
    pub period: Option<i64>,
    /// Factor applied to every value.
    pub scale: u64,
}

/// The tree as a pprof profile of type `t` ([`pprof`]'s layout).
pub fn pprof_as(tree: &StackTree<'_>, t: &PprofType) -> Vec<u8> {
    use prost::Message;
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
    if let Some(period) = period {
        strings.push("cpu".into());
        strings.push("nanoseconds".into());
        p.period_type = Some(ValueType { r#type: 3, unit: 4 });
        p.period = period;
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
    p.encode_to_vec()
}
