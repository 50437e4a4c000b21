//! Finding series: through keys and postings (labels, profile types); label names and values
//! from per-tenant counts.

use std::collections::BTreeSet;

use pyro_labels::{MatchOp, Query, SeriesName};
use redb::{ReadableTable, ReadableTableMetadata};

use crate::error::{StoreError, corrupt};
use crate::{
    DELTAS, LABEL_NAMES, LABEL_VALUES, Meta, NAME, POSTINGS, SERIES, SERIES_KEY, Store,
    TYPE_POSTINGS,
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
        let series = tx.open_table(SERIES)?;
        let load = |id: u64| -> Result<Option<Found>, StoreError> {
            let Some(m) = series.get((tenant, id))? else {
                return Ok(None);
            };
            let meta: Meta = serde_json::from_slice(m.value()).map_err(corrupt)?;
            Ok(Some(Found {
                id,
                name: meta.name()?,
                meta,
            }))
        };
        match selection {
            Selection::All => {
                let mut out = Vec::new();
                for item in series.range((tenant, 0)..=(tenant, u64::MAX))? {
                    let (k, m) = item?;
                    let meta: Meta = serde_json::from_slice(m.value()).map_err(corrupt)?;
                    out.push(Found {
                        id: k.value().1,
                        name: meta.name()?,
                        meta,
                    });
                }
                Ok(out)
            }
            Selection::Key(name) => {
                let keys = tx.open_table(SERIES_KEY)?;
                let id = keys.get((tenant, name.key().as_str()))?;
                match id.map(|g| g.value()) {
                    Some(id) => Ok(load(id)?.into_iter().collect()),
                    None => Ok(Vec::new()),
                }
            }
            Selection::Query(q) => {
                let postings = tx.open_table(POSTINGS)?;
                let ids = |k: &str, v: &str| -> Result<Vec<u64>, StoreError> {
                    postings
                        .range((tenant, k, v, 0)..=(tenant, k, v, u64::MAX))?
                        .map(|i| i.map(|(k, _)| k.value().3).map_err(StoreError::from))
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

    /// The series of `tenant` of profile type `type_id` (any type: `None`) whose service (the
    /// app name without its type suffix, GP's `service_name`) is `service` (any: `None`),
    /// found through the type postings and the app-name postings.
    ///
    /// # Errors
    /// A storage failure or a corrupt entry.
    pub fn select_typed(
        &self,
        tenant: &str,
        type_id: Option<&str>,
        service: Option<&str>,
    ) -> Result<Vec<Found>, StoreError> {
        let tx = self.begin_read()?;
        let series = tx.open_table(SERIES)?;
        let mut ids: Option<Vec<u64>> = None;
        if let Some(t) = type_id {
            let types = tx.open_table(TYPE_POSTINGS)?;
            let mut v = Vec::new();
            for item in types.range((tenant, t, 0)..=(tenant, t, u64::MAX))? {
                v.push(item?.0.value().2);
            }
            ids = Some(v);
        }
        if let Some(svc) = service {
            let postings = tx.open_table(POSTINGS)?;
            let mut v = Vec::new();
            // `svc` itself (an app without a type suffix) and every `svc.<type>`.
            for item in postings.range((tenant, NAME, svc, 0)..=(tenant, NAME, svc, u64::MAX))? {
                v.push(item?.0.value().3);
            }
            let prefix = format!("{svc}.");
            for item in postings.range((tenant, NAME, prefix.as_str(), 0)..)? {
                let (k, _) = item?;
                let (t, n, app, id) = k.value();
                if t != tenant || n != NAME || !app.starts_with(&prefix) {
                    break;
                }
                if !app[prefix.len()..].contains('.') {
                    v.push(id);
                }
            }
            v.sort_unstable();
            ids = Some(match ids {
                Some(by_type) => by_type
                    .into_iter()
                    .filter(|id| v.binary_search(id).is_ok())
                    .collect(),
                None => v,
            });
        }
        let mut out = Vec::new();
        let mut push = |id: u64, bytes: &[u8]| -> Result<(), StoreError> {
            let meta: Meta = serde_json::from_slice(bytes).map_err(corrupt)?;
            out.push(Found {
                id,
                name: meta.name()?,
                meta,
            });
            Ok(())
        };
        match ids {
            Some(ids) => {
                for id in ids {
                    if let Some(m) = series.get((tenant, id))? {
                        push(id, m.value())?;
                    }
                }
            }
            None => {
                for item in series.range((tenant, 0)..=(tenant, u64::MAX))? {
                    let (k, m) = item?;
                    push(k.value().1, m.value())?;
                }
            }
        }
        Ok(out)
    }

    /// Every label name of `tenant`'s series, `__name__` included.
    ///
    /// # Errors
    /// A storage failure.
    pub fn label_names(&self, tenant: &str) -> Result<Vec<String>, StoreError> {
        let tx = self.begin_read()?;
        let t = tx.open_table(LABEL_NAMES)?;
        let mut out = Vec::new();
        for item in t.range((tenant, "")..)? {
            let (k, _) = item?;
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
        let t = tx.open_table(LABEL_VALUES)?;
        let mut out = Vec::new();
        for item in t.range((tenant, name, "")..)? {
            let (k, _) = item?;
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
        let t = tx.open_table(SERIES)?;
        let mut out = Vec::new();
        for item in t.iter()? {
            let (_, v) = item?;
            let meta: Meta = serde_json::from_slice(v.value()).map_err(corrupt)?;
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
        let mut out: Option<(i64, i64)> = None;
        for id in ids {
            if let Some((a, b)) = self.time_range_of(tenant, id)? {
                out = Some(match out {
                    None => (a, b),
                    Some((x, y)) => (x.min(a), y.max(b)),
                });
            }
        }
        Ok(out)
    }

    /// The first and last slot (Unix seconds) holding data of series `id` of `tenant`, if any.
    ///
    /// # Errors
    /// A storage failure.
    pub fn time_range_of(&self, tenant: &str, id: u64) -> Result<Option<(i64, i64)>, StoreError> {
        let tx = self.begin_read()?;
        let t = tx.open_table(DELTAS)?;
        let mut r = t.range((tenant, id, 0, 0)..=(tenant, id, u64::MAX, u64::MAX))?;
        let first = r.next().transpose()?.map(|(k, _)| k.value().2 as i64);
        let last = r
            .next_back()
            .transpose()?
            .map(|(k, _)| k.value().2 as i64)
            .or(first);
        Ok(first.zip(last))
    }

    /// Number of series (all tenants) and of deltas.
    ///
    /// # Errors
    /// A storage failure.
    pub fn counts(&self) -> Result<(u64, u64), StoreError> {
        let tx = self.begin_read()?;
        let s = tx.open_table(SERIES)?.len()?;
        let d = tx.open_table(DELTAS)?.len()?;
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
