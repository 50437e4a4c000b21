//! Times a conversion: `cargo run --release -p pyro-jfr --example jfr_time -- FILE [iters]`.

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("FILE");
    let iters: usize = args.next().map_or(5, |s| s.parse().unwrap());
    let raw = std::fs::read(&path).unwrap();
    let data = pyro_jfr::decode(&raw, &pyro_jfr::Limits::default()).unwrap();
    let name = pyro_labels::SeriesName::parse("app").unwrap();
    let mut opts = pyro_jfr::Options::default();
    if let Ok(t) = std::env::var("JFR_THREADS") {
        opts.threads = t.parse().unwrap();
    }
    let mut times = Vec::new();
    let mut total = 0;
    for _ in 0..iters {
        let t = Instant::now();
        let s = pyro_jfr::to_series(&data, &name, None, &opts).unwrap();
        times.push(t.elapsed().as_secs_f64());
        total = s.iter().map(|s| s.tree.total()).sum::<u64>();
    }
    times.sort_by(f64::total_cmp);
    let (min, med) = (times[0], times[times.len() / 2]);
    println!(
        "min {:.2} ms ({:.0} MB/s), median {:.2} ms ({:.0} MB/s), total {total}",
        min * 1e3,
        data.len() as f64 / min / 1e6,
        med * 1e3,
        data.len() as f64 / med / 1e6,
    );
}
