//! `labels_baggage`: baggage parsing never panics and keeps its limits and invariants; k6 labels
//! are always valid label names with non-empty values. Input lines are separate headers.

use pyro_labels::{Baggage, MAX_MEMBERS, k6_labels};

/// Runs one input.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let headers: Vec<&str> = text.split('\n').collect();
    let b = Baggage::parse(headers.iter().copied());
    assert!(b.members.len() <= MAX_MEMBERS);
    let combined = headers.join(",");
    for m in &b.members {
        assert!(!m.key.is_empty());
        assert!(m.offset <= combined.len());
        assert!(
            combined[m.offset..]
                .trim_start_matches([' ', '\t'])
                .starts_with(&m.key)
        );
    }
    for s in &b.skipped {
        assert!(s.offset <= combined.len());
    }
    for (k, v) in k6_labels(headers.iter().copied()) {
        assert!(k.starts_with("k6_"), "{k}");
        assert!(!v.is_empty());
        pyro_labels::validate_label_key(&k).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use crate::replay::{Rng, replay};

    fn make(rng: &mut Rng) -> Vec<u8> {
        let mut out = b"k6.".to_vec();
        out.extend(rng.bytes_from(b"k6.ab=;,% 2F\t\n", 60));
        out
    }

    #[test]
    fn replays() {
        replay("labels_baggage", &[], 5000, make, super::run);
    }
}
