//! Times a conversion: `cargo run --release -p pyro-pprof --example pprof_time -- FILE [iters]`.

use std::time::Instant;

use pyro_pprof::{Limits, Profile, decode, to_series};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("FILE");
    let iters: usize = args.next().map_or(50, |s| s.parse().unwrap());
    let raw = std::fs::read(&path).unwrap();
    let limits = Limits::default();
    let data = decode(&raw, &limits).unwrap().into_owned();
    let name = pyro_labels::SeriesName::parse("app").unwrap();
    let types = pyro_sampletype::SampleTypes::default();
    let p = Profile::parse(&data, &limits).unwrap();
    let s = to_series(&p, &name, &types, None, &limits).unwrap();
    let nodes: usize = s.iter().map(|s| s.tree.node_count()).sum();
    println!("{} series, {nodes} tree nodes", s.len());
    drop(s);
    let mut times = Vec::new();
    for _ in 0..iters {
        let t = Instant::now();
        let p = Profile::parse(&data, &limits).unwrap();
        let s = to_series(&p, &name, &types, None, &limits).unwrap();
        std::hint::black_box(s);
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{} bytes: min {:.3} ms, median {:.3} ms",
        data.len(),
        times[0] * 1e3,
        times[times.len() / 2] * 1e3
    );
}
