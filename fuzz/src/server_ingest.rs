//! `server_ingest`: the server's request-to-series path (query parameters, content type,
//! `baggage`, body; `/ingest` and push) never panics on arbitrary input, and whatever it accepts
//! yields valid, storable series.
//!
//! Input layout: line 1 the query string, line 2 the content type, line 3 a `baggage` header,
//! the rest the body.

use ingest_server::ingest::{self, Limits, Params};
use ingest_server::push;
use ingest_server::storage::Write;
use pyro_labels::SeriesName;

fn query_param<'q>(query: &'q str, key: &str) -> Option<&'q str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

fn check(write: &Write) {
    for s in &write.series {
        let name = SeriesName::from_parts(
            &s.meta.app,
            s.meta.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        )
        .expect("stored series names are valid");
        assert_eq!(name.key(), s.key);
        assert!(!s.tree.overflowed());
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut parts = data.splitn(4, |&b| b == b'\n');
    let mut line = || String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let (query, content_type, baggage) = (line(), line(), line());
    let body = parts.next().unwrap_or_default();
    let (query, content_type, baggage) = (query.as_str(), content_type.as_str(), baggage.as_str());
    let limits = Limits {
        text: pyro_folded::Options::new()
            .max_line_len(256)
            .max_distinct_stacks(64),
        pprof: pyro_pprof::Limits::new().max_decompressed_size(1 << 16),
        jfr: pyro_jfr::Limits::new()
            .max_decompressed_size(1 << 20)
            .max_series(16),
        ..Limits::default()
    };
    let params = Params {
        name: query_param(query, "name").unwrap_or("fuzz.cpu").to_owned(),
        format: query_param(query, "format").map(str::to_owned),
        content_type: Some(content_type.to_owned()),
        units: query_param(query, "units").map(str::to_owned),
        aggregation: query_param(query, "aggregationType").map(str::to_owned),
        sample_rate: query_param(query, "sampleRate").map(str::to_owned),
        spy_name: query_param(query, "spyName").map(str::to_owned),
        sample_type_config: None,
        prev_profile: None,
        jfr_labels: None,
    };
    let k6: Vec<(String, String)> = pyro_labels::k6_labels([baggage]).into_iter().collect();
    if let Ok(mut series) = ingest::parse(&params, body, &limits) {
        for s in &mut series {
            for (k, v) in &k6 {
                s.name
                    .insert(k, v, pyro_labels::Precedence::Overwrite)
                    .expect("k6 label keys are valid");
            }
        }
        check(&Write::new("", 0, &series));
    }
    if let Ok(req) = push::decode(content_type, body)
        && let Ok((series, _)) = push::to_series(&req, &k6, &limits, 0)
    {
        check(&Write::new("", 0, &series));
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
