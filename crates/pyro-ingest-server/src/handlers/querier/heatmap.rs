//! `SelectHeatmap`: how the uploads of the selected series spread over time and value, as
//! Grafana Pyroscope's query frontend answers it (`SelectHeatmap`,
//! pkg/frontend/readpath/queryfrontend/query_heatmap.go): one point per upload (its total in the
//! profile type's unit) or, for span queries, per span of an upload, grouped by the `group_by`
//! labels (`heatmap.Builder`), then bucketed by `RangeHeatmap` (pkg/model/heatmap/range.go: 20
//! value buckets between the smallest and largest point of all series, one slot per step) and cut
//! to the top `limit` series (`heatmap.TopSeries`). With `exemplar_type` each bucket of a slot
//! names its highest point (`RangeHeatmap`'s `cellBestPoint`): an upload by a profile id that
//! `profile_id_selector` opens ([`profile_id`]), or a span by its id.

use std::collections::BTreeMap;

use super::proto::{
    Exemplar, HeatmapSeries, HeatmapSlot, LabelPair, SelectHeatmapRequest, SelectHeatmapResponse,
};
use super::{Ctx, Rpc, selected};
use crate::error::{Code, ConnectError};

/// One point of a series: a time (ms), a value, and the exemplar it would be.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// Unix milliseconds.
    pub ts: i64,
    /// The upload's (or span's) total.
    pub value: i64,
    /// What names it, when exemplars were asked for.
    pub exemplar: Option<Exemplar>,
}

impl From<(i64, i64)> for Point {
    fn from((ts, value): (i64, i64)) -> Point {
        Point {
            ts,
            value,
            exemplar: None,
        }
    }
}

/// Points of one series.
pub type Points = Vec<Point>;

/// The profile id of upload `seq` of series `series`: the two numbers as one UUID-shaped
/// string, as Grafana Pyroscope names profiles by UUID and Grafana hands them back in
/// `profile_id_selector`.
pub fn profile_id(series: u64, seq: u64) -> String {
    let x = (u128::from(series) << 64) | u128::from(seq);
    let h = format!("{x:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The (series, upload) a [`profile_id`] names. Read as google/uuid's `Parse` reads UUIDs (what
/// Grafana Pyroscope's `withProfileIDSelector` calls), with its messages: 36 characters with
/// dashes, 38 in braces, 45 with `urn:uuid:`, or 32 hex digits.
pub fn parse_profile_id(s: &str) -> Result<(u64, u64), String> {
    let b = s.as_bytes();
    let body = match b.len() {
        36 => s,
        38 if b[0] == b'{' && b[37] == b'}' => &s[1..37],
        38 => return Err("invalid UUID format".into()),
        45 if s[..9].eq_ignore_ascii_case("urn:uuid:") => &s[9..],
        45 => return Err(format!("invalid urn prefix: {:?}", &s[..9])),
        32 => {
            return u128::from_str_radix(s, 16)
                .ok()
                .filter(|_| b.iter().all(u8::is_ascii_hexdigit))
                .map(|x| ((x >> 64) as u64, x as u64))
                .ok_or_else(|| "invalid UUID format".into());
        }
        n => return Err(format!("invalid UUID length: {n}")),
    };
    let d = body.as_bytes();
    if [8, 13, 18, 23].iter().any(|&i| d[i] != b'-') {
        return Err("invalid UUID format".into());
    }
    let hex: String = body.chars().filter(|&c| c != '-').collect();
    if hex.len() != 32 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err("invalid UUID format".into());
    }
    let x = u128::from_str_radix(&hex, 16).map_err(|_| "invalid UUID format".to_owned())?;
    Ok(((x >> 64) as u64, x as u64))
}

/// A span id as Grafana Pyroscope holds it (`uint64` of its 8 bytes, little-endian): the order
/// its heatmap points are kept in.
fn span_order(hex: &str) -> u64 {
    let mut b = [0u8; 8];
    for (i, byte) in b.iter_mut().enumerate() {
        *byte = hex
            .get(2 * i..2 * i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0);
    }
    u64::from_le_bytes(b)
}

/// GP's `DefaultYAxisBuckets`.
pub const Y_BUCKETS: usize = 20;

/// One value bucket: `[min, max)`, the last one closed.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    min: i64,
    max: i64,
}

/// GP's `createYAxisBuckets`: `n` evenly spaced buckets, the last one ending at `max`.
fn y_buckets(min: i64, max: i64, n: usize) -> Vec<Bucket> {
    let size = (max - min) as f64 / n as f64;
    let mut out: Vec<Bucket> = (0..n)
        .map(|i| Bucket {
            min: min + (i as f64 * size) as i64,
            max: min + ((i + 1) as f64 * size) as i64,
        })
        .collect();
    if let Some(last) = out.last_mut() {
        last.max = max;
    }
    out
}

/// GP's `findValueBucket`.
fn find_bucket(value: i64, buckets: &[Bucket]) -> Option<usize> {
    if let Some(i) = buckets.iter().position(|b| value >= b.min && value < b.max) {
        return Some(i);
    }
    match buckets.last() {
        Some(b) if value >= b.min => Some(buckets.len() - 1),
        _ => None,
    }
}

/// GP's `roundUpTimestamp`: up to the next step edge counted from `start`.
fn round_up(mut ts: i64, start: i64, step: i64) -> i64 {
    let start_mod = start % step;
    ts -= start_mod;
    if ts % step != 0 {
        ts = (ts / step + 1) * step;
    }
    ts + start_mod
}

/// GP's `normalizeTimestamp`: the right edge of the step `ts` falls in, within
/// `[start, end]`.
fn normalize(ts: i64, start: i64, end: i64, step: i64) -> i64 {
    let ts = round_up(ts, start, step);
    let end = round_up(end, start, step);
    ts.clamp(start, end.max(start))
}

/// GP's `RangeHeatmap` of `series` (labels, points) over `[start, end]` milliseconds in steps
/// of `step` milliseconds. Each bucket of a slot gets the exemplar of its highest point (the
/// first of equals in the points' order, GP's `cellBestPoint`) when its points carry them;
/// a slot lists them by bucket.
pub fn range_heatmap(
    series: &[(Vec<LabelPair>, Points)],
    start: i64,
    end: i64,
    step: i64,
) -> Vec<HeatmapSeries> {
    let with_points: Vec<_> = series.iter().filter(|(_, p)| !p.is_empty()).collect();
    let (mut min, mut max) = (i64::MAX, 0i64);
    for (_, points) in &with_points {
        for p in points {
            min = min.min(p.value);
            max = max.max(p.value);
        }
    }
    if with_points.is_empty() || min == i64::MAX {
        return Vec::new();
    }
    if min == max {
        max = min + 1;
    }
    let buckets = y_buckets(min, max, Y_BUCKETS);
    with_points
        .into_iter()
        .map(|(labels, points)| {
            // Per slot: the counts of its buckets and each bucket's best point.
            type Cell<'p> = (Vec<i32>, Vec<Option<&'p Point>>);
            let mut cells: BTreeMap<i64, Cell<'_>> = BTreeMap::new();
            for p in points {
                let Some(y) = find_bucket(p.value, &buckets) else {
                    continue;
                };
                let ts = normalize(p.ts, start, end, step);
                let (counts, best) = cells
                    .entry(ts)
                    .or_insert_with(|| (vec![0; buckets.len()], vec![None; buckets.len()]));
                counts[y] += 1;
                if p.exemplar.is_some() && best[y].is_none_or(|b| p.value > b.value) {
                    best[y] = Some(p);
                }
            }
            HeatmapSeries {
                labels: labels.clone(),
                slots: cells
                    .into_iter()
                    .map(|(timestamp, (counts, best))| HeatmapSlot {
                        timestamp,
                        y_min: buckets.iter().map(|b| b.min as f64).collect(),
                        counts,
                        exemplars: best
                            .into_iter()
                            .flatten()
                            .filter_map(|p| p.exemplar.clone())
                            .collect(),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// GP's heatmap `TopSeries`: the `k` series with the most points, ties by their labels.
pub fn top_series(mut series: Vec<HeatmapSeries>, k: usize) -> Vec<HeatmapSeries> {
    if k == 0 || series.len() <= k {
        return series;
    }
    let sum = |s: &HeatmapSeries| -> i64 {
        s.slots
            .iter()
            .flat_map(|x| &x.counts)
            .map(|&c| i64::from(c))
            .sum()
    };
    let pairs = |s: &HeatmapSeries| -> Vec<(String, String)> {
        s.labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect()
    };
    series.sort_by(|a, b| sum(b).cmp(&sum(a)).then_with(|| pairs(a).cmp(&pairs(b))));
    series.truncate(k);
    series
}

/// The method.
pub(crate) fn select_heatmap_of(
    ctx: &Ctx<'_>,
    req: SelectHeatmapRequest,
) -> Rpc<SelectHeatmapResponse> {
    let invalid = |m: String| ConnectError::new(Code::InvalidArgument, m);
    if req.step < 0.001 {
        return Err(invalid(format!("step must be >= 1ms, got {:.6}", req.step)));
    }
    if let Some(l) = req.limit.filter(|l| *l < 0) {
        return Err(invalid(format!("limit must be non-negative, got {l}")));
    }
    if req.start >= req.end {
        return Err(invalid(format!(
            "start time must be before end time, got start={} end={}",
            req.start, req.end
        )));
    }
    let spans = match req.query_type {
        1 => false,
        2 => true,
        _ => return Err(invalid("valid heatmap query type must be specified".into())),
    };
    // GP's query backend (pkg/querybackend/query_heatmap.go `queryHeatmap`).
    let exemplars = match (req.exemplar_type, spans) {
        (0 | 1, _) => false,
        (2, false) | (3, true) => true,
        (2, true) => {
            return Err(invalid(
                "individual exemplars only available for individual query type".into(),
            ));
        }
        (3, false) => {
            return Err(invalid(
                "span exemplars only available for span query type".into(),
            ));
        }
        (t, _) => return Err(invalid(format!("unknown exemplar type: {t}"))),
    };
    let step_ms = ((req.step * 1000.0) as i64).max(1);
    // GP reads one step before `start` (`stepAdjustment`), through `end`.
    let range = (
        pyro_store::ms_to_s(req.start.saturating_sub(step_ms)),
        pyro_store::ms_to_s(req.end.saturating_add(1)),
    );
    let hits = selected(ctx, &req.profile_type_id, &req.label_selector, range)?;
    // Groups in the byte order of their labels (`heatmap.Builder`).
    let mut groups: BTreeMap<Vec<(String, String)>, Points> = BTreeMap::new();
    for h in &hits {
        let mut key: Vec<(String, String)> = req
            .group_by
            .iter()
            .filter_map(|g| h.get(g).map(|v| (g.clone(), v)))
            .collect();
        key.sort();
        key.dedup();
        // An exemplar's labels: its series' less those grouped by (`heatmap.Builder`).
        let exemplar_labels: Vec<LabelPair> = if exemplars {
            h.labels()
                .into_iter()
                .filter(|(k, _)| !req.group_by.contains(k))
                .map(|(name, value)| LabelPair { name, value })
                .collect()
        } else {
            Vec::new()
        };
        let exemplar = |ts: i64, value: i64, profile_id: String, span_id: String| {
            exemplars.then(|| Exemplar {
                timestamp: ts,
                profile_id,
                span_id,
                value,
                labels: exemplar_labels.clone(),
                trace_id: String::new(),
            })
        };
        let points = groups.entry(key).or_default();
        let v = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
        if spans {
            for (slot, span, total) in ctx
                .store
                .span_uploads(ctx.tenant, h.found.id, range, &ctx.budget)
                .map_err(ConnectError::from)?
            {
                let (ts, value) = (slot * 1000, v(total));
                points.push(Point {
                    ts,
                    value,
                    exemplar: exemplar(ts, value, String::new(), span),
                });
            }
        } else {
            for u in ctx
                .store
                .uploads(ctx.tenant, h.found.id, range, &ctx.budget)
                .map_err(ConnectError::from)?
            {
                // An entry compaction made of several uploads: each counts at their mean, and
                // none is an exemplar (it is no longer one profile).
                let writes = u.writes.max(1);
                let (ts, value) = (u.slot * 1000, v(u.total / writes));
                let one = (writes == 1)
                    .then(|| exemplar(ts, value, profile_id(h.found.id, u.seq), String::new()))
                    .flatten();
                for _ in 0..writes.min(1 << 16) {
                    points.push(Point {
                        ts,
                        value,
                        exemplar: one.clone(),
                    });
                }
            }
        }
    }
    if exemplars {
        // GP keeps a series' points by time, span, then profile id (`pointsBuilder`): the
        // first of equal values in that order is a bucket's exemplar.
        for points in groups.values_mut() {
            let key = |p: &Point| {
                let e = p.exemplar.as_ref();
                (
                    p.ts,
                    e.map_or(0, |e| span_order(&e.span_id)),
                    e.map(|e| e.profile_id.clone()),
                )
            };
            points.sort_by_cached_key(key);
        }
    }
    let series: Vec<(Vec<LabelPair>, Points)> = groups
        .into_iter()
        .map(|(labels, points)| {
            (
                labels
                    .into_iter()
                    .map(|(name, value)| LabelPair { name, value })
                    .collect(),
                points,
            )
        })
        .collect();
    let out = range_heatmap(&series, req.start, req.end, step_ms);
    Ok(SelectHeatmapResponse {
        series: top_series(out, usize::try_from(req.limit.unwrap_or(0)).unwrap_or(0)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(p: &[(i64, i64)]) -> Points {
        p.iter().copied().map(Point::from).collect()
    }

    fn counts(s: &HeatmapSeries) -> Vec<(i64, Vec<i32>)> {
        s.slots
            .iter()
            .map(|x| (x.timestamp, x.counts.clone()))
            .collect()
    }

    /// Profile ids round-trip, in every form google/uuid's `Parse` reads, with its errors.
    #[test]
    fn profile_ids_read_as_uuids() {
        let id = profile_id(7, 0x1234_5678_9abc);
        assert_eq!(id, "00000000-0000-0007-0000-123456789abc");
        assert_eq!(parse_profile_id(&id), Ok((7, 0x1234_5678_9abc)));
        assert_eq!(
            parse_profile_id(&format!("{{{id}}}")),
            Ok((7, 0x1234_5678_9abc))
        );
        assert_eq!(
            parse_profile_id(&format!("urn:uuid:{id}")),
            Ok((7, 0x1234_5678_9abc))
        );
        assert_eq!(
            parse_profile_id(&id.to_uppercase().replace('-', "")),
            Ok((7, 0x1234_5678_9abc))
        );
        assert_eq!(
            parse_profile_id("abc"),
            Err("invalid UUID length: 3".into())
        );
        assert_eq!(
            parse_profile_id(&id.replace('-', "+")),
            Err("invalid UUID format".into())
        );
        assert_eq!(
            parse_profile_id(&id.replacen('0', "g", 1)),
            Err("invalid UUID format".into())
        );
        assert_eq!(
            parse_profile_id(&format!("urn:uuix:{id}")),
            Err("invalid urn prefix: \"urn:uuix:\"".into())
        );
        assert_eq!(
            profile_id(u64::MAX, u64::MAX),
            "ffffffff-ffff-ffff-ffff-ffffffffffff"
        );
        // Span ids order as GP's little-endian `uint64`.
        assert!(span_order("0100000000000000") < span_order("0001000000000000"));
    }

    /// GP's `normalizeTimestamp` and `createYAxisBuckets` rules
    /// (pkg/model/heatmap/range.go): slots end at `start + k·step`, a point on an edge belongs
    /// to the slot it ends; buckets split `[min, max]` in 20, the last one closed.
    #[test]
    fn bucketing_is_gps() {
        assert_eq!(normalize(1000, 1000, 5000, 1000), 1000);
        assert_eq!(normalize(1001, 1000, 5000, 1000), 2000);
        assert_eq!(normalize(500, 1000, 5000, 1000), 1000);
        assert_eq!(normalize(9000, 1000, 5000, 1000), 5000);
        assert_eq!(normalize(1500, 1250, 5000, 1000), 2250);
        let b = y_buckets(0, 100, 20);
        assert_eq!((b[0].min, b[0].max, b[19].min, b[19].max), (0, 5, 95, 100));
        assert_eq!(find_bucket(100, &b), Some(19));
        assert_eq!(find_bucket(4, &b), Some(0));
        assert_eq!(find_bucket(-1, &b), None);
        let series = vec![
            (
                vec![],
                pts(&[(1000, 0), (1500, 100), (1800, 50), (3000, 100)]),
            ),
            (
                vec![LabelPair {
                    name: "env".into(),
                    value: "x".into(),
                }],
                vec![],
            ),
        ];
        let h = range_heatmap(&series, 1000, 3000, 1000);
        assert_eq!(h.len(), 1, "series without points are left out");
        let mut at_2000 = vec![0; 20];
        at_2000[19] = 1;
        at_2000[10] = 1;
        let mut at_1000 = vec![0; 20];
        at_1000[0] = 1;
        let mut at_3000 = vec![0; 20];
        at_3000[19] = 1;
        assert_eq!(
            counts(&h[0]),
            [(1000, at_1000), (2000, at_2000), (3000, at_3000)]
        );
        assert_eq!(h[0].slots[0].y_min[1], 5.0);
        // GP's TestRangeHeatmap_SinglePoint and _MultiplePoints_SameTimeBucket.
        let h = range_heatmap(&[(vec![], pts(&[(500, 1000)]))], 0, 1000, 100);
        assert_eq!(h[0].slots[0].timestamp, 500);
        assert_eq!(h[0].slots[0].y_min.len(), Y_BUCKETS);
        assert_eq!(h[0].slots[0].counts.iter().sum::<i32>(), 1);
        let h = range_heatmap(
            &[(vec![], pts(&[(100, 1000), (150, 1500), (180, 2000)]))],
            0,
            1000,
            200,
        );
        assert_eq!(h[0].slots.len(), 1);
        assert_eq!(h[0].slots[0].counts.iter().filter(|c| **c > 0).count(), 3);
        assert!(range_heatmap(&[], 0, 1000, 100).is_empty());
        // One value only: the range is [v, v + 1], whose twentieths all truncate to v: only
        // the last bucket is not empty, and holds it.
        let h = range_heatmap(&[(vec![], pts(&[(1000, 7)]))], 0, 2000, 1000);
        assert_eq!(h[0].slots[0].y_min[0], 7.0);
        assert_eq!(h[0].slots[0].counts[19], 1);
    }
}
