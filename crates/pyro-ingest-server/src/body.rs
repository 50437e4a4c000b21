//! Request bodies: `Content-Encoding` decoding and multipart forms.

use std::collections::HashMap;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;

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
/// 400 for a malformed gzip stream, 413 past `max`.
pub fn decode_content_encoding(
    headers: &HeaderMap,
    body: Bytes,
    max: usize,
) -> Result<Bytes, Box<Response>> {
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
                    return Err(Box::new(
                        (
                            StatusCode::PAYLOAD_TOO_LARGE,
                            format!("decompressed body exceeds the limit of {max} bytes\n"),
                        )
                            .into_response(),
                    ));
                }
                Err(e) => {
                    return Err(Box::new(
                        (StatusCode::BAD_REQUEST, format!("gzip: {e}\n")).into_response(),
                    ));
                }
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
) -> Result<HashMap<String, Bytes>, String> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| "malformed multipart content type header".to_owned())?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut mp = multer::Multipart::new(stream, boundary);
    let mut parts = HashMap::new();
    let mut count = 0;
    while let Some(field) = mp.next_field().await.map_err(|e| e.to_string())? {
        count += 1;
        if count > max_parts {
            return Err(format!("more than {max_parts} multipart parts"));
        }
        let Some(name) = field.name().map(str::to_owned) else {
            continue;
        };
        if field.file_name().is_none() {
            continue;
        }
        let data = field.bytes().await.map_err(|e| e.to_string())?;
        if data.len() > max_part {
            return Err(format!(
                "multipart part {name} exceeds the limit of {max_part} bytes"
            ));
        }
        if !data.is_empty() {
            parts.insert(name, data);
        }
    }
    Ok(parts)
}
