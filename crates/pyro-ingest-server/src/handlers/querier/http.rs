//! `GET /pyroscope/render`: Grafana Pyroscope's HTTP render endpoint (`Render`,
//! pkg/querier/http.go), which Grafana's Profiles Drilldown reads flame graphs and timelines
//! from: `query=<profile type id>{selector}`, `from`/`until` (OG's time syntax), `groupBy`,
//! `aggregation=sum|avg`, `maxNodes`/`max-nodes`. It answers OG's flamebearer JSON built from
//! the querier's own `SelectMergeStacktraces` and `SelectSeries` (`ExportToFlamebearer`,
//! pkg/model/flamegraph.go; `timeline.New`, pkg/querier/timeline/timeline.go).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query as UrlQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::proto::{
    FlameGraph, ProfileType, SelectMergeProfileRequest, SelectMergeStacktracesRequest,
    SelectSeriesRequest, Series,
};
use super::{Ctx, QueryReader, Rpc, select_merge_stacktraces_of, select_series_of};
use crate::error::{Code, ConnectError};
use crate::state::AppState;
use pyro_labels::Selector;

/// GP's `parseQuery`: the selector without `__name__`, and the profile type `__name__` names.
fn parse_query(field: &str, q: &[(String, String)]) -> Rpc<(String, ProfileType)> {
    let invalid = |m: String| ConnectError::new(Code::InvalidArgument, m);
    let text = q
        .iter()
        .find(|(k, _)| k == field)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| invalid(format!("{field:?} is required")))?;
    let sel =
        Selector::parse(text).map_err(|e| invalid(format!("failed to parse {field:?}: {e}")))?;
    let name = sel
        .matchers()
        .iter()
        .find(|m| m.key() == "__name__")
        .ok_or_else(|| invalid(format!("{field:?} must contain a profile-type selection")))?;
    let parts: Vec<&str> = name.value().split(':').collect();
    let [metric, sample_type, sample_unit, period_type, period_unit] = parts[..] else {
        return Err(invalid(format!("failed to parse {field:?}")));
    };
    let t = ProfileType {
        id: name.value().to_owned(),
        name: metric.to_owned(),
        sample_type: sample_type.to_owned(),
        sample_unit: sample_unit.to_owned(),
        period_type: period_type.to_owned(),
        period_unit: period_unit.to_owned(),
    };
    Ok((sel.without("__name__").to_string(), t))
}

/// GP's `CalcPointInterval` (pkg/querier/timeline/calculator.go): the step of a timeline over
/// `[from_ms, until_ms]`, seconds: the range over 1,500 points, at least 15 s, rounded as
/// Grafana rounds intervals.
pub fn point_interval(from_ms: i64, until_ms: i64) -> f64 {
    let interval_ms = until_ms.saturating_sub(from_ms) / 1500;
    if interval_ms < 15_000 {
        return 15.0;
    }
    // (upper bound of the interval, the step) in milliseconds, as `roundInterval`.
    const TABLE: [(i64, i64); 31] = [
        (10, 1),
        (15, 10),
        (35, 20),
        (75, 50),
        (150, 100),
        (350, 200),
        (750, 500),
        (1_500, 1_000),
        (3_500, 2_000),
        (7_500, 5_000),
        (12_500, 10_000),
        (17_500, 15_000),
        (25_000, 20_000),
        (45_000, 30_000),
        (90_000, 60_000),
        (210_000, 120_000),
        (450_000, 300_000),
        (750_000, 600_000),
        (1_050_000, 900_000),
        (1_500_000, 1_200_000),
        (2_700_000, 1_800_000),
        (5_400_000, 3_600_000),
        (9_000_000, 7_200_000),
        (16_200_000, 10_800_000),
        (32_400_000, 21_600_000),
        (86_400_000, 43_200_000),
        (172_800_000, 86_400_000),
        (604_800_000, 86_400_000),
        (1_814_400_000, 604_800_000),
        (3_628_800_000 - 1, 2_592_000_000),
        (i64::MAX, 31_536_000_000),
    ];
    let step = TABLE
        .iter()
        .find(|(bound, _)| interval_ms <= *bound)
        .map_or(31_536_000_000, |(_, s)| *s);
    step as f64 / 1000.0
}

/// OG's flamebearer profile as GP's `Render` writes it (Go's field order).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    version: u32,
    flamebearer: Flamebearer,
    metadata: Metadata,
    timeline: Option<Timeline>,
    groups: Option<BTreeMap<String, Timeline>>,
    heatmap: Option<()>,
    /// `omitempty` in Go: written when not 0 (diffs).
    #[serde(skip_serializing_if = "is_zero")]
    left_ticks: i64,
    /// See `left_ticks`.
    #[serde(skip_serializing_if = "is_zero")]
    right_ticks: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// A request's selection as GP's `parseSelectProfilesRequest` reads it from `query`, `from`,
/// `until` (or their `left…`/`right…` names), `max-nodes` and `maxNodes`.
fn parse_select(
    q: &[(String, String)],
    [query, from, until]: [&str; 3],
) -> Rpc<(SelectMergeStacktracesRequest, ProfileType)> {
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let (selector, profile_type) = parse_query(query, q)?;
    let now = crate::attime::now();
    let start = get(from).map_or(now, |v| crate::attime::parse(v, now)) * 1000;
    let end = get(until).map_or(now, |v| crate::attime::parse(v, now)) * 1000;
    // GP's `Atoi` of `max-nodes`, then `maxNodes`; 0 is the querier's default.
    let mut max_nodes = 0;
    for k in ["max-nodes", "maxNodes"] {
        if let Some(n) = get(k)
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|n| *n != 0)
        {
            max_nodes = n;
        }
    }
    Ok((
        SelectMergeStacktracesRequest {
            profile_type_id: profile_type.id.clone(),
            label_selector: selector,
            start,
            end,
            max_nodes: Some(max_nodes),
            profile_id_selector: Vec::new(),
        },
        profile_type,
    ))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Flamebearer {
    names: Vec<String>,
    levels: Vec<Vec<i64>>,
    num_ticks: i64,
    max_self: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    format: &'static str,
    spy_name: &'static str,
    sample_rate: u32,
    units: String,
    name: String,
}

/// `FlamebearerTimelineV1`.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    start_time: i64,
    samples: Vec<u64>,
    duration_delta: i64,
    watermarks: Option<()>,
}

/// GP's `timeline.New`: the points of `series` in `[start_ms, end_ms)` (both snapped down to
/// the step), one sample per step, zero where there is no point.
pub fn timeline(series: Option<&Series>, start_ms: i64, end_ms: i64, step_sec: i64) -> Timeline {
    let step_sec = step_sec.max(1);
    let d = step_sec * 1000;
    let (start_ms, end_ms) = ((start_ms / d) * d, (end_ms / d) * d);
    let mut t = Timeline {
        start_time: start_ms / 1000,
        samples: Vec::new(),
        duration_delta: step_sec,
        watermarks: None,
    };
    if start_ms >= end_ms {
        return t;
    }
    let size = |a: i64, b: i64| ((b / 1000) - (a / 1000)) / step_sec;
    let whole = usize::try_from(size(start_ms, end_ms)).unwrap_or(0);
    let points: Vec<_> = series
        .map(|s| &s.points[..])
        .unwrap_or_default()
        .iter()
        .filter(|p| p.timestamp >= start_ms && p.timestamp < end_ms)
        .collect();
    let Some(first) = points.first() else {
        t.samples = vec![0; whole];
        return t;
    };
    let zeros = |n: i64, out: &mut Vec<u64>| {
        out.extend(std::iter::repeat_n(0, usize::try_from(n).unwrap_or(0)));
    };
    zeros(size(start_ms, first.timestamp), &mut t.samples);
    let mut prev = first.timestamp;
    for p in &points {
        zeros(size(prev, p.timestamp) - 1, &mut t.samples);
        // Go's uint64(float64): the value truncated.
        t.samples.push(p.value.max(0.0) as u64);
        prev = p.timestamp;
    }
    if t.samples.len() < whole {
        t.samples.resize(whole, 0);
    }
    t
}

/// GP's `ExportToFlamebearer`: units and sample rate from the profile type (CPU in
/// nanoseconds reads as samples at 10⁹ Hz; object counts as `objects`).
fn flamebearer_of(fg: FlameGraph, t: &ProfileType) -> (Flamebearer, Metadata) {
    let (units, sample_rate) = match t.sample_type.as_str() {
        "inuse_objects" | "alloc_objects" | "goroutine" | "samples" => ("objects".to_owned(), 100),
        "cpu" => ("samples".to_owned(), 1_000_000_000),
        _ => (t.sample_unit.clone(), 100),
    };
    (
        Flamebearer {
            names: fg.names,
            levels: fg.levels.into_iter().map(|l| l.values).collect(),
            num_ticks: fg.total,
            max_self: fg.max_self,
        },
        Metadata {
            format: "single",
            spy_name: "",
            sample_rate,
            units,
            name: t.sample_type.clone(),
        },
    )
}

/// Most nodes of a `format=dot` graph.
const MAX_DOT_NODES: i64 = 10_000;

/// `GET /pyroscope/render`.
pub async fn render(
    State(state): State<Arc<AppState>>,
    QueryReader { tenant, .. }: QueryReader,
    UrlQuery(q): UrlQuery<Vec<(String, String)>>,
) -> Result<Response, ConnectError> {
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let (flame_req, profile_type) = parse_select(&q, ["query", "from", "until"])?;
    if get("format") == Some("dot") {
        // GP's `Render` (pkg/querier/http.go): the merged profile of at most 512 nodes (or
        // the graph's node count, when larger), then a graph of `maxNodes` nodes (100).
        // A graph of more than `MAX_DOT_NODES` is read as one of that many: its redundant-edge
        // pass is quadratic in the edges, and Graphviz draws nothing useful past it.
        let dot_nodes = flame_req
            .max_nodes
            .filter(|&n| n > 0)
            .unwrap_or(100)
            .min(MAX_DOT_NODES);
        let source_nodes = dot_nodes.max(512);
        let req = SelectMergeProfileRequest {
            profile_type_id: flame_req.profile_type_id,
            label_selector: flame_req.label_selector,
            start: flame_req.start,
            end: flame_req.end,
            max_nodes: Some(source_nodes),
            profile_id_selector: Vec::new(),
        };
        // Built on the read's blocking thread, under its budget.
        let body = super::run_in(state, tenant, move |ctx: &Ctx<'_>| {
            let raw = super::select_merge_profile_of(ctx, req)?;
            let profile = <pyro_pprof::model::Profile as prost::Message>::decode(&raw.0[..])
                .map_err(|e| ConnectError::new(Code::Internal, e.to_string()))?;
            Ok(if profile.sample.is_empty() {
                String::new()
            } else {
                crate::dot::write(&profile, usize::try_from(dot_nodes).unwrap_or(usize::MAX))
            })
        })
        .await?;
        return Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response());
    }
    let (start, end) = (flame_req.start, flame_req.end);
    let group_by: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == "groupBy")
        .map(|(_, v)| v.clone())
        .collect();
    let aggregation = match get("aggregation") {
        Some("avg") => 1,
        _ => 0,
    };
    let step = point_interval(start, end);
    let series_req = SelectSeriesRequest {
        profile_type_id: profile_type.id.clone(),
        label_selector: flame_req.label_selector.clone(),
        start,
        end,
        group_by: group_by.clone(),
        step,
        aggregation: Some(aggregation),
        limit: None,
    };
    let (flame, series) = super::run_in(state, tenant, move |ctx: &Ctx<'_>| {
        Ok((
            select_merge_stacktraces_of(ctx, flame_req)?,
            select_series_of(ctx, series_req)?,
        ))
    })
    .await?;
    let step_sec = step as i64;
    let (flamebearer, metadata) =
        flamebearer_of(flame.flamegraph.unwrap_or_default(), &profile_type);
    let only = (series.series.len() == 1).then(|| &series.series[0]);
    let groups = group_by.first().map(|g| {
        series
            .series
            .iter()
            .map(|s| {
                let key = s
                    .labels
                    .iter()
                    .find(|l| &l.name == g)
                    .map_or("*", |l| l.value.as_str());
                (key.to_owned(), timeline(Some(s), start, end, step_sec))
            })
            .collect()
    });
    let profile = Profile {
        version: 1,
        flamebearer,
        metadata,
        timeline: Some(timeline(only, start, end, step_sec)),
        groups,
        heatmap: None,
        left_ticks: 0,
        right_ticks: 0,
    };
    let mut body = serde_json::to_vec(&profile).unwrap_or_default();
    body.push(b'\n');
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// `GET /pyroscope/render-diff`: GP's `RenderDiff` (pkg/querier/http.go): `leftQuery`,
/// `leftFrom`, `leftUntil` against `rightQuery`, `rightFrom`, `rightUntil` (one profile type),
/// compared by the querier's `Diff` and exported as a `double` flamebearer
/// (`ExportDiffToFlamebearer`, pkg/model/flamegraph.go).
pub async fn render_diff(
    State(state): State<Arc<AppState>>,
    QueryReader { tenant, .. }: QueryReader,
    UrlQuery(q): UrlQuery<Vec<(String, String)>>,
) -> Result<Response, ConnectError> {
    let (left, left_type) = parse_select(&q, ["leftQuery", "leftFrom", "leftUntil"])?;
    let (right, right_type) = parse_select(&q, ["rightQuery", "rightFrom", "rightUntil"])?;
    if left_type.id != right_type.id {
        return Err(ConnectError::new(
            Code::InvalidArgument,
            "profile types must match",
        ));
    }
    let req = super::proto::DiffRequest {
        left: Some(left),
        right: Some(right),
    };
    let diff = super::run_in(state, tenant, move |ctx: &Ctx<'_>| super::diff_of(ctx, req))
        .await?
        .flamegraph
        .unwrap_or_default();
    let (left_ticks, right_ticks) = (diff.left_ticks, diff.right_ticks);
    let single = FlameGraph {
        names: diff.names,
        levels: diff.levels,
        total: diff.total,
        max_self: diff.max_self,
    };
    let (flamebearer, mut metadata) = flamebearer_of(single, &left_type);
    metadata.format = "double";
    let profile = Profile {
        version: 1,
        flamebearer,
        metadata,
        timeline: None,
        groups: None,
        heatmap: None,
        left_ticks,
        right_ticks,
    };
    let mut body = serde_json::to_vec(&profile).unwrap_or_default();
    body.push(b'\n');
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::querier::proto::Point;

    fn series(points: &[(i64, f64)]) -> Series {
        Series {
            labels: Vec::new(),
            points: points
                .iter()
                .map(|&(timestamp, value)| Point { timestamp, value })
                .collect(),
        }
    }

    /// GP's `Test_CalcPointInterval` (pkg/querier/timeline/calculator_test.go).
    #[test]
    fn point_intervals_are_gps() {
        let start = 1_681_779_723_000; // 2023-04-18T01:02:03Z
        let h = 3_600_000;
        for (span, want) in [
            (1000, 15.0),
            (h, 15.0),
            (7 * 24 * h, 300.0),
            (30 * 24 * h, 1800.0),
            (6 * 30 * 24 * h, 10800.0),
            (12 * 30 * 24 * h, 21600.0),
            (2 * 12 * 30 * 24 * h, 43200.0),
            (5 * 12 * 30 * 24 * h, 86400.0),
        ] {
            assert_eq!(point_interval(start, start + span), want, "{span}");
        }
    }

    /// GP's timeline tests (pkg/querier/timeline/timeline_test.go).
    #[test]
    fn timelines_are_gps() {
        // Test_Backfill_Data_Start_End
        let t = timeline(
            Some(&series(&[(1_692_397_077_190, 99.0)])),
            1_692_397_017_190,
            1_692_397_137_190,
            10,
        );
        assert_eq!(t.start_time, 1_692_397_010);
        assert_eq!(t.samples, [0, 0, 0, 0, 0, 0, 99, 0, 0, 0, 0, 0]);
        // Test_Backfill_Arbitrary
        let s = series(&[(2000, 69.0), (3000, 83.0), (6000, 85.0), (8000, 91.0)]);
        let t = timeline(Some(&s), 0, 10_000, 1);
        assert_eq!(t.samples, [0, 0, 69, 83, 0, 0, 85, 0, 91, 0]);
        // Test_Backfill_LastSample
        let s = series(&[(23_000, 69.0), (53_000, 91.0)]);
        assert_eq!(
            timeline(Some(&s), 3000, 53_000, 10).samples,
            [0, 0, 69, 0, 0]
        );
        let t = timeline(Some(&s), 3000, 63_000, 10);
        assert_eq!(
            (t.start_time, &t.samples[..]),
            (0, &[0, 0, 69, 0, 0, 91][..])
        );
        // No series, an empty range.
        assert_eq!(timeline(None, 0, 30_000, 10).samples, [0, 0, 0]);
        assert!(timeline(None, 30_000, 30_000, 10).samples.is_empty());
    }
}
