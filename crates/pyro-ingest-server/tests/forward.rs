//! Two `ingest-server`s on loopback: a gateway forwarding over push.v1 to a store. Whatever the
//! gateway acknowledged reaches the store exactly once: with the store down for a while, with the
//! gateway `kill -9`ed, and the store's `/render` equals the gateway's own.

mod common;

use std::time::{Duration, Instant};

use common::*;
use prost::Message;

const T: i64 = 1_609_459_200;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn collapsed_of(s: &Server, query: &str) -> String {
    let (status, body) = get(&s.url(&format!(
        "/render?query={query}&from={T}&until={}&format=collapsed",
        T + 10
    )));
    assert_eq!(status, 200, "{body}");
    body
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let started = Instant::now();
    while !f() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ingest(s: &Server, name: &str, body: &[u8]) {
    let url = s.url(&format!("/ingest?name={name}&from={}", T + 1));
    let (status, msg) = post(&url, None, &[], body);
    assert_eq!(status, 200, "{msg}");
}

#[test]
fn gateway_forwards_every_format_and_survives_outages() {
    let store_dir = temp_dir("fwd-store");
    let gw_dir = temp_dir("fwd-gateway");
    let port = free_port();
    let upstream = format!("http://127.0.0.1:{port}");
    // The store is down: the gateway acknowledges and queues.
    let gw = Server::start(
        &gw_dir,
        &["--forward-to", &upstream, "--external-label", "cluster=eu1"],
    );
    ingest(
        &gw,
        "web.cpu%7Benv%3Dprod%7D",
        b"main;work 3\nmain;idle 1\n",
    );
    ingest(&gw, "web.alloc_space", b"main;alloc 100\n");
    let jfr = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/jfr/jdk17-workload.jfr");
    let url = gw.url(&format!("/ingest?name=java&format=jfr&from={}", T + 1));
    assert_eq!(post(&url, None, &[], &std::fs::read(&jfr).unwrap()).0, 200);
    let (_, metrics) = get(&gw.url("/metrics"));
    assert!(
        metrics.contains("pyro_forward_queue_requests{endpoint="),
        "{metrics}"
    );
    // The gateway dies hard with its queue full; it comes back on the same data dir.
    drop(gw);
    let gw = Server::start(
        &gw_dir,
        &["--forward-to", &upstream, "--external-label", "cluster=eu1"],
    );
    ingest(&gw, "web.cpu%7Benv%3Dprod%7D", b"main;work 5\n");
    // The store comes up: everything arrives.
    let store = Server::start(&store_dir, &["--listen", &format!("127.0.0.1:{port}")]);
    let q = "web.cpu%7Benv%3D%22prod%22%2Ccluster%3D%22eu1%22%7D";
    wait_for("the CPU series on the store", || {
        get(&store.url(&format!(
            "/render?query=web.cpu&from={T}&until={}&format=collapsed",
            T + 10
        )))
        .1 == "main;idle 1\nmain;work 8\n"
    });
    // Values go upstream as Grafana Pyroscope stores them (CPU samples in nanoseconds, with a
    // 10 ms period); an ingest-server upstream reads them back as 100 Hz samples, so its
    // /render equals the gateway's own.
    assert_eq!(collapsed_of(&store, q), "main;idle 1\nmain;work 8\n");
    assert_eq!(collapsed_of(&gw, "web.cpu"), "main;idle 1\nmain;work 8\n");
    wait_for("the memory series", || {
        collapsed_of(&store, "web.alloc_space") == "main;alloc 100\n"
    });
    wait_for("the JFR series", || {
        !collapsed_of(&store, "java.cpu").is_empty()
    });
    // The JFR totals equal the gateway's (alloc bytes are not scaled).
    assert_eq!(
        collapsed_of(&store, "java.alloc_in_new_tlab_bytes"),
        collapsed_of(&gw, "java.alloc_in_new_tlab_bytes")
    );
    let (_, labels) = get(&store.url("/labels"));
    assert!(labels.contains("cluster"), "{labels}");
    wait_for("an empty queue", || {
        get(&gw.url("/metrics")).1.contains(&format!(
            "pyro_forward_queue_requests{{endpoint=\"{upstream}\"}} 0"
        ))
    });
    // Nothing twice: totals stay put.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(collapsed_of(&store, q), "main;idle 1\nmain;work 8\n");
    drop((gw, store));
    std::fs::remove_dir_all(&store_dir).unwrap();
    std::fs::remove_dir_all(&gw_dir).unwrap();
}

/// A push redelivered with the same sample IDs is stored once; an ID is a sample of its series
/// (reused in another series, it is stored), and bounded in length.
#[test]
fn redelivered_push_samples_are_stored_once() {
    use pyro_ingest::push::{LabelPair, PushRequest, RawProfileSeries, RawSample};
    let dir = temp_dir("fwd-dedupe");
    let s = Server::start(&dir, &[]);
    let mut pprof = Vec::new();
    // A tiny pprof: samples/count, main -> work = 3.
    pprof.extend_from_slice(&[
        0x0a, 0x04, 0x08, 0x01, 0x10, 0x02, 0x12, 0x06, 0x0a, 0x02, 0x02, 0x01, 0x10, 0x03, 0x22,
        0x06, 0x08, 0x01, 0x22, 0x02, 0x08, 0x01, 0x22, 0x06, 0x08, 0x02, 0x22, 0x02, 0x08, 0x02,
        0x2a, 0x04, 0x08, 0x01, 0x10, 0x03, 0x2a, 0x04, 0x08, 0x02, 0x10, 0x04,
    ]);
    for s in ["", "samples", "count", "main", "work"] {
        pprof.push(0x32);
        pprof.push(s.len() as u8);
        pprof.extend_from_slice(s.as_bytes());
    }
    let pprof = bytes::Bytes::from(pprof);
    let body = |service: &str, id: &str| {
        PushRequest {
            series: vec![RawProfileSeries {
                labels: vec![LabelPair {
                    name: "service_name".into(),
                    value: service.into(),
                }],
                samples: vec![RawSample {
                    raw_profile: pprof.clone(),
                    id: id.into(),
                }],
            }],
        }
        .encode_to_vec()
    };
    let push = |body: &[u8]| {
        post(
            &s.url("/push.v1.PusherService/Push"),
            Some("application/proto"),
            &[],
            body,
        )
    };
    for _ in 0..3 {
        assert_eq!(push(&body("d", "sample-1")).0, 200);
    }
    // The same ID in another series is another sample: stored (it was dropped before).
    assert_eq!(push(&body("other", "sample-1")).0, 200);
    // An ID of 1 MiB is refused, not kept for days.
    let (status, text) = push(&body("d", &"x".repeat(1 << 20)));
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("sample ID longer than 256 bytes"), "{text}");
    // `until` past now: an aligned `until` is exclusive (OG), and the write may fall in the
    // very slot that starts at the second of the render.
    let (_, text) = get(&s.url("/render?query=d.cpu&from=now-1h&until=now%2B1m&format=collapsed"));
    assert_eq!(text, "main;work 3\n");
    let (_, text) =
        get(&s.url("/render?query=other.cpu&from=now-1h&until=now%2B1m&format=collapsed"));
    assert_eq!(text, "main;work 3\n");
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An upstream that refuses for good (401): the request is dead-lettered and the queue moves on.
#[test]
fn permanent_refusals_are_dead_lettered() {
    let store_dir = temp_dir("fwd-refuse-store");
    let gw_dir = temp_dir("fwd-refuse-gw");
    std::fs::create_dir_all(&store_dir).unwrap();
    let tokens = store_dir.join("tokens");
    std::fs::write(&tokens, "agent right\n").unwrap();
    let store = Server::start(&store_dir, &["--auth-tokens", tokens.to_str().unwrap()]);
    let upstream = format!("http://{}", store.addr);
    let gw = Server::start(&gw_dir, &["--forward-to", &upstream]);
    ingest(&gw, "r.cpu", b"a 1\n");
    wait_for("a dead letter", || {
        get(&gw.url("/metrics")).1.contains(&format!(
            "pyro_forward_dead_lettered_total{{endpoint=\"{upstream}\"}} 1"
        ))
    });
    assert!(get(&gw.url("/metrics")).1.contains(&format!(
        "pyro_forward_queue_requests{{endpoint=\"{upstream}\"}} 0"
    )));
    drop((gw, store));
    std::fs::remove_dir_all(&store_dir).unwrap();
    std::fs::remove_dir_all(&gw_dir).unwrap();
}

/// Delivery cut short by `kill -9`, of the store and then of the gateway, while the queue drains:
/// afterwards the store holds exactly what the gateway acknowledged (redeliveries carry the same
/// sample IDs and are stored once).
#[test]
fn kill_9_mid_delivery_loses_nothing_and_stores_nothing_twice() {
    let store_dir = temp_dir("fwd-k9-store");
    let gw_dir = temp_dir("fwd-k9-gw");
    let port = free_port();
    let upstream = format!("http://127.0.0.1:{port}");
    let args = ["--forward-to", upstream.as_str(), "--forward-only"];
    let gw = Server::start(&gw_dir, &args);
    let n = 400;
    for i in 0..n {
        ingest(&gw, &format!("k{}.cpu", i % 4), b"main;work 1\n");
    }
    let listen = format!("127.0.0.1:{port}");
    let total = |s: &Server| -> u64 {
        (0..4)
            .map(|a| {
                collapsed_of(s, &format!("k{a}.cpu"))
                    .lines()
                    .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
                    .sum::<u64>()
            })
            .sum()
    };
    // The store comes up, takes part of the queue, and dies hard.
    let mut store = Server::start(&store_dir, &["--listen", &listen]);
    wait_for("a first delivery", || total(&store) > 0);
    store.child.kill().unwrap();
    store.child.wait().unwrap();
    let store = Server::start(&store_dir, &["--listen", &listen]);
    // The gateway dies hard while it delivers, and comes back on its queue.
    std::thread::sleep(Duration::from_millis(20));
    drop(gw);
    let gw = Server::start(&gw_dir, &args);
    wait_for("an empty queue", || {
        get(&gw.url("/metrics")).1.contains(&format!(
            "pyro_forward_queue_requests{{endpoint=\"{upstream}\"}} 0"
        ))
    });
    // One sample at 100 Hz goes upstream as 10 ms of CPU and reads back as one sample.
    assert_eq!(total(&store), n);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(total(&store), n);
    drop((gw, store));
    std::fs::remove_dir_all(&store_dir).unwrap();
    std::fs::remove_dir_all(&gw_dir).unwrap();
}

/// A full queue is back-pressure: 503 with `Retry-After`, and the refused request is neither
/// queued nor stored locally; once the upstream drains the queue, requests are taken again.
#[test]
fn a_full_queue_answers_503_and_keeps_nothing_of_the_request() {
    let store_dir = temp_dir("fwd-full-store");
    let gw_dir = temp_dir("fwd-full-gw");
    let port = free_port();
    let upstream = format!("http://127.0.0.1:{port}");
    let gw = Server::start(
        &gw_dir,
        &["--forward-to", &upstream, "--forward-queue-bytes", "1500"],
    );
    let url = gw.url(&format!("/ingest?name=full.cpu&from={}", T + 1));
    let mut accepted = 0;
    let refused = loop {
        let resp = agent().post(&url).send(&b"main;work 1\n"[..]).unwrap();
        if resp.status().as_u16() != 200 {
            break resp;
        }
        accepted += 1;
        assert!(accepted < 100, "the queue never filled");
    };
    assert_eq!(refused.status().as_u16(), 503);
    assert!(refused.headers().get("retry-after").is_some());
    assert!(accepted >= 1);
    // What was refused is not stored locally either.
    let work = |s: &Server| collapsed_of(s, "full.cpu");
    assert_eq!(work(&gw), format!("main;work {accepted}\n"));
    let store = Server::start(&store_dir, &["--listen", &format!("127.0.0.1:{port}")]);
    wait_for("the queue to drain", || {
        work(&store) == format!("main;work {accepted}\n")
    });
    wait_for("room in the queue", || {
        post(&url, None, &[], b"main;work 1\n").0 == 200
    });
    drop((gw, store));
    std::fs::remove_dir_all(&store_dir).unwrap();
    std::fs::remove_dir_all(&gw_dir).unwrap();
}

/// Each endpoint's queue is named by its URL: with both upstreams down, a request queued for A
/// and B, then the gateway restarted with the URLs swapped and then with A removed, never sends
/// anything of A's queue to B twice or elsewhere; when A is given again, A's backlog goes to A.
#[test]
fn queues_follow_their_urls_when_forward_to_changes() {
    let gw_dir = temp_dir("fwd-reorder");
    let (a_dir, b_dir) = (temp_dir("fwd-reorder-a"), temp_dir("fwd-reorder-b"));
    let (pa, pb) = (free_port(), free_port());
    let (ua, ub) = (
        format!("http://127.0.0.1:{pa}"),
        format!("http://127.0.0.1:{pb}"),
    );
    let gw = Server::start(&gw_dir, &["--forward-to", &ua, "--forward-to", &ub]);
    ingest(&gw, "one.cpu", b"main;first 1\n");
    drop(gw);
    // B comes up first and the gateway now lists B then A: B gets its own copy once.
    let b = Server::start(&b_dir, &["--listen", &format!("127.0.0.1:{pb}")]);
    let gw = Server::start(&gw_dir, &["--forward-to", &ub, "--forward-to", &ua]);
    wait_for("B's copy", || {
        collapsed_of(&b, "one.cpu") == "main;first 1\n"
    });
    ingest(&gw, "two.cpu", b"main;second 1\n");
    wait_for("B's second", || {
        collapsed_of(&b, "two.cpu") == "main;second 1\n"
    });
    drop(gw);
    // The start line names A's queue and its backlog (a short run: the log pipe is not read).
    let mut gw = Server::start_logged(&gw_dir, &["--forward-to", &ub, "--forward-to", &ua]);
    std::thread::sleep(Duration::from_millis(300));
    let log = gw.stop_log();
    assert!(
        log.lines()
            .any(|l| l.contains(&format!("endpoint={ua}")) && l.contains("items=2")),
        "{log}"
    );
    // A removed: its queue is kept and named in the log, nothing of it reaches B.
    let mut gw = Server::start_logged(&gw_dir, &["--forward-to", &ub]);
    std::thread::sleep(Duration::from_millis(300));
    let log = gw.stop_log();
    assert!(
        log.contains("no longer in --forward-to") && log.contains(&ua),
        "{log}"
    );
    assert_eq!(collapsed_of(&b, "one.cpu"), "main;first 1\n");
    assert_eq!(collapsed_of(&b, "two.cpu"), "main;second 1\n");
    // A back, and up: its two queued requests arrive, once each.
    let a = Server::start(&a_dir, &["--listen", &format!("127.0.0.1:{pa}")]);
    let gw = Server::start(&gw_dir, &["--forward-to", &ua, "--forward-to", &ub]);
    wait_for("A's backlog", || {
        collapsed_of(&a, "one.cpu") == "main;first 1\n"
            && collapsed_of(&a, "two.cpu") == "main;second 1\n"
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(collapsed_of(&b, "one.cpu"), "main;first 1\n");
    drop((gw, a, b));
    for d in [gw_dir, a_dir, b_dir] {
        std::fs::remove_dir_all(&d).unwrap();
    }
}

/// After an outage longer than the upstream's window (`--forward-max-age`), queued requests are
/// not sent to be refused: they become dead letters, counted and logged once per round, and
/// `ingest-server dead-letters --export` writes their profiles with the query that sends each
/// again; a request the upstream refused is listed with the upstream's answer.
#[test]
fn requests_past_the_upstream_window_are_kept_for_export() {
    let dir = temp_dir("fwd-max-age");
    let down = format!("http://127.0.0.1:{}", free_port());
    let mut gw = Server::start_logged(
        &dir,
        &[
            "--forward-to",
            &down,
            "--forward-max-age",
            "1",
            "--forward-only",
        ],
    );
    ingest(&gw, "late.cpu%7Benv%3Dprod%7D", b"main;work 3\n");
    ingest(&gw, "late.cpu%7Benv%3Dprod%7D", b"main;idle 2\n");
    wait_for("two expired requests", || {
        get(&gw.url("/metrics")).1.contains(&format!(
            "pyro_forward_expired_total{{endpoint=\"{down}\"}} 2"
        ))
    });
    let metrics = get(&gw.url("/metrics")).1;
    assert!(metrics.contains(&format!(
        "pyro_forward_queue_requests{{endpoint=\"{down}\"}} 0"
    )));
    assert!(metrics.contains(&format!(
        "pyro_forward_dead_lettered_total{{endpoint=\"{down}\"}} 2"
    )));
    let log = gw.stop_log();
    assert!(
        log.contains("--forward-max-age") && log.contains("dead-letters"),
        "{log}"
    );
    assert!(
        log.contains("requests queued over 1 s dead-lettered unsent"),
        "the start line says where and how it forwards: {log}"
    );
    drop(gw);

    let export = dir.join("export");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ingest-server"))
        .args(["dead-letters", "--data-dir"])
        .arg(&dir)
        .arg("--export")
        .arg(&export)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("{down}: 2 dead letters, 0 requests queued")),
        "{stdout}"
    );
    assert!(
        stdout.contains("older than --forward-max-age (1 s)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("exported 2 profiles of 2 dead letters"),
        "{stdout}"
    );
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(export.join("index.json")).unwrap()).unwrap();
    let entries = index.as_array().unwrap();
    assert_eq!(entries.len(), 2);
    let mut stacks = Vec::new();
    for e in entries {
        assert_eq!(e["endpoint"], down.as_str());
        assert_eq!(e["labels"]["service_name"], "late");
        assert_eq!(e["labels"]["env"], "prod");
        assert_eq!(
            e["ingest"],
            "/ingest?name=late%7Benv%3Dprod%7D&format=pprof&spyName=unknown"
        );
        let bytes = std::fs::read(export.join(e["file"].as_str().unwrap())).unwrap();
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&bytes[..]), &mut raw)
            .unwrap();
        let p = pyro_pprof::model::Profile::decode(&raw[..]).unwrap();
        let name = |id: u64| {
            let f = p.function.iter().find(|f| f.id == id).unwrap();
            p.string_table[f.name as usize].clone()
        };
        for s in &p.sample {
            let frames: Vec<String> = s
                .location_id
                .iter()
                .rev()
                .map(|l| name(p.location.iter().find(|x| x.id == *l).unwrap().line[0].function_id))
                .collect();
            stacks.push((frames.join(";"), s.value[0]));
        }
    }
    stacks.sort();
    assert_eq!(
        stacks,
        [
            ("main;idle".to_owned(), 20_000_000),
            ("main;work".to_owned(), 30_000_000)
        ]
    );
    // The export's own query sends a file again, here to a server of our own.
    let target_dir = temp_dir("fwd-max-age-target");
    let target = Server::start(&target_dir, &[]);
    let e = &entries[0];
    let url = target.url(&format!("{}&from={}", e["ingest"].as_str().unwrap(), T + 1));
    let body = std::fs::read(export.join(e["file"].as_str().unwrap())).unwrap();
    assert_eq!(post(&url, None, &[], &body).0, 200);
    assert!(
        get(&target.url("/label-values?label=env"))
            .1
            .contains("prod")
    );
    drop(target);
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&target_dir).unwrap();
}
