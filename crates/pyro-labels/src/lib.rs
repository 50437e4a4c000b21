//! Series names, label sets, FlameQL queries, W3C baggage and k6 labels: everything that turns a
//! request's `name` parameter, push labels or `baggage` header into a Pyroscope series key.
//!
//! FlameQL queries ([`Query`]) need the `query` feature (on by default; it brings `regex`).
//!
//! ```
//! # #[cfg(feature = "query")] {
//! use pyro_labels::{Precedence, Query, SeriesName, k6_labels};
//!
//! // /ingest?name=…  → the storage key
//! let mut name = SeriesName::parse("my.app.cpu{env=staging, otel.scope.name=web}")?;
//! assert_eq!(name.to_string(), "my.app.cpu{env=staging,otel.scope.name=web}");
//!
//! // a k6 test's baggage adds labels to every series of the request
//! let k6 = k6_labels(["k6.test_run_id=123,k6.scenario=default"]);
//! name.merge(k6.iter().map(|(k, v)| (k.as_str(), v.as_str())), Precedence::Overwrite)?;
//!
//! // /render?query=…
//! let q = Query::parse(r#"my.app.cpu{k6_test_run_id="123"}"#)?;
//! assert!(q.matches(&name));
//! # }
//! # Ok::<(), pyro_labels::Error>(())
//! ```

mod baggage;
mod error;
mod name;
#[cfg(feature = "query")]
mod query;

pub use baggage::{Baggage, MAX_BYTES, MAX_MEMBERS, Member, Problem, Property, Skipped, k6_labels};
pub use error::{Error, ErrorKind, Result};
pub use name::{
    DEFAULT_MAX_LABEL_NAME_LEN, DEFAULT_MAX_LABEL_VALUE_LEN, DEFAULT_MAX_LABELS, Limits,
    NAME_LABEL, Precedence, SeriesName, is_app_name_char, is_label_key_char, split_service_name,
    validate_app_name, validate_label_key,
};
#[cfg(feature = "query")]
pub use query::{
    MAX_MATCHERS, MAX_REGEX_MATCHERS, MAX_REGEX_NESTING, MAX_REGEX_PATTERN_BYTES, MAX_REGEX_SIZE,
    MatchOp, Matcher, Query, Selector, go_quote,
};

/// The README example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
