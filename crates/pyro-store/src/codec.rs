//! How one stored entry is laid out: a raw delta (one or more writes of one 10-second slot) and a
//! rollup (a window of a coarser level) share it.
//!
//! An entry holds no frame names and no tree shape: its stacks are node ids of its series'
//! stack table for the entry's time partition ([`crate::stacks`]), with their self values.
//! `0xF4`, then LEB128 varints: the write count, the total (so a timeline reads it without the
//! rest), the values' common divisor `unit` (CPU values in nanoseconds are multiples of the
//! sampling period), the number of nodes, then per node, by increasing id, the id's distance from
//! the previous one and its value divided by `unit`.

use pyro_tree::{StackTree, TransportLimits};

use crate::error::{StoreError, corrupt};

/// First byte of every entry of this format.
const MAGIC: u8 = 0xF4;

/// Most node ids one partition's values may address while merging (a corrupt id must not
/// allocate more).
pub(crate) const MAX_NODE_IDS: usize = 1 << 28;

/// Largest inflated size a format-2 delta may declare (a corrupt length must not allocate more).
const MAX_TREE_BYTES: u64 = 4 << 30;

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn varint(bytes: &mut &[u8]) -> Result<u64, StoreError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = bytes
            .split_first()
            .ok_or_else(|| corrupt("entry cut in a varint"))?;
        *bytes = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(corrupt("varint longer than 64 bits"))
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// An entry of `writes` writes holding `values[id]` for each node id with a non-zero value.
/// `None` when the values' sum overflows 64 bits.
pub(crate) fn encode(writes: u64, values: &[u64]) -> Option<Vec<u8>> {
    let mut total = 0u64;
    let mut unit = 0u64;
    let mut count = 0u64;
    for &v in values.iter().filter(|&&v| v != 0) {
        total = total.checked_add(v)?;
        unit = gcd(unit, v);
        count += 1;
    }
    let unit = unit.max(1);
    let mut out = Vec::with_capacity(16 + count as usize * 4);
    out.push(MAGIC);
    put_varint(&mut out, writes);
    put_varint(&mut out, total);
    put_varint(&mut out, unit);
    put_varint(&mut out, count);
    let mut last = 0u64;
    for (id, &v) in values.iter().enumerate().filter(|(_, v)| **v != 0) {
        put_varint(&mut out, id as u64 - last);
        last = id as u64;
        put_varint(&mut out, v / unit);
    }
    Some(out)
}

/// The write count and total of an entry, and the bytes after them.
fn head(bytes: &[u8]) -> Result<(u64, u64, &[u8]), StoreError> {
    let mut b = match bytes.split_first() {
        Some((&MAGIC, rest)) => rest,
        _ => return Err(corrupt("not an entry of format 3")),
    };
    let writes = varint(&mut b)?;
    let total = varint(&mut b)?;
    Ok((writes, total, b))
}

/// The write count and total of an entry, without reading its nodes.
pub(crate) fn header(bytes: &[u8]) -> Result<(u64, u64), StoreError> {
    head(bytes).map(|(writes, total, _)| (writes, total))
}

/// Adds an entry's values into `values` (indexed by node id; grown as needed, up to
/// `max_nodes` ids). Returns its write count.
pub(crate) fn add_into(
    bytes: &[u8],
    values: &mut Vec<u64>,
    max_nodes: usize,
) -> Result<u64, StoreError> {
    let (writes, total, mut b) = head(bytes)?;
    let unit = varint(&mut b)?;
    let count = varint(&mut b)?;
    if count > b.len() as u64 {
        return Err(corrupt(format_args!("{count} nodes in {} bytes", b.len())));
    }
    let mut id = 0u64;
    let mut sum = 0u64;
    for i in 0..count {
        let step = varint(&mut b)?;
        id = id
            .checked_add(step)
            .filter(|&id| (i == 0 || step > 0) && id < max_nodes as u64)
            .ok_or_else(|| corrupt(format_args!("node id {id}+{step}")))?;
        // `encode` writes non-zero values with a non-zero unit only.
        let v = varint(&mut b)?
            .checked_mul(unit)
            .filter(|&v| v != 0)
            .ok_or_else(|| corrupt(format_args!("value of node {id} zero or overflowing")))?;
        // `encode` never writes an entry whose values overflow when summed.
        sum = sum
            .checked_add(v)
            .ok_or_else(|| corrupt("values overflow 64 bits"))?;
        let id = id as usize;
        if values.len() <= id {
            values.resize(id + 1, 0);
        }
        values[id] = values[id].saturating_add(v);
    }
    if !b.is_empty() || sum != total {
        return Err(corrupt(format_args!(
            "values sum to {sum} where the header says {total} ({} bytes left)",
            b.len()
        )));
    }
    Ok(writes)
}

/// Our own bytes: read back whatever ingest accepted (a stack deeper than the transport default,
/// a long frame name), with no limit but the data itself.
fn read_tree(bytes: &[u8]) -> Result<StackTree<'static>, StoreError> {
    let mut tree = StackTree::new();
    pyro_tree::transport::read_tree(bytes, &TransportLimits::unlimited(), &mut tree)
        .map_err(|e| corrupt(format_args!("tree: {e}")))?;
    Ok(tree.into_owned())
}

/// Top bit of a format-2 delta's 8-byte header (the write count): deflated tree bytes follow
/// their 8-byte inflated length.
const V2_DEFLATED: u64 = 1 << 63;

/// A delta of format 2 (values in the upload's units), for the migration.
pub(crate) fn decode_v2(bytes: &[u8]) -> Result<(u64, StackTree<'static>), StoreError> {
    let (w, rest) = bytes
        .split_first_chunk::<8>()
        .ok_or_else(|| corrupt("format-2 delta shorter than its header"))?;
    let writes = u64::from_le_bytes(*w);
    if writes & V2_DEFLATED == 0 {
        return Ok((writes, read_tree(rest)?));
    }
    let (len, deflated) = rest
        .split_first_chunk::<8>()
        .ok_or_else(|| corrupt("format-2 delta without its inflated length"))?;
    let len = u64::from_le_bytes(*len);
    if len > MAX_TREE_BYTES || len > (deflated.len() as u64).saturating_mul(1032) + 64 {
        return Err(corrupt(format_args!("inflated length {len}")));
    }
    let mut out = vec![0u8; len as usize];
    let n = libdeflater::Decompressor::new()
        .deflate_decompress(deflated, &mut out)
        .map_err(|e| corrupt(format_args!("deflate: {e}")))?;
    if n != out.len() {
        return Err(corrupt("shorter than its inflated length"));
    }
    Ok((writes & !V2_DEFLATED, read_tree(&out)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_with_a_common_unit() {
        let values = [0, 30_000_000, 0, 0, 10_000_000, 70_000_000];
        let bytes = encode(3, &values).unwrap();
        // Magic, writes, total (2 bytes), unit (4 bytes), count, then 3 × (id step, value).
        assert_eq!(bytes.len(), 1 + 1 + 4 + 4 + 1 + 6);
        assert_eq!(header(&bytes).unwrap(), (3, 110_000_000));
        let mut back = vec![5];
        assert_eq!(add_into(&bytes, &mut back, 100).unwrap(), 3);
        assert_eq!(back, [5, 30_000_000, 0, 0, 10_000_000, 70_000_000]);
        assert_eq!(encode(1, &[u64::MAX, 1]), None);
        let empty = encode(2, &[0, 0]).unwrap();
        let mut none = Vec::new();
        assert_eq!(add_into(&empty, &mut none, 1).unwrap(), 2);
        assert!(none.is_empty());
    }

    #[test]
    fn corrupt_entries_are_errors() {
        let bytes = encode(1, &[0, 4, 0, 8]).unwrap();
        let kind = |b: &[u8], max: usize| add_into(b, &mut Vec::new(), max).unwrap_err().kind();
        assert_eq!(kind(&bytes[..2], 10), crate::ErrorKind::Corrupt);
        assert_eq!(
            kind(&bytes, 3),
            crate::ErrorKind::Corrupt,
            "id past the table"
        );
        let mut not_ours = bytes.clone();
        not_ours[0] = 0;
        assert_eq!(kind(&not_ours, 10), crate::ErrorKind::Corrupt);
        let mut wrong_total = bytes.clone();
        wrong_total[2] = 13;
        assert!(
            add_into(&wrong_total, &mut Vec::new(), 10)
                .unwrap_err()
                .to_string()
                .contains("header says 13")
        );
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(kind(&trailing, 10), crate::ErrorKind::Corrupt);
    }

    #[test]
    fn format_2_deltas_read_for_the_migration() {
        let mut t = StackTree::new();
        pyro_tree::StackSink::add_transient(&mut t, &["a", "b"], 3);
        pyro_tree::StackSink::add_transient(&mut t, &["a", "c"], 4);
        let mut old = 2u64.to_le_bytes().to_vec();
        old.extend_from_slice(&t.to_tree_bytes());
        let (writes, back) = decode_v2(&old).unwrap();
        assert_eq!((writes, back.to_folded()), (2, "a;b 3\na;c 4\n".to_owned()));
    }
}
