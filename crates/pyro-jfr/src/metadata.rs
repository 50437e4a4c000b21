//! The metadata record: classes and their fields, compiled into plans for reading values.

use hashbrown::HashMap;

use crate::error::{Error, ErrorKind, Result};
use crate::limits::{Limits, MAX_NESTING};
use crate::reader::Reader;

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

/// A parsed element of the metadata tree.
struct Element {
    name: u32,
    attrs: Vec<(u32, u32)>,
    children: Vec<Element>,
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

/// A budget of steps for walking nested values, so hostile metadata (deep or wide nesting of
/// empty structs) cannot make a small record take unbounded time.
pub(crate) struct Budget(usize);

impl Budget {
    /// A budget proportional to the bytes the walk may consume.
    pub(crate) fn for_bytes(n: usize) -> Self {
        Budget(n.saturating_mul(16).saturating_add(1024))
    }

    #[inline]
    fn spend(&mut self, at: usize) -> Result<()> {
        if self.0 == 0 {
            return Err(Error::new(
                ErrorKind::LimitExceeded {
                    what: "work per record",
                    max: 0,
                },
                at,
                "nested value",
            ));
        }
        self.0 -= 1;
        Ok(())
    }
}

impl Metadata {
    /// Parses the metadata record at `pos` of `chunk` (offsets relative to the chunk).
    pub(crate) fn parse(chunk: &[u8], pos: usize, limits: &Limits) -> Result<Metadata> {
        let mut r = Reader::new(chunk, pos);
        let size = r.varint()?;
        if size == 0 || size > (chunk.len() - pos) as u64 {
            return Err(Error::new(ErrorKind::BadRecordSize(size), pos, CTX));
        }
        let end = pos + size as usize;
        let mut r = Reader::new(&chunk[..end], r.pos());
        let ty = r.varint()?;
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
        let mut strings = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let s = r.raw_str(limits.max_string_len)?;
            strings.push(r.decode(s)?.map(|c| c.into_owned()).unwrap_or_default());
        }
        let root = element(&mut r, strings.len(), 0)?;
        let s = |i: u32| strings[i as usize].as_str();
        let attr = |e: &Element, key: &str| {
            e.attrs
                .iter()
                .find(|&&(k, _)| s(k) == key)
                .map(|&(_, v)| s(v))
        };
        // Pass 1: the classes and their raw fields.
        let mut raw: Vec<(Class, Vec<u64>)> = Vec::new();
        for meta in root.children.iter().filter(|e| s(e.name) == "metadata") {
            for class in meta.children.iter().filter(|e| s(e.name) == "class") {
                if raw.len() >= limits.max_classes {
                    return Err(Error::limit("metadata classes", limits.max_classes, pos));
                }
                let id = attr(class, "id")
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or_else(|| Error::new(ErrorKind::BadMetadata("class id"), pos, CTX))?;
                let name = attr(class, "name").unwrap_or_default().to_owned();
                let mut fields = Vec::new();
                let mut types = Vec::new();
                for f in class.children.iter().filter(|e| s(e.name) == "field") {
                    let ty = attr(f, "class")
                        .and_then(|v| v.parse::<u64>().ok())
                        .ok_or_else(|| {
                            Error::new(ErrorKind::BadMetadata("field class"), pos, CTX)
                        })?;
                    let cp = attr(f, "constantPool").is_some_and(|v| v == "true");
                    let array = attr(f, "dimension").is_some_and(|v| v == "1");
                    fields.push(Field {
                        name: attr(f, "name").unwrap_or_default().to_owned(),
                        kind: Kind::Unknown(ty),
                        cp,
                        array,
                    });
                    types.push(ty);
                }
                raw.push((Class { id, name, fields }, types));
            }
        }
        let mut md = Metadata::default();
        for (i, (c, _)) in raw.iter().enumerate() {
            md.by_id.insert(c.id, i as u32);
        }
        // Pass 2: resolve field types.
        let prims: Vec<Option<Kind>> = raw.iter().map(|(c, _)| primitive(&c.name)).collect();
        for (mut c, types) in raw {
            for (f, ty) in c.fields.iter_mut().zip(types) {
                f.kind = match md.by_id.get(&ty) {
                    Some(&i) => prims[i as usize].unwrap_or(Kind::Struct(i)),
                    None => Kind::Unknown(ty),
                };
            }
            md.classes.push(c);
        }
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

    /// How a value of class `idx` is encoded.
    pub(crate) fn kind_of(&self, idx: u32) -> Kind {
        primitive(&self.classes[idx as usize].name).unwrap_or(Kind::Struct(idx))
    }

    /// Skips one field value (array or not, pool key or inline).
    pub(crate) fn skip_field(
        &self,
        r: &mut Reader<'_>,
        f: &Field,
        depth: usize,
        budget: &mut Budget,
        max_str: usize,
    ) -> Result<()> {
        if f.array {
            let at = r.pos();
            let n = r.varint()?;
            if n > r.remaining() as u64 {
                return Err(Error::new(ErrorKind::Truncated, at, "array"));
            }
            for _ in 0..n {
                budget.spend(at)?;
                self.skip_one(r, f.kind, f.cp, depth, budget, max_str)?;
            }
            Ok(())
        } else {
            self.skip_one(r, f.kind, f.cp, depth, budget, max_str)
        }
    }

    /// Skips one value of a kind.
    pub(crate) fn skip_one(
        &self,
        r: &mut Reader<'_>,
        kind: Kind,
        cp: bool,
        depth: usize,
        budget: &mut Budget,
        max_str: usize,
    ) -> Result<()> {
        if cp {
            return r.skip_varint();
        }
        match kind {
            Kind::Byte => r.skip(1),
            Kind::Varint => r.skip_varint(),
            Kind::F32 => r.skip(4),
            Kind::F64 => r.skip(8),
            Kind::Str => r.raw_str(max_str).map(|_| ()),
            Kind::Struct(c) => {
                if depth >= MAX_NESTING {
                    return Err(Error::limit("value nesting", MAX_NESTING, r.pos()));
                }
                for f in &self.classes[c as usize].fields {
                    budget.spend(r.pos())?;
                    self.skip_field(r, f, depth + 1, budget, max_str)?;
                }
                Ok(())
            }
            Kind::Unknown(t) => Err(Error::new(ErrorKind::UnknownType(t), r.pos(), "value")),
        }
    }

    /// Reads a struct value of class `class`, storing the fields that `slots` maps (field index →
    /// slot, [`NO_SLOT`] to skip) into `out`: integers and pool keys as read, strings as the
    /// chunk offset of their encoding byte, floats as their bits. Arrays and nested structs are
    /// skipped even when mapped.
    pub(crate) fn read_fields(
        &self,
        r: &mut Reader<'_>,
        class: u32,
        slots: &[u8],
        out: &mut [u64],
        budget: &mut Budget,
        max_str: usize,
    ) -> Result<()> {
        for (f, &slot) in self.classes[class as usize].fields.iter().zip(slots) {
            if slot == NO_SLOT || f.array {
                self.skip_field(r, f, 1, budget, max_str)?;
                continue;
            }
            let v = if f.cp {
                r.varint()?
            } else {
                match f.kind {
                    Kind::Byte => u64::from(r.u8()?),
                    Kind::Varint => r.varint()?,
                    Kind::F32 => {
                        let b = r.bytes(4)?;
                        u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                    }
                    Kind::F64 => r.be_u64()?,
                    Kind::Str => {
                        let at = r.pos() as u64;
                        r.raw_str(max_str)?;
                        at
                    }
                    Kind::Struct(_) | Kind::Unknown(_) => {
                        self.skip_field(r, f, 1, budget, max_str)?;
                        continue;
                    }
                }
            };
            out[slot as usize] = v;
        }
        Ok(())
    }

    /// The slot map of a class: `wanted[i]` names the field stored in slot `i`.
    pub(crate) fn slots(&self, class: u32, wanted: &[&str]) -> Vec<u8> {
        self.classes[class as usize]
            .fields
            .iter()
            .map(|f| {
                wanted
                    .iter()
                    .position(|w| *w == f.name)
                    .map_or(NO_SLOT, |i| i as u8)
            })
            .collect()
    }
}

/// A field not stored by [`Metadata::read_fields`].
pub(crate) const NO_SLOT: u8 = u8::MAX;

fn element(r: &mut Reader<'_>, nstrings: usize, depth: usize) -> Result<Element> {
    if depth >= MAX_NESTING {
        return Err(Error::limit("metadata element depth", MAX_NESTING, r.pos()));
    }
    let idx = |r: &mut Reader<'_>| -> Result<u32> {
        let at = r.pos();
        let v = r.varint()?;
        if v >= nstrings as u64 {
            return Err(Error::new(
                ErrorKind::BadMetadata("string index out of range"),
                at,
                CTX,
            ));
        }
        Ok(v as u32)
    };
    let name = idx(r)?;
    let at = r.pos();
    let n = r.varint()?;
    if n > r.remaining() as u64 {
        return Err(Error::new(ErrorKind::Truncated, at, CTX));
    }
    let mut attrs = Vec::with_capacity(n as usize);
    for _ in 0..n {
        attrs.push((idx(r)?, idx(r)?));
    }
    let at = r.pos();
    let n = r.varint()?;
    if n > r.remaining() as u64 {
        return Err(Error::new(ErrorKind::Truncated, at, CTX));
    }
    let mut children = Vec::with_capacity(n as usize);
    for _ in 0..n {
        children.push(element(r, nstrings, depth + 1)?);
    }
    Ok(Element {
        name,
        attrs,
        children,
    })
}
