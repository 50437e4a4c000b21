//! `server_ingest`: `pyro-ingest`'s request-to-series path (query parameters, content type,
//! `baggage`, body; `/ingest` and push) never panics on arbitrary input, and whatever it accepts
//! yields valid, storable series.
//!
//! Input layout: line 1 the query string, line 2 the content type, line 3 a `baggage` header,
//! the rest the body.

use pyro_ingest::{Limits, Request, Series};
use pyro_labels::SeriesName;

fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query.split('&').filter_map(|kv| kv.split_once('='))
}

/// What storage needs of every accepted series: a name that its parts rebuild exactly, and
/// totals that fit in 64 bits.
fn check(series: &[Series<'_>]) {
    for s in series {
        let name = SeriesName::from_parts(
            s.name.app(),
            s.name
                .labels()
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .expect("stored series names are valid");
        assert_eq!(name.key(), s.name.key());
        assert!(!s.tree.overflowed());
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut parts = data.splitn(4, |&b| b == b'\n');
    let mut line = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let (query, content_type, baggage) = (line(), line(), line());
    let body = parts.next().unwrap_or_default();
    let mut limits = Limits::new()
        .max_line_len(256)
        .max_distinct_stacks(64)
        .max_decompressed(1 << 16);
    limits.jfr = pyro_jfr::Limits::new()
        .max_decompressed_size(1 << 20)
        .max_series(16);
    let k6: Vec<(String, String)> = pyro_labels::k6_labels([baggage.as_str()])
        .into_iter()
        .collect();
    let req = Request {
        name: "fuzz.cpu".to_owned(),
        content_type: Some(content_type.clone()),
        body: body.to_vec().into(),
        extra_labels: k6.clone(),
        ..Request::default()
    }
    .with_query(query_pairs(&query));
    if let Ok(series) = pyro_ingest::decode(&req, &limits) {
        check(&series);
    }
    if let Ok(push) = pyro_ingest::push::decode(&content_type, req.body.clone())
        && let Ok((series, _)) = pyro_ingest::push::to_series(&push, &k6, &limits, 0)
    {
        check(&series);
    }
}

#[cfg(test)]
mod tests {
    use crate::replay::{Rng, replay};

    fn make(rng: &mut Rng) -> Vec<u8> {
        let formats = ["", "lines", "trie", "tree", "pprof", "jfr", "folded"];
        let cts = [
            "text/plain",
            "binary/octet-stream+trie",
            "application/json",
            "application/proto",
            "multipart/form-data",
        ];
        let names = ["app.cpu", "app{a=1,b=}", "my app", "x{__name__=y}", ""];
        let mut out = format!(
            "name={}&format={}&sampleRate=-{}\n{}\nk6.name=a b,k6.scenario=s\n",
            names[rng.below(5) as usize],
            formats[rng.below(7) as usize],
            rng.below(5),
            cts[rng.below(5) as usize],
        )
        .into_bytes();
        out.extend(rng.bytes_from(b"ab;; 12\n\x00\x01\x06\x0a\x12{}\"", 80));
        out
    }

    #[test]
    fn replays() {
        replay("server_ingest", &["folded"], 2000, make, super::run);
    }
}
