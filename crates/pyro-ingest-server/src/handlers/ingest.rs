//! `POST /ingest`: OG Pyroscope's upload endpoint, every format `pyro-ingest` reads.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use pyro_ingest::{ErrorKind, Format, Request};

use crate::attime;
use crate::attime::now;
use crate::auth::Ingester;
use crate::body::{content_encoded, decode_content_encoding, multipart_parts};
use crate::budget::{declared_size, reserve_parse};
use crate::error::og_error;
use crate::forward::{Origin, Received};
use crate::state::{AppState, NotKept, keep};
use pyro_store::Write;

const PARSE_FAILED: &str = "error happened while parsing request body";

/// The handler. Auth and tenant come from the headers ([`Ingester`]) before the body is read.
pub async fn ingest(
    State(state): State<Arc<AppState>>,
    Ingester { tenant, org_id, .. }: Ingester,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Content-Encoding: the inflated body is reserved (as its trailer declares it) first, and
    // inflated off the async workers.
    let (body, _inflated) = if content_encoded(&headers) {
        let max = declared_size(&body, state.config.limits.decompressed);
        let reserved = match state.inflight.try_reserve(max) {
            Ok(r) => r,
            Err(refused) => return refused.into_response(),
        };
        let headers = headers.clone();
        match tokio::task::spawn_blocking(move || decode_content_encoding(&headers, body, max))
            .await
        {
            Ok(Ok(b)) => (b, Some(reserved)),
            Ok(Err(r)) => return *r,
            Err(e) => return internal(&e),
        }
    } else {
        (body, None)
    };
    let abandoned = super::CancelOnDrop::new();
    let mut req = Request {
        cancel: Some(abandoned.0.clone()),
        content_type: super::content_type(&headers),
        body,
        extra_labels: super::k6_from(&headers),
        ..Request::default()
    }
    .with_query(q.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let now = now();
    let from = q
        .iter()
        .find(|(k, _)| k == "from")
        .map_or(now, |(_, v)| attime::parse(v, now));
    match split_form(&state, &mut req).await {
        Ok(true) => {}
        Ok(false) => return StatusCode::OK.into_response(),
        Err(r) => return *r,
    }
    // Parse memory, from the parts' declared inflated sizes; no gunzip inflates past them.
    let parts = [
        Some(&req.body),
        req.prev_profile.as_ref(),
        req.jfr_labels.as_ref(),
        req.sample_type_config.as_ref(),
    ];
    let held = req.body.len();
    let (parse_budget, limits) = match reserve_parse(
        &state.inflight,
        &state.config.limits,
        held,
        parts.into_iter().flatten().map(|b| &b[..]),
    ) {
        Ok(r) => r,
        Err(refused) => return refused.into_response(),
    };
    let forwarding = state.config.forward.is_some();
    let parsed = tokio::task::spawn_blocking(move || {
        let _parse_budget = parse_budget;
        let (series, facts) = pyro_ingest::decode_with_facts(&req, &limits)?;
        let write = Write::new(&tenant, from, series);
        let mut origin = Origin {
            received: None,
            org_id,
        };
        if forwarding {
            origin.received = match facts {
                Some(pyro_ingest::Facts::Pprof(f)) => Received::pprof(&req, &f),
                Some(pyro_ingest::Facts::Jfr { event }) => Some(Received::Jfr { event }),
                None => None,
            };
        }
        Ok::<_, pyro_ingest::Error>((req.name.clone(), write, origin))
    })
    .await;
    match parsed {
        Ok(Ok((name, write, origin))) => {
            let n = write.series.len();
            match keep(&state, write, origin).await {
                Ok(()) => {
                    tracing::debug!(name = %name, series = n, "stored");
                    StatusCode::OK.into_response()
                }
                Err(NotKept::QueueFull) => crate::budget::busy(),
                Err(e) if e.is_series_limit() => og_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "series limit",
                    &e.to_string(),
                ),
                Err(e) if e.is_client_error() => og_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    PARSE_FAILED,
                    &e.to_string(),
                ),
                Err(e) => og_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "error happened while ingesting data",
                    &e.to_string(),
                ),
            }
        }
        Ok(Err(e)) => match e.kind() {
            ErrorKind::Name => og_error(StatusCode::BAD_REQUEST, "invalid parameter", e.message()),
            ErrorKind::TooLarge => {
                og_error(StatusCode::PAYLOAD_TOO_LARGE, PARSE_FAILED, e.message())
            }
            _ => og_error(StatusCode::UNPROCESSABLE_ENTITY, PARSE_FAILED, e.message()),
        },
        Err(e) => internal(&e),
    }
}

fn internal(e: &tokio::task::JoinError) -> Response {
    og_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error",
        &e.to_string(),
    )
}

/// Replaces a multipart body by its parts: the JFR form's `jfr` and `labels`, the pprof form's
/// `profile`, `prev_profile` and `sample_type_config`. `Ok(false)` when a pprof form has no
/// `profile` (nothing to ingest: OG answers 200).
async fn split_form(state: &AppState, req: &mut Request) -> Result<bool, Box<Response>> {
    let is_form = req
        .content_type
        .as_deref()
        .is_some_and(|ct| ct.contains("multipart/form-data"));
    let format = Format::select(req.format.as_deref(), req.content_type.as_deref());
    if !is_form || !matches!(format, Format::Jfr | Format::PprofMultipart) {
        return Ok(true);
    }
    let mut parts = multipart_parts(
        req.content_type.as_deref().unwrap_or_default(),
        std::mem::take(&mut req.body),
        state.config.limits.decompressed,
        state.config.max_multipart_parts,
    )
    .await
    .map_err(|e| Box::new(og_error(StatusCode::UNPROCESSABLE_ENTITY, PARSE_FAILED, &e)))?;
    if format == Format::Jfr {
        let Some(jfr) = parts.remove("jfr") else {
            return Err(Box::new(og_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                PARSE_FAILED,
                "jfr field is required",
            )));
        };
        req.body = jfr;
        req.jfr_labels = parts.remove("labels");
        return Ok(true);
    }
    let Some(profile) = parts.remove("profile") else {
        return Ok(false);
    };
    req.body = profile;
    req.prev_profile = parts.remove("prev_profile");
    req.sample_type_config = parts.remove("sample_type_config");
    req.format = Some("pprof".into());
    req.content_type = None;
    Ok(true)
}
