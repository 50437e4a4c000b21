//! Inputs shared by the benches.

/// The allocator `ingest-server` ships with (see its `main.rs`), for every bench and example
/// linking this crate: with glibc's malloc, a reader's timing in a loop depended on whether
/// glibc's moving trim threshold happened to exceed what one call frees, i.e. on the sizes of
/// its arrays rather than on the work.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Size of generated inputs: 100 MB under `cargo bench`, 1 MB when the bench binary runs as a
/// test (`cargo test --benches`, no `--bench` argument) so CI stays fast. `PYRO_BENCH_BYTES`
/// overrides both.
pub fn input_bytes() -> usize {
    if let Some(n) = std::env::var("PYRO_BENCH_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return n;
    }
    if std::env::args().any(|a| a == "--bench") {
        100_000_000
    } else {
        1_000_000
    }
}

/// Gunzips a whole (possibly multi-member) gzip stream; panics on bad input (bench inputs only).
pub fn gunzip(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

/// A small deterministic PRNG (xorshift64*), so inputs are the same on every run.
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    /// Next value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// A realistic folded profile: `distinct` Java-like stacks 8–48 frames deep drawn from a pool of
/// 600 frame names, with counts, repeated line by line (as concatenated 10-second uploads are)
/// until the text reaches `bytes`.
pub fn repetitive_folded(bytes: usize, distinct: usize) -> Vec<u8> {
    folded_input(bytes, distinct, false)
}

/// The same stacks as [`repetitive_folded`], but each line drawn at random, so consecutive lines
/// never repeat in order: the reader's general (hash table) path on every line.
pub fn shuffled_folded(bytes: usize, distinct: usize) -> Vec<u8> {
    folded_input(bytes, distinct, true)
}

fn folded_input(bytes: usize, distinct: usize, shuffle: bool) -> Vec<u8> {
    let mut rng = Rng::new(42);
    let packages = [
        "java/util",
        "java/lang",
        "com/example/app",
        "org/apache/kafka",
        "io/netty",
    ];
    let frames: Vec<String> = (0..600)
        .map(|i| {
            format!(
                "{}/Class{}.method{}",
                packages[i % packages.len()],
                i / 7,
                i % 13
            )
        })
        .collect();
    let mut lines = Vec::new();
    for _ in 0..distinct {
        let depth = 8 + rng.below(41) as usize;
        let stack: Vec<&str> = (0..depth)
            .map(|_| frames[rng.below(frames.len() as u64) as usize].as_str())
            .collect();
        lines.push(format!("{} {}\n", stack.join(";"), 1 + rng.below(500)));
    }
    let mut out = Vec::with_capacity(bytes + 4096);
    // Every stack appears at least once, so both inputs have `distinct` stacks.
    for l in &lines {
        out.extend_from_slice(l.as_bytes());
    }
    while out.len() < bytes {
        if shuffle {
            let l = &lines[rng.below(lines.len() as u64) as usize];
            out.extend_from_slice(l.as_bytes());
        } else {
            for l in &lines {
                out.extend_from_slice(l.as_bytes());
            }
        }
    }
    out
}

/// The jfr-parser vectors' expected collapsed stacks (`stack [value]` lines) as folded text,
/// every file once, cut to at most `bytes` at a line end.
pub fn java_collapsed(bytes: usize) -> Option<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/testdata/public/jfr-parser");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("_expected_collapsed.txt.gz"))
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = gunzip(&std::fs::read(f).ok()?);
        for line in text.split(|&b| b == b'\n') {
            let Some(open) = line.iter().rposition(|&b| b == b'[') else {
                continue;
            };
            if out.len() + line.len() > bytes {
                return Some(out);
            }
            // `stack [value]` → `stack value`.
            out.extend_from_slice(&line[..open]);
            out.extend_from_slice(
                line[open + 1..]
                    .strip_suffix(b"]")
                    .unwrap_or(&line[open + 1..]),
            );
            out.push(b'\n');
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The obvious folded reader, the peer of the folded benches: `str::lines`, `rsplit_once(' ')`,
/// `HashMap<String, u64>`. Panics on input that is not UTF-8 or has a bad count (bench inputs
/// only).
pub fn naive_folded(input: &[u8]) -> std::collections::HashMap<String, u64> {
    let text = std::str::from_utf8(input).expect("bench input is UTF-8");
    let mut map: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for line in text.lines() {
        if let Some((stack, count)) = line.rsplit_once(' ') {
            let v: u64 = count.parse().expect("bench counts are valid");
            *map.entry(stack.to_owned()).or_default() += v;
        }
    }
    map
}
