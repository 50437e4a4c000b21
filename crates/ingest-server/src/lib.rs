//! `ingest-server`: Pyroscope's ingestion API over the `pyro-*` parser crates, and the CLI.
//!
//! The library part holds the request-to-series glue that both the CLI (`convert`) and the
//! server use; every byte is parsed by the library crates.
//!
//! ```
//! use ingest_server::ingest::{Limits, Params, parse};
//!
//! let params = Params { name: "myapp.cpu{env=prod}".into(), ..Params::default() };
//! let series = parse(&params, b"foo;bar 2\nfoo;baz 3\n", &Limits::default()).unwrap();
//! assert_eq!(series[0].name.to_string(), "myapp.cpu{env=prod}");
//! assert_eq!(series[0].tree.total(), 5);
//! ```

pub mod ingest;
pub mod output;
