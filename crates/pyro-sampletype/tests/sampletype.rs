//! The default table and the JSON config parser.

use pyro_sampletype::{MAX_CONFIG_BYTES, MAX_ENTRIES, SampleTypeConfig, SampleTypes};

#[test]
fn default_table_rows() {
    let t = SampleTypes::default();
    let row = |n: &str| {
        let c = t.get(n).unwrap_or_else(|| panic!("{n} missing"));
        (
            c.suffix(n).to_owned(),
            c.units.clone(),
            c.aggregation_or_sum().to_owned(),
            c.cumulative,
            c.sampled,
        )
    };
    let r = |s: &str, u: &str, a: &str, c: bool, sm: bool| {
        (s.to_owned(), u.to_owned(), a.to_owned(), c, sm)
    };
    assert_eq!(row("samples"), r("cpu", "samples", "sum", false, true));
    assert_eq!(row("cpu"), r("cpu", "", "sum", false, false));
    assert_eq!(row("wall"), r("wall", "", "sum", false, false));
    assert_eq!(
        row("inuse_objects"),
        r("inuse_objects", "objects", "average", false, false)
    );
    assert_eq!(
        row("inuse_space"),
        r("inuse_space", "bytes", "average", false, false)
    );
    assert_eq!(
        row("alloc_objects"),
        r("alloc_objects", "objects", "sum", true, false)
    );
    assert_eq!(
        row("alloc_space"),
        r("alloc_space", "bytes", "sum", true, false)
    );
    assert_eq!(
        row("goroutine"),
        r("goroutines", "goroutines", "average", false, false)
    );
    assert_eq!(
        row("goroutines"),
        r("goroutines", "goroutines", "average", false, false)
    );
    assert_eq!(
        row("contentions"),
        r("mutex_count", "lock_samples", "sum", true, false)
    );
    assert_eq!(
        row("delay"),
        r("mutex_duration", "lock_nanoseconds", "sum", true, false)
    );
    assert_eq!(t.iter().count(), 11);
    assert!(t.get("exceptions").is_none());
}

#[test]
fn custom_config_replaces_the_table() {
    let t = SampleTypes::from_json(
        br#"{"contentions":{"units":"lock_samples","display-name":"block_count"},
            "delay":{"units":"lock_nanoseconds","display-name":"block_duration","cumulative":true}}"#,
    )
    .unwrap();
    assert!(t.get("samples").is_none());
    assert_eq!(
        t.get("contentions").unwrap().suffix("contentions"),
        "block_count"
    );
    assert!(!t.get("contentions").unwrap().cumulative);
    assert!(t.get("delay").unwrap().cumulative);
    let back = SampleTypes::from_json(t.to_json().as_bytes()).unwrap();
    assert_eq!(back, t);
    assert_eq!(
        SampleTypes::from_json(SampleTypes::default().to_json().as_bytes()).unwrap(),
        SampleTypes::default()
    );
    assert_eq!(SampleTypes::from_json(b"{}").unwrap().iter().count(), 0);
    assert_eq!(
        SampleTypes::from_json(b"{\"x\":{}}").unwrap().get("x"),
        Some(&SampleTypeConfig::default())
    );
}

#[test]
fn errors_carry_line_and_column() {
    let e =
        SampleTypes::from_json(b"{\n  \"cpu\": {\n    \"unit\": \"samples\"\n  }\n}").unwrap_err();
    assert_eq!((e.line(), e.column()), (3, 10));
    assert!(
        e.to_string()
            .starts_with("invalid sample_type_config: unknown field `unit`"),
        "{e}"
    );
    let e = SampleTypes::from_json(b"{\"cpu\": {\"sampled\": \"yes\"}}").unwrap_err();
    assert_eq!((e.line(), e.column()), (1, 25));
    let e = SampleTypes::from_json(b"[1]").unwrap_err();
    assert_eq!(e.line(), 1);
    let e = SampleTypes::from_json(b"{\"a\": ").unwrap_err();
    assert!(e.to_string().contains("EOF"), "{e}");
    let big = vec![b' '; MAX_CONFIG_BYTES + 1];
    let e = SampleTypes::from_json(&big).unwrap_err();
    assert_eq!((e.line(), e.column()), (0, 0));
    let many: Vec<String> = (0..=MAX_ENTRIES)
        .map(|i| format!("\"t{i}\":{{}}"))
        .collect();
    let e = SampleTypes::from_json(format!("{{{}}}", many.join(",")).as_bytes()).unwrap_err();
    assert!(e.to_string().contains("257 entries"), "{e}");
}
