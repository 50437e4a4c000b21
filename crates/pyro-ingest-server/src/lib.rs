//! `pyro-ingest-server`: Pyroscope's ingestion API over the `pyro-*` crates, and the CLI
//! (binary `ingest-server`).
//!
//! The data flow, one module per step: [`http`] (accept loop, body decoding, error responses),
//! [`auth`] (token and tenant from the headers, before any body byte), [`handlers`] (one small
//! module per endpoint family, each calling [`pyro_ingest`] or the store), [`storage`] (redb,
//! group commit, retention) and [`render`] (merged trees as OG's JSON, collapsed text, pprof).
//! Every profile byte is parsed by the library crates.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use std::sync::Arc;
//! use pyro_ingest_server::{http, storage};
//!
//! let store = Arc::new(storage::Store::open("./data".as_ref()).map_err(std::io::Error::other)?);
//! let writer = storage::Writer::spawn(store.clone(), 4096)?;
//! let config = http::Config {
//!     max_body: 64 << 20,
//!     limits: pyro_ingest::Limits::default(),
//!     auth: None,
//!     request_timeout: std::time::Duration::from_secs(60),
//!     multi_tenant: false,
//!     max_multipart_parts: http::body::DEFAULT_MAX_MULTIPART_PARTS,
//! };
//! let app = http::router(store, writer, config);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:4040").await?;
//! let limits = http::ConnLimits {
//!     header_timeout: std::time::Duration::from_secs(10),
//!     max_header_bytes: 64 << 10,
//!     shutdown_grace: std::time::Duration::from_secs(30),
//! };
//! http::serve(listener, app, limits, std::future::pending()).await;
//! # Ok(())
//! # }
//! ```

pub mod adhoc;
pub mod attime;
pub mod auth;
pub mod handlers;
pub mod http;
pub mod render;
pub mod storage;
