//! `GET /render`: the series a query selects, merged over a time range, as OG's JSON
//! (flamebearer, timeline, groups), collapsed text, pprof, an SVG flamegraph or the UI page
//! preloaded with that view; `GET /render-diff`: two such selections side by side.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use pyro_labels::SeriesName;
use pyro_tree::StackTree;

use pyro_store::{Found, Meta, ReadBudget, Selection as StoreSelection, Store};

use crate::attime;
use crate::attime::now;
use crate::auth::Reader;
use crate::error::{AppError, OgError};
use crate::handlers::CancelOnDrop;
use crate::handlers::read::{blocking, budget, og_read, parse_query};
use crate::render;
use crate::state::AppState;
use crate::ui;

/// Most `groupBy` values one answer carries (each is a timeline in the JSON).
pub const MAX_GROUPS: usize = 1024;

/// The series one selection picks, with what the answer echoes.
struct Selection {
    series: Vec<Found>,
    app: String,
    query: String,
}

/// The series `query` (FlameQL) or `name` (one exact key) selects, found through the store's
/// series index; `prefix` names the parameters (`leftQuery`, `rightQuery` for a diff).
fn select(
    store: &Store,
    tenant: &str,
    q: &HashMap<String, String>,
    prefix: &str,
) -> Result<Selection, AppError> {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            let mut c = k.chars();
            let first = c.next().map(|f| f.to_ascii_uppercase());
            format!("{prefix}{}{}", first.unwrap_or_default(), c.as_str())
        }
    };
    if let Some(name) = q.get(&key("name")).filter(|n| !n.is_empty()) {
        let parsed = SeriesName::parse(name).map_err(|e| OgError::invalid(format!("name: {e}")))?;
        return Ok(Selection {
            app: parsed.app().to_owned(),
            query: parsed.to_string(),
            series: store
                .select(tenant, StoreSelection::Key(&parsed))
                .map_err(og_read)?,
        });
    }
    let Some(query) = q.get(&key("query")) else {
        return Err(OgError::invalid(format!(
            "'{}' or '{}' parameter is required",
            key("query"),
            key("name")
        ))
        .into());
    };
    let parsed = parse_query(query)?;
    Ok(Selection {
        app: parsed.app().to_owned(),
        query: parsed.to_string(),
        series: store
            .select(tenant, StoreSelection::Query(&parsed))
            .map_err(og_read)?,
    })
}

/// A selection read over `[st, et)`: its merged tree in OG units and what the answer echoes.
struct Loaded {
    series: Vec<Found>,
    tree: StackTree<'static>,
    meta: Meta,
    app: String,
    query: String,
    range: (i64, i64),
}

impl Loaded {
    fn read(
        store: &Store,
        tenant: &str,
        selection: Selection,
        range: (i64, i64),
        budget: &ReadBudget<'_>,
    ) -> Result<Loaded, AppError> {
        let refs: Vec<&Found> = selection.series.iter().collect();
        let (tree, meta) = render::merged(store, tenant, &refs, range, budget).map_err(og_read)?;
        Ok(Loaded {
            series: selection.series,
            tree,
            meta,
            app: selection.app,
            query: selection.query,
            range,
        })
    }

    fn names(&self) -> render::Names<'_> {
        render::Names {
            app: &self.app,
            query: &self.query,
        }
    }

    /// The timeline of `series` (of this selection) in the answer's units.
    fn timeline(
        &self,
        store: &Store,
        tenant: &str,
        series: &[&Found],
        budget: &ReadBudget<'_>,
    ) -> Result<render::Timeline, AppError> {
        render::timeline(
            store,
            tenant,
            series,
            self.range,
            self.meta.typed().scale,
            budget,
        )
        .map_err(og_read)
    }

    /// The timeline of the whole selection.
    fn whole_timeline(
        &self,
        store: &Store,
        tenant: &str,
        budget: &ReadBudget<'_>,
    ) -> Result<render::Timeline, AppError> {
        let all: Vec<&Found> = self.series.iter().collect();
        self.timeline(store, tenant, &all, budget)
    }

    /// One timeline per `groupBy` value, `""` for the series without that label (none without
    /// `groupBy`: the caller adds `*`).
    fn group_timelines(
        &self,
        store: &Store,
        tenant: &str,
        group_by: Option<&str>,
        budget: &ReadBudget<'_>,
    ) -> Result<BTreeMap<String, render::Timeline>, AppError> {
        let Some(g) = group_by else {
            return Ok(BTreeMap::new());
        };
        // Series without the label form the group "" (as Grafana's group-by keeps them), so
        // the groups add up to the whole.
        let mut by: BTreeMap<String, Vec<&Found>> = BTreeMap::new();
        for f in &self.series {
            by.entry(f.name.get(g).unwrap_or_default().to_owned())
                .or_default()
                .push(f);
        }
        if by.len() > MAX_GROUPS {
            return Err(OgError::invalid(format!(
                "groupBy: more than {MAX_GROUPS} values in range; narrow the query"
            ))
            .into());
        }
        by.into_iter()
            .map(|(g, s)| Ok((g, self.timeline(store, tenant, &s, budget)?)))
            .collect()
    }
}

/// `maxNodes` (or `max-nodes`): a non-zero value overrides the default, a negative one means no
/// truncation.
fn max_nodes(q: &HashMap<String, String>) -> Option<usize> {
    match q
        .get("maxNodes")
        .or_else(|| q.get("max-nodes"))
        .and_then(|v| v.parse::<i64>().ok())
    {
        Some(n) if n < 0 => None,
        Some(0) | None => Some(render::DEFAULT_MAX_NODES),
        Some(n) => Some(n as usize),
    }
}

/// The normalized range of `from_key`/`until_key` (a missing value means now).
fn range(q: &HashMap<String, String>, from_key: &str, until_key: &str) -> (i64, i64) {
    let now = now();
    let from = q.get(from_key).map_or(now, |v| attime::parse(v, now));
    let until = q.get(until_key).map_or(now, |v| attime::parse(v, now));
    render::normalize(from, until)
}

fn with_type(content_type: &'static str, body: impl IntoResponse) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// The handler of `/render`.
pub async fn render(
    State(state): State<Arc<AppState>>,
    Reader { tenant, .. }: Reader,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let format = q.get("format").cloned().unwrap_or_default();
    if !matches!(
        format.as_str(),
        "" | "json" | "collapsed" | "pprof" | "svg" | "html"
    ) {
        return Err(OgError::invalid("unknown format").into());
    }
    let max_nodes = max_nodes(&q);
    let (st, et) = range(&q, "from", "until");
    let abandoned = CancelOnDrop::new();
    let cancel = abandoned.0.clone();
    blocking(abandoned, move || {
        let store = &state.store;
        let memory = crate::budget::ReadMemory::new(&state.inflight);
        let reserve = |n: usize| memory.reserve(n);
        let budget = budget(&state, &cancel, &reserve);
        let selection = select(store, &tenant, &q, "")?;
        let group_by = q.get("groupBy").filter(|g| !g.is_empty());
        let loaded = Loaded::read(store, &tenant, selection, (st, et), &budget)?;
        let tree = &loaded.tree;
        let attachment = |ext: &str| {
            format!(
                "attachment; filename=\"{} {}.{ext}\"",
                loaded.app,
                attime::rfc3339(st)
            )
        };
        Ok(match format.as_str() {
            "" => StatusCode::OK.into_response(),
            "collapsed" => with_type("text/plain; charset=utf-8", tree.to_collapsed_bfs()),
            "pprof" => (
                [
                    (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                    (header::CONTENT_DISPOSITION, attachment("pprof")),
                ],
                render::pprof(tree, &loaded.meta),
            )
                .into_response(),
            "svg" => with_type(
                "image/svg+xml",
                render::svg(
                    tree,
                    &loaded.meta,
                    &format!("{} {}", loaded.query, attime::rfc3339(st)),
                ),
            ),
            _ => {
                let tl = loaded.whole_timeline(store, &tenant, &budget)?;
                let mut groups =
                    loaded.group_timelines(store, &tenant, group_by.map(|g| &**g), &budget)?;
                if group_by.is_none() {
                    groups.insert("*".to_owned(), tl.clone());
                }
                let json = render::json(
                    tree,
                    &tl,
                    &groups,
                    &loaded.meta,
                    &loaded.names(),
                    (st, et),
                    max_nodes,
                );
                if format == "html" {
                    crate::handlers::ui::standalone_page(ui::standalone(&json))
                } else {
                    with_type("application/json", json)
                }
            }
        })
    })
    .await
}

/// The handler of `/render-diff`: `leftQuery`/`leftFrom`/`leftUntil` against
/// `rightQuery`/`rightFrom`/`rightUntil` (OG's parameters), as a `double` flamebearer (JSON, or
/// the UI page preloaded with it for `format=html`).
pub async fn render_diff(
    State(state): State<Arc<AppState>>,
    Reader { tenant, .. }: Reader,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let format = q.get("format").cloned().unwrap_or_else(|| "json".into());
    if !matches!(format.as_str(), "json" | "html") {
        return Err(OgError::invalid("unknown format").into());
    }
    let max_nodes = max_nodes(&q);
    let left_range = range(&q, "leftFrom", "leftUntil");
    let right_range = range(&q, "rightFrom", "rightUntil");
    let abandoned = CancelOnDrop::new();
    let cancel = abandoned.0.clone();
    blocking(abandoned, move || {
        let store = &state.store;
        // Each side holds its own tree: each reserves its own memory.
        let (left_memory, right_memory) = (
            crate::budget::ReadMemory::new(&state.inflight),
            crate::budget::ReadMemory::new(&state.inflight),
        );
        let (left_reserve, right_reserve) = (
            |n: usize| left_memory.reserve(n),
            |n: usize| right_memory.reserve(n),
        );
        let left_budget = budget(&state, &cancel, &left_reserve);
        let right_budget = budget(&state, &cancel, &right_reserve);
        let left = select(store, &tenant, &q, "left")?;
        let right = select(store, &tenant, &q, "right")?;
        let left = Loaded::read(store, &tenant, left, left_range, &left_budget)?;
        let right = Loaded::read(store, &tenant, right, right_range, &right_budget)?;
        let budget = left_budget;
        fn side<'l>(
            l: &'l Loaded,
            store: &Store,
            tenant: &str,
            budget: &ReadBudget<'_>,
        ) -> Result<render::Side<'l>, AppError> {
            Ok(render::Side {
                tree: &l.tree,
                meta: &l.meta,
                names: l.names(),
                range: l.range,
                timeline: l.whole_timeline(store, tenant, budget)?,
                has_data: !l.tree.is_empty(),
            })
        }
        let json = render::diff_json(
            &side(&left, store, &tenant, &budget)?,
            &side(&right, store, &tenant, &budget)?,
            max_nodes,
        );
        Ok(if format == "html" {
            crate::handlers::ui::standalone_page(ui::standalone(&json))
        } else {
            with_type("application/json", json)
        })
    })
    .await
}
