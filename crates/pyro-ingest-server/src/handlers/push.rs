//! `POST /push.v1.PusherService/Push`: Grafana Pyroscope's push API (Connect unary).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

use crate::attime::now;
use crate::auth::Pusher;
use crate::body::{content_encoded, decode_content_encoding};
use crate::budget::{declared_size, reserve_parse};
use crate::error::{AppError, Code, ConnectError};
use crate::forward::{Origin, Received};
use crate::state::{AppState, NotKept, keep};
use pyro_store::Write;

/// The handler. Auth and tenant come from the headers ([`Pusher`]) before the body is read.
/// Failures are Connect errors, except the memory budget's plain 503/413 and a bad
/// `Content-Encoding`'s plain 400/413.
pub async fn push(
    State(state): State<Arc<AppState>>,
    Pusher { tenant, org_id, .. }: Pusher,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, AppError> {
    let content_type = super::content_type(&headers).unwrap_or_default();
    let k6 = super::k6_from(&headers);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let state2 = state.clone();
    let ct = content_type.clone();
    let abandoned = super::CancelOnDrop::new();
    let cancel = abandoned.0.clone();
    let forwarding = state.config.forward.is_some();
    let (write, origin) = tokio::task::spawn_blocking(move || {
        let limits = &state2.config.limits;
        let max = declared_size(&body, limits.decompressed);
        let _inflated = if content_encoded(&headers) {
            Some(state2.inflight.try_reserve(max)?)
        } else {
            None
        };
        let body = decode_content_encoding(&headers, body, max)?;
        let req = pyro_ingest::push::decode(&ct, body).map_err(ConnectError::from)?;
        let samples = req.series.iter().flat_map(|s| &s.samples);
        let (_parse_budget, limits) = reserve_parse(
            &state2.inflight,
            limits,
            max,
            samples.map(|s| &s.raw_profile[..]),
        )?;
        let (series, start) = pyro_ingest::push::to_series_cancellable(
            &req,
            &k6,
            user_agent.as_deref(),
            &limits,
            now(),
            Some(&cancel),
        )
        .map_err(ConnectError::from)?;
        let mut write = Write::new(&tenant, start, series);
        let origin = Origin {
            received: forwarding.then(|| Received::push(&req, &k6)),
            org_id,
        };
        write.ids = sample_ids(&req)?;
        Ok::<_, AppError>((write, origin))
    })
    .await
    .map_err(ConnectError::from)??;
    let n = write.series.len();
    keep(&state, write, origin)
        .await
        .map_err(NotKept::connect)?;
    tracing::debug!(series = n, "stored");
    Ok(if content_type.starts_with("application/json") {
        ([(header::CONTENT_TYPE, "application/json")], "{}").into_response()
    } else {
        ([(header::CONTENT_TYPE, "application/proto")], "").into_response()
    })
}

/// Longest push sample ID kept (Grafana Pyroscope's are UUIDs; this server's forwarder sends
/// 33 bytes): a longer one is refused rather than stored and compared for days.
pub const MAX_SAMPLE_ID_BYTES: usize = 256;

/// The request's sample IDs, each tied to its series (a hash of its labels): a redelivery of the
/// same samples is stored once, and an ID reused in another series is a different sample.
fn sample_ids(req: &pyro_ingest::push::PushRequest) -> Result<Vec<String>, ConnectError> {
    use sha2::Digest;
    let mut ids = Vec::new();
    for s in &req.series {
        if s.samples.iter().all(|x| x.id.is_empty()) {
            continue;
        }
        let mut labels: Vec<(&str, &str)> = s
            .labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str()))
            .collect();
        labels.sort_unstable();
        let mut h = sha2::Sha256::new();
        for (k, v) in labels {
            h.update(k.as_bytes());
            h.update([0]);
            h.update(v.as_bytes());
            h.update([1]);
        }
        let series: String = h.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        for x in s.samples.iter().filter(|x| !x.id.is_empty()) {
            if x.id.len() > MAX_SAMPLE_ID_BYTES {
                return Err(ConnectError::new(
                    Code::InvalidArgument,
                    format!("sample ID longer than {MAX_SAMPLE_ID_BYTES} bytes"),
                ));
            }
            ids.push(format!("{series}/{}", x.id));
        }
    }
    Ok(ids)
}
