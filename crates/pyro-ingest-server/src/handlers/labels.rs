//! `GET /labels` and `GET /label-values`: what a front end discovers series with.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::auth::Reader;
use crate::http::AppState;
use crate::http::error::{json_response, og_error};

/// `/labels`: every label name of the tenant's series, `__name__` included.
pub async fn labels(State(state): State<Arc<AppState>>, Reader { tenant }: Reader) -> Response {
    match state.store.series() {
        Ok(series) => {
            let mut keys: BTreeSet<String> = BTreeSet::new();
            keys.insert("__name__".into());
            for (n, _) in series.iter().filter(|(_, m)| m.tenant == tenant) {
                keys.extend(n.labels().keys().cloned());
            }
            json_response(&keys)
        }
        Err(e) => og_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to retrieve data",
            &e.to_string(),
        ),
    }
}

/// `/label-values?label=…`: every value of one label (`__name__`: app names).
pub async fn label_values(
    State(state): State<Arc<AppState>>,
    Reader { tenant }: Reader,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let Some(label) = q.get("label") else {
        return og_error(
            StatusCode::BAD_REQUEST,
            "invalid parameter",
            "label is required",
        );
    };
    match state.store.series() {
        Ok(series) => {
            let values: BTreeSet<String> = series
                .iter()
                .filter(|(_, m)| m.tenant == tenant)
                .filter_map(|(n, _)| n.get(label).map(str::to_owned))
                .collect();
            json_response(&values)
        }
        Err(e) => og_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to retrieve data",
            &e.to_string(),
        ),
    }
}
