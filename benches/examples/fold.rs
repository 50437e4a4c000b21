//! One folded read of a file, for instruction counts (callgrind) and whole-process timing:
//!
//! ```text
//! cargo run --release -p pyro-benches --example fold -- pyro|naive|write FILE
//! cargo run --release -p pyro-benches --example fold -- gen many-distinct|java-collapsed BYTES OUT
//! ```
//!
//! `pyro` reads FILE into a `StackTree`, `naive` into a `HashMap<String, u64>`, `write` reads it
//! and writes the tree back as folded text to stdout; each prints what it saw to stderr.

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["gen", shape, bytes, out] => {
            let bytes: usize = bytes.parse().expect("BYTES");
            let data = match *shape {
                "many-distinct" => pyro_benches::shuffled_folded(bytes, 25_000),
                "java-collapsed" => pyro_benches::java_collapsed(bytes).expect("../shared vectors"),
                other => panic!("unknown shape {other}"),
            };
            std::fs::write(out, data).expect("write");
        }
        [mode, file] => {
            let input = std::fs::read(file).expect("read FILE");
            match *mode {
                "naive" => eprintln!(
                    "{} distinct stacks",
                    pyro_benches::naive_folded(&input).len()
                ),
                "pyro" | "write" => {
                    let mut tree = pyro_tree::StackTree::new();
                    let s = pyro_folded::parse_folded(
                        &input,
                        &pyro_folded::Options::default(),
                        &mut tree,
                    )
                    .expect("valid folded input");
                    eprintln!(
                        "{} distinct stacks, {} nodes",
                        s.distinct_stacks,
                        tree.node_count()
                    );
                    if *mode == "write" {
                        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                        tree.write_folded(&mut out).expect("stdout");
                        out.flush().expect("stdout");
                    }
                }
                other => panic!("unknown mode {other}"),
            }
        }
        _ => eprintln!("usage: fold pyro|naive|write FILE, or fold gen SHAPE BYTES OUT"),
    }
}
