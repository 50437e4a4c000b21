//! Retention: old deltas of every series of every tenant, then series left without data.

use std::sync::Arc;

use redb::ReadableTable;

use super::{SERIES, Store, StoreError, Tables, err};

/// Series handled per write transaction, so that retention never holds the writer for long.
const SERIES_PER_TX: usize = 1000;

impl Store {
    /// Deletes every delta of a slot that starts before `before`, in every tenant, then every
    /// series left without data and its key and postings. Returns the number of slots deleted.
    ///
    /// # Errors
    /// A storage failure.
    pub fn delete_before(&self, before: i64) -> Result<usize, StoreError> {
        let before = before.max(0) as u64;
        let ids: Vec<(String, u64)> = {
            let tx = self.begin_read()?;
            let t = tx.open_table(SERIES).map_err(err)?;
            t.iter()
                .map_err(err)?
                .map(|i| {
                    i.map(|(k, _)| {
                        let (tenant, id) = k.value();
                        (tenant.to_owned(), id)
                    })
                    .map_err(err)
                })
                .collect::<Result<_, _>>()?
        };
        let mut deleted = 0;
        for chunk in ids.chunks(SERIES_PER_TX) {
            let tx = self.begin_write()?;
            // Series may go: the writer's memory of ids is dropped while this transaction holds
            // the write lock, so no write can use an id deleted here.
            self.forget();
            {
                let mut t = Tables::open(&tx)?;
                for (tenant, id) in chunk {
                    let tenant = tenant.as_str();
                    let old: Vec<(u64, u64)> = t
                        .deltas
                        .range((tenant, *id, 0, 0)..(tenant, *id, before, 0))
                        .map_err(err)?
                        .map(|i| {
                            i.map(|(k, _)| {
                                let k = k.value();
                                (k.2, k.3)
                            })
                            .map_err(err)
                        })
                        .collect::<Result<_, _>>()?;
                    let mut slots = 0;
                    let mut last = None;
                    for (slot, seq) in old {
                        t.deltas.remove((tenant, *id, slot, seq)).map_err(err)?;
                        if last != Some(slot) {
                            slots += 1;
                            last = Some(slot);
                        }
                    }
                    deleted += slots;
                    let empty = t
                        .deltas
                        .range((tenant, *id, 0, 0)..=(tenant, *id, u64::MAX, u64::MAX))
                        .map_err(err)?
                        .next()
                        .is_none();
                    if empty {
                        t.remove_series(tenant, *id)?;
                    }
                }
            }
            tx.commit().map_err(err)?;
        }
        // Sample ids of writes older than the retention are forgotten with them.
        let tx = self.begin_write()?;
        {
            let mut t = Tables::open(&tx)?;
            let old: Vec<(String, String)> = t
                .seen
                .iter()
                .map_err(err)?
                .filter_map(|i| i.ok())
                .filter(|(_, v)| v.value() < before)
                .map(|(k, _)| (k.value().0.to_owned(), k.value().1.to_owned()))
                .collect();
            for (tenant, id) in old {
                t.seen.remove((tenant.as_str(), id.as_str())).map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(deleted)
    }
}

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

/// Deletes slots older than `retention_secs` every `every`, forever.
pub async fn retention_task(store: Arc<Store>, retention_secs: i64, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let store = store.clone();
        let cutoff = crate::http::now() - retention_secs;
        match tokio::task::spawn_blocking(move || store.delete_before(cutoff)).await {
            Ok(Ok(n)) if n > 0 => tracing::info!(deleted_slots = n, "retention"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "retention failed"),
            Err(e) => tracing::error!(error = %e, "retention task failed"),
        }
    }
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
