//! From a [`Profile`] to Pyroscope series: one stack tree per (sample type, label set).

use std::hash::BuildHasher;

use hashbrown::HashTable;
use pyro_labels::{Precedence, SeriesName};
use pyro_sampletype::{SampleTypeConfig, SampleTypes};
use pyro_tree::{FrameId, NodeId, StackTree};

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

/// No node, no id.
const NONE: u32 = u32::MAX;

/// Open-addressing map from `(parent node, frame name)` to the child node of the call tree.
struct ChildTable {
    /// `(parent << 32 | name, child)`; [`EMPTY_KEY`] marks a free slot.
    slots: Vec<(u64, u32)>,
    len: usize,
    shift: u32,
}

const EMPTY_KEY: u64 = u64::MAX;

impl ChildTable {
    /// A table that holds `n` keys before it grows.
    fn with_capacity(n: usize) -> Self {
        let bits = (n.max(512) * 2).next_power_of_two().trailing_zeros();
        ChildTable {
            slots: vec![(EMPTY_KEY, 0); 1 << bits],
            len: 0,
            shift: 64 - bits,
        }
    }

    #[inline]
    fn slot(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    /// The child stored for `key`, or the free slot to store it in.
    #[inline]
    fn find(&self, key: u64) -> Result<u32, usize> {
        let mask = self.slots.len() - 1;
        let mut i = self.slot(key);
        loop {
            let (k, v) = self.slots[i];
            if k == key {
                return Ok(v);
            }
            if k == EMPTY_KEY {
                return Err(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// Stores `child` for `key` in the free slot `at` that [`ChildTable::find`] returned.
    fn insert_at(&mut self, at: usize, key: u64, child: u32) {
        self.slots[at] = (key, child);
        self.len += 1;
        if self.len * 2 > self.slots.len() {
            let grown = vec![(EMPTY_KEY, 0); self.slots.len() * 2];
            let old = std::mem::replace(&mut self.slots, grown);
            self.shift -= 1;
            let mask = self.slots.len() - 1;
            for (k, v) in old.into_iter().filter(|&(k, _)| k != EMPTY_KEY) {
                let mut i = self.slot(k);
                while self.slots[i].0 != EMPTY_KEY {
                    i = (i + 1) & mask;
                }
                self.slots[i] = (k, v);
            }
        }
    }
}

/// The frames of every location as name ids, root first (lines outermost first). A name id below
/// the string-table length is a string index; above it, an entry of `extra` (the
/// `<mapping basename>!0x<address>` names of unsymbolized locations).
struct Frames {
    /// `(start, len)` of every location's names in `names`, by location index.
    ranges: Vec<(u32, u32)>,
    names: Vec<u32>,
    extra: Vec<String>,
    nstrings: usize,
}

impl Frames {
    fn new(p: &Profile<'_>) -> Frames {
        let nstrings = p.strings.len();
        let mut f = Frames {
            ranges: Vec::with_capacity(p.locations.len()),
            names: Vec::with_capacity(p.line_functions.len()),
            extra: Vec::new(),
            nstrings,
        };
        for loc in &p.locations {
            let start = f.names.len();
            let (ls, ln) = loc.lines;
            if ln == 0 {
                let file = p
                    .mapping(loc.mapping_id)
                    .map(|m| p.string(m.filename))
                    .unwrap_or("");
                let base = file.rsplit('/').next().filter(|b| !b.is_empty());
                f.names.push((nstrings + f.extra.len()) as u32);
                f.extra
                    .push(format!("{}!0x{:x}", base.unwrap_or("unknown"), loc.address));
            } else {
                for &fid in p.line_functions[ls as usize..(ls + ln) as usize]
                    .iter()
                    .rev()
                {
                    // Functions without a name are left out (their string index is 0).
                    if let Some(func) = p.function(fid)
                        && func.name != 0
                        && !p.string(func.name).is_empty()
                    {
                        f.names.push(func.name as u32);
                    }
                }
            }
            f.ranges
                .push((start as u32, (f.names.len() - start) as u32));
        }
        f
    }

    fn count(&self) -> usize {
        self.nstrings + self.extra.len()
    }
}

/// Where a sample's location ids are: still encoded as one packed field (the usual case, which
/// lets identical stacks be recognised by their bytes), or decoded into [`Scratch::locs`].
#[derive(Clone, Copy)]
enum Locs<'a> {
    Packed {
        bytes: &'a [u8],
        base: usize,
        /// Offset of the field's length, where a depth error points.
        at: usize,
    },
    Decoded,
}

/// Reusable buffers for decoding one sample.
#[derive(Default)]
struct Scratch {
    locs: Vec<u64>,
    values: Vec<u64>,
    labels: Vec<(usize, usize)>,
}

/// Decodes a packed `location_id` payload into `out` (leaf first), within the depth limit.
fn decode_locs(
    bytes: &[u8],
    base: usize,
    at: usize,
    out: &mut Vec<u64>,
    limits: &Limits,
) -> Result<()> {
    let mut r = Reader::new(bytes, base);
    while !r.at_end() {
        if out.len() >= limits.max_stack_depth {
            return Err(Error::new(
                ErrorKind::LimitExceeded {
                    what: "locations per sample",
                    max: limits.max_stack_depth,
                },
                at,
                "location_id",
            ));
        }
        out.push(r.varint().map_err(|e| e.within("location_id"))?);
    }
    Ok(())
}

/// Decodes a packed `location_id` payload (leaf first) into location indices, leaving out ids
/// no location has. `None` when the payload is malformed or too deep: [`decode_locs`] then tells
/// why (this is the fast path of the same rules).
#[inline]
fn location_indices(bytes: &[u8], p: &Profile<'_>, out: &mut Vec<u32>, max: usize) -> Option<()> {
    out.clear();
    let n = bytes.len();
    let (mut i, mut count) = (0, 0);
    while i < n {
        let b = bytes[i];
        let id = if b < 0x80 {
            i += 1;
            u64::from(b)
        } else if i + 1 < n && bytes[i + 1] < 0x80 {
            i += 2;
            u64::from(b & 0x7f) | (u64::from(bytes[i - 1]) << 7)
        } else {
            let mut r = Reader::new(&bytes[i..], 0);
            let v = r.varint().ok()?;
            i += r.offset();
            v
        };
        count += 1;
        if count > max {
            return None;
        }
        if let Some(li) = p.location_index.get(id) {
            out.push(li as u32);
        }
    }
    Some(())
}

fn decode_sample<'a>(
    p: &Profile<'_>,
    buf: &'a [u8],
    base: usize,
    s: &mut Scratch,
    limits: &Limits,
) -> Result<Locs<'a>> {
    s.locs.clear();
    s.values.clear();
    s.labels.clear();
    let mut locs = Locs::Decoded;
    let nstrings = p.strings.len();
    let mut r = Reader::new(buf, base);
    while !r.at_end() {
        let (f, wt) = r.key()?;
        let at = r.offset();
        match f {
            1 => {
                // One packed occurrence stays encoded; any other shape is decoded.
                if let Locs::Packed { bytes, base, at } = locs {
                    decode_locs(bytes, base, at, &mut s.locs, limits)?;
                    locs = Locs::Decoded;
                }
                if wt == LEN && s.locs.is_empty() {
                    let (bytes, base) = r.bytes().map_err(|e| e.within("location_id"))?;
                    locs = Locs::Packed { bytes, base, at };
                    continue;
                }
                let out = &mut s.locs;
                r.repeated(wt, |v| {
                    out.push(v);
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
    if s.labels.len() > 1 {
        s.labels.sort_by_key(|&(k, _)| k);
        let mut i = 0;
        while i + 1 < s.labels.len() {
            if s.labels[i].0 == s.labels[i + 1].0 {
                s.labels.remove(i);
            } else {
                i += 1;
            }
        }
    }
    Ok(locs)
}

/// A stack seen before, by the bytes of its packed location ids: the node it ended at.
struct Seen<'a> {
    bytes: &'a [u8],
    leaf: u32,
    hash: u64,
}

/// The root of the call tree.
const ROOT: u32 = 0;

/// Every sample of a profile aggregated: one call tree of locations shared by all label sets,
/// and one entry per (label set, node a stack ended at) with a value per sample type. Series
/// trees are cut from it ([`Forest::trees`]): the work per location of a stack is done once per
/// distinct stack, not once per sample or per series, and frame names are looked at once per
/// node of each series.
struct Forest<'a> {
    ntypes: usize,
    /// Per node: parent (the root's is [`NONE`]) and location index.
    parent: Vec<u32>,
    loc: Vec<u32>,
    /// Per node, the last `(location, child)` looked up under it: checked before the table.
    hint: Vec<(u32, u32)>,
    children: ChildTable,
    /// Stacks seen, by their encoded location ids.
    seen: Vec<Seen<'a>>,
    seen_index: HashTable<u32>,
    hasher: foldhash::fast::RandomState,
    /// `(label set, node)` of every entry, its index by `set << 32 | node`, and `ntypes`
    /// values per entry.
    entries: Vec<(u32, u32)>,
    entry_index: ChildTable,
    values: Vec<u64>,
    /// Distinct label sets as sorted `(key, value)` string indices; set 0 is empty.
    label_sets: Vec<Vec<(usize, usize)>>,
    label_index: hashbrown::HashMap<Vec<(usize, usize)>, u32, foldhash::fast::RandomState>,
}

impl<'a> Forest<'a> {
    fn new(ntypes: usize, samples: usize) -> Self {
        let nodes = samples * 2 + 1;
        Forest {
            ntypes,
            parent: {
                let mut v = Vec::with_capacity(nodes);
                v.push(NONE);
                v
            },
            loc: {
                let mut v = Vec::with_capacity(nodes);
                v.push(NONE);
                v
            },
            hint: {
                let mut v = Vec::with_capacity(nodes);
                v.push((NONE, NONE));
                v
            },
            children: ChildTable::with_capacity(nodes),
            seen: Vec::with_capacity(samples),
            seen_index: HashTable::with_capacity(samples),
            hasher: Default::default(),
            entries: Vec::with_capacity(samples),
            entry_index: ChildTable::with_capacity(samples),
            values: Vec::with_capacity(samples * ntypes),
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

    /// Walks (creating as needed) the path of location indices `locs` (leaf first) from the
    /// root, and returns the node it ends at.
    #[inline]
    fn walk(&mut self, locs: &[u32], limits: &Limits) -> Result<u32> {
        let mut node = ROOT;
        for &li in locs.iter().rev() {
            let (hl, hc) = self.hint[node as usize];
            node = if hl == li {
                hc
            } else {
                self.child(node, li, limits)?
            };
        }
        Ok(node)
    }

    /// The child of `node` at location `li` (created if missing), remembered as its hint.
    fn child(&mut self, node: u32, li: u32, limits: &Limits) -> Result<u32> {
        let key = (u64::from(node) << 32) | u64::from(li);
        let c = match self.children.find(key) {
            Ok(c) => c,
            Err(at) => {
                let n = self.parent.len();
                if (n + 1).saturating_mul(self.ntypes.max(1)) > limits.max_tree_nodes {
                    return Err(Error::new(
                        ErrorKind::LimitExceeded {
                            what: "call-tree nodes × sample types",
                            max: limits.max_tree_nodes,
                        },
                        0,
                        "Profile.sample",
                    ));
                }
                self.parent.push(node);
                self.loc.push(li);
                self.hint.push((NONE, NONE));
                self.children.insert_at(at, key, n as u32);
                n as u32
            }
        };
        self.hint[node as usize] = (li, c);
        Ok(c)
    }

    /// Adds `values` to the entry of (`set`, `node`).
    #[inline]
    fn add_values(&mut self, set: u32, node: u32, values: &[u64], at: usize) -> Result<()> {
        let n = self.ntypes;
        let key = (u64::from(set) << 32) | u64::from(node);
        let e = match self.entry_index.find(key) {
            Ok(e) => e as usize,
            Err(slot) => {
                let e = self.entries.len();
                self.entries.push((set, node));
                self.values.extend(std::iter::repeat_n(0, n));
                self.entry_index.insert_at(slot, key, e as u32);
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

    /// Checks that no stack has more frames than the limit once locations are expanded into
    /// their lines.
    fn check_depth(&self, frames: &Frames, limits: &Limits) -> Result<()> {
        let mut depth = vec![0u32; self.parent.len()];
        for n in 1..self.parent.len() {
            let d = depth[self.parent[n] as usize] as usize
                + frames.ranges[self.loc[n] as usize].1 as usize;
            if d > limits.max_stack_depth {
                return Err(Error::new(
                    ErrorKind::LimitExceeded {
                        what: "frames per stack",
                        max: limits.max_stack_depth,
                    },
                    0,
                    "Profile.sample",
                ));
            }
            depth[n] = d as u32;
        }
        Ok(())
    }

    /// Builds one tree per (sample type, label set) with a non-zero total: the nodes on the
    /// paths of the set's entries whose total for that type is not zero, each location expanded
    /// into its frames.
    fn trees(&self, p: &Profile<'a>, frames: &Frames) -> Vec<(usize, u32, StackTree<'a>)> {
        let nt = self.ntypes;
        let nodes = self.parent.len();
        // Entries grouped by label set.
        let nsets = self.label_sets.len();
        let mut offsets = vec![0u32; nsets + 1];
        for &(s, _) in &self.entries {
            offsets[s as usize + 1] += 1;
        }
        for i in 1..offsets.len() {
            offsets[i] += offsets[i - 1];
        }
        let mut order = vec![0u32; self.entries.len()];
        let mut fill = offsets.clone();
        for (e, &(s, _)) in self.entries.iter().enumerate() {
            order[fill[s as usize] as usize] = e as u32;
            fill[s as usize] += 1;
        }
        // Per node: the set that last reached it, its self values and totals in that set.
        let mut mark = vec![NONE; nodes];
        let mut selfs = vec![0u64; nodes * nt];
        let mut totals = vec![0u64; nodes * nt];
        let mut reached: Vec<u32> = Vec::new();
        let mut map = vec![NONE; nodes];
        // Frame ids of the current tree by name id, valid when the stamp is the tree's.
        let mut ids: Vec<(u32, u32)> = vec![(NONE, 0); frames.count()];
        let mut stamp = 0u32;
        let mut out = Vec::new();
        for set in 0..nsets {
            let group = &order[offsets[set] as usize..offsets[set + 1] as usize];
            if group.is_empty() {
                continue;
            }
            // The nodes on the set's paths, root included, in arena order (parents first).
            reached.clear();
            if group.len() == self.entries.len() {
                // The only set: every node is on the path of one of its entries.
                reached.extend(0..nodes as u32);
                for &e in group {
                    let leaf = self.entries[e as usize].1 as usize;
                    let v = &self.values[e as usize * nt..(e as usize + 1) * nt];
                    selfs[leaf * nt..(leaf + 1) * nt].copy_from_slice(v);
                }
            } else {
                for &e in group {
                    let mut n = self.entries[e as usize].1;
                    while mark[n as usize] != set as u32 {
                        mark[n as usize] = set as u32;
                        selfs[n as usize * nt..(n as usize + 1) * nt].fill(0);
                        reached.push(n);
                        if n == ROOT {
                            break;
                        }
                        n = self.parent[n as usize];
                    }
                    let leaf = self.entries[e as usize].1 as usize;
                    let v = &self.values[e as usize * nt..(e as usize + 1) * nt];
                    selfs[leaf * nt..(leaf + 1) * nt].copy_from_slice(v);
                }
                // A scan of the marks when the set reaches much of the tree, else a sort.
                if reached.len() >= nodes / 8 {
                    reached.clear();
                    reached.extend((0..nodes as u32).filter(|&n| mark[n as usize] == set as u32));
                } else {
                    reached.sort_unstable();
                }
            }
            for &n in &reached {
                let n = n as usize;
                totals[n * nt..(n + 1) * nt].copy_from_slice(&selfs[n * nt..(n + 1) * nt]);
            }
            for &n in reached[1..].iter().rev() {
                let (n, parent) = (n as usize, self.parent[n as usize] as usize);
                for t in 0..nt {
                    let v = totals[n * nt + t];
                    let slot = &mut totals[parent * nt + t];
                    *slot = slot.saturating_add(v);
                }
            }
            for t in 0..nt {
                if totals[t] == 0 {
                    continue;
                }
                let mut tree = StackTree::with_capacity(reached.len(), frames.names.len());
                tree.add_self(NodeId::ROOT, selfs[t]);
                map[ROOT as usize] = NodeId::ROOT.0;
                'nodes: for &n in &reached[1..] {
                    let n = n as usize;
                    if totals[n * nt + t] == 0 {
                        continue;
                    }
                    let mut at = map[self.parent[n] as usize];
                    if at != NONE {
                        let (start, len) = frames.ranges[self.loc[n] as usize];
                        for &name in &frames.names[start as usize..(start + len) as usize] {
                            let name = name as usize;
                            let slot = &mut ids[name];
                            if slot.0 != stamp {
                                let id = if name < frames.nstrings {
                                    tree.intern(p.strings[name])
                                } else {
                                    tree.intern_transient(&frames.extra[name - frames.nstrings])
                                };
                                *slot = (stamp, id.0);
                            }
                            match tree.child_node(NodeId(at), FrameId(slot.1)) {
                                Some(c) => at = c.0,
                                None => {
                                    // The tree is full (it records that it overflowed).
                                    map[n] = NONE;
                                    continue 'nodes;
                                }
                            }
                        }
                        let v = selfs[n * nt + t];
                        if v != 0 {
                            tree.add_self(NodeId(at), v);
                        }
                    }
                    map[n] = at;
                }
                tree.recompute_totals();
                out.push((t, set as u32, tree));
                stamp += 1;
            }
        }
        out
    }
}

/// Decodes every sample and aggregates it into a [`Forest`].
fn aggregate<'a>(p: &Profile<'a>, limits: &Limits) -> Result<(Forest<'a>, Frames)> {
    let ntypes = p.sample_types.len();
    let frames = Frames::new(p);
    let mut forest = Forest::new(ntypes, p.samples.len());
    let mut s = Scratch::default();
    let mut indices: Vec<u32> = Vec::new();
    let index_of = |id: u64| p.location_index.get(id).map(|li| li as u32);
    for (i, &(buf, base)) in p.samples.iter().enumerate() {
        let within = |e: Error| e.within(&format!("Profile.sample[{i}]"));
        let locs = decode_sample(p, buf, base, &mut s, limits).map_err(within)?;
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
        let zero = s.values.iter().all(|&v| v == 0);
        let leaf = match locs {
            Locs::Packed { bytes, base: b, at } => {
                let hash = forest.hasher.hash_one(bytes);
                let found = forest
                    .seen_index
                    .find(hash, |&e| forest.seen[e as usize].bytes == bytes);
                match found {
                    Some(&e) => forest.seen[e as usize].leaf,
                    None => {
                        // Decoded (and so checked) even when the values are zero.
                        if location_indices(bytes, p, &mut indices, limits.max_stack_depth)
                            .is_none()
                        {
                            // The exact error; were there none, the slow path's ids are used.
                            decode_locs(bytes, b, at, &mut s.locs, limits).map_err(within)?;
                            indices.clear();
                            indices.extend(s.locs.iter().filter_map(|&id| index_of(id)));
                        }
                        if zero {
                            continue;
                        }
                        let leaf = forest.walk(&indices, limits)?;
                        let e = forest.seen.len() as u32;
                        forest.seen.push(Seen { bytes, leaf, hash });
                        let seen = &forest.seen;
                        forest
                            .seen_index
                            .insert_unique(hash, e, |&x| seen[x as usize].hash);
                        leaf
                    }
                }
            }
            Locs::Decoded if zero => continue,
            Locs::Decoded => {
                indices.clear();
                indices.extend(s.locs.iter().filter_map(|&id| index_of(id)));
                forest.walk(&indices, limits)?
            }
        };
        if zero {
            continue;
        }
        let set = forest.label_set(&s.labels, limits, base)?;
        forest.add_values(set, leaf, &s.values, base)?;
    }
    forest.check_depth(&frames, limits)?;
    Ok((forest, frames))
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
    let (forest, frames) = aggregate(p, limits)?;
    let trees = forest.trees(p, &frames);
    let keys = type_keys(p);
    let prev_trees = match prev {
        Some(pp) if plans.iter().any(|pl| pl.config.cumulative) => {
            let (pforest, pframes) = aggregate(pp, limits)?;
            let pkeys = type_keys(pp);
            let mut by_key = std::collections::HashMap::new();
            for (t, l, tree) in pforest.trees(pp, &pframes) {
                let labels = label_strings(pp, &pforest.label_sets[l as usize]);
                by_key.insert((pkeys[t].clone(), labels), tree);
            }
            Some(by_key)
        }
        _ => None,
    };
    // Label sets that differ only in labels the request overrides land in one series.
    let mut out: std::collections::BTreeMap<String, Series<'a>> = std::collections::BTreeMap::new();
    for (t, l, tree) in trees {
        let plan = &plans[t];
        let labels = label_strings(p, &forest.label_sets[l as usize]);
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
