//! `ingest-server serve`'s flags and the server configuration they make.

use std::path::PathBuf;
use std::process::ExitCode;

use pyro_ingest::Limits;
use pyro_ingest_server as server;

#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:4040")]
    pub(crate) listen: String,
    /// Directory of the embedded database.
    #[arg(long, default_value = "./data")]
    pub(crate) data_dir: PathBuf,
    /// Delete data older than this, checked every minute: seconds or a duration (`90s`, `30m`,
    /// `12h`, `7d`, `2w`); 0 keeps everything.
    #[arg(long, default_value = "0", value_parser = pyro_store::parse_retention)]
    pub(crate) retention: u64,
    /// Largest request body, in bytes (413 beyond).
    #[arg(long, default_value_t = 64 << 20)]
    pub(crate) max_body_bytes: usize,
    /// Largest body after Content-Encoding or profile gzip decoding, in bytes (413 beyond).
    #[arg(long, default_value_t = 256 << 20)]
    pub(crate) max_decompressed_bytes: usize,
    /// Longest folded/lines line accepted, in bytes (422 beyond).
    #[arg(long, default_value_t = pyro_folded::DEFAULT_MAX_LINE_LEN)]
    pub(crate) max_line_len: usize,
    /// Most frames in one stack, in any format (422 beyond).
    #[arg(long, default_value_t = pyro_folded::DEFAULT_MAX_STACK_DEPTH)]
    pub(crate) max_stack_depth: usize,
    /// Most distinct stacks in one folded/lines body (422 beyond).
    #[arg(long, default_value_t = pyro_folded::DEFAULT_MAX_DISTINCT_STACKS)]
    pub(crate) max_distinct_stacks: usize,
    /// Most distinct label sets (series per sample type) in one pprof (422 beyond).
    #[arg(long, default_value_t = pyro_pprof::DEFAULT_MAX_LABEL_SETS)]
    pub(crate) max_label_sets: usize,
    /// Token file: `<role> <token>` or `<role> sha256:<hex>` per line (roles admin, agent,
    /// readonly); without it every endpoint is open.
    #[arg(long, value_name = "FILE")]
    pub(crate) auth_tokens: Option<PathBuf>,
    /// With --auth-tokens: protect only ingest (`/ingest`, push) or only read (`/render`, label
    /// endpoints); both by default.
    #[arg(long, value_enum, default_value = "all")]
    pub(crate) auth_scope: server::auth::Scope,
    /// Longest time to receive a request's headers, in seconds (slow clients are dropped).
    #[arg(long, default_value_t = 10)]
    pub(crate) header_timeout_secs: u64,
    /// Longest time a request may take, body included, in seconds (408 beyond).
    #[arg(long, default_value_t = 60)]
    pub(crate) request_timeout_secs: u64,
    /// Largest request head (request line and headers), in bytes (431 beyond; at least 8192).
    #[arg(long, default_value_t = 64 * 1024)]
    pub(crate) max_header_bytes: usize,
    /// Most series one request may store (422 beyond).
    #[arg(long, default_value_t = 10_000)]
    pub(crate) max_series_per_request: usize,
    /// Most parts read from one multipart body (422 beyond).
    #[arg(long, default_value_t = server::body::DEFAULT_MAX_MULTIPART_PARTS)]
    pub(crate) max_multipart_parts: usize,
    /// Keep tenants apart by `X-Scope-OrgID` (required on every request); without it the
    /// header is accepted and ignored.
    #[arg(long)]
    pub(crate) multi_tenant: bool,
    /// Most labels per series (400 beyond).
    #[arg(long, default_value_t = pyro_labels::DEFAULT_MAX_LABELS)]
    pub(crate) max_labels: usize,
    /// Forward every accepted request to this Grafana Pyroscope (or ingest-server) base URL
    /// over push.v1, through a durable queue of its own (repeatable).
    #[arg(long, value_name = "URL")]
    pub(crate) forward_to: Vec<String>,
    /// Extra header on forwarded requests, `'Name: value'` (repeatable).
    #[arg(long, value_name = "HEADER")]
    pub(crate) forward_header: Vec<String>,
    /// Basic auth for forwarding: `USER:PASSWORD_FILE` (the password is read from the file).
    #[arg(long, value_name = "USER:FILE")]
    pub(crate) forward_basic_auth: Option<String>,
    /// Bearer token for forwarding, read from FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) forward_bearer_token_file: Option<PathBuf>,
    /// Tenant (`X-Scope-OrgID`) sent upstream; else each request's own.
    #[arg(long, value_name = "ID")]
    pub(crate) forward_tenant: Option<String>,
    /// Label added to every forwarded series, `k=v` (repeatable).
    #[arg(long, value_name = "K=V")]
    pub(crate) external_label: Vec<String>,
    /// Timeout of one forwarding attempt, in seconds.
    #[arg(long, default_value_t = 10)]
    pub(crate) forward_timeout: u64,
    /// Most bytes one forwarding queue holds on disk (503 with Retry-After beyond).
    #[arg(long, default_value_t = 1 << 30)]
    pub(crate) forward_queue_bytes: u64,
    /// Attempts at one request that the upstream answers with an error that may pass (5xx,
    /// 429, 408) before it is dead-lettered, so one request the upstream always fails on does
    /// not hold back the queue behind it. Network errors (upstream down) are retried forever.
    #[arg(long, default_value_t = server::forward::DEFAULT_MAX_ATTEMPTS)]
    pub(crate) forward_max_attempts: u32,
    /// The upstream's ingestion window (Grafana Pyroscope refuses profiles older than 1 h by
    /// default): a forwarded request queued longer ago when its turn comes (after an outage) is
    /// moved to the dead letters unsent, counted (`pyro_forward_expired_total`) and logged, for
    /// `ingest-server dead-letters --export`. Seconds or `30m`, `1h`, `2d`; `0` sends everything.
    #[arg(long, default_value = "1h", value_parser = pyro_store::parse_retention)]
    pub(crate) forward_max_age: u64,
    /// Keep only the forwarding queue: nothing is stored locally.
    #[arg(long)]
    pub(crate) forward_only: bool,
    /// Longest time in-flight requests get to finish after SIGTERM/SIGINT, in seconds.
    #[arg(long, default_value_t = 30)]
    pub(crate) shutdown_grace_secs: u64,
    /// Most stack-tree nodes one request may build, all its profiles together, or one per 2
    /// bytes of its decompressed pprof/JFR profiles where that is more (422 beyond).
    #[arg(long, default_value_t = pyro_ingest::DEFAULT_MAX_TREE_NODES)]
    pub(crate) max_tree_nodes: usize,
    /// Most call-tree nodes one read may merge into its answer (`/render`, `/render-diff`,
    /// Grafana's querier calls); a larger answer is refused (422, or `resource_exhausted`)
    /// with a message saying to narrow the query. About 64 bytes each.
    #[arg(long, default_value_t = server::state::DEFAULT_READ_NODES)]
    pub(crate) max_read_nodes: usize,
    /// Most series one tenant may have; a write that would create more is refused (429), writes
    /// to existing series go on. 0: no limit.
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) max_series_per_tenant: u64,
    /// Most bytes of series names and labels one request may produce, all its series together
    /// (422 beyond): each is stored and indexed, so long label values times many label sets
    /// would amplify one small upload into gigabytes.
    #[arg(long, default_value_t = pyro_ingest::DEFAULT_MAX_SERIES_BYTES)]
    pub(crate) max_series_bytes: usize,
    /// Seconds between two rollup passes (closed windows pre-merged into coarser levels, and
    /// windows changed by late writes rebuilt).
    #[arg(long, default_value_t = 10)]
    pub(crate) rollup_interval_secs: u64,
    /// Bytes all requests together may hold at once (bodies, gunzipped bodies, parse memory);
    /// beyond, 503 with Retry-After.
    #[arg(long, default_value_t = 1 << 30)]
    pub(crate) max_inflight_bytes: usize,
}

/// The server configuration the flags describe (shared by `serve` and `adhoc`).
/// The server's config from its flags; `store` is where forwarding queues live (none for
/// adhoc, which does not forward).
pub(crate) fn config_from(
    args: &ServeArgs,
    store: Option<&std::sync::Arc<pyro_store::Store>>,
) -> Result<server::state::Config, ExitCode> {
    let auth = match &args.auth_tokens {
        None => None,
        Some(path) => {
            let tokens = std::fs::read_to_string(path)
                .map_err(|e| e.to_string())
                .and_then(|t| server::auth::Tokens::parse(&t).map_err(|e| e.to_string()));
            match tokens {
                Ok(t) => Some((std::sync::Arc::new(t), args.auth_scope)),
                Err(e) => {
                    eprintln!("error: {}: {e}", path.display());
                    return Err(ExitCode::from(2));
                }
            }
        }
    };
    Ok(server::state::Config {
        auth,
        request_timeout: std::time::Duration::from_secs(args.request_timeout_secs.max(1)),
        multi_tenant: args.multi_tenant,
        max_multipart_parts: args.max_multipart_parts,
        max_body: args.max_body_bytes,
        limits: Limits::new()
            .max_line_len(args.max_line_len)
            .max_stack_depth(args.max_stack_depth)
            .max_distinct_stacks(args.max_distinct_stacks)
            .max_labels(args.max_labels)
            .max_decompressed(args.max_decompressed_bytes)
            .max_label_sets(args.max_label_sets)
            .max_series(args.max_series_per_request)
            .max_tree_nodes(args.max_tree_nodes)
            .max_series_bytes(args.max_series_bytes),
        max_inflight_bytes: args.max_inflight_bytes,
        forward: match store {
            Some(store) => forward_from(args, store)?,
            None => None,
        },
        read_nodes: args.max_read_nodes,
    })
}

/// The forwarder the `--forward-*` flags describe, with its queues opened under the data dir.
fn forward_from(
    args: &ServeArgs,
    store: &std::sync::Arc<pyro_store::Store>,
) -> Result<Option<std::sync::Arc<server::forward::Forwarder>>, ExitCode> {
    if args.forward_to.is_empty() {
        if args.forward_only {
            eprintln!("error: --forward-only needs --forward-to");
            return Err(ExitCode::from(2));
        }
        return Ok(None);
    }
    let fail = |msg: String| {
        eprintln!("error: {msg}");
        ExitCode::from(2)
    };
    let mut headers = Vec::new();
    for h in &args.forward_header {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| fail(format!("--forward-header {h:?}: expected 'Name: value'")))?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let mut labels = Vec::new();
    for l in &args.external_label {
        let (k, v) = l
            .split_once('=')
            .ok_or_else(|| fail(format!("--external-label {l:?}: expected k=v")))?;
        labels.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let read = |p: &std::path::Path| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().to_owned())
            .map_err(|e| fail(format!("{}: {e}", p.display())))
    };
    let authorization = match (&args.forward_basic_auth, &args.forward_bearer_token_file) {
        (Some(_), Some(_)) => {
            return Err(fail(
                "--forward-basic-auth and --forward-bearer-token-file exclude each other".into(),
            ));
        }
        (Some(ua), None) => {
            let (user, file) = ua
                .split_once(':')
                .ok_or_else(|| fail("--forward-basic-auth: expected USER:PASSWORD_FILE".into()))?;
            let password = read(std::path::Path::new(file))?;
            Some(format!(
                "Basic {}",
                base64::Engine::encode(
                    &base64::engine::general_purpose::STANDARD,
                    format!("{user}:{password}")
                )
            ))
        }
        (None, Some(f)) => Some(format!("Bearer {}", read(f)?)),
        (None, None) => None,
    };
    let config = server::forward::ForwardConfig {
        endpoints: args.forward_to.clone(),
        headers,
        authorization,
        tenant: args.forward_tenant.clone(),
        external_labels: labels,
        timeout: std::time::Duration::from_secs(args.forward_timeout.max(1)),
        queue_bytes: args.forward_queue_bytes,
        only: args.forward_only,
        max_attempts: args.forward_max_attempts.max(1),
        max_age: (args.forward_max_age > 0)
            .then(|| std::time::Duration::from_secs(args.forward_max_age)),
    };
    std::fs::create_dir_all(&args.data_dir).map_err(|e| fail(e.to_string()))?;
    server::forward::Forwarder::open(store.clone(), &args.data_dir, config)
        .map(|f| Some(std::sync::Arc::new(f)))
        .map_err(|e| fail(e.to_string()))
}
