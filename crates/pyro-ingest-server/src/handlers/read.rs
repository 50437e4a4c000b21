//! What the read endpoints share: the read budget of a request, OG's answers to a failed read
//! and to a bad query.

use axum::http::StatusCode;
use axum::response::Response;
use pyro_labels::Query as FlameQuery;
use pyro_store::{ErrorKind, ReadBudget, StoreError};

use crate::error::og_error;
use crate::state::AppState;

/// A refused or failed request, already answered.
pub(crate) type Failure = Box<Response>;

pub(crate) fn invalid(err: &str) -> Failure {
    Box::new(og_error(StatusCode::BAD_REQUEST, "invalid parameter", err))
}

/// OG's 500 answer to a failed read of the store (also `/render`'s).
pub(crate) fn storage_error(e: &StoreError) -> Response {
    og_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "failed to retrieve data",
        &e.to_string(),
    )
}

/// A failed read: over its budget (422, the message says what to narrow), cancelled (408: its
/// client left or its time ran out), or a storage failure (500).
pub(crate) fn storage_failure(e: &StoreError) -> Failure {
    Box::new(match e.kind() {
        ErrorKind::Budget => og_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "query too large",
            e.message(),
        ),
        ErrorKind::Cancelled => og_error(
            StatusCode::REQUEST_TIMEOUT,
            "request cancelled",
            e.message(),
        ),
        ErrorKind::Busy => crate::budget::busy(),
        _ => storage_error(e),
    })
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
pub(crate) fn parse_query(query: &str) -> Result<FlameQuery, Failure> {
    FlameQuery::parse(query).map_err(|e| invalid(&format!("query: {e}")))
}
