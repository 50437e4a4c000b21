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
    let n = (span / delta).clamp(0, 1 << 20) as usize;
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Metadata<'m> {
    format: &'static str,
    spy_name: &'m str,
    sample_rate: u32,
    units: &'m str,
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
    groups: BTreeMap<&'static str, &'t Timeline>,
    heatmap: Option<()>,
    metadata: Metadata<'t>,
    annotations: [(); 0],
}

/// The `/render?format=json` body.
#[allow(clippy::too_many_arguments)]
pub fn json(
    tree: &StackTree<'_>,
    timeline: &Timeline,
    meta: &Meta,
    app_name: &str,
    query: &str,
    st: i64,
    et: i64,
    max_nodes: Option<usize>,
) -> String {
    let mut groups = BTreeMap::new();
    if timeline.samples.iter().any(|&s| s != 0) {
        groups.insert("*", timeline);
    }
    let r = Response {
        version: 1,
        flamebearer: tree.flamebearer(max_nodes),
        timeline,
        groups,
        heatmap: None,
        metadata: Metadata {
            format: "single",
            spy_name: &meta.spy_name,
            sample_rate: meta.sample_rate,
            units: &meta.units,
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
