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
use std::io::Read;
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

fn gunzip(path: &Path) -> Vec<u8> {
    let raw = std::fs::read(path).unwrap();
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        raw
    }
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
        let e = out.entry(stack.join(";")).or_insert_with(|| vec![0; vals.len()]);
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
        let series = to_series(&data, &request, labels.as_ref(), &Options::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let ours = by_type(&series);
        let get = |t: ProfileType| ours.get(&t).cloned().unwrap_or_default();
        let tps = chunks(&data).next().unwrap().unwrap().header.ticks_per_second;
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
            assert_stacks(name, "lock_count", &get(ProfileType::LockCount), &lock_count);
            let durations = get(ProfileType::LockDuration);
            for (k, ticks) in &lock_ticks {
                let want = u128::from(*ticks) * 1_000_000_000 / u128::from(tps);
                let got = u128::from(durations.get(k).copied().unwrap_or(0));
                let tol = u128::from(lock_count[k]);
                assert!(
                    got.abs_diff(want) <= tol,
                    "{name} lock_duration {k}: {got} vs {want} (±{tol})"
                );
            }
        }
    }
    assert!(checked >= 40, "only {checked} expected files checked");
}
