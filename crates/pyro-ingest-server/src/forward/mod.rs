//! Forwarding to Grafana Pyroscope (or another `ingest-server`) over push.v1, through a durable
//! queue per endpoint: an accepted request is encoded as one `PushRequest` (one series per label
//! set, `__name__`, `service_name` and the other labels as Grafana Pyroscope's ingest adapter
//! derives them, each tree a gzipped pprof with its sample type, unit and period, each sample a
//! stable ID), committed to the queue with fsync before the client gets 200, and delivered by a
//! task per endpoint that retries network errors, 5xx and 429 with exponential backoff and
//! jitter, and moves a request the upstream refuses for good (other 4xx) to a dead-letter table.

pub mod queue;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prost::Message;
use pyro_ingest::push::{LabelPair, PushRequest, RawProfileSeries, RawSample};

use crate::storage::Write;
use queue::{EnqueueError, Item, Queue};

/// Where and how to forward.
#[derive(Debug, Clone, Default)]
pub struct ForwardConfig {
    /// Endpoint base URLs (`http://host:port`), one queue each.
    pub endpoints: Vec<String>,
    /// Extra request headers.
    pub headers: Vec<(String, String)>,
    /// `Authorization` header value (Basic or Bearer), from the files given.
    pub authorization: Option<String>,
    /// Tenant sent upstream; else each request's own.
    pub tenant: Option<String>,
    /// Labels added to every series.
    pub external_labels: Vec<(String, String)>,
    /// Timeout of one delivery.
    pub timeout: Duration,
    /// Most bytes one queue holds (503 with `Retry-After` beyond).
    pub queue_bytes: u64,
    /// Keep only the queue: nothing stored locally.
    pub only: bool,
}

/// Counters of one endpoint.
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests delivered.
    pub delivered: AtomicU64,
    /// Delivery attempts that will be retried.
    pub retried: AtomicU64,
    /// Requests moved to the dead-letter table.
    pub dead_lettered: AtomicU64,
}

/// One endpoint: its queue, its counters.
#[derive(Debug)]
pub struct Endpoint {
    /// Base URL.
    pub url: String,
    /// Its queue.
    pub queue: Queue,
    /// Its counters.
    pub stats: Stats,
}

/// Every endpoint, and the config they share.
#[derive(Debug)]
pub struct Forwarder {
    /// The endpoints.
    pub endpoints: Vec<Arc<Endpoint>>,
    config: ForwardConfig,
    next_id: AtomicU64,
    node: u64,
}

/// Why a request could not be queued.
pub use queue::EnqueueError as ForwardError;

impl Forwarder {
    /// Opens a queue per endpoint under `dir` (`forward-<n>.redb`).
    ///
    /// # Errors
    /// A queue file cannot be opened.
    pub fn open(dir: &std::path::Path, config: ForwardConfig) -> Result<Forwarder, String> {
        let mut endpoints = Vec::new();
        for (i, url) in config.endpoints.iter().enumerate() {
            let queue = Queue::open(&dir.join(format!("forward-{i}.redb")), config.queue_bytes)
                .map_err(|e| e.to_string())?;
            endpoints.push(Arc::new(Endpoint {
                url: url.trim_end_matches('/').to_owned(),
                queue,
                stats: Stats::default(),
            }));
        }
        let node = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()) << 32;
        Ok(Forwarder {
            endpoints,
            config,
            next_id: AtomicU64::new(0),
            node,
        })
    }

    /// Whether nothing is stored locally.
    pub fn only(&self) -> bool {
        self.config.only
    }

    /// Queues one accepted request on every endpoint, durably.
    ///
    /// # Errors
    /// A full queue or a storage failure; the request must then not be acknowledged.
    pub fn enqueue(&self, write: &Write) -> Result<(), EnqueueError> {
        let body = self.encode(write).encode_to_vec();
        let tenant = self
            .config
            .tenant
            .clone()
            .unwrap_or_else(|| write.tenant.clone());
        let item = [(tenant, crate::http::now(), body)];
        for e in &self.endpoints {
            e.queue.push(&item)?;
        }
        Ok(())
    }

    /// The `PushRequest` of an accepted request.
    pub fn encode(&self, write: &Write) -> PushRequest {
        let series = write
            .series
            .iter()
            .map(|s| {
                let typed = crate::querier::types::of(&s.meta);
                let mut labels = vec![
                    LabelPair {
                        name: "__name__".into(),
                        value: typed.profile_type.name.clone(),
                    },
                    LabelPair {
                        name: "service_name".into(),
                        value: typed.service.clone(),
                    },
                ];
                if !s.meta.spy_name.is_empty() && s.meta.spy_name != "unknown" {
                    labels.push(LabelPair {
                        name: "pyroscope_spy".into(),
                        value: s.meta.spy_name.clone(),
                    });
                }
                for (k, v) in &s.meta.labels {
                    labels.push(LabelPair {
                        name: k.clone(),
                        value: v.clone(),
                    });
                }
                for (k, v) in &self.config.external_labels {
                    labels.retain(|l| &l.name != k);
                    labels.push(LabelPair {
                        name: k.clone(),
                        value: v.clone(),
                    });
                }
                let mut pprof = crate::render::pprof(&s.tree, &s.meta);
                set_time(&mut pprof, write.start);
                let raw = gzip(&pprof);
                let id = format!(
                    "{:016x}-{:016x}",
                    self.node,
                    self.next_id.fetch_add(1, Ordering::Relaxed)
                );
                RawProfileSeries {
                    labels,
                    samples: vec![RawSample {
                        raw_profile: raw.into(),
                        id,
                    }],
                }
            })
            .collect();
        PushRequest { series }
    }

    /// Starts one delivery task per endpoint on the current runtime.
    pub fn spawn_delivery(self: &Arc<Self>) {
        for e in &self.endpoints {
            tokio::spawn(deliver(self.clone(), e.clone()));
        }
    }
}

/// Sets a pprof's `time_nanos` (field 9) to `start` seconds, so upstream stores it at the time
/// the request was for.
fn set_time(pprof: &mut Vec<u8>, start: i64) {
    let nanos = start.max(0).saturating_mul(1_000_000_000);
    prost::encoding::int64::encode(9, &nanos, pprof);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

/// What one delivery attempt came to.
enum Outcome {
    Delivered,
    Retry(String),
    Refused(String),
}

async fn attempt(f: &Forwarder, e: &Endpoint, item: &Item) -> Outcome {
    use http_body_util::BodyExt;
    let client: hyper_util::client::legacy::Client<_, axum::body::Body> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let mut req = hyper::Request::post(format!("{}/push.v1.PusherService/Push", e.url))
        .header("Content-Type", "application/proto");
    if !item.tenant.is_empty() {
        req = req.header("X-Scope-OrgID", item.tenant.as_str());
    }
    if let Some(a) = &f.config.authorization {
        req = req.header("Authorization", a.as_str());
    }
    for (k, v) in &f.config.headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = match req.body(axum::body::Body::from(item.body.clone())) {
        Ok(r) => r,
        Err(err) => return Outcome::Refused(format!("bad request: {err}")),
    };
    let sent = tokio::time::timeout(f.config.timeout, async {
        let resp = client.request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Ok::<_, String>((
            status,
            String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned(),
        ))
    })
    .await;
    match sent {
        Err(_) => Outcome::Retry("timed out".into()),
        Ok(Err(err)) => Outcome::Retry(err),
        Ok(Ok((s, _))) if (200..300).contains(&s) => Outcome::Delivered,
        Ok(Ok((s, body))) if s >= 500 || s == 429 || s == 408 => {
            Outcome::Retry(format!("{s}: {body}"))
        }
        Ok(Ok((s, body))) => Outcome::Refused(format!("{s}: {body}")),
    }
}

/// Delivers one endpoint's queue in order, forever.
async fn deliver(f: Arc<Forwarder>, e: Arc<Endpoint>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let q = e.clone();
        let item = match tokio::task::spawn_blocking(move || q.queue.peek()).await {
            Ok(Ok(Some(i))) => i,
            Ok(Ok(None)) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Ok(Err(err)) => {
                tracing::error!(endpoint = %e.url, error = %err, "forward queue unreadable");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(err) => {
                tracing::error!(endpoint = %e.url, error = %err, "forward task failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let outcome = attempt(&f, &e, &item).await;
        let dead = match &outcome {
            Outcome::Delivered => None,
            Outcome::Refused(why) => Some(why.clone()),
            Outcome::Retry(why) => {
                e.stats.retried.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(endpoint = %e.url, error = %why, retry_in_ms = backoff.as_millis() as u64, "forward failed; will retry");
                let jitter =
                    Duration::from_millis(u64::from(std::process::id() ^ item.seq as u32) % 100);
                tokio::time::sleep(backoff + jitter).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        backoff = Duration::from_millis(100);
        if let Some(why) = &dead {
            e.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
            tracing::error!(endpoint = %e.url, error = %why, seq = item.seq, "upstream refused a request for good; dead-lettered");
        } else {
            e.stats.delivered.fetch_add(1, Ordering::Relaxed);
        }
        let q = e.clone();
        let removed =
            tokio::task::spawn_blocking(move || q.queue.remove(&item, dead.as_deref())).await;
        if !matches!(removed, Ok(Ok(()))) {
            tracing::error!(endpoint = %e.url, "forward queue update failed");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}
