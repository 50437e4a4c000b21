//! From chunks to Pyroscope series: events aggregated per (stack, context), stacks resolved
//! once per chunk, one tree per (profile type, label set).

use std::borrow::Cow;

use hashbrown::HashMap;
use pyro_labels::{Precedence, SeriesName};
use pyro_tree::{FrameId, StackTree};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use crate::chunk::{Chunk, ChunkHeader, HEADER_SIZE, chunks};
use crate::error::{Error, ErrorKind, Result};
use crate::labels::LabelsSnapshot;
use crate::limits::Limits;
use crate::metadata::{Kind, Metadata, Op, Plan, merge_varints, skip_ops};
use crate::pools::{PoolTypes, Pools};
use crate::reader::{RawStr, Reader, record_at};
use crate::symbols::normalize;

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
    /// Default: the available parallelism, at most 4.
    pub threads: usize,
    /// Smallest input (of several chunks) read on more than one thread (default 1 MiB).
    pub parallel_min_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sample_rate: 100,
            exclude_labels: EXCLUDED_LABELS.iter().map(|s| (*s).to_owned()).collect(),
            limits: Limits::default(),
            label_limits: pyro_labels::Limits::default(),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
            parallel_min_bytes: 1 << 20,
        }
    }
}

/// The event types read; everything else is skipped by its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Ev {
    Exec,
    WallClock,
    InTlab,
    OutTlab,
    AllocSample,
    Monitor,
    Park,
    Live,
    Malloc,
    Setting,
}

/// Event class, the field carrying its value, and whether it carries context correlation.
const EVENTS: [(&str, Ev, &str, bool); 10] = [
    ("jdk.ExecutionSample", Ev::Exec, "", true),
    ("profiler.WallClockSample", Ev::WallClock, "samples", true),
    (
        "jdk.ObjectAllocationInNewTLAB",
        Ev::InTlab,
        "tlabSize",
        true,
    ),
    (
        "jdk.ObjectAllocationOutsideTLAB",
        Ev::OutTlab,
        "allocationSize",
        true,
    ),
    (
        "jdk.ObjectAllocationSample",
        Ev::AllocSample,
        "weight",
        false,
    ),
    ("jdk.JavaMonitorEnter", Ev::Monitor, "duration", true),
    ("jdk.ThreadPark", Ev::Park, "duration", false),
    ("profiler.LiveObject", Ev::Live, "", false),
    ("profiler.Malloc", Ev::Malloc, "size", false),
    ("jdk.ActiveSetting", Ev::Setting, "", false),
];

// Slots of the fields read from an event.
const S_STACK: usize = 0;
const S_STATE: usize = 1;
const S_CTX: usize = 2;
const S_SPAN: usize = 3;
const S_SPAN_NAME: usize = 4;
const S_VALUE: usize = 5;
const S_NAME: usize = 6;
const S_SETTING: usize = 7;
const NSLOTS: usize = 8;

/// The fields to read from one event type of a chunk.
struct EventPlan {
    ev: Ev,
    plan: Plan,
}

/// Aggregation key of events within a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    ev: Ev,
    state: u64,
    stack: u64,
    ctx: u64,
    span: u64,
    span_name: u64,
}

impl std::hash::Hash for Key {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        // Fewer writes than the derived impl: the event kind shares a word with the state (at
        // most ten keys per state can collide), and the context fields are usually all zero.
        h.write_u64(self.stack);
        h.write_u64(self.state ^ ((self.ev as u64) << 56));
        if self.ctx | self.span | self.span_name != 0 {
            h.write_u64(self.ctx);
            h.write_u64(self.span);
            h.write_u64(self.span_name);
        }
    }
}

/// Events of a chunk summed per key: `[count, value]`.
struct Agg {
    entries: Vec<(Key, [u64; 2])>,
    index: HashMap<Key, u32, Hasher>,
    /// A direct-mapped memo of recent keys in front of the hash table (consecutive events
    /// mostly reuse a few keys); a collision only costs a table lookup.
    memo: Vec<u32>,
}

const MEMO: usize = 1024;

impl Agg {
    fn new() -> Self {
        Agg {
            entries: Vec::new(),
            index: HashMap::with_hasher(Hasher::default()),
            memo: vec![u32::MAX; MEMO],
        }
    }

    /// Adds one event; false when the value sum overflows.
    #[inline]
    fn add(&mut self, key: Key, v: u64) -> bool {
        let m = (key.stack ^ key.state.rotate_left(17) ^ key.ctx.rotate_left(31)) as usize % MEMO;
        let i = self.memo[m];
        let i = if i != u32::MAX && self.entries[i as usize].0 == key {
            i as usize
        } else {
            let n = self.entries.len() as u32;
            let i = *self.index.entry(key).or_insert(n);
            if i == n {
                self.entries.push((key, [0, 0]));
            }
            self.memo[m] = i;
            i as usize
        };
        let e = &mut self.entries[i].1;
        e[0] += 1;
        match e[1].checked_add(v) {
            Some(s) => {
                e[1] = s;
                true
            }
            None => false,
        }
    }
}

/// Thread state of an ExecutionSample / WallClockSample.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Missing,
    Sleeping,
    Runnable,
    Other,
}

/// A tree being built, with the ids its interner gave the recording's frames.
struct Building {
    profile: ProfileType,
    labels: u32,
    tree: StackTree<'static>,
    ids: Vec<u32>,
}

const NO_ID: u32 = u32::MAX;
/// An unused memo slot.
const EMPTY: u32 = u32::MAX - 1;
const METHOD_MEMO: usize = 4096;

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
    frame_index: HashMap<Box<str>, u32, Hasher>,
    /// (context id, span id, span name id) → label set.
    contexts: HashMap<(u64, u64, u64), u32, Hasher>,
    /// Label sets (series names without suffix) and their index by storage key.
    label_sets: Vec<SeriesName>,
    label_index: HashMap<String, u32, Hasher>,
    /// (profile, label set) → index in `series`.
    series_index: HashMap<(ProfileType, u32), u32, Hasher>,
    series: Vec<Building>,
    /// The last chunk's metadata record and what was compiled from it.
    cache: MetaCache,
}

/// The last metadata record content read and what was compiled from it.
type MetaCache = Option<(Vec<u8>, Bound)>;

/// What one chunk contributes, read independently of the other chunks.
struct ChunkOut {
    /// The chunk's `event` setting, if it has one.
    event: Option<String>,
    ticks_per_second: u64,
    entries: Vec<Entry>,
    /// Frame names local to the chunk, and every entry's stack as local frame ids (root first).
    frames: Vec<String>,
    stack_frames: Vec<u32>,
}

/// Events of one (event type, state, stack, context) summed: `[count, value]`.
struct Entry {
    ev: Ev,
    state: State,
    ctx: u64,
    span: u64,
    span_name: u64,
    /// Range of the stack in [`ChunkOut::stack_frames`].
    stack: (u32, u32),
    values: [u64; 2],
}

/// How to read the frames of a `jdk.types.StackTrace` value.
struct StackPlan {
    /// Steps of the fields before `frames`.
    before: Vec<Op>,
    /// Steps of one `StackFrame` before and after its `method` key.
    frame_pre: Vec<Op>,
    frame_post: Vec<Op>,
}

impl StackPlan {
    fn new(md: &Metadata, class: u32) -> Result<Option<StackPlan>> {
        let mut before = Vec::new();
        for f in &md.classes[class as usize].fields {
            if f.name == "frames" {
                let (Kind::Struct(frame_class), true, false) = (f.kind, f.array, f.cp) else {
                    return Ok(None);
                };
                let mut frame = Vec::new();
                let mut method_at = None;
                for ff in &md.classes[frame_class as usize].fields {
                    if ff.name == "method" && (ff.cp || ff.kind == Kind::Varint) && !ff.array {
                        method_at = Some(frame.len());
                    }
                    md.field_ops(ff, 1, &mut frame)?;
                }
                return Ok(method_at.map(|at| StackPlan {
                    before: merge_varints(before),
                    frame_post: merge_varints(frame[at + 1..].to_vec()),
                    frame_pre: merge_varints(frame[..at].to_vec()),
                }));
            }
            md.field_ops(f, 0, &mut before)?;
        }
        Ok(None)
    }
}

/// The content of the metadata record at `pos`: its bytes after the record header, start
/// time, duration and id (the string table and the element tree), which define the classes.
fn metadata_record(data: &[u8], pos: usize) -> Result<&[u8]> {
    let (_, mut r) = record_at(data, pos, "metadata")?;
    for _ in 0..3 {
        r.varint()?; // start time, duration, metadata id
    }
    Ok(&data[r.pos()..r.pos() + r.remaining()])
}

/// A chunk's metadata with everything compiled from it.
struct Bound {
    md: Metadata,
    types: PoolTypes,
    plans: Vec<EventPlan>,
    by_id: HashMap<u64, u8, Hasher>,
    /// Plan index by type id for ids below 1024 (`u8::MAX`: not read).
    dense: Vec<u8>,
    stack_plan: Option<StackPlan>,
    method_plan: Option<Plan>,
    class_plan: Option<Plan>,
    symbol_plan: Option<Plan>,
    state_plan: Option<Plan>,
    /// Steps of each pool type, compiled on first use.
    pool_ops: std::cell::Cell<crate::pools::PoolOps>,
}

impl Bound {
    fn new(data: &[u8], h: &ChunkHeader, limits: &Limits) -> Result<Bound> {
        let md = Metadata::parse(data, h.meta_offset as usize, limits)?;
        let types = PoolTypes::bind(&md);
        let at_meta = |e: Error| e.shifted(h.meta_offset as usize);
        let mut plans: Vec<EventPlan> = Vec::new();
        let mut by_id: HashMap<u64, u8, Hasher> = HashMap::with_hasher(Hasher::default());
        for (name, ev, value, correlated) in EVENTS {
            let Some(class) = md.class_by_name(name) else {
                continue;
            };
            let mut wanted = [""; NSLOTS];
            if ev == Ev::Setting {
                wanted[S_NAME] = "name";
                wanted[S_SETTING] = "value";
            } else {
                wanted[S_STACK] = "stackTrace";
                wanted[S_STATE] = "state";
                wanted[S_VALUE] = value;
                if correlated {
                    wanted[S_CTX] = "contextId";
                    wanted[S_SPAN] = "spanId";
                    wanted[S_SPAN_NAME] = "spanName";
                }
            }
            let plan = md.plan(class, &wanted).map_err(at_meta)?;
            by_id.insert(md.classes[class as usize].id, plans.len() as u8);
            plans.push(EventPlan { ev, plan });
        }
        let mut dense = vec![u8::MAX; 1024];
        for (&id, &p) in &by_id {
            if id < 1024 {
                dense[id as usize] = p;
            }
        }
        let plan_of = |class: Option<u32>, names: &[&str]| -> Result<Option<Plan>> {
            class
                .map(|c| md.plan(c, names))
                .transpose()
                .map_err(at_meta)
        };
        Ok(Bound {
            stack_plan: match types.stack {
                Some(c) => StackPlan::new(&md, c).map_err(at_meta)?,
                None => None,
            },
            method_plan: plan_of(types.method, &["type", "name"])?,
            class_plan: plan_of(types.class, &["name"])?,
            symbol_plan: plan_of(types.symbol, &["string"])?,
            state_plan: plan_of(types.state, &["name"])?,
            pool_ops: Default::default(),
            md,
            types,
            plans,
            by_id,
            dense,
        })
    }
}

/// Per-chunk state while resolving stacks.
struct ChunkCtx<'c> {
    data: &'c [u8],
    b: &'c Bound,
    pools: Pools,
    methods: HashMap<u64, u32, Hasher>,
    /// Direct-mapped memo in front of `methods` (stacks repeat the same methods).
    method_memo: Vec<(u64, u32)>,
    stacks: HashMap<u64, (u32, u32), Hasher>,
    stack_frames: Vec<u32>,
    /// Frame names resolved in this chunk (ids in `stack_frames` index them).
    frames: Vec<String>,
    states: HashMap<u64, State, Hasher>,
    max_str: usize,
    max_depth: usize,
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
            frame_index: HashMap::with_hasher(Hasher::default()),
            contexts,
            label_sets,
            label_index,
            series_index: HashMap::with_hasher(Hasher::default()),
            series: Vec::new(),
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
            return Err(Error::limit(
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

    /// The series, sorted by name then profile type.
    pub fn finish(self) -> Vec<Series> {
        let sets = self.label_sets;
        let rate = self.opts.sample_rate;
        let mut out: Vec<Series> = self
            .series
            .into_iter()
            .map(|b| Series {
                name: sets[b.labels as usize].with_suffix(b.profile.suffix()),
                profile: b.profile,
                sample_rate: rate,
                tree: b.tree,
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

/// Reads one chunk: its events aggregated, every stack they use resolved to frame names.
fn read_chunk(
    data: &[u8],
    h: &ChunkHeader,
    cache: &mut MetaCache,
    opts: &Options,
) -> Result<ChunkOut> {
    if data.len() > u32::MAX as usize {
        return Err(Error::limit("chunk size", u32::MAX as usize, 0));
    }
    let limits = opts.limits;
    // Chunks of one recording usually repeat the same metadata byte for byte; then the
    // classes and plans of the previous chunk are reused (never on a mere id match).
    let meta = metadata_record(data, h.meta_offset as usize)?;
    let bound = match cache.take() {
        Some((bytes, b)) if bytes == meta => (bytes, b),
        _ => (meta.to_vec(), Bound::new(data, h, &limits)?),
    };
    let b = &bound.1;
    let mut pool_ops = b.pool_ops.take();
    let pools = Pools::read(
        data,
        h.cp_offset as usize,
        &b.md,
        &b.types,
        &limits,
        &mut pool_ops,
    );
    b.pool_ops.set(pool_ops);
    let pools = pools?;
    let max_str = limits.max_string_len;
    let mut ctx = ChunkCtx {
        data,
        b,
        pools,
        methods: HashMap::with_hasher(Hasher::default()),
        method_memo: vec![(0, EMPTY); METHOD_MEMO],
        stacks: HashMap::with_hasher(Hasher::default()),
        stack_frames: Vec::new(),
        frames: Vec::new(),
        states: HashMap::with_hasher(Hasher::default()),
        max_str,
        max_depth: limits.max_stack_depth,
    };
    let (plans, dense, by_id) = (&b.plans, &b.dense, &b.by_id);
    let mut agg = Agg::new();
    let mut event: Option<String> = None;
    let mut pos = HEADER_SIZE;
    let mut out = [0u64; NSLOTS];
    while pos < data.len() {
        let mut r = Reader::new(data, pos);
        let size = r.varint()?;
        if size == 0 || size > (data.len() - pos) as u64 {
            return Err(Error::new(ErrorKind::BadRecordSize(size), pos, "record"));
        }
        let end = pos + size as usize;
        let ty = r.varint()?;
        let plan = if ty < 1024 {
            dense[ty as usize]
        } else {
            by_id.get(&ty).copied().unwrap_or(u8::MAX)
        };
        if plan != u8::MAX {
            let plan = &plans[plan as usize];
            // Read over the whole chunk (so eight-byte varint loads work near the record's
            // end), then check that the fields stayed inside the record.
            out.fill(0);
            plan.plan.read(&mut r, &mut out, max_str).map_err(|e| {
                let at = e.offset();
                Error::new(e.kind().clone(), at, "event")
            })?;
            if r.pos() > end {
                return Err(Error::new(ErrorKind::Truncated, end, "event"));
            }
            if plan.ev == Ev::Setting {
                if plan.plan.has(S_NAME) && ctx.string_is(out[S_NAME] as usize, "event")? {
                    let v = if plan.plan.has(S_SETTING) {
                        ctx.string_at(out[S_SETTING] as usize)?
                    } else {
                        None
                    };
                    event = Some(v.map(Cow::into_owned).unwrap_or_default());
                }
            } else if out[S_STACK] != 0 {
                let key = Key {
                    ev: plan.ev,
                    state: out[S_STATE],
                    stack: out[S_STACK],
                    ctx: out[S_CTX],
                    span: out[S_SPAN],
                    span_name: out[S_SPAN_NAME],
                };
                let v = if plan.ev == Ev::WallClock {
                    out[S_VALUE] as u32 as u64
                } else {
                    out[S_VALUE]
                };
                if !agg.add(key, v) {
                    return Err(Error::new(ErrorKind::SumOverflow, pos, "event"));
                }
            }
        }
        pos = end;
    }
    // Deterministic order, so frame ids do not depend on hashing.
    let mut raw = agg.entries;
    raw.sort_unstable_by_key(|(k, _)| (k.stack, k.ctx, k.span, k.span_name, k.state, k.ev as u8));
    let mut entries = Vec::with_capacity(raw.len());
    for (key, values) in raw {
        let Some(stack) = ctx.stack(key.stack)? else {
            continue;
        };
        let state = match key.ev {
            Ev::Exec | Ev::WallClock => ctx.state(key.state)?,
            _ => State::Missing,
        };
        entries.push(Entry {
            ev: key.ev,
            state,
            ctx: key.ctx,
            span: key.span,
            span_name: key.span_name,
            stack,
            values,
        });
    }
    let out = ChunkOut {
        event,
        ticks_per_second: h.ticks_per_second,
        entries,
        frames: std::mem::take(&mut ctx.frames),
        stack_frames: std::mem::take(&mut ctx.stack_frames),
    };
    drop(ctx);
    *cache = Some(bound);
    Ok(out)
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
        let mut targets: Vec<(ProfileType, u64)> = Vec::with_capacity(2);
        let mut ids: Vec<FrameId> = Vec::new();
        // (series, frames start, frames len, value) of every stack to add.
        let mut work: Vec<(u32, u32, u32, u64)> = Vec::with_capacity(out.entries.len());
        for e in out.entries {
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
                    targets.push((LockCount, count));
                    targets.push((LockDuration, u64::try_from(nanos).unwrap_or(u64::MAX)));
                }
                Ev::Live => targets.push((Live, count)),
                Ev::Malloc => {
                    targets.push((MallocObjects, count));
                    targets.push((MallocBytes, value));
                }
                Ev::Setting => {}
            }
            targets.retain(|&(_, v)| v != 0);
            if targets.is_empty() {
                continue;
            }
            let (fs, fl) = e.stack;
            let labels = self.label_set(e.ctx, e.span, e.span_name)?;
            for &(profile, v) in &targets {
                let series = self.series_for(profile, labels)? as u32;
                work.push((series, fs, fl, v));
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
        for (series, fs, fl, v) in work {
            let b = &mut self.series[series as usize];
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
        Ok(())
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
        if let Some(&i) = self.frame_index.get(name.as_str()) {
            return i;
        }
        let i = self.frames.len() as u32;
        let name: Box<str> = name.into_boxed_str();
        self.frames.push(name.clone());
        self.frame_index.insert(name, i);
        i
    }
}

impl<'c> ChunkCtx<'c> {
    /// The frames of a stack trace, root first, as a range of `ctx.stack_frames`.
    fn stack(&mut self, key: u64) -> Result<Option<(u32, u32)>> {
        if let Some(&r) = self.stacks.get(&key) {
            return Ok((r.0 != NO_ID).then_some(r));
        }
        let resolved = self.resolve_stack(key)?;
        self.stacks.insert(key, resolved.unwrap_or((NO_ID, 0)));
        Ok(resolved)
    }

    fn resolve_stack(&mut self, key: u64) -> Result<Option<(u32, u32)>> {
        let (Some(plan), Some(&off)) = (&self.b.stack_plan, self.pools.stacks.get(&key)) else {
            return Ok(None);
        };
        let mut r = Reader::new(self.data, off as usize);
        skip_ops(&mut r, &plan.before, self.max_str)?;
        let max_depth = self.max_depth;
        let at = r.pos();
        let n = r.varint()?;
        if n > max_depth as u64 {
            return Err(Error::limit("stack depth", max_depth, at));
        }
        if n > r.remaining() as u64 {
            return Err(Error::new(ErrorKind::Truncated, at, "stack trace"));
        }
        let mut methods: Vec<u64> = Vec::with_capacity(n as usize);
        for _ in 0..n {
            skip_ops(&mut r, &plan.frame_pre, self.max_str)?;
            methods.push(r.varint()?);
            skip_ops(&mut r, &plan.frame_post, self.max_str)?;
        }
        let start = self.stack_frames.len();
        // JFR lists the leaf first.
        for &m in methods.iter().rev() {
            if let Some(f) = self.method_frame(m)? {
                self.stack_frames.push(f);
            }
        }
        Ok(Some((
            start as u32,
            (self.stack_frames.len() - start) as u32,
        )))
    }

    /// The chunk-local `class.method` frame of a method key (`None` when the method, its class or
    /// a name is missing, as OG skips such frames).
    fn method_frame(&mut self, key: u64) -> Result<Option<u32>> {
        let m = (key ^ (key >> 24)) as usize % METHOD_MEMO;
        let (k, f) = self.method_memo[m];
        if k == key && f != EMPTY {
            return Ok((f != NO_ID).then_some(f));
        }
        let f = match self.methods.get(&key) {
            Some(&f) => f,
            None => {
                let f = match self.method_name(key)? {
                    Some(name) => {
                        self.frames.push(name);
                        self.frames.len() as u32 - 1
                    }
                    None => NO_ID,
                };
                self.methods.insert(key, f);
                f
            }
        };
        self.method_memo[m] = (key, f);
        Ok((f != NO_ID).then_some(f))
    }

    /// Whether the string value at a chunk offset is `want` (resolving a pool reference).
    fn string_is(&self, off: usize, want: &str) -> Result<bool> {
        let mut r = Reader::new(self.data, off);
        let s = r.raw_str(self.max_str)?;
        if let RawStr::Pool(key) = s {
            let Some(&at) = self.pools.strings.get(&key) else {
                return Ok(false);
            };
            let mut r = Reader::new(self.data, at as usize);
            let s = r.raw_str(self.max_str)?;
            return r.raw_eq(s, want);
        }
        r.raw_eq(s, want)
    }

    /// Decodes the string value at a chunk offset (resolving pool references once).
    fn string_at(&self, off: usize) -> Result<Option<Cow<'c, str>>> {
        let mut r = Reader::new(self.data, off);
        let s = r.raw_str(self.max_str)?;
        if let RawStr::Pool(key) = s {
            let Some(&at) = self.pools.strings.get(&key) else {
                return Ok(None);
            };
            let mut r = Reader::new(self.data, at as usize);
            let s = r.raw_str(self.max_str)?;
            return r.decode(s);
        }
        r.decode(s)
    }

    /// Reads the `N` stored fields of the pool value at `off` (`None` when the class lacks one).
    fn fields<const N: usize>(&self, plan: &Option<Plan>, off: u32) -> Result<Option<[u64; N]>> {
        let Some(plan) = plan else { return Ok(None) };
        if !(0..N).all(|i| plan.has(i)) {
            return Ok(None);
        }
        let mut out = [0u64; N];
        let mut r = Reader::new(self.data, off as usize);
        plan.read(&mut r, &mut out, self.max_str)?;
        Ok(Some(out))
    }

    fn symbol(&self, key: u64) -> Result<Option<Cow<'c, str>>> {
        let Some(&off) = self.pools.symbols.get(&key) else {
            return Ok(None);
        };
        match self.fields(&self.b.symbol_plan, off)? {
            Some([s]) => self.string_at(s as usize),
            None => Ok(None),
        }
    }

    fn method_name(&self, key: u64) -> Result<Option<String>> {
        let Some(&off) = self.pools.methods.get(&key) else {
            return Ok(None);
        };
        let Some([ty, name]) = self.fields(&self.b.method_plan, off)? else {
            return Ok(None);
        };
        let Some(&coff) = self.pools.classes.get(&ty) else {
            return Ok(None);
        };
        let Some([cname]) = self.fields(&self.b.class_plan, coff)? else {
            return Ok(None);
        };
        let (Some(class_name), Some(method)) = (self.symbol(cname)?, self.symbol(name)?) else {
            return Ok(None);
        };
        let (c, m) = (normalize(&class_name), normalize(&method));
        let mut out = String::with_capacity(c.len() + 1 + m.len());
        out.push_str(&c);
        out.push('.');
        out.push_str(&m);
        Ok(Some(out))
    }

    fn state(&mut self, key: u64) -> Result<State> {
        if let Some(&s) = self.states.get(&key) {
            return Ok(s);
        }
        let s = match self.pools.states.get(&key) {
            Some(&off) => match self.fields(&self.b.state_plan, off)? {
                Some([name]) => match self.string_at(name as usize)?.as_deref() {
                    Some("STATE_SLEEPING") => State::Sleeping,
                    Some("STATE_RUNNABLE") => State::Runnable,
                    Some(_) => State::Other,
                    None => State::Missing,
                },
                None => State::Missing,
            },
            None => State::Missing,
        };
        self.states.insert(key, s);
        Ok(s)
    }
}
