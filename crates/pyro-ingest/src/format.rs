//! Which reader a body goes to: OG's selection from `format` and `Content-Type`, and content
//! sniffing when neither names a format.

/// A body format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// Folded ("groups") text: the default.
    Folded,
    /// One stack per line.
    Lines,
    /// Legacy binary trie.
    Trie,
    /// Legacy binary tree.
    Tree,
    /// Raw or multipart JFR.
    Jfr,
    /// Raw pprof.
    Pprof,
    /// Speedscope JSON (not read by this build).
    Speedscope,
    /// `multipart/form-data` with a `profile` part (pprof).
    PprofMultipart,
}

impl Format {
    /// OG's selection (spec §1.4): a trie/tree content type (exact match) wins, then `format=`
    /// values, then a multipart content type means pprof; anything else (including unknown
    /// `format` values) means folded.
    pub fn select(format: Option<&str>, content_type: Option<&str>) -> Format {
        let format = format.unwrap_or("");
        let ct = content_type.unwrap_or("");
        match () {
            _ if format == "trie" || ct == "binary/octet-stream+trie" => Format::Trie,
            _ if format == "tree" || ct == "binary/octet-stream+tree" => Format::Tree,
            _ if format == "lines" => Format::Lines,
            _ if format == "jfr" => Format::Jfr,
            _ if format == "pprof" => Format::Pprof,
            _ if format == "speedscope" => Format::Speedscope,
            _ if ct.contains("multipart/form-data") => Format::PprofMultipart,
            _ => Format::Folded,
        }
    }

    /// [`select`](Format::select), except that when neither `format` nor the content type
    /// names a format (no `format`, and no trie/tree/multipart content type) the body decides
    /// ([`sniff`](Format::sniff)): a pprof or JFR posted without `format` is read as what it is.
    pub fn detect(format: Option<&str>, content_type: Option<&str>, body: &[u8]) -> Format {
        let selected = Format::select(format, content_type);
        if selected == Format::Folded && format.is_none_or(str::is_empty) {
            Format::sniff(body)
        } else {
            selected
        }
    }

    /// What a body looks like: a JFR recording (`FLR\0`, raw or inside gzip), a pprof (gzip
    /// with anything else inside, or a protobuf message: binary bytes where text has none),
    /// else folded text.
    pub fn sniff(body: &[u8]) -> Format {
        if pyro_tree::gzip::is_gzip(body) {
            let head = pyro_tree::gzip::peek(body, 4);
            return if head == b"FLR\0" {
                Format::Jfr
            } else {
                Format::Pprof
            };
        }
        if body.starts_with(b"FLR\0") {
            return Format::Jfr;
        }
        if looks_like_protobuf(body) {
            Format::Pprof
        } else {
            Format::Folded
        }
    }

    /// The formats this build reads when named by `format=` (what a CLI offers).
    pub const READABLE: [Format; 6] = [
        Format::Folded,
        Format::Lines,
        Format::Trie,
        Format::Tree,
        Format::Pprof,
        Format::Jfr,
    ];

    /// The format's name as `format=` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Folded => "folded",
            Format::Lines => "lines",
            Format::Trie => "trie",
            Format::Tree => "tree",
            Format::Jfr => "jfr",
            Format::Pprof => "pprof",
            Format::Speedscope => "speedscope",
            Format::PprofMultipart => "multipart pprof",
        }
    }
}

/// A pprof message starts with a length-delimited field key (`0x0a` sample_type, `0x12` sample,
/// … up to field 14) and, unlike folded text, has control bytes in its first bytes (the
/// nested keys `0x08`, `0x10` of a value type or sample).
fn looks_like_protobuf(body: &[u8]) -> bool {
    let Some(&first) = body.first() else {
        return false;
    };
    // Field 1..=14 with wire type 0 (varint) or 2 (length-delimited).
    let field = first >> 3;
    if !(1..=14).contains(&field) || !matches!(first & 7, 0 | 2) {
        return false;
    }
    body.iter()
        .take(64)
        .any(|&b| b < 0x09 || (0x0e..0x20).contains(&b) || b == 0x7f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffing() {
        assert_eq!(Format::sniff(b"foo;bar 1\n"), Format::Folded);
        assert_eq!(Format::sniff(b""), Format::Folded);
        assert_eq!(Format::sniff(b"\nfoo 1\n"), Format::Folded);
        assert_eq!(Format::sniff(b"FLR\0\x00\x02"), Format::Jfr);
        assert_eq!(Format::sniff(b"\x0a\x04\x08\x01\x10\x02"), Format::Pprof);
        assert_eq!(
            Format::detect(Some("folded"), None, b"\x0a\x04\x08\x01\x10\x02"),
            Format::Folded
        );
        assert_eq!(
            Format::detect(None, Some("binary/octet-stream+trie"), b"FLR\0"),
            Format::Trie
        );
        assert_eq!(Format::detect(None, None, b"FLR\0"), Format::Jfr);
    }
}
