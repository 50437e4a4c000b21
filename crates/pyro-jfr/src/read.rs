//! Reading one chunk: events read by compiled plans and aggregated per (stack, context), every
//! stack they use resolved once into frame names. Chunks are read independently (possibly on
//! several threads) and merged in file order by [`crate::Converter`].

use std::borrow::Cow;

use hashbrown::HashMap;

use crate::chunk::{ChunkHeader, HEADER_SIZE};
use crate::convert::Options;
use crate::error::{Error, ErrorKind, Result};
use crate::limits::Limits;
use crate::metadata::{Kind, Metadata, Op, Plan, merge_varints, skip_ops};
use crate::pools::{PoolTypes, Pools};
use crate::reader::{RawStr, Reader, record_at};
use crate::symbols::normalize;

type Hasher = foldhash::fast::RandomState;

/// The event types read; everything else is skipped by its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Ev {
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

    /// Adds one event: `Err(true)` when the value sum overflows, `Err(false)` when a new key
    /// would exceed `max` keys.
    #[inline]
    fn add(&mut self, key: Key, v: u64, max: usize) -> std::result::Result<(), bool> {
        let m = (key.stack ^ key.state.rotate_left(17) ^ key.ctx.rotate_left(31)) as usize % MEMO;
        let i = self.memo[m];
        let i = if i != u32::MAX && self.entries[i as usize].0 == key {
            i as usize
        } else {
            let n = self.entries.len() as u32;
            let i = *self.index.entry(key).or_insert(n);
            if i == n {
                if self.entries.len() >= max {
                    self.index.remove(&key);
                    return Err(false);
                }
                self.entries.push((key, [0, 0]));
            }
            self.memo[m] = i;
            i as usize
        };
        let e = &mut self.entries[i].1;
        e[0] += 1;
        e[1] = e[1].checked_add(v).ok_or(true)?;
        Ok(())
    }
}

/// Thread state of an ExecutionSample / WallClockSample.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Missing,
    Sleeping,
    Runnable,
    Other,
}

pub(crate) const NO_ID: u32 = u32::MAX;
/// An unused memo slot.
const EMPTY: u32 = u32::MAX - 1;
const METHOD_MEMO: usize = 4096;

/// The last metadata record content read and what was compiled from it.
pub(crate) type MetaCache = Option<(Vec<u8>, Bound)>;

/// What one chunk contributes, read independently of the other chunks.
pub(crate) struct ChunkOut {
    /// The chunk's `event` setting, if it has one.
    pub(crate) event: Option<String>,
    pub(crate) ticks_per_second: u64,
    pub(crate) entries: Vec<Entry>,
    /// Frame names local to the chunk, and every entry's stack as local frame ids (root first).
    pub(crate) frames: Vec<String>,
    pub(crate) stack_frames: Vec<u32>,
}

/// Events of one (event type, state, stack, context) summed: `[count, value]`.
pub(crate) struct Entry {
    pub(crate) ev: Ev,
    pub(crate) state: State,
    pub(crate) ctx: u64,
    pub(crate) span: u64,
    pub(crate) span_name: u64,
    /// Range of the stack in [`ChunkOut::stack_frames`].
    pub(crate) stack: (u32, u32),
    pub(crate) values: [u64; 2],
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
        let mut steps = crate::metadata::MAX_PLAN_OPS;
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
                    md.field_ops(ff, 1, &mut frame, &mut steps)?;
                }
                return Ok(method_at.map(|at| StackPlan {
                    before: merge_varints(before),
                    frame_post: merge_varints(frame[at + 1..].to_vec()),
                    frame_pre: merge_varints(frame[..at].to_vec()),
                }));
            }
            md.field_ops(f, 0, &mut before, &mut steps)?;
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
pub(crate) struct Bound {
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
        // A pool plan only when the class stores every wanted field (checked once, here).
        let plan_of = |class: Option<u32>, names: &[&str]| -> Result<Option<Plan>> {
            let plan = class
                .map(|c| md.plan(c, names))
                .transpose()
                .map_err(at_meta)?;
            Ok(plan.filter(|p| (0..names.len()).all(|i| p.has(i))))
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

/// Reads one chunk: its events aggregated, every stack they use resolved to frame names.
pub(crate) fn read_chunk(
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
                match agg.add(key, v, limits.max_event_keys) {
                    Ok(()) => {}
                    Err(true) => return Err(Error::new(ErrorKind::SumOverflow, pos, "event")),
                    Err(false) => {
                        return Err(Error::limit(
                            "distinct (stack, context) keys per chunk",
                            limits.max_event_keys,
                            pos,
                        ));
                    }
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
        match self.raw_string(off)? {
            Some((r, s)) => r.raw_eq(s, want),
            None => Ok(false),
        }
    }

    /// Decodes the string value at a chunk offset (resolving pool references once).
    fn string_at(&self, off: usize) -> Result<Option<Cow<'c, str>>> {
        match self.raw_string(off)? {
            Some((r, s)) => r.decode(s),
            None => Ok(None),
        }
    }

    /// The string value at a chunk offset, a `java.lang.String` pool reference followed once
    /// (`None` when the key is not in the pool), with the reader it was read by.
    fn raw_string(&self, off: usize) -> Result<Option<(Reader<'c>, RawStr<'c>)>> {
        let mut r = Reader::new(self.data, off);
        let s = r.raw_str(self.max_str)?;
        let RawStr::Pool(key) = s else {
            return Ok(Some((r, s)));
        };
        let Some(&at) = self.pools.strings.get(&key) else {
            return Ok(None);
        };
        let mut r = Reader::new(self.data, at as usize);
        let s = r.raw_str(self.max_str)?;
        Ok(Some((r, s)))
    }

    /// Reads the `N` stored fields of the pool value at `off` (`None` without a plan: the class
    /// is absent or lacks one of the fields).
    fn fields<const N: usize>(&self, plan: &Option<Plan>, off: u32) -> Result<Option<[u64; N]>> {
        let Some(plan) = plan else { return Ok(None) };
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
