//! `labels_parse_query`: FlameQL parsing never panics; an accepted query re-parses to the same
//! query and can be matched against series without panicking.

use pyro_labels::{Query, SeriesName};

/// Runs one input.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match Query::parse(&text) {
        Ok(q) => {
            let again = Query::parse(&q.to_string()).expect("a parsed query re-parses");
            assert_eq!(again, q);
            let mut series = SeriesName::new(q.app()).expect("query app names are valid");
            let _ = q.matches(&series);
            for m in q.matchers() {
                let _ = series.insert(m.key(), m.value(), pyro_labels::Precedence::Overwrite);
            }
            let _ = q.matches(&series);
        }
        Err(e) => assert!(e.offset().is_none_or(|o| o <= text.len())),
    }
}

#[cfg(test)]
mod tests {
    use crate::replay::{Rng, replay};

    fn make(rng: &mut Rng) -> Vec<u8> {
        rng.bytes_from(b"ab{}=!~\",.*( ", 40)
    }

    #[test]
    fn replays() {
        replay("labels_parse_query", &["labels"], 5000, make, super::run);
    }
}
