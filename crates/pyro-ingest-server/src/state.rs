//! What the handlers share, below them: the settings ([`Config`]), the state ([`AppState`]) and
//! its parts each extractor takes on its own ([`axum::extract::FromRef`]), and [`keep`], the one
//! way an accepted request is kept (forward queues and store in one commit).

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;

use pyro_store::{ErrorKind, Store, StoreError, Writer};

use axum::extract::FromRef;

use crate::auth::{Gate, Scope, Tokens};
use crate::budget::InFlight;
use crate::error::{AppError, ConnectError, OgError, Refused};
use crate::metrics::Metrics;

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
    /// the tenant's series limit 429, anything else the server's (500).
    Store(StoreError),
    /// The encoding task failed (500).
    Internal(tokio::task::JoinError),
}

impl NotKept {
    /// OG's answer (`/ingest`).
    pub fn og(self) -> AppError {
        let (status, msg) = match &self {
            NotKept::QueueFull => return Refused::Busy.into(),
            NotKept::Store(e) if e.kind() == ErrorKind::SeriesLimit => {
                (StatusCode::TOO_MANY_REQUESTS, "series limit")
            }
            NotKept::Store(e) if e.kind() == ErrorKind::Overflow => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "error happened while parsing request body",
            ),
            _ => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "error happened while ingesting data",
            ),
        };
        OgError::new(status, msg, self.to_string()).into()
    }

    /// The Connect answer (push): the store's errors as [`ConnectError`] converts them, a full
    /// queue the plain 503 with `Retry-After`.
    pub fn connect(self) -> AppError {
        match self {
            NotKept::QueueFull => Refused::Busy.into(),
            NotKept::Store(e) => ConnectError::from(e).into(),
            NotKept::Internal(e) => ConnectError::from(e).into(),
        }
    }
}

impl std::fmt::Display for NotKept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotKept::QueueFull => f.write_str("forward queue full"),
            NotKept::Store(e) => e.fmt(f),
            NotKept::Internal(e) => e.fmt(f),
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
            .map_err(NotKept::Internal)?;
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

/// What every handler shares.
pub struct AppState {
    /// Request, storage and budget metrics (`/metrics`).
    pub metrics: Arc<Metrics>,
    /// The server-wide bytes-in-flight budget.
    pub inflight: InFlight,
    /// The store (reads).
    pub store: Arc<Store>,
    /// The group-commit writer (writes).
    pub writer: Writer,
    /// Settings.
    pub config: Config,
}

impl FromRef<Arc<AppState>> for Gate {
    fn from_ref(state: &Arc<AppState>) -> Gate {
        Gate {
            auth: state.config.auth.clone(),
            multi_tenant: state.config.multi_tenant,
        }
    }
}
