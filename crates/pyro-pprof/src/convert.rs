//! From a [`Profile`] to Pyroscope series: one stack tree per (sample type, label set).

use pyro_labels::{Precedence, SeriesName};
use pyro_sampletype::{SampleTypeConfig, SampleTypes};
use pyro_tree::StackTree;

use crate::error::{Error, ErrorKind, Result};
use crate::forest::{Forest, Frames};
use crate::limits::Limits;
use crate::profile::Profile;
use crate::wire::{LEN, Reader, bytes_at, varint_at};

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
            return Err(Error::limit(
                "locations per sample",
                limits.max_stack_depth,
                at,
                "location_id",
            ));
        }
        out.push(r.varint().map_err(|e| e.within("location_id"))?);
    }
    Ok(())
}

fn decode_sample<'a>(
    p: &Profile<'_>,
    buf: &'a [u8],
    base: usize,
    s: &mut Scratch,
    limits: &Limits,
    keep: Option<&str>,
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
                    return Err(Error::limit(
                        "locations per sample",
                        limits.max_stack_depth,
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
                        return Err(Error::limit("values per sample", limit, at, ""));
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
                if str_ != 0 && !excluded(p.string(key as usize), keep) {
                    if s.labels.len() >= limits.max_sample_labels {
                        return Err(Error::limit(
                            "labels per sample",
                            limits.max_sample_labels,
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
    canonical(&mut s.labels);
    Ok(locs)
}

/// Whether a sample label is left out of series keys: [`EXCLUDED_LABELS`], except `keep`.
#[inline]
fn excluded(name: &str, keep: Option<&str>) -> bool {
    EXCLUDED_LABELS.contains(&name) && Some(name) != keep
}

/// Makes a sample's labels a canonical label set: sorted by key, the last duplicate wins.
#[inline]
fn canonical(labels: &mut Vec<(usize, usize)>) {
    if labels.len() > 1 {
        labels.sort_by_key(|&(k, _)| k);
        let mut i = 0;
        while i + 1 < labels.len() {
            if labels[i].0 == labels[i + 1].0 {
                labels.remove(i);
            } else {
                i += 1;
            }
        }
    }
}

/// What [`plain_sample`] checks samples against.
struct Plain {
    max_values: usize,
    max_labels: usize,
    nstrings: usize,
    /// String indices of [`EXCLUDED_LABELS`] keys.
    excluded: Vec<usize>,
}

impl Plain {
    fn new(p: &Profile<'_>, limits: &Limits, keep: Option<&str>) -> Plain {
        Plain {
            max_values: limits.max_sample_types,
            max_labels: limits.max_sample_labels,
            nstrings: p.strings.len(),
            excluded: (0..p.strings.len())
                .filter(|&i| excluded(p.strings[i], keep))
                .collect(),
        }
    }
}

/// The usual shape of a sample (one packed `location_id`, one packed `value`, string labels),
/// read without the general decoder: the location payload, with the
/// values and the canonical label set in `s`. `None` for any other shape and for anything the
/// general decoder would reject or report; that decoder then reads the sample.
#[inline]
fn plain_sample<'a>(buf: &'a [u8], s: &mut Scratch, c: &Plain) -> Option<&'a [u8]> {
    s.values.clear();
    s.labels.clear();
    let mut locs: Option<&[u8]> = None;
    let mut have_values = false;
    let mut i = 0;
    while i < buf.len() {
        let key = buf[i];
        i += 1;
        let payload = bytes_at(buf, &mut i)?;
        match key {
            0x0a if locs.is_none() => locs = Some(payload),
            0x12 if !have_values => {
                have_values = true;
                let mut j = 0;
                while j < payload.len() {
                    let v = varint_at(payload, &mut j)?;
                    if (v as i64) < 0 || s.values.len() >= c.max_values {
                        return None;
                    }
                    s.values.push(v);
                }
            }
            0x1a => {
                let (mut k, mut v, mut j) = (0, 0, 0);
                while j < payload.len() {
                    let field = payload[j];
                    j += 1;
                    let x = varint_at(payload, &mut j)?;
                    match field {
                        0x08 => k = x,
                        0x10 => v = x,
                        // num, num_unit: numeric labels do not split series.
                        0x18 | 0x20 => {}
                        _ => return None,
                    }
                }
                let (k, v) = (usize::try_from(k).ok()?, usize::try_from(v).ok()?);
                if k >= c.nstrings || v >= c.nstrings {
                    return None;
                }
                if v != 0 && !c.excluded.contains(&k) {
                    if s.labels.len() >= c.max_labels {
                        return None;
                    }
                    s.labels.push((k, v));
                }
            }
            _ => return None,
        }
    }
    canonical(&mut s.labels);
    Some(locs.unwrap_or(&[]))
}

/// Decodes every sample and aggregates it into a [`Forest`].
fn aggregate<'a>(
    p: &Profile<'a>,
    limits: &Limits,
    keep: Option<&str>,
) -> Result<(Forest<'a>, Frames)> {
    let ntypes = p.sample_types.len();
    let frames = Frames::new(p);
    let mut forest = Forest::new(ntypes, p.samples.len(), limits);
    let mut s = Scratch::default();
    let plain = Plain::new(p, limits, keep);
    for (i, &(buf, base)) in p.samples.iter().enumerate() {
        let within = |e: Error| e.within(&format!("Profile.sample[{i}]"));
        let locs = match plain_sample(buf, &mut s, &plain) {
            Some(bytes) => Locs::Packed {
                bytes,
                base: 0,
                at: 0,
            },
            None => decode_sample(p, buf, base, &mut s, limits, keep).map_err(within)?,
        };
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
            Locs::Packed { bytes, .. } => match forest.seen(bytes) {
                (Some(leaf), _) => leaf,
                (None, hash) => {
                    let walked = if zero {
                        // Checked, not walked: zero values add nothing.
                        None
                    } else {
                        forest.walk_packed(bytes, p, limits)?
                    };
                    match walked {
                        Some(leaf) => {
                            forest.remember(bytes, hash, leaf);
                            leaf
                        }
                        None => {
                            // Malformed, too deep, or zero: the general decoder has the exact
                            // error (the fast reader kept no offsets).
                            let mut again = Scratch::default();
                            let locs = decode_sample(p, buf, base, &mut again, limits, keep)
                                .map_err(within)?;
                            if let Locs::Packed { bytes, base, at } = locs {
                                decode_locs(bytes, base, at, &mut again.locs, limits)
                                    .map_err(within)?;
                            }
                            if zero {
                                continue;
                            }
                            forest.walk_ids(&again.locs, p)?
                        }
                    }
                }
            },
            Locs::Decoded if zero => continue,
            Locs::Decoded => forest.walk_ids(&s.locs, p)?,
        };
        if zero {
            continue;
        }
        let set = forest.label_set(&s.labels, limits, base)?;
        forest.add_values(set, leaf, &s.values, base)?;
    }
    Ok((forest, frames))
}

/// Series trees by (sample type, label set), and the label sets they refer to.
type SeriesTrees<'a> = (Vec<(usize, u32, StackTree<'a>)>, Vec<Vec<(usize, usize)>>);

/// Every (sample type, label set) tree of a profile with a non-zero total.
fn series_trees<'a>(
    p: &Profile<'a>,
    limits: &Limits,
    keep: Option<&str>,
) -> Result<SeriesTrees<'a>> {
    let (forest, frames) = aggregate(p, limits, keep)?;
    let locs = forest.resolve(p, &frames, limits)?;
    let trees = forest.trees(p, &frames, locs, limits)?;
    Ok((trees, forest.label_sets))
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
    let (trees, label_sets) = series_trees(p, limits, None)?;
    let keys = type_keys(p);
    let prev_trees = match prev {
        Some(pp) if plans.iter().any(|pl| pl.config.cumulative) => {
            let (ptrees, plabel_sets) = series_trees(pp, limits, None)?;
            let pkeys = type_keys(pp);
            let mut by_key = std::collections::HashMap::new();
            for (t, l, tree) in ptrees {
                let labels = label_strings(pp, &plabel_sets[l as usize]);
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
        let labels = label_strings(p, &label_sets[l as usize]);
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

/// The label pyroscope-otel puts on the samples of a (root) span: its id, 16 hex digits.
pub const SPAN_ID: &str = "span_id";

/// The older name of [`SPAN_ID`] (pyroscope-java, jfr-parser), which Grafana Pyroscope renames
/// to `span_id` before it keeps span ids per sample (`pprof.RenameLabel` in
/// `pkg/model/pprofsplit/pprof_split.go`).
pub const PROFILE_ID: &str = "profile_id";

/// The samples of one span in one series: what Grafana Pyroscope keeps per sample to answer
/// `SelectMergeSpanProfile` (trace to profiles).
#[derive(Debug)]
pub struct SpanTree<'a> {
    /// The key of the series (as [`to_series`] names it) the samples belong to.
    pub series: String,
    /// The span id.
    pub span_id: String,
    /// The span's stacks.
    pub tree: StackTree<'a>,
}

/// The samples of `p` that carry a [`SPAN_ID`] label (or, in a profile without one, a
/// [`PROFILE_ID`] label, as Grafana Pyroscope renames it), per series (named as [`to_series`]
/// names them, without the span label) and span: what [`to_series`] leaves out of series keys,
/// for a store that keeps span ids per sample rather than one series per span. Empty when no
/// sample has a span id (the profile's string table is checked first).
///
/// # Errors
/// As [`to_series`]; a profile of more spans than the limit of label sets
/// ([`Limits::max_label_sets`](crate::Limits)) is an error, which a caller may take as "no span
/// data" since [`to_series`] read the same profile.
pub fn to_span_trees<'a>(
    p: &Profile<'a>,
    request: &SeriesName,
    types: &SampleTypes,
    limits: &Limits,
) -> Result<Vec<SpanTree<'a>>> {
    let label = if p.strings.contains(&SPAN_ID) {
        SPAN_ID
    } else if p.strings.contains(&PROFILE_ID) {
        PROFILE_ID
    } else {
        return Ok(Vec::new());
    };
    let plans = plans(p, types);
    let (trees, label_sets) = series_trees(p, limits, Some(label))?;
    let mut out: std::collections::BTreeMap<(String, String), StackTree<'a>> =
        std::collections::BTreeMap::new();
    for (t, l, tree) in trees {
        let mut labels = label_strings(p, &label_sets[l as usize]);
        let Some(at) = labels.iter().position(|(k, _)| k == label) else {
            continue;
        };
        let (_, span) = labels.remove(at);
        if tree.is_empty() || span.is_empty() {
            continue;
        }
        let mut name = request.clone();
        name.merge(
            labels.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            Precedence::KeepExisting,
        )
        .map_err(label_error)?;
        let name = name.with_suffix(&plans[t].suffix);
        match out.entry((name.key(), span)) {
            std::collections::btree_map::Entry::Occupied(mut e) => e.get_mut().merge(&tree),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(tree);
            }
        }
    }
    Ok(out
        .into_iter()
        .map(|((series, span_id), tree)| SpanTree {
            series,
            span_id,
            tree,
        })
        .collect())
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

/// Pushes the stack of every sample with a non-zero value of sample type `sample_type` into
/// `sink` (frames root first, inline frames expanded, named as [`to_series`] names them), every
/// label set together: for users with a sink of their own. Frames borrow from the profile's
/// string table; a stack with a `<mapping>!0x<address>` frame of an unsymbolized location is
/// passed as transient.
///
/// ```
/// use pyro_pprof::{Limits, Profile, read_into};
/// use pyro_tree::VecSink;
/// # let pprof: &[u8] = &[
/// #     0x0a, 0x04, 0x08, 0x01, 0x10, 0x02, 0x12, 0x06, 0x0a, 0x02, 0x02, 0x01, 0x10, 0x03,
/// #     0x22, 0x06, 0x08, 0x01, 0x22, 0x02, 0x08, 0x01, 0x22, 0x06, 0x08, 0x02, 0x22, 0x02,
/// #     0x08, 0x02, 0x2a, 0x04, 0x08, 0x01, 0x10, 0x03, 0x2a, 0x04, 0x08, 0x02, 0x10, 0x04,
/// #     0x32, 0x00, 0x32, 0x07, b's', b'a', b'm', b'p', b'l', b'e', b's',
/// #     0x32, 0x05, b'c', b'o', b'u', b'n', b't',
/// #     0x32, 0x04, b'm', b'a', b'i', b'n', 0x32, 0x04, b'w', b'o', b'r', b'k',
/// # ];
/// // `pprof`: one sample main -> work with value 3
/// let limits = Limits::default();
/// let profile = Profile::parse(pprof, &limits)?;
/// let mut sink = VecSink::default();
/// read_into(&profile, 0, &limits, &mut sink)?;
/// assert_eq!(sink.stacks, [(vec!["main".to_owned(), "work".to_owned()], 3)]);
/// # Ok::<(), pyro_pprof::Error>(())
/// ```
///
/// # Errors
/// [`ErrorKind::NoSuchSampleType`] for an index past the sample types; a malformed sample, a
/// value count that does not match the sample types, a negative value, or a limit exceeded
/// (more frames in one stack than [`Limits::max_stack_depth`]).
pub fn read_into<'a, S: pyro_tree::StackSink<'a>>(
    p: &Profile<'a>,
    sample_type: usize,
    limits: &Limits,
    mut sink: S,
) -> Result<()> {
    let ntypes = p.sample_types.len();
    if sample_type >= ntypes {
        return Err(Error::new(
            ErrorKind::NoSuchSampleType {
                index: sample_type,
                count: ntypes,
            },
            0,
            "",
        ));
    }
    let frames = Frames::new(p);
    let mut s = Scratch::default();
    let mut stack: Vec<u32> = Vec::new();
    let mut borrowed: Vec<&'a str> = Vec::new();
    for (i, &(buf, base)) in p.samples.iter().enumerate() {
        let within = |e: Error| e.within(&format!("Profile.sample[{i}]"));
        if let Locs::Packed { bytes, base, at } =
            decode_sample(p, buf, base, &mut s, limits, None).map_err(within)?
        {
            decode_locs(bytes, base, at, &mut s.locs, limits).map_err(within)?;
        }
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
        let value = s.values[sample_type];
        if value == 0 {
            continue;
        }
        stack.clear();
        // Location ids come leaf first; ids no location has are left out, as in `to_series`.
        for &id in s.locs.iter().rev() {
            let Some(li) = p.location_index.get(id) else {
                continue;
            };
            let (start, len) = frames.ranges[li];
            stack.extend_from_slice(&frames.names[start as usize..(start + len) as usize]);
        }
        if stack.len() > limits.max_stack_depth {
            return Err(Error::limit(
                "frames per stack",
                limits.max_stack_depth,
                base,
                &format!("Profile.sample[{i}]"),
            ));
        }
        if stack.iter().all(|&n| (n as usize) < frames.nstrings) {
            borrowed.clear();
            borrowed.extend(stack.iter().map(|&n| p.strings[n as usize]));
            sink.add(&borrowed, value);
        } else {
            let names: Vec<&str> = stack
                .iter()
                .map(
                    |&n| match frames.extra.get((n as usize).wrapping_sub(frames.nstrings)) {
                        Some(x) if n as usize >= frames.nstrings => x.as_str(),
                        _ => p.strings[n as usize],
                    },
                )
                .collect();
            sink.add_transient(&names, value);
        }
    }
    Ok(())
}
