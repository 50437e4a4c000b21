//! Profile type ids for what we store, as Grafana Pyroscope's legacy ingest adapter derives them
//! (spec Part 2, §2.4, §4.6, §5.3): from the type suffix of the app name and the series' units.

use super::proto::ProfileType;
use crate::storage::Meta;

/// A series' profile type and the factor its values are scaled by to match it (CPU and wall
/// samples at a sample rate become nanoseconds: × 10⁹ / rate).
#[derive(Debug, Clone, PartialEq)]
pub struct Typed {
    /// `service_name`: the app name without its type suffix.
    pub service: String,
    /// The type.
    pub profile_type: ProfileType,
    /// Factor applied to every value.
    pub scale: u64,
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

impl Typed {
    /// The pprof Grafana Pyroscope's adapter writes for a series of this type: its sample type
    /// and unit, and for CPU and wall time at a sample rate the `cpu/nanoseconds` period
    /// (1e9 / rate) its values were scaled by.
    pub fn pprof_type(&self, meta: &Meta) -> crate::render::PprofType {
        let t = &self.profile_type;
        let timed = matches!(t.name.as_str(), "process_cpu" | "wall") && meta.sample_rate > 0;
        crate::render::PprofType {
            sample_type: (t.sample_type.clone(), t.sample_unit.clone()),
            period: timed.then(|| 1_000_000_000 / i64::from(meta.sample_rate)),
            scale: self.scale,
        }
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
    let timed = |metric: &str, ty: &str| -> (ProfileType, u64) {
        match units {
            "samples" | "" if rate > 0 => (
                pt(metric, ty, "nanoseconds", ty, "nanoseconds"),
                1_000_000_000 / rate,
            ),
            "nanoseconds" => (pt(metric, ty, "nanoseconds", ty, "nanoseconds"), 1),
            _ => (pt(metric, "samples", "count", ty, "nanoseconds"), 1),
        }
    };
    let (profile_type, scale) = match suffix {
        "cpu" | "itimer" => timed("process_cpu", "cpu"),
        "wall" => timed("wall", "wall"),
        "samples" => (
            pt("process_cpu", "samples", "count", "cpu", "nanoseconds"),
            1,
        ),
        "inuse_objects"
        | "alloc_objects"
        | "alloc_in_new_tlab_objects"
        | "alloc_outside_tlab_objects"
        | "alloc_sample_objects"
        | "malloc_objects" => (pt("memory", suffix, "count", "space", "bytes"), 1),
        "inuse_space"
        | "alloc_space"
        | "alloc_in_new_tlab_bytes"
        | "alloc_outside_tlab_bytes"
        | "alloc_sample_bytes"
        | "malloc_bytes" => (pt("memory", suffix, "bytes", "space", "bytes"), 1),
        "live" => (pt("memory", "live", "count", "objects", "count"), 1),
        "goroutine" | "goroutines" => (
            pt("goroutine", "goroutine", "count", "goroutine", "count"),
            1,
        ),
        "mutex_count" | "contentions" => (pt("mutex", "contentions", "count", "mutex", "count"), 1),
        "mutex_duration" | "delay" => (pt("mutex", "delay", "nanoseconds", "mutex", "count"), 1),
        "block_count" | "lock_count" => (pt("block", "contentions", "count", "block", "count"), 1),
        "block_duration" | "lock_duration" => {
            (pt("block", "delay", "nanoseconds", "block", "count"), 1)
        }
        other => {
            let unit = match units {
                "" | "samples" | "objects" | "goroutines" | "lock_samples" => "count",
                "lock_nanoseconds" => "nanoseconds",
                u => u,
            };
            (pt(other, other, unit, other, unit), 1)
        }
    };
    Typed {
        service,
        profile_type,
        scale,
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

    #[test]
    fn ids_as_grafana_pyroscope() {
        let id = |m: Meta| of(&m).profile_type.id;
        assert_eq!(
            id(meta("a.cpu", "samples", 100)),
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
        );
        assert_eq!(of(&meta("a.cpu", "samples", 100)).scale, 10_000_000);
        assert_eq!(
            id(meta("a.cpu", "nanoseconds", 0)),
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
        );
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
