//! Compaction off the commit path: a slot's small deltas merged into one when they pile up.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::StoreError;
use crate::write::Tables;
use crate::{DELTAS, Store, codec};

/// Deltas in one slot from which the compactor merges them.
pub const COMPACT_AT: u64 = 16;

/// A slot of one series: (tenant, series id, slot start).
pub type SlotRef = (String, u64, u64);

/// Counters of the compactor, for `/metrics`.
#[derive(Debug, Default)]
pub struct CompactionStats {
    /// Slots compacted.
    pub runs: AtomicU64,
    /// Deltas merged away.
    pub merged: AtomicU64,
    /// Compactions that failed.
    pub failures: AtomicU64,
}

/// The compactor thread: slots the writer reports crowded are merged in their own
/// transactions, never on the commit path of a request.
#[derive(Clone)]
pub struct Compactor {
    tx: std::sync::mpsc::SyncSender<SlotRef>,
    /// Its counters.
    pub stats: Arc<CompactionStats>,
}

impl Compactor {
    /// Starts the compactor over `store`.
    ///
    /// # Errors
    /// The thread cannot be started.
    pub fn spawn(store: Arc<Store>) -> std::io::Result<Compactor> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<SlotRef>(4096);
        let stats = Arc::new(CompactionStats::default());
        let st = stats.clone();
        std::thread::Builder::new()
            .name("pyro-compactor".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    // Everything queued meanwhile, each slot once.
                    let mut todo: BTreeSet<SlotRef> = BTreeSet::from([first]);
                    while let Ok(more) = rx.try_recv() {
                        todo.insert(more);
                    }
                    for (tenant, id, slot) in todo {
                        match store.compact_slot(&tenant, id, slot) {
                            Ok(0) => {}
                            Ok(n) => {
                                st.runs.fetch_add(1, Ordering::Relaxed);
                                st.merged.fetch_add(n, Ordering::Relaxed);
                            }
                            Err(e) => {
                                st.failures.fetch_add(1, Ordering::Relaxed);
                                tracing::error!(error = %e, "compaction failed");
                            }
                        }
                    }
                }
            })?;
        Ok(Compactor { tx, stats })
    }

    /// Asks for a slot to be compacted; dropped when the queue is full (reads stay correct, the
    /// slot is reported again by its next write).
    pub fn request(&self, slot: SlotRef) {
        let _ = self.tx.try_send(slot);
    }
}

impl Store {
    /// Merges the deltas of one slot into one, leaving the largest alone when it is larger than
    /// all the others together (a big slot is not rewritten for every few small writes). Reads
    /// before and after see the same data. Returns how many deltas were merged away.
    ///
    /// # Errors
    /// A storage failure or a corrupt delta.
    pub fn compact_slot(&self, tenant: &str, id: u64, slot: u64) -> Result<u64, StoreError> {
        let mut deltas: Vec<(u64, Vec<u8>)> = {
            let tx = self.begin_read()?;
            let t = tx.open_table(DELTAS)?;
            t.range((tenant, id, slot, 0)..=(tenant, id, slot, u64::MAX))?
                .map(|i| i.map(|(k, v)| (k.value().3, v.value().to_vec())))
                .collect::<Result<_, _>>()?
        };
        if let Some(big) = deltas.iter().map(|d| d.1.len()).max() {
            let rest: usize = deltas.iter().map(|d| d.1.len()).sum::<usize>() - big;
            if big > rest {
                deltas.retain(|d| d.1.len() != big);
            }
        }
        if deltas.len() < 2 {
            return Ok(0);
        }
        let mut values = Vec::new();
        let mut writes = 0;
        for (_, bytes) in &deltas {
            writes += codec::add_into(bytes, &mut values, codec::MAX_NODE_IDS)?;
        }
        let Some(merged) = codec::encode(writes, &values) else {
            return Ok(0);
        };
        let last_seq = deltas.iter().map(|d| d.0).max().unwrap_or(0);
        let mut tx = self.begin_write()?;
        // No fsync of its own: the merged slot reads the same as the deltas it replaces, so a
        // compaction lost in a crash loses nothing; the writer's next (durable) commit makes it
        // durable too.
        tx.set_durability(redb::Durability::None)?;
        {
            let mut t = Tables::open(&tx)?;
            for (seq, _) in &deltas {
                if t.deltas.remove((tenant, id, slot, *seq))?.is_none() {
                    // Retention took the slot meanwhile: leave it gone (the transaction is
                    // dropped uncommitted).
                    return Ok(0);
                }
            }
            t.deltas
                .insert((tenant, id, slot, last_seq), merged.as_slice())?;
        }
        tx.commit()?;
        Ok(deltas.len() as u64 - 1)
    }
}
