//! The HTTP server: `/ingest`, `/render`, `/labels`, `/label-values`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use pyro_labels::{Query as FlameQuery, SeriesName};

use crate::attime;
use crate::auth::{Denied, Scope, Tokens};
use crate::ingest::{self, Format, IngestError, Limits, Params};
use crate::push::{self, ConnectError};
use crate::render;
use crate::storage::{Meta, Slot, Store, Write, Writer, storage_key};

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest request body accepted, in bytes (413 beyond).
    pub max_body: usize,
    /// Largest body after `Content-Encoding: gzip` decoding, in bytes (413 beyond).
    pub max_decompressed: usize,
    /// Parser limits.
    pub limits: Limits,
    /// Tokens and the endpoints they protect; `None` leaves every endpoint open.
    pub auth: Option<(Arc<Tokens>, Scope)>,
    /// Longest time a request may take, body included (408 beyond).
    pub request_timeout: std::time::Duration,
    /// Most series one request may store (422 beyond).
    pub max_series_per_request: usize,
    /// Keep tenants (`X-Scope-OrgID`) apart; every request must name one.
    pub multi_tenant: bool,
    /// Most parts read from one multipart body (422 beyond).
    pub max_multipart_parts: usize,
}

/// Connection-level limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Longest time to receive a request's headers (slow clients are dropped).
    pub header_timeout: std::time::Duration,
    /// Largest request head (request line and headers), in bytes (431 beyond); at least 8192.
    pub max_header_bytes: usize,
    /// Longest time in-flight requests get to finish on shutdown.
    pub shutdown_grace: std::time::Duration,
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets in-flight requests finish
/// (up to the grace period). Each connection has a header read timeout and a header size limit.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let svc = hyper_util::service::TowerToHyperService::new(app.clone());
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(limits.header_timeout)
                    .max_buf_size(limits.max_header_bytes.max(8192))
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            () = &mut shutdown => break,
        }
    }
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown grace period over; closing remaining connections");
    }
}

/// Answers 408 when a request (body included) takes longer than the configured timeout.
async fn request_timeout(
    State(state): State<Arc<AppState>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match tokio::time::timeout(state.config.request_timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => (StatusCode::REQUEST_TIMEOUT, "request timed out\n").into_response(),
    }
}

struct AppState {
    store: Arc<Store>,
    writer: Writer,
    config: Config,
}

/// Builds the router over an opened store and its group-commit writer.
pub fn router(store: Arc<Store>, writer: Writer, config: Config) -> Router {
    let max_body = config.max_body;
    let state = Arc::new(AppState {
        store,
        writer,
        config,
    });
    Router::new()
        .route("/ingest", post(ingest_handler))
        .route("/push.v1.PusherService/Push", post(push_handler))
        .route("/render", get(render_handler))
        .route("/labels", get(labels_handler))
        .route("/label-values", get(label_values_handler))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_timeout,
        ))
        .with_state(state)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Go's `%q` of a string: double-quoted with `"`, `\` and control characters escaped.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// OG's error body: `<msg>: %q\n`, plain text.
fn og_error(status: StatusCode, msg: &str, err: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{msg}: {}\n", go_quote(err)),
    )
        .into_response()
}

/// Decodes `Content-Encoding: gzip` (also `x-gzip`, applied right to left; `identity` is a
/// no-op), never producing more than `max` bytes.
fn decode_content_encoding(
    headers: &HeaderMap,
    body: Bytes,
    max: usize,
) -> Result<Bytes, Box<Response>> {
    let Some(enc) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(body);
    };
    let enc = enc.to_str().unwrap_or("").replace(' ', "");
    let mut data = body;
    for e in enc.split(',').rev() {
        match e.to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => {
                let mut out = Vec::new();
                flate2::read::MultiGzDecoder::new(&data[..])
                    .take(max as u64 + 1)
                    .read_to_end(&mut out)
                    .map_err(|e| {
                        Box::new((StatusCode::BAD_REQUEST, format!("gzip: {e}\n")).into_response())
                    })?;
                if out.len() > max {
                    return Err(Box::new(
                        (
                            StatusCode::PAYLOAD_TOO_LARGE,
                            format!("decompressed body exceeds the limit of {max} bytes\n"),
                        )
                            .into_response(),
                    ));
                }
                data = Bytes::from(out);
            }
            _ => {}
        }
    }
    Ok(data)
}

/// Default most parts read from one multipart body.
pub const DEFAULT_MAX_MULTIPART_PARTS: usize = 16;

/// The file parts of a multipart body by name (`profile`, `prev_profile`, `sample_type_config`
/// for pprof; `jfr`, `labels` for JFR); only parts with a file name count, as in OG.
async fn multipart_parts(
    content_type: &str,
    body: Bytes,
    max_part: usize,
    max_parts: usize,
) -> Result<HashMap<String, Vec<u8>>, String> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| "malformed multipart content type header".to_owned())?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut mp = multer::Multipart::new(stream, boundary);
    let mut parts = HashMap::new();
    let mut count = 0;
    while let Some(field) = mp.next_field().await.map_err(|e| e.to_string())? {
        count += 1;
        if count > max_parts {
            return Err(format!("more than {max_parts} multipart parts"));
        }
        let Some(name) = field.name().map(str::to_owned) else {
            continue;
        };
        if field.file_name().is_none() {
            continue;
        }
        let data = field.bytes().await.map_err(|e| e.to_string())?;
        if data.len() > max_part {
            return Err(format!(
                "multipart part {name} exceeds the limit of {max_part} bytes"
            ));
        }
        if !data.is_empty() {
            parts.insert(name, data.to_vec());
        }
    }
    Ok(parts)
}

/// The file parts of a multipart `/ingest` body, or OG's 422 answer for a malformed one.
async fn form_parts(
    state: &AppState,
    content_type: &str,
    body: Vec<u8>,
) -> Result<HashMap<String, Vec<u8>>, Box<Response>> {
    multipart_parts(
        content_type,
        Bytes::from(body),
        state.config.max_decompressed,
        state.config.max_multipart_parts,
    )
    .await
    .map_err(|e| {
        Box::new(og_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "error happened while parsing request body",
            &e,
        ))
    })
}

/// Logs one line for a finished request and passes the response through.
fn logged(path: &'static str, started: Instant, response: Response) -> Response {
    tracing::info!(
        path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis() as u64
    );
    response
}

/// OG's auth failure bodies (§7).
fn denied(d: Denied) -> Response {
    let (status, msg) = match d {
        Denied::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid credentials"),
        Denied::PermissionDenied => (StatusCode::FORBIDDEN, "permission denied"),
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "errors": [msg] }).to_string(),
    )
        .into_response()
}

/// Checks the request's token when `ingest` (or read) endpoints are protected.
fn authorize(state: &AppState, headers: &HeaderMap, ingest: bool) -> Result<(), Denied> {
    let Some((tokens, scope)) = &state.config.auth else {
        return Ok(());
    };
    if (ingest && !scope.ingest()) || (!ingest && !scope.read()) {
        return Ok(());
    }
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    tokens.check(auth, ingest).map(|_| ())
}

/// A request without a usable `X-Scope-OrgID` under `--multi-tenant`.
struct NoOrgId;

impl IntoResponse for NoOrgId {
    fn into_response(self) -> Response {
        (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({ "errors": ["no org id"] }).to_string(),
        )
            .into_response()
    }
}

/// The request's tenant: `X-Scope-OrgID` with `--multi-tenant` (required), else none.
fn tenant_of(state: &AppState, headers: &HeaderMap) -> Result<String, NoOrgId> {
    if !state.config.multi_tenant {
        return Ok(String::new());
    }
    match headers
        .get("x-scope-orgid")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
    {
        Some(t) if !t.is_empty() && t.len() <= 150 && !t.contains('\u{1f}') => Ok(t.to_owned()),
        _ => Err(NoOrgId),
    }
}

/// Authorization, then the tenant, for the plain-HTTP endpoints (push answers in Connect form).
fn gate(state: &AppState, headers: &HeaderMap, ingest: bool) -> Result<String, Box<Response>> {
    authorize(state, headers, ingest).map_err(|d| Box::new(denied(d)))?;
    tenant_of(state, headers).map_err(|e| Box::new(e.into_response()))
}

/// The k6 labels of the request's `baggage` headers (all of them, combined).
fn k6_from(headers: &HeaderMap) -> Vec<(String, String)> {
    let values: Vec<&str> = headers
        .get_all("baggage")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if values.is_empty() {
        return Vec::new();
    }
    pyro_labels::k6_labels(values).into_iter().collect()
}

async fn ingest_handler(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let tenant = match gate(&state, &headers, true) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    let k6 = k6_from(&headers);
    let body = match decode_content_encoding(&headers, body, state.config.max_decompressed) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut params = Params {
        name: q.get("name").cloned().unwrap_or_default(),
        format: q.get("format").cloned(),
        content_type: content_type.clone(),
        units: q.get("units").cloned(),
        aggregation: q.get("aggregationType").cloned(),
        sample_rate: q.get("sampleRate").cloned(),
        spy_name: q.get("spyName").cloned(),
        sample_type_config: None,
        prev_profile: None,
        jfr_labels: None,
    };
    let now = now();
    let from = q.get("from").map_or(now, |v| attime::parse(v, now));
    let mut body = body.to_vec();
    let format = Format::select(params.format.as_deref(), params.content_type.as_deref());
    let jfr_multipart = format == Format::Jfr
        && content_type
            .as_deref()
            .is_some_and(|ct| ct.contains("multipart/form-data"));
    if jfr_multipart {
        let ct = content_type.clone().unwrap_or_default();
        let mut parts = match form_parts(&state, &ct, body).await {
            Ok(p) => p,
            Err(r) => return *r,
        };
        let Some(jfr) = parts.remove("jfr") else {
            return og_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "error happened while parsing request body",
                "jfr field is required",
            );
        };
        body = jfr;
        params.jfr_labels = parts.remove("labels");
    }
    if format == Format::PprofMultipart {
        let ct = content_type.unwrap_or_default();
        let mut parts = match form_parts(&state, &ct, body).await {
            Ok(p) => p,
            Err(r) => return *r,
        };
        // No `profile` part: nothing to ingest (OG answers 200).
        let Some(profile) = parts.remove("profile") else {
            return StatusCode::OK.into_response();
        };
        body = profile;
        params.prev_profile = parts.remove("prev_profile");
        params.sample_type_config = parts.remove("sample_type_config");
        params.format = Some("pprof".into());
        params.content_type = None;
    }
    let state2 = state.clone();
    let parsed = tokio::task::spawn_blocking(move || {
        let mut series = ingest::parse(&params, &body, &state2.config.limits)?;
        let max = state2.config.max_series_per_request;
        if series.len() > max {
            return Err(IngestError::Body(format!(
                "{} series exceed the limit of {max} per request",
                series.len()
            )));
        }
        for s in &mut series {
            for (k, v) in &k6 {
                s.name
                    .insert(k, v, pyro_labels::Precedence::Overwrite)
                    .map_err(IngestError::Name)?;
            }
        }
        Ok::<_, IngestError>((params.name, Write::new(&tenant, from, &series)))
    })
    .await;
    let response = match parsed {
        Ok(Ok((name, write))) => {
            let n = write.series.len();
            match state.writer.put(write).await {
                Ok(()) => {
                    tracing::info!(
                        path = "/ingest",
                        status = 200,
                        name = %name,
                        series = n,
                        ms = started.elapsed().as_millis() as u64
                    );
                    return StatusCode::OK.into_response();
                }
                Err(e) => og_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "error happened while ingesting data",
                    &e.to_string(),
                ),
            }
        }
        Ok(Err(e @ IngestError::TooLarge(_))) => og_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "error happened while parsing request body",
            &e.to_string(),
        ),
        Ok(Err(IngestError::Name(e))) => og_error(
            StatusCode::BAD_REQUEST,
            "invalid parameter",
            &format!("name: {e}"),
        ),
        Ok(Err(e)) => og_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "error happened while parsing request body",
            &e.to_string(),
        ),
        Err(e) => og_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
            &e.to_string(),
        ),
    };
    logged("/ingest", started, response)
}

/// What a `/render` request selects.
struct Selection {
    series: Vec<(SeriesName, Meta)>,
    app: String,
    query: String,
}

/// The series a `/render` request selects: `query` (FlameQL) or `name` (one exact key).
fn select(
    store: &Store,
    tenant: &str,
    q: &HashMap<String, String>,
) -> Result<Selection, Box<Response>> {
    let fail = |status, msg: &str, err: String| Box::new(og_error(status, msg, &err));
    let mut all = store.series().map_err(|e| {
        fail(
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to retrieve data",
            e.to_string(),
        )
    })?;
    all.retain(|(_, m)| m.tenant == tenant);
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
            series: all.into_iter().filter(|(n, _)| *n == key).collect(),
        });
    }
    let Some(query) = q.get("query") else {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "invalid parameter",
            "'query' or 'name' parameter is required".into(),
        ));
    };
    let parsed = FlameQuery::parse(query).map_err(|e| {
        fail(
            StatusCode::BAD_REQUEST,
            "invalid parameter",
            format!("query: {e}"),
        )
    })?;
    Ok(Selection {
        app: parsed.app().to_owned(),
        query: parsed.to_string(),
        series: all.into_iter().filter(|(n, _)| parsed.matches(n)).collect(),
    })
}

async fn render_handler(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let tenant = match gate(&state, &headers, false) {
        Ok(t) => t,
        Err(r) => return *r,
    };
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
        for (name, m) in &series {
            let found = state2
                .store
                .read(&storage_key(&tenant, name), st, et - 1)
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
                            crate::attime::rfc3339(st)
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
    let response = match result {
        Ok(Ok(r)) => r,
        Ok(Err(r)) => *r,
        Err(e) => og_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error",
            &e.to_string(),
        ),
    };
    logged("/render", started, response)
}

fn json_response<T: serde::Serialize>(v: &T) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(v).unwrap_or_default(),
    )
        .into_response()
}

async fn labels_handler(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let tenant = match gate(&state, &headers, false) {
        Ok(t) => t,
        Err(r) => return *r,
    };
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

async fn label_values_handler(
    State(state): State<Arc<AppState>>,
    Query(q): Query<BTreeMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let tenant = match gate(&state, &headers, false) {
        Ok(t) => t,
        Err(r) => return *r,
    };
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

/// Deletes slots older than `retention_secs` every `every`, forever.
pub async fn retention_task(store: Arc<Store>, retention_secs: i64, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let store = store.clone();
        let cutoff = now() - retention_secs;
        match tokio::task::spawn_blocking(move || store.delete_before(cutoff)).await {
            Ok(Ok(n)) if n > 0 => tracing::info!(deleted_slots = n, "retention"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "retention failed"),
            Err(e) => tracing::error!(error = %e, "retention task failed"),
        }
    }
}

fn connect_error(e: &ConnectError) -> Response {
    (
        StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        e.body(),
    )
        .into_response()
}

async fn push_handler(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    if let Err(d) = authorize(&state, &headers, true) {
        let (code, message) = match d {
            Denied::InvalidCredentials => ("unauthenticated", "invalid credentials"),
            Denied::PermissionDenied => ("permission_denied", "permission denied"),
        };
        return connect_error(&ConnectError {
            code,
            message: message.into(),
        });
    }
    let tenant = match tenant_of(&state, &headers) {
        Ok(t) => t,
        Err(_) => {
            return connect_error(&ConnectError {
                code: "unauthenticated",
                message: "no org id".into(),
            });
        }
    };
    let body = match decode_content_encoding(&headers, body, state.config.max_decompressed) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let k6 = k6_from(&headers);
    let state2 = state.clone();
    let ct = content_type.clone();
    let parsed = tokio::task::spawn_blocking(move || {
        let req = push::decode(&ct, &body)?;
        let (series, start) = push::to_series(&req, &k6, &state2.config.limits, now())?;
        let max = state2.config.max_series_per_request;
        if series.len() > max {
            return Err(ConnectError::invalid(format!(
                "{} series exceed the limit of {max} per request",
                series.len()
            )));
        }
        Ok::<_, ConnectError>(Write::new(&tenant, start, &series))
    })
    .await;
    let result = match parsed {
        Ok(Ok(write)) => {
            let n = write.series.len();
            state
                .writer
                .put(write)
                .await
                .map(|()| n)
                .map_err(|e| ConnectError {
                    code: "internal",
                    message: e.to_string(),
                })
        }
        Ok(Err(e)) => Err(e),
        Err(e) => Err(ConnectError {
            code: "internal",
            message: e.to_string(),
        }),
    };
    let response = match &result {
        Ok(_) if content_type.starts_with("application/json") => {
            ([(header::CONTENT_TYPE, "application/json")], "{}").into_response()
        }
        Ok(_) => ([(header::CONTENT_TYPE, "application/proto")], "").into_response(),
        Err(e) => connect_error(e),
    };
    tracing::info!(
        path = "/push.v1.PusherService/Push",
        status = response.status().as_u16(),
        series = result.as_ref().copied().unwrap_or(0),
        ms = started.elapsed().as_millis() as u64
    );
    response
}
