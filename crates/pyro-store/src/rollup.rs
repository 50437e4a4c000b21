//! Rollups: closed windows pre-merged level by level, in the background.
//!
//! A window of level `k` is *closed* once its end is at least [`GRACE`] seconds old; the
//! watermark `rollup_until_<k>` (in `meta`) says up to where windows are closed. A pass of the
//! [`Roller`] first advances the watermarks, marking every newly closed window that holds data
//! (found from the deltas' keys) as dirty, then (re)builds the dirty windows in level order, each
//! from the level below, in its own transaction together with the removal of its mark. A write
//! into a closed window deletes its rollups and marks it dirty in the write's own transaction
//! ([`Store::commit`]). So every committed state is consistent: a window's rollup, when present,
//! holds exactly the deltas under it; a crash anywhere loses at most work that is redone.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use redb::ReadableTable;

use crate::error::StoreError;
use crate::levels::{LEVELS, ReadBudget, Walk, level_width};
use crate::write::{Tables, watermark_key, watermarks};
use crate::{DIRTY, Store, codec};

/// Seconds after its end before a window is rolled up (late uploads of agents land first).
pub const GRACE: i64 = 60;

/// Dirty windows rebuilt per write transaction (so the writer never waits long).
const WINDOWS_PER_TX: usize = 16;

/// Counters of the roller, for metrics.
#[derive(Debug, Default)]
pub struct RollupStats {
    /// Passes made.
    pub passes: AtomicU64,
    /// Windows built or rebuilt.
    pub windows: AtomicU64,
    /// Passes that failed.
    pub failures: AtomicU64,
}

/// The roller thread: a pass every `every`, until dropped.
pub struct Roller {
    /// Its counters.
    pub stats: Arc<RollupStats>,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for Roller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Roller")
            .field("stats", &self.stats)
            .finish()
    }
}

impl Drop for Roller {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Roller {
    /// Starts the roller over `store`, a pass every `every`.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn spawn(store: Arc<Store>, every: Duration) -> std::io::Result<Roller> {
        let stats = Arc::new(RollupStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (st, halt) = (stats.clone(), stop.clone());
        std::thread::Builder::new()
            .name("pyro-roller".into())
            .spawn(move || {
                while !halt.load(Ordering::Relaxed) {
                    match store.roll(crate::now(), &halt) {
                        Ok(n) => {
                            st.windows.fetch_add(n, Ordering::Relaxed);
                        }
                        Err(e) => {
                            st.failures.fetch_add(1, Ordering::Relaxed);
                            tracing::error!(error = %e, "rollup failed");
                        }
                    }
                    st.passes.fetch_add(1, Ordering::Relaxed);
                    // Sleep in short steps so a dropped roller stops soon.
                    let until = std::time::Instant::now() + every;
                    while !halt.load(Ordering::Relaxed) && std::time::Instant::now() < until {
                        std::thread::sleep(Duration::from_millis(100).min(every));
                    }
                }
            })?;
        Ok(Roller { stats, stop })
    }
}

impl Store {
    /// One rollup pass as of `now` (Unix seconds): closes the windows that ended [`GRACE`]
    /// seconds ago and builds every dirty window (and forgets push sample IDs older than
    /// [`crate::SEEN_SECONDS`]). Stops early when `stop` is set. Returns the
    /// number of windows built.
    ///
    /// # Errors
    /// A storage failure or a corrupt entry.
    pub fn roll(&self, now: i64, stop: &AtomicBool) -> Result<u64, StoreError> {
        self.advance(now)?;
        self.prune_seen(now - crate::SEEN_SECONDS)?;
        let mut built = 0;
        while !stop.load(Ordering::Relaxed) {
            let n = self.build_dirty()?;
            if n == 0 {
                break;
            }
            built += n as u64;
        }
        Ok(built)
    }

    /// Advances every level's watermark to `now − GRACE` (aligned down to the level's width),
    /// marking each newly closed window that holds data as dirty, in one transaction.
    fn advance(&self, now: i64) -> Result<(), StoreError> {
        {
            // Most passes close nothing new: no write transaction (and no fsync) for them.
            let tx = self.begin_read()?;
            let until = watermarks(&tx.open_table(crate::META)?)?;
            let moves = (1..LEVELS).any(|k| {
                let w = level_width(k);
                (now - GRACE).div_euclid(w) * w > until[k]
            });
            if !moves {
                return Ok(());
            }
        }
        let tx = self.begin_write()?;
        {
            let mut t = Tables::open(&tx)?;
            let until = watermarks(&t.meta)?;
            for (k, &done) in until.iter().enumerate().skip(1) {
                let w = level_width(k);
                let target = (now - GRACE).div_euclid(w) * w;
                if target <= done {
                    continue;
                }
                let (lo, hi) = (done.max(0) as u64, target.max(0) as u64);
                let mut marks: Vec<(String, u64, u64)> = Vec::new();
                for item in t.series.iter()? {
                    let entry = item?;
                    let (tenant, id) = entry.0.value();
                    let mut last = None;
                    for d in t.deltas.range((tenant, id, lo, 0)..(tenant, id, hi, 0))? {
                        let slot = d?.0.value().2 as i64;
                        let window = slot.div_euclid(w) * w;
                        if last != Some(window) {
                            marks.push((tenant.to_owned(), id, window as u64));
                            last = Some(window);
                        }
                    }
                }
                for (tenant, id, window) in marks {
                    t.dirty
                        .insert((k as u64, window, tenant.as_str(), id), ())?;
                }
                t.meta.insert(watermark_key(k).as_str(), target as u64)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Builds up to [`WINDOWS_PER_TX`] dirty windows, lowest level first, in one transaction:
    /// each from the level below (or the deltas), its mark removed, its parent marked when that
    /// is closed. Returns how many were built.
    fn build_dirty(&self) -> Result<usize, StoreError> {
        let todo: Vec<(u64, u64, String, u64)> = {
            let tx = self.begin_read()?;
            let dirty = tx.open_table(DIRTY)?;
            let mut v = Vec::new();
            for item in dirty.iter()? {
                let entry = item?;
                let (level, window, tenant, id) = entry.0.value();
                v.push((level, window, tenant.to_owned(), id));
                if v.len() >= WINDOWS_PER_TX {
                    break;
                }
            }
            v
        };
        if todo.is_empty() {
            return Ok(0);
        }
        let mut tx = self.begin_write()?;
        // Derived data: a rollup lost in a crash is rebuilt (its mark comes back with it); the
        // writer's next durable commit makes it durable.
        tx.set_durability(redb::Durability::None)?;
        {
            let mut t = Tables::open(&tx)?;
            let until = watermarks(&t.meta)?;
            let mut values = Vec::new();
            for (level, window, tenant, id) in &todo {
                let (level, tenant) = (*level as usize, tenant.as_str());
                if t.dirty
                    .remove((level as u64, *window, tenant, *id))?
                    .is_none()
                {
                    continue;
                }
                let w = level_width(level);
                let start = *window as i64;
                if level == 0 || level >= LEVELS || start + w > until[level] {
                    continue;
                }
                values.clear();
                let (writes, entries) = Walk {
                    deltas: &t.deltas,
                    rollups: &t.rollups,
                    syms: &t.syms,
                    nodes: &t.nodes,
                    tenant,
                    id: *id,
                }
                .merge_values(
                    level - 1,
                    start,
                    start + w,
                    &mut values,
                    &ReadBudget {
                        max_nodes: usize::MAX,
                        cancel: None,
                        reserve: None,
                    },
                )?;
                let key = (tenant, *id, level as u64, *window);
                match codec::encode(writes, &values) {
                    Some(entry) if entries > 0 => {
                        t.rollups.insert(key, entry.as_slice())?;
                    }
                    _ => {
                        t.rollups.remove(key)?;
                    }
                }
                if level + 1 < LEVELS {
                    let pw = level_width(level + 1);
                    let parent = start.div_euclid(pw) * pw;
                    if parent + pw <= until[level + 1] {
                        t.dirty
                            .insert(((level + 1) as u64, parent as u64, tenant, *id), ())?;
                    }
                }
            }
        }
        tx.commit()?;
        Ok(todo.len())
    }

    /// Symbols and stack nodes stored, all series and partitions together.
    ///
    /// # Errors
    /// A storage failure.
    pub fn stack_counts(&self) -> Result<(u64, u64), StoreError> {
        let tx = self.begin_read()?;
        let s = crate::stacks::entry_count(&tx.open_table(crate::stacks::SYMBOLS)?)?;
        let n = crate::stacks::entry_count(&tx.open_table(crate::stacks::NODES)?)?;
        Ok((s, n))
    }

    /// Rollups stored and windows waiting to be built, all series together.
    ///
    /// # Errors
    /// A storage failure.
    pub fn rollup_counts(&self) -> Result<(u64, u64), StoreError> {
        use redb::ReadableTableMetadata;
        let tx = self.begin_read()?;
        let r = tx.open_table(crate::ROLLUPS)?.len()?;
        let d = tx.open_table(DIRTY)?.len()?;
        Ok((r, d))
    }
}
