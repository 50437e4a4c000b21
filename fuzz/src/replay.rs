//! Inputs the fuzz-logic tests replay.

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Feeds `run` the corpus of `target` (if any), every file under the given `testdata/` folders
/// (regress crashers included), and `random` seeded random inputs built by `make`.
pub fn replay(
    target: &str,
    testdata: &[&str],
    random: usize,
    make: fn(&mut Rng) -> Vec<u8>,
    run: fn(&[u8]),
) -> usize {
    let mut files = Vec::new();
    files_under(&root().join("fuzz/corpus").join(target), &mut files);
    for d in testdata {
        files_under(&root().join("testdata").join(d), &mut files);
    }
    for f in &files {
        run(&std::fs::read(f).unwrap());
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ target.len() as u64);
    for _ in 0..random {
        run(&make(&mut rng));
    }
    files.len() + random
}

/// Seeded xorshift generator.
pub struct Rng(pub u64);

impl Rng {
    /// Next value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }

    /// Bytes drawn mostly from `alphabet`, sometimes any byte.
    pub fn bytes_from(&mut self, alphabet: &[u8], max_len: u64) -> Vec<u8> {
        let len = self.below(max_len + 1);
        (0..len)
            .map(|_| {
                if self.below(20) == 0 {
                    self.below(256) as u8
                } else {
                    alphabet[self.below(alphabet.len() as u64) as usize]
                }
            })
            .collect()
    }
}

/// Text that looks like folded stacks: frames, `;`, spaces, digits, signs, newlines.
pub fn folded_like(rng: &mut Rng) -> Vec<u8> {
    rng.bytes_from(b"ab;; ;  0123456789+-\n\n\r", 300)
}
