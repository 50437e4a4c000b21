//! Tests of the aggregator, its outputs and the transport formats.

use proptest::prelude::*;
use pyro_tree::transport::{read_tree, read_trie, split_stack};
use pyro_tree::{ErrorKind, NodeId, StackSink, StackTree, TransportLimits, TreeBuilder, VecSink};

fn tree_of(stacks: &[(&str, u64)]) -> StackTree<'static> {
    let mut t = StackTree::new();
    for (s, v) in stacks {
        let frames: Vec<&str> = split_stack(s).collect();
        t.add_transient(&frames, *v);
    }
    t.into_owned()
}

#[test]
fn split_follows_og_insert() {
    let cases: &[(&str, &[&str])] = &[
        ("", &[]),
        (";", &[""]),
        ("a", &["a"]),
        ("a;", &["a"]),
        ("a;;", &["a", ""]),
        ("a;;b", &["a", "", "b"]),
        (";a", &["", "a"]),
        ("a b;c d", &["a b", "c d"]),
    ];
    for (input, want) in cases {
        let got: Vec<&str> = split_stack(input).collect();
        assert_eq!(&got, want, "split of {input:?}");
    }
}

#[test]
fn aggregates_self_and_total() {
    let t = tree_of(&[("a;b", 2), ("a;c", 3), ("a", 1), ("a;b", 4), ("", 7)]);
    assert_eq!(t.total(), 17);
    assert_eq!(t.root_self(), 7);
    assert_eq!(t.frame_count(), 3);
    assert_eq!(t.node_count(), 4);
    assert_eq!(t.to_folded(), " 7\na 1\na;b 6\na;c 3\n");
    assert!(!t.overflowed());
}

#[test]
fn borrowed_frames_are_not_copied() {
    let input = String::from("x;y");
    let frames: Vec<&str> = input.split(';').collect();
    let mut t = StackTree::new();
    t.add(&frames, 1);
    let id = t.intern(frames[0]);
    assert!(std::ptr::eq(t.frame_name(id).as_ptr(), input.as_ptr()));
    let owned = t.into_owned();
    drop(input);
    assert_eq!(owned.to_folded(), "x;y 1\n");
}

#[test]
fn folded_output_is_sorted_bytewise() {
    let t = tree_of(&[("a;b", 1), ("a!", 2), ("a", 3), ("B", 4)]);
    assert_eq!(
        t.to_folded(),
        "B 4\na 3\na!;b 0\n".replace("a!;b 0\n", "a! 2\na;b 1\n")
    );
}

#[test]
fn empty_frames_round_trip_through_folded() {
    let t = tree_of(&[(";", 1), ("a;;", 2), ("a;;b", 3)]);
    assert_eq!(t.to_folded(), "; 1\na;; 2\na;;b 3\n");
    let back = tree_of(
        &t.folded_lines()
            .iter()
            .map(|(s, v)| (s.as_str(), *v))
            .collect::<Vec<_>>(),
    );
    assert_eq!(back.to_folded(), t.to_folded());
}

#[test]
fn values_saturate_with_flag() {
    let mut t = StackTree::new();
    t.add(&["a"], u64::MAX - 1);
    assert!(!t.overflowed());
    t.add(&["a"], 5);
    assert!(t.overflowed());
    assert_eq!(t.total(), u64::MAX);
    assert_eq!(t.to_folded(), format!("a {}\n", u64::MAX));
}

#[test]
fn merge_adds_node_by_node() {
    let mut a = tree_of(&[("x;y", 1), ("x", 2)]);
    let b = tree_of(&[("x;y", 10), ("z", 5), ("", 1)]);
    a.merge(&b);
    assert_eq!(a.to_folded(), " 1\nx 2\nx;y 11\nz 5\n");
    assert_eq!(a.total(), 19);
}

#[test]
fn flamebearer_matches_og_example() {
    // §6.3 of the ingest spec: `foo;bar 2\nfoo;baz 3`.
    let t = tree_of(&[("foo;bar", 2), ("foo;baz", 3)]);
    let fb = t.flamebearer(Some(8192));
    let json = serde_json::to_string(&fb).unwrap();
    assert_eq!(
        json,
        r#"{"names":["total","foo","baz","bar"],"levels":[[0,5,0,0],[0,5,0,1],[0,2,2,3,0,3,3,2]],"numTicks":5,"maxSelf":3}"#
    );
}

#[test]
fn flamebearer_self_shifts_children_and_deltas_span_parents() {
    let t = tree_of(&[("a", 4), ("a;b", 1), ("c;d", 2)]);
    let fb = t.flamebearer(None);
    // Visit order: root, c, d, a, b.
    assert_eq!(fb.names, ["total", "c", "d", "a", "b"]);
    assert_eq!(
        fb.levels,
        vec![
            vec![0, 7, 0, 0],
            vec![0, 5, 4, 3, 0, 2, 0, 1],
            // b starts at a.x + a.self = 4; d starts at c.x = 5 → delta 5 - (4 + 1) = 0.
            vec![4, 1, 1, 4, 0, 2, 2, 2],
        ]
    );
    assert_eq!(fb.num_ticks, 7);
    assert_eq!(fb.max_self, 4);
}

#[test]
fn diff_flamebearer_lays_out_each_side_on_its_own_axis() {
    // Left: foo;bar 2, foo;baz 3. Right: foo;bar 5, qux 1 (baz gone, qux new).
    let left = tree_of(&[("foo;bar", 2), ("foo;baz", 3)]);
    let right = tree_of(&[("foo;bar", 5), ("qux", 1)]);
    let fb = pyro_tree::diff_flamebearer(&left, &right, None);
    assert_eq!(fb.names, ["total", "qux", "foo", "baz", "bar"]);
    assert_eq!((fb.left_ticks, fb.right_ticks, fb.num_ticks), (5, 6, 11));
    assert_eq!(fb.max_self, 5);
    assert_eq!(
        fb.levels,
        vec![
            vec![0, 5, 0, 0, 6, 0, 0],
            // foo: left 5 at 0, right 5 at 0; qux: left 0 at 5, right 1 at 5.
            vec![0, 5, 0, 0, 5, 0, 2, 0, 0, 0, 0, 1, 1, 1],
            // bar: left 2, right 5; baz: left 3 at 2 (delta 0), right 0 at 5 (delta 0).
            vec![0, 2, 2, 0, 5, 5, 4, 0, 3, 3, 0, 0, 0, 3],
        ]
    );
    let json = serde_json::to_string(&fb).unwrap();
    assert!(json.contains(r#""leftTicks":5,"rightTicks":6"#), "{json}");
}

#[test]
fn diff_flamebearer_truncates_on_both_sides_together() {
    // x matters on the left only, y on the right only; z is small on both and goes to other.
    let left = tree_of(&[("a;x", 50), ("a;z", 1)]);
    let right = tree_of(&[("a;y", 50), ("a;z", 2)]);
    let fb = pyro_tree::diff_flamebearer(&left, &right, Some(4));
    assert_eq!(fb.names, ["total", "a", "other", "y", "x"]);
    assert_eq!(
        fb.levels[2],
        vec![
            0, 50, 50, 0, 0, 0, 4, 0, 0, 0, 0, 50, 50, 3, 0, 1, 1, 0, 2, 2, 2
        ]
    );
}

#[test]
fn flamebearer_truncates_into_other() {
    // Totals: root 111, a 100, a;x 60, a;y 30, a;z 10, b 11.
    let t = tree_of(&[("a;x", 60), ("a;y", 30), ("a;z", 10), ("b", 11)]);
    assert_eq!(t.min_value(Some(3)), 60);
    assert_eq!(t.min_value(Some(100)), 0);
    assert_eq!(t.min_value(None), 0);
    let fb = t.flamebearer(Some(3));
    assert_eq!(fb.names, ["total", "other", "a", "x"]);
    assert_eq!(
        fb.levels,
        vec![
            vec![0, 111, 0, 0],
            vec![0, 100, 0, 2, 0, 11, 11, 1],
            vec![0, 60, 60, 3, 0, 40, 40, 1],
        ]
    );
    assert_eq!(fb.max_self, 60);
}

#[test]
fn flamebearer_folds_real_other_frames() {
    let t = tree_of(&[("other;deep", 5), ("x", 1)]);
    let fb = t.flamebearer(None);
    assert_eq!(fb.names, ["total", "other", "x"]);
    assert_eq!(
        fb.levels,
        vec![vec![0, 6, 0, 0], vec![0, 1, 1, 2, 0, 5, 5, 1]]
    );
}

const TRIE: &[u8] = b"\x00\x00\x01\x06foo;ba\x00\x02\x01r\x02\x00\x01z\x03\x00";
const TREE: &[u8] = b"\x00\x00\x01\x03foo\x00\x02\x03bar\x02\x00\x03baz\x03\x00";

#[test]
fn og_transport_vectors() {
    let lim = TransportLimits::default();
    for (name, body) in [("trie", TRIE), ("tree", TREE)] {
        let mut sink = VecSink::default();
        if name == "trie" {
            read_trie(body, &lim, &mut sink).unwrap();
        } else {
            read_tree(body, &lim, &mut sink).unwrap();
        }
        assert_eq!(
            sink.stacks,
            vec![
                (vec!["foo".to_owned(), "bar".to_owned()], 2),
                (vec!["foo".to_owned(), "baz".to_owned()], 3)
            ],
            "{name}"
        );
    }
}

#[test]
fn tree_bytes_round_trip_exactly() {
    let t = tree_of(&[("foo;bar", 2), ("foo;baz", 3)]);
    assert_eq!(t.to_tree_bytes(), TREE);
    let mut back = StackTree::new();
    read_trie(&t.to_trie_bytes(), &TransportLimits::default(), &mut back).unwrap();
    assert_eq!(back.to_folded(), t.to_folded());
}

#[test]
fn transport_names_with_separators_and_bad_utf8() {
    // tree node "a;b" under root, child "c": stacks a;b (1) and a;b;c (2).
    let body = b"\x00\x00\x01\x03a;b\x01\x01\x02\xffc\x02\x00";
    let mut t = StackTree::new();
    read_tree(body, &TransportLimits::default(), &mut t).unwrap();
    assert_eq!(t.to_folded(), "a;b 1\na;b;\u{fffd}c 2\n");
    // trailing `;` in a tree name is ignored like in folded text
    let body = b"\x00\x00\x01\x02a;\x04\x00";
    let mut t = StackTree::new();
    read_tree(body, &TransportLimits::default(), &mut t).unwrap();
    assert_eq!(t.to_folded(), "a 4\n");
}

#[test]
fn root_values_are_kept() {
    let mut t = StackTree::new();
    read_tree(b"\x00\x05\x00", &TransportLimits::default(), &mut t).unwrap();
    assert_eq!(t.root_self(), 5);
    let mut t = StackTree::new();
    read_trie(b"\x00\x05\x00", &TransportLimits::default(), &mut t).unwrap();
    assert_eq!(t.root_self(), 5);
}

#[test]
fn empty_bodies_are_empty_trees() {
    let mut t = StackTree::new();
    read_tree(b"", &TransportLimits::default(), &mut t).unwrap();
    read_trie(b"", &TransportLimits::default(), &mut t).unwrap();
    assert!(t.is_empty());
}

fn tree_err(body: &[u8], lim: TransportLimits) -> (ErrorKind, usize) {
    let e = read_tree(body, &lim, VecSink::default()).unwrap_err();
    (e.kind().clone(), e.offset())
}

fn trie_err(body: &[u8], lim: TransportLimits) -> (ErrorKind, usize) {
    let e = read_trie(body, &lim, VecSink::default()).unwrap_err();
    (e.kind().clone(), e.offset())
}

#[test]
fn transport_error_branches() {
    let d = TransportLimits::default();
    assert_eq!(
        tree_err(&TREE[..TREE.len() - 1], d),
        (
            ErrorKind::UnexpectedEof {
                what: "child count"
            },
            TREE.len() - 1
        )
    );
    assert_eq!(
        tree_err(b"\x00\x00\x01\x05ab", d),
        (ErrorKind::UnexpectedEof { what: "node name" }, 6)
    );
    assert_eq!(
        tree_err(b"\x00\x00", d),
        (
            ErrorKind::UnexpectedEof {
                what: "child count"
            },
            2
        )
    );
    assert_eq!(
        tree_err(b"\x00", d),
        (ErrorKind::UnexpectedEof { what: "node value" }, 1)
    );
    assert_eq!(
        trie_err(b"\x80", d),
        (
            ErrorKind::UnexpectedEof {
                what: "name length"
            },
            1
        )
    );
    assert_eq!(
        tree_err(b"\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f\x00", d),
        (ErrorKind::VarintOverflow, 1)
    );
    assert_eq!(
        tree_err(b"\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\x81\x00", d),
        (ErrorKind::VarintOverflow, 1)
    );
    assert_eq!(
        tree_err(b"\x04abcd\x00\x00", TransportLimits::new().max_name_len(3)),
        (ErrorKind::NameTooLong { len: 4, max: 3 }, 0)
    );
    assert_eq!(
        tree_err(b"\x00\x00\x00junk", d),
        (ErrorKind::TrailingData, 3)
    );
    assert_eq!(
        trie_err(b"\x00\x00\x00\x00", d),
        (ErrorKind::TrailingData, 3)
    );
    // depth: a chain root -> a -> a -> a
    let chain = b"\x00\x00\x01\x01a\x00\x01\x01a\x00\x01\x01a\x01\x00";
    assert_eq!(
        tree_err(chain, TransportLimits::new().max_depth(2)),
        (ErrorKind::TooDeep { max: 2 }, 11)
    );
    assert!(
        read_tree(
            chain,
            &TransportLimits::new().max_depth(3),
            VecSink::default()
        )
        .is_ok()
    );
    assert_eq!(
        trie_err(chain, TransportLimits::new().max_depth(2)),
        (ErrorKind::TooDeep { max: 2 }, 11)
    );
    assert_eq!(
        trie_err(chain, TransportLimits::new().max_key_len(2)),
        (ErrorKind::KeyTooLong { max: 2 }, 11)
    );
    let e = read_tree(b"\x00", &d, VecSink::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "unexpected end of input reading node value (at offset 0x1)"
    );
}

#[test]
fn huge_declared_child_counts_cost_nothing() {
    // root declares 2^63 children, then the input ends.
    let body = b"\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\x7f";
    assert!(matches!(
        tree_err(body, TransportLimits::default()).0,
        ErrorKind::UnexpectedEof { .. }
    ));
}

fn stacks_strategy(empty_frames: bool) -> impl Strategy<Value = Vec<(Vec<String>, u64)>> {
    let frame = if empty_frames {
        "[abc]{0,2}"
    } else {
        "[abc]{1,2}"
    };
    prop::collection::vec((prop::collection::vec(frame, 0..5), 0u64..1000), 0..30)
}

fn build(stacks: &[(Vec<String>, u64)]) -> StackTree<'_> {
    let mut t = StackTree::new();
    for (frames, v) in stacks {
        let f: Vec<&str> = frames.iter().map(String::as_str).collect();
        t.add(&f, *v);
    }
    t
}

/// Folded lines the slow, obvious way: every stack joined, then sorted bytewise.
fn sorted_lines(t: &StackTree<'_>) -> Vec<(String, u64)> {
    let mut lines = Vec::new();
    t.for_each_stack(|frames, v| {
        let mut s = String::new();
        pyro_tree::join_stack(&mut s, frames);
        lines.push((s, v));
    });
    lines.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    lines
}

#[test]
fn folded_lines_sort_prefix_siblings_bytewise() {
    // `run$1` sorts between `run` and `run;x` (`$` < `;`), `run!` too, ` (deleted)` before all.
    let t = tree_of(&[
        ("main;run", 1),
        ("main;run;x", 2),
        ("main;run$1", 3),
        ("main;run!;y", 4),
        ("main;run (deleted)", 5),
        ("main;runner", 6),
        ("main", 7),
        ("main;;", 8),
        (";", 9),
    ]);
    let lines = t.folded_lines();
    assert_eq!(lines, sorted_lines(&t));
    assert_eq!(
        t.to_folded(),
        "; 9\nmain 7\nmain;; 8\nmain;run 1\nmain;run (deleted) 5\nmain;run!;y 4\nmain;run$1 3\nmain;run;x 2\nmain;runner 6\n"
    );
}

proptest! {
    #[test]
    fn folded_walk_equals_sorting_whole_lines(
        stacks in prop::collection::vec(
            (prop::collection::vec("[ab$ !]{0,3}", 0..5), 0u64..1000), 0..40)
    ) {
        let t = build(&stacks);
        let lines = t.folded_lines();
        prop_assert_eq!(&lines, &sorted_lines(&t));
        let text: String = lines.iter().map(|(s, v)| format!("{s} {v}\n")).collect();
        let folded = t.to_folded();
        prop_assert_eq!(folded.capacity(), folded.len());
        let mut written = Vec::new();
        t.write_folded(&mut written).unwrap();
        prop_assert_eq!(written, folded.as_bytes());
        prop_assert_eq!(folded, text);
    }

    #[test]
    fn merge_is_order_independent(a in stacks_strategy(true), b in stacks_strategy(true), c in stacks_strategy(true)) {
        let (ta, tb, tc) = (build(&a), build(&b), build(&c));
        let mut x = ta.clone();
        x.merge(&tb);
        x.merge(&tc);
        let mut y = tc.clone();
        y.merge(&ta);
        y.merge(&tb);
        let mut all = a.clone();
        all.extend(b.iter().cloned());
        all.extend(c.iter().cloned());
        let z = build(&all);
        prop_assert_eq!(x.to_folded(), y.to_folded());
        prop_assert_eq!(x.to_folded(), z.to_folded());
        prop_assert_eq!(x.total(), z.total());
        prop_assert_eq!(x.flamebearer(Some(5)), z.flamebearer(Some(5)));
    }

    #[test]
    fn folded_output_round_trips(s in stacks_strategy(true)) {
        let t = build(&s);
        let lines = t.folded_lines();
        let back = tree_of(&lines.iter().map(|(s, v)| (s.as_str(), *v)).collect::<Vec<_>>());
        prop_assert_eq!(back.to_folded(), t.to_folded());
        let sum: u64 = s.iter().map(|x| x.1).sum();
        prop_assert_eq!(t.total(), sum);
    }

    #[test]
    fn transport_round_trips(s in stacks_strategy(false)) {
        let t = build(&s);
        let lim = TransportLimits::default();
        let mut a = StackTree::new();
        let tree_bytes = t.to_tree_bytes();
        read_tree(&tree_bytes, &lim, &mut a).unwrap();
        let mut b = StackTree::new();
        let trie_bytes = t.to_trie_bytes();
        read_trie(&trie_bytes, &lim, &mut b).unwrap();
        prop_assert_eq!(a.to_folded(), t.to_folded());
        prop_assert_eq!(b.to_folded(), t.to_folded());
        // Children in the order they were made: the same nodes, read back as the same tree as
        // the sorted bytes give.
        let mut c = StackTree::new();
        let unsorted = t.to_tree_bytes_unsorted();
        prop_assert_eq!(unsorted.len(), tree_bytes.len());
        read_tree(&unsorted, &lim, &mut c).unwrap();
        prop_assert_eq!(c.to_tree_bytes(), a.to_tree_bytes());
    }
}

#[test]
fn collapsed_bfs_follows_og_order() {
    let t = tree_of(&[("a;b;c", 1), ("a", 2), ("z", 3), ("a;b", 4), ("a;a", 5)]);
    assert_eq!(t.to_collapsed_bfs(), "a 2\nz 3\na;a 5\na;b 4\na;b;c 1\n");
}

/// Building node by node gives the tree adding stacks gives, wide nodes included (past the
/// child-list scan limit children are indexed, and later lookups must find them).
#[test]
fn node_by_node_equals_stack_by_stack() {
    let names: Vec<String> = (0..20).map(|i| format!("f{i}")).collect();
    let mut by_stack = StackTree::new();
    let mut by_node = TreeBuilder::with_capacity(64, 32);
    let main = by_node.intern("main");
    let top = by_node.new_child(NodeId::ROOT, main).unwrap();
    by_node.add_self(NodeId::ROOT, 1);
    by_stack.add(&[], 1);
    let mut f7 = None;
    for (i, n) in names.iter().enumerate() {
        let f = by_node.intern(n);
        // Half appended as known-new children, half through the find-or-create path.
        let c = if i % 2 == 0 {
            by_node.new_child(top, f).unwrap()
        } else {
            by_node.child(top, f).unwrap()
        };
        if i == 7 {
            f7 = Some(f);
        }
        by_node.add_self(c, i as u64 + 1);
        by_stack.add(&["main", n.as_str()], i as u64 + 1);
    }
    // Found again, not duplicated, once the parent is indexed.
    let again = by_node.child(top, f7.unwrap()).unwrap();
    by_node.add_self(again, 100);
    by_stack.add(&["main", "f7"], 100);
    assert_eq!(by_node.node_count(), 22);
    let by_node = by_node.finish();
    assert_eq!(by_node.to_folded(), by_stack.to_folded());
    assert_eq!(by_node.total(), by_stack.total());

    // The same shape with other values: no lookups, same ids.
    let mut other = TreeBuilder::from_shape(&by_node);
    assert_eq!(other.node_count(), 22);
    other.add_self(again, 5);
    other.add_self(NodeId::ROOT, 2);
    let other = other.finish();
    assert_eq!(other.to_folded(), " 2\nmain;f7 5\n");
    assert_eq!(other.total(), 7);
    assert_eq!(by_node.total(), by_stack.total());
    assert_eq!(by_node.node_values(top), Some((0, 310)));
    // Saturation is flagged by add_self and by finish.
    let mut big = TreeBuilder::new();
    let f = big.intern("a");
    let a = big.child(NodeId::ROOT, f).unwrap();
    big.add_self(a, u64::MAX);
    big.add_self(NodeId::ROOT, 1);
    assert!(!big.overflowed());
    let big = big.finish();
    assert!(big.overflowed());
    assert_eq!(big.total(), u64::MAX);
}

/// A wrong `new_child` promise (the frame is already a child) is repaired by `finish`, in
/// release builds too: one node per stack, values summed, deep children kept.
#[test]
fn builder_merges_duplicate_children() {
    let mut b = TreeBuilder::new();
    let (a, x, y) = (b.intern("a"), b.intern("x"), b.intern("y"));
    let a1 = b.new_child(NodeId::ROOT, a).unwrap();
    let a2 = b.new_child(NodeId::ROOT, a).unwrap();
    let x1 = b.new_child(a1, x).unwrap();
    let x2 = b.new_child(a2, x).unwrap();
    let y2 = b.new_child(x2, y).unwrap();
    b.add_self(x1, 1);
    b.add_self(x2, 2);
    b.add_self(y2, 4);
    b.add_self(a2, 8);
    let t = b.finish();
    assert_eq!(t.node_count(), 4);
    assert_eq!(t.to_folded(), "a 8\na;x 3\na;x;y 4\n");
    assert_eq!(t.total(), 15);
}

/// Node names that hold `;` count as the frames they split into, and all stacks of one body
/// expand to at most `frames_per_byte` × its size + `FRAMES_BASE` frames.
#[test]
fn transport_counts_frames_after_splitting() {
    fn node(out: &mut Vec<u8>, name: &[u8], value: u8, children: u8) {
        out.push(name.len() as u8);
        out.extend_from_slice(name);
        out.extend_from_slice(&[value, children]);
    }
    let limits = TransportLimits::new().max_depth(3);
    let mut body = Vec::new();
    node(&mut body, b"", 0, 1);
    node(&mut body, b"a;b", 0, 1);
    node(&mut body, b"c", 1, 0);
    let mut t = StackTree::new();
    read_tree(&body, &limits, &mut t).unwrap();
    assert_eq!(t.to_folded(), "a;b;c 1\n");
    let mut body = Vec::new();
    node(&mut body, b"", 0, 1);
    node(&mut body, b"a;b;c", 0, 1);
    node(&mut body, b"d", 1, 0);
    let e = read_tree(&body, &limits, &mut StackTree::new()).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::TooDeep { max: 3 });
    // trie: the key "x;y;z;w" is four frames
    let trie = b"\x00\x00\x01\x07x;y;z;w\x01\x00";
    let e = read_trie(trie, &limits, &mut StackTree::new()).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::TooDeep { max: 3 });

    // 3 leaves of a 3-frame path: 12 frames from 19 bytes.
    let mut body = Vec::new();
    node(&mut body, b"", 0, 1);
    node(&mut body, b"a;b", 0, 3);
    for leaf in [b"x", b"y", b"z"] {
        node(&mut body, leaf, 1, 0);
    }
    let small = TransportLimits::new().max_frames_per_byte(0);
    let mut t = StackTree::new();
    read_tree(&body, &small, &mut t).unwrap();
    assert_eq!(t.total(), 3);
    let hostile: Vec<u8> = {
        let mut b = Vec::new();
        node(&mut b, b"", 0, 1);
        let path = "p;".repeat(99);
        b.push(197);
        b.push(1);
        b.extend_from_slice(path.trim_end_matches(';').as_bytes());
        b.extend_from_slice(&[0, 0xa0, 0x9c, 0x01]); // 20,000 children
        for _ in 0..20_000 {
            node(&mut b, b"l", 1, 0);
        }
        b
    };
    // 20,000 stacks of 100 frames = 2M frames > 0 per byte + FRAMES_BASE (1,048,576).
    let e = read_tree(&hostile, &small, &mut StackTree::new()).unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::TooManyFrames {
            max: pyro_tree::FRAMES_BASE
        }
    );
    // The default budget (64 per byte of ~80 KB) takes it.
    let mut t = StackTree::new();
    read_tree(&hostile, &TransportLimits::default(), &mut t).unwrap();
    assert_eq!(t.total(), 20_000);
}

#[test]
fn folded_text_fills_exactly_what_it_reserves() {
    let t = tree_of(&[
        (";", 1),
        ("a;;", 22),
        ("a;bb", 333),
        ("", 0),
        ("a", 10_000_000_000),
    ]);
    let text = t.to_folded();
    assert_eq!(text, "; 1\na 10000000000\na;; 22\na;bb 333\n");
    assert_eq!(text.capacity(), text.len());
}

/// Node ids of `shape` by path (frames joined with `\u{1}`).
fn paths_of(shape: &StackTree<'_>) -> std::collections::HashMap<String, usize> {
    let mut path: Vec<String> = Vec::new();
    let mut out = std::collections::HashMap::new();
    for n in shape.node_ids() {
        let p = match shape.node_parent(n) {
            None => String::new(),
            Some(parent) => {
                let name = shape.frame_name(shape.node_frame(n).unwrap());
                format!("{}\u{1}{name}", path[parent.0 as usize])
            }
        };
        path.push(p.clone());
        out.insert(p, n.0 as usize);
    }
    out
}

/// The column over `shape` that `stacks` give.
fn column(shape: &StackTree<'_>, stacks: &[(Vec<String>, u64)]) -> Vec<u64> {
    let paths = paths_of(shape);
    let mut col = vec![0u64; shape.node_count()];
    for (frames, v) in stacks {
        let p: String = frames.iter().map(|f| format!("\u{1}{f}")).collect();
        col[paths[&p]] += v;
    }
    col
}

proptest! {
    /// A tree over a shared shape answers every output as the same tree built on its own, and
    /// stays right when it is changed, merged, diffed, scaled or made owned.
    #[test]
    fn column_trees_equal_their_own_trees(
        sets in prop::collection::vec(stacks_strategy(true), 1..4),
        extra in stacks_strategy(true),
    ) {
        let mut shape = StackTree::new();
        for set in &sets {
            for (frames, _) in set {
                let f: Vec<&str> = frames.iter().map(String::as_str).collect();
                shape.add(&f, 0);
            }
        }
        let shape = std::sync::Arc::new(shape);
        let mut cols = Vec::new();
        for set in &sets {
            let own = own_live(&build(set));
            let col = StackTree::from_column(&shape, column(&shape, set), false);
            prop_assert_eq!(col.to_folded(), own.to_folded());
            prop_assert_eq!(col.folded_lines(), sorted_lines(&own));
            prop_assert_eq!(col.total(), own.total());
            prop_assert_eq!(col.root_self(), own.root_self());
            prop_assert_eq!(col.is_empty(), own.is_empty());
            prop_assert_eq!(col.flamebearer(Some(5)), own.flamebearer(Some(5)));
            prop_assert_eq!(col.flamebearer(None), own.flamebearer(None));
            prop_assert_eq!(col.to_tree_bytes(), own.to_tree_bytes());
            prop_assert_eq!(col.to_trie_bytes(), own.to_trie_bytes());
            prop_assert_eq!(col.to_collapsed_bfs(), own.to_collapsed_bfs());
            prop_assert_eq!(col.node_count(), own.node_count());
            prop_assert_eq!(col.node_ids().count(), col.node_count());
            let prev = own_live(&build(&extra));
            prop_assert_eq!(col.diff(&prev).to_folded(), own.diff(&prev).to_folded());
            prop_assert_eq!(prev.diff(&col).to_folded(), prev.diff(&own).to_folded());
            let mut merged = prev.clone();
            merged.merge(&col);
            let mut merged_own = prev.clone();
            merged_own.merge(&own);
            prop_assert_eq!(merged.to_folded(), merged_own.to_folded());
            let mut m = col.clone();
            m.multiply(3);
            prop_assert_eq!(m.to_folded(), { let mut o = own.clone(); o.multiply(3); o.to_folded() });
            prop_assert_eq!(col.clone().divide(7).to_folded(), own.clone().divide(7).to_folded());
            let mut changed = col.clone();
            changed.add(&["a", "b"], 5);
            let mut changed_own = own.clone();
            changed_own.add(&["a", "b"], 5);
            prop_assert_eq!(changed.to_folded(), changed_own.to_folded());
            prop_assert!(!changed.shares_shape());
            cols.push((col, own));
        }
        let (trees, owns): (Vec<_>, Vec<_>) = cols.into_iter().unzip();
        let owned = StackTree::into_owned_all(trees);
        for (o, own) in owned.iter().zip(&owns) {
            prop_assert_eq!(o.to_folded(), own.to_folded());
            prop_assert_eq!(o.node_count(), own.node_count());
        }
    }
}

/// `tree` without its zero-total nodes (stacks added with value 0), as a column holds it.
fn own_live<'a>(tree: &StackTree<'a>) -> StackTree<'static> {
    let mut live = StackTree::new();
    tree.for_each_stack(|frames, v| live.add_transient(frames, v));
    live
}
