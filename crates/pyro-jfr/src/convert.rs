//! From chunks to Pyroscope series: one tree per (profile type, label set).

use std::borrow::Cow;

use hashbrown::HashMap;
use pyro_labels::{Precedence, SeriesName};
use pyro_tree::{FrameId, StackSink, StackTree};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use crate::chunk::{Chunk, chunks};
use crate::error::{Error, ErrorKind, Result};
use crate::labels::LabelsSnapshot;
use crate::limits::Limits;
use crate::read::{ChunkOut, Entry, Ev, MetaCache, NO_ID, State, read_chunk};

type Hasher = foldhash::fast::RandomState;

/// Labels that identify one request or trace rather than a series; left out of series keys by
/// default (the pprof reader does the same).
pub const EXCLUDED_LABELS: [&str; 3] = ["profile_id", "span_id", "trace_id"];

/// A profile type a recording can produce, with OG Pyroscope's series suffix, units and
/// aggregation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ProfileType {
    /// `cpu`: ExecutionSample not sleeping (async-profiler `cpu`, `ctimer`, `wall`, perf events,
    /// or a JDK recording).
    Cpu,
    /// `itimer`: the same when async-profiler ran with `event=itimer` (OG's name).
    Itimer,
    /// `wall`: every ExecutionSample when `event=wall`, and WallClockSample.
    Wall,
    /// `alloc_in_new_tlab_objects`.
    AllocInNewTlabObjects,
    /// `alloc_in_new_tlab_bytes` (TLAB size).
    AllocInNewTlabBytes,
    /// `alloc_outside_tlab_objects`.
    AllocOutsideTlabObjects,
    /// `alloc_outside_tlab_bytes` (allocation size).
    AllocOutsideTlabBytes,
    /// `alloc_sample_objects` (JDK 16+ ObjectAllocationSample).
    AllocSampleObjects,
    /// `alloc_sample_bytes` (its weight).
    AllocSampleBytes,
    /// `lock_count`: JavaMonitorEnter and ThreadPark events.
    LockCount,
    /// `lock_duration`: their durations in nanoseconds.
    LockDuration,
    /// `mutex_count`: JavaMonitorEnter events alone, as grafana/jfr-parser counts them
    /// (`mutex:contentions:count:mutex:count`); only with [`Options::split_locks`].
    MutexCount,
    /// `mutex_duration`: their durations in nanoseconds (`mutex:delay:nanoseconds:mutex:count`).
    MutexDuration,
    /// `block_count`: ThreadPark events alone, as jfr-parser counts them
    /// (`block:contentions:count:block:count`); only with [`Options::split_locks`].
    BlockCount,
    /// `block_duration`: their durations in nanoseconds (`block:delay:nanoseconds:block:count`).
    BlockDuration,
    /// `live`: LiveObject events (averaged, not summed).
    Live,
    /// `malloc_objects`: profiler.Malloc events.
    MallocObjects,
    /// `malloc_bytes`: their sizes.
    MallocBytes,
}

impl ProfileType {
    /// The suffix appended to the app name (`<app>.<suffix>{…}`).
    pub fn suffix(self) -> &'static str {
        self.info().0
    }
    /// Units stored with the series.
    pub fn units(self) -> &'static str {
        self.info().1
    }
    /// `sum` or `average`.
    pub fn aggregation(self) -> &'static str {
        self.info().2
    }

    fn info(self) -> (&'static str, &'static str, &'static str) {
        use ProfileType::*;
        match self {
            Cpu => ("cpu", "samples", "sum"),
            Itimer => ("itimer", "samples", "sum"),
            Wall => ("wall", "samples", "sum"),
            AllocInNewTlabObjects => ("alloc_in_new_tlab_objects", "objects", "sum"),
            AllocInNewTlabBytes => ("alloc_in_new_tlab_bytes", "bytes", "sum"),
            AllocOutsideTlabObjects => ("alloc_outside_tlab_objects", "objects", "sum"),
            AllocOutsideTlabBytes => ("alloc_outside_tlab_bytes", "bytes", "sum"),
            AllocSampleObjects => ("alloc_sample_objects", "objects", "sum"),
            AllocSampleBytes => ("alloc_sample_bytes", "bytes", "sum"),
            LockCount => ("lock_count", "lock_samples", "sum"),
            LockDuration => ("lock_duration", "lock_nanoseconds", "sum"),
            MutexCount => ("mutex_count", "lock_samples", "sum"),
            MutexDuration => ("mutex_duration", "lock_nanoseconds", "sum"),
            BlockCount => ("block_count", "lock_samples", "sum"),
            BlockDuration => ("block_duration", "lock_nanoseconds", "sum"),
            Live => ("live", "objects", "average"),
            MallocObjects => ("malloc_objects", "objects", "sum"),
            MallocBytes => ("malloc_bytes", "bytes", "sum"),
        }
    }
}

/// One series a recording produces.
#[derive(Debug)]
pub struct Series {
    /// `<request app>.<suffix>{request labels, overwritten by context labels}`.
    pub name: SeriesName,
    /// The profile type.
    pub profile: ProfileType,
    /// Samples per second (the request's `sampleRate`).
    pub sample_rate: u32,
    /// The stacks: root first, frames `pkg/Class.method`.
    pub tree: StackTree<'static>,
    /// With [`Options::span_trees`]: the samples of `tree` that carried a span id, per span
    /// (`profile_id`, 16 hex digits, as grafana/jfr-parser labels them), sorted by span id.
    pub spans: Vec<(String, StackTree<'static>)>,
}

impl Series {
    /// Units stored with the series.
    pub fn units(&self) -> &'static str {
        self.profile.units()
    }
    /// `sum` or `average`.
    pub fn aggregation(&self) -> &'static str {
        self.profile.aggregation()
    }
}

/// Options of a conversion.
#[derive(Debug, Clone)]
pub struct Options {
    /// Stored as every series' sample rate (pyroscope-java sends its profiling interval in Hz).
    pub sample_rate: u32,
    /// Labels removed from series keys (default [`EXCLUDED_LABELS`]); their data merges into the
    /// label set without them.
    pub exclude_labels: Vec<String>,
    /// Limits of the reader.
    pub limits: Limits,
    /// Limits on the resulting series names.
    pub label_limits: pyro_labels::Limits,
    /// Threads reading chunks of one recording at once (results are merged in file order, so
    /// the output, errors included, does not depend on it); 1 reads on the calling thread.
    /// Default: 1 (a server bounds its CPU per request); [`Options::parallel`] asks for more.
    pub threads: usize,
    /// Smallest input (of several chunks) read on more than one thread (default 1 MiB).
    pub parallel_min_bytes: usize,
    /// Also gives lock events as grafana/jfr-parser does, for Grafana Pyroscope: monitor enters
    /// as `mutex_count`/`mutex_duration` and parks as `block_count`/`block_duration`, besides
    /// OG Pyroscope's `lock_count`/`lock_duration` of both together (default false).
    pub split_locks: bool,
    /// Also keeps, per series, the samples of each span (the async-profiler fork's `spanId`,
    /// which grafana/jfr-parser labels `profile_id` and Grafana Pyroscope keeps per sample for
    /// `SelectMergeSpanProfile`) as trees of their own ([`Series::spans`]); default false. Span
    /// ids are read only with a labels snapshot, as jfr-parser reads them. A recording of more
    /// spans than [`Limits::max_series`](crate::Limits) per series and type together, or whose
    /// span trees pass the tree-node limit beside the series, keeps its series and loses its
    /// span data (as the pprof reader does).
    pub span_trees: bool,
}

impl Options {
    /// The defaults, reading chunks on up to `threads` threads (0: the available parallelism,
    /// at most 4).
    pub fn parallel(threads: usize) -> Options {
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
        } else {
            threads
        };
        Options {
            threads,
            ..Options::default()
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sample_rate: 100,
            exclude_labels: EXCLUDED_LABELS.iter().map(|s| (*s).to_owned()).collect(),
            limits: Limits::default(),
            label_limits: pyro_labels::Limits::default(),
            threads: 1,
            parallel_min_bytes: 1 << 20,
            split_locks: false,
            span_trees: false,
        }
    }
}

/// Marks a work item's target as a span tree (an index in `Converter::spans`).
const SPAN_BIT: u32 = 1 << 31;

/// A tree being built, with the ids its interner gave the recording's frames.
struct Building {
    profile: ProfileType,
    labels: u32,
    tree: StackTree<'static>,
    ids: Vec<u32>,
}

/// Converts a recording to series chunk by chunk; feeding the chunks of a file one at a time
/// gives the same result as feeding the whole file.
pub struct Converter<'l> {
    request: SeriesName,
    labels: Option<&'l LabelsSnapshot>,
    opts: Options,
    /// Bytes fed so far (the base of error offsets).
    fed: usize,
    /// The async-profiler `event` setting, carried over to chunks that have none.
    event: Option<String>,
    /// Interned frame names of the whole recording.
    frames: Vec<Box<str>>,
    /// Index of `frames` by name (each name is stored once, in `frames`).
    frame_index: hashbrown::HashTable<u32>,
    hasher: Hasher,
    /// (context id, span id, span name id) → label set.
    contexts: HashMap<(u64, u64, u64), u32, Hasher>,
    /// Label sets (series names without suffix) and their index by storage key.
    label_sets: Vec<SeriesName>,
    label_index: HashMap<String, u32, Hasher>,
    /// (profile, label set) → index in `series`.
    series_index: HashMap<(ProfileType, u32), u32, Hasher>,
    series: Vec<Building>,
    /// Span trees ([`Options::span_trees`]): (series index, span id) → index in `spans`.
    span_index: HashMap<(u32, u64), u32, Hasher>,
    spans: Vec<(u32, u64, Building)>,
    /// Span data was dropped (over a limit) and is no longer collected.
    spans_dropped: bool,
    /// The last chunk's metadata record and what was compiled from it.
    cache: MetaCache,
}

impl<'l> Converter<'l> {
    /// A converter for one upload: `request` is the `name` of the request (its labels are
    /// overwritten by context labels), `labels` the optional LabelsSnapshot.
    pub fn new(request: SeriesName, labels: Option<&'l LabelsSnapshot>, opts: Options) -> Self {
        let mut label_sets = Vec::new();
        let mut label_index = HashMap::with_hasher(Hasher::default());
        let mut contexts = HashMap::with_hasher(Hasher::default());
        let mut base = request.clone();
        for l in &opts.exclude_labels {
            base.remove(l);
        }
        label_index.insert(base.key(), 0);
        label_sets.push(base);
        contexts.insert((0, 0, 0), 0);
        Converter {
            request,
            labels,
            opts,
            fed: 0,
            event: None,
            frames: Vec::new(),
            frame_index: hashbrown::HashTable::new(),
            hasher: Hasher::default(),
            contexts,
            label_sets,
            label_index,
            series_index: HashMap::with_hasher(Hasher::default()),
            series: Vec::new(),
            span_index: HashMap::with_hasher(Hasher::default()),
            spans: Vec::new(),
            spans_dropped: false,
            cache: None,
        }
    }

    /// Reads whole chunks (one or more, back to back) and adds their events.
    ///
    /// # Errors
    /// The first malformed chunk, with its absolute offset in everything fed so far; the
    /// converter should then be dropped.
    pub fn feed(&mut self, data: &[u8]) -> Result<()> {
        let base = self.fed;
        self.fed += data.len();
        if data.len() > self.opts.limits.max_decompressed_size {
            return Err(Error::too_large(
                "recording size",
                self.opts.limits.max_decompressed_size,
                base,
            ));
        }
        let all: Vec<Result<Chunk<'_>>> = chunks(data).collect();
        let threads = self.opts.threads.clamp(1, all.len().max(1));
        if threads == 1 || data.len() < self.opts.parallel_min_bytes {
            for chunk in all {
                let chunk = chunk.map_err(|e| e.shifted(base))?;
                let out = read_chunk(chunk.data, &chunk.header, &mut self.cache, &self.opts)
                    .map_err(|e| e.shifted(base + chunk.offset))?;
                self.merge(out)
                    .map_err(|e| e.shifted(base + chunk.offset))?;
            }
            return Ok(());
        }
        self.feed_parallel(&all, base, threads)
    }

    /// Reads chunks on `threads` threads and merges their results in file order, so the result
    /// (and the first error) is the same as reading them one after the other.
    fn feed_parallel(
        &mut self,
        all: &[Result<Chunk<'_>>],
        base: usize,
        threads: usize,
    ) -> Result<()> {
        let stop = AtomicBool::new(false);
        let opts = self.opts.clone();
        let opts = &opts;
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel::<(usize, Result<ChunkOut>)>();
            for w in 0..threads {
                let tx = tx.clone();
                let stop = &stop;
                scope.spawn(move || {
                    let mut cache = None;
                    for (i, chunk) in all.iter().enumerate().skip(w).step_by(threads) {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let Ok(chunk) = chunk else { break };
                        let out = read_chunk(chunk.data, &chunk.header, &mut cache, opts);
                        if tx.send((i, out)).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            let mut pending: std::collections::BTreeMap<usize, Result<ChunkOut>> =
                Default::default();
            let mut result = Ok(());
            for (i, chunk) in all.iter().enumerate() {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        result = Err(e.clone().shifted(base));
                        break;
                    }
                };
                let out = loop {
                    if let Some(out) = pending.remove(&i) {
                        break Some(out);
                    }
                    match rx.recv() {
                        Ok((j, out)) => {
                            pending.insert(j, out);
                        }
                        Err(_) => break None,
                    }
                };
                let Some(out) = out else {
                    // Only if a worker died; never report a partial result as success.
                    result = Err(Error::new(
                        ErrorKind::Unsupported("a chunk reader thread stopped"),
                        base + chunk.offset,
                        "chunk",
                    ));
                    break;
                };
                let merged = out.and_then(|out| self.merge(out));
                if let Err(e) = merged {
                    result = Err(e.shifted(base + chunk.offset));
                    break;
                }
            }
            stop.store(true, Ordering::Relaxed);
            // Unblock workers still sending.
            drop(rx);
            result
        })
    }

    /// The recording's async-profiler `event` setting (`cpu`, `itimer`, `wall`, …) as read so
    /// far; `None` for a recording without one (the JDK's own).
    pub fn event(&self) -> Option<&str> {
        self.event.as_deref()
    }

    /// The series, sorted by name then profile type.
    pub fn finish(self) -> Vec<Series> {
        let sets = self.label_sets;
        let rate = self.opts.sample_rate;
        let mut spans: Vec<Vec<(String, StackTree<'static>)>> =
            self.series.iter().map(|_| Vec::new()).collect();
        let mut span_list = self.spans;
        span_list.sort_unstable_by_key(|&(series, span, _)| (series, span));
        for (series, span, b) in span_list {
            spans[series as usize].push((format!("{span:016x}"), b.tree));
        }
        let mut out: Vec<Series> = self
            .series
            .into_iter()
            .zip(spans)
            .map(|(b, spans)| Series {
                name: sets[b.labels as usize].with_suffix(b.profile.suffix()),
                profile: b.profile,
                sample_rate: rate,
                tree: b.tree,
                spans,
            })
            .collect();
        out.sort_by(|a, b| {
            a.name
                .key()
                .cmp(&b.name.key())
                .then(a.profile.cmp(&b.profile))
        });
        out
    }
}

impl Converter<'_> {
    /// Adds one chunk's events to the series trees, in file order.
    fn merge(&mut self, out: ChunkOut) -> Result<()> {
        if out.event.is_some() {
            self.event = out.event;
        }
        let event = self.event.as_deref().unwrap_or("");
        let wall_mode = event == "wall";
        let cpu = if event == "itimer" {
            ProfileType::Itimer
        } else {
            ProfileType::Cpu
        };
        let tps = out.ticks_per_second;
        // Chunk frame ids → recording frame ids.
        let ids_of: Vec<u32> = out.frames.into_iter().map(|f| self.intern(f)).collect();
        let frames: Vec<u32> = out
            .stack_frames
            .iter()
            .map(|&f| ids_of[f as usize])
            .collect();
        let mut targets: Vec<(ProfileType, u64)> = Vec::with_capacity(4);
        let mut ids: Vec<FrameId> = Vec::new();
        let kind = (cpu, wall_mode, self.opts.split_locks);
        // (series, frames start, frames len, value) of every stack to add.
        let mut work: Vec<(u32, u32, u32, u64)> = Vec::with_capacity(out.entries.len());
        for e in out.entries {
            targets_of(&e, kind, tps, &mut targets);
            if targets.is_empty() {
                continue;
            }
            let (fs, fl) = e.stack;
            let labels = self.label_set(e.ctx, e.span, e.span_name)?;
            let with_span = e.span != 0 && self.labels.is_some() && self.opts.span_trees;
            for &(profile, v) in &targets {
                let series = self.series_for(profile, labels)? as u32;
                work.push((series, fs, fl, v));
                if with_span && let Some(span) = self.span_for(series, e.span) {
                    work.push((span | SPAN_BIT, fs, fl, v));
                }
            }
        }
        // Stacks in frame order share their prefixes with the previous one, which the trees
        // reuse instead of walking from the root.
        work.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0).then_with(|| {
                frames[a.1 as usize..(a.1 + a.2) as usize]
                    .cmp(&frames[b.1 as usize..(b.1 + b.2) as usize])
            })
        });
        // Room for the nodes the chunk may add (at most a node per frame of its stacks), so a
        // growing tree is not copied: that was a tenth of reading a multi-chunk recording.
        let mut frames_of: HashMap<u32, usize, Hasher> = HashMap::with_hasher(Hasher::default());
        for &(target, _, fl, _) in &work {
            *frames_of.entry(target).or_default() += fl as usize;
        }
        for (target, n) in frames_of {
            if target & SPAN_BIT == 0 {
                self.series[target as usize].tree.reserve(n);
            }
        }
        for (target, fs, fl, v) in work {
            let b = if target & SPAN_BIT == 0 {
                &mut self.series[target as usize]
            } else if self.spans_dropped {
                // Dropped while this chunk was read: its items name trees that are gone.
                continue;
            } else {
                &mut self.spans[(target & !SPAN_BIT) as usize].2
            };
            if b.ids.len() < self.frames.len() {
                b.ids.resize(self.frames.len(), NO_ID);
            }
            ids.clear();
            for &f in &frames[fs as usize..(fs + fl) as usize] {
                let slot = &mut b.ids[f as usize];
                if *slot == NO_ID {
                    *slot = b.tree.intern_transient(&self.frames[f as usize]).0;
                }
                ids.push(FrameId(*slot));
            }
            b.tree.add_ids(&ids, v);
        }
        let nodes: usize = self.series.iter().map(|b| b.tree.node_count()).sum();
        if nodes > self.opts.limits.max_tree_nodes {
            return Err(Error::limit(
                "tree nodes",
                self.opts.limits.max_tree_nodes,
                0,
            ));
        }
        let span_nodes: usize = self.spans.iter().map(|(_, _, b)| b.tree.node_count()).sum();
        if nodes + span_nodes > self.opts.limits.max_tree_nodes {
            self.drop_spans();
        }
        Ok(())
    }

    /// The span tree of (series, span), made when new; `None` once span data was dropped or
    /// when it would pass the limit ([`Options::span_trees`]).
    fn span_for(&mut self, series: u32, span: u64) -> Option<u32> {
        if self.spans_dropped {
            return None;
        }
        if let Some(&i) = self.span_index.get(&(series, span)) {
            return Some(i);
        }
        if self.spans.len() >= self.opts.limits.max_series {
            self.drop_spans();
            return None;
        }
        let i = self.spans.len() as u32;
        self.spans.push((
            series,
            span,
            Building {
                profile: self.series[series as usize].profile,
                labels: self.series[series as usize].labels,
                tree: StackTree::new(),
                ids: Vec::new(),
            },
        ));
        self.span_index.insert((series, span), i);
        Some(i)
    }

    fn drop_spans(&mut self) {
        self.spans_dropped = true;
        self.spans = Vec::new();
        self.span_index = HashMap::with_hasher(Hasher::default());
    }

    fn series_for(&mut self, profile: ProfileType, labels: u32) -> Result<usize> {
        if let Some(&i) = self.series_index.get(&(profile, labels)) {
            return Ok(i as usize);
        }
        if self.series.len() >= self.opts.limits.max_series {
            return Err(Error::limit("series", self.opts.limits.max_series, 0));
        }
        let i = self.series.len();
        self.series.push(Building {
            profile,
            labels,
            tree: StackTree::new(),
            ids: Vec::new(),
        });
        self.series_index.insert((profile, labels), i as u32);
        Ok(i)
    }

    /// The label set of a context: the request's labels overwritten by the context's, plus
    /// `profile_id` / `span_name` from the span fields, minus the excluded labels.
    fn label_set(&mut self, ctx: u64, span: u64, span_name: u64) -> Result<u32> {
        let Some(snap) = self.labels else {
            return Ok(0);
        };
        if let Some(&id) = self.contexts.get(&(ctx, span, span_name)) {
            return Ok(id);
        }
        let mut pairs: Vec<(&str, Cow<'_, str>)> = Vec::new();
        if ctx != 0 {
            if let Some(c) = snap.contexts.get(&(ctx as i64)) {
                let mut kv: Vec<(&i64, &i64)> = c.labels.iter().collect();
                kv.sort_unstable();
                for (k, v) in kv {
                    if let Some(ks) = snap.strings.get(k) {
                        let vs = snap.strings.get(v).map_or("", String::as_str);
                        pairs.push((ks, Cow::Borrowed(vs)));
                    }
                }
            }
        }
        if span != 0 {
            pairs.push(("profile_id", Cow::Owned(format!("{span:016x}"))));
        }
        if span_name != 0 {
            if let Some(s) = snap
                .strings
                .get(&(span_name as i64))
                .filter(|s| !s.is_empty())
            {
                pairs.push(("span_name", Cow::Borrowed(s)));
            }
        }
        let mut name = self.request.clone();
        for (k, v) in &pairs {
            name.insert(k, v, Precedence::Overwrite).map_err(|e| {
                Error::new(
                    ErrorKind::InvalidLabel(format!("context {ctx} label {k:?}: {e}")),
                    0,
                    "labels snapshot",
                )
            })?;
        }
        for l in &self.opts.exclude_labels {
            name.remove(l);
        }
        name.check(&self.opts.label_limits).map_err(|e| {
            Error::new(
                ErrorKind::InvalidLabel(format!("context {ctx}: {e}")),
                0,
                "labels snapshot",
            )
        })?;
        let key = name.key();
        let id = match self.label_index.get(&key) {
            Some(&id) => id,
            None => {
                let id = self.label_sets.len() as u32;
                self.label_index.insert(key, id);
                self.label_sets.push(name);
                id
            }
        };
        self.contexts.insert((ctx, span, span_name), id);
        Ok(id)
    }

    fn intern(&mut self, name: String) -> u32 {
        use std::hash::BuildHasher;
        let hash = self.hasher.hash_one(name.as_str());
        let frames = &self.frames;
        if let Some(&i) = self
            .frame_index
            .find(hash, |&i| *frames[i as usize] == *name)
        {
            return i;
        }
        let i = self.frames.len() as u32;
        self.frames.push(name.into_boxed_str());
        let (frames, hasher) = (&self.frames, &self.hasher);
        self.frame_index
            .insert_unique(hash, i, |&j| hasher.hash_one(&*frames[j as usize]));
        i
    }
}

/// The (profile type, value) pairs one aggregated event counts towards, zero values dropped:
/// `cpu` is the chunk's CPU type (`cpu` or `itimer`), `wall_mode` whether its `event` setting
/// is `wall`, `tps` its ticks per second (lock durations become nanoseconds), `split_locks`
/// [`Options::split_locks`].
fn targets_of(
    e: &Entry,
    (cpu, wall_mode, split_locks): (ProfileType, bool, bool),
    tps: u64,
    targets: &mut Vec<(ProfileType, u64)>,
) {
    use ProfileType::*;
    let [count, value] = e.values;
    targets.clear();
    match e.ev {
        Ev::Exec => {
            if e.state != State::Missing && e.state != State::Sleeping {
                targets.push((cpu, count));
            }
            if wall_mode {
                targets.push((Wall, count));
            }
        }
        Ev::WallClock => {
            targets.push((Wall, value));
            if wall_mode && e.state == State::Runnable {
                targets.push((cpu, value));
            }
        }
        Ev::InTlab => {
            targets.push((AllocInNewTlabObjects, count));
            targets.push((AllocInNewTlabBytes, value));
        }
        Ev::OutTlab => {
            targets.push((AllocOutsideTlabObjects, count));
            targets.push((AllocOutsideTlabBytes, value));
        }
        Ev::AllocSample => {
            targets.push((AllocSampleObjects, count));
            targets.push((AllocSampleBytes, value));
        }
        Ev::Monitor | Ev::Park => {
            let nanos = u128::from(value) * 1_000_000_000 / u128::from(tps);
            let nanos = u64::try_from(nanos).unwrap_or(u64::MAX);
            targets.push((LockCount, count));
            targets.push((LockDuration, nanos));
            if split_locks {
                let (c, d) = if e.ev == Ev::Monitor {
                    (MutexCount, MutexDuration)
                } else {
                    (BlockCount, BlockDuration)
                };
                targets.push((c, count));
                targets.push((d, nanos));
            }
        }
        Ev::Live => targets.push((Live, count)),
        Ev::Malloc => {
            targets.push((MallocObjects, count));
            targets.push((MallocBytes, value));
        }
        Ev::Setting => {}
    }
    targets.retain(|&(_, v)| v != 0);
}

/// Pushes the stack of every event that counts towards `profile` into `sink` (frames
/// `pkg/Class.method`, root first, passed as transient), every context and label set together:
/// for users with a sink of their own. Chunks are read one after the other on the calling
/// thread, whatever [`Options::threads`] says.
///
/// # Errors
/// The first malformed chunk, with the absolute offset and what was being read; a limit
/// exceeded.
pub fn read_into<'s, S: StackSink<'s>>(
    data: &[u8],
    profile: ProfileType,
    opts: &Options,
    mut sink: S,
) -> Result<()> {
    if data.len() > opts.limits.max_decompressed_size {
        return Err(Error::too_large(
            "recording size",
            opts.limits.max_decompressed_size,
            0,
        ));
    }
    let mut cache = None;
    let mut event: Option<String> = None;
    let mut targets = Vec::with_capacity(4);
    use ProfileType::{BlockCount, BlockDuration, MutexCount, MutexDuration};
    let split_locks = opts.split_locks
        || matches!(
            profile,
            MutexCount | MutexDuration | BlockCount | BlockDuration
        );
    for chunk in chunks(data) {
        let mut names: Vec<&str> = Vec::new();
        let chunk = chunk?;
        let out = read_chunk(chunk.data, &chunk.header, &mut cache, opts)
            .map_err(|e| e.shifted(chunk.offset))?;
        if out.event.is_some() {
            event = out.event.clone();
        }
        let ev = event.as_deref().unwrap_or("");
        let cpu = if ev == "itimer" {
            ProfileType::Itimer
        } else {
            ProfileType::Cpu
        };
        for e in &out.entries {
            targets_of(
                e,
                (cpu, ev == "wall", split_locks),
                out.ticks_per_second,
                &mut targets,
            );
            for &(pt, v) in &targets {
                if pt != profile {
                    continue;
                }
                let (fs, fl) = e.stack;
                names.clear();
                names.extend(
                    out.stack_frames[fs as usize..(fs + fl) as usize]
                        .iter()
                        .map(|&f| out.frames[f as usize].as_str()),
                );
                sink.add_transient(&names, v);
            }
        }
    }
    Ok(())
}
