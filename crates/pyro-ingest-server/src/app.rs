//! The top of the server: the router with its cross-cutting layers (request log and metrics,
//! body budget, body limit, request timeout), the accept loop and the background tasks. Nothing
//! below imports this module.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::state::{AppState, Config};
use crate::{budget, handlers, metrics, trace};
use pyro_store::{Store, Writer};

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

/// Builds the router over an opened store and its group-commit writer.
pub fn router(store: Arc<Store>, writer: Writer, config: Config) -> Router {
    let max_body = config.max_body;
    let inflight = budget::InFlight::new(config.max_inflight_bytes);
    let state = Arc::new(AppState {
        metrics: Arc::new(metrics::Metrics::new(
            store.clone(),
            writer.clone(),
            inflight.clone(),
            config.forward.clone(),
        )),
        inflight,
        store,
        writer,
        config,
    });
    Router::new()
        .route("/ingest", post(handlers::ingest::ingest))
        .route("/push.v1.PusherService/Push", post(handlers::push::push))
        .route("/", get(handlers::ui::index))
        .route("/ui/app.js", get(handlers::ui::app_js))
        .route("/ui/app.css", get(handlers::ui::app_css))
        .route("/render", get(handlers::render::render))
        .route("/render-diff", get(handlers::render::render_diff))
        .route("/labels", get(handlers::labels::labels))
        .route("/label-values", get(handlers::labels::label_values))
        .route("/label-spans", get(handlers::labels::label_spans))
        .route("/metrics", get(handlers::status::metrics))
        .route("/ready", get(handlers::status::ready))
        .route("/healthz", get(handlers::status::healthz))
        .route("/api/v1/status/buildinfo", get(handlers::status::buildinfo))
        .route("/pyroscope/render", get(handlers::querier::http::render))
        .route(
            "/pyroscope/render-diff",
            get(handlers::querier::http::render_diff),
        )
        .merge(crate::handlers::querier::routes())
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn_with_state(
            state.config.request_timeout,
            request_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(
            budget::BodyBudget {
                inflight: state.inflight.clone(),
                max_body,
            },
            budget::reserve_body,
        ))
        .layer(axum::middleware::from_fn(trace::annotate))
        .layer(trace::layer(state.metrics.clone()))
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
    State(timeout): State<Duration>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => (StatusCode::REQUEST_TIMEOUT, "request timed out\n").into_response(),
    }
}

/// Deletes data older than `retention_secs` every `every`, forever (`--retention`): raw slots
/// and rollups of every tenant, then series left without data.
pub async fn retention_task(store: Arc<Store>, retention_secs: i64, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let store = store.clone();
        let cutoff = crate::attime::now() - retention_secs;
        match tokio::task::spawn_blocking(move || store.delete_before(cutoff)).await {
            Ok(Ok(n)) if n > 0 => tracing::info!(deleted_slots = n, "retention"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "retention failed"),
            Err(e) => tracing::error!(error = %e, "retention task failed"),
        }
    }
}
