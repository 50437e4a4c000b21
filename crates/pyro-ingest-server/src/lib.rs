//! `pyro-ingest-server`: Pyroscope's ingestion API over the `pyro-*` crates, and the CLI
//! (binary `ingest-server`).
//!
//! One-way layers, top down (`ARCHITECTURE.md`; `tests/layers.rs` checks that no file imports
//! one above it): [`adhoc`] and [`app`] (the router, its layers, the accept loop), [`trace`]
//! (request log and metrics), [`handlers`] (one module per endpoint family: extract, call one
//! library function, answer), [`state`] (what handlers share, [`state::keep`]), [`auth`]
//! (token and tenant from the headers, before any body byte), [`metrics`], [`budget`] (bytes
//! in flight), [`body`] (`Content-Encoding`, multipart), [`forward`] (durable forwarding to
//! Grafana Pyroscope), [`render`] (merged trees as OG's JSON, pprof, SVG), [`ui`] (the embedded
//! page), [`error`] (the error answers of each protocol) and [`attime`] (times).
//! Every profile byte is parsed by the library crates; the store is `pyro_store`.
//!
//! The README shows the router served from your own runtime.

pub mod adhoc;
pub mod app;
pub mod attime;
pub mod auth;
pub mod body;
pub mod budget;
pub mod dot;
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
