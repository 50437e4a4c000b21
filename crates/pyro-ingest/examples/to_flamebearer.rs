//! Any profile file → Pyroscope's flamebearer JSON per series (what a flamegraph front end
//! draws): `cargo run -p pyro-ingest --example to_flamebearer -- FILE [NAME]`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: to_flamebearer FILE [NAME]")?;
    let name = args.next().unwrap_or_else(|| "app".to_owned());
    let req = pyro_ingest::Request::new(name, std::fs::read(path)?);
    for s in pyro_ingest::decode(&req, &pyro_ingest::Limits::default())? {
        let fb = s.tree.flamebearer(Some(8192));
        println!(
            "{{\"name\":{:?},\"flamebearer\":{}}}",
            s.name.to_string(),
            serde_json::to_string(&fb)?
        );
    }
    Ok(())
}
