//! Durable queues (a forwarder's outbox per endpoint): tables of their own in the store's
//! database, so a request is queued in the same transaction (and the same fsync) that stores it
//! locally, before it is acknowledged ([`crate::Outbox`]).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::error::{StoreError, corrupt, io};
use crate::{META, Store};

/// A request to queue: the tenant it names, when it was queued, its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueItem {
    /// The tenant.
    pub tenant: String,
    /// Unix seconds when it was queued.
    pub at: i64,
    /// Its bytes (an encoded `push.v1.PushRequest`).
    pub body: bytes::Bytes,
}

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
    let bad = || corrupt("queue item");
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

/// Table and counter names of queue `<n>`.
#[derive(Debug, Clone)]
struct Names {
    queue: String,
    dead: String,
    dead_why: String,
    next_key: String,
    bytes_key: String,
}

impl Names {
    fn of(n: &str) -> Names {
        Names {
            queue: format!("{QUEUE_PREFIX}{n}"),
            dead: format!("forward_dead_{n}"),
            dead_why: format!("forward_dead_why_{n}"),
            next_key: format!("forward_next_{n}"),
            bytes_key: format!("forward_bytes_{n}"),
        }
    }
}

/// Appends every item of `old` to `q` in order, numbered from `next` on. Returns the items and
/// their body bytes.
fn append_items(
    old: &impl ReadableTable<u64, &'static [u8]>,
    q: &mut redb::Table<'_, u64, &'static [u8]>,
    next: &mut u64,
) -> Result<(u64, u64), StoreError> {
    let (mut moved, mut bytes) = (0, 0);
    for entry in old.iter()? {
        let (k, v) = entry?;
        let item = decode(k.value(), v.value())?;
        *next += 1;
        bytes += item.body.len() as u64;
        q.insert(*next, v.value())?;
        moved += 1;
    }
    Ok((moved, bytes))
}

/// Appends every dead letter of `old` (and its upstream message) to `dead`, numbered from
/// `next` on.
fn append_dead(
    (old, old_why): (
        &impl ReadableTable<u64, &'static [u8]>,
        &impl ReadableTable<u64, &'static str>,
    ),
    (dead, why): (
        &mut redb::Table<'_, u64, &'static [u8]>,
        &mut redb::Table<'_, u64, &'static str>,
    ),
    next: &mut u64,
) -> Result<(), StoreError> {
    for entry in old.iter()? {
        let (k, v) = entry?;
        *next += 1;
        dead.insert(*next, v.value())?;
        if let Some(w) = old_why.get(k.value())? {
            why.insert(*next, w.value())?;
        }
    }
    Ok(())
}

/// Prefix of every queue's item table.
const QUEUE_PREFIX: &str = "forward_queue_";

/// Queue name → label ([`Queue::set_label`]).
const LABELS: TableDefinition<&str, &str> = TableDefinition::new("queue_labels");

/// A queue found in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueInfo {
    /// Its name.
    pub name: String,
    /// Its label (an endpoint URL), empty when none was set.
    pub label: String,
    /// Items queued.
    pub items: u64,
    /// Bytes queued.
    pub bytes: u64,
}

/// Every queue in `store`, with its label and backlog.
///
/// # Errors
/// A storage failure.
pub fn list(store: &Store) -> Result<Vec<QueueInfo>, StoreError> {
    let tx = store.begin_read()?;
    let names: Vec<String> = tx
        .list_tables()?
        .filter_map(|t| {
            redb::TableHandle::name(&t)
                .strip_prefix(QUEUE_PREFIX)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
        })
        .collect();
    let labels = match tx.open_table(LABELS) {
        Ok(t) => Some(t),
        Err(redb::TableError::TableDoesNotExist(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let meta = tx.open_table(META)?;
    let mut out = Vec::new();
    for name in names {
        let n = Names::of(&name);
        let items = tx
            .open_table(TableDefinition::<u64, &[u8]>::new(&n.queue))?
            .len()?;
        let bytes = meta.get(n.bytes_key.as_str())?.map_or(0, |g| g.value());
        let label = match &labels {
            Some(l) => l.get(name.as_str())?.map(|g| g.value().to_owned()),
            None => None,
        };
        out.push(QueueInfo {
            name,
            label: label.unwrap_or_default(),
            items,
            bytes,
        });
    }
    Ok(out)
}

/// A request moved to a queue's dead letters, and why (the upstream's answer, or its age).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The request as it was queued.
    pub item: Item,
    /// Why it was not delivered.
    pub why: String,
}

/// The dead letters of queue `name` (see [`list`]), oldest first.
///
/// # Errors
/// A storage failure or a corrupt entry.
pub fn dead_letters(store: &Store, name: &str) -> Result<Vec<DeadLetter>, StoreError> {
    let n = Names::of(name);
    let tx = store.begin_read()?;
    let dead = match tx.open_table(TableDefinition::<u64, &[u8]>::new(&n.dead)) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let why = tx.open_table(TableDefinition::<u64, &str>::new(&n.dead_why))?;
    let mut out = Vec::new();
    for entry in dead.iter()? {
        let (seq, bytes) = entry?;
        let seq = seq.value();
        out.push(DeadLetter {
            item: decode(seq, bytes.value())?,
            why: why
                .get(seq)?
                .map(|g| g.value().to_owned())
                .unwrap_or_default(),
        });
    }
    Ok(out)
}

/// One queue, named `<n>`: tables `forward_queue_<n>` (seq → item), `forward_dead_<n>` and
/// `forward_dead_why_<n>` (dead letters and the upstream's message), and counters
/// `forward_next_<n>`, `forward_bytes_<n>` in the store's `meta` table.
pub struct Queue {
    store: Arc<Store>,
    name: String,
    names: Names,
    max_bytes: u64,
    /// Bytes queued now (mirrors the `bytes` counter).
    bytes: AtomicU64,
    /// Items queued now.
    items: AtomicU64,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("table", &self.names.queue)
            .field("bytes", &self.bytes.load(Ordering::Relaxed))
            .finish()
    }
}

/// Tables of the queue files of earlier releases (`forward-<n>.redb`), moved into the store on
/// open.
const LEGACY_QUEUE: TableDefinition<u64, &[u8]> = TableDefinition::new("queue");
const LEGACY_DEAD: TableDefinition<u64, &[u8]> = TableDefinition::new("dead");
const LEGACY_DEAD_WHY: TableDefinition<u64, &str> = TableDefinition::new("dead_why");

impl Queue {
    fn table(&self) -> TableDefinition<'_, u64, &'static [u8]> {
        TableDefinition::new(&self.names.queue)
    }

    fn dead_table(&self) -> TableDefinition<'_, u64, &'static [u8]> {
        TableDefinition::new(&self.names.dead)
    }

    fn dead_why_table(&self) -> TableDefinition<'_, u64, &'static str> {
        TableDefinition::new(&self.names.dead_why)
    }

    /// Opens (or creates) queue `n` in `store`, holding at most `max_bytes`. A queue file an
    /// earlier release left (`legacy`, `forward-<n>.redb`) is moved in first, its order and dead
    /// letters kept, and renamed `…redb.migrated`.
    ///
    /// # Errors
    /// A storage failure, or a legacy file that cannot be read.
    pub fn open(
        store: Arc<Store>,
        n: &str,
        max_bytes: u64,
        legacy: &Path,
    ) -> Result<Queue, StoreError> {
        let q = Queue {
            store,
            name: n.to_owned(),
            names: Names::of(n),
            max_bytes,
            bytes: AtomicU64::new(0),
            items: AtomicU64::new(0),
        };
        let exists = {
            let tx = q.store.begin_read()?;
            let names: Vec<String> = tx
                .list_tables()?
                .map(|t| redb::TableHandle::name(&t).to_owned())
                .collect();
            [&q.names.queue, &q.names.dead, &q.names.dead_why]
                .iter()
                .all(|t| names.iter().any(|n| n == *t))
        };
        // Created once: a restart writes nothing (it starts on a full disk too).
        if !exists {
            let tx = q.store.begin_write()?;
            {
                tx.open_table(q.table())?;
                tx.open_table(q.dead_table())?;
                tx.open_table(q.dead_why_table())?;
            }
            tx.commit()?;
        }
        if legacy.exists() {
            q.migrate(legacy)?;
        }
        let tx = q.store.begin_read()?;
        let bytes = tx
            .open_table(META)?
            .get(q.names.bytes_key.as_str())?
            .map_or(0, |g| g.value());
        let items = tx.open_table(q.table())?.len()?;
        q.bytes.store(bytes, Ordering::Relaxed);
        q.items.store(items, Ordering::Relaxed);
        Ok(q)
    }

    /// Moves the items and dead letters of a legacy queue file into the store, then renames it.
    fn migrate(&self, legacy: &Path) -> Result<(), StoreError> {
        let old = redb::Database::open(legacy)
            .map_err(|e| io(format_args!("{}: {e}", legacy.display())))?;
        let rtx = old.begin_read()?;
        let tx = self.store.begin_write()?;
        let mut moved = 0u64;
        {
            let mut meta = tx.open_table(META)?;
            let mut next = meta
                .get(self.names.next_key.as_str())?
                .map_or(0, |g| g.value());
            let mut bytes = meta
                .get(self.names.bytes_key.as_str())?
                .map_or(0, |g| g.value());
            let mut q = tx.open_table(self.table())?;
            if let Ok(old_q) = rtx.open_table(LEGACY_QUEUE) {
                let (n, b) = append_items(&old_q, &mut q, &mut next)?;
                moved += n;
                bytes += b;
            }
            if let (Ok(old_dead), Ok(old_why)) =
                (rtx.open_table(LEGACY_DEAD), rtx.open_table(LEGACY_DEAD_WHY))
            {
                let mut dead = tx.open_table(self.dead_table())?;
                let mut why = tx.open_table(self.dead_why_table())?;
                append_dead((&old_dead, &old_why), (&mut dead, &mut why), &mut next)?;
            }
            meta.insert(self.names.next_key.as_str(), next)?;
            meta.insert(self.names.bytes_key.as_str(), bytes)?;
        }
        tx.commit()?;
        drop(rtx);
        drop(old);
        let mut done = legacy.as_os_str().to_owned();
        done.push(".migrated");
        std::fs::rename(legacy, &done)
            .map_err(|e| io(format_args!("{}: {e}", legacy.display())))?;
        tracing::info!(queue = %self.name, requests = moved, from = %legacy.display(), "forward queue moved into the store");
        Ok(())
    }

    /// Moves every item and dead letter of queue `old` (another name in the same store, e.g. a
    /// queue of an earlier release named by position) to the end of this one, in order, and
    /// deletes `old`. Returns the items moved (0 when `old` does not exist).
    ///
    /// # Errors
    /// A storage failure; nothing moves then.
    pub fn adopt(&self, old: &str) -> Result<u64, StoreError> {
        if old == self.name {
            return Ok(0);
        }
        let from = Names::of(old);
        let exists = self
            .store
            .begin_read()?
            .list_tables()?
            .any(|t| redb::TableHandle::name(&t) == from.queue);
        if !exists {
            return Ok(0);
        }
        let tx = self.store.begin_write()?;
        let (moved, moved_bytes): (u64, u64);
        {
            let mut meta = tx.open_table(META)?;
            let mut next = meta
                .get(self.names.next_key.as_str())?
                .map_or(0, |g| g.value());
            let old_q = tx.open_table(TableDefinition::<u64, &[u8]>::new(&from.queue))?;
            let mut q = tx.open_table(self.table())?;
            (moved, moved_bytes) = append_items(&old_q, &mut q, &mut next)?;
            let old_dead = tx.open_table(TableDefinition::<u64, &[u8]>::new(&from.dead))?;
            let old_why = tx.open_table(TableDefinition::<u64, &str>::new(&from.dead_why))?;
            let mut dead = tx.open_table(self.dead_table())?;
            let mut why = tx.open_table(self.dead_why_table())?;
            append_dead((&old_dead, &old_why), (&mut dead, &mut why), &mut next)?;
            let bytes = meta
                .get(self.names.bytes_key.as_str())?
                .map_or(0, |g| g.value())
                + moved_bytes;
            meta.insert(self.names.next_key.as_str(), next)?;
            meta.insert(self.names.bytes_key.as_str(), bytes)?;
            meta.remove(from.next_key.as_str())?;
            meta.remove(from.bytes_key.as_str())?;
        }
        tx.delete_table(TableDefinition::<u64, &[u8]>::new(&from.queue))?;
        tx.delete_table(TableDefinition::<u64, &[u8]>::new(&from.dead))?;
        tx.delete_table(TableDefinition::<u64, &str>::new(&from.dead_why))?;
        tx.commit()?;
        self.bytes.fetch_add(moved_bytes, Ordering::Relaxed);
        self.items.fetch_add(moved, Ordering::Relaxed);
        Ok(moved)
    }

    /// Records what this queue is for (a forwarder's endpoint URL), shown by [`list`].
    ///
    /// # Errors
    /// A storage failure.
    pub fn set_label(&self, label: &str) -> Result<(), StoreError> {
        {
            let tx = self.store.begin_read()?;
            let same = match tx.open_table(LABELS) {
                Ok(t) => t
                    .get(self.name.as_str())?
                    .is_some_and(|g| g.value() == label),
                Err(redb::TableError::TableDoesNotExist(_)) => false,
                Err(e) => return Err(e.into()),
            };
            if same {
                return Ok(());
            }
        }
        let tx = self.store.begin_write()?;
        tx.open_table(LABELS)?.insert(self.name.as_str(), label)?;
        tx.commit()?;
        Ok(())
    }

    /// Whether a request of `size` bytes fits under the bound beside what is queued now.
    pub fn fits(&self, size: u64) -> bool {
        self.bytes.load(Ordering::Relaxed) + size <= self.max_bytes
    }

    /// Appends a request inside `tx` (the transaction that stores it locally, whose `meta`
    /// table is open as `meta`); call [`Queue::appended`] once `tx` is committed.
    ///
    /// # Errors
    /// A storage failure.
    pub fn append(
        &self,
        tx: &redb::WriteTransaction,
        meta: &mut redb::Table<'_, &'static str, u64>,
        QueueItem { tenant, at, body }: &QueueItem,
    ) -> Result<(), StoreError> {
        let next = meta
            .get(self.names.next_key.as_str())?
            .map_or(0, |g| g.value())
            + 1;
        let bytes = meta
            .get(self.names.bytes_key.as_str())?
            .map_or(0, |g| g.value())
            + body.len() as u64;
        tx.open_table(self.table())?
            .insert(next, encode(tenant, *at, body).as_slice())?;
        meta.insert(self.names.next_key.as_str(), next)?;
        meta.insert(self.names.bytes_key.as_str(), bytes)?;
        Ok(())
    }

    /// Counts a request [`Queue::append`]ed in a transaction that is now committed.
    pub fn appended(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.items.fetch_add(1, Ordering::Relaxed);
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
        let tx = self.store.begin_read()?;
        let q = tx.open_table(self.table())?;
        let mut items = Vec::new();
        let mut bytes = 0u64;
        for entry in q.iter()? {
            if items.len() >= max_items || (!items.is_empty() && bytes >= max_bytes) {
                break;
            }
            let (k, v) = entry?;
            let item = decode(k.value(), v.value())?;
            bytes += item.body.len() as u64;
            items.push(item);
        }
        Ok(items)
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
        let tx = self.store.begin_write()?;
        let size: u64 = items.iter().map(|(i, _)| i.body.len() as u64).sum();
        {
            let mut q = tx.open_table(self.table())?;
            let mut dead_items = tx.open_table(self.dead_table())?;
            let mut dead_why = tx.open_table(self.dead_why_table())?;
            for (item, dead) in items {
                q.remove(item.seq)?;
                if let Some(why) = dead {
                    let bytes = encode(&item.tenant, item.queued_at, &item.body);
                    dead_items.insert(item.seq, bytes.as_slice())?;
                    dead_why.insert(item.seq, *why)?;
                }
            }
            let mut m = tx.open_table(META)?;
            let total = m
                .get(self.names.bytes_key.as_str())?
                .map_or(0, |g| g.value())
                .saturating_sub(size);
            m.insert(self.names.bytes_key.as_str(), total)?;
        }
        tx.commit()?;
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
        let tx = self.store.begin_read()?;
        Ok(tx.open_table(self.dead_table())?.len()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("pyro-queue-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A queue file of the earlier layout (its own redb file per endpoint) is moved into the
    /// store in order, with its dead letters, and renamed.
    #[test]
    fn legacy_queue_file_moves_into_the_store() {
        let dir = temp("legacy");
        let legacy = dir.join("forward-0.redb");
        {
            let db = redb::Database::create(&legacy).unwrap();
            let tx = db.begin_write().unwrap();
            {
                let mut q = tx.open_table(LEGACY_QUEUE).unwrap();
                q.insert(7, encode("t1", 100, b"first").as_slice()).unwrap();
                q.insert(9, encode("", 101, b"second!").as_slice()).unwrap();
                let mut d = tx.open_table(LEGACY_DEAD).unwrap();
                d.insert(3, encode("t1", 99, b"dead").as_slice()).unwrap();
                let mut w = tx.open_table(LEGACY_DEAD_WHY).unwrap();
                w.insert(3, "401: no").unwrap();
            }
            tx.commit().unwrap();
        }
        let store = Arc::new(Store::open(&dir).unwrap());
        let q = Queue::open(store.clone(), "0", 1 << 20, &legacy).unwrap();
        assert!(!legacy.exists());
        assert!(dir.join("forward-0.redb.migrated").exists());
        assert_eq!(q.depth(), (12, 2));
        assert_eq!(q.dead().unwrap(), 1);
        let items = q.peek_batch(10, 1 << 20).unwrap();
        let got: Vec<(&str, i64, &[u8])> = items
            .iter()
            .map(|i| (i.tenant.as_str(), i.queued_at, &i.body[..]))
            .collect();
        assert_eq!(
            got,
            [("t1", 100, &b"first"[..]), ("", 101, &b"second!"[..])]
        );
        // Reopened: the same queue, counters from the store.
        drop(q);
        let q = Queue::open(store, "0", 1 << 20, &legacy).unwrap();
        assert_eq!(q.depth(), (12, 2));
        q.remove_batch(&[(&items[0], None)]).unwrap();
        assert_eq!(q.depth(), (7, 1));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A queue of an earlier release named by position moves, in order, into the queue named by
    /// its endpoint, once; every queue is listed with its label and backlog.
    #[test]
    fn positional_queues_are_adopted_once() {
        let dir = temp("adopt");
        let store = Arc::new(Store::open(&dir).unwrap());
        let none = dir.join("none.redb");
        let old = Queue::open(store.clone(), "0", 1 << 20, &none).unwrap();
        let item = |body: &'static [u8]| QueueItem {
            tenant: "t".into(),
            at: 5,
            body: bytes::Bytes::from_static(body),
        };
        for body in [&b"a"[..], b"bb"] {
            let tx = store.begin_write().unwrap();
            let mut meta = tx.open_table(META).unwrap();
            old.append(&tx, &mut meta, &item(body)).unwrap();
            drop(meta);
            tx.commit().unwrap();
            old.appended(body.len() as u64);
        }
        drop(old);
        let q = Queue::open(store.clone(), "cafe", 1 << 20, &none).unwrap();
        q.set_label("http://a").unwrap();
        assert_eq!(q.adopt("0").unwrap(), 2);
        assert_eq!(q.adopt("0").unwrap(), 0, "once");
        assert_eq!(q.depth(), (3, 2));
        let bodies: Vec<Vec<u8>> = q
            .peek_batch(10, 1 << 20)
            .unwrap()
            .into_iter()
            .map(|i| i.body.to_vec())
            .collect();
        assert_eq!(bodies, [b"a".to_vec(), b"bb".to_vec()]);
        assert_eq!(
            list(&store).unwrap(),
            [QueueInfo {
                name: "cafe".into(),
                label: "http://a".into(),
                items: 2,
                bytes: 3
            }]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
