//! `GET /labels` and `GET /label-values`: what a front end discovers series with. Without
//! `query`, `from` or `until` they read the tenant's label counts (the cost of the answer);
//! with them, as OG's label handlers, only series that match the query and have data in the
//! range count.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;

use crate::attime;
use crate::attime::now;
use crate::auth::Reader;
use crate::error::{AppError, OgError, json_response};
use crate::handlers::read::{og_read, parse_query};
use crate::state::AppState;
use pyro_store::{Selection, labels_of};

/// Names (`label == None`) or values of one label, for `tenant`, as `q` narrows them.
fn answer(
    state: &AppState,
    tenant: &str,
    q: &BTreeMap<String, String>,
    label: Option<&str>,
) -> Result<Response, AppError> {
    let narrowed = ["query", "from", "until"]
        .iter()
        .any(|k| q.contains_key(*k));
    if !narrowed {
        let out = match label {
            None => state.store.label_names(tenant).map(|mut v| {
                if !v.iter().any(|n| n == pyro_store::NAME) {
                    v.insert(0, pyro_store::NAME.to_owned());
                }
                v.sort();
                v
            }),
            Some(l) => state.store.label_values(tenant, l),
        };
        return Ok(json_response(&out.map_err(og_read)?));
    }
    let parsed = match q.get("query").filter(|v| !v.is_empty()) {
        Some(text) => Some(parse_query(text)?),
        None => None,
    };
    let selection = match &parsed {
        Some(p) => Selection::Query(p),
        None => Selection::All,
    };
    let now = now();
    let from = q.get("from").map_or(0, |v| attime::parse(v, now));
    let until = q.get("until").map_or(now, |v| attime::parse(v, now));
    let found = state.store.select(tenant, selection).map_err(og_read)?;
    let mut kept = Vec::with_capacity(found.len());
    for f in found {
        if state
            .store
            .has_data(tenant, f.id, from, until.saturating_add(1))
            .map_err(og_read)?
        {
            kept.push(f);
        }
    }
    Ok(json_response(&labels_of(&kept, label)))
}

/// `/labels`: every label name of the tenant's series, `__name__` included.
pub async fn labels(
    State(state): State<Arc<AppState>>,
    Reader { tenant, .. }: Reader,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response, AppError> {
    tokio::task::spawn_blocking(move || answer(&state, &tenant, &q, None)).await?
}

/// `/label-values?label=…`: every value of one label (`__name__`: app names).
pub async fn label_values(
    State(state): State<Arc<AppState>>,
    Reader { tenant, .. }: Reader,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response, AppError> {
    let Some(label) = q.get("label").cloned() else {
        return Err(OgError::invalid("label is required").into());
    };
    tokio::task::spawn_blocking(move || answer(&state, &tenant, &q, Some(&label))).await?
}

/// One value of a label with the time span of the data of the series that carry it.
#[derive(Debug, serde::Serialize)]
struct Span {
    value: String,
    /// First slot with data (Unix seconds).
    from: i64,
    /// End of the last slot with data (Unix seconds).
    until: i64,
}

/// `/label-spans?label=…[&query=…]`: each value of one label (of the series `query` selects)
/// with the time span of their data, newest first: what the UI lists k6 test runs
/// (`k6_test_run_id`) with, each opened over exactly its span.
pub async fn label_spans(
    State(state): State<Arc<AppState>>,
    Reader { tenant, .. }: Reader,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Response, AppError> {
    let Some(label) = q.get("label").cloned() else {
        return Err(OgError::invalid("label is required").into());
    };
    tokio::task::spawn_blocking(move || -> Result<Response, AppError> {
        let parsed = match q.get("query").filter(|v| !v.is_empty()) {
            Some(text) => Some(parse_query(text)?),
            None => None,
        };
        let selection = match &parsed {
            Some(p) => Selection::Query(p),
            None => Selection::All,
        };
        let mut spans: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for f in state.store.select(&tenant, selection).map_err(og_read)? {
            let Some(value) = f.name.get(&label) else {
                continue;
            };
            if let Some((first, last)) =
                state.store.time_range_of(&tenant, f.id).map_err(og_read)?
            {
                let until = last + pyro_store::SLOT_SECONDS;
                let e = spans.entry(value.to_owned()).or_insert((first, until));
                *e = (e.0.min(first), e.1.max(until));
            }
        }
        let mut out: Vec<Span> = spans
            .into_iter()
            .map(|(value, (from, until))| Span { value, from, until })
            .collect();
        out.sort_by(|a, b| b.until.cmp(&a.until).then_with(|| a.value.cmp(&b.value)));
        Ok(json_response(&out))
    })
    .await?
}
