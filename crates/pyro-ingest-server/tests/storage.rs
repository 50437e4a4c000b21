//! The store (`pyro-store`) as the server uses it: migration from the first format, appends
//! and compaction, retention across tenants, label endpoints narrowed by query and range.

mod common;

use std::collections::BTreeMap;

use common::*;
use pyro_store::{Meta, ReadBudget, Selection, Store, Write, write_v1};
use pyro_tree::{StackSink, StackTree};

fn tree(stacks: &[(&[&str], u64)]) -> StackTree<'static> {
    let mut t = StackTree::new();
    for (s, v) in stacks {
        t.add_transient(s, *v);
    }
    t
}

fn meta(tenant: &str, app: &str, labels: &[(&str, &str)]) -> Meta {
    Meta {
        tenant: tenant.into(),
        app: app.into(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        units: "samples".into(),
        aggregation: pyro_ingest::Aggregation::Sum,
        sample_rate: 100,
        spy_name: "gospy".into(),
    }
}

fn folded(store: &Store, tenant: &str, app: &str) -> String {
    let q = pyro_labels::Query::parse(app).unwrap();
    let mut out = StackTree::new();
    for f in store.select(tenant, Selection::Query(&q)).unwrap() {
        let m = store
            .merge_range(tenant, f.id, 0, i64::MAX, &ReadBudget::default())
            .unwrap();
        // Stored in nanoseconds: back to samples at the series' rate.
        out.merge(&m.tree.divide(f.meta.typed().scale));
    }
    out.to_folded()
}

/// Writes merged into series `id` of `tenant` (over all time).
fn writes(store: &Store, tenant: &str, id: u64) -> u64 {
    store
        .merge_range(tenant, id, 0, i64::MAX, &ReadBudget::default())
        .unwrap()
        .writes
}

/// A data dir of the first format (built here as the previous release wrote it) opens with
/// every series and slot, in every tenant, writes counts kept.
#[test]
fn first_format_is_converted_on_open() {
    let dir = temp_dir("migrate");
    std::fs::create_dir_all(&dir).unwrap();
    write_v1(
        &dir.join("pyro.redb"),
        &[
            (
                meta("", "app.cpu", &[("env", "a=b")]),
                vec![
                    (1_609_459_200, 2, tree(&[(&["main", "work"], 5)])),
                    (1_609_459_210, 1, tree(&[(&["main"], 1)])),
                ],
            ),
            (
                meta("team-x", "app.cpu", &[]),
                vec![(1_609_459_200, 1, tree(&[(&["x"], 7)]))],
            ),
        ],
    )
    .unwrap();
    let store = Store::open(&dir).unwrap();
    assert_eq!(store.series().unwrap().len(), 2);
    assert_eq!(folded(&store, "", "app.cpu"), "main 1\nmain;work 5\n");
    assert_eq!(folded(&store, "team-x", "app.cpu"), "x 7\n");
    let f = &store.select("", Selection::All).unwrap()[0];
    assert_eq!(writes(&store, "", f.id), 3);
    assert_eq!(
        store
            .merge_range(
                "",
                f.id,
                1_609_459_200,
                1_609_459_210,
                &ReadBudget::default()
            )
            .unwrap()
            .writes,
        2
    );
    assert_eq!(store.label_values("", "env").unwrap(), ["a=b"]);
    assert_eq!(store.label_names("team-x").unwrap(), ["__name__"]);
    drop(store);
    // Opened again: nothing converted twice.
    let store = Store::open(&dir).unwrap();
    assert_eq!(folded(&store, "", "app.cpu"), "main 1\nmain;work 5\n");
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Writes append deltas; a crowded slot is merged by the compactor with the same reads before
/// and after, and the largest delta is left alone.
#[test]
fn appends_and_compaction() {
    let dir = temp_dir("compact");
    let store = Store::open(&dir).unwrap();
    let series = |t: StackTree<'static>| {
        let name = pyro_labels::SeriesName::parse("c.cpu").unwrap();
        Write::new(
            "",
            1_609_459_200,
            vec![pyro_ingest::Series {
                name,
                units: "samples".into(),
                aggregation: pyro_ingest::Aggregation::Sum,
                sample_rate: 100,
                spy_name: "x".into(),
                tree: t,
                spans: Vec::new(),
            }],
        )
    };
    let big: Vec<String> = (0..20_000).map(|i| format!("f{i}")).collect();
    let mut big_tree = StackTree::new();
    for f in &big {
        big_tree.add_transient(&["main", f], 1);
    }
    store.put_batch(vec![series(big_tree)]);
    for i in 0..20u64 {
        let r = store.put_batch(vec![series(tree(&[(&["main", "small"], i + 1)]))]);
        assert!(r[0].is_ok());
    }
    let (_, deltas) = store.counts().unwrap();
    assert_eq!(deltas, 21);
    let before = folded(&store, "", "c.cpu");
    let id = store.select("", Selection::All).unwrap()[0].id;
    let merged = store.compact_slot("", id, 1_609_459_200).unwrap();
    assert_eq!(merged, 19);
    let (_, deltas) = store.counts().unwrap();
    assert_eq!(deltas, 2, "the big delta stays, the small ones become one");
    assert_eq!(folded(&store, "", "c.cpu"), before);
    let m = store
        .merge_range("", id, 0, i64::MAX, &ReadBudget::default())
        .unwrap();
    assert_eq!((m.entries, m.writes), (2, 21));
    assert!(before.contains("main;small 210\n"));
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Retention deletes old data in every tenant and for every key (label values with `=`), then
/// series without data and their label values.
#[test]
fn retention_in_every_tenant() {
    let dir = temp_dir("retention-tenants");
    let s = Server::start(&dir, &["--multi-tenant"]);
    let post_at = |tenant: &str, name: &str, t: i64, body: &[u8]| {
        let url = s.url(&format!("/ingest?name={name}&from={t}"));
        assert_eq!(post(&url, None, &[("X-Scope-OrgID", tenant)], body).0, 200);
    };
    for tenant in ["a", "b"] {
        post_at(tenant, "old.cpu%7Bk%3Dx%3Dy%7D", 1_000_000_000, b"o 1\n");
        post_at(tenant, "both.cpu", 1_000_000_000, b"o 1\n");
        post_at(tenant, "both.cpu", 2_000_000_000, b"n 2\n");
    }
    drop(s);
    let store = Store::open(&dir).unwrap();
    let deleted = store.delete_before(1_500_000_000).unwrap();
    assert_eq!(deleted, 4);
    for tenant in ["a", "b"] {
        assert_eq!(
            store.label_values(tenant, "__name__").unwrap(),
            ["both.cpu"]
        );
        assert!(store.label_values(tenant, "k").unwrap().is_empty());
        assert_eq!(folded(&store, tenant, "both.cpu"), "n 2\n");
    }
    assert_eq!(store.counts().unwrap(), (2, 2));
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `/labels` and `/label-values` honour `query`, `from` and `until` as OG's label handlers do.
#[test]
fn label_endpoints_narrowed_by_query_and_range() {
    let dir = temp_dir("labels-query");
    let s = Server::start(&dir, &[]);
    let ingest = |name: &str, t: i64| {
        let url = s.url(&format!("/ingest?name={name}&from={t}"));
        assert_eq!(post(&url, None, &[], b"a 1\n").0, 200);
    };
    ingest("web.cpu%7Benv%3Dprod%2Cregion%3Deu%7D", 1_609_459_200);
    ingest("web.cpu%7Benv%3Ddev%7D", 1_700_000_000);
    ingest("db.cpu%7Bshard%3D1%7D", 1_609_459_200);
    let json = |path: &str| {
        let (status, body) = get(&s.url(path));
        assert_eq!(status, 200, "{body}");
        body
    };
    assert_eq!(json("/labels"), r#"["__name__","env","region","shard"]"#);
    assert_eq!(
        json("/label-values?label=__name__"),
        r#"["db.cpu","web.cpu"]"#
    );
    assert_eq!(
        json("/labels?query=web.cpu"),
        r#"["__name__","env","region"]"#
    );
    assert_eq!(
        json("/label-values?label=env&query=web.cpu&from=1609459000&until=1609459300"),
        r#"["prod"]"#
    );
    assert_eq!(
        json("/labels?query=web.cpu%7Benv%3D%22dev%22%7D"),
        r#"["__name__","env"]"#
    );
    assert_eq!(
        json("/label-values?label=env&from=1699999990&until=1700000010"),
        r#"["dev"]"#
    );
    let (status, _) = get(&s.url("/labels?query=%7Bbad"));
    assert_eq!(status, 400);
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A wide range keeps its last, partial timeline bucket, and recent data shows: in the bucket
/// where its 100-s window starts, as OG's `populateTimeline` places segment nodes (the timeline
/// is read from the store's levels); groups are not empty.
#[test]
fn timeline_keeps_the_last_partial_bucket() {
    let dir = temp_dir("timeline");
    let s = Server::start(&dir, &[]);
    let url = s.url("/ingest?name=t.cpu%7Benv%3Dp%7D&from=1609569260");
    assert_eq!(post(&url, None, &[], b"a 5\n").0, 200);
    // 110,050 s: buckets of 100 s, the last one partial and holding the data.
    let (status, body) =
        get(&s.url("/render?query=t.cpu&from=1609459220&until=1609569270&format=json&groupBy=env"));
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let samples = v["timeline"]["samples"].as_array().unwrap();
    assert_eq!(v["timeline"]["durationDelta"], 100);
    assert_eq!(samples.len(), 1101);
    assert_eq!(samples.iter().filter(|x| x.as_u64() != Some(0)).count(), 1);
    assert_eq!(v["groups"]["p"]["samples"].as_array().unwrap().len(), 1101);
    // The slot 1609569260 lies in the window [1609569200, 1609569300), which starts in bucket
    // (1609569200 − 1609459220) / 100 = 1099.
    assert_eq!(samples[1099], 6);
    assert_eq!(samples[1100], 0);
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `/ready`, `/healthz` and `/metrics` (Prometheus text, behind the read auth when it is on).
#[test]
fn operations_endpoints() {
    let dir = temp_dir("ops");
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(&tokens, "agent tok\n").unwrap();
    let s = Server::start(
        &dir,
        &[
            "--auth-tokens",
            tokens.to_str().unwrap(),
            "--auth-scope",
            "read",
        ],
    );
    assert_eq!(get(&s.url("/ready")), (200, "ready\n".into()));
    assert_eq!(get(&s.url("/healthz")), (200, "ok\n".into()));
    assert_eq!(get(&s.url("/metrics")).0, 401);
    let url = s.url(&format!("/ingest?name=m.cpu&format=folded&{T0}"));
    assert_eq!(post(&url, None, &[], b"a;b 1\n").0, 200);
    assert_eq!(post(&url, None, &[], b"a;b x\n").0, 422);
    let mut resp = agent()
        .get(&s.url("/metrics"))
        .header("Authorization", "Bearer tok")
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.body_mut().read_to_string().unwrap();
    for want in [
        r#"pyro_requests_total{route="/ingest",format="folded",status="200"} 1"#,
        r#"pyro_requests_total{route="/ingest",format="folded",status="422"} 1"#,
        "pyro_received_bytes_total 12",
        "pyro_series 1",
        "pyro_deltas 1",
        "pyro_write_queue 0",
        "pyro_commit_duration_seconds_count 1",
        r#"pyro_request_duration_seconds_count{route="/ingest"} 2"#,
        "pyro_compactions_total 0",
        "# TYPE pyro_storage_bytes gauge",
    ] {
        assert!(text.contains(want), "{want} missing from:\n{text}");
    }
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `kill -9` while clients write back-dated data (every write lands in a window the roller has
/// closed, so rollups are being built and invalidated all the time, and crowded slots are being
/// compacted), three times, then a last start that rolls everything up: every acknowledged write
/// is counted exactly once, in the whole range (read from rollups) and in a range whose edges cut
/// windows (read from rollups and raw slots). A write whose answer was lost to the kill may or
/// may not be stored, once at most.
#[test]
fn kill_9_during_ingest_rollup_and_compaction_counts_every_write_once() {
    use std::sync::{Arc, Mutex};
    const CLIENTS: usize = 6;
    const BASE: i64 = 1_600_000_000;
    let dir = temp_dir("kill9-rollups");
    // Per client: (slot, acknowledged) of every write sent.
    type Sent = Vec<(i64, bool)>;
    let log: Arc<Mutex<Vec<Sent>>> = Arc::new(Mutex::new(vec![Vec::new(); CLIENTS]));
    for round in 0..3u64 {
        let s = Server::start(&dir, &["--rollup-interval-secs", "1"]);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (url, stop, log) = (s.url(""), stop.clone(), log.clone());
                std::thread::spawn(move || {
                    let mut x = (c as u64 + 1) * 0x9e37_79b9 + round;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        // 300 slots over two days: many writes per slot (compaction), every
                        // window of every level touched.
                        let slot = BASE + (x % 300) as i64 * 577 / 10 * 10;
                        let body = format!("c{c};w 1\n");
                        let sent = agent()
                            .post(&format!("{url}/ingest?name=k.cpu&from={slot}"))
                            .send(body.as_bytes());
                        let acked = matches!(&sent, Ok(r) if r.status().as_u16() == 200);
                        log.lock().unwrap()[c].push((slot, acked));
                        if sent.is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(1500 + 300 * round));
        let mut s = s;
        s.child.kill().unwrap();
        s.child.wait().unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
    }
    let s = Server::start(&dir, &["--rollup-interval-secs", "1"]);
    // Wait for the roller to finish the backlog.
    let gauge = |name: &str| -> f64 {
        let (_, m) = get(&s.url("/metrics"));
        m.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .map_or(-1.0, |v| v.trim().parse().unwrap())
    };
    let t = std::time::Instant::now();
    while gauge("pyro_rollups_pending") != 0.0 {
        assert!(t.elapsed().as_secs() < 60, "rollups pending");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // Reads below go through rollups of every level (the data spans two days).
    assert!(gauge("pyro_rollups") > 100.0, "{}", gauge("pyro_rollups"));
    let log = log.lock().unwrap();
    let acked: usize = log.iter().flatten().filter(|(_, a)| *a).count();
    assert!(acked > 200, "only {acked} writes acknowledged");
    for (from, until) in [(BASE - 10, BASE + 200_000), (BASE + 1234, BASE + 98_765)] {
        let (status, text) = get(&s.url(&format!(
            "/render?query=k.cpu&from={from}&until={until}&format=collapsed"
        )));
        assert_eq!(status, 200, "{text}");
        for (c, writes) in log.iter().enumerate() {
            let inside = |&&(slot, _): &&(i64, bool)| slot >= from && slot < until;
            let sure = writes.iter().filter(inside).filter(|(_, a)| *a).count() as u64;
            let maybe = writes.iter().filter(inside).filter(|(_, a)| !*a).count() as u64;
            let got: u64 = text
                .lines()
                .find_map(|l| l.strip_prefix(&format!("c{c};w ")))
                .map_or(0, |v| v.parse().unwrap());
            assert!(
                sure <= got && got <= sure + maybe,
                "client {c} in [{from}, {until}): {got} stored, {sure} acknowledged, {maybe} unknown"
            );
        }
    }
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}
