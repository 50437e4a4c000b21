//! The LabelsSnapshot protobuf pyroscope-java sends beside a recording.

use std::collections::HashMap;

use prost::Message;

use crate::error::{Error, ErrorKind, Result};
use crate::limits::Limits;

/// The labels of one context: label-name string id → label-value string id.
#[derive(Clone, PartialEq, Message)]
pub struct Context {
    /// Label name id → label value id.
    #[prost(map = "int64, int64", tag = "1")]
    pub labels: HashMap<i64, i64>,
}

/// `io.pyroscope.labels.pb.LabelsSnapshot`: the contexts referenced by `contextId` in the
/// recording and the string table they use.
#[derive(Clone, PartialEq, Message)]
pub struct LabelsSnapshot {
    /// Context id → its labels.
    #[prost(map = "int64, message", tag = "1")]
    pub contexts: HashMap<i64, Context>,
    /// String id → string.
    #[prost(map = "int64, string", tag = "2")]
    pub strings: HashMap<i64, String>,
}

impl LabelsSnapshot {
    /// Decodes a snapshot, gunzipping it first if it starts with the gzip magic.
    ///
    /// # Errors
    /// Malformed gzip, more than the decompressed-size limit, or an invalid protobuf (prost's
    /// message names the field; the offset is 0, as prost reports none).
    pub fn decode_body(data: &[u8], limits: &Limits) -> Result<LabelsSnapshot> {
        let buf = crate::decode(data, limits)?;
        LabelsSnapshot::decode(&buf[..])
            .map_err(|e| Error::new(ErrorKind::Labels(e.to_string()), 0, "labels snapshot"))
    }
}
