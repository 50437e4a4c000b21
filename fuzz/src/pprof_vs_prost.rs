//! `pprof_vs_prost`: a profile built from the fuzz input is encoded with prost; our conversion
//! must equal the straightforward walk over prost's decoding of the same bytes.

use pyro_labels::SeriesName;
use pyro_pprof::model::{
    self, Function, Label, Line, Location, Mapping, Profile as PbProfile, Sample, ValueType,
};
use pyro_pprof::{Limits, Profile, to_series};
use pyro_sampletype::SampleTypes;

const STRINGS: [&str; 10] = [
    "",
    "main",
    "work",
    "samples",
    "cpu",
    "alloc_space",
    "count",
    "thread",
    "/lib/x.so",
    "t1",
];

/// Builds a small profile from bytes: every byte drives one choice.
pub fn profile_from(data: &[u8]) -> PbProfile {
    let mut it = data.iter().copied().chain(std::iter::repeat(0));
    let mut next = |n: u8| it.next().unwrap_or(0) % n.max(1);
    let ntypes = 1 + next(3) as usize;
    let types = [(3, 6), (4, 6), (5, 6)];
    let nloc = next(6);
    let nfun = next(4);
    let mut p = PbProfile {
        sample_type: (0..ntypes)
            .map(|i| ValueType {
                r#type: types[(i + next(2) as usize) % 3].0,
                unit: 6,
            })
            .collect(),
        string_table: STRINGS.iter().map(|s| (*s).to_owned()).collect(),
        mapping: vec![Mapping {
            id: 1,
            filename: 8,
            ..Default::default()
        }],
        ..Default::default()
    };
    for id in 1..=nfun as u64 {
        p.function.push(Function {
            id,
            name: 1 + next(2) as i64,
            ..Default::default()
        });
    }
    for id in 1..=nloc as u64 {
        let lines = (0..next(3))
            .map(|_| Line {
                function_id: 1 + next(5) as u64,
                line: 1,
            })
            .collect();
        p.location.push(Location {
            id,
            mapping_id: next(2) as u64,
            address: id * 4,
            line: lines,
            ..Default::default()
        });
    }
    for _ in 0..next(12) {
        let locs = (0..next(5)).map(|_| 1 + next(7) as u64).collect();
        let value = (0..ntypes).map(|_| next(4) as i64).collect();
        let label = if next(2) == 1 {
            vec![Label {
                key: 7,
                str: 9 * next(2) as i64,
                ..Default::default()
            }]
        } else {
            vec![]
        };
        p.sample.push(Sample {
            location_id: locs,
            value,
            label,
        });
    }
    p
}

fn suffixes(p: &PbProfile, types: &SampleTypes) -> Vec<String> {
    let names: Vec<&str> = p
        .sample_type
        .iter()
        .map(|vt| STRINGS[vt.r#type as usize])
        .collect();
    let wanted: Vec<String> = names
        .iter()
        .map(|n| types.get(n).map_or(*n, |c| c.suffix(n)).to_owned())
        .collect();
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let clash = wanted
                .iter()
                .enumerate()
                .any(|(j, w)| j != i && *w == wanted[i]);
            if clash && *n != wanted[i] {
                (*n).to_owned()
            } else {
                wanted[i].clone()
            }
        })
        .collect()
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let pb = profile_from(data);
    let bytes = prost::Message::encode_to_vec(&pb);
    let types = SampleTypes::default();
    let mut want = model::walk(&pb, "app", &[], &suffixes(&pb, &types));
    // Series whose names coincide after suffixing are merged on our side.
    want.retain(|_, v| !v.is_empty());
    let limits = Limits::default();
    let p = Profile::parse(&bytes, &limits).expect("prost output parses");
    let series = to_series(
        &p,
        &SeriesName::parse("app").expect("valid"),
        &types,
        None,
        &limits,
    )
    .expect("prost output converts");
    assert_eq!(model::ours(&series), want);
}

#[cfg(test)]
mod tests {
    use crate::replay::{Rng, replay};

    fn make(rng: &mut Rng) -> Vec<u8> {
        (0..rng.below(120)).map(|_| rng.below(256) as u8).collect()
    }

    #[test]
    fn replays() {
        replay("pprof_vs_prost", &[], 3000, make, super::run);
    }
}
