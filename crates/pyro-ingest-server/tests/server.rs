//! The real server binary on an ephemeral loopback port, driven by a real HTTP client.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::*;

#[test]
fn og_render_example_exactly() {
    let dir = temp_dir("example");
    let s = Server::start(&dir, &[]);
    let (status, body) = post(
        &s.url(&format!("/ingest?name=myapp.cpu&{T0}")),
        Some("text/plain"),
        &[],
        b"foo;bar 2\nfoo;baz 3",
    );
    assert_eq!((status, body.as_str()), (200, ""));
    let (status, body) = get(&s.url(&format!("/render?query=myapp.cpu%7B%7D&{T0}&format=json")));
    assert_eq!(status, 200);
    let want = r#"{"version":1,"flamebearer":{"names":["total","foo","baz","bar"],"levels":[[0,5,0,0],[0,5,0,1],[0,2,2,3,0,3,3,2]],"numTicks":5,"maxSelf":3},"timeline":{"startTime":1609459200,"samples":[6],"durationDelta":10,"watermarks":{}},"groups":{"*":{"startTime":1609459200,"samples":[6],"durationDelta":10,"watermarks":{}}},"heatmap":null,"metadata":{"format":"single","spyName":"unknown","sampleRate":100,"units":"samples","name":"myapp.cpu 2021-01-01T00:00:00Z","appName":"myapp.cpu","startTime":1609459200,"endTime":1609459210,"query":"myapp.cpu{}","maxNodes":8192},"annotations":[]}"#;
    assert_eq!(body, want);
    // `name=` selects one exact key (OG crashes here)
    let (status, body) = get(&s.url(&format!("/render?name=myapp.cpu&{T0}&format=collapsed")));
    assert_eq!((status, body.as_str()), (200, "foo;bar 2\nfoo;baz 3\n"));
    // empty format: 200 and nothing
    let (status, body) = get(&s.url(&format!("/render?query=myapp.cpu&{T0}")));
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(
        get(&s.url("/label-values?label=__name__")),
        (200, r#"["myapp.cpu"]"#.to_owned())
    );
    assert_eq!(get(&s.url("/labels")), (200, r#"["__name__"]"#.to_owned()));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_format_and_content_type() {
    let dir = temp_dir("formats");
    let s = Server::start(&dir, &[]);
    let ingest =
        |name: &str, extra_q: &str, ct: Option<&str>, hdrs: &[(&str, &str)], body: &[u8]| {
            post(
                &s.url(&format!("/ingest?name={name}&{T0}{extra_q}")),
                ct,
                hdrs,
                body,
            )
        };
    assert_eq!(
        ingest("lines.cpu", "&format=lines", None, &[], b"a;b\na;b\n").0,
        200
    );
    assert_eq!(collapsed(&s, "lines.cpu"), "a;b 2\n");
    let trie = b"\x00\x00\x01\x06foo;ba\x00\x02\x01r\x02\x00\x01z\x03\x00";
    assert_eq!(
        ingest("trie.cpu", "", Some("binary/octet-stream+trie"), &[], trie).0,
        200
    );
    assert_eq!(collapsed(&s, "trie.cpu"), "foo;bar 2\nfoo;baz 3\n");
    let tree = b"\x00\x00\x01\x03foo\x00\x02\x03bar\x02\x00\x03baz\x03\x00";
    assert_eq!(ingest("tree.cpu", "&format=tree", None, &[], tree).0, 200);
    assert_eq!(collapsed(&s, "tree.cpu"), "foo;bar 2\nfoo;baz 3\n");
    // raw pprof, gzipped without a Content-Encoding header (the Node agent does this)
    assert_eq!(
        ingest(
            "node.app%7Benv%3Dprod%7D",
            "&format=pprof",
            Some("binary/octet-stream"),
            &[],
            &gzip(&tiny_pprof())
        )
        .0,
        200
    );
    assert_eq!(
        collapsed(&s, "node.app.cpu%7Benv%3D%22prod%22%7D"),
        "main;work 3\n"
    );
    // multipart pprof (the Go SDK), with a sample_type_config
    let (ct, body) = multipart(&[
        ("profile", &tiny_pprof()),
        (
            "sample_type_config",
            br#"{"samples":{"display-name":"ticks"}}"#,
        ),
    ]);
    assert_eq!(ingest("go.app", "", Some(&ct), &[], &body).0, 200);
    assert_eq!(collapsed(&s, "go.app.ticks"), "main;work 3\n");
    // folded with Content-Encoding: gzip
    assert_eq!(
        ingest(
            "gz.cpu",
            "",
            Some("text/plain"),
            &[("Content-Encoding", "gzip")],
            &gzip(b"x;y 4\n")
        )
        .0,
        200
    );
    assert_eq!(collapsed(&s, "gz.cpu"), "x;y 4\n");
    let (_, names) = get(&s.url("/label-values?label=__name__"));
    assert_eq!(
        names,
        r#"["go.app.ticks","gz.cpu","lines.cpu","node.app.cpu","tree.cpu","trie.cpu"]"#
    );
    assert_eq!(get(&s.url("/label-values?label=env")).1, r#"["prod"]"#);
    assert_eq!(get(&s.url("/labels")).1, r#"["__name__","env"]"#);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn average_aggregation_divides_by_writes() {
    let dir = temp_dir("avg");
    let s = Server::start(&dir, &[]);
    for body in [&b"a;b 10\na;c 3"[..], &b"a;b 20\na;c 4"[..]] {
        assert_eq!(
            post(
                &s.url(&format!(
                    "/ingest?name=heap.inuse_space&aggregationType=average&units=bytes&{T0}"
                )),
                None,
                &[],
                body
            )
            .0,
            200
        );
    }
    assert_eq!(collapsed(&s, "heap.inuse_space"), "a;b 15\na;c 3\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn acknowledged_writes_survive_kill_9() {
    let dir = temp_dir("durable");
    let mut s = Server::start(&dir, &[]);
    assert_eq!(
        post(
            &s.url(&format!("/ingest?name=durable.cpu&{T0}")),
            None,
            &[],
            b"x;y 7\n"
        )
        .0,
        200
    );
    s.child.kill().unwrap(); // SIGKILL
    s.child.wait().unwrap();
    let s2 = Server::start(&s.dir, &[]);
    assert_eq!(collapsed(&s2, "durable.cpu"), "x;y 7\n");
    drop(s2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn concurrent_ingests_lose_nothing() {
    let dir = temp_dir("concurrent");
    let s = Server::start(&dir, &[]);
    let url = s.url(&format!("/ingest?name=busy.cpu&{T0}"));
    std::thread::scope(|sc| {
        for t in 0..8 {
            let url = url.clone();
            sc.spawn(move || {
                for _ in 0..25 {
                    let body = format!("main;t{t} 1\nmain 2\n");
                    assert_eq!(post(&url, None, &[], body.as_bytes()).0, 200);
                }
            });
        }
    });
    let out = collapsed(&s, "busy.cpu");
    let want: String = std::iter::once("main 400\n".to_owned())
        .chain((0..8).map(|t| format!("main;t{t} 25\n")))
        .collect();
    assert_eq!(out, want);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn retention_deletes_old_slots() {
    let dir = temp_dir("retention");
    let s = Server::start(&dir, &["--retention", "1"]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(
        post(
            &s.url(&format!("/ingest?name=old.cpu&{T0}")),
            None,
            &[],
            b"a 1"
        )
        .0,
        200
    );
    assert_eq!(
        post(
            &s.url(&format!("/ingest?name=new.cpu&from={}", now + 3600)),
            None,
            &[],
            b"a 1"
        )
        .0,
        200
    );
    std::thread::sleep(std::time::Duration::from_millis(2500));
    assert_eq!(collapsed(&s, "old.cpu"), "");
    let (_, body) = get(&s.url(&format!(
        "/render?query=new.cpu&from={}&until={}&format=collapsed",
        now + 3600,
        now + 3610
    )));
    assert_eq!(body, "a 1\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupt_database_is_reported_not_a_crash() {
    let dir = temp_dir("corrupt");
    std::fs::write(
        dir.join("pyro.redb"),
        b"this is not a redb file, just garbage bytes",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ingest-server"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error: cannot open storage: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn chunked_bodies_are_read_whole() {
    let dir = temp_dir("chunked");
    let s = Server::start(&dir, &[]);
    // A reader body of unknown length goes out with Transfer-Encoding: chunked.
    let body: Vec<u8> = (0..2000)
        .flat_map(|i| format!("main;f{} 1\n", i % 7).into_bytes())
        .collect();
    let resp = agent()
        .post(&s.url(&format!("/ingest?name=chunked.cpu&{T0}")))
        .send(ureq::SendBody::from_reader(&mut body.as_slice()))
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let out = collapsed(&s, "chunked.cpu");
    let total: u64 = out
        .lines()
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum();
    assert_eq!(total, 2000);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn group_by_and_pprof_render() {
    let dir = temp_dir("groupby");
    let s = Server::start(&dir, &[]);
    for (env, body) in [("prod", "a;b 2\n"), ("dev", "a;c 5\n")] {
        let url = s.url(&format!("/ingest?name=svc.cpu%7Benv%3D{env}%7D&{T0}"));
        assert_eq!(post(&url, None, &[], body.as_bytes()).0, 200);
    }
    // A series without `env`: its own group, so the groups add up to the whole.
    let url = s.url(&format!("/ingest?name=svc.cpu%7Bregion%3Deu%7D&{T0}"));
    assert_eq!(post(&url, None, &[], b"a;d 4\n").0, 200);
    let (status, body) = get(&s.url(&format!(
        "/render?query=svc.cpu&{T0}&format=json&groupBy=env"
    )));
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["groups"]["prod"]["samples"], serde_json::json!([3]));
    assert_eq!(v["groups"]["dev"]["samples"], serde_json::json!([6]));
    assert_eq!(v["groups"][""]["samples"], serde_json::json!([5]));
    assert_eq!(v["groups"].as_object().unwrap().len(), 3);
    assert_eq!(v["timeline"]["samples"], serde_json::json!([12]));
    assert_eq!(v["flamebearer"]["numTicks"], 11);
    // pprof output reads back to the same stacks
    let mut resp = agent()
        .get(&s.url(&format!("/render?query=svc.cpu&{T0}&format=pprof")))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.headers()
            .get("content-disposition")
            .unwrap()
            .to_str()
            .unwrap(),
        "attachment; filename=\"svc.cpu 2021-01-01T00:00:00Z.pprof\""
    );
    let bytes = resp.body_mut().read_to_vec().unwrap();
    let limits = pyro_pprof::Limits::default();
    let p = pyro_pprof::Profile::parse(&bytes, &limits).unwrap();
    let name = pyro_labels::SeriesName::parse("back").unwrap();
    let series = pyro_pprof::to_series(
        &p,
        &name,
        &pyro_sampletype::SampleTypes::default(),
        None,
        &limits,
    )
    .unwrap();
    assert_eq!(series.len(), 1);
    // CPU samples at 100 Hz are written as nanoseconds (10 ms each), named cpu.
    assert_eq!(series[0].name.to_string(), "back.cpu{}");
    assert_eq!(
        series[0].tree.to_folded(),
        "a;b 20000000\na;c 50000000\na;d 40000000\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn expect_100_continue_and_profile_bombs() {
    let dir = temp_dir("expect");
    let s = Server::start(&dir, &["--max-decompressed-bytes", "100000"]);
    let (status, _) = post(
        &s.url(&format!("/ingest?name=exp.cpu&{T0}")),
        Some("application/x-www-form-urlencoded"),
        &[("Expect", "100-continue")],
        b"e;f 9\n",
    );
    assert_eq!(status, 200);
    assert_eq!(collapsed(&s, "exp.cpu"), "e;f 9\n");
    // a gzipped pprof body that inflates past the limit: 413, not 422
    let bomb = gzip(&vec![0u8; 1_000_000]);
    let (status, body) = post(&s.url("/ingest?name=bomb&format=pprof"), None, &[], &bomb);
    assert_eq!(status, 413, "{body}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn push_v1_proto_json_gzip_and_k6() {
    let dir = temp_dir("push");
    let s = Server::start(&dir, &[]);
    let url = s.url("/push.v1.PusherService/Push");
    // pyroscope-io 1.x: service_name with braces, gzipped body, gzipped pprof
    let body = push_body("py.app{env=test}", &[("region", "eu")], gzip(&tiny_pprof()));
    let (status, resp) = post(
        &url,
        Some("application/proto"),
        &[("Content-Encoding", "gzip")],
        &gzip(&body),
    );
    assert_eq!((status, resp.as_str()), (200, ""));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let render = |q: &str| {
        get(&s.url(&format!(
            "/render?query={q}&from={}&until={}&format=collapsed",
            now - 60,
            now + 60
        )))
        .1
    };
    assert_eq!(
        render("py.app.cpu%7Benv%3D%22test%22,region%3D%22eu%22%7D"),
        "main;work 3\n"
    );
    // JSON with base64 rawProfile, and k6 baggage
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, tiny_pprof());
    let json = format!(
        r#"{{"series":[{{"labels":[{{"name":"service_name","value":"js.app"}}],"samples":[{{"rawProfile":"{b64}","ID":"1"}}]}}]}}"#
    );
    let (status, resp) = post(
        &url,
        Some("application/json"),
        &[("baggage", "k6.test_run_id=123, k6.scenario=default")],
        json.as_bytes(),
    );
    assert_eq!((status, resp.as_str()), (200, "{}"));
    assert_eq!(
        render("js.app.cpu%7Bk6_test_run_id%3D%22123%22%7D"),
        "main;work 3\n"
    );
    assert_eq!(
        get(&s.url("/label-values?label=k6_scenario")).1,
        r#"["default"]"#
    );
    // No service_name: `unknown_service`, as Grafana Pyroscope's distributor names it
    // (pkg/distributor/distributor.go, AttrServiceNameFallback).
    let (status, resp) = post(
        &url,
        Some("application/proto"),
        &[],
        &push_body("", &[], tiny_pprof()),
    );
    assert_eq!(status, 200, "{resp}");
    assert!(
        get(&s.url("/label-values?label=__name__"))
            .1
            .contains(r#""unknown_service.cpu""#)
    );
    // errors are Connect JSON
    let (status, resp) = post(
        &url,
        Some("application/proto"),
        &[],
        &push_body("my app", &[], tiny_pprof()),
    );
    assert_eq!(status, 400);
    assert_eq!(
        resp,
        r#"{"code":"invalid_argument","message":"service_name: invalid application name: my app: character is not allowed: ' '"}"#
    );
    let (status, resp) = post(&url, Some("text/plain"), &[], b"x");
    assert_eq!(status, 400);
    assert!(resp.contains("unsupported content type"), "{resp}");
    let (status, resp) = post(
        &url,
        Some("application/proto"),
        &[],
        &push_body("a", &[], b"\x0a\x05".to_vec()),
    );
    assert_eq!(status, 400, "{resp}");
    assert!(
        resp.starts_with(
            r#"{"code":"invalid_argument","message":"Profile.sample_type: truncated field"#
        ),
        "{resp}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn k6_baggage_on_ingest() {
    let dir = temp_dir("k6");
    let s = Server::start(&dir, &[]);
    let (status, _) = post(
        &s.url(&format!("/ingest?name=web.cpu%7Benv%3Dprod%7D&{T0}")),
        None,
        &[(
            "baggage",
            "foo=bar,k6.test_run_id=undefined,k6.scenario=s1,k6.name=GET /api/{id}",
        )],
        b"h;q 1\n",
    );
    assert_eq!(status, 200);
    let (_, body) = get(&s.url(&format!("/render?query=web.cpu%7Bk6_test_run_id%3D%22undefined%22,k6_name%3D%22GET%20/api/%7Bid%7D%22%7D&{T0}&format=collapsed")));
    assert_eq!(body, "h;q 1\n");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A bad token file stops the start with the line number, never the token (the HTTP side of
/// auth is tested in-process, tests/router.rs).
#[test]
fn a_bad_token_file_stops_the_start() {
    let dir = temp_dir("auth");
    let tokens = dir.join("tokens");
    for (text, want) in [
        ("agent\n", "line 1: expected `<role> <token>`"),
        ("# no tokens yet\n", "no token in the file"),
    ] {
        std::fs::write(&tokens, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_ingest-server"))
            .args(["serve", "--listen", "127.0.0.1:0", "--auth-tokens"])
            .arg(&tokens)
            .arg("--data-dir")
            .arg(&dir)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains(want));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn hostile_clients_hit_limits() {
    use std::io::Read;
    use std::net::TcpStream;
    let dir = temp_dir("hostile");
    let s = Server::start(
        &dir,
        &[
            "--header-timeout-secs",
            "1",
            "--request-timeout-secs",
            "1",
            "--max-header-bytes",
            "8192",
            "--max-series-per-request",
            "2",
        ],
    );
    // oversized headers: 431 (the server may close before the client finishes writing)
    let mut c = TcpStream::connect(&s.addr).unwrap();
    let head = format!(
        "POST /ingest?name=h HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nContent-Length: 3\r\n\r\na 1",
        "x".repeat(20_000)
    );
    let _ = c.write_all(head.as_bytes());
    c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 64];
    let n = c.read(&mut buf).unwrap_or(0);
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 431"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    // slow-loris: headers never finish, the server closes the connection
    let mut c = TcpStream::connect(&s.addr).unwrap();
    c.write_all(b"POST /ingest?name=slow HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let _ = c.read_to_end(&mut buf);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "connection left open"
    );
    // slow body: 408
    let mut c = TcpStream::connect(&s.addr).unwrap();
    c.write_all(b"POST /ingest?name=slow HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\na 1\n")
        .unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 64];
    let n = c.read(&mut buf).unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    // too many series in one request: 422, nothing stored
    let (status, body) = post(
        &s.url(&format!("/ingest?name=many&format=pprof&{T0}")),
        None,
        &[],
        &three_series_pprof(),
    );
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("3 series exceed the limit of 2 per request"),
        "{body}"
    );
    // too many multipart parts
    let parts: Vec<(&str, &[u8])> = (0..20).map(|_| ("junk", &b"x"[..])).collect();
    let (ct, mp) = multipart(&parts);
    let (status, body) = post(&s.url("/ingest?name=mp"), Some(&ct), &[], &mp);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("more than 16 multipart parts"), "{body}");
    assert_eq!(get(&s.url("/label-values?label=__name__")).1, "[]");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A pprof whose samples carry three values of a `thread` label: three series.
fn three_series_pprof() -> Vec<u8> {
    let mut p = vec![0x0a, 0x04, 0x08, 0x01, 0x10, 0x02];
    for t in [6u8, 7, 8] {
        // sample {location_id: 1, value: 1, label {key: 5, str: t}}
        p.extend_from_slice(&[
            0x12, 0x0b, 0x0a, 0x01, 0x01, 0x10, 0x01, 0x1a, 0x04, 0x08, 0x05, 0x10, t,
        ]);
    }
    p.extend_from_slice(&[
        0x22, 0x06, 0x08, 0x01, 0x22, 0x02, 0x08, 0x01, 0x2a, 0x04, 0x08, 0x01, 0x10, 0x03,
    ]);
    for s in [
        "", "samples", "count", "main", "unused", "thread", "t1", "t2", "t3",
    ] {
        p.push(0x32);
        p.push(s.len() as u8);
        p.extend_from_slice(s.as_bytes());
    }
    p
}

#[test]
fn soak_mixed_traffic_keeps_memory_flat() {
    let dir = temp_dir("soak");
    let s = Server::start(&dir, &[]);
    let pid = s.child.id();
    let round = |n: usize| {
        std::thread::scope(|sc| {
            for t in 0..4 {
                let s = &s;
                sc.spawn(move || {
                    for i in 0..n {
                        let good = format!("main;t{t};f{} {}\n", i % 13, 1 + i % 5);
                        let url = s.url(&format!("/ingest?name=soak.app{}.cpu&{T0}", i % 20));
                        assert_eq!(post(&url, None, &[], good.as_bytes()).0, 200);
                        let bad: [(&str, &[u8]); 3] = [
                            ("/ingest?name=bad%20name", b"a 1"),
                            ("/ingest?name=a", b"a -1"),
                            ("/ingest?name=a&format=pprof", b"\x0a\x09junk"),
                        ];
                        let (path, body) = bad[i % 3];
                        assert!(post(&s.url(path), None, &[], body).0 >= 400);
                    }
                });
            }
        })
    };
    round(150);
    let warm = rss_kb(pid);
    round(300);
    let after = rss_kb(pid);
    assert!(
        after < warm + warm / 2 + 20_000,
        "RSS grew from {warm} kB to {after} kB"
    );
    let total: u64 = (0..20)
        .map(|a| {
            collapsed(&s, &format!("soak.app{a}.cpu"))
                .lines()
                .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
                .sum::<u64>()
        })
        .sum();
    // 4 threads × 450 good requests, values 1..=5 cycling
    let per_thread: u64 = (0..450u64).map(|i| 1 + i % 5).sum();
    assert_eq!(total, 4 * per_thread);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn adhoc_runs_the_child_and_writes_series() {
    let dir = temp_dir("adhoc");
    // The child uploads twice to the address it is given, then exits with 3.
    let script = r#"
import os, urllib.request
addr = os.environ["PYROSCOPE_ADHOC_SERVER_ADDRESS"]
assert addr.startswith("http://127.0.0.1:"), addr
for body in (b"main;work 2\n", b"main;work 3\nmain;idle 1\n"):
    urllib.request.urlopen(urllib.request.Request(addr + "/ingest?name=adhoc.app.cpu", data=body)).read()
raise SystemExit(3)
"#;
    let out = Command::new(env!("CARGO_BIN_EXE_ingest-server"))
        .args(["adhoc", "--output-dir"])
        .arg(&dir)
        .args(["--", "python3", "-c", script])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.ends_with("index.json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("adhoc.app.cpu-") && name.ends_with(".collapsed.txt"),
        "{name}"
    );
    assert_eq!(
        std::fs::read_to_string(&files[0]).unwrap(),
        "main;idle 1\nmain;work 5\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn adhoc_forwards_sigterm() {
    let dir = temp_dir("adhoc-signal");
    let script = "import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *a: sys.exit(42))\nprint('ready', flush=True)\ntime.sleep(30)\n";
    let mut child = Command::new(env!("CARGO_BIN_EXE_ingest-server"))
        .args(["adhoc", "--output-format", "json", "--output-dir"])
        .arg(&dir)
        .args(["--", "python3", "-c", script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(child.wait().unwrap().code(), Some(42));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let dir = temp_dir("sigterm");
    let mut s = Server::start(&dir, &[]);
    assert_eq!(
        post(
            &s.url(&format!("/ingest?name=term.cpu&{T0}")),
            None,
            &[],
            b"t 1"
        )
        .0,
        200
    );
    let status = Command::new("kill")
        .args(["-TERM", &s.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = std::time::Instant::now();
    let code = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st.code();
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "still running"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(code, Some(0));
    let s2 = Server::start(&dir, &[]);
    assert_eq!(collapsed(&s2, "term.cpu"), "t 1\n");
    drop(s2);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn sorted_lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(str::to_owned).collect();
    v.sort();
    v
}

#[test]
fn jfr_raw_and_multipart_with_labels() {
    use prost::Message;
    let dir = temp_dir("jfr");
    let s = Server::start(&dir, &[]);
    let repo = format!("{}/../../testdata/jfr", env!("CARGO_MANIFEST_DIR"));
    let jfr = std::fs::read(format!("{repo}/jdk17-workload.jfr")).unwrap();
    // A raw body as curl sends it (form content type), gzipped: sniffed like the parts.
    let (status, body) = post(
        &s.url(&format!(
            "/ingest?name=java.app&format=jfr&spyName=javaspy&{T0}"
        )),
        Some("application/x-www-form-urlencoded"),
        &[],
        &gzip(&jfr),
    );
    assert_eq!((status, body.as_str()), (200, ""));
    let want =
        std::fs::read_to_string(format!("{repo}/results/jdk17-workload.jfr.cpu.txt")).unwrap();
    assert_eq!(
        sorted_lines(&collapsed(&s, "java.app.cpu%7B%7D")),
        sorted_lines(&want)
    );
    let want = std::fs::read_to_string(format!(
        "{repo}/results/jdk17-workload.jfr.alloc_in_new_tlab_bytes.txt"
    ))
    .unwrap();
    // An empty stack (root self) has no line in OG's collapsed render.
    let want: Vec<String> = sorted_lines(&want)
        .into_iter()
        .filter(|l| !l.starts_with(' '))
        .collect();
    assert_eq!(
        sorted_lines(&collapsed(&s, "java.app.alloc_in_new_tlab_bytes%7B%7D")),
        want
    );

    // The pyroscope-java agent: multipart `jfr` (gzipped) + `labels` (a LabelsSnapshot).
    let (rec, snapshot) = java_agent_recording();
    let labels = gzip(&snapshot.encode_to_vec());
    let (ct, mp) = multipart(&[("jfr", &gzip(&rec)), ("labels", &labels)]);
    let (status, body) = post(
        &s.url(&format!(
            "/ingest?name=shop%7Benv%3Dprod%7D&format=jfr&{T0}"
        )),
        Some(&ct),
        &[],
        &mp,
    );
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(
        collapsed(&s, "shop.itimer%7Bendpoint%3D%22%2Fcheckout%22%7D"),
        "App.main;App.work 2\n"
    );
    assert_eq!(
        sorted_lines(&collapsed(&s, "shop.itimer%7Benv%3D%22prod%22%7D")),
        ["App.main;App.idle 1", "App.main;App.work 2"]
    );
    let (status, body) = get(&s.url("/label-values?label=endpoint"));
    assert_eq!((status, body.as_str()), (200, r#"["/checkout"]"#));

    // Errors: no `jfr` part; a recording cut short; a snapshot that is not protobuf.
    let (ct, mp) = multipart(&[("labels", &labels)]);
    assert_eq!(
        post(&s.url("/ingest?name=shop&format=jfr"), Some(&ct), &[], &mp),
        (
            422,
            "error happened while parsing request body: \"jfr field is required\"\n".into()
        )
    );
    let (ct, mp) = multipart(&[("jfr", &rec[..rec.len() - 3])]);
    let (status, body) = post(&s.url("/ingest?name=shop&format=jfr"), Some(&ct), &[], &mp);
    assert_eq!(status, 422);
    assert!(
        body.contains("unable to parse JFR format: unexpected end of input while reading chunk"),
        "{body}"
    );
    let (ct, mp) = multipart(&[("jfr", &rec), ("labels", b"\xff\xff\xff")]);
    let (status, body) = post(&s.url("/ingest?name=shop&format=jfr"), Some(&ct), &[], &mp);
    assert_eq!(status, 422);
    assert!(body.contains("labels: invalid labels snapshot"), "{body}");
    std::fs::remove_dir_all(&dir).unwrap();
}
