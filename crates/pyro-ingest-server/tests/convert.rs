//! End-to-end tests of `ingest-server convert`: the real binary on real files.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use pyro_ingest::{Format, parse_sample_rate};

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ingest-server"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or_default()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn ok(args: &[&str], stdin: Option<&[u8]>) -> String {
    let out = run(args, stdin);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn folded_file_with_normalized_name() {
    let out = ok(
        &[
            "convert",
            "--name",
            "myapp.cpu{b=2, a=1}",
            "testdata/folded/og-ingest.txt",
        ],
        None,
    );
    assert_eq!(out, "# myapp.cpu{a=1,b=2}\nfoo;bar 2\nfoo;baz 3\n");
}

#[test]
fn json_output() {
    let out = ok(
        &[
            "convert",
            "--output",
            "json",
            "--units",
            "objects",
            "--aggregation-type",
            "average",
            "--sample-rate",
            "-5",
            "--spy-name",
            "pyspy",
            "-",
        ],
        Some(b"a;b 2\na;c 3\n"),
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v,
        serde_json::json!([{
            "name": "app.cpu{}", "units": "objects", "aggregation": "average",
            "sampleRate": 100, "spyName": "pyspy", "total": 5,
            "stacks": [["a;b", 2], ["a;c", 3]]
        }])
    );
}

#[test]
fn every_text_and_binary_format() {
    assert_eq!(
        ok(
            &["convert", "--format", "lines", "-"],
            Some(b"a;b\na;b\nc\n")
        ),
        "# app.cpu{}\na;b 2\nc 1\n"
    );
    let trie = b"\x00\x00\x01\x06foo;ba\x00\x02\x01r\x02\x00\x01z\x03\x00";
    let tree = b"\x00\x00\x01\x03foo\x00\x02\x03bar\x02\x00\x03baz\x03\x00";
    let want = "# app.cpu{}\nfoo;bar 2\nfoo;baz 3\n";
    assert_eq!(ok(&["convert", "--format", "trie", "-"], Some(trie)), want);
    assert_eq!(ok(&["convert", "--format", "tree", "-"], Some(tree)), want);
    assert_eq!(
        ok(
            &["convert", "--content-type", "binary/octet-stream+trie", "-"],
            Some(trie)
        ),
        want
    );
    // the trie content type wins over format=lines, as in OG
    assert_eq!(
        ok(
            &[
                "convert",
                "--format",
                "lines",
                "--content-type",
                "binary/octet-stream+tree",
                "-"
            ],
            Some(tree)
        ),
        want
    );
}

#[test]
fn bad_input_exits_non_zero_with_the_parser_error() {
    let out = run(&["convert", "testdata/folded/negative.txt"], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: negative count on line 3 (at offset 0xa)\n"
    );
    assert!(out.stdout.is_empty());

    let out = run(&["convert", "--name", "my app", "-"], Some(b"a 1\n"));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: name: invalid application name: my app: character is not allowed: ' '\n"
    );

    let out = run(&["convert", "--format", "trie", "-"], Some(b"\x00\x00\x05"));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: unexpected end of input reading name length (at offset 0x3)\n"
    );

    let out = run(&["convert", "--max-line-len", "3", "-"], Some(b"abcd 1\n"));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: line of 6 bytes exceeds the limit of 3 on line 1 (at offset 0x0)\n"
    );

    let out = run(&["convert", "--format", "jfr", "-"], Some(b"FLR\0"));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: unable to parse JFR format: unexpected end of input while reading chunk header (at offset 0x4)\n"
    );

    let out = run(&["convert", "/nonexistent/file"], None);
    assert_eq!(out.status.code(), Some(2));

    // a tree whose values overflow u64 when summed
    let tree = b"\x00\x00\x02\x01a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00\x01a\x01\x00";
    let out = run(&["convert", "--format", "tree", "-"], Some(tree));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: sum of values does not fit in 64 bits\n"
    );
}

#[test]
fn format_selection_follows_og() {
    let cases = [
        (None, None, Format::Folded),
        (Some("folded"), None, Format::Folded),
        (Some("bogus"), Some("text/plain"), Format::Folded),
        (Some("trie"), None, Format::Trie),
        (None, Some("binary/octet-stream+trie"), Format::Trie),
        (
            Some("lines"),
            Some("binary/octet-stream+tree"),
            Format::Tree,
        ),
        // parameters break the exact content-type match
        (None, Some("binary/octet-stream+trie; x=1"), Format::Folded),
        (Some("lines"), None, Format::Lines),
        (
            Some("jfr"),
            Some("multipart/form-data; boundary=x"),
            Format::Jfr,
        ),
        (
            Some("pprof"),
            Some("multipart/form-data; boundary=x"),
            Format::Pprof,
        ),
        (
            Some("collapsed"),
            Some("multipart/form-data; boundary=x"),
            Format::PprofMultipart,
        ),
        (Some("speedscope"), None, Format::Speedscope),
    ];
    for (format, ct, want) in cases {
        assert_eq!(Format::select(format, ct), want, "{format:?} {ct:?}");
    }
}

#[test]
fn sample_rate_parsing() {
    assert_eq!(parse_sample_rate(None), 100);
    assert_eq!(parse_sample_rate(Some("")), 100);
    assert_eq!(parse_sample_rate(Some("x")), 100);
    assert_eq!(parse_sample_rate(Some("-1")), 100);
    assert_eq!(parse_sample_rate(Some("0")), 0);
    assert_eq!(parse_sample_rate(Some("+97")), 97);
    assert_eq!(parse_sample_rate(Some("4294967296")), 100);
}

/// A tiny pprof: samples/count and cpu/nanoseconds, stack main -> work, values [3, 30000000].
fn tiny_pprof() -> Vec<u8> {
    let mut p = vec![
        0x0a, 0x04, 0x08, 0x01, 0x10, 0x02, // sample_type samples/count
        0x0a, 0x04, 0x08, 0x05, 0x10, 0x06, // sample_type cpu/nanoseconds
        0x12, 0x0b, 0x0a, 0x02, 0x02, 0x01, 0x12, 0x05, 0x03, 0x80, 0x87, 0xa7,
        0x0e, // sample
        0x22, 0x06, 0x08, 0x01, 0x22, 0x02, 0x08, 0x01, // location 1 -> function 1
        0x22, 0x06, 0x08, 0x02, 0x22, 0x02, 0x08, 0x02, // location 2 -> function 2
        0x2a, 0x04, 0x08, 0x01, 0x10, 0x03, // function 1 name "main"
        0x2a, 0x04, 0x08, 0x02, 0x10, 0x04, // function 2 name "work"
    ];
    for s in ["", "samples", "count", "main", "work", "cpu", "nanoseconds"] {
        p.push(0x32);
        p.push(s.len() as u8);
        p.extend_from_slice(s.as_bytes());
    }
    p
}

#[test]
fn pprof_bodies() {
    let out = ok(
        &[
            "convert",
            "--format",
            "pprof",
            "--name",
            "node.app{env=prod}",
            "-",
        ],
        Some(&tiny_pprof()),
    );
    assert_eq!(
        out,
        "# node.app.cpu{env=prod}\nmain;work 30000000\n# node.app.samples{env=prod}\nmain;work 3\n"
    );
    // a custom table replaces the default one: `samples` becomes `ticks`, cpu keeps its name
    let dir = std::env::temp_dir().join(format!("pyro-convert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let st = dir.join("st.json");
    std::fs::write(
        &st,
        br#"{"samples":{"display-name":"ticks","units":"samples"}}"#,
    )
    .unwrap();
    let out = ok(
        &[
            "convert",
            "--format",
            "pprof",
            "--sample-type-config",
            st.to_str().unwrap(),
            "--output",
            "json",
            "-",
        ],
        Some(&tiny_pprof()),
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["app.cpu.cpu{}", "app.cpu.ticks{}"]);
    assert_eq!(v[1]["units"], "samples");
    assert_eq!(v[0]["units"], "nanoseconds");
    // bad config and bad bodies are errors with positions
    std::fs::write(&st, br#"{"samples":{"unit":"x"}}"#).unwrap();
    let out = run(
        &[
            "convert",
            "--format",
            "pprof",
            "--sample-type-config",
            st.to_str().unwrap(),
            "-",
        ],
        Some(&tiny_pprof()),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .starts_with("error: invalid sample_type_config: unknown field `unit`")
    );
    let out = run(
        &["convert", "--format", "pprof", "-"],
        Some(&tiny_pprof()[..20]),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: Profile.sample: truncated field (at offset 0xd)\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[cfg_attr(
    not(shared_vectors),
    ignore = "needs ../shared/testdata/public beside the checkout"
)]
fn pprof_public_go_cpu() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/testdata/public/pyroscope-v0.37.2/pkg/convert/testdata/cpu.pprof"
    );
    if !std::path::Path::new(path).exists() {
        eprintln!("note: {path} not found; skipping");
        return;
    }
    let out = ok(
        &[
            "convert", "--format", "pprof", "--name", "test.app", "--output", "json", path,
        ],
        None,
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["name"], "test.app.cpu{}");
    assert_eq!(v[1]["name"], "test.app.samples{}");
    assert_eq!(v[1]["sampleRate"], 100);
    assert_eq!(v[1]["total"], 47);
    assert_eq!(v[0]["total"], 470_000_000u64);
}

/// `--output summary`: a line per series (name, stacks holding a value, total, units), the same
/// figures the folded output adds up to.
#[test]
fn summary_output_counts_what_folded_prints() {
    let body = b"main;work 3\nmain;idle 1\nmain 2\nmain;work;db 4\n";
    let out = ok(
        &[
            "convert",
            "--format",
            "folded",
            "--name",
            "shop{env=prod}",
            "--output",
            "summary",
            "-",
        ],
        Some(body),
    );
    assert_eq!(
        out,
        "# series\tstacks\ttotal\tunits\nshop{env=prod}\t4\t10\tsamples\n"
    );
    // The same file as folded: 4 lines summing to 10.
    let folded = ok(
        &[
            "convert",
            "--format",
            "folded",
            "--name",
            "shop{env=prod}",
            "-",
        ],
        Some(body),
    );
    let lines: Vec<&str> = folded.lines().skip(1).collect();
    assert_eq!(lines.len(), 4);
    let sum: u64 = lines
        .iter()
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<u64>().unwrap())
        .sum();
    assert_eq!(sum, 10);
}

fn repo_testdata(rel: &str) -> String {
    format!("{}/../../testdata/{rel}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn jfr_recording_to_series() {
    let jfr = repo_testdata("jfr/jdk17-workload.jfr");
    let out = ok(
        &[
            "convert",
            "--format",
            "jfr",
            "--name",
            "my.app{env=prod}",
            &jfr,
        ],
        None,
    );
    let headers: Vec<&str> = out.lines().filter(|l| l.starts_with("# ")).collect();
    assert_eq!(
        headers,
        [
            "# my.app.alloc_in_new_tlab_bytes{env=prod}",
            "# my.app.alloc_in_new_tlab_objects{env=prod}",
            "# my.app.alloc_outside_tlab_bytes{env=prod}",
            "# my.app.alloc_outside_tlab_objects{env=prod}",
            "# my.app.alloc_sample_bytes{env=prod}",
            "# my.app.alloc_sample_objects{env=prod}",
            "# my.app.cpu{env=prod}",
            "# my.app.lock_count{env=prod}",
            "# my.app.lock_duration{env=prod}",
        ]
    );
    // The cpu series is exactly what the JDK's own reader gives (testdata/jfr/results).
    let cpu: String = out
        .split("# my.app.cpu{env=prod}\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| !l.starts_with("# "))
        .map(|l| format!("{l}\n"))
        .collect();
    let want =
        std::fs::read_to_string(repo_testdata("jfr/results/jdk17-workload.jfr.cpu.txt")).unwrap();
    assert_eq!(cpu, want);
    // Gzipped input is sniffed, JSON output carries units and aggregation.
    let gz = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&std::fs::read(&jfr).unwrap()).unwrap();
        e.finish().unwrap()
    };
    let json = ok(
        &["convert", "--format", "jfr", "--output", "json", "-"],
        Some(&gz),
    );
    assert!(
        json.contains(
            "\"name\": \"app.cpu.lock_duration{}\",\n    \"units\": \"lock_nanoseconds\",\n    \"aggregation\": \"sum\""
        ),
        "{json}"
    );
}

/// A JFR file named on the command line is read a chunk at a time; the same bytes on stdin are
/// read whole: the same series, and the same error for a cut recording.
#[test]
fn jfr_files_read_chunk_by_chunk_convert_as_stdin_does() {
    let one = std::fs::read(repo_testdata("jfr/jdk17-workload.jfr")).unwrap();
    let three = [one.as_slice(), &one, &one].concat();
    let dir = std::env::temp_dir().join(format!("pyro-convert-jfr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("three.jfr");
    std::fs::write(&file, &three).unwrap();
    let path = file.to_str().unwrap();
    // Sniffed (no --format) and named.
    for args in [vec!["convert"], vec!["convert", "--format", "jfr"]] {
        let by_path = ok(&[args.as_slice(), &[path]].concat(), None);
        let by_stdin = ok(&[args.as_slice(), &["-"]].concat(), Some(&three));
        assert_eq!(by_path, by_stdin);
        assert!(by_path.contains("# app.cpu.cpu{}\n"), "{by_path}");
    }
    std::fs::write(&file, &three[..one.len() + 1000]).unwrap();
    let by_path = run(&["convert", path], None);
    let by_stdin = run(&["convert", "-"], Some(&three[..one.len() + 1000]));
    assert!(!by_path.status.success());
    assert_eq!(by_path.status.code(), by_stdin.status.code());
    assert_eq!(
        String::from_utf8_lossy(&by_path.stderr),
        String::from_utf8_lossy(&by_stdin.stderr)
    );
    assert!(
        String::from_utf8_lossy(&by_path.stderr).contains("unexpected end of input"),
        "{}",
        String::from_utf8_lossy(&by_path.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
#[cfg_attr(
    not(shared_vectors),
    ignore = "needs ../shared/testdata/public beside the checkout"
)]
fn jfr_with_labels_snapshot() {
    let dir = format!(
        "{}/../../../shared/testdata/public/pyroscope-v0.37.2/pkg/server/testdata/jfr/with_labels",
        env!("CARGO_MANIFEST_DIR")
    );
    if !std::path::Path::new(&dir).is_dir() {
        eprintln!("note: ../shared not found; skipping the OG JFR labels vector");
        return;
    }
    let out = ok(
        &[
            "convert",
            "--format",
            "jfr",
            "--name",
            "test.app{foo=bar,baz=qux}",
            "--labels",
            &format!("{dir}/labels.proto.bin"),
            &format!("{dir}/jfr.bin.gz"),
        ],
        None,
    );
    assert!(
        out.contains("# test.app.cpu{baz=qux,foo=bar,thread_name=pool-2-thread-8}\n"),
        "{out}"
    );
    assert!(out.contains("# test.app.cpu{baz=qux,foo=bar}\n"), "{out}");
    // profile_id is not part of any key.
    assert!(!out.contains("profile_id"), "{out}");
}

#[test]
fn convert_without_format_sniffs_gzipped_pprof_raw_and_gzipped_jfr() {
    let shared = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/testdata/public"
    );
    let mut files = vec![(repo_testdata("jfr/jdk17-workload.jfr"), "jfr")];
    if std::path::Path::new(shared).is_dir() {
        files.push((
            format!("{shared}/pyroscope-v0.37.2/pkg/convert/pprof/testdata/cpu.pb.gz"),
            "pprof",
        ));
        files.push((format!("{shared}/jfr-parser/async-profiler.jfr.gz"), "jfr"));
    } else {
        eprintln!("note: ../shared not found; sniffing only the repository's raw JFR");
    }
    for (path, format) in files {
        let sniffed = ok(&["convert", "--name", "x.app", &path], None);
        let named = ok(
            &["convert", "--format", format, "--name", "x.app", &path],
            None,
        );
        assert!(sniffed.starts_with("# x.app."), "{path}: {sniffed:.200}");
        assert_eq!(sniffed, named, "{path}");
    }
}

#[test]
fn svg_and_html_outputs_draw_one_series() {
    let svg = ok(
        &[
            "convert",
            "--output",
            "svg",
            "testdata/folded/og-ingest.txt",
        ],
        None,
    );
    assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"));
    assert!(
        svg.contains("<title>foo (5 samples, 100.00%)</title>"),
        "{svg}"
    );
    assert!(svg.contains("<title>baz (3 samples, 60.00%)</title>"));
    let html = ok(
        &[
            "convert",
            "--output",
            "html",
            "--name",
            "my.cpu",
            "testdata/folded/og-ingest.txt",
        ],
        None,
    );
    assert!(html.contains(
        r#"<script id="preload" type="application/json">{"version":1,"flamebearer":{"names":["total","foo","baz","bar"],"levels":[[0,5,0,0],[0,5,0,1],[0,2,2,3,0,3,3,2]]"#
    ), "{html}");
    // Several series: the user picks one.
    let out = run(
        &["convert", "--format", "pprof", "--output", "svg", "-"],
        Some(&tiny_pprof()),
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: the file holds 2 series; pick one with --series: app.cpu.cpu{}, app.cpu.samples{}\n"
    );
    let svg = ok(
        &[
            "convert",
            "--format",
            "pprof",
            "--output",
            "svg",
            "--series",
            "app.cpu.cpu{}",
            "-",
        ],
        Some(&tiny_pprof()),
    );
    assert!(
        svg.contains("<title>work (30,000,000 nanoseconds, 100.00%)</title>"),
        "{svg}"
    );
}
