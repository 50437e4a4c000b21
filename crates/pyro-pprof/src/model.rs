//! The pprof schema as prost messages (feature `model`), written by hand from `profile.proto`,
//! and [`walk`], the straightforward reference conversion over them. The server encodes
//! `/render?format=pprof` with these messages; differential tests, fuzz targets and benches
//! compare [`crate::to_series`] with [`walk`].
#![allow(missing_docs)]

use std::collections::{BTreeMap, HashMap};

use prost::Message;

#[derive(Clone, PartialEq, Message)]
pub struct Profile {
    #[prost(message, repeated, tag = "1")]
    pub sample_type: Vec<ValueType>,
    #[prost(message, repeated, tag = "2")]
    pub sample: Vec<Sample>,
    #[prost(message, repeated, tag = "3")]
    pub mapping: Vec<Mapping>,
    #[prost(message, repeated, tag = "4")]
    pub location: Vec<Location>,
    #[prost(message, repeated, tag = "5")]
    pub function: Vec<Function>,
    #[prost(string, repeated, tag = "6")]
    pub string_table: Vec<String>,
    #[prost(int64, tag = "7")]
    pub drop_frames: i64,
    #[prost(int64, tag = "8")]
    pub keep_frames: i64,
    #[prost(int64, tag = "9")]
    pub time_nanos: i64,
    #[prost(int64, tag = "10")]
    pub duration_nanos: i64,
    #[prost(message, optional, tag = "11")]
    pub period_type: Option<ValueType>,
    #[prost(int64, tag = "12")]
    pub period: i64,
    #[prost(int64, repeated, tag = "13")]
    pub comment: Vec<i64>,
    #[prost(int64, tag = "14")]
    pub default_sample_type: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct ValueType {
    #[prost(int64, tag = "1")]
    pub r#type: i64,
    #[prost(int64, tag = "2")]
    pub unit: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    #[prost(uint64, repeated, tag = "1")]
    pub location_id: Vec<u64>,
    #[prost(int64, repeated, tag = "2")]
    pub value: Vec<i64>,
    #[prost(message, repeated, tag = "3")]
    pub label: Vec<Label>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Label {
    #[prost(int64, tag = "1")]
    pub key: i64,
    #[prost(int64, tag = "2")]
    pub str: i64,
    #[prost(int64, tag = "3")]
    pub num: i64,
    #[prost(int64, tag = "4")]
    pub num_unit: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Mapping {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(uint64, tag = "2")]
    pub memory_start: u64,
    #[prost(uint64, tag = "3")]
    pub memory_limit: u64,
    #[prost(uint64, tag = "4")]
    pub file_offset: u64,
    #[prost(int64, tag = "5")]
    pub filename: i64,
    #[prost(int64, tag = "6")]
    pub build_id: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Location {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(uint64, tag = "2")]
    pub mapping_id: u64,
    #[prost(uint64, tag = "3")]
    pub address: u64,
    #[prost(message, repeated, tag = "4")]
    pub line: Vec<Line>,
    #[prost(bool, tag = "5")]
    pub is_folded: bool,
}

#[derive(Clone, PartialEq, Message)]
pub struct Line {
    #[prost(uint64, tag = "1")]
    pub function_id: u64,
    #[prost(int64, tag = "2")]
    pub line: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Function {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(int64, tag = "2")]
    pub name: i64,
    #[prost(int64, tag = "3")]
    pub system_name: i64,
    #[prost(int64, tag = "4")]
    pub filename: i64,
    #[prost(int64, tag = "5")]
    pub start_line: i64,
}

/// series key → (folded stack → value), the shape both sides are compared in.
pub type Series = BTreeMap<String, BTreeMap<String, u64>>;

struct Index<'p> {
    locations: HashMap<u64, &'p Location>,
    functions: HashMap<u64, &'p Function>,
    mappings: HashMap<u64, &'p Mapping>,
}

impl<'p> Index<'p> {
    /// The first definition of every id wins.
    fn new(p: &'p Profile) -> Self {
        let mut locations = HashMap::new();
        for l in &p.location {
            locations.entry(l.id).or_insert(l);
        }
        let mut functions = HashMap::new();
        for f in &p.function {
            functions.entry(f.id).or_insert(f);
        }
        let mut mappings = HashMap::new();
        for m in &p.mapping {
            mappings.entry(m.id).or_insert(m);
        }
        Index {
            locations,
            functions,
            mappings,
        }
    }
}

fn frames(p: &Profile, ix: &Index<'_>, loc_id: u64) -> Vec<String> {
    let Some(loc) = ix.locations.get(&loc_id) else {
        return Vec::new();
    };
    if loc.line.is_empty() {
        let file = ix
            .mappings
            .get(&loc.mapping_id)
            .map(|m| p.string_table[m.filename as usize].as_str())
            .unwrap_or("");
        let base = file.rsplit('/').next().unwrap_or("");
        let base = if base.is_empty() { "unknown" } else { base };
        return vec![format!("{base}!0x{:x}", loc.address)];
    }
    let mut out = Vec::new();
    for line in loc.line.iter().rev() {
        if let Some(f) = ix.functions.get(&line.function_id) {
            let name = &p.string_table[f.name as usize];
            if !name.is_empty() {
                out.push(name.clone());
            }
        }
    }
    out
}

/// The straightforward walk: for every sample, every non-zero value goes to the series of its
/// type and string labels (request labels win, excluded labels dropped).
pub fn walk(
    p: &Profile,
    app: &str,
    request_labels: &[(&str, &str)],
    suffixes: &[String],
) -> Series {
    let ix = Index::new(p);
    let mut out: Series = BTreeMap::new();
    for s in &p.sample {
        let mut labels: BTreeMap<String, String> = BTreeMap::new();
        for l in &s.label {
            if l.str != 0 {
                let k = p.string_table[l.key as usize].clone();
                if !["profile_id", "span_id", "trace_id"].contains(&k.as_str()) {
                    labels.insert(k, p.string_table[l.str as usize].clone());
                }
            }
        }
        for (k, v) in request_labels {
            labels.insert((*k).to_owned(), (*v).to_owned());
        }
        let mut stack: Vec<String> = Vec::new();
        for id in s.location_id.iter().rev() {
            stack.extend(frames(p, &ix, *id));
        }
        let stack = stack.join(";");
        for (t, v) in s.value.iter().enumerate() {
            if *v == 0 {
                continue;
            }
            let lbl: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let key = format!("{app}.{}{{{}}}", suffixes[t], lbl.join(","));
            *out.entry(key)
                .or_default()
                .entry(stack.clone())
                .or_default() += *v as u64;
        }
    }
    out
}

/// Our side in the same shape.
pub fn ours(series: &[crate::Series<'_>]) -> Series {
    series
        .iter()
        .map(|s| {
            (
                s.name.to_string(),
                s.tree.folded_lines().into_iter().collect(),
            )
        })
        .collect()
}
