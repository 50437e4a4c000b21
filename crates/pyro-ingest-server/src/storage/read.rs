//! Reads: series found through keys and postings, slots merged from their deltas, label names
//! and values from per-tenant counts.

use std::collections::BTreeSet;

use pyro_labels::{MatchOp, Query, SeriesName};
use redb::{ReadableTable, ReadableTableMetadata};

use super::{
    DELTAS, LABEL_NAMES, LABEL_VALUES, Meta, NAME, POSTINGS, SERIES, SERIES_KEY, Slot, Store,
    StoreError, decode_delta, err,
};

/// Which series of a tenant to find.
#[derive(Debug, Clone, Copy)]
pub enum Selection<'q> {
    /// Every series.
    All,
    /// The series with exactly this name.
    Key(&'q SeriesName),
    /// The series a FlameQL query matches.
    Query(&'q Query),
}

/// A series found.
#[derive(Debug, Clone)]
pub struct Found {
    /// Its id in the store.
    pub id: u64,
    /// Its name.
    pub name: SeriesName,
    /// Its metadata.
    pub meta: Meta,
}

impl Store {
    /// The series of `tenant` that `selection` picks, by id. A query looks up the postings of
    /// its app name and of each `=` matcher and checks the other matchers on what is left, so
    /// the cost follows the series that match.
    ///
    /// # Errors
    /// A storage failure or a corrupt entry.
    pub fn select(&self, tenant: &str, selection: Selection<'_>) -> Result<Vec<Found>, StoreError> {
        let tx = self.begin_read()?;
        let series = tx.open_table(SERIES).map_err(err)?;
        let load = |id: u64| -> Result<Option<Found>, StoreError> {
            let Some(m) = series.get((tenant, id)).map_err(err)? else {
                return Ok(None);
            };
            let meta: Meta = serde_json::from_slice(m.value()).map_err(err)?;
            Ok(Some(Found {
                id,
                name: meta.name()?,
                meta,
            }))
        };
        match selection {
            Selection::All => {
                let mut out = Vec::new();
                for item in series
                    .range((tenant, 0)..=(tenant, u64::MAX))
                    .map_err(err)?
                {
                    let (k, m) = item.map_err(err)?;
                    let meta: Meta = serde_json::from_slice(m.value()).map_err(err)?;
                    out.push(Found {
                        id: k.value().1,
                        name: meta.name()?,
                        meta,
                    });
                }
                Ok(out)
            }
            Selection::Key(name) => {
                let keys = tx.open_table(SERIES_KEY).map_err(err)?;
                let id = keys.get((tenant, name.key().as_str())).map_err(err)?;
                match id.map(|g| g.value()) {
                    Some(id) => Ok(load(id)?.into_iter().collect()),
                    None => Ok(Vec::new()),
                }
            }
            Selection::Query(q) => {
                let postings = tx.open_table(POSTINGS).map_err(err)?;
                let ids = |k: &str, v: &str| -> Result<Vec<u64>, StoreError> {
                    postings
                        .range((tenant, k, v, 0)..=(tenant, k, v, u64::MAX))
                        .map_err(err)?
                        .map(|i| i.map(|(k, _)| k.value().3).map_err(err))
                        .collect()
                };
                let mut candidates = ids(NAME, q.app())?;
                for m in q.matchers().iter().filter(|m| m.op() == MatchOp::Equal) {
                    if candidates.is_empty() {
                        break;
                    }
                    let with = ids(m.key(), m.value())?;
                    candidates.retain(|id| with.binary_search(id).is_ok());
                }
                let mut out = Vec::new();
                for id in candidates {
                    if let Some(f) = load(id)?
                        && q.matches(&f.name)
                    {
                        out.push(f);
                    }
                }
                Ok(out)
            }
        }
    }

    /// The slots of series `id` of `tenant` in `[from, until]` (Unix seconds, inclusive), each
    /// the merge of its deltas, in time order.
    ///
    /// # Errors
    /// A storage failure or a corrupt delta.
    pub fn read(
        &self,
        tenant: &str,
        id: u64,
        from: i64,
        until: i64,
    ) -> Result<Vec<Slot>, StoreError> {
        let tx = self.begin_read()?;
        let t = tx.open_table(DELTAS).map_err(err)?;
        let (lo, hi) = (from.max(0) as u64, until.max(0) as u64);
        let mut out: Vec<Slot> = Vec::new();
        if lo > hi {
            return Ok(out);
        }
        for item in t
            .range((tenant, id, lo, 0)..=(tenant, id, hi, u64::MAX))
            .map_err(err)?
        {
            let (k, v) = item.map_err(err)?;
            let start = k.value().2 as i64;
            let (writes, tree) = decode_delta(v.value())?;
            match out.last_mut() {
                Some(s) if s.start == start => {
                    s.tree.merge(&tree);
                    s.writes += writes;
                }
                _ => out.push(Slot {
                    start,
                    writes,
                    tree,
                }),
            }
        }
        Ok(out)
    }

    /// Whether series `id` of `tenant` has any data in `[from, until]`.
    ///
    /// # Errors
    /// A storage failure.
    pub fn has_data(
        &self,
        tenant: &str,
        id: u64,
        from: i64,
        until: i64,
    ) -> Result<bool, StoreError> {
        let tx = self.begin_read()?;
        let t = tx.open_table(DELTAS).map_err(err)?;
        let (lo, hi) = (from.max(0) as u64, until.max(0) as u64);
        if lo > hi {
            return Ok(false);
        }
        Ok(t.range((tenant, id, lo, 0)..=(tenant, id, hi, u64::MAX))
            .map_err(err)?
            .next()
            .is_some())
    }

    /// Every label name of `tenant`'s series, `__name__` included.
    ///
    /// # Errors
    /// A storage failure.
    pub fn label_names(&self, tenant: &str) -> Result<Vec<String>, StoreError> {
        let tx = self.begin_read()?;
        let t = tx.open_table(LABEL_NAMES).map_err(err)?;
        let mut out = Vec::new();
        for item in t.range((tenant, "")..).map_err(err)? {
            let (k, _) = item.map_err(err)?;
            let (t, name) = k.value();
            if t != tenant {
                break;
            }
            out.push(name.to_owned());
        }
        Ok(out)
    }

    /// Every value of label `name` among `tenant`'s series (`__name__`: app names).
    ///
    /// # Errors
    /// A storage failure.
    pub fn label_values(&self, tenant: &str, name: &str) -> Result<Vec<String>, StoreError> {
        let tx = self.begin_read()?;
        let t = tx.open_table(LABEL_VALUES).map_err(err)?;
        let mut out = Vec::new();
        for item in t.range((tenant, name, "")..).map_err(err)? {
            let (k, _) = item.map_err(err)?;
            let (t, n, v) = k.value();
            if t != tenant || n != name {
                break;
            }
            out.push(v.to_owned());
        }
        Ok(out)
    }

    /// Every series of every tenant with its metadata.
    ///
    /// # Errors
    /// A storage failure or a corrupt entry.
    pub fn series(&self) -> Result<Vec<(SeriesName, Meta)>, StoreError> {
        let tx = self.begin_read()?;
        let t = tx.open_table(SERIES).map_err(err)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(err)? {
            let (_, v) = item.map_err(err)?;
            let meta: Meta = serde_json::from_slice(v.value()).map_err(err)?;
            out.push((meta.name()?, meta));
        }
        Ok(out)
    }

    /// The first and last slot (Unix seconds) holding data of `tenant`, if any.
    ///
    /// # Errors
    /// A storage failure.
    pub fn time_range(&self, tenant: &str) -> Result<Option<(i64, i64)>, StoreError> {
        let ids: Vec<u64> = self
            .select(tenant, Selection::All)?
            .into_iter()
            .map(|f| f.id)
            .collect();
        let tx = self.begin_read()?;
        let t = tx.open_table(DELTAS).map_err(err)?;
        let mut out: Option<(i64, i64)> = None;
        for id in ids {
            let mut r = t
                .range((tenant, id, 0, 0)..=(tenant, id, u64::MAX, u64::MAX))
                .map_err(err)?;
            let first = r
                .next()
                .transpose()
                .map_err(err)?
                .map(|(k, _)| k.value().2 as i64);
            let last = r
                .next_back()
                .transpose()
                .map_err(err)?
                .map(|(k, _)| k.value().2 as i64)
                .or(first);
            if let (Some(a), Some(b)) = (first, last) {
                out = Some(match out {
                    None => (a, b),
                    Some((x, y)) => (x.min(a), y.max(b)),
                });
            }
        }
        Ok(out)
    }

    /// Number of series (all tenants) and of deltas.
    ///
    /// # Errors
    /// A storage failure.
    pub fn counts(&self) -> Result<(u64, u64), StoreError> {
        let tx = self.begin_read()?;
        let s = tx.open_table(SERIES).map_err(err)?.len().map_err(err)?;
        let d = tx.open_table(DELTAS).map_err(err)?.len().map_err(err)?;
        Ok((s, d))
    }
}

/// Label names (`labels == None`) or values of one label of `found`, sorted, `__name__` first
/// among names.
pub fn labels_of(found: &[Found], label: Option<&str>) -> Vec<String> {
    let mut out: BTreeSet<String> = BTreeSet::new();
    for f in found {
        match label {
            None => {
                out.insert(NAME.to_owned());
                out.extend(f.name.labels().keys().cloned());
            }
            Some(l) => out.extend(f.name.get(l).map(str::to_owned)),
        }
    }
    out.into_iter().collect()
}
