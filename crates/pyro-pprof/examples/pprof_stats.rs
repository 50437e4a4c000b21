//! Prints the shape of pprof files (samples, distinct stacks, frames, label sets, tables):
//! `cargo run --release -p pyro-pprof --features model --example pprof_stats -- FILE...`.

use std::collections::HashSet;

use prost::Message;
use pyro_pprof::model::Profile;

fn main() {
    for path in std::env::args().skip(1) {
        let raw = std::fs::read(&path).unwrap();
        let data = pyro_pprof::decode(&raw, &pyro_pprof::Limits::default())
            .unwrap()
            .into_owned();
        let p = Profile::decode(data.as_slice()).unwrap();
        let mut distinct = HashSet::new();
        let mut stacks = HashSet::new();
        let mut label_sets = HashSet::new();
        let mut frames = 0usize;
        for s in &p.sample {
            frames += s.location_id.len();
            let labels: Vec<_> = s.label.iter().map(|l| (l.key, l.str)).collect();
            label_sets.insert(labels.clone());
            stacks.insert(s.location_id.clone());
            distinct.insert((labels, s.location_id.clone()));
        }
        println!(
            "{path}: {} bytes, {} samples, {} distinct stacks ({} with labels), {} frames, \
             {} sample types, {} label sets, {} locations, {} functions, {} strings",
            data.len(),
            p.sample.len(),
            stacks.len(),
            distinct.len(),
            frames,
            p.sample_type.len(),
            label_sets.len(),
            p.location.len(),
            p.function.len(),
            p.string_table.len()
        );
    }
}
