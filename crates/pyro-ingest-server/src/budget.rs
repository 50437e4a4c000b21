//! The server-wide budget of bytes in flight: a request's body is reserved (as announced, or the
//! body limit when it is not) before a byte of it is read, and its gunzipped size and parse
//! memory once they are known; a request that does not fit gets 503 with `Retry-After` at once
//! instead of pushing the process past its memory.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use crate::error::Refused;

/// Budget unit: reservations are counted in KiB (a semaphore counts in `u32`).
const UNIT: usize = 1024;

/// Parse memory of one decompressed byte, at most (tables, call tree, series trees), for the
/// reservation made before parsing.
pub const PARSE_BYTES_PER_BYTE: usize = 4;

/// The bytes-in-flight budget.
#[derive(Debug, Clone)]
pub struct InFlight {
    sem: Arc<Semaphore>,
    units: usize,
}

/// A reservation, given back when dropped.
#[derive(Debug)]
pub struct Reserved(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl InFlight {
    /// A budget of `bytes`.
    pub fn new(bytes: usize) -> InFlight {
        let units = bytes.div_ceil(UNIT).clamp(1, Semaphore::MAX_PERMITS);
        InFlight {
            sem: Arc::new(Semaphore::new(units)),
            units,
        }
    }

    /// Reserves `bytes` now: [`Refused::Busy`] when the budget does not have them left at the
    /// moment, [`Refused::Never`] when they exceed the whole budget.
    ///
    /// # Errors
    /// The refusal.
    pub fn try_reserve(&self, bytes: usize) -> Result<Reserved, Refused> {
        self.try_reserve_beside(bytes, 0)
    }

    /// [`try_reserve`](InFlight::try_reserve) for a request that already holds `held` bytes:
    /// [`Refused::Never`] when both together exceed the whole budget.
    ///
    /// # Errors
    /// The refusal.
    pub fn try_reserve_beside(&self, bytes: usize, held: usize) -> Result<Reserved, Refused> {
        if bytes == 0 {
            return Ok(Reserved(None));
        }
        let want = bytes.div_ceil(UNIT);
        if want.saturating_add(held.div_ceil(UNIT)) > self.units {
            return Err(Refused::Never);
        }
        let want = u32::try_from(want).map_err(|_| Refused::Never)?;
        self.sem
            .clone()
            .try_acquire_many_owned(want)
            .map(|p| Reserved(Some(p)))
            .map_err(|_| Refused::Busy)
    }

    /// The whole budget, in bytes.
    pub fn total(&self) -> usize {
        self.units.saturating_mul(UNIT)
    }

    /// Bytes not reserved now.
    pub fn available(&self) -> usize {
        self.sem.available_permits().saturating_mul(UNIT)
    }

    /// Bytes reserved now.
    pub fn in_flight(&self) -> usize {
        self.units
            .saturating_sub(self.sem.available_permits())
            .saturating_mul(UNIT)
    }
}

/// Bytes of a body reserved before any of it arrives: a request announcing a large body holds
/// no more than this until its bytes come (slow senders cannot hold the budget by announcing).
pub const BODY_FIRST_BYTES: usize = 64 << 10;

/// What [`reserve_body`] needs: the server's budget and its largest body.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    /// The server-wide budget.
    pub inflight: InFlight,
    /// `Config::max_body`: no body reserves more up front.
    pub max_body: usize,
}

/// Middleware: reserves a request's body as it arrives: [`BODY_FIRST_BYTES`] (or the announced
/// length when smaller) before a byte is read, then each chunk as it comes, all held until the
/// answer is ready. A body whose bytes cannot be reserved when they arrive ends the request with
/// 503 and `Retry-After` (413 when it could never fit).
pub async fn reserve_body(State(state): State<BodyBudget>, req: Request, next: Next) -> Response {
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let may_have_body = announced.is_some_and(|n| n > 0)
        || (announced.is_none() && (req.method() == Method::POST || req.method() == Method::PUT));
    if !may_have_body {
        return next.run(req).await;
    }
    let first = announced
        .unwrap_or(BODY_FIRST_BYTES)
        .min(BODY_FIRST_BYTES)
        .min(state.max_body);
    let held = Arc::new(std::sync::Mutex::new(BodyHeld {
        reserved: Vec::new(),
        bytes: 0,
        seen: 0,
        refused: None,
    }));
    match state.inflight.try_reserve(first) {
        Ok(r) => {
            let mut h = held
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            h.reserved.push(r);
            h.bytes = first;
        }
        Err(refused) => return refused.into_response(),
    }
    let (parts, body) = req.into_parts();
    let (inflight, growing) = (state.inflight.clone(), held.clone());
    let stream = futures_util::StreamExt::map(body.into_data_stream(), move |chunk| {
        let chunk = chunk?;
        let mut h = growing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        h.seen += chunk.len();
        if h.seen > h.bytes {
            let more = (h.seen - h.bytes).max(BODY_FIRST_BYTES);
            match inflight.try_reserve_beside(more, h.bytes) {
                Ok(r) => {
                    h.reserved.push(r);
                    h.bytes += more;
                }
                Err(refused) => {
                    h.refused = Some(refused);
                    return Err(axum::Error::new("body could not be reserved"));
                }
            }
        }
        Ok(chunk)
    });
    let req = Request::from_parts(parts, axum::body::Body::from_stream(stream));
    let response = next.run(req).await;
    let refused = held
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .refused;
    // The reservations go back once the answer is made.
    drop(held);
    match refused {
        Some(r) => r.into_response(),
        None => response,
    }
}

/// A body's reservations while it is read and handled.
struct BodyHeld {
    reserved: Vec<Reserved>,
    /// Bytes reserved.
    bytes: usize,
    /// Bytes arrived.
    seen: usize,
    /// Set when arriving bytes could not be reserved.
    refused: Option<Refused>,
}

/// What `data` inflates to as its gzip trailer declares it (the last member's size, capped at
/// `max`), else its own length: the reservation made before inflating it, and the most it may
/// inflate to (a stream longer than its trailer says stops there with 413).
pub fn declared_size(data: &[u8], max: usize) -> usize {
    if !pyro_tree::gzip::is_gzip(data) {
        return data.len();
    }
    pyro_tree::gzip::trailer_size(data).unwrap_or(0).min(max)
}

/// Bytes a stack-tree node takes, with its share of names and tables (what the README's memory
/// bound counts).
pub const TREE_NODE_BYTES: usize = 56;

/// Tree nodes a request may build per byte of its decompressed profiles, up to
/// `--max-tree-nodes` (real profiles build 0.01 to 0.1 a byte; the 33 MB synthetic Go profile
/// 0.22), and the least it may build whatever its size: so a small upload reserves, and may build,
/// trees in proportion to itself instead of `--max-tree-nodes` it could never need.
pub const TREE_NODES_PER_INPUT_BYTE: usize = 2;

/// The least tree nodes a request may build (and reserves), however small.
pub const MIN_TREE_NODES: usize = 4 << 10;

/// Reserves the parse memory of a request's parts and the trees it may build, and returns the
/// reader limits for it: gunzip of any part stops at the largest declared size; the trees stop at
/// [`TREE_NODES_PER_INPUT_BYTE`] nodes per byte of its declared inflated size (at least
/// [`MIN_TREE_NODES`]; at most `--max-tree-nodes`, or one node per
/// [`pyro_ingest::INPUT_BYTES_PER_NODE`] bytes for a large profile,
/// [`pyro_ingest::Limits::tree_nodes_for`]), every one of them reserved at [`TREE_NODE_BYTES`]
/// beside [`PARSE_BYTES_PER_BYTE`] per input byte. A request whose trees could never be reserved
/// is read within what can be (at most `--max-tree-nodes`).
///
/// # Errors
/// The refusal (503 now, or 413 never).
pub fn reserve_parse<'p>(
    inflight: &InFlight,
    limits: &pyro_ingest::Limits,
    held: usize,
    parts: impl IntoIterator<Item = &'p [u8]>,
) -> Result<(Reserved, pyro_ingest::Limits), Refused> {
    let (mut total, mut largest) = (0usize, 0usize);
    for p in parts {
        let d = declared_size(p, limits.decompressed);
        total = total.saturating_add(d);
        largest = largest.max(d);
    }
    let parse = total.saturating_mul(PARSE_BYTES_PER_BYTE);
    let proportional = total
        .saturating_mul(TREE_NODES_PER_INPUT_BYTE)
        .max(MIN_TREE_NODES);
    let nodes = limits.tree_nodes_for(total).min(proportional);
    let limits = limits.max_decompressed(largest.min(limits.decompressed));
    let trees = |n: usize| parse.saturating_add(n.saturating_mul(TREE_NODE_BYTES));
    match inflight.try_reserve_beside(trees(nodes), held) {
        Ok(reserved) => {
            return Ok((
                reserved,
                limits.max_tree_nodes(nodes).scale_tree_nodes(false),
            ));
        }
        Err(Refused::Busy) => return Err(Refused::Busy),
        Err(Refused::Never) => {}
    }
    // What the whole budget could hold beside the parse, within --max-tree-nodes.
    let room = inflight
        .total()
        .saturating_sub(parse)
        .saturating_sub(held)
        // Reservations round up to whole units.
        .saturating_sub(2 * UNIT)
        / TREE_NODE_BYTES;
    let nodes = nodes.min(limits.tree_nodes).min(room);
    let reserved = inflight.try_reserve_beside(trees(nodes), held)?;
    Ok((
        reserved,
        limits.max_tree_nodes(nodes).scale_tree_nodes(false),
    ))
}

/// Bytes one node of a read's answer may take, with its share of the partition tables merged
/// into it and of the answer written from it (JSON, pprof): what a read reserves per node.
/// Measured: a 2.1 M-node answer (one partition's table, the merged tree, the pprof written
/// from it) peaked at about 1.5 KB a node.
pub const READ_NODE_BYTES: usize = 1536;

/// Nodes a read reserves at a time beyond what it holds (fewer reservations for a growing
/// answer).
const READ_CHUNK_NODES: usize = 64 << 10;

/// The memory a read's answer holds, reserved from the server-wide budget as the answer grows
/// (with the writes' bodies and parse memory under the one `--max-inflight-bytes`), given back
/// when the read ends.
#[derive(Debug)]
pub struct ReadMemory {
    inflight: InFlight,
    held: std::sync::Mutex<(usize, Vec<Reserved>)>,
}

impl ReadMemory {
    /// Nothing reserved yet.
    pub fn new(inflight: &InFlight) -> ReadMemory {
        ReadMemory {
            inflight: inflight.clone(),
            held: std::sync::Mutex::new((0, Vec::new())),
        }
    }

    /// Reserves room for an answer of `nodes` nodes: [`pyro_store::ErrorKind::Busy`] when the
    /// budget does not have it now, [`pyro_store::ErrorKind::Budget`] when it never could.
    ///
    /// # Errors
    /// The refusal.
    pub fn reserve(&self, nodes: usize) -> Result<(), pyro_store::StoreError> {
        let mut held = self
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if nodes <= held.0 {
            return Ok(());
        }
        // What is missing, or as much again as is held (doubling up to a chunk): a small answer
        // reserves little, a growing one seldom.
        let more = (nodes - held.0).max(held.0.min(READ_CHUNK_NODES));
        let bytes = more.saturating_mul(READ_NODE_BYTES);
        let already = held.0.saturating_mul(READ_NODE_BYTES);
        match self.inflight.try_reserve_beside(bytes, already) {
            Ok(r) => {
                held.0 += more;
                held.1.push(r);
                Ok(())
            }
            Err(Refused::Busy) => Err(pyro_store::StoreError::new(
                pyro_store::ErrorKind::Busy,
                "server busy: the memory for this answer is held by other requests; retry later",
            )),
            Err(Refused::Never) => Err(pyro_store::StoreError::new(
                pyro_store::ErrorKind::Budget,
                format_args!(
                    "the answer needs more than the server's --max-inflight-bytes ({nodes} \
                     call-tree nodes); narrow the query or the time range"
                ),
            )),
        }
    }
}
