//! Shared by the server's integration tests: the real binary on an ephemeral loopback port and a
//! real HTTP client.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct Server {
    pub child: Child,
    pub addr: String,
    pub dir: PathBuf,
}

impl Server {
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        Self::start_with(dir, extra, Stdio::null())
    }

    /// [`Server::start`] with the server's stderr (its log) piped, for [`Server::stop_log`].
    pub fn start_logged(dir: &Path, extra: &[&str]) -> Server {
        Self::start_with(dir, extra, Stdio::piped())
    }

    /// Kills the server and returns what it logged (started with [`Server::start_logged`]).
    pub fn stop_log(&mut self) -> String {
        use std::io::Read;
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut log = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut log);
        }
        log
    }

    fn start_with(dir: &Path, extra: &[&str], stderr: Stdio) -> Server {
        // An ephemeral port unless the test names one.
        let listen: &[&str] = if extra.contains(&"--listen") {
            &[]
        } else {
            &["--listen", "127.0.0.1:0"]
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_ingest-server"))
            .arg("serve")
            .args(listen)
            .arg("--data-dir")
            .arg(dir)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Server {
            child,
            addr,
            dir: dir.to_owned(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pyro-server-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

pub fn post(
    url: &str,
    content_type: Option<&str>,
    extra: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut req = agent().post(url);
    if let Some(ct) = content_type {
        req = req.header("Content-Type", ct);
    }
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    let mut resp = req.send(body).unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap_or_default())
}

pub fn get(url: &str) -> (u16, String) {
    let mut resp = agent().get(url).call().unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap_or_default())
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// What the pyroscope-java agent sends: an async-profiler recording (`event=itimer`, two
/// samples of `App.main;App.work` in context 1, one of `App.main;App.idle` in none) and its
/// labels snapshot (context 1 is `endpoint=/checkout`).
pub fn java_agent_recording() -> (Vec<u8>, pyro_jfr::LabelsSnapshot) {
    let rec = pyro_jfr::synth::Recording::new()
        .setting("event", "itimer")
        .execution_sample(&["App.main", "App.work"], "STATE_RUNNABLE", 1)
        .execution_sample(&["App.main", "App.work"], "STATE_RUNNABLE", 1)
        .execution_sample(&["App.main", "App.idle"], "STATE_RUNNABLE", 0)
        .build();
    let snapshot = pyro_jfr::LabelsSnapshot {
        contexts: [(
            1,
            pyro_jfr::Context {
                labels: [(1, 2)].into_iter().collect(),
            },
        )]
        .into_iter()
        .collect(),
        strings: [(1, "endpoint".to_owned()), (2, "/checkout".to_owned())]
            .into_iter()
            .collect(),
    };
    (rec, snapshot)
}

/// A `multipart/form-data` body of file parts (OG reads only parts with a `filename`):
/// `(content type, body)`.
pub fn multipart(parts: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let b = "XyZzYboundary";
    let mut body = Vec::new();
    for (name, data) in parts {
        body.extend_from_slice(
            format!("--{b}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{b}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={b}"), body)
}

pub const T0: &str = "from=1609459200&until=1609459210";

pub fn collapsed(s: &Server, query: &str) -> String {
    let (status, body) = get(&s.url(&format!("/render?query={query}&{T0}&format=collapsed")));
    assert_eq!(status, 200, "{body}");
    body
}

/// A tiny pprof: samples/count, stack main -> work, value 3.
pub fn tiny_pprof() -> Vec<u8> {
    let mut p = vec![
        0x0a, 0x04, 0x08, 0x01, 0x10, 0x02, 0x12, 0x06, 0x0a, 0x02, 0x02, 0x01, 0x10, 0x03, 0x22,
        0x06, 0x08, 0x01, 0x22, 0x02, 0x08, 0x01, 0x22, 0x06, 0x08, 0x02, 0x22, 0x02, 0x08, 0x02,
        0x2a, 0x04, 0x08, 0x01, 0x10, 0x03, 0x2a, 0x04, 0x08, 0x02, 0x10, 0x04,
    ];
    for s in ["", "samples", "count", "main", "work"] {
        p.push(0x32);
        p.push(s.len() as u8);
        p.extend_from_slice(s.as_bytes());
    }
    p
}

/// A push request of one series (`service_name`, `__name__=process_cpu`, `extra`) with one
/// sample of `profile`, ID `x`.
pub fn push_body(service: &str, extra: &[(&str, &str)], profile: Vec<u8>) -> Vec<u8> {
    use prost::Message;
    use pyro_ingest::push::{LabelPair, PushRequest, RawProfileSeries, RawSample};
    let mut labels = vec![
        LabelPair {
            name: "service_name".into(),
            value: service.into(),
        },
        LabelPair {
            name: "__name__".into(),
            value: "process_cpu".into(),
        },
    ];
    labels.extend(extra.iter().map(|(n, v)| LabelPair {
        name: (*n).into(),
        value: (*v).into(),
    }));
    PushRequest {
        series: vec![RawProfileSeries {
            labels,
            samples: vec![RawSample {
                raw_profile: profile.into(),
                id: "x".into(),
            }],
        }],
    }
    .encode_to_vec()
}

/// One sample of [`pprof_profile`]: leaf-first frame names, one value per type, string labels.
pub type TestSample<'a> = (&'a [&'a str], &'a [i64], &'a [(&'a str, &'a str)]);

/// A pprof: `types` (`type`, `unit`), an optional cpu/nanoseconds period, `time_nanos`, and
/// samples.
pub fn pprof_profile(
    sample_types: &[(&str, &str)],
    period: Option<i64>,
    time_nanos: i64,
    samples: &[TestSample<'_>],
) -> pyro_pprof::model::Profile {
    use pyro_pprof::model::{Function, Label, Line, Location, Mapping, Profile, Sample, ValueType};
    let mut strings: Vec<String> = vec![String::new()];
    let id = |s: &str, strings: &mut Vec<String>| -> i64 {
        match strings.iter().position(|x| x == s) {
            Some(i) => i as i64,
            None => {
                strings.push(s.to_owned());
                strings.len() as i64 - 1
            }
        }
    };
    let mut p = Profile {
        time_nanos,
        mapping: vec![Mapping {
            id: 1,
            ..Default::default()
        }],
        ..Default::default()
    };
    for (t, u) in sample_types {
        let (t, u) = (id(t, &mut strings), id(u, &mut strings));
        p.sample_type.push(ValueType { r#type: t, unit: u });
    }
    if let Some(period) = period {
        let (t, u) = (id("cpu", &mut strings), id("nanoseconds", &mut strings));
        p.period_type = Some(ValueType { r#type: t, unit: u });
        p.period = period;
    }
    for (frames, values, labels) in samples {
        let mut location_id = Vec::new();
        for f in *frames {
            let name = id(f, &mut strings);
            let fid = match p.function.iter().find(|x| x.name == name) {
                Some(x) => x.id,
                None => {
                    let fid = p.function.len() as u64 + 1;
                    p.function.push(Function {
                        id: fid,
                        name,
                        ..Default::default()
                    });
                    p.location.push(Location {
                        id: fid,
                        mapping_id: 1,
                        line: vec![Line {
                            function_id: fid,
                            line: 0,
                        }],
                        ..Default::default()
                    });
                    fid
                }
            };
            location_id.push(fid);
        }
        let label = labels
            .iter()
            .map(|(k, v)| Label {
                key: id(k, &mut strings),
                str: id(v, &mut strings),
                ..Default::default()
            })
            .collect();
        p.sample.push(Sample {
            location_id,
            value: values.to_vec(),
            label,
        });
    }
    p.string_table = strings;
    p
}
