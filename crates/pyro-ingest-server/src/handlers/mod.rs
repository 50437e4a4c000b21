//! One small module per endpoint family: extract, call one library function, map the result to
//! a response.

pub mod ingest;
pub mod labels;
pub mod push;
pub mod querier;
pub(crate) mod read;
pub mod render;
pub mod status;
pub mod ui;

use axum::http::HeaderMap;

/// The k6 labels of the request's `baggage` headers (all of them, combined).
pub(crate) fn k6_from(headers: &HeaderMap) -> Vec<(String, String)> {
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

/// The request's `Content-Type`, when it is valid text.
pub(crate) fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Sets its flag when dropped: held by a handler's future, it tells the blocking parse that the
/// request was abandoned (the client left, or the request timed out and the future was dropped).
pub(crate) struct CancelOnDrop(pub(crate) pyro_ingest::Cancel);

impl CancelOnDrop {
    pub(crate) fn new() -> CancelOnDrop {
        CancelOnDrop(std::sync::Arc::new(std::sync::atomic::AtomicBool::new(
            false,
        )))
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
