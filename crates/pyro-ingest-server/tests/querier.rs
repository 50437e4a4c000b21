//! Conformance of the `querier.v1` API Grafana's Pyroscope data source calls: a client built from
//! the public schemas (this crate's prost messages) calls each method in protobuf and JSON, and
//! the answers are checked against `/render` on the same data.

mod common;

use common::*;
use prost::Message;
use pyro_ingest_server::handlers::querier::proto::*;

const T: i64 = 1_609_459_200;
const CPU: &str = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";

fn rpc<Req: Message, Resp: Message + Default>(
    s: &Server,
    method: &str,
    req: &Req,
    headers: &[(&str, &str)],
) -> Result<Resp, (u16, String)> {
    let url = s.url(&format!("/querier.v1.QuerierService/{method}"));
    let mut r = agent()
        .post(&url)
        .header("Content-Type", "application/proto");
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let mut resp = r.send(&req.encode_to_vec()[..]).unwrap();
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_vec().unwrap();
    if status != 200 {
        return Err((status, String::from_utf8_lossy(&body).into_owned()));
    }
    Ok(Resp::decode(&body[..]).unwrap())
}

fn rpc_json(s: &Server, method: &str, body: &str) -> (u16, serde_json::Value) {
    let url = s.url(&format!("/querier.v1.QuerierService/{method}"));
    let mut resp = agent()
        .post(&url)
        .header("Content-Type", "application/json")
        .send(body.as_bytes())
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

fn ingest(s: &Server, name: &str, format: &str, body: &[u8]) {
    let url = s.url(&format!(
        "/ingest?name={name}&format={format}&from={}",
        T + 1
    ));
    let (status, msg) = post(&url, None, &[], body);
    assert_eq!(status, 200, "{msg}");
}

/// Folded `body` for `name` (URL-encoded) starting at `from`.
fn ingest_folded(s: &Server, name: &str, from: i64, body: &str) {
    let url = s.url(&format!("/ingest?name={name}&from={from}"));
    let (status, msg) = post(&url, None, &[], body.as_bytes());
    assert_eq!(status, 200, "{msg}");
}

/// The flame graph's stacks as `frames value` lines, from its levels (flamebearer encoding).
fn fg_total_and_names(fg: &FlameGraph) -> (i64, Vec<String>) {
    let mut names: Vec<String> = fg.names.clone();
    names.sort();
    (fg.total, names)
}

#[test]
fn grafana_reads_what_render_reads() {
    let dir = temp_dir("querier");
    let s = Server::start(&dir, &[]);
    ingest(
        &s,
        "web.cpu%7Benv%3Dprod%7D",
        "folded",
        b"main;work 3\nmain;idle 1\n",
    );
    ingest(&s, "web.cpu%7Benv%3Ddev%7D", "folded", b"main;work 5\n");
    ingest(&s, "web.alloc_space", "folded", b"main;alloc 100\n");
    let pprof = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../../../shared/testdata/public/pyroscope-v0.37.2/pkg/convert/pprof/testdata/cpu.pb.gz",
    );
    let have_pprof = pprof.exists();
    if have_pprof {
        ingest(&s, "goapp", "pprof", &std::fs::read(&pprof).unwrap());
    }
    let jfr = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/jfr/jdk17-workload.jfr");
    ingest(&s, "java", "jfr", &std::fs::read(&jfr).unwrap());
    let (start, end) = (T * 1000, (T + 10) * 1000);

    // ProfileTypes: every stored series typed as Grafana Pyroscope types it.
    let types: ProfileTypesResponse =
        rpc(&s, "ProfileTypes", &ProfileTypesRequest { start, end }, &[]).unwrap();
    let ids: Vec<&str> = types.profile_types.iter().map(|t| t.id.as_str()).collect();
    assert!(ids.contains(&CPU), "{ids:?}");
    assert!(
        ids.contains(&"memory:alloc_space:bytes:space:bytes"),
        "{ids:?}"
    );
    assert!(
        ids.contains(&"memory:alloc_in_new_tlab_bytes:bytes:space:bytes"),
        "{ids:?}"
    );

    // LabelNames, LabelValues, Series.
    let names: NamesResponse = rpc(
        &s,
        "LabelNames",
        &LabelNamesRequest {
            matchers: vec![],
            start,
            end,
        },
        &[],
    )
    .unwrap();
    for n in ["service_name", "env", "__name__", "__profile_type__"] {
        assert!(names.names.iter().any(|x| x == n), "{n}: {:?}", names.names);
    }
    let services: NamesResponse = rpc(
        &s,
        "LabelValues",
        &LabelValuesRequest {
            name: "service_name".into(),
            matchers: vec![],
            start,
            end,
        },
        &[],
    )
    .unwrap();
    let mut want = vec!["java", "web"];
    if have_pprof {
        want.insert(0, "goapp");
    }
    assert_eq!(services.names, want);
    let envs: NamesResponse = rpc(
        &s,
        "LabelValues",
        &LabelValuesRequest {
            name: "env".into(),
            matchers: vec![r#"{service_name="web"}"#.into()],
            start,
            end,
        },
        &[],
    )
    .unwrap();
    assert_eq!(envs.names, ["dev", "prod"]);
    let series: SeriesResponse = rpc(
        &s,
        "Series",
        &SeriesRequest { matchers: vec![r#"{service_name="web", __profile_type__="process_cpu:cpu:nanoseconds:cpu:nanoseconds"}"#.into()], label_names: vec![], start, end },
        &[],
    )
    .unwrap();
    assert_eq!(series.labels_set.len(), 2);

    // SelectMergeStacktraces equals /render (values in nanoseconds: 100 Hz samples × 10 ms).
    let fg: SelectMergeStacktracesResponse = rpc(
        &s,
        "SelectMergeStacktraces",
        &SelectMergeStacktracesRequest {
            profile_type_id: CPU.into(),
            label_selector: r#"{service_name="web"}"#.into(),
            start,
            end,
            max_nodes: Some(100),
            profile_id_selector: Vec::new(),
        },
        &[],
    )
    .unwrap();
    let fg = fg.flamegraph.unwrap();
    let (status, json) = get(&s.url(&format!(
        "/render?query=web.cpu&from={T}&until={}&format=json",
        T + 10
    )));
    assert_eq!(status, 200);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let render_total = v["flamebearer"]["numTicks"].as_i64().unwrap();
    assert_eq!(render_total, 9);
    assert_eq!(fg.total, render_total * 10_000_000);
    let mut render_names: Vec<String> = v["flamebearer"]["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_owned())
        .collect();
    render_names.sort();
    assert_eq!(fg_total_and_names(&fg).1, render_names);
    // A regex selector narrows it like /render's query does.
    let prod: SelectMergeStacktracesResponse = rpc(
        &s,
        "SelectMergeStacktraces",
        &SelectMergeStacktracesRequest {
            profile_type_id: CPU.into(),
            label_selector: r#"{service_name="web", env=~"pr.*"}"#.into(),
            start,
            end,
            max_nodes: None,
            profile_id_selector: Vec::new(),
        },
        &[],
    )
    .unwrap();
    assert_eq!(prod.flamegraph.unwrap().total, 4 * 10_000_000);
    // Bytes: the same totals, unscaled.
    let mem: SelectMergeStacktracesResponse = rpc(
        &s,
        "SelectMergeStacktraces",
        &SelectMergeStacktracesRequest {
            profile_type_id: "memory:alloc_space:bytes:space:bytes".into(),
            label_selector: r#"{service_name="web"}"#.into(),
            start,
            end,
            max_nodes: None,
            profile_id_selector: Vec::new(),
        },
        &[],
    )
    .unwrap();
    assert_eq!(mem.flamegraph.unwrap().total, 100);

    // SelectSeries equals the timeline, grouped by env.
    let ts: SelectSeriesResponse = rpc(
        &s,
        "SelectSeries",
        &SelectSeriesRequest {
            profile_type_id: CPU.into(),
            label_selector: r#"{service_name="web"}"#.into(),
            start,
            end,
            group_by: vec!["env".into()],
            step: 10.0,
            aggregation: None,
            limit: None,
        },
        &[],
    )
    .unwrap();
    assert_eq!(ts.series.len(), 2);
    let total: f64 = ts
        .series
        .iter()
        .flat_map(|s| &s.points)
        .map(|p| p.value)
        .sum();
    assert_eq!(total, 9.0 * 10_000_000.0);
    assert!(ts.series.iter().all(|s| s.points[0].timestamp == T * 1000));

    // SelectMergeProfile: pprof that reads back to the same stacks.
    let url = s.url("/querier.v1.QuerierService/SelectMergeProfile");
    let req = SelectMergeStacktracesRequest {
        profile_type_id: CPU.into(),
        label_selector: r#"{service_name="web"}"#.into(),
        start,
        end,
        max_nodes: None,
        profile_id_selector: Vec::new(),
    };
    let mut resp = agent()
        .post(&url)
        .header("Content-Type", "application/proto")
        .send(&req.encode_to_vec()[..])
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let bytes = resp.body_mut().read_to_vec().unwrap();
    let back_req = pyro_ingest::Request::new("web", bytes);
    let back = pyro_ingest::decode(&back_req, &Default::default()).unwrap();
    assert_eq!(back[0].tree.total(), 9 * 10_000_000);

    // JSON encoding of the same calls.
    let (status, j) = rpc_json(
        &s,
        "ProfileTypes",
        &format!(r#"{{"start":"{start}","end":{end}}}"#),
    );
    assert_eq!(status, 200);
    assert!(
        j["profileTypes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["ID"] == CPU)
    );
    let (status, j) = rpc_json(
        &s,
        "SelectMergeStacktraces",
        &format!(
            r#"{{"profileTypeID":"{CPU}","labelSelector":"{{service_name=\"web\"}}","start":"{start}","end":"{end}","maxNodes":"16"}}"#
        ),
    );
    assert_eq!(status, 200, "{j}");
    assert_eq!(
        j["flamegraph"]["total"],
        serde_json::json!((9 * 10_000_000).to_string())
    );

    // settings.v1.SettingsService/Get: nothing stored, an empty list.
    let mut resp = agent()
        .post(&s.url("/settings.v1.SettingsService/Get"))
        .header("Content-Type", "application/json")
        .send(&b"{}"[..])
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(
        resp.body_mut().read_to_string().unwrap(),
        r#"{"settings":[]}"#
    );

    // GetProfileStats.
    let stats: GetProfileStatsResponse =
        rpc(&s, "GetProfileStats", &GetProfileStatsRequest {}, &[]).unwrap();
    assert!(stats.data_ingested);
    assert!(stats.oldest_profile_time <= T * 1000 && stats.newest_profile_time >= T * 1000);

    // Errors Grafana expects.
    let bad = SelectMergeStacktracesRequest {
        profile_type_id: CPU.into(),
        label_selector: "service_name=web".into(),
        start,
        end,
        max_nodes: None,
        profile_id_selector: Vec::new(),
    };
    let e = rpc::<_, SelectMergeStacktracesResponse>(&s, "SelectMergeStacktraces", &bad, &[])
        .unwrap_err();
    assert_eq!(e.0, 400);
    assert!(e.1.contains("\"invalid_argument\""), "{}", e.1);
    let unknown = SelectMergeStacktracesRequest {
        profile_type_id: "nope:a:b:c:d".into(),
        label_selector: "{}".into(),
        start,
        end,
        max_nodes: None,
        profile_id_selector: Vec::new(),
    };
    // A type no series has: an empty flame graph, as Grafana Pyroscope answers (not an error).
    let empty: SelectMergeStacktracesResponse =
        rpc(&s, "SelectMergeStacktraces", &unknown, &[]).unwrap();
    let fg = empty.flamegraph.unwrap();
    assert_eq!(
        (fg.total, fg.names.as_slice()),
        (0, &["total".to_owned()][..])
    );
    let malformed = SelectMergeStacktracesRequest {
        profile_type_id: "cpu".into(),
        ..unknown
    };
    let e = rpc::<_, SelectMergeStacktracesResponse>(&s, "SelectMergeStacktraces", &malformed, &[])
        .unwrap_err();
    assert_eq!(e.0, 400);
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Tenants stay apart and auth is Bearer or Basic, as Grafana sends them; refusals are Connect
/// errors.
#[test]
fn tenants_and_auth() {
    let dir = temp_dir("querier-auth");
    std::fs::create_dir_all(&dir).unwrap();
    let tokens = dir.join("tokens");
    std::fs::write(&tokens, "admin root-token\n").unwrap();
    let s = Server::start(
        &dir,
        &["--multi-tenant", "--auth-tokens", tokens.to_str().unwrap()],
    );
    for (tenant, body) in [("t1", "a 1\n"), ("t2", "b 2\n")] {
        let url = s.url(&format!("/ingest?name=svc.cpu&from={}", T + 1));
        let h = [
            ("Authorization", "Bearer root-token"),
            ("X-Scope-OrgID", tenant),
        ];
        assert_eq!(post(&url, None, &h, body.as_bytes()).0, 200);
    }
    let req = SelectMergeStacktracesRequest {
        profile_type_id: CPU.into(),
        label_selector: "{}".into(),
        start: T * 1000,
        end: (T + 10) * 1000,
        max_nodes: None,
        profile_id_selector: Vec::new(),
    };
    let e = rpc::<_, SelectMergeStacktracesResponse>(
        &s,
        "SelectMergeStacktraces",
        &req,
        &[("X-Scope-OrgID", "t1")],
    )
    .unwrap_err();
    assert_eq!(e.0, 401);
    assert!(e.1.contains("unauthenticated"), "{}", e.1);
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            "grafana:root-token"
        )
    );
    for (tenant, auth, want) in [
        ("t1", basic.as_str(), "a"),
        ("t2", "Bearer root-token", "b"),
    ] {
        let fg: SelectMergeStacktracesResponse = rpc(
            &s,
            "SelectMergeStacktraces",
            &req,
            &[("Authorization", auth), ("X-Scope-OrgID", tenant)],
        )
        .unwrap();
        let fg = fg.flamegraph.unwrap();
        assert_eq!(fg.names, ["total", want]);
    }
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The totals a merge over series of different formats gives: folded CPU samples at 100 Hz and
/// at 250 Hz, nanoseconds under the same series name as the 100 Hz samples (a JFR or folded agent
/// and a push client of one service), and a JFR recording add like with like, in nanoseconds,
/// equal to the sum of what each upload holds. Before the store kept one data model, a merge
/// summed samples and nanoseconds with one scale (`{}` gave 4.7×10¹⁵ ns where 1.42×10⁹ was
/// right, a JFR part under a push service showed 45 instead of 450,000,000 ns).
#[test]
fn merges_across_formats_add_like_with_like() {
    let dir = temp_dir("querier-units");
    let s = Server::start(&dir, &[]);
    let post_at = |name: &str, params: &str, body: &[u8]| {
        let url = s.url(&format!("/ingest?name={name}&from={}{params}", T + 1));
        let (status, msg) = post(&url, None, &[], body);
        assert_eq!(status, 200, "{msg}");
    };
    let (start, end) = (T * 1000, (T + 10) * 1000);
    let total = |selector: &str| -> i64 {
        let fg: SelectMergeStacktracesResponse = rpc(
            &s,
            "SelectMergeStacktraces",
            &SelectMergeStacktracesRequest {
                profile_type_id: CPU.into(),
                label_selector: selector.into(),
                start,
                end,
                max_nodes: Some(-1),
                profile_id_selector: Vec::new(),
            },
            &[],
        )
        .unwrap();
        fg.flamegraph.unwrap().total
    };
    // One series read alone through /render, in its units and sample rate.
    let render = |query: &str| -> (i64, i64) {
        let (status, json) = get(&s.url(&format!(
            "/render?query={query}&from={T}&until={}&format=json",
            T + 10
        )));
        assert_eq!(status, 200, "{json}");
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        (
            v["flamebearer"]["numTicks"].as_i64().unwrap(),
            v["metadata"]["sampleRate"].as_i64().unwrap(),
        )
    };
    post_at("svc.cpu", "&sampleRate=100", b"main;work 3\nmain;idle 1\n");
    assert_eq!(render("svc.cpu"), (4, 100));
    assert_eq!(total("{}"), 40_000_000);
    post_at("svc.cpu", "&units=nanoseconds", b"main;work 450000000\n");
    // The last upload's units win for /render (OG): the whole series in nanoseconds.
    assert_eq!(render("svc.cpu").0, 490_000_000);
    post_at("other.cpu", "&sampleRate=250", b"main;work 5\n");
    assert_eq!(render("other.cpu"), (5, 250));
    let jfr = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/jfr/jdk17-workload.jfr");
    post_at("java", "&format=jfr", &std::fs::read(&jfr).unwrap());
    let (java_ticks, java_rate) = render("java.cpu");
    assert_eq!(java_ticks, 45);
    assert!(java_rate > 0);
    let java_ns = 45 * (1_000_000_000 / java_rate);
    assert_eq!(total(r#"{service_name="svc"}"#), 490_000_000);
    assert_eq!(total(r#"{service_name="other"}"#), 20_000_000);
    assert_eq!(total(r#"{service_name="java"}"#), java_ns);
    let all = 490_000_000 + 20_000_000 + java_ns;
    assert_eq!(total("{}"), all);
    // Every other call Grafana makes says the same total.
    let req = SelectMergeStacktracesRequest {
        profile_type_id: CPU.into(),
        label_selector: "{}".into(),
        start,
        end,
        max_nodes: Some(-1),
        profile_id_selector: Vec::new(),
    };
    let mut resp = agent()
        .post(&s.url("/querier.v1.QuerierService/SelectMergeProfile"))
        .header("Content-Type", "application/proto")
        .send(&req.encode_to_vec()[..])
        .unwrap();
    let profile =
        pyro_pprof::model::Profile::decode(&resp.body_mut().read_to_vec().unwrap()[..]).unwrap();
    let pprof_total: i64 = profile.sample.iter().map(|x| x.value[0]).sum();
    assert_eq!(pprof_total, all, "SelectMergeProfile");
    let ts: SelectSeriesResponse = rpc(
        &s,
        "SelectSeries",
        &SelectSeriesRequest {
            profile_type_id: CPU.into(),
            label_selector: "{}".into(),
            start,
            end,
            group_by: vec![],
            step: 10.0,
            aggregation: None,
            limit: None,
        },
        &[],
    )
    .unwrap();
    let series_total: f64 = ts
        .series
        .iter()
        .flat_map(|x| &x.points)
        .map(|p| p.value)
        .sum();
    assert_eq!(series_total, all as f64, "SelectSeries");
    // (GP's Diff refuses an unlimited `max_nodes`: the default.)
    let req = SelectMergeStacktracesRequest {
        max_nodes: None,
        ..req
    };
    let d: DiffResponse = rpc(
        &s,
        "Diff",
        &DiffRequest {
            left: Some(req.clone()),
            right: Some(req),
        },
        &[],
    )
    .unwrap();
    let fg = d.flamegraph.unwrap();
    assert_eq!((fg.left_ticks, fg.right_ticks), (all, all), "Diff");
    let (_, body) = get(&s.url(&format!(
        "/pyroscope/render?query={CPU}%7B%7D&from={T}&until={}",
        T + 10
    )));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["flamebearer"]["numTicks"], all, "/pyroscope/render");
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `SelectSeries` as Grafana Pyroscope answers it: `limit` keeps the top series by the sum of
/// their points, largest first (`TopSeries`, pkg/model/timeseries/top.go, which its query
/// frontend applies to every answer); `aggregation` AVERAGE divides a step's sum by the profiles
/// in it (`avgAggregator`, pkg/model/timeseries/aggregator.go); selectors are Prometheus'
/// (`{env!=""}` needs the label, `{env=""}` is its absence); JSON requests may use the proto
/// field names, as protojson accepts them.
#[test]
fn select_series_top_average_and_selectors() {
    let dir = temp_dir("querier-top");
    let s = Server::start(&dir, &[]);
    // prod: two uploads in one 10-s step (3 + 5 samples); test: one of 7; dev: one of 2; and a
    // series without `env` (100).
    for (name, from, body) in [
        ("web.cpu%7Benv%3Dprod%7D", T + 1, "main;work 3\n"),
        ("web.cpu%7Benv%3Dprod%7D", T + 3, "main;work 5\n"),
        ("web.cpu%7Benv%3Dtest%7D", T + 1, "main;work 7\n"),
        ("web.cpu%7Benv%3Ddev%7D", T + 1, "main;work 2\n"),
        ("web.cpu", T + 1, "main;idle 100\n"),
    ] {
        ingest_folded(&s, name, from, body);
    }
    let ms = 10_000_000.0; // one sample at 100 Hz, in nanoseconds
    let query = |extra: &str| {
        let body = format!(
            r#"{{"profile_typeID":"{CPU}","label_selector":"{{service_name=\"web\",env!=\"\"}}","start":"{}","end":"{}","group_by":["env"],"step":10{extra}}}"#,
            T * 1000,
            (T + 10) * 1000
        );
        let (status, v) = rpc_json(&s, "SelectSeries", &body);
        assert_eq!(status, 200, "{v}");
        v["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                (
                    x["labels"][0]["value"].as_str().unwrap().to_owned(),
                    x["points"][0]["value"].as_f64().unwrap() / ms,
                )
            })
            .collect::<Vec<_>>()
    };
    let s3 = |v: &[(&str, f64)]| {
        v.iter()
            .map(|(l, x)| ((*l).to_owned(), *x))
            .collect::<Vec<_>>()
    };
    // Largest first, every series without a limit.
    assert_eq!(query(""), s3(&[("prod", 8.0), ("test", 7.0), ("dev", 2.0)]));
    assert_eq!(query(r#","limit":2"#), s3(&[("prod", 8.0), ("test", 7.0)]));
    assert_eq!(
        query(r#","limit":"2","aggregation":"TIME_SERIES_AGGREGATION_TYPE_AVERAGE""#),
        s3(&[("test", 7.0), ("prod", 4.0)])
    );
    assert_eq!(
        query(r#","aggregation":1"#),
        s3(&[("test", 7.0), ("prod", 4.0), ("dev", 2.0)])
    );
    // The protobuf request says the same.
    let ts: SelectSeriesResponse = rpc(
        &s,
        "SelectSeries",
        &SelectSeriesRequest {
            profile_type_id: CPU.into(),
            label_selector: r#"{service_name="web", env=""}"#.into(),
            start: T * 1000,
            end: (T + 10) * 1000,
            group_by: vec![],
            step: 10.0,
            aggregation: Some(1),
            limit: Some(1),
        },
        &[],
    )
    .unwrap();
    assert_eq!(ts.series.len(), 1);
    assert_eq!(ts.series[0].points[0].value, 100.0 * ms);
    // A flame graph over the same selector: only the series without `env`.
    let (status, fg) = rpc_json(
        &s,
        "SelectMergeStacktraces",
        &format!(
            r#"{{"profile_typeID":"{CPU}","label_selector":"{{env=\"\"}}","start":"{}","end":"{}"}}"#,
            T * 1000,
            (T + 10) * 1000
        ),
    );
    assert_eq!(status, 200, "{fg}");
    assert_eq!(fg["flamegraph"]["total"], "1000000000");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `/pyroscope/render` as Grafana Pyroscope's `Render` answers (pkg/querier/http.go): the
/// flame graph of `SelectMergeStacktraces` exported as OG's flamebearer (`ExportToFlamebearer`,
/// pkg/model/flamegraph.go: CPU is `samples` at 10⁹ Hz), the timeline of `SelectSeries` at
/// `CalcPointInterval`'s step (15 s for an hour) through `timeline.New` (one series: its
/// points; several: zeros), `groups` per `groupBy` value; errors as Connect JSON.
#[test]
fn pyroscope_render_is_grafana_pyroscopes() {
    let dir = temp_dir("gp-render");
    let s = Server::start(&dir, &[]);
    ingest(
        &s,
        "web.cpu%7Benv%3Dprod%7D",
        "folded",
        b"main;work 3\nmain;idle 1\n",
    );
    ingest(&s, "web.cpu%7Benv%3Ddev%7D", "folded", b"main;work 5\n");
    let q = format!(
        "/pyroscope/render?query={}&from={T}&until={}",
        "process_cpu:cpu:nanoseconds:cpu:nanoseconds%7Bservice_name%3D%22web%22%7D",
        T + 3600
    );
    let (status, body) = get(&s.url(&q));
    assert_eq!(status, 200, "{body}");
    assert!(body.ends_with("}\n"), "Go's encoder ends with a newline");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut zeros = vec![0u64; 240];
    zeros[0] = 90_000_000;
    assert_eq!(
        v,
        serde_json::json!({
            "version": 1,
            "flamebearer": {
                "names": ["total", "main", "work", "idle"],
                "levels": [[0, 90000000, 0, 0], [0, 90000000, 0, 1], [0, 10000000, 10000000, 3, 0, 80000000, 80000000, 2]],
                "numTicks": 90000000,
                "maxSelf": 80000000
            },
            "metadata": {"format": "single", "spyName": "", "sampleRate": 1000000000, "units": "samples", "name": "cpu"},
            "timeline": {"startTime": T, "samples": zeros, "durationDelta": 15, "watermarks": null},
            "groups": null,
            "heatmap": null
        })
    );
    // groupBy: a timeline per value; the whole timeline of several series is empty (GP reads
    // it only when SelectSeries answers one series).
    let (status, body) = get(&s.url(&format!("{q}&groupBy=env")));
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["timeline"]["samples"]
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x == 0)
    );
    assert_eq!(v["groups"]["prod"]["samples"][0], 40_000_000);
    assert_eq!(v["groups"]["dev"]["samples"][0], 50_000_000);
    assert_eq!(v["groups"].as_object().unwrap().len(), 2);
    // A memory type: its unit, sample rate 100.
    ingest(&s, "web.alloc_space", "folded", b"main;alloc 100\n");
    let (_, body) = get(&s.url(&format!(
        "/pyroscope/render?query=memory:alloc_space:bytes:space:bytes%7B%7D&from={T}&until={}",
        T + 60
    )));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["metadata"],
        serde_json::json!({"format": "single", "spyName": "", "sampleRate": 100, "units": "bytes", "name": "alloc_space"})
    );
    assert_eq!(v["flamebearer"]["numTicks"], 100);
    // GP's errors.
    for (query, message) in [
        ("", r#""query" is required"#),
        (
            "query=%7Bservice_name%3D%22web%22%7D",
            r#""query" must contain a profile-type selection"#,
        ),
        ("query=process_cpu%7B%7D", r#"failed to parse "query""#),
    ] {
        let (status, body) = get(&s.url(&format!("/pyroscope/render?{query}")));
        assert_eq!(status, 400, "{query}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["code"], "invalid_argument");
        assert_eq!(v["message"], message);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `Diff` and `/pyroscope/render-diff` as Grafana Pyroscope answers them: the trees combined
/// and laid out by `NewFlamegraphDiff` (pkg/model/flamegraph_diff.go, whose own tests are
/// ported beside the implementation), exported by `ExportDiffToFlamebearer`.
#[test]
fn diff_and_render_diff_are_grafana_pyroscopes() {
    let dir = temp_dir("gp-diff");
    let s = Server::start(&dir, &[]);
    ingest(
        &s,
        "web.cpu%7Benv%3Dprod%7D",
        "folded",
        b"main;work 3\nmain;idle 1\n",
    );
    ingest(&s, "web.cpu%7Benv%3Ddev%7D", "folded", b"main;work 5\n");
    let side = |env: &str| SelectMergeStacktracesRequest {
        profile_type_id: CPU.into(),
        label_selector: format!(r#"{{service_name="web", env="{env}"}}"#),
        start: T * 1000,
        end: (T + 10) * 1000,
        max_nodes: None,
        profile_id_selector: Vec::new(),
    };
    let d: DiffResponse = rpc(
        &s,
        "Diff",
        &DiffRequest {
            left: Some(side("prod")),
            right: Some(side("dev")),
        },
        &[],
    )
    .unwrap();
    let fg = d.flamegraph.unwrap();
    let e7 = 10_000_000;
    assert_eq!(fg.names, ["total", "main", "work", "idle"]);
    assert_eq!(
        fg.levels
            .iter()
            .map(|l| l.values.clone())
            .collect::<Vec<_>>(),
        [
            vec![0, 4 * e7, 0, 0, 5 * e7, 0, 0],
            vec![0, 4 * e7, 0, 0, 5 * e7, 0, 1],
            vec![
                0,
                e7,
                e7,
                0,
                0,
                0,
                3,
                0,
                3 * e7,
                3 * e7,
                0,
                5 * e7,
                5 * e7,
                2
            ],
        ]
    );
    assert_eq!(
        (fg.total, fg.max_self, fg.left_ticks, fg.right_ticks),
        (9 * e7, 5 * e7, 4 * e7, 5 * e7)
    );
    let q = |env: &str| {
        format!(
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds%7Bservice_name%3D%22web%22,env%3D%22{env}%22%7D"
        )
    };
    let url = format!(
        "/pyroscope/render-diff?leftQuery={}&leftFrom={T}&leftUntil={}&rightQuery={}&rightFrom={T}&rightUntil={}",
        q("prod"),
        T + 10,
        q("dev"),
        T + 10
    );
    let (status, body) = get(&s.url(&url));
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "version": 1,
            "flamebearer": {
                "names": ["total", "main", "work", "idle"],
                "levels": [
                    [0, 4 * e7, 0, 0, 5 * e7, 0, 0],
                    [0, 4 * e7, 0, 0, 5 * e7, 0, 1],
                    [0, e7, e7, 0, 0, 0, 3, 0, 3 * e7, 3 * e7, 0, 5 * e7, 5 * e7, 2]
                ],
                "numTicks": 9 * e7,
                "maxSelf": 5 * e7
            },
            "metadata": {"format": "double", "spyName": "", "sampleRate": 1000000000, "units": "samples", "name": "cpu"},
            "timeline": null,
            "groups": null,
            "heatmap": null,
            "leftTicks": 4 * e7,
            "rightTicks": 5 * e7
        })
    );
    // Different profile types, and GP's node limits.
    let (status, body) =
        get(&s.url(&url.replace(&q("dev"), "memory:alloc_space:bytes:space:bytes%7B%7D")));
    assert_eq!(status, 400);
    assert!(body.contains("profile types must match"), "{body}");
    let mut big = side("dev");
    big.max_nodes = Some(2 << 20);
    let e = rpc::<_, DiffResponse>(
        &s,
        "Diff",
        &DiffRequest {
            left: Some(side("prod")),
            right: Some(big),
        },
        &[],
    )
    .unwrap_err();
    assert_eq!(e.0, 400);
    assert!(
        e.1.contains("max flamegraph nodes limit 2097152 is greater than allowed 1048576"),
        "{}",
        e.1
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `SelectMergeProfile` asked in JSON (Profiles Drilldown's function details) answers the same
/// profile as protojson (`google.v1.Profile`: 64-bit integers as strings, defaults left out),
/// with GP's metadata.
#[test]
fn select_merge_profile_in_json() {
    let dir = temp_dir("gp-pprof-json");
    let s = Server::start(&dir, &[]);
    ingest(&s, "web.cpu", "folded", b"main;work 3\nmain;idle 1\n");
    let body = format!(
        r#"{{"profile_typeID":"{CPU}","label_selector":"{{}}","start":"{}","end":"{}"}}"#,
        T * 1000,
        (T + 10) * 1000
    );
    let (status, v) = rpc_json(&s, "SelectMergeProfile", &body);
    assert_eq!(status, 200, "{v}");
    let strings: Vec<&str> = v["stringTable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    let at = |i: &serde_json::Value| strings[i.as_str().unwrap().parse::<usize>().unwrap()];
    assert_eq!(at(&v["sampleType"][0]["type"]), "cpu");
    assert_eq!(at(&v["sampleType"][0]["unit"]), "nanoseconds");
    // GP's `SetProfileMetadata` (pkg/pprof/pprof.go): the type's period type, its guess of the
    // period for `process_cpu`, the sample type as the default one.
    assert_eq!(at(&v["periodType"]["type"]), "cpu");
    assert_eq!(at(&v["periodType"]["unit"]), "nanoseconds");
    assert_eq!(v["period"], "1000000000");
    assert_eq!(at(&v["defaultSampleType"]), "cpu");
    let total: i64 = v["sample"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["value"][0].as_str().unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(total, 40_000_000);
    let names: std::collections::BTreeSet<&str> = v["function"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| at(&f["name"]))
        .collect();
    assert_eq!(names, ["idle", "main", "work"].into_iter().collect());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `AnalyzeQuery` (Grafana's query analysis) says what a query reads here, in GP's message: the
/// matching series, the uploads in range and the bytes of the entries that hold them.
#[test]
fn analyze_query_counts_what_a_query_reads() {
    let dir = temp_dir("gp-analyze");
    let s = Server::start(&dir, &[]);
    for (name, from) in [
        ("web.cpu%7Benv%3Dprod%7D", T + 1),
        ("web.cpu%7Benv%3Dprod%7D", T + 11),
        ("web.cpu%7Benv%3Ddev%7D", T + 1),
        ("db.cpu", T + 1),
    ] {
        ingest_folded(&s, name, from, "main;work 3\n");
    }
    let analyze = |query: &str| -> AnalyzeQueryResponse {
        rpc(
            &s,
            "AnalyzeQuery",
            &AnalyzeQueryRequest {
                start: T * 1000,
                end: (T + 60) * 1000,
                query: query.into(),
            },
            &[],
        )
        .unwrap()
    };
    let a = analyze(&format!(r#"{CPU}{{service_name="web"}}"#));
    let scope = &a.query_scopes[0];
    assert_eq!(scope.component_type, "Embedded storage");
    assert_eq!((scope.series_count, scope.profile_count), (2, 3));
    assert_eq!(scope.block_count, 3);
    assert!(scope.profile_bytes > 0);
    let impact = a.query_impact.unwrap();
    assert_eq!(impact.total_queried_series, 2);
    assert_eq!(impact.total_bytes_in_time_range, scope.profile_bytes);
    let all = analyze(&format!("{CPU}{{}}"));
    assert_eq!(all.query_scopes[0].series_count, 3);
    let (status, v) = rpc_json(
        &s,
        "AnalyzeQuery",
        &format!(
            r#"{{"start":"{}","end":"{}","query":"{CPU}{{env=\"dev\"}}"}}"#,
            T * 1000,
            (T + 60) * 1000
        ),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["queryScopes"][0]["seriesCount"], "1");
    assert_eq!(v["queryImpact"]["totalQueriedSeries"], "1");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A pprof whose samples carry `span_id` labels (as pyroscope-otel sends): `(stack root first,
/// value, span)` in `cpu/nanoseconds` at a 10 ms period.
fn pprof_with_spans(samples: &[(&[&str], i64, Option<&str>)]) -> Vec<u8> {
    pprof_with_span_label("span_id", samples)
}

/// As [`pprof_with_spans`], the span id under `label`.
fn pprof_with_span_label(label: &str, samples: &[(&[&str], i64, Option<&str>)]) -> Vec<u8> {
    let frames: Vec<Vec<&str>> = samples
        .iter()
        .map(|(f, _, _)| f.iter().rev().copied().collect())
        .collect();
    let values: Vec<[i64; 1]> = samples.iter().map(|(_, v, _)| [*v]).collect();
    let labels: Vec<Vec<(&str, &str)>> = samples
        .iter()
        .map(|(_, _, span)| span.map(|s| (label, s)).into_iter().collect())
        .collect();
    let samples: Vec<TestSample<'_>> = (0..samples.len())
        .map(|i| (&frames[i][..], &values[i][..], &labels[i][..]))
        .collect();
    pprof_profile(
        &[("cpu", "nanoseconds")],
        Some(10_000_000),
        (T + 1) * 1_000_000_000,
        &samples,
    )
    .encode_to_vec()
}

/// `SelectMergeSpanProfile` (Grafana's trace to profiles): the samples pyroscope-otel labelled
/// with a span id are kept per sample, never as series labels, and a span selection merges
/// exactly theirs (GP's `NewSpanSelector`: 16 hex digits, any case).
#[test]
fn span_profiles_are_kept_per_sample() {
    let dir = temp_dir("gp-spans");
    let s = Server::start(&dir, &[]);
    let (a, b) = ("9a517183f26a089d", "5a4fe264a9c987fe");
    let e7 = 10_000_000;
    let body = pprof_with_spans(&[
        (&["main", "handle", "query"], 3 * e7, Some(a)),
        (&["main", "handle", "render"], 2 * e7, Some(a)),
        (&["main", "handle", "query"], 5 * e7, Some(b)),
        (&["main", "gc"], 7 * e7, None),
        (&["main", "bad"], e7, Some("not-a-span")),
    ]);
    for path in [
        "/ingest?name=api&format=pprof&from=1609459201",
        "/ingest?name=web&format=pprof&from=1609459201",
    ] {
        let (status, msg) = post(&s.url(path), None, &[], &body);
        assert_eq!(status, 200, "{msg}");
    }
    // The same profile pushed (push.v1): the same spans.
    let push = {
        use pyro_ingest::push::{LabelPair, PushRequest, RawProfileSeries, RawSample};
        PushRequest {
            series: vec![RawProfileSeries {
                labels: vec![
                    LabelPair {
                        name: "service_name".into(),
                        value: "pushed".into(),
                    },
                    LabelPair {
                        name: "__name__".into(),
                        value: "process_cpu".into(),
                    },
                ],
                samples: vec![RawSample {
                    raw_profile: body.clone().into(),
                    id: String::new(),
                }],
            }],
        }
        .encode_to_vec()
    };
    let (status, msg) = post(
        &s.url("/push.v1.PusherService/Push"),
        Some("application/proto"),
        &[],
        &push,
    );
    assert_eq!(status, 200, "{msg}");
    // The older label name (pyroscope-java's), which GP renames `span_id` (`RenameLabel`,
    // pkg/model/pprofsplit/pprof_split.go).
    let old = pprof_with_span_label(
        "profile_id",
        &[
            (&["main", "handle", "query"], 3 * e7, Some(a)),
            (&["main", "gc"], 7 * e7, None),
        ],
    );
    let (status, msg) = post(
        &s.url("/ingest?name=legacy&format=pprof&from=1609459201"),
        None,
        &[],
        &old,
    );
    assert_eq!(status, 200, "{msg}");
    // No series per span: the span label is not a series label.
    assert_eq!(get(&s.url("/label-values?label=span_id")).1, "[]");
    assert_eq!(
        get(&s.url("/label-values?label=__name__")).1,
        r#"["api.cpu","legacy.cpu","pushed.cpu","web.cpu"]"#
    );
    let spans = |selector: &str, ids: &[&str]| -> Result<(i64, Vec<String>), (u16, String)> {
        let r: SelectMergeSpanProfileResponse = rpc(
            &s,
            "SelectMergeSpanProfile",
            &SelectMergeSpanProfileRequest {
                profile_type_id: CPU.into(),
                label_selector: selector.into(),
                span_selector: ids.iter().map(|x| (*x).to_owned()).collect(),
                start: T * 1000,
                end: (T + 10) * 1000,
                max_nodes: None,
                format: 0,
            },
            &[],
        )?;
        let fg = r.flamegraph.unwrap();
        let mut names = fg.names.clone();
        names.sort();
        Ok((fg.total, names))
    };
    let api = r#"{service_name="api"}"#;
    assert_eq!(
        spans(api, &[a]).unwrap(),
        (
            5 * e7,
            vec!["handle", "main", "query", "render", "total"]
                .into_iter()
                .map(String::from)
                .collect()
        )
    );
    assert_eq!(spans(api, &[b]).unwrap().0, 5 * e7);
    assert_eq!(
        spans(api, &[a, &b.to_ascii_uppercase()]).unwrap().0,
        10 * e7
    );
    assert_eq!(spans(r#"{service_name="pushed"}"#, &[a]).unwrap().0, 5 * e7);
    assert_eq!(spans(r#"{service_name="legacy"}"#, &[a]).unwrap().0, 3 * e7);
    assert_eq!(spans("{}", &[a, b]).unwrap().0, 33 * e7, "every service");
    assert_eq!(spans(api, &["0000000000000001"]).unwrap().0, 0);
    assert_eq!(spans(api, &[]).unwrap().0, 0);
    // The whole series is every sample, spans or not.
    let fg: SelectMergeStacktracesResponse = rpc(
        &s,
        "SelectMergeStacktraces",
        &SelectMergeStacktracesRequest {
            profile_type_id: CPU.into(),
            label_selector: api.into(),
            start: T * 1000,
            end: (T + 10) * 1000,
            max_nodes: None,
            profile_id_selector: Vec::new(),
        },
        &[],
    )
    .unwrap();
    assert_eq!(fg.flamegraph.unwrap().total, 18 * e7);
    // GP's span selector errors.
    let e = spans(api, &["9a51"]).unwrap_err();
    assert_eq!(e.0, 400);
    assert!(e.1.contains("invalid span id length"), "{}", e.1);
    assert_eq!(spans(api, &["9a517183f26a089g"]).unwrap_err().0, 400);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `/pyroscope/render?format=dot` byte for byte as Grafana Pyroscope writes it
/// (pkg/querier/http.go `Render`, pkg/frontend/dot/convert.go `WriteFromProfile` and its copies
/// of google/pprof's report/graph/measurement packages): the goldens in `tests/data/dot` were
/// written by that code from the same merged profiles (see its README). They cover node
/// trimming (100 of 150 nodes, 20, 30), residual (dotted) edges, recursion, seconds, bytes and
/// counts, and names GP shortens and escapes.
#[test]
fn render_dot_is_gps() {
    use std::io::Read;
    let dir = temp_dir("gp-dot");
    let s = Server::start(&dir, &[]);
    let data = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/dot");
    // The query's braces, quotes and equals signs, encoded.
    let pct = |q: &str| {
        q.replace('{', "%7B")
            .replace('}', "%7D")
            .replace('"', "%22")
            .replace('=', "%3D")
    };
    let gunzip = |name: &str| {
        let gz = std::fs::read(data.join(name)).unwrap();
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    };
    let small = gunzip("small.folded.gz");
    let web = b"main;work;query 30\nmain;work;render 12\nmain;idle 10\nmain;gc;mark 5\nmain;gc;sweep 2\nmain;work;query;db.exec 7\nmain;work;query;db.exec;net.write 3\nmain 1\n";
    for (q, body) in [
        ("name=web.cpu&sampleRate=100", &web[..]),
        ("name=small.cpu&sampleRate=100", &small[..]),
        ("name=small.alloc_space&units=bytes", &small[..]),
        (
            "name=gor.goroutines&units=goroutines",
            b"main;a 3\nmain;b 1000000\nmain;b;c 1\n",
        ),
    ] {
        let url = s.url(&format!("/ingest?{q}&from={}", T + 1));
        assert_eq!(post(&url, None, &[], body).0, 200);
    }
    let dot = |query: &str, extra: &str| {
        let url = s.url(&format!(
            "/pyroscope/render?query={}&from={T}&until={}&format=dot{extra}",
            pct(query),
            T + 60
        ));
        let (status, body) = get(&url);
        assert_eq!(status, 200, "{body}");
        body
    };
    let cpu = |svc: &str| format!("{CPU}{{service_name=\"{svc}\"}}");
    let golden = |name: &str| {
        if name.ends_with(".gz") {
            String::from_utf8(gunzip(name)).unwrap()
        } else {
            std::fs::read_to_string(data.join(name)).unwrap()
        }
    };
    assert_eq!(dot(&cpu("web"), ""), golden("web.dot"));
    assert_eq!(dot(&cpu("small"), ""), golden("small-100.dot.gz"));
    assert_eq!(
        dot(&cpu("small"), "&maxNodes=20"),
        golden("small-20.dot.gz")
    );
    assert_eq!(
        dot(
            r#"memory:alloc_space:bytes:space:bytes{service_name="small"}"#,
            "&maxNodes=30"
        ),
        golden("small-bytes-30.dot.gz")
    );
    assert_eq!(
        dot(
            r#"goroutine:goroutine:count:goroutine:count{service_name="gor"}"#,
            ""
        ),
        golden("goroutines.dot")
    );
    // No data: an empty answer, as GP's `Render`.
    assert_eq!(dot(&cpu("none"), ""), "");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Heatmap exemplars (GP's `RangeHeatmap` `cellBestPoint`, pkg/model/heatmap/range.go, and the
/// exemplar type rules of pkg/querybackend/query_heatmap.go): each bucket of a slot names its
/// highest upload by a profile id that `profile_id_selector` opens in `SelectMergeStacktraces`
/// and `SelectMergeProfile` (GP's `withProfileIDSelector`, UUIDs), or its highest span by id.
#[test]
fn heatmap_exemplars_open_their_profiles() {
    let dir = temp_dir("gp-exemplars");
    let s = Server::start(&dir, &[]);
    // prod: 1 sample at T+1; 3 at T+11; 20 and 21 at T+21 and T+22 (one slot, one bucket).
    for (from, body) in [
        (T + 1, "main;work 1\n"),
        (T + 11, "main;work 1\nmain;gc 2\n"),
        (T + 21, "main;work 20\n"),
        (T + 22, "main;work 19\nmain;gc 2\n"),
    ] {
        ingest_folded(&s, "web.cpu%7Benv%3Dprod%7D", from, body);
    }
    let heatmap = |query_type: u8, exemplar: &str| {
        let body = format!(
            r#"{{"profile_typeID":"{CPU}","label_selector":"{{service_name=\"web\"}}","start":"{}","end":"{}","step":10,"group_by":["env"],"query_type":{query_type},"exemplar_type":"{exemplar}"}}"#,
            T * 1000,
            (T + 30) * 1000
        );
        rpc_json(&s, "SelectHeatmap", &body)
    };
    let (status, v) = heatmap(1, "EXEMPLAR_TYPE_INDIVIDUAL");
    assert_eq!(status, 200, "{v}");
    let slots = v["series"][0]["slots"].as_array().unwrap();
    let e7 = 10_000_000i64;
    // (slot end, exemplar values): one bucket each; 21 beats 20 in the last slot.
    let got: Vec<(String, Vec<String>)> = slots
        .iter()
        .map(|x| {
            (
                x["timestamp"].as_str().unwrap().to_owned(),
                x["exemplars"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["value"].as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect();
    let ms = |t: i64| (t * 1000).to_string();
    assert_eq!(
        got,
        [
            (ms(T), vec![e7.to_string()]),
            (ms(T + 10), vec![(3 * e7).to_string()]),
            (ms(T + 20), vec![(21 * e7).to_string()]),
        ]
    );
    let last = &slots[2]["exemplars"][0];
    assert_eq!(last["timestamp"], ms(T + 20));
    assert_eq!(last["spanId"], "");
    // The series' labels less the grouped one.
    let labels: Vec<(String, String)> = last["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["name"].as_str().unwrap().to_owned(),
                l["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        labels,
        [
            ("__name__".to_owned(), "process_cpu".to_owned()),
            ("__profile_type__".to_owned(), CPU.to_owned()),
            ("service_name".to_owned(), "web".to_owned()),
        ]
    );
    // The exemplar opens exactly its upload.
    let id = last["profileId"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "{id}");
    let open = |ids: &[&str]| {
        rpc::<_, SelectMergeStacktracesResponse>(
            &s,
            "SelectMergeStacktraces",
            &SelectMergeStacktracesRequest {
                profile_type_id: CPU.into(),
                label_selector: r#"{service_name="web"}"#.into(),
                start: T * 1000,
                end: (T + 30) * 1000,
                max_nodes: None,
                profile_id_selector: ids.iter().map(|x| (*x).to_owned()).collect(),
            },
            &[],
        )
        .map(|r| {
            let fg = r.flamegraph.unwrap();
            let mut names = fg.names.clone();
            names.sort();
            (fg.total, names)
        })
    };
    let names = |n: &[&str]| n.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        open(&[&id]).unwrap(),
        (21 * e7, names(&["gc", "main", "total", "work"]))
    );
    let first = slots[0]["exemplars"][0]["profileId"].as_str().unwrap();
    assert_eq!(open(&[&id, first]).unwrap().0, 22 * e7);
    // The same through SelectMergeProfile (protojson), and google/uuid's errors.
    let (status, p) = rpc_json(
        &s,
        "SelectMergeProfile",
        &format!(
            r#"{{"profile_typeID":"{CPU}","label_selector":"{{}}","start":"{}","end":"{}","profileIdSelector":["{id}"]}}"#,
            T * 1000,
            (T + 30) * 1000
        ),
    );
    assert_eq!(status, 200, "{p}");
    let total: i64 = p["sample"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["value"][0].as_str().unwrap().parse::<i64>().unwrap())
        .sum();
    assert_eq!(total, 21 * e7);
    let e = open(&["abcde"]).unwrap_err();
    assert_eq!(e.0, 400);
    assert!(e.1.contains("invalid UUID length: 5"), "{}", e.1);
    assert!(
        open(&["zzzzzzzz-0000-0000-0000-000000000000"])
            .unwrap_err()
            .1
            .contains("invalid UUID format")
    );
    // An id of no upload of the selected series: nothing.
    assert_eq!(
        open(&["00000000-0000-0000-0000-000000000000"]).unwrap().0,
        0
    );
    // Exemplar types must match the query type (GP's queryHeatmap).
    let (status, v) = heatmap(1, "EXEMPLAR_TYPE_SPAN");
    assert_eq!(status, 400);
    assert_eq!(
        v["message"],
        "span exemplars only available for span query type"
    );
    let (status, v) = heatmap(2, "EXEMPLAR_TYPE_INDIVIDUAL");
    assert_eq!(status, 400);
    assert_eq!(
        v["message"],
        "individual exemplars only available for individual query type"
    );
    // None asked for: none answered.
    let (_, v) = heatmap(1, "EXEMPLAR_TYPE_NONE");
    assert!(v["series"][0]["slots"][0].get("exemplars").is_none(), "{v}");
    // Span exemplars name the span.
    let body = pprof_with_spans(&[
        (&["main", "handle"], 3 * e7, Some("9a517183f26a089d")),
        (&["main", "handle"], e7, Some("5a4fe264a9c987fe")),
    ]);
    let url = s.url("/ingest?name=api&format=pprof&from=1609459201");
    assert_eq!(post(&url, None, &[], &body).0, 200);
    let body = format!(
        r#"{{"profile_typeID":"{CPU}","label_selector":"{{service_name=\"api\"}}","start":"{}","end":"{}","step":10,"query_type":"HEATMAP_QUERY_TYPE_SPAN","exemplar_type":3}}"#,
        T * 1000,
        (T + 30) * 1000
    );
    let (status, v) = rpc_json(&s, "SelectHeatmap", &body);
    assert_eq!(status, 200, "{v}");
    let mut spans: Vec<(String, String, String)> = v["series"][0]["slots"][0]["exemplars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["spanId"].as_str().unwrap().to_owned(),
                e["profileId"].as_str().unwrap().to_owned(),
                e["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    spans.sort();
    assert_eq!(
        spans,
        [
            ("5a4fe264a9c987fe".into(), String::new(), e7.to_string()),
            (
                "9a517183f26a089d".into(),
                String::new(),
                (3 * e7).to_string()
            ),
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// JFR samples taken in a span (the async-profiler fork's `spanId`, which grafana/jfr-parser
/// labels `profile_id`, `pprof/profile_builder.go`, and GP renames `span_id` and keeps per
/// sample, `pkg/model/pprofsplit/pprof_split.go`) answer `SelectMergeSpanProfile` like pprof
/// spans, and are not series labels.
#[test]
fn jfr_span_profiles_are_kept_per_sample() {
    use pyro_jfr::{Context, LabelsSnapshot};
    let dir = temp_dir("gp-jfr-spans");
    let s = Server::start(&dir, &[]);
    let jfr = pyro_jfr::synth::Recording::new()
        .execution_sample_in_span(
            &["App.main", "App.handle"],
            "STATE_RUNNABLE",
            1,
            (0x9a51, 0),
        )
        .execution_sample_in_span(
            &["App.main", "App.handle"],
            "STATE_RUNNABLE",
            1,
            (0x9a51, 0),
        )
        .execution_sample_in_span(&["App.main", "App.query"], "STATE_RUNNABLE", 1, (0x77, 0))
        .execution_sample(&["App.main", "App.gc"], "STATE_RUNNABLE", 0)
        .build();
    let snapshot = LabelsSnapshot {
        contexts: [(
            1,
            Context {
                labels: [(0, 1)].into(),
            },
        )]
        .into(),
        strings: [(0, "thread".to_owned()), (1, "worker".to_owned())].into(),
    }
    .encode_to_vec();
    let mut form = Vec::new();
    for (name, part) in [("jfr", &jfr), ("labels", &snapshot)] {
        form.extend_from_slice(
            format!(
                "--x\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{name}\"\r\n\r\n"
            )
            .as_bytes(),
        );
        form.extend_from_slice(part);
        form.extend_from_slice(b"\r\n");
    }
    form.extend_from_slice(b"--x--\r\n");
    let (status, msg) = post(
        &s.url(&format!("/ingest?name=shop&format=jfr&from={}", T + 1)),
        Some("multipart/form-data; boundary=x"),
        &[],
        &form,
    );
    assert_eq!(status, 200, "{msg}");
    assert_eq!(get(&s.url("/label-values?label=profile_id")).1, "[]");
    assert_eq!(get(&s.url("/label-values?label=span_id")).1, "[]");
    let spans = |ids: &[&str]| -> i64 {
        let r: SelectMergeSpanProfileResponse = rpc(
            &s,
            "SelectMergeSpanProfile",
            &SelectMergeSpanProfileRequest {
                profile_type_id: CPU.into(),
                label_selector: r#"{service_name="shop"}"#.into(),
                span_selector: ids.iter().map(|x| (*x).to_owned()).collect(),
                start: T * 1000,
                end: (T + 10) * 1000,
                max_nodes: None,
                format: 0,
            },
            &[],
        )
        .unwrap();
        r.flamegraph.unwrap().total
    };
    // One CPU sample at the default 100 Hz is 10 ms.
    let e7 = 10_000_000;
    assert_eq!(spans(&["0000000000009a51"]), 2 * e7);
    assert_eq!(spans(&["0000000000000077"]), e7);
    assert_eq!(spans(&["0000000000009a51", "0000000000000077"]), 3 * e7);
    assert_eq!(spans(&["0000000000000001"]), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `SelectHeatmap` (GP's query frontend, pkg/frontend/readpath/queryfrontend/query_heatmap.go
/// with `RangeHeatmap`, pkg/model/heatmap/range.go): a point per upload (or per span of an
/// upload), grouped by `group_by`, 20 value buckets between the smallest and largest point,
/// slots ending at `start + k·step`; `limit` keeps the series with the most points.
#[test]
fn select_heatmap_counts_uploads_by_time_and_value() {
    let dir = temp_dir("gp-heatmap");
    let s = Server::start(&dir, &[]);
    // prod: uploads of 1, 1 and 20 samples in three 10-s slots; dev: one of 11.
    for (name, from, body) in [
        ("web.cpu%7Benv%3Dprod%7D", T + 1, "main;work 1\n"),
        ("web.cpu%7Benv%3Dprod%7D", T + 11, "main;work 1\n"),
        ("web.cpu%7Benv%3Dprod%7D", T + 21, "main;work 20\n"),
        ("web.cpu%7Benv%3Ddev%7D", T + 1, "main;work 11\n"),
    ] {
        ingest_folded(&s, name, from, body);
    }
    let heatmap = |extra: &str| {
        let body = format!(
            r#"{{"profile_typeID":"{CPU}","label_selector":"{{service_name=\"web\"}}","start":"{}","end":"{}","step":10,"group_by":["env"],"query_type":"HEATMAP_QUERY_TYPE_INDIVIDUAL"{extra}}}"#,
            T * 1000,
            (T + 30) * 1000
        );
        let (status, v) = rpc_json(&s, "SelectHeatmap", &body);
        assert_eq!(status, 200, "{v}");
        v
    };
    let v = heatmap("");
    let series = v["series"].as_array().unwrap();
    assert_eq!(series.len(), 2);
    // Groups in label order: dev, then prod.
    assert_eq!(series[0]["labels"][0]["value"], "dev");
    assert_eq!(series[1]["labels"][0]["value"], "prod");
    // Values 1e7 … 2e8 ns in 20 buckets of 9.5e6: 1e7 in bucket 0, 1.1e8 in bucket 10,
    // 2e8 in the last; uploads at T+1 (slot T) end in the slot ending at T (start), T+10 and
    // T+20 in the slots ending there.
    let slots = |i: usize| -> Vec<(String, usize)> {
        series[i]["slots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| {
                let counts = x["counts"].as_array().unwrap();
                let at = counts.iter().position(|c| c != 0).unwrap();
                (x["timestamp"].as_str().unwrap().to_owned(), at)
            })
            .collect()
    };
    let ms = |t: i64| (t * 1000).to_string();
    assert_eq!(slots(0), [(ms(T), 10)]);
    assert_eq!(slots(1), [(ms(T), 0), (ms(T + 10), 0), (ms(T + 20), 19)]);
    assert_eq!(series[1]["slots"][0]["yMin"][1], 19_500_000.0);
    // limit 1: the series with the most points.
    let v = heatmap(r#","limit":1"#);
    assert_eq!(v["series"].as_array().unwrap().len(), 1);
    assert_eq!(v["series"][0]["labels"][0]["value"], "prod");
    // GP's validation.
    let (status, v) = rpc_json(
        &s,
        "SelectHeatmap",
        &format!(r#"{{"profile_typeID":"{CPU}","start":"2","end":"1","step":10,"query_type":1}}"#),
    );
    assert_eq!(status, 400);
    assert_eq!(
        v["message"],
        "start time must be before end time, got start=2 end=1"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
