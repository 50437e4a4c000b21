//! A JFR recording read a chunk at a time from a reader (`decode_jfr_read`, what `convert` does
//! with a JFR file) gives exactly what the same bytes give as a request body
//! (`decode_with_facts`): the same series (names, units, stacks, spans), the same facts, and on
//! bad input the same error (kind, offset and message).

use pyro_ingest::{ErrorKind, Facts, Limits, Request, Series, decode_jfr_read, decode_with_facts};

/// What a read gave, comparable: every series (name, units, folded stacks, spans) and the
/// facts, or the error's kind, offset and message.
type Outcome = Result<(Vec<String>, String), (ErrorKind, Option<u64>, String)>;

fn describe(series: &[Series<'_>], facts: Option<Facts>) -> (Vec<String>, String) {
    let show = |s: &Series<'_>| {
        let spans: Vec<String> = s
            .spans
            .iter()
            .map(|(id, t)| format!("{id}:{}", t.to_folded()))
            .collect();
        format!(
            "{} [{}] {}\n{}spans {spans:?}",
            s.name,
            s.units,
            s.sample_rate,
            s.tree.to_folded()
        )
    };
    let facts = match facts {
        Some(Facts::Jfr { event, locks }) => format!(
            "event {event:?}, locks {:?}",
            locks.iter().map(show).collect::<Vec<_>>()
        ),
        other => format!("{other:?}"),
    };
    (series.iter().map(show).collect(), facts)
}

fn whole(req: &Request, data: &[u8], limits: &Limits) -> Outcome {
    let req = Request {
        body: data.to_vec().into(),
        format: Some("jfr".into()),
        ..req.clone()
    };
    decode_with_facts(&req, limits)
        .map(|(s, f)| describe(&s, f))
        .map_err(|e| (e.kind(), e.offset(), e.message().to_owned()))
}

fn streamed(req: &Request, data: &[u8], limits: &Limits) -> Outcome {
    let mut input = data;
    decode_jfr_read(req, &mut input, data.len() as u64, limits)
        .map(|(s, f)| describe(&s, f))
        .map_err(|e| (e.kind(), e.offset(), e.message().to_owned()))
}

fn same(req: &Request, data: &[u8], limits: &Limits, what: &str) -> Outcome {
    let w = whole(req, data, limits);
    assert_eq!(streamed(req, data, limits), w, "{what}");
    w
}

fn repo_jfr() -> Vec<u8> {
    let path = format!(
        "{}/../../testdata/jfr/jdk17-workload.jfr",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(path).expect("testdata/jfr/jdk17-workload.jfr")
}

fn shared(path: &str) -> Option<Vec<u8>> {
    let full = format!(
        "{}/../../../shared/testdata/public/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    match std::fs::read(&full) {
        Ok(gz) => Some(pyro_ingest::gunzip(&gz, 1 << 30).expect("gzipped vector")),
        Err(_) => {
            eprintln!("skipped {path}: ../shared/testdata/public is absent");
            None
        }
    }
}

fn req() -> Request {
    Request::new("app{env=test}", &b""[..])
}

#[test]
fn chunk_by_chunk_reads_give_the_whole_recordings_series() {
    let one = repo_jfr();
    let limits = Limits::default();
    let (series, _) = same(&req(), &one, &limits, "jdk17-workload").unwrap();
    assert!(series.iter().any(|s| s.starts_with("app.cpu{env=test}")));
    // Three chunks in one file: each read on its own, the trees summed across them.
    let three = [one.as_slice(), &one, &one].concat();
    let (three_series, _) = same(&req(), &three, &limits, "three chunks").unwrap();
    assert_ne!(three_series, series);
    for name in [
        "jfr-parser/goland-multichunk.jfr.gz",
        "jfr-parser/async-profiler.jfr.gz",
    ] {
        if let Some(data) = shared(name) {
            let (series, facts) = same(&req(), &data, &limits, name).unwrap();
            assert!(!series.is_empty(), "{name}: {facts}");
        }
    }
    // With a labels snapshot, and the lock events split for a gateway.
    if let (Some(jfr), Some(labels)) = (
        shared("pyroscope-v0.37.2/pkg/server/testdata/jfr/with_labels/jfr.bin.gz"),
        shared("pyroscope-v0.37.2/pkg/server/testdata/jfr/with_labels/labels.bin.gz"),
    ) {
        let req = Request {
            jfr_labels: Some(labels.into()),
            split_jfr_locks: true,
            ..req()
        };
        let (series, _) = same(&req, &jfr, &limits, "with labels").unwrap();
        assert!(series.len() > 1);
    }
}

#[test]
fn chunk_by_chunk_reads_fail_as_the_whole_recording_fails() {
    let one = repo_jfr();
    let limits = Limits::default();
    let three = [one.as_slice(), &one, &one].concat();
    let n = one.len();
    // Cut anywhere: in the first header, in a chunk, in the next chunk's header, one short.
    for cut in [
        1,
        4,
        20,
        67,
        68,
        69,
        1000,
        n / 2,
        n - 1,
        n + 1,
        n + 30,
        n + 68,
        2 * n + 500,
    ] {
        let out = same(&req(), &three[..cut], &limits, &format!("cut at {cut}"));
        let (kind, offset, _) = out.expect_err("a cut recording fails");
        assert_eq!(kind, ErrorKind::Body, "cut at {cut}");
        assert!(
            offset.is_some_and(|o| o <= cut as u64),
            "cut at {cut}: {offset:?}"
        );
    }
    // A bad magic, a size below the header's, a size past the end, in the second chunk.
    let mut bad = three.clone();
    bad[n] = b'X';
    same(&req(), &bad, &limits, "bad magic").expect_err("bad magic");
    let mut small = three.clone();
    small[n + 8..n + 16].copy_from_slice(&10u64.to_be_bytes());
    same(&req(), &small, &limits, "size 10").expect_err("size below the header");
    let mut big = three.clone();
    big[n + 8..n + 16].copy_from_slice(&u64::MAX.to_be_bytes());
    let (kind, offset, message) = same(&req(), &big, &limits, "size past the end").unwrap_err();
    assert_eq!(
        (kind, offset),
        (ErrorKind::Body, Some(3 * n as u64)),
        "{message}"
    );
    // Over the size limit: refused before anything is read.
    let tight = Limits::default().max_decompressed(n);
    let (kind, _, message) = same(&req(), &three, &tight, "over the size limit").unwrap_err();
    assert_eq!(kind, ErrorKind::TooLarge, "{message}");
    same(&req(), &one, &tight, "at the size limit").expect("exactly the limit is read");
}

#[test]
fn an_input_shorter_than_its_length_is_an_io_error() {
    let one = repo_jfr();
    let mut input = &one[..one.len() - 1];
    let err = decode_jfr_read(
        &req(),
        &mut input,
        one.len() as u64 + 100,
        &Limits::default(),
    )
    .expect_err("the input ends early");
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert_eq!(err.message(), "the recording ended 101 bytes early");
}
