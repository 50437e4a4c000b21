//! The budget of one request, spent as its parts are read.

use crate::error::{Error, ErrorKind, Result};
use crate::{Limits, Series};

/// Tree nodes and series left to one request: each profile of it (push samples, `profile` and
/// `prev_profile`, JFR chunks) is read within what is left, and spends what it built.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    nodes: usize,
    series: usize,
    limits: Limits,
}

impl Budget {
    pub(crate) fn new(limits: &Limits) -> Budget {
        Budget {
            nodes: limits.tree_nodes,
            series: limits.series,
            limits: *limits,
        }
    }

    /// The pprof limits of the next profile: its trees may use what is left.
    pub(crate) fn pprof(&self) -> pyro_pprof::Limits {
        self.limits.pprof.max_tree_nodes(self.nodes)
    }

    /// The JFR limits of the next recording.
    pub(crate) fn jfr(&self) -> pyro_jfr::Limits {
        self.limits.jfr.max_tree_nodes(self.nodes)
    }

    /// Spends the nodes and series of what a profile produced.
    pub(crate) fn spend(&mut self, produced: &[Series<'_>]) -> Result<()> {
        let nodes: usize = produced.iter().map(|s| s.tree.node_count()).sum();
        match self.nodes.checked_sub(nodes) {
            Some(left) => self.nodes = left,
            None => {
                return Err(Error::new(
                    ErrorKind::LimitExceeded,
                    format!(
                        "the request's stack trees exceed the limit of {} nodes",
                        self.limits.tree_nodes
                    ),
                ));
            }
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
