//! `jfr/<input>`: pyro-jfr's whole conversion (every profile type, stacks resolved, trees built;
//! chunks read on all cores, and again on one thread) vs the `jfrs` crate in its fair, stack-cached mode (ExecutionSamples only: state and stack
//! resolved once per pool key, folded stacks aggregated). Same group, same run; both totals are
//! asserted equal first.
//!
//! Inputs: `async-profiler` (sample-heavy, 199,661 ExecutionSamples in 3.3 MB; copies are
//! concatenated up to the input size, each a chunk) and `goland-multichunk` (12 MB, 6 chunks,
//! 92% constant pools: deep stacks re-serialized in every chunk), both from `../shared`; and
//! `jdk17-skip-heavy` (this repo's JDK 17 recording, 0.9 MB per chunk, where 90% of the events
//! are of types the conversion skips; concatenated likewise).

use std::collections::HashMap;
use std::hint::black_box;
use std::io::Cursor;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use jfrs::reader::JfrReader;
use jfrs::reader::value_descriptor::ValueDescriptor;
use pyro_benches::{gunzip, input_bytes};
use pyro_jfr::{Options, ProfileType, to_series};
use pyro_labels::SeriesName;

fn load(path: PathBuf) -> Option<Vec<u8>> {
    match std::fs::read(&path) {
        Ok(d) if d.starts_with(&[0x1f, 0x8b]) => Some(gunzip(&d)),
        Ok(d) => Some(d),
        Err(_) => {
            eprintln!("note: {} not found; skipping that input", path.display());
            None
        }
    }
}

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/testdata/public")
        .join(rel)
}

/// Copies of a recording back to back until `bytes` (at least one).
fn repeat_to(one: &[u8], bytes: usize) -> Vec<u8> {
    let n = bytes.div_ceil(one.len()).max(1);
    one.repeat(n)
}

/// Our CPU samples (cpu and itimer series, all label sets).
fn ours(data: &[u8], name: &SeriesName, opts: &Options) -> u64 {
    to_series(data, name, None, opts)
        .unwrap()
        .iter()
        .filter(|s| matches!(s.profile, ProfileType::Cpu | ProfileType::Itimer))
        .map(|s| s.tree.total())
        .sum()
}

fn cp_index(v: &ValueDescriptor) -> Option<i64> {
    match v {
        ValueDescriptor::ConstantPool { constant_index, .. } => Some(*constant_index),
        _ => None,
    }
}

/// jfrs, stack-cached: non-sleeping ExecutionSamples folded into `class.method` stacks.
fn jfrs_cached(data: &[u8]) -> (u64, usize) {
    let mut reader = JfrReader::new(Cursor::new(data));
    let mut folded: HashMap<String, u64> = HashMap::new();
    let mut total = 0;
    for chunk in reader.chunks() {
        let (mut cr, chunk) = chunk.unwrap();
        let mut stacks: HashMap<i64, Option<String>> = HashMap::new();
        let mut running: HashMap<i64, bool> = HashMap::new();
        for e in cr.events(&chunk) {
            let e = e.unwrap();
            if e.class.name() != "jdk.ExecutionSample" {
                continue;
            }
            let v = e.value();
            let Some(state) = v.get_field_raw("state").and_then(|s| cp_index(s.value)) else {
                continue;
            };
            let run = *running.entry(state).or_insert_with(|| {
                v.get_field("state")
                    .and_then(|s| s.get_field("name"))
                    .and_then(|n| <&str>::try_from(n.value).ok())
                    .is_some_and(|n| n != "STATE_SLEEPING")
            });
            if !run {
                continue;
            }
            let Some(key) = v
                .get_field_raw("stackTrace")
                .and_then(|s| cp_index(s.value))
            else {
                continue;
            };
            let stack = stacks.entry(key).or_insert_with(|| {
                let frames = v.get_field("stackTrace")?.get_field("frames")?.as_iter()?;
                let mut names: Vec<String> = frames
                    .filter_map(|f| {
                        let m = f.get_field("method")?;
                        let class = m
                            .get_field("type")?
                            .get_field("name")?
                            .get_field("string")?;
                        let name = m.get_field("name")?.get_field("string")?;
                        Some(format!(
                            "{}.{}",
                            <&str>::try_from(class.value).ok()?,
                            <&str>::try_from(name.value).ok()?
                        ))
                    })
                    .collect();
                names.reverse();
                Some(names.join(";"))
            });
            if let Some(s) = stack {
                *folded.entry(s.clone()).or_default() += 1;
                total += 1;
            }
        }
    }
    (total, folded.len())
}

fn bench_input(c: &mut Criterion, label: &str, data: &[u8]) {
    let name = SeriesName::parse("bench.app{env=prod}").unwrap();
    let opts = Options::parallel(0);
    let total = ours(data, &name, &opts);
    let (peer_total, _) = jfrs_cached(data);
    assert_eq!(total, peer_total, "{label}: CPU samples differ");

    let mut g = c.benchmark_group(format!("jfr/{label}"));
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);
    g.bench_function("pyro-jfr", |b| {
        b.iter(|| assert_eq!(ours(black_box(data), &name, &opts), total))
    });
    // The same on the calling thread only (the default; above, chunks are read on all cores).
    let one = Options {
        threads: 1,
        ..Options::default()
    };
    g.bench_function("pyro-jfr-1-thread", |b| {
        b.iter(|| assert_eq!(ours(black_box(data), &name, &one), total))
    });
    g.bench_function("jfrs-stack-cached", |b| {
        b.iter(|| assert_eq!(jfrs_cached(black_box(data)).0, total))
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let size = input_bytes();
    if let Some(one) = load(shared("jfr-parser/async-profiler.jfr.gz")) {
        bench_input(c, "async-profiler", &repeat_to(&one, size));
    }
    if let Some(data) = load(shared("jfr-parser/goland-multichunk.jfr.gz")) {
        bench_input(c, "goland-multichunk", &data);
    }
    let repo =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/jfr/jdk17-skip-heavy.jfr.gz");
    let one = load(repo).expect("testdata/jfr/jdk17-skip-heavy.jfr.gz");
    bench_input(c, "jdk17-skip-heavy", &repeat_to(&one, size));
}

criterion_group!(jfr, benches);
criterion_main!(jfr);
