//! One request's budget is shared by all its parts: push samples spend tree nodes and series as
//! they are read, and the request fails as soon as the budget is passed.

use pyro_ingest::push::{LabelPair, PushRequest, RawProfileSeries, RawSample};
use pyro_ingest::{ErrorKind, Limits};

/// One sample type (samples/count), one sample main -> work = 3: a tree of 3 nodes.
const PPROF: &[u8] = &[
    0x0a, 0x04, 0x08, 0x01, 0x10, 0x02, 0x12, 0x06, 0x0a, 0x02, 0x02, 0x01, 0x10, 0x03, 0x22, 0x06,
    0x08, 0x01, 0x22, 0x02, 0x08, 0x01, 0x22, 0x06, 0x08, 0x02, 0x22, 0x02, 0x08, 0x02, 0x2a, 0x04,
    0x08, 0x01, 0x10, 0x03, 0x2a, 0x04, 0x08, 0x02, 0x10, 0x04, 0x32, 0x00, 0x32, 0x07, b's', b'a',
    b'm', b'p', b'l', b'e', b's', 0x32, 0x05, b'c', b'o', b'u', b'n', b't', 0x32, 0x04, b'm', b'a',
    b'i', b'n', 0x32, 0x04, b'w', b'o', b'r', b'k',
];

/// One sample type, one sample of `depth` frames all `main` (one location id byte each), value
/// 3: a tree of `depth + 1` nodes from `depth + 50` bytes.
fn deep_pprof(depth: u8) -> Vec<u8> {
    assert!(depth < 124);
    let mut p = vec![0x0a, 0x04, 0x08, 0x01, 0x10, 0x02];
    p.extend([0x12, depth + 4, 0x0a, depth]);
    p.extend(std::iter::repeat_n(0x01, depth as usize));
    p.extend([0x10, 0x03]);
    p.extend([0x22, 0x06, 0x08, 0x01, 0x22, 0x02, 0x08, 0x01]);
    p.extend([0x2a, 0x04, 0x08, 0x01, 0x10, 0x03]);
    for s in ["", "samples", "count", "main"] {
        p.extend([0x32, s.len() as u8]);
        p.extend(s.as_bytes());
    }
    p
}

fn push(samples: usize) -> PushRequest {
    push_of(PPROF, samples)
}

fn push_of(profile: &[u8], samples: usize) -> PushRequest {
    PushRequest {
        series: vec![RawProfileSeries {
            labels: vec![LabelPair {
                name: "service_name".into(),
                value: "svc".into(),
            }],
            samples: (0..samples)
                .map(|i| RawSample {
                    raw_profile: profile.to_vec().into(),
                    id: i.to_string(),
                })
                .collect(),
        }],
    }
}

#[test]
fn push_samples_share_the_node_budget() {
    let (series, _) = pyro_ingest::push::to_series(&push(3), &[], &Limits::default(), 0).unwrap();
    assert_eq!(series.len(), 3);
    assert!(series.iter().all(|s| s.tree.node_count() == 3));
    // Three trees of 101 nodes, 303 in all, from 3 × 150 bytes (scaled, the limit would be 225):
    // a budget of 303 takes them, 302 stops at the third sample.
    let deep = push_of(&deep_pprof(100), 3);
    let (series, _) = pyro_ingest::push::to_series(&deep, &[], &Limits::default(), 0).unwrap();
    assert!(series.iter().all(|s| s.tree.node_count() == 101));
    let ok = Limits::new().max_tree_nodes(303);
    assert!(pyro_ingest::push::to_series(&deep, &[], &ok, 0).is_ok());
    let tight = Limits::new().max_tree_nodes(302);
    let e = pyro_ingest::push::to_series(&deep, &[], &tight, 0).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::LimitExceeded);
    // The third profile is read with 100 nodes left: pprof's own limit stops it.
    assert!(e.to_string().contains("limit"), "{e}");
}

/// Past `max_tree_nodes`, a request may build one node per `INPUT_BYTES_PER_NODE` bytes of its
/// profiles: three 3-node trees from 72-byte profiles pass a limit of 1 node; the deep profiles
/// (303 nodes from 450 bytes) do not.
#[test]
fn the_node_limit_scales_with_the_input() {
    assert_eq!(pyro_ingest::INPUT_BYTES_PER_NODE, 2);
    let one = Limits::new().max_tree_nodes(1);
    let (series, _) = pyro_ingest::push::to_series(&push(3), &[], &one, 0).unwrap();
    assert_eq!(series.len(), 3);
    let deep = push_of(&deep_pprof(100), 3);
    assert_eq!(deep.series[0].samples[0].raw_profile.len(), 150);
    let e = pyro_ingest::push::to_series(&deep, &[], &one, 0).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::LimitExceeded);
}

#[test]
fn push_series_are_counted_as_they_come() {
    let e =
        pyro_ingest::push::to_series(&push(3), &[], &Limits::new().max_series(2), 0).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::LimitExceeded);
    assert_eq!(e.to_string(), "3 series exceed the limit of 2 per request");
}

/// A cancelled request stops with `Cancelled`; an uncancelled flag changes nothing (JFR is then
/// read chunk by chunk, with the same series as in one go).
#[test]
fn cancellation() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let flag: pyro_ingest::Cancel = Arc::new(AtomicBool::new(false));
    let jfr = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/jfr/jdk17-workload.jfr"),
    )
    .unwrap();
    let plain = pyro_ingest::Request {
        format: Some("jfr".into()),
        ..pyro_ingest::Request::new("j", jfr)
    };
    let flagged = pyro_ingest::Request {
        cancel: Some(flag.clone()),
        ..plain.clone()
    };
    let folded = |r: &pyro_ingest::Request| -> Vec<String> {
        let mut v: Vec<String> = pyro_ingest::decode(r, &Limits::default())
            .unwrap()
            .iter()
            .map(|s| format!("{}\n{}", s.name, s.tree.to_folded()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(folded(&plain), folded(&flagged));
    flag.store(true, Ordering::Relaxed);
    let e = pyro_ingest::decode(&flagged, &Limits::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    let e = pyro_ingest::push::to_series_cancellable(
        &push(3),
        &[],
        None,
        &Limits::default(),
        0,
        Some(&flag),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Cancelled);
}
