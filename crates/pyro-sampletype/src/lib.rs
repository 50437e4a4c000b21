//! The sample-type config Pyroscope clients send as `sample_type_config` (JSON) and the default
//! table used when they send none.
//!
//! A config maps a pprof sample type name (`samples`, `alloc_space`, `cpu`, …) to how its series
//! is named and stored: `display-name` (the suffix after the app name), `units`, `aggregation`
//! (`sum` or `average`), `cumulative` (diffed against `prev_profile`) and `sampled` (sample rate
//! from the profile's period). Sample types not in the table are still stored, under their own
//! name (spec Part 1, decision 4). A custom config replaces the whole table, as in OG Pyroscope.
//!
//! With the `json` feature (on by default) the client's JSON config is read too:
//!
//! ```
//! # #[cfg(feature = "json")] {
//! use pyro_sampletype::SampleTypes;
//!
//! let table = SampleTypes::default();
//! let cpu = table.get("samples").unwrap();
//! assert_eq!(cpu.display_name.as_deref(), Some("cpu"));
//! assert!(cpu.sampled);
//!
//! let custom = SampleTypes::from_json(br#"{"goroutine":{"units":"goroutines","aggregation":"average"}}"#)?;
//! assert!(custom.get("samples").is_none());
//!
//! let err = SampleTypes::from_json(b"{\"x\": {\"unit\": \"s\"}}").unwrap_err();
//! assert_eq!((err.line(), err.column()), (1, 13));
//! # }
//! # Ok::<(), pyro_sampletype::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

#[cfg(feature = "json")]
use serde::{Deserialize, Serialize};

/// Largest `sample_type_config` accepted, in bytes.
pub const MAX_CONFIG_BYTES: usize = 64 * 1024;
/// Most entries in one config.
pub const MAX_ENTRIES: usize = 256;

/// How one pprof sample type is stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "json", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "json", serde(deny_unknown_fields))]
pub struct SampleTypeConfig {
    /// Units of the series (`samples`, `objects`, `bytes`, …); empty means the pprof sample
    /// type's own unit string.
    #[cfg_attr(
        feature = "json",
        serde(default, skip_serializing_if = "String::is_empty")
    )]
    pub units: String,
    /// Suffix of the series name; `None` means the sample type name itself.
    #[cfg_attr(
        feature = "json",
        serde(
            default,
            rename = "display-name",
            skip_serializing_if = "Option::is_none"
        )
    )]
    pub display_name: Option<String>,
    /// `average` (or `avg`) to average over writes at read time; empty means sum.
    #[cfg_attr(
        feature = "json",
        serde(default, skip_serializing_if = "String::is_empty")
    )]
    pub aggregation: String,
    /// Values are running totals; diffed against `prev_profile` when one is sent.
    #[cfg_attr(feature = "json", serde(default, skip_serializing_if = "is_false"))]
    pub cumulative: bool,
    /// The sample rate comes from the profile's period.
    #[cfg_attr(feature = "json", serde(default, skip_serializing_if = "is_false"))]
    pub sampled: bool,
}

#[cfg(feature = "json")]
fn is_false(b: &bool) -> bool {
    !*b
}

impl SampleTypeConfig {
    /// The series suffix for sample type `name`.
    pub fn suffix<'s>(&'s self, name: &'s str) -> &'s str {
        self.display_name.as_deref().unwrap_or(name)
    }

    /// The aggregation to store, `sum` when empty.
    pub fn aggregation_or_sum(&self) -> &str {
        if self.aggregation.is_empty() {
            "sum"
        } else {
            &self.aggregation
        }
    }
}

/// A sample-type table: sample type name → config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleTypes {
    entries: BTreeMap<String, SampleTypeConfig>,
}

fn entry(
    units: &str,
    display_name: Option<&str>,
    aggregation: &str,
    cumulative: bool,
    sampled: bool,
) -> SampleTypeConfig {
    SampleTypeConfig {
        units: units.to_owned(),
        display_name: display_name.map(str::to_owned),
        aggregation: aggregation.to_owned(),
        cumulative,
        sampled,
    }
}

impl Default for SampleTypes {
    /// OG Pyroscope's `DefaultSampleTypeMapping` plus what current clients send:
    ///
    /// | type | suffix | units | aggregation | cumulative | sampled |
    /// |---|---|---|---|---|---|
    /// | `samples` | `cpu` | `samples` | sum | | yes |
    /// | `cpu` | `cpu` | (pprof unit) | sum | | |
    /// | `wall` | `wall` | (pprof unit) | sum | | |
    /// | `inuse_objects` | | `objects` | average | | |
    /// | `inuse_space` | | `bytes` | average | | |
    /// | `alloc_objects` | | `objects` | sum | yes | |
    /// | `alloc_space` | | `bytes` | sum | yes | |
    /// | `goroutine` | `goroutines` | `goroutines` | average | | |
    /// | `goroutines` | `goroutines` | `goroutines` | average | | |
    /// | `contentions` | `mutex_count` | `lock_samples` | sum | yes | |
    /// | `delay` | `mutex_duration` | `lock_nanoseconds` | sum | yes | |
    ///
    /// When a profile carries both `samples` and `cpu` (Go and Node CPU profiles), the reader
    /// stores `samples` as `<app>.samples` so counts and nanoseconds never share a series.
    fn default() -> Self {
        let mut e = BTreeMap::new();
        e.insert(
            "samples".into(),
            entry("samples", Some("cpu"), "", false, true),
        );
        e.insert("cpu".into(), entry("", None, "", false, false));
        e.insert("wall".into(), entry("", None, "", false, false));
        e.insert(
            "inuse_objects".into(),
            entry("objects", None, "average", false, false),
        );
        e.insert(
            "inuse_space".into(),
            entry("bytes", None, "average", false, false),
        );
        e.insert(
            "alloc_objects".into(),
            entry("objects", None, "", true, false),
        );
        e.insert("alloc_space".into(), entry("bytes", None, "", true, false));
        e.insert(
            "goroutine".into(),
            entry("goroutines", Some("goroutines"), "average", false, false),
        );
        e.insert(
            "goroutines".into(),
            entry("goroutines", Some("goroutines"), "average", false, false),
        );
        e.insert(
            "contentions".into(),
            entry("lock_samples", Some("mutex_count"), "", true, false),
        );
        e.insert(
            "delay".into(),
            entry("lock_nanoseconds", Some("mutex_duration"), "", true, false),
        );
        SampleTypes { entries: e }
    }
}

impl SampleTypes {
    /// Parses a client's `sample_type_config` JSON object; it replaces the default table
    /// (feature `json`).
    ///
    /// # Errors
    /// Invalid JSON, an unknown field, a wrong type, more than [`MAX_ENTRIES`] entries or more
    /// than [`MAX_CONFIG_BYTES`] bytes; the error carries line and column.
    #[cfg(feature = "json")]
    pub fn from_json(json: &[u8]) -> Result<Self, Error> {
        if json.len() > MAX_CONFIG_BYTES {
            return Err(Error {
                message: format!(
                    "sample_type_config of {} bytes exceeds the limit of {MAX_CONFIG_BYTES}",
                    json.len()
                ),
                line: 0,
                column: 0,
            });
        }
        let entries: BTreeMap<String, SampleTypeConfig> =
            serde_json::from_slice(json).map_err(|e| Error {
                message: e.to_string(),
                line: e.line(),
                column: e.column(),
            })?;
        if entries.len() > MAX_ENTRIES {
            return Err(Error {
                message: format!(
                    "sample_type_config has {} entries, over the limit of {MAX_ENTRIES}",
                    entries.len()
                ),
                line: 0,
                column: 0,
            });
        }
        Ok(SampleTypes { entries })
    }

    /// The config of sample type `name`, if the table has one.
    pub fn get(&self, name: &str) -> Option<&SampleTypeConfig> {
        self.entries.get(name)
    }

    /// Every entry, sorted by sample type name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &SampleTypeConfig)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The table as JSON (the form [`SampleTypes::from_json`] reads; feature `json`).
    #[cfg(feature = "json")]
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.entries).unwrap_or_default()
    }
}

/// A `sample_type_config` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
    line: usize,
    column: usize,
}

impl Error {
    /// 1-based line of the problem (0 when it is not about one place).
    pub fn line(&self) -> usize {
        self.line
    }
    /// 1-based column of the problem (0 when it is not about one place).
    pub fn column(&self) -> usize {
        self.column
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid sample_type_config: {}", self.message)
    }
}

impl std::error::Error for Error {}

/// The README example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
