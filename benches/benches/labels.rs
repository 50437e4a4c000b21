//! `labels/<input>`: parsing a typical agent series name and a 64-member baggage header, each
//! beside the obvious `split`-based reading as the peer.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pyro_labels::{Baggage, SeriesName, k6_labels};

/// The obvious name reader: split at `{`, then `,` and `=` (no validation, no OG quirks).
fn naive_name(s: &str) -> (String, BTreeMap<String, String>) {
    let (app, rest) = s.split_once('{').unwrap_or((s, ""));
    let labels = rest
        .trim_end_matches('}')
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    (app.trim().to_owned(), labels)
}

/// The obvious baggage reader: split at `,`, `;` and the first `=` (no validation or decoding).
fn naive_baggage(s: &str) -> Vec<(String, String)> {
    s.split(',')
        .filter_map(|m| m.split(';').next()?.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

fn bench(c: &mut Criterion) {
    let name = "node.app.cpu{otel.scope.name=@pyroscope/nodejs,env=production,region=eu-west-1,\
                hostname=ip-10-0-12-34.ec2.internal,version=1.42.0,pod=api-7d9f8b6c5-x2k4q}";
    let parsed = SeriesName::parse(name).unwrap();
    assert_eq!(parsed.labels().len(), 6);
    assert_eq!(naive_name(name).1.len(), 6);

    let mut g = c.benchmark_group("labels/agent-name");
    g.throughput(Throughput::Bytes(name.len() as u64));
    g.bench_function("pyro-labels", |b| {
        b.iter(|| {
            let n = SeriesName::parse(black_box(name)).unwrap();
            assert_eq!(n.labels().len(), 6);
            n
        })
    });
    g.bench_function("pyro-labels-normalized", |b| {
        b.iter(|| SeriesName::parse(black_box(name)).unwrap().to_string())
    });
    g.bench_function("naive-split", |b| b.iter(|| naive_name(black_box(name))));
    g.finish();

    let mut members: Vec<String> = (0..61)
        .map(|i| format!("member{i}=value%20{i};prop{i}"))
        .collect();
    members.push("k6.test_run_id=123456".into());
    members.push("k6.scenario=default".into());
    members.push("k6.name=https%3A%2F%2Ftest.k6.io%2Fapi%2Fv1%2Fcrocodiles%2F".into());
    let header = members.join(",");
    assert_eq!(Baggage::parse([header.as_str()]).members.len(), 64);
    assert_eq!(naive_baggage(&header).len(), 64);

    let mut g = c.benchmark_group("labels/baggage-64");
    g.throughput(Throughput::Bytes(header.len() as u64));
    g.bench_function("pyro-labels-baggage", |b| {
        b.iter(|| {
            let p = Baggage::parse([black_box(header.as_str())]);
            assert_eq!(p.members.len(), 64);
            p
        })
    });
    g.bench_function("pyro-labels-k6", |b| {
        b.iter(|| {
            let l = k6_labels([black_box(header.as_str())]);
            assert_eq!(l.len(), 3);
            l
        })
    });
    g.bench_function("naive-split", |b| {
        b.iter(|| naive_baggage(black_box(&header)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
