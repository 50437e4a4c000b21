//! `GET /metrics` (Prometheus text format), `GET /ready`, `GET /healthz`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::auth::Reader;
use crate::error::JsonErrors;
use crate::state::AppState;

/// `GET /metrics`, behind the read auth when auth is on. The numbers are the whole process's
/// (every tenant's series and queues): a token bound to one tenant is refused (403).
pub async fn metrics(
    State(state): State<Arc<AppState>>,
    reader: Reader,
) -> Result<Response, JsonErrors> {
    if reader.bound.is_some() {
        return Err(JsonErrors::new(
            StatusCode::FORBIDDEN,
            "metrics cover every tenant: use a token not bound to a tenant",
        ));
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.text(),
    )
        .into_response())
}

/// `GET /ready`: 200 once the store is open and the writer runs.
pub async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if state.writer.is_alive() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "writer stopped\n").into_response()
    }
}

/// `GET /healthz`: 200 while the database answers reads and the writer runs; 503 otherwise
/// (while the database is reopened after an I/O error, say).
pub async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let store = state.store.clone();
    let readable = tokio::task::spawn_blocking(move || store.counts().is_ok())
        .await
        .unwrap_or(false);
    match (readable, state.writer.is_alive()) {
        (true, true) => (StatusCode::OK, "ok\n").into_response(),
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "storage unreadable\n").into_response(),
        (_, false) => (StatusCode::SERVICE_UNAVAILABLE, "writer stopped\n").into_response(),
    }
}

/// `GET /api/v1/status/buildinfo`, as Grafana Pyroscope's status service answers it (its
/// grpc-gateway JSON, every field written): `status` and the build's `version`; fields that
/// describe a Go build (`revision`, `branch`, `buildUser`, `buildDate`, `goVersion`) are
/// empty. Open, as in Grafana Pyroscope.
pub async fn buildinfo() -> Response {
    crate::error::json_response(&serde_json::json!({
        "status": "success",
        "data": {
            "version": env!("CARGO_PKG_VERSION"),
            "revision": "",
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        }
    }))
}
