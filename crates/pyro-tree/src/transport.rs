//! OG Pyroscope's legacy binary transport formats, `tree` and `trie`.
//!
//! Both are a preorder sequence of nodes `uvarint name length, name bytes, uvarint value,
//! uvarint child count`, with no header.
//!
//! - **tree** (`binary/octet-stream+tree`): the first node is the root; each node is one frame
//!   and its value is the node's self value. Stacks are the `;`-joined names below the root,
//!   emitted for nodes with a non-zero self value.
//! - **trie** (`binary/octet-stream+trie`): a node's key is the concatenation of the names on its
//!   path, `;` separators included in the name bytes (`"foo;ba"` + `"r"` is `foo;bar`); every
//!   node with a non-zero value emits its key.
//!
//! Emitted keys are split with the folded rules ([`split_stack`]). Differences from OG, which
//! only matter for malformed or unusual bodies: a truncated body or bytes after the last node are
//! errors (OG's trie reader stops silently at any node boundary); a first-level tree node with an
//! empty name and a value adds to the root instead of being dropped; OG's trie reader mis-cuts
//! keys after an empty-named leaf, ours does not. Names that are not UTF-8 are decoded lossily.

use std::borrow::Cow;

use crate::error::{Error, ErrorKind, Result};
use crate::limits::TransportLimits;
use crate::{StackSink, StackTree};

/// Splits a folded stack into frames with OG's rules: `;` separates frames, an empty segment is a
/// frame named `""` (`a;;b`), one trailing `;` is ignored (`a;` is `a`), and `""` is the empty
/// stack.
///
/// Separators are found with `memchr` (SIMD), which on real stacks (dozens of frames, kilobytes
/// per line) is several times faster than `str::split`'s per-frame search.
pub fn split_stack(stack: &str) -> impl Iterator<Item = &str> {
    let body = stack.strip_suffix(';').unwrap_or(stack);
    let mut separators = memchr::memchr_iter(b';', body.as_bytes());
    let mut start = 0;
    let mut done = stack.is_empty();
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        // `;` is ASCII, so every cut is on a character boundary.
        let end = match separators.next() {
            Some(i) => i,
            None => {
                done = true;
                body.len()
            }
        };
        let frame = body.get(start..end).unwrap_or_default();
        start = end + 1;
        Some(frame)
    })
}

struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn varint(&mut self, what: &'static str) -> Result<u64> {
        let start = self.pos;
        let mut v: u64 = 0;
        for shift in (0..70).step_by(7) {
            let Some(&b) = self.input.get(self.pos) else {
                return Err(Error::new(ErrorKind::UnexpectedEof { what }, self.pos));
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(Error::new(ErrorKind::VarintOverflow, start));
            }
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Error::new(ErrorKind::VarintOverflow, start))
    }

    /// Reads one node: `(name, value, child count)`.
    fn node(&mut self, limits: &TransportLimits) -> Result<(&'a [u8], u64, u64)> {
        let at = self.pos;
        let len = self.varint("name length")?;
        if len > limits.name_len() as u64 {
            return Err(Error::new(
                ErrorKind::NameTooLong {
                    len,
                    max: limits.name_len(),
                },
                at,
            ));
        }
        let len = len as usize;
        let Some(name) = self.input.get(self.pos..self.pos + len) else {
            return Err(Error::new(
                ErrorKind::UnexpectedEof { what: "node name" },
                self.input.len(),
            ));
        };
        self.pos += len;
        let value = self.varint("node value")?;
        let children = self.varint("child count")?;
        Ok((name, value, children))
    }
}

/// Takes `frames` from the body's frame budget.
#[inline]
fn spend(
    budget: &mut usize,
    frames: usize,
    limits: &TransportLimits,
    len: usize,
    at: usize,
) -> Result<()> {
    match budget.checked_sub(frames) {
        Some(left) => {
            *budget = left;
            Ok(())
        }
        None => Err(Error::new(
            ErrorKind::TooManyFrames {
                max: limits.frame_budget(len),
            },
            at,
        )),
    }
}

fn push_segments<'a>(segs: &mut Vec<Cow<'a, str>>, name: &'a [u8]) {
    match String::from_utf8_lossy(name) {
        Cow::Borrowed(s) => segs.extend(s.split(';').map(Cow::Borrowed)),
        Cow::Owned(s) => segs.extend(s.split(';').map(|p| Cow::Owned(p.to_owned()))),
    }
}

fn emit<'a, S: StackSink<'a>>(
    segs: &[Cow<'a, str>],
    scratch: &mut Vec<&'a str>,
    sink: &mut S,
    value: u64,
) {
    let mut frames = segs;
    if let Some((last, rest)) = frames.split_last()
        && last.is_empty()
    {
        frames = rest;
    }
    scratch.clear();
    for s in frames {
        match s {
            Cow::Borrowed(b) => scratch.push(b),
            Cow::Owned(_) => {
                let tmp: Vec<&str> = frames.iter().map(|c| c.as_ref()).collect();
                sink.add_transient(&tmp, value);
                return;
            }
        }
    }
    sink.add(scratch, value);
}

/// Reads a `tree` body and pushes its stacks into `sink`. An empty body is an empty tree.
///
/// # Errors
/// A truncated node, a bad varint, trailing bytes, or a limit of `limits` exceeded; the error
/// carries the byte offset.
pub fn read_tree<'a, S: StackSink<'a>>(
    input: &'a [u8],
    limits: &TransportLimits,
    mut sink: S,
) -> Result<()> {
    if input.is_empty() {
        return Ok(());
    }
    let mut cur = Cursor { input, pos: 0 };
    let (_root_name, root_self, root_children) = cur.node(limits)?;
    if root_self != 0 {
        sink.add(&[], root_self);
    }
    let mut segs: Vec<Cow<'a, str>> = Vec::new();
    let mut scratch: Vec<&'a str> = Vec::new();
    let mut budget = limits.frame_budget(input.len());
    // (children still to read, path length of their parent)
    let mut stack: Vec<(u64, usize)> = Vec::new();
    if root_children > 0 {
        stack.push((root_children, 0));
    }
    while let Some(top) = stack.last_mut() {
        if top.0 == 0 {
            stack.pop();
            continue;
        }
        top.0 -= 1;
        segs.truncate(top.1);
        let (name, self_value, children) = cur.node(limits)?;
        push_segments(&mut segs, name);
        if segs.len() > limits.depth() {
            return Err(Error::new(
                ErrorKind::TooDeep {
                    max: limits.depth(),
                },
                cur.pos,
            ));
        }
        if self_value != 0 {
            spend(&mut budget, segs.len(), limits, input.len(), cur.pos)?;
            emit(&segs, &mut scratch, &mut sink, self_value);
        }
        if children > 0 {
            if stack.len() >= limits.depth() {
                return Err(Error::new(
                    ErrorKind::TooDeep {
                        max: limits.depth(),
                    },
                    cur.pos,
                ));
            }
            stack.push((children, segs.len()));
        }
    }
    if cur.pos != input.len() {
        return Err(Error::new(ErrorKind::TrailingData, cur.pos));
    }
    Ok(())
}

/// Reads a `trie` body and pushes its stacks into `sink`. An empty body is an empty tree.
///
/// # Errors
/// A truncated node, a bad varint, trailing bytes, or a limit of `limits` exceeded; the error
/// carries the byte offset.
pub fn read_trie<'s, S: StackSink<'s>>(
    input: &[u8],
    limits: &TransportLimits,
    mut sink: S,
) -> Result<()> {
    if input.is_empty() {
        return Ok(());
    }
    let mut cur = Cursor { input, pos: 0 };
    let mut key: Vec<u8> = Vec::new();
    let mut budget = limits.frame_budget(input.len());
    // (children still to read, key length of their parent)
    let mut stack: Vec<(u64, usize)> = vec![(1, 0)];
    while let Some(top) = stack.last_mut() {
        if top.0 == 0 {
            stack.pop();
            continue;
        }
        top.0 -= 1;
        key.truncate(top.1);
        let at = cur.pos;
        let (name, value, children) = cur.node(limits)?;
        if key.len() + name.len() > limits.key_len() {
            return Err(Error::new(
                ErrorKind::KeyTooLong {
                    max: limits.key_len(),
                },
                at,
            ));
        }
        key.extend_from_slice(name);
        if value != 0 {
            // Splitting costs the key's bytes; each frame costs its interning.
            spend(&mut budget, key.len() / 8, limits, input.len(), cur.pos)?;
            let text = String::from_utf8_lossy(&key);
            let frames: Vec<&str> = split_stack(&text).collect();
            if frames.len() > limits.depth() {
                return Err(Error::new(
                    ErrorKind::TooDeep {
                        max: limits.depth(),
                    },
                    cur.pos,
                ));
            }
            spend(&mut budget, frames.len(), limits, input.len(), cur.pos)?;
            sink.add_transient(&frames, value);
        }
        if children > 0 {
            if stack.len() > limits.depth() {
                return Err(Error::new(
                    ErrorKind::TooDeep {
                        max: limits.depth(),
                    },
                    cur.pos,
                ));
            }
            stack.push((children, key.len()));
        }
    }
    if cur.pos != input.len() {
        return Err(Error::new(ErrorKind::TrailingData, cur.pos));
    }
    Ok(())
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_node(out: &mut Vec<u8>, name: &[&str], value: u64, children: u64) {
    put_varint(out, name.iter().map(|n| n.len() as u64).sum());
    for n in name {
        out.extend_from_slice(n.as_bytes());
    }
    put_varint(out, value);
    put_varint(out, children);
}

impl StackTree<'_> {
    fn write_preorder(&self, trie: bool, sorted: bool) -> Vec<u8> {
        let (offsets, kids) = if sorted {
            self.sorted_children()
        } else {
            self.children_in_order()
        };
        let mut out = Vec::new();
        let mut stack: Vec<u32> = vec![0];
        while let Some(i) = stack.pop() {
            let (parent, frame, self_value, _) = self.raw_node(i);
            let (s, e) = (
                offsets[i as usize] as usize,
                offsets[i as usize + 1] as usize,
            );
            let name: &[&str] = if i == 0 {
                &[]
            } else if trie && parent != 0 {
                &[";", self.name_of(frame)]
            } else {
                &[self.name_of(frame)]
            };
            put_node(&mut out, name, self_value, (e - s) as u64);
            stack.extend(kids[s..e].iter().rev());
        }
        out
    }

    /// Serializes the tree in the `tree` transport format (children in bytewise name order).
    pub fn to_tree_bytes(&self) -> Vec<u8> {
        self.write_preorder(false, true)
    }

    /// [`Self::to_tree_bytes`] with children in the order they were made instead of by name:
    /// the same tree when read back, without sorting (for storage, where no reader needs the
    /// order).
    pub fn to_tree_bytes_unsorted(&self) -> Vec<u8> {
        self.write_preorder(false, false)
    }

    /// Serializes the tree in the `trie` transport format: one trie node per tree node, named
    /// `;frame` below the first level. A stack whose last frame is empty reads back without it,
    /// as the format cannot tell `a;` from `a`.
    pub fn to_trie_bytes(&self) -> Vec<u8> {
        self.write_preorder(true, true)
    }
}
