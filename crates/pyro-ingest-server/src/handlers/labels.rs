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
