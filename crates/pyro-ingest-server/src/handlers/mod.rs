//! One small module per endpoint family: extract, call one library function, map the result to
//! a response.

pub mod ingest;
pub mod labels;
pub mod push;
pub mod render;

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
