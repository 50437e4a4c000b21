//! The durable forwarding queue of one endpoint: a redb file of its own; an item is on disk,
//! committed with fsync, before the request that made it is acknowledged.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::storage::{StoreError, err};

/// seq → item (tenant, enqueue time, encoded `PushRequest`).
const QUEUE: TableDefinition<u64, &[u8]> = TableDefinition::new("queue");
/// seq → item, for requests the upstream refused for good.
const DEAD: TableDefinition<u64, &[u8]> = TableDefinition::new("dead");
/// seq → the upstream's message.
const DEAD_WHY: TableDefinition<u64, &str> = TableDefinition::new("dead_why");
/// `bytes`, `next`.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// One queued request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Its sequence number.
    pub seq: u64,
    /// The tenant it came from.
    pub tenant: String,
    /// Unix seconds when it was queued.
    pub queued_at: i64,
    /// The encoded `push.v1.PushRequest`.
    pub body: bytes::Bytes,
}

fn encode(tenant: &str, at: i64, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(12 + tenant.len() + body.len());
    v.extend_from_slice(&(tenant.len() as u32).to_le_bytes());
    v.extend_from_slice(tenant.as_bytes());
    v.extend_from_slice(&at.to_le_bytes());
    v.extend_from_slice(body);
    v
}

fn decode(seq: u64, bytes: &[u8]) -> Result<Item, StoreError> {
    let bad = || err("corrupt queue item");
    let (n, rest) = bytes.split_first_chunk::<4>().ok_or_else(bad)?;
    let n = u32::from_le_bytes(*n) as usize;
    let tenant = rest.get(..n).ok_or_else(bad)?;
    let (at, body) = rest[n..].split_first_chunk::<8>().ok_or_else(bad)?;
    Ok(Item {
        seq,
        tenant: String::from_utf8(tenant.to_vec()).map_err(|_| bad())?,
        queued_at: i64::from_le_bytes(*at),
        body: bytes::Bytes::copy_from_slice(body),
    })
}

/// Why an item could not be queued.
#[derive(Debug, Clone)]
pub enum EnqueueError {
    /// The queue holds `--forward-queue-bytes` already: back-pressure (503).
    Full,
    /// A storage failure (500).
    Storage(StoreError),
}

/// The queue file of one endpoint.
pub struct Queue {
    db: Database,
    max_bytes: u64,
    /// Bytes queued now (mirrors the `bytes` counter).
    bytes: AtomicU64,
    /// Items queued now.
    items: AtomicU64,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("bytes", &self.bytes.load(Ordering::Relaxed))
            .finish()
    }
}

impl Queue {
    /// Opens (or creates) the queue at `path`, holding at most `max_bytes`.
    ///
    /// # Errors
    /// The file cannot be opened.
    pub fn open(path: &Path, max_bytes: u64) -> Result<Queue, StoreError> {
        // A small page cache: the gateway's memory must not follow the backlog.
        let db = Database::builder()
            .set_cache_size(8 << 20)
            .create(path)
            .map_err(|e| err(format!("{}: {e}", path.display())))?;
        let tx = db.begin_write().map_err(err)?;
        let (bytes, items) = {
            let q = tx.open_table(QUEUE).map_err(err)?;
            tx.open_table(DEAD).map_err(err)?;
            tx.open_table(DEAD_WHY).map_err(err)?;
            let m = tx.open_table(META).map_err(err)?;
            let bytes = m.get("bytes").map_err(err)?.map_or(0, |g| g.value());
            (bytes, q.len().map_err(err)?)
        };
        tx.commit().map_err(err)?;
        Ok(Queue {
            db,
            max_bytes,
            bytes: AtomicU64::new(bytes),
            items: AtomicU64::new(items),
        })
    }

    /// Of `sizes` (bytes of requests about to be queued, in order), how many fit under the bound
    /// together with what is queued now.
    pub fn fitting(&self, sizes: impl IntoIterator<Item = u64>) -> usize {
        let mut total = self.bytes.load(Ordering::Relaxed);
        let mut n = 0;
        for size in sizes {
            total += size;
            if total > self.max_bytes {
                break;
            }
            n += 1;
        }
        n
    }

    /// Appends requests in one durable transaction (the caller batches concurrent requests).
    ///
    /// # Errors
    /// [`EnqueueError::Full`] when they would pass the size bound; a storage failure.
    pub fn push(&self, items: &[(String, i64, bytes::Bytes)]) -> Result<(), EnqueueError> {
        let add: u64 = items.iter().map(|i| i.2.len() as u64).sum();
        if self.bytes.load(Ordering::Relaxed) + add > self.max_bytes {
            return Err(EnqueueError::Full);
        }
        let s = |e: redb::Error| EnqueueError::Storage(err(e));
        let tx = self.db.begin_write().map_err(|e| s(e.into()))?;
        {
            let mut q = tx.open_table(QUEUE).map_err(|e| s(e.into()))?;
            let mut m = tx.open_table(META).map_err(|e| s(e.into()))?;
            let mut next = m
                .get("next")
                .map_err(|e| s(e.into()))?
                .map_or(0, |g| g.value());
            for (tenant, at, body) in items {
                next += 1;
                q.insert(next, encode(tenant, *at, body).as_slice())
                    .map_err(|e| s(e.into()))?;
            }
            m.insert("next", next).map_err(|e| s(e.into()))?;
            let total = self.bytes.load(Ordering::Relaxed) + add;
            m.insert("bytes", total).map_err(|e| s(e.into()))?;
        }
        tx.commit().map_err(|e| s(e.into()))?;
        self.bytes.fetch_add(add, Ordering::Relaxed);
        self.items.fetch_add(items.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// The oldest item, if any.
    ///
    /// # Errors
    /// A storage failure.
    pub fn peek(&self) -> Result<Option<Item>, StoreError> {
        Ok(self.peek_batch(1, 0)?.pop())
    }

    /// The oldest items in order: at most `max_items`, and no more once they reach `max_bytes`
    /// (at least one, whatever its size).
    ///
    /// # Errors
    /// A storage failure.
    pub fn peek_batch(&self, max_items: usize, max_bytes: u64) -> Result<Vec<Item>, StoreError> {
        let tx = self.db.begin_read().map_err(err)?;
        let q = tx.open_table(QUEUE).map_err(err)?;
        let mut items = Vec::new();
        let mut bytes = 0u64;
        for entry in q.iter().map_err(err)? {
            if items.len() >= max_items || (!items.is_empty() && bytes >= max_bytes) {
                break;
            }
            let (k, v) = entry.map_err(err)?;
            let item = decode(k.value(), v.value())?;
            bytes += item.body.len() as u64;
            items.push(item);
        }
        Ok(items)
    }

    /// Removes a delivered item; with `dead`, keeps it in the dead-letter table with `why`.
    ///
    /// # Errors
    /// A storage failure.
    pub fn remove(&self, item: &Item, dead: Option<&str>) -> Result<(), StoreError> {
        self.remove_batch(&[(item, dead)])
    }

    /// Removes items in one durable transaction: each delivered (`None`) or dead-lettered with
    /// the upstream's message.
    ///
    /// # Errors
    /// A storage failure; nothing is removed then.
    pub fn remove_batch(&self, items: &[(&Item, Option<&str>)]) -> Result<(), StoreError> {
        if items.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write().map_err(err)?;
        let size: u64 = items.iter().map(|(i, _)| i.body.len() as u64).sum();
        {
            let mut q = tx.open_table(QUEUE).map_err(err)?;
            let mut dead_items = tx.open_table(DEAD).map_err(err)?;
            let mut dead_why = tx.open_table(DEAD_WHY).map_err(err)?;
            for (item, dead) in items {
                q.remove(item.seq).map_err(err)?;
                if let Some(why) = dead {
                    let bytes = encode(&item.tenant, item.queued_at, &item.body);
                    dead_items.insert(item.seq, bytes.as_slice()).map_err(err)?;
                    dead_why.insert(item.seq, *why).map_err(err)?;
                }
            }
            let mut m = tx.open_table(META).map_err(err)?;
            let total = self.bytes.load(Ordering::Relaxed).saturating_sub(size);
            m.insert("bytes", total).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        self.bytes.fetch_sub(
            size.min(self.bytes.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        self.items.fetch_sub(items.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Bytes and items queued now.
    pub fn depth(&self) -> (u64, u64) {
        (
            self.bytes.load(Ordering::Relaxed),
            self.items.load(Ordering::Relaxed),
        )
    }

    /// Items in the dead-letter table.
    ///
    /// # Errors
    /// A storage failure.
    pub fn dead(&self) -> Result<u64, StoreError> {
        let tx = self.db.begin_read().map_err(err)?;
        tx.open_table(DEAD).map_err(err)?.len().map_err(err)
    }
}
