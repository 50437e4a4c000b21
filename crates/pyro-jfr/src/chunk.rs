//! Chunks: the 68-byte header and iteration over the chunks of a recording.

use crate::error::{Error, ErrorKind, Result};
use crate::reader::Reader;

/// Size of a chunk header.
pub const HEADER_SIZE: usize = 68;
const MAGIC: &[u8; 4] = b"FLR\0";

/// The header of one chunk (all fields big-endian on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkHeader {
    /// Major format version (1 or 2).
    pub major: u16,
    /// Minor format version.
    pub minor: u16,
    /// Chunk size in bytes, header included.
    pub size: u64,
    /// Offset of the last checkpoint, from the chunk start.
    pub cp_offset: u64,
    /// Offset of the (last) metadata record, from the chunk start.
    pub meta_offset: u64,
    /// Start time, nanoseconds since the epoch.
    pub start_nanos: u64,
    /// Duration in nanoseconds.
    pub duration_nanos: u64,
    /// Ticks at the chunk start.
    pub start_ticks: u64,
    /// Ticks per second of the chunk's clock.
    pub ticks_per_second: u64,
    /// File state: 0 when the chunk is finished.
    pub state: u8,
    /// Flags: bit 0 compressed integers, bit 1 final chunk.
    pub flags: u16,
}

impl ChunkHeader {
    /// Reads and validates the header at the start of `data`.
    ///
    /// # Errors
    /// Bad magic, an unsupported version, a size below 68 or past the end of `data`, offsets
    /// outside the chunk, zero ticks per second, an unfinished chunk or uncompressed integers.
    /// Offsets in errors are relative to `data`.
    pub fn parse(data: &[u8]) -> Result<ChunkHeader> {
        const CTX: &str = "chunk header";
        if data.len() < HEADER_SIZE {
            return Err(Error::new(ErrorKind::Truncated, data.len(), CTX));
        }
        if &data[..4] != MAGIC {
            return Err(Error::new(ErrorKind::BadMagic, 0, CTX));
        }
        let mut r = Reader::new(data, 4);
        let be16 = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
        let major = be16(&data[4..6]);
        let minor = be16(&data[6..8]);
        r.set_pos(8);
        let mut next = || r.be_u64();
        let h = ChunkHeader {
            major,
            minor,
            size: next()?,
            cp_offset: next()?,
            meta_offset: next()?,
            start_nanos: next()?,
            duration_nanos: next()?,
            start_ticks: next()?,
            ticks_per_second: next()?,
            state: data[64],
            flags: be16(&data[66..68]),
        };
        if !(1..=2).contains(&h.major) {
            return Err(Error::new(ErrorKind::BadHeader("major version"), 4, CTX));
        }
        if h.size < HEADER_SIZE as u64 {
            return Err(Error::new(ErrorKind::BadHeader("chunk size"), 8, CTX));
        }
        if h.size > data.len() as u64 {
            return Err(Error::new(ErrorKind::Truncated, data.len(), "chunk"));
        }
        if h.state != 0 {
            return Err(Error::new(
                ErrorKind::Unsupported("unfinished chunk (file state is not 0)"),
                64,
                CTX,
            ));
        }
        if h.flags & 1 == 0 {
            return Err(Error::new(
                ErrorKind::Unsupported("uncompressed integers"),
                66,
                CTX,
            ));
        }
        for (off, at, what) in [
            (h.cp_offset, 16, "constant pool offset"),
            (h.meta_offset, 24, "metadata offset"),
        ] {
            if off < HEADER_SIZE as u64 || off >= h.size {
                return Err(Error::new(ErrorKind::BadHeader(what), at, CTX));
            }
        }
        if h.ticks_per_second == 0 {
            return Err(Error::new(
                ErrorKind::BadHeader("ticks per second"),
                56,
                CTX,
            ));
        }
        Ok(h)
    }
}

/// One chunk of a recording.
#[derive(Debug, Clone, Copy)]
pub struct Chunk<'a> {
    /// Its header.
    pub header: ChunkHeader,
    /// The chunk's bytes, header included.
    pub data: &'a [u8],
    /// Offset of the chunk in the input.
    pub offset: usize,
}

/// Iterator over the chunks of a recording; stops after the first error.
#[derive(Debug, Clone)]
pub struct Chunks<'a> {
    data: &'a [u8],
    pos: usize,
    failed: bool,
}

/// The chunks of a recording, each validated by [`ChunkHeader::parse`]; errors carry absolute
/// offsets. An empty input has no chunks.
pub fn chunks(data: &[u8]) -> Chunks<'_> {
    Chunks {
        data,
        pos: 0,
        failed: false,
    }
}

impl<'a> Iterator for Chunks<'a> {
    type Item = Result<Chunk<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.data.len() {
            return None;
        }
        let rest = &self.data[self.pos..];
        match ChunkHeader::parse(rest) {
            Ok(header) => {
                let offset = self.pos;
                let size = header.size as usize;
                self.pos += size;
                Some(Ok(Chunk {
                    header,
                    data: &rest[..size],
                    offset,
                }))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e.shifted(self.pos)))
            }
        }
    }
}
