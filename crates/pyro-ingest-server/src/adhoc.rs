//! Adhoc mode: serve `/ingest` and push on a random loopback port while a child program runs,
//! then write one file per series it uploaded (spec §8, Part 1 decision 8).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::app::{self as server, ConnLimits};
use crate::render;
use crate::state::Config;
use pyro_store::{ReadBudget, Store, Writer};

/// Output format of the files written after the child exits (`--output-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// `stack value` lines (OG's breadth-first collapsed text).
    Collapsed,
    /// The `/render` JSON.
    Json,
    /// pprof (protobuf).
    Pprof,
}

impl OutputFormat {
    fn ext(self) -> &'static str {
        match self {
            OutputFormat::Collapsed => "collapsed.txt",
            OutputFormat::Json => "json",
            OutputFormat::Pprof => "pprof",
        }
    }
}

/// Why adhoc could not run or write its files.
#[derive(Debug)]
pub enum AdhocError {
    /// No command was given.
    NoCommand,
    /// `--listen` is not an address.
    BadAddress {
        /// What was given.
        bind: String,
        /// Why it does not parse.
        source: std::net::AddrParseError,
    },
    /// `--listen` is not a loopback address.
    NotLoopback(String),
    /// The address cannot be bound.
    Bind {
        /// What was given.
        bind: String,
        /// The bind failure.
        source: std::io::Error,
    },
    /// A file or directory cannot be written.
    File {
        /// The path.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The temporary store failed.
    Store(pyro_store::StoreError),
    /// The index cannot be encoded.
    Json(serde_json::Error),
    /// The writer, the signal handlers or the wait for the child failed.
    Io(std::io::Error),
}

impl std::fmt::Display for AdhocError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdhocError::NoCommand => f.write_str("adhoc needs a command to run"),
            AdhocError::BadAddress { bind, source } => {
                write!(
                    f,
                    "--listen {bind}: {source} (expected e.g. 127.0.0.1:4040)"
                )
            }
            AdhocError::NotLoopback(bind) => write!(
                f,
                "--listen {bind}: adhoc serves on a loopback address only (127.0.0.1 or [::1])"
            ),
            AdhocError::Bind { bind, source } => write!(f, "--listen {bind}: {source}"),
            AdhocError::File { path, source } => write!(f, "{}: {source}", path.display()),
            AdhocError::Store(e) => e.fmt(f),
            AdhocError::Json(e) => e.fmt(f),
            AdhocError::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for AdhocError {}

impl From<pyro_store::StoreError> for AdhocError {
    fn from(e: pyro_store::StoreError) -> Self {
        AdhocError::Store(e)
    }
}

impl From<std::io::Error> for AdhocError {
    fn from(e: std::io::Error) -> Self {
        AdhocError::Io(e)
    }
}

fn file_error(path: &Path) -> impl FnOnce(std::io::Error) -> AdhocError + '_ {
    move |source| AdhocError::File {
        path: path.to_owned(),
        source,
    }
}

/// Longest part of a file name taken from the app name.
pub const MAX_STEM: usize = 64;

/// A short, safe file stem for a series: its app name (type included) with anything but
/// `[A-Za-z0-9._-]` replaced by `_` and cut to [`MAX_STEM`] bytes, then 8 hex digits of the
/// SHA-256 of its full name, so series differing only in labels get different files and no
/// label set can make a name too long for the file system.
pub fn file_stem(name: &pyro_labels::SeriesName) -> String {
    use sha2::{Digest, Sha256};
    let app: String = name
        .app()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(MAX_STEM)
        .collect();
    let digest = Sha256::digest(name.to_string().as_bytes());
    let hash: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{app}-{hash}")
}

/// One entry of `index.json`: a file and the full series it holds.
#[derive(serde::Serialize, serde::Deserialize)]
struct IndexEntry {
    file: String,
    series: String,
    app: String,
    labels: std::collections::BTreeMap<String, String>,
}

/// Writes one file per series in `store` to `dir`; returns the paths.
///
/// # Errors
/// A storage or file-system failure.
pub fn write_outputs(
    store: &Store,
    dir: &Path,
    format: OutputFormat,
    stamp: i64,
) -> Result<Vec<PathBuf>, AdhocError> {
    std::fs::create_dir_all(dir).map_err(file_error(dir))?;
    let mut out = Vec::new();
    let mut index = Vec::new();
    let ts = crate::attime::rfc3339(stamp)
        .replace([':', 'T'], "-")
        .replace('Z', "");
    let found = store.select("", pyro_store::Selection::All)?;
    let budget = ReadBudget::default();
    for f in found {
        let (st, et) = match store.time_range_of("", f.id)? {
            Some((a, b)) => (a, b + pyro_store::SLOT_SECONDS),
            None => (stamp, stamp),
        };
        let (tree, meta) = render::merged(store, "", &[&f], (st, et), &budget)?;
        let name = f.name.clone();
        let bytes = match format {
            OutputFormat::Collapsed => tree.to_collapsed_bfs().into_bytes(),
            OutputFormat::Pprof => render::pprof(&tree, &meta),
            OutputFormat::Json => {
                let tl = render::timeline(store, "", &[&f], (st, et), meta.typed().scale, &budget)?;
                let groups = std::collections::BTreeMap::from([("*".to_owned(), tl.clone())]);
                let text = name.to_string();
                render::json(
                    &tree,
                    &tl,
                    &groups,
                    &meta,
                    &render::Names {
                        app: name.app(),
                        query: &text,
                    },
                    (st, et),
                    Some(render::DEFAULT_MAX_NODES),
                )
                .into_bytes()
            }
        };
        let file = format!("{}-{ts}.{}", file_stem(&name), format.ext());
        let path = dir.join(&file);
        std::fs::write(&path, bytes).map_err(file_error(&path))?;
        index.push(IndexEntry {
            file,
            series: name.to_string(),
            app: name.app().to_owned(),
            labels: name.labels().clone(),
        });
        out.push(path);
    }
    if !index.is_empty() {
        // index.json names every file's full series; entries of earlier runs are kept.
        let path = dir.join("index.json");
        let mut all: Vec<IndexEntry> = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        all.retain(|e| !index.iter().any(|n| n.file == e.file));
        all.extend(index);
        let text = serde_json::to_string_pretty(&all).map_err(AdhocError::Json)?;
        std::fs::write(&path, text + "\n").map_err(file_error(&path))?;
    }
    Ok(out)
}

/// How long adhoc keeps serving after the child exited without any request arriving or in
/// flight: requests whose bytes were sent before the exit are read and stored (an agent sends its
/// last profile and exits at once), then the files are written.
pub const DRAIN_QUIET: std::time::Duration = std::time::Duration::from_millis(150);

/// The longest adhoc keeps serving after the child exited.
pub const DRAIN_MAX: std::time::Duration = std::time::Duration::from_secs(10);

/// Requests started and in flight, for the drain after the child's exit.
#[derive(Default)]
struct Activity {
    in_flight: std::sync::atomic::AtomicUsize,
    started: std::sync::atomic::AtomicU64,
}

/// Counts a request as in flight until its response is made (or it is dropped).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .in_flight
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Runs `command` with `PYROSCOPE_ADHOC_SERVER_ADDRESS` pointing at a server on `listen` (by
/// default 127.0.0.1 and a random port; a loopback address only), forwarding SIGINT and SIGTERM
/// to it; when it exits, keeps serving until no request arrived or ran for [`DRAIN_QUIET`]
/// (every request the child sent before exiting is stored, also when it did not wait for the
/// answer), writes the collected series to `output_dir` and returns the child's exit code (128 +
/// signal if it was killed).
///
/// # Errors
/// The address is not a loopback address or cannot be bound, the server or the child cannot be
/// started, or the outputs cannot be written.
pub async fn run(
    command: &[String],
    output_dir: &Path,
    format: OutputFormat,
    config: Config,
    listen: Option<&str>,
) -> Result<i32, AdhocError> {
    let (program, args) = command.split_first().ok_or(AdhocError::NoCommand)?;
    let bind = listen.unwrap_or("127.0.0.1:0");
    let loopback =
        bind.parse::<std::net::SocketAddr>()
            .map_err(|source| AdhocError::BadAddress {
                bind: bind.to_owned(),
                source,
            })?;
    if !loopback.ip().is_loopback() {
        return Err(AdhocError::NotLoopback(bind.to_owned()));
    }
    let data_dir = std::env::temp_dir().join(format!("pyro-adhoc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    // The temporary store goes away on every path out of here.
    let _cleanup = RemoveOnDrop(data_dir.clone());
    let store = Arc::new(Store::open(&data_dir)?);
    let writer = Writer::spawn(store.clone(), 1024, pyro_store::WriterHooks::default())?;
    let listener = tokio::net::TcpListener::bind(loopback)
        .await
        .map_err(|source| AdhocError::Bind {
            bind: bind.to_owned(),
            source,
        })?;
    let addr = listener.local_addr()?;
    let activity = Arc::new(Activity::default());
    let counted = activity.clone();
    let app = server::router(store.clone(), writer, config).layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let a = counted.clone();
            async move {
                a.in_flight
                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                a.started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _guard = InFlight(a);
                next.run(req).await
            }
        },
    ));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(server::serve(
        listener,
        app,
        ConnLimits {
            header_timeout: std::time::Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            shutdown_grace: std::time::Duration::from_secs(10),
            half_close: true,
        },
        async {
            let _ = stop_rx.await;
        },
    ));
    let url = format!("http://{addr}");
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args).env("PYROSCOPE_ADHOC_SERVER_ADDRESS", &url);
    // Agents that ignore the adhoc variable (pyroscope-io 1.x) read this one.
    if std::env::var_os("PYROSCOPE_SERVER_ADDRESS").is_none() {
        cmd.env("PYROSCOPE_SERVER_ADDRESS", &url);
    }
    let status = match cmd.spawn() {
        Ok(mut child) => wait_forwarding_signals(&mut child).await?,
        Err(e) => {
            // As a shell answers: 127 for a missing command, 126 for one it cannot run.
            eprintln!("{program}: {e}");
            if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            }
        }
    };
    drain(&activity).await;
    let _ = stop_tx.send(());
    let _ = server.await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    // Whatever happens to the outputs, the exit code is the child's.
    match write_outputs(&store, output_dir, format, now) {
        Ok(files) if files.is_empty() => eprintln!(
            "adhoc: no profiles arrived at {url} (the address given to the child in \
             PYROSCOPE_ADHOC_SERVER_ADDRESS and PYROSCOPE_SERVER_ADDRESS); nothing written"
        ),
        Ok(files) => {
            for f in &files {
                eprintln!("wrote {}", f.display());
            }
            eprintln!("wrote {}", output_dir.join("index.json").display());
        }
        Err(e) => eprintln!("adhoc: writing the outputs failed: {e}"),
    }
    Ok(status)
}

/// Waits until no request started or ran for [`DRAIN_QUIET`] (at most [`DRAIN_MAX`]), while the
/// server goes on accepting and reading.
async fn drain(activity: &Activity) {
    use std::sync::atomic::Ordering;
    let until = tokio::time::Instant::now() + DRAIN_MAX;
    let mut seen = activity.started.load(Ordering::SeqCst);
    let mut quiet_since = tokio::time::Instant::now();
    while tokio::time::Instant::now() < until {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let started = activity.started.load(Ordering::SeqCst);
        if started != seen || activity.in_flight.load(Ordering::SeqCst) > 0 {
            seen = started;
            quiet_since = tokio::time::Instant::now();
        } else if quiet_since.elapsed() >= DRAIN_QUIET {
            return;
        }
    }
}

/// Removes a directory when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(unix)]
async fn wait_forwarding_signals(child: &mut tokio::process::Child) -> std::io::Result<i32> {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    use std::os::unix::process::ExitStatusExt;
    use tokio::signal::unix::{SignalKind, signal};

    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    let pid = child.id().map(|p| Pid::from_raw(p as i32));
    loop {
        tokio::select! {
            status = child.wait() => {
                let status = status?;
                return Ok(status
                    .code()
                    .or_else(|| status.signal().map(|s| 128 + s))
                    .unwrap_or(1));
            }
            _ = int.recv() => {
                if let Some(pid) = pid {
                    let _ = kill(pid, Signal::SIGINT);
                }
            }
            _ = term.recv() => {
                if let Some(pid) = pid {
                    let _ = kill(pid, Signal::SIGTERM);
                }
            }
        }
    }
}

#[cfg(not(unix))]
async fn wait_forwarding_signals(child: &mut tokio::process::Child) -> std::io::Result<i32> {
    let status = child.wait().await?;
    Ok(status.code().unwrap_or(1))
}
