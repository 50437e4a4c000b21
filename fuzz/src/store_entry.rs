//! `store_entry`: the store's entry decoder (what a damaged database file feeds it) never panics
//! and whatever it accepts holds values that sum to its header's total and encode back to an
//! entry that decodes the same. Inputs starting with `0xF5` are a stack table's symbol run and
//! node run instead (split where the second byte says): decoded without panicking, and what is
//! accepted encodes back to the same bytes.

/// Runs one input.
pub fn run(data: &[u8]) {
    if let [0xF5, at, rest @ ..] = data {
        let at = usize::from(*at).min(rest.len());
        let (syms, nodes) = rest.split_at(at);
        if let Ok((names, pairs)) = pyro_store::decode_stack_runs(syms, nodes) {
            let (s, n) = pyro_store::encode_stack_runs(&names, &pairs);
            // Varints may be written longer than needed; what is accepted reads back the same.
            assert_eq!(
                pyro_store::decode_stack_runs(&s, &n).unwrap(),
                (names, pairs)
            );
            if s.len() == syms.len() && n.len() == nodes.len() {
                assert_eq!((&s[..], &n[..]), (syms, nodes));
            }
        }
        return;
    }
    let Ok((writes, total, values)) = pyro_store::decode_entry(data) else {
        return;
    };
    assert_eq!(values.iter().sum::<u64>(), total);
    let again = pyro_store::encode_entry(writes, &values).expect("sums fit: the total did");
    let back = pyro_store::decode_entry(&again).unwrap();
    assert_eq!(back, (writes, total, values));
}

#[cfg(test)]
mod tests {
    use super::run;
    use crate::replay::{Rng, replay};

    /// The corpus, the committed crashers (`testdata/store/regress/`: entries `encode` never
    /// writes, taken as valid: one listing a zero value, one whose values overflow their sum)
    /// and seeded random entries.
    #[test]
    fn replays() {
        fn make(rng: &mut Rng) -> Vec<u8> {
            if rng.below(3) == 0 {
                // Stack runs: a valid pair, then one byte changed or the tail cut.
                let names: Vec<String> = (0..rng.below(4))
                    .map(|i| ["main", "wörk", "", "a;b"][i as usize].to_owned())
                    .collect();
                let pairs: Vec<(u32, u32)> = (0..rng.below(5))
                    .map(|i| (i as u32, rng.below(300) as u32))
                    .collect();
                let (s, n) = pyro_store::encode_stack_runs(&names, &pairs);
                let mut v = vec![0xF5, s.len() as u8];
                v.extend_from_slice(&s);
                v.extend_from_slice(&n);
                if rng.below(2) == 0 {
                    let i = 2 + rng.below(v.len() as u64 - 2) as usize;
                    v[i] = rng.below(256) as u8;
                }
                if rng.below(3) == 0 {
                    v.truncate(2 + rng.below(v.len() as u64 - 1) as usize);
                }
                return v;
            }
            let mut v = rng.bytes_from(&[0, 1, 2, 0x7f, 0x80, 0x81, 0xff], 48);
            v.insert(0, 0xF4);
            v
        }
        replay("store_entry", &["store"], 3000, make, run);
    }

    #[test]
    fn seeded_random_and_valid_entries() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for len in 0..2000usize {
            let mut v: Vec<u8> = (0..len % 64).map(|_| next() as u8).collect();
            if len % 2 == 0 {
                v.insert(0, 0xF4);
            }
            run(&v);
        }
        for n in 0..200u64 {
            let values: Vec<u64> = (0..n % 40).map(|i| (i * 10_000_000) % (n + 1)).collect();
            let entry = pyro_store::encode_entry(n, &values).unwrap();
            run(&entry);
            // Every cut of a valid entry is an error, not a panic.
            for cut in 0..entry.len() {
                run(&entry[..cut]);
            }
        }
    }
}
