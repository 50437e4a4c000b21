//! The one bounded gunzip every `pyro-*` crate uses (feature `gzip`).
//!
//! Bodies arrive gzipped in three places (a `Content-Encoding: gzip` request, a gzipped pprof,
//! a gzipped JFR recording or labels part); all of them inflate through [`gunzip`], which never
//! produces more than the caller's limit, so a gzip bomb stops at the limit with
//! [`GunzipError::TooLarge`] instead of exhausting memory.
//!
//! ```
//! use pyro_tree::gzip::{GunzipError, gunzip, is_gzip};
//!
//! let data = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x4b\xcb\xcf\x07\x00\x21\x65\x73\x8c\x03\x00\x00\x00";
//! assert!(is_gzip(data));
//! assert_eq!(gunzip(data, 16).unwrap(), b"foo");
//! assert!(matches!(gunzip(data, 2), Err(GunzipError::TooLarge { limit: 2 })));
//! ```

use std::fmt;
use std::io::Read;

/// Whether `data` starts with the gzip magic bytes `1f 8b`.
pub fn is_gzip(data: &[u8]) -> bool {
    data.starts_with(&[0x1f, 0x8b])
}

/// Why a gzip stream could not be inflated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GunzipError {
    /// A malformed or truncated gzip stream (flate2's message).
    Malformed(String),
    /// The output would exceed `limit` bytes.
    TooLarge {
        /// The limit, in bytes of output.
        limit: usize,
    },
}

impl fmt::Display for GunzipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GunzipError::Malformed(m) => f.write_str(m),
            GunzipError::TooLarge { limit } => {
                write!(f, "decompressed size exceeds the limit of {limit} bytes")
            }
        }
    }
}

impl std::error::Error for GunzipError {}

/// Inflates a gzip stream (concatenated members read as one), producing at most `max` bytes.
///
/// The trailer's size of the last member sizes the output up front, trusted only as far as
/// deflate can expand (about 1032:1) and the limit, which saves regrowing and copying.
///
/// # Errors
/// [`GunzipError::Malformed`] for a bad stream, [`GunzipError::TooLarge`] past `max`.
pub fn gunzip(data: &[u8], max: usize) -> Result<Vec<u8>, GunzipError> {
    let hint = trailer_size(data).unwrap_or(0);
    let mut out = Vec::with_capacity(hint.min(max).min(data.len().saturating_mul(1032)) + 1);
    let mut dec = flate2::read::MultiGzDecoder::new(data).take(max as u64 + 1);
    dec.read_to_end(&mut out)
        .map_err(|e| GunzipError::Malformed(e.to_string()))?;
    if out.len() > max {
        return Err(GunzipError::TooLarge { limit: max });
    }
    Ok(out)
}

/// The size a gzip stream's trailer declares (ISIZE of its last member: the inflated size modulo
/// 2³²), `None` for input too short to have one. Untrusted: a sizing hint or a bound to hold the
/// stream to, never a promise.
pub fn trailer_size(data: &[u8]) -> Option<usize> {
    let t = data.get(data.len().checked_sub(4)?..)?;
    Some(u32::from_le_bytes(<[u8; 4]>::try_from(t).ok()?) as usize)
}

/// The first `n` bytes of what a gzip stream inflates to (fewer if it is shorter or broken):
/// enough to sniff what is inside without inflating all of it.
pub fn peek(data: &[u8], n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    let _ = flate2::read::MultiGzDecoder::new(data)
        .take(n as u64)
        .read_to_end(&mut out);
    out
}
