//! The `ingest-server` command line.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use pyro_ingest::output;
use pyro_ingest::{Limits, Request};
use pyro_ingest_server as server;

/// mimalloc instead of glibc's malloc: glibc returns freed memory at the top of its heap once it
/// passes a threshold that it moves with the sizes freed so far, so whether a conversion faults
/// its per-call arrays in afresh every time (tens of page faults per profile, up to 1.5x the
/// time of a small pprof) depended on the sizes of the previous request's arrays; mimalloc
/// keeps freed pages for reuse and costs the same whatever those sizes were. Built with
/// `no_thp`: mimalloc's default of asking for transparent huge pages made the kernel compact
/// memory on some runs (one `convert` of a 33 MB profile took 0.7 s or 2.3 s of CPU).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "ingest-server",
    version,
    about = "Pyroscope-compatible ingestion server and converter"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, default_value = "127.0.0.1:4040")]
    listen: String,
    /// Directory of the embedded database.
    #[arg(long, default_value = "./data")]
    data_dir: PathBuf,
    /// Delete data older than this, checked every minute: seconds or a duration (`90s`, `30m`,
    /// `12h`, `7d`, `2w`); 0 keeps everything.
    #[arg(long, default_value = "0", value_parser = pyro_store::parse_retention)]
    retention: u64,
    /// Largest request body, in bytes (413 beyond).
    #[arg(long, default_value_t = 64 << 20)]
    max_body_bytes: usize,
    /// Largest body after Content-Encoding or profile gzip decoding, in bytes (413 beyond).
    #[arg(long, default_value_t = 256 << 20)]
    max_decompressed_bytes: usize,
    /// Longest folded/lines line accepted, in bytes (422 beyond).
    #[arg(long, default_value_t = pyro_folded::DEFAULT_MAX_LINE_LEN)]
    max_line_len: usize,
    /// Most frames in one stack, in any format (422 beyond).
    #[arg(long, default_value_t = pyro_folded::DEFAULT_MAX_STACK_DEPTH)]
    max_stack_depth: usize,
    /// Most distinct stacks in one folded/lines body (422 beyond).
    #[arg(long, default_value_t = pyro_folded::DEFAULT_MAX_DISTINCT_STACKS)]
    max_distinct_stacks: usize,
    /// Most distinct label sets (series per sample type) in one pprof (422 beyond).
    #[arg(long, default_value_t = pyro_pprof::DEFAULT_MAX_LABEL_SETS)]
    max_label_sets: usize,
    /// Token file: `<role> <token>` or `<role> sha256:<hex>` per line (roles admin, agent,
    /// readonly); without it every endpoint is open.
    #[arg(long, value_name = "FILE")]
    auth_tokens: Option<PathBuf>,
    /// With --auth-tokens: protect only ingest (`/ingest`, push) or only read (`/render`, label
    /// endpoints); both by default.
    #[arg(long, value_enum)]
    auth_scope: Option<AuthScope>,
    /// Longest time to receive a request's headers, in seconds (slow clients are dropped).
    #[arg(long, default_value_t = 10)]
    header_timeout_secs: u64,
    /// Longest time a request may take, body included, in seconds (408 beyond).
    #[arg(long, default_value_t = 60)]
    request_timeout_secs: u64,
    /// Largest request head (request line and headers), in bytes (431 beyond; at least 8192).
    #[arg(long, default_value_t = 64 * 1024)]
    max_header_bytes: usize,
    /// Most series one request may store (422 beyond).
    #[arg(long, default_value_t = 10_000)]
    max_series_per_request: usize,
    /// Most parts read from one multipart body (422 beyond).
    #[arg(long, default_value_t = server::http::body::DEFAULT_MAX_MULTIPART_PARTS)]
    max_multipart_parts: usize,
    /// Keep tenants apart by `X-Scope-OrgID` (required on every request); without it the
    /// header is accepted and ignored.
    #[arg(long)]
    multi_tenant: bool,
    /// Most labels per series (400 beyond).
    #[arg(long, default_value_t = pyro_labels::DEFAULT_MAX_LABELS)]
    max_labels: usize,
    /// Forward every accepted request to this Grafana Pyroscope (or ingest-server) base URL
    /// over push.v1, through a durable queue of its own (repeatable).
    #[arg(long, value_name = "URL")]
    forward_to: Vec<String>,
    /// Extra header on forwarded requests, `'Name: value'` (repeatable).
    #[arg(long, value_name = "HEADER")]
    forward_header: Vec<String>,
    /// Basic auth for forwarding: `USER:PASSWORD_FILE` (the password is read from the file).
    #[arg(long, value_name = "USER:FILE")]
    forward_basic_auth: Option<String>,
    /// Bearer token for forwarding, read from FILE.
    #[arg(long, value_name = "FILE")]
    forward_bearer_token_file: Option<PathBuf>,
    /// Tenant (`X-Scope-OrgID`) sent upstream; else each request's own.
    #[arg(long, value_name = "ID")]
    forward_tenant: Option<String>,
    /// Label added to every forwarded series, `k=v` (repeatable).
    #[arg(long, value_name = "K=V")]
    external_label: Vec<String>,
    /// Timeout of one forwarding attempt, in seconds.
    #[arg(long, default_value_t = 10)]
    forward_timeout: u64,
    /// Most bytes one forwarding queue holds on disk (503 with Retry-After beyond).
    #[arg(long, default_value_t = 1 << 30)]
    forward_queue_bytes: u64,
    /// Keep only the forwarding queue: nothing is stored locally.
    #[arg(long)]
    forward_only: bool,
    /// Longest time in-flight requests get to finish after SIGTERM/SIGINT, in seconds.
    #[arg(long, default_value_t = 30)]
    shutdown_grace_secs: u64,
    /// Most stack-tree nodes one request may build, all its profiles together, or one per 2
    /// bytes of its decompressed pprof/JFR profiles where that is more (422 beyond).
    #[arg(long, default_value_t = pyro_ingest::DEFAULT_MAX_TREE_NODES)]
    max_tree_nodes: usize,
    /// Most call-tree nodes one read may merge into its answer (`/render`, `/render-diff`,
    /// Grafana's querier calls); a larger answer is refused (422, or `resource_exhausted`)
    /// with a message saying to narrow the query. About 64 bytes each.
    #[arg(long, default_value_t = server::http::DEFAULT_READ_NODES)]
    max_read_nodes: usize,
    /// Seconds between two rollup passes (closed windows pre-merged into coarser levels, and
    /// windows changed by late writes rebuilt).
    #[arg(long, default_value_t = 10)]
    rollup_interval_secs: u64,
    /// Bytes all requests together may hold at once (bodies, gunzipped bodies, parse memory);
    /// beyond, 503 with Retry-After.
    #[arg(long, default_value_t = 1 << 30)]
    max_inflight_bytes: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum InputFormat {
    Folded,
    Lines,
    Trie,
    Tree,
    Pprof,
    Jfr,
}

#[derive(Clone, Copy, ValueEnum)]
enum AdhocFormat {
    Collapsed,
    Json,
    Pprof,
}

#[derive(Clone, Copy, ValueEnum)]
enum AuthScope {
    Ingest,
    Read,
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Folded,
    Json,
    /// A flamegraph drawn by inferno (one series).
    Svg,
    /// The UI page preloaded with the flamegraph (one series, no server needed).
    Html,
}

#[derive(Subcommand)]
enum Command {
    /// Serve Pyroscope's ingestion API (the default with no subcommand).
    Serve(ServeArgs),
    /// Run CMD with `PYROSCOPE_ADHOC_SERVER_ADDRESS` pointing at a server on 127.0.0.1 and a
    /// random port; when it exits, write one file per series it uploaded and exit with its code.
    Adhoc {
        /// Format of the files written.
        #[arg(long, value_enum, default_value = "collapsed")]
        output_format: AdhocFormat,
        /// Directory the files go to.
        #[arg(long, default_value = ".")]
        output_dir: PathBuf,
        /// The program and its arguments (after `--`).
        #[arg(required = true, last = true)]
        command: Vec<String>,
    },
    /// Read FILE as an `/ingest` body and print the series the server would store.
    ///
    /// Formats: folded (default), lines, trie, tree, pprof and jfr (gzipped or not).
    Convert {
        /// Body format, as `/ingest`'s `format` parameter (default: what `--content-type`
        /// selects, else sniffed from the file: gzip, pprof, JFR's `FLR\0`, else folded).
        #[arg(long, value_enum)]
        format: Option<InputFormat>,
        /// Content-Type the body would arrive with (e.g. `binary/octet-stream+trie`).
        #[arg(long)]
        content_type: Option<String>,
        /// Series name, parsed and normalized as `/ingest`'s `name`.
        #[arg(long, default_value = "app.cpu")]
        name: String,
        /// `units` parameter.
        #[arg(long)]
        units: Option<String>,
        /// `aggregationType` parameter (`sum`, `average`).
        #[arg(long = "aggregation-type")]
        aggregation: Option<String>,
        /// `sampleRate` parameter.
        #[arg(long, allow_hyphen_values = true)]
        sample_rate: Option<String>,
        /// `spyName` parameter.
        #[arg(long)]
        spy_name: Option<String>,
        /// pprof: a `sample_type_config` JSON file (replaces the default sample-type table).
        #[arg(long, value_name = "FILE")]
        sample_type_config: Option<PathBuf>,
        /// pprof: the previous profile of a cumulative pair (`prev_profile`).
        #[arg(long, value_name = "FILE")]
        prev: Option<PathBuf>,
        /// jfr: the pyroscope-java LabelsSnapshot (`labels` part), gzipped or not.
        #[arg(long, value_name = "FILE")]
        labels: Option<PathBuf>,
        /// Longest folded/lines line accepted, in bytes.
        #[arg(long, default_value_t = pyro_folded::DEFAULT_MAX_LINE_LEN)]
        max_line_len: usize,
        /// Output: folded text, JSON, an SVG flamegraph or a standalone HTML flamegraph page.
        #[arg(long, value_enum, default_value = "folded")]
        output: OutputFormat,
        /// svg/html: the series to draw when the file holds several (its full name, as
        /// `--output folded` prints it after `# `).
        #[arg(long)]
        series: Option<String>,
        /// Input file, `-` for stdin.
        file: PathBuf,
    },
}

/// The one series an svg/html output draws: the only one, or the one named `pick`.
fn pick_one<'s, 'a>(
    series: &'s [pyro_ingest::Series<'a>],
    pick: Option<&str>,
) -> Result<&'s pyro_ingest::Series<'a>, String> {
    let names = || {
        series
            .iter()
            .map(|s| s.name.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (pick, series) {
        (None, [one]) => Ok(one),
        (None, []) => Err("the file holds no series".into()),
        (None, _) => Err(format!(
            "the file holds {} series; pick one with --series: {}",
            series.len(),
            names()
        )),
        (Some(p), _) => series
            .iter()
            .find(|s| s.name.to_string() == p)
            .ok_or_else(|| format!("no series {p:?}; the file holds: {}", names())),
    }
}

fn read_input(path: &PathBuf) -> std::io::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin().lock().read_to_end(&mut buf)?;
        Ok(buf)
    } else {
        std::fs::read(path)
    }
}

/// The server configuration the flags describe (shared by `serve` and `adhoc`).
/// The server's config from its flags; `store` is where forwarding queues live (none for
/// adhoc, which does not forward).
fn config_from(
    args: &ServeArgs,
    store: Option<&std::sync::Arc<pyro_store::Store>>,
) -> Result<server::http::Config, ExitCode> {
    let auth = match &args.auth_tokens {
        None => None,
        Some(path) => {
            let tokens = std::fs::read_to_string(path)
                .map_err(|e| e.to_string())
                .and_then(|t| server::auth::Tokens::parse(&t));
            match tokens {
                Ok(t) => Some((
                    std::sync::Arc::new(t),
                    match args.auth_scope {
                        None => server::auth::Scope::All,
                        Some(AuthScope::Ingest) => server::auth::Scope::Ingest,
                        Some(AuthScope::Read) => server::auth::Scope::Read,
                    },
                )),
                Err(e) => {
                    eprintln!("error: {}: {e}", path.display());
                    return Err(ExitCode::from(2));
                }
            }
        }
    };
    Ok(server::http::Config {
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
            .max_tree_nodes(args.max_tree_nodes),
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
    };
    std::fs::create_dir_all(&args.data_dir).map_err(|e| fail(e.to_string()))?;
    server::forward::Forwarder::open(store.clone(), &args.data_dir, config)
        .map(|f| Some(std::sync::Arc::new(f)))
        .map_err(|e| fail(e.to_string()))
}

fn serve(args: ServeArgs) -> ExitCode {
    tracing_subscriber::fmt()
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // redb panics on some truncated files; the store reports that panic as an error, so the
    // default hook's message would only repeat it.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let opened = pyro_store::Store::open(&args.data_dir);
    std::panic::set_hook(hook);
    let store = match opened {
        Ok(s) => std::sync::Arc::new(s),
        Err(e) => {
            eprintln!("error: cannot open storage: {e}");
            return ExitCode::from(2);
        }
    };
    let config = match config_from(&args, Some(&store)) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let grace = std::time::Duration::from_secs(args.shutdown_grace_secs);
    // Go's `:4040` (every interface), as Pyroscope's own flags take it.
    let listen = match args.listen.strip_prefix(':') {
        Some(port) => {
            tracing::warn!(
                "--listen {} binds every interface; use 127.0.0.1:{port} to stay local",
                args.listen
            );
            format!("0.0.0.0:{port}")
        }
        None => args.listen.clone(),
    };
    let code = rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(&listen).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: cannot listen on {listen}: {e}");
                return ExitCode::from(2);
            }
        };
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let auth = match (&args.auth_tokens, args.auth_scope) {
            (None, _) => "off".to_owned(),
            (Some(f), None) => format!("on ({}, ingest and read)", f.display()),
            (Some(f), Some(AuthScope::Ingest)) => format!("on ({}, ingest only)", f.display()),
            (Some(f), Some(AuthScope::Read)) => format!("on ({}, read only)", f.display()),
        };
        let tenancy = if args.multi_tenant {
            "multi-tenant (X-Scope-OrgID)"
        } else {
            "single tenant"
        };
        let retention = match args.retention {
            0 => "keep everything".to_owned(),
            s => format!("{s} s"),
        };
        tracing::info!(
            listen = %addr,
            data_dir = %args.data_dir.display(),
            auth,
            tenancy,
            retention,
            "serving"
        );
        // Machine-readable line for scripts and tests that asked for port 0.
        println!("listening on {addr}");
        if args.retention > 0 {
            tokio::spawn(server::http::retention_task(
                store.clone(),
                i64::try_from(args.retention).unwrap_or(i64::MAX),
                std::time::Duration::from_secs(60.min(args.retention.max(1))),
            ));
        }
        // Windows are rolled up in the background; the roller stops when dropped (at exit).
        let _roller = match pyro_store::Roller::spawn(
            store.clone(),
            std::time::Duration::from_secs(args.rollup_interval_secs.max(1)),
        ) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: cannot start the rollup thread: {e}");
                return ExitCode::from(2);
            }
        };
        let writer = match pyro_store::Writer::spawn(
            store.clone(),
            4096,
            server::http::metrics::writer_hooks(),
        ) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("error: cannot start the storage writer: {e}");
                return ExitCode::from(2);
            }
        };
        if let Some(f) = &config.forward {
            f.spawn_delivery();
        }
        let app = server::http::router(store, writer, config);
        let shutdown = async {
            let ctrl_c = tokio::signal::ctrl_c();
            #[cfg(unix)]
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "no SIGTERM handler; stopping on SIGINT only");
                    let _ = ctrl_c.await;
                }
            }
            #[cfg(not(unix))]
            let _ = ctrl_c.await;
            tracing::info!("shutting down");
        };
        let conn = server::http::ConnLimits {
            header_timeout: std::time::Duration::from_secs(args.header_timeout_secs.max(1)),
            max_header_bytes: args.max_header_bytes,
            shutdown_grace: grace,
        };
        server::http::serve(listener, app, conn, shutdown).await;
        ExitCode::SUCCESS
    });
    // Parsing still running on blocking threads gets no more than the grace period either: the
    // process ends within it whatever is being parsed (nothing unacknowledged is lost; a write
    // is acknowledged only once committed).
    rt.shutdown_timeout(grace);
    code
}

fn adhoc(format: AdhocFormat, output_dir: &std::path::Path, command: &[String]) -> ExitCode {
    let defaults = match Cli::parse_from(["ingest-server", "serve"]).command {
        Some(Command::Serve(args)) => args,
        _ => unreachable!("`serve` parses to its arguments"),
    };
    let config = match config_from(&defaults, None) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let format = match format {
        AdhocFormat::Collapsed => server::adhoc::OutputFormat::Collapsed,
        AdhocFormat::Json => server::adhoc::OutputFormat::Json,
        AdhocFormat::Pprof => server::adhoc::OutputFormat::Pprof,
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(server::adhoc::run(command, output_dir, format, config)) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // No subcommand means `serve` with its defaults.
    let command =
        cli.command.unwrap_or_else(
            || match Cli::parse_from(["ingest-server", "serve"]).command {
                Some(c) => c,
                None => unreachable!("`serve` parses to a command"),
            },
        );
    match command {
        Command::Serve(args) => serve(args),
        Command::Adhoc {
            output_format,
            output_dir,
            command,
        } => adhoc(output_format, &output_dir, &command),
        Command::Convert {
            format,
            content_type,
            name,
            units,
            aggregation,
            sample_rate,
            spy_name,
            sample_type_config,
            prev,
            labels,
            max_line_len,
            output,
            series: pick,
            file,
        } => {
            let read = |path: &PathBuf| {
                read_input(path).map_err(|e| {
                    eprintln!("error: {}: {e}", path.display());
                    ExitCode::from(2)
                })
            };
            let body = match read(&file) {
                Ok(b) => b,
                Err(code) => return code,
            };
            let sample_type_config = match sample_type_config.as_ref().map(read).transpose() {
                Ok(c) => c,
                Err(code) => return code,
            };
            let prev_profile = match prev.as_ref().map(read).transpose() {
                Ok(c) => c,
                Err(code) => return code,
            };
            let jfr_labels = match labels.as_ref().map(read).transpose() {
                Ok(c) => c,
                Err(code) => return code,
            };
            let req = Request {
                name,
                format: format.map(|f| {
                    f.to_possible_value()
                        .map(|v| v.get_name().to_owned())
                        .unwrap_or_default()
                }),
                content_type,
                units,
                aggregation,
                sample_rate,
                spy_name,
                body: body.into(),
                sample_type_config: sample_type_config.map(Into::into),
                prev_profile: prev_profile.map(Into::into),
                jfr_labels: jfr_labels.map(Into::into),
                extra_labels: Vec::new(),
                cancel: None,
            };
            let limits = Limits::new().max_line_len(max_line_len);
            let series = match pyro_ingest::decode(&req, &limits) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let bytes = match output {
                OutputFormat::Folded => {
                    // Streamed: the text of a big profile is never held whole.
                    let mut out =
                        std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
                    return match output::write_folded(&series, &mut out).and_then(|()| out.flush())
                    {
                        Ok(()) => ExitCode::SUCCESS,
                        Err(e) => {
                            eprintln!("error: writing output: {e}");
                            ExitCode::FAILURE
                        }
                    };
                }
                OutputFormat::Json => output::json(&series).into_bytes(),
                OutputFormat::Svg | OutputFormat::Html => {
                    let one = match pick_one(&series, pick.as_deref()) {
                        Ok(s) => s,
                        Err(msg) => {
                            eprintln!("error: {msg}");
                            return ExitCode::from(2);
                        }
                    };
                    let meta = pyro_store::Meta::of("", one);
                    let title = one.name.to_string();
                    if matches!(output, OutputFormat::Svg) {
                        server::render::svg(&one.tree, &meta, &title)
                    } else {
                        server::ui::standalone(&server::render::json_of_tree(
                            &one.tree, &meta, &title,
                        ))
                        .into_bytes()
                    }
                }
            };
            if let Err(e) = std::io::stdout().lock().write_all(&bytes) {
                eprintln!("error: writing output: {e}");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
    }
}
