//! Creating the tables, and converting a data dir of the first format on open.

use redb::{Database, ReadableTable, TableDefinition, TableHandle};

use super::{Meta, OwnedSeries, StoreError, Tables, err};

/// The format this build writes.
pub(crate) const VERSION: u64 = 2;

/// The first format: normalized key (tenant-prefixed) → metadata JSON.
const V1_SERIES: TableDefinition<&str, &[u8]> = TableDefinition::new("series");
/// The first format: (key, slot) → writes count + merged tree.
const V1_SLOTS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("slots");

/// Creates every table and, when the file holds the first format, converts it in the same
/// transaction: each series gets an id and its postings, each slot becomes one delta (writes
/// count kept), and the old tables are deleted. Nothing is lost: the conversion commits whole or
/// not at all.
pub(crate) fn create_and_migrate(db: &Database) -> Result<(), StoreError> {
    let tx = db.begin_write().map_err(err)?;
    let v1 = tx
        .list_tables()
        .map_err(err)?
        .any(|t| t.name() == V1_SERIES.name());
    {
        let mut t = Tables::open(&tx)?;
        let version = t.meta.get("version").map_err(err)?.map(|g| g.value());
        if v1 {
            let old = tx.open_table(V1_SERIES).map_err(err)?;
            let slots = tx.open_table(V1_SLOTS).map_err(err)?;
            let mut converted = 0u64;
            for item in old.iter().map_err(err)? {
                let (key, meta) = item.map_err(err)?;
                let meta: Meta = serde_json::from_slice(meta.value()).map_err(err)?;
                let name = meta.name()?;
                let tenant = meta.tenant.clone();
                let s = OwnedSeries::new(name.key(), meta, pyro_tree::StackTree::new());
                let id = t.series_id(&tenant, &s)?;
                let old_key = key.value().to_owned();
                for slot in slots
                    .range((old_key.as_str(), 0)..=(old_key.as_str(), u64::MAX))
                    .map_err(err)?
                {
                    let (k, v) = slot.map_err(err)?;
                    let seq = t.next("next_seq")?;
                    let at = k.value().1;
                    t.deltas
                        .insert((tenant.as_str(), id, at, seq), v.value())
                        .map_err(err)?;
                    converted += 1;
                }
            }
            tracing::info!(slots = converted, "storage converted to format 2");
        } else if version.is_some_and(|v| v > VERSION) {
            return Err(err(format!(
                "database format {} is newer than this build's ({VERSION})",
                version.unwrap_or_default()
            )));
        }
        t.meta.insert("version", VERSION).map_err(err)?;
    }
    if v1 {
        tx.delete_table(V1_SLOTS).map_err(err)?;
        tx.delete_table(V1_SERIES).map_err(err)?;
    }
    tx.commit().map_err(err)
}

/// The slots of one series in the first format: (slot start, writes, merged tree).
pub type V1Slots = Vec<(u64, u64, pyro_tree::StackTree<'static>)>;

/// Writes a database in the first format (as the previous release did), for the migration test.
///
/// # Errors
/// A storage failure.
#[doc(hidden)]
pub fn write_v1(path: &std::path::Path, series: &[(Meta, V1Slots)]) -> Result<(), StoreError> {
    let db = Database::create(path).map_err(err)?;
    let tx = db.begin_write().map_err(err)?;
    {
        let mut s = tx.open_table(V1_SERIES).map_err(err)?;
        let mut sl = tx.open_table(V1_SLOTS).map_err(err)?;
        for (meta, slots) in series {
            let name = meta.name()?;
            let key = if meta.tenant.is_empty() {
                name.key()
            } else {
                format!("{}\u{1f}{}", meta.tenant, name.key())
            };
            let m = serde_json::to_vec(meta).map_err(err)?;
            s.insert(key.as_str(), m.as_slice()).map_err(err)?;
            for (slot, writes, tree) in slots {
                let v = super::encode_delta(*writes, tree);
                sl.insert((key.as_str(), *slot), v.as_slice())
                    .map_err(err)?;
            }
        }
    }
    tx.commit().map_err(err)
}
