//! `folded/<input>`: our reader into a `StackTree` vs the naive `lines()/rsplit_once/HashMap`
//! reader, with memchr's raw newline count as the ceiling, all in one group and one run.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pyro_benches::{input_bytes, naive_folded as naive, repetitive_folded, shuffled_folded};
use pyro_folded::{Options, parse_folded, parse_lines};
use pyro_tree::StackTree;

fn bench(c: &mut Criterion) {
    let repetitive = repetitive_folded(input_bytes(), 2000);
    folded_group(c, "repetitive", &repetitive);
    let shuffled = shuffled_folded(input_bytes(), 2000);
    folded_group(c, "shuffled", &shuffled);
    lines_group(c, "repetitive", &repetitive);
    // Many distinct stacks (25k), each line drawn at random: the case where stacks are split
    // and interned most, and where a naive HashMap reader used to win.
    let distinct = shuffled_folded(input_bytes(), 25_000);
    folded_group(c, "many-distinct", &distinct);
    // Real Java stacks (async-profiler and JFR recordings, ~3.7 KB lines), from the shared
    // vectors; skipped with a note when they are absent.
    match pyro_benches::java_collapsed(input_bytes()) {
        Some(java) => {
            folded_group(c, "java-collapsed", &java);
            output_group(c, "java-collapsed", &java);
        }
        None => eprintln!("folded/java-collapsed skipped: ../shared/testdata/public is absent"),
    }
    output_group(c, "many-distinct", &distinct);
}

/// `output/<input>`: the tree read from `input` written back as folded text by
/// `StackTree::to_folded` (one walk, integer-ranked siblings) against the obvious writer (every
/// stack joined into its own `String`, the strings sorted, then written), with the read itself
/// as the yardstick for "writing costs no more than 30 % of a conversion".
fn output_group(c: &mut Criterion, name: &str, input: &[u8]) {
    let mut tree = StackTree::new();
    parse_folded(input, &Options::default(), &mut tree).unwrap();
    let expect = tree.to_folded();
    assert_eq!(expect, sort_whole_lines(&tree));
    let mut g = c.benchmark_group(format!("output/{name}"));
    g.throughput(Throughput::Bytes(expect.len() as u64));
    g.sample_size(10);
    g.bench_function("pyro-tree-to-folded", |b| {
        b.iter(|| {
            let s = black_box(&tree).to_folded();
            assert_eq!(s.len(), expect.len());
            s
        })
    });
    g.bench_function("pyro-tree-write-folded", |b| {
        b.iter(|| {
            let mut sink = std::io::sink();
            black_box(&tree).write_folded(&mut sink).unwrap();
        })
    });
    g.bench_function("sort-whole-lines", |b| {
        b.iter(|| {
            let s = sort_whole_lines(black_box(&tree));
            assert_eq!(s.len(), expect.len());
            s
        })
    });
    g.bench_function("read-only", |b| {
        b.iter(|| {
            let mut t = StackTree::new();
            parse_folded(black_box(input), &Options::default(), &mut t).unwrap();
            t
        })
    });
    g.finish();
}

/// The obvious folded writer: a `String` per stack, sorted bytewise, joined.
fn sort_whole_lines(tree: &StackTree<'_>) -> String {
    let mut lines: Vec<(String, u64)> = Vec::new();
    tree.for_each_stack(|frames, v| {
        let mut s = String::new();
        pyro_tree::join_stack(&mut s, frames);
        lines.push((s, v));
    });
    lines.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = String::new();
    for (s, v) in lines {
        out.push_str(&s);
        out.push(' ');
        out.push_str(&v.to_string());
        out.push('\n');
    }
    out
}

fn folded_group(c: &mut Criterion, name: &str, input: &[u8]) {
    // The answer every contender must agree on.
    let mut expect = StackTree::new();
    let summary = parse_folded(input, &Options::default(), &mut expect).unwrap();
    let naive_map = naive(input);
    let naive_total: u64 = naive_map.values().sum();
    let distinct = naive_map.len();
    assert_eq!(summary.total, naive_total);
    assert_eq!(summary.distinct_stacks, distinct as u64);
    let newlines = memchr::memchr_iter(b'\n', input).count() as u64;
    assert_eq!(newlines, summary.lines);

    let mut g = c.benchmark_group(format!("folded/{name}"));
    g.throughput(Throughput::Bytes(input.len() as u64));
    g.sample_size(10);
    g.bench_function("pyro-folded", |b| {
        b.iter(|| {
            let mut t = StackTree::new();
            let s = parse_folded(black_box(input), &Options::default(), &mut t).unwrap();
            assert_eq!(s.total, summary.total);
            t
        })
    });
    g.bench_function("naive-hashmap", |b| {
        b.iter(|| {
            let m = naive(black_box(input));
            assert_eq!(m.len(), distinct);
            m
        })
    });
    g.bench_function("memchr-newlines", |b| {
        b.iter(|| {
            let n = memchr::memchr_iter(b'\n', black_box(input)).count() as u64;
            assert_eq!(n, newlines);
            n
        })
    });
    g.finish();
}

fn lines_group(c: &mut Criterion, name: &str, input: &[u8]) {
    let mut g = c.benchmark_group(format!("lines/{name}"));
    g.throughput(Throughput::Bytes(input.len() as u64));
    g.sample_size(10);
    g.bench_function("pyro-folded-lines", |b| {
        b.iter(|| {
            let mut t = StackTree::new();
            let s = parse_lines(black_box(input), &Options::default(), &mut t).unwrap();
            assert_eq!(s.distinct_stacks, 2000);
            t
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
