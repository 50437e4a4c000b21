//! `ingest-server dead-letters`: the requests each forwarding queue could not deliver (refused
//! upstream, failing too often, or older than `--forward-max-age` when their turn came), listed,
//! and exported as the pprof files they carry with an `index.json` saying how to send each one
//! again (its labels, tenant, time and an `/ingest` query).

use std::io::Write;
use std::path::{Path, PathBuf};

use prost::Message;
use pyro_ingest::push::PushRequest;
use pyro_store::Store;
use pyro_store::queue::{self, DeadLetter};

/// Why dead letters could not be listed or exported.
#[derive(Debug)]
pub enum DeadLetterError {
    /// The store failed.
    Store(pyro_store::StoreError),
    /// A file could not be written.
    File {
        /// The path.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
}

impl std::fmt::Display for DeadLetterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeadLetterError::Store(e) => e.fmt(f),
            DeadLetterError::File { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for DeadLetterError {}

impl From<pyro_store::StoreError> for DeadLetterError {
    fn from(e: pyro_store::StoreError) -> Self {
        DeadLetterError::Store(e)
    }
}

/// One exported profile, as `index.json` lists it.
#[derive(Debug, serde::Serialize)]
struct Exported {
    file: String,
    queue: String,
    endpoint: String,
    seq: u64,
    tenant: String,
    queued_at: String,
    why: String,
    labels: std::collections::BTreeMap<String, String>,
    /// The query that sends the file again through `/ingest` (of Grafana Pyroscope or of this
    /// server) with the same service, labels and spy.
    ingest: String,
}

/// Writes a line per queue and per dead letter to `out`; with `export`, writes each dead
/// letter's profiles under `export/<queue>/` and `export/index.json`. Returns the number of
/// dead letters.
///
/// # Errors
/// A storage failure or a file that cannot be written.
pub fn report(
    store: &Store,
    export: Option<&Path>,
    out: &mut dyn Write,
) -> Result<usize, DeadLetterError> {
    let mut total = 0;
    let mut index = Vec::new();
    for q in queue::list(store)? {
        let letters = queue::dead_letters(store, &q.name)?;
        let endpoint = if q.label.is_empty() {
            "(no endpoint recorded)"
        } else {
            &q.label
        };
        let _ = writeln!(
            out,
            "queue {} {endpoint}: {} dead letters, {} requests queued",
            q.name,
            letters.len(),
            q.items
        );
        for d in &letters {
            let _ = writeln!(
                out,
                "  seq={} tenant={:?} queued_at={} bytes={} why={:?}",
                d.item.seq,
                d.item.tenant,
                crate::attime::rfc3339(d.item.queued_at),
                d.item.body.len(),
                d.why
            );
            if let Some(dir) = export {
                index.extend(export_one(dir, &q.name, &q.label, d)?);
            }
        }
        total += letters.len();
    }
    if let Some(dir) = export {
        let path = dir.join("index.json");
        let text = serde_json::to_string_pretty(&index).unwrap_or_default();
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&path, text + "\n"))
            .map_err(|source| DeadLetterError::File { path, source })?;
        let _ = writeln!(
            out,
            "exported {} profiles of {total} dead letters to {}",
            index.len(),
            dir.display()
        );
    }
    Ok(total)
}

/// The profiles of one dead letter, written to `dir/<queue>/<seq>-<series>-<sample>.pb[.gz]`.
fn export_one(
    dir: &Path,
    queue: &str,
    endpoint: &str,
    d: &DeadLetter,
) -> Result<Vec<Exported>, DeadLetterError> {
    let sub = dir.join(queue);
    std::fs::create_dir_all(&sub).map_err(|source| DeadLetterError::File {
        path: sub.clone(),
        source,
    })?;
    let Ok(req) = PushRequest::decode(&d.item.body[..]) else {
        // Not a push request (it never should be): kept whole.
        let file = format!("{}.bin", d.item.seq);
        let path = sub.join(&file);
        std::fs::write(&path, &d.item.body)
            .map_err(|source| DeadLetterError::File { path, source })?;
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for (s, series) in req.series.iter().enumerate() {
        let labels: std::collections::BTreeMap<String, String> = series
            .labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        for (k, sample) in series.samples.iter().enumerate() {
            let ext = if pyro_ingest::is_gzip(&sample.raw_profile) {
                "pb.gz"
            } else {
                "pb"
            };
            let file = format!("{}-{s}-{k}.{ext}", d.item.seq);
            let path = sub.join(&file);
            std::fs::write(&path, &sample.raw_profile)
                .map_err(|source| DeadLetterError::File { path, source })?;
            out.push(Exported {
                file: format!("{queue}/{file}"),
                queue: queue.to_owned(),
                endpoint: endpoint.to_owned(),
                seq: d.item.seq,
                tenant: d.item.tenant.clone(),
                queued_at: crate::attime::rfc3339(d.item.queued_at),
                why: d.why.clone(),
                ingest: ingest_query(&labels),
                labels: labels.clone(),
            });
        }
    }
    Ok(out)
}

/// `/ingest?name=<service>{labels}&format=pprof[&spyName=…]`: what sends a pprof of these
/// push labels again with the same service and labels (Grafana Pyroscope's `/ingest` derives
/// `__name__` from the profile).
fn ingest_query(labels: &std::collections::BTreeMap<String, String>) -> String {
    let service = labels
        .get("service_name")
        .map_or(pyro_ingest::push::UNKNOWN_SERVICE, String::as_str);
    let own: Vec<String> = labels
        .iter()
        .filter(|(k, _)| !k.starts_with("__") && *k != "service_name" && *k != "pyroscope_spy")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let name = if own.is_empty() {
        service.to_owned()
    } else {
        format!("{service}{{{}}}", own.join(","))
    };
    let mut q = format!("/ingest?name={}&format=pprof", encode(&name));
    if let Some(spy) = labels.get("pyroscope_spy") {
        q.push_str(&format!("&spyName={}", encode(spy)));
    }
    q
}

/// Percent-encoding of a query value (everything but unreserved characters).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
