//! Samples into the call tree: label sets, the memo of stacks seen before (by their packed
//! bytes), and the entries that hold each (label set, node)'s values.

use super::*;

impl<'a> Forest<'a> {
    pub(crate) fn label_set(
        &mut self,
        labels: &[(usize, usize)],
        limits: &Limits,
        at: usize,
    ) -> Result<u32> {
        if labels.is_empty() {
            return Ok(0);
        }
        if let Some(&id) = self.label_index.get(labels) {
            return Ok(id);
        }
        if self.label_sets.len() > limits.max_label_sets {
            return Err(Error::limit(
                "distinct label sets",
                limits.max_label_sets,
                at,
                "Profile.sample.label",
            ));
        }
        let id = self.label_sets.len() as u32;
        self.label_sets.push(labels.to_vec());
        self.label_index.insert(labels.to_vec(), id);
        Ok(id)
    }

    /// The node a stack of packed location ids ended at before, if its bytes were seen.
    ///
    /// Stacks are only remembered while that pays: when none of the first [`MEMO_EARLY`]
    /// lookups hit, or fewer than one in [`MEMO_MIN_HITS`] of the first [`MEMO_TRIAL`] (every
    /// stack distinct, as in Go profiles), hashing stops and every sample is walked.
    #[inline]
    pub(crate) fn seen(&mut self, bytes: &[u8]) -> (Option<u32>, u64) {
        if !self.memo {
            return (None, 0);
        }
        let hash = self.hasher.hash_one(bytes);
        let found = self
            .seen_index
            .find(hash, |&e| {
                let s = &self.seen[e as usize];
                self.seen_bytes
                    .get(s.start as usize..(s.start + s.len) as usize)
                    == Some(bytes)
            })
            .map(|&e| self.seen[e as usize].leaf);
        if self.lookups < MEMO_TRIAL {
            self.lookups += 1;
            self.hits += u32::from(found.is_some());
            let give_up = match self.lookups {
                MEMO_EARLY => self.hits == 0,
                MEMO_TRIAL => self.hits * MEMO_MIN_HITS < MEMO_TRIAL,
                _ => false,
            };
            if give_up {
                self.memo = false;
                self.seen = Vec::new();
                self.seen_bytes = Vec::new();
                self.seen_index = HashTable::new();
            }
        }
        (found, hash)
    }

    /// Remembers the node the stack of `bytes` (hashed to `hash` by [`Forest::seen`]) ends at.
    pub(crate) fn remember(&mut self, bytes: &'a [u8], hash: u64, leaf: u32) {
        if !self.memo {
            return;
        }
        // Offsets are u32: past 4 GiB of stacks (not a profile the limits let in), stop
        // remembering.
        let Ok(start) = u32::try_from(self.seen_bytes.len()) else {
            return;
        };
        if u32::try_from(self.seen_bytes.len() + bytes.len()).is_err() {
            return;
        }
        self.seen_bytes.extend_from_slice(bytes);
        let e = self.seen.len() as u32;
        self.seen.push(Seen {
            start,
            len: bytes.len() as u32,
            leaf,
            hash,
        });
        let seen = &self.seen;
        self.seen_index
            .insert_unique(hash, e, |&x| seen[x as usize].hash);
    }

    /// A new entry of (`set`, `node`) holding `values`.
    fn new_entry(&mut self, set: u32, node: u32, values: &[u64]) -> u32 {
        let e = self.entries.len() as u32;
        self.entries.push((set, node));
        self.values.extend_from_slice(values);
        e
    }

    /// Adds `values` to the entry of (`set`, `node`).
    #[inline]
    pub(crate) fn add_values(
        &mut self,
        set: u32,
        node: u32,
        values: &[u64],
        at: usize,
    ) -> Result<()> {
        let e = if set == 0 {
            // Set 0 (no labels, the usual case) is held by the node.
            match *self.tree.data(node) {
                NONE => {
                    let e = self.new_entry(set, node, values);
                    *self.tree.data_mut(node) = e;
                    return Ok(());
                }
                e => e,
            }
        } else {
            let key = (u64::from(set) << 32) | u64::from(node);
            // Made on first use: most profiles have no labels.
            let mut index = self
                .entry_index
                .take()
                .unwrap_or_else(|| ChildTable::with_capacity(self.samples.min(1 << 12)));
            let found = match index.find(key) {
                Ok(e) => Some(e),
                Err(slot) => {
                    let e = self.new_entry(set, node, values);
                    index.insert_at(slot, key, e);
                    None
                }
            };
            self.entry_index = Some(index);
            match found {
                Some(e) => e,
                None => return Ok(()),
            }
        };
        let n = self.ntypes;
        let e = e as usize;
        for (slot, v) in self.values[e * n..(e + 1) * n].iter_mut().zip(values) {
            *slot = slot
                .checked_add(*v)
                .ok_or_else(|| Error::new(ErrorKind::SumOverflow, at, "Profile.sample.value"))?;
        }
        Ok(())
    }
}
