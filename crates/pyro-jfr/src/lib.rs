//! A fast, bounded Java Flight Recorder reader that turns recordings into Pyroscope series.
//!
//! A recording is a sequence of chunks ([`chunks`]); each chunk carries its own metadata (the
//! classes, bound here by name, since type ids differ between producers and chunks) and constant
//! pools (followed through the checkpoint chain). [`to_series`] reads the profiling events
//! (ExecutionSample, allocation, lock, park, live-object, malloc and wall-clock samples), skips
//! every other event by its size, aggregates events per (stack trace, context) and resolves each
//! distinct stack once per chunk into `pkg/Class.method` frames (OG Pyroscope's names, with
//! generated lambda/accessor names merged). async-profiler `contextId`s are joined with a
//! pyroscope-java [`LabelsSnapshot`]; each label set becomes its own series. The mapping to
//! profile types is described on [`ProfileType`].
//!
//! # Mapping (OG Pyroscope's series, with this project's decisions)
//! - `jdk.ExecutionSample` whose thread state resolves and is not `STATE_SLEEPING` → `cpu`
//!   (`itimer` when async-profiler's `event` setting is `itimer`; a JDK recording, which has no
//!   such setting, also gives `cpu`); every ExecutionSample → `wall` when `event=wall`.
//!   `profiler.WallClockSample` → `wall` by its `samples`, and `cpu` when running in wall mode.
//!   The `event` setting of a chunk applies to the whole chunk and carries over to later chunks
//!   that have none.
//! - Allocation events → `alloc_in_new_tlab_*`, `alloc_outside_tlab_*`, `alloc_sample_*`
//!   (objects and bytes); `jdk.JavaMonitorEnter` and `jdk.ThreadPark` → `lock_count` and
//!   `lock_duration` (nanoseconds, converted from the chunk's ticks per second), and with
//!   [`Options::split_locks`] also as grafana/jfr-parser splits them for Grafana Pyroscope:
//!   monitor enters → `mutex_count`/`mutex_duration`, parks → `block_count`/`block_duration`;
//!   `profiler.LiveObject` → `live` (averaged); `profiler.Malloc` → `malloc_*`.
//! - Labels: the request's labels, overwritten by the context's (`contextId` in the snapshot),
//!   plus `profile_id` (`spanId` as 16 hex digits) and `span_name`; [`Options::exclude_labels`]
//!   (default `profile_id`, `span_id`, `trace_id`) are then removed, merging those samples into
//!   the label set without them. Only ExecutionSample, WallClockSample, the TLAB events and
//!   JavaMonitorEnter carry a context, as in grafana/jfr-parser.
//! - Frames are `pkg/Class.method` (no line numbers); a frame whose method, class or name is
//!   missing is skipped; events without a stack trace are not counted.
//!
//! Every length and count is checked against [`Limits`]; errors carry the absolute offset and
//! what was being read. Chunks of a large recording can be read on several threads
//! ([`Options::threads`]) and merged in file order, so the result never depends on it.
//!
//! ```
//! use pyro_jfr::{Options, to_series};
//! use pyro_labels::SeriesName;
//!
//! // `jfr`: a one-chunk recording with two CPU samples of main -> work.
//! # let jfr = pyro_jfr::synth::Recording::new()
//! #     .execution_sample(&["Main.main", "Main.work"], "STATE_RUNNABLE", 0)
//! #     .execution_sample(&["Main.main", "Main.work"], "STATE_RUNNABLE", 0)
//! #     .build();
//! let request = SeriesName::parse("my.app{env=prod}").unwrap();
//! let series = to_series(&jfr, &request, None, &Options::default())?;
//! assert_eq!(series[0].name.to_string(), "my.app.cpu{env=prod}");
//! assert_eq!(series[0].tree.to_folded(), "Main.main;Main.work 2\n");
//! # Ok::<(), pyro_jfr::Error>(())
//! ```

mod chunk;
mod convert;
mod error;
mod labels;
mod limits;
mod metadata;
mod pools;
mod read;
mod reader;
mod symbols;
/// A writer of synthetic recordings for tests and benches (feature `synth`; not a stable API).
#[cfg(feature = "synth")]
#[doc(hidden)]
pub mod synth;

use std::borrow::Cow;

pub use chunk::{Chunk, ChunkHeader, Chunks, HEADER_SIZE, chunks};
pub use convert::{Converter, EXCLUDED_LABELS, Options, ProfileType, Series, read_into};
pub use error::{Error, ErrorKind, Result};
pub use labels::{Context, LabelsSnapshot};
pub use limits::{
    DEFAULT_MAX_CHECKPOINTS, DEFAULT_MAX_CLASSES, DEFAULT_MAX_DECOMPRESSED_SIZE,
    DEFAULT_MAX_EVENT_KEYS, DEFAULT_MAX_METADATA_SIZE, DEFAULT_MAX_POOL_ENTRIES,
    DEFAULT_MAX_SERIES, DEFAULT_MAX_STACK_DEPTH, DEFAULT_MAX_STRING_LEN, DEFAULT_MAX_TREE_NODES,
    Limits, MAX_NESTING,
};
pub use symbols::normalize;

/// Whether `data` starts with the gzip magic `1f 8b`.
pub fn is_gzip(data: &[u8]) -> bool {
    pyro_tree::gzip::is_gzip(data)
}

/// The bytes of a body: gunzipped (with [`pyro_tree::gzip::gunzip`], shared by every reader) if
/// it starts with the gzip magic, else borrowed as is.
///
/// # Errors
/// A malformed gzip stream, or more than the decompressed-size limit.
pub fn decode<'a>(data: &'a [u8], limits: &Limits) -> Result<Cow<'a, [u8]>> {
    if !is_gzip(data) {
        return Ok(Cow::Borrowed(data));
    }
    let max = limits.max_decompressed_size;
    match pyro_tree::gzip::gunzip(data, max) {
        Ok(out) => Ok(Cow::Owned(out)),
        Err(pyro_tree::gzip::GunzipError::TooLarge { .. }) => {
            Err(Error::too_large("decompressed size", max, 0))
        }
        Err(e) => Err(Error::new(ErrorKind::Gzip(e.to_string()), 0, "gzip")),
    }
}

/// Converts a whole recording (already gunzipped, see [`decode`]) into series.
///
/// `request` is the upload's `name` (app and labels); context labels from `labels` overwrite its
/// labels. Series come sorted by name.
///
/// # Errors
/// The first malformed chunk, with the absolute offset and what was being read; an invalid
/// context label; a limit exceeded.
pub fn to_series(
    data: &[u8],
    request: &pyro_labels::SeriesName,
    labels: Option<&LabelsSnapshot>,
    opts: &Options,
) -> Result<Vec<Series>> {
    let mut c = Converter::new(request.clone(), labels, opts.clone());
    c.feed(data)?;
    Ok(c.finish())
}

/// The README example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
