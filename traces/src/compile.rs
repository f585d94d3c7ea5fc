//! The compiler: recorded events (per thread, per process) → a replayable workload, in bounded memory.
//!
//! Entry points: [`compile_files_to`] (raw trace files, one per process, streamed to a `.hkw` file: what
//! `hakmem compile` runs), [`describe_files`] (the same statistics without writing anything: what `info`
//! runs on a raw trace), [`compile`] / [`compile_files`] (the same compiler keeping the streams in memory,
//! returning a [`WorkloadWriter`]: for tests and small inputs). All four produce the same workload bytes.
//!
//! # Passes
//! 1. **Resolve** (per process, processes in parallel). Within a process, a pipeline of three threads:
//!    stage 0 decodes and merges the threads' events by timestamp (ties: per-thread order, then lower
//!    thread index first); stage 1 maps addresses to objects (an allocation creates a new object, so a
//!    reused address is a new object; a free/realloc consumes the object live at its address); stage 2
//!    takes the statistics in this merged order (sizes, lifetimes in ops, peak live bytes/objects,
//!    cross-thread counts), gives every new object a local slot from its thread's LIFO free list, and
//!    encodes the op into its thread's stream. An object consumed by a thread other than its creator gets
//!    a shared slot of its own at that moment; its creation op, already encoded with a local slot, is
//!    listed for patching (and that local slot returns to the pool: the shared object never touches it).
//! 2. **Patch** (all threads in parallel): rewrite the listed creation ops into their shared slots; bytes
//!    in between are copied as they are (for the second and later processes every shared slot is also
//!    shifted by the process's base, which needs a full re-encoding).
//!
//! # Memory
//! Nothing grows with the number of events:
//! - stage 1 keeps one [`Entry`] (16 bytes with its key, + 1 control byte, in a table at most half
//!   empty after growth) per *distinct address* seen (a freed address stays known, to tell a double free
//!   from an unknown one) plus the pending objects of the inversion window; objects are named by *ids*
//!   recycled as soon as the object is consumed, so ids stay below the peak number of live objects (plus
//!   pending ones);
//! - stage 2 keeps 28 bytes per id (local slot, creation offset, size, birth), a slot free list per
//!   thread, and each
//!   thread's stream in blocks of [`StreamOptions::block`] bytes moved to an unlinked scratch file in the
//!   output's directory ([`crate::spill`]) as they fill; the patch list is sorted and moved there in runs
//!   whenever it holds [`StreamOptions::patch_budget`] entries;
//! - the raw traces are mapped, and each chunk's pages are dropped from the mapping once it is decoded;
//! - pass 2 streams each thread from the scratch file into the output, merging its patch runs.
//!
//! So peak memory ≤ 39 B × distinct addresses + 35 B × peak live objects + per-thread blocks + patch
//! budget + batches in flight; the scratch file is about the size of the workload.
//!
//! # Anomalies (counted in [`Stats`], never replayed as recorded)
//! - free/realloc of a pointer never allocated in the trace (allocated before recording): *unknown free*,
//!   dropped (a realloc keeps its new block: replayed as `realloc(NULL, size)`).
//! - free/realloc of an address whose object was already freed: *double free*, dropped likewise.
//! - `free(NULL)`: dropped. Failed allocations (NULL result, `posix_memalign` error, failed realloc that
//!   leaves the old block live): dropped. `realloc(p, 0)` returning NULL: replayed as `free(p)`.
//! - **Log inversion**: an allocation returns an address whose object is still live. The recorder logs a
//!   free before the real free but a realloc *after* it returns, so another thread can log a new block at
//!   the old address before the realloc is logged (or clocks of two CPUs disagree slightly). The live
//!   object is set aside as a *pending* object for that address; the next consumption of the address
//!   by a thread other than the new object's creator within [`CompileOptions::inversion_window_ns`] is
//!   attributed to the pending object (repaired, counted in `inversions_repaired`). A pending object never
//!   claimed within the window is counted in `missing_frees` and stays live (its free was never logged).
//!
//! Invariant: the merged order is a valid sequential schedule of the output (every object is created
//! before it is consumed, every local slot is free before reuse), so replay sync points cannot deadlock.

use crate::event::{Event, Op};
use crate::raw::{RawError, RawTrace};
use crate::spill::Spill;
use crate::stats::Stats;
use crate::workload::{
    ObjRef, StoredOp, StreamChecksum, StreamedWorkload, ThreadDesc, ThreadEncoder, WorkloadError,
    WorkloadWriter, WriteSummary,
};
use rayon::prelude::*;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::path::{Path, PathBuf};

/// Knobs of the compiler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileOptions {
    /// How late (ns after the new allocation at the same address) another thread's free may arrive and
    /// still be attributed to the object it replaced (log-inversion repair). Default 10 ms.
    pub inversion_window_ns: u64,
    /// Memory budgets of the streaming compiler (they change memory use, never the output).
    pub stream: StreamOptions,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            inversion_window_ns: 10_000_000,
            stream: StreamOptions::default(),
        }
    }
}

/// Memory budgets of [`compile_files_to`] (they change how much is held in memory, never the output).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamOptions {
    /// Bytes of a thread's encoded stream held before they are moved to the scratch file. Default 256 KiB.
    pub block: usize,
    /// Patch-list entries (16 bytes each) held before they are sorted and moved to the scratch file as a
    /// run. Default 4 Mi (64 MiB).
    pub patch_budget: usize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            block: 256 << 10,
            patch_budget: 4 << 20,
        }
    }
}

/// One thread's recorded events, in the order the thread made them.
pub struct ThreadStream<I> {
    /// Kernel thread id (stored in the workload header).
    pub tid: u32,
    /// The events (their `tid` fields are not consulted).
    pub events: I,
}

/// One recorded process: its threads. Addresses are private to a process.
pub struct ProcessStreams<I> {
    /// Process id (stored in the workload header).
    pub pid: u32,
    /// Threads.
    pub threads: Vec<ThreadStream<I>>,
}

/// Result of an in-memory compilation ([`compile`], [`compile_files`]).
pub struct Compiled {
    /// The workload, ready to [`WorkloadWriter::write`].
    pub writer: WorkloadWriter,
    /// Events read (including thread/process markers).
    pub events: u64,
    /// Wall seconds per phase (`open`, `resolve`, `assign`), for benchmarks.
    pub phases: Vec<(&'static str, f64)>,
    /// Bytes of event records in the raw traces read (0 for in-memory input).
    pub raw_record_bytes: u64,
}

/// Result of [`compile_files_to`] and [`describe_files`].
#[derive(Clone, Debug)]
pub struct CompileReport {
    /// What was written (all zero for [`describe_files`]).
    pub summary: WriteSummary,
    /// The workload as its header describes it (streams' checksums are only known once written).
    pub workload: StreamedWorkload,
    /// Events read (including thread/process markers).
    pub events: u64,
    /// Wall seconds per phase (`open`, `resolve`, `write`).
    pub phases: Vec<(&'static str, f64)>,
    /// Bytes of event records in the raw traces read.
    pub raw_record_bytes: u64,
    /// Bytes of the largest scratch file (spilled streams and patch runs) of one process.
    pub spill_bytes: u64,
}

/// What went wrong compiling files.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// A raw trace could not be read (the message names the file).
    #[error(transparent)]
    Raw(#[from] RawError),
    /// The inputs need more object slots than a workload can address.
    #[error("{0}")]
    TooLarge(String),
    /// No input.
    #[error("no raw trace given")]
    NoInput,
    /// The scratch file next to the output could not be written or read.
    #[error("{}: scratch file: {cause} (the compiler needs about the workload's size free there)", dir.display())]
    Spill {
        /// Directory of the scratch file.
        dir: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The workload could not be written.
    #[error(transparent)]
    Write(#[from] WorkloadError),
}

/// Address hash: a folded 64×64→128 multiply, so both the low bits (bucket index) and the high bits
/// (hashbrown's tag) depend on every address bit, including the ones alignment leaves at zero.
#[derive(Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(*b as u64);
        }
    }
    #[inline]
    fn write_u64(&mut self, v: u64) {
        let m = ((v ^ self.0) as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_u128);
        self.0 = (m as u64) ^ ((m >> 64) as u64);
    }
}

type AddrMap<V> = HashMap<u64, V, BuildHasherDefault<AddrHasher>>;

/// `Entry::id` of an object already consumed (the address is known, nothing lives there).
const DEAD: u32 = u32::MAX;

/// What is known about an address: the object that last lived there (8 bytes: the address table is
/// the compiler's largest structure, one entry per distinct address).
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Thread index (in the process) that created the object.
    creator: u32,
    /// Its id (recycled once consumed), or [`DEAD`] once consumed.
    id: u32,
}

/// A live object displaced by a new allocation at its address (see "Log inversion").
#[derive(Clone, Copy, Debug)]
struct Pending {
    entry: Entry,
    /// Timestamp of the displacing allocation.
    ts: u64,
    /// Thread that made it.
    by: u32,
}

/// Where stage 2 keeps the encoded streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keep {
    /// Whole streams in memory ([`compile`], [`compile_files`]).
    Memory,
    /// Blocks moved to a scratch file as they fill ([`compile_files_to`]).
    Spill,
    /// Lengths only, bytes dropped ([`describe_files`]).
    Count,
}

/// One thread's stream as stage 2 encodes it: `extents` (offset, length in the scratch file) in stream
/// order, then `buf`. Every extent holds whole ops. `len() == flushed + buf.len()`.
#[derive(Default)]
struct Stream {
    buf: Vec<u8>,
    extents: Vec<(u64, u32)>,
    flushed: u64,
    ops: u64,
}

impl Stream {
    #[inline]
    fn len(&self) -> u64 {
        self.flushed + self.buf.len() as u64
    }
}

/// Pass-1 output of one thread: its stream in final form, except that an object later found to be
/// consumed by another thread was encoded, at creation, in a local slot: the patch list names those
/// creation ops (byte offset, shared slot), and shared slots are numbered per process (the process's base
/// is added when several processes are compiled together).
struct Pass1Thread {
    tid: u32,
    out: Stream,
    /// Local slots free for reuse (LIFO), and the next never-used one.
    free_local: Vec<u32>,
    next_local: u32,
    /// Creation ops to rewrite into shared slots, (byte offset, process-relative shared slot): runs already
    /// sorted and moved to the scratch file (offset, entries), then the ones held (sorted at the end).
    runs: Vec<(u64, u64)>,
    patches: Vec<(u64, u32)>,
    /// Σ over the patches of the change in encoded length (the final length with base 0 is `len + grow`).
    grow: i64,
}

/// Output of pass 1 for one process.
struct Resolved {
    pid: u32,
    threads: Vec<Pass1Thread>,
    /// Shared slots used by the process.
    shared: u32,
    stats: Stats,
    events: u64,
    spill: Option<Spill>,
}

/// The consumption part of a resolved op, for the statistics and the sharing marks.
#[derive(Clone, Copy, Debug)]
struct Freed {
    creator: u32,
    id: u32,
    /// Consumed by a thread other than its creator.
    cross: bool,
    /// A free (rather than a realloc).
    is_free: bool,
}

/// One replayed op as resolved by stage 1 (addresses → objects: `freed` names the consumed object), handed
/// to stage 2 (statistics, slots, encoding) running on another core. The op's references are placeholders
/// that stage 2 replaces.
#[derive(Clone, Copy, Debug)]
struct Rec {
    t: u32,
    op: StoredOp,
    /// Requested bytes and id of the object the op creates, if it creates one.
    alloc: Option<(u64, u32)>,
    freed: Option<Freed>,
}

/// Bytes of the head varint of a creation op naming `r` (the kind's 4 bits never change the length).
#[inline]
fn head_len(r: ObjRef) -> i64 {
    let code = match r {
        ObjRef::Local(i) => (i as u64) << 1,
        ObjRef::Shared(i) => ((i as u64) << 1) | 1,
    };
    let v = code << 4;
    (64 - (v | 1).leading_zeros()).div_ceil(7) as i64
}

/// Pass 1, stage 2: applies resolved ops in merged order: statistics, slot assignment, encoding.
struct Stage2 {
    threads: Vec<Pass1Thread>,
    stats: Stats,
    /// Shared slots handed out so far in this process (in order of cross-thread consumption).
    next_shared: u32,
    /// Per object id: the local slot given at creation, the creation op's offset in its stream, the
    /// requested bytes and the op index (merged order) of the creation.
    obj_local: Vec<u32>,
    obj_off: Vec<u64>,
    obj_size: Vec<u64>,
    obj_birth: Vec<u64>,
    /// Ops applied so far: the index of the current op in merged order.
    clock: u64,
    keep: Keep,
    spill: Option<Spill>,
    block: usize,
    patch_budget: usize,
    patches_held: usize,
    /// First scratch-file error (writing stops there; reported after the pipeline).
    err: Option<std::io::Error>,
}

impl Stage2 {
    fn apply(&mut self, recs: &[Rec]) {
        for r in recs {
            self.stats.on_op(r.op.kind());
            let t = r.t as usize;
            // The consumed object first (a realloc may then reuse its slot).
            let consumed = r.freed.map(|f| {
                let id = f.id as usize;
                self.stats
                    .on_free(self.obj_size[id], self.clock - self.obj_birth[id]);
                let c = f.creator as usize;
                let l = self.obj_local[f.id as usize];
                let creator = &mut self.threads[c];
                // Either way the creator's local slot is free again: a shared object never touches it.
                creator.free_local.push(l);
                if !f.cross {
                    return ObjRef::Local(l);
                }
                let sh = self.next_shared;
                self.next_shared += 1;
                creator.grow += head_len(ObjRef::Shared(sh)) - head_len(ObjRef::Local(l));
                if self.keep != Keep::Count {
                    creator.patches.push((self.obj_off[f.id as usize], sh));
                    self.patches_held += 1;
                }
                if f.is_free {
                    self.stats.cross_thread_frees += 1;
                } else {
                    self.stats.cross_thread_reallocs += 1;
                }
                ObjRef::Shared(sh)
            });
            let th = &mut self.threads[t];
            let created = r.alloc.map(|(size, id)| {
                self.stats.on_alloc(size);
                let l = th.free_local.pop().unwrap_or_else(|| {
                    th.next_local += 1;
                    th.next_local - 1
                });
                let id = id as usize;
                if id >= self.obj_local.len() {
                    // Grow by a quarter: ids are dense below the peak of live objects.
                    let n = (id + 1)
                        .max(self.obj_local.len() + self.obj_local.len() / 4)
                        .max(1024);
                    self.obj_local.resize(n, 0);
                    self.obj_off.resize(n, 0);
                    self.obj_size.resize(n, 0);
                    self.obj_birth.resize(n, 0);
                }
                self.obj_local[id] = l;
                self.obj_off[id] = th.out.len();
                self.obj_size[id] = size;
                self.obj_birth[id] = self.clock;
                ObjRef::Local(l)
            });
            let op = map_op(r.op, |_, creating| {
                if creating {
                    created.expect("a creating op carries its size")
                } else {
                    consumed.expect("a consuming op carries its object")
                }
            });
            op.encode(&mut th.out.buf);
            th.out.ops += 1;
            self.clock += 1;
            if th.out.buf.len() >= self.block {
                self.flush(t);
            }
        }
        if self.patches_held >= self.patch_budget {
            self.spill_patches();
        }
    }

    /// Moves thread `t`'s held bytes out of memory (to the scratch file, or nowhere when counting).
    #[cold]
    #[inline(never)]
    fn flush(&mut self, t: usize) {
        let out = &mut self.threads[t].out;
        if out.buf.is_empty() {
            return;
        }
        match (self.keep, &mut self.spill) {
            (Keep::Memory, _) => return,
            (Keep::Spill, Some(spill)) if self.err.is_none() => match spill.append(&out.buf) {
                Ok(at) => out.extents.push((at, out.buf.len() as u32)),
                Err(e) => self.err = Some(e),
            },
            _ => {}
        }
        out.flushed += out.buf.len() as u64;
        out.buf.clear();
    }

    /// Sorts every thread's held patches and moves them to the scratch file as one run per thread.
    #[cold]
    #[inline(never)]
    fn spill_patches(&mut self) {
        let Some(spill) = &mut self.spill else {
            return;
        };
        for th in &mut self.threads {
            if th.patches.is_empty() {
                continue;
            }
            th.patches.sort_unstable();
            let mut bytes = Vec::with_capacity(th.patches.len() * PATCH_BYTES);
            for &(off, sh) in &th.patches {
                bytes.extend_from_slice(&off.to_le_bytes());
                bytes.extend_from_slice(&sh.to_le_bytes());
            }
            if self.err.is_none() {
                match spill.append(&bytes) {
                    Ok(at) => th.runs.push((at, th.patches.len() as u64)),
                    Err(e) => self.err = Some(e),
                }
            }
            th.patches = Vec::new();
        }
        self.patches_held = 0;
    }

    /// End of pass 1: streams and patch runs complete (in the scratch file when spilling).
    fn close(&mut self) {
        for t in 0..self.threads.len() {
            if self.keep != Keep::Memory {
                self.flush(t);
            }
        }
        if self.keep == Keep::Spill && self.threads.iter().any(|t| !t.runs.is_empty()) {
            self.spill_patches();
        }
        for th in &mut self.threads {
            th.patches.sort_unstable();
        }
    }
}

/// Bytes of one patch in a run: offset u64, shared slot u32, little-endian.
const PATCH_BYTES: usize = 12;

/// Pass-1 state of one process (stage 1: merge and address resolution).
struct Resolver {
    map: AddrMap<Entry>,
    pending: AddrMap<Pending>,
    /// Object ids free for reuse, and the next never-used one.
    free_ids: Vec<u32>,
    next_id: u32,
    /// Anomaly counts (the rest of the statistics are taken by stage 2).
    stats: Stats,
    clock: u64,
    window: u64,
    cur_alloc: Option<(u64, u32)>,
    cur_freed: Option<Freed>,
    batch: Vec<Rec>,
    sink: Sink,
}

/// Where stage 1 sends full batches: stage 2, on its own thread; empty batches come back for reuse.
struct Sink {
    tx: std::sync::mpsc::SyncSender<Vec<Rec>>,
    spare: std::sync::mpsc::Receiver<Vec<Rec>>,
}

impl Resolver {
    /// Creates an object at `addr` for thread `t`.
    #[inline]
    fn create(&mut self, t: u32, addr: u64, size: u64, ts: u64) -> ObjRef {
        let id = self.free_ids.pop().unwrap_or_else(|| {
            self.next_id += 1;
            self.next_id - 1
        });
        self.cur_alloc = Some((size, id));
        let fresh = Entry { creator: t, id };
        if let Some(old) = self.map.insert(addr, fresh) {
            if old.id != DEAD {
                self.displace(addr, old, ts, t);
            }
        }
        ObjRef::Local(0)
    }

    #[cold]
    #[inline(never)]
    fn displace(&mut self, addr: u64, old: Entry, ts: u64, by: u32) {
        if self
            .pending
            .insert(addr, Pending { entry: old, ts, by })
            .is_some()
        {
            self.stats.missing_frees += 1;
        }
    }

    /// Consumes the object at `addr` on behalf of thread `t`. `None`: unknown or double free (counted).
    #[inline]
    fn consume(&mut self, t: u32, addr: u64, ts: u64, is_free: bool) -> Option<ObjRef> {
        if !self.pending.is_empty() {
            if let Some(e) = self.consume_pending(t, addr, ts) {
                return Some(self.finish_consume(t, e, is_free));
            }
        }
        match self.map.get_mut(&addr) {
            Some(e) if e.id != DEAD => {
                let live = *e;
                e.id = DEAD;
                Some(self.finish_consume(t, live, is_free))
            }
            Some(_) => {
                self.stats.double_frees += 1;
                None
            }
            None => {
                self.stats.unknown_frees += 1;
                None
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn consume_pending(&mut self, t: u32, addr: u64, ts: u64) -> Option<Entry> {
        let p = *self.pending.get(&addr)?;
        let in_window = ts.saturating_sub(p.ts) <= self.window;
        if in_window && t != p.by {
            self.pending.remove(&addr);
            self.stats.inversions_repaired += 1;
            return Some(p.entry);
        }
        if !in_window {
            self.pending.remove(&addr);
            self.stats.missing_frees += 1;
        }
        None
    }

    #[inline]
    fn finish_consume(&mut self, t: u32, e: Entry, is_free: bool) -> ObjRef {
        let cross = e.creator != t;
        self.cur_freed = Some(Freed {
            creator: e.creator,
            id: e.id,
            cross,
            is_free,
        });
        // Stage 2 reads the id's slot before any later creation reuses it (batches keep their order).
        self.free_ids.push(e.id);
        ObjRef::Local(0)
    }

    #[inline]
    fn emit(&mut self, t: u32, op: StoredOp) {
        self.batch.push(Rec {
            t,
            op,
            alloc: self.cur_alloc.take(),
            freed: self.cur_freed.take(),
        });
        self.clock += 1;
        if self.batch.len() == BATCH {
            self.flush();
        }
    }

    /// Hands the batch to stage 2.
    #[cold]
    #[inline(never)]
    fn flush(&mut self) {
        let mut next = self
            .sink
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH));
        next.clear();
        let full = std::mem::replace(&mut self.batch, next);
        // A send fails only if stage 2 died, which the join reports.
        let _ = self.sink.tx.send(full);
    }

    /// Resolves one event of thread `t`.
    #[inline]
    fn event(&mut self, t: u32, ev: &Event) {
        let ts = ev.ts_ns;
        match ev.op {
            Op::Malloc { size, ptr } => {
                if ptr == 0 {
                    return self.failed();
                }
                let obj = self.create(t, ptr, size, ts);
                self.emit(t, StoredOp::Malloc { obj, size });
            }
            Op::Free { ptr } => {
                if ptr == 0 {
                    self.stats.null_frees += 1;
                    return;
                }
                if let Some(obj) = self.consume(t, ptr, ts, true) {
                    self.emit(t, StoredOp::Free { obj });
                }
            }
            Op::Calloc { nmemb, size, ptr } => {
                if ptr == 0 {
                    return self.failed();
                }
                let obj = self.create(t, ptr, nmemb.saturating_mul(size), ts);
                self.emit(t, StoredOp::Calloc { obj, nmemb, size });
            }
            Op::Realloc { old, size, new } => self.realloc(t, ts, old, new, 1, size, false),
            Op::ReallocArray {
                old,
                nmemb,
                size,
                new,
            } => self.realloc(t, ts, old, new, nmemb, size, true),
            Op::FreeSized { ptr, size } => {
                if ptr == 0 {
                    self.stats.null_frees += 1;
                    return;
                }
                if let Some(obj) = self.consume(t, ptr, ts, true) {
                    self.emit(t, StoredOp::FreeSized { obj, size });
                }
            }
            Op::FreeAlignedSized { ptr, align, size } => {
                if ptr == 0 {
                    self.stats.null_frees += 1;
                    return;
                }
                if let Some(obj) = self.consume(t, ptr, ts, true) {
                    self.emit(t, StoredOp::FreeAlignedSized { obj, align, size });
                }
            }
            Op::PosixMemalign {
                align,
                size,
                ptr,
                ret,
            } => {
                if ptr == 0 || ret != 0 {
                    return self.failed();
                }
                let obj = self.create(t, ptr, size, ts);
                self.emit(t, StoredOp::PosixMemalign { obj, align, size });
            }
            Op::AlignedAlloc { align, size, ptr } => {
                if ptr == 0 {
                    return self.failed();
                }
                let obj = self.create(t, ptr, size, ts);
                self.emit(t, StoredOp::AlignedAlloc { obj, align, size });
            }
            Op::Memalign { align, size, ptr } => {
                if ptr == 0 {
                    return self.failed();
                }
                let obj = self.create(t, ptr, size, ts);
                self.emit(t, StoredOp::Memalign { obj, align, size });
            }
            Op::Valloc { size, ptr } => {
                if ptr == 0 {
                    return self.failed();
                }
                let obj = self.create(t, ptr, size, ts);
                self.emit(t, StoredOp::Valloc { obj, size });
            }
            Op::Pvalloc { size, ptr } => {
                if ptr == 0 {
                    return self.failed();
                }
                let obj = self.create(t, ptr, size, ts);
                self.emit(t, StoredOp::Pvalloc { obj, size });
            }
            Op::ThreadStart | Op::ThreadExit | Op::Fork { .. } | Op::Exec => {}
        }
    }

    #[cold]
    fn failed(&mut self) {
        self.stats.failed_allocs += 1;
    }

    /// realloc / reallocarray (`nmemb = 1` for realloc).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn realloc(&mut self, t: u32, ts: u64, old: u64, new: u64, nmemb: u64, size: u64, array: bool) {
        let bytes = nmemb.saturating_mul(size);
        if new == 0 {
            if old != 0 && bytes == 0 {
                // glibc: realloc(p, 0) frees p and returns NULL. Replay it as the free it was.
                if let Some(obj) = self.consume(t, old, ts, true) {
                    self.stats.realloc_zero_frees += 1;
                    self.emit(t, StoredOp::Free { obj });
                }
            } else {
                // Failed: the old block (if any) stays live.
                self.failed();
            }
            return;
        }
        let old_ref = if old == 0 {
            None
        } else {
            self.consume(t, old, ts, false)
        };
        let obj = self.create(t, new, bytes, ts);
        let op = if array {
            StoredOp::ReallocArray {
                old: old_ref,
                new: obj,
                nmemb,
                size,
            }
        } else {
            StoredOp::Realloc {
                old: old_ref,
                new: obj,
                size,
            }
        };
        self.emit(t, op);
    }
}

/// Resolved ops handed from stage 1 to stage 2 in batches of this many (recycled).
const BATCH: usize = 1024;

/// Pass 1 for one process, a pipeline of three threads handing recycled batches along: stage 0 decodes and
/// merges the threads' events by time, stage 1 (this thread) resolves addresses, stage 2 takes statistics,
/// sharing marks and encodes.
fn resolve<I: Iterator<Item = Event> + Send>(
    proc_: ProcessStreams<I>,
    opts: &CompileOptions,
    keep: Keep,
    spill: Option<Spill>,
) -> Result<Resolved, std::io::Error> {
    let pid = proc_.pid;
    let (tids, iters): (Vec<u32>, Vec<I>) =
        proc_.threads.into_iter().map(|t| (t.tid, t.events)).unzip();
    let stage2 = Stage2 {
        threads: tids
            .iter()
            .map(|&tid| Pass1Thread {
                tid,
                out: Stream::default(),
                free_local: Vec::new(),
                next_local: 0,
                runs: Vec::new(),
                patches: Vec::new(),
                grow: 0,
            })
            .collect(),
        stats: Stats::default(),
        next_shared: 0,
        obj_local: Vec::new(),
        obj_off: Vec::new(),
        obj_size: Vec::new(),
        obj_birth: Vec::new(),
        clock: 0,
        keep,
        spill,
        block: if keep == Keep::Memory {
            usize::MAX
        } else {
            opts.stream.block.max(1)
        },
        patch_budget: if keep == Keep::Spill {
            opts.stream.patch_budget.max(1)
        } else {
            usize::MAX
        },
        patches_held: 0,
        err: None,
    };
    std::thread::scope(|sc| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Rec>>(16);
        let (back, spare) = std::sync::mpsc::sync_channel::<Vec<Rec>>(18);
        let worker = sc.spawn(move || {
            let mut st = stage2;
            for batch in rx {
                st.apply(&batch);
                let _ = back.try_send(batch);
            }
            st.close();
            st
        });
        let r = Resolver {
            map: AddrMap::default(),
            pending: AddrMap::default(),
            free_ids: Vec::new(),
            next_id: 0,
            stats: Stats::default(),
            clock: 0,
            window: opts.inversion_window_ns,
            cur_alloc: None,
            cur_freed: None,
            batch: Vec::with_capacity(BATCH),
            sink: Sink { tx, spare },
        };
        // Stage 0 (decode + merge) on its own thread, feeding stage 1 here in recycled batches.
        let (tx0, rx0) = std::sync::mpsc::sync_channel::<Vec<(u32, Event)>>(16);
        let (back0, spare0) = std::sync::mpsc::sync_channel::<Vec<(u32, Event)>>(18);
        let merger = sc.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            let n = merge(iters, |t, ev| {
                batch.push((t, *ev));
                if batch.len() == BATCH {
                    let mut next = spare0
                        .try_recv()
                        .unwrap_or_else(|_| Vec::with_capacity(BATCH));
                    next.clear();
                    let _ = tx0.send(std::mem::replace(&mut batch, next));
                }
            });
            let _ = tx0.send(batch);
            n
        });
        let mut r = r;
        for batch in rx0 {
            for (t, ev) in &batch {
                r.event(*t, ev);
            }
            let _ = back0.try_send(batch);
        }
        let events = match merger.join() {
            Ok(n) => n,
            Err(e) => std::panic::resume_unwind(e),
        };
        r.stats.missing_frees += r.pending.len() as u64;
        r.flush();
        drop(r.sink);
        let mut st = match worker.join() {
            Ok(st) => st,
            Err(e) => std::panic::resume_unwind(e),
        };
        if let Some(e) = st.err.take() {
            return Err(e);
        }
        let mut stats = st.stats;
        stats.merge(&r.stats);
        Ok(Resolved {
            pid,
            threads: st.threads,
            shared: st.next_shared,
            stats,
            events,
            spill: st.spill,
        })
    })
}

/// Stage 0: the time merge of a process's threads, calling `f(thread, event)` in merged order. Returns the
/// number of events.
fn merge<I: Iterator<Item = Event>>(mut iters: Vec<I>, mut f: impl FnMut(u32, &Event)) -> u64 {
    let n = iters.len();
    let mut events = 0u64;
    // Heads: the next event of each thread, and its timestamp in a compact array (u64::MAX = exhausted;
    // an event really stamped u64::MAX is still delivered: `live` says which heads hold one).
    let mut heads: Vec<Event> = Vec::with_capacity(n);
    let mut ts: Vec<u64> = Vec::with_capacity(n);
    let mut live = 0usize;
    let mut alive: Vec<bool> = Vec::with_capacity(n);
    for it in iters.iter_mut() {
        match it.next() {
            Some(e) => {
                ts.push(e.ts_ns);
                heads.push(e);
                alive.push(true);
                live += 1;
            }
            None => {
                ts.push(u64::MAX);
                heads.push(Event {
                    ts_ns: u64::MAX,
                    tid: 0,
                    op: crate::event::Op::ThreadExit,
                });
                alive.push(false);
            }
        }
    }
    while live > 0 {
        // Earliest head (ties: lower index) and the earliest among the others, as (ts, index) pairs; the
        // chosen thread then runs until it passes that limit. Two scans of a compact array per run.
        let mut t = usize::MAX;
        let mut best = (u64::MAX, usize::MAX);
        for i in 0..n {
            if alive[i] && (ts[i], i) < best {
                best = (ts[i], i);
                t = i;
            }
        }
        let mut limit = (u64::MAX, usize::MAX);
        for i in 0..n {
            if i != t && alive[i] && (ts[i], i) < limit {
                limit = (ts[i], i);
            }
        }
        let it = &mut iters[t];
        loop {
            events += 1;
            f(t as u32, &heads[t]);
            match it.next() {
                Some(e) => {
                    ts[t] = e.ts_ns;
                    heads[t] = e;
                    if (e.ts_ns, t) > limit {
                        break;
                    }
                }
                None => {
                    alive[t] = false;
                    ts[t] = u64::MAX;
                    live -= 1;
                    break;
                }
            }
        }
    }
    events
}

/// Reads one sorted patch run back from the scratch file, a block at a time.
struct RunReader<'a> {
    spill: &'a Spill,
    off: u64,
    left: u64,
    buf: Vec<(u64, u32)>,
    pos: usize,
}

impl RunReader<'_> {
    fn next(&mut self) -> std::io::Result<Option<(u64, u32)>> {
        if self.pos == self.buf.len() {
            if self.left == 0 {
                return Ok(None);
            }
            let n = self.left.min(4096) as usize;
            let mut bytes = vec![0u8; n * PATCH_BYTES];
            self.spill.read_at(&mut bytes, self.off)?;
            self.off += bytes.len() as u64;
            self.left -= n as u64;
            self.buf.clear();
            self.pos = 0;
            for c in bytes.chunks_exact(PATCH_BYTES) {
                let off = u64::from_le_bytes(c[..8].try_into().expect("8 bytes"));
                let sh = u32::from_le_bytes(c[8..].try_into().expect("4 bytes"));
                self.buf.push((off, sh));
            }
        }
        self.pos += 1;
        Ok(Some(self.buf[self.pos - 1]))
    }
}

/// A thread's patches in offset order: the runs in the scratch file merged with the held (sorted) list.
struct Patches<'a> {
    runs: Vec<RunReader<'a>>,
    heap: std::collections::BinaryHeap<std::cmp::Reverse<(u64, u32, usize)>>,
    held: std::iter::Peekable<std::slice::Iter<'a, (u64, u32)>>,
}

impl<'a> Patches<'a> {
    fn new(th: &'a Pass1Thread, spill: Option<&'a Spill>) -> std::io::Result<Self> {
        let mut p = Patches {
            runs: Vec::new(),
            heap: std::collections::BinaryHeap::new(),
            held: th.patches.iter().peekable(),
        };
        if let Some(spill) = spill {
            for &(off, left) in &th.runs {
                let mut r = RunReader {
                    spill,
                    off,
                    left,
                    buf: Vec::new(),
                    pos: 0,
                };
                if let Some((o, sh)) = r.next()? {
                    p.heap.push(std::cmp::Reverse((o, sh, p.runs.len())));
                }
                p.runs.push(r);
            }
        }
        Ok(p)
    }

    /// The next patch (smallest offset) without taking it.
    #[inline]
    fn peek(&mut self) -> Option<(u64, u32)> {
        let run = self.heap.peek().map(|r| (r.0 .0, r.0 .1));
        let held = self.held.peek().map(|&&p| p);
        match (run, held) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Takes the patch [`Patches::peek`] returned.
    fn take(&mut self) -> std::io::Result<()> {
        let run = self.heap.peek().map(|r| r.0 .0);
        let held = self.held.peek().map(|p| p.0);
        match (run, held) {
            (Some(a), Some(b)) if b < a => {
                self.held.next();
            }
            (Some(_), _) => {
                let std::cmp::Reverse((_, _, i)) = self.heap.pop().expect("peeked");
                if let Some((o, sh)) = self.runs[i].next()? {
                    self.heap.push(std::cmp::Reverse((o, sh, i)));
                }
            }
            (None, _) => {
                self.held.next();
            }
        }
        Ok(())
    }
}

/// Bytes pass 2 accumulates before handing them to its sink.
const OUT_BLOCK: usize = 1 << 20;

/// Pass 2 for one thread: streams its pass-1 bytes (scratch-file extents, then the held block), rewrites
/// the creation ops of shared objects into their shared slots and adds the process's shared base to every
/// shared slot, handing the result to `sink` in blocks. With base 0 (one process, or the first) the bytes
/// between patches are copied as they are: the cost is a copy plus one re-encoding per shared object.
fn rewrite(
    th: &Pass1Thread,
    spill: Option<&Spill>,
    base: u32,
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut patches = Patches::new(th, spill)?;
    let mut out: Vec<u8> = Vec::with_capacity(OUT_BLOCK + 64);
    let mut block = Vec::new();
    let mut start = 0u64;
    let shift = |r: ObjRef| match r {
        ObjRef::Shared(i) => ObjRef::Shared(i + base),
        l => l,
    };
    let corrupt = |e| std::io::Error::other(format!("compiler scratch data does not decode: {e}"));
    let pieces = th.out.extents.len() + 1;
    for piece in 0..pieces {
        let bytes: &[u8] = if piece < th.out.extents.len() {
            let (at, len) = th.out.extents[piece];
            let spill = spill.expect("extents live in the scratch file");
            block.resize(len as usize, 0);
            spill.read_at(&mut block, at)?;
            &block
        } else {
            &th.out.buf
        };
        let end = start + bytes.len() as u64;
        let mut pos = 0usize;
        if base == 0 {
            while let Some((off, sh)) = patches.peek() {
                if off >= end {
                    break;
                }
                patches.take()?;
                let at = (off - start) as usize;
                out.extend_from_slice(&bytes[pos..at]);
                let mut p = at;
                let op = StoredOp::decode(bytes, &mut p).map_err(corrupt)?;
                map_op(
                    op,
                    |r, creating| if creating { ObjRef::Shared(sh) } else { r },
                )
                .encode(&mut out);
                pos = p;
                if out.len() >= OUT_BLOCK {
                    sink(&out)?;
                    out.clear();
                }
            }
            out.extend_from_slice(&bytes[pos..]);
        } else {
            while pos < bytes.len() {
                let at = start + pos as u64;
                let op = StoredOp::decode(bytes, &mut pos).map_err(corrupt)?;
                let sh = match patches.peek() {
                    Some((off, sh)) if off == at => {
                        patches.take()?;
                        Some(sh)
                    }
                    _ => None,
                };
                map_op(op, |r, creating| match (creating, sh) {
                    (true, Some(sh)) => ObjRef::Shared(sh + base),
                    _ => shift(r),
                })
                .encode(&mut out);
                if out.len() >= OUT_BLOCK {
                    sink(&out)?;
                    out.clear();
                }
            }
        }
        if out.len() >= OUT_BLOCK {
            sink(&out)?;
            out.clear();
        }
        start = end;
    }
    if !out.is_empty() {
        sink(&out)?;
    }
    Ok(())
}

/// Applies `f(ref, creating)` to an op's references, the consumed one first (so a realloc can reuse the
/// slot it frees).
#[inline]
fn map_op(op: StoredOp, mut f: impl FnMut(ObjRef, bool) -> ObjRef) -> StoredOp {
    match op {
        StoredOp::Malloc { obj, size } => StoredOp::Malloc {
            obj: f(obj, true),
            size,
        },
        StoredOp::Calloc { obj, nmemb, size } => StoredOp::Calloc {
            obj: f(obj, true),
            nmemb,
            size,
        },
        StoredOp::Realloc { old, new, size } => {
            let old = old.map(|o| f(o, false));
            StoredOp::Realloc {
                old,
                new: f(new, true),
                size,
            }
        }
        StoredOp::ReallocArray {
            old,
            new,
            nmemb,
            size,
        } => {
            let old = old.map(|o| f(o, false));
            StoredOp::ReallocArray {
                old,
                new: f(new, true),
                nmemb,
                size,
            }
        }
        StoredOp::Free { obj } => StoredOp::Free { obj: f(obj, false) },
        StoredOp::FreeSized { obj, size } => StoredOp::FreeSized {
            obj: f(obj, false),
            size,
        },
        StoredOp::FreeAlignedSized { obj, align, size } => StoredOp::FreeAlignedSized {
            obj: f(obj, false),
            align,
            size,
        },
        StoredOp::PosixMemalign { obj, align, size } => StoredOp::PosixMemalign {
            obj: f(obj, true),
            align,
            size,
        },
        StoredOp::AlignedAlloc { obj, align, size } => StoredOp::AlignedAlloc {
            obj: f(obj, true),
            align,
            size,
        },
        StoredOp::Memalign { obj, align, size } => StoredOp::Memalign {
            obj: f(obj, true),
            align,
            size,
        },
        StoredOp::Valloc { obj, size } => StoredOp::Valloc {
            obj: f(obj, true),
            size,
        },
        StoredOp::Pvalloc { obj, size } => StoredOp::Pvalloc {
            obj: f(obj, true),
            size,
        },
    }
}

/// Compiles recorded processes (each a set of per-thread event streams) into one workload in memory:
/// threads of the first process first. `source` is stored as the workload's provenance.
pub fn compile<I>(
    processes: Vec<ProcessStreams<I>>,
    opts: &CompileOptions,
    source: &str,
) -> Result<Compiled, CompileError>
where
    I: Iterator<Item = Event> + Send,
{
    let t = std::time::Instant::now();
    let resolved: Vec<Resolved> = processes
        .into_par_iter()
        .map(|p| resolve(p, opts, Keep::Memory, None))
        .collect::<Result<_, _>>()
        .map_err(|cause| CompileError::Spill {
            dir: PathBuf::from("(memory)"),
            cause,
        })?;
    let phases = vec![("resolve", t.elapsed().as_secs_f64())];
    finish_memory(resolved, source, Vec::new(), phases)
}

/// Shared-slot base of each process (processes one after the other), after checking the total fits.
fn shared_bases(resolved: &[Resolved]) -> Result<Vec<u32>, CompileError> {
    let mut bases = Vec::with_capacity(resolved.len());
    let mut total_shared = 0u64;
    for r in resolved {
        bases.push(total_shared as u32);
        total_shared += r.shared as u64;
        if total_shared > u32::MAX as u64 - 1 {
            return Err(CompileError::TooLarge(format!(
                "{total_shared} cross-thread objects exceed 2^32 slots"
            )));
        }
    }
    Ok(bases)
}

/// Threads that go into the workload, as (process, thread): those whose every event was dropped
/// (markers only, unknown frees...) are left out.
fn kept_threads(resolved: &[Resolved]) -> Vec<(usize, usize)> {
    resolved
        .iter()
        .enumerate()
        .flat_map(|(p, r)| {
            r.threads
                .iter()
                .enumerate()
                .filter(|(_, t)| t.out.ops > 0)
                .map(move |(t, _)| (p, t))
        })
        .collect()
}

/// Statistics of all processes and the notes, in process order.
fn merged_stats(resolved: &[Resolved], notes: &mut Vec<String>) -> (Stats, u64) {
    let mut stats = Stats::default();
    let mut events = 0;
    for r in resolved {
        stats.merge(&r.stats);
        events += r.events;
    }
    if resolved.len() > 1 {
        notes.push(format!(
            "{} processes compiled side by side; peak live figures are the sum of the per-process peaks",
            resolved.len()
        ));
    }
    (stats, events)
}

/// Pass 2 in memory and assembly of a [`WorkloadWriter`].
fn finish_memory(
    resolved: Vec<Resolved>,
    source: &str,
    mut notes: Vec<String>,
    mut phases: Vec<(&'static str, f64)>,
) -> Result<Compiled, CompileError> {
    let t = std::time::Instant::now();
    let bases = shared_bases(&resolved)?;
    let jobs = kept_threads(&resolved);
    let threads: Vec<ThreadEncoder> = jobs
        .par_iter()
        .map(|&(p, t)| {
            let r = &resolved[p];
            let th = &r.threads[t];
            let mut v = Vec::with_capacity(th.out.len() as usize + th.patches.len() * 4);
            rewrite(th, r.spill.as_ref(), bases[p], &mut |b| {
                v.extend_from_slice(b);
                Ok(())
            })
            .map_err(|cause| CompileError::Spill {
                dir: PathBuf::from("(memory)"),
                cause,
            })?;
            Ok(ThreadEncoder::from_encoded(
                r.pid,
                th.tid,
                v,
                th.out.ops,
                th.next_local,
                bases[p] + r.shared,
            ))
        })
        .collect::<Result<_, CompileError>>()?;
    let (stats, events) = merged_stats(&resolved, &mut notes);
    let mut writer = WorkloadWriter::from_threads(source, threads);
    writer.stats = stats;
    writer.notes = notes;
    phases.push(("assign", t.elapsed().as_secs_f64()));
    Ok(Compiled {
        writer,
        events,
        phases,
        raw_record_bytes: 0,
    })
}

/// The workload's description after pass 1: final stream lengths are `len + grow` for the first
/// process's threads (bytes between patches are kept); later processes' shared slots shift, so their
/// lengths are measured by a dry run of pass 2 (`exact`), or left at the pass-1 length when the bytes
/// were not kept.
fn describe_resolved(
    resolved: &[Resolved],
    bases: &[u32],
    jobs: &[(usize, usize)],
    stats: Stats,
    source: &str,
    notes: Vec<String>,
) -> Result<StreamedWorkload, std::io::Error> {
    let threads = jobs
        .par_iter()
        .map(|&(p, t)| {
            let r = &resolved[p];
            let th = &r.threads[t];
            let len = if bases[p] == 0 || r.spill.is_none() {
                (th.out.len() as i64 + th.grow) as u64
            } else {
                let mut n = 0u64;
                rewrite(th, r.spill.as_ref(), bases[p], &mut |b| {
                    n += b.len() as u64;
                    Ok(())
                })?;
                n
            };
            Ok(ThreadDesc {
                pid: r.pid,
                tid: th.tid,
                ops: th.out.ops,
                local_slots: th.next_local as u64,
                shared_slots: (bases[p] + r.shared) as u64,
                len,
                checksum: 0,
            })
        })
        .collect::<Result<_, std::io::Error>>()?;
    Ok(StreamedWorkload {
        threads,
        stats,
        source: source.to_string(),
        notes,
    })
}

/// Raw traces opened in parallel, with one recovery note per file.
fn open_traces(paths: &[PathBuf]) -> Result<(Vec<RawTrace>, Vec<String>), CompileError> {
    if paths.is_empty() {
        return Err(CompileError::NoInput);
    }
    let traces: Vec<RawTrace> = paths
        .par_iter()
        .map(|p| RawTrace::open(p))
        .collect::<Result<_, _>>()?;
    let notes = traces
        .iter()
        .map(|t| {
            format!(
                "{} (pid {}): {}",
                t.path().display(),
                t.header().pid,
                t.recovery().summary()
            )
        })
        .collect();
    Ok((traces, notes))
}

/// Pass 1 over opened raw traces (in parallel), each with a scratch file in `dir` when `keep` is
/// [`Keep::Spill`].
fn resolve_traces(
    traces: &[RawTrace],
    opts: &CompileOptions,
    keep: Keep,
    dir: &Path,
) -> Result<Vec<Resolved>, CompileError> {
    let spill_err = |cause| CompileError::Spill {
        dir: dir.to_path_buf(),
        cause,
    };
    traces
        .par_iter()
        .map(|tr| {
            let threads = (0..tr.threads().len())
                .map(|i| ThreadStream {
                    tid: tr.threads()[i].tid,
                    events: tr.thread_events(i),
                })
                .collect();
            let spill = if keep == Keep::Spill {
                Some(Spill::create(dir).map_err(spill_err)?)
            } else {
                None
            };
            resolve(
                ProcessStreams {
                    pid: tr.header().pid,
                    threads,
                },
                opts,
                keep,
                spill,
            )
            .map_err(spill_err)
        })
        .collect()
}

fn source_of(paths: &[PathBuf]) -> String {
    format!(
        "hakmem compile {}",
        paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// Compiles raw trace files (one per process) into one workload in memory. Files are opened and
/// resolved in parallel; each file's recovery state (clean, or what a crash left) becomes a note in the
/// workload. For large traces use [`compile_files_to`], which writes the same bytes in bounded memory.
pub fn compile_files(paths: &[PathBuf], opts: &CompileOptions) -> Result<Compiled, CompileError> {
    let t = std::time::Instant::now();
    let (traces, notes) = open_traces(paths)?;
    let mut phases = vec![("open", t.elapsed().as_secs_f64())];
    let t = std::time::Instant::now();
    let resolved = resolve_traces(&traces, opts, Keep::Memory, Path::new("."))?;
    phases.push(("resolve", t.elapsed().as_secs_f64()));
    let mut c = finish_memory(resolved, &source_of(paths), notes, phases)?;
    c.raw_record_bytes = traces.iter().map(|t| t.record_bytes()).sum();
    Ok(c)
}

/// Compiles raw trace files (one per process) into the workload `out`, streaming: memory stays bounded
/// by the live objects and the budgets of [`StreamOptions`] (see "Memory" in the module docs), whatever
/// the number of events; scratch data goes to an unlinked file in `out`'s directory. Writes the same bytes
/// as [`compile_files`] followed by [`WorkloadWriter::write`].
pub fn compile_files_to(
    paths: &[PathBuf],
    opts: &CompileOptions,
    out: &Path,
) -> Result<CompileReport, CompileError> {
    let t = std::time::Instant::now();
    let (traces, notes) = open_traces(paths)?;
    let mut phases = vec![("open", t.elapsed().as_secs_f64())];
    let t = std::time::Instant::now();
    let dir = match out.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let resolved = resolve_traces(&traces, opts, Keep::Spill, &dir)?;
    let raw_record_bytes = traces.iter().map(|t| t.record_bytes()).sum();
    drop(traces);
    phases.push(("resolve", t.elapsed().as_secs_f64()));
    let t = std::time::Instant::now();
    let spill_err = |cause| CompileError::Spill {
        dir: dir.clone(),
        cause,
    };
    let bases = shared_bases(&resolved)?;
    let jobs = kept_threads(&resolved);
    let mut notes = notes;
    let (stats, events) = merged_stats(&resolved, &mut notes);
    let workload = describe_resolved(&resolved, &bases, &jobs, stats, &source_of(paths), notes)
        .map_err(spill_err)?;
    let summary = workload.write(out, |k, f, off| {
        use std::os::unix::fs::FileExt;
        let (p, t) = jobs[k];
        let r = &resolved[p];
        let mut pos = off;
        let mut sum = StreamChecksum::default();
        rewrite(&r.threads[t], r.spill.as_ref(), bases[p], &mut |b| {
            f.write_all_at(b, pos)?;
            pos += b.len() as u64;
            sum.update(b);
            Ok(())
        })?;
        if pos - off != workload.threads[k].len {
            return Err(std::io::Error::other(format!(
                "internal error: thread {k} stream is {} bytes, {} were announced",
                pos - off,
                workload.threads[k].len
            )));
        }
        Ok(sum.finish())
    })?;
    phases.push(("write", t.elapsed().as_secs_f64()));
    let spill_bytes = resolved
        .iter()
        .filter_map(|r| r.spill.as_ref().map(|s| s.len()))
        .max()
        .unwrap_or(0);
    Ok(CompileReport {
        summary,
        workload,
        events,
        phases,
        raw_record_bytes,
        spill_bytes,
    })
}

/// What [`compile_files_to`] would write for one raw trace, without writing anything or keeping any
/// stream bytes (what `info` runs on a raw trace): the header's statistics, threads, slots and stream
/// lengths. Memory is that of the compiler's pass 1 minus the streams.
pub fn describe_file(path: &Path, opts: &CompileOptions) -> Result<CompileReport, CompileError> {
    let paths = [path.to_path_buf()];
    let t = std::time::Instant::now();
    let (traces, mut notes) = open_traces(&paths)?;
    let mut phases = vec![("open", t.elapsed().as_secs_f64())];
    let t = std::time::Instant::now();
    let resolved = resolve_traces(&traces, opts, Keep::Count, Path::new("."))?;
    phases.push(("resolve", t.elapsed().as_secs_f64()));
    let bases = shared_bases(&resolved)?;
    let jobs = kept_threads(&resolved);
    let (stats, events) = merged_stats(&resolved, &mut notes);
    let workload = describe_resolved(&resolved, &bases, &jobs, stats, &source_of(&paths), notes)
        .map_err(|cause| CompileError::Spill {
            dir: PathBuf::from("."),
            cause,
        })?;
    Ok(CompileReport {
        summary: WriteSummary {
            bytes: 0,
            ops: 0,
            object_slots: 0,
        },
        workload,
        events,
        phases,
        raw_record_bytes: traces.iter().map(|t| t.record_bytes()).sum(),
        spill_bytes: 0,
    })
}

/// Compiles one raw trace in memory.
pub fn compile_file(path: &Path, opts: &CompileOptions) -> Result<Compiled, CompileError> {
    compile_files(&[path.to_path_buf()], opts)
}
