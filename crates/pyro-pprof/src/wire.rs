//! Protobuf wire-format primitives over a byte slice.

use crate::error::{Error, ErrorKind, Result};

/// Wire types.
pub(crate) const VARINT: u8 = 0;
pub(crate) const I64: u8 = 1;
pub(crate) const LEN: u8 = 2;
pub(crate) const I32: u8 = 5;

/// The varint at `buf[*i..]`, moving `*i` past it, under the same rules as
/// [`Reader::varint`]; `None` where that would fail. For the fast readers of usual message
/// shapes, which leave every error to the general [`Reader`] (it has the offsets).
#[inline(always)]
pub(crate) fn varint_at(buf: &[u8], i: &mut usize) -> Option<u64> {
    let b0 = *buf.get(*i)?;
    if b0 < 0x80 {
        *i += 1;
        return Some(u64::from(b0));
    }
    let mut v = u64::from(b0 & 0x7f);
    for k in 1..10 {
        let b = *buf.get(*i + k)?;
        if k == 9 && b > 1 {
            return None;
        }
        v |= u64::from(b & 0x7f) << (7 * k);
        if b < 0x80 {
            *i += k + 1;
            return Some(v);
        }
    }
    None
}

/// The length-delimited payload at `buf[*i..]` (its length varint first), moving `*i` past it;
/// `None` where [`Reader::bytes`] would fail.
#[inline(always)]
pub(crate) fn bytes_at<'a>(buf: &'a [u8], i: &mut usize) -> Option<&'a [u8]> {
    let len = usize::try_from(varint_at(buf, i)?).ok()?;
    let end = i.checked_add(len)?;
    let payload = buf.get(*i..end)?;
    *i = end;
    Some(payload)
}

/// A cursor over one message's bytes; offsets are absolute in the whole profile.
#[derive(Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Absolute offset of `buf[0]`.
    base: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], base: usize) -> Self {
        Reader { buf, pos: 0, base }
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Absolute offset of the next byte.
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// The bytes not read yet.
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }

    /// Moves past `n` bytes of [`Reader::rest`] (which the caller read itself).
    pub(crate) fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }

    /// Reads a varint; the one- and two-byte cases (most of pprof's) are inlined.
    #[inline(always)]
    pub(crate) fn varint(&mut self) -> Result<u64> {
        match self.buf.get(self.pos..self.pos + 2) {
            Some(&[b0, _]) if b0 < 0x80 => {
                self.pos += 1;
                Ok(u64::from(b0))
            }
            Some(&[b0, b1]) if b1 < 0x80 => {
                self.pos += 2;
                Ok(u64::from(b0 & 0x7f) | (u64::from(b1) << 7))
            }
            _ => self.varint_slow(),
        }
    }

    #[inline(never)]
    fn varint_slow(&mut self) -> Result<u64> {
        let start = self.pos;
        let mut v: u64 = 0;
        for i in 0..10 {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(Error::new(ErrorKind::Truncated, self.base + start, ""));
            };
            self.pos += 1;
            if i == 9 && b > 1 {
                return Err(Error::new(ErrorKind::VarintOverflow, self.base + start, ""));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(Error::new(ErrorKind::VarintOverflow, self.base + start, ""))
    }

    /// Reads a field key: `(field number, wire type)`.
    #[inline]
    pub(crate) fn key(&mut self) -> Result<(u32, u8)> {
        let at = self.offset();
        let k = self.varint()?;
        let field = k >> 3;
        let wt = (k & 7) as u8;
        if field == 0 || field > u64::from(u32::MAX >> 3) {
            return Err(Error::new(ErrorKind::InvalidFieldNumber, at, ""));
        }
        Ok((field as u32, wt))
    }

    /// Reads a length-delimited payload and its absolute offset.
    #[inline]
    pub(crate) fn bytes(&mut self) -> Result<(&'a [u8], usize)> {
        let at = self.offset();
        let len = self.varint()?;
        let start = self.pos;
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| start.checked_add(l))
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| Error::new(ErrorKind::Truncated, at, ""))?;
        self.pos = end;
        Ok((&self.buf[start..end], self.base + start))
    }

    /// Skips a field of wire type `wt`.
    pub(crate) fn skip(&mut self, wt: u8) -> Result<()> {
        let at = self.offset();
        let n = match wt {
            VARINT => {
                self.varint()?;
                return Ok(());
            }
            I64 => 8,
            LEN => {
                self.bytes()?;
                return Ok(());
            }
            I32 => 4,
            other => return Err(Error::new(ErrorKind::InvalidWireType(other), at, "")),
        };
        if self.buf.len() - self.pos < n {
            return Err(Error::new(ErrorKind::Truncated, at, ""));
        }
        self.pos += n;
        Ok(())
    }

    /// Reads a varint scalar field of wire type `wt` (only `VARINT` is allowed).
    #[inline]
    pub(crate) fn scalar(&mut self, wt: u8) -> Result<u64> {
        if wt != VARINT {
            return Err(Error::new(
                ErrorKind::InvalidWireType(wt),
                self.offset(),
                "",
            ));
        }
        self.varint()
    }

    /// Reads a repeated varint field occurrence, packed (`LEN`) or not (`VARINT`), calling `f`
    /// with each value.
    #[inline]
    pub(crate) fn repeated(&mut self, wt: u8, mut f: impl FnMut(u64) -> Result<()>) -> Result<()> {
        match wt {
            VARINT => f(self.varint()?),
            LEN => {
                let (payload, base) = self.bytes()?;
                let mut r = Reader::new(payload, base);
                while !r.at_end() {
                    f(r.varint()?)?;
                }
                Ok(())
            }
            other => Err(Error::new(
                ErrorKind::InvalidWireType(other),
                self.offset(),
                "",
            )),
        }
    }
}

/// How many bytes `a` and `b` end with in common, cut back to whole varints: the shared bytes
/// hold the same ids in both (a varint ends at a byte with the high bit clear, so both split
/// them alike once the byte before is such an end in both).
#[inline]
pub(crate) fn shared_tail(a: &[u8], b: &[u8]) -> usize {
    let n = a.len().min(b.len());
    let mut k = 0;
    loop {
        if k + 8 > n {
            while k < n && a[a.len() - 1 - k] == b[b.len() - 1 - k] {
                k += 1;
            }
            break;
        }
        // Eight bytes at a time; the last byte of each is the most significant.
        let word = |s: &[u8]| {
            u64::from_le_bytes(s[s.len() - k - 8..s.len() - k].try_into().unwrap_or([0; 8]))
        };
        let diff = word(a) ^ word(b);
        if diff != 0 {
            k += (diff.leading_zeros() / 8) as usize;
            break;
        }
        k += 8;
    }
    let continues = |s: &[u8]| s.len() > k && s[s.len() - 1 - k] >= 0x80;
    if k > 0 && (continues(a) || continues(b)) {
        // The first shared bytes finish a varint that started before them: skip up to its end.
        let shared = &a[a.len() - k..];
        k -= shared.iter().position(|&c| c < 0x80).map_or(k, |i| i + 1);
    }
    k
}

/// A varint of three or more bytes that ends with `last`, its earlier bytes at the end of
/// `head` (high bit set): its value and what precedes it. `None` past ten bytes or when a
/// tenth byte is over 1 (the protobuf rules).
#[cold]
pub(crate) fn long_varint(mut head: &[u8], last: u8) -> Option<(u64, &[u8])> {
    let mut id = u64::from(last);
    let mut len = 1;
    while let [h @ .., b] = head
        && *b >= 0x80
    {
        len += 1;
        if len > 10 {
            return None;
        }
        id = (id << 7) | u64::from(b & 0x7f);
        head = h;
    }
    if len == 10 && last > 1 {
        return None;
    }
    Some((id, head))
}

#[cfg(test)]
mod tests {
    use super::shared_tail;
    use proptest::prelude::*;

    /// The oracle: split both into varints (a varint ends at a byte with the high bit clear)
    /// and count the bytes of the varints they end with in common.
    fn oracle(a: &[u8], b: &[u8]) -> usize {
        let split = |s: &[u8]| -> Vec<Vec<u8>> {
            let mut out = vec![];
            let mut cur = vec![];
            for &x in s {
                cur.push(x);
                if x < 0x80 {
                    out.push(std::mem::take(&mut cur));
                }
            }
            out
        };
        let (a, b) = (split(a), split(b));
        a.iter()
            .rev()
            .zip(b.iter().rev())
            .take_while(|(x, y)| x == y)
            .map(|(x, _)| x.len())
            .sum()
    }

    #[test]
    fn shared_tail_cuts_back_to_whole_varints() {
        // ids 5, 129 vs 6, 129: the 129 is shared.
        assert_eq!(shared_tail(&[0x05, 0x81, 0x01], &[0x06, 0x81, 0x01]), 2);
        // 133 vs 134 share their last byte only: nothing.
        assert_eq!(shared_tail(&[0x85, 0x01], &[0x86, 0x01]), 0);
        // One is the other's tail.
        assert_eq!(
            shared_tail(&[0x01, 0x85, 0x02, 0x03], &[0x85, 0x02, 0x03]),
            3
        );
        // The shared bytes start inside a's three-byte varint: only the last id is shared.
        assert_eq!(
            shared_tail(&[0x81, 0x85, 0x02, 0x03], &[0x85, 0x02, 0x03]),
            1
        );
        // Past eight bytes, a difference in the second word.
        let a = [9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        let b = [7, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        assert_eq!(shared_tail(&a, &b), 11);
        assert_eq!(shared_tail(&a, &a), 13);
        assert_eq!(shared_tail(&[], &a), 0);
    }

    proptest! {
        #[test]
        fn shared_tail_matches_the_oracle(
            common in proptest::collection::vec(0u64..40_000, 0..12),
            a in proptest::collection::vec(0u64..40_000, 0..6),
            b in proptest::collection::vec(0u64..40_000, 0..6),
        ) {
            let enc = |ids: &[u64]| -> Vec<u8> {
                let mut out = vec![];
                for &id in ids.iter().chain(&common) {
                    let mut v = id;
                    while v >= 0x80 {
                        out.push((v as u8) | 0x80);
                        v >>= 7;
                    }
                    out.push(v as u8);
                }
                out
            };
            let (a, b) = (enc(&a), enc(&b));
            prop_assert_eq!(shared_tail(&a, &b), oracle(&a, &b));
        }

        #[test]
        fn shared_tail_matches_the_oracle_on_any_bytes(
            common in proptest::collection::vec(any::<u8>(), 0..20),
            a in proptest::collection::vec(any::<u8>(), 0..12),
            b in proptest::collection::vec(any::<u8>(), 0..12),
        ) {
            // Payloads as walked: ending with a varint's last byte.
            let end = |head: &[u8]| [head, &common[..], &[1]].concat();
            let (a, b) = (end(&a), end(&b));
            prop_assert_eq!(shared_tail(&a, &b), oracle(&a, &b));
        }
    }
}
