//! A byte cursor over one chunk: JFR varints, raw bytes and the six string encodings.

use std::borrow::Cow;

use crate::error::{Error, ErrorKind, Result};

/// A cursor over a chunk; offsets are relative to the chunk start.
#[derive(Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
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
            if let Some(&b1) = self.buf.get(self.pos + 1) {
                if b1 < 0x80 {
                    self.pos += 2;
                    return Ok(u64::from(b & 0x7f) | (u64::from(b1) << 7));
                }
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
                for _ in 0..count {
                    self.skip_varint()?;
                }
                RawStr::Utf16 { count, at: start }
            }
            5 => {
                let n = self.count(max_len, "string length")?;
                RawStr::Latin1(self.bytes(n)?)
            }
            b => return Err(Error::new(ErrorKind::BadStringEncoding(b), at, "string")),
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
