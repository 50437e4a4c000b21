//! The server's metrics (`prometheus-client`): request counters recorded by the request layer,
//! values read from the store, the writer, the budget and the forward queues at each scrape, and
//! the writer's hooks. `GET /metrics` itself is in `handlers::status`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::budget::InFlight;
use pyro_store::{Store, Writer};

type Labels = Vec<(String, String)>;

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    request_seconds: Family<Labels, Histogram>,
    received_bytes: Counter,
}

fn request_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    /// Metrics over the store, the writer, the in-flight budget and the forwarding queues (read
    /// at each scrape).
    pub fn new(
        store: Arc<Store>,
        writer: Writer,
        inflight: InFlight,
        forward: Option<Arc<crate::forward::Forwarder>>,
    ) -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "pyro_requests",
            "Requests by route, format and status",
            requests.clone(),
        );
        let request_seconds =
            Family::<Labels, Histogram>::new_with_constructor(request_buckets as fn() -> Histogram);
        registry.register(
            "pyro_request_duration_seconds",
            "Request latency by route",
            request_seconds.clone(),
        );
        let received_bytes = Counter::default();
        registry.register(
            "pyro_received_bytes",
            "Request body bytes read",
            received_bytes.clone(),
        );
        registry.register(
            "pyro_commit_duration_seconds",
            "Group commit latency (fsync included)",
            commit_seconds().clone(),
        );
        registry.register_collector(Box::new(StoreCollector {
            store,
            writer,
            inflight,
            forward,
        }));
        Metrics {
            registry,
            requests,
            request_seconds,
            received_bytes,
        }
    }

    /// Records one finished request under its `route` (the router's path pattern, e.g.
    /// `/render`; `unmatched` for a 404).
    pub fn record(&self, route: &str, format: &str, status: u16, seconds: f64, bytes: u64) {
        self.requests
            .get_or_create(&vec![
                ("route".to_owned(), route.to_owned()),
                ("format".to_owned(), format.to_owned()),
                ("status".to_owned(), status.to_string()),
            ])
            .inc();
        self.request_seconds
            .get_or_create(&vec![("route".to_owned(), route.to_owned())])
            .observe(seconds);
        self.received_bytes.inc_by(bytes);
    }

    /// The exposition text.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Values read from the store, the writer and the budget at each scrape.
#[derive(Debug)]
struct StoreCollector {
    store: Arc<Store>,
    writer: Writer,
    inflight: InFlight,
    forward: Option<Arc<crate::forward::Forwarder>>,
}

/// One value per forwarding endpoint, labelled `endpoint`.
fn per_endpoint(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    counter_type: bool,
    values: &[(String, u64)],
) -> std::fmt::Result {
    let ty = if counter_type {
        ConstCounter::new(0u64).metric_type()
    } else {
        ConstGauge::new(0i64).metric_type()
    };
    let mut m = enc.encode_descriptor(name, help, None, ty)?;
    for (url, v) in values {
        let labels = vec![("endpoint".to_owned(), url.clone())];
        let fam = m.encode_family(&labels)?;
        if counter_type {
            ConstCounter::new(*v).encode(fam)?;
        } else {
            ConstGauge::new(i64::try_from(*v).unwrap_or(i64::MAX)).encode(fam)?;
        }
    }
    Ok(())
}

fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, v: i64) -> std::fmt::Result {
    let g = ConstGauge::new(v);
    g.encode(enc.encode_descriptor(name, help, None, g.metric_type())?)
}

fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> std::fmt::Result {
    let c = ConstCounter::new(v);
    c.encode(enc.encode_descriptor(name, help, None, c.metric_type())?)
}

impl Collector for StoreCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let (series, deltas) = self.store.counts().unwrap_or((0, 0));
        let i = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        gauge(
            &mut enc,
            "pyro_series",
            "Series stored, all tenants",
            i(series),
        )?;
        gauge(
            &mut enc,
            "pyro_deltas",
            "Stored deltas (written trees not yet compacted into one)",
            i(deltas),
        )?;
        let (rollups, dirty) = self.store.rollup_counts().unwrap_or((0, 0));
        gauge(
            &mut enc,
            "pyro_rollups",
            "Stored rollups (pre-merged windows of 100 s to 10^6 s)",
            i(rollups),
        )?;
        gauge(
            &mut enc,
            "pyro_rollups_pending",
            "Windows waiting to be rolled up (closed, or changed by a late write)",
            i(dirty),
        )?;
        gauge(
            &mut enc,
            "pyro_storage_bytes",
            "Size of the database file",
            i(self.store.file_bytes()),
        )?;
        gauge(
            &mut enc,
            "pyro_write_queue",
            "Writes waiting for the writer thread",
            i(self.writer.queued() as u64),
        )?;
        gauge(
            &mut enc,
            "pyro_inflight_bytes",
            "Bytes reserved by requests in flight",
            i(self.inflight.in_flight() as u64),
        )?;
        let c = self.writer.compaction();
        counter(
            &mut enc,
            "pyro_compactions",
            "Slots compacted",
            c.runs.load(Ordering::Relaxed),
        )?;
        counter(
            &mut enc,
            "pyro_compacted_deltas",
            "Deltas merged away by compaction",
            c.merged.load(Ordering::Relaxed),
        )?;
        counter(
            &mut enc,
            "pyro_compaction_failures",
            "Compactions that failed",
            c.failures.load(Ordering::Relaxed),
        )?;
        if let Some(f) = &self.forward {
            let now = crate::attime::now();
            let each = |g: &dyn Fn(&crate::forward::Endpoint) -> u64| -> Vec<(String, u64)> {
                f.endpoints.iter().map(|e| (e.url.clone(), g(e))).collect()
            };
            per_endpoint(
                &mut enc,
                "pyro_forward_queue_bytes",
                "Bytes waiting in the forwarding queue",
                false,
                &each(&|e| e.queue.depth().0),
            )?;
            per_endpoint(
                &mut enc,
                "pyro_forward_queue_requests",
                "Requests waiting in the forwarding queue",
                false,
                &each(&|e| e.queue.depth().1),
            )?;
            per_endpoint(
                &mut enc,
                "pyro_forward_oldest_age_seconds",
                "Age of the oldest queued request",
                false,
                &each(&|e| {
                    e.queue
                        .peek()
                        .ok()
                        .flatten()
                        .map_or(0, |i| (now - i.queued_at).max(0) as u64)
                }),
            )?;
            per_endpoint(
                &mut enc,
                "pyro_forward_delivered",
                "Requests delivered upstream",
                true,
                &each(&|e| e.stats.delivered.load(Ordering::Relaxed)),
            )?;
            per_endpoint(
                &mut enc,
                "pyro_forward_retries",
                "Delivery attempts to be retried (network errors, 5xx, 429)",
                true,
                &each(&|e| e.stats.retried.load(Ordering::Relaxed)),
            )?;
            per_endpoint(
                &mut enc,
                "pyro_forward_expired",
                "Requests dead-lettered unsent: older than --forward-max-age when their turn came",
                true,
                &each(&|e| e.stats.expired.load(Ordering::Relaxed)),
            )?;
            per_endpoint(
                &mut enc,
                "pyro_forward_dead_lettered",
                "Requests refused for good upstream and dead-lettered",
                true,
                &each(&|e| e.stats.dead_lettered.load(Ordering::Relaxed)),
            )?;
        }
        Ok(())
    }
}

/// Group-commit latency, seconds per commit (1 ms … 16 s): one per process, fed by the writer's
/// hook ([`writer_hooks`]).
pub fn commit_seconds() -> &'static prometheus_client::metrics::histogram::Histogram {
    static H: std::sync::OnceLock<prometheus_client::metrics::histogram::Histogram> =
        std::sync::OnceLock::new();
    H.get_or_init(|| {
        prometheus_client::metrics::histogram::Histogram::new(
            prometheus_client::metrics::histogram::exponential_buckets(0.001, 2.0, 15),
        )
    })
}

/// The server's hooks on the storage writer: commit latency into [`commit_seconds`]; storage
/// that cannot be reopened after an I/O error ends the process with code 3, so a supervisor
/// restarts it instead of it answering 500 to every write while looking healthy.
pub fn writer_hooks() -> pyro_store::WriterHooks {
    pyro_store::WriterHooks {
        commit: Box::new(|d| commit_seconds().observe(d.as_secs_f64())),
        fatal: Box::new(|e| {
            tracing::error!(error = %e, "storage is unusable; exiting with code 3 for the supervisor");
            std::process::exit(3);
        }),
    }
}
