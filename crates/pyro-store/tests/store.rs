//! The store end to end: rollups read exactly what was written whatever the range, late writes
//! count once, units merge like with like, reads are bounded, old formats migrate.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use pyro_store::{ErrorKind, Meta, OwnedSeries, ReadBudget, Selection, Store, Write};
use pyro_tree::{StackSink, StackTree};

fn temp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pyro-store-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn tree(stacks: &[(&str, u64)]) -> StackTree<'static> {
    let mut t = StackTree::new();
    for (s, v) in stacks {
        let frames: Vec<&str> = s.split(';').collect();
        t.add_transient(&frames, *v);
    }
    t
}

fn meta(app: &str, units: &str, rate: u32) -> Meta {
    Meta {
        app: app.into(),
        units: units.into(),
        sample_rate: rate,
        aggregation: pyro_ingest::Aggregation::Sum,
        spy_name: "test".into(),
        ..Meta::default()
    }
}

fn put(store: &Store, tenant: &str, m: &Meta, start: i64, stacks: &[(&str, u64)]) {
    let key = m.name().unwrap().key();
    let w = Write {
        series: vec![OwnedSeries::new(key, m.clone(), tree(stacks))],
        ..Write::at(tenant, start)
    };
    for r in store.put_batch(vec![w]) {
        r.unwrap();
    }
}

fn folded(t: &StackTree<'_>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    t.for_each_stack(|frames, v| {
        *out.entry(frames.join(";")).or_insert(0) += v;
    });
    out
}

fn id_of(store: &Store, app: &str) -> u64 {
    found(store, app).id
}

/// The stored series of `app` (tenant "").
fn found(store: &Store, app: &str) -> pyro_store::Found {
    store
        .select("", Selection::All)
        .unwrap()
        .into_iter()
        .find(|f| f.meta.app == app)
        .unwrap()
}

/// A small deterministic generator (xorshift), so the test needs no seed file.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const T0: i64 = 1_700_000_000;

/// Writes spread over three days (several in one slot, gaps of every size, two stack-table
/// partitions), then reads of
/// random ranges before the roller ran, after it ran, and after late writes into rolled-up
/// windows: every read equals the sum of the writes whose slot starts in the range, and a long
/// range reads a bounded number of stored entries.
#[test]
fn rollups_read_exactly_what_was_written() {
    // Three days across a stack-table partition boundary (T0 is one).
    const BASE: i64 = T0 - 129_600;
    let dir = temp("rollups");
    let store = Store::open(&dir).unwrap();
    let m = meta("app.cpu", "samples", 100);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let names = ["main", "a", "b", "c", "gc", "io"];
    let mut written: Vec<(i64, String, u64)> = Vec::new();
    let write = |store: &Store, rng: &mut Rng, written: &mut Vec<(i64, String, u64)>, at: i64| {
        let depth = 1 + rng.below(4) as usize;
        let stack: Vec<&str> = (0..depth).map(|_| names[rng.below(6) as usize]).collect();
        let stack = stack.join(";");
        let v = 1 + rng.below(50);
        put(store, "", &m, at, &[(stack.as_str(), v)]);
        written.push((at.div_euclid(10) * 10, stack, v * 10_000_000));
    };
    for _ in 0..1500 {
        let at = BASE + rng.below(3 * 86_400) as i64;
        write(&store, &mut rng, &mut written, at);
    }
    let id = id_of(&store, "app.cpu");
    let expect = |written: &[(i64, String, u64)], a: i64, b: i64| {
        let mut out = BTreeMap::new();
        for (s, stack, v) in written {
            if a <= *s && *s < b {
                *out.entry(stack.clone()).or_insert(0) += v;
            }
        }
        out
    };
    let check = |store: &Store, written: &[(i64, String, u64)], rng: &mut Rng, rounds: usize| {
        for _ in 0..rounds {
            let a = BASE - 500 + rng.below(3 * 86_400 + 1000) as i64;
            let b = a + rng.below(3 * 86_400) as i64;
            let got = store
                .merge_range("", id, a, b, &ReadBudget::default())
                .unwrap();
            assert_eq!(folded(&got.tree), expect(written, a, b), "range [{a}, {b})");
        }
    };
    check(&store, &written, &mut rng, 40);
    let raw_entries = store
        .merge_range("", id, BASE, BASE + 3 * 86_400, &ReadBudget::default())
        .unwrap()
        .entries;
    assert!(raw_entries > 1000, "{raw_entries}");

    let built = store
        .roll(BASE + 4 * 86_400, &AtomicBool::new(false))
        .unwrap();
    assert!(built > 100, "{built} windows built");
    assert_eq!(store.rollup_counts().unwrap().1, 0, "nothing left dirty");
    check(&store, &written, &mut rng, 80);
    let whole = store
        .merge_range(
            "",
            id,
            BASE - 10_000,
            BASE + 4 * 86_400,
            &ReadBudget::default(),
        )
        .unwrap();
    assert!(
        whole.entries <= 40,
        "{} entries for four days",
        whole.entries
    );
    assert_eq!(whole.writes, 1500);

    // Late writes into rolled-up windows: exact before the roller runs again, and after.
    for _ in 0..50 {
        let at = BASE + rng.below(3 * 86_400) as i64;
        write(&store, &mut rng, &mut written, at);
    }
    check(&store, &written, &mut rng, 40);
    store
        .roll(BASE + 4 * 86_400, &AtomicBool::new(false))
        .unwrap();
    check(&store, &written, &mut rng, 40);
    let whole = store
        .merge_range(
            "",
            id,
            BASE - 10_000,
            BASE + 4 * 86_400,
            &ReadBudget::default(),
        )
        .unwrap();
    assert_eq!(whole.writes, 1550);
    assert!(whole.entries <= 40, "{} entries", whole.entries);

    // Reopened: the same answers.
    drop(store);
    let store = Store::open(&dir).unwrap();
    check(&store, &written, &mut rng, 20);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Timeline totals from the levels: the same buckets whatever was rolled up.
#[test]
fn totals_come_from_the_levels() {
    let dir = temp("totals");
    let store = Store::open(&dir).unwrap();
    let m = meta("app.cpu", "samples", 100);
    for i in 0..600 {
        put(
            &store,
            "",
            &m,
            T0 + i * 10,
            &[("main;work", 1 + (i as u64 % 3))],
        );
    }
    let id = id_of(&store, "app.cpu");
    let buckets = |store: &Store| {
        let mut out = vec![(0u64, 0u64); 7];
        store
            .totals(
                "",
                id,
                (T0, T0 + 6000),
                T0 - T0 % 1000,
                1000,
                &ReadBudget::default(),
                &mut out,
            )
            .unwrap();
        out.into_iter()
            .map(|b| b.0 / 10_000_000)
            .collect::<Vec<_>>()
    };
    // Exact buckets at edges that cut windows (Grafana's `start + k·step`).
    let exact = |store: &Store| {
        let mut out = vec![(0u64, 0u64); 7];
        store
            .totals_exact(
                "",
                id,
                (T0 + 123, T0 + 6000),
                T0 + 123,
                900,
                &ReadBudget::default(),
                &mut out,
            )
            .unwrap();
        out.into_iter()
            .map(|b| (b.0 / 10_000_000, b.1))
            .collect::<Vec<_>>()
    };
    // Totals and the number of writes (what an average divides by) of each bucket.
    let naive: Vec<(u64, u64)> = (0..7)
        .map(|j| {
            let writes: Vec<i64> = (0..600i64)
                .filter(|i| {
                    let s = T0 + i * 10;
                    s >= T0 + 123 + j * 900 && s < (T0 + 123 + (j + 1) * 900).min(T0 + 6000)
                })
                .collect();
            (
                writes.iter().map(|&i| 1 + (i as u64 % 3)).sum(),
                writes.len() as u64,
            )
        })
        .collect();
    assert_eq!(exact(&store), naive);
    let before = buckets(&store);
    let want: u64 = (0..600u64).map(|i| 1 + i % 3).sum();
    assert_eq!(before.iter().sum::<u64>(), want);
    store.roll(T0 + 100_000, &AtomicBool::new(false)).unwrap();
    assert_eq!(buckets(&store), before);
    assert_eq!(exact(&store), naive);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A folded CPU series at 100 Hz and a pprof one in nanoseconds have one profile type and add
/// like with like; an overflowing conversion is the client's error.
#[test]
fn units_are_the_profile_types() {
    let dir = temp("units");
    let store = Store::open(&dir).unwrap();
    let folded_cpu = meta("a.cpu", "samples", 100);
    let pprof_cpu = meta("b.cpu", "nanoseconds", 0);
    put(&store, "", &folded_cpu, T0, &[("main;work", 3)]);
    put(&store, "", &pprof_cpu, T0, &[("main;work", 450_000_000)]);
    let found = store
        .select_typed(
            "",
            Some("process_cpu:cpu:nanoseconds:cpu:nanoseconds"),
            None,
        )
        .unwrap();
    assert_eq!(found.len(), 2);
    let mut merged = pyro_store::Merged::default();
    for f in &found {
        store
            .merge_range_into("", f.id, T0, T0 + 10, &ReadBudget::default(), &mut merged)
            .unwrap();
    }
    assert_eq!(merged.tree.total(), 30_000_000 + 450_000_000);
    let only_a = store.select_typed("", None, Some("a")).unwrap();
    assert_eq!(only_a.len(), 1);
    assert_eq!(only_a[0].meta.app, "a.cpu");

    let key = folded_cpu.name().unwrap().key();
    let w = Write {
        series: vec![OwnedSeries::new(
            key,
            folded_cpu.clone(),
            tree(&[("x", u64::MAX / 1000)]),
        )],
        ..Write::at("", T0)
    };
    let r = store.put_batch(vec![w]);
    assert_eq!(r[0].as_ref().unwrap_err().kind(), ErrorKind::Overflow);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A read larger than its node budget, and a cancelled read, stop with their own errors.
#[test]
fn reads_are_bounded_and_cancellable() {
    let dir = temp("budget");
    let store = Store::open(&dir).unwrap();
    let m = meta("app.cpu", "samples", 100);
    for i in 0..50 {
        let s = format!("main;f{i}");
        put(&store, "", &m, T0 + i * 10, &[(s.as_str(), 1)]);
    }
    let id = id_of(&store, "app.cpu");
    let tight = ReadBudget {
        max_nodes: 20,
        cancel: None,
        reserve: None,
    };
    let e = store.merge_range("", id, T0, T0 + 500, &tight).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Budget);
    assert!(e.to_string().contains("more than 20"), "{e}");
    let cancelled = AtomicBool::new(true);
    let e = store
        .merge_range(
            "",
            id,
            T0,
            T0 + 500,
            &ReadBudget {
                max_nodes: usize::MAX,
                cancel: Some(&cancelled),
                reserve: None,
            },
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Retention removes rollups with the raw data, and a window it cuts is rebuilt from what is
/// left.
#[test]
fn retention_removes_rollups_with_their_data() {
    let dir = temp("retention");
    let store = Store::open(&dir).unwrap();
    let m = meta("app.cpu", "samples", 100);
    let other = meta("old.cpu", "samples", 100);
    for i in 0..300 {
        put(&store, "", &m, T0 + i * 10, &[("main", 1)]);
    }
    put(&store, "", &other, T0, &[("main", 1)]);
    store.roll(T0 + 100_000, &AtomicBool::new(false)).unwrap();
    let (rollups, _) = store.rollup_counts().unwrap();
    assert!(rollups > 0);
    // Cut in the middle of a 1000-s window.
    let cut = T0 + 1500;
    store.delete_before(cut).unwrap();
    let id = id_of(&store, "app.cpu");
    let read = |store: &Store| {
        store
            .merge_range("", id, 0, T0 + 10_000, &ReadBudget::default())
            .unwrap()
            .tree
            .total()
            / 10_000_000
    };
    let left = (0..300).filter(|i| T0 + i * 10 >= cut).count() as u64;
    assert_eq!(read(&store), left);
    store.roll(T0 + 100_000, &AtomicBool::new(false)).unwrap();
    assert_eq!(read(&store), left);
    // The series with only old data is gone, with its postings and rollups.
    let apps: Vec<String> = store.label_values("", "__name__").unwrap();
    assert_eq!(apps, ["app.cpu"]);
    store.delete_before(T0 + 100_000).unwrap();
    assert_eq!(store.rollup_counts().unwrap(), (0, 0));
    assert_eq!(
        store.stack_counts().unwrap(),
        (0, 0),
        "stack tables go with their series"
    );
    assert!(store.select("", Selection::All).unwrap().is_empty());
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A data dir holding `tests/data/<name>-pyro.redb.gz`, unpacked.
fn fixture_dir(name: &str) -> PathBuf {
    use std::io::Read;
    let dir = temp(name);
    std::fs::create_dir_all(&dir).unwrap();
    let gz = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/{name}-pyro.redb.gz")),
    )
    .unwrap();
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut raw)
        .unwrap();
    std::fs::write(dir.join("pyro.redb"), raw).unwrap();
    dir
}

/// `app` of a migration fixture over the range its uploads span.
fn read_fixture(store: &Store, app: &str) -> pyro_store::Merged {
    let id = id_of(store, app);
    store
        .merge_range("", id, 1_699_999_000, 1_700_001_000, &ReadBudget::default())
        .unwrap()
}

/// `shop.cpu` of the migration fixtures: its stacks in nanoseconds.
fn fixture_shop_cpu() -> BTreeMap<String, u64> {
    [("main;gc", 1), ("main;idle", 10), ("main;work", 42)]
        .into_iter()
        .map(|(s, v)| (s.to_owned(), v * 10_000_000))
        .collect()
}

/// A data dir written by the release before this crate (format 2, see `tests/data/README.md`)
/// opens with every value in its profile type's unit and reads as that release rendered it.
#[test]
fn format_2_data_dirs_migrate() {
    let dir = fixture_dir("v2");
    let store = Store::open(&dir).unwrap();
    let apps = store.label_values("", "__name__").unwrap();
    assert_eq!(apps.len(), 11, "{apps:?}");
    let cpu = read_fixture(&store, "shop.cpu");
    let want = fixture_shop_cpu();
    assert_eq!(folded(&cpu.tree), want);
    assert_eq!(cpu.writes, 3);
    assert_eq!(read_fixture(&store, "shop.alloc_space").tree.total(), 4096);
    let scale = found(&store, "java.app.cpu").meta.typed().scale;
    assert_eq!(
        read_fixture(&store, "java.app.cpu").tree.total(),
        45 * scale
    );
    // The profile-type postings were made.
    let cpu_series = store
        .select_typed(
            "",
            Some("process_cpu:cpu:nanoseconds:cpu:nanoseconds"),
            None,
        )
        .unwrap();
    assert_eq!(cpu_series.len(), 2);
    // Rolled up and reopened: the same.
    store.roll(1_800_000_000, &AtomicBool::new(false)).unwrap();
    drop(store);
    let store = Store::open(&dir).unwrap();
    assert_eq!(folded(&read_fixture(&store, "shop.cpu").tree), want);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Symbols and nodes of `tests/data/v3-pyro.redb.gz`, as format 3's `stack_counts` (its tables'
/// row counts) gave them.
const V3_FIXTURE_STACK_COUNTS: (u64, u64) = (311, 335);

/// A data dir of format 3 (stack tables with a row per symbol and per node, see
/// `tests/data/README.md`) opens with its stack tables in runs under the same ids: the same
/// answers, the same number of symbols and nodes, new writes adding to the converted tables.
#[test]
fn format_3_data_dirs_migrate() {
    let dir = fixture_dir("v3");
    let store = Store::open(&dir).unwrap();
    let want = fixture_shop_cpu();
    assert_eq!(folded(&read_fixture(&store, "shop.cpu").tree), want);
    assert_eq!(read_fixture(&store, "shop.cpu").writes, 3);
    assert_eq!(read_fixture(&store, "shop.alloc_space").tree.total(), 4096);
    let java = read_fixture(&store, "java.app.cpu");
    let scale = found(&store, "java.app.cpu").meta.typed().scale;
    assert_eq!(java.tree.total(), 45 * scale);
    assert_eq!(folded(&java.tree).len(), 9);
    // Counted in format 3 before the conversion (rows of `stack_symbols` and `stack_nodes`).
    let counts = store.stack_counts().unwrap();
    assert_eq!(counts, V3_FIXTURE_STACK_COUNTS);
    // A new write into a converted partition reuses its stacks and adds only the new one.
    let m = found(&store, "shop.cpu").meta;
    put(
        &store,
        "",
        &m,
        1_700_000_600,
        &[("main;work", 1), ("main;sleep", 2)],
    );
    assert_eq!(
        store.stack_counts().unwrap(),
        (counts.0 + 1, counts.1 + 1),
        "one symbol and one node more"
    );
    let mut want = want;
    *want.get_mut("main;work").unwrap() += 10_000_000;
    want.insert("main;sleep".to_owned(), 20_000_000);
    store.roll(1_800_000_000, &AtomicBool::new(false)).unwrap();
    drop(store);
    let store = Store::open(&dir).unwrap();
    assert_eq!(folded(&read_fixture(&store, "shop.cpu").tree), want);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A data dir of the first format converts too (through format 2's encoding of slots).
#[test]
fn format_1_data_dirs_migrate() {
    let dir = temp("v1");
    std::fs::create_dir_all(&dir).unwrap();
    let m = Meta {
        labels: [("env".to_owned(), "prod".to_owned())].into(),
        ..meta("app.cpu", "samples", 100)
    };
    pyro_store::write_v1(
        &dir.join("pyro.redb"),
        &[(m, vec![(T0 as u64, 2, tree(&[("a;b", 3)]))])],
    )
    .unwrap();
    let store = Store::open(&dir).unwrap();
    let got = store
        .merge_range(
            "",
            id_of(&store, "app.cpu"),
            T0,
            T0 + 10,
            &ReadBudget::default(),
        )
        .unwrap();
    assert_eq!((got.writes, got.tree.total()), (2, 30_000_000));
    assert_eq!(store.label_values("", "env").unwrap(), ["prod"]);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Push sample IDs dedupe a redelivery until they are forgotten (by age, or by retention).
#[test]
fn sample_ids_are_remembered_then_forgotten() {
    let dir = temp("seen");
    let store = Store::open(&dir).unwrap();
    let m = meta("app.cpu", "samples", 100);
    let write = || {
        let key = m.name().unwrap().key();
        Write {
            ids: vec!["s/1".into()],
            series: vec![OwnedSeries::new(key, m.clone(), tree(&[("main", 1)]))],
            ..Write::at("", T0)
        }
    };
    let total = |store: &Store| {
        store
            .merge_range(
                "",
                id_of(store, "app.cpu"),
                T0,
                T0 + 10,
                &ReadBudget::default(),
            )
            .unwrap()
            .tree
            .total()
            / 10_000_000
    };
    for _ in 0..3 {
        store.put_batch(vec![write()])[0].as_ref().unwrap();
    }
    assert_eq!(total(&store), 1, "redeliveries stored once");
    // Not old enough: kept.
    assert_eq!(store.prune_seen(0).unwrap(), 0);
    let later = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 1;
    assert_eq!(store.prune_seen(later).unwrap(), 1);
    store.put_batch(vec![write()])[0].as_ref().unwrap();
    assert_eq!(total(&store), 2, "forgotten: stored again");
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Span samples are kept beside their write (in the profile type's unit), merged by span id,
/// survive compaction and rollups, and go with their slots under retention.
#[test]
fn span_samples_are_kept_and_retained_with_their_slots() {
    let dir = temp("spans");
    let store = Store::open(&dir).unwrap();
    let m = meta("app.cpu", "samples", 100);
    let key = m.name().unwrap().key();
    for (at, span, stacks) in [
        (T0, "aaaaaaaaaaaaaaaa", &[("main;a", 2u64)][..]),
        (T0 + 10, "bbbbbbbbbbbbbbbb", &[("main;b", 3)][..]),
        (T0 + 2_000_000, "aaaaaaaaaaaaaaaa", &[("main;c", 4)][..]),
    ] {
        let w = Write {
            series: vec![
                OwnedSeries::new(
                    key.clone(),
                    m.clone(),
                    tree(&[("main;a", 2), ("main;b", 3), ("main;c", 4), ("main;x", 1)]),
                )
                .with_spans(vec![(span.to_owned(), tree(stacks))]),
            ],
            ..Write::at("", at)
        };
        for r in store.put_batch(vec![w]) {
            r.unwrap();
        }
    }
    let id = id_of(&store, "app.cpu");
    store
        .roll(T0 + 10_000_000, &AtomicBool::new(false))
        .unwrap();
    let read = |store: &Store, ids: &[&str]| {
        let set: std::collections::HashSet<&str> = ids.iter().copied().collect();
        let mut m = pyro_store::Merged::default();
        store
            .merge_spans(
                "",
                id,
                (0, T0 + 3_000_000),
                &set,
                &ReadBudget::default(),
                &mut m,
            )
            .unwrap();
        folded(&m.tree)
    };
    let e7 = 10_000_000;
    assert_eq!(
        read(&store, &["aaaaaaaaaaaaaaaa"]),
        BTreeMap::from([("main;a".to_owned(), 2 * e7), ("main;c".to_owned(), 4 * e7)])
    );
    assert_eq!(
        read(&store, &["bbbbbbbbbbbbbbbb"]),
        BTreeMap::from([("main;b".to_owned(), 3 * e7)])
    );
    // Retention drops the span samples of the slots it deletes, and keeps the rest.
    store.delete_before(T0 + 1_000_000).unwrap();
    assert_eq!(
        read(&store, &["aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"]),
        BTreeMap::from([("main;c".to_owned(), 4 * e7)])
    );
    store.delete_before(T0 + 3_000_000).unwrap();
    assert!(store.select("", Selection::All).unwrap().is_empty());
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Series that are columns over one shared shape (a pprof profile's label sets), with node ids
/// that have gaps, are stored and read back exactly (the 33 MB synthetic once made the writer
/// index its tables by position and fail).
#[test]
fn trees_sharing_a_shape_are_stored_exactly() {
    let dir = temp("columns");
    let store = Store::open(&dir).unwrap();
    let mut shape = StackTree::new();
    for s in ["main;a;x", "main;a;y", "main;b", "main;c;z", "idle"] {
        let frames: Vec<&str> = s.split(';').collect();
        shape.add(&frames, 0);
    }
    let shape = std::sync::Arc::new(shape);
    // Arena order: root, main, a, x, y, b, c, z, idle.
    let one = StackTree::from_column(&shape, vec![0, 0, 0, 5, 0, 0, 0, 7, 0], false);
    let two = StackTree::from_column(&shape, vec![0, 1, 0, 0, 2, 0, 0, 0, 9], false);
    assert!(one.shares_shape() && two.shares_shape());
    assert!(one.node_id_bound() > one.node_count());
    let (m1, m2) = (
        meta("one.cpu", "nanoseconds", 0),
        meta("two.cpu", "nanoseconds", 0),
    );
    let w = Write {
        series: vec![
            OwnedSeries::new(m1.name().unwrap().key(), m1.clone(), one),
            OwnedSeries::new(m2.name().unwrap().key(), m2.clone(), two),
        ],
        ..Write::at("", T0)
    };
    for r in store.put_batch(vec![w]) {
        r.unwrap();
    }
    for (app, want) in [
        ("one.cpu", vec![("main;a;x", 5), ("main;c;z", 7)]),
        ("two.cpu", vec![("idle", 9), ("main", 1), ("main;a;y", 2)]),
    ] {
        let mut merged = pyro_store::Merged::default();
        let id = id_of(&store, app);
        store
            .merge_range_into("", id, T0, T0 + 10, &ReadBudget::default(), &mut merged)
            .unwrap();
        let want: BTreeMap<String, u64> =
            want.into_iter().map(|(s, v)| (s.to_owned(), v)).collect();
        assert_eq!(folded(&merged.tree), want, "{app}");
    }
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}
