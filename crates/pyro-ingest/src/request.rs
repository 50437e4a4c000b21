//! One upload: the parameters `/ingest` reads, the body and the form's other parts.

use bytes::Bytes;

/// OG's default sample rate (`types.DefaultSampleRate`).
pub const DEFAULT_SAMPLE_RATE: u32 = 100;

/// One `/ingest` upload as the reader sees it: query parameters, content type, body and the
/// multipart form's other parts (already split out of the form by the caller).
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `name`: the series name, `app.cpu{k=v}`.
    pub name: String,
    /// `format`.
    pub format: Option<String>,
    /// The request's `Content-Type`.
    pub content_type: Option<String>,
    /// `units` (default `samples`).
    pub units: Option<String>,
    /// `aggregationType` (default `sum`).
    pub aggregation: Option<String>,
    /// `sampleRate` as sent (default 100; unparsable or out-of-range values mean 100).
    pub sample_rate: Option<String>,
    /// `spyName` (default `unknown`).
    pub spy_name: Option<String>,
    /// The body (the `profile` or `jfr` part of a form), gzipped or not where the format allows.
    pub body: Bytes,
    /// pprof: the `sample_type_config` JSON (replaces the default table).
    pub sample_type_config: Option<Bytes>,
    /// pprof: the `prev_profile` of a cumulative pair (gzipped or not).
    pub prev_profile: Option<Bytes>,
    /// JFR: the `labels` part, a LabelsSnapshot protobuf (gzipped or not).
    pub jfr_labels: Option<Bytes>,
    /// Labels added to every series, overwriting the series' own (k6's `baggage` labels).
    pub extra_labels: Vec<(String, String)>,
    /// Set by the caller when the result is no longer wanted (its client left or timed out):
    /// reading stops at the next profile, JFR chunk or push sample with
    /// [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled).
    pub cancel: Option<Cancel>,
    /// JFR: also read the lock events as grafana/jfr-parser splits them for Grafana Pyroscope
    /// (monitor enters `mutex_*`, parks `block_*`), returned apart from the stored series in
    /// [`Facts::Jfr`](crate::Facts::Jfr) (a gateway forwarding to Grafana Pyroscope wants them).
    pub split_jfr_locks: bool,
}

/// A flag a caller sets to stop a request being read.
pub type Cancel = std::sync::Arc<std::sync::atomic::AtomicBool>;

/// `Err(Cancelled)` once `cancel` is set.
pub(crate) fn check(cancel: Option<&Cancel>) -> crate::Result<()> {
    if cancel.is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed)) {
        return Err(crate::Error::new(
            crate::ErrorKind::Cancelled,
            "the request was abandoned by its client",
        ));
    }
    Ok(())
}

impl Request {
    /// A request for `name` with `body` and no other parameter.
    pub fn new(name: impl Into<String>, body: impl Into<Bytes>) -> Request {
        Request {
            name: name.into(),
            body: body.into(),
            ..Request::default()
        }
    }

    /// Sets the parameters `/ingest` reads from its query string (`name`, `format`, `units`,
    /// `aggregationType`, `sampleRate`, `spyName`) from decoded key-value pairs; other keys
    /// are ignored, a key given twice keeps its first value (Go's `Query().Get`).
    pub fn with_query<'q>(mut self, pairs: impl IntoIterator<Item = (&'q str, &'q str)>) -> Self {
        let mut seen: Vec<&str> = Vec::new();
        for (k, v) in pairs {
            if seen.contains(&k) {
                continue;
            }
            seen.push(k);
            let v = v.to_owned();
            match k {
                "name" => self.name = v,
                "format" => self.format = Some(v),
                "units" => self.units = Some(v),
                "aggregationType" => self.aggregation = Some(v),
                "sampleRate" => self.sample_rate = Some(v),
                "spyName" => self.spy_name = Some(v),
                _ => {}
            }
        }
        self
    }

    /// `sampleRate` as OG parses it with `Atoi`, except that (as in Grafana Pyroscope) errors
    /// and negative values mean the default instead of wrapping.
    pub fn sample_rate(&self) -> u32 {
        parse_sample_rate(self.sample_rate.as_deref())
    }

    /// `spyName`, `unknown` when absent or empty.
    pub fn spy_name(&self) -> &str {
        non_empty(self.spy_name.as_deref(), "unknown")
    }

    /// `units`, `samples` when absent or empty.
    pub fn units(&self) -> &str {
        non_empty(self.units.as_deref(), "samples")
    }
}

/// OG parses `sampleRate` with `Atoi`; like Grafana Pyroscope we map errors and negative values
/// to the default instead of wrapping them.
pub fn parse_sample_rate(v: Option<&str>) -> u32 {
    v.and_then(|s| s.parse::<i64>().ok())
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(DEFAULT_SAMPLE_RATE)
}

fn non_empty<'s>(v: Option<&'s str>, default: &'static str) -> &'s str {
    match v {
        Some(s) if !s.is_empty() => s,
        _ => default,
    }
}
