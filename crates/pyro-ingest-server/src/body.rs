//! Request bodies: `Content-Encoding` decoding and multipart forms.

use std::collections::HashMap;

use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;

use crate::error::AppError;

/// A request body that could not be decoded.
#[derive(Debug)]
pub enum BodyError {
    /// The gunzipped body would pass its limit (413).
    TooLarge {
        /// The limit, in bytes.
        max: usize,
    },
    /// A malformed gzip stream (400).
    Gzip(pyro_ingest::GunzipError),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge { max } => {
                write!(f, "decompressed body exceeds the limit of {max} bytes")
            }
            BodyError::Gzip(e) => write!(f, "gzip: {e}"),
        }
    }
}

impl std::error::Error for BodyError {}

/// The plain-text answer: 413 past the limit, 400 for bad gzip.
impl From<BodyError> for AppError {
    fn from(e: BodyError) -> AppError {
        let status = match e {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Gzip(_) => StatusCode::BAD_REQUEST,
        };
        AppError::Text(status, format!("{e}\n"))
    }
}

/// A multipart form that could not be read.
#[derive(Debug)]
pub enum FormError {
    /// The content type has no usable boundary.
    ContentType,
    /// The form is malformed.
    Malformed(multer::Error),
    /// More parts than allowed.
    TooManyParts {
        /// The limit.
        max: usize,
    },
    /// A part over its size limit.
    PartTooLarge {
        /// The part's name.
        name: String,
        /// The limit, in bytes.
        max: usize,
    },
}

impl std::fmt::Display for FormError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FormError::ContentType => f.write_str("malformed multipart content type header"),
            FormError::Malformed(e) => e.fmt(f),
            FormError::TooManyParts { max } => write!(f, "more than {max} multipart parts"),
            FormError::PartTooLarge { name, max } => {
                write!(f, "multipart part {name} exceeds the limit of {max} bytes")
            }
        }
    }
}

impl std::error::Error for FormError {}

/// Default most parts read from one multipart body.
pub const DEFAULT_MAX_MULTIPART_PARTS: usize = 16;

/// Whether the request's body is gzip content-encoded.
pub fn content_encoded(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("gzip"))
}

/// Decodes `Content-Encoding: gzip` (also `x-gzip`, applied right to left; `identity` is a
/// no-op) with the shared bounded gunzip, never producing more than `max` bytes. Run it off the
/// async workers: inflating a large body takes a while.
///
/// # Errors
/// A malformed gzip stream, or more than `max` bytes.
pub fn decode_content_encoding(
    headers: &HeaderMap,
    body: Bytes,
    max: usize,
) -> Result<Bytes, BodyError> {
    let Some(enc) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(body);
    };
    let enc = enc.to_str().unwrap_or("").replace(' ', "");
    let mut data = body;
    for e in enc.split(',').rev() {
        if matches!(e.to_ascii_lowercase().as_str(), "gzip" | "x-gzip") {
            data = match pyro_ingest::gunzip(&data, max) {
                Ok(out) => Bytes::from(out),
                Err(pyro_ingest::GunzipError::TooLarge { .. }) => {
                    return Err(BodyError::TooLarge { max });
                }
                Err(e) => return Err(BodyError::Gzip(e)),
            };
        }
    }
    Ok(data)
}

/// The file parts of a multipart body by name (`profile`, `prev_profile`, `sample_type_config`
/// for pprof; `jfr`, `labels` for JFR); only parts with a file name count, as in OG.
///
/// # Errors
/// A malformed form, more than `max_parts` parts, or a part over `max_part` bytes.
pub async fn multipart_parts(
    content_type: &str,
    body: Bytes,
    max_part: usize,
    max_parts: usize,
) -> Result<HashMap<String, Bytes>, FormError> {
    let boundary = multer::parse_boundary(content_type).map_err(|_| FormError::ContentType)?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut mp = multer::Multipart::new(stream, boundary);
    let mut parts = HashMap::new();
    let mut count = 0;
    while let Some(field) = mp.next_field().await.map_err(FormError::Malformed)? {
        count += 1;
        if count > max_parts {
            return Err(FormError::TooManyParts { max: max_parts });
        }
        let Some(name) = field.name().map(str::to_owned) else {
            continue;
        };
        if field.file_name().is_none() {
            continue;
        }
        let data = field.bytes().await.map_err(FormError::Malformed)?;
        if data.len() > max_part {
            return Err(FormError::PartTooLarge {
                name,
                max: max_part,
            });
        }
        if !data.is_empty() {
            parts.insert(name, data);
        }
    }
    Ok(parts)
}
