//! Creating the tables, and converting data dirs of earlier formats on open.
//!
//! - Format 1 (tables `series`, `slots`): each series gets an id and its postings, each slot
//!   becomes one delta, in one transaction.
//! - Format 2 (table `deltas`, values in the upload's units): every delta is converted to its
//!   series' profile-type unit and re-encoded into `deltas_v3` under the same key, a few thousand
//!   per transaction (each moves its deltas whole, so a crash midway resumes where it stopped);
//!   every series gets its profile-type posting. Rollups are then built by the roller.
//! - Format 3 (stack tables with a row per symbol and per node): each partition's rows become
//!   one run per table (ids unchanged, so entries and rollups stay as they are), whole
//!   partitions per transaction, a bounded number of rows each.

use std::collections::HashMap;

use redb::{Database, ReadableTable, TableDefinition, TableHandle};

use crate::error::{StoreError, corrupt};
use crate::stacks::{NODES, PartitionIndex, SYMBOLS, V3_NODES, V3_SYMBOLS, partition_of};
use crate::write::Tables;
use crate::{Meta, OwnedSeries, codec};

/// The format this build writes.
pub(crate) const VERSION: u64 = 4;

/// The first format: normalized key (tenant-prefixed) → metadata JSON.
const V1_SERIES: TableDefinition<&str, &[u8]> = TableDefinition::new("series");
/// The first format: (key, slot) → writes count + merged tree (a format-2 delta).
const V1_SLOTS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("slots");
/// The second format's deltas: values in the upload's units.
const V2_DELTAS: TableDefinition<(&str, u64, u64, u64), &[u8]> = TableDefinition::new("deltas");

/// A delta key, owned.
type Key = (String, u64, u64, u64);

/// Format-2 deltas converted per transaction.
const V2_PER_TX: usize = 4096;

/// Stack-table indexes of the partitions a migration touched.
type Indexes = HashMap<(String, u64, u64), PartitionIndex>;

/// Converts a format-2 delta of series `id` (metadata `meta`) at `slot` to an entry of this
/// format: values to the profile type's unit, stacks into the partition's stack table.
fn convert(
    t: &mut Tables<'_>,
    indexes: &mut Indexes,
    (tenant, id, slot): (&str, u64, i64),
    meta: &Meta,
    bytes: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let (writes, mut tree) = codec::decode_v2(bytes)?;
    tree.multiply(meta.typed().scale);
    let part = partition_of(slot) as u64;
    let key = (tenant.to_owned(), id, part);
    if !indexes.contains_key(&key) {
        let ix = PartitionIndex::load(&t.syms, &t.nodes, (tenant, id, part))?;
        indexes.insert(key.clone(), ix);
    }
    let ix = indexes.get_mut(&key).expect("inserted above");
    let values = ix.intern(&tree, &mut t.syms, &mut t.nodes, (tenant, id, part))?;
    codec::encode(writes, &values).ok_or_else(|| {
        StoreError::new(
            crate::ErrorKind::Overflow,
            format_args!(
                "series {}: values overflow 64 bits in the profile type's unit",
                meta.app
            ),
        )
    })
}

/// Creates every table and converts a database of format 1 or 2. Returns whether it converted
/// anything (the caller then compacts the file: the old format's pages are free).
pub(crate) fn create_and_migrate(db: &Database) -> Result<bool, StoreError> {
    if current(db)? {
        // Nothing to create or convert: no write (a server restarting on a full disk starts).
        return Ok(false);
    }
    let tx = db.begin_write()?;
    let names: Vec<String> = tx.list_tables()?.map(|t| t.name().to_owned()).collect();
    let has = |t: &str| names.iter().any(|n| n == t);
    let (v1, v2) = (has(V1_SERIES.name()), has(V2_DELTAS.name()));
    let v3 = has(V3_SYMBOLS.name()) || has(V3_NODES.name());
    {
        let mut t = Tables::open(&tx)?;
        let version = t.meta.get("version")?.map(|g| g.value());
        if let Some(v) = version.filter(|&v| v > VERSION) {
            return Err(StoreError::new(
                crate::ErrorKind::Format,
                format_args!("database format {v} is newer than this build's ({VERSION})"),
            ));
        }
        if v1 {
            let old = tx.open_table(V1_SERIES)?;
            let slots = tx.open_table(V1_SLOTS)?;
            let mut converted = 0u64;
            let mut indexes = Indexes::new();
            for item in old.iter()? {
                let (key, meta) = item?;
                let meta: Meta = serde_json::from_slice(meta.value()).map_err(corrupt)?;
                let name = meta.name()?;
                let tenant = meta.tenant.clone();
                let s = OwnedSeries::new(name.key(), meta.clone(), pyro_tree::StackTree::new());
                let id = t.series_id(&tenant, &s)?;
                let old_key = key.value().to_owned();
                for slot in slots.range((old_key.as_str(), 0)..=(old_key.as_str(), u64::MAX))? {
                    let (k, v) = slot?;
                    let seq = t.next("next_seq")?;
                    let at = k.value().1;
                    let entry = convert(
                        &mut t,
                        &mut indexes,
                        (&tenant, id, at as i64),
                        &meta,
                        v.value(),
                    )?;
                    t.deltas
                        .insert((tenant.as_str(), id, at, seq), entry.as_slice())?;
                    converted += 1;
                }
            }
            tracing::info!(slots = converted, "storage converted from format 1");
        }
        if !v2 {
            t.meta.insert("version", VERSION)?;
        }
    }
    if v1 {
        tx.delete_table(V1_SLOTS)?;
        tx.delete_table(V1_SERIES)?;
    }
    tx.commit()?;
    if v2 {
        migrate_v2(db)?;
    }
    if v3 {
        migrate_v3(db)?;
    }
    Ok(v1 || v2 || v3)
}

/// Every table of this format, by name (what [`Tables::open`] and the stack tables create).
fn tables() -> [String; 15] {
    use crate::{
        DELTAS, DIRTY, LABEL_NAMES, LABEL_VALUES, META, POSTINGS, ROLLUPS, SEEN, SEEN_AT, SERIES,
        SERIES_KEY, SPANS, TYPE_POSTINGS,
    };
    [
        META.name().to_owned(),
        SERIES.name().to_owned(),
        SERIES_KEY.name().to_owned(),
        POSTINGS.name().to_owned(),
        TYPE_POSTINGS.name().to_owned(),
        LABEL_NAMES.name().to_owned(),
        LABEL_VALUES.name().to_owned(),
        SEEN.name().to_owned(),
        SEEN_AT.name().to_owned(),
        DELTAS.name().to_owned(),
        ROLLUPS.name().to_owned(),
        DIRTY.name().to_owned(),
        SYMBOLS.name().to_owned(),
        NODES.name().to_owned(),
        SPANS.name().to_owned(),
    ]
}

/// Whether the database is of this format with every table there, read without writing.
fn current(db: &Database) -> Result<bool, StoreError> {
    use redb::ReadableDatabase;
    let tx = db.begin_read()?;
    let names: Vec<String> = tx.list_tables()?.map(|t| t.name().to_owned()).collect();
    if !tables().iter().all(|t| names.contains(t))
        || names.iter().any(|n| {
            [
                V1_SERIES.name(),
                V2_DELTAS.name(),
                V3_SYMBOLS.name(),
                V3_NODES.name(),
            ]
            .contains(&n.as_str())
        })
    {
        return Ok(false);
    }
    let version = tx
        .open_table(crate::META)?
        .get("version")?
        .map(|g| g.value());
    Ok(version == Some(VERSION))
}

/// Moves format-2 deltas into `deltas_v3`, converted, in bounded transactions; then posts every
/// series' profile type, drops the old table and sets the version.
fn migrate_v2(db: &Database) -> Result<(), StoreError> {
    let mut metas: HashMap<(String, u64), Meta> = HashMap::new();
    let mut indexes = Indexes::new();
    let mut moved = 0u64;
    loop {
        let tx = db.begin_write()?;
        let n = {
            let mut t = Tables::open(&tx)?;
            let mut old = tx.open_table(V2_DELTAS)?;
            let mut batch: Vec<(Key, Vec<u8>)> = Vec::new();
            for item in old.iter()? {
                let (k, v) = item?;
                let (tenant, id, slot, seq) = k.value();
                batch.push(((tenant.to_owned(), id, slot, seq), v.value().to_vec()));
                if batch.len() >= V2_PER_TX {
                    break;
                }
            }
            for ((tenant, id, slot, seq), bytes) in &batch {
                let key = (tenant.clone(), *id);
                if !metas.contains_key(&key) {
                    let meta = match t.series.get((tenant.as_str(), *id))? {
                        Some(m) => serde_json::from_slice(m.value()).map_err(corrupt)?,
                        None => Meta::default(),
                    };
                    metas.insert(key.clone(), meta);
                }
                let meta = metas[&key].clone();
                let entry = convert(
                    &mut t,
                    &mut indexes,
                    (tenant, *id, *slot as i64),
                    &meta,
                    bytes,
                )?;
                t.deltas
                    .insert((tenant.as_str(), *id, *slot, *seq), entry.as_slice())?;
                old.remove((tenant.as_str(), *id, *slot, *seq))?;
            }
            batch.len()
        };
        tx.commit()?;
        moved += n as u64;
        if n < V2_PER_TX {
            break;
        }
        tracing::info!(deltas = moved, "converting storage from format 2");
    }
    let tx = db.begin_write()?;
    {
        let mut t = Tables::open(&tx)?;
        let mut posts: Vec<(String, String, u64)> = Vec::new();
        for item in t.series.iter()? {
            let (k, m) = item?;
            let (tenant, id) = k.value();
            let meta: Meta = serde_json::from_slice(m.value()).map_err(corrupt)?;
            posts.push((tenant.to_owned(), meta.typed().profile_type.id, id));
        }
        for (tenant, ty, id) in posts {
            t.type_postings
                .insert((tenant.as_str(), ty.as_str(), id), ())?;
        }
        // Sample IDs of format 2 kept their write's slot: indexed by it, to be forgotten.
        let mut seen: Vec<(u64, String, String)> = Vec::new();
        for item in t.seen.iter()? {
            let (k, v) = item?;
            seen.push((v.value(), k.value().0.to_owned(), k.value().1.to_owned()));
        }
        for (at, tenant, id) in seen {
            t.seen_at.insert((at, tenant.as_str(), id.as_str()), ())?;
        }
        t.meta.insert("version", VERSION)?;
    }
    tx.delete_table(V2_DELTAS)?;
    tx.commit()?;
    tracing::info!(deltas = moved, "storage converted from format 2");
    Ok(())
}

/// Format-3 stack-table rows converted per transaction (whole partitions: at least one).
const V3_ROWS_PER_TX: u64 = 200_000;

/// Turns format 3's stack tables (a row per symbol and per node) into runs: per partition one
/// run per table under the same ids, whole partitions per transaction, then drops the old tables
/// (their rows are not removed one by one: that rewrote the old tables' pages on every
/// transaction). A crash midway resumes after the last partition converted, the largest in the
/// new tables.
fn migrate_v3(db: &Database) -> Result<(), StoreError> {
    migrate_v3_in(db, V3_ROWS_PER_TX, usize::MAX).map(|_| ())
}

/// [`migrate_v3`] in transactions of at least `rows_per_tx` rows (whole partitions), stopping
/// after `max_txs` of them (a crash, in tests): whether it finished.
fn migrate_v3_in(db: &Database, rows_per_tx: u64, max_txs: usize) -> Result<bool, StoreError> {
    let mut moved = 0u64;
    for _ in 0..max_txs {
        let tx = db.begin_write()?;
        let done = {
            let old_syms = tx.open_table(V3_SYMBOLS)?;
            let old_nodes = tx.open_table(V3_NODES)?;
            let mut syms = tx.open_table(SYMBOLS)?;
            let mut nodes = tx.open_table(NODES)?;
            let last = |k: Option<(redb::AccessGuard<'_, RunKeyOf<'static>>, _)>| {
                k.map(|(k, _)| part_of(k.value()))
            };
            let mut after = last(syms.last()?).max(last(nodes.last()?));
            let mut rows = 0u64;
            loop {
                let a = first_after(&old_syms, after.as_ref())?;
                let b = first_after(&old_nodes, after.as_ref())?;
                let Some((tenant, id, part)) = a.into_iter().chain(b).min() else {
                    break true;
                };
                let t = tenant.as_str();
                let range = (t, id, part, 0)..=(t, id, part, u64::MAX);
                let mut run = Vec::new();
                let mut n = 0u64;
                for item in old_syms.range(range.clone())? {
                    let (k, v) = item?;
                    if k.value().3 != n {
                        return Err(corrupt("format-3 symbol ids not dense"));
                    }
                    crate::stacks::put_name(&mut run, v.value());
                    n += 1;
                }
                crate::stacks::insert_run(&mut syms, (t, id, part, 0), n, &run)?;
                rows += n;
                moved += n;
                run.clear();
                n = 0;
                for item in old_nodes.range(range)? {
                    let (k, v) = item?;
                    if k.value().3 != n + 1 {
                        return Err(corrupt("format-3 node ids not dense"));
                    }
                    crate::stacks::put_node_bytes(&mut run, v.value())?;
                    n += 1;
                }
                crate::stacks::insert_run(&mut nodes, (t, id, part, 1), n, &run)?;
                rows += n;
                moved += n;
                after = Some((tenant, id, part));
                if rows >= rows_per_tx {
                    break false;
                }
            }
        };
        if done {
            tx.delete_table(V3_SYMBOLS)?;
            tx.delete_table(V3_NODES)?;
        }
        tx.commit()?;
        if done {
            tracing::info!(rows = moved, "stack tables converted from format 3");
            return Ok(true);
        }
        tracing::info!(rows = moved, "converting stack tables from format 3");
    }
    Ok(false)
}

/// A stack-table key borrowing its tenant.
type RunKeyOf<'a> = (&'a str, u64, u64, u64);

/// A stack-table partition, owned.
type Part = (String, u64, u64);

fn part_of(k: RunKeyOf<'_>) -> Part {
    (k.0.to_owned(), k.1, k.2)
}

/// The first partition of a format-3 stack table after `after` (from the start: `None`).
fn first_after<V: redb::Value + 'static>(
    table: &impl ReadableTable<RunKeyOf<'static>, V>,
    after: Option<&Part>,
) -> Result<Option<Part>, StoreError> {
    use std::ops::Bound::{Excluded, Unbounded};
    let mut range = match after {
        Some((tenant, id, part)) => table.range::<RunKeyOf<'_>>((
            Excluded((tenant.as_str(), *id, *part, u64::MAX)),
            Unbounded,
        ))?,
        None => table.range::<RunKeyOf<'_>>(..)?,
    };
    Ok(range.next().transpose()?.map(|(k, _)| part_of(k.value())))
}

/// The slots of one series in the first format: (slot start, writes, merged tree).
pub type V1Slots = Vec<(u64, u64, pyro_tree::StackTree<'static>)>;

/// Writes a database in the first format (as that release did), for the migration test.
///
/// # Errors
/// A storage failure.
#[doc(hidden)]
pub fn write_v1(path: &std::path::Path, series: &[(Meta, V1Slots)]) -> Result<(), StoreError> {
    let db = Database::create(path)?;
    let tx = db.begin_write()?;
    {
        let mut s = tx.open_table(V1_SERIES)?;
        let mut sl = tx.open_table(V1_SLOTS)?;
        for (meta, slots) in series {
            let name = meta.name()?;
            let key = if meta.tenant.is_empty() {
                name.key()
            } else {
                format!("{}\u{1f}{}", meta.tenant, name.key())
            };
            let m = serde_json::to_vec(meta).map_err(corrupt)?;
            s.insert(key.as_str(), m.as_slice())?;
            for (slot, writes, tree) in slots {
                let mut v = writes.to_le_bytes().to_vec();
                v.extend_from_slice(&tree.to_tree_bytes());
                sl.insert((key.as_str(), *slot), v.as_slice())?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stacks::Shape;

    /// Partitions of a format-3 stack table: (tenant, series, partition) → stacks by node
    /// (parent node, frame name), node ids from 1.
    type V3Tables = Vec<((&'static str, u64, u64), Vec<(u32, &'static str)>)>;

    fn tables_v3() -> V3Tables {
        vec![
            (("", 1, 0), vec![(0, "main"), (1, "work"), (1, "idle")]),
            (("", 1, 1_000_000), vec![(0, "main"), (1, "gc")]),
            (("", 2, 0), vec![(0, "run"), (1, "run"), (2, "run")]),
            (("t", 1, 0), vec![(0, "x")]),
        ]
    }

    /// A database of format 3's stack tables (and this format's, empty).
    fn write_v3(path: &std::path::Path) -> Database {
        let db = Database::create(path).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut syms = tx.open_table(V3_SYMBOLS).unwrap();
            let mut nodes = tx.open_table(V3_NODES).unwrap();
            tx.open_table(SYMBOLS).unwrap();
            tx.open_table(NODES).unwrap();
            for ((tenant, id, part), stacks) in tables_v3() {
                let mut names: Vec<&str> = Vec::new();
                for (i, (parent, name)) in stacks.into_iter().enumerate() {
                    let sym = match names.iter().position(|n| *n == name) {
                        Some(s) => s,
                        None => {
                            syms.insert((tenant, id, part, names.len() as u64), name)
                                .unwrap();
                            names.push(name);
                            names.len() - 1
                        }
                    };
                    let mut v = Vec::new();
                    codec::put_varint(&mut v, u64::from(parent));
                    codec::put_varint(&mut v, sym as u64);
                    nodes
                        .insert((tenant, id, part, i as u64 + 1), v.as_slice())
                        .unwrap();
                }
            }
        }
        tx.commit().unwrap();
        db
    }

    /// Every partition's stacks as read back through this format's tables.
    fn read_v4(db: &Database) -> Vec<((String, u64, u64), Vec<String>)> {
        use redb::ReadableDatabase;
        let tx = db.begin_read().unwrap();
        let syms = tx.open_table(SYMBOLS).unwrap();
        let nodes = tx.open_table(NODES).unwrap();
        let mut out = Vec::new();
        for ((tenant, id, part), stacks) in tables_v3() {
            let shape = Shape::load(&syms, &nodes, (tenant, id, part)).unwrap();
            let values: Vec<u64> = (0..=stacks.len() as u64).collect();
            let mut got = Vec::new();
            shape
                .tree(&values, usize::MAX)
                .unwrap()
                .for_each_stack(|frames, v| got.push(format!("{} {v}", frames.join(";"))));
            got.sort();
            out.push(((tenant.to_owned(), id, part), got));
        }
        out
    }

    /// Format 3's stack tables become runs with the same ids; a conversion stopped after its
    /// first transaction (a crash) resumes after the last partition it converted and ends with
    /// the same tables as one that ran through, the old tables gone.
    #[test]
    fn format_3_stack_tables_convert_and_resume() {
        let dir = std::env::temp_dir().join(format!("pyro-migrate-v3-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let want = vec![
            (
                (String::new(), 1, 0),
                vec![
                    "main 1".to_owned(),
                    "main;idle 3".to_owned(),
                    "main;work 2".to_owned(),
                ],
            ),
            (
                (String::new(), 1, 1_000_000),
                vec!["main 1".to_owned(), "main;gc 2".to_owned()],
            ),
            (
                (String::new(), 2, 0),
                vec![
                    "run 1".to_owned(),
                    "run;run 2".to_owned(),
                    "run;run;run 3".to_owned(),
                ],
            ),
            (("t".to_owned(), 1, 0), vec!["x 1".to_owned()]),
        ];
        // Straight through.
        let db = write_v3(&dir.join("a.redb"));
        assert!(migrate_v3_in(&db, 1, usize::MAX).unwrap());
        assert_eq!(read_v4(&db), want);
        // Stopped after one partition, reopened, resumed.
        let db = write_v3(&dir.join("b.redb"));
        assert!(!migrate_v3_in(&db, 1, 1).unwrap());
        {
            use redb::ReadableDatabase;
            let tx = db.begin_read().unwrap();
            let nodes = crate::stacks::entry_count(&tx.open_table(NODES).unwrap()).unwrap();
            assert_eq!(nodes, 3, "the first partition only");
        }
        drop(db);
        let db = Database::create(dir.join("b.redb")).unwrap();
        assert!(migrate_v3_in(&db, 1, usize::MAX).unwrap());
        assert_eq!(read_v4(&db), want);
        let names: Vec<String> = {
            let tx = db.begin_write().unwrap();
            let names = tx
                .list_tables()
                .unwrap()
                .map(|t| t.name().to_owned())
                .collect();
            tx.abort().unwrap();
            names
        };
        assert!(
            !names
                .iter()
                .any(|n| n == V3_SYMBOLS.name() || n == V3_NODES.name())
        );
        drop(db);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
