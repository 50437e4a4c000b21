//! The metadata record: classes and their fields, compiled into plans for reading values.

use std::rc::Rc;

use hashbrown::HashMap;

use crate::error::{Error, ErrorKind, Result};
use crate::limits::{Limits, MAX_NESTING};
use crate::reader::{Reader, record_at};

/// How one value is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `boolean`, `byte`: one raw byte.
    Byte,
    /// `char`, `short`, `int`, `long`: a varint.
    Varint,
    /// `float`: 4 raw bytes.
    F32,
    /// `double`: 8 raw bytes.
    F64,
    /// `java.lang.String`.
    Str,
    /// A class encoded inline as its fields (index into [`Metadata::classes`]).
    Struct(u32),
    /// A type id the metadata does not declare.
    Unknown(u64),
}

/// One field of a class.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) kind: Kind,
    /// A constant-pool key (a varint) rather than an inline value.
    pub(crate) cp: bool,
    /// An array: a varint count, then the values.
    pub(crate) array: bool,
}

/// One declared class.
#[derive(Debug, Clone)]
pub(crate) struct Class {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) fields: Vec<Field>,
}

/// The classes of one chunk.
#[derive(Debug, Default)]
pub(crate) struct Metadata {
    pub(crate) classes: Vec<Class>,
    by_id: HashMap<u64, u32, foldhash::fast::RandomState>,
}

const CTX: &str = "metadata";

fn primitive(name: &str) -> Option<Kind> {
    Some(match name {
        "boolean" | "byte" => Kind::Byte,
        "char" | "short" | "int" | "long" => Kind::Varint,
        "float" => Kind::F32,
        "double" => Kind::F64,
        "java.lang.String" => Kind::Str,
        _ => return None,
    })
}

/// One step of reading a value, with inline structs flattened into their fields' steps.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// One raw byte.
    Byte,
    /// A varint (integers, and constant-pool keys).
    Varint,
    /// Several varints in a row (only in skip-only step lists, see [`merge_varints`]).
    Varints(u32),
    /// 4 raw bytes.
    F32,
    /// 8 raw bytes.
    F64,
    /// A string in any encoding.
    Str,
    /// A varint count, then that many elements, each read by the inner steps.
    Array(Rc<[Op]>),
    /// A value of a type the metadata does not declare: reading it is an error.
    Unknown(u64),
}

/// Most fields visited (hence steps) while compiling one value: nested structs and arrays
/// multiply, so hostile metadata could otherwise ask for exponential work and memory.
pub(crate) const MAX_PLAN_OPS: usize = 4096;

/// The steps of a class's top-level fields, each with the slot it is stored in.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    ops: Vec<(Op, u8)>,
    /// Every step is a varint (the common event layout): read without matching on steps.
    all_varints: bool,
}

impl Plan {
    /// Whether some field is stored in `slot`.
    pub(crate) fn has(&self, slot: usize) -> bool {
        self.ops.iter().any(|&(_, s)| s as usize == slot)
    }

    /// Reads one value, storing mapped scalars into `out`: integers and pool keys as read,
    /// strings as the chunk offset of their encoding byte, floats as their bits.
    #[inline(always)]
    pub(crate) fn read(&self, r: &mut Reader<'_>, out: &mut [u64], max_str: usize) -> Result<()> {
        if self.all_varints {
            for &(_, slot) in &self.ops {
                if slot == NO_SLOT {
                    r.skip_varint()?;
                } else {
                    out[slot as usize] = r.varint()?;
                }
            }
            return Ok(());
        }
        for (op, slot) in &self.ops {
            if *slot == NO_SLOT {
                if let Op::Varint = op {
                    r.skip_varint()?;
                } else {
                    skip_op(r, op, max_str)?;
                }
                continue;
            }
            let v = match op {
                Op::Varint => r.varint()?,
                Op::Byte => u64::from(r.u8()?),
                Op::F32 => {
                    let b = r.bytes(4)?;
                    u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                }
                Op::F64 => r.be_u64()?,
                Op::Str => {
                    let at = r.pos() as u64;
                    r.raw_str(max_str)?;
                    at
                }
                Op::Array(_) | Op::Unknown(_) | Op::Varints(_) => {
                    skip_op(r, op, max_str)?;
                    continue;
                }
            };
            out[*slot as usize] = v;
        }
        Ok(())
    }
}

/// Skips one step.
#[inline]
pub(crate) fn skip_op(r: &mut Reader<'_>, op: &Op, max_str: usize) -> Result<()> {
    match op {
        Op::Varint => r.skip_varint(),
        Op::Varints(n) => r.skip_varints(u64::from(*n)),
        Op::Byte => r.skip(1),
        Op::F32 => r.skip(4),
        Op::F64 => r.skip(8),
        Op::Str => r.raw_str(max_str).map(|_| ()),
        Op::Array(el) => skip_array(r, el, max_str),
        Op::Unknown(t) => Err(Error::new(ErrorKind::UnknownType(*t), r.pos(), "value")),
    }
}

fn skip_array(r: &mut Reader<'_>, el: &[Op], max_str: usize) -> Result<()> {
    let at = r.pos();
    let n = r.varint()?;
    if n > r.remaining() as u64 {
        return Err(Error::new(ErrorKind::Truncated, at, "array"));
    }
    // Every element step reads at least one byte, so this loop is bounded by the input.
    match el {
        [] => {}
        [Op::Varint] => r.skip_varints(n)?,
        [Op::Varints(k)] => r.skip_varints(n * u64::from(*k))?,
        _ => {
            for _ in 0..n {
                skip_ops(r, el, max_str)?;
            }
        }
    }
    Ok(())
}

/// Skips a sequence of steps.
#[inline]
pub(crate) fn skip_ops(r: &mut Reader<'_>, ops: &[Op], max_str: usize) -> Result<()> {
    for op in ops {
        skip_op(r, op, max_str)?;
    }
    Ok(())
}

/// Merges runs of varints into [`Op::Varints`] (recursively, inside arrays), for lists that
/// are only skipped.
pub(crate) fn merge_varints(ops: Vec<Op>) -> Vec<Op> {
    let mut out: Vec<Op> = Vec::with_capacity(ops.len());
    for op in ops {
        let op = match op {
            Op::Array(el) => Op::Array(merge_varints(el.to_vec()).into()),
            op => op,
        };
        match (out.last_mut(), &op) {
            (Some(Op::Varint), Op::Varint) => *out.last_mut().expect("last") = Op::Varints(2),
            (Some(Op::Varints(n)), Op::Varint) => *n += 1,
            _ => out.push(op),
        }
    }
    out
}

impl Metadata {
    /// Parses the metadata record at `pos` of `chunk` (offsets relative to the chunk).
    pub(crate) fn parse(chunk: &[u8], pos: usize, limits: &Limits) -> Result<Metadata> {
        let (ty, mut r) = record_at(chunk, pos, CTX)?;
        if r.remaining() > limits.max_metadata_size {
            return Err(Error::limit("metadata size", limits.max_metadata_size, pos));
        }
        if ty != 0 {
            return Err(Error::new(ErrorKind::UnexpectedRecord(ty), pos, CTX));
        }
        r.varint()?; // start time
        r.varint()?; // duration
        r.varint()?; // metadata id
        let at = r.pos();
        let n = r.varint()?;
        if n > r.remaining() as u64 {
            return Err(Error::new(
                ErrorKind::Truncated,
                at,
                "metadata string table",
            ));
        }
        // All strings in one buffer.
        let mut text = String::new();
        let mut spans: Vec<(u32, u32)> = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let start = text.len();
            r.string_into(&mut text, limits.max_string_len)?;
            spans.push((start as u32, (text.len() - start) as u32));
        }
        let strings = Strings { text, spans };
        let mut walk = Walk {
            strings: &strings,
            names: Names::find(&strings),
            classes: Vec::new(),
            attrs: Vec::new(),
            max_classes: limits.max_classes,
        };
        walk.element(&mut r, Level::Root)?;
        let mut raw = walk.classes;
        let mut md = Metadata::default();
        for (i, (c, _)) in raw.iter().enumerate() {
            md.by_id.insert(c.id, i as u32);
        }
        let prims: Vec<Option<Kind>> = raw.iter().map(|(c, _)| primitive(&c.name)).collect();
        for (c, types) in &mut raw {
            for (f, &ty) in c.fields.iter_mut().zip(types.iter()) {
                f.kind = match md.by_id.get(&ty) {
                    Some(&i) => prims[i as usize].unwrap_or(Kind::Struct(i)),
                    None => Kind::Unknown(ty),
                };
            }
        }
        md.classes = raw.into_iter().map(|(c, _)| c).collect();
        Ok(md)
    }

    /// The class index of a type id.
    pub(crate) fn class(&self, id: u64) -> Option<u32> {
        self.by_id.get(&id).copied()
    }

    /// The class index of a class name.
    pub(crate) fn class_by_name(&self, name: &str) -> Option<u32> {
        self.classes
            .iter()
            .position(|c| c.name == name)
            .map(|i| i as u32)
    }

    /// The steps of one value of class `class` (one step for a primitive).
    pub(crate) fn value_ops(&self, class: u32) -> Result<Vec<Op>> {
        let mut out = Vec::new();
        let mut steps = MAX_PLAN_OPS;
        match primitive(&self.classes[class as usize].name) {
            Some(k) => out.push(op_of(k)),
            None => self.flatten(class, 0, &mut out, &mut steps)?,
        }
        Ok(merge_varints(out))
    }

    /// The plan of a class's top-level fields; `wanted[i]` names the field stored in slot `i`
    /// (empty names store nothing).
    pub(crate) fn plan(&self, class: u32, wanted: &[&str]) -> Result<Plan> {
        let mut ops = Vec::new();
        let mut steps = MAX_PLAN_OPS;
        for f in &self.classes[class as usize].fields {
            let slot = wanted
                .iter()
                .position(|w| !w.is_empty() && *w == f.name)
                .map_or(NO_SLOT, |i| i as u8);
            let start = ops.len();
            let mut flat = Vec::new();
            self.field_ops(f, 0, &mut flat, &mut steps)?;
            // Only a field that is a single scalar step can be stored.
            let store = flat.len() == 1 && !matches!(flat[0], Op::Array(_));
            ops.extend(flat.into_iter().map(|op| (op, NO_SLOT)));
            if store {
                ops[start].1 = slot;
            }
        }
        let all_varints = ops.iter().all(|(op, _)| matches!(op, Op::Varint));
        Ok(Plan { ops, all_varints })
    }

    /// The steps of one field (an array becomes one [`Op::Array`]); every field visited, nested
    /// ones included, spends one of `steps`.
    pub(crate) fn field_ops(
        &self,
        f: &Field,
        depth: usize,
        out: &mut Vec<Op>,
        steps: &mut usize,
    ) -> Result<()> {
        if *steps == 0 {
            return Err(Error::limit("value plan steps", MAX_PLAN_OPS, 0));
        }
        *steps -= 1;
        if f.array {
            let mut el = Vec::new();
            self.single_ops(f, depth + 1, &mut el, steps)?;
            out.push(Op::Array(el.into()));
            Ok(())
        } else {
            self.single_ops(f, depth, out, steps)
        }
    }

    fn single_ops(
        &self,
        f: &Field,
        depth: usize,
        out: &mut Vec<Op>,
        steps: &mut usize,
    ) -> Result<()> {
        if f.cp {
            out.push(Op::Varint);
            return Ok(());
        }
        match f.kind {
            Kind::Struct(c) => self.flatten(c, depth + 1, out, steps),
            k => {
                out.push(op_of(k));
                Ok(())
            }
        }
    }

    fn flatten(
        &self,
        class: u32,
        depth: usize,
        out: &mut Vec<Op>,
        steps: &mut usize,
    ) -> Result<()> {
        if depth >= MAX_NESTING {
            return Err(Error::limit("value nesting", MAX_NESTING, 0));
        }
        for f in &self.classes[class as usize].fields {
            self.field_ops(f, depth, out, steps)?;
        }
        Ok(())
    }
}

fn op_of(k: Kind) -> Op {
    match k {
        Kind::Byte => Op::Byte,
        Kind::Varint => Op::Varint,
        Kind::F32 => Op::F32,
        Kind::F64 => Op::F64,
        Kind::Str => Op::Str,
        // Callers flatten structs before asking for a step; never reached.
        Kind::Struct(c) => Op::Unknown(u64::from(c)),
        Kind::Unknown(t) => Op::Unknown(t),
    }
}

/// A field not stored by [`Metadata::read_fields`].
pub(crate) const NO_SLOT: u8 = u8::MAX;

/// The metadata string table.
struct Strings {
    text: String,
    spans: Vec<(u32, u32)>,
}

impl Strings {
    fn get(&self, i: u32) -> &str {
        let (s, n) = self.spans[i as usize];
        &self.text[s as usize..(s + n) as usize]
    }
    fn find(&self, want: &str) -> u32 {
        (0..self.spans.len() as u32)
            .find(|&i| self.get(i) == want)
            .unwrap_or(u32::MAX)
    }
}

/// Indices of the element and attribute names the reader uses (`u32::MAX` when absent).
struct Names {
    metadata: u32,
    class: u32,
    field: u32,
    id: u32,
    name: u32,
    constant_pool: u32,
    dimension: u32,
}

impl Names {
    fn find(s: &Strings) -> Names {
        Names {
            metadata: s.find("metadata"),
            class: s.find("class"),
            field: s.find("field"),
            id: s.find("id"),
            name: s.find("name"),
            constant_pool: s.find("constantPool"),
            dimension: s.find("dimension"),
        }
    }
}

/// Where an element sits in the tree (only `metadata/class/field` elements are kept).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Metadata,
    Class,
    Other,
}

/// A streaming walk over the element tree.
struct Walk<'s> {
    strings: &'s Strings,
    names: Names,
    /// Classes with the type id of each field.
    classes: Vec<(Class, Vec<u64>)>,
    attrs: Vec<(u32, u32)>,
    max_classes: usize,
}

impl Walk<'_> {
    fn index(&self, r: &mut Reader<'_>) -> Result<u32> {
        let at = r.pos();
        let v = r.varint()?;
        if v >= self.strings.spans.len() as u64 {
            return Err(Error::new(
                ErrorKind::BadMetadata("string index out of range"),
                at,
                CTX,
            ));
        }
        Ok(v as u32)
    }

    fn attr(&self, attrs: &[(u32, u32)], key: u32) -> Option<&str> {
        attrs
            .iter()
            .find(|&&(k, _)| k == key)
            .map(|&(_, v)| self.strings.get(v))
    }

    /// Reads one element whose parent is at `parent`.
    fn element(&mut self, r: &mut Reader<'_>, parent: Level) -> Result<()> {
        self.element_at(r, parent, 0)
    }

    fn element_at(&mut self, r: &mut Reader<'_>, parent: Level, depth: usize) -> Result<()> {
        if depth >= MAX_NESTING {
            return Err(Error::limit("metadata element depth", MAX_NESTING, r.pos()));
        }
        let start = r.pos();
        let name = self.index(r)?;
        let at = r.pos();
        let n = r.varint()?;
        if n > r.remaining() as u64 {
            return Err(Error::new(ErrorKind::Truncated, at, CTX));
        }
        let mut attrs = std::mem::take(&mut self.attrs);
        attrs.clear();
        for _ in 0..n {
            let k = self.index(r)?;
            let v = self.index(r)?;
            attrs.push((k, v));
        }
        let level = match parent {
            Level::Root if depth == 1 && name == self.names.metadata => Level::Metadata,
            Level::Root if depth == 0 => Level::Root,
            Level::Metadata if name == self.names.class => {
                if self.classes.len() >= self.max_classes {
                    return Err(Error::limit("metadata classes", self.max_classes, start));
                }
                let id = self
                    .attr(&attrs, self.names.id)
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or_else(|| Error::new(ErrorKind::BadMetadata("class id"), start, CTX))?;
                let class = Class {
                    id,
                    name: self
                        .attr(&attrs, self.names.name)
                        .unwrap_or_default()
                        .to_owned(),
                    fields: Vec::new(),
                };
                self.classes.push((class, Vec::new()));
                Level::Class
            }
            Level::Class if name == self.names.field => {
                let ty = self
                    .attr(&attrs, self.names.class)
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or_else(|| Error::new(ErrorKind::BadMetadata("field class"), start, CTX))?;
                let field = Field {
                    name: self
                        .attr(&attrs, self.names.name)
                        .unwrap_or_default()
                        .to_owned(),
                    kind: Kind::Unknown(ty),
                    cp: self.attr(&attrs, self.names.constant_pool) == Some("true"),
                    array: self.attr(&attrs, self.names.dimension) == Some("1"),
                };
                if let Some((c, types)) = self.classes.last_mut() {
                    c.fields.push(field);
                    types.push(ty);
                }
                Level::Other
            }
            _ => Level::Other,
        };
        self.attrs = attrs;
        let at = r.pos();
        let n = r.varint()?;
        if n > r.remaining() as u64 {
            return Err(Error::new(ErrorKind::Truncated, at, CTX));
        }
        for _ in 0..n {
            self.element_at(r, level, depth + 1)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Classes 1..=depth, each with 64 fields (arrays or not) of the class below; class 0 is
    /// `long` or an empty struct.
    fn nested(depth: u32, array: bool, leaf: &str) -> Metadata {
        let mut md = Metadata::default();
        md.classes.push(Class {
            id: 0,
            name: leaf.into(),
            fields: Vec::new(),
        });
        for c in 1..=depth {
            let below = if c == 1 {
                primitive(leaf).unwrap_or(Kind::Struct(0))
            } else {
                Kind::Struct(c - 1)
            };
            md.classes.push(Class {
                id: u64::from(c),
                name: format!("C{c}"),
                fields: (0..64)
                    .map(|i| Field {
                        name: format!("f{i}"),
                        kind: below,
                        cp: false,
                        array,
                    })
                    .collect(),
            });
        }
        for (i, c) in md.classes.iter().enumerate() {
            md.by_id.insert(c.id, i as u32);
        }
        md
    }

    #[test]
    fn multiplying_nesting_is_refused_quickly() {
        for (array, leaf) in [
            (true, "long"),
            (false, "long"),
            (false, "Empty"),
            (true, "Empty"),
        ] {
            let md = nested(8, array, leaf);
            // 64^8 fields if flattened; the step budget stops it at once.
            let t = std::time::Instant::now();
            let e = md.value_ops(8).unwrap_err();
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::LimitExceeded {
                        what: "value plan steps",
                        ..
                    }
                ),
                "{e:?}"
            );
            let e = md.plan(8, &["f0"]).unwrap_err();
            assert!(matches!(e.kind(), ErrorKind::LimitExceeded { .. }), "{e:?}");
            assert!(t.elapsed().as_secs() < 2);
        }
        // Two levels (64 × 64 = 4096 fields, plus the 64 above) is just over the budget; one
        // level compiles.
        assert!(nested(2, true, "long").value_ops(2).is_err());
        assert_eq!(nested(1, true, "long").value_ops(1).unwrap().len(), 64);
    }
}
