//! `POST /ingest`: OG Pyroscope's upload endpoint, every format `pyro-ingest` reads.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use pyro_ingest::{ErrorKind, Format, Request};

use crate::attime;
use crate::attime::now;
use crate::auth::Ingester;
use crate::body::{content_encoded, decode_content_encoding, multipart_parts};
use crate::budget::{declared_size, reserve_parse};
use crate::error::{AppError, OgError};
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
) -> Result<StatusCode, AppError> {
    // Content-Encoding: the inflated body is reserved (as its trailer declares it) first, and
    // inflated off the async workers.
    let (body, _inflated) = if content_encoded(&headers) {
        let max = declared_size(&body, state.config.limits.decompressed);
        let reserved = state.inflight.try_reserve(max)?;
        let headers = headers.clone();
        let body =
            tokio::task::spawn_blocking(move || decode_content_encoding(&headers, body, max))
                .await??;
        (body, Some(reserved))
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
    if !split_form(&state, &mut req).await? {
        return Ok(StatusCode::OK);
    }
    // Parse memory, from the parts' declared inflated sizes; no gunzip inflates past them.
    let parts = [
        Some(&req.body),
        req.prev_profile.as_ref(),
        req.jfr_labels.as_ref(),
        req.sample_type_config.as_ref(),
    ];
    let held = req.body.len();
    let (parse_budget, limits) = reserve_parse(
        &state.inflight,
        &state.config.limits,
        held,
        parts.into_iter().flatten().map(|b| &b[..]),
    )?;
    let forwarding = state.config.forward.is_some();
    // Grafana Pyroscope gets a JFR recording's lock events as jfr-parser splits them.
    req.split_jfr_locks = forwarding;
    let (name, write, origin) = tokio::task::spawn_blocking(move || {
        let _parse_budget = parse_budget;
        let (series, facts) = pyro_ingest::decode_with_facts(&req, &limits)?;
        let write = Write::new(&tenant, from, series);
        let mut origin = Origin {
            received: None,
            org_id,
        };
        if forwarding {
            origin.received = match facts {
                Some(pyro_ingest::Facts::Pprof(f)) => {
                    Received::pprof(&req, &f, limits.decompressed)
                }
                Some(pyro_ingest::Facts::Jfr { event, locks }) => Some(Received::Jfr {
                    event,
                    locks: Write::new(&tenant, from, locks).series,
                }),
                None => None,
            };
        }
        Ok::<_, pyro_ingest::Error>((req.name.clone(), write, origin))
    })
    .await?
    .map_err(og_parse)?;
    let n = write.series.len();
    keep(&state, write, origin).await.map_err(NotKept::og)?;
    tracing::debug!(name = %name, series = n, "stored");
    Ok(StatusCode::OK)
}

/// OG's answer to a body that does not parse: a bad name 400, over a size limit 413, else 422.
fn og_parse(e: pyro_ingest::Error) -> AppError {
    let status = match e.kind() {
        ErrorKind::Name => {
            return OgError::invalid(e.message()).into();
        }
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    OgError::new(status, PARSE_FAILED, e.message()).into()
}

/// Replaces a multipart body by its parts: the JFR form's `jfr` and `labels`, the pprof form's
/// `profile`, `prev_profile` and `sample_type_config`. `Ok(false)` when a pprof form has no
/// `profile` (nothing to ingest: OG answers 200).
async fn split_form(state: &AppState, req: &mut Request) -> Result<bool, OgError> {
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
    .map_err(|e| {
        OgError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            PARSE_FAILED,
            e.to_string(),
        )
    })?;
    if format == Format::Jfr {
        let Some(jfr) = parts.remove("jfr") else {
            return Err(OgError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                PARSE_FAILED,
                "jfr field is required",
            ));
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
