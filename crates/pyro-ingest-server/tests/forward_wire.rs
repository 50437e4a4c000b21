//! What a gateway sends upstream, decoded with prost from the public `push.v1` and `google.v1`
//! schemas by a test receiver standing in for Grafana Pyroscope: for every format, series by
//! series, the labels Grafana Pyroscope's ingest adapter would give, the sample types, units,
//! period and values; pprof and push bodies byte for byte as received.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use prost::Message;
use pyro_ingest::push::{LabelPair, PushRequest, RawProfileSeries, RawSample};
use pyro_pprof::model::Profile;

const FROM: i64 = 1_609_459_201;

/// One push request as the receiver got it: the tenant header and the decoded body.
type Got = (Option<String>, PushRequest);

/// A push.v1 endpoint on loopback that answers 200 to every request and keeps what it got.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    fn start() -> Receiver {
        Self::start_failing(None)
    }

    /// A receiver that answers 500 to every request with a series of service `fail` (and keeps
    /// only the others).
    fn start_failing(fail: Option<&'static str>) -> Receiver {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let got = Arc::new(Mutex::new(Vec::new()));
        let keep = got.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let keep = keep.clone();
                std::thread::spawn(move || serve(conn, &keep, fail));
            }
        });
        Receiver { url, got }
    }

    /// Waits for `n` requests and returns them.
    fn wait(&self, n: usize) -> Vec<Got> {
        let started = Instant::now();
        loop {
            let got = self.got.lock().unwrap();
            if got.len() >= n {
                return got.clone();
            }
            drop(got);
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "timed out waiting for {n} push requests"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// HTTP/1.1 keep-alive: request after request on one connection.
fn serve(conn: std::net::TcpStream, got: &Mutex<Vec<Got>>, fail: Option<&str>) {
    let mut out = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        assert!(
            line.starts_with("POST /push.v1.PusherService/Push "),
            "{line}"
        );
        let (mut len, mut tenant) = (0usize, None);
        loop {
            let mut h = String::new();
            r.read_line(&mut h).unwrap();
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap();
            match k.to_ascii_lowercase().as_str() {
                "content-length" => len = v.trim().parse().unwrap(),
                "x-scope-orgid" => tenant = Some(v.trim().to_owned()),
                "content-type" => assert_eq!(v.trim(), "application/proto"),
                _ => {}
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        let req = PushRequest::decode(&body[..]).unwrap();
        let poisoned = fail.is_some_and(|f| {
            req.series.iter().any(|s| {
                s.labels
                    .iter()
                    .any(|l| l.name == "service_name" && l.value == f)
            })
        });
        if poisoned {
            out.write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nboom")
                .unwrap();
            continue;
        }
        got.lock().unwrap().push((tenant, req));
        out.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/proto\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap();
    }
}

fn labels(s: &RawProfileSeries) -> BTreeMap<&str, &str> {
    let m: BTreeMap<&str, &str> = s
        .labels
        .iter()
        .map(|l| (l.name.as_str(), l.value.as_str()))
        .collect();
    assert_eq!(
        m.len(),
        s.labels.len(),
        "a label named twice: {:?}",
        s.labels
    );
    m
}

/// A sample's profile (gunzipped when gzipped).
fn profile(s: &RawSample) -> Profile {
    let mut raw = s.raw_profile.to_vec();
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .unwrap();
        raw = out;
    }
    Profile::decode(&raw[..]).unwrap()
}

/// `type:unit` of each sample type.
fn types(p: &Profile) -> Vec<String> {
    let s = |i: i64| p.string_table[i as usize].clone();
    p.sample_type
        .iter()
        .map(|t| format!("{}:{}", s(t.r#type), s(t.unit)))
        .collect()
}

/// Stack (root first, `;`-joined) → value per sample type.
fn stacks(p: &Profile) -> BTreeMap<String, Vec<i64>> {
    let name = |loc: u64| {
        let l = p.location.iter().find(|l| l.id == loc).unwrap();
        let f = p
            .function
            .iter()
            .find(|f| f.id == l.line[0].function_id)
            .unwrap();
        p.string_table[f.name as usize].clone()
    };
    let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for s in &p.sample {
        let stack: Vec<String> = s.location_id.iter().rev().map(|l| name(*l)).collect();
        let v = out.entry(stack.join(";")).or_insert(vec![0; s.value.len()]);
        for (a, b) in v.iter_mut().zip(&s.value) {
            *a += b;
        }
    }
    out
}

/// A pprof: `types` (`type`, `unit`), an optional cpu/nanoseconds period, `time_nanos`, and
/// samples (leaf-first frame names, one value per type).
fn pprof(
    sample_types: &[(&str, &str)],
    period: Option<i64>,
    time_nanos: i64,
    samples: &[(&[&str], &[i64])],
) -> Vec<u8> {
    let samples: Vec<_> = samples.iter().map(|(f, v)| (*f, *v, &[][..])).collect();
    pprof_profile(sample_types, period, time_nanos, &samples).encode_to_vec()
}

/// A series' labels, sample types and stacks (its one sample's profile).
type Decoded<'a> = (
    BTreeMap<&'a str, &'a str>,
    Vec<String>,
    BTreeMap<String, Vec<i64>>,
);

fn decoded(req: &PushRequest) -> Vec<Decoded<'_>> {
    req.series
        .iter()
        .map(|s| {
            assert_eq!(s.samples.len(), 1);
            let p = profile(&s.samples[0]);
            (labels(s), types(&p), stacks(&p))
        })
        .collect()
}

fn map<'a>(pairs: &[(&'a str, &'a str)]) -> BTreeMap<&'a str, &'a str> {
    pairs.iter().copied().collect()
}

fn ingest(gw: &Server, query: &str, ct: Option<&str>, body: &[u8]) {
    let url = gw.url(&format!("/ingest?{query}&from={FROM}"));
    let (status, msg) = post(&url, ct, &[], body);
    assert_eq!(status, 200, "{msg}");
}

#[test]
fn every_format_arrives_as_grafana_pyroscope_would_store_it() {
    let dir = temp_dir("fwd-wire");
    let rx = Receiver::start();
    let gw = Server::start(
        &dir,
        &[
            "--forward-to",
            &rx.url,
            "--forward-only",
            "--external-label",
            "cluster=eu1",
        ],
    );
    let from_nanos = FROM * 1_000_000_000;

    // 1. folded: process_cpu, samples scaled to nanoseconds by the 100 Hz period.
    ingest(
        &gw,
        "name=web.cpu%7Benv%3Dprod%7D&spyName=pyspy",
        None,
        b"main;work 3\nmain;idle 1\n",
    );
    let got = rx.wait(1);
    assert_eq!(got[0].0, None);
    let [s] = &got[0].1.series[..] else {
        panic!("{:?}", got[0].1)
    };
    assert_eq!(
        labels(s),
        map(&[
            ("__name__", "process_cpu"),
            ("__delta__", "false"),
            ("pyroscope_spy", "pyspy"),
            ("env", "prod"),
            ("service_name", "web"),
            ("cluster", "eu1"),
        ])
    );
    let [sample] = &s.samples[..] else { panic!() };
    assert!(!sample.id.is_empty());
    let p = profile(sample);
    assert_eq!(types(&p), ["cpu:nanoseconds"]);
    assert_eq!(p.period, 10_000_000);
    assert_eq!(p.time_nanos, from_nanos);
    assert_eq!(
        stacks(&p),
        BTreeMap::from([
            ("main;idle".to_owned(), vec![10_000_000]),
            ("main;work".to_owned(), vec![30_000_000]),
        ])
    );

    // 2. a gzipped pprof with its time: forwarded byte for byte, GP's pprof labels.
    let cpu = gzip(&pprof(
        &[("samples", "count"), ("cpu", "nanoseconds")],
        Some(10_000_000),
        from_nanos + 5,
        &[(&["work", "main"], &[7, 70_000_000])],
    ));
    ingest(
        &gw,
        "name=goapp%7Benv%3Dprod%7D&format=pprof&spyName=gospy",
        None,
        &cpu,
    );
    let got = rx.wait(2);
    let [s] = &got[1].1.series[..] else { panic!() };
    assert_eq!(
        labels(s),
        map(&[
            ("__name__", "process_cpu"),
            ("__delta__", "false"),
            ("service_name", "goapp"),
            ("pyroscope_spy", "gospy"),
            ("env", "prod"),
            ("cluster", "eu1"),
        ])
    );
    assert_eq!(s.samples[0].raw_profile, cpu, "the body as received");
    assert!(!s.samples[0].id.is_empty());

    // 3. a plain pprof without a time: the same profile, its time set to `from`; no spy name
    // sent is `pyroscope_spy=unknown` (GP's ingest handler's default).
    let heap = pprof(
        &[("inuse_space", "bytes"), ("alloc_space", "bytes")],
        None,
        0,
        &[(&["malloc", "main"], &[512, 4096])],
    );
    ingest(&gw, "name=heapapp&format=pprof", None, &heap);
    let got = rx.wait(3);
    let [s] = &got[2].1.series[..] else { panic!() };
    assert_eq!(
        labels(s),
        map(&[
            ("__name__", "memory"),
            ("__delta__", "false"),
            ("pyroscope_spy", "unknown"),
            ("service_name", "heapapp"),
            ("cluster", "eu1"),
        ])
    );
    assert!(s.samples[0].raw_profile.starts_with(&heap));
    let p = profile(&s.samples[0]);
    assert_eq!(p.time_nanos, from_nanos);
    assert_eq!(
        p,
        Profile {
            time_nanos: from_nanos,
            ..Profile::decode(&heap[..]).unwrap()
        }
    );

    // 4. multipart with prev_profile (a cumulative pair GP refuses): the deltas computed here,
    // one series per type.
    let types2 = [("alloc_space", "bytes"), ("inuse_space", "bytes")];
    let prev = pprof(&types2, None, 0, &[(&["grow", "main"], &[100, 40])]);
    let cur = pprof(&types2, None, 0, &[(&["grow", "main"], &[300, 50])]);
    let (ct, body) = multipart(&[("profile", &gzip(&cur)), ("prev_profile", &prev)]);
    ingest(&gw, "name=goheap", Some(&ct), &body);
    let got = rx.wait(4);
    let mut series = decoded(&got[3].1);
    series.sort_by(|a, b| a.1.cmp(&b.1));
    let memory = map(&[
        ("__name__", "memory"),
        ("__delta__", "false"),
        ("pyroscope_spy", "unknown"),
        ("service_name", "goheap"),
        ("cluster", "eu1"),
    ]);
    assert_eq!(
        series,
        [
            (
                memory.clone(),
                vec!["alloc_space:bytes".to_owned()],
                BTreeMap::from([("main;grow".to_owned(), vec![200])])
            ),
            (
                memory,
                vec!["inuse_space:bytes".to_owned()],
                BTreeMap::from([("main;grow".to_owned(), vec![50])])
            ),
        ]
    );

    // 5. JFR with a labels snapshot: one series per label set, CPU in nanoseconds, the
    // recording's `event` setting as `jfr_event`.
    let (rec, snapshot) = java_agent_recording();
    let (ct, body) = multipart(&[("jfr", &gzip(&rec)), ("labels", &snapshot.encode_to_vec())]);
    ingest(
        &gw,
        "name=shop%7Benv%3Dprod%7D&format=jfr&spyName=javaspy",
        Some(&ct),
        &body,
    );
    let got = rx.wait(5);
    let mut series = decoded(&got[4].1);
    for s in &got[4].1.series {
        assert_eq!(profile(&s.samples[0]).period, 10_000_000);
    }
    series.sort_by_key(|a| a.0.len());
    let base = [
        ("__name__", "process_cpu"),
        ("__delta__", "false"),
        ("jfr_event", "itimer"),
        ("pyroscope_spy", "javaspy"),
        ("env", "prod"),
        ("service_name", "shop"),
        ("cluster", "eu1"),
    ];
    let mut with_endpoint = map(&base);
    with_endpoint.insert("endpoint", "/checkout");
    assert_eq!(
        series,
        [
            (
                map(&base),
                vec!["cpu:nanoseconds".to_owned()],
                BTreeMap::from([("App.main;App.idle".to_owned(), vec![10_000_000])])
            ),
            (
                with_endpoint,
                vec!["cpu:nanoseconds".to_owned()],
                BTreeMap::from([("App.main;App.work".to_owned(), vec![20_000_000])])
            ),
        ]
    );

    // 6. push: the series as sent (labels, profile bytes, sample IDs), the tenant passed on.
    let push = PushRequest {
        series: vec![RawProfileSeries {
            labels: vec![
                LabelPair {
                    name: "__name__".into(),
                    value: "process_cpu".into(),
                },
                LabelPair {
                    name: "service_name".into(),
                    value: "pushapp".into(),
                },
                LabelPair {
                    name: "cluster".into(),
                    value: "us2".into(),
                },
            ],
            samples: vec![RawSample {
                raw_profile: cpu.clone().into(),
                id: "sample-1".into(),
            }],
        }],
    };
    let (status, msg) = post(
        &gw.url("/push.v1.PusherService/Push"),
        Some("application/proto"),
        &[("X-Scope-OrgID", "team-a")],
        &push.encode_to_vec(),
    );
    assert_eq!(status, 200, "{msg}");
    let got = rx.wait(6);
    assert_eq!(got[5].0.as_deref(), Some("team-a"));
    let mut want = push.clone();
    // The external label replaces the sent one.
    want.series[0].labels.retain(|l| l.name != "cluster");
    want.series[0].labels.push(LabelPair {
        name: "cluster".into(),
        value: "eu1".into(),
    });
    assert_eq!(got[5].1, want);

    // Sample IDs are unique.
    let ids: std::collections::BTreeSet<&str> = got
        .iter()
        .flat_map(|(_, r)| &r.series)
        .flat_map(|s| &s.samples)
        .map(|s| s.id.as_str())
        .collect();
    let samples: usize = got
        .iter()
        .flat_map(|(_, r)| &r.series)
        .map(|s| s.samples.len())
        .sum();
    assert_eq!(ids.len(), samples);
    drop(gw);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A request the upstream always fails on (500) is retried a bounded number of times
/// (`--forward-max-attempts`) and dead-lettered with the upstream's message; the requests queued
/// behind it are delivered, once each.
#[test]
fn a_request_the_upstream_always_fails_on_does_not_jam_the_queue() {
    let upstream = Receiver::start_failing(Some("poison"));
    let dir = temp_dir("fwd-poison");
    let gw = Server::start(
        &dir,
        &["--forward-to", &upstream.url, "--forward-max-attempts", "3"],
    );
    let ingest = |name: &str| {
        let url = gw.url(&format!("/ingest?name={name}&from=1609459201"));
        assert_eq!(post(&url, None, &[], b"main 1\n").0, 200);
    };
    ingest("poison.cpu");
    for i in 0..20 {
        ingest(&format!("good{i}.cpu"));
    }
    let got = upstream.wait(20);
    let started = Instant::now();
    loop {
        let (_, metrics) = get(&gw.url("/metrics"));
        let dead = metrics
            .lines()
            .find(|l| l.starts_with("pyro_forward_dead_lettered"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .unwrap_or(0);
        if dead == 1
            && metrics.contains(&format!(
                "pyro_forward_queue_requests{{endpoint=\"{}\"}} 0",
                upstream.url
            ))
        {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{metrics}");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let got = upstream.got.lock().unwrap().len().max(got.len());
    assert_eq!(got, 20, "every good request once");
    drop(gw);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A token bound to a tenant acts as that tenant without `--multi-tenant` too: a gateway names
/// the token's tenant upstream, and a request naming another tenant in `X-Scope-OrgID` is
/// refused (it landed in that other tenant upstream before).
#[test]
fn bound_tokens_name_their_tenant_upstream_in_a_single_tenant_gateway() {
    let upstream = Receiver::start();
    let dir = temp_dir("fwd-bound");
    let tokens = dir.join("tokens");
    std::fs::write(&tokens, "agent tok-a team-a\nagent tok-free\n").unwrap();
    let gw = Server::start(
        &dir,
        &[
            "--forward-to",
            &upstream.url,
            "--auth-tokens",
            tokens.to_str().unwrap(),
            "--auth-scope",
            "ingest",
        ],
    );
    let url = gw.url("/ingest?name=b.cpu&from=1609459201");
    let send = |token: &str, org: Option<&str>| {
        let mut h = vec![("Authorization", format!("Bearer {token}"))];
        if let Some(o) = org {
            h.push(("X-Scope-OrgID", o.to_owned()));
        }
        let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
        post(&url, None, &h, b"main 1\n").0
    };
    assert_eq!(send("tok-a", Some("team-b")), 403);
    assert_eq!(send("tok-a", Some("team-a")), 200);
    assert_eq!(send("tok-a", None), 200);
    // An unbound token passes the client's own tenant on, as before.
    assert_eq!(send("tok-free", Some("team-c")), 200);
    let got = upstream.wait(3);
    let mut tenants: Vec<Option<String>> = got.into_iter().map(|(t, _)| t).collect();
    tenants.sort();
    assert_eq!(
        tenants,
        [
            Some("team-a".to_owned()),
            Some("team-a".to_owned()),
            Some("team-c".to_owned())
        ]
    );
    drop(gw);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// What Grafana Pyroscope's `/ingest` does to a pprof upload before storing it
/// (`ParseToPprof` and `createLabels`, pkg/og/convert/pprof/profile.go), done by the gateway
/// before it pushes: .NET function ids and sample type names, scripting function names, the
/// upload's own `service_name` kept.
#[test]
fn pprof_uploads_are_repaired_as_grafana_pyroscope_ingest_repairs_them() {
    let dir = temp_dir("fwd-repair");
    let rx = Receiver::start();
    let gw = Server::start(&dir, &["--forward-to", &rx.url, "--forward-only"]);

    // .NET: every function id 0, as many functions as locations, `-` in the sample type.
    let mut dotnet = Profile::decode(
        &pprof(
            &[("inuse-space", "bytes")],
            None,
            FROM * 1_000_000_000,
            &[(&["Alloc", "Main"], &[64])],
        )[..],
    )
    .unwrap();
    for f in &mut dotnet.function {
        f.id = 0;
    }
    let body = dotnet.encode_to_vec();
    ingest(
        &gw,
        "name=netapp&format=pprof&spyName=dotnetspy",
        None,
        &body,
    );
    let got = rx.wait(1);
    let p = profile(&got[0].1.series[0].samples[0]);
    // FixFunctionIDForBrokenDotnet: function i takes location i's id; fixSampleTypes.
    let ids: Vec<(u64, u64)> = p
        .function
        .iter()
        .zip(&p.location)
        .map(|(f, l)| (f.id, l.id))
        .collect();
    assert_eq!(ids, [(1, 1), (2, 2)]);
    assert_eq!(types(&p), ["inuse_space:bytes"]);
    assert_eq!(
        stacks(&p),
        BTreeMap::from([("Main;Alloc".to_owned(), vec![64])])
    );

    // pyspy: functions become `<file> <name>`, except in files with an absolute path.
    let mut py = Profile::decode(
        &pprof(
            &[("cpu", "nanoseconds")],
            Some(10_000_000),
            FROM * 1_000_000_000,
            &[(&["work", "run"], &[30_000_000])],
        )[..],
    )
    .unwrap();
    py.string_table.push("main.py".into());
    py.string_table
        .push("/usr/lib/python3.12/threading.py".into());
    let n = py.string_table.len() as i64;
    py.function[0].filename = n - 2; // work
    py.function[1].filename = n - 1; // run
    let py = gzip(&py.encode_to_vec());
    ingest(
        &gw,
        "name=pyapp%7Bservice_name%3Dcheckout%7D&format=pprof&spyName=pyspy",
        None,
        &py,
    );
    let got = rx.wait(2);
    let s = &got[1].1.series[0];
    let p = profile(&s.samples[0]);
    assert_eq!(
        stacks(&p),
        BTreeMap::from([("run;main.py work".to_owned(), vec![30_000_000])])
    );
    // The old functions stay; the new one has the next id and the old one's file.
    assert_eq!(p.function.len(), 3);
    assert_eq!(p.function[2].id, 3);
    assert_eq!(p.function[2].filename, n - 2);
    // createLabels: the upload's own service_name is kept, not the app name.
    assert_eq!(
        labels(s),
        map(&[
            ("__name__", "process_cpu"),
            ("__delta__", "false"),
            ("pyroscope_spy", "pyspy"),
            ("service_name", "checkout"),
        ])
    );
    drop(gw);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// JFR allocation and lock series go upstream with the period type of their profile type, as
/// grafana/jfr-parser builds them for GP's own `/ingest` (`space/bytes` and period 512 KiB for
/// allocations, `…/count` and period 1 for locks), so GP gives them the profile type ids its
/// JFR testdata names (`memory:alloc_in_new_tlab_bytes:bytes:space:bytes`,
/// pkg/og/convert/jfr/testdata), not ids with empty period parts. Lock events go as jfr-parser
/// splits them (grafana/jfr-parser `pprof/pprof.go`: JavaMonitorEnter → `mutex`, ThreadPark →
/// `block`), not as OG's merged `lock_count`/`lock_duration`, which the store keeps.
#[test]
fn jfr_memory_and_lock_series_keep_jfr_parsers_profile_types() {
    let dir = temp_dir("fwd-jfr-types");
    let rx = Receiver::start();
    let gw = Server::start(&dir, &["--forward-to", &rx.url, "--forward-only"]);
    let rec = pyro_jfr::synth::Recording::new()
        .setting("event", "itimer")
        .execution_sample(&["App.main", "App.work"], "STATE_RUNNABLE", 0)
        .allocation(&["App.main", "App.alloc"], 4096, 0)
        .monitor_enter(&["App.main", "App.lock"], 1000, 0)
        .thread_park(&["App.main", "App.park"], 5000)
        .thread_park(&["App.main", "App.park"], 3000)
        .build();
    ingest(&gw, "name=shop&format=jfr&spyName=javaspy", None, &rec);
    let got = rx.wait(1);
    let mut ids: Vec<String> = got[0]
        .1
        .series
        .iter()
        .map(|s| {
            let l = labels(s);
            let p = profile(&s.samples[0]);
            let st = |i: i64| p.string_table[i as usize].clone();
            let (pt, pu) = p
                .period_type
                .as_ref()
                .map_or((String::new(), String::new()), |v| {
                    (st(v.r#type), st(v.unit))
                });
            let t = &p.sample_type[0];
            let total: i64 = p.sample.iter().map(|s| s.value[0]).sum();
            format!(
                "{}:{}:{}:{pt}:{pu} period={} total={total}",
                l["__name__"],
                st(t.r#type),
                st(t.unit),
                p.period
            )
        })
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            "block:contentions:count:block:count period=1 total=2",
            "block:delay:nanoseconds:block:count period=1 total=8000",
            "memory:alloc_in_new_tlab_bytes:bytes:space:bytes period=524288 total=4096",
            "memory:alloc_in_new_tlab_objects:count:space:bytes period=524288 total=1",
            "mutex:contentions:count:mutex:count period=1 total=1",
            "mutex:delay:nanoseconds:mutex:count period=1 total=1000",
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds period=10000000 total=10000000",
        ]
    );
    drop(gw);
    std::fs::remove_dir_all(&dir).unwrap();
}
