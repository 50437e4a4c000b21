//! Symbol normalisation: names the JVM generates per run (lambdas, reflection accessors,
//! extracted native libraries) are merged into one stable name, as grafana/jfr-parser does.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

struct Rule {
    /// A substring every match contains (checked first, so most symbols skip the regex).
    needle: &'static str,
    re: Regex,
    replace: &'static str,
}

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let rule = |needle, re: &str, replace| Rule {
        needle,
        re: Regex::new(re).expect("valid regex"),
        replace,
    };
    vec![
        // jdk/internal/reflect/GeneratedMethodAccessor31
        rule(
            "GeneratedMethodAccessor",
            r"^(jdk/internal/reflect/GeneratedMethodAccessor)(\d+)$",
            "${1}_",
        ),
        // org/example/OrderService$$Lambda$669.0x0000000800fd7318, Fib$$Lambda.0x00007ffa600c4da0
        rule(
            "$$Lambda",
            r"^(.+\$\$Lambda)(\$?\d*[./](0x)?[\da-f]+|\d+)$",
            "${1}_",
        ),
        // libzstd-jni-1.5.1-16931311898282279136.so
        rule(
            "libzstd-jni-",
            r"^(\.?/tmp/)?(libzstd-jni-\d+\.\d+\.\d+-)(\d+)(\.so)( \(deleted\))?$",
            "libzstd-jni-_.so",
        ),
        // ./tmp/libamazonCorrettoCryptoProvider109b39cf33c563eb.so
        rule(
            "amazonCorrettoCryptoProvider",
            r"^(\.?/tmp/)?(lib)?(amazonCorrettoCryptoProvider)(NativeLibraries\.)?([0-9a-f]{16})(/libcrypto|/libamazonCorrettoCryptoProvider)?(\.so)( \(deleted\))?$",
            "libamazonCorrettoCryptoProvider_.so",
        ),
        // libasyncProfiler-linux-arm64-17b9a1d8156277a98ccc871afa9a8f69215f92.so
        rule(
            "libasyncProfiler-",
            r"^(\.?/tmp/)?(libasyncProfiler)-(linux-arm64|linux-musl-x64|linux-x64|macos)-(17b9a1d8156277a98ccc871afa9a8f69215f92)(\.so)( \(deleted\))?$",
            "libasyncProfiler-_.so",
        ),
    ]
});

/// The normalised form of one symbol (a class or method name).
pub fn normalize(symbol: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(symbol);
    for rule in RULES.iter() {
        if !out.contains(rule.needle) {
            continue;
        }
        if let Cow::Owned(s) = rule.re.replace(&out, rule.replace) {
            out = Cow::Owned(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn generated_names_merge() {
        for (input, want) in [
            (
                "jdk/internal/reflect/GeneratedMethodAccessor31",
                "jdk/internal/reflect/GeneratedMethodAccessor_",
            ),
            (
                "org/example/rideshare/OrderService$$Lambda$669.0x0000000800fd7318",
                "org/example/rideshare/OrderService$$Lambda_",
            ),
            ("Fib$$Lambda.0x00007ffa600c4da0", "Fib$$Lambda_"),
            ("App$$Lambda$12/1234", "App$$Lambda_"),
            (
                "libzstd-jni-1.5.1-16931311898282279136.so",
                "libzstd-jni-_.so",
            ),
            (
                "./tmp/libamazonCorrettoCryptoProvider109b39cf33c563eb.so",
                "libamazonCorrettoCryptoProvider_.so",
            ),
            (
                "libasyncProfiler-linux-arm64-17b9a1d8156277a98ccc871afa9a8f69215f92.so",
                "libasyncProfiler-_.so",
            ),
            ("java/lang/Thread", "java/lang/Thread"),
            (
                "jdk/internal/reflect/GeneratedMethodAccessorX",
                "jdk/internal/reflect/GeneratedMethodAccessorX",
            ),
        ] {
            assert_eq!(normalize(input), want, "{input}");
        }
    }
}
