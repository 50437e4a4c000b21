//! `labels_parse_key`: series-name parsing never panics, and what it accepts normalizes to a key
//! that parses back to the same series (normalization is idempotent).

use pyro_labels::{Limits, SeriesName};

/// Runs one input.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = SeriesName::parse_with(&text, &Limits::new().max_labels(2).max_name_len(4));
    if let Ok(name) = SeriesName::parse(&text) {
        let key = name.to_string();
        let again = SeriesName::parse(&key).unwrap_or_else(|e| panic!("{key:?}: {e}"));
        // Values holding `,` or `}` cannot survive the OG key grammar; everything else must.
        let representable = name
            .labels()
            .values()
            .all(|v| !v.contains([',', '}']) && v.trim() == v);
        if representable {
            assert_eq!(again, name, "{key:?}");
        }
        assert_eq!(SeriesName::parse(&again.to_string()).ok(), Some(again));
    } else if let Err(e) = SeriesName::parse(&text) {
        assert!(e.offset().is_none_or(|o| o <= text.len()));
        assert!(!e.to_string().is_empty());
    }
}

#[cfg(test)]
mod tests {
    use crate::replay::{Rng, replay};

    fn make(rng: &mut Rng) -> Vec<u8> {
        rng.bytes_from(b"ab.{}=, _-/\"", 40)
    }

    #[test]
    fn replays() {
        replay("labels_parse_key", &[], 5000, make, super::run);
    }
}
