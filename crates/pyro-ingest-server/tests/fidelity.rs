//! What real clients send arrives as they meant it: two brace groups in `name`, push series with
//! their agent's spy name and sample rate, pprof out and back in with the types a pprof user
//! expects.

mod common;

use common::*;
use prost::Message;
use pyro_pprof::model::{Function, Line, Location, Mapping, Profile, Sample, ValueType};

/// A CPU profile as pyroscope-rs sends it: samples/count with a 10 ms cpu/nanoseconds period.
fn cpu_pprof(period: i64) -> Vec<u8> {
    typed_pprof(("samples", "count"), period, 7)
}

/// A one-sample profile of sample type `(name, unit)`, period type `cpu/nanoseconds`.
fn typed_pprof((ty, unit): (&str, &str), period: i64, value: i64) -> Vec<u8> {
    let strings = ["", ty, unit, "cpu", "nanoseconds", "main", "work"];
    Profile {
        sample_type: vec![ValueType { r#type: 1, unit: 2 }],
        period_type: Some(ValueType { r#type: 3, unit: 4 }),
        period,
        sample: vec![Sample {
            location_id: vec![2, 1],
            value: vec![value],
            label: vec![],
        }],
        mapping: vec![Mapping {
            id: 1,
            ..Default::default()
        }],
        location: (1..=2)
            .map(|id| Location {
                id,
                mapping_id: 1,
                line: vec![Line {
                    function_id: id,
                    line: 0,
                }],
                ..Default::default()
            })
            .collect(),
        function: (1..=2)
            .map(|id| Function {
                id,
                name: 4 + id as i64,
                ..Default::default()
            })
            .collect(),
        string_table: strings.iter().map(|s| (*s).to_owned()).collect(),
        ..Default::default()
    }
    .encode_to_vec()
}

#[test]
fn two_brace_groups_in_name_for_every_format() {
    let dir = temp_dir("braces");
    let s = Server::start(&dir, &[]);
    let name = "svc%7Benv%3Dtest%7D.cpu%7Bregion%3Deu%2Cteam%3Da%7D";
    let folded = s.url(&format!("/ingest?name={name}&{T0}"));
    assert_eq!(post(&folded, None, &[], b"a;b 1\n").0, 200);
    // pprof bodies are named without the type (`APP{tags}`): `svc{env=test}{region=eu,team=a}`.
    let pprof_name = "svc%7Benv%3Dtest%7D%7Bregion%3Deu%2Cteam%3Da%7D";
    let pprof = s.url(&format!("/ingest?name={pprof_name}&format=pprof&{T0}"));
    assert_eq!(post(&pprof, None, &[], &cpu_pprof(10_000_000)).0, 200);
    let q = "svc.cpu%7Benv%3D%22test%22%2Cregion%3D%22eu%22%2Cteam%3D%22a%22%7D";
    assert_eq!(collapsed(&s, q), "a;b 1\nmain;work 7\n");
    let (_, names) = get(&s.url("/label-values?label=__name__"));
    assert_eq!(names, r#"["svc.cpu"]"#);
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn push_series_get_spy_name_and_sample_rate() {
    use pyro_ingest::push::{LabelPair, PushRequest, RawProfileSeries, RawSample};
    let dir = temp_dir("push-meta");
    let s = Server::start(&dir, &[]);
    let series = |service: &str, extra: &[(&str, &str)]| RawProfileSeries {
        labels: std::iter::once(("service_name", service))
            .chain(extra.iter().copied())
            .map(|(n, v)| LabelPair {
                name: n.into(),
                value: v.into(),
            })
            .collect(),
        samples: vec![RawSample {
            raw_profile: cpu_pprof(10_000_000).into(),
            id: String::new(),
        }],
    };
    let body = PushRequest {
        series: vec![
            series("py", &[]),
            series("custom", &[("pyroscope.spy", "myspy")]),
        ],
    }
    .encode_to_vec();
    let (status, _) = post(
        &s.url("/push.v1.PusherService/Push"),
        Some("application/proto"),
        &[("User-Agent", "pyroscope-rs/0.5.7 python/3.11")],
        &body,
    );
    assert_eq!(status, 200);
    for (app, spy) in [("py.cpu", "pyspy"), ("custom.cpu", "myspy")] {
        let (status, json) = get(&s.url(&format!("/render?query={app}&{T0}&format=json")));
        assert_eq!(status, 200, "{json}");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["metadata"]["spyName"], spy, "{json}");
        assert_eq!(v["metadata"]["sampleRate"], 100, "{json}");
        assert_eq!(v["metadata"]["units"], "samples", "{json}");
    }
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `/render?format=pprof` writes the sample and period types of the series' type and units, and
/// reading that file back with the app name gives the same series.
#[test]
fn pprof_out_and_back_in_for_each_type() {
    let dir = temp_dir("pprof-types");
    let s = Server::start(&dir, &[]);
    // (series type, units, expected sample type, unit, period, value scale)
    let cases = [
        (
            "cpu",
            "samples",
            "cpu",
            "nanoseconds",
            10_000_000,
            10_000_000u64,
        ),
        ("alloc_space", "bytes", "alloc_space", "bytes", 0, 1),
        ("alloc_objects", "objects", "alloc_objects", "count", 0, 1),
        ("inuse_space", "bytes", "inuse_space", "bytes", 0, 1),
        ("goroutines", "goroutines", "goroutines", "count", 0, 1),
        (
            "lock_duration",
            "lock_nanoseconds",
            "lock_duration",
            "nanoseconds",
            0,
            1,
        ),
    ];
    for (ty, units, want_ty, want_unit, want_period, scale) in cases {
        let url = s.url(&format!("/ingest?name=app.{ty}&units={units}&{T0}"));
        assert_eq!(post(&url, None, &[], b"main;work 3\nmain 1\n").0, 200);
        let mut resp = agent()
            .get(&s.url(&format!("/render?query=app.{ty}&{T0}&format=pprof")))
            .call()
            .unwrap();
        let bytes = resp.body_mut().read_to_vec().unwrap();
        let p = Profile::decode(&bytes[..]).unwrap();
        let st = p.sample_type[0].clone();
        let name = |i: i64| p.string_table[i as usize].as_str();
        assert_eq!(
            (name(st.r#type), name(st.unit)),
            (want_ty, want_unit),
            "{ty}"
        );
        assert_eq!(p.period, want_period, "{ty}");
        if want_period > 0 {
            let pt = p.period_type.clone().unwrap();
            assert_eq!((name(pt.r#type), name(pt.unit)), ("cpu", "nanoseconds"));
        }
        let req = pyro_ingest::Request::new("app", bytes);
        let series = pyro_ingest::decode(&req, &pyro_ingest::Limits::default()).unwrap();
        assert_eq!(series.len(), 1, "{ty}");
        assert_eq!(series[0].name.to_string(), format!("app.{ty}{{}}"), "{ty}");
        assert_eq!(
            series[0].tree.to_folded(),
            format!("main {}\nmain;work {}\n", scale, 3 * scale),
            "{ty}"
        );
    }
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Runs `adhoc` and checks that its temporary store is gone afterwards.
fn adhoc(dir: &std::path::Path, command: &[&str]) -> std::process::Output {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_ingest-server"))
        .args(["adhoc", "--output-dir"])
        .arg(dir)
        .arg("--")
        .args(command)
        .env_remove("PYROSCOPE_SERVER_ADDRESS")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let store = std::env::temp_dir().join(format!("pyro-adhoc-{}", child.id()));
    let out = child.wait_with_output().unwrap();
    assert!(!store.exists(), "{} left behind", store.display());
    out
}

/// Realistic tags make long series names: files get short safe names with an index.json of
/// full series, the exit code is the child's, and no temporary store is left behind.
#[test]
fn adhoc_cannot_lose_a_run() {
    let dir = temp_dir("adhoc-long");
    let tags: Vec<String> = (0..25)
        .map(|i| format!("tag{i}%3D{}", "v".repeat(60)))
        .collect();
    let script = format!(
        r#"
import os, urllib.request
addr = os.environ["PYROSCOPE_SERVER_ADDRESS"]
for name in ("svc.cpu%7B{tags}%7D", "svc.cpu%7B{tags}%2Cextra%3D1%7D", "other%2Fapp.alloc_space"):
    urllib.request.urlopen(urllib.request.Request(addr + "/ingest?name=" + name, data=b"main;work 2\n")).read()
raise SystemExit(7)
"#,
        tags = tags.join("%2C")
    );
    let out = adhoc(&dir, &["python3", "-c", &script]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "{err}");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let entries = index.as_array().unwrap();
    assert_eq!(entries.len(), 3, "{index}");
    for e in entries {
        let file = e["file"].as_str().unwrap();
        assert!(file.len() < 120, "{file}");
        assert!(!file.contains('/') && !file.contains('{'), "{file}");
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        assert_eq!(text, "main;work 2\n");
    }
    let series: Vec<&str> = entries
        .iter()
        .map(|e| e["series"].as_str().unwrap())
        .collect();
    assert!(series.contains(&"other/app.alloc_space{}"), "{series:?}");
    assert!(
        series
            .iter()
            .any(|s| s.contains("extra=1") && s.len() > 1500)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn adhoc_exit_codes_as_a_shell() {
    let dir = temp_dir("adhoc-codes");
    let out = adhoc(&dir, &["definitely-not-a-command-here"]);
    assert_eq!(out.status.code(), Some(127));
    let script = dir.join("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    let out = adhoc(&dir, &[script.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(126));
    // Nothing arrived: said so, with the address.
    let out = adhoc(&dir, &["true"]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no profiles arrived at http://127.0.0.1:"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--listen :PORT` binds every interface with a warning; the start line says how the server
/// runs; an address in use or a data dir that cannot be written is one line and exit 2.
#[test]
fn starting_and_probing() {
    use std::io::{BufRead, BufReader, Read};
    let dir = temp_dir("start");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ingest-server"))
        .args([
            "serve",
            "--listen",
            ":0",
            "--multi-tenant",
            "--retention",
            "3600",
            "--data-dir",
        ])
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("listening on 0.0.0.0:"), "{line}");
    let port = line.trim().rsplit(':').next().unwrap().to_owned();
    // The same port again: one line, exit 2.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ingest-server"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.join("other"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains("cannot listen on 127.0.0.1:"), "{err}");
    let _ = child.kill();
    let _ = child.wait();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(log.contains("binds every interface"), "{log}");
    let serving = log.lines().find(|l| l.contains("serving")).unwrap();
    for want in [
        "listen=0.0.0.0:",
        "data_dir=",
        "auth=\"off\"",
        "multi-tenant",
        "retention=\"3600 s\"",
    ] {
        assert!(serving.contains(want), "{want}: {serving}");
    }
    // A data dir that cannot be created.
    let file = dir.join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ingest-server"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(file.join("data"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: cannot open storage: "), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A CPU profile pushed in nanoseconds with a 10 ms period (pyroscope-io 1.4's `cpu:nanoseconds`)
/// reads as OG reads CPU time: `sampleRate: 100`, units `samples`, 7 samples; its pprof export
/// carries `cpu/nanoseconds` with period 10,000,000 and the original 70,000,000 ns; Grafana sees
/// the same nanoseconds. Values that are not whole periods stay in nanoseconds.
#[test]
fn pushed_nanoseconds_keep_their_period() {
    use pyro_ingest::push::{LabelPair, PushRequest, RawProfileSeries, RawSample};
    // No time in the profiles: stored at the time of the request.
    const NOW: &str = "from=now-1h&until=now%2B1h";
    let dir = temp_dir("push-period");
    let s = Server::start(&dir, &[]);
    let series = |service: &str, value: i64| RawProfileSeries {
        labels: vec![LabelPair {
            name: "service_name".into(),
            value: service.into(),
        }],
        samples: vec![RawSample {
            raw_profile: typed_pprof(("cpu", "nanoseconds"), 10_000_000, value).into(),
            id: String::new(),
        }],
    };
    let body = PushRequest {
        series: vec![series("py", 70_000_000), series("odd", 70_000_001)],
    }
    .encode_to_vec();
    let (status, _) = post(
        &s.url("/push.v1.PusherService/Push"),
        Some("application/proto"),
        &[("User-Agent", "pyroscope-rs/0.5.7 python/3.11")],
        &body,
    );
    assert_eq!(status, 200);
    let json = |app: &str| -> serde_json::Value {
        let (status, json) = get(&s.url(&format!("/render?query={app}&{NOW}&format=json")));
        assert_eq!(status, 200, "{json}");
        serde_json::from_str(&json).unwrap()
    };
    let v = json("py.cpu");
    assert_eq!(v["metadata"]["sampleRate"], 100);
    assert_eq!(v["metadata"]["units"], "samples");
    assert_eq!(v["flamebearer"]["numTicks"], 7);
    let mut resp = agent()
        .get(&s.url(&format!("/render?query=py.cpu&{NOW}&format=pprof")))
        .call()
        .unwrap();
    let p = Profile::decode(&resp.body_mut().read_to_vec().unwrap()[..]).unwrap();
    let name = |i: i64| p.string_table[i as usize].as_str();
    let pt = p.period_type.clone().unwrap();
    assert_eq!(
        (name(pt.r#type), name(pt.unit), p.period),
        ("cpu", "nanoseconds", 10_000_000)
    );
    let st = &p.sample_type[0];
    assert_eq!((name(st.r#type), name(st.unit)), ("cpu", "nanoseconds"));
    assert_eq!(p.sample.iter().map(|x| x.value[0]).sum::<i64>(), 70_000_000);
    // Not a whole number of periods: kept as nanoseconds, nothing rounded.
    let v = json("odd.cpu");
    assert_eq!(v["metadata"]["units"], "nanoseconds");
    assert_eq!(v["flamebearer"]["numTicks"], 70_000_001);
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Bare `ingest-server` serves, and takes every `serve` flag at the top level (the README's
/// first command without `serve`); a subcommand after serve flags is refused.
#[test]
fn serve_flags_at_the_top_level() {
    use std::io::BufRead;
    let dir = temp_dir("top-level");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ingest-server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--rollup-interval-secs",
            "5",
            "--data-dir",
        ])
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let url = format!("http://{addr}/ingest?name=top.cpu&{T0}");
    assert_eq!(post(&url, None, &[], b"main 1\n").0, 200);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(dir.join("pyro.redb").exists());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ingest-server"))
        .args(["--listen", "127.0.0.1:0", "convert", "x"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// 50 runs of a child that sends its last upload and exits at once without reading the answer
/// (on its open keep-alive connection in half the runs, on a new connection in the others): every
/// run's file holds every upload. adhoc keeps serving after the exit until it has been quiet,
/// and finishes a request whose client is gone.
#[test]
fn adhoc_keeps_the_upload_sent_just_before_the_exit() {
    let script = r#"
import os, socket, sys
host, port = os.environ["PYROSCOPE_ADHOC_SERVER_ADDRESS"].removeprefix("http://").split(":")
def request(stack):
    body = (stack + " 1\n").encode()
    return (f"POST /ingest?name=last.cpu&from=1609459200 HTTP/1.1\r\nHost: x\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body
s = socket.create_connection((host, int(port)))
for stack in ("main;one", "main;two"):
    s.sendall(request(stack))
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += s.recv(4096)
if sys.argv[1] == "new":
    s = socket.create_connection((host, int(port)))
s.sendall(request("main;three"))
os._exit(0)
"#;
    let runs: Vec<usize> = (0..50).collect();
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .chunks(13)
            .map(|chunk| {
                scope.spawn(move || {
                    let mut bad = Vec::new();
                    for &i in chunk {
                        let dir = temp_dir(&format!("adhoc-last-{i}"));
                        let how = if i % 2 == 0 { "same" } else { "new" };
                        let out = adhoc(&dir, &["python3", "-c", script, how]);
                        let index: serde_json::Value = serde_json::from_slice(
                            &std::fs::read(dir.join("index.json")).unwrap_or_default(),
                        )
                        .unwrap_or_default();
                        let text = index
                            .as_array()
                            .and_then(|e| e.first())
                            .and_then(|e| e["file"].as_str())
                            .and_then(|f| std::fs::read_to_string(dir.join(f)).ok())
                            .unwrap_or_default();
                        let mut lines: Vec<&str> = text.lines().collect();
                        lines.sort();
                        if lines != ["main;one 1", "main;three 1", "main;two 1"] {
                            bad.push(format!(
                                "run {i} ({how}): {lines:?}; {}",
                                String::from_utf8_lossy(&out.stderr)
                            ));
                        }
                        std::fs::remove_dir_all(&dir).unwrap();
                    }
                    bad
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(failures.is_empty(), "{failures:#?}");
}
