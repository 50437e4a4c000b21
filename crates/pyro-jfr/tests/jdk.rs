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

fn expected(rec: &str, times: u64) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(testdata().join("results")).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        let Some(suffix) = name
            .strip_prefix(rec)
            .and_then(|s| s.strip_prefix(".jfr."))
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

fn check(series: &[Series], rec: &str, files: usize, times: u64) {
    let ours = by_suffix(series);
    let want = expected(rec, times);
    assert_eq!(want.len(), files, "result files");
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
    check(&series, "jdk17-workload", 9, 1);
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
    check(&whole, "jdk17-workload", 9, 3);
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

#[test]
fn skip_heavy_jdk17_recording_matches_jfr_print() {
    let gz = std::fs::read(testdata().join("jdk17-skip-heavy.jfr.gz")).unwrap();
    let data = pyro_jfr::decode(&gz, &pyro_jfr::Limits::default()).unwrap();
    let request = SeriesName::parse("app").unwrap();
    let series = to_series(&data, &request, None, &Options::default()).unwrap();
    check(&series, "jdk17-skip-heavy", 5, 1);
}

#[test]
fn threads_do_not_change_results_or_errors() {
    let one = std::fs::read(testdata().join("jdk17-workload.jfr")).unwrap();
    let data = one.repeat(5);
    let request = SeriesName::parse("app").unwrap();
    let run = |data: &[u8], threads: usize| {
        let opts = Options {
            threads,
            parallel_min_bytes: 0,
            ..Options::default()
        };
        to_series(data, &request, None, &opts)
    };
    let fold = |s: Vec<Series>| -> Vec<(String, String)> {
        s.into_iter()
            .map(|s| (s.name.to_string(), s.tree.to_folded()))
            .collect()
    };
    let base = fold(run(&data, 1).unwrap());
    check(&run(&data, 1).unwrap(), "jdk17-workload", 9, 5);
    for threads in [2, 3, 8] {
        assert_eq!(
            fold(run(&data, threads).unwrap()),
            base,
            "{threads} threads"
        );
    }
    // A corrupt fourth chunk: the same first error whatever the threads.
    let mut bad = data.clone();
    let at = 3 * one.len() + 20_000;
    bad[at] = 0xff;
    bad[at + 1] = 0xff;
    let want = run(&bad, 1).unwrap_err();
    assert!(want.offset() >= 3 * one.len(), "{want}");
    for threads in [2, 3] {
        let e = run(&bad, threads).unwrap_err();
        assert_eq!(
            (e.kind(), e.offset()),
            (want.kind(), want.offset()),
            "{threads} threads"
        );
    }
}

/// `read_into` gives, per profile type, the stacks of every series of that type merged, on the
/// JDK recordings in the repository (multi-chunk included) and on the public async-profiler ones.
#[test]
fn read_into_equals_merged_series() {
    use pyro_jfr::{ProfileType, read_into};
    let mut files = vec![
        std::fs::read(testdata().join("jdk17-workload.jfr")).unwrap(),
        pyro_jfr::decode(
            &std::fs::read(testdata().join("jdk17-skip-heavy.jfr.gz")).unwrap(),
            &Default::default(),
        )
        .unwrap()
        .into_owned(),
    ];
    let shared = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/testdata/public/jfrs"
    );
    for f in [
        "profiler-multichunk.jfr",
        "profiler-lock.jfr",
        "profiler-alloc.jfr",
    ] {
        match std::fs::read(format!("{shared}/{f}")) {
            Ok(b) => files.push(b),
            Err(_) => eprintln!("note: {shared}/{f} not found; skipping it"),
        }
    }
    let request = SeriesName::parse("app").unwrap();
    let opts = Options::default();
    let mut checked = 0;
    for data in &files {
        let series = to_series(data, &request, None, &opts).unwrap();
        let types: std::collections::BTreeSet<ProfileType> =
            series.iter().map(|s| s.profile).collect();
        for t in types {
            let mut want = pyro_tree::StackTree::new();
            for s in series.iter().filter(|s| s.profile == t) {
                want.merge(&s.tree);
            }
            let mut got = pyro_tree::StackTree::new();
            read_into(data, t, &opts, &mut got).unwrap();
            assert_eq!(got.to_folded(), want.to_folded(), "{t:?}");
            assert_eq!(got.total(), want.total());
            checked += 1;
        }
    }
    assert!(checked >= 4, "{checked}");
    assert!(
        read_into(
            b"FLR\0",
            ProfileType::Cpu,
            &opts,
            &mut pyro_tree::StackTree::new()
        )
        .is_err()
    );
}
