//! The request log and request metrics, from tower-http's [`TraceLayer`] and axum's
//! [`MatchedPath`]: each request runs in a span named by its route, and when its answer is made
//! one line is logged (method, path without the query string, status, duration, tenant, body
//! bytes read, and for 4xx/5xx the reason the client was given) and counted under its route.
//! The query string (which may carry names an operator does not want in logs) and headers
//! (tokens) are never logged. 5xx lines are at error level, 4xx at warn, the rest at info.
//!
//! [`annotate`] sits inside the trace layer: it counts the body bytes the handler read and
//! hands the trace layer what it logs in the answer's extensions ([`Facts`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{MakeSpan, OnResponse, TraceLayer};
use tracing::Span;

use crate::error::Reason;
use crate::metrics::Metrics;

/// The route label of a request no route matched (404): one label for all of them, so clients
/// cannot grow the metrics by asking for new paths.
pub const UNMATCHED: &str = "unmatched";

/// Longest reason copied from an error body into the log line.
const MAX_REASON: usize = 300;

/// What the log line and the metrics say of one request, gathered by [`annotate`].
#[derive(Debug, Clone)]
pub struct Facts {
    method: Method,
    path: String,
    route: String,
    tenant: String,
    format: &'static str,
    bytes: u64,
}

/// The trace layer of the router: a span per request named by its route, one log line and the
/// request metrics per answer; no other events (tower-http's request and failure events are
/// off: the one line says it all).
pub fn layer(
    metrics: Arc<Metrics>,
) -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RouteSpan, (), LogLine, (), (), ()> {
    TraceLayer::new_for_http()
        .make_span_with(RouteSpan)
        .on_request(())
        .on_response(LogLine { metrics })
        .on_body_chunk(())
        .on_eos(())
        .on_failure(())
}

fn route_of<B>(req: &axum::http::Request<B>) -> &str {
    req.extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
}

/// The span of a request: `request{route}`; what a handler logs is inside it.
#[derive(Debug, Clone, Copy)]
pub struct RouteSpan;

impl<B> MakeSpan<B> for RouteSpan {
    fn make_span(&mut self, req: &axum::http::Request<B>) -> Span {
        tracing::info_span!("request", route = route_of(req))
    }
}

/// Logs the line and records the metrics of an answer.
#[derive(Debug, Clone)]
pub struct LogLine {
    metrics: Arc<Metrics>,
}

impl<B> OnResponse<B> for LogLine {
    fn on_response(self, res: &axum::http::Response<B>, latency: Duration, _: &Span) {
        let Some(f) = res.extensions().get::<Facts>() else {
            return;
        };
        let status = res.status().as_u16();
        self.metrics
            .record(&f.route, f.format, status, latency.as_secs_f64(), f.bytes);
        let (method, path, tenant, bytes) = (&f.method, &f.path, &f.tenant, f.bytes);
        let ms = latency.as_millis() as u64;
        if status < 400 {
            tracing::info!(%method, path, status, ms, tenant, bytes);
            return;
        }
        let reason = res.extensions().get::<Reason>().map_or("", |r| clip(&r.0));
        if status >= 500 {
            tracing::error!(%method, path, status, ms, tenant, bytes, reason);
        } else {
            tracing::warn!(%method, path, status, ms, tenant, bytes, reason);
        }
    }
}

/// Middleware inside the trace layer: counts the body bytes read, and puts the request's
/// [`Facts`] in its answer's extensions, with the reason of an error answer that has none
/// (axum's own rejections: the first bytes of their short text bodies).
pub async fn annotate(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = route_of(&req).to_owned();
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
    let mut response = next.run(req).await;
    if response.status().as_u16() >= 400 && response.extensions().get::<Reason>().is_none() {
        let (parts, body) = response.into_parts();
        let (reason, body) = match axum::body::to_bytes(body, 64 * 1024).await {
            Ok(b) => (reason_of(&b), Body::from(b)),
            Err(_) => (String::from("(unreadable body)"), Body::empty()),
        };
        response = Response::from_parts(parts, body);
        response.extensions_mut().insert(Reason(reason));
    }
    let bytes = read.load(Ordering::Relaxed);
    response.extensions_mut().insert(Facts {
        method,
        path,
        route,
        tenant,
        format,
        bytes,
    });
    response
}

/// `s` cut to at most [`MAX_REASON`] bytes, at a character boundary.
fn clip(s: &str) -> &str {
    let mut end = s.len().min(MAX_REASON);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn reason_of(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_REASON)]);
    text.trim().replace(['\n', '\r'], " ")
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
