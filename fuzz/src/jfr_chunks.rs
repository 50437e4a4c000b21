//! `jfr_chunks`: arbitrary bytes (gzipped or not) through the JFR reader never panic and stay
//! within tight limits; inputs starting with `0xff` instead describe a synthetic recording
//! (see [`Spec`]) whose series must equal a straightforward model of the conversion rules.

use std::collections::BTreeMap;

use pyro_jfr::synth::Recording;
use pyro_jfr::{Limits, Options, Series, decode, normalize, to_series};
use pyro_labels::SeriesName;

/// Series name → folded stack → value.
pub type Model = BTreeMap<String, BTreeMap<String, u64>>;

const FRAMES: [&str; 7] = [
    "A.a",
    "A.b",
    "pkg/B.c",
    "pkg/B.d",
    "E$$Lambda$1.0x1f.run",
    "E$$Lambda$2.0x2e.run",
    "jdk/internal/reflect/GeneratedMethodAccessor7.invoke",
];
const STATES: [&str; 3] = ["STATE_RUNNABLE", "STATE_SLEEPING", "STATE_WAITING"];
const EVENTS: [&str; 5] = ["cpu", "itimer", "wall", "ctimer", ""];

/// One synthetic event.
#[derive(Debug, Clone)]
pub enum Ev {
    /// An `event` setting.
    Setting(&'static str),
    /// ExecutionSample.
    Exec(Vec<&'static str>, &'static str, u64),
    /// ObjectAllocationInNewTLAB.
    Alloc(Vec<&'static str>, u64, u64),
    /// JavaMonitorEnter.
    Monitor(Vec<&'static str>, u64, u64),
    /// ThreadPark (no context).
    Park(Vec<&'static str>, u64),
}

/// A synthetic recording described by fuzz bytes.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    /// Events in order.
    pub events: Vec<Ev>,
}

impl Spec {
    /// Reads a spec from bytes (missing bytes read as 0).
    pub fn from_bytes(data: &[u8]) -> Spec {
        let mut it = data.iter().copied();
        let mut next = move || it.next().unwrap_or(0);
        let n = next() % 24;
        let mut events = Vec::new();
        for _ in 0..n {
            let kind = next() % 8;
            let depth = next() % 5;
            let stack: Vec<&'static str> = (0..depth)
                .map(|_| FRAMES[next() as usize % FRAMES.len()])
                .collect();
            let ctx = u64::from(next() % 4);
            events.push(match kind {
                0 => Ev::Setting(EVENTS[next() as usize % EVENTS.len()]),
                1..=3 => Ev::Exec(stack, STATES[next() as usize % STATES.len()], ctx),
                4 | 5 => Ev::Alloc(stack, u64::from(next()) * 1000, ctx),
                6 => Ev::Monitor(stack, u64::from(next()) * 7, ctx),
                _ => Ev::Park(stack, u64::from(next()) * 11),
            });
        }
        Spec { events }
    }

    /// The recording.
    pub fn build(&self) -> Vec<u8> {
        let mut r = Recording::new();
        for e in &self.events {
            r = match e {
                Ev::Setting(v) => r.setting("event", v),
                Ev::Exec(s, st, c) => r.execution_sample(s, st, *c),
                Ev::Alloc(s, v, c) => r.allocation(s, *v, *c),
                Ev::Monitor(s, t, c) => r.monitor_enter(s, *t, *c),
                Ev::Park(s, t) => r.thread_park(s, *t),
            };
        }
        r.build()
    }

    /// The last `event` setting of this chunk, if any.
    pub fn event(&self) -> Option<&'static str> {
        self.events.iter().rev().find_map(|e| match e {
            Ev::Setting(v) => Some(*v),
            _ => None,
        })
    }

    /// Adds this chunk's series to `model`: `event` is the setting in force, `labels` gives the
    /// label suffix of a context id (`{...}` of the series name), `split_locks`
    /// [`Options::split_locks`] (lock events also as jfr-parser's `mutex` and `block`).
    pub fn model(
        &self,
        (event, split_locks): (&str, bool),
        name: &str,
        labels: &dyn Fn(u64) -> String,
        m: &mut Model,
    ) {
        let cpu = if event == "itimer" { "itimer" } else { "cpu" };
        let mut add = |suffix: &str, stack: &[&str], ctx: u64, v: u64| {
            if v == 0 {
                return;
            }
            let frames: Vec<String> = stack
                .iter()
                .map(|f| {
                    let (c, m) = f.rsplit_once('.').expect("class.method");
                    format!("{}.{}", normalize(c), normalize(m))
                })
                .collect();
            *m.entry(format!("{name}.{suffix}{}", labels(ctx)))
                .or_default()
                .entry(frames.join(";"))
                .or_default() += v;
        };
        for e in &self.events {
            match e {
                Ev::Setting(_) => {}
                Ev::Exec(s, st, c) => {
                    if *st != "STATE_SLEEPING" {
                        add(cpu, s, *c, 1);
                    }
                    if event == "wall" {
                        add("wall", s, *c, 1);
                    }
                }
                Ev::Alloc(s, v, c) => {
                    add("alloc_in_new_tlab_objects", s, *c, 1);
                    add("alloc_in_new_tlab_bytes", s, *c, *v);
                }
                Ev::Monitor(s, t, c) => {
                    add("lock_count", s, *c, 1);
                    add("lock_duration", s, *c, *t);
                    if split_locks {
                        add("mutex_count", s, *c, 1);
                        add("mutex_duration", s, *c, *t);
                    }
                }
                Ev::Park(s, t) => {
                    add("lock_count", s, 0, 1);
                    add("lock_duration", s, 0, *t);
                    if split_locks {
                        add("block_count", s, 0, 1);
                        add("block_duration", s, 0, *t);
                    }
                }
            }
        }
    }
}

/// Our series as a model.
pub fn as_model(series: &[Series]) -> Model {
    let mut m = Model::new();
    for s in series {
        let e = m.entry(s.name.to_string()).or_default();
        for (stack, v) in s.tree.folded_lines() {
            *e.entry(stack).or_default() += v;
        }
    }
    m
}

fn check(series: &[Series]) {
    for s in series {
        assert!(!s.tree.overflowed());
        let sum: u64 = s.tree.folded_lines().iter().map(|(_, v)| v).sum();
        assert_eq!(sum, s.tree.total());
        assert!(s.name.app().starts_with("fuzz.app."));
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let name = SeriesName::parse("fuzz.app{env=f}").expect("valid name");
    if let Some((&0xff, rest)) = data.split_first() {
        let spec = Spec::from_bytes(rest);
        let jfr = spec.build();
        for split_locks in [false, true] {
            let opts = Options {
                split_locks,
                ..Options::default()
            };
            let series = to_series(&jfr, &name, None, &opts).expect("synthetic");
            check(&series);
            let mut want = Model::new();
            let event = spec.event().unwrap_or("");
            spec.model(
                (event, split_locks),
                "fuzz.app",
                &|_| "{env=f}".to_owned(),
                &mut want,
            );
            assert_eq!(as_model(&series), want, "{spec:?}");
        }
        return;
    }
    for (i, limits) in [
        Limits::default().max_decompressed_size(1 << 22),
        Limits::new()
            .max_decompressed_size(1 << 16)
            .max_stack_depth(4)
            .max_string_len(64)
            .max_classes(64)
            .max_checkpoints(4)
            .max_pool_entries(64)
            .max_event_keys(8)
            .max_series(3),
    ]
    .into_iter()
    .enumerate()
    {
        let Ok(buf) = decode(data, &limits) else {
            continue;
        };
        // The tight limits with lock events split as well.
        let split_locks = i == 1;
        let opts = Options {
            limits,
            split_locks,
            ..Options::default()
        };
        if let Ok(series) = to_series(&buf, &name, None, &opts) {
            check(&series);
            assert!(series.len() <= 1000);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::replay::{Rng, replay};

    fn make(rng: &mut Rng) -> Vec<u8> {
        if rng.below(2) == 0 {
            let mut v = vec![0xff];
            v.extend(rng.bytes_from(&[0, 1, 2, 3, 4, 5, 6, 7, 100, 255], 120));
            return v;
        }
        // A valid recording with one byte changed or the tail cut.
        let spec = super::Spec::from_bytes(&rng.bytes_from(&[0, 1, 2, 3, 4, 5, 6, 9], 60));
        let mut b = spec.build();
        if !b.is_empty() && rng.below(2) == 0 {
            let i = rng.below(b.len() as u64) as usize;
            b[i] = rng.below(256) as u8;
        }
        if rng.below(3) == 0 {
            b.truncate(rng.below(b.len() as u64 + 1) as usize);
        }
        b
    }

    #[test]
    fn replays() {
        replay("jfr_chunks", &["jfr"], 1500, make, super::run);
    }
}
