//! The budget of one request, spent as its parts are read.

use crate::error::{Error, ErrorKind, Result};
use crate::{Limits, Series};

/// Tree nodes and series left to one request: each profile of it (push samples, `profile` and
/// `prev_profile`, JFR chunks) is read within what is left, and spends what it built.
///
/// The node limit is [`Limits::tree_nodes_for`] the decompressed profiles read so far: a large
/// profile is not refused for the size of its trees, and their memory stays proportional to the
/// input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    /// Nodes built so far.
    spent: usize,
    /// Decompressed bytes of the profiles read so far.
    input: usize,
    series: usize,
    limits: Limits,
}

impl Budget {
    pub(crate) fn new(limits: &Limits) -> Budget {
        Budget {
            spent: 0,
            input: 0,
            series: limits.series,
            limits: *limits,
        }
    }

    /// The request's node limit for what it has read so far.
    fn nodes(&self) -> usize {
        self.limits.tree_nodes_for(self.input)
    }

    /// Nodes the next profile may build.
    pub(crate) fn left(&self) -> usize {
        self.nodes().saturating_sub(self.spent)
    }

    /// Counts `bytes` of decompressed profile read (which raises the node limit past
    /// [`Limits::tree_nodes`] for large profiles).
    pub(crate) fn read(&mut self, bytes: usize) {
        self.input = self.input.saturating_add(bytes);
    }

    /// The pprof limits of the next profile: its trees may use what is left.
    pub(crate) fn pprof(&self) -> pyro_pprof::Limits {
        self.limits.pprof.max_tree_nodes(self.left())
    }

    /// The JFR limits of the next recording.
    pub(crate) fn jfr(&self) -> pyro_jfr::Limits {
        self.limits.jfr.max_tree_nodes(self.left())
    }

    /// Spends the nodes and series of what a profile produced.
    pub(crate) fn spend(&mut self, produced: &[Series<'_>]) -> Result<()> {
        let nodes: usize = produced
            .iter()
            .map(|s| {
                s.tree.node_count() + s.spans.iter().map(|(_, t)| t.node_count()).sum::<usize>()
            })
            .sum();
        self.spent = self.spent.saturating_add(nodes);
        if self.spent > self.nodes() {
            return Err(Error::new(
                ErrorKind::LimitExceeded,
                format!(
                    "the request's stack trees exceed the limit of {} nodes",
                    self.nodes()
                ),
            ));
        }
        match self.series.checked_sub(produced.len()) {
            Some(left) => self.series = left,
            None => {
                return Err(Error::new(
                    ErrorKind::LimitExceeded,
                    format!(
                        "{} series exceed the limit of {} per request",
                        self.limits.series - self.series + produced.len(),
                        self.limits.series
                    ),
                ));
            }
        }
        Ok(())
    }
}
