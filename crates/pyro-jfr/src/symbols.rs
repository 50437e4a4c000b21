//! Symbol normalisation: names the JVM generates per run (lambdas, reflection accessors,
//! extracted native libraries) are merged into one stable name, with the same rules as
//! grafana/jfr-parser's `parser/symbols.go` (regular expressions there; hand-written matchers
//! here, checked against those expressions in the tests).

use std::borrow::Cow;

/// The normalised form of one symbol (a class or method name).
pub fn normalize(symbol: &str) -> Cow<'_, str> {
    // Every rule needs one of these bytes; most symbols have none and return at once.
    if !symbol.contains(['$', 'G', '.']) {
        return Cow::Borrowed(symbol);
    }
    let mut out = Cow::Borrowed(symbol);
    if let Some(s) = accessor(&out) {
        out = Cow::Owned(s);
    }
    if let Some(s) = lambda(&out) {
        out = Cow::Owned(s);
    }
    type Rule = fn(&str) -> bool;
    let libraries: [(Rule, &'static str); 3] = [
        (zstd, "libzstd-jni-_.so"),
        (corretto, "libamazonCorrettoCryptoProvider_.so"),
        (async_profiler, "libasyncProfiler-_.so"),
    ];
    for (matches, merged) in libraries {
        if matches(&out) {
            out = Cow::Borrowed(merged);
        }
    }
    out
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn lower_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// `^(jdk/internal/reflect/GeneratedMethodAccessor)(\d+)$` → `${1}_`.
fn accessor(s: &str) -> Option<String> {
    const P: &str = "jdk/internal/reflect/GeneratedMethodAccessor";
    digits(s.strip_prefix(P)?).then(|| format!("{P}_"))
}

/// `^(.+\$\$Lambda)(\$?\d*[./](0x)?[\da-f]+|\d+)$` → `${1}_` (the longest prefix that works).
fn lambda(s: &str) -> Option<String> {
    const L: &str = "$$Lambda";
    let mut end = s.len();
    while let Some(i) = s[..end].rfind(L) {
        let rest = &s[i + L.len()..];
        if i > 0 && lambda_suffix(rest) {
            return Some(format!("{}_", &s[..i + L.len()]));
        }
        if i == 0 {
            break;
        }
        end = i + L.len() - 1;
    }
    None
}

fn lambda_suffix(rest: &str) -> bool {
    if digits(rest) {
        return true;
    }
    let r = rest.strip_prefix('$').unwrap_or(rest);
    let r = r.trim_start_matches(|c: char| c.is_ascii_digit());
    let Some(r) = r.strip_prefix(['.', '/']) else {
        return false;
    };
    r.strip_prefix("0x").is_some_and(lower_hex) || lower_hex(r)
}

/// Strips `(\.?/tmp/)?` and `( \(deleted\))?`.
fn tmp_and_deleted(s: &str) -> &str {
    let s = s
        .strip_prefix("./tmp/")
        .or_else(|| s.strip_prefix("/tmp/"))
        .unwrap_or(s);
    s.strip_suffix(" (deleted)").unwrap_or(s)
}

/// `^(\.?/tmp/)?(libzstd-jni-\d+\.\d+\.\d+-)(\d+)(\.so)( \(deleted\))?$`.
fn zstd(s: &str) -> bool {
    let s = tmp_and_deleted(s);
    let Some(r) = s
        .strip_prefix("libzstd-jni-")
        .and_then(|r| r.strip_suffix(".so"))
    else {
        return false;
    };
    let Some((version, id)) = r.split_once('-') else {
        return false;
    };
    let parts: Vec<&str> = version.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| digits(p)) && digits(id)
}

/// `^(\.?/tmp/)?(lib)?(amazonCorrettoCryptoProvider)(NativeLibraries\.)?([0-9a-f]{16})`
/// `(/libcrypto|/libamazonCorrettoCryptoProvider)?(\.so)( \(deleted\))?$`.
fn corretto(s: &str) -> bool {
    let s = tmp_and_deleted(s);
    let s = s.strip_prefix("lib").unwrap_or(s);
    let Some(r) = s
        .strip_prefix("amazonCorrettoCryptoProvider")
        .and_then(|r| r.strip_suffix(".so"))
    else {
        return false;
    };
    let r = r.strip_prefix("NativeLibraries.").unwrap_or(r);
    if r.len() < 16 || !r.is_char_boundary(16) || !lower_hex(&r[..16]) {
        return false;
    }
    matches!(
        &r[16..],
        "" | "/libcrypto" | "/libamazonCorrettoCryptoProvider"
    )
}

/// `^(\.?/tmp/)?(libasyncProfiler)-(linux-arm64|linux-musl-x64|linux-x64|macos)-`
/// `(17b9a1d8156277a98ccc871afa9a8f69215f92)(\.so)( \(deleted\))?$`.
fn async_profiler(s: &str) -> bool {
    let s = tmp_and_deleted(s);
    let Some(r) = s
        .strip_prefix("libasyncProfiler-")
        .and_then(|r| r.strip_suffix("-17b9a1d8156277a98ccc871afa9a8f69215f92.so"))
    else {
        return false;
    };
    matches!(r, "linux-arm64" | "linux-musl-x64" | "linux-x64" | "macos")
}

#[cfg(test)]
mod tests {
    use super::normalize;

    use std::sync::LazyLock;

    use regex::Regex;

    /// jfr-parser's expressions, applied in its order: the oracle for the matchers above.
    static RULES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
        [
            (r"^(jdk/internal/reflect/GeneratedMethodAccessor)(\d+)$", "${1}_"),
            (r"^(.+\$\$Lambda)(\$?\d*[./](0x)?[\da-f]+|\d+)$", "${1}_"),
            (
                r"^(\.?/tmp/)?(libzstd-jni-\d+\.\d+\.\d+-)(\d+)(\.so)( \(deleted\))?$",
                "libzstd-jni-_.so",
            ),
            (
                r"^(\.?/tmp/)?(lib)?(amazonCorrettoCryptoProvider)(NativeLibraries\.)?([0-9a-f]{16})(/libcrypto|/libamazonCorrettoCryptoProvider)?(\.so)( \(deleted\))?$",
                "libamazonCorrettoCryptoProvider_.so",
            ),
            (
                r"^(\.?/tmp/)?(libasyncProfiler)-(linux-arm64|linux-musl-x64|linux-x64|macos)-(17b9a1d8156277a98ccc871afa9a8f69215f92)(\.so)( \(deleted\))?$",
                "libasyncProfiler-_.so",
            ),
        ]
        .into_iter()
        .map(|(re, rep)| (Regex::new(re).unwrap(), rep))
        .collect()
    });

    fn reference(s: &str) -> String {
        let mut out = s.to_owned();
        for (re, rep) in RULES.iter() {
            out = re.replace(&out, *rep).into_owned();
        }
        out
    }

    const CASES: &[&str] = &[
        "jdk/internal/reflect/GeneratedMethodAccessor31",
        "jdk/internal/reflect/GeneratedMethodAccessor",
        "jdk/internal/reflect/GeneratedMethodAccessorX",
        "org/example/rideshare/OrderService$$Lambda$669.0x0000000800fd7318",
        "Fib$$Lambda.0x00007ffa600c4da0",
        "App$$Lambda$12/0x1234",
        "App$$Lambda$12/1234",
        "App$$Lambda$12",
        "App$$Lambda12",
        "App$$Lambda$$Lambda$1.0x1f",
        "A$$Lambda$1.0x1f$$Lambda$2/abc",
        "$$Lambda$1.0x1f",
        "x$$Lambda$1.0x",
        "x$$Lambda$1.0xg",
        "x$$Lambda$1.0X1f",
        "Burn$$Lambda$88+0x00007f70d8007a08/937773018",
        "x$$Lambda$.ff",
        "x$$Lambda/0",
        "libzstd-jni-1.5.1-16931311898282279136.so",
        "/tmp/libzstd-jni-1.5.1-16931311898282279136.so (deleted)",
        "./tmp/libzstd-jni-1.5-1.so",
        "./tmp/libamazonCorrettoCryptoProvider109b39cf33c563eb.so",
        "./tmp/amazonCorrettoCryptoProviderNativeLibraries.7382c2f79097f415/libcrypto.so (deleted)",
        "amazonCorrettoCryptoProvider7382c2f79097f41/libcrypto.so",
        "libasyncProfiler-linux-arm64-17b9a1d8156277a98ccc871afa9a8f69215f92.so",
        "/tmp/libasyncProfiler-macos-17b9a1d8156277a98ccc871afa9a8f69215f92.so (deleted)",
        "libasyncProfiler-linux-x86-17b9a1d8156277a98ccc871afa9a8f69215f92.so",
        "java/lang/Thread",
        "",
        "é$$Lambda$1.0x1f",
    ];

    #[test]
    fn matches_jfr_parsers_expressions() {
        for c in CASES {
            assert_eq!(normalize(c), reference(c), "{c:?}");
        }
    }

    #[test]
    fn random_symbols_match_the_expressions() {
        let pieces = [
            "$$Lambda",
            "$",
            "1",
            "23",
            ".",
            "/",
            "0x",
            "ff",
            "a",
            "G",
            "/tmp/",
            "./tmp/",
            "libzstd-jni-",
            ".so",
            " (deleted)",
            "-",
            "lib",
            "amazonCorrettoCryptoProvider",
            "NativeLibraries.",
            "0123456789abcdef",
            "/libcrypto",
            "libasyncProfiler-",
            "linux-x64",
            "17b9a1d8156277a98ccc871afa9a8f69215f92",
            "jdk/internal/reflect/",
            "GeneratedMethodAccessor",
            "X",
        ];
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            let mut s = String::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let n = 1 + seed % 7;
            let mut x = seed;
            for _ in 0..n {
                s.push_str(pieces[(x % pieces.len() as u64) as usize]);
                x /= pieces.len() as u64;
            }
            assert_eq!(normalize(&s), reference(&s), "{s:?}");
        }
    }
}
