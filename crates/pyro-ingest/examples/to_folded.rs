//! Any profile file (folded, pprof or JFR, gzipped or not) → folded text, one `# series` header
//! per series: `cargo run -p pyro-ingest --example to_folded -- FILE [NAME]`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: to_folded FILE [NAME]")?;
    let name = args.next().unwrap_or_else(|| "app".to_owned());
    let req = pyro_ingest::Request::new(name, std::fs::read(path)?);
    let series = pyro_ingest::decode(&req, &pyro_ingest::Limits::default())?;
    print!("{}", pyro_ingest::output::folded(&series));
    Ok(())
}
