//! Retention: old deltas and rollups of every series of every tenant, then series left without
//! data.

use redb::ReadableTable;

use crate::error::StoreError;
use crate::levels::{LEVELS, level_width};
use crate::stacks::PARTITION_SECONDS;
use crate::write::{Tables, watermarks};
use crate::{SERIES, Store};

/// Series handled per write transaction, so that retention never holds the writer for long.
const SERIES_PER_TX: usize = 1000;

impl Store {
    /// Deletes every delta of a slot that starts before `before`, and every rollup of a window
    /// that starts before it, in every tenant; a closed window that straddles `before` is
    /// marked for rebuilding from what is left. Then deletes every series left without data,
    /// with its key and postings. Returns the number of slots deleted.
    ///
    /// # Errors
    /// A storage failure.
    pub fn delete_before(&self, before: i64) -> Result<usize, StoreError> {
        let before = before.max(0);
        let ids: Vec<(String, u64)> = {
            let tx = self.begin_read()?;
            let t = tx.open_table(SERIES)?;
            let mut v = Vec::new();
            for item in t.iter()? {
                let entry = item?;
                let (tenant, id) = entry.0.value();
                v.push((tenant.to_owned(), id));
            }
            v
        };
        let mut deleted = 0;
        for chunk in ids.chunks(SERIES_PER_TX) {
            let tx = self.begin_write()?;
            // Series may go: the writer's memory of ids is dropped while this transaction holds
            // the write lock, so no write can use an id deleted here.
            self.forget();
            {
                let mut t = Tables::open(&tx)?;
                let until = watermarks(&t.meta)?;
                for (tenant, id) in chunk {
                    let (tenant, id) = (tenant.as_str(), *id);
                    let mut old = Vec::new();
                    for item in t
                        .deltas
                        .range((tenant, id, 0, 0)..(tenant, id, before as u64, 0))?
                    {
                        let entry = item?;
                        let k = entry.0.value();
                        old.push((k.2, k.3));
                    }
                    let mut last = None;
                    for (slot, seq) in old {
                        t.deltas.remove((tenant, id, slot, seq))?;
                        if last != Some(slot) {
                            deleted += 1;
                            last = Some(slot);
                        }
                    }
                    for level in 1..LEVELS as u64 {
                        let mut old = Vec::new();
                        for item in t
                            .rollups
                            .range((tenant, id, level, 0)..(tenant, id, level, before as u64))?
                        {
                            old.push(item?.0.value().3);
                        }
                        for w in old {
                            t.rollups.remove((tenant, id, level, w))?;
                        }
                        // The window holding `before` lost its older part: rebuilt from the
                        // level below when it is closed.
                        let width = level_width(level as usize);
                        let straddling = before.div_euclid(width) * width;
                        if straddling < before && straddling + width <= until[level as usize] {
                            t.dirty.insert((level, straddling as u64, tenant, id), ())?;
                        }
                    }
                    let has_data = t
                        .deltas
                        .range((tenant, id, 0, 0)..=(tenant, id, u64::MAX, u64::MAX))?
                        .next()
                        .is_some();
                    // Span samples of the deleted slots; all of them when the series goes.
                    let span_until = if has_data { before as u64 } else { u64::MAX };
                    let mut old_spans: Vec<(u64, String, u64)> = Vec::new();
                    for item in t
                        .spans
                        .range((tenant, id, 0, "", 0)..(tenant, id, span_until, "", 0))?
                    {
                        let (k, _) = item?;
                        let (_, _, slot, span, seq) = k.value();
                        old_spans.push((slot, span.to_owned(), seq));
                    }
                    for (slot, span, seq) in old_spans {
                        t.spans.remove((tenant, id, slot, span.as_str(), seq))?;
                    }
                    // Stack tables of partitions wholly before `before`; all of them when the
                    // series goes. Partitions are found by seeking from one to the next.
                    let mut from = 0u64;
                    loop {
                        let next = t
                            .syms
                            .range((tenant, id, from, 0)..=(tenant, id, u64::MAX, u64::MAX))?
                            .next()
                            .transpose()?
                            .map(|(k, _)| k.value().2);
                        let Some(part) = next else { break };
                        if !has_data || part as i64 + PARTITION_SECONDS <= before {
                            remove_partition(&mut t.syms, (tenant, id, part))?;
                            remove_partition(&mut t.nodes, (tenant, id, part))?;
                        }
                        match part.checked_add(1) {
                            Some(f) => from = f,
                            None => break,
                        }
                    }
                    let empty = !has_data;
                    if empty {
                        let mut rest = Vec::new();
                        for item in t
                            .rollups
                            .range((tenant, id, 0, 0)..=(tenant, id, u64::MAX, u64::MAX))?
                        {
                            let entry = item?;
                            let k = entry.0.value();
                            rest.push((k.2, k.3));
                        }
                        for (level, w) in rest {
                            t.rollups.remove((tenant, id, level, w))?;
                        }
                        t.remove_series(tenant, id)?;
                    }
                }
            }
            tx.commit()?;
        }
        // Sample IDs stored longer ago than the retention are forgotten.
        self.prune_seen(before)?;
        Ok(deleted)
    }
}

impl Store {
    /// Forgets the push sample IDs stored before `before` (Unix seconds), a bounded number per
    /// transaction. Returns how many.
    ///
    /// # Errors
    /// A storage failure.
    pub fn prune_seen(&self, before: i64) -> Result<usize, StoreError> {
        let before = before.max(0) as u64;
        let mut pruned = 0;
        loop {
            {
                let tx = self.begin_read()?;
                let at = tx.open_table(crate::SEEN_AT)?;
                if at.range((0, "", "")..(before, "", ""))?.next().is_none() {
                    return Ok(pruned);
                }
            }
            let tx = self.begin_write()?;
            let n = {
                let mut t = Tables::open(&tx)?;
                let mut old: Vec<(u64, String, String)> = Vec::new();
                for item in t.seen_at.range((0, "", "")..(before, "", ""))? {
                    let (k, _) = item?;
                    let (at, tenant, id) = k.value();
                    old.push((at, tenant.to_owned(), id.to_owned()));
                    if old.len() >= SEEN_PER_TX {
                        break;
                    }
                }
                for (at, tenant, id) in &old {
                    t.seen_at.remove((*at, tenant.as_str(), id.as_str()))?;
                    // A later redelivery may have stored the ID again: keep that one.
                    let again = t
                        .seen
                        .get((tenant.as_str(), id.as_str()))?
                        .is_some_and(|g| g.value() >= before);
                    if !again {
                        t.seen.remove((tenant.as_str(), id.as_str()))?;
                    }
                }
                old.len()
            };
            tx.commit()?;
            pruned += n;
        }
    }
}

/// Removes every row of one series' partition from a stack table.
fn remove_partition<V: redb::Value + 'static>(
    table: &mut redb::Table<'_, (&'static str, u64, u64, u64), V>,
    (tenant, id, part): (&str, u64, u64),
) -> Result<(), StoreError> {
    let mut keys = Vec::new();
    for item in table.range((tenant, id, part, 0)..=(tenant, id, part, u64::MAX))? {
        keys.push(item?.0.value().3);
    }
    for k in keys {
        table.remove((tenant, id, part, k))?;
    }
    Ok(())
}

/// Sample IDs forgotten per write transaction.
const SEEN_PER_TX: usize = 10_000;

/// `--retention`: seconds (`3600`), or a duration with a unit (`90s`, `30m`, `12h`, `7d`, `2w`);
/// `0` keeps everything.
///
/// # Errors
/// Anything else, with what is expected.
pub fn parse_retention(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("invalid retention {s:?}: expected e.g. 3600, 12h or 7d"))?;
    let mul = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("invalid retention {s:?}: units are s, m, h, d, w")),
    };
    n.checked_mul(mul)
        .ok_or_else(|| format!("invalid retention {s:?}: too long"))
}

#[cfg(test)]
mod tests {
    use super::parse_retention;

    #[test]
    fn retention_units() {
        assert_eq!(parse_retention("0"), Ok(0));
        assert_eq!(parse_retention("3600"), Ok(3600));
        assert_eq!(parse_retention("90s"), Ok(90));
        assert_eq!(parse_retention("12h"), Ok(43_200));
        assert_eq!(parse_retention("7d"), Ok(604_800));
        assert_eq!(parse_retention("2w"), Ok(1_209_600));
        assert!(parse_retention("7y").is_err());
        assert!(parse_retention("h").is_err());
        assert!(parse_retention("99999999999999999999d").is_err());
    }
}
