//! One log line per request, whatever its outcome (401, 404 and 405 included): method, path
//! (never the query string, which may carry names an operator does not want in logs, and never a
//! header), status, duration, tenant, body bytes read, and for 4xx/5xx the reason the client was
//! given. 5xx lines are at error level, 4xx at warn, the rest at info.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;

/// Longest reason copied from an error body into the log line.
const MAX_REASON: usize = 300;

/// The middleware.
pub async fn log_request(
    State(state): State<Arc<crate::state::AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let format = format_of(req.uri().query().unwrap_or(""));
    let tenant = req
        .headers()
        .get("x-scope-orgid")
        .and_then(|v| v.to_str().ok())
        .map(|t| t.chars().take(150).collect::<String>())
        .unwrap_or_default();
    let read = Arc::new(AtomicU64::new(0));
    let counter = read.clone();
    let req = req.map(|b| {
        Body::new(b.map_frame(move |f| {
            if let Some(d) = f.data_ref() {
                counter.fetch_add(d.len() as u64, Ordering::Relaxed);
            }
            f
        }))
    });
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let ms = started.elapsed().as_millis() as u64;
    let bytes = read.load(Ordering::Relaxed);
    state.metrics.record(
        endpoint_of(&path),
        format,
        status,
        started.elapsed().as_secs_f64(),
        bytes,
    );
    if status < 400 {
        tracing::info!(%method, path, status, ms, tenant, bytes);
        return response;
    }
    // Error bodies are short texts; keep the first bytes as the reason and pass the body on.
    let (parts, body) = response.into_parts();
    let (reason, body) = match axum::body::to_bytes(body, 64 * 1024).await {
        Ok(b) => (reason_of(&b), Body::from(b)),
        Err(_) => (String::from("(unreadable body)"), Body::empty()),
    };
    if status >= 500 {
        tracing::error!(%method, path, status, ms, tenant, bytes, reason);
    } else {
        tracing::warn!(%method, path, status, ms, tenant, bytes, reason);
    }
    Response::from_parts(parts, body)
}

fn reason_of(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_REASON)]);
    text.trim().replace(['\n', '\r'], " ")
}

/// The endpoint label of a path: known routes by name, anything else `other` (a label per
/// unknown path would let clients grow the metrics without bound).
fn endpoint_of(path: &str) -> &'static str {
    match path {
        "/ingest" => "ingest",
        "/push.v1.PusherService/Push" => "push",
        "/render" => "render",
        "/labels" => "labels",
        "/label-values" => "label-values",
        "/metrics" => "metrics",
        "/ready" => "ready",
        "/healthz" => "healthz",
        _ => "other",
    }
}

/// The `format` query parameter among the known ones, `other` for the rest, `` without one.
fn format_of(query: &str) -> &'static str {
    let Some(v) = query.split('&').find_map(|kv| kv.strip_prefix("format=")) else {
        return "";
    };
    const KNOWN: [&str; 12] = [
        "folded",
        "lines",
        "trie",
        "tree",
        "pprof",
        "jfr",
        "speedscope",
        "json",
        "collapsed",
        "svg",
        "html",
        "",
    ];
    KNOWN.into_iter().find(|k| *k == v).unwrap_or("other")
}
