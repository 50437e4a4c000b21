//! What the read endpoints share: the read budget of a request, OG's answers to a failed read
//! and to a bad query, and the blocking runner that cancels a read when its request is dropped.

use axum::http::StatusCode;
use pyro_labels::Query as FlameQuery;
use pyro_store::{ErrorKind, ReadBudget, StoreError};

use crate::error::{AppError, OgError, Refused};
use crate::handlers::CancelOnDrop;
use crate::state::AppState;

/// OG's answer to a failed read: over its budget 422 (the message says what to narrow),
/// cancelled 408 (its client left or its time ran out), the memory budget spent 503, else 500
/// `failed to retrieve data`.
pub(crate) fn og_read(e: StoreError) -> AppError {
    match e.kind() {
        ErrorKind::Budget => OgError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "query too large",
            e.message(),
        )
        .into(),
        ErrorKind::Cancelled => OgError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request cancelled",
            e.message(),
        )
        .into(),
        ErrorKind::Busy => Refused::Busy.into(),
        _ => OgError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to retrieve data",
            e.to_string(),
        )
        .into(),
    }
}

/// The read budget of one request: the server's node limit, the request's cancel flag and the
/// hook that reserves its answer's memory from the server-wide budget.
pub(crate) fn budget<'c>(
    state: &AppState,
    cancel: &'c std::sync::atomic::AtomicBool,
    reserve: pyro_store::Reserve<'c>,
) -> ReadBudget<'c> {
    ReadBudget {
        max_nodes: state.config.read_nodes,
        cancel: Some(cancel),
        reserve: Some(reserve),
    }
}

/// A FlameQL query, or OG's 400 answer.
pub(crate) fn parse_query(query: &str) -> Result<FlameQuery, OgError> {
    FlameQuery::parse(query).map_err(|e| OgError::invalid(format!("query: {e}")))
}

/// Runs `f` on the blocking pool; `abandoned` is held meanwhile, so a dropped request (its
/// client left, or it timed out) cancels the read.
pub(crate) async fn blocking<T, E>(
    abandoned: CancelOnDrop,
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<tokio::task::JoinError> + Send + 'static,
{
    let answer = tokio::task::spawn_blocking(f).await;
    drop(abandoned);
    answer?
}
