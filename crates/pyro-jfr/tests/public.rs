//! Golden tests over the public vectors in `../shared/testdata/public/`: grafana/jfr-parser's
//! expected collapsed stacks per profile type, and OG Pyroscope's end-to-end JFR cases.
//!
//! Mapping from jfr-parser's pprof output to our series (documented in the crate docs):
//! line numbers are dropped (`Class.method:12` → `Class.method`) and equal stacks merged; all
//! label sets are merged (the collapsed files ignore labels); `process_cpu` values are
//! samples × 1e7 ns (sampleRate 100) and equal our `cpu`/`itimer` counts × 1e7, `wall` likewise;
//! two-valued types `[count bytes]` are our `*_objects` and `*_bytes` series; `mutex` and
//! `block` together are our `lock_count`, and their delay (raw ticks in jfr-parser) converted
//! with the chunk's ticks per second is our `lock_duration`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pyro_jfr::{LabelsSnapshot, Options, ProfileType, Series, chunks, to_series};
use pyro_labels::SeriesName;

fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/public");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("note: ../shared/testdata/public not found; skipping public JFR vectors");
        None
    }
}

/// A file's bytes, gunzipped if gzip (the crate's own sniffing `decode`).
fn gunzip(path: &Path) -> Vec<u8> {
    let raw = std::fs::read(path).unwrap();
    pyro_jfr::decode(&raw, &Default::default())
        .unwrap()
        .into_owned()
}

type Stacks = BTreeMap<String, u64>;

/// Our series merged over label sets, per profile type.
fn by_type(series: &[Series]) -> BTreeMap<ProfileType, Stacks> {
    let mut out: BTreeMap<ProfileType, Stacks> = BTreeMap::new();
    for s in series {
        let m = out.entry(s.profile).or_default();
        for (stack, v) in s.tree.folded_lines() {
            *m.entry(stack).or_default() += v;
        }
    }
    out
}

/// An expected collapsed file: stack (lines dropped) → values.
fn expected(path: &Path) -> BTreeMap<String, Vec<u64>> {
    let text = String::from_utf8(gunzip(path)).unwrap();
    let mut out: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let (stack, vals) = line.rsplit_once(" [").unwrap();
        let vals: Vec<u64> = vals
            .trim_end_matches(']')
            .split(' ')
            .map(|v| v.parse().unwrap())
            .collect();
        let stack: Vec<&str> = stack
            .split(';')
            .map(|f| f.rsplit_once(':').map_or(f, |(n, _)| n))
            .collect();
        let e = out
            .entry(stack.join(";"))
            .or_insert_with(|| vec![0; vals.len()]);
        for (a, b) in e.iter_mut().zip(vals) {
            *a += b;
        }
    }
    out
}

fn column(m: &BTreeMap<String, Vec<u64>>, i: usize, div: u64) -> Stacks {
    m.iter()
        .filter(|(_, v)| v[i] != 0)
        .map(|(k, v)| {
            assert_eq!(v[i] % div, 0, "{k}: {} not a multiple of {div}", v[i]);
            (k.clone(), v[i] / div)
        })
        .collect()
}

fn add(into: &mut Stacks, from: &Stacks) {
    for (k, v) in from {
        *into.entry(k.clone()).or_default() += v;
    }
}

fn assert_stacks(file: &str, what: &str, ours: &Stacks, want: &Stacks) {
    if ours == want {
        return;
    }
    let mut shown = 0;
    for (k, v) in want {
        if ours.get(k) != Some(v) && shown < 5 {
            eprintln!("want {v} got {:?}: {k}", ours.get(k));
            shown += 1;
        }
    }
    for (k, v) in ours {
        if !want.contains_key(k) && shown < 10 {
            eprintln!("unexpected {v}: {k}");
            shown += 1;
        }
    }
    panic!(
        "{file} {what}: {} stacks (total {}) vs expected {} (total {})",
        ours.len(),
        ours.values().sum::<u64>(),
        want.len(),
        want.values().sum::<u64>()
    );
}

#[test]
#[cfg_attr(
    not(shared_vectors),
    ignore = "needs ../shared/testdata/public beside the checkout"
)]
fn jfr_parser_expected_collapsed() {
    let Some(root) = shared() else { return };
    let dir = root.join("jfr-parser");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().into_string().unwrap();
            n.strip_suffix(".jfr.gz").map(str::to_owned)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 19, "{names:?}");
    let mut checked = 0;
    for name in &names {
        let data = gunzip(&dir.join(format!("{name}.jfr.gz")));
        let labels = ["labels.pb.gz", "labels.gz"]
            .iter()
            .map(|s| dir.join(format!("{name}.{s}")))
            .find(|p| p.exists())
            .map(|p| LabelsSnapshot::decode_body(&gunzip(&p), &Default::default()).unwrap());
        let request = SeriesName::parse("test.app").unwrap();
        // Lock events split as well, as jfr-parser's `mutex` and `block` builders make them.
        let opts = Options {
            split_locks: true,
            ..Options::default()
        };
        let series = to_series(&data, &request, labels.as_ref(), &opts)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let ours = by_type(&series);
        let get = |t: ProfileType| ours.get(&t).cloned().unwrap_or_default();
        let tps = chunks(&data)
            .next()
            .unwrap()
            .unwrap()
            .header
            .ticks_per_second;
        // Expected files of this recording, grouped by profile type; the snapshot holds several
        // generations of some files (different index prefixes), each must match.
        let prefix = format!("{name}_");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|f| {
                f.strip_prefix(&prefix)
                    .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
                    && f.ends_with("_expected_collapsed.txt.gz")
                    && !f.contains("with_truncated_frame")
            })
            .collect();
        files.sort();
        let mut lock_count = Stacks::new();
        let mut lock_ticks: BTreeMap<String, u64> = BTreeMap::new();
        let mut saw_lock = false;
        for f in &files {
            let rest = &f[prefix.len()..];
            // Skip the index: `<i>_<type>`.
            let ty = rest.split_once('_').unwrap().1;
            let want = expected(&dir.join(f));
            let cpu = {
                let mut c = get(ProfileType::Cpu);
                add(&mut c, &get(ProfileType::Itimer));
                c
            };
            if ty.starts_with("process_cpu") {
                assert_stacks(name, "cpu", &cpu, &column(&want, 0, 10_000_000));
            } else if ty.starts_with("wall_wall") {
                assert_stacks(
                    name,
                    "wall",
                    &get(ProfileType::Wall),
                    &column(&want, 0, 10_000_000),
                );
            } else if ty.starts_with("memory_live") {
                assert_stacks(name, "live", &get(ProfileType::Live), &column(&want, 0, 1));
            } else if ty.starts_with("mutex") || ty.starts_with("block") {
                saw_lock = true;
                add(&mut lock_count, &column(&want, 0, 1));
                add(&mut lock_ticks, &column(&want, 1, 1));
                let (count, duration) = if ty.starts_with("mutex") {
                    (ProfileType::MutexCount, ProfileType::MutexDuration)
                } else {
                    (ProfileType::BlockCount, ProfileType::BlockDuration)
                };
                assert_stacks(name, ty, &get(count), &column(&want, 0, 1));
                assert_durations(
                    name,
                    ty,
                    &get(duration),
                    &column(&want, 1, 1),
                    &column(&want, 0, 1),
                    tps,
                );
            } else {
                let (objects, bytes) = if ty.contains("alloc_in_new_tlab") {
                    (
                        ProfileType::AllocInNewTlabObjects,
                        ProfileType::AllocInNewTlabBytes,
                    )
                } else if ty.contains("alloc_outside_tlab") {
                    (
                        ProfileType::AllocOutsideTlabObjects,
                        ProfileType::AllocOutsideTlabBytes,
                    )
                } else if ty.contains("alloc_sample") {
                    (
                        ProfileType::AllocSampleObjects,
                        ProfileType::AllocSampleBytes,
                    )
                } else if ty.contains("malloc") {
                    (ProfileType::MallocObjects, ProfileType::MallocBytes)
                } else {
                    panic!("unknown expected type {f}");
                };
                assert_stacks(name, ty, &get(objects), &column(&want, 0, 1));
                assert_stacks(name, ty, &get(bytes), &column(&want, 1, 1));
            }
            checked += 1;
        }
        if saw_lock {
            // Files with both mutex and block generations may list one type twice; only
            // recordings with one expected file per lock type are summed exactly.
            assert_stacks(
                name,
                "lock_count",
                &get(ProfileType::LockCount),
                &lock_count,
            );
            assert_durations(
                name,
                "lock_duration",
                &get(ProfileType::LockDuration),
                &lock_ticks,
                &lock_count,
                tps,
            );
        }
    }
    assert!(checked >= 40, "only {checked} expected files checked");
}

/// Our durations in nanoseconds against jfr-parser's raw ticks (it passes them through):
/// converted at the chunk's `tps`, each stack within one nanosecond per event (rounding).
fn assert_durations(
    name: &str,
    what: &str,
    ours: &Stacks,
    ticks: &Stacks,
    counts: &Stacks,
    tps: u64,
) {
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        ticks.keys().collect::<Vec<_>>(),
        "{name} {what}: stacks"
    );
    for (k, t) in ticks {
        let want = u128::from(*t) * 1_000_000_000 / u128::from(tps);
        let got = u128::from(ours.get(k).copied().unwrap_or(0));
        let tol = u128::from(counts[k]);
        assert!(
            got.abs_diff(want) <= tol,
            "{name} {what} {k}: {got} vs {want} (±{tol})"
        );
    }
}

const OG_TYPES: [&str; 8] = [
    "cpu",
    "wall",
    "alloc_in_new_tlab_objects",
    "alloc_in_new_tlab_bytes",
    "alloc_outside_tlab_objects",
    "alloc_outside_tlab_bytes",
    "lock_count",
    "lock_duration",
];

fn folded_file(path: &Path) -> Stacks {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Stacks::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let (stack, v) = line.rsplit_once(' ').unwrap();
        *out.entry(stack.to_owned()).or_default() += v.parse::<u64>().unwrap();
    }
    out
}

/// Our series of one suffix whose labels include `must`, merged.
fn merged(series: &[Series], suffix: &str, must: &[(&str, &str)]) -> Stacks {
    let mut out = Stacks::new();
    for s in series.iter().filter(|s| {
        s.profile.suffix() == suffix && must.iter().all(|(k, v)| s.name.get(k) == Some(*v))
    }) {
        for (stack, v) in s.tree.folded_lines() {
            *out.entry(stack).or_default() += v;
        }
    }
    out
}

#[test]
#[cfg_attr(
    not(shared_vectors),
    ignore = "needs ../shared/testdata/public beside the checkout"
)]
fn og_server_testdata_no_labels() {
    let Some(root) = shared() else { return };
    let dir = root.join("pyroscope-v0.37.2/pkg/server/testdata/jfr/no_labels");
    let data = gunzip(&dir.join("jfr.bin.gz"));
    let request = SeriesName::parse("test.app{foo=bar,baz=qux}").unwrap();
    let series = to_series(&data, &request, None, &Options::default()).unwrap();
    let names: Vec<String> = series.iter().map(|s| s.name.to_string()).collect();
    let want: Vec<String> = {
        let mut v: Vec<String> = OG_TYPES
            .iter()
            .map(|t| format!("test.app.{t}{{baz=qux,foo=bar}}"))
            .collect();
        v.sort();
        v
    };
    assert_eq!(names, want);
    for t in OG_TYPES {
        let want = folded_file(&dir.join(format!("jfr-{t}.txt")));
        assert_stacks("no_labels", t, &merged(&series, t, &[]), &want);
    }
}

#[test]
#[cfg_attr(
    not(shared_vectors),
    ignore = "needs ../shared/testdata/public beside the checkout"
)]
fn og_server_testdata_with_labels() {
    let Some(root) = shared() else { return };
    let dir = root.join("pyroscope-v0.37.2/pkg/server/testdata/jfr/with_labels");
    let data = gunzip(&dir.join("jfr.bin.gz"));
    let snapshot = LabelsSnapshot::decode_body(
        &std::fs::read(dir.join("labels.proto.bin")).unwrap(),
        &Default::default(),
    )
    .unwrap();
    let request = SeriesName::parse("test.app{foo=bar,baz=qux}").unwrap();
    // Default options drop `profile_id` from keys: context 2 merges into context 1's set.
    let series = to_series(&data, &request, Some(&snapshot), &Options::default()).unwrap();
    let mut sets: Vec<String> = series
        .iter()
        .filter(|s| s.profile.suffix() == "cpu")
        .map(|s| s.name.to_string())
        .collect();
    sets.sort();
    assert_eq!(
        sets,
        [
            "test.app.cpu{baz=qux,foo=bar,thread_name=pool-2-thread-8}",
            "test.app.cpu{baz=qux,foo=bar}",
        ]
    );
    // Keeping it reproduces OG's three queries exactly.
    let keep = Options {
        exclude_labels: Vec::new(),
        ..Options::default()
    };
    let all = to_series(&data, &request, Some(&snapshot), &keep).unwrap();
    let queries: [&[(&str, &str)]; 3] = [
        &[],
        &[("thread_name", "pool-2-thread-8")],
        &[
            ("thread_name", "pool-2-thread-8"),
            ("profile_id", "239239239239"),
        ],
    ];
    for (i, must) in queries.iter().enumerate() {
        for t in OG_TYPES {
            let want = folded_file(&dir.join(format!("{i}/jfr-{t}.txt")));
            assert_stacks(
                &format!("with_labels/{i}"),
                t,
                &merged(&all, t, must),
                &want,
            );
            if i < 2 {
                assert_eq!(
                    merged(&series, t, must),
                    want,
                    "default options, query {i} {t}"
                );
            }
        }
    }
}

fn cpu_totals_by_labels(series: &[Series], suffix: &str) -> BTreeMap<String, u64> {
    series
        .iter()
        .filter(|s| s.profile.suffix() == suffix)
        .map(|s| {
            let labels: Vec<String> = s
                .name
                .labels()
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            (labels.join(","), s.tree.total())
        })
        .collect()
}

#[test]
#[cfg_attr(
    not(shared_vectors),
    ignore = "needs ../shared/testdata/public beside the checkout"
)]
fn labels_join_counts() {
    let Some(root) = shared() else { return };
    let dir = root.join("jfr-parser");
    let keep = Options {
        exclude_labels: Vec::new(),
        ..Options::default()
    };
    let request = SeriesName::parse("app").unwrap();
    let load = |jfr: &str, labels: &str| {
        let data = gunzip(&dir.join(jfr));
        let snap = LabelsSnapshot::decode_body(
            &std::fs::read(dir.join(labels)).unwrap(),
            &Default::default(),
        )
        .unwrap();
        to_series(&data, &request, Some(&snap), &keep).unwrap()
    };
    // dump1: async-profiler `event=itimer`, so OG's `itimer` series.
    let dump1 = load("dump1.jfr.gz", "dump1.labels.pb.gz");
    let want: BTreeMap<String, u64> = [
        ("", 1230),
        ("thread_name=pool-2-thread-1", 471),
        ("thread_name=pool-2-thread-3", 168),
        ("thread_name=pool-2-thread-5", 104),
        ("thread_name=pool-2-thread-7", 215),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(cpu_totals_by_labels(&dump1, "itimer"), want);
    assert!(cpu_totals_by_labels(&dump1, "cpu").is_empty());
    // new_spancontext: spanId → profile_id, spanName → span_name.
    let spans = load("new_spancontext.jfr.gz", "new_spancontext.labels.gz");
    let want: BTreeMap<String, u64> = [
        ("", 2),
        (
            "dyn1=v1,profile_id=0000000000001092,span_name=Infinite",
            235,
        ),
        (
            "dyn2=v2,profile_id=00000000000000ef,span_name=Fibonachi",
            235,
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(cpu_totals_by_labels(&spans, "cpu"), want);
}

#[test]
#[cfg_attr(
    not(shared_vectors),
    ignore = "needs ../shared/testdata/public beside the checkout"
)]
fn jfrs_recordings() {
    let Some(root) = shared() else { return };
    let dir = root.join("jfrs");
    let request = SeriesName::parse("app").unwrap();
    let read = |f: &str| {
        let data = std::fs::read(dir.join(f)).unwrap();
        to_series(&data, &request, None, &Options::default())
    };
    let suffixes = |f: &str| -> Vec<&'static str> {
        let mut v: Vec<_> = read(f)
            .unwrap()
            .iter()
            .map(|s| s.profile.suffix())
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    assert_eq!(
        suffixes("profiler-alloc.jfr"),
        ["alloc_in_new_tlab_bytes", "alloc_in_new_tlab_objects"]
    );
    // Empty pools (count 0) are accepted; this recording has no lock events.
    assert!(suffixes("profiler-lock.jfr").is_empty());
    // event=wall: running samples are cpu as well.
    assert_eq!(suffixes("profiler-wall.jfr"), ["cpu", "wall"]);
    assert_eq!(suffixes("profiler-multichunk.jfr"), ["cpu", "wall"]);
    // JDK 11 (every size padded to 4 bytes): 3 ExecutionSamples and 237 ThreadPark events (per
    // `jfr summary`). No async-profiler setting, so the CPU series is `cpu` (decision 3), not
    // OG's `unknown`.
    let s = read("recording.jfr").unwrap();
    let total = |p: ProfileType| -> u64 {
        s.iter()
            .filter(|s| s.profile == p)
            .map(|s| s.tree.total())
            .sum()
    };
    assert_eq!(total(ProfileType::Cpu), 3);
    assert_eq!(total(ProfileType::LockCount), 237);
    assert!(total(ProfileType::LockDuration) > 0);
    // JDK 17, none of the profiling events: read fine, no series.
    assert!(read("recording-2_1.jfr").unwrap().is_empty());
    // 100 bytes: a header claiming a 10,156-byte chunk.
    let e = read("invalid.jfr").unwrap_err();
    assert_eq!(e.kind(), &pyro_jfr::ErrorKind::Truncated);
    assert_eq!(e.offset(), 100);
}
