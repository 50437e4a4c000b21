//! How one stored tree is laid out: a raw delta (one or more writes of one 10-second slot) and a
//! rollup (a window of a coarser level) share it.
//!
//! `0xF3`, the write count and the tree's total (LEB128 varints, so a timeline reads both
//! without decoding the tree), a flag byte, then the tree in OG's `tree` transport format,
//! raw-deflated (libdeflate level 1) behind its inflated length when that is smaller. The
//! format repeats every node's frame name, which deflate folds back.

use pyro_tree::{StackTree, TransportLimits};

use crate::error::{StoreError, corrupt};

/// First byte of every entry of this format.
const MAGIC: u8 = 0xF3;

/// Flag: the tree bytes are raw deflate, after their inflated length.
const DEFLATED: u8 = 1;

/// Largest inflated size an entry may declare (a corrupt length must not allocate more).
const MAX_TREE_BYTES: u64 = 4 << 30;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint(bytes: &mut &[u8]) -> Result<u64, StoreError> {
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

/// A tree as stored, merged from `writes` writes.
pub(crate) fn encode(writes: u64, tree: &StackTree<'_>) -> Vec<u8> {
    let raw = tree.to_tree_bytes_unsorted();
    let mut out = Vec::with_capacity(24 + raw.len() / 3);
    out.push(MAGIC);
    put_varint(&mut out, writes);
    put_varint(&mut out, tree.total());
    if let Ok(level) = libdeflater::CompressionLvl::new(1) {
        let mut c = libdeflater::Compressor::new(level);
        let head = out.len();
        out.push(DEFLATED);
        put_varint(&mut out, raw.len() as u64);
        let at = out.len();
        out.resize(at + c.deflate_compress_bound(raw.len()), 0);
        match c.deflate_compress(&raw, &mut out[at..]) {
            Ok(n) if n < raw.len() => {
                out.truncate(at + n);
                return out;
            }
            _ => out.truncate(head),
        }
    }
    out.push(0);
    out.extend_from_slice(&raw);
    out
}

/// The write count and total of an entry, without decoding its tree.
pub(crate) fn header(bytes: &[u8]) -> Result<(u64, u64), StoreError> {
    let mut b = bytes;
    match b.split_first() {
        Some((&MAGIC, rest)) => b = rest,
        _ => return Err(corrupt("not an entry of format 3")),
    }
    let writes = varint(&mut b)?;
    let total = varint(&mut b)?;
    Ok((writes, total))
}

/// An entry's write count and tree.
pub(crate) fn decode(bytes: &[u8]) -> Result<(u64, StackTree<'static>), StoreError> {
    let mut b = bytes;
    match b.split_first() {
        Some((&MAGIC, rest)) => b = rest,
        _ => return Err(corrupt("not an entry of format 3")),
    }
    let writes = varint(&mut b)?;
    let total = varint(&mut b)?;
    let (&flags, mut b) = b
        .split_first()
        .ok_or_else(|| corrupt("entry without flags"))?;
    let inflated;
    let tree_bytes = if flags & DEFLATED == 0 {
        b
    } else {
        let len = varint(&mut b)?;
        if len > MAX_TREE_BYTES || len > (b.len() as u64).saturating_mul(1032) + 64 {
            return Err(corrupt(format_args!("inflated length {len}")));
        }
        let mut out = vec![0u8; len as usize];
        let n = libdeflater::Decompressor::new()
            .deflate_decompress(b, &mut out)
            .map_err(|e| corrupt(format_args!("deflate: {e}")))?;
        if n != out.len() {
            return Err(corrupt("shorter than its inflated length"));
        }
        inflated = out;
        &inflated[..]
    };
    let tree = read_tree(tree_bytes)?;
    if tree.total() != total {
        return Err(corrupt(format_args!(
            "tree total {} where the header says {total}",
            tree.total()
        )));
    }
    Ok((writes, tree))
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
    use pyro_tree::StackSink;

    fn tree(stacks: &[(&str, u64)]) -> StackTree<'static> {
        let mut t = StackTree::new();
        for (s, v) in stacks {
            let frames: Vec<&str> = pyro_tree::transport::split_stack(s).collect();
            t.add_transient(&frames, *v);
        }
        t
    }

    fn deep() -> StackTree<'static> {
        let frames: Vec<String> = (0..60)
            .map(|i| format!("org/example/service/Handler{i}.handleRequest"))
            .collect();
        let stacks: Vec<(String, u64)> =
            (1..60).map(|d| (frames[..d].join(";"), d as u64)).collect();
        let refs: Vec<(&str, u64)> = stacks.iter().map(|(s, v)| (s.as_str(), *v)).collect();
        tree(&refs)
    }

    #[test]
    fn entries_round_trip_deflated_and_smaller() {
        let t = deep();
        let raw = t.to_tree_bytes().len();
        let bytes = encode(7, &t);
        assert!(bytes.len() * 5 < raw, "{} of {raw}", bytes.len());
        assert_eq!(header(&bytes).unwrap(), (7, t.total()));
        let (writes, back) = decode(&bytes).unwrap();
        assert_eq!(writes, 7);
        assert_eq!(back.to_folded(), t.to_folded());
        // A tiny tree that deflate cannot shrink is stored plain.
        let tiny = tree(&[("x", 1)]);
        let bytes = encode(1, &tiny);
        assert_eq!(bytes[3], 0);
        assert_eq!(decode(&bytes).unwrap().1.to_folded(), "x 1\n");
    }

    #[test]
    fn corrupt_entries_are_errors() {
        let bytes = encode(1, &deep());
        let kind = |b: &[u8]| decode(b).unwrap_err().kind();
        assert_eq!(kind(&bytes[..2]), crate::ErrorKind::Corrupt);
        let mut damaged = bytes.clone();
        let n = damaged.len();
        damaged[n / 2] ^= 0xff;
        assert!(decode(&damaged).is_err());
        let mut not_ours = bytes.clone();
        not_ours[0] = 0;
        assert_eq!(kind(&not_ours), crate::ErrorKind::Corrupt);
        // A header whose total does not match its tree.
        let t = tree(&[("a;b", 3)]);
        let mut wrong = vec![MAGIC, 1, 4, 0];
        wrong.extend_from_slice(&t.to_tree_bytes());
        assert!(
            decode(&wrong)
                .unwrap_err()
                .to_string()
                .contains("header says 4")
        );
    }

    #[test]
    fn format_2_deltas_read_for_the_migration() {
        let t = tree(&[("a;b", 3), ("a;c", 4)]);
        let mut old = 2u64.to_le_bytes().to_vec();
        old.extend_from_slice(&t.to_tree_bytes());
        let (writes, back) = decode_v2(&old).unwrap();
        assert_eq!((writes, back.to_folded()), (2, "a;b 3\na;c 4\n".to_owned()));
    }
}
