//! Grafana's Pyroscope data source reads `ingest-server` through the part of Grafana Pyroscope's
//! `querier.v1.QuerierService` it calls: Connect unary over HTTP/1.1, `application/proto` or
//! `application/json`, gzip request bodies, Connect errors. Answers come from the same store and
//! the same merge as `/render`; series get the profile type ids Grafana Pyroscope's legacy ingest
//! adapter gives them ([`pyro_store::types`]) and `service_name` is the app name without its type.

pub mod diff;
pub mod heatmap;
pub mod http;
pub mod pprof_json;
pub mod proto;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use prost::Message;
use pyro_labels::{Matcher, Selector};
use pyro_tree::StackTree;
use serde::Serialize;
use serde::de::DeserializeOwned;

use pyro_store::{Found, ReadBudget, Store, Typed};

use crate::auth::Caller;
use crate::body::decode_content_encoding;
use crate::error::{Code, ConnectError};
use crate::handlers::CancelOnDrop;
use crate::render;
use crate::state::AppState;
use proto::*;

/// An authorized caller of the read API, refused with Connect errors.
pub type QueryReader = Caller<false, true>;

/// The label Grafana selects apps by.
pub const SERVICE_NAME: &str = "service_name";

type Rpc<T> = Result<T, ConnectError>;

/// The Connect route of every method served.
pub fn routes() -> axum::Router<Arc<AppState>> {
    use axum::routing::post;
    let p = |m: &str| format!("/querier.v1.QuerierService/{m}");
    let mut router = axum::Router::new()
        .route(&p("ProfileTypes"), post(profile_types))
        .route(&p("LabelNames"), post(label_names))
        .route(&p("LabelValues"), post(label_values))
        .route(&p("Series"), post(series))
        .route(&p("SelectMergeStacktraces"), post(select_merge_stacktraces))
        .route(&p("SelectSeries"), post(select_series))
        .route(&p("SelectMergeProfile"), post(select_merge_profile))
        .route(&p("GetProfileStats"), post(get_profile_stats))
        .route(&p("Diff"), post(diff))
        .route(&p("SelectHeatmap"), post(select_heatmap))
        .route(
            &p("SelectMergeSpanProfile"),
            post(select_merge_span_profile),
        )
        .route(&p("AnalyzeQuery"), post(analyze_query))
        .route("/settings.v1.SettingsService/Get", post(settings_get));
    // Methods of Grafana Pyroscope's API this server does not serve: a Connect `unimplemented`
    // with the reason (Grafana shows the message), not a bare 404.
    let not_served: [(&str, &'static str); 6] = [
        (
            "/settings.v1.SettingsService/Set",
            "settings are not stored by ingest-server",
        ),
        (
            "/settings.v1.SettingsService/Delete",
            "settings are not stored by ingest-server",
        ),
        (
            "/settings.v1.RecordingRulesService/GetRecordingRule",
            "recording rules are not supported by ingest-server",
        ),
        (
            "/settings.v1.RecordingRulesService/ListRecordingRules",
            "recording rules are not supported by ingest-server",
        ),
        (
            "/settings.v1.RecordingRulesService/UpsertRecordingRule",
            "recording rules are not supported by ingest-server",
        ),
        (
            "/settings.v1.RecordingRulesService/DeleteRecordingRule",
            "recording rules are not supported by ingest-server",
        ),
    ];
    for (path, why) in not_served {
        router = router.route(
            path,
            post(move |_: QueryReader| async move {
                Err::<(), _>(ConnectError::new(Code::Unimplemented, why))
            }),
        );
    }
    router
}

/// `settings.v1.SettingsService/Get`, which Grafana's profiles views read at start: no settings
/// are stored here, so the answer is the empty list (`{"settings":[]}`, or an empty message).
pub async fn settings_get(_reader: QueryReader, headers: HeaderMap) -> Response {
    if is_json(&headers) {
        (
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"settings":[]}"#,
        )
            .into_response()
    } else {
        ([(header::CONTENT_TYPE, "application/proto")], Vec::new()).into_response()
    }
}

/// Whether the request speaks JSON (else binary protobuf).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"))
}

/// Largest querier request, as received and once gunzipped: Grafana's are a few hundred bytes
/// (a profile type, a selector, a time range).
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// Most points one `SelectSeries` answer may hold per series (Prometheus's limit, which Grafana
/// knows): a smaller step over a longer range is refused with a message saying so.
pub const MAX_POINTS: usize = 11_000;

/// Most label selectors one request may carry (`matchers` of the label and series calls); all of
/// them together may hold at most [`pyro_labels::MAX_REGEX_MATCHERS`] regex matchers.
pub const MAX_SELECTORS: usize = 16;

fn decode<T: Message + DeserializeOwned + Default>(
    state: &AppState,
    headers: &HeaderMap,
    body: Bytes,
) -> Rpc<T> {
    if body.len() > MAX_REQUEST_BYTES {
        return Err(ConnectError::new(
            Code::ResourceExhausted,
            format!("request larger than {MAX_REQUEST_BYTES} bytes"),
        ));
    }
    let max = state.config.limits.decompressed.min(MAX_REQUEST_BYTES);
    let body = decode_content_encoding(headers, body, max).map_err(|_| {
        ConnectError::new(
            Code::InvalidArgument,
            format!("bad request body encoding, or larger than {max} bytes once decoded"),
        )
    })?;
    if is_json(headers) {
        if body.is_empty() {
            return Ok(T::default());
        }
        serde_json::from_slice(&body)
            .map_err(|e| ConnectError::new(Code::InvalidArgument, format!("decoding JSON: {e}")))
    } else {
        T::decode(body)
            .map_err(|e| ConnectError::new(Code::InvalidArgument, format!("decoding proto: {e}")))
    }
}

fn encode<T: Message + Serialize>(json: bool, msg: &T) -> Response {
    if json {
        (
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_string(msg).unwrap_or_default(),
        )
            .into_response()
    } else {
        (
            [(header::CONTENT_TYPE, "application/proto")],
            msg.encode_to_vec(),
        )
            .into_response()
    }
}

/// Runs a method off the async workers and answers in the request's encoding.
async fn run<Req, Resp>(
    state: Arc<AppState>,
    tenant: String,
    headers: HeaderMap,
    body: Bytes,
    method: fn(&Ctx<'_>, Req) -> Rpc<Resp>,
) -> Rpc<Response>
where
    Req: Message + DeserializeOwned + Default + Send + 'static,
    Resp: Message + Serialize + Send + 'static,
{
    let json = is_json(&headers);
    let resp = blocking(state, tenant, headers, body, method).await?;
    Ok(encode(json, &resp))
}

/// Decodes a request and runs `method` on the blocking pool under the request's read budget
/// (its answer's memory reserved from the server's, cancelled when the request is dropped).
async fn blocking<Req, Resp>(
    state: Arc<AppState>,
    tenant: String,
    headers: HeaderMap,
    body: Bytes,
    method: fn(&Ctx<'_>, Req) -> Rpc<Resp>,
) -> Rpc<Resp>
where
    Req: Message + DeserializeOwned + Default + Send + 'static,
    Resp: Send + 'static,
{
    let decoding = state.clone();
    run_in(state, tenant, move |ctx| {
        let req = decode::<Req>(&decoding, &headers, body)?;
        method(ctx, req)
    })
    .await
}

/// Runs `f` on the blocking pool with a [`Ctx`] under the request's read budget (its answer's
/// memory reserved from the server's, cancelled when the request is dropped).
async fn run_in<T: Send + 'static>(
    state: Arc<AppState>,
    tenant: String,
    f: impl FnOnce(&Ctx<'_>) -> Rpc<T> + Send + 'static,
) -> Rpc<T> {
    let abandoned = CancelOnDrop::new();
    let cancel = abandoned.0.clone();
    let answer = tokio::task::spawn_blocking(move || {
        let memory = crate::budget::ReadMemory::new(&state.inflight);
        let reserve = |n: usize| memory.reserve(n);
        let ctx = Ctx {
            store: &state.store,
            tenant: &tenant,
            budget: crate::handlers::read::budget(&state, &cancel, &reserve),
        };
        f(&ctx)
    })
    .await
    .unwrap_or_else(|e| Err(e.into()));
    drop(abandoned);
    answer
}

/// What a method reads with: the store, the caller's tenant, the request's read budget.
pub struct Ctx<'a> {
    store: &'a Store,
    tenant: &'a str,
    budget: ReadBudget<'a>,
}

/// A profile type as the querier API states it.
fn proto_type(t: &pyro_store::ProfileType) -> ProfileType {
    ProfileType {
        id: t.id.clone(),
        name: t.name.clone(),
        sample_type: t.sample_type.clone(),
        sample_unit: t.sample_unit.clone(),
        period_type: t.period_type.clone(),
        period_unit: t.period_unit.clone(),
    }
}

/// A Prometheus selector, `{service_name="x", env=~"p.*", pod!=""}` (empty: every series), read
/// with Prometheus' semantics as Grafana Pyroscope does ([`Selector`]).
fn selector(text: &str) -> Rpc<Selector> {
    let t = text.trim();
    Selector::parse(t).map_err(|e| {
        ConnectError::new(
            Code::InvalidArgument,
            format!("invalid label selector {t:?}: {e}"),
        )
    })
}

/// A series found, typed.
struct Hit {
    found: Found,
    typed: Typed,
}

impl Hit {
    /// The series' labels as Grafana sees them: `service_name`, `__name__` (the metric),
    /// `__profile_type__`, then its own.
    fn labels(&self) -> BTreeMap<String, String> {
        let mut l: BTreeMap<String, String> = self.found.name.labels().clone();
        l.insert(SERVICE_NAME.into(), self.typed.service.clone());
        l.insert("__name__".into(), self.typed.profile_type.name.clone());
        l.insert(
            "__profile_type__".into(),
            self.typed.profile_type.id.clone(),
        );
        l
    }

    /// One label of [`Hit::labels`], without building them all.
    fn get(&self, key: &str) -> Option<String> {
        match key {
            SERVICE_NAME => Some(self.typed.service.clone()),
            "__name__" => Some(self.typed.profile_type.name.clone()),
            "__profile_type__" => Some(self.typed.profile_type.id.clone()),
            k => self.found.name.labels().get(k).cloned(),
        }
    }
}

/// The series of the caller that `selectors` (any of them) match, of profile type `type_id`
/// when given, with data in `[from, until)` seconds when bounded. Candidates come from the
/// store's postings: the type's, and the apps of a `service_name` every selector fixes.
fn matching(
    ctx: &Ctx<'_>,
    type_id: Option<&str>,
    selectors: &[Selector],
    from: i64,
    until: i64,
) -> Rpc<Vec<Hit>> {
    // One service every selector names exactly (`{service_name="x", …}`) narrows the search.
    let services: BTreeSet<&str> = selectors
        .iter()
        .filter_map(|s| {
            s.matchers()
                .iter()
                .find(|m| {
                    m.key() == SERVICE_NAME
                        && m.op() == pyro_labels::MatchOp::Equal
                        && !m.value().is_empty()
                })
                .map(|m| m.value())
        })
        .collect();
    let service = (services.len() == 1 && selectors.len() == 1)
        .then(|| services.into_iter().next())
        .flatten();
    let mut out = Vec::new();
    for f in ctx
        .store
        .select_typed(ctx.tenant, type_id, service)
        .map_err(ConnectError::from)?
    {
        ctx.budget.check_cancelled().map_err(ConnectError::from)?;
        let typed = f.meta.typed();
        let hit = Hit { found: f, typed };
        let matches = |m: &Matcher| m.matches(hit.get(m.key()).as_deref());
        if !selectors.is_empty() && !selectors.iter().any(|s| s.matchers().iter().all(matches)) {
            continue;
        }
        if (from > 0 || until < i64::MAX)
            && !ctx
                .store
                .has_data(ctx.tenant, hit.found.id, from, until)
                .map_err(ConnectError::from)?
        {
            continue;
        }
        out.push(hit);
    }
    out.sort_by_key(|h| h.found.id);
    Ok(out)
}

/// The series any of `matchers` selects with data in `[start, end]` (Connect milliseconds,
/// 0 meaning open), of every profile type: what the label and series calls answer from.
fn selected_by(ctx: &Ctx<'_>, matchers: &[String], start: i64, end: i64) -> Rpc<Vec<Hit>> {
    if matchers.len() > MAX_SELECTORS {
        return Err(ConnectError::new(
            Code::InvalidArgument,
            format!("more than {MAX_SELECTORS} label selectors in one request"),
        ));
    }
    // Compiled one by one, stopping as soon as the regexes of all of them pass the bound.
    let mut sel: Vec<Selector> = Vec::with_capacity(matchers.len());
    let mut regexes = 0;
    for m in matchers {
        let q = selector(m)?;
        regexes += q.matchers().iter().filter(|m| m.op().is_regex()).count();
        if regexes > pyro_labels::MAX_REGEX_MATCHERS {
            return Err(ConnectError::new(
                Code::InvalidArgument,
                format!(
                    "more than {} regex matchers in one request",
                    pyro_labels::MAX_REGEX_MATCHERS
                ),
            ));
        }
        sel.push(q);
    }
    let until = if end == 0 {
        i64::MAX
    } else {
        pyro_store::ms_to_s(end.saturating_add(1))
    };
    matching(ctx, None, &sel, pyro_store::ms_to_s(start), until)
}

/// A profile type id's five parts, or `invalid_argument`.
fn check_type_id(id: &str) -> Rpc<()> {
    if id.split(':').count() == 5 && id.split(':').all(|p| !p.is_empty()) {
        Ok(())
    } else {
        Err(ConnectError::new(
            Code::InvalidArgument,
            format!(
                "invalid profile type id {id:?}: expected name:type:unit:period_type:period_unit"
            ),
        ))
    }
}

fn profile_types_of(ctx: &Ctx<'_>, req: ProfileTypesRequest) -> Rpc<ProfileTypesResponse> {
    let hits = selected_by(ctx, &[], req.start, req.end)?;
    let mut types: BTreeMap<String, ProfileType> = BTreeMap::new();
    for h in hits {
        types.insert(
            h.typed.profile_type.id.clone(),
            proto_type(&h.typed.profile_type),
        );
    }
    Ok(ProfileTypesResponse {
        profile_types: types.into_values().collect(),
    })
}

fn label_names_of(ctx: &Ctx<'_>, req: LabelNamesRequest) -> Rpc<NamesResponse> {
    let hits = selected_by(ctx, &req.matchers, req.start, req.end)?;
    let names: BTreeSet<String> = hits.iter().flat_map(|h| h.labels().into_keys()).collect();
    Ok(NamesResponse {
        names: names.into_iter().collect(),
    })
}

fn label_values_of(ctx: &Ctx<'_>, req: LabelValuesRequest) -> Rpc<NamesResponse> {
    let hits = selected_by(ctx, &req.matchers, req.start, req.end)?;
    let values: BTreeSet<String> = hits.iter().filter_map(|h| h.get(&req.name)).collect();
    Ok(NamesResponse {
        names: values.into_iter().collect(),
    })
}

fn series_of(ctx: &Ctx<'_>, req: SeriesRequest) -> Rpc<SeriesResponse> {
    let hits = selected_by(ctx, &req.matchers, req.start, req.end)?;
    let mut sets: Vec<Labels> = hits
        .iter()
        .map(|h| Labels {
            labels: h
                .labels()
                .into_iter()
                .filter(|(k, _)| req.label_names.is_empty() || req.label_names.contains(k))
                .map(|(name, value)| LabelPair { name, value })
                .collect(),
        })
        .collect();
    sets.sort_by_key(|a| a.encode_to_vec());
    sets.dedup();
    Ok(SeriesResponse { labels_set: sets })
}

/// The series a merge request selects: none for a type no series has (Grafana Pyroscope answers
/// an empty result there, which Grafana shows as an empty panel, not an error).
fn selected(
    ctx: &Ctx<'_>,
    type_id: &str,
    label_selector: &str,
    (from, until): (i64, i64),
) -> Rpc<Vec<Hit>> {
    check_type_id(type_id)?;
    let sel = selector(label_selector)?;
    matching(ctx, Some(type_id), &[sel], from, until)
}

/// Every hit merged over `[from, until)` in the profile type's unit (averaged series divided by
/// their writes), streamed into one tree under the request's read budget.
fn merged(ctx: &Ctx<'_>, hits: &[Hit], (from, until): (i64, i64)) -> Rpc<StackTree<'static>> {
    let mut answer = pyro_store::Merged::default();
    for h in hits {
        if h.found.meta.averaged() {
            let m = ctx
                .store
                .merge_range(ctx.tenant, h.found.id, from, until, &ctx.budget)
                .map_err(ConnectError::from)?;
            let tree = if m.writes > 1 {
                m.tree.divide(m.writes)
            } else {
                m.tree
            };
            answer.tree.merge(&tree);
        } else {
            ctx.store
                .merge_range_into(
                    ctx.tenant,
                    h.found.id,
                    from,
                    until,
                    &ctx.budget,
                    &mut answer,
                )
                .map_err(ConnectError::from)?;
        }
    }
    Ok(answer.tree)
}

/// [`merged`], or with a `profile_id_selector` ([`heatmap::profile_id`]s of a heatmap's
/// exemplars) only those uploads of the hits (an id that does not parse is GP's
/// `InvalidArgument` with google/uuid's message).
fn merged_selected(
    ctx: &Ctx<'_>,
    hits: &[Hit],
    range: (i64, i64),
    profile_ids: &[String],
) -> Rpc<StackTree<'static>> {
    if profile_ids.is_empty() {
        return merged(ctx, hits, range);
    }
    let mut wanted: BTreeMap<u64, std::collections::HashSet<u64>> = BTreeMap::new();
    for id in profile_ids {
        let (series, seq) = heatmap::parse_profile_id(id)
            .map_err(|e| ConnectError::new(Code::InvalidArgument, e))?;
        wanted.entry(series).or_default().insert(seq);
    }
    let mut answer = pyro_store::Merged::default();
    for h in hits {
        let Some(seqs) = wanted.get(&h.found.id) else {
            continue;
        };
        let mut one = pyro_store::Merged::default();
        ctx.store
            .merge_uploads(ctx.tenant, h.found.id, range, seqs, &ctx.budget, &mut one)
            .map_err(ConnectError::from)?;
        if h.found.meta.averaged() && one.writes > 1 {
            answer.tree.merge(&one.tree.divide(one.writes));
        } else {
            answer.tree.merge(&one.tree);
        }
    }
    Ok(answer.tree)
}

/// Range of a merge request in seconds: the slots that start in `[start, end)` (Connect
/// milliseconds; an open end is now).
fn range(start: i64, end: i64) -> (i64, i64) {
    let end = if end == 0 {
        crate::attime::now().saturating_add(1) * 1000
    } else {
        end
    };
    (pyro_store::ms_to_s(start), pyro_store::ms_to_s(end))
}

fn select_merge_stacktraces_of(
    ctx: &Ctx<'_>,
    req: SelectMergeStacktracesRequest,
) -> Rpc<SelectMergeStacktracesResponse> {
    let range = range(req.start, req.end);
    let hits = selected(ctx, &req.profile_type_id, &req.label_selector, range)?;
    let tree = merged_selected(ctx, &hits, range, &req.profile_id_selector)?;
    Ok(SelectMergeStacktracesResponse {
        flamegraph: Some(flame_graph(&tree, req.max_nodes)),
    })
}

/// A merged tree as the querier's flame graph, truncated to `max_nodes` (0 or none: the
/// default; negative: no truncation).
fn flame_graph(tree: &StackTree<'_>, max_nodes: Option<i64>) -> FlameGraph {
    let max_nodes = match max_nodes {
        Some(n) if n < 0 => None,
        Some(n) if n > 0 => Some(n as usize),
        _ => Some(render::DEFAULT_MAX_NODES),
    };
    let fb = tree.flamebearer(max_nodes);
    let i = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    FlameGraph {
        names: fb.names.iter().map(|n| (*n).to_owned()).collect(),
        levels: fb
            .levels
            .iter()
            .map(|l| Level {
                values: l.iter().map(|&v| i(v)).collect(),
            })
            .collect(),
        total: i(fb.num_ticks),
        max_self: i(fb.max_self),
    }
}

/// `SelectMergeSpanProfile` (trace to profiles): the samples of the selected series that
/// carried one of the span ids (GP's `NewSpanSelector`: 16 hex digits each), merged.
fn select_merge_span_profile_of(
    ctx: &Ctx<'_>,
    req: SelectMergeSpanProfileRequest,
) -> Rpc<SelectMergeSpanProfileResponse> {
    if req.format == 2 {
        return Err(ConnectError::new(
            Code::Unimplemented,
            "the tree format is not served: ask for a flame graph",
        ));
    }
    let mut spans = std::collections::HashSet::new();
    for s in &req.span_selector {
        if s.len() != 16 {
            return Err(ConnectError::new(
                Code::InvalidArgument,
                format!("invalid span id length: {s:?}"),
            ));
        }
        if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ConnectError::new(
                Code::InvalidArgument,
                format!("invalid span id: {s:?}"),
            ));
        }
        spans.insert(s.to_ascii_lowercase());
    }
    let spans: std::collections::HashSet<&str> = spans.iter().map(String::as_str).collect();
    let range = range(req.start, req.end);
    let hits = selected(ctx, &req.profile_type_id, &req.label_selector, range)?;
    let mut m = pyro_store::Merged::default();
    for h in &hits {
        ctx.store
            .merge_spans(ctx.tenant, h.found.id, range, &spans, &ctx.budget, &mut m)
            .map_err(ConnectError::from)?;
    }
    Ok(SelectMergeSpanProfileResponse {
        flamegraph: Some(flame_graph(&m.tree, req.max_nodes)),
        tree: Vec::new(),
    })
}

/// `SelectSeries`: per group of `group_by` labels, the values of each `step` from `start`
/// (points at `start + k·step`, each holding exactly the slots that start in its step), read
/// from the store's levels (entry totals only).
fn select_series_of(ctx: &Ctx<'_>, req: SelectSeriesRequest) -> Rpc<SelectSeriesResponse> {
    let range = range(req.start, req.end);
    let hits = selected(ctx, &req.profile_type_id, &req.label_selector, range)?;
    let step = if req.step > 0.0 {
        req.step.ceil() as i64
    } else {
        10
    }
    .max(1);
    // Nothing is stored before the epoch.
    let origin = range.0.max(0);
    // Any bounds and step a client sends: no arithmetic wraps, and at most MAX_POINTS.
    let span = range.1.saturating_sub(origin).max(0);
    let n = span / step + i64::from(span % step != 0);
    if n > MAX_POINTS as i64 {
        return Err(ConnectError::new(
            Code::InvalidArgument,
            format!("more than {MAX_POINTS} points per series: raise the step or narrow the range"),
        ));
    }
    let n = usize::try_from(n).unwrap_or(0);
    // Group labels (sorted by name, as Grafana Pyroscope keeps label sets) → (total, writes)
    // per step.
    type Buckets = Vec<(u64, u64)>;
    let mut groups: BTreeMap<Vec<(String, String)>, Buckets> = BTreeMap::new();
    for h in &hits {
        let mut key: Vec<(String, String)> = req
            .group_by
            .iter()
            .filter_map(|g| h.get(g).map(|v| (g.clone(), v)))
            .collect();
        key.sort();
        key.dedup();
        let buckets = groups.entry(key).or_insert_with(|| vec![(0, 0); n]);
        ctx.store
            .totals_exact(
                ctx.tenant,
                h.found.id,
                range,
                origin,
                step,
                &ctx.budget,
                buckets,
            )
            .map_err(ConnectError::from)?;
    }
    // GP's aggregators (pkg/model/timeseries/aggregator.go): a step's point is the sum of the
    // profiles in it, or with AVERAGE their sum over their number.
    let average = req.aggregation == Some(1);
    let series = groups
        .into_iter()
        .map(|(labels, buckets)| Series {
            labels: labels
                .into_iter()
                .map(|(name, value)| LabelPair { name, value })
                .collect(),
            points: buckets
                .into_iter()
                .enumerate()
                .filter(|(_, (_, writes))| *writes > 0)
                .map(|(j, (total, writes))| Point {
                    value: if average {
                        total as f64 / writes as f64
                    } else {
                        total as f64
                    },
                    timestamp: origin
                        .saturating_add((j as i64).saturating_mul(step))
                        .saturating_mul(1000),
                })
                .collect(),
        })
        .collect();
    Ok(SelectSeriesResponse {
        series: top_series(series, req.limit.unwrap_or(0)),
    })
}

/// Grafana Pyroscope's `TopSeries` (pkg/model/timeseries/top.go, applied by its query frontend
/// to every `SelectSeries` answer): series by the sum of their points, largest first, ties by
/// their labels (`CompareLabelPairs`: pair by pair, name then value, then the shorter set
/// first); the first `k` when `k > 0`.
fn top_series(series: Vec<Series>, k: i64) -> Vec<Series> {
    let mut summed: Vec<(f64, Series)> = series
        .into_iter()
        .map(|s| (s.points.iter().map(|p| p.value).sum(), s))
        .collect();
    summed.sort_by(|(a, x), (b, y)| {
        b.total_cmp(a).then_with(|| {
            let pairs = |s: &Series| {
                s.labels
                    .iter()
                    .map(|l| (l.name.clone(), l.value.clone()))
                    .collect::<Vec<_>>()
            };
            pairs(x).cmp(&pairs(y))
        })
    });
    let mut out: Vec<Series> = summed.into_iter().map(|(_, s)| s).collect();
    if let Ok(k) = usize::try_from(k)
        && k > 0
    {
        out.truncate(k);
    }
    out
}

/// Grafana Pyroscope's flame graph node limits (`querier.max-flamegraph-nodes-default` and
/// `-max`).
pub const GP_MAX_NODES_DEFAULT: i64 = 8 << 10;
/// See [`GP_MAX_NODES_DEFAULT`].
pub const GP_MAX_NODES_MAX: i64 = 1 << 20;

/// GP's `ValidateMaxNodes` (pkg/validation/validate.go): 0 is the default, past the maximum or
/// negative is refused.
fn validate_max_nodes(n: i64) -> Rpc<i64> {
    if n == 0 {
        return Ok(GP_MAX_NODES_DEFAULT);
    }
    if n > GP_MAX_NODES_MAX {
        return Err(ConnectError::new(
            Code::InvalidArgument,
            format!("max flamegraph nodes limit {n} is greater than allowed {GP_MAX_NODES_MAX}"),
        ));
    }
    if n < 0 {
        return Err(ConnectError::new(
            Code::InvalidArgument,
            format!("max flamegraph nodes limit must be set (max allowed {GP_MAX_NODES_MAX})"),
        ));
    }
    Ok(n)
}

/// `Diff`: both selections merged and compared as GP's query frontend does (`Diff`,
/// pkg/frontend/frontend_diff.go): the larger of the two `max_nodes`, validated, then
/// [`diff::flamegraph_diff`].
pub(crate) fn diff_of(ctx: &Ctx<'_>, req: DiffRequest) -> Rpc<DiffResponse> {
    let left = req.left.unwrap_or_default();
    let right = req.right.unwrap_or_default();
    let max_nodes = validate_max_nodes(
        left.max_nodes
            .unwrap_or(0)
            .max(right.max_nodes.unwrap_or(0)),
    )?;
    let tree = |r: &SelectMergeStacktracesRequest| -> Rpc<StackTree<'static>> {
        let range = range(r.start, r.end);
        let hits = selected(ctx, &r.profile_type_id, &r.label_selector, range)?;
        merged(ctx, &hits, range)
    };
    let (l, r) = (tree(&left)?, tree(&right)?);
    Ok(DiffResponse {
        flamegraph: Some(diff::flamegraph_diff(
            &l,
            &r,
            usize::try_from(max_nodes).unwrap_or(0),
        )),
    })
}

/// `AnalyzeQuery`: what the query reads here, as GP's answer describes its own storage
/// (pkg/querier/analyze_query.go): one scope, `Embedded storage` (one component), with the
/// stored entries the levels cover the range with as its blocks, the matching series, the
/// uploads merged in those entries as profiles and their bytes; the impact sums it.
fn analyze_query_of(ctx: &Ctx<'_>, req: AnalyzeQueryRequest) -> Rpc<AnalyzeQueryResponse> {
    let sel = Selector::parse(req.query.trim()).map_err(|e| {
        ConnectError::new(
            Code::InvalidArgument,
            format!("invalid query {:?}: {e}", req.query),
        )
    })?;
    let type_id = sel
        .matchers()
        .iter()
        .find(|m| m.key() == "__name__" && m.value().split(':').count() == 5)
        .map(|m| m.value().to_owned());
    let range = range(req.start, req.end);
    let hits = matching(
        ctx,
        type_id.as_deref(),
        &[sel.without("__name__")],
        range.0,
        range.1,
    )?;
    let mut scope = QueryScope {
        component_type: "Embedded storage".into(),
        component_count: 1,
        series_count: hits.len() as u64,
        ..QueryScope::default()
    };
    for h in &hits {
        let s = ctx
            .store
            .range_stats(ctx.tenant, h.found.id, range, &ctx.budget)
            .map_err(ConnectError::from)?;
        scope.block_count += s.entries;
        scope.profile_count += s.writes;
        scope.profile_bytes += s.bytes;
    }
    Ok(AnalyzeQueryResponse {
        query_impact: Some(QueryImpact {
            total_bytes_in_time_range: scope.profile_bytes,
            total_queried_series: scope.series_count,
            deduplication_needed: false,
        }),
        query_scopes: vec![scope],
    })
}

/// `SelectMergeProfile`'s answer is a pprof profile of the type, values in its unit.
fn select_merge_profile_of(ctx: &Ctx<'_>, req: SelectMergeProfileRequest) -> Rpc<RawProfile> {
    let range = range(req.start, req.end);
    let hits = selected(ctx, &req.profile_type_id, &req.label_selector, range)?;
    let tree = merged_selected(ctx, &hits, range, &req.profile_id_selector)?;
    // GP's answer names the requested type (`SetProfileMetadata`), whatever the series.
    let id: Vec<&str> = req.profile_type_id.split(':').collect();
    let t = render::PprofType::of_merge(&pyro_store::ProfileType {
        id: req.profile_type_id.clone(),
        name: id[0].to_owned(),
        sample_type: id[1].to_owned(),
        sample_unit: id[2].to_owned(),
        period_type: id[3].to_owned(),
        period_unit: id[4].to_owned(),
    });
    let mut p = render::pprof_model(&tree, &t);
    // `SetProfileMetadata(profile, t, endTime)` of GP's query backend
    // (pkg/querybackend/query_pprof.go): the end of the range, in nanoseconds.
    let end_ms = if req.end == 0 {
        crate::attime::now().saturating_mul(1000)
    } else {
        req.end
    };
    p.time_nanos = end_ms.saturating_mul(1_000_000);
    Ok(RawProfile(prost::Message::encode_to_vec(&p)))
}

fn get_profile_stats_of(
    ctx: &Ctx<'_>,
    _req: GetProfileStatsRequest,
) -> Rpc<GetProfileStatsResponse> {
    let range = ctx
        .store
        .time_range(ctx.tenant)
        .map_err(ConnectError::from)?;
    Ok(GetProfileStatsResponse {
        data_ingested: range.is_some(),
        oldest_profile_time: range.map_or(0, |r| r.0 * 1000),
        newest_profile_time: range.map_or(0, |r| r.1 * 1000),
    })
}

/// An encoded `google.v1.Profile`, passed through as is.
#[derive(Clone, PartialEq, Default, Debug)]
pub struct RawProfile(pub Vec<u8>);

macro_rules! handler {
    ($name:ident, $req:ty, $resp:ty, $method:expr) => {
        /// The Connect method.
        pub async fn $name(
            State(state): State<Arc<AppState>>,
            QueryReader { tenant, .. }: QueryReader,
            headers: HeaderMap,
            body: Bytes,
        ) -> Result<Response, ConnectError> {
            run::<$req, $resp>(state, tenant, headers, body, $method).await
        }
    };
}

handler!(
    profile_types,
    ProfileTypesRequest,
    ProfileTypesResponse,
    profile_types_of
);
handler!(
    label_names,
    LabelNamesRequest,
    NamesResponse,
    label_names_of
);
handler!(
    label_values,
    LabelValuesRequest,
    NamesResponse,
    label_values_of
);
handler!(series, SeriesRequest, SeriesResponse, series_of);
handler!(
    select_merge_stacktraces,
    SelectMergeStacktracesRequest,
    SelectMergeStacktracesResponse,
    select_merge_stacktraces_of
);
handler!(
    select_series,
    SelectSeriesRequest,
    SelectSeriesResponse,
    select_series_of
);
handler!(diff, DiffRequest, DiffResponse, diff_of);
handler!(
    select_heatmap,
    SelectHeatmapRequest,
    SelectHeatmapResponse,
    heatmap::select_heatmap_of
);
handler!(
    select_merge_span_profile,
    SelectMergeSpanProfileRequest,
    SelectMergeSpanProfileResponse,
    select_merge_span_profile_of
);
handler!(
    analyze_query,
    AnalyzeQueryRequest,
    AnalyzeQueryResponse,
    analyze_query_of
);
handler!(
    get_profile_stats,
    GetProfileStatsRequest,
    GetProfileStatsResponse,
    get_profile_stats_of
);

/// `SelectMergeProfile`: a pprof profile, as protobuf bytes or, for a JSON request, as
/// protojson ([`pprof_json`], what Grafana's Profiles Drilldown reads function details from).
pub async fn select_merge_profile(
    State(state): State<Arc<AppState>>,
    QueryReader { tenant, .. }: QueryReader,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ConnectError> {
    let json = is_json(&headers);
    let p = blocking(state, tenant, headers, body, select_merge_profile_of).await?;
    if json {
        let profile = pyro_pprof::model::Profile::decode(&p.0[..])
            .map_err(|e| ConnectError::new(Code::Internal, e.to_string()))?;
        return Ok((
            [(header::CONTENT_TYPE, "application/json")],
            pprof_json::to_json(&profile).to_string(),
        )
            .into_response());
    }
    Ok(([(header::CONTENT_TYPE, "application/proto")], p.0).into_response())
}
