//! `pprof_decode`: arbitrary bytes (gzipped or not) through decode, parse and conversion never
//! panic, stay within tight limits, and whatever converts has consistent totals.

use pyro_labels::SeriesName;
use pyro_pprof::{Limits, Profile, decode, to_series};
use pyro_sampletype::SampleTypes;

/// Runs one input.
pub fn run(data: &[u8]) {
    let name = SeriesName::parse("fuzz.app{env=f}").expect("valid name");
    for limits in [
        Limits::default().max_decompressed_size(1 << 20),
        Limits::new()
            .max_decompressed_size(4096)
            .max_stack_depth(4)
            .max_sample_types(2)
            .max_label_sets(2)
            .max_sample_labels(2),
    ] {
        let Ok(buf) = decode(data, &limits) else {
            continue;
        };
        let Ok(p) = Profile::parse(&buf, &limits) else {
            continue;
        };
        let Ok(series) = to_series(&p, &name, &SampleTypes::default(), None, &limits) else {
            continue;
        };
        for s in &series {
            assert!(!s.tree.overflowed());
            let sum: u64 = s.tree.folded_lines().iter().map(|(_, v)| v).sum();
            assert_eq!(sum, s.tree.total());
            assert!(s.name.app().starts_with("fuzz.app."));
        }
        // Span samples are a part of their series: each span's series exists, and every
        // span's stacks add up to no more than the series' own.
        if let Ok(spans) = pyro_pprof::to_span_trees(&p, &name, &SampleTypes::default(), &limits) {
            let mut per_series: std::collections::HashMap<&str, u64> =
                std::collections::HashMap::new();
            for sp in &spans {
                assert!(!sp.tree.overflowed());
                *per_series.entry(sp.series.as_str()).or_default() += sp.tree.total();
            }
            for (key, total) in per_series {
                let s = series
                    .iter()
                    .find(|s| s.name.key() == key)
                    .unwrap_or_else(|| panic!("span of a series not read: {key}"));
                assert!(
                    total <= s.tree.total(),
                    "{key}: {total} > {}",
                    s.tree.total()
                );
            }
        }
        // Diffing a profile against itself leaves nothing cumulative.
        let again = to_series(&p, &name, &SampleTypes::default(), Some(&p), &limits)
            .expect("converted once, converts again");
        for s in again.iter().filter(|s| s.cumulative) {
            assert_eq!(s.tree.total(), 0, "{}", s.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::replay::{Rng, replay};

    fn make(rng: &mut Rng) -> Vec<u8> {
        let mut p =
            crate::pprof_vs_prost::profile_from(&rng.bytes_from(&[0, 1, 2, 3, 7, 9, 200], 64));
        let mut bytes = prost::Message::encode_to_vec(&p);
        // Sometimes corrupt a byte or cut the tail.
        if !bytes.is_empty() && rng.below(3) == 0 {
            let i = rng.below(bytes.len() as u64) as usize;
            bytes[i] = rng.below(256) as u8;
        }
        if rng.below(4) == 0 {
            bytes.truncate(rng.below(bytes.len() as u64 + 1) as usize);
        }
        p.sample.clear();
        bytes
    }

    #[test]
    fn replays() {
        replay("pprof_decode", &["pprof"], 2000, make, super::run);
    }
}
