//! `pprof/<input>`: decode + aggregate into series with pyro-pprof vs prost's `Profile::decode`
//! alone (no aggregation at all), on uncompressed bytes, and vs `read-every-field`, a naive
//! reader: a plain loop that frames every field, checks every string's UTF-8 and reads every
//! varint of the samples, locations and functions, and builds nothing (the least work a reader
//! that decodes every varint does; pyro-pprof skips re-reading repeated stacks and the ids a
//! stack shares with the one before, so it can beat it). For gzipped inputs, the whole
//! gunzip + decode + aggregate vs gunzip alone. Same group, same run.
//!
//! `PPROF_DUMP_SYNTHETIC=FILE` writes the synthetic input to `FILE` (to time or profile it
//! alone, e.g. with `pyro-pprof`'s `pprof_time` example).

use std::hint::black_box;
use std::io::Write;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use prost::Message;
use pyro_benches::{Rng, gunzip, input_bytes};
use pyro_labels::SeriesName;
use pyro_pprof::model::{Function, Label, Line, Location, Profile as PbProfile, Sample, ValueType};
use pyro_pprof::{Limits, Profile, decode, to_series};
use pyro_sampletype::SampleTypes;

fn public(path: &str) -> Option<Vec<u8>> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/testdata/public")
        .join(path);
    match std::fs::read(&p) {
        Ok(d) => Some(d),
        Err(_) => {
            eprintln!("note: {} not found; skipping that input", p.display());
            None
        }
    }
}

/// A large synthetic CPU profile shaped like a real one: 4000 functions in a call graph where
/// each calls 2–6 others, 20,000 distinct stacks that are random walks 10–60 deep from `main`
/// (so prefixes are shared, as in real programs), samples drawn from them with a skewed
/// distribution, two sample types (`samples`, `cpu`) and a `thread` label with 8 values; samples
/// are appended until the encoding reaches `target_bytes`.
fn synthetic(target_bytes: usize) -> Vec<u8> {
    let mut rng = Rng::new(7);
    let nfunc = 4000u64;
    let mut strings: Vec<String> = vec![
        "".into(),
        "samples".into(),
        "count".into(),
        "cpu".into(),
        "nanoseconds".into(),
        "thread".into(),
    ];
    for t in 0..8 {
        strings.push(format!("worker-{t}"));
    }
    let fbase = strings.len() as i64;
    for f in 0..nfunc {
        strings.push(format!(
            "github.com/example/service/pkg{}.(*Type{}).Method{}",
            f % 50,
            f % 97,
            f
        ));
    }
    let callees: Vec<Vec<u64>> = (0..=nfunc)
        .map(|_| {
            (0..2 + rng.below(5))
                .map(|_| 2 + rng.below(nfunc - 1))
                .collect()
        })
        .collect();
    let stacks: Vec<Vec<u64>> = (0..20_000)
        .map(|_| {
            let depth = 10 + rng.below(51);
            let mut f = 1u64;
            let mut leaf_first = vec![f];
            for _ in 1..depth {
                let c = &callees[f as usize];
                f = c[rng.below(c.len() as u64) as usize];
                leaf_first.push(f);
            }
            leaf_first.reverse();
            leaf_first
        })
        .collect();
    let mut p = PbProfile {
        sample_type: vec![
            ValueType { r#type: 1, unit: 2 },
            ValueType { r#type: 3, unit: 4 },
        ],
        period_type: Some(ValueType { r#type: 3, unit: 4 }),
        period: 10_000_000,
        function: (1..=nfunc)
            .map(|i| Function {
                id: i,
                name: fbase + i as i64 - 1,
                ..Default::default()
            })
            .collect(),
        location: (1..=nfunc)
            .map(|i| Location {
                id: i,
                address: 0x400000 + i * 16,
                line: vec![Line {
                    function_id: i,
                    line: 10,
                }],
                ..Default::default()
            })
            .collect(),
        string_table: strings,
        ..Default::default()
    };
    while p.encoded_len() < target_bytes {
        for _ in 0..1000 {
            // Skewed: a few hot stacks, a long tail.
            let r = rng.below(1 << 20);
            let idx = ((((r * r) >> 20) * stacks.len() as u64) >> 20) as usize;
            let n = 1 + rng.below(20) as i64;
            p.sample.push(Sample {
                location_id: stacks[idx].clone(),
                value: vec![n, n * 10_000_000],
                label: vec![Label {
                    key: 5,
                    str: 6 + rng.below(8) as i64,
                    ..Default::default()
                }],
            });
        }
    }
    p.encode_to_vec()
}

/// A varint at `buf[*i..]` (inputs here are well formed).
#[inline(always)]
fn varint(buf: &[u8], i: &mut usize) -> u64 {
    let mut v = 0;
    let mut shift = 0;
    loop {
        let b = buf[*i];
        *i += 1;
        v |= u64::from(b & 0x7f) << shift;
        shift += 7;
        if b < 0x80 {
            return v;
        }
    }
}

/// The naive reader: every top-level field framed, every string checked as UTF-8, every varint
/// of the samples, locations and functions read (one level of nesting, packed fields unpacked)
/// and summed so none is skipped. No ids resolved, nothing aggregated, nothing built.
fn read_every_field(buf: &[u8]) -> u64 {
    let mut sum = 0u64;
    let mut i = 0;
    while i < buf.len() {
        let key = varint(buf, &mut i);
        if key & 7 != 2 {
            sum = sum.wrapping_add(varint(buf, &mut i));
            continue;
        }
        let len = varint(buf, &mut i) as usize;
        let msg = &buf[i..i + len];
        i += len;
        match key >> 3 {
            6 => sum += std::str::from_utf8(msg).map_or(0, |s| s.len() as u64),
            2 | 4 | 5 => {
                let mut j = 0;
                while j < msg.len() {
                    if varint(msg, &mut j) & 7 == 2 {
                        let n = varint(msg, &mut j) as usize;
                        let inner = &msg[j..j + n];
                        j += n;
                        let mut k = 0;
                        while k < inner.len() {
                            sum = sum.wrapping_add(varint(inner, &mut k));
                        }
                    } else {
                        sum = sum.wrapping_add(varint(msg, &mut j));
                    }
                }
            }
            _ => {}
        }
    }
    sum
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn ours(raw: &[u8], types: &SampleTypes, name: &SeriesName) -> u64 {
    let limits = Limits::default();
    let buf = decode(raw, &limits).unwrap();
    let p = Profile::parse(&buf, &limits).unwrap();
    let s = to_series(&p, name, types, None, &limits).unwrap();
    s.iter().map(|s| s.tree.total()).sum()
}

fn bench_input(c: &mut Criterion, label: &str, data: &[u8]) {
    let types = SampleTypes::default();
    let name = SeriesName::parse("bench.app{env=prod}").unwrap();
    let gz = pyro_pprof::is_gzip(data);
    let raw = if gz { gunzip(data) } else { data.to_vec() };
    // Every contender must see the same profile: totals from prost equal ours.
    let pb = PbProfile::decode(raw.as_slice()).unwrap();
    let want: u64 = pb
        .sample
        .iter()
        .flat_map(|s| s.value.iter())
        .map(|&v| v as u64)
        .sum();
    let total = ours(&raw, &types, &name);
    assert_eq!(total, want, "{label}");

    let mut g = c.benchmark_group(format!("pprof/{label}"));
    g.throughput(Throughput::Bytes(raw.len() as u64));
    if raw.len() > 10 << 20 {
        g.sample_size(10);
    }
    g.bench_function("pyro-pprof", |b| {
        b.iter(|| {
            let t = ours(black_box(&raw), &types, &name);
            assert_eq!(t, total);
        })
    });
    g.bench_function("prost-decode-only", |b| {
        b.iter(|| {
            let p = PbProfile::decode(black_box(raw.as_slice())).unwrap();
            assert_eq!(p.sample.len(), pb.sample.len());
            p
        })
    });
    let floor = read_every_field(&raw);
    g.bench_function("read-every-field", |b| {
        b.iter(|| assert_eq!(read_every_field(black_box(&raw)), floor))
    });
    g.finish();

    let gz_data = if gz { data.to_vec() } else { gzip(&raw) };
    let mut g = c.benchmark_group(format!("pprof-gzip/{label}"));
    g.throughput(Throughput::Bytes(raw.len() as u64));
    if raw.len() > 10 << 20 {
        g.sample_size(10);
    }
    g.bench_function("pyro-pprof", |b| {
        b.iter(|| {
            let t = ours(black_box(&gz_data), &types, &name);
            assert_eq!(t, total);
        })
    });
    // The floor: the same inflater pyro-pprof uses (libdeflate, whole buffer, size from the
    // trailer), and flate2's streaming decoder for comparison.
    g.bench_function("gunzip-only", |b| {
        b.iter(|| {
            let data = black_box(&gz_data);
            let size = u32::from_le_bytes(data[data.len() - 4..].try_into().unwrap()) as usize;
            let mut out = vec![0u8; size];
            let n = libdeflater::Decompressor::new()
                .gzip_decompress(data, &mut out)
                .unwrap();
            assert_eq!(n, raw.len());
            out
        })
    });
    g.bench_function("gunzip-flate2", |b| {
        b.iter(|| {
            let out = gunzip(black_box(&gz_data));
            assert_eq!(out.len(), raw.len());
            out
        })
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    for (label, path) in [
        (
            "go-cpu",
            "pyroscope-v0.37.2/pkg/convert/testdata/cpu-big.pprof",
        ),
        (
            "go-heap",
            "pyroscope-v0.37.2/pkg/convert/pprof/testdata/heap.pb",
        ),
        (
            "node-wall",
            "pyroscope-v0.37.2/pkg/convert/pprof/testdata/nodejs-wall.pb.gz",
        ),
        (
            "dotnet",
            "pyroscope-main/pkg/og/convert/pprof/testdata/dotnet-pprof-3.pb.gz",
        ),
    ] {
        if let Some(data) = public(path) {
            bench_input(c, label, &data);
        }
    }
    // 32 MB under `cargo bench`, a tenth of the folded input size otherwise.
    let synthetic_bytes = (input_bytes() / 3).max(100_000);
    let synth = synthetic(synthetic_bytes);
    if let Some(path) = std::env::var_os("PPROF_DUMP_SYNTHETIC") {
        std::fs::write(path, &synth).unwrap();
    }
    bench_input(c, "synthetic", &synth);
}

criterion_group!(benches, bench);
criterion_main!(benches);
