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
