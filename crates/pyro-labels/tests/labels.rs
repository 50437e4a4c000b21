//! Table tests for names, queries, baggage and k6 labels, plus round-trip properties.

use proptest::prelude::*;
use pyro_labels::{
    Baggage, ErrorKind, Limits, MatchOp, Precedence, Problem, Query, SeriesName, k6_labels,
    split_service_name,
};

fn norm(s: &str) -> String {
    SeriesName::parse(s)
        .map(|n| n.to_string())
        .unwrap_or_else(|e| format!("error: {e}"))
}

#[test]
fn og_key_grammar() {
    let cases = [
        // plain and normalized
        ("app", "app{}"),
        ("app.cpu{}", "app.cpu{}"),
        ("test.app{foo=bar,baz=qux}", "test.app{baz=qux,foo=bar}"),
        ("  app  { a = 1 , b=2 }", "app{a=1,b=2}"),
        // values are not validated and keep quotes, '=', '{', unicode
        ("app{a=\"b\"}", "app{a=\"b\"}"),
        ("app{a=x=y{z}", "app{a=x=y{z}"),
        ("app{a=ü ñ}", "app{a=ü ñ}"),
        // a key without '=' is dropped; an empty value is kept
        ("app{foo}", "app{}"),
        // ...but ',' belongs to the key in key state, so this key is invalid
        (
            "app{foo,a=1}",
            "error: invalid tag key: foo,a: character is not allowed: ','",
        ),
        ("app{a=}", "app{a=}"),
        // last duplicate wins
        ("app{a=1,a=2}", "app{a=2}"),
        // text after '}' is ignored in key state, but OG goes back to key state after a value
        ("app{a=1}garbage", "app{a=1}"),
        ("app{a=1}b=2}", "app{a=1,b=2}"),
        // a value cut by the end of input is dropped
        ("app{a=1,b=2", "app{a=1}"),
        // GP character rules: dots in keys, '/' and '-' in app names
        ("node.app{otel.scope.name=x}", "node.app{otel.scope.name=x}"),
        ("ns/my-app.cpu", "ns/my-app.cpu{}"),
        // __name__ overrides the app name (validated here)
        ("app{__name__=other.app,a=1}", "other.app{a=1}"),
    ];
    for (input, want) in cases {
        assert_eq!(norm(input), want, "input {input:?}");
    }
}

#[test]
fn og_error_messages() {
    let cases = [
        ("", "application name is required"),
        ("   ", "application name is required"),
        ("{a=b}", "application name is required"),
        (
            "my app",
            "invalid application name: my app: character is not allowed: ' '",
        ),
        (
            "app\t1",
            "invalid application name: app\t1: character is not allowed: '\\t'",
        ),
        (
            "app{foo-bar=1}",
            "invalid tag key: foo-bar: character is not allowed: '-'",
        ),
        ("app{=1}", "tag key is required"),
        (
            "app{a b=1}",
            "invalid tag key: a b: character is not allowed: ' '",
        ),
        (
            "app{__name__=bad name}",
            "invalid application name: bad name: character is not allowed: ' '",
        ),
        (
            "app\u{1}",
            "invalid application name: app\u{1}: character is not allowed: '\\x01'",
        ),
        (
            "é",
            "invalid application name: é: character is not allowed: 'é'",
        ),
    ];
    for (input, want) in cases {
        let e = SeriesName::parse(input).unwrap_err();
        assert_eq!(e.to_string(), want, "input {input:?}");
    }
    let e = SeriesName::parse("app{ok=1, foo-bar=1}").unwrap_err();
    assert_eq!(e.offset(), Some(13));
    let e = SeriesName::parse("  my app").unwrap_err();
    assert_eq!(e.offset(), Some(4));
}

#[test]
fn limits() {
    let long_key = "k".repeat(1025);
    let e = SeriesName::parse(&format!("app{{{long_key}=1}}")).unwrap_err();
    assert!(matches!(
        e.kind(),
        ErrorKind::LabelNameTooLong { max: 1024, .. }
    ));
    assert!(SeriesName::parse(&format!("app{{{}=1}}", "k".repeat(1024))).is_ok());

    let e = SeriesName::parse(&format!("app{{a={}}}", "v".repeat(2049))).unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::LabelValueTooLong {
            name: "a".into(),
            max: 2048
        }
    );
    assert_eq!(
        e.to_string(),
        "label value too long: a: exceeds the limit of 2048 bytes"
    );

    let thirty: Vec<String> = (0..30).map(|i| format!("k{i}=v")).collect();
    assert!(SeriesName::parse(&format!("app{{{}}}", thirty.join(","))).is_ok());
    let e = SeriesName::parse(&format!("app{{{},x=1}}", thirty.join(","))).unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::TooManyLabels { count: 31, max: 30 });

    let tight = Limits::new().max_labels(1).max_name_len(2).max_value_len(3);
    assert!(SeriesName::parse_with("app{ab=xyz}", &tight).is_ok());
    assert!(SeriesName::parse_with("app{abc=x}", &tight).is_err());
    assert!(SeriesName::parse_with("app{a=wxyz}", &tight).is_err());
    assert!(SeriesName::parse_with("app{a=1,b=2}", &tight).is_err());
    assert!(SeriesName::parse_with("long", &tight).is_err());
}

#[test]
fn suffix_and_precedence() {
    let base = SeriesName::parse("my-app{}").unwrap();
    assert_eq!(base.with_suffix("cpu").to_string(), "my-app.cpu{}");

    // pprof: request labels win over sample labels
    let mut s = SeriesName::parse("app{env=req}").unwrap();
    s.merge(
        [("env", "sample"), ("thread", "t1")],
        Precedence::KeepExisting,
    )
    .unwrap();
    assert_eq!(s.to_string(), "app{env=req,thread=t1}");

    // JFR: context labels win over request labels
    let mut s = SeriesName::parse("app{env=req}").unwrap();
    s.merge([("env", "ctx")], Precedence::Overwrite).unwrap();
    assert_eq!(s.to_string(), "app{env=ctx}");

    let mut s = SeriesName::parse("app").unwrap();
    let e = s.insert("bad-key", "v", Precedence::Overwrite).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid tag key: bad-key: character is not allowed: '-'"
    );
    s.insert("__name__", "other", Precedence::Overwrite)
        .unwrap();
    assert_eq!(s.app(), "other");
    assert_eq!(s.get("__name__"), Some("other"));
    assert_eq!(s.remove("nope"), None);
}

#[test]
fn service_name_with_braces() {
    let n = split_service_name("py.app{env=test,region=eu}").unwrap();
    assert_eq!(n.app(), "py.app");
    assert_eq!(n.get("env"), Some("test"));
    assert_eq!(split_service_name("plain").unwrap().to_string(), "plain{}");
}

#[test]
fn query_grammar() {
    let q = Query::parse(r#"  app.cpu{b!~"x.*", a="1", c=~"^y", d!="2"}  "#).unwrap();
    assert_eq!(q.app(), "app.cpu");
    assert_eq!(
        q.to_string(),
        r#"app.cpu{b!~"x.*", a="1", c=~"^y", d!="2"}"#
    );
    let ops: Vec<(&str, MatchOp)> = q.matchers().iter().map(|m| (m.key(), m.op())).collect();
    assert_eq!(
        ops,
        [
            ("d", MatchOp::NotEqual),
            ("b", MatchOp::NotEqualRegex),
            ("a", MatchOp::Equal),
            ("c", MatchOp::EqualRegex)
        ]
    );
    assert_eq!(Query::parse("app").unwrap().matchers().len(), 0);
    assert_eq!(Query::parse("app{}").unwrap().matchers().len(), 0);
    // commas inside quotes do not split
    let q = Query::parse(r#"app{a="x,y"}"#).unwrap();
    assert_eq!(q.matchers()[0].value(), "x,y");
    // dotted keys
    assert!(Query::parse(r#"app{otel.scope.name="x"}"#).is_ok());
}

#[test]
fn query_errors() {
    let cases = [
        ("", "application name is required"),
        (r#"{a="b"}"#, "application name is required"),
        (
            r#"app{a="b""#,
            "invalid query syntax: expected } at the end",
        ),
        ("my app{}", "invalid application name: my "),
        ("app{,}", "invalid tag matchers syntax: ,"),
        (
            r#"app{a-b="1"}"#,
            "invalid tag key: a-b=\"1\": character is not allowed: '-'",
        ),
        (r#"app{__name__="x"}"#, "tag key is reserved: __name__"),
        (r#"app{a="1}"#, "invalid tag value syntax: a=\"1"),
        (r#"app{a="1"x}"#, "invalid tag value syntax: \"1\"x"),
        (r#"app{a=""}"#, "invalid tag value syntax: a=\"\""),
        (r#"app{a=1}"#, "invalid tag value syntax: a=1"),
        (r#"app{a=~""}"#, "invalid tag value syntax: a=~\"\""),
        (
            r#"app{a>"1"}"#,
            "invalid tag key: a>\"1\": character is not allowed: '>'",
        ),
        (r#"app{a=x"1"}"#, "unknown tag match operator: a=x\"1\""),
        (r#"app{a!x"1"}"#, "unknown tag match operator: a!x\"1\""),
        ("app{abc}", "match operator is required: abc"),
        (
            r#"app{a=~"("}"#,
            "error parsing regexp: error: unclosed group: (",
        ),
    ];
    for (input, want) in cases {
        let e = Query::parse(input).unwrap_err();
        assert_eq!(e.to_string(), want, "query {input:?}");
    }
    let e = Query::parse(r#"app{a="1", b-c="2"}"#).unwrap_err();
    assert_eq!(e.offset(), Some(12));
}

#[test]
fn query_matching() {
    let s = SeriesName::parse("app.cpu{env=prod,host=h1}").unwrap();
    let yes = [
        "app.cpu",
        r#"app.cpu{env="prod"}"#,
        r#"app.cpu{env=~"pro"}"#,
        r#"app.cpu{missing!="x"}"#,
        r#"app.cpu{missing!~"x"}"#,
        r#"app.cpu{host!="h2",env=~"^p.*d$"}"#,
    ];
    for q in yes {
        assert!(Query::parse(q).unwrap().matches(&s), "{q}");
    }
    let no = [
        "app.wall",
        r#"app.cpu{env="dev"}"#,
        r#"app.cpu{missing="x"}"#,
        r#"app.cpu{missing=~".*"}"#,
        r#"app.cpu{env!="prod"}"#,
        r#"app.cpu{env!~"^p"}"#,
    ];
    for q in no {
        assert!(!Query::parse(q).unwrap().matches(&s), "{q}");
    }
}

#[test]
fn baggage_members_and_problems() {
    let b = Baggage::parse([
        "a=1, b = two ;p1;p2 = v%2C2 , c=%E2%82%AC, d=%FF, e=, f=x=y, k=v;",
        "g=%zz,h=sp ace,=v,novalue, ,i=q\"uote,j=1;bad prop",
    ]);
    let got: Vec<(&str, &str)> = b
        .members
        .iter()
        .map(|m| (m.key.as_str(), m.value.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("a", "1"),
            ("b", "two"),
            ("c", "€"),
            ("d", "\u{fffd}"),
            ("e", ""),
            ("f", "x=y"),
            ("k", "v")
        ]
    );
    assert_eq!(b.members[1].properties.len(), 2);
    assert_eq!(b.members[1].properties[1].value.as_deref(), Some("v,2"));
    let problems: Vec<(Problem, &str)> = b
        .skipped
        .iter()
        .map(|s| (s.problem, s.raw.as_str()))
        .collect();
    assert_eq!(
        problems,
        [
            (Problem::InvalidPercentEncoding, "g=%zz"),
            (Problem::InvalidValue, "h=sp ace"),
            (Problem::InvalidKey, "=v"),
            (Problem::MissingEquals, "novalue"),
            (Problem::EmptyMember, ""),
            (Problem::InvalidValue, "i=q\"uote"),
            (Problem::InvalidProperty, "j=1;bad prop"),
        ]
    );
    // offsets are in the combined header
    assert_eq!(b.skipped[0].offset, 66);
    assert_eq!(b.get("a"), Some("1"));
    let dup = Baggage::parse(["x=1,x=2"]);
    assert_eq!(dup.get("x"), Some("2"));
}

#[test]
fn baggage_limits() {
    let members: Vec<String> = (0..65).map(|i| format!("k{i}=v")).collect();
    let b = Baggage::parse([members.join(",").as_str()]);
    assert_eq!(b.members.len(), 64);
    assert_eq!(b.skipped.len(), 1);
    assert_eq!(b.skipped[0].problem, Problem::TooManyMembers);
    assert_eq!(b.skipped[0].raw, "k64=v");

    // 8192 bytes exactly is fine, the member crossing it is dropped whole
    let big = format!("a={}", "x".repeat(8190));
    assert_eq!(big.len(), 8192);
    let b = Baggage::parse([big.as_str()]);
    assert_eq!(b.members.len(), 1);
    let b = Baggage::parse([big.as_str(), "b=1"]);
    assert_eq!(b.members.len(), 1);
    assert_eq!(b.skipped[0].problem, Problem::TooLarge);
}

#[test]
fn k6_labels_as_the_go_sdk_maps_them() {
    // jslib 1.0.0/1.0.1: one string joined with ", "
    let l = k6_labels(["k6.test_run_id=123, k6.scenario=default, k6.name=http://test.k6.io/?a=b"]);
    assert_eq!(
        l.into_iter().collect::<Vec<_>>(),
        [
            ("k6_name".to_owned(), "http://test.k6.io/?a=b".to_owned()),
            ("k6_scenario".to_owned(), "default".to_owned()),
            ("k6_test_run_id".to_owned(), "123".to_owned()),
        ]
    );
    // jslib 1.0.2: user baggage first, comma without space; unencoded tag name with spaces and %
    let l =
        k6_labels(["foo=bar,k6.test_run_id=undefined,k6.scenario=s1,k6.name=GET /api/{id} 100%"]);
    assert_eq!(
        l.get("k6_test_run_id").map(String::as_str),
        Some("undefined")
    );
    assert_eq!(
        l.get("k6_name").map(String::as_str),
        Some("GET /api/{id} 100%")
    );
    assert!(!l.contains_key("foo"));
    // percent sequences are decoded once; non-ASCII kept
    let l = k6_labels(["k6.name=%2Fcaf%C3%A9 ünï"]);
    assert_eq!(l.get("k6_name").map(String::as_str), Some("/café ünï"));
    // several headers; last duplicate wins; empty values skipped; K6. is not k6.
    let l = k6_labels([
        "k6.scenario=a,k6.name=",
        "k6.scenario=b,K6.name=x,k6.sub.key=v",
    ]);
    assert_eq!(l.get("k6_scenario").map(String::as_str), Some("b"));
    assert!(!l.contains_key("k6_name"));
    assert_eq!(l.get("k6_sub_key").map(String::as_str), Some("v"));
    // a key that maps to an invalid label name is skipped
    let l = k6_labels(["k6.bad-key=v"]);
    assert!(l.is_empty());
    // properties are ignored
    let l = k6_labels(["k6.scenario=a;prop=1"]);
    assert_eq!(l.get("k6_scenario").map(String::as_str), Some("a"));
}

proptest! {
    #[test]
    fn normalize_is_idempotent(s in r"[a-z./ -]{0,6}(\{([a-z. ]{0,4}(=[a-z ={]{0,4})?,?){0,4}\}?)?") {
        if let Ok(n) = SeriesName::parse(&s) {
            let text = n.to_string();
            let again = SeriesName::parse(&text).unwrap();
            prop_assert_eq!(&again, &n);
            prop_assert_eq!(again.to_string(), text);
        }
    }

    #[test]
    fn display_parse_round_trip(
        app in "[a-zA-Z0-9_./-]{1,8}",
        labels in prop::collection::btree_map("[a-z_.][a-z0-9_.]{0,5}", "[a-z0-9 =:/]{0,6}", 0..6)
    ) {
        let mut n = SeriesName::new(&app).unwrap();
        for (k, v) in &labels {
            if k != "__name__" {
                n.insert(k, v.trim(), Precedence::Overwrite).unwrap();
            }
        }
        prop_assert_eq!(SeriesName::parse(&n.to_string()).unwrap(), n);
    }

    #[test]
    fn parsers_never_panic(s in "\\PC{0,40}") {
        let _ = SeriesName::parse(&s);
        let _ = Query::parse(&s);
        let _ = Baggage::parse([s.as_str()]);
        let _ = k6_labels([s.as_str()]);
    }
}

#[test]
fn storage_keys_are_unambiguous() {
    let plain = SeriesName::parse("app{a=1,b=2}").unwrap();
    assert_eq!(plain.key(), plain.to_string());
    let mut tricky = SeriesName::new("app").unwrap();
    tricky.insert("a", "1,b=2", Precedence::Overwrite).unwrap();
    assert_eq!(tricky.to_string(), "app{a=1,b=2}");
    assert_eq!(tricky.key(), "app{a=1\\,b\\=2}");
    assert_ne!(tricky.key(), plain.key());
    let mut braces = SeriesName::new("app").unwrap();
    braces
        .insert("k6_name", "GET /api/{id}\\x", Precedence::Overwrite)
        .unwrap();
    assert_eq!(braces.key(), "app{k6_name=GET /api/{id\\}\\\\x}");
    let back = SeriesName::from_parts("app", [("k6_name", "GET /api/{id}\\x")]).unwrap();
    assert_eq!(back, braces);
    assert!(SeriesName::from_parts("bad app", []).is_err());
    assert!(SeriesName::from_parts("app", [("bad-key", "v")]).is_err());
}

/// Regex nesting is bounded, so parsing a pattern cannot exhaust a thread's stack.
#[test]
fn regex_nesting_limit() {
    use pyro_labels::MAX_REGEX_NESTING;
    let stacked = |n: usize| format!("app{{k=~\" {}\"}}", "+".repeat(n));
    assert!(Query::parse(&stacked(MAX_REGEX_NESTING as usize - 1)).is_ok());
    let e = Query::parse(&stacked(180)).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidRegex { .. }), "{e}");
    let groups = |n: usize| format!("app{{k=~\"{}a{}\"}}", "(".repeat(n), ")".repeat(n));
    assert!(Query::parse(&groups(20)).is_ok());
    assert!(Query::parse(&groups(MAX_REGEX_NESTING as usize + 1)).is_err());
}

/// A query is bounded: matchers, regex matchers and regex bytes.
#[test]
fn query_limits() {
    use pyro_labels::{MAX_MATCHERS, MAX_REGEX_MATCHERS, MAX_REGEX_PATTERN_BYTES};
    let eq = |n: usize| {
        let m: Vec<String> = (0..n).map(|i| format!("k{i}=\"v\"")).collect();
        format!("app{{{}}}", m.join(","))
    };
    assert_eq!(
        Query::parse(&eq(MAX_MATCHERS)).unwrap().matchers().len(),
        64
    );
    let e = Query::parse(&eq(MAX_MATCHERS + 1)).unwrap_err();
    assert_eq!(
        e.kind(),
        &ErrorKind::QueryTooLarge {
            what: "matchers",
            max: 64
        }
    );
    assert_eq!(e.to_string(), "query too large: more than 64 matchers");
    let re = |n: usize| {
        let m: Vec<String> = (0..n).map(|i| format!("k{i}=~\"a.*\"")).collect();
        format!("app{{{}}}", m.join(","))
    };
    assert!(Query::parse(&re(MAX_REGEX_MATCHERS)).is_ok());
    assert!(matches!(
        Query::parse(&re(MAX_REGEX_MATCHERS + 1))
            .unwrap_err()
            .kind(),
        ErrorKind::QueryTooLarge {
            what: "regex matchers",
            ..
        }
    ));
    let long = format!("app{{k=~\"{}\"}}", "a".repeat(MAX_REGEX_PATTERN_BYTES + 1));
    assert!(matches!(
        Query::parse(&long).unwrap_err().kind(),
        ErrorKind::QueryTooLarge {
            what: "bytes of regex patterns",
            ..
        }
    ));
    let two = format!(
        "app{{a=~\"{0}\",b!~\"{0}\"}}",
        "x".repeat(MAX_REGEX_PATTERN_BYTES / 2 + 1)
    );
    assert!(Query::parse(&two).is_err());
}

/// Two brace groups (pyroscope-io 0.8 with an application name that carries braces): the app is
/// the text before the first `{` plus the suffix between the groups, the labels both groups,
/// the later value of a key named twice winning.
#[test]
fn two_brace_groups_merge() {
    let n = |s: &str| SeriesName::parse(s).map(|n| n.to_string());
    assert_eq!(
        n("svc{env=test}.cpu{region=eu,team=a}").unwrap(),
        "svc.cpu{env=test,region=eu,team=a}"
    );
    assert_eq!(n("svc{env=test}.cpu{}").unwrap(), "svc.cpu{env=test}");
    assert_eq!(
        n("svc{env=test}{region=eu}").unwrap(),
        "svc{env=test,region=eu}"
    );
    // Without a second group OG's grammar applies (text after the first group is dropped).
    assert_eq!(n("svc{env=test}.cpu").unwrap(), "svc{env=test}");
    assert_eq!(n("svc{}.cpu{a=1}").unwrap(), "svc.cpu{a=1}");
    assert_eq!(n("svc{a=1,b=2}.cpu{a=3}").unwrap(), "svc.cpu{a=3,b=2}");
    // Other shapes are not rewritten.
    assert!(n("svc{a=1}.cpu{b=2}{c=3}").is_err());
    assert_eq!(n("svc.cpu{a=1}").unwrap(), "svc.cpu{a=1}");
}

/// Grafana Pyroscope's selectors (Prometheus' `ParseMetricSelector`): what Grafana builds
/// parses, empty values mean "no such label", regexes are anchored.
#[cfg(feature = "query")]
#[test]
fn prometheus_selectors() {
    use pyro_labels::{ErrorKind, MatchOp, Selector};
    let labels = [("service_name", "api"), ("env", "prod"), ("pod", "web-1")];
    let get = |k: &str| labels.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
    let yes = |s: &str| Selector::parse(s).unwrap().matches(get);
    assert!(yes(""));
    assert!(yes("{}"));
    assert!(yes(r#"{env!=""}"#));
    assert!(!yes(r#"{region!=""}"#));
    assert!(yes(r#"{region=""}"#));
    assert!(!yes(r#"{env=""}"#));
    assert!(yes(r#"{pod=~"web-.*"}"#));
    assert!(!yes(r#"{pod=~"web"}"#), "anchored");
    assert!(yes(r#"{pod!~"web"}"#));
    assert!(
        yes(r#"{region=~".*"}"#),
        "a missing label is the empty value"
    );
    assert!(!yes(r#"{region=~".+"}"#));
    assert!(yes(
        r#"{ service_name = "api" , env='prod', pod=`web-1`, }"#
    ));
    assert!(yes(r#"{service_name="\x61p\u0069"}"#));
    assert!(yes(r#"{"service_name"="api"}"#));
    let s = Selector::parse(r#"process_cpu{env="prod"}"#).unwrap();
    assert_eq!(s.matchers()[0].key(), "__name__");
    assert_eq!(s.matchers()[0].value(), "process_cpu");
    assert_eq!(s.matchers()[1].op(), MatchOp::Equal);
    for (bad, at) in [
        (r#"{env="prod""#, 11),
        (r#"{env=prod}"#, 5),
        (r#"{env~"x"}"#, 4),
        (r#"{="x"}"#, 1),
        (r#"{env="x"} y"#, 10),
        (r#"{env="\q"}"#, 8),
    ] {
        let e = Selector::parse(bad).unwrap_err();
        assert_eq!(e.offset(), Some(at), "{bad}: {e}");
        assert!(
            matches!(
                e.kind(),
                ErrorKind::InvalidMatchersSyntax { .. } | ErrorKind::InvalidTagValueSyntax { .. }
            ),
            "{bad}: {e:?}"
        );
    }
    assert!(matches!(
        Selector::parse(r#"{a=~"("}"#).unwrap_err().kind(),
        ErrorKind::InvalidRegex { .. }
    ));
    let many: String = (0..17).map(|i| format!("l{i}=~\"x\",")).collect();
    assert!(matches!(
        Selector::parse(&format!("{{{many}}}")).unwrap_err().kind(),
        ErrorKind::QueryTooLarge { .. }
    ));
}
