//! The `ingest-server` command line.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use pyro_ingest::output;
use pyro_ingest::{Limits, Request};
use pyro_ingest_server as server;

mod serve_args;
use serve_args::{ServeArgs, config_from};
use server::auth::Scope;

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
    about = "Pyroscope-compatible ingestion server and converter",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a subcommand: `serve` with these flags.
    #[command(flatten)]
    serve: ServeArgs,
}

/// `--format`: the names of the formats `pyro-ingest` reads.
fn input_format() -> impl clap::builder::TypedValueParser<Value = pyro_ingest::Format> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(pyro_ingest::Format::READABLE.map(|f| f.as_str()))
        .map(|name| pyro_ingest::Format::select(Some(&name), None))
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Folded,
    Json,
    /// One line per series: name, stacks, total, units.
    Summary,
    /// A flamegraph drawn by inferno (one series).
    Svg,
    /// The UI page preloaded with the flamegraph (one series, no server needed).
    Html,
}

#[derive(Subcommand)]
enum Command {
    /// Serve Pyroscope's ingestion API (the default with no subcommand).
    Serve(ServeArgs),
    /// List the forwarding queues' dead letters (requests the upstream refused, kept failing
    /// on, or that were older than --forward-max-age when their turn came) and export them as
    /// pprof files with an index.json saying how to send each one again. Run it while the
    /// server is stopped (the store is opened here).
    DeadLetters {
        /// The server's data directory.
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// Write each dead letter's profiles under this directory, with an index.json.
        #[arg(long)]
        export: Option<PathBuf>,
    },
    /// Run CMD with `PYROSCOPE_ADHOC_SERVER_ADDRESS` pointing at a server on 127.0.0.1 and a
    /// random port; when it exits, write one file per series it uploaded and exit with its code.
    Adhoc {
        /// Format of the files written.
        #[arg(long, value_enum, default_value = "collapsed")]
        output_format: server::adhoc::OutputFormat,
        /// Address to serve on, loopback only (default: 127.0.0.1 and a free port, given to
        /// the program in PYROSCOPE_ADHOC_SERVER_ADDRESS and PYROSCOPE_SERVER_ADDRESS).
        /// Agents that read neither (pyroscope-io 1.4) send to their configured address,
        /// by default 127.0.0.1:4040: `--listen 127.0.0.1:4040` captures them.
        #[arg(long)]
        listen: Option<String>,
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
        #[arg(long, value_parser = input_format())]
        format: Option<pyro_ingest::Format>,
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
        /// Output: folded text, JSON, a summary (a line per series), an SVG flamegraph or a
        /// standalone HTML flamegraph page.
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

/// `path` opened at its start with its length, when it is a file `req` reads as an uncompressed
/// JFR recording (what `--format` says, else what its first bytes look like): such a file is
/// read a chunk at a time rather than whole.
fn jfr_file(path: &PathBuf, req: &Request) -> std::io::Result<Option<(std::fs::File, u64)>> {
    use std::io::{Seek, SeekFrom};
    if path.as_os_str() == "-" {
        return Ok(None);
    }
    let mut f = std::fs::File::open(path)?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        // A pipe or device has no length to read up to.
        return Ok(None);
    }
    let len = meta.len();
    let mut head = Vec::with_capacity(64);
    (&mut f).take(64).read_to_end(&mut head)?;
    let format =
        pyro_ingest::Format::detect(req.format.as_deref(), req.content_type.as_deref(), &head);
    if format != pyro_ingest::Format::Jfr || pyro_ingest::is_gzip(&head) {
        return Ok(None);
    }
    f.seek(SeekFrom::Start(0))?;
    Ok(Some((f, len)))
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

fn dead_letters(data_dir: &std::path::Path, export: Option<&std::path::Path>) -> ExitCode {
    if !data_dir.join(pyro_store::FILE_NAME).exists() {
        eprintln!("error: no store in {}", data_dir.display());
        return ExitCode::from(2);
    }
    let store = match pyro_store::Store::open(data_dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "error: cannot open the store in {} (is the server still running?): {e}",
                data_dir.display()
            );
            return ExitCode::from(2);
        }
    };
    let mut out = std::io::stdout().lock();
    match server::forward::dead::report(&store, export, &mut out) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
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
    store.set_max_series_per_tenant(args.max_series_per_tenant);
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
            (Some(f), Scope::All) => format!("on ({}, ingest and read)", f.display()),
            (Some(f), Scope::Ingest) => format!("on ({}, ingest only)", f.display()),
            (Some(f), Scope::Read) => format!("on ({}, read only)", f.display()),
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
        let forward = if args.forward_to.is_empty() {
            "off".to_owned()
        } else {
            format!(
                "to {} ({}; {})",
                args.forward_to.join(", "),
                if args.forward_only {
                    "forward only, nothing stored here"
                } else {
                    "and stored here"
                },
                match args.forward_max_age {
                    0 => "no age limit".to_owned(),
                    s => format!("requests queued over {s} s dead-lettered unsent"),
                }
            )
        };
        tracing::info!(
            listen = %addr,
            data_dir = %args.data_dir.display(),
            auth,
            tenancy,
            retention,
            forward,
            "serving"
        );
        // Machine-readable line for scripts and tests that asked for port 0.
        println!("listening on {addr}");
        if args.retention > 0 {
            tokio::spawn(server::app::retention_task(
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
        let writer =
            match pyro_store::Writer::spawn(store.clone(), 4096, server::metrics::writer_hooks()) {
                Ok(w) => w,
                Err(e) => {
                    eprintln!("error: cannot start the storage writer: {e}");
                    return ExitCode::from(2);
                }
            };
        if let Some(f) = &config.forward {
            f.spawn_delivery();
        }
        let app = server::app::router(store, writer, config);
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
        let conn = server::app::ConnLimits {
            header_timeout: std::time::Duration::from_secs(args.header_timeout_secs.max(1)),
            max_header_bytes: args.max_header_bytes,
            shutdown_grace: grace,
            half_close: false,
        };
        server::app::serve(listener, app, conn, shutdown).await;
        ExitCode::SUCCESS
    });
    // Parsing still running on blocking threads gets no more than the grace period either: the
    // process ends within it whatever is being parsed (nothing unacknowledged is lost; a write
    // is acknowledged only once committed).
    rt.shutdown_timeout(grace);
    code
}

fn adhoc(
    format: server::adhoc::OutputFormat,
    output_dir: &std::path::Path,
    listen: Option<&str>,
    command: &[String],
) -> ExitCode {
    let defaults = match Cli::parse_from(["ingest-server", "serve"]).command {
        Some(Command::Serve(args)) => args,
        _ => unreachable!("`serve` parses to its arguments"),
    };
    let config = match config_from(&defaults, None) {
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
    match rt.block_on(server::adhoc::run(
        command, output_dir, format, config, listen,
    )) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // No subcommand means `serve`, with every `serve` flag given at the top level.
    let command = cli.command.unwrap_or(Command::Serve(cli.serve));
    match command {
        Command::Serve(args) => serve(args),
        Command::DeadLetters { data_dir, export } => dead_letters(&data_dir, export.as_deref()),
        Command::Adhoc {
            output_format,
            output_dir,
            listen,
            command,
        } => adhoc(output_format, &output_dir, listen.as_deref(), &command),
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
            let mut req = Request {
                name,
                format: format.map(|f| f.as_str().to_owned()),
                content_type,
                units,
                aggregation,
                sample_rate,
                spy_name,
                sample_type_config: sample_type_config.map(Into::into),
                prev_profile: prev_profile.map(Into::into),
                jfr_labels: jfr_labels.map(Into::into),
                extra_labels: Vec::new(),
                ..Request::default()
            };
            let limits = Limits::new().max_line_len(max_line_len);
            let decoded = match jfr_file(&file, &req) {
                Err(e) => {
                    eprintln!("error: {}: {e}", file.display());
                    return ExitCode::from(2);
                }
                // A JFR file, read a chunk at a time.
                Ok(Some((mut f, len))) => pyro_ingest::decode_jfr_read(&req, &mut f, len, &limits)
                    .map(|(series, _)| series),
                Ok(None) => {
                    req.body = match read(&file) {
                        Ok(b) => b.into(),
                        Err(code) => return code,
                    };
                    pyro_ingest::decode(&req, &limits)
                }
            };
            let series = match decoded {
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
                OutputFormat::Summary => output::summary(&series).into_bytes(),
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
