//! The HTTP layer: configuration, the accept loop, the router and its cross-cutting layers
//! (body limit, request timeout); request bodies ([`body`]) and error responses ([`error`]).

pub mod body;
pub mod budget;
pub mod error;
pub mod log;
pub mod metrics;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::auth::{Scope, Tokens};
use crate::handlers;
use pyro_store::{ErrorKind, Store, StoreError, Writer};

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest request body accepted, in bytes (413 beyond).
    pub max_body: usize,
    /// Per-request limits of the readers; `limits.decompressed` also bounds
    /// `Content-Encoding: gzip` decoding and multipart parts (413 beyond).
    pub limits: pyro_ingest::Limits,
    /// Tokens and the endpoints they protect; `None` leaves every endpoint open.
    pub auth: Option<(Arc<Tokens>, Scope)>,
    /// Longest time a request may take, body included (408 beyond).
    pub request_timeout: Duration,
    /// Keep tenants (`X-Scope-OrgID`) apart; every request must name one.
    pub multi_tenant: bool,
    /// Most parts read from one multipart body (422 beyond).
    pub max_multipart_parts: usize,
    /// Bytes all requests together may hold at once: bodies as announced, then their gunzipped
    /// size and parse memory (503 with `Retry-After` beyond).
    pub max_inflight_bytes: usize,
    /// Forwarding queues, when `--forward-to` is given.
    pub forward: Option<Arc<crate::forward::Forwarder>>,
    /// Most call-tree nodes one read may hold in its answer (`/render`, `/render-diff`, the
    /// querier): a larger answer is refused with a message saying to narrow the query.
    pub read_nodes: usize,
}

/// The default of [`Config::read_nodes`]: 4 Mi nodes (about 256 MB of tree).
pub const DEFAULT_READ_NODES: usize = 4 << 20;

/// Why an accepted request could not be kept.
#[derive(Debug)]
pub enum NotKept {
    /// A forwarding queue is full: back-pressure, retry later (503).
    QueueFull,
    /// The store refused or failed it: [`ErrorKind::Overflow`] is the client's data (422),
    /// anything else the server's (500).
    Store(StoreError),
    /// The encoding task failed (500).
    Internal(String),
}

impl NotKept {
    /// Whether the client's data is at fault (422), not the server.
    pub fn is_client_error(&self) -> bool {
        matches!(self, NotKept::Store(e) if e.kind() == ErrorKind::Overflow)
    }

    /// Whether the tenant's series limit refused it (429).
    pub fn is_series_limit(&self) -> bool {
        matches!(self, NotKept::Store(e) if e.kind() == ErrorKind::SeriesLimit)
    }
}

impl std::fmt::Display for NotKept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotKept::QueueFull => f.write_str("forward queue full"),
            NotKept::Store(e) => e.fmt(f),
            NotKept::Internal(e) => f.write_str(e),
        }
    }
}

/// Keeps an accepted request: queued durably on every forwarding endpoint, then stored locally
/// (unless `--forward-only`). Returns only once both are committed.
///
/// # Errors
/// A full queue or a storage failure; the request must not be acknowledged then.
pub async fn keep(
    state: &Arc<AppState>,
    mut write: pyro_store::Write,
    origin: crate::forward::Origin,
) -> Result<(), NotKept> {
    if let Some(f) = state.config.forward.clone() {
        let encoder = f.clone();
        let (item, w) = tokio::task::spawn_blocking(move || (encoder.item(&write, &origin), write))
            .await
            .map_err(|e| NotKept::Internal(e.to_string()))?;
        write = w;
        if !f.fits(item.body.len()) {
            return Err(NotKept::QueueFull);
        }
        if f.only() {
            write.series.clear();
        }
        // Queued in the transaction that stores it: one commit, one fsync.
        write.outbox = Some(f.outbox(item));
    }
    state.writer.put(write).await.map_err(NotKept::Store)
}

/// Connection-level limits.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Longest time to receive a request's headers (slow clients are dropped).
    pub header_timeout: Duration,
    /// Largest request head (request line and headers), in bytes (431 beyond); at least 8192.
    pub max_header_bytes: usize,
    /// Longest time in-flight requests get to finish on shutdown.
    pub shutdown_grace: Duration,
    /// Finish a request whose client closed its side after sending it whole (HTTP/1
    /// half-close) instead of dropping it: adhoc's agents send their last profile and exit
    /// without reading the answer.
    pub half_close: bool,
}

/// What every handler shares.
pub struct AppState {
    /// Request, storage and budget metrics (`/metrics`).
    pub metrics: metrics::Metrics,
    /// The server-wide bytes-in-flight budget.
    pub inflight: budget::InFlight,
    /// The store (reads).
    pub store: Arc<Store>,
    /// The group-commit writer (writes).
    pub writer: Writer,
    /// Settings.
    pub config: Config,
}

/// Builds the router over an opened store and its group-commit writer.
pub fn router(store: Arc<Store>, writer: Writer, config: Config) -> Router {
    let max_body = config.max_body;
    let inflight = budget::InFlight::new(config.max_inflight_bytes);
    let state = Arc::new(AppState {
        metrics: metrics::Metrics::new(
            store.clone(),
            writer.clone(),
            inflight.clone(),
            config.forward.clone(),
        ),
        inflight,
        store,
        writer,
        config,
    });
    Router::new()
        .route("/ingest", post(handlers::ingest::ingest))
        .route("/push.v1.PusherService/Push", post(handlers::push::push))
        .route("/", get(crate::ui::index))
        .route("/ui/app.js", get(crate::ui::app_js))
        .route("/ui/app.css", get(crate::ui::app_css))
        .route("/render", get(handlers::render::render))
        .route("/render-diff", get(handlers::render::render_diff))
        .route("/labels", get(handlers::labels::labels))
        .route("/label-values", get(handlers::labels::label_values))
        .route("/metrics", get(metrics::metrics))
        .route("/ready", get(metrics::ready))
        .route("/healthz", get(metrics::healthz))
        .merge(crate::querier::routes())
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            request_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            budget::reserve_body,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            log::log_request,
        ))
        .with_state(state)
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
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let svc = hyper_util::service::TowerToHyperService::new(app.clone());
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .half_close(limits.half_close)
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

/// Now, in Unix seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Deletes data older than `retention_secs` every `every`, forever (`--retention`): raw slots
/// and rollups of every tenant, then series left without data.
pub async fn retention_task(store: Arc<Store>, retention_secs: i64, every: Duration) {
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
