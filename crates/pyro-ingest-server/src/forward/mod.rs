//! Forwarding to Grafana Pyroscope (or another `ingest-server`) over push.v1, through a durable
//! queue per endpoint: an accepted request is encoded as one `PushRequest` (one series per label
//! set, `__name__`, `service_name` and the other labels as Grafana Pyroscope's ingest adapter
//! derives them, each tree a gzipped pprof with its sample type, unit and period, each sample a
//! stable ID), committed to the queue in the transaction that stores it locally (one fsync)
//! before the client gets 200, and delivered by a
//! task per endpoint that retries network errors, 5xx and 429 with exponential backoff and
//! jitter, and moves a request the upstream refuses for good (other 4xx) to a dead-letter table.

pub mod dead;
pub mod repair;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prost::Message;
use pyro_ingest::push::{LabelPair, PushRequest, RawProfileSeries, RawSample};

use pyro_store::queue::{Item, Queue, QueueItem};
use pyro_store::{Outbox, OwnedSeries, Write};

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
    /// Attempts at one request answered with an error that may pass before it is
    /// dead-lettered (0 is taken as 1).
    pub max_attempts: u32,
    /// The upstream's ingestion window (`--forward-max-age`): a request queued longer ago when
    /// its turn comes is moved to the dead letters instead of sent (the upstream would refuse
    /// it), counted, and named in the log; `None` sends everything.
    pub max_age: Option<Duration>,
}

/// The default of [`ForwardConfig::max_age`]: Grafana Pyroscope's default ingestion window
/// (`validation.reject-older-than`, 1 h).
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);

/// The default of [`ForwardConfig::max_attempts`]: with the backoff, about 16 s of retries.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;

/// Counters of one endpoint.
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests delivered.
    pub delivered: AtomicU64,
    /// Delivery attempts that will be retried.
    pub retried: AtomicU64,
    /// Requests moved to the dead-letter table.
    pub dead_lettered: AtomicU64,
    /// Requests moved to the dead-letter table unsent: older than the upstream's window.
    pub expired: AtomicU64,
}

/// One endpoint: its queue, its counters.
#[derive(Debug)]
pub struct Endpoint {
    /// Base URL.
    pub url: String,
    /// Its queue (named by [`queue_name`] of the URL).
    pub queue: Arc<Queue>,
    /// Its counters.
    pub stats: Stats,
}

/// What a request sent, kept so it can be forwarded as received instead of re-encoded from the
/// parsed trees.
#[derive(Debug)]
pub enum Received {
    /// A pprof `/ingest` body (gzipped or not, no `prev_profile`): Grafana Pyroscope stores it as
    /// is, in one series with these labels (its `createLabels`).
    Pprof {
        /// The body as received (after any `Content-Encoding`).
        body: bytes::Bytes,
        /// `__name__`, `__delta__`, `service_name`, `pyroscope_spy`, then the request's labels.
        labels: Vec<LabelPair>,
        /// The profile's own `time_nanos` is unset or in 1970: the write's start is appended to
        /// it on the way out (Grafana Pyroscope's `fixTime`).
        fix_time: bool,
    },
    /// A push request's series with their samples, as sent (k6 labels added).
    Push(Vec<RawProfileSeries>),
    /// A JFR recording: its series go as parsed, each with the recording's `event` setting as
    /// `jfr_event` (GP's JFR labels, §5.3), its lock events as grafana/jfr-parser splits them
    /// (`locks`) instead of OG's merged `lock_count`/`lock_duration`.
    Jfr {
        /// The async-profiler `event` setting, if the recording has one.
        event: Option<String>,
        /// Monitor enters as `mutex_count`/`mutex_duration`, parks as
        /// `block_count`/`block_duration` ([`pyro_ingest::Facts::Jfr`]).
        locks: Vec<OwnedSeries>,
    },
}

impl Received {
    /// A pprof `/ingest` request as Grafana Pyroscope's adapter would push it, repaired as its
    /// `/ingest` repairs it ([`repair::Repairs`]; `max`: the most its gzip may inflate to):
    /// `None` when it has a `prev_profile` (Grafana Pyroscope refuses cumulative pairs; the
    /// series computed here are forwarded instead) or a name that does not parse.
    pub fn pprof(
        req: &pyro_ingest::Request,
        facts: &pyro_ingest::PprofFacts,
        max: usize,
    ) -> Option<Received> {
        if req.prev_profile.is_some() {
            return None;
        }
        let name = pyro_labels::SeriesName::parse(&req.name).ok()?;
        // GP's `createLabels` (pkg/og/convert/pprof/profile.go): the upload's own
        // `service_name` label is kept, else the app name is the service.
        let own_service = name.get("service_name").is_some()
            || req.extra_labels.iter().any(|(k, _)| k == "service_name");
        let mut labels = vec![
            pair("__name__", &facts.metric_name),
            pair("__delta__", "false"),
            spy_label(req.spy_name()),
        ];
        if !own_service {
            labels.push(pair("service_name", name.app()));
        }
        let extra = req
            .extra_labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()));
        let own = name
            .labels()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .filter(|(k, _)| !req.extra_labels.iter().any(|(e, _)| e == k));
        for (k, v) in own.chain(extra) {
            if passed_on(k) {
                labels.push(pair(k, v));
            }
        }
        const YEAR_1971_NANOS: i64 = 365 * 86_400 * 1_000_000_000;
        let repairs = repair::Repairs::of(req.spy_name(), req.sample_type_config.as_deref());
        let body = if repairs.any() {
            repairs
                .apply(&req.body, max)
                .map_or_else(|| req.body.clone(), bytes::Bytes::from)
        } else {
            req.body.clone()
        };
        Some(Received::Pprof {
            body,
            labels,
            fix_time: facts.time_nanos < YEAR_1971_NANOS,
        })
    }

    /// A push request's series as sent, with `extra` labels (k6's) set on each.
    pub fn push(req: &pyro_ingest::push::PushRequest, extra: &[(String, String)]) -> Received {
        let mut series = req.series.clone();
        for s in &mut series {
            for (k, v) in extra {
                s.labels.retain(|l| &l.name != k);
                s.labels.push(pair(k, v));
            }
        }
        Received::Push(series)
    }
}

/// Whether Grafana Pyroscope's adapter keeps a request label (`IsLabelAllowedForIngestion`): not
/// one starting with `__`, except `__session_id__`.
fn passed_on(name: &str) -> bool {
    !name.starts_with("__") || name == "__session_id__"
}

/// `pyroscope_spy`: `unknown` when the client named none, as Grafana Pyroscope's `/ingest`
/// handler defaults it (pkg/ingester/pyroscope/ingest_handler.go) before its adapter and its
/// pprof conversion label the series with it.
fn spy_label(spy: &str) -> LabelPair {
    pair(
        "pyroscope_spy",
        if spy.is_empty() { "unknown" } else { spy },
    )
}

fn pair(name: &str, value: &str) -> LabelPair {
    LabelPair {
        name: name.to_owned(),
        value: value.to_owned(),
    }
}

/// Where an accepted request came from, for forwarding: what it sent (when it can go on as
/// received) and the tenant a forwarder names upstream.
#[derive(Debug, Default)]
pub struct Origin {
    /// What the request sent, when a forwarder passes it on as received.
    pub received: Option<Received>,
    /// The tenant named upstream (without `--forward-tenant`): the tenant, or in a
    /// single-tenant server the client's own `X-Scope-OrgID`.
    pub org_id: String,
}

/// The stable name of an endpoint's queue: the first 16 hex digits of the SHA-256 of its URL
/// (without a trailing `/`). Reordering or removing `--forward-to` URLs never hands a queue to
/// another endpoint.
pub fn queue_name(url: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(url.trim_end_matches('/').as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Most requests one delivery round takes from a queue, and most bytes.
const DELIVERY_BATCH: usize = 64;
const DELIVERY_BATCH_BYTES: u64 = 64 << 20;

/// The longest wait between two delivery attempts (the backoff doubles from 100 ms up to it),
/// as Prometheus' remote write: an upstream back from an outage gets the queue within seconds.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Most deliveries in flight to one endpoint at a time.
const IN_FLIGHT: usize = 16;

/// Every endpoint, and the config they share.
#[derive(Debug)]
pub struct Forwarder {
    /// The endpoints.
    pub endpoints: Vec<Arc<Endpoint>>,
    config: ForwardConfig,
    next_id: AtomicU64,
    node: u64,
}

impl Forwarder {
    /// Opens a queue per endpoint in `store`, named by its URL ([`queue_name`]). Queues of
    /// earlier releases were named by position in `--forward-to`: queue `n`'s items (and a
    /// `forward-<n>.redb` file left under `dir`) move to the endpoint now at position `n`, once,
    /// as that release would have delivered them. Every queue is logged with its backlog,
    /// including queues of URLs no longer given (kept, not delivered, never sent elsewhere).
    ///
    /// # Errors
    /// A queue cannot be opened.
    pub fn open(
        store: Arc<pyro_store::Store>,
        dir: &std::path::Path,
        config: ForwardConfig,
    ) -> Result<Forwarder, pyro_store::StoreError> {
        let mut endpoints = Vec::new();
        for (i, url) in config.endpoints.iter().enumerate() {
            let url = url.trim_end_matches('/').to_owned();
            let legacy = dir.join(format!("forward-{i}.redb"));
            let name = queue_name(&url);
            let queue = Queue::open(store.clone(), &name, config.queue_bytes, &legacy)?;
            let adopted = queue.adopt(&i.to_string())?;
            if adopted > 0 {
                tracing::warn!(endpoint = %url, requests = adopted, from = i, "positional forward queue of an earlier release moved to its endpoint's own queue");
            }
            queue.set_label(&url)?;
            let (bytes, items) = queue.depth();
            tracing::info!(endpoint = %url, queue = %name, items, bytes, "forward queue");
            endpoints.push(Arc::new(Endpoint {
                url,
                queue: Arc::new(queue),
                stats: Stats::default(),
            }));
        }
        for q in pyro_store::queue::list(&store)? {
            if !endpoints.iter().any(|e| queue_name(&e.url) == q.name) && q.items > 0 {
                tracing::warn!(queue = %q.name, endpoint = %q.label, items = q.items, bytes = q.bytes, "forward queue of an endpoint no longer in --forward-to: kept, not delivered");
            }
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

    /// The queue item of an accepted request: tenant, time, encoded `PushRequest` (CPU work:
    /// call it off the async workers).
    pub fn item(&self, write: &Write, origin: &Origin) -> QueueItem {
        let body = self.encode(write, origin).encode_to_vec();
        let tenant = self
            .config
            .tenant
            .clone()
            .unwrap_or_else(|| origin.org_id.clone());
        QueueItem {
            tenant,
            at: crate::attime::now(),
            body: body.into(),
        }
    }

    /// The outbox of an accepted request: its item on every endpoint's queue.
    pub fn outbox(&self, item: QueueItem) -> Outbox {
        Outbox {
            queues: self.endpoints.iter().map(|e| e.queue.clone()).collect(),
            item,
        }
    }

    /// Whether a request of `bytes` fits in every queue now (else 503: back-pressure). The
    /// bound is checked before the request joins a commit, so concurrent requests may pass it
    /// by at most one group commit's worth.
    pub fn fits(&self, bytes: usize) -> bool {
        self.endpoints.iter().all(|e| e.queue.fits(bytes as u64))
    }

    /// The `PushRequest` of an accepted request: what it sent when that can go on as received
    /// ([`Received`]), else its series encoded as Grafana Pyroscope's adapter would.
    pub fn encode(&self, write: &Write, origin: &Origin) -> PushRequest {
        let mut series = match &origin.received {
            Some(Received::Pprof {
                body,
                labels,
                fix_time,
            }) => {
                let raw = if *fix_time {
                    with_time(body, write.start)
                } else {
                    body.clone()
                };
                vec![RawProfileSeries {
                    labels: labels.clone(),
                    samples: vec![RawSample {
                        raw_profile: raw,
                        id: String::new(),
                    }],
                }]
            }
            Some(Received::Push(series)) => series.clone(),
            Some(Received::Jfr { .. }) | None => {
                let (jfr, event, locks) = match &origin.received {
                    Some(Received::Jfr { event, locks }) => {
                        (true, event.as_deref().filter(|e| !e.is_empty()), &locks[..])
                    }
                    _ => (false, None, &[][..]),
                };
                // OG's merged lock series stay here; GP gets jfr-parser's split ones.
                let og_lock = |s: &&OwnedSeries| {
                    jfr && s
                        .meta
                        .app
                        .rsplit_once('.')
                        .is_some_and(|(_, t)| t == "lock_count" || t == "lock_duration")
                };
                write
                    .series
                    .iter()
                    .filter(|s| !og_lock(s))
                    .chain(locks)
                    .map(|s| {
                        let mut series = self.series(s, write.start, jfr);
                        series.labels.extend(event.map(|e| pair("jfr_event", e)));
                        series
                    })
                    .collect()
            }
        };
        for s in &mut series {
            for (k, v) in &self.config.external_labels {
                s.labels.retain(|l| &l.name != k);
                s.labels.push(pair(k, v));
            }
            for sample in &mut s.samples {
                if sample.id.is_empty() {
                    sample.id = self.next_id();
                }
            }
        }
        PushRequest { series }
    }

    /// A stable sample ID: this process' node id and a counter.
    fn next_id(&self) -> String {
        format!(
            "{:016x}-{:016x}",
            self.node,
            self.next_id.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// One parsed series as Grafana Pyroscope's adapter pushes it: labels per its
    /// `convertMetadata`/`Put`, the tree as a gzipped pprof; a JFR series (`jfr`) as
    /// jfr-parser builds it, with its profile type's period type (`space/bytes`, `mutex/count`,
    /// …), so GP gives it the same profile type id as from its own `/ingest`.
    fn series(&self, s: &OwnedSeries, start: i64, jfr: bool) -> RawProfileSeries {
        let typed = &s.typed;
        let mut labels = vec![
            pair("__name__", &typed.profile_type.name),
            pair("__delta__", "false"),
        ];
        labels.push(spy_label(&s.meta.spy_name));
        let mut has_service = false;
        for (k, v) in s.meta.labels.iter().filter(|(k, _)| passed_on(k)) {
            has_service |= k == "service_name";
            labels.push(pair(k, v));
        }
        if !has_service {
            labels.push(pair("service_name", &typed.service));
        } else if !s.meta.labels.contains_key("app_name") {
            labels.push(pair("app_name", &typed.service));
        }
        // The tree is in the type's unit already (CPU samples scaled to nanoseconds).
        let t = if jfr {
            crate::render::PprofType::of_jfr(typed)
        } else {
            crate::render::PprofType::of(typed)
        };
        let mut pprof = crate::render::pprof_as(&s.tree, &t);
        set_time(&mut pprof, start);
        RawProfileSeries {
            labels,
            samples: vec![RawSample {
                raw_profile: gzip(&pprof).into(),
                id: String::new(),
            }],
        }
    }

    /// Starts one delivery task per endpoint on the current runtime.
    pub fn spawn_delivery(self: &Arc<Self>) {
        for e in &self.endpoints {
            tokio::spawn(deliver(self.clone(), e.clone()));
        }
    }
}

/// A pprof body with `time_nanos` (field 9) set to `start` seconds: the field is appended (the
/// last occurrence of a scalar field wins), to a gzipped body as a second gzip member, so the
/// profile itself goes on byte for byte.
fn with_time(body: &bytes::Bytes, start: i64) -> bytes::Bytes {
    let mut field = Vec::new();
    set_time(&mut field, start);
    if pyro_ingest::is_gzip(body) {
        field = gzip(&field);
    }
    [&body[..], &field].concat().into()
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
    /// The upstream could not be reached or did not answer in time: retried without end.
    Retry(Unreached),
    /// The upstream answered with an error that may pass (5xx, 429, 408): retried, counted.
    Failed(Answer),
    /// The upstream refused the request for good (another 4xx), or it could not be built.
    Refused(Answer),
}

/// Why an attempt got no answer.
#[derive(Debug)]
enum Unreached {
    TimedOut,
    Client(hyper_util::client::legacy::Error),
}

impl std::fmt::Display for Unreached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unreached::TimedOut => f.write_str("timed out"),
            Unreached::Client(e) => e.fmt(f),
        }
    }
}

/// An upstream's error answer: its status and the start of its body (kept with a
/// dead-lettered request).
#[derive(Debug)]
enum Answer {
    Status { status: u16, body: String },
    BadRequest(axum::http::Error),
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Answer::Status { status, body } => write!(f, "{status}: {body}"),
            Answer::BadRequest(e) => write!(f, "bad request: {e}"),
        }
    }
}

type Client = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    axum::body::Body,
>;

async fn attempt(f: &Forwarder, e: &Endpoint, client: &Client, item: &Item) -> Outcome {
    use http_body_util::BodyExt;
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
        Err(err) => return Outcome::Refused(Answer::BadRequest(err)),
    };
    let sent = tokio::time::timeout(f.config.timeout, async {
        let resp = client.request(req).await.map_err(Unreached::Client)?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Ok::<_, Unreached>(Answer::Status {
            status,
            body: String::from_utf8_lossy(&body[..body.len().min(500)]).into_owned(),
        })
    })
    .await;
    match sent {
        Err(_) => Outcome::Retry(Unreached::TimedOut),
        Ok(Err(err)) => Outcome::Retry(err),
        Ok(Ok(Answer::Status { status, .. })) if (200..300).contains(&status) => Outcome::Delivered,
        Ok(Ok(a @ Answer::Status { status, .. }))
            if status >= 500 || status == 429 || status == 408 =>
        {
            Outcome::Failed(a)
        }
        Ok(Ok(a)) => Outcome::Refused(a),
    }
}

/// Requests of one delivery round that left the queue, by how.
#[derive(Default)]
struct Settled {
    delivered: u64,
    dead_lettered: u64,
    expired: u64,
}

/// Delivers one endpoint's queue, forever: the oldest requests in rounds of up to
/// [`DELIVERY_BATCH`], [`IN_FLIGHT`] in flight at a time over pooled keep-alive connections; what was
/// delivered or refused for good leaves the queue in one transaction per round; after a failure
/// that may pass, the round's undelivered requests wait for the backoff and come first in the
/// next round.
async fn deliver(f: Arc<Forwarder>, e: Arc<Endpoint>) {
    let client: Client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(IN_FLIGHT)
            .build_http();
    let mut backoff = Duration::from_millis(100);
    // Failed attempts per queued request (in memory: a restart gives every request its
    // attempts again).
    let mut attempts: std::collections::HashMap<u64, u32> = std::collections::HashMap::new();
    loop {
        let q = e.clone();
        let items = match tokio::task::spawn_blocking(move || {
            q.queue.peek_batch(DELIVERY_BATCH, DELIVERY_BATCH_BYTES)
        })
        .await
        {
            Ok(Ok(items)) if items.is_empty() => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Ok(Ok(items)) => items,
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
        let mut done: Vec<(Item, Option<String>)> = Vec::new();
        let mut counts = Settled::default();
        // Older than the upstream's window: it would refuse them. Kept as dead letters to export
        // (`ingest-server dead-letters --export`), named in the log once per round.
        let items = match f.config.max_age {
            Some(max_age) => {
                let now = crate::attime::now();
                let limit = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
                let (old, fresh): (Vec<Item>, Vec<Item>) = items
                    .into_iter()
                    .partition(|i| now.saturating_sub(i.queued_at) > limit);
                if let Some(oldest) = old.iter().map(|i| i.queued_at).min() {
                    let why = format!(
                        "older than --forward-max-age ({} s) when its turn came: the upstream \
                         would refuse it",
                        max_age.as_secs()
                    );
                    tracing::warn!(
                        endpoint = %e.url,
                        requests = old.len(),
                        oldest_age_s = now.saturating_sub(oldest),
                        "forward: requests older than --forward-max-age moved to the dead \
                         letters; list and export them with `ingest-server dead-letters`"
                    );
                    counts.expired += old.len() as u64;
                    counts.dead_lettered += old.len() as u64;
                    for item in old {
                        attempts.remove(&item.seq);
                        done.push((item, Some(why.clone())));
                    }
                }
                fresh
            }
            None => items,
        };
        let mut retry = None;
        // A sliding window: a new delivery starts as soon as one ends, until a failure that
        // may pass stops new starts.
        let mut set = tokio::task::JoinSet::new();
        let mut next = items.into_iter();
        loop {
            while retry.is_none() && set.len() < IN_FLIGHT {
                let Some(item) = next.next() else { break };
                let (f, e, client) = (f.clone(), e.clone(), client.clone());
                set.spawn(async move {
                    let outcome = attempt(&f, &e, &client, &item).await;
                    (item, outcome)
                });
            }
            let Some(joined) = set.join_next().await else {
                break;
            };
            let Ok((item, outcome)) = joined else {
                retry.get_or_insert(("delivery task failed".to_owned(), 0));
                continue;
            };
            match outcome {
                Outcome::Delivered => {
                    attempts.remove(&item.seq);
                    counts.delivered += 1;
                    done.push((item, None));
                }
                Outcome::Refused(why) => {
                    attempts.remove(&item.seq);
                    counts.dead_lettered += 1;
                    tracing::error!(endpoint = %e.url, error = %why, seq = item.seq, "upstream refused a request for good; dead-lettered");
                    done.push((item, Some(why.to_string())));
                }
                Outcome::Failed(why) => {
                    let n = attempts.entry(item.seq).or_insert(0);
                    *n += 1;
                    if *n >= f.config.max_attempts.max(1) {
                        attempts.remove(&item.seq);
                        counts.dead_lettered += 1;
                        let why = format!(
                            "gave up after {} attempts: {why}",
                            f.config.max_attempts.max(1)
                        );
                        tracing::error!(endpoint = %e.url, error = %why, seq = item.seq, "upstream keeps failing on a request; dead-lettered");
                        done.push((item, Some(why)));
                    } else {
                        e.stats.retried.fetch_add(1, Ordering::Relaxed);
                        retry.get_or_insert((why.to_string(), item.seq));
                    }
                }
                Outcome::Retry(why) => {
                    e.stats.retried.fetch_add(1, Ordering::Relaxed);
                    retry.get_or_insert((why.to_string(), item.seq));
                }
            }
        }
        if !done.is_empty() {
            let q = e.clone();
            let removed = tokio::task::spawn_blocking(move || {
                let refs: Vec<(&Item, Option<&str>)> =
                    done.iter().map(|(i, why)| (i, why.as_deref())).collect();
                q.queue.remove_batch(&refs)
            })
            .await;
            if matches!(removed, Ok(Ok(()))) {
                // Counted once they have left the queue, so `/metrics` never shows a request
                // delivered or dead-lettered that the queue still holds (nor counts twice one
                // whose removal failed and that comes round again).
                e.stats
                    .delivered
                    .fetch_add(counts.delivered, Ordering::Relaxed);
                e.stats
                    .dead_lettered
                    .fetch_add(counts.dead_lettered, Ordering::Relaxed);
                e.stats.expired.fetch_add(counts.expired, Ordering::Relaxed);
            } else {
                tracing::error!(endpoint = %e.url, "forward queue update failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        match retry {
            None => backoff = Duration::from_millis(100),
            Some((why, seq)) => {
                tracing::warn!(endpoint = %e.url, error = %why, retry_in_ms = backoff.as_millis() as u64, "forward failed; will retry");
                let jitter =
                    Duration::from_millis(u64::from(std::process::id() ^ seq as u32) % 100);
                tokio::time::sleep(backoff + jitter).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
