//! `labels_parse_query`: FlameQL and Prometheus selector parsing never panic; an accepted query
//! or selector re-parses to the same one and can be matched against series without panicking.

use pyro_labels::{Query, Selector, SeriesName};

/// Runs one input.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match Selector::parse(&text) {
        Ok(s) => {
            let again = Selector::parse(&s.to_string()).expect("a printed selector re-parses");
            assert_eq!(again, s, "{s}");
            let _ = s.matches(|_| None);
            let _ = s.matches(|_| Some(""));
            let _ = s.matches(|_| Some("ab"));
            for m in s.matchers() {
                let _ = s.matches(|k| (k == m.key()).then_some(m.value()));
            }
        }
        Err(e) => assert!(e.offset().is_none_or(|o| o <= text.len())),
    }
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
        rng.bytes_from(b"ab{}=!~\",.*( '`\\xu0", 40)
    }

    #[test]
    fn replays() {
        replay("labels_parse_query", &["labels"], 5000, make, super::run);
    }
}
