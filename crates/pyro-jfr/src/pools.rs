//! Constant pools: the checkpoint chain of a chunk, indexed for the types stacks need.

use hashbrown::HashMap;

use crate::error::{Error, ErrorKind, Result};
use crate::limits::Limits;
use crate::metadata::{Metadata, Op, skip_ops};
use crate::reader::record_at;

/// Pool key → chunk offset of the value.
pub(crate) type PoolMap = HashMap<u64, u32, foldhash::fast::RandomState>;

/// Compiled steps of pool value types, by class index, and how many steps they hold in all.
#[derive(Default)]
pub(crate) struct PoolOps {
    by_class: HashMap<u32, Vec<Op>, foldhash::fast::RandomState>,
    total: usize,
}

/// Most compiled steps kept for the pool types of one chunk's metadata.
pub(crate) const MAX_POOL_OPS: usize = 1 << 20;

/// The pool types a conversion reads, by class index (absent when the chunk has no such class).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PoolTypes {
    pub(crate) stack: Option<u32>,
    pub(crate) method: Option<u32>,
    pub(crate) class: Option<u32>,
    pub(crate) symbol: Option<u32>,
    pub(crate) state: Option<u32>,
    pub(crate) string: Option<u32>,
}

impl PoolTypes {
    pub(crate) fn bind(md: &Metadata) -> Self {
        PoolTypes {
            stack: md.class_by_name("jdk.types.StackTrace"),
            method: md.class_by_name("jdk.types.Method"),
            class: md.class_by_name("java.lang.Class"),
            symbol: md.class_by_name("jdk.types.Symbol"),
            state: md.class_by_name("jdk.types.ThreadState"),
            string: md.class_by_name("java.lang.String"),
        }
    }
}

/// The indexed pools of one chunk (the union of all its checkpoints; a repeated key keeps the
/// last copy read).
#[derive(Debug, Default)]
pub(crate) struct Pools {
    pub(crate) stacks: PoolMap,
    pub(crate) methods: PoolMap,
    pub(crate) classes: PoolMap,
    pub(crate) symbols: PoolMap,
    pub(crate) states: PoolMap,
    pub(crate) strings: PoolMap,
}

const CTX: &str = "checkpoint";

impl Pools {
    /// Follows the checkpoint chain from `cp_offset` back to the first checkpoint.
    pub(crate) fn read(
        chunk: &[u8],
        cp_offset: usize,
        md: &Metadata,
        types: &PoolTypes,
        limits: &Limits,
        plans: &mut PoolOps,
    ) -> Result<Pools> {
        let mut pools = Pools::default();
        let mut stored = 0usize;
        let mut pos = cp_offset;
        let mut seen = 0usize;
        loop {
            seen += 1;
            if seen > limits.max_checkpoints {
                return Err(Error::limit("checkpoints", limits.max_checkpoints, pos));
            }
            let (ty, mut r) = record_at(chunk, pos, CTX)?;
            if ty != 1 {
                return Err(Error::new(ErrorKind::UnexpectedRecord(ty), pos, CTX));
            }
            r.varint()?; // start time
            r.varint()?; // duration
            let delta = r.varint()? as i64;
            r.varint()?; // type mask
            let at = r.pos();
            let npools = r.varint()?;
            if npools > r.remaining() as u64 {
                return Err(Error::new(ErrorKind::Truncated, at, CTX));
            }
            for _ in 0..npools {
                let at = r.pos();
                let type_id = r.varint()?;
                let class = md
                    .class(type_id)
                    .ok_or_else(|| Error::new(ErrorKind::UnknownType(type_id), at, CTX))?;
                if !plans.by_class.contains_key(&class) {
                    let ops = md.value_ops(class).map_err(|e| e.shifted(at))?;
                    plans.total += ops.len();
                    if plans.total > MAX_POOL_OPS {
                        return Err(Error::limit("compiled pool steps", MAX_POOL_OPS, at));
                    }
                    plans.by_class.insert(class, ops);
                }
                let ops = &plans.by_class[&class];
                let at = r.pos();
                let count = r.varint()?;
                if count > r.remaining() as u64 {
                    return Err(Error::new(ErrorKind::Truncated, at, "constant pool"));
                }
                let mut map = pools.map_for(types, class);
                for _ in 0..count {
                    let key = r.varint()?;
                    if let Some(map) = map.as_deref_mut() {
                        stored += 1;
                        if stored > limits.max_pool_entries {
                            return Err(Error::limit(
                                "constant pool entries",
                                limits.max_pool_entries,
                                r.pos(),
                            ));
                        }
                        map.insert(key, r.pos() as u32);
                    }
                    skip_ops(&mut r, ops, limits.max_string_len)?;
                }
            }
            if delta == 0 {
                return Ok(pools);
            }
            // The chain only moves back, to a record after the header.
            let prev = (pos as i64).checked_add(delta);
            match prev {
                Some(p) if p >= crate::chunk::HEADER_SIZE as i64 && (p as usize) < pos => {
                    pos = p as usize;
                }
                _ => return Err(Error::new(ErrorKind::BadCheckpointChain, pos, CTX)),
            }
        }
    }

    fn map_for(&mut self, t: &PoolTypes, class: u32) -> Option<&mut PoolMap> {
        let c = Some(class);
        if c == t.stack {
            Some(&mut self.stacks)
        } else if c == t.method {
            Some(&mut self.methods)
        } else if c == t.class {
            Some(&mut self.classes)
        } else if c == t.symbol {
            Some(&mut self.symbols)
        } else if c == t.state {
            Some(&mut self.states)
        } else if c == t.string {
            Some(&mut self.strings)
        } else {
            None
        }
    }
}
