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

fn push(samples: usize) -> PushRequest {
    PushRequest {
        series: vec![RawProfileSeries {
            labels: vec![LabelPair {
                name: "service_name".into(),
                value: "svc".into(),
            }],
            samples: (0..samples)
                .map(|i| RawSample {
                    raw_profile: PPROF.to_vec().into(),
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
    // 9 nodes in all: a budget of 9 takes them, 8 stops at the third sample.
    let ok = Limits::new().max_tree_nodes(9);
    assert!(pyro_ingest::push::to_series(&push(3), &[], &ok, 0).is_ok());
    let tight = Limits::new().max_tree_nodes(8);
    let e = pyro_ingest::push::to_series(&push(3), &[], &tight, 0).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::LimitExceeded);
    // The third profile is read with 2 nodes left: pprof's own limit stops it.
    assert!(e.to_string().contains("limit"), "{e}");
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
