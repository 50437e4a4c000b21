//! Printing series: folded text, JSON or a summary (what `convert` prints).

use serde::Serialize;

use crate::Series;

/// Sorts series by their normalized name.
fn sorted<'s, 'a>(series: &'s [Series<'a>]) -> Vec<(String, &'s Series<'a>)> {
    let mut v: Vec<(String, &Series<'a>)> =
        series.iter().map(|s| (s.name.to_string(), s)).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Per series, `# <normalized name>` then `stack value` lines sorted bytewise.
pub fn folded(series: &[Series<'_>]) -> String {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail, and every piece is UTF-8.
    let _ = write_folded(series, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// [`folded`]'s text written to `w` as it is produced, without holding it all in memory.
///
/// # Errors
/// The first error `w` returns.
pub fn write_folded(series: &[Series<'_>], w: &mut impl std::io::Write) -> std::io::Result<()> {
    for (name, s) in sorted(series) {
        writeln!(w, "# {name}")?;
        s.tree.write_folded(w)?;
    }
    Ok(())
}

/// One line per series, sorted by name: its normalized name, the stacks that hold a value, its
/// total and its units, tab-separated, under a `# series\tstacks\ttotal\tunits` header.
pub fn summary(series: &[Series<'_>]) -> String {
    use std::fmt::Write as _;
    let mut out = String::from("# series\tstacks\ttotal\tunits\n");
    for (name, s) in sorted(series) {
        let stacks = s
            .tree
            .node_ids()
            .filter(|&n| s.tree.node_values(n).is_some_and(|(own, _)| own != 0))
            .count();
        let _ = writeln!(out, "{name}\t{stacks}\t{}\t{}", s.tree.total(), s.units);
    }
    out
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonSeries<'s> {
    name: String,
    units: &'s str,
    aggregation: &'s str,
    sample_rate: u32,
    spy_name: &'s str,
    total: u64,
    stacks: Vec<(String, u64)>,
}

/// A JSON array of `{"name", "units", "aggregation", "sampleRate", "spyName", "total",
/// "stacks": [[stack, value], …]}`, sorted by name, stacks sorted bytewise.
pub fn json(series: &[Series<'_>]) -> String {
    let items: Vec<JsonSeries<'_>> = sorted(series)
        .into_iter()
        .map(|(name, s)| JsonSeries {
            name,
            units: &s.units,
            aggregation: s.aggregation.as_str(),
            sample_rate: s.sample_rate,
            spy_name: &s.spy_name,
            total: s.tree.total(),
            stacks: s.tree.folded_lines(),
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&items).unwrap_or_else(|e| format!("\"{e}\""));
    text.push('\n');
    text
}
