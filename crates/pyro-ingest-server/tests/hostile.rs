//! Hostile and edge-of-limit requests against the real server: each class of the hardening
//! issue as a test of statuses, messages and what is stored (see `benches/hostile/` for the
//! heavy cases with times and peak RSS).

mod common;

use common::*;

/// A `tree` transport node.
fn node(out: &mut Vec<u8>, name: &[u8], value: u64, children: u64) {
    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    varint(out, name.len() as u64);
    out.extend_from_slice(name);
    varint(out, value);
    varint(out, children);
}

/// A stack deeper than the stored form's old depth limit (4,096) but within ingest's
/// `--max-stack-depth` (8,192) is stored, read back, and written to again.
#[test]
fn deep_stacks_read_back_and_take_more_writes() {
    let dir = temp_dir("deep");
    let s = Server::start(&dir, &[]);
    let frames: Vec<String> = (0..5000).map(|i| format!("f{i}")).collect();
    let stack = frames.join(";");
    let body = format!("{stack} 3\nshallow 1\n");
    let url = s.url(&format!("/ingest?name=deep.cpu&{T0}"));
    assert_eq!(post(&url, None, &[], body.as_bytes()).0, 200);
    let got = collapsed(&s, "deep.cpu");
    assert!(got.contains(&format!("{stack} 3\n")), "{:.200}", got);
    // A second write into the same series and slot merges with the deep one.
    assert_eq!(post(&url, None, &[], body.as_bytes()).0, 200);
    let got = collapsed(&s, "deep.cpu");
    assert!(got.contains(&format!("{stack} 6\n")));
    assert!(got.contains("shallow 2\n"));
    let (status, json) = get(&s.url(&format!("/render?query=deep.cpu&{T0}&format=json")));
    assert_eq!(status, 200, "{json:.300}");
    // Past --max-stack-depth: 422, nothing stored.
    let too_deep = format!(
        "{} 1\n",
        (0..8193)
            .map(|i| format!("g{i}"))
            .collect::<Vec<_>>()
            .join(";")
    );
    let (status, msg) = post(&url, None, &[], too_deep.as_bytes());
    assert_eq!(status, 422, "{msg}");
    assert!(collapsed(&s, "deep.cpu").contains("shallow 2\n"));
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `tree`/`trie` node names holding `;` count as the frames they split into, against
/// `--max-stack-depth`, and the frames all stacks of a body expand to are bounded by its size.
#[test]
fn transport_frames_are_counted_after_splitting() {
    let dir = temp_dir("semicolons");
    let s = Server::start(&dir, &["--max-stack-depth", "1000"]);
    let url = |f: &str| s.url(&format!("/ingest?name=t.cpu&format={f}&{T0}"));

    // One node whose name is 1,001 frames: deeper than the limit.
    let mut body = Vec::new();
    node(&mut body, b"", 0, 1);
    node(
        &mut body,
        "a;".repeat(1000).trim_end_matches(';').as_bytes(),
        0,
        1,
    );
    node(&mut body, b"leaf", 1, 0);
    let (status, msg) = post(&url("tree"), None, &[], &body);
    assert_eq!(status, 422, "{msg}");
    assert!(msg.contains("deeper than the limit of 1000"), "{msg}");

    // Within the depth, but 20,000 leaves under a 990-frame path: ~20M frames from ~100 KB.
    let mut body = Vec::new();
    node(&mut body, b"", 0, 1);
    node(
        &mut body,
        "a;".repeat(990).trim_end_matches(';').as_bytes(),
        0,
        20_000,
    );
    for i in 0..20_000u32 {
        node(&mut body, format!("{i:x}").as_bytes(), 1, 0);
    }
    let started = std::time::Instant::now();
    let (status, msg) = post(&url("tree"), None, &[], &body);
    assert_eq!(status, 422, "{msg}");
    assert!(msg.contains("stacks expand to more than"), "{msg}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    // The same shape small enough is stored, frames split.
    let mut body = Vec::new();
    node(&mut body, b"", 0, 1);
    node(&mut body, b"a;b", 0, 2);
    node(&mut body, b"c", 2, 0);
    node(&mut body, b"d;e", 3, 0);
    assert_eq!(post(&url("tree"), None, &[], &body).0, 200);
    assert_eq!(collapsed(&s, "t.cpu"), "a;b;c 2\na;b;d;e 3\n");
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// 401 is decided from the headers: a client that announces a 64 MB body and sends none gets
/// its answer at once, not after the body (or the request timeout).
#[test]
fn auth_is_decided_before_the_body() {
    use std::io::{Read, Write};
    let dir = temp_dir("auth-first");
    let tokens = dir.join("tokens");
    std::fs::write(&tokens, "agent good-token\n").unwrap();
    let s = Server::start(&dir, &["--auth-tokens", tokens.to_str().unwrap()]);
    for path in ["/ingest?name=a.cpu", "/push.v1.PusherService/Push"] {
        let mut c = std::net::TcpStream::connect(&s.addr).unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        write!(
            c,
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/proto\r\n\
             Content-Length: 67108864\r\n\r\n"
        )
        .unwrap();
        let mut buf = [0u8; 512];
        let n = c.read(&mut buf).expect("an answer before any body byte");
        let head = String::from_utf8_lossy(&buf[..n]);
        assert!(head.starts_with("HTTP/1.1 401"), "{path}: {head}");
    }
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn queries_are_bounded() {
    let dir = temp_dir("queries");
    let s = Server::start(&dir, &[]);
    let url = s.url(&format!("/ingest?name=q.cpu&{T0}"));
    assert_eq!(post(&url, None, &[], b"a;b 1\n").0, 200);
    let many: Vec<String> = (0..1000).map(|i| format!("k{i}%3D~%22a.*%22")).collect();
    let started = std::time::Instant::now();
    let (status, body) = get(&s.url(&format!("/render?query=q.cpu%7B{}%7D&{T0}", many.join(","))));
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("query too large: more than 16 regex matchers"),
        "{body}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    let (status, body) = get(&s.url(&format!(
        "/render?query=q.cpu%7Bk%3D~%22{}%22%7D&{T0}",
        "a".repeat(5000)
    )));
    assert_eq!(status, 400, "{body}");
    // Extreme ranges: the data is found, no wrapped arithmetic.
    for range in [
        "from=0&until=99999999999999999999",
        "from=now-9999999999y&until=99999999999999999999",
        "from=now-9999999999y&until=now%2B9999999999y",
    ] {
        let (status, body) = get(&s.url(&format!("/render?query=q.cpu&{range}&format=collapsed")));
        assert_eq!((status, body.as_str()), (200, "a;b 1\n"), "{range}");
        let (status, body) = get(&s.url(&format!("/render?query=q.cpu&{range}&format=json")));
        assert_eq!(status, 200, "{range}: {body:.200}");
    }
    // groupBy fan-out: 1,100 values of one label.
    let mut body = Vec::new();
    for i in 0..1100 {
        let url = s.url(&format!("/ingest?name=g.cpu%7Bid%3D{i}%7D&{T0}"));
        assert_eq!(post(&url, None, &[], b"x 1\n").0, 200);
        if i == 0 {
            body = get(&s.url(&format!("/render?query=g.cpu&{T0}&groupBy=id&format=json")))
                .1
                .into_bytes();
        }
    }
    assert!(String::from_utf8_lossy(&body).contains("\"groups\""));
    let (status, body) = get(&s.url(&format!("/render?query=g.cpu&{T0}&groupBy=id&format=json")));
    assert_eq!(status, 400, "{body:.200}");
    assert!(body.contains("more than 1024 values"), "{body:.200}");
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One log line per request, whatever the outcome: method, path without the query, status,
/// tenant, body bytes, and the reason for 4xx/5xx; tokens never appear.
#[test]
fn every_request_is_logged_once() {
    let dir = temp_dir("log");
    let tokens = dir.join("tokens");
    std::fs::write(&tokens, "agent sekrit-token\n").unwrap();
    let mut s = Server::start_logged(
        &dir,
        &[
            "--auth-scope",
            "ingest",
            "--auth-tokens",
            tokens.to_str().unwrap(),
        ],
    );
    let url = |p: &str| s.url(p);
    let auth = ("Authorization", "Bearer sekrit-token");
    assert_eq!(
        post(&url("/ingest?name=l.cpu&secret=q"), None, &[], b"a 1\n").0,
        401
    );
    assert_eq!(
        post(
            &url("/ingest?name=l.cpu"),
            None,
            &[auth, ("X-Scope-OrgID", "t1")],
            b"a 1\n"
        )
        .0,
        200
    );
    assert_eq!(
        post(&url("/ingest?name=l.cpu"), None, &[auth], b"a x\n").0,
        422
    );
    assert_eq!(get(&url("/nowhere")).0, 404);
    assert_eq!(get(&url("/ingest")).0, 405);
    assert_eq!(get(&url("/labels")).0, 200);
    let log = s.stop_log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(" path=")).collect();
    assert_eq!(lines.len(), 6, "{log}");
    assert!(
        lines[0].contains("WARN") && lines[0].contains("method=POST"),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("path=\"/ingest\" status=401"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("invalid credentials"), "{}", lines[0]);
    assert!(
        lines[1].contains("status=200") && lines[1].contains("tenant=\"t1\""),
        "{}",
        lines[1]
    );
    assert!(lines[1].contains("bytes=4"), "{}", lines[1]);
    assert!(
        lines[2].contains("status=422") && lines[2].contains("invalid count"),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].contains("path=\"/nowhere\" status=404"),
        "{}",
        lines[3]
    );
    assert!(lines[4].contains("status=405"), "{}", lines[4]);
    assert!(
        lines[5].contains("path=\"/labels\" status=200"),
        "{}",
        lines[5]
    );
    assert!(
        !log.contains("sekrit") && !log.contains("secret=q"),
        "{log}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A truncated database is an error with exit code 2 at start (redb panics on some truncations),
/// an existing empty file is refused rather than replaced, and a reopened store keeps its data.
#[test]
fn damaged_database_files_stop_the_start() {
    let dir = temp_dir("damaged");
    let s = Server::start(&dir, &[]);
    for i in 0..20 {
        let url = s.url(&format!("/ingest?name=d{i}.cpu&{T0}"));
        assert_eq!(post(&url, None, &[], b"a;b;c 1\n").0, 200);
    }
    drop(s);
    let file = dir.join("pyro.redb");
    let whole = std::fs::read(&file).unwrap();
    let start = |d: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ingest-server"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(d)
            .output()
            .unwrap()
    };
    for len in [1, 100, 512, 4096, whole.len() / 2, whole.len() - 1] {
        let d = temp_dir(&format!("damaged-{len}"));
        std::fs::write(d.join("pyro.redb"), &whole[..len]).unwrap();
        let out = start(&d);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{len}: {err}");
        assert!(
            err.starts_with("error: cannot open storage: "),
            "{len}: {err}"
        );
        assert!(!err.contains("panicked"), "{len}: {err}");
        std::fs::remove_dir_all(&d).unwrap();
    }
    let d = temp_dir("damaged-empty");
    std::fs::write(d.join("pyro.redb"), b"").unwrap();
    let out = start(&d);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists but is empty"));
    assert_eq!(std::fs::metadata(d.join("pyro.redb")).unwrap().len(), 0);
    std::fs::remove_dir_all(&d).unwrap();

    let store = pyro_store::Store::open(&dir).unwrap();
    assert_eq!(store.series().unwrap().len(), 20);
    store.reopen().unwrap();
    assert_eq!(store.series().unwrap().len(), 20);
    drop(store);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The server-wide bytes-in-flight budget: a request that can never fit is 413, one that does
/// not fit while others are in flight is 503 with `Retry-After`, and the budget comes back.
#[test]
fn bytes_in_flight_are_bounded() {
    use std::io::Write;
    let dir = temp_dir("inflight");
    let s = Server::start(&dir, &["--max-inflight-bytes", "200000"]);
    let url = s.url(&format!("/ingest?name=f.cpu&{T0}"));
    // 60 KB parses within 4 x 60 KB > 200 KB: never.
    let big = "a;b 1\n".repeat(10_000);
    let (status, body) = post(&url, None, &[], big.as_bytes());
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("--max-inflight-bytes"), "{body}");
    // A slow client holds the 150 KB of body it sent (of 190 KB announced): a second 100 KB
    // request must wait.
    let mut slow = std::net::TcpStream::connect(&s.addr).unwrap();
    write!(
        slow,
        "POST /ingest?name=f.cpu HTTP/1.1\r\nHost: x\r\nContent-Length: 190000\r\n\r\n"
    )
    .unwrap();
    slow.write_all(&vec![b'\n'; 150_000]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut resp = agent()
        .post(&url)
        .header("Content-Length", "100000")
        .send(&vec![b'\n'; 100_000][..])
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let _ = resp.body_mut().read_to_string();
    drop(slow);
    std::thread::sleep(std::time::Duration::from_millis(200));
    // Budget back: small requests pass.
    assert_eq!(post(&url, None, &[], b"x;y 2\n").0, 200);
    assert_eq!(collapsed(&s, "f.cpu"), "x;y 2\n");
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// SIGTERM ends the process within the grace period even with a request in flight.
#[test]
fn sigterm_ends_within_the_grace_period() {
    use std::io::Write;
    let dir = temp_dir("grace");
    let mut s = Server::start(&dir, &["--shutdown-grace-secs", "1"]);
    let mut slow = std::net::TcpStream::connect(&s.addr).unwrap();
    write!(
        slow,
        "POST /ingest?name=g.cpu HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\na 1\n"
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let started = std::time::Instant::now();
    let pid = s.child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "still running 5 s after SIGTERM with a 1 s grace"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    drop(slow);
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// One sample type (`samples`/`count`), one sample of `depth` frames all `main`, value 3: a
/// tree of `depth + 1` nodes.
fn deep_pprof(depth: usize) -> Vec<u8> {
    use prost::Message;
    use pyro_pprof::model::{Function, Line, Location, Profile, Sample, ValueType};
    Profile {
        sample_type: vec![ValueType { r#type: 1, unit: 2 }],
        sample: vec![Sample {
            location_id: vec![1; depth],
            value: vec![3],
            ..Default::default()
        }],
        location: vec![Location {
            id: 1,
            line: vec![Line {
                function_id: 1,
                ..Default::default()
            }],
            ..Default::default()
        }],
        function: vec![Function {
            id: 1,
            name: 3,
            ..Default::default()
        }],
        string_table: ["", "samples", "count", "main"].map(String::from).to_vec(),
        ..Default::default()
    }
    .encode_to_vec()
}

/// Past `--max-tree-nodes`, a request may build one node per 2 bytes of its profiles when the
/// server can reserve those trees' memory: a 41-node profile of 91 bytes passes a limit of 10
/// nodes, and is held to the 10 (422) by a server whose in-flight budget could never hold its
/// trees.
#[test]
fn the_tree_node_limit_scales_with_a_reservable_input() {
    let deep = deep_pprof(40);
    assert_eq!(deep.len(), 91);
    let dir = temp_dir("scaled-nodes");
    let s = Server::start(&dir, &["--max-tree-nodes", "10"]);
    let url = s.url(&format!("/ingest?name=deep&format=pprof&{T0}"));
    let (status, body) = post(&url, None, &[], &deep);
    assert_eq!(status, 200, "{body}");
    let (_, names) = get(&s.url("/label-values?label=__name__"));
    let name: Vec<String> = serde_json::from_str(&names).unwrap();
    assert_eq!(name.len(), 1, "{names}");
    let stack = vec!["main"; 40].join(";");
    assert_eq!(collapsed(&s, &name[0]), format!("{stack} 3\n"));
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();

    // The budget counts KiB: 1 for the body, 1 for 91 × 4 bytes of parse memory fit in 3; 3
    // for parse memory and the trees past 10 nodes (35 × 56 bytes) never do.
    let dir = temp_dir("scaled-nodes-tight");
    let s = Server::start(
        &dir,
        &["--max-tree-nodes", "10", "--max-inflight-bytes", "3072"],
    );
    let url = s.url(&format!("/ingest?name=deep&format=pprof&{T0}"));
    let (status, body) = post(&url, None, &[], &deep);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("limit"), "{body}");
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Peak RSS of a process (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Grafana's querier API is bounded like `/render`: 100 selectors of 16 regexes each (234 bytes
/// of gzipped JSON, 1.88 GB of RSS before) and 10 M empty selectors (a 19 KB gzip, 1.87 GB
/// before) are refused at once, and the server stays small.
#[test]
fn querier_requests_are_bounded() {
    let dir = temp_dir("querier-bounds");
    let s = Server::start(&dir, &[]);
    let url = s.url(&format!("/ingest?name=q.cpu&{T0}"));
    assert_eq!(post(&url, None, &[], b"a;b 1\n").0, 200);
    let call = |json: &str| {
        let started = std::time::Instant::now();
        let (status, body) = post(
            &s.url("/querier.v1.QuerierService/LabelNames"),
            Some("application/json"),
            &[("Content-Encoding", "gzip")],
            &gzip(json.as_bytes()),
        );
        (status, body, started.elapsed())
    };
    let regexes: Vec<String> = (0..16).map(|i| format!("k{i}=~\\\".*a.*b.*\\\"")).collect();
    let one = format!("\"{{{}}}\"", regexes.join(","));
    let selectors = vec![one.as_str(); 100].join(",");
    let (status, body, took) = call(&format!("{{\"matchers\":[{selectors}]}}"));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("label selectors in one request"), "{body}");
    assert!(took < std::time::Duration::from_secs(2), "{took:?}");
    // Two selectors within the count, their regexes together over the bound.
    let selectors = [one.as_str(); 2].join(",");
    let (status, body, _) = call(&format!("{{\"matchers\":[{selectors}]}}"));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("regex matchers in one request"), "{body}");
    let empty = vec!["\"\""; 10_000_000].join(",");
    let (status, body, took) = call(&format!("{{\"matchers\":[{empty}]}}"));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("once decoded"), "{body}");
    assert!(took < std::time::Duration::from_secs(2), "{took:?}");
    // A good request still answers.
    let (status, body, _) = call(r#"{"matchers":["{service_name=\"q\"}"]}"#);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("service_name"), "{body}");
    let rss = peak_rss(s.child.id());
    assert!(rss < 300 << 20, "peak RSS {} MB", rss >> 20);
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Grafana's calls with any time bounds and step (`i64::MIN`, `i64::MAX`, a step of 10^300
/// seconds) answer without a wrapped computation: the data inside is found, and a series of more
/// than 11,000 points is refused.
#[test]
fn querier_time_bounds_are_clamped() {
    let dir = temp_dir("querier-clamp");
    let s = Server::start(&dir, &[]);
    let url = s.url(&format!("/ingest?name=c.cpu&{T0}"));
    assert_eq!(post(&url, None, &[], b"a;b 1\n").0, 200);
    let call = |method: &str, json: String| {
        post(
            &s.url(&format!("/querier.v1.QuerierService/{method}")),
            Some("application/json"),
            &[],
            json.as_bytes(),
        )
    };
    let ty = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
    for (start, end) in [(i64::MIN, i64::MAX), (0, i64::MAX), (i64::MIN, 0), (-1, -1)] {
        let (status, body) = call(
            "SelectMergeStacktraces",
            format!(
                r#"{{"profileTypeID":"{ty}","labelSelector":"{{}}","start":"{start}","end":"{end}"}}"#
            ),
        );
        assert_eq!(status, 200, "{start}..{end}: {body}");
        if start <= 0 && end == i64::MAX {
            assert!(body.contains("\"total\":\"10000000\""), "{body}");
        }
        for step in ["1", "1e300", "0.001", "-5"] {
            let (status, body) = call(
                "SelectSeries",
                format!(
                    r#"{{"profileTypeID":"{ty}","labelSelector":"{{}}","start":"{start}","end":"{end}","step":{step}}}"#
                ),
            );
            if step == "1e300" || end < 0 {
                assert_eq!(status, 200, "{start}..{end} step {step}: {body:.300}");
            } else {
                // Billions of points: refused, saying what to change.
                assert_eq!(status, 400, "{start}..{end} step {step}: {body:.300}");
                assert!(body.contains("more than 11000 points"), "{body}");
            }
        }
        let (status, body) = call(
            "LabelNames",
            format!(r#"{{"start":"{start}","end":"{end}"}}"#),
        );
        assert_eq!(status, 200, "{body}");
    }
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Reads reserve their answer's memory from the one `--max-inflight-bytes` budget as it grows:
/// an answer that could never fit is refused with what to narrow (`/render` 422, Grafana
/// `resource_exhausted`), a small one in the same server answers.
#[test]
fn reads_reserve_their_answers_from_the_process_budget() {
    let dir = temp_dir("read-budget");
    let s = Server::start(&dir, &["--max-inflight-bytes", "3000000"]);
    // 30,000 distinct stacks: an answer of 60,001 nodes, 7.7 MB at 128 bytes a node (in
    // uploads small enough for their own trees to fit the budget).
    for part in 0..30 {
        let body: String = (0..1_000)
            .map(|i| format!("main;f{part}_{i};leaf 1\n"))
            .collect();
        let url = s.url(&format!("/ingest?name=big.cpu&{T0}"));
        assert_eq!(post(&url, None, &[], body.as_bytes()).0, 200);
    }
    let url = s.url(&format!("/ingest?name=small.cpu&{T0}"));
    assert_eq!(post(&url, None, &[], b"main;a 1\n").0, 200);
    let (status, body) = get(&s.url(&format!("/render?query=big.cpu&{T0}&format=collapsed")));
    assert_eq!(status, 422, "{body:.300}");
    assert!(body.contains("--max-inflight-bytes"), "{body}");
    let (status, body) = post(
        &s.url("/querier.v1.QuerierService/SelectMergeStacktraces"),
        Some("application/json"),
        &[],
        format!(
            r#"{{"profileTypeID":"process_cpu:cpu:nanoseconds:cpu:nanoseconds","labelSelector":"{{service_name=\"big\"}}","start":"{}","end":"{}"}}"#,
            1_609_459_200_000i64, 1_609_459_210_000i64
        )
        .as_bytes(),
    );
    assert_eq!(status, 429, "{body:.300}");
    assert!(body.contains("resource_exhausted"), "{body:.300}");
    let (status, body) = get(&s.url(&format!("/render?query=small.cpu&{T0}&format=collapsed")));
    assert_eq!((status, body.as_str()), (200, "main;a 1\n"));
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A `--forward-only` gateway whose disk filled up, killed, starts again on the full disk with
/// its queue intact (it refused to open the store before: exit 2, ENOSPC). Needs root for a
/// small tmpfs; says it skipped otherwise.
#[test]
fn a_gateway_starts_on_a_full_disk_with_its_queue() {
    let mnt = temp_dir("full-disk");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
        .arg(&mnt)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _unmount = Unmount(mnt.clone());
    let data = mnt.join("data");
    let args = ["--forward-to", "http://127.0.0.1:9", "--forward-only"];
    let s = Server::start(&data, &args);
    for i in 0..3 {
        let url = s.url(&format!("/ingest?name=f{i}.cpu&{T0}"));
        assert_eq!(post(&url, None, &[], b"main;x 1\n").0, 200);
    }
    // Fill the disk to the last byte.
    let mut filler = std::fs::File::create(mnt.join("filler")).unwrap();
    let block = vec![0u8; 64 << 10];
    while std::io::Write::write_all(&mut filler, &block).is_ok() {}
    drop(filler);
    let url = s.url(&format!("/ingest?name=late.cpu&{T0}"));
    assert_ne!(post(&url, None, &[], b"main;x 1\n").0, 200);
    drop(s); // kill -9
    let s = Server::start(&data, &args);
    let (status, metrics) = get(&s.url("/metrics"));
    assert_eq!(status, 200);
    assert!(
        metrics.contains("pyro_forward_queue_requests{endpoint=\"http://127.0.0.1:9\"} 3"),
        "{metrics}"
    );
    drop(s);
}

/// Bodies are reserved as their bytes arrive, not by the length they announce: eight clients
/// that announce 1 MB each and trickle (16 × 64 MiB + 80 × 1 MiB at 1 B/s held a 1 GiB budget
/// before, and every other `/ingest` got 503) hold 64 KiB each, and agents' uploads go through.
#[test]
fn slow_announced_bodies_do_not_hold_the_budget() {
    use std::io::Write;
    let dir = temp_dir("slow-bodies");
    let s = Server::start(&dir, &["--max-inflight-bytes", "2000000"]);
    let slow: Vec<std::net::TcpStream> = (0..8)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(&s.addr).unwrap();
            write!(
                c,
                "POST /ingest?name=slow.cpu&{T0} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\na 1\n"
            )
            .unwrap();
            c
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let body = "main;work 1\n".repeat(80);
    for i in 0..5 {
        let url = s.url(&format!("/ingest?name=good{i}.cpu&{T0}"));
        let (status, text) = post(&url, None, &[], body.as_bytes());
        assert_eq!(status, 200, "{text}");
    }
    drop(slow);
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A pprof of `sets` label sets, each `labels` labels with `value_len`-byte values (all values
/// distinct), one sample each.
fn labelled_pprof(sets: usize, labels: usize, value_len: usize) -> Vec<u8> {
    use prost::Message;
    use pyro_pprof::model::{Function, Label, Line, Location, Profile, Sample, ValueType};
    let mut strings: Vec<String> = vec!["".into(), "samples".into(), "count".into(), "main".into()];
    let keys: Vec<i64> = (0..labels)
        .map(|k| {
            strings.push(format!("k{k}"));
            strings.len() as i64 - 1
        })
        .collect();
    let sample = (0..sets)
        .map(|i| Sample {
            location_id: vec![1],
            value: vec![1],
            label: keys
                .iter()
                .enumerate()
                .map(|(k, &key)| {
                    let mut v = format!("{i}-{k}-");
                    v.push_str(&"v".repeat(value_len.saturating_sub(v.len())));
                    strings.push(v);
                    Label {
                        key,
                        str: strings.len() as i64 - 1,
                        ..Default::default()
                    }
                })
                .collect(),
        })
        .collect();
    Profile {
        sample_type: vec![ValueType { r#type: 1, unit: 2 }],
        sample,
        location: vec![Location {
            id: 1,
            line: vec![Line {
                function_id: 1,
                ..Default::default()
            }],
            ..Default::default()
        }],
        function: vec![Function {
            id: 1,
            name: 3,
            ..Default::default()
        }],
        string_table: strings,
        ..Default::default()
    }
    .encode_to_vec()
}

/// Long label values times many label sets (one 677 KB pprof of 10k sets × 30 labels × 2 KB
/// took 41.6 s and 5.2 GB of database before) are refused at once by the request's series-bytes
/// limit, and a tenant stops at its series limit while its existing series take writes.
#[test]
fn label_amplification_and_series_per_tenant_are_bounded() {
    let dir = temp_dir("label-amplification");
    let s = Server::start(&dir, &["--max-series-per-tenant", "5"]);
    let body = gzip(&labelled_pprof(300, 30, 1000));
    let url = s.url(&format!("/ingest?name=amp&format=pprof&{T0}"));
    let started = std::time::Instant::now();
    let (status, text) = post(&url, None, &[], &body);
    assert_eq!(status, 422, "{text:.300}");
    assert!(
        text.contains("over the limit of 4194304 per request"),
        "{text:.300}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    assert!(std::fs::metadata(dir.join("pyro.redb")).unwrap().len() < 20 << 20);
    // Five series fit; the sixth is refused, the first still takes writes.
    for i in 0..5 {
        let url = s.url(&format!("/ingest?name=t{i}.cpu&{T0}"));
        assert_eq!(post(&url, None, &[], b"a 1\n").0, 200);
    }
    let url = s.url(&format!("/ingest?name=t5.cpu&{T0}"));
    let (status, text) = post(&url, None, &[], b"a 1\n");
    assert_eq!(status, 429, "{text}");
    assert!(text.contains("limit of 5"), "{text}");
    let url = s.url(&format!("/ingest?name=t0.cpu&{T0}"));
    assert_eq!(post(&url, None, &[], b"a 1\n").0, 200);
    assert_eq!(collapsed(&s, "t0.cpu"), "a 2\n");
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The call trees a request may build are reserved with its parse memory, in proportion to its
/// input: eight concurrent small gzipped profiles that each expand to a 100k-node tree take
/// turns under a budget for one (200, or 503 to retry), and the process stays near its budget
/// (12 × 52 KB profiles of 7.2 M nodes each passed 3.9 GB before).
#[test]
fn concurrent_tree_building_stays_within_the_budget() {
    let dir = temp_dir("tree-budget");
    // Each request's trees: 2 nodes a byte of its 205 KB profile, 23 MB: one at a time.
    let s = Server::start(&dir, &["--max-inflight-bytes", "30000000"]);
    let body = gzip(&wide_pprof(1_000, 100));
    assert!(body.len() < 64 << 10, "{}", body.len());
    let url = s.url(&format!("/ingest?name=deep&format=pprof&{T0}"));
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    let (status, text) = post(&url, None, &[], &body);
                    assert!(status == 200 || status == 503, "{status}: {text}");
                    status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // Taking turns: some wait (before, every one ran at once, its trees unaccounted).
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(statuses.contains(&503), "{statuses:?}");
    let rss = peak_rss(s.child.id());
    assert!(rss < 200 << 20, "peak RSS {} MB", rss >> 20);
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `samples` samples, each a distinct stack of `depth` frames (two distinct frames under the
/// root, then the same frame): `samples × (depth − 1)` tree nodes or so, from a body that gzips
/// to a few kilobytes.
fn wide_pprof(samples: usize, depth: usize) -> Vec<u8> {
    use prost::Message;
    use pyro_pprof::model::{Function, Line, Location, Profile, Sample, ValueType};
    let mut strings: Vec<String> = vec!["".into(), "samples".into(), "count".into()];
    let n = 1000u64;
    for i in 0..=n {
        strings.push(format!("fn{i}"));
    }
    Profile {
        sample_type: vec![ValueType { r#type: 1, unit: 2 }],
        sample: (0..samples as u64)
            .map(|i| {
                let mut ids = vec![1 + (i % n), 1 + (i / n) % n];
                ids.resize(depth, n + 1);
                ids.reverse();
                Sample {
                    location_id: ids,
                    value: vec![1],
                    ..Default::default()
                }
            })
            .collect(),
        location: (1..=n + 1)
            .map(|id| Location {
                id,
                line: vec![Line {
                    function_id: id,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
        function: (1..=n + 1)
            .map(|id| Function {
                id,
                name: 2 + id as i64,
                ..Default::default()
            })
            .collect(),
        string_table: strings,
        ..Default::default()
    }
    .encode_to_vec()
}
