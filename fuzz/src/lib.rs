//! The logic of every fuzz target, as plain functions so `cargo test` runs it too.
//!
//! Each `run(data)` must never panic on any input; it asserts the target's invariants (a
//! differential check against a reference, or a round trip), so a violated invariant is a crash
//! libFuzzer reports. The tests in each module replay `fuzz/corpus/<target>/` when present, the
//! committed crashers under `testdata/<format>/regress/`, the repository's `testdata/` inputs, and
//! a few thousand seeded random inputs.

pub mod folded_parse;
pub mod jfr_chunks;
pub mod jfr_labels;
pub mod jfr_split_feed;
pub mod labels_baggage;
pub mod labels_parse_key;
pub mod labels_parse_query;
pub mod lines_parse;
pub mod pprof_decode;
pub mod pprof_vs_prost;
pub mod sampletype_json;
pub mod server_ingest;
pub mod store_entry;
pub mod tree_roundtrip;
pub mod tree_transport;

#[cfg(test)]
pub(crate) mod replay;

/// Runs `run` over every file named on the command line (the replay mode of the target binaries).
pub fn replay_args(run: fn(&[u8])) {
    for path in std::env::args_os().skip(1) {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        run(&data);
        println!("ok {}", path.to_string_lossy());
    }
}
