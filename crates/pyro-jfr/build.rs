//! Tells the tests whether the public vectors (`../shared/testdata/public` beside the checkout)
//! are present: without them the tests over them are reported as ignored, with the reason.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(shared_vectors)");
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/public");
    println!("cargo::rerun-if-changed={}", dir.display());
    if dir.is_dir() {
        println!("cargo::rustc-cfg=shared_vectors");
    }
}
