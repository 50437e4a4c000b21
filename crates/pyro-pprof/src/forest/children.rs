//! The open-addressing child table of the call tree (and of its entries).

/// Open-addressing map from a `u64` key (`parent << 32 | location key` for the call tree,
/// `set << 32 | node` for entries) to a `u32`.
pub(super) struct ChildTable {
    /// `(key, value)`; [`EMPTY_KEY`] marks a free slot.
    pub(super) slots: Vec<(u64, u32)>,
    pub(super) len: usize,
    pub(super) shift: u32,
}

const EMPTY_KEY: u64 = u64::MAX;

impl ChildTable {
    /// A table that holds `n` keys before it grows.
    pub(super) fn with_capacity(n: usize) -> Self {
        let bits = (n.max(512) * 2).next_power_of_two().trailing_zeros();
        ChildTable {
            slots: vec![(EMPTY_KEY, 0); 1 << bits],
            len: 0,
            shift: 64 - bits,
        }
    }

    #[inline]
    pub(super) fn slot(&self, key: u64) -> usize {
        (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize
    }

    /// The value stored for `key`, or the free slot to store it in.
    #[inline]
    pub(super) fn find(&self, key: u64) -> Result<u32, usize> {
        let mask = self.slots.len() - 1;
        let mut i = self.slot(key);
        loop {
            let (k, v) = self.slots[i];
            if k == key {
                return Ok(v);
            }
            if k == EMPTY_KEY {
                return Err(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// Stores `value` for `key` in the free slot `at` that [`ChildTable::find`] returned.
    pub(super) fn insert_at(&mut self, at: usize, key: u64, value: u32) {
        self.slots[at] = (key, value);
        self.len += 1;
        if self.len * 2 > self.slots.len() {
            let grown = vec![(EMPTY_KEY, 0); self.slots.len() * 2];
            let old = std::mem::replace(&mut self.slots, grown);
            self.shift -= 1;
            let mask = self.slots.len() - 1;
            for (k, v) in old.into_iter().filter(|&(k, _)| k != EMPTY_KEY) {
                let mut i = self.slot(k);
                while self.slots[i].0 != EMPTY_KEY {
                    i = (i + 1) & mask;
                }
                self.slots[i] = (k, v);
            }
        }
    }
}
