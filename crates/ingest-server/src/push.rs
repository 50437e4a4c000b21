//! `POST /push.v1.PusherService/Push`: Grafana Pyroscope's push API (Connect unary), as today's
//! Python, Rust and Go agents and Grafana Alloy send it.

use base64::Engine;
use prost::Message;
use pyro_labels::{Precedence, SeriesName};
use serde::Deserialize;

use crate::ingest::{IngestError, Limits, Series, pprof_series};

/// `push.v1.PushRequest`.
#[derive(Clone, PartialEq, Message)]
pub struct PushRequest {
    /// The series.
    #[prost(message, repeated, tag = "1")]
    pub series: Vec<RawProfileSeries>,
}

/// `push.v1.RawProfileSeries`.
#[derive(Clone, PartialEq, Message)]
pub struct RawProfileSeries {
    /// Series labels (`service_name`, `__name__`, …).
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<LabelPair>,
    /// Profiles.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<RawSample>,
}

/// `types.v1.LabelPair`.
#[derive(Clone, PartialEq, Message, Deserialize)]
pub struct LabelPair {
    /// Label name.
    #[prost(string, tag = "1")]
    #[serde(default)]
    pub name: String,
    /// Label value.
    #[prost(string, tag = "2")]
    #[serde(default)]
    pub value: String,
}

/// `push.v1.RawSample`.
#[derive(Clone, PartialEq, Message)]
pub struct RawSample {
    /// A pprof, gzipped or not.
    #[prost(bytes = "vec", tag = "1")]
    pub raw_profile: Vec<u8>,
    /// Sample id.
    #[prost(string, tag = "2")]
    pub id: String,
}

/// The protobuf JSON form of the request (`application/json`).
#[derive(Deserialize)]
struct JsonRequest {
    #[serde(default)]
    series: Vec<JsonSeries>,
}

#[derive(Deserialize)]
struct JsonSeries {
    #[serde(default)]
    labels: Vec<LabelPair>,
    #[serde(default)]
    samples: Vec<JsonSample>,
}

#[derive(Deserialize)]
struct JsonSample {
    #[serde(default, alias = "raw_profile", rename = "rawProfile")]
    raw_profile: String,
}

/// A Connect error: its code and message; the HTTP status follows the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError {
    /// `invalid_argument`, `unauthenticated`, `permission_denied`, `resource_exhausted`,
    /// `internal`, …
    pub code: &'static str,
    /// Human-readable message.
    pub message: String,
}

impl ConnectError {
    /// An `invalid_argument` error.
    pub fn invalid(message: impl Into<String>) -> Self {
        ConnectError {
            code: "invalid_argument",
            message: message.into(),
        }
    }

    /// The HTTP status of the code (Connect protocol).
    pub fn status(&self) -> u16 {
        match self.code {
            "invalid_argument" => 400,
            "unauthenticated" => 401,
            "permission_denied" => 403,
            "resource_exhausted" => 429,
            "unimplemented" => 404,
            _ => 500,
        }
    }

    /// The JSON body `{"code","message"}`.
    pub fn body(&self) -> String {
        serde_json::json!({"code": self.code, "message": self.message}).to_string()
    }
}

/// Decodes a push body by content type (`application/proto` or `application/json`).
///
/// # Errors
/// An unsupported content type or an undecodable body (`invalid_argument`).
pub fn decode(content_type: &str, body: &[u8]) -> Result<PushRequest, ConnectError> {
    let ct = content_type.split(';').next().unwrap_or("").trim();
    match ct {
        "application/proto" | "application/protobuf" | "application/x-protobuf" => {
            PushRequest::decode(body)
                .map_err(|e| ConnectError::invalid(format!("decoding PushRequest: {e}")))
        }
        "application/json" => {
            let j: JsonRequest = serde_json::from_slice(body)
                .map_err(|e| ConnectError::invalid(format!("decoding PushRequest JSON: {e}")))?;
            let engine = base64::engine::general_purpose::STANDARD;
            let series = j
                .series
                .into_iter()
                .map(|s| {
                    let samples = s
                        .samples
                        .into_iter()
                        .map(|x| {
                            engine
                                .decode(x.raw_profile.as_bytes())
                                .map(|raw_profile| RawSample {
                                    raw_profile,
                                    id: String::new(),
                                })
                                .map_err(|e| ConnectError::invalid(format!("rawProfile: {e}")))
                        })
                        .collect::<Result<_, _>>()?;
                    Ok(RawProfileSeries {
                        labels: s.labels,
                        samples,
                    })
                })
                .collect::<Result<_, ConnectError>>()?;
            Ok(PushRequest { series })
        }
        other => Err(ConnectError::invalid(format!(
            "unsupported content type {other:?}: use application/proto or application/json"
        ))),
    }
}

/// The legacy series name of a push series: `service_name` (which may carry `{k=v}`, as
/// pyroscope-io 1.x sends) plus every other label except `__name__` and other `__…` labels;
/// `extra` (k6 labels) are added last and win.
///
/// # Errors
/// No `service_name`, or an invalid name or label.
pub fn series_name(
    labels: &[LabelPair],
    extra: &[(String, String)],
    limits: &pyro_labels::Limits,
) -> Result<SeriesName, ConnectError> {
    let service = labels
        .iter()
        .rev()
        .find(|l| l.name == "service_name")
        .ok_or_else(|| ConnectError::invalid("service_name label is required"))?;
    let mut name = SeriesName::parse_with(&service.value, limits)
        .map_err(|e| ConnectError::invalid(format!("service_name: {e}")))?;
    for l in labels {
        if l.name == "service_name" || l.name.starts_with("__") {
            continue;
        }
        name.insert(&l.name, &l.value, Precedence::KeepExisting)
            .map_err(|e| ConnectError::invalid(e.to_string()))?;
    }
    for (k, v) in extra {
        name.insert(k, v, Precedence::Overwrite)
            .map_err(|e| ConnectError::invalid(e.to_string()))?;
    }
    name.check(limits)
        .map_err(|e| ConnectError::invalid(e.to_string()))?;
    Ok(name)
}

/// Every series of a push request, with the time of its first profile (Unix seconds, `now` when
/// the profiles carry none). Push profiles are deltas, so cumulative types are stored as sent.
///
/// # Errors
/// A bad label set or profile (`invalid_argument`), or a profile over the size limit
/// (`resource_exhausted`).
pub fn to_series(
    req: &PushRequest,
    extra: &[(String, String)],
    limits: &Limits,
    now: i64,
) -> Result<(Vec<Series<'static>>, i64), ConnectError> {
    let types = pyro_sampletype::SampleTypes::default();
    let mut out = Vec::new();
    let mut start = None;
    for s in &req.series {
        let name = series_name(&s.labels, extra, &limits.labels)?;
        let spy = s
            .labels
            .iter()
            .find(|l| l.name == "pyroscope_spy")
            .map_or("unknown", |l| l.value.as_str());
        for sample in &s.samples {
            let (series, time_nanos) =
                pprof_series(&name, &sample.raw_profile, &types, None, spy, limits).map_err(
                    |e| match e {
                        IngestError::TooLarge(m) => ConnectError {
                            code: "resource_exhausted",
                            message: m,
                        },
                        other => ConnectError::invalid(other.to_string()),
                    },
                )?;
            if start.is_none() && time_nanos > 0 {
                start = Some(time_nanos / 1_000_000_000);
            }
            out.extend(series);
        }
    }
    Ok((out, start.unwrap_or(now)))
}
