//! From a [`Profile`] to Pyroscope series: one stack tree per (sample type, label set).

use std::borrow::Cow;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use pyro_labels::{Precedence, SeriesName};
use pyro_sampletype::{SampleTypeConfig, SampleTypes};
use pyro_tree::{FrameId, StackTree};

use crate::error::{Error, ErrorKind, Result};
use crate::limits::Limits;
use crate::profile::Profile;
use crate::wire::{LEN, Reader};

/// Sample labels that identify one request or trace rather than a series; they are left out of
/// series keys (Grafana Pyroscope excludes them from grouping too).
pub const EXCLUDED_LABELS: [&str; 3] = ["profile_id", "span_id", "trace_id"];

/// One series a profile produces.
#[derive(Debug)]
pub struct Series<'a> {
    /// `<request app>.<suffix>{request labels ∪ sample labels}` (request labels win).
    pub name: SeriesName,
    /// The pprof sample type it comes from.
    pub sample_type: String,
    /// Units from the config, else the pprof unit string.
    pub units: String,
    /// `sum` or `average` (from the config).
    pub aggregation: String,
    /// Samples per second when the type is `sampled` and the profile has a period, else 0.
    pub sample_rate: u32,
    /// Whether the values were running totals (already diffed if a previous profile was given).
    pub cumulative: bool,
    /// The stacks, frames borrowed from the profile where possible.
    pub tree: StackTree<'a>,
}

/// How one sample type becomes series.
struct Plan {
    name: String,
    suffix: String,
    config: SampleTypeConfig,
    units: String,
    sample_rate: u32,
}

/// Builds the plan of every sample type; when two types would share a suffix (a profile with both
/// `samples` and `cpu`), the one whose own name differs from the suffix keeps its own name, so
/// counts and nanoseconds never mix in one series.
fn plans(p: &Profile<'_>, types: &SampleTypes) -> Vec<Plan> {
    let mut plans: Vec<Plan> = p
        .sample_types
        .iter()
        .map(|vt| {
            let name = p.string(vt.ty).to_owned();
            let config = types.get(&name).cloned().unwrap_or_default();
            let suffix = config.suffix(&name).to_owned();
            let units = if config.units.is_empty() {
                p.string(vt.unit).to_owned()
            } else {
                config.units.clone()
            };
            let sample_rate = if config.sampled { sample_rate(p) } else { 0 };
            Plan {
                name,
                suffix,
                config,
                units,
                sample_rate,
            }
        })
        .collect();
    let wanted: Vec<String> = plans.iter().map(|p| p.suffix.clone()).collect();
    for (i, plan) in plans.iter_mut().enumerate() {
        let clash = wanted
            .iter()
            .enumerate()
            .any(|(j, w)| j != i && *w == wanted[i]);
        if clash && plan.name != plan.suffix {
            plan.suffix = plan.name.clone();
        }
    }
    plans
}

/// OG's rule: `1s / (unit × period)` for `microseconds`, `milliseconds`, `seconds`, nanoseconds
/// otherwise; 0 without a positive period or a period type.
fn sample_rate(p: &Profile<'_>) -> u32 {
    let Some(pt) = p.period_type else { return 0 };
    if p.period <= 0 {
        return 0;
    }
    let unit: i64 = match p.string(pt.unit) {
        "microseconds" => 1_000,
        "milliseconds" => 1_000_000,
        "seconds" => 1_000_000_000,
        _ => 1,
    };
    match unit.checked_mul(p.period) {
        Some(d) if d > 0 => u32::try_from(1_000_000_000 / d).unwrap_or(u32::MAX),
        _ => 0,
    }
}

/// Aggregated samples: one entry per distinct (label set, stack of location ids).
struct Agg {
    /// Location ids of every entry, root first (the reverse of pprof's order), concatenated.
    locs: Vec<u64>,
    /// `(label set, start, len)` of every entry's stack in `locs`.
    entries: Vec<(u32, u32, u32)>,
    /// Summed values, `types` per entry.
    values: Vec<u64>,
    /// Hash of every entry (for rehashing the table).
    hashes: Vec<u64>,
    table: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    /// Distinct label sets as sorted `(key, value)` string indices.
    label_sets: Vec<Vec<(usize, usize)>>,
    label_index: hashbrown::HashMap<Vec<(usize, usize)>, u32, foldhash::fast::RandomState>,
}

impl Agg {
    fn new() -> Self {
        Agg {
            locs: Vec::new(),
            entries: Vec::new(),
            values: Vec::new(),
            hashes: Vec::new(),
            table: HashTable::new(),
            hasher: Default::default(),
            label_sets: vec![Vec::new()],
            label_index: hashbrown::HashMap::with_hasher(Default::default()),
        }
    }

    fn label_set(&mut self, labels: &[(usize, usize)], limits: &Limits, at: usize) -> Result<u32> {
        if labels.is_empty() {
            return Ok(0);
        }
        if let Some(&id) = self.label_index.get(labels) {
            return Ok(id);
        }
        if self.label_sets.len() > limits.max_label_sets {
            return Err(Error::new(
                ErrorKind::LimitExceeded {
                    what: "distinct label sets",
                    max: limits.max_label_sets,
                },
                at,
                "Profile.sample.label",
            ));
        }
        let id = self.label_sets.len() as u32;
        self.label_sets.push(labels.to_vec());
        self.label_index.insert(labels.to_vec(), id);
        Ok(id)
    }

    /// Adds `values` to the entry of `(labels, stack)`.
    fn add(&mut self, labels: u32, stack: &[u64], values: &[u64], at: usize) -> Result<()> {
        let hash = self.hasher.hash_one((labels, stack));
        let (locs, entries) = (&self.locs, &self.entries);
        let found = self.table.find(hash, |&e| {
            let (l, s, n) = entries[e as usize];
            l == labels
                && locs[s as usize..(s + n) as usize]
                    .iter()
                    .eq(stack.iter().rev())
        });
        let n = values.len();
        let e = match found {
            Some(&e) => e as usize,
            None => {
                let e = self.entries.len();
                self.entries
                    .push((labels, self.locs.len() as u32, stack.len() as u32));
                self.locs.extend(stack.iter().rev());
                self.values.extend(std::iter::repeat_n(0, n));
                self.hashes.push(hash);
                let hashes = &self.hashes;
                self.table
                    .insert_unique(hash, e as u32, |&x| hashes[x as usize]);
                e
            }
        };
        for (slot, v) in self.values[e * n..(e + 1) * n].iter_mut().zip(values) {
            *slot = slot
                .checked_add(*v)
                .ok_or_else(|| Error::new(ErrorKind::SumOverflow, at, "Profile.sample.value"))?;
        }
        Ok(())
    }
}

/// Reusable buffers for decoding one sample.
#[derive(Default)]
struct Scratch {
    locs: Vec<u64>,
    values: Vec<u64>,
    labels: Vec<(usize, usize)>,
}

fn decode_sample(
    p: &Profile<'_>,
    buf: &[u8],
    base: usize,
    s: &mut Scratch,
    limits: &Limits,
) -> Result<()> {
    s.locs.clear();
    s.values.clear();
    s.labels.clear();
    let nstrings = p.strings.len();
    let mut r = Reader::new(buf, base);
    while !r.at_end() {
        let (f, wt) = r.key()?;
        let at = r.offset();
        match f {
            1 => {
                let locs = &mut s.locs;
                r.repeated(wt, |v| {
                    locs.push(v);
                    Ok(())
                })
                .map_err(|e| e.within("location_id"))?;
                if s.locs.len() > limits.max_stack_depth {
                    return Err(Error::new(
                        ErrorKind::LimitExceeded {
                            what: "locations per sample",
                            max: limits.max_stack_depth,
                        },
                        at,
                        "location_id",
                    ));
                }
            }
            2 => {
                let values = &mut s.values;
                let limit = limits.max_sample_types;
                r.repeated(wt, |v| {
                    let v = v as i64;
                    if v < 0 {
                        return Err(Error::new(ErrorKind::NegativeValue(v), at, ""));
                    }
                    if values.len() >= limit {
                        return Err(Error::new(
                            ErrorKind::LimitExceeded {
                                what: "values per sample",
                                max: limit,
                            },
                            at,
                            "",
                        ));
                    }
                    values.push(v as u64);
                    Ok(())
                })
                .map_err(|e| e.within("value"))?;
            }
            3 => {
                if wt != LEN {
                    return Err(Error::new(ErrorKind::InvalidWireType(wt), at, "label"));
                }
                let (payload, b) = r.bytes().map_err(|e| e.within("label"))?;
                let mut lr = Reader::new(payload, b);
                let (mut key, mut str_) = (0u64, 0u64);
                while !lr.at_end() {
                    let (lf, lwt) = lr.key().map_err(|e| e.within("label"))?;
                    match lf {
                        1 => key = lr.scalar(lwt).map_err(|e| e.within("label.key"))?,
                        2 => str_ = lr.scalar(lwt).map_err(|e| e.within("label.str"))?,
                        _ => lr.skip(lwt).map_err(|e| e.within("label"))?,
                    }
                }
                for v in [key, str_] {
                    if v as usize >= nstrings || (v as i64) < 0 {
                        return Err(Error::new(
                            ErrorKind::StringIndexOutOfRange(v as i64),
                            b,
                            "label",
                        ));
                    }
                }
                // Numeric labels (str == 0) do not split series.
                if str_ != 0 && !EXCLUDED_LABELS.contains(&p.string(key as usize)) {
                    if s.labels.len() >= limits.max_sample_labels {
                        return Err(Error::new(
                            ErrorKind::LimitExceeded {
                                what: "labels per sample",
                                max: limits.max_sample_labels,
                            },
                            b,
                            "label",
                        ));
                    }
                    s.labels.push((key as usize, str_ as usize));
                }
            }
            _ => r.skip(wt)?,
        }
    }
    // Canonical label set: sorted by key, the last duplicate wins.
    s.labels.sort_by_key(|&(k, _)| k);
    let mut i = 0;
    while i + 1 < s.labels.len() {
        if s.labels[i].0 == s.labels[i + 1].0 {
            s.labels.remove(i);
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// The frames of every location, root first (lines outermost first); an unsymbolized location
/// becomes `<mapping basename>!0x<address>`.
fn location_frames<'a>(p: &Profile<'a>) -> (Vec<(u32, u32)>, Vec<Cow<'a, str>>) {
    let mut ranges = Vec::with_capacity(p.locations.len());
    let mut frames: Vec<Cow<'a, str>> = Vec::new();
    for loc in &p.locations {
        let start = frames.len();
        let (ls, ln) = loc.lines;
        if ln == 0 {
            let file = p
                .mapping(loc.mapping_id)
                .map(|m| p.string(m.filename))
                .unwrap_or("");
            let base = file.rsplit('/').next().filter(|b| !b.is_empty());
            frames.push(Cow::Owned(format!(
                "{}!0x{:x}",
                base.unwrap_or("unknown"),
                loc.address
            )));
        } else {
            for &fid in p.line_functions[ls as usize..(ls + ln) as usize]
                .iter()
                .rev()
            {
                if let Some(f) = p.function(fid) {
                    let name = p.string(f.name);
                    if !name.is_empty() {
                        frames.push(Cow::Borrowed(name));
                    }
                }
            }
        }
        ranges.push((start as u32, (frames.len() - start) as u32));
    }
    (ranges, frames)
}

/// Decodes every sample and aggregates it by (label set, stack).
fn aggregate(p: &Profile<'_>, limits: &Limits) -> Result<Agg> {
    let ntypes = p.sample_types.len();
    let mut agg = Agg::new();
    let mut s = Scratch::default();
    for (i, &(buf, base)) in p.samples.iter().enumerate() {
        decode_sample(p, buf, base, &mut s, limits)
            .map_err(|e| e.within(&format!("Profile.sample[{i}]")))?;
        if s.values.len() != ntypes {
            return Err(Error::new(
                ErrorKind::ValueCount {
                    expected: ntypes,
                    found: s.values.len(),
                },
                base,
                format!("Profile.sample[{i}].value"),
            ));
        }
        if s.values.iter().all(|&v| v == 0) {
            continue;
        }
        let labels = agg.label_set(&s.labels, limits, base)?;
        agg.add(labels, &s.locs, &s.values, base)?;
    }
    Ok(agg)
}

/// Trees keyed by (sample type, label set).
type Trees<'a> = hashbrown::HashMap<(usize, u32), StackTree<'a>, foldhash::fast::RandomState>;

/// One tree being built, with the ids its interner gave the profile's frames (`NO_ID` until
/// first used), so each frame name is hashed once per tree, not once per stack.
struct Building<'a> {
    tree: StackTree<'a>,
    ids: Vec<u32>,
}

const NO_ID: u32 = u32::MAX;

/// Per (sample type, label set) trees from an aggregation, with zero values skipped.
fn build_trees<'a>(
    p: &Profile<'a>,
    agg: &Agg,
    ntypes: usize,
    limits: &Limits,
) -> Result<Trees<'a>> {
    let (ranges, frames) = location_frames(p);
    let nsets = agg.label_sets.len();
    // (type, label set) → index in `building`.
    let mut slots: Vec<u32> = vec![NO_ID; ntypes * nsets];
    let mut building: Vec<(usize, u32, Building<'a>)> = Vec::new();
    let mut stack: Vec<u32> = Vec::new();
    let mut ids: Vec<FrameId> = Vec::new();
    // Stacks ordered by their first root-first locations share prefixes with their neighbours,
    // which the trees reuse; a fixed-size key keeps the sort cheap.
    // One key per entry, computed once (a key closure would rebuild it on every comparison).
    let mut order: Vec<([u64; 6], u32)> = agg
        .entries
        .iter()
        .enumerate()
        .map(|(i, &(_, s, n))| {
            let mut k = [0u64; 6];
            for (slot, &loc) in k.iter_mut().zip(&agg.locs[s as usize..(s + n) as usize]) {
                *slot = loc;
            }
            (k, i as u32)
        })
        .collect();
    order.sort_unstable();
    let order = order.into_iter().map(|(_, i)| i);
    for e in order {
        let e = e as usize;
        let (labels, start, len) = agg.entries[e];
        // Frame indices of the stack, root first (pprof lists the leaf first).
        stack.clear();
        for &loc in &agg.locs[start as usize..(start + len) as usize] {
            if let Some(li) = p.location_index.get(loc) {
                let (fs, fl) = ranges[li];
                stack.extend(fs..fs + fl);
            }
        }
        if stack.len() > limits.max_stack_depth {
            return Err(Error::new(
                ErrorKind::LimitExceeded {
                    what: "frames per stack",
                    max: limits.max_stack_depth,
                },
                0,
                "Profile.sample",
            ));
        }
        for t in 0..ntypes {
            let v = agg.values[e * ntypes + t];
            if v == 0 {
                continue;
            }
            let slot = &mut slots[t * nsets + labels as usize];
            if *slot == NO_ID {
                *slot = building.len() as u32;
                building.push((
                    t,
                    labels,
                    Building {
                        tree: StackTree::new(),
                        ids: vec![NO_ID; frames.len()],
                    },
                ));
            }
            let b = &mut building[*slot as usize].2;
            ids.clear();
            for &f in &stack {
                let slot = &mut b.ids[f as usize];
                if *slot == NO_ID {
                    *slot = b.tree.intern_cow(frames[f as usize].clone()).0;
                }
                ids.push(FrameId(*slot));
            }
            b.tree.add_ids(&ids, v);
        }
    }
    let mut trees = Trees::with_hasher(Default::default());
    for (t, l, b) in building {
        trees.insert((t, l), b.tree);
    }
    Ok(trees)
}

/// The error a series name or label produces.
fn label_error(e: pyro_labels::Error) -> Error {
    Error::new(
        ErrorKind::InvalidLabel(e.to_string()),
        0,
        "Profile.sample.label",
    )
}

/// Converts a profile into series named after `request` (its labels win over sample labels).
///
/// Every sample type becomes series `<app>.<suffix>` (suffix from `types`, else the type's own
/// name); every distinct set of string sample labels (minus [`EXCLUDED_LABELS`]) its own series.
/// Frames are function names, inline frames expanded, root first; zero values are skipped. With
/// `prev`, cumulative types are diffed against it (OG's per-node rule); without it their values
/// are stored as they are (deltas, as current clients send). Series come sorted by name.
///
/// # Errors
/// A malformed sample, a value count that does not match the sample types, a negative value, a
/// sum that overflows, an invalid label key, or a limit exceeded.
pub fn to_series<'a>(
    p: &Profile<'a>,
    request: &SeriesName,
    types: &SampleTypes,
    prev: Option<&Profile<'_>>,
    limits: &Limits,
) -> Result<Vec<Series<'a>>> {
    let plans = plans(p, types);
    let agg = aggregate(p, limits)?;
    let trees = build_trees(p, &agg, plans.len(), limits)?;
    let keys = type_keys(p);
    let prev_trees = match prev {
        Some(pp) if plans.iter().any(|pl| pl.config.cumulative) => {
            let pagg = aggregate(pp, limits)?;
            let ptrees = build_trees(pp, &pagg, pp.sample_types.len(), limits)?;
            let pkeys = type_keys(pp);
            let mut by_key = std::collections::HashMap::new();
            for ((t, l), tree) in ptrees {
                let labels = label_strings(pp, &pagg.label_sets[l as usize]);
                by_key.insert((pkeys[t].clone(), labels), tree);
            }
            Some(by_key)
        }
        _ => None,
    };
    // Label sets that differ only in labels the request overrides land in one series.
    let mut out: std::collections::BTreeMap<String, Series<'a>> = std::collections::BTreeMap::new();
    for ((t, l), tree) in trees {
        let plan = &plans[t];
        let labels = label_strings(p, &agg.label_sets[l as usize]);
        let tree = match &prev_trees {
            Some(pt) if plan.config.cumulative => {
                match pt.get(&(keys[t].clone(), labels.clone())) {
                    Some(prev_tree) => tree.diff(prev_tree),
                    None => tree,
                }
            }
            _ => tree,
        };
        let mut name = request.clone();
        name.merge(
            labels.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            Precedence::KeepExisting,
        )
        .map_err(label_error)?;
        let name = name.with_suffix(&plan.suffix);
        name.check(&pyro_labels::Limits::default())
            .map_err(label_error)?;
        if tree.is_empty() {
            continue;
        }
        match out.entry(name.key()) {
            std::collections::btree_map::Entry::Occupied(mut e) => e.get_mut().tree.merge(&tree),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(Series {
                    name,
                    sample_type: plan.name.clone(),
                    units: plan.units.clone(),
                    aggregation: plan.config.aggregation_or_sum().to_owned(),
                    sample_rate: plan.sample_rate,
                    cumulative: plan.config.cumulative,
                    tree,
                });
            }
        }
    }
    Ok(out.into_values().collect())
}

/// How a sample type is matched with the previous profile's: its name and which occurrence of
/// that name it is (a profile may repeat a type name).
fn type_keys(p: &Profile<'_>) -> Vec<(String, usize)> {
    let names = p.sample_type_names();
    names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (
                (*n).to_owned(),
                names[..i].iter().filter(|m| *m == n).count(),
            )
        })
        .collect()
}

/// A label set as strings, sorted by key.
fn label_strings(p: &Profile<'_>, set: &[(usize, usize)]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = set
        .iter()
        .map(|&(k, v)| (p.string(k).to_owned(), p.string(v).to_owned()))
        .collect();
    v.sort();
    v
}
