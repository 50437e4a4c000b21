//! A recording made with this machine's JDK (`testdata/jfr/make.sh`), checked against the
//! JDK's own reader (`jfr print --json`, turned into `testdata/jfr/results/*.txt`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pyro_jfr::{Converter, Options, Series, chunks, to_series};
use pyro_labels::SeriesName;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/jfr")
}

fn by_suffix(series: &[Series]) -> BTreeMap<&'static str, BTreeMap<String, u64>> {
    let mut out: BTreeMap<&'static str, BTreeMap<String, u64>> = BTreeMap::new();
    for s in series {
        let m = out.entry(s.profile.suffix()).or_default();
        for (stack, v) in s.tree.folded_lines() {
            *m.entry(stack).or_default() += v;
        }
    }
    out
}

fn expected(times: u64) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(testdata().join("results")).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        let Some(suffix) = name
            .strip_prefix("jdk17-workload.jfr.")
            .and_then(|s| s.strip_suffix(".txt"))
        else {
            continue;
        };
        let text = std::fs::read_to_string(testdata().join("results").join(&name)).unwrap();
        let stacks: BTreeMap<String, u64> = text
            .lines()
            .map(|l| {
                let (s, v) = l.rsplit_once(' ').unwrap();
                (s.to_owned(), v.parse::<u64>().unwrap() * times)
            })
            .collect();
        out.insert(suffix.to_owned(), stacks);
    }
    out
}

fn check(series: &[Series], times: u64) {
    let ours = by_suffix(series);
    let want = expected(times);
    assert_eq!(want.len(), 9, "result files");
    assert_eq!(
        ours.keys().map(|k| k.to_string()).collect::<Vec<_>>(),
        want.keys().cloned().collect::<Vec<_>>()
    );
    for (suffix, stacks) in &want {
        let got = &ours[suffix.as_str()];
        if suffix == "lock_duration" {
            // The JDK converts each event's ticks; we convert each stack's sum (rounding may
            // differ by less than 1 ns per event).
            let counts = &want["lock_count"];
            assert_eq!(
                got.keys().collect::<Vec<_>>(),
                stacks.keys().collect::<Vec<_>>()
            );
            for (k, v) in stacks {
                assert!(got[k].abs_diff(*v) <= counts[k], "{k}: {} vs {v}", got[k]);
            }
        } else {
            assert_eq!(got, stacks, "{suffix}");
        }
    }
}

#[test]
fn jdk17_recording_matches_jfr_print() {
    let data = std::fs::read(testdata().join("jdk17-workload.jfr")).unwrap();
    let request = SeriesName::parse("app").unwrap();
    let series = to_series(&data, &request, None, &Options::default()).unwrap();
    check(&series, 1);
    // All series of a JDK recording carry the request's labels only.
    assert!(series.iter().all(|s| s.name.labels().is_empty()));
}

#[test]
fn concatenated_chunks_whole_or_fed_one_by_one() {
    let one = std::fs::read(testdata().join("jdk17-workload.jfr")).unwrap();
    let data = [one.as_slice(), one.as_slice(), one.as_slice()].concat();
    assert_eq!(chunks(&data).count(), 3);
    let request = SeriesName::parse("app").unwrap();
    let whole = to_series(&data, &request, None, &Options::default()).unwrap();
    check(&whole, 3);
    let mut c = Converter::new(request.clone(), None, Options::default());
    for chunk in chunks(&data) {
        c.feed(chunk.unwrap().data).unwrap();
    }
    let fed = c.finish();
    assert_eq!(whole.len(), fed.len());
    for (a, b) in whole.iter().zip(&fed) {
        assert_eq!(a.name, b.name);
        assert_eq!(a.tree.to_folded(), b.tree.to_folded());
    }
}

#[test]
fn truncated_recording_names_the_offset() {
    let data = std::fs::read(testdata().join("jdk17-workload.jfr")).unwrap();
    let request = SeriesName::parse("app").unwrap();
    let cut = &data[..data.len() - 1];
    let e = to_series(cut, &request, None, &Options::default()).unwrap_err();
    assert_eq!(e.kind(), &pyro_jfr::ErrorKind::Truncated);
    assert_eq!(e.offset(), cut.len());
    assert_eq!(e.context(), "chunk");
    // A second chunk cut short: the offset is absolute.
    let two = [data.as_slice(), &data[..100]].concat();
    let e = to_series(&two, &request, None, &Options::default()).unwrap_err();
    assert_eq!(e.offset(), two.len());
}
