//! A byte cursor over one chunk: JFR varints, raw bytes and the six string encodings.

use std::borrow::Cow;

use crate::error::{Error, ErrorKind, Result};

/// A cursor over a chunk; offsets are relative to the chunk start.
#[derive(Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// The record at `pos` of a chunk: its type and a reader bounded to the record, positioned
/// after the type. `what` names the record in errors.
pub(crate) fn record_at<'a>(
    chunk: &'a [u8],
    pos: usize,
    what: &'static str,
) -> Result<(u64, Reader<'a>)> {
    let mut r = Reader::new(chunk, pos);
    let size = r.varint()?;
    if size == 0 || size > (chunk.len() - pos) as u64 {
        return Err(Error::new(ErrorKind::BadRecordSize(size), pos, what));
    }
    let mut r = Reader::new(&chunk[..pos + size as usize], r.pos());
    Ok((r.varint()?, r))
}

/// A string value as it is encoded, not yet decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawStr<'a> {
    /// Encoding 0.
    Null,
    /// Encoding 1.
    Empty,
    /// Encoding 2: a key into the `java.lang.String` pool.
    Pool(u64),
    /// Encoding 3: (modified) UTF-8 bytes.
    Utf8(&'a [u8]),
    /// Encoding 4: `count` UTF-16 code units as varints, starting at the given chunk offset.
    Utf16 { count: usize, at: usize },
    /// Encoding 5: Latin-1 bytes.
    Latin1(&'a [u8]),
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], pos: usize) -> Self {
        Reader { buf, pos }
    }

    #[inline]
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn set_pos(&mut self, pos: usize) {
        self.pos = pos;
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// A JFR varint: LEB128, at most 9 bytes, the 9th contributing all 8 bits.
    #[inline(always)]
    pub(crate) fn varint(&mut self) -> Result<u64> {
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        // Up to 8 bytes at once: find the end, then pack the 7-bit groups.
        if let Some(w) = self.buf.get(self.pos..self.pos + 8) {
            let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
            let stops = !w & 0x8080_8080_8080_8080;
            if stops != 0 {
                let bits = stops.trailing_zeros() + 1; // through the end byte's top bit
                let len = bits.div_ceil(8) as usize;
                let x = if bits >= 64 {
                    w
                } else {
                    w & ((1u64 << bits) - 1)
                };
                let x = x & 0x7f7f_7f7f_7f7f_7f7f;
                let x = (x & 0x007f_007f_007f_007f) | ((x & 0x7f00_7f00_7f00_7f00) >> 1);
                let x = (x & 0x0000_3fff_0000_3fff) | ((x & 0x3fff_0000_3fff_0000) >> 2);
                let x = (x & 0x0000_0000_0fff_ffff) | ((x & 0x0fff_ffff_0000_0000) >> 4);
                self.pos += len;
                return Ok(x);
            }
        }
        self.varint_slow()
    }

    #[cold]
    #[inline(never)]
    fn varint_slow(&mut self) -> Result<u64> {
        let mut v = 0u64;
        let mut p = self.pos;
        for i in 0..8 {
            let Some(&b) = self.buf.get(p) else {
                return Err(Error::new(ErrorKind::Truncated, p, "varint"));
            };
            p += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.pos = p;
                return Ok(v);
            }
        }
        let Some(&b) = self.buf.get(p) else {
            return Err(Error::new(ErrorKind::Truncated, p, "varint"));
        };
        self.pos = p + 1;
        Ok(v | (u64::from(b) << 56))
    }

    /// Skips one varint.
    #[inline(always)]
    pub(crate) fn skip_varint(&mut self) -> Result<()> {
        // Eight bytes at once: the first byte without the continuation bit ends the varint.
        if let Some(w) = self.buf.get(self.pos..self.pos + 8) {
            let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
            let stops = !w & 0x8080_8080_8080_8080;
            self.pos += if stops == 0 {
                9
            } else {
                stops.trailing_zeros() as usize / 8 + 1
            };
            if self.pos > self.buf.len() {
                self.pos -= 9;
                return Err(Error::new(ErrorKind::Truncated, self.pos, "varint"));
            }
            return Ok(());
        }
        let end = self.buf.len().min(self.pos + 9);
        for p in self.pos..end {
            if self.buf[p] < 0x80 || p + 1 - self.pos == 9 {
                self.pos = p + 1;
                return Ok(());
            }
        }
        Err(Error::new(ErrorKind::Truncated, self.pos, "varint"))
    }

    /// Skips `k` varints, eight bytes at a time: every byte below 0x80 ends one. Windows always
    /// start at a varint boundary, so a 9-byte varint (whose last byte may be 0x80 or more) is
    /// seen as a window without any end and read by [`Reader::skip_varint`].
    pub(crate) fn skip_varints(&mut self, mut k: u64) -> Result<()> {
        while k > 0 {
            let Some(w) = self.buf.get(self.pos..self.pos + 8) else {
                self.skip_varint()?;
                k -= 1;
                continue;
            };
            let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
            let mut stops = !w & 0x8080_8080_8080_8080;
            let c = u64::from(stops.count_ones());
            if c == 0 {
                self.skip_varint()?;
                k -= 1;
            } else if c <= k {
                // Up to and including the last end in the window.
                self.pos += (63 - stops.leading_zeros() as usize) / 8 + 1;
                k -= c;
            } else {
                for _ in 1..k {
                    stops &= stops - 1;
                }
                self.pos += stops.trailing_zeros() as usize / 8 + 1;
                k = 0;
            }
        }
        Ok(())
    }

    pub(crate) fn u8(&mut self) -> Result<u8> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| Error::new(ErrorKind::Truncated, self.pos, "byte"))?;
        self.pos += 1;
        Ok(b)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(Error::new(ErrorKind::Truncated, self.pos, "bytes"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<()> {
        self.bytes(n).map(|_| ())
    }

    pub(crate) fn be_u64(&mut self) -> Result<u64> {
        let b = self.bytes(8)?;
        Ok(u64::from_be_bytes(b.try_into().expect("8 bytes")))
    }

    /// A length or count that must fit in the rest of the buffer (each item takes at least one
    /// byte) and under `max`.
    fn count(&mut self, max: usize, what: &'static str) -> Result<usize> {
        let at = self.pos;
        let n = self.varint()?;
        if n > max as u64 {
            return Err(Error::limit(what, max, at));
        }
        let n = n as usize;
        if n > self.remaining() {
            return Err(Error::new(ErrorKind::Truncated, at, what));
        }
        Ok(n)
    }

    /// Reads a string value without decoding it.
    pub(crate) fn raw_str(&mut self, max_len: usize) -> Result<RawStr<'a>> {
        let at = self.pos;
        Ok(match self.u8()? {
            0 => RawStr::Null,
            1 => RawStr::Empty,
            2 => RawStr::Pool(self.varint()?),
            3 => {
                let n = self.count(max_len, "string length")?;
                RawStr::Utf8(self.bytes(n)?)
            }
            4 => {
                let count = self.count(max_len, "string length")?;
                let start = self.pos;
                self.skip_varints(count as u64)?;
                RawStr::Utf16 { count, at: start }
            }
            5 => {
                let n = self.count(max_len, "string length")?;
                RawStr::Latin1(self.bytes(n)?)
            }
            b => return Err(Error::new(ErrorKind::BadStringEncoding(b), at, "string")),
        })
    }

    /// Reads a string value and appends its text to `out` in one pass (null appends nothing,
    /// a pool reference is an error): the metadata string table.
    pub(crate) fn string_into(&mut self, out: &mut String, max_len: usize) -> Result<()> {
        let at = self.pos;
        match self.u8()? {
            0 | 1 => {}
            4 => {
                let count = self.count(max_len, "string length")?;
                let mut pending: Option<u16> = None;
                for _ in 0..count {
                    let u = self.varint()? as u16;
                    if let Some(hi) = pending.take() {
                        if (0xdc00..0xe000).contains(&u) {
                            let c = 0x10000
                                + ((u32::from(hi) - 0xd800) << 10)
                                + (u32::from(u) - 0xdc00);
                            out.push(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER));
                            continue;
                        }
                        out.push(char::REPLACEMENT_CHARACTER);
                    }
                    match u {
                        0..0x80 => out.push(char::from(u as u8)),
                        0xd800..0xdc00 => pending = Some(u),
                        0xdc00..0xe000 => out.push(char::REPLACEMENT_CHARACTER),
                        _ => out.push(
                            char::from_u32(u32::from(u)).unwrap_or(char::REPLACEMENT_CHARACTER),
                        ),
                    }
                }
                if pending.is_some() {
                    out.push(char::REPLACEMENT_CHARACTER);
                }
            }
            b @ (3 | 5) => {
                self.pos = at;
                let s = self.raw_str(max_len)?;
                let _ = b;
                if let Some(c) = self.decode(s)? {
                    out.push_str(&c);
                }
            }
            2 => {
                return Err(Error::new(
                    ErrorKind::BadMetadata("string pool reference in metadata"),
                    at,
                    "metadata string table",
                ));
            }
            b => return Err(Error::new(ErrorKind::BadStringEncoding(b), at, "string")),
        }
        Ok(())
    }

    /// Whether a raw string read from this buffer is exactly `want` (without decoding it).
    pub(crate) fn raw_eq(&self, s: RawStr<'a>, want: &str) -> Result<bool> {
        Ok(match s {
            RawStr::Null | RawStr::Pool(_) => false,
            RawStr::Empty => want.is_empty(),
            RawStr::Utf8(b) => b == want.as_bytes(),
            RawStr::Latin1(b) => want.is_ascii() && b == want.as_bytes(),
            RawStr::Utf16 { count, at } => {
                if count != want.encode_utf16().count() {
                    return Ok(false);
                }
                let mut r = Reader::new(self.buf, at);
                for u in want.encode_utf16() {
                    if r.varint()? as u16 != u {
                        return Ok(false);
                    }
                }
                true
            }
        })
    }

    /// Decodes a raw string read from this reader's buffer (`None` for null and pool refs).
    pub(crate) fn decode(&self, s: RawStr<'a>) -> Result<Option<Cow<'a, str>>> {
        Ok(match s {
            RawStr::Null | RawStr::Pool(_) => None,
            RawStr::Empty => Some(Cow::Borrowed("")),
            RawStr::Utf8(b) => Some(match std::str::from_utf8(b) {
                Ok(s) => Cow::Borrowed(s),
                Err(_) => Cow::Owned(decode_modified_utf8(b)),
            }),
            RawStr::Latin1(b) => Some(if b.is_ascii() {
                Cow::Borrowed(std::str::from_utf8(b).expect("ascii"))
            } else {
                Cow::Owned(b.iter().map(|&c| char::from(c)).collect())
            }),
            RawStr::Utf16 { count, at } => {
                let mut r = Reader::new(self.buf, at);
                let mut units = Vec::with_capacity(count);
                for _ in 0..count {
                    units.push(r.varint()? as u16);
                }
                Some(Cow::Owned(
                    char::decode_utf16(units)
                        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
                        .collect(),
                ))
            }
        })
    }
}

/// The JVM's modified UTF-8 (CESU-8 surrogate pairs, `C0 80` for NUL); anything else invalid
/// becomes U+FFFD.
fn decode_modified_utf8(b: &[u8]) -> String {
    let mut units: Vec<u16> = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let cont = |j: usize| b.get(j).copied().filter(|x| x & 0xc0 == 0x80);
        if c < 0x80 {
            units.push(u16::from(c));
            i += 1;
        } else if c & 0xe0 == 0xc0 {
            match cont(i + 1) {
                Some(c1) => {
                    units.push((u16::from(c & 0x1f) << 6) | u16::from(c1 & 0x3f));
                    i += 2;
                }
                None => {
                    units.push(0xfffd);
                    i += 1;
                }
            }
        } else if c & 0xf0 == 0xe0 {
            match (cont(i + 1), cont(i + 2)) {
                (Some(c1), Some(c2)) => {
                    units.push(
                        (u16::from(c & 0x0f) << 12)
                            | (u16::from(c1 & 0x3f) << 6)
                            | u16::from(c2 & 0x3f),
                    );
                    i += 3;
                }
                _ => {
                    units.push(0xfffd);
                    i += 1;
                }
            }
        } else if c & 0xf8 == 0xf0 {
            // Standard 4-byte UTF-8 (not produced by the JVM, but valid input).
            match (cont(i + 1), cont(i + 2), cont(i + 3)) {
                (Some(c1), Some(c2), Some(c3)) => {
                    let cp = (u32::from(c & 0x07) << 18)
                        | (u32::from(c1 & 0x3f) << 12)
                        | (u32::from(c2 & 0x3f) << 6)
                        | u32::from(c3 & 0x3f);
                    match char::from_u32(cp) {
                        Some(ch) => {
                            let mut buf = [0u16; 2];
                            units.extend_from_slice(ch.encode_utf16(&mut buf));
                        }
                        None => units.push(0xfffd),
                    }
                    i += 4;
                }
                _ => {
                    units.push(0xfffd);
                    i += 1;
                }
            }
        } else {
            units.push(0xfffd);
            i += 1;
        }
    }
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_plain_padded_and_nine_bytes() {
        let mut r = Reader::new(&[0x05, 0x85, 0x80, 0x80, 0x00], 0);
        assert_eq!(r.varint().unwrap(), 5);
        assert_eq!(r.varint().unwrap(), 5, "padded encodings are accepted");
        let nine = [0xff; 9];
        let mut r = Reader::new(&nine, 0);
        assert_eq!(r.varint().unwrap(), u64::MAX);
        assert_eq!(r.pos(), 9);
        let mut r = Reader::new(&nine, 0);
        r.skip_varint().unwrap();
        assert_eq!(r.pos(), 9);
        let mut r = Reader::new(&[0x80, 0x80], 0);
        let e = r.varint().unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::Truncated);
        assert_eq!(e.offset(), 2);
    }

    #[test]
    fn skip_varints_matches_one_by_one() {
        // Varints of every length 1..=9, including 9-byte ones ending in a byte >= 0x80.
        let mut buf = Vec::new();
        let mut seed = 12345u64;
        let mut count = 0;
        for _ in 0..2000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 9) as usize + 1;
            for i in 0..len {
                let last = i + 1 == len;
                let b = (seed >> (i * 5)) as u8;
                // Only the last byte of a shorter varint lacks the continuation bit.
                buf.push(if last && len < 9 { b & 0x7f } else { b | 0x80 });
            }
            count += 1;
        }
        for k in [0u64, 1, 2, 3, 7, 8, 9, 100, 1999, count] {
            let mut a = Reader::new(&buf, 0);
            for _ in 0..k {
                a.skip_varint().unwrap();
            }
            let mut b = Reader::new(&buf, 0);
            b.skip_varints(k).unwrap();
            assert_eq!(a.pos(), b.pos(), "k = {k}");
        }
        let mut r = Reader::new(&buf, 0);
        assert_eq!(
            r.skip_varints(count + 1).unwrap_err().kind(),
            &ErrorKind::Truncated
        );
    }

    #[test]
    fn varints_of_every_length_decode_alike() {
        // Minimal and padded encodings of many values, each followed by filler so the eight-byte
        // path is taken, and again at the very end of the buffer (the byte-by-byte path).
        let mut seed = 99u64;
        for _ in 0..5000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let v = seed >> (seed % 64);
            let mut enc = Vec::new();
            let mut x = v;
            for _ in 0..8 {
                if x < 0x80 {
                    break;
                }
                enc.push((x as u8 & 0x7f) | 0x80);
                x >>= 7;
            }
            enc.push(x as u8);
            for tail in [&[][..], &[0x55; 9][..]] {
                let buf = [enc.as_slice(), tail].concat();
                let mut r = Reader::new(&buf, 0);
                assert_eq!(r.varint().unwrap(), v, "{enc:02x?}");
                assert_eq!(r.pos(), enc.len());
            }
        }
    }

    #[test]
    fn int_minus_one_is_five_bytes() {
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f], 0);
        assert_eq!(r.varint().unwrap() as u32 as i32, -1);
    }

    fn decode(bytes: &[u8]) -> Option<String> {
        let mut r = Reader::new(bytes, 0);
        let s = r.raw_str(1 << 20).unwrap();
        r.decode(s).unwrap().map(|c| c.into_owned())
    }

    #[test]
    fn all_six_string_encodings() {
        assert_eq!(decode(&[0]), None);
        assert_eq!(decode(&[1]).as_deref(), Some(""));
        let mut r = Reader::new(&[2, 0x2a], 0);
        assert_eq!(r.raw_str(10).unwrap(), RawStr::Pool(42));
        assert_eq!(decode(&[3, 2, b'h', b'i']).as_deref(), Some("hi"));
        assert_eq!(decode(&[5, 2, b'h', 0xe9]).as_deref(), Some("hé"));
        // "hi 😀" as UTF-16 code units, the pair as two varints each.
        let utf16 = [4, 5, b'h', b'i', b' ', 0xbd, 0xb0, 0x03, 0x80, 0xbc, 0x03];
        assert_eq!(decode(&utf16).as_deref(), Some("hi 😀"));
        // The same emoji in CESU-8 (two 3-byte surrogates), and a modified-UTF-8 NUL.
        let cesu = [3, 8, 0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80, 0xc0, 0x80];
        assert_eq!(decode(&cesu).as_deref(), Some("😀\0"));
        // A lone surrogate becomes U+FFFD instead of failing.
        assert_eq!(
            decode(&[4, 1, 0x80, 0xb0, 0x03]).as_deref(),
            Some("\u{fffd}")
        );
    }

    #[test]
    fn string_errors() {
        let mut r = Reader::new(&[9], 0);
        assert_eq!(
            r.raw_str(10).unwrap_err().kind(),
            &ErrorKind::BadStringEncoding(9)
        );
        let mut r = Reader::new(&[3, 5, b'a'], 0);
        assert_eq!(r.raw_str(10).unwrap_err().kind(), &ErrorKind::Truncated);
        let mut r = Reader::new(&[3, 5, b'a', b'b', b'c', b'd', b'e'], 0);
        assert!(matches!(
            r.raw_str(4).unwrap_err().kind(),
            ErrorKind::LimitExceeded { max: 4, .. }
        ));
    }
}
