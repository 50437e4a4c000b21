//! Helpers shared by the tests.

#![allow(dead_code)]

use std::path::PathBuf;

pub use pyro_pprof::model::*;

/// `../shared/testdata/public` beside the checkout, if present.
pub fn public_dir() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/public");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!(
            "note: {} not found; skipping tests over the public vectors",
            p.display()
        );
        None
    }
}

pub fn gunzip(data: &[u8]) -> Vec<u8> {
    pyro_pprof::decode(data, &pyro_pprof::Limits::default())
        .unwrap()
        .into_owned()
}
