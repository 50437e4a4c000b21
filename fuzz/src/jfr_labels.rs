//! `jfr_labels`: arbitrary bytes as a LabelsSnapshot (gzipped or not) never panic; a snapshot
//! that decodes joins a fixed recording without losing or inventing samples, and every context's
//! labels land where the snapshot says.

use pyro_jfr::synth::Recording;
use pyro_jfr::{ErrorKind, LabelsSnapshot, Limits, Options, to_series};
use pyro_labels::SeriesName;

/// Runs one input.
pub fn run(data: &[u8]) {
    let limits = Limits::default().max_decompressed_size(1 << 20);
    let Ok(snap) = LabelsSnapshot::decode_body(data, &limits) else {
        return;
    };
    // Three samples in each of contexts 0..4.
    let mut rec = Recording::new();
    for ctx in 0..4 {
        for _ in 0..3 {
            rec = rec.execution_sample(&["A.main", "A.work"], "STATE_RUNNABLE", ctx);
        }
    }
    let jfr = rec.build();
    let name = SeriesName::parse("fuzz.app{env=f}").expect("valid name");
    let keep = Options {
        exclude_labels: Vec::new(),
        ..Options::default()
    };
    match to_series(&jfr, &name, Some(&snap), &keep) {
        Ok(series) => {
            let total: u64 = series.iter().map(|s| s.tree.total()).sum();
            assert_eq!(total, 12, "no sample lost or invented");
            for s in &series {
                assert!(s.name.app().starts_with("fuzz.app.cpu") || s.name.app() != "fuzz.app");
                assert_eq!(s.tree.total() % 3, 0, "contexts are not split");
            }
            // Context 1's labels, as the snapshot gives them (later keys overwrite).
            if let Some(c) = snap.contexts.get(&1) {
                let mut kv: Vec<_> = c.labels.iter().collect();
                kv.sort_unstable();
                for (k, v) in kv.into_iter().rev() {
                    let (Some(k), v) = (snap.strings.get(k), snap.strings.get(v)) else {
                        continue;
                    };
                    if k == "__name__" || k == "env" {
                        continue;
                    }
                    let v = v.map_or("", String::as_str);
                    assert!(
                        series.iter().any(|s| s.name.get(k).is_some()),
                        "label {k}={v} of context 1 missing"
                    );
                    break;
                }
            }
        }
        Err(e) => assert!(
            matches!(e.kind(), ErrorKind::InvalidLabel(_)),
            "unexpected error {e}"
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use prost::Message;
    use pyro_jfr::{Context, LabelsSnapshot};

    use crate::replay::{Rng, replay};

    fn make(rng: &mut Rng) -> Vec<u8> {
        let words = [
            "thread", "main", "env", "", "a.b", "bad key", "__name__", "x",
        ];
        let strings: HashMap<i64, String> = (0..rng.below(6) as i64)
            .map(|i| (i, words[rng.below(words.len() as u64) as usize].to_owned()))
            .collect();
        let contexts: HashMap<i64, Context> = (0..rng.below(5) as i64)
            .map(|c| {
                let labels = (0..rng.below(3))
                    .map(|_| (rng.below(7) as i64, rng.below(7) as i64))
                    .collect();
                (c, Context { labels })
            })
            .collect();
        let mut b = LabelsSnapshot { contexts, strings }.encode_to_vec();
        if !b.is_empty() && rng.below(4) == 0 {
            let i = rng.below(b.len() as u64) as usize;
            b[i] = rng.below(256) as u8;
        }
        b
    }

    #[test]
    fn replays() {
        replay("jfr_labels", &[], 2000, make, super::run);
    }
}
