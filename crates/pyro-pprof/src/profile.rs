//! [`Profile`]: a zero-copy view of a pprof `Profile` message.

use crate::error::{Error, ErrorKind, Result};
use crate::limits::Limits;
use crate::wire::{LEN, Reader, bytes_at, varint_at};

/// A `ValueType`: string-table indices of a sample type's name and unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ValueType {
    /// Index of the type name (`samples`, `cpu`, `alloc_space`, …).
    pub ty: usize,
    /// Index of the unit (`count`, `nanoseconds`, `bytes`, …).
    pub unit: usize,
}

/// A mapping (only what conversion needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mapping {
    /// The mapping id.
    pub id: u64,
    /// String index of the binary's file name.
    pub filename: usize,
}

/// A location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    /// The location id.
    pub id: u64,
    /// The mapping id (0 = none).
    pub mapping_id: u64,
    /// The instruction address.
    pub address: u64,
    /// Range of this location's lines in [`Profile::line_functions`], leaf (inlined callee)
    /// first, as pprof stores them.
    pub lines: (u32, u32),
}

/// A function (only what conversion needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Function {
    /// The function id.
    pub id: u64,
    /// String index of its name.
    pub name: usize,
}

/// Maps ids to dense indices: a table when ids are small, a hash map otherwise.
#[derive(Debug, Clone)]
pub(crate) enum IdIndex {
    Dense(Vec<u32>),
    Sparse(hashbrown::HashMap<u64, u32, foldhash::fast::RandomState>),
}

const NO_INDEX: u32 = u32::MAX;

impl IdIndex {
    fn build(ids: impl Iterator<Item = u64> + Clone, count: usize) -> Self {
        let max = ids.clone().max().unwrap_or(0);
        if max <= (count as u64).saturating_mul(4).saturating_add(64) {
            let mut t = vec![NO_INDEX; max as usize + 1];
            for (i, id) in ids.enumerate() {
                // The first definition of an id wins.
                if t[id as usize] == NO_INDEX {
                    t[id as usize] = i as u32;
                }
            }
            IdIndex::Dense(t)
        } else {
            let mut m = hashbrown::HashMap::with_capacity_and_hasher(count, Default::default());
            for (i, id) in ids.enumerate() {
                m.entry(id).or_insert(i as u32);
            }
            IdIndex::Sparse(m)
        }
    }

    #[inline(always)]
    pub(crate) fn get(&self, id: u64) -> Option<usize> {
        match self {
            IdIndex::Dense(t) => t
                .get(usize::try_from(id).ok()?)
                .filter(|&&i| i != NO_INDEX)
                .map(|&i| i as usize),
            IdIndex::Sparse(m) => m.get(&id).map(|&i| i as usize),
        }
    }
}

/// A decoded pprof profile that borrows its strings and samples from the input buffer.
///
/// The string table, sample types, mappings, locations and functions are decoded up front;
/// samples are kept as raw message slices and decoded lazily by the conversion. Unknown fields
/// are skipped; packed and unpacked repeated fields are both accepted.
#[derive(Debug)]
pub struct Profile<'a> {
    /// The string table (index 0 is `""`).
    pub(crate) strings: Vec<&'a str>,
    /// Sample types.
    pub(crate) sample_types: Vec<ValueType>,
    /// Raw `Sample` messages with their absolute offsets.
    pub(crate) samples: Vec<(&'a [u8], usize)>,
    /// Mappings.
    pub(crate) mappings: Vec<Mapping>,
    /// Locations.
    pub(crate) locations: Vec<Location>,
    /// Function ids of every location's lines, concatenated.
    pub(crate) line_functions: Vec<u64>,
    /// Functions.
    pub(crate) functions: Vec<Function>,
    /// `time_nanos`.
    pub(crate) time_nanos: i64,
    /// `duration_nanos`.
    pub(crate) duration_nanos: i64,
    /// `period_type`, if present.
    pub(crate) period_type: Option<ValueType>,
    /// `period`.
    pub(crate) period: i64,
    pub(crate) mapping_index: IdIndex,
    pub(crate) location_index: IdIndex,
    pub(crate) function_index: IdIndex,
}

impl<'a> Profile<'a> {
    /// The string table (index 0 is `""`).
    pub fn strings(&self) -> &[&'a str] {
        &self.strings
    }
    /// Sample types (indexes into the string table).
    pub fn sample_types(&self) -> &[ValueType] {
        &self.sample_types
    }
    /// How many `Sample` messages the profile holds (decoded lazily by the conversion).
    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }
    /// Mappings.
    pub fn mappings(&self) -> &[Mapping] {
        &self.mappings
    }
    /// Locations; a location's [`lines`](Location::lines) index [`line_functions`](Self::line_functions).
    pub fn locations(&self) -> &[Location] {
        &self.locations
    }
    /// Function ids of every location's lines, concatenated.
    pub fn line_functions(&self) -> &[u64] {
        &self.line_functions
    }
    /// Functions.
    pub fn functions(&self) -> &[Function] {
        &self.functions
    }
    /// `time_nanos`: when the profile was taken, in Unix nanoseconds (0 when absent).
    pub fn time_nanos(&self) -> i64 {
        self.time_nanos
    }
    /// `duration_nanos`.
    pub fn duration_nanos(&self) -> i64 {
        self.duration_nanos
    }
    /// `period_type`, if present.
    pub fn period_type(&self) -> Option<ValueType> {
        self.period_type
    }
    /// `period`, in `period_type` units.
    pub fn period(&self) -> i64 {
        self.period
    }
}

/// Whether `data` starts with the gzip magic bytes.
pub fn is_gzip(data: &[u8]) -> bool {
    pyro_tree::gzip::is_gzip(data)
}

/// Decompresses `data` if it is gzip (sniffed by magic bytes), refusing to produce more than
/// `limits`' decompressed-size maximum (a gzip bomb stops there with an error). Concatenated gzip
/// members are read as one stream. The inflating is [`pyro_tree::gzip::gunzip`], shared by every
/// reader.
///
/// # Errors
/// A malformed gzip stream, or output over the limit.
pub fn decompress(data: &[u8], limits: &Limits) -> Result<Vec<u8>> {
    let max = limits.max_decompressed_size;
    pyro_tree::gzip::gunzip(data, max).map_err(|e| match e {
        pyro_tree::gzip::GunzipError::TooLarge { .. } => {
            Error::limit("decompressed profile size", max, 0, "")
        }
        e => Error::new(ErrorKind::Gzip(e.to_string()), 0, ""),
    })
}

fn index(v: u64, at: usize, path: &str) -> Result<usize> {
    let i = v as i64;
    if i < 0 {
        return Err(Error::new(ErrorKind::StringIndexOutOfRange(i), at, path));
    }
    Ok(v as usize)
}

fn value_type(buf: &[u8], base: usize) -> Result<ValueType> {
    let mut r = Reader::new(buf, base);
    let mut vt = ValueType::default();
    while !r.at_end() {
        let (f, wt) = r.key()?;
        let at = r.offset();
        match f {
            1 => vt.ty = index(r.scalar(wt)?, at, "type")?,
            2 => vt.unit = index(r.scalar(wt)?, at, "unit")?,
            _ => r.skip(wt)?,
        }
    }
    Ok(vt)
}

fn mapping(buf: &[u8], base: usize) -> Result<Mapping> {
    let mut r = Reader::new(buf, base);
    let mut m = Mapping::default();
    while !r.at_end() {
        let (f, wt) = r.key()?;
        let at = r.offset();
        match f {
            1 => m.id = r.scalar(wt)?,
            5 => m.filename = index(r.scalar(wt)?, at, "filename")?,
            _ => r.skip(wt)?,
        }
    }
    Ok(m)
}

fn function(buf: &[u8], base: usize) -> Result<Function> {
    let mut r = Reader::new(buf, base);
    let mut func = Function::default();
    while !r.at_end() {
        let (f, wt) = r.key()?;
        let at = r.offset();
        match f {
            1 => func.id = r.scalar(wt)?,
            2 => func.name = index(r.scalar(wt)?, at, "name")?,
            _ => r.skip(wt)?,
        }
    }
    Ok(func)
}

fn location(buf: &[u8], base: usize, lines: &mut Vec<u64>, limits: &Limits) -> Result<Location> {
    let mut r = Reader::new(buf, base);
    let mut loc = Location::default();
    let start = lines.len();
    while !r.at_end() {
        let (f, wt) = r.key()?;
        match f {
            1 => loc.id = r.scalar(wt)?,
            2 => loc.mapping_id = r.scalar(wt)?,
            3 => loc.address = r.scalar(wt)?,
            4 => {
                if wt != LEN {
                    return Err(Error::new(
                        ErrorKind::InvalidWireType(wt),
                        r.offset(),
                        "line",
                    ));
                }
                let (payload, b) = r.bytes().map_err(|e| e.within("line"))?;
                let mut lr = Reader::new(payload, b);
                let mut function_id = 0;
                while !lr.at_end() {
                    let (lf, lwt) = lr.key().map_err(|e| e.within("line"))?;
                    match lf {
                        1 => function_id = lr.scalar(lwt).map_err(|e| e.within("line"))?,
                        _ => lr.skip(lwt).map_err(|e| e.within("line"))?,
                    }
                }
                if lines.len() - start >= limits.max_stack_depth {
                    return Err(Error::limit(
                        "lines per location",
                        limits.max_stack_depth,
                        b,
                        "line",
                    ));
                }
                lines.push(function_id);
            }
            _ => r.skip(wt)?,
        }
    }
    loc.lines = (start as u32, (lines.len() - start) as u32);
    Ok(loc)
}

/// A string-table index as [`index`] reads it; `None` where that would fail.
#[inline(always)]
fn fast_index(v: u64) -> Option<usize> {
    ((v as i64) >= 0).then_some(v as usize)
}

/// [`function`] for the usual shape (varint fields only): `None` for anything else, which the
/// general reader then takes (with its exact errors).
fn fast_function(buf: &[u8]) -> Option<Function> {
    let mut func = Function::default();
    let mut i = 0;
    while i < buf.len() {
        let key = buf[i];
        i += 1;
        let v = varint_at(buf, &mut i)?;
        match key {
            0x08 => func.id = v,
            0x10 => func.name = fast_index(v)?,
            // system_name, filename, start_line
            0x18 | 0x20 | 0x28 => {}
            _ => return None,
        }
    }
    Some(func)
}

/// [`location`] for the usual shape (varint fields and short `line` messages): `None` for
/// anything else, with `lines` as it was, which the general reader then takes.
fn fast_location(buf: &[u8], lines: &mut Vec<u64>, limits: &Limits) -> Option<Location> {
    let start = lines.len();
    let loc = fast_location_fields(buf, lines, start, limits);
    if loc.is_none() {
        lines.truncate(start);
    }
    loc
}

/// The body of [`fast_location`], which undoes the lines pushed when this gives up.
fn fast_location_fields(
    buf: &[u8],
    lines: &mut Vec<u64>,
    start: usize,
    limits: &Limits,
) -> Option<Location> {
    let mut loc = Location::default();
    let mut i = 0;
    while i < buf.len() {
        let key = buf[i];
        i += 1;
        if key == 0x22 {
            let line = bytes_at(buf, &mut i)?;
            let (mut j, mut function_id) = (0, 0);
            while j < line.len() {
                let lk = line[j];
                j += 1;
                let x = varint_at(line, &mut j)?;
                match lk {
                    0x08 => function_id = x,
                    // line, column
                    0x10 | 0x18 => {}
                    _ => return None,
                }
            }
            if lines.len() - start >= limits.max_stack_depth {
                return None;
            }
            lines.push(function_id);
            continue;
        }
        let v = varint_at(buf, &mut i)?;
        match key {
            0x08 => loc.id = v,
            0x10 => loc.mapping_id = v,
            0x18 => loc.address = v,
            // is_folded
            0x28 => {}
            _ => return None,
        }
    }
    loc.lines = (start as u32, (lines.len() - start) as u32);
    Some(loc)
}

/// How many samples, locations, functions and strings a profile's top level holds, counted
/// up to the first field of an unusual shape (enough to size the vectors up front; the decoder
/// proper checks everything).
fn field_counts(buf: &[u8]) -> [usize; 4] {
    let mut n = [0; 4];
    let mut i = 0;
    while i < buf.len() {
        let key = buf[i];
        i += 1;
        let slot = match key {
            0x12 => 0,
            0x22 => 1,
            0x2a => 2,
            0x32 => 3,
            0x08 | 0x48 | 0x50 | 0x60 | 0x68 | 0x70 => {
                if varint_at(buf, &mut i).is_none() {
                    break;
                }
                continue;
            }
            _ if key & 7 == LEN => {
                if bytes_at(buf, &mut i).is_none() {
                    break;
                }
                continue;
            }
            _ => break,
        };
        if bytes_at(buf, &mut i).is_none() {
            break;
        }
        n[slot] += 1;
    }
    n
}

/// The `string_table` fields at the start of `buf` (key `0x32`, one after another as writers
/// put them), checked as UTF-8 in one go rather than one by one: pushed onto `out`; returns the
/// bytes they take. It stops before the first string not in the valid UTF-8 it found (or one
/// it cannot frame), which the general reader then takes, with its exact error if it has one.
fn string_run<'a>(buf: &'a [u8], out: &mut Vec<&'a str>) -> usize {
    // The run ends before a string of 128 bytes or more: its length is not valid UTF-8, so the
    // check would stop there anyway (and each byte is framed here once, not once per string).
    let mut end = 0;
    while buf.get(end) == Some(&0x32) && buf.get(end + 1).is_some_and(|&len| len < 0x80) {
        let mut i = end + 1;
        if bytes_at(buf, &mut i).is_none() {
            break;
        }
        end = i;
    }
    let run = &buf[..end];
    let valid = match std::str::from_utf8(run) {
        Ok(s) => s,
        Err(e) => std::str::from_utf8(&run[..e.valid_up_to()]).unwrap_or_default(),
    };
    // Framing bytes in valid UTF-8 are ASCII (a length of 128 or more is not valid there), so
    // every string in it starts and ends on a character boundary.
    let mut taken = 0;
    while taken < valid.len() {
        let mut i = taken + 1;
        let Some(b) = bytes_at(run, &mut i) else {
            break;
        };
        match valid.get(i - b.len()..i) {
            Some(s) => out.push(s),
            None => break,
        }
        taken = i;
    }
    taken
}

impl<'a> Profile<'a> {
    /// Decodes an uncompressed `Profile` message.
    ///
    /// # Errors
    /// Malformed protobuf, invalid UTF-8 in the string table, a string index out of range, or a
    /// limit exceeded; the error names the field path and byte offset.
    pub fn parse(buf: &'a [u8], limits: &Limits) -> Result<Profile<'a>> {
        if buf.len() > limits.max_decompressed_size {
            return Err(Error::limit(
                "profile size",
                limits.max_decompressed_size,
                0,
                "Profile",
            ));
        }
        // Sized up front: never more than growing them would reach.
        let [samples, locations, functions, strings] = field_counts(buf);
        let mut p = Profile {
            strings: Vec::with_capacity(strings),
            sample_types: Vec::new(),
            samples: Vec::with_capacity(samples),
            mappings: Vec::new(),
            locations: Vec::with_capacity(locations),
            line_functions: Vec::with_capacity(locations),
            functions: Vec::with_capacity(functions),
            time_nanos: 0,
            duration_nanos: 0,
            period_type: None,
            period: 0,
            mapping_index: IdIndex::Dense(Vec::new()),
            location_index: IdIndex::Dense(Vec::new()),
            function_index: IdIndex::Dense(Vec::new()),
        };
        let mut r = Reader::new(buf, 0);
        while !r.at_end() {
            // Samples and runs of strings are framed without the general reader (which takes
            // anything else, and reports every error).
            let rest = r.rest();
            match rest.first() {
                Some(0x12) => {
                    let mut i = 1;
                    if let Some(b) = bytes_at(rest, &mut i) {
                        p.samples.push((b, r.offset() + i - b.len()));
                        r.advance(i);
                        continue;
                    }
                }
                Some(0x32) => {
                    let n = string_run(rest, &mut p.strings);
                    if n > 0 {
                        r.advance(n);
                        continue;
                    }
                }
                _ => {}
            }
            let (f, wt) = r.key().map_err(|e| e.within("Profile"))?;
            let field_at = r.offset();
            let need_len = |name: &str| -> Result<()> {
                if wt == LEN {
                    Ok(())
                } else {
                    Err(Error::new(
                        ErrorKind::InvalidWireType(wt),
                        field_at,
                        format!("Profile.{name}"),
                    ))
                }
            };
            match f {
                1 => {
                    need_len("sample_type")?;
                    let n = p.sample_types.len();
                    let (b, at) = r.bytes().map_err(|e| e.within("Profile.sample_type"))?;
                    if n >= limits.max_sample_types {
                        return Err(Error::limit(
                            "sample types",
                            limits.max_sample_types,
                            at,
                            "Profile.sample_type",
                        ));
                    }
                    p.sample_types.push(
                        value_type(b, at)
                            .map_err(|e| e.within(&format!("Profile.sample_type[{n}]")))?,
                    );
                }
                2 => {
                    need_len("sample")?;
                    let s = r.bytes().map_err(|e| e.within("Profile.sample"))?;
                    p.samples.push(s);
                }
                3 => {
                    need_len("mapping")?;
                    let n = p.mappings.len();
                    let (b, at) = r.bytes().map_err(|e| e.within("Profile.mapping"))?;
                    p.mappings.push(
                        mapping(b, at).map_err(|e| e.within(&format!("Profile.mapping[{n}]")))?,
                    );
                }
                4 => {
                    need_len("location")?;
                    let n = p.locations.len();
                    let (b, at) = r.bytes().map_err(|e| e.within("Profile.location"))?;
                    let loc = match fast_location(b, &mut p.line_functions, limits) {
                        Some(loc) => loc,
                        None => location(b, at, &mut p.line_functions, limits)
                            .map_err(|e| e.within(&format!("Profile.location[{n}]")))?,
                    };
                    p.locations.push(loc);
                }
                5 => {
                    need_len("function")?;
                    let n = p.functions.len();
                    let (b, at) = r.bytes().map_err(|e| e.within("Profile.function"))?;
                    let func = match fast_function(b) {
                        Some(func) => func,
                        None => function(b, at)
                            .map_err(|e| e.within(&format!("Profile.function[{n}]")))?,
                    };
                    p.functions.push(func);
                }
                6 => {
                    need_len("string_table")?;
                    let n = p.strings.len();
                    let (b, at) = r.bytes().map_err(|e| e.within("Profile.string_table"))?;
                    let s = std::str::from_utf8(b).map_err(|e| {
                        Error::new(
                            ErrorKind::InvalidUtf8,
                            at + e.valid_up_to(),
                            format!("Profile.string_table[{n}]"),
                        )
                    })?;
                    p.strings.push(s);
                }
                9 => {
                    p.time_nanos = r.scalar(wt).map_err(|e| e.within("Profile.time_nanos"))? as i64
                }
                10 => {
                    p.duration_nanos = r
                        .scalar(wt)
                        .map_err(|e| e.within("Profile.duration_nanos"))?
                        as i64
                }
                11 => {
                    need_len("period_type")?;
                    let (b, at) = r.bytes().map_err(|e| e.within("Profile.period_type"))?;
                    p.period_type =
                        Some(value_type(b, at).map_err(|e| e.within("Profile.period_type"))?);
                }
                12 => p.period = r.scalar(wt).map_err(|e| e.within("Profile.period"))? as i64,
                _ => r.skip(wt).map_err(|e| e.within("Profile"))?,
            }
        }
        if p.strings.is_empty() {
            p.strings.push("");
        }
        p.check_string_indices()?;
        p.mapping_index = IdIndex::build(p.mappings.iter().map(|m| m.id), p.mappings.len());
        p.location_index = IdIndex::build(p.locations.iter().map(|l| l.id), p.locations.len());
        p.function_index = IdIndex::build(p.functions.iter().map(|f| f.id), p.functions.len());
        Ok(p)
    }

    fn check_string_indices(&self) -> Result<()> {
        let n = self.strings.len();
        let bad = |i: usize, path: String| {
            Err(Error::new(
                ErrorKind::StringIndexOutOfRange(i as i64),
                0,
                path,
            ))
        };
        for (k, vt) in self.sample_types.iter().enumerate() {
            if vt.ty >= n || vt.unit >= n {
                return bad(vt.ty.max(vt.unit), format!("Profile.sample_type[{k}]"));
            }
        }
        if let Some(vt) = self.period_type
            && (vt.ty >= n || vt.unit >= n)
        {
            return bad(vt.ty.max(vt.unit), "Profile.period_type".into());
        }
        for (k, m) in self.mappings.iter().enumerate() {
            if m.filename >= n {
                return bad(m.filename, format!("Profile.mapping[{k}].filename"));
            }
        }
        for (k, f) in self.functions.iter().enumerate() {
            if f.name >= n {
                return bad(f.name, format!("Profile.function[{k}].name"));
            }
        }
        Ok(())
    }

    /// The string at index `i` (`""` when out of range; indices are checked at parse time).
    pub fn string(&self, i: usize) -> &'a str {
        self.strings.get(i).copied().unwrap_or("")
    }

    /// The location with id `id`.
    pub fn location(&self, id: u64) -> Option<&Location> {
        self.location_index.get(id).map(|i| &self.locations[i])
    }

    /// The function with id `id`.
    pub fn function(&self, id: u64) -> Option<&Function> {
        self.function_index.get(id).map(|i| &self.functions[i])
    }

    /// The mapping with id `id`.
    pub fn mapping(&self, id: u64) -> Option<&Mapping> {
        self.mapping_index.get(id).map(|i| &self.mappings[i])
    }

    /// Sample type names, in order.
    pub fn sample_type_names(&self) -> Vec<&'a str> {
        self.sample_types
            .iter()
            .map(|vt| self.string(vt.ty))
            .collect()
    }
}
