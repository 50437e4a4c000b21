//! Folded, lines, trie and tree bodies: one series named by the request.

use pyro_tree::StackTree;

use crate::error::{Error, ErrorKind, Result};
use crate::{Aggregation, Format, Limits, Request, Series};

/// Reads a text or transport body into the request's one series.
pub(crate) fn read<'a>(
    req: &'a Request,
    name: pyro_labels::SeriesName,
    format: Format,
    limits: &Limits,
) -> Result<Vec<Series<'a>>> {
    let body: &'a [u8] = &req.body;
    let mut tree = StackTree::new();
    let body_err = |e: pyro_folded::Error| {
        let offset = e.offset() as u64;
        Error::wrap(ErrorKind::Body, "", e, Some(offset))
    };
    let tree_err = |e: pyro_tree::Error| {
        let offset = e.offset() as u64;
        Error::wrap(ErrorKind::Body, "", e, Some(offset))
    };
    match format {
        Format::Lines => {
            pyro_folded::parse_lines(body, &limits.text, &mut tree).map_err(body_err)?;
        }
        Format::Trie => {
            pyro_tree::transport::read_trie(body, &limits.transport, &mut tree).map_err(tree_err)?
        }
        Format::Tree => {
            pyro_tree::transport::read_tree(body, &limits.transport, &mut tree).map_err(tree_err)?
        }
        _ => {
            pyro_folded::parse_folded(body, &limits.text, &mut tree).map_err(body_err)?;
        }
    }
    if tree.overflowed() {
        return Err(Error::new(
            ErrorKind::Body,
            "sum of values does not fit in 64 bits",
        ));
    }
    Ok(vec![Series {
        name,
        units: req.units().to_owned(),
        aggregation: Aggregation::parse(req.aggregation.as_deref().unwrap_or("")),
        sample_rate: req.sample_rate(),
        spy_name: req.spy_name().to_owned(),
        tree,
        spans: Vec::new(),
    }])
}
