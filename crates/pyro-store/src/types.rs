//! The one profile-type table: the Grafana Pyroscope profile type of a series
//! (`__name__:type:unit:period_type:period_unit`, as GP's legacy ingest adapter derives it from
//! the app name's type suffix and the upload's units, `pkg/ingester/pyroscope/ingest_adapter.go`
//! `convertMetadata` and `Put`), and the factor that takes the upload's values to that type's
//! unit.

use crate::Meta;

/// A Grafana Pyroscope profile type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProfileType {
    /// `name:sample_type:sample_unit:period_type:period_unit`.
    pub id: String,
    /// The metric (`process_cpu`, `memory`, …), GP's `__name__`.
    pub name: String,
    /// Sample type (`cpu`, `alloc_space`).
    pub sample_type: String,
    /// Sample unit (`nanoseconds`, `bytes`, `count`).
    pub sample_unit: String,
    /// Period type.
    pub period_type: String,
    /// Period unit.
    pub period_unit: String,
}

/// A series' profile type, and how its uploads' values become that type's unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typed {
    /// `service_name`: the app name without its type suffix.
    pub service: String,
    /// The type.
    pub profile_type: ProfileType,
    /// Factor from the upload's values to the type's unit: `10⁹ / sampleRate` (GP's period,
    /// integer division) for CPU and wall samples at a sample rate, else 1.
    pub scale: u64,
    /// For CPU and wall time at a sample rate: the period (nanoseconds per sample) a pprof of
    /// this type states, with period type `cpu/nanoseconds`.
    pub period: Option<i64>,
}

fn pt(name: &str, st: &str, su: &str, pty: &str, pu: &str) -> ProfileType {
    ProfileType {
        id: format!("{name}:{st}:{su}:{pty}:{pu}"),
        name: name.into(),
        sample_type: st.into(),
        sample_unit: su.into(),
        period_type: pty.into(),
        period_unit: pu.into(),
    }
}

/// The profile type of a series (app `svc.cpu`, units, sample rate).
pub fn of(meta: &Meta) -> Typed {
    let (service, suffix) = match meta.app.rsplit_once('.') {
        Some((s, t)) => (s.to_owned(), t),
        None => (meta.app.clone(), "cpu"),
    };
    let units = meta.units.as_str();
    let rate = u64::from(meta.sample_rate);
    let timed = |metric: &str, ty: &str| -> (ProfileType, u64, bool) {
        match units {
            "samples" | "" if rate > 0 => (
                pt(metric, ty, "nanoseconds", ty, "nanoseconds"),
                1_000_000_000 / rate,
                true,
            ),
            "nanoseconds" => (pt(metric, ty, "nanoseconds", ty, "nanoseconds"), 1, false),
            _ => (pt(metric, "samples", "count", ty, "nanoseconds"), 1, false),
        }
    };
    let plain = |p: ProfileType| (p, 1, false);
    let (profile_type, scale, timed) = match suffix {
        "cpu" | "itimer" => timed("process_cpu", "cpu"),
        "wall" => timed("wall", "wall"),
        "samples" => plain(pt("process_cpu", "samples", "count", "cpu", "nanoseconds")),
        "inuse_objects"
        | "alloc_objects"
        | "alloc_in_new_tlab_objects"
        | "alloc_outside_tlab_objects"
        | "alloc_sample_objects"
        | "malloc_objects" => plain(pt("memory", suffix, "count", "space", "bytes")),
        "inuse_space"
        | "alloc_space"
        | "alloc_in_new_tlab_bytes"
        | "alloc_outside_tlab_bytes"
        | "alloc_sample_bytes"
        | "malloc_bytes" => plain(pt("memory", suffix, "bytes", "space", "bytes")),
        "live" => plain(pt("memory", "live", "count", "objects", "count")),
        "goroutine" | "goroutines" => {
            plain(pt("goroutine", "goroutine", "count", "goroutine", "count"))
        }
        "mutex_count" | "contentions" => {
            plain(pt("mutex", "contentions", "count", "mutex", "count"))
        }
        "mutex_duration" | "delay" => plain(pt("mutex", "delay", "nanoseconds", "mutex", "count")),
        "block_count" | "lock_count" => {
            plain(pt("block", "contentions", "count", "block", "count"))
        }
        "block_duration" | "lock_duration" => {
            plain(pt("block", "delay", "nanoseconds", "block", "count"))
        }
        other => {
            let unit = match units {
                "" | "samples" | "objects" | "goroutines" | "lock_samples" => "count",
                "lock_nanoseconds" => "nanoseconds",
                u => u,
            };
            plain(pt(other, other, unit, other, unit))
        }
    };
    Typed {
        service,
        profile_type,
        scale,
        period: timed.then_some(scale as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(app: &str, units: &str, rate: u32) -> Meta {
        Meta {
            app: app.into(),
            units: units.into(),
            sample_rate: rate,
            ..Meta::default()
        }
    }

    /// The ids GP's `convertMetadata` gives (`pkg/ingester/pyroscope/ingest_adapter.go`).
    #[test]
    fn ids_as_grafana_pyroscope() {
        let id = |m: Meta| of(&m).profile_type.id;
        assert_eq!(
            id(meta("a.cpu", "samples", 100)),
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
        );
        let cpu = of(&meta("a.cpu", "samples", 100));
        assert_eq!((cpu.scale, cpu.period), (10_000_000, Some(10_000_000)));
        // A rate that does not divide 10⁹: GP's integer period.
        assert_eq!(of(&meta("a.cpu", "samples", 3)).scale, 333_333_333);
        assert_eq!(
            id(meta("a.cpu", "nanoseconds", 0)),
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
        );
        assert_eq!(of(&meta("a.cpu", "nanoseconds", 0)).period, None);
        assert_eq!(
            id(meta("a.alloc_space", "bytes", 0)),
            "memory:alloc_space:bytes:space:bytes"
        );
        assert_eq!(
            id(meta("a.inuse_objects", "objects", 0)),
            "memory:inuse_objects:count:space:bytes"
        );
        assert_eq!(
            id(meta("a.goroutines", "goroutines", 0)),
            "goroutine:goroutine:count:goroutine:count"
        );
        assert_eq!(
            id(meta("java.lock_duration", "lock_nanoseconds", 0)),
            "block:delay:nanoseconds:block:count"
        );
        assert_eq!(
            id(meta("a.wall", "samples", 100)),
            "wall:wall:nanoseconds:wall:nanoseconds"
        );
        assert_eq!(of(&meta("my.app.cpu", "samples", 100)).service, "my.app");
    }
}
