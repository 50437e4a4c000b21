//! Locations resolved into frames: every location's names, and the location of every call-tree
//! node (checked against the stack-depth limit once locations expand into their lines).

use super::*;

/// The frames of every location as name ids, root first (lines outermost first). A name id below
/// the string-table length is a string index; above it, an entry of `extra` (the
/// `<mapping basename>!0x<address>` names of unsymbolized locations).
pub(crate) struct Frames {
    /// `(start, len)` of every location's names in `names`, by location index.
    pub(crate) ranges: Vec<(u32, u32)>,
    pub(crate) names: Vec<u32>,
    pub(crate) extra: Vec<String>,
    pub(crate) nstrings: usize,
}

impl Frames {
    pub(crate) fn new(p: &Profile<'_>) -> Frames {
        let nstrings = p.strings.len();
        let mut f = Frames {
            ranges: Vec::with_capacity(p.locations.len()),
            names: Vec::with_capacity(p.line_functions.len()),
            extra: Vec::new(),
            nstrings,
        };
        for loc in &p.locations {
            let start = f.names.len();
            let (ls, ln) = loc.lines;
            if ln == 0 {
                let file = p
                    .mapping(loc.mapping_id)
                    .map(|m| p.string(m.filename))
                    .unwrap_or("");
                let base = file.rsplit('/').next().filter(|b| !b.is_empty());
                f.names.push((nstrings + f.extra.len()) as u32);
                f.extra
                    .push(format!("{}!0x{:x}", base.unwrap_or("unknown"), loc.address));
            } else {
                for &fid in p.line_functions[ls as usize..(ls + ln) as usize]
                    .iter()
                    .rev()
                {
                    // Functions without a name are left out.
                    if let Some(func) = p.function(fid)
                        && !p.string(func.name).is_empty()
                    {
                        f.names.push(func.name as u32);
                    }
                }
            }
            f.ranges
                .push((start as u32, (f.names.len() - start) as u32));
        }
        f
    }

    pub(super) fn count(&self) -> usize {
        self.nstrings + self.extra.len()
    }
}

impl<'a> Forest<'a> {
    /// The location index of every node ([`NONE`] for the root and for ids no location has),
    /// after checking that no stack has more frames than the limit once locations are expanded
    /// into their lines.
    pub(crate) fn resolve(
        &self,
        p: &Profile<'_>,
        frames: &Frames,
        limits: &Limits,
    ) -> Result<Vec<u32>> {
        let nodes = self.tree.len();
        let mut locs = vec![NONE; nodes];
        let mut depth = vec![0u32; nodes];
        for n in 1..nodes {
            let li = location_of(self.tree.key(n as u32), p);
            locs[n] = li;
            let len = if li == NONE {
                0
            } else {
                frames.ranges[li as usize].1
            };
            let d = depth[self.tree.parent(n as u32) as usize] as usize + len as usize;
            if d > limits.max_stack_depth {
                return Err(Error::limit(
                    "frames per stack",
                    limits.max_stack_depth,
                    0,
                    "Profile.sample",
                ));
            }
            depth[n] = d as u32;
        }
        Ok(locs)
    }
}
