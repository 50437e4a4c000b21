//! Straightforward reference readers, for differential tests and as the benchmark peer.
//!
//! They decode the whole input to a `String`, walk `split('\n')`, split counts with
//! `rsplit_once(' ')` and sum into a `HashMap<String, u64>`: the obvious way to write a folded
//! reader. They apply the same rules as the fast readers but no limits.

use std::collections::HashMap;

/// Folded text to `stack → summed count`; `Err` carries the 1-based line of the first bad count.
///
/// # Errors
/// The 1-based line number of the first bad, negative or overflowing count or sum.
pub fn folded(input: &[u8]) -> Result<HashMap<String, u64>, u64> {
    let text = String::from_utf8_lossy(input);
    let mut out: HashMap<String, u64> = HashMap::new();
    let mut total: u64 = 0;
    for (i, line) in lines(&text).enumerate() {
        let line_no = i as u64 + 1;
        let Some((stack, count)) = line.rsplit_once(' ') else {
            continue;
        };
        let v: i128 = count.parse().map_err(|_| line_no)?;
        let v = u64::try_from(v).map_err(|_| line_no)?;
        total = total.checked_add(v).ok_or(line_no)?;
        *out.entry(stack.to_owned()).or_default() += v;
    }
    Ok(out)
}

/// `lines` text to `stack → number of lines`.
pub fn lines_format(input: &[u8]) -> HashMap<String, u64> {
    let text = String::from_utf8_lossy(input);
    let mut out: HashMap<String, u64> = HashMap::new();
    for line in lines(&text) {
        if !line.is_empty() {
            *out.entry(line.to_owned()).or_default() += 1;
        }
    }
    out
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let mut it = body.split('\n');
    if text.is_empty() {
        it.next();
    }
    it.map(|l| l.strip_suffix('\r').unwrap_or(l))
}
