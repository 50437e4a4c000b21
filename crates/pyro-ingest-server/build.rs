//! Tells the tests whether the public vectors (`../shared/testdata/public` beside the checkout)
//! are present: without them the tests over them are reported as ignored, with the reason.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(shared_vectors)");
    // Read at run time: a build script compiled once may run again for a checkout elsewhere.
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default();
    let dir = std::path::Path::new(&manifest).join("../../../shared/testdata/public");
    println!("cargo::rerun-if-changed={}", dir.display());
    if dir.is_dir() {
        println!("cargo::rustc-cfg=shared_vectors");
    }
}
