//! `GET /labels` and `GET /label-values`: what a front end discovers series with. Without
//! `query`, `from` or `until` they read the tenant's label counts (the cost of the answer);
//! with them, as OG's label handlers, only series that match the query and have data in the
//! range count.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::attime;
use crate::attime::now;
use crate::auth::Reader;
use crate::error::{json_response, og_error};
use crate::handlers::read::storage_error;
use crate::state::AppState;
use pyro_store::{Selection, labels_of};

/// Names (`label == None`) or values of one label, for `tenant`, as `q` narrows them.
fn answer(
    state: &AppState,
    tenant: &str,
    q: &BTreeMap<String, String>,
    label: Option<&str>,
) -> Response {
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
        return match out {
            Ok(v) => json_response(&v),
            Err(e) => storage_error(&e),
        };
    }
    let parsed = match q.get("query").filter(|v| !v.is_empty()) {
        Some(text) => match crate::handlers::read::parse_query(text) {
            Ok(p) => Some(p),
            Err(r) => return *r,
        },
        None => None,
    };
    let selection = match &parsed {
        Some(p) => Selection::Query(p),
        None => Selection::All,
    };
    let now = now();
    let from = q.get("from").map_or(0, |v| attime::parse(v, now));
    let until = q.get("until").map_or(now, |v| attime::parse(v, now));
    let found = match state.store.select(tenant, selection) {
        Ok(f) => f,
        Err(e) => return storage_error(&e),
    };
    let mut kept = Vec::with_capacity(found.len());
    for f in found {
        match state
            .store
            .has_data(tenant, f.id, from, until.saturating_add(1))
        {
            Ok(true) => kept.push(f),
            Ok(false) => {}
            Err(e) => return storage_error(&e),
        }
    }
    json_response(&labels_of(&kept, label))
}

/// `/labels`: every label name of the tenant's series, `__name__` included.
pub async fn labels(
    State(state): State<Arc<AppState>>,
    Reader { tenant, .. }: Reader,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    tokio::task::spawn_blocking(move || answer(&state, &tenant, &q, None))
        .await
        .unwrap_or_else(|e| {
            og_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
                &e.to_string(),
            )
        })
}

/// `/label-values?label=…`: every value of one label (`__name__`: app names).
pub async fn label_values(
    State(state): State<Arc<AppState>>,
    Reader { tenant, .. }: Reader,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let Some(label) = q.get("label").cloned() else {
        return og_error(
            StatusCode::BAD_REQUEST,
            "invalid parameter",
            "label is required",
        );
    };
    tokio::task::spawn_blocking(move || answer(&state, &tenant, &q, Some(&label)))
        .await
        .unwrap_or_else(|e| {
            og_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
                &e.to_string(),
            )
        })
}
