//! The server's files import one another in one direction only: each top module has a layer,
//! a file may use only files of lower layers (or of its own module, without a circle), and every
//! file of `src/` must have a layer. Read from the `use crate::…`, `crate::…` and `super::…`
//! paths of the sources (comments and doc lines skipped); see `ARCHITECTURE.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top modules from the top down. `main.rs` and `serve_args.rs` are the binary, above all.
const LAYERS: &[&str] = &[
    "adhoc", "app", "trace", "handlers", "state", "auth", "metrics", "budget", "body", "forward",
    "render", "dot", "ui", "error", "attime",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `src/`, as its module path (`handlers/querier/mod.rs` →
/// `handlers::querier`).
fn modules() -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(&src(), &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(src()).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|l| l == "mod") {
                parts.pop();
            }
            (parts.join("::"), p)
        })
        .collect()
}

/// The module a path names: its longest prefix that is a file's module.
fn resolve(path: &[String], known: &BTreeMap<String, PathBuf>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| known.contains_key(m))
}

/// The paths `crate::a::b` and `super::c` of one line, with `{a, b::c}` groups expanded one
/// level (enough for this crate's `use` lines).
fn paths(line: &str, module: &str, is_mod_rs: bool) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (prefix, base) in [
        ("crate::", Vec::new()),
        ("super::", parent(module, is_mod_rs)),
    ] {
        let mut rest = line;
        while let Some(i) = rest.find(prefix) {
            // `super::` inside `crate::x::super::`, or an identifier ending in `crate`.
            let before = rest[..i].chars().last();
            rest = &rest[i + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let mut segs = base.clone();
            let ident = |s: &str| -> String {
                s.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect()
            };
            let mut tail = rest;
            loop {
                if let Some(group) = tail.strip_prefix('{') {
                    let end = group.find('}').unwrap_or(group.len());
                    for item in group[..end].split(',') {
                        let mut s = segs.clone();
                        s.extend(
                            item.trim()
                                .split("::")
                                .map(ident)
                                .filter(|x| !x.is_empty() && x != "self"),
                        );
                        out.push(s);
                    }
                    break;
                }
                let id = ident(tail);
                if id.is_empty() {
                    out.push(segs);
                    break;
                }
                tail = &tail[id.len()..];
                segs.push(id);
                match tail.strip_prefix("::") {
                    Some(t) => tail = t,
                    None => {
                        out.push(segs);
                        break;
                    }
                }
            }
        }
    }
    out
}

/// The module `super` names from `module`.
fn parent(module: &str, is_mod_rs: bool) -> Vec<String> {
    let mut segs: Vec<String> = module.split("::").map(str::to_owned).collect();
    if !is_mod_rs || module.is_empty() {
        segs.pop();
    }
    if is_mod_rs {
        segs.pop();
    }
    segs.retain(|s| !s.is_empty());
    segs
}

fn layer(module: &str) -> Option<usize> {
    let top = module.split("::").next().unwrap_or_default();
    LAYERS.iter().position(|l| *l == top)
}

/// The import graph between the library's files.
fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let known = modules();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, path) in &known {
        if module == "lib" || module == "main" || module == "serve_args" {
            continue;
        }
        let is_mod_rs = path.file_name().is_some_and(|f| f == "mod.rs");
        let text = std::fs::read_to_string(path).unwrap();
        // A file's own unit tests (`#[cfg(test)] mod tests`) import the file itself: cut there.
        let code = text
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or_default();
        let to = edges.entry(module.clone()).or_default();
        for line in code.lines() {
            let l = line.trim_start();
            if l.starts_with("//") {
                continue;
            }
            for p in paths(l, module, is_mod_rs) {
                if let Some(target) = resolve(&p, &known)
                    && &target != module
                {
                    to.insert(target);
                }
            }
        }
    }
    edges
}

#[test]
fn every_file_has_a_layer() {
    for module in modules().keys() {
        if ["lib", "main", "serve_args"].contains(&module.as_str()) {
            continue;
        }
        assert!(
            layer(module).is_some(),
            "src file of module {module} has no layer in tests/layers.rs (and ARCHITECTURE.md)"
        );
    }
}

#[test]
fn imports_point_down() {
    let mut wrong = Vec::new();
    for (from, tos) in graph() {
        for to in tos {
            let (a, b) = (layer(&from).unwrap(), layer(&to).unwrap());
            let same_top = from.split("::").next() == to.split("::").next();
            if !same_top && a >= b {
                wrong.push(format!("{from} (layer {a}) uses {to} (layer {b})"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports going up:\n{}", wrong.join("\n"));
}

#[test]
fn no_import_circle() {
    let g = graph();
    // Depth-first search; a grey node reached again closes a circle.
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(1) => {
                let i = stack.iter().position(|s| s == n).unwrap();
                let mut c = stack[i..].to_vec();
                c.push(n.to_owned());
                return Some(c);
            }
            Some(_) => return None,
            None => {}
        }
        state.insert(n.to_owned(), 1);
        stack.push(n.to_owned());
        for m in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, g, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(n.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in g.keys() {
        if let Some(c) = visit(n, &g, &mut state, &mut Vec::new()) {
            panic!("import circle: {}", c.join(" -> "));
        }
    }
}

/// The checker sees what it must: an upward import and a circle are found in sources that
/// have them.
#[test]
fn the_checker_finds_imports() {
    let known: BTreeMap<String, PathBuf> = ["state", "handlers", "handlers::render", "error"]
        .iter()
        .map(|m| ((*m).to_owned(), PathBuf::new()))
        .collect();
    let found = |line: &str, module: &str, is_mod: bool| -> BTreeSet<String> {
        paths(line, module, is_mod)
            .iter()
            .filter_map(|p| resolve(p, &known))
            .collect()
    };
    assert_eq!(
        found(
            "use crate::{error::og_error, state::AppState};",
            "handlers::labels",
            false
        ),
        BTreeSet::from(["error".to_owned(), "state".to_owned()])
    );
    assert_eq!(
        found("super::render::budget(x)", "handlers::labels", false),
        BTreeSet::from(["handlers::render".to_owned()])
    );
    assert_eq!(
        found("let x = crate::handlers::render::f();", "state", false),
        BTreeSet::from(["handlers::render".to_owned()])
    );
    assert!(layer("state") > layer("app"), "layers run top down");
}
