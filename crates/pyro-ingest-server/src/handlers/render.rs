//! `GET /render`: the series a query selects, merged over a time range, as OG's JSON
//! (flamebearer, timeline, groups), collapsed text or pprof.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use pyro_labels::{Query as FlameQuery, SeriesName};

use crate::attime;
use crate::auth::Reader;
use crate::http::error::og_error;
use crate::http::{AppState, now};
use crate::render;
use crate::storage::{Found, Meta, Selection as StoreSelection, Slot, Store};

/// Most `groupBy` values one answer carries (each is a timeline in the JSON).
pub const MAX_GROUPS: usize = 1024;

/// What a `/render` request selects.
struct Selection {
    series: Vec<Found>,
    app: String,
    query: String,
}

/// The series a `/render` request selects: `query` (FlameQL) or `name` (one exact key), found
/// through the store's series index.
fn select(
    store: &Store,
    tenant: &str,
    q: &HashMap<String, String>,
) -> Result<Selection, Box<Response>> {
    let fail = |status, msg: &str, err: String| Box::new(og_error(status, msg, &err));
    let storage = |e: crate::storage::StoreError| {
        fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to retrieve data",
            e.to_string(),
        )
    };
    if let Some(name) = q.get("name").filter(|n| !n.is_empty()) {
        let key = SeriesName::parse(name).map_err(|e| {
            fail(
                StatusCode::BAD_REQUEST,
                "invalid parameter",
                format!("name: {e}"),
            )
        })?;
        return Ok(Selection {
            app: key.app().to_owned(),
            query: key.to_string(),
            series: store
                .select(tenant, StoreSelection::Key(&key))
                .map_err(storage)?,
        });
    }
    let Some(query) = q.get("query") else {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "invalid parameter",
            "'query' or 'name' parameter is required".into(),
        ));
    };
    let parsed = parse_query(query)?;
    Ok(Selection {
        app: parsed.app().to_owned(),
        query: parsed.to_string(),
        series: store
            .select(tenant, StoreSelection::Query(&parsed))
            .map_err(storage)?,
    })
}

/// A FlameQL query, or OG's 400 answer.
pub(crate) fn parse_query(query: &str) -> Result<FlameQuery, Box<Response>> {
    FlameQuery::parse(query).map_err(|e| {
        Box::new(og_error(
            StatusCode::BAD_REQUEST,
            "invalid parameter",
            &format!("query: {e}"),
        ))
    })
}

/// The handler.
pub async fn render(
    State(state): State<Arc<AppState>>,
    Reader { tenant }: Reader,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let format = q.get("format").cloned().unwrap_or_default();
    if !matches!(format.as_str(), "" | "json" | "collapsed" | "pprof") {
        return og_error(
            StatusCode::BAD_REQUEST,
            "invalid parameter",
            "unknown format",
        );
    }
    let max_nodes = match q
        .get("maxNodes")
        .or_else(|| q.get("max-nodes"))
        .and_then(|v| v.parse::<i64>().ok())
    {
        Some(n) if n < 0 => None,
        Some(0) | None => Some(render::DEFAULT_MAX_NODES),
        Some(n) => Some(n as usize),
    };
    let now = now();
    let from = q.get("from").map_or(now, |v| attime::parse(v, now));
    let until = q.get("until").map_or(now, |v| attime::parse(v, now));
    let (st, et) = render::normalize(from, until);
    let state2 = state.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<Response, Box<Response>> {
        let Selection {
            series,
            app,
            query: query_text,
        } = select(&state2.store, &tenant, &q)?;
        let group_by = q.get("groupBy").filter(|g| !g.is_empty()).cloned();
        // Slots of every series, tagged with the series' `groupBy` value.
        let mut slots: Vec<Slot> = Vec::new();
        let mut slot_groups: Vec<Option<String>> = Vec::new();
        let mut meta: Option<Meta> = None;
        for f in &series {
            let (name, m) = (&f.name, &f.meta);
            let found = state2
                .store
                .read(&tenant, f.id, st, et - 1)
                .map_err(|e| {
                    Box::new(og_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "failed to retrieve data",
                        &e.to_string(),
                    ))
                })?;
            let group = group_by
                .as_ref()
                .and_then(|g| name.get(g))
                .map(str::to_owned);
            slot_groups.extend(std::iter::repeat_n(group, found.len()));
            slots.extend(found);
            meta = Some(m.clone());
        }
        let meta = meta.unwrap_or_default();
        let refs: Vec<&Slot> = slots.iter().collect();
        let tree = render::merge(&refs, &meta);
        Ok(match format.as_str() {
            "" => StatusCode::OK.into_response(),
            "collapsed" => (
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                tree.to_collapsed_bfs(),
            )
                .into_response(),
            "pprof" => (
                [
                    (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                    (
                        header::CONTENT_DISPOSITION,
                        format!(
                            "attachment; filename=\"{app} {}.pprof\"",
                            attime::rfc3339(st)
                        ),
                    ),
                ],
                render::pprof(&tree, &meta),
            )
                .into_response(),
            _ => {
                let tl = render::timeline(st, et, &refs);
                let groups: BTreeMap<String, render::Timeline> = match &group_by {
                    None => BTreeMap::from([("*".to_owned(), tl.clone())]),
                    Some(_) => {
                        let mut by: BTreeMap<String, Vec<&Slot>> = BTreeMap::new();
                        for (slot, g) in slots.iter().zip(&slot_groups) {
                            if let Some(g) = g {
                                by.entry(g.clone()).or_default().push(slot);
                            }
                        }
                        if by.len() > MAX_GROUPS {
                            return Err(Box::new(og_error(
                                StatusCode::BAD_REQUEST,
                                "invalid parameter",
                                &format!(
                                    "groupBy: more than {MAX_GROUPS} values in range; narrow the query"
                                ),
                            )));
                        }
                        by.into_iter()
                            .map(|(g, s)| (g, render::timeline(st, et, &s)))
                            .collect()
                    }
                };
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    render::json(
                        &tree,
                        &tl,
                        &groups,
                        &meta,
                        &render::Names {
                            app: &app,
                            query: &query_text,
                        },
                        (st, et),
                        max_nodes,
                    ),
                )
                    .into_response()
            }
        })
    })
    .await;
    match result {
        Ok(Ok(r)) => r,
        Ok(Err(r)) => *r,
        Err(e) => og_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
            &e.to_string(),
        ),
    }
}
