//! `querier.v1` and `types.v1` messages (grafana/pyroscope `api/`), with prost for
//! `application/proto` and serde for Connect's `application/json` (proto3 JSON: lowerCamelCase
//! names, 64-bit integers as strings, numbers accepted too).

use prost::Message;
use serde::{Deserialize, Serialize};

/// proto3 JSON for `int64`: written as a string, read from a string or a number.
mod i64_json {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum N {
            S(String),
            I(i64),
        }
        match N::deserialize(d)? {
            N::I(i) => Ok(i),
            N::S(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// `uint64` in proto3 JSON: a string (a number is read too).
mod u64_json {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum N {
            S(String),
            I(u64),
        }
        match N::deserialize(d)? {
            N::I(i) => Ok(i),
            N::S(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

/// `optional int64` in proto3 JSON.
mod opt_i64_json {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&v.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum N {
            S(String),
            I(i64),
        }
        match Option::<N>::deserialize(d)? {
            None => Ok(None),
            Some(N::I(i)) => Ok(Some(i)),
            Some(N::S(s)) => s.parse().map(Some).map_err(serde::de::Error::custom),
        }
    }
}

/// `querier.v1.HeatmapQueryType` in proto3 JSON: the enum's name or number.
mod heatmap_type_json {
    use serde::{Deserializer, Serializer};

    const NAMES: [&str; 3] = [
        "HEATMAP_QUERY_TYPE_UNSPECIFIED",
        "HEATMAP_QUERY_TYPE_INDIVIDUAL",
        "HEATMAP_QUERY_TYPE_SPAN",
    ];

    pub fn serialize<S: Serializer>(v: &i32, s: S) -> Result<S::Ok, S::Error> {
        super::enum_json::serialize(&NAMES, *v, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
        super::enum_json::deserialize(&NAMES, "heatmap query type", d)
    }
}

/// `types.v1.ExemplarType` in proto3 JSON: the enum's name or number.
mod exemplar_type_json {
    use serde::{Deserializer, Serializer};

    const NAMES: [&str; 4] = [
        "EXEMPLAR_TYPE_UNSPECIFIED",
        "EXEMPLAR_TYPE_NONE",
        "EXEMPLAR_TYPE_INDIVIDUAL",
        "EXEMPLAR_TYPE_SPAN",
    ];

    pub fn serialize<S: Serializer>(v: &i32, s: S) -> Result<S::Ok, S::Error> {
        super::enum_json::serialize(&NAMES, *v, s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
        super::enum_json::deserialize(&NAMES, "exemplar type", d)
    }
}

/// A proto3 enum in JSON: its name (from `names`, by number) or its number.
mod enum_json {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(names: &[&str], v: i32, s: S) -> Result<S::Ok, S::Error> {
        match usize::try_from(v).ok().and_then(|i| names.get(i)) {
            Some(name) => s.serialize_str(name),
            None => s.serialize_i32(v),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        names: &[&str],
        what: &str,
        d: D,
    ) -> Result<i32, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum N {
            S(String),
            I(i32),
        }
        match N::deserialize(d)? {
            N::I(i) => Ok(i),
            N::S(s) => names
                .iter()
                .position(|n| *n == s)
                .map(|i| i as i32)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown {what} {s:?}"))),
        }
    }
}

/// `optional types.v1.TimeSeriesAggregationType` in proto3 JSON: the enum's name or number.
mod aggregation_json {
    use serde::{Deserialize, Deserializer, Serializer};

    const NAMES: [&str; 2] = [
        "TIME_SERIES_AGGREGATION_TYPE_SUM",
        "TIME_SERIES_AGGREGATION_TYPE_AVERAGE",
    ];

    pub fn serialize<S: Serializer>(v: &Option<i32>, s: S) -> Result<S::Ok, S::Error> {
        match v.and_then(|v| NAMES.get(usize::try_from(v).ok()?)) {
            Some(name) => s.serialize_str(name),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum N {
            S(String),
            I(i32),
        }
        match Option::<N>::deserialize(d)? {
            None => Ok(None),
            Some(N::I(i)) => Ok(Some(i)),
            Some(N::S(s)) => NAMES
                .iter()
                .position(|n| *n == s)
                .map(|i| Some(i as i32))
                .ok_or_else(|| serde::de::Error::custom(format!("unknown aggregation {s:?}"))),
        }
    }
}

/// `types.v1.LabelPair`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct LabelPair {
    /// Name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `types.v1.ProfileType`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct ProfileType {
    /// `<name>:<sample type>:<sample unit>:<period type>:<period unit>`.
    #[prost(string, tag = "1")]
    #[serde(rename = "ID")]
    pub id: String,
    /// Metric name (`process_cpu`, `memory`, …).
    #[prost(string, tag = "2")]
    pub name: String,
    /// Sample type.
    #[prost(string, tag = "4")]
    #[serde(rename = "sampleType")]
    pub sample_type: String,
    /// Sample unit.
    #[prost(string, tag = "5")]
    #[serde(rename = "sampleUnit")]
    pub sample_unit: String,
    /// Period type.
    #[prost(string, tag = "6")]
    #[serde(rename = "periodType")]
    pub period_type: String,
    /// Period unit.
    #[prost(string, tag = "7")]
    #[serde(rename = "periodUnit")]
    pub period_unit: String,
}

/// `types.v1.Labels`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Labels {
    /// The pairs.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<LabelPair>,
}

/// `types.v1.Point`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Point {
    /// Value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Unix milliseconds.
    #[prost(int64, tag = "2")]
    #[serde(with = "i64_json")]
    pub timestamp: i64,
}

/// `types.v1.Series`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Series {
    /// Labels.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<LabelPair>,
    /// Points.
    #[prost(message, repeated, tag = "2")]
    pub points: Vec<Point>,
}

/// `types.v1.LabelValuesRequest`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct LabelValuesRequest {
    /// Label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Selectors.
    #[prost(string, repeated, tag = "2")]
    pub matchers: Vec<String>,
    /// Unix milliseconds.
    #[prost(int64, tag = "3")]
    #[serde(with = "i64_json")]
    pub start: i64,
    /// Unix milliseconds.
    #[prost(int64, tag = "4")]
    #[serde(with = "i64_json")]
    pub end: i64,
}

/// `types.v1.LabelNamesRequest`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct LabelNamesRequest {
    /// Selectors.
    #[prost(string, repeated, tag = "1")]
    pub matchers: Vec<String>,
    /// Unix milliseconds.
    #[prost(int64, tag = "2")]
    #[serde(with = "i64_json")]
    pub start: i64,
    /// Unix milliseconds.
    #[prost(int64, tag = "3")]
    #[serde(with = "i64_json")]
    pub end: i64,
}

/// `types.v1.LabelNamesResponse` and `LabelValuesResponse`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct NamesResponse {
    /// Names or values.
    #[prost(string, repeated, tag = "1")]
    pub names: Vec<String>,
}

/// `querier.v1.ProfileTypesRequest`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct ProfileTypesRequest {
    /// Unix milliseconds.
    #[prost(int64, tag = "1")]
    #[serde(with = "i64_json")]
    pub start: i64,
    /// Unix milliseconds.
    #[prost(int64, tag = "2")]
    #[serde(with = "i64_json")]
    pub end: i64,
}

/// `querier.v1.ProfileTypesResponse`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct ProfileTypesResponse {
    /// The types.
    #[prost(message, repeated, tag = "1")]
    #[serde(rename = "profileTypes")]
    pub profile_types: Vec<ProfileType>,
}

/// `querier.v1.SeriesRequest`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct SeriesRequest {
    /// Selectors.
    #[prost(string, repeated, tag = "1")]
    pub matchers: Vec<String>,
    /// Label names to return (all when empty).
    #[prost(string, repeated, tag = "2")]
    #[serde(rename = "labelNames", alias = "label_names")]
    pub label_names: Vec<String>,
    /// Unix milliseconds.
    #[prost(int64, tag = "3")]
    #[serde(with = "i64_json")]
    pub start: i64,
    /// Unix milliseconds.
    #[prost(int64, tag = "4")]
    #[serde(with = "i64_json")]
    pub end: i64,
}

/// `querier.v1.SeriesResponse`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct SeriesResponse {
    /// One label set per series.
    #[prost(message, repeated, tag = "2")]
    #[serde(rename = "labelsSet")]
    pub labels_set: Vec<Labels>,
}

/// `querier.v1.SelectMergeStacktracesRequest` (also the shape of `SelectMergeProfileRequest`'s
/// first five fields).
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct SelectMergeStacktracesRequest {
    /// Profile type id.
    #[prost(string, tag = "1")]
    #[serde(rename = "profileTypeID", alias = "profile_typeID")]
    pub profile_type_id: String,
    /// Label selector, `{service_name="x"}`.
    #[prost(string, tag = "2")]
    #[serde(rename = "labelSelector", alias = "label_selector")]
    pub label_selector: String,
    /// Unix milliseconds.
    #[prost(int64, tag = "3")]
    #[serde(with = "i64_json")]
    pub start: i64,
    /// Unix milliseconds.
    #[prost(int64, tag = "4")]
    #[serde(with = "i64_json")]
    pub end: i64,
    /// Most nodes.
    #[prost(int64, optional, tag = "5")]
    #[serde(rename = "maxNodes", alias = "max_nodes", with = "opt_i64_json")]
    pub max_nodes: Option<i64>,
    /// Only these profiles (a heatmap exemplar's `profile_id`).
    #[prost(string, repeated, tag = "8")]
    #[serde(rename = "profileIdSelector", alias = "profile_id_selector")]
    pub profile_id_selector: Vec<String>,
}

/// `querier.v1.SelectMergeProfileRequest`: the fields this server reads.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct SelectMergeProfileRequest {
    /// Profile type id.
    #[prost(string, tag = "1")]
    #[serde(rename = "profileTypeID", alias = "profile_typeID")]
    pub profile_type_id: String,
    /// Label selector, `{service_name="x"}`.
    #[prost(string, tag = "2")]
    #[serde(rename = "labelSelector", alias = "label_selector")]
    pub label_selector: String,
    /// Unix milliseconds.
    #[prost(int64, tag = "3")]
    #[serde(with = "i64_json")]
    pub start: i64,
    /// Unix milliseconds.
    #[prost(int64, tag = "4")]
    #[serde(with = "i64_json")]
    pub end: i64,
    /// Most nodes.
    #[prost(int64, optional, tag = "5")]
    #[serde(rename = "maxNodes", alias = "max_nodes", with = "opt_i64_json")]
    pub max_nodes: Option<i64>,
    /// Only these profiles (a heatmap exemplar's `profile_id`).
    #[prost(string, repeated, tag = "7")]
    #[serde(rename = "profileIdSelector", alias = "profile_id_selector")]
    pub profile_id_selector: Vec<String>,
}

/// `querier.v1.Level`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct Level {
    /// `[x offset delta, total, self, name index]` per node.
    #[prost(int64, repeated, tag = "1")]
    pub values: Vec<i64>,
}

/// `querier.v1.FlameGraph`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct FlameGraph {
    /// Names.
    #[prost(string, repeated, tag = "1")]
    pub names: Vec<String>,
    /// Levels.
    #[prost(message, repeated, tag = "2")]
    pub levels: Vec<Level>,
    /// Total.
    #[prost(int64, tag = "3")]
    #[serde(with = "i64_json")]
    pub total: i64,
    /// Largest self value.
    #[prost(int64, tag = "4")]
    #[serde(rename = "maxSelf", with = "i64_json")]
    pub max_self: i64,
}

/// `querier.v1.SelectMergeSpanProfileRequest`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct SelectMergeSpanProfileRequest {
    /// Profile type id.
    #[prost(string, tag = "1")]
    #[serde(rename = "profileTypeID", alias = "profile_typeID")]
    pub profile_type_id: String,
    /// Label selector.
    #[prost(string, tag = "2")]
    #[serde(rename = "labelSelector", alias = "label_selector")]
    pub label_selector: String,
    /// Span ids, 16 hex digits each.
    #[prost(string, repeated, tag = "3")]
    #[serde(rename = "spanSelector", alias = "span_selector")]
    pub span_selector: Vec<String>,
    /// Unix milliseconds.
    #[prost(int64, tag = "4")]
    #[serde(with = "i64_json")]
    pub start: i64,
    /// Unix milliseconds.
    #[prost(int64, tag = "5")]
    #[serde(with = "i64_json")]
    pub end: i64,
    /// Most nodes in the answer.
    #[prost(int64, optional, tag = "6")]
    #[serde(rename = "maxNodes", alias = "max_nodes", with = "opt_i64_json")]
    pub max_nodes: Option<i64>,
    /// `querier.v1.ProfileFormat`: 0 or 1 flame graph, 2 tree (not served).
    #[prost(int32, tag = "7")]
    #[serde(skip)]
    pub format: i32,
}

/// `querier.v1.SelectMergeSpanProfileResponse`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct SelectMergeSpanProfileResponse {
    /// The flame graph.
    #[prost(message, optional, tag = "1")]
    pub flamegraph: Option<FlameGraph>,
    /// Pyroscope tree bytes (not served).
    #[prost(bytes = "vec", tag = "2")]
    #[serde(skip)]
    pub tree: Vec<u8>,
}

/// `querier.v1.SelectHeatmapRequest`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct SelectHeatmapRequest {
    /// Profile type id.
    #[prost(string, tag = "1")]
    #[serde(rename = "profileTypeID", alias = "profile_typeID")]
    pub profile_type_id: String,
    /// Label selector.
    #[prost(string, tag = "2")]
    #[serde(rename = "labelSelector", alias = "label_selector")]
    pub label_selector: String,
    /// Unix milliseconds.
    #[prost(int64, tag = "3")]
    #[serde(with = "i64_json")]
    pub start: i64,
    /// Unix milliseconds.
    #[prost(int64, tag = "4")]
    #[serde(with = "i64_json")]
    pub end: i64,
    /// Step, seconds.
    #[prost(double, tag = "5")]
    pub step: f64,
    /// Labels to group by.
    #[prost(string, repeated, tag = "6")]
    #[serde(rename = "groupBy", alias = "group_by")]
    pub group_by: Vec<String>,
    /// `querier.v1.HeatmapQueryType`: 1 individual profiles, 2 span profiles.
    #[prost(int32, tag = "7")]
    #[serde(rename = "queryType", alias = "query_type", with = "heatmap_type_json")]
    pub query_type: i32,
    /// `types.v1.ExemplarType`: 0 unspecified, 1 none, 2 individual profiles, 3 spans.
    #[prost(int32, tag = "8")]
    #[serde(
        rename = "exemplarType",
        alias = "exemplar_type",
        with = "exemplar_type_json"
    )]
    pub exemplar_type: i32,
    /// Keep the top `limit` series by their counts.
    #[prost(int64, optional, tag = "9")]
    #[serde(with = "opt_i64_json")]
    pub limit: Option<i64>,
}

/// `types.v1.HeatmapSlot`: the counts of the value buckets of one time step.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HeatmapSlot {
    /// Unix milliseconds of the step's right edge.
    #[prost(int64, tag = "1")]
    #[serde(with = "i64_json")]
    pub timestamp: i64,
    /// Each bucket's smallest value.
    #[prost(double, repeated, tag = "2")]
    pub y_min: Vec<f64>,
    /// Each bucket's count.
    #[prost(int32, repeated, tag = "3")]
    pub counts: Vec<i32>,
    /// A point of each bucket with points, the highest (asked for by `exemplar_type`).
    #[prost(message, repeated, tag = "4")]
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exemplars: Vec<Exemplar>,
}

/// `types.v1.Exemplar`: one profile (or span) behind an aggregated point.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Exemplar {
    /// Unix milliseconds.
    #[prost(int64, tag = "1")]
    #[serde(with = "i64_json")]
    pub timestamp: i64,
    /// The profile (for `profile_id_selector`); empty for a span.
    #[prost(string, tag = "2")]
    pub profile_id: String,
    /// The span (16 hex digits); empty for a profile.
    #[prost(string, tag = "3")]
    pub span_id: String,
    /// Its total, in the profile type's unit.
    #[prost(int64, tag = "4")]
    #[serde(with = "i64_json")]
    pub value: i64,
    /// Its series' labels, less those the heatmap groups by.
    #[prost(message, repeated, tag = "5")]
    pub labels: Vec<LabelPair>,
    /// Trace id (32 hex digits); not kept here, always empty.
    #[prost(string, tag = "6")]
    pub trace_id: String,
}

/// `types.v1.HeatmapSeries`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct HeatmapSeries {
    /// The group-by labels.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<LabelPair>,
    /// The steps with data.
    #[prost(message, repeated, tag = "2")]
    pub slots: Vec<HeatmapSlot>,
}

/// `querier.v1.SelectHeatmapResponse`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct SelectHeatmapResponse {
    /// One series per group.
    #[prost(message, repeated, tag = "1")]
    pub series: Vec<HeatmapSeries>,
}

/// `querier.v1.AnalyzeQueryRequest`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct AnalyzeQueryRequest {
    /// Unix milliseconds.
    #[prost(int64, tag = "2")]
    #[serde(with = "i64_json")]
    pub start: i64,
    /// Unix milliseconds.
    #[prost(int64, tag = "3")]
    #[serde(with = "i64_json")]
    pub end: i64,
    /// `<profile type id>{selector}`.
    #[prost(string, tag = "4")]
    pub query: String,
}

/// `querier.v1.QueryScope`: what one kind of component reads for a query.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct QueryScope {
    /// The component.
    #[prost(string, tag = "1")]
    pub component_type: String,
    /// How many of them.
    #[prost(uint64, tag = "2")]
    #[serde(with = "u64_json")]
    pub component_count: u64,
    /// Blocks (here: stored entries, raw and rolled up).
    #[prost(uint64, tag = "3")]
    #[serde(with = "u64_json")]
    pub block_count: u64,
    /// Series.
    #[prost(uint64, tag = "4")]
    #[serde(with = "u64_json")]
    pub series_count: u64,
    /// Profiles (uploads).
    #[prost(uint64, tag = "5")]
    #[serde(with = "u64_json")]
    pub profile_count: u64,
    /// Samples.
    #[prost(uint64, tag = "6")]
    #[serde(with = "u64_json")]
    pub sample_count: u64,
    /// Index bytes.
    #[prost(uint64, tag = "7")]
    #[serde(with = "u64_json")]
    pub index_bytes: u64,
    /// Profile bytes.
    #[prost(uint64, tag = "8")]
    #[serde(with = "u64_json")]
    pub profile_bytes: u64,
    /// Symbol bytes.
    #[prost(uint64, tag = "9")]
    #[serde(with = "u64_json")]
    pub symbol_bytes: u64,
}

/// `querier.v1.QueryImpact`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct QueryImpact {
    /// Bytes read in the range.
    #[prost(uint64, tag = "2")]
    #[serde(with = "u64_json")]
    pub total_bytes_in_time_range: u64,
    /// Series read.
    #[prost(uint64, tag = "3")]
    #[serde(with = "u64_json")]
    pub total_queried_series: u64,
    /// Whether replicas are deduplicated (never here).
    #[prost(bool, tag = "4")]
    pub deduplication_needed: bool,
}

/// `querier.v1.AnalyzeQueryResponse`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AnalyzeQueryResponse {
    /// What each kind of component reads.
    #[prost(message, repeated, tag = "1")]
    pub query_scopes: Vec<QueryScope>,
    /// The summary.
    #[prost(message, optional, tag = "2")]
    pub query_impact: Option<QueryImpact>,
}

/// `querier.v1.DiffRequest`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct DiffRequest {
    /// The left (base) selection.
    #[prost(message, optional, tag = "1")]
    pub left: Option<SelectMergeStacktracesRequest>,
    /// The right selection.
    #[prost(message, optional, tag = "2")]
    pub right: Option<SelectMergeStacktracesRequest>,
}

/// `querier.v1.FlameGraphDiff`: levels of seven numbers per node (left x offset delta, left
/// total, left self, right x offset delta, right total, right self, name index).
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct FlameGraphDiff {
    /// Names.
    #[prost(string, repeated, tag = "1")]
    pub names: Vec<String>,
    /// Levels.
    #[prost(message, repeated, tag = "2")]
    pub levels: Vec<Level>,
    /// Both totals.
    #[prost(int64, tag = "3")]
    #[serde(with = "i64_json")]
    pub total: i64,
    /// Largest self value on either side.
    #[prost(int64, tag = "4")]
    #[serde(rename = "maxSelf", with = "i64_json")]
    pub max_self: i64,
    /// The left total.
    #[prost(int64, tag = "5")]
    #[serde(rename = "leftTicks", with = "i64_json")]
    pub left_ticks: i64,
    /// The right total.
    #[prost(int64, tag = "6")]
    #[serde(rename = "rightTicks", with = "i64_json")]
    pub right_ticks: i64,
}

/// `querier.v1.DiffResponse`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct DiffResponse {
    /// The diff flame graph.
    #[prost(message, optional, tag = "1")]
    pub flamegraph: Option<FlameGraphDiff>,
}

/// `querier.v1.SelectMergeStacktracesResponse`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct SelectMergeStacktracesResponse {
    /// The flame graph.
    #[prost(message, optional, tag = "1")]
    pub flamegraph: Option<FlameGraph>,
}

/// `querier.v1.SelectSeriesRequest`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct SelectSeriesRequest {
    /// Profile type id.
    #[prost(string, tag = "1")]
    #[serde(rename = "profileTypeID", alias = "profile_typeID")]
    pub profile_type_id: String,
    /// Label selector.
    #[prost(string, tag = "2")]
    #[serde(rename = "labelSelector", alias = "label_selector")]
    pub label_selector: String,
    /// Unix milliseconds.
    #[prost(int64, tag = "3")]
    #[serde(with = "i64_json")]
    pub start: i64,
    /// Unix milliseconds.
    #[prost(int64, tag = "4")]
    #[serde(with = "i64_json")]
    pub end: i64,
    /// Labels to group by.
    #[prost(string, repeated, tag = "5")]
    #[serde(rename = "groupBy", alias = "group_by")]
    pub group_by: Vec<String>,
    /// Step, seconds.
    #[prost(double, tag = "6")]
    pub step: f64,
    /// `types.v1.TimeSeriesAggregationType`: 0 sum (the default), 1 average.
    #[prost(int32, optional, tag = "7")]
    #[serde(with = "aggregation_json")]
    pub aggregation: Option<i32>,
    /// Keep the top `limit` series by total value (0 or none: all).
    #[prost(int64, optional, tag = "9")]
    #[serde(with = "opt_i64_json")]
    pub limit: Option<i64>,
}

/// `querier.v1.SelectSeriesResponse`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct SelectSeriesResponse {
    /// The series.
    #[prost(message, repeated, tag = "1")]
    pub series: Vec<Series>,
}

/// `types.v1.GetProfileStatsRequest`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct GetProfileStatsRequest {}

/// `types.v1.GetProfileStatsResponse`.
#[derive(Clone, PartialEq, Message, Serialize, Deserialize)]
#[serde(default)]
pub struct GetProfileStatsResponse {
    /// Whether anything was ever ingested.
    #[prost(bool, tag = "1")]
    #[serde(rename = "dataIngested")]
    pub data_ingested: bool,
    /// Unix milliseconds.
    #[prost(int64, tag = "2")]
    #[serde(rename = "oldestProfileTime", with = "i64_json")]
    pub oldest_profile_time: i64,
    /// Unix milliseconds.
    #[prost(int64, tag = "3")]
    #[serde(rename = "newestProfileTime", with = "i64_json")]
    pub newest_profile_time: i64,
}
