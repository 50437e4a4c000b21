//! A minimal JFR writer, for examples, tests and fuzz seeds.
//!
//! It writes one chunk in the layout async-profiler uses (metadata at offset 68, events, one
//! checkpoint at the end) with the classes the converter reads: `jdk.ExecutionSample`,
//! `jdk.ObjectAllocationInNewTLAB`, `jdk.JavaMonitorEnter` (all with a trailing `contextId`),
//! `jdk.ThreadPark` (without one, as async-profiler writes it) and `jdk.ActiveSetting`. It is not a general JFR writer.

use std::collections::BTreeMap;

/// A recording being described; [`Recording::build`] writes it.
#[derive(Debug, Clone)]
pub struct Recording {
    ticks_per_second: u64,
    utf16: bool,
    events: Vec<Event>,
}

#[derive(Debug, Clone)]
enum Event {
    Setting(String, String),
    Exec {
        stack: Vec<String>,
        state: String,
        ctx: u64,
        /// (spanId, spanName string id in the labels snapshot).
        span: (u64, u64),
    },
    Alloc {
        stack: Vec<String>,
        size: u64,
        ctx: u64,
    },
    Monitor {
        stack: Vec<String>,
        ticks: u64,
        ctx: u64,
    },
    Park {
        stack: Vec<String>,
        ticks: u64,
    },
}

impl Default for Recording {
    fn default() -> Self {
        Self::new()
    }
}

// Type ids of the synthetic metadata.
const T_LONG: u64 = 1;
const T_INT: u64 = 2;
const T_BOOLEAN: u64 = 3;
const T_STRING: u64 = 4;
const T_SYMBOL: u64 = 10;
const T_CLASS: u64 = 11;
const T_METHOD: u64 = 12;
const T_FRAME: u64 = 13;
const T_STACK: u64 = 14;
const T_STATE: u64 = 15;
const T_EXEC: u64 = 101;
const T_SETTING: u64 = 102;
const T_ALLOC: u64 = 103;
const T_MONITOR: u64 = 104;
const T_PARK: u64 = 105;

impl Recording {
    /// An empty recording with a 1 GHz clock.
    pub fn new() -> Self {
        Recording {
            ticks_per_second: 1_000_000_000,
            utf16: false,
            events: Vec::new(),
        }
    }

    /// The chunk's ticks per second (durations are in ticks).
    pub fn ticks_per_second(mut self, tps: u64) -> Self {
        self.ticks_per_second = tps;
        self
    }

    /// Writes symbols as UTF-16 char arrays (string encoding 4, as the JDK does) instead of UTF-8.
    pub fn utf16_symbols(mut self, yes: bool) -> Self {
        self.utf16 = yes;
        self
    }

    /// A `jdk.ActiveSetting` event (`name = "event"` selects cpu/itimer/wall).
    pub fn setting(mut self, name: &str, value: &str) -> Self {
        self.events
            .push(Event::Setting(name.to_owned(), value.to_owned()));
        self
    }

    /// A `jdk.ExecutionSample`; `stack` is root first, frames `Class.method`.
    pub fn execution_sample(mut self, stack: &[&str], state: &str, context_id: u64) -> Self {
        self.events.push(Event::Exec {
            stack: stack.iter().map(|s| (*s).to_owned()).collect(),
            state: state.to_owned(),
            ctx: context_id,
            span: (0, 0),
        });
        self
    }

    /// A `jdk.ExecutionSample` taken in a span, as newer builds of the Grafana fork of
    /// async-profiler write it: `spanId` and `spanName` (a string id of the labels snapshot)
    /// before `contextId`. Once a recording has one, every ExecutionSample carries the fields.
    pub fn execution_sample_in_span(
        mut self,
        stack: &[&str],
        state: &str,
        context_id: u64,
        (span_id, span_name): (u64, u64),
    ) -> Self {
        self.events.push(Event::Exec {
            stack: stack.iter().map(|s| (*s).to_owned()).collect(),
            state: state.to_owned(),
            ctx: context_id,
            span: (span_id, span_name),
        });
        self
    }

    /// A `jdk.ObjectAllocationInNewTLAB` of `tlab_size` bytes.
    pub fn allocation(mut self, stack: &[&str], tlab_size: u64, context_id: u64) -> Self {
        self.events.push(Event::Alloc {
            stack: stack.iter().map(|s| (*s).to_owned()).collect(),
            size: tlab_size,
            ctx: context_id,
        });
        self
    }

    /// A `jdk.JavaMonitorEnter` lasting `ticks`.
    pub fn monitor_enter(mut self, stack: &[&str], ticks: u64, context_id: u64) -> Self {
        self.events.push(Event::Monitor {
            stack: stack.iter().map(|s| (*s).to_owned()).collect(),
            ticks,
            ctx: context_id,
        });
        self
    }

    /// A `jdk.ThreadPark` lasting `ticks` (no context: async-profiler writes none for parks).
    pub fn thread_park(mut self, stack: &[&str], ticks: u64) -> Self {
        self.events.push(Event::Park {
            stack: stack.iter().map(|s| (*s).to_owned()).collect(),
            ticks,
        });
        self
    }

    /// Writes the chunk.
    pub fn build(&self) -> Vec<u8> {
        let mut pools = PoolBuilder::default();
        let mut events = Vec::new();
        let span_fields = self
            .events
            .iter()
            .any(|e| matches!(e, Event::Exec { span, .. } if *span != (0, 0)));
        for e in &self.events {
            let mut p = Vec::new();
            match e {
                Event::Setting(name, value) => {
                    varint(&mut p, T_SETTING);
                    varint(&mut p, 0); // startTime
                    varint(&mut p, T_EXEC); // id
                    utf8(&mut p, name);
                    utf8(&mut p, value);
                }
                Event::Exec {
                    stack,
                    state,
                    ctx,
                    span,
                } => {
                    varint(&mut p, T_EXEC);
                    varint(&mut p, 0);
                    varint(&mut p, pools.stack(stack));
                    varint(&mut p, pools.state(state));
                    if span_fields {
                        varint(&mut p, span.0);
                        varint(&mut p, span.1);
                    }
                    varint(&mut p, *ctx);
                }
                Event::Alloc { stack, size, ctx } => {
                    varint(&mut p, T_ALLOC);
                    varint(&mut p, 0);
                    varint(&mut p, pools.stack(stack));
                    varint(&mut p, *size);
                    varint(&mut p, *ctx);
                }
                Event::Monitor { stack, ticks, ctx } => {
                    varint(&mut p, T_MONITOR);
                    varint(&mut p, 0);
                    varint(&mut p, *ticks);
                    varint(&mut p, pools.stack(stack));
                    varint(&mut p, *ctx);
                }
                Event::Park { stack, ticks } => {
                    varint(&mut p, T_PARK);
                    varint(&mut p, 0);
                    varint(&mut p, *ticks);
                    varint(&mut p, pools.stack(stack));
                }
            }
            record(&mut events, &p, false);
        }
        let mut out = vec![0u8; 68];
        let meta_offset = out.len();
        record(&mut out, &metadata(span_fields), true);
        out.extend_from_slice(&events);
        let cp_offset = out.len();
        record(&mut out, &pools.checkpoint(self.utf16), true);
        let size = out.len() as u64;
        out[0..4].copy_from_slice(b"FLR\0");
        out[4..6].copy_from_slice(&2u16.to_be_bytes());
        out[6..8].copy_from_slice(&0u16.to_be_bytes());
        for (at, v) in [
            (8, size),
            (16, cp_offset as u64),
            (24, meta_offset as u64),
            (32, 1_600_000_000_000_000_000),
            (40, 10_000_000_000),
            (48, 0),
            (56, self.ticks_per_second),
        ] {
            out[at..at + 8].copy_from_slice(&v.to_be_bytes());
        }
        out[64..68].copy_from_slice(&1u32.to_be_bytes());
        out
    }
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    for _ in 0..8 {
        if v < 0x80 {
            out.push(v as u8);
            return;
        }
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn utf8(out: &mut Vec<u8>, s: &str) {
    out.push(3);
    varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn utf16(out: &mut Vec<u8>, s: &str) {
    let units: Vec<u16> = s.encode_utf16().collect();
    out.push(4);
    varint(out, units.len() as u64);
    for u in units {
        varint(out, u64::from(u));
    }
}

/// Appends `size, payload`; the size is padded to 5 bytes for metadata and checkpoints, as
/// async-profiler writes it.
fn record(out: &mut Vec<u8>, payload: &[u8], padded: bool) {
    if padded {
        let size = payload.len() as u64 + 5;
        for i in 0..4 {
            out.push(((size >> (7 * i)) as u8 & 0x7f) | 0x80);
        }
        out.push((size >> 28) as u8 & 0x7f);
    } else {
        let mut n = payload.len() as u64 + 1;
        loop {
            let mut tmp = Vec::new();
            varint(&mut tmp, n);
            if tmp.len() as u64 + payload.len() as u64 == n {
                out.extend_from_slice(&tmp);
                break;
            }
            n = tmp.len() as u64 + payload.len() as u64;
        }
    }
    out.extend_from_slice(payload);
}

#[derive(Default)]
struct PoolBuilder {
    symbols: BTreeMap<String, u64>,
    classes: BTreeMap<String, (u64, u64)>,
    methods: BTreeMap<(String, String), (u64, u64, u64)>,
    stacks: BTreeMap<Vec<String>, (u64, Vec<u64>)>,
    states: BTreeMap<String, u64>,
}

impl PoolBuilder {
    fn symbol(&mut self, s: &str) -> u64 {
        let n = self.symbols.len() as u64 + 1;
        *self.symbols.entry(s.to_owned()).or_insert(n)
    }
    fn class(&mut self, name: &str) -> u64 {
        if let Some(&(k, _)) = self.classes.get(name) {
            return k;
        }
        let sym = self.symbol(name);
        let k = self.classes.len() as u64 + 1;
        self.classes.insert(name.to_owned(), (k, sym));
        k
    }
    fn method(&mut self, frame: &str) -> u64 {
        let (class, name) = frame.rsplit_once('.').unwrap_or(("", frame));
        let key = (class.to_owned(), name.to_owned());
        if let Some(&(k, _, _)) = self.methods.get(&key) {
            return k;
        }
        let c = self.class(class);
        let s = self.symbol(name);
        let k = self.methods.len() as u64 + 1;
        self.methods.insert(key, (k, c, s));
        k
    }
    fn stack(&mut self, frames: &[String]) -> u64 {
        if let Some((k, _)) = self.stacks.get(frames) {
            return *k;
        }
        // Leaf first on the wire.
        let methods: Vec<u64> = frames.iter().rev().map(|f| self.method(f)).collect();
        let k = self.stacks.len() as u64 + 1;
        self.stacks.insert(frames.to_vec(), (k, methods));
        k
    }
    fn state(&mut self, s: &str) -> u64 {
        let n = self.states.len() as u64 + 1;
        *self.states.entry(s.to_owned()).or_insert(n)
    }

    fn checkpoint(&self, utf16_symbols: bool) -> Vec<u8> {
        let mut p = Vec::new();
        varint(&mut p, 1); // type
        varint(&mut p, 0); // start
        varint(&mut p, 0); // duration
        varint(&mut p, 0); // delta: the only checkpoint
        varint(&mut p, 1); // type mask: flush
        varint(&mut p, 5); // pools
        varint(&mut p, T_SYMBOL);
        varint(&mut p, self.symbols.len() as u64);
        for (s, k) in &self.symbols {
            varint(&mut p, *k);
            if utf16_symbols {
                utf16(&mut p, s);
            } else {
                utf8(&mut p, s);
            }
        }
        varint(&mut p, T_CLASS);
        varint(&mut p, self.classes.len() as u64);
        for (k, sym) in self.classes.values() {
            varint(&mut p, *k);
            varint(&mut p, *sym);
        }
        varint(&mut p, T_METHOD);
        varint(&mut p, self.methods.len() as u64);
        for (k, c, s) in self.methods.values() {
            varint(&mut p, *k);
            varint(&mut p, *c);
            varint(&mut p, *s);
        }
        varint(&mut p, T_STACK);
        varint(&mut p, self.stacks.len() as u64);
        for (k, methods) in self.stacks.values() {
            varint(&mut p, *k);
            p.push(0); // truncated
            varint(&mut p, methods.len() as u64);
            for m in methods {
                varint(&mut p, *m);
                varint(&mut p, 7); // lineNumber
            }
        }
        varint(&mut p, T_STATE);
        varint(&mut p, self.states.len() as u64);
        for (s, k) in &self.states {
            varint(&mut p, *k);
            utf8(&mut p, s);
        }
        p
    }
}

/// The metadata record payload; `span_fields`: ExecutionSample has `spanId` and `spanName`.
fn metadata(span_fields: bool) -> Vec<u8> {
    let mut strings: Vec<String> = Vec::new();
    let mut idx = |s: &str| -> u64 {
        match strings.iter().position(|x| x == s) {
            Some(i) => i as u64,
            None => {
                strings.push(s.to_owned());
                strings.len() as u64 - 1
            }
        }
    };
    struct El {
        name: u64,
        attrs: Vec<(u64, u64)>,
        children: Vec<El>,
    }
    let field = |idx: &mut dyn FnMut(&str) -> u64, name: &str, ty: u64, cp: bool, array: bool| {
        let mut attrs = vec![
            (idx("name"), idx(name)),
            (idx("class"), idx(&ty.to_string())),
        ];
        if cp {
            attrs.push((idx("constantPool"), idx("true")));
        }
        if array {
            attrs.push((idx("dimension"), idx("1")));
        }
        El {
            name: idx("field"),
            attrs,
            children: Vec::new(),
        }
    };
    type FieldSpec = (&'static str, u64, bool, bool);
    let classes: Vec<(u64, &str, Vec<FieldSpec>)> = vec![
        (T_LONG, "long", vec![]),
        (T_INT, "int", vec![]),
        (T_BOOLEAN, "boolean", vec![]),
        (T_STRING, "java.lang.String", vec![]),
        (
            T_SYMBOL,
            "jdk.types.Symbol",
            vec![("string", T_STRING, false, false)],
        ),
        (
            T_CLASS,
            "java.lang.Class",
            vec![("name", T_SYMBOL, true, false)],
        ),
        (
            T_METHOD,
            "jdk.types.Method",
            vec![
                ("type", T_CLASS, true, false),
                ("name", T_SYMBOL, true, false),
            ],
        ),
        (
            T_FRAME,
            "jdk.types.StackFrame",
            vec![
                ("method", T_METHOD, true, false),
                ("lineNumber", T_INT, false, false),
            ],
        ),
        (
            T_STACK,
            "jdk.types.StackTrace",
            vec![
                ("truncated", T_BOOLEAN, false, false),
                ("frames", T_FRAME, false, true),
            ],
        ),
        (
            T_STATE,
            "jdk.types.ThreadState",
            vec![("name", T_STRING, false, false)],
        ),
        (
            T_EXEC,
            "jdk.ExecutionSample",
            [
                ("startTime", T_LONG, false, false),
                ("stackTrace", T_STACK, true, false),
                ("state", T_STATE, true, false),
            ]
            .into_iter()
            .chain(
                span_fields
                    .then_some([
                        ("spanId", T_LONG, false, false),
                        ("spanName", T_LONG, false, false),
                    ])
                    .into_iter()
                    .flatten(),
            )
            .chain([("contextId", T_LONG, false, false)])
            .collect(),
        ),
        (
            T_SETTING,
            "jdk.ActiveSetting",
            vec![
                ("startTime", T_LONG, false, false),
                ("id", T_LONG, false, false),
                ("name", T_STRING, false, false),
                ("value", T_STRING, false, false),
            ],
        ),
        (
            T_ALLOC,
            "jdk.ObjectAllocationInNewTLAB",
            vec![
                ("startTime", T_LONG, false, false),
                ("stackTrace", T_STACK, true, false),
                ("tlabSize", T_LONG, false, false),
                ("contextId", T_LONG, false, false),
            ],
        ),
        (
            T_MONITOR,
            "jdk.JavaMonitorEnter",
            vec![
                ("startTime", T_LONG, false, false),
                ("duration", T_LONG, false, false),
                ("stackTrace", T_STACK, true, false),
                ("contextId", T_LONG, false, false),
            ],
        ),
        (
            T_PARK,
            "jdk.ThreadPark",
            vec![
                ("startTime", T_LONG, false, false),
                ("duration", T_LONG, false, false),
                ("stackTrace", T_STACK, true, false),
            ],
        ),
    ];
    let mut class_els = Vec::new();
    for (id, name, fields) in classes {
        let children = fields
            .into_iter()
            .map(|(n, t, cp, arr)| field(&mut idx, n, t, cp, arr))
            .collect();
        class_els.push(El {
            name: idx("class"),
            attrs: vec![(idx("id"), idx(&id.to_string())), (idx("name"), idx(name))],
            children,
        });
    }
    let root = El {
        name: idx("root"),
        attrs: vec![],
        children: vec![
            El {
                name: idx("metadata"),
                attrs: vec![],
                children: class_els,
            },
            El {
                name: idx("region"),
                attrs: vec![],
                children: vec![],
            },
        ],
    };
    fn write(out: &mut Vec<u8>, e: &El) {
        varint(out, e.name);
        varint(out, e.attrs.len() as u64);
        for &(k, v) in &e.attrs {
            varint(out, k);
            varint(out, v);
        }
        varint(out, e.children.len() as u64);
        for c in &e.children {
            write(out, c);
        }
    }
    let mut p = Vec::new();
    varint(&mut p, 0); // type
    varint(&mut p, 0); // start
    varint(&mut p, 0); // duration
    varint(&mut p, 1); // metadata id
    varint(&mut p, strings.len() as u64);
    for s in &strings {
        utf8(&mut p, s);
    }
    write(&mut p, &root);
    p
}
