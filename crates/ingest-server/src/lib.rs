//! `ingest-server`: Pyroscope's ingestion API over the `pyro-*` parser crates, and the CLI.
//!
//! The library part holds the request-to-series glue that both the CLI (`convert`) and the
//! server use ([`ingest`]), the storage ([`storage`]), the HTTP routes ([`server`]) and the
//! `/render` output ([`render`]); every profile byte is parsed by the library crates.
//!
//! ```
//! use ingest_server::ingest::{Limits, Params, parse};
//!
//! let params = Params { name: "myapp.cpu{env=prod}".into(), ..Params::default() };
//! let series = parse(&params, b"foo;bar 2\nfoo;baz 3\n", &Limits::default()).unwrap();
//! assert_eq!(series[0].name.to_string(), "myapp.cpu{env=prod}");
//! assert_eq!(series[0].tree.total(), 5);
//! ```

pub mod adhoc;
pub mod attime;
pub mod auth;
pub mod ingest;
pub mod output;
pub mod push;
pub mod render;
pub mod server;
pub mod storage;
