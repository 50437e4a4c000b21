//! Behaviour on synthetic recordings (see `pyro_jfr::synth`).

use std::collections::HashMap;

use pyro_jfr::synth::Recording;
use pyro_jfr::{Context, ErrorKind, LabelsSnapshot, Limits, Options, ProfileType, to_series};
use pyro_labels::SeriesName;

fn series(jfr: &[u8], name: &str, labels: Option<&LabelsSnapshot>) -> Vec<(String, String)> {
    let request = SeriesName::parse(name).unwrap();
    to_series(jfr, &request, labels, &Options::default())
        .unwrap()
        .into_iter()
        .map(|s| (s.name.to_string(), s.tree.to_folded()))
        .collect()
}

#[test]
fn cpu_wall_and_itimer_follow_the_event_setting() {
    let samples = |r: Recording| {
        r.execution_sample(&["A.run", "A.work"], "STATE_RUNNABLE", 0)
            .execution_sample(&["A.run", "A.sleep"], "STATE_SLEEPING", 0)
            .build()
    };
    // No setting (a JDK recording): `cpu`, sleeping samples dropped, no wall.
    assert_eq!(
        series(&samples(Recording::new()), "app", None),
        [("app.cpu{}".into(), "A.run;A.work 1\n".into())]
    );
    assert_eq!(
        series(
            &samples(Recording::new().setting("event", "itimer")),
            "app",
            None
        ),
        [("app.itimer{}".into(), "A.run;A.work 1\n".into())]
    );
    // The setting may come after the samples it describes.
    let wall = Recording::new()
        .execution_sample(&["A.run", "A.work"], "STATE_RUNNABLE", 0)
        .execution_sample(&["A.run", "A.sleep"], "STATE_SLEEPING", 0)
        .setting("event", "wall")
        .build();
    assert_eq!(
        series(&wall, "app", None),
        [
            ("app.cpu{}".into(), "A.run;A.work 1\n".into()),
            (
                "app.wall{}".into(),
                "A.run;A.sleep 1\nA.run;A.work 1\n".into()
            ),
        ]
    );
}

#[test]
fn allocations_and_locks() {
    let jfr = Recording::new()
        .ticks_per_second(2_000_000_000)
        .allocation(&["A.alloc"], 4096, 0)
        .allocation(&["A.alloc"], 1024, 0)
        .monitor_enter(&["A.lock"], 3_000, 0)
        .build();
    let request = SeriesName::parse("app{env=prod}").unwrap();
    let s = to_series(&jfr, &request, None, &Options::default()).unwrap();
    let got: Vec<(String, &str, &str, String)> = s
        .iter()
        .map(|s| {
            (
                s.name.to_string(),
                s.units(),
                s.aggregation(),
                s.tree.to_folded(),
            )
        })
        .collect();
    let row = |n: &str, u: &'static str, f: &str| (n.to_owned(), u, "sum", f.to_owned());
    assert_eq!(
        got,
        [
            row(
                "app.alloc_in_new_tlab_bytes{env=prod}",
                "bytes",
                "A.alloc 5120\n"
            ),
            row(
                "app.alloc_in_new_tlab_objects{env=prod}",
                "objects",
                "A.alloc 2\n"
            ),
            row("app.lock_count{env=prod}", "lock_samples", "A.lock 1\n"),
            // 3000 ticks at 2 GHz.
            row(
                "app.lock_duration{env=prod}",
                "lock_nanoseconds",
                "A.lock 1500\n"
            ),
        ]
    );
    assert_eq!(s[0].profile, ProfileType::AllocInNewTlabBytes);
}

/// Lock events as OG merges them (`lock_*`: monitor enters and parks together) and, with
/// `split_locks`, also as grafana/jfr-parser splits them (`pprof/pprof.go`: JavaMonitorEnter →
/// the `mutex` builder, ThreadPark → the `block` builder, each `[1, duration]`), durations in
/// nanoseconds; a monitor enter keeps its context labels, a park has none.
#[test]
fn lock_events_merged_and_split() {
    let jfr = Recording::new()
        .ticks_per_second(2_000_000_000)
        .monitor_enter(&["A.run", "A.lock"], 3_000, 1)
        .monitor_enter(&["A.run", "A.lock"], 1_000, 0)
        .thread_park(&["A.run", "A.park"], 8_000)
        .thread_park(&["A.run", "A.park"], 2_000)
        .build();
    let request = SeriesName::parse("app").unwrap();
    let snap = snapshot();
    let folded = |opts: &Options| -> Vec<(String, String)> {
        to_series(&jfr, &request, Some(&snap), opts)
            .unwrap()
            .into_iter()
            .map(|s| (s.name.to_string(), s.tree.to_folded()))
            .collect()
    };
    let row = |n: &str, f: &str| (n.to_owned(), f.to_owned());
    let merged = vec![
        row("app.lock_count{thread=main}", "A.run;A.lock 1\n"),
        row("app.lock_count{}", "A.run;A.lock 1\nA.run;A.park 2\n"),
        row("app.lock_duration{thread=main}", "A.run;A.lock 1500\n"),
        row(
            "app.lock_duration{}",
            "A.run;A.lock 500\nA.run;A.park 5000\n",
        ),
    ];
    assert_eq!(folded(&Options::default()), merged);
    let split = Options {
        split_locks: true,
        ..Options::default()
    };
    let mut want = merged;
    want.extend([
        row("app.block_count{}", "A.run;A.park 2\n"),
        row("app.block_duration{}", "A.run;A.park 5000\n"),
        row("app.mutex_count{}", "A.run;A.lock 1\n"),
        row("app.mutex_duration{}", "A.run;A.lock 500\n"),
        row("app.mutex_count{thread=main}", "A.run;A.lock 1\n"),
        row("app.mutex_duration{thread=main}", "A.run;A.lock 1500\n"),
    ]);
    let mut got = folded(&split);
    got.sort();
    want.sort();
    assert_eq!(got, want);
    // One profile type read on its own.
    let mut park = pyro_tree::StackTree::new();
    pyro_jfr::read_into(
        &jfr,
        ProfileType::BlockDuration,
        &Options::default(),
        &mut park,
    )
    .unwrap();
    assert_eq!(park.to_folded(), "A.run;A.park 5000\n");
}

/// Samples taken in a span (the fork's `spanId`, which grafana/jfr-parser labels `profile_id`
/// as 16 hex digits, `pprof/profile_builder.go`, and GP keeps per sample, renamed `span_id`,
/// `pkg/model/pprofsplit`): with `span_trees` each series keeps them per span, the series
/// itself unchanged (the span label is left out of its key); without a labels snapshot no span
/// is read, as in jfr-parser.
#[test]
fn span_samples_kept_per_span() {
    let jfr = Recording::new()
        .execution_sample_in_span(&["A.run", "A.handle"], "STATE_RUNNABLE", 1, (0xabc, 1))
        .execution_sample_in_span(&["A.run", "A.handle"], "STATE_RUNNABLE", 1, (0xabc, 1))
        .execution_sample_in_span(&["A.run", "A.other"], "STATE_RUNNABLE", 1, (0xdef, 0))
        .execution_sample_in_span(&["A.run", "A.idle"], "STATE_RUNNABLE", 0, (0, 0))
        .build();
    let request = SeriesName::parse("app").unwrap();
    let snap = snapshot();
    let opts = Options {
        span_trees: true,
        ..Options::default()
    };
    type Folded = (String, String);
    let got: Vec<(String, String, Vec<Folded>)> = to_series(&jfr, &request, Some(&snap), &opts)
        .unwrap()
        .into_iter()
        .map(|s| {
            (
                s.name.to_string(),
                s.tree.to_folded(),
                s.spans
                    .iter()
                    .map(|(id, t)| (id.clone(), t.to_folded()))
                    .collect(),
            )
        })
        .collect();
    let span = |id: &str, f: &str| (id.to_owned(), f.to_owned());
    assert_eq!(
        got,
        [
            (
                "app.cpu{span_name=main,thread=main}".to_owned(),
                "A.run;A.handle 2\n".to_owned(),
                vec![span("0000000000000abc", "A.run;A.handle 2\n")],
            ),
            (
                "app.cpu{thread=main}".to_owned(),
                "A.run;A.other 1\n".to_owned(),
                vec![span("0000000000000def", "A.run;A.other 1\n")],
            ),
            (
                "app.cpu{}".to_owned(),
                "A.run;A.idle 1\n".to_owned(),
                vec![]
            ),
        ]
    );
    // Without the option, or without a snapshot: no span trees, the same series.
    let plain = to_series(&jfr, &request, Some(&snap), &Options::default()).unwrap();
    assert!(plain.iter().all(|s| s.spans.is_empty()));
    assert_eq!(plain.len(), 3);
    let bare = to_series(&jfr, &request, None, &opts).unwrap();
    assert_eq!(bare.len(), 1);
    assert!(bare[0].spans.is_empty());
    // More spans than the limit: the series stay, the span data goes.
    let tight = Options {
        span_trees: true,
        limits: pyro_jfr::Limits::default().max_series(4),
        ..Options::default()
    };
    let many = (1..=5u64).fold(Recording::new(), |r, i| {
        r.execution_sample_in_span(&["A.run"], "STATE_RUNNABLE", 1, (i, 0))
    });
    let s = to_series(&many.build(), &request, Some(&snap), &tight).unwrap();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].tree.total(), 5);
    assert!(s[0].spans.is_empty());
}

fn snapshot() -> LabelsSnapshot {
    let strings: HashMap<i64, String> = [(0, "thread"), (1, "main"), (2, "env"), (3, "staging")]
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect();
    let ctx = |pairs: &[(i64, i64)]| Context {
        labels: pairs.iter().copied().collect(),
    };
    LabelsSnapshot {
        contexts: [(1, ctx(&[(0, 1)])), (2, ctx(&[(0, 1), (2, 3)]))]
            .into_iter()
            .collect(),
        strings,
    }
}

#[test]
fn context_labels_override_request_labels() {
    let jfr = Recording::new()
        .execution_sample(&["A.x"], "STATE_RUNNABLE", 0)
        .execution_sample(&["A.y"], "STATE_RUNNABLE", 1)
        .execution_sample(&["A.z"], "STATE_RUNNABLE", 2)
        // An id the snapshot does not know: no labels.
        .execution_sample(&["A.w"], "STATE_RUNNABLE", 9)
        .build();
    let snap = snapshot();
    assert_eq!(
        series(&jfr, "app{env=prod}", Some(&snap)),
        [
            ("app.cpu{env=prod,thread=main}".into(), "A.y 1\n".into()),
            ("app.cpu{env=prod}".into(), "A.w 1\nA.x 1\n".into()),
            ("app.cpu{env=staging,thread=main}".into(), "A.z 1\n".into()),
        ]
    );
    // Without a snapshot context ids are ignored.
    assert_eq!(
        series(&jfr, "app", None),
        [("app.cpu{}".into(), "A.w 1\nA.x 1\nA.y 1\nA.z 1\n".into())]
    );
}

#[test]
fn invalid_context_label_is_an_error() {
    let jfr = Recording::new()
        .execution_sample(&["A.x"], "STATE_RUNNABLE", 1)
        .build();
    let mut snap = snapshot();
    snap.strings.insert(0, "bad key!".into());
    let request = SeriesName::parse("app").unwrap();
    let e = to_series(&jfr, &request, Some(&snap), &Options::default()).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::InvalidLabel(m) if m.contains("bad key!")),
        "{e}"
    );
}

#[test]
fn utf16_symbols_with_surrogate_pairs() {
    // The jfrs crate stops at a surrogate pair in a char-array string.
    let jfr = Recording::new()
        .utf16_symbols(true)
        .execution_sample(
            &["emoji/😀Class.run", "emoji/😀Class.wörk"],
            "STATE_RUNNABLE",
            0,
        )
        .build();
    assert_eq!(
        series(&jfr, "app", None),
        [(
            "app.cpu{}".into(),
            "emoji/😀Class.run;emoji/😀Class.wörk 1\n".into()
        )]
    );
}

#[test]
fn generated_names_are_merged() {
    let jfr = Recording::new()
        .execution_sample(&["App$$Lambda$12/0x1234.run"], "STATE_RUNNABLE", 0)
        .execution_sample(&["App$$Lambda$13/0x5678.run"], "STATE_RUNNABLE", 0)
        .build();
    assert_eq!(
        series(&jfr, "app", None),
        [("app.cpu{}".into(), "App$$Lambda_.run 2\n".into())]
    );
}

fn err(data: &[u8], limits: Limits) -> pyro_jfr::Error {
    let request = SeriesName::parse("app").unwrap();
    let opts = Options {
        limits,
        ..Options::default()
    };
    to_series(data, &request, None, &opts).unwrap_err()
}

#[test]
fn malformed_chunks() {
    let good = Recording::new()
        .execution_sample(&["A.run", "A.work"], "STATE_RUNNABLE", 0)
        .build();
    let mut bad = good.clone();
    bad[0] = b'X';
    let e = err(&bad, Limits::default());
    assert_eq!((e.kind(), e.offset()), (&ErrorKind::BadMagic, 0));
    assert!(e.to_string().contains("at offset 0x0"), "{e}");
    // Uncompressed integers are not supported.
    let mut bad = good.clone();
    bad[67] = 0;
    assert!(matches!(
        err(&bad, Limits::default()).kind(),
        ErrorKind::Unsupported(_)
    ));
    // The checkpoint offset pointing at the metadata record.
    let mut bad = good.clone();
    bad[16..24].copy_from_slice(&68u64.to_be_bytes());
    let e = err(&bad, Limits::default());
    assert_eq!(e.kind(), &ErrorKind::UnexpectedRecord(0));
    assert_eq!(e.offset(), 68);
    // Limits.
    let e = err(&good, Limits::default().max_stack_depth(1));
    assert!(
        matches!(
            e.kind(),
            ErrorKind::LimitExceeded {
                what: "stack depth",
                max: 1
            }
        ),
        "{e:?}"
    );
    let e = err(&good, Limits::default().max_decompressed_size(10));
    assert!(matches!(
        e.kind(),
        ErrorKind::InputTooLarge {
            what: "recording size",
            ..
        }
    ));
    let two_stacks = Recording::new()
        .execution_sample(&["A.run"], "STATE_RUNNABLE", 0)
        .execution_sample(&["A.run", "A.work"], "STATE_RUNNABLE", 0)
        .execution_sample(&["A.run"], "STATE_RUNNABLE", 0)
        .build();
    let e = err(&two_stacks, Limits::default().max_event_keys(1));
    assert!(
        matches!(
            e.kind(),
            ErrorKind::LimitExceeded {
                what: "distinct (stack, context) keys per chunk",
                max: 1
            }
        ),
        "{e:?}"
    );
    let opts = Options {
        limits: Limits::default().max_event_keys(2),
        ..Options::default()
    };
    let request = SeriesName::parse("app").unwrap();
    let ok = to_series(&two_stacks, &request, None, &opts).unwrap();
    assert_eq!(ok[0].tree.total(), 3);
    let e = err(&good, Limits::default().max_metadata_size(100));
    assert!(
        matches!(
            e.kind(),
            ErrorKind::LimitExceeded {
                what: "metadata size",
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.offset(), 68, "the metadata record follows the header");
    let e = err(&good, Limits::default().max_pool_entries(2));
    assert!(matches!(
        e.kind(),
        ErrorKind::LimitExceeded {
            what: "constant pool entries",
            ..
        }
    ));
    // An empty input is an empty recording.
    let request = SeriesName::parse("app").unwrap();
    assert!(
        to_series(&[], &request, None, &Options::default())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn every_truncation_and_byte_flip_is_an_error_or_a_result() {
    let good = Recording::new()
        .setting("event", "wall")
        .execution_sample(&["A.run", "A.work"], "STATE_RUNNABLE", 1)
        .allocation(&["A.alloc"], 4096, 2)
        .monitor_enter(&["A.lock"], 3_000, 0)
        .build();
    let request = SeriesName::parse("app").unwrap();
    let snap = snapshot();
    for n in 0..good.len() {
        let r = to_series(&good[..n], &request, Some(&snap), &Options::default());
        if n > 0 {
            assert!(r.is_err(), "prefix {n} accepted");
        }
    }
    for i in 0..good.len() {
        for x in [0x00, 0x01, 0x7f, 0x80, 0xff] {
            let mut bad = good.clone();
            bad[i] ^= x;
            let _ = to_series(&bad, &request, Some(&snap), &Options::default());
        }
    }
}
