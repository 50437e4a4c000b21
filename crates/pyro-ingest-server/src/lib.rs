//! `pyro-ingest-server`: Pyroscope's ingestion API over the `pyro-*` crates, and the CLI
//! (binary `ingest-server`).
//!
//! The data flow, one module per step: [`http`] (accept loop, body decoding, error responses),
//! [`auth`] (token and tenant from the headers, before any body byte), [`handlers`] (one small
//! module per endpoint family, each calling [`pyro_ingest`] or the store), `pyro_store` (redb,
//! group commit, rollups, retention), [`render`] (merged trees as OG's JSON, collapsed text, pprof, SVG)
//! and [`ui`] (the flamegraph UI, embedded in the binary).
//! Every profile byte is parsed by the library crates.
//!
//! The README shows the router served from your own runtime.

pub mod adhoc;
pub mod app;
pub mod attime;
pub mod auth;
pub mod body;
pub mod budget;
pub mod error;
pub mod forward;
pub mod handlers;
pub mod metrics;
pub mod render;
pub mod state;
pub mod trace;
pub mod ui;

/// The README example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
