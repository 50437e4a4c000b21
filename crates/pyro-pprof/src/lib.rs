//! A zero-copy pprof reader that turns profiles into Pyroscope series.
//!
//! [`decode`] gunzips a body once if it starts with the gzip magic (bounded by
//! [`Limits::max_decompressed_size`], so a gzip bomb stops with an error), [`Profile::parse`]
//! decodes the message into borrowed tables (strings are `&str` into the buffer; samples stay raw
//! until needed), and [`to_series`] aggregates the samples into one
//! [`pyro_tree::StackTree`] per (sample type, label set), named as OG Pyroscope names them.
//!
//! ```
//! use pyro_labels::SeriesName;
//! use pyro_pprof::{Limits, Profile, decode, to_series};
//! use pyro_sampletype::SampleTypes;
//!
//! // A tiny profile: sample type samples/count, one sample main -> work with value 3.
//! let pprof: &[u8] = &[
//!     0x0a, 0x04, 0x08, 0x01, 0x10, 0x02,             // sample_type {type: 1, unit: 2}
//!     0x12, 0x06, 0x0a, 0x02, 0x02, 0x01, 0x10, 0x03, // sample {location_id: [2, 1], value: 3}
//!     0x22, 0x06, 0x08, 0x01, 0x22, 0x02, 0x08, 0x01, // location {id: 1, line {function_id: 1}}
//!     0x22, 0x06, 0x08, 0x02, 0x22, 0x02, 0x08, 0x02, // location {id: 2, line {function_id: 2}}
//!     0x2a, 0x04, 0x08, 0x01, 0x10, 0x03,             // function {id: 1, name: 3}
//!     0x2a, 0x04, 0x08, 0x02, 0x10, 0x04,             // function {id: 2, name: 4}
//!     0x32, 0x00, 0x32, 0x07, b's', b'a', b'm', b'p', b'l', b'e', b's',
//!     0x32, 0x05, b'c', b'o', b'u', b'n', b't',
//!     0x32, 0x04, b'm', b'a', b'i', b'n', 0x32, 0x04, b'w', b'o', b'r', b'k',
//! ];
//! let limits = Limits::default();
//! let buf = decode(pprof, &limits)?;
//! let profile = Profile::parse(&buf, &limits)?;
//! let request = SeriesName::parse("my-app{env=prod}").unwrap();
//! let series = to_series(&profile, &request, &SampleTypes::default(), None, &limits)?;
//! assert_eq!(series[0].name.to_string(), "my-app.cpu{env=prod}");
//! assert_eq!(series[0].tree.to_folded(), "main;work 3\n");
//! # Ok::<(), pyro_pprof::Error>(())
//! ```

mod convert;
mod error;
mod forest;
mod limits;
#[cfg(feature = "model")]
#[doc(hidden)]
pub mod model;
mod profile;
mod wire;

use std::borrow::Cow;

pub use convert::{
    EXCLUDED_LABELS, PROFILE_ID, SPAN_ID, Series, SpanTree, read_into, to_series, to_span_trees,
};
pub use error::{Error, ErrorKind, Result};
pub use limits::{
    DEFAULT_MAX_DECOMPRESSED_SIZE, DEFAULT_MAX_LABEL_SETS, DEFAULT_MAX_SAMPLE_LABELS,
    DEFAULT_MAX_SAMPLE_TYPES, DEFAULT_MAX_STACK_DEPTH, DEFAULT_MAX_TREE_NODES, Limits,
};
pub use profile::{Function, Location, Mapping, Profile, ValueType, decompress, is_gzip};

/// The profile bytes of a body: gunzipped if it starts with the gzip magic, else borrowed as is.
///
/// # Errors
/// A malformed gzip stream, or more than the decompressed-size limit.
pub fn decode<'a>(data: &'a [u8], limits: &Limits) -> Result<Cow<'a, [u8]>> {
    if is_gzip(data) {
        decompress(data, limits).map(Cow::Owned)
    } else {
        Ok(Cow::Borrowed(data))
    }
}

/// The README example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
