//! Content sniffing on every public vector: a request that names no format reads each profile as
//! what it is (gzipped or raw pprof, raw or gzipped JFR), with exactly the series the named
//! format gives; folded text stays folded.

use std::path::{Path, PathBuf};

use pyro_ingest::{Format, Limits, Request, decode};

fn shared() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/public");
    p.is_dir().then_some(p)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The format a vector's name says it is, for the profile vectors.
fn named_format(p: &Path) -> Option<Format> {
    let name = p.file_name()?.to_str()?;
    if name.contains("labels") || name.contains("expected") {
        return None;
    }
    if name.ends_with(".jfr") || name.ends_with(".jfr.gz") || name == "jfr.bin.gz" {
        return Some(Format::Jfr);
    }
    if name.ends_with(".pprof") || name.ends_with(".pb") || name.ends_with(".pb.gz") {
        return Some(Format::Pprof);
    }
    None
}

/// Series names and folded stacks, sorted: what a request produced, or its error message.
fn outcome(req: &Request) -> Result<Vec<(String, String)>, String> {
    let mut v: Vec<(String, String)> = decode(req, &Limits::default())
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|s| (s.name.to_string(), s.tree.to_folded()))
        .collect();
    v.sort();
    Ok(v)
}

#[test]
#[cfg_attr(
    not(shared_vectors),
    ignore = "needs ../shared/testdata/public beside the checkout"
)]
fn every_public_profile_is_read_as_what_it_is() {
    let Some(root) = shared() else {
        eprintln!("note: ../shared not found; skipping the public sniffing vectors");
        return;
    };
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    let mut checked = [0usize; 2];
    for path in files {
        let Some(format) = named_format(&path) else {
            continue;
        };
        let body = std::fs::read(&path).unwrap();
        let sniffed = Format::sniff(&body);
        assert_eq!(sniffed, format, "{}", path.display());
        let unnamed = Request::new("app", body);
        let named = Request {
            format: Some(format.as_str().to_owned()),
            ..unnamed.clone()
        };
        assert_eq!(outcome(&unnamed), outcome(&named), "{}", path.display());
        checked[usize::from(format == Format::Jfr)] += 1;
    }
    assert!(checked[0] >= 17 && checked[1] >= 34, "{checked:?}");
}

#[test]
fn repo_folded_vectors_stay_folded() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/folded");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_file() {
            let body = std::fs::read(&p).unwrap();
            assert_eq!(Format::sniff(&body), Format::Folded, "{}", p.display());
            n += 1;
        }
    }
    assert!(n >= 6);
}

#[test]
fn errors_have_kinds_offsets_and_sources() {
    use std::error::Error as _;
    let req = Request::new("app", &b"a 1\nb x\n"[..]);
    let e = decode(&req, &Limits::default()).unwrap_err();
    assert_eq!(e.kind(), pyro_ingest::ErrorKind::Body);
    assert_eq!(e.offset(), Some(6));
    assert_eq!(
        e.to_string(),
        "invalid count \"x\" on line 2 (at offset 0x6)"
    );
    let src = e.source().expect("the reader's error");
    assert!(src.downcast_ref::<pyro_folded::Error>().is_some());

    let e = decode(&Request::new("a b", &b"x 1\n"[..]), &Limits::default()).unwrap_err();
    assert_eq!(e.kind(), pyro_ingest::ErrorKind::Name);
    assert!(
        e.source()
            .unwrap()
            .downcast_ref::<pyro_labels::Error>()
            .is_some()
    );

    // a gzip bomb in a named pprof: TooLarge, whatever the reader calls it
    let mut gz = Vec::new();
    {
        use std::io::Write;
        let mut w = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::best());
        w.write_all(&vec![0u8; 1 << 20]).unwrap();
        w.finish().unwrap();
    }
    let req = Request {
        format: Some("pprof".into()),
        ..Request::new("app", gz)
    };
    let e = decode(&req, &Limits::new().max_decompressed(1000)).unwrap_err();
    assert_eq!(e.kind(), pyro_ingest::ErrorKind::TooLarge);

    // series per request
    let req = Request::new("app", &b"a 1\n"[..]);
    let e = decode(&req, &Limits::new().max_series(0)).unwrap_err();
    assert_eq!(e.kind(), pyro_ingest::ErrorKind::LimitExceeded);
    assert_eq!(e.to_string(), "1 series exceed the limit of 0 per request");
}
