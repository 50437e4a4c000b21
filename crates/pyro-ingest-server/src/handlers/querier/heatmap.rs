//! `SelectHeatmap`: how the uploads of the selected series spread over time and value, as
//! Grafana Pyroscope's query frontend answers it (`SelectHeatmap`,
//! pkg/frontend/readpath/queryfrontend/query_heatmap.go): one point per upload (its total in the
//! profile type's unit) or, for span queries, per span of an upload, grouped by the `group_by`
//! labels (`heatmap.Builder`), then bucketed by `RangeHeatmap` (pkg/model/heatmap/range.go: 20
//! value buckets between the smallest and largest point of all series, one slot per step) and cut
//! to the top `limit` series (`heatmap.TopSeries`). Exemplars are not answered.

use std::collections::BTreeMap;

use super::proto::{
    HeatmapSeries, HeatmapSlot, LabelPair, SelectHeatmapRequest, SelectHeatmapResponse,
};
use super::{Ctx, Rpc, selected};
use crate::error::{Code, ConnectError};

/// Points of one series: `(timestamp ms, value)`.
pub type Points = Vec<(i64, i64)>;

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

/// GP's `RangeHeatmap` of `series` (labels, points `(timestamp ms, value)`) over `[start, end]`
/// milliseconds in steps of `step` milliseconds.
pub fn range_heatmap(
    series: &[(Vec<LabelPair>, Points)],
    start: i64,
    end: i64,
    step: i64,
) -> Vec<HeatmapSeries> {
    let with_points: Vec<_> = series.iter().filter(|(_, p)| !p.is_empty()).collect();
    let (mut min, mut max) = (i64::MAX, 0i64);
    for (_, points) in &with_points {
        for &(_, v) in points {
            min = min.min(v);
            max = max.max(v);
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
            let mut cells: BTreeMap<i64, Vec<i32>> = BTreeMap::new();
            for &(ts, v) in points {
                let Some(y) = find_bucket(v, &buckets) else {
                    continue;
                };
                let ts = normalize(ts, start, end, step);
                cells.entry(ts).or_insert_with(|| vec![0; buckets.len()])[y] += 1;
            }
            HeatmapSeries {
                labels: labels.clone(),
                slots: cells
                    .into_iter()
                    .map(|(timestamp, counts)| HeatmapSlot {
                        timestamp,
                        y_min: buckets.iter().map(|b| b.min as f64).collect(),
                        counts,
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
        let points = groups.entry(key).or_default();
        let v = |x: u64| i64::try_from(x).unwrap_or(i64::MAX);
        if spans {
            for (slot, _, total) in ctx
                .store
                .span_uploads(ctx.tenant, h.found.id, range, &ctx.budget)
                .map_err(ConnectError::from)?
            {
                points.push((slot * 1000, v(total)));
            }
        } else {
            for (slot, writes, total) in ctx
                .store
                .uploads(ctx.tenant, h.found.id, range, &ctx.budget)
                .map_err(ConnectError::from)?
            {
                // An entry compaction made of several uploads: each counts at their mean.
                let writes = writes.max(1);
                for _ in 0..writes.min(1 << 16) {
                    points.push((slot * 1000, v(total / writes)));
                }
            }
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

    fn counts(s: &HeatmapSeries) -> Vec<(i64, Vec<i32>)> {
        s.slots
            .iter()
            .map(|x| (x.timestamp, x.counts.clone()))
            .collect()
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
                vec![(1000, 0), (1500, 100), (1800, 50), (3000, 100)],
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
        let h = range_heatmap(&[(vec![], vec![(500, 1000)])], 0, 1000, 100);
        assert_eq!(h[0].slots[0].timestamp, 500);
        assert_eq!(h[0].slots[0].y_min.len(), Y_BUCKETS);
        assert_eq!(h[0].slots[0].counts.iter().sum::<i32>(), 1);
        let h = range_heatmap(
            &[(vec![], vec![(100, 1000), (150, 1500), (180, 2000)])],
            0,
            1000,
            200,
        );
        assert_eq!(h[0].slots.len(), 1);
        assert_eq!(h[0].slots[0].counts.iter().filter(|c| **c > 0).count(), 3);
        assert!(range_heatmap(&[], 0, 1000, 100).is_empty());
        // One value only: the range is [v, v + 1], whose twentieths all truncate to v: only
        // the last bucket is not empty, and holds it.
        let h = range_heatmap(&[(vec![], vec![(1000, 7)])], 0, 2000, 1000);
        assert_eq!(h[0].slots[0].y_min[0], 7.0);
        assert_eq!(h[0].slots[0].counts[19], 1);
    }
}
