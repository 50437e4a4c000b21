//! `push.v1.PusherService/Push` bodies (Connect unary, protobuf or JSON), as today's Python, Rust
//! and Go agents and Grafana Alloy send them: one request, several labelled series of pprof
//! samples.

use base64::Engine;
use bytes::Bytes;
use prost::Message;
use pyro_labels::{Precedence, SeriesName};
use serde::Deserialize;

use crate::error::{Error, ErrorKind, Result};
use crate::{Limits, Series};

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
    /// A pprof, gzipped or not; decoded from a `Bytes` body it shares the body's buffer.
    #[prost(bytes = "bytes", tag = "1")]
    pub raw_profile: Bytes,
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

/// Decodes a push body by content type (`application/proto` or `application/json`).
///
/// # Errors
/// [`ErrorKind::ContentType`] for another content type, [`ErrorKind::Body`] for an undecodable
/// body.
pub fn decode(content_type: &str, body: Bytes) -> Result<PushRequest> {
    let ct = content_type.split(';').next().unwrap_or("").trim();
    match ct {
        "application/proto" | "application/protobuf" | "application/x-protobuf" => {
            PushRequest::decode(body)
                .map_err(|e| Error::wrap(ErrorKind::Body, "decoding PushRequest: ", e, None))
        }
        "application/json" => {
            let j: JsonRequest = serde_json::from_slice(&body).map_err(|e| {
                Error::wrap(ErrorKind::Body, "decoding PushRequest JSON: ", e, None)
            })?;
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
                                .map(|raw| RawSample {
                                    raw_profile: Bytes::from(raw),
                                    id: String::new(),
                                })
                                .map_err(|e| {
                                    Error::new(ErrorKind::Body, format!("rawProfile: {e}"))
                                })
                        })
                        .collect::<Result<_>>()?;
                    Ok(RawProfileSeries {
                        labels: s.labels,
                        samples,
                    })
                })
                .collect::<Result<_>>()?;
            Ok(PushRequest { series })
        }
        other => Err(Error::new(
            ErrorKind::ContentType,
            format!(
                "unsupported content type {other:?}: use application/proto or application/json"
            ),
        )),
    }
}

/// The service of a push series without `service_name` (Grafana Pyroscope's
/// `AttrServiceNameFallback`, set by its distributor, pkg/distributor/distributor.go).
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// The legacy series name of a push series: `service_name` (which may carry `{k=v}`, as
/// pyroscope-io 1.x sends; [`UNKNOWN_SERVICE`] when it is missing or empty, as Grafana
/// Pyroscope's distributor names such a series) plus every other label except `__name__` and
/// other `__…` labels; `extra` (k6 labels) are added last and win.
///
/// # Errors
/// [`ErrorKind::Name`]: an invalid name or label.
pub fn series_name(
    labels: &[LabelPair],
    extra: &[(String, String)],
    limits: &pyro_labels::Limits,
) -> Result<SeriesName> {
    let name_err =
        |e: pyro_labels::Error, prefix: &str| Error::wrap(ErrorKind::Name, prefix, e, None);
    let service = labels
        .iter()
        .rev()
        .find(|l| l.name == "service_name" && !l.value.is_empty())
        .map_or(UNKNOWN_SERVICE, |l| l.value.as_str());
    let mut name =
        SeriesName::parse_with(service, limits).map_err(|e| name_err(e, "service_name: "))?;
    for l in labels {
        if l.name == "service_name" || l.name.starts_with("__") {
            continue;
        }
        name.insert(&l.name, &l.value, Precedence::KeepExisting)
            .map_err(|e| name_err(e, ""))?;
    }
    for (k, v) in extra {
        name.insert(k, v, Precedence::Overwrite)
            .map_err(|e| name_err(e, ""))?;
    }
    name.check(limits).map_err(|e| name_err(e, ""))?;
    Ok(name)
}

/// Every series of a push request, with the time of its first profile (Unix seconds, `now` when
/// the profiles carry none). Push profiles are deltas, so cumulative types are stored as sent.
/// [`to_series_from`] with no user agent.
///
/// # Errors
/// A bad label set ([`ErrorKind::Name`]) or profile ([`ErrorKind::Body`]), a profile over the
/// size limit ([`ErrorKind::TooLarge`]), more series than [`Limits::series`]
/// ([`ErrorKind::LimitExceeded`]).
pub fn to_series(
    req: &PushRequest,
    extra: &[(String, String)],
    limits: &Limits,
    now: i64,
) -> Result<(Vec<Series<'static>>, i64)> {
    to_series_from(req, extra, None, limits, now)
}

/// [`to_series`] for a request from `user_agent`: series get their `spyName` from the series'
/// `pyroscope.spy`/`pyroscope_spy` or `otel.scope.name` label, else from the agent the user agent
/// names; sample counts get their sample rate from the profile's period (10 ms → 100 Hz) when
/// the sample-type table gives none, so they read as time.
///
/// # Errors
/// As [`to_series`].
pub fn to_series_from(
    req: &PushRequest,
    extra: &[(String, String)],
    user_agent: Option<&str>,
    limits: &Limits,
    now: i64,
) -> Result<(Vec<Series<'static>>, i64)> {
    to_series_cancellable(req, extra, user_agent, limits, now, None)
}

/// [`to_series_from`] that stops before the next sample once `cancel` is set.
///
/// # Errors
/// As [`to_series`], and [`ErrorKind::Cancelled`].
pub fn to_series_cancellable(
    req: &PushRequest,
    extra: &[(String, String)],
    user_agent: Option<&str>,
    limits: &Limits,
    now: i64,
    cancel: Option<&crate::Cancel>,
) -> Result<(Vec<Series<'static>>, i64)> {
    let types = pyro_sampletype::SampleTypes::default();
    let mut budget = crate::budget::Budget::new(limits);
    let mut out = Vec::new();
    let mut start = None;
    for s in &req.series {
        let name = series_name(&s.labels, extra, &limits.labels)?;
        let spy = spy_name(&s.labels, user_agent);
        for sample in &s.samples {
            let (mut series, facts, hz) = crate::pprof::series(
                &name,
                &sample.raw_profile,
                &types,
                None,
                spy,
                &mut budget,
                cancel,
            )?;
            let time_nanos = facts.time_nanos;
            if start.is_none() && time_nanos > 0 {
                start = Some(time_nanos / 1_000_000_000);
            }
            for s in &mut series {
                if s.sample_rate == 0 && s.units == "samples" {
                    s.sample_rate = hz.unwrap_or(0);
                }
                as_samples(s, hz);
            }
            out.extend(series);
        }
    }
    crate::check_series_count(&out, limits)?;
    Ok((out, start.unwrap_or(now)))
}

/// A CPU or wall series pushed in nanoseconds with a time period (pyroscope-io 1.x and the other
/// SDKs: `cpu:nanoseconds`, period 10 ms) as OG reads CPU time: samples at the period's rate
/// (`sampleRate: 100`, units `samples`), when the period divides a second and every value is a
/// whole number of periods, so nothing is rounded (a store in the profile type's unit multiplies
/// back to the very same nanoseconds). Anything else stays as it is.
fn as_samples(s: &mut Series<'static>, hz: Option<u32>) {
    let Some(hz) = hz.filter(|&h| 1_000_000_000 % h == 0) else {
        return;
    };
    let timed = matches!(
        s.name.app().rsplit_once('.').map(|(_, t)| t),
        Some("cpu" | "wall" | "itimer")
    );
    if s.units != "nanoseconds" || s.sample_rate != 0 || !timed {
        return;
    }
    let period = u64::from(1_000_000_000 / hz);
    let whole = |t: &pyro_tree::StackTree<'_>| {
        t.node_ids()
            .all(|n| t.node_values(n).is_some_and(|(own, _)| own % period == 0))
    };
    if !whole(&s.tree) || !s.spans.iter().all(|(_, t)| whole(t)) {
        return;
    }
    let tree = std::mem::take(&mut s.tree);
    s.tree = tree.divide(period);
    for (_, t) in &mut s.spans {
        *t = std::mem::take(t).divide(period);
    }
    s.units = "samples".to_owned();
    s.sample_rate = hz;
}

/// The spy name of a push series: its `pyroscope.spy`/`pyroscope_spy` label, else its
/// `otel.scope.name`, else the agent its user agent names (`pyroscope-rs/… python` → `pyspy`),
/// else `unknown`.
pub fn spy_name<'l>(labels: &'l [LabelPair], user_agent: Option<&str>) -> &'l str {
    for key in ["pyroscope.spy", "pyroscope_spy", "otel.scope.name"] {
        if let Some(l) = labels.iter().find(|l| l.name == key && !l.value.is_empty()) {
            return &l.value;
        }
    }
    let ua = user_agent.unwrap_or("").to_ascii_lowercase();
    for (needle, spy) in [
        ("python", "pyspy"),
        ("ruby", "rbspy"),
        ("node", "nodespy"),
        ("dotnet", "dotnetspy"),
        ("java", "javaspy"),
        ("ebpf", "ebpfspy"),
        ("php", "phpspy"),
        ("pyroscope-rs", "pyroscope-rs"),
        ("go-http-client", "gospy"),
        ("pyroscope-go", "gospy"),
        ("alloy", "grafana-alloy"),
    ] {
        if ua.contains(needle) {
            return spy;
        }
    }
    "unknown"
}
