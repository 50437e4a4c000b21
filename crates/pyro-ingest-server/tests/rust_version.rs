//! Every crate's declared `rust-version` is true for the language features its sources use
//! (toolchains cannot be downloaded here to build with each, so the sources are read): a crate
//! that writes let-chains (`if let … && …`, stable in Rust 1.88) declares 1.88 or newer, and a
//! crate that depends on redb 3.1 declares 1.89 or newer.

use std::path::{Path, PathBuf};

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `1.88` → (1, 88).
fn version(text: &str) -> (u32, u32) {
    let mut parts = text.trim().trim_matches('"').split('.');
    let major = parts.next().unwrap().parse().unwrap();
    let minor = parts.next().unwrap().parse().unwrap();
    (major, minor)
}

/// A crate's declared rust-version (its own, or the workspace's).
fn declared(manifest: &str, workspace: &str) -> (u32, u32) {
    let line = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("rust-version"))
            .map(str::to_owned)
            .unwrap()
    };
    let own = line(manifest);
    if own.contains("workspace") {
        version(line(workspace).split('=').nth(1).unwrap())
    } else {
        version(own.split('=').nth(1).unwrap())
    }
}

/// Whether `src` holds a let-chain: `let` and `&&` in one condition, the `&&` outside any
/// parentheses, brackets or braces of the condition (a closure's `&&` is not a chain), on the
/// line of the `if let`/`while let` or on the lines that continue it (rustfmt puts each `&&` of a
/// chain at the start of its own line).
fn has_let_chain(src: &str) -> bool {
    let lines: Vec<&str> = src.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        if t.starts_with("&& let ") || t.starts_with("|| let ") {
            return true;
        }
        let Some(at) = t.find("if let ").or_else(|| t.find("while let ")) else {
            continue;
        };
        // The rest of the condition on this line, then the lines that continue it.
        let mut depth = 0i32;
        let mut rest = t[at..].chars().peekable();
        while let Some(c) = rest.next() {
            match c {
                '(' | '[' | '{' if c != '{' || depth > 0 => depth += 1,
                '{' => break,
                ')' | ']' | '}' => depth -= 1,
                '&' if depth == 0 && rest.peek() == Some(&'&') => return true,
                _ => {}
            }
        }
        if depth == 0
            && !t.ends_with('{')
            && lines
                .get(i + 1)
                .is_some_and(|next| next.trim_start().starts_with("&& "))
        {
            return true;
        }
    }
    false
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn let_chain_detection() {
    assert!(has_let_chain("if let Some(x) = a\n    && x > 1\n{\n}"));
    assert!(has_let_chain("if let Some(x) = a && x > 1 {"));
    assert!(has_let_chain("    && let Some(y) = b"));
    assert!(!has_let_chain("if let Some(x) = a.filter(|v| *v && w) {"));
    assert!(!has_let_chain("if let Some(x) = a {\n    && b\n}"));
    assert!(!has_let_chain("let ok = a\n    && b;"));
}

#[test]
fn declared_rust_versions_are_true() {
    let root = crates_dir();
    let workspace = std::fs::read_to_string(root.join("../Cargo.toml")).unwrap();
    let mut checked = 0;
    for e in std::fs::read_dir(&root).unwrap() {
        let dir = e.unwrap().path();
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let have = declared(&manifest, &workspace);
        let mut files = Vec::new();
        sources(&dir.join("src"), &mut files);
        if let Some(f) = files
            .iter()
            .find(|f| has_let_chain(&std::fs::read_to_string(f).unwrap()))
        {
            assert!(
                have >= (1, 88),
                "{name} declares rust-version {have:?} but {} uses let-chains (1.88)",
                f.display()
            );
        }
        if manifest.lines().any(|l| l.starts_with("redb")) {
            assert!(
                have >= (1, 89),
                "{name} depends on redb 3.1 (1.89), declares {have:?}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 9, "{checked} crates checked");
}
