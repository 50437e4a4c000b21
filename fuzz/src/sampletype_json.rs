//! `sampletype_json`: the sample-type config parser never panics, reports positions inside the
//! input, and what it accepts round-trips through its JSON form.

use pyro_sampletype::SampleTypes;

/// Runs one input.
pub fn run(data: &[u8]) {
    match SampleTypes::from_json(data) {
        Ok(t) => {
            let back = SampleTypes::from_json(t.to_json().as_bytes()).expect("own JSON parses");
            assert_eq!(back, t);
        }
        Err(e) => {
            let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
            assert!(e.line() <= lines, "{e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::replay::{Rng, replay};

    fn make(rng: &mut Rng) -> Vec<u8> {
        let mut v = b"{\"cpu\":{".to_vec();
        v.extend(rng.bytes_from(b"\"units\":display-name,aggregation true}{[]1", 60));
        v
    }

    #[test]
    fn replays() {
        replay("sampletype_json", &[], 3000, make, super::run);
    }
}
