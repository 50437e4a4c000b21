//! `jfr_split_feed`: a recording fed chunk by chunk gives exactly what the whole file gives
//! (same series and trees, or the same error at the same offset), and so does reading the
//! whole file's chunks on several threads, and so does `pyro-ingest` reading it a chunk at a
//! time from a reader (`decode_jfr_read`, `convert` of a JFR file) against the same bytes as a
//! request body. Inputs starting with `0xff`
//! describe up to three synthetic chunks (the `event` setting carries over between them) and are
//! also checked against the model of [`crate::jfr_chunks`].

use pyro_jfr::{Converter, Limits, Options, Series, chunks, decode};
use pyro_labels::SeriesName;

use crate::jfr_chunks::{Model, Spec, as_model};

type Outcome = Result<Vec<Series>, String>;

fn whole_and_split(data: &[u8], opts: &Options) -> (Outcome, Outcome) {
    let name = SeriesName::parse("fuzz.app{env=f}").expect("valid name");
    let show = |e: pyro_jfr::Error| format!("{:?} at {}", e.kind(), e.offset());
    let serial = Options {
        threads: 1,
        ..opts.clone()
    };
    let whole = pyro_jfr::to_series(data, &name, None, &serial).map_err(show);
    let parallel = Options {
        threads: 3,
        parallel_min_bytes: 0,
        ..opts.clone()
    };
    let threaded = pyro_jfr::to_series(data, &name, None, &parallel).map_err(show);
    same(&whole, &threaded);
    let mut c = Converter::new(name, None, serial);
    let mut split = Ok(());
    for chunk in chunks(data) {
        split = chunk.and_then(|ch| c.feed(ch.data));
        if split.is_err() {
            break;
        }
    }
    let split = split.map(|()| c.finish()).map_err(show);
    (whole, split)
}

/// `pyro_ingest::decode_jfr_read` of `file` from a reader against `decode_with_facts` of it as
/// a body: the same series, or the same error (kind, offset, message).
fn stream_and_body(file: &[u8]) {
    type Seen = Result<Vec<(String, String)>, (pyro_ingest::ErrorKind, Option<u64>, String)>;
    let limits = pyro_ingest::Limits::default().max_decompressed(1 << 22);
    let req = pyro_ingest::Request::new("fuzz.app{env=f}", &b""[..]);
    let seen = |r: pyro_ingest::Result<(Vec<pyro_ingest::Series<'_>>, _)>| -> Seen {
        r.map(|(series, _)| {
            series
                .iter()
                .map(|s| (s.name.to_string(), s.tree.to_folded()))
                .collect()
        })
        .map_err(|e| (e.kind(), e.offset(), e.message().to_owned()))
    };
    let mut input = file;
    let streamed = seen(pyro_ingest::decode_jfr_read(
        &req,
        &mut input,
        file.len() as u64,
        &limits,
    ));
    let body = pyro_ingest::Request {
        body: file.to_vec().into(),
        format: Some("jfr".into()),
        ..req.clone()
    };
    assert_eq!(
        streamed,
        seen(pyro_ingest::decode_with_facts(&body, &limits))
    );
}

fn same(whole: &Outcome, split: &Outcome) {
    match (whole, split) {
        (Ok(a), Ok(b)) => assert_eq!(as_model(a), as_model(b)),
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("whole {:?} vs split {:?}", a.is_ok(), b.is_ok()),
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    if let Some((&0xff, rest)) = data.split_first() {
        let n = 1 + rest.first().copied().unwrap_or(0) as usize % 3;
        let specs: Vec<Spec> = rest
            .get(1..)
            .unwrap_or(&[])
            .chunks(rest.len().div_ceil(n).max(1))
            .take(n)
            .map(Spec::from_bytes)
            .collect();
        let file: Vec<u8> = specs.iter().flat_map(|s| s.build()).collect();
        let (whole, split) = whole_and_split(&file, &Options::default());
        same(&whole, &split);
        stream_and_body(&file);
        let mut want = Model::new();
        let mut event = "";
        for s in &specs {
            event = s.event().unwrap_or(event);
            s.model(
                (event, false),
                "fuzz.app",
                &|_| "{env=f}".to_owned(),
                &mut want,
            );
        }
        assert_eq!(as_model(&whole.expect("synthetic")), want);
        return;
    }
    let limits = Limits::default().max_decompressed_size(1 << 22);
    let Ok(buf) = decode(data, &limits) else {
        return;
    };
    let opts = Options {
        limits,
        ..Options::default()
    };
    let (whole, split) = whole_and_split(&buf, &opts);
    same(&whole, &split);
    if !pyro_ingest::is_gzip(&buf) {
        stream_and_body(&buf);
    }
}

#[cfg(test)]
mod tests {
    use crate::replay::{Rng, replay};

    fn make(rng: &mut Rng) -> Vec<u8> {
        if rng.below(2) == 0 {
            let mut v = vec![0xff];
            v.extend(rng.bytes_from(&[0, 1, 2, 3, 4, 5, 6, 7, 100, 255], 160));
            return v;
        }
        let a = super::Spec::from_bytes(&rng.bytes_from(&[0, 1, 2, 3, 4, 5, 6, 9], 40)).build();
        let b = super::Spec::from_bytes(&rng.bytes_from(&[0, 1, 2, 3, 4, 5, 6, 9], 40)).build();
        let mut file = [a, b].concat();
        if rng.below(2) == 0 {
            let i = rng.below(file.len() as u64) as usize;
            file[i] = rng.below(256) as u8;
        }
        if rng.below(3) == 0 {
            file.truncate(rng.below(file.len() as u64 + 1) as usize);
        }
        file
    }

    #[test]
    fn replays() {
        replay("jfr_split_feed", &["jfr"], 1000, make, super::run);
    }
}
