//! Tests of the folded and lines readers: every rule, every error branch, golden files and the
//! differential property against the naive reader.

use std::collections::HashMap;
use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use pyro_folded::{ErrorKind, Options, Summary, naive, parse_folded, parse_lines};
use pyro_tree::{StackTree, VecSink};

fn folded(input: &[u8]) -> (String, Summary) {
    let mut t = StackTree::new();
    let s = parse_folded(input, &Options::default(), &mut t).unwrap();
    (t.to_folded(), s)
}

fn err(input: &[u8], opts: Options) -> (ErrorKind, u64, usize) {
    let mut sink = VecSink::default();
    let e = parse_folded(input, &opts, &mut sink).unwrap_err();
    assert!(sink.stacks.is_empty(), "nothing pushed on error");
    (e.kind().clone(), e.line(), e.offset())
}

#[test]
fn og_ingest_vector() {
    let (out, s) = folded(b"foo;bar 2\nfoo;baz 3\n");
    assert_eq!(out, "foo;bar 2\nfoo;baz 3\n");
    assert_eq!(
        s,
        Summary {
            lines: 2,
            empty_lines: 0,
            skipped_lines: 0,
            distinct_stacks: 2,
            total: 5
        }
    );
}

#[test]
fn last_space_separates_and_crlf_is_stripped() {
    let (out, _) = folded(b"a b;c d 4\r\nx\ty 1\r\n");
    assert_eq!(out, "a b;c d 4\nx\ty 1\n");
}

#[test]
fn duplicates_are_summed_and_plus_sign_is_accepted() {
    let (out, s) = folded(b"a;b 1\na;b +2\na;b 3");
    assert_eq!(out, "a;b 6\n");
    assert_eq!((s.lines, s.distinct_stacks, s.total), (3, 1, 6));
}

#[test]
fn lines_without_count_are_skipped_and_counted() {
    let (out, s) = folded(b"nocount\n\n\r\na 1\nanother-one\n");
    assert_eq!(out, "a 1\n");
    assert_eq!((s.lines, s.empty_lines, s.skipped_lines), (5, 2, 2));
}

#[test]
fn og_stack_splitting_rules() {
    let (out, _) = folded(b"a;;b 1\n;a 2\nc; 3\n 4\n; 5\n");
    assert_eq!(out, " 4\n; 5\n;a 2\na;;b 1\nc 3\n");
}

#[test]
fn zero_counts_create_nodes() {
    let mut t = StackTree::new();
    parse_folded(b"a;b 0\n", &Options::default(), &mut t).unwrap();
    assert_eq!(t.node_count(), 3);
    assert_eq!(t.total(), 0);
    let (out, _) = folded(b"a -0\n");
    assert_eq!(out, "");
}

#[test]
fn invalid_utf8_is_replaced() {
    let (out, _) = folded(b"a;\xff\xfe 1\n");
    assert_eq!(out, "a;\u{fffd}\u{fffd} 1\n");
}

#[test]
fn count_errors_name_line_and_offset() {
    let d = Options::default();
    assert_eq!(
        err(b"a 1\nb x\n", d),
        (ErrorKind::InvalidCount { text: "x".into() }, 2, 6)
    );
    assert_eq!(
        err(b"a;b 5 \n", d),
        (ErrorKind::InvalidCount { text: "".into() }, 1, 6)
    );
    assert_eq!(
        err(b"a 1.5\n", d),
        (ErrorKind::InvalidCount { text: "1.5".into() }, 1, 2)
    );
    assert_eq!(
        err(b"a 1e3\n", d),
        (ErrorKind::InvalidCount { text: "1e3".into() }, 1, 2)
    );
    assert_eq!(
        err(b"a +\n", d),
        (ErrorKind::InvalidCount { text: "+".into() }, 1, 2)
    );
    assert_eq!(
        err(b"a --1\n", d),
        (ErrorKind::InvalidCount { text: "--1".into() }, 1, 2)
    );
    assert_eq!(err(b"x 1\r\na -5\r\n", d), (ErrorKind::NegativeCount, 2, 7));
    assert_eq!(
        err(b"a 18446744073709551616\n", d),
        (ErrorKind::CountOverflow, 1, 2)
    );
    assert_eq!(
        err(b"a 99999999999999999999999\n", d),
        (ErrorKind::CountOverflow, 1, 2)
    );
    assert_eq!(
        err(b"a 18446744073709551615\nb 1\n", d),
        (ErrorKind::SumOverflow, 2, 23)
    );
    let e = parse_folded(b"a 1\nb -5\n", &d, VecSink::default()).unwrap_err();
    assert_eq!(e.to_string(), "negative count on line 2 (at offset 0x6)");
}

#[test]
fn max_u64_count_is_accepted() {
    let (out, s) = folded(b"a 18446744073709551615\n");
    assert_eq!(out, "a 18446744073709551615\n");
    assert_eq!(s.total, u64::MAX);
}

#[test]
fn limits_are_errors() {
    assert_eq!(
        err(b"a 1\nabcdef 1\n", Options::new().max_line_len(5)),
        (ErrorKind::LineTooLong { len: 8, max: 5 }, 2, 4)
    );
    // The limit counts the line without its `\r\n`.
    assert!(
        parse_folded(
            b"abc 1\r\n",
            &Options::new().max_line_len(5),
            VecSink::default()
        )
        .is_ok()
    );
    assert_eq!(
        err(b"a;b 1\na;b;c 1\n", Options::new().max_stack_depth(2)),
        (ErrorKind::StackTooDeep { max: 2 }, 2, 6)
    );
    assert!(
        parse_folded(
            b"a;b; 1\n",
            &Options::new().max_stack_depth(2),
            VecSink::default()
        )
        .is_ok()
    );
    assert_eq!(
        err(
            b"a 1\na 1\nb 1\nc 1\n",
            Options::new().max_distinct_stacks(2)
        ),
        (ErrorKind::TooManyStacks { max: 2 }, 4, 12)
    );
}

#[test]
fn og_64k_line_is_fine_here() {
    let mut input = vec![b'f'; 100_000];
    input.extend_from_slice(b" 7\nb 1\n");
    let (out, s) = folded(&input);
    assert_eq!(s.total, 8);
    assert_eq!(out, format!("b 1\n{} 7\n", "f".repeat(100_000)));
}

#[test]
fn lines_reader() {
    let mut t = StackTree::new();
    let s = parse_lines(b"a;b\r\na;b\n\nc 5\na;b", &Options::default(), &mut t).unwrap();
    assert_eq!(t.to_folded(), "a;b 3\nc 5 1\n");
    assert_eq!(
        (
            s.lines,
            s.empty_lines,
            s.skipped_lines,
            s.distinct_stacks,
            s.total
        ),
        (5, 1, 0, 2, 4)
    );
    let e = parse_lines(
        b"ok\ntoo-long\n",
        &Options::new().max_line_len(4),
        VecSink::default(),
    )
    .unwrap_err();
    assert_eq!(
        (e.kind().clone(), e.line(), e.offset()),
        (ErrorKind::LineTooLong { len: 8, max: 4 }, 2, 3)
    );
    let e = parse_lines(
        b"a\nb\nc\n",
        &Options::new().max_distinct_stacks(2),
        VecSink::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::TooManyStacks { max: 2 });
    let e = parse_lines(
        b"a;b;c\n",
        &Options::new().max_stack_depth(2),
        VecSink::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::StackTooDeep { max: 2 });
}

#[test]
fn depth_limit_at_its_boundary() {
    // Empty frames make the shortest deep stacks: n `;` and a frame give n + 1 frames.
    let depth = |s: &[u8]| {
        parse_folded(s, &Options::new().max_stack_depth(3), VecSink::default()).map(|_| ())
    };
    assert!(depth(b";; 1\n").is_ok()); // 2 frames
    assert!(depth(b";;x 1\n").is_ok()); // 3 frames, 3 bytes
    assert!(depth(b";;; 1\n").is_ok()); // 3 frames (one trailing `;` ignored)
    assert_eq!(
        depth(b";;;x 1\n").unwrap_err().kind(),
        &ErrorKind::StackTooDeep { max: 3 }
    );
    assert_eq!(
        depth(b"a;b;c;d 1\n").unwrap_err().kind(),
        &ErrorKind::StackTooDeep { max: 3 }
    );
}

/// Golden files: `testdata/folded/<case>.txt` → `testdata/folded/results/<case>.txt` (the tree's
/// folded output, or `error: …`). `BLESS=1` rewrites the expectations.
#[test]
fn golden() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/folded");
    let bless = std::env::var_os("BLESS").is_some();
    let mut seen = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    entries.sort();
    for path in entries {
        let input = std::fs::read(&path).unwrap();
        let mut t = StackTree::new();
        let got = match if path.to_string_lossy().contains(".lines.") {
            parse_lines(&input, &Options::default(), &mut t)
        } else {
            parse_folded(&input, &Options::default(), &mut t)
        } {
            Ok(s) => format!("{}# {:?}\n", t.to_folded(), s),
            Err(e) => format!("error: {e}\n"),
        };
        let want_path = dir.join("results").join(path.file_name().unwrap());
        if bless {
            std::fs::write(&want_path, &got).unwrap();
        }
        let want = std::fs::read_to_string(&want_path).unwrap_or_else(|_| {
            panic!(
                "missing {}; run with BLESS=1 to create it",
                want_path.display()
            )
        });
        assert_eq!(got, want, "{} differs; BLESS=1 regenerates", path.display());
        seen += 1;
    }
    assert!(seen >= 5, "golden cases found: {seen}");
}

fn tree_map(t: &StackTree<'_>) -> HashMap<String, u64> {
    t.folded_lines().into_iter().collect()
}

fn naive_map(m: HashMap<String, u64>) -> HashMap<String, u64> {
    // Re-aggregate through a tree so both sides use the same frame splitting.
    let mut t = StackTree::new();
    for (k, v) in &m {
        let frames: Vec<&str> = pyro_tree::transport::split_stack(k).collect();
        pyro_tree::StackSink::add_transient(&mut t, &frames, *v);
    }
    t.folded_lines().into_iter().collect()
}

fn folded_text() -> impl Strategy<Value = Vec<u8>> {
    let frame = "[ab ]{0,3}";
    let stack = prop::collection::vec(frame, 0..4).prop_map(|f| f.join(";"));
    let count = prop_oneof![
        (0u64..100).prop_map(|c| c.to_string()),
        Just(String::new()),
        Just("-1".to_string()),
        Just("+3".to_string()),
        Just("x".to_string()),
    ];
    let line = prop_oneof![
        8 => (stack.clone(), count).prop_map(|(s, c)| format!("{s} {c}")),
        1 => stack,
    ];
    (
        prop::collection::vec(line, 0..20),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(ls, crlf, end)| {
            let sep = if crlf { "\r\n" } else { "\n" };
            let mut s = ls.join(sep);
            if end {
                s.push_str(sep);
            }
            s.into_bytes()
        })
}

proptest! {
    #[test]
    fn fast_folded_equals_naive(input in folded_text()) {
        let mut t = StackTree::new();
        let fast = parse_folded(&input, &Options::default(), &mut t);
        match (fast, naive::folded(&input)) {
            (Ok(_), Ok(m)) => prop_assert_eq!(tree_map(&t), naive_map(m)),
            (Err(e), Err(line)) => prop_assert_eq!(e.line(), line),
            (a, b) => prop_assert!(false, "fast {:?} vs naive {:?}", a, b),
        }
    }

    #[test]
    fn fast_lines_equals_naive(input in folded_text()) {
        let mut t = StackTree::new();
        parse_lines(&input, &Options::default(), &mut t).unwrap();
        prop_assert_eq!(tree_map(&t), naive_map(naive::lines_format(&input)));
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_folded(&input, &Options::default(), VecSink::default());
        let _ = parse_lines(&input, &Options::default(), VecSink::default());
    }
}

/// The predicted-line fast path agrees with the general path on a stack ending in `\r` (from a
/// `\r\r\n` ending) followed by the same text ending in `\r\n` (fuzz reproducer in
/// `testdata/folded/regress/`).
#[test]
fn lines_stack_ending_in_cr_then_crlf() {
    let mut tree = StackTree::new();
    pyro_folded::parse_lines(b"x\nabc\r\r\nx\nabc\r\n", &Options::default(), &mut tree).unwrap();
    assert_eq!(tree.to_folded(), "abc 1\nabc\r 1\nx 2\n");
}

/// Both folded readers on one input with `opts`: the same result, tree (node for node, in the
/// order nodes were made) and summary, or the same error at the same place. `None` when the
/// prefix-sharing reader hands the input back (not UTF-8).
fn both_readers_agree(input: &[u8], opts: &Options) -> Result<(), TestCaseError> {
    let mut hashed = StackTree::new();
    let a = pyro_folded::parse_folded_hashed(input, opts, &mut hashed);
    let mut shared = StackTree::new();
    let Some(b) = pyro_folded::parse_folded_prefix_shared(input, opts, &mut shared) else {
        prop_assert!(std::str::from_utf8(input).is_err());
        return Ok(());
    };
    match (a, b) {
        (Ok(x), Ok(y)) => {
            prop_assert_eq!(x, y);
            prop_assert_eq!(
                hashed.to_tree_bytes_unsorted(),
                shared.to_tree_bytes_unsorted()
            );
            prop_assert_eq!(hashed.to_folded(), shared.to_folded());
        }
        (Err(x), Err(y)) => {
            prop_assert_eq!(x.to_string(), y.to_string());
            prop_assert!(shared.is_empty() && shared.frame_count() == 0);
        }
        (x, y) => prop_assert!(false, "hashed {:?} vs prefix-shared {:?}", x, y),
    }
    Ok(())
}

/// Sorted-looking folded text: stacks that share prefixes, repeats, trailing `;`, empty frames
/// and stacks, zero and bad counts, empty and count-less lines.
fn shared_prefix_text() -> impl Strategy<Value = Vec<u8>> {
    let frame = prop_oneof![
        Just("main"),
        Just("run"),
        Just("a"),
        Just(""),
        Just("é"),
        Just("x y")
    ];
    let stack = (prop::collection::vec(frame, 0..6), any::<bool>()).prop_map(|(f, semi)| {
        let mut s = f.join(";");
        if semi {
            s.push(';');
        }
        s
    });
    let count = prop_oneof![
        8 => (0u64..5).prop_map(|c| c.to_string()),
        1 => Just("x".to_string()),
        1 => Just("18446744073709551615".to_string()),
    ];
    let line = prop_oneof![
        12 => (stack.clone(), count).prop_map(|(s, c)| format!("{s} {c}")),
        1 => Just(String::new()),
        1 => stack,
    ];
    (prop::collection::vec(line, 0..40), any::<bool>()).prop_map(|(mut ls, sort)| {
        if sort {
            ls.sort();
        }
        ls.join("\n").into_bytes()
    })
}

proptest! {
    #[test]
    fn prefix_sharing_reader_equals_the_general_one(input in shared_prefix_text()) {
        both_readers_agree(&input, &Options::default())?;
        let tight = Options::new().max_stack_depth(3).max_distinct_stacks(5).max_line_len(24);
        both_readers_agree(&input, &tight)?;
    }

    #[test]
    fn prefix_sharing_reader_on_any_bytes(input in prop::collection::vec(any::<u8>(), 0..200)) {
        both_readers_agree(&input, &Options::default())?;
        both_readers_agree(&input, &Options::new().max_stack_depth(2).max_distinct_stacks(3))?;
    }
}

/// Sorted stacks of real shape go through the prefix-sharing reader and give what the general
/// reader gives.
#[test]
fn sorted_stacks_take_the_prefix_sharing_reader() {
    let mut text = String::new();
    for i in 0..40 {
        text.push_str(&format!(
            "java.lang.Thread.run;app.Main.loop;app.Work.step{} {}\n",
            i % 7,
            i
        ));
    }
    let input = text.as_bytes();
    assert!(
        pyro_folded::parse_folded_prefix_shared(input, &Options::default(), &mut StackTree::new())
            .is_some()
    );
    let mut t = StackTree::new();
    let summary = parse_folded(input, &Options::default(), &mut t).unwrap();
    let mut h = StackTree::new();
    let want = pyro_folded::parse_folded_hashed(input, &Options::default(), &mut h).unwrap();
    assert_eq!(summary, want);
    assert_eq!(summary.distinct_stacks, 7);
    assert_eq!(t.to_folded(), h.to_folded());
    assert_eq!(t.total(), (0..40).sum::<u64>());
}
