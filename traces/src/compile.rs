//! The compiler: recorded events (per thread, per process) → a replayable workload.
//!
//! Entry points: [`compile`] (in-memory per-thread event iterators: the core), [`compile_files`] (raw trace
//! files, one per process, through [`crate::raw::RawTrace`]). Both return a [`Compiled`] whose
//! [`WorkloadWriter`] writes the `.hkw`.
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
use crate::stats::Stats;
use crate::workload::{ObjRef, StoredOp, ThreadEncoder, WorkloadWriter};
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
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            inversion_window_ns: 10_000_000,
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

/// Result of compilation.
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

/// What is known about an address: the object that last lived there.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Thread index (in the process) that created the object.
    creator: u32,
    /// Its creation number in that thread (k-th object the thread created).
    k: u32,
    /// Still live?
    live: bool,
    /// Requested bytes.
    size: u64,
    /// Global op index at creation.
    birth: u64,
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

/// Pass-1 output of one thread: its stream in final form, except that an object later found to be
/// consumed by another thread was encoded, at creation, in a local slot: `patches` lists those creation
/// ops (byte offset, shared slot), and shared slots are numbered per process (the process's base is added
/// when several processes are compiled together).
struct Pass1Thread {
    enc: ThreadEncoder,
    /// Byte offset in `enc` of each creation op, by creation number.
    create_off: Vec<u64>,
    /// Local slot given to each creation, by creation number.
    local_of: Vec<u32>,
    /// Local slots free for reuse (LIFO), and the next never-used one.
    free_local: Vec<u32>,
    next_local: u32,
    /// Creation ops to rewrite into shared slots: (byte offset, process-relative shared slot).
    patches: Vec<(u64, u32)>,
}

/// Output of pass 1 for one process.
struct Resolved {
    threads: Vec<Pass1Thread>,
    /// Shared slots used by the process.
    shared: u32,
    stats: Stats,
    events: u64,
}

/// The consumption part of a resolved op, for the statistics and the sharing marks.
#[derive(Clone, Copy, Debug)]
struct Freed {
    size: u64,
    lifetime: u64,
    creator: u32,
    k: u32,
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
    /// Requested bytes of the object the op creates, if it creates one.
    alloc: Option<u64>,
    freed: Option<Freed>,
}

/// Pass 1, stage 2: applies resolved ops in merged order: statistics, slot assignment, encoding.
struct Stage2 {
    threads: Vec<Pass1Thread>,
    stats: Stats,
    /// Shared slots handed out so far in this process (in order of cross-thread consumption).
    next_shared: u32,
}

impl Stage2 {
    fn apply(&mut self, recs: &[Rec]) {
        for r in recs {
            self.stats.on_op(r.op.kind());
            let t = r.t as usize;
            // The consumed object first (a realloc may then reuse its slot).
            let consumed = r.freed.map(|f| {
                self.stats.on_free(f.size, f.lifetime);
                let c = f.creator as usize;
                let creator = &mut self.threads[c];
                let l = creator.local_of[f.k as usize];
                // Either way the creator's local slot is free again: a shared object never touches it.
                creator.free_local.push(l);
                if !f.cross {
                    return ObjRef::Local(l);
                }
                let sh = self.next_shared;
                self.next_shared += 1;
                let off = creator.create_off[f.k as usize];
                creator.patches.push((off, sh));
                if f.is_free {
                    self.stats.cross_thread_frees += 1;
                } else {
                    self.stats.cross_thread_reallocs += 1;
                }
                ObjRef::Shared(sh)
            });
            let th = &mut self.threads[t];
            let created = r.alloc.map(|size| {
                self.stats.on_alloc(size);
                let l = th.free_local.pop().unwrap_or_else(|| {
                    th.next_local += 1;
                    th.next_local - 1
                });
                th.local_of.push(l);
                th.create_off.push(th.enc.encoded_len() as u64);
                ObjRef::Local(l)
            });
            let op = map_op(r.op, |_, creating| {
                if creating {
                    created.expect("a creating op carries its size")
                } else {
                    consumed.expect("a consuming op carries its object")
                }
            });
            th.enc.push(&op);
        }
    }
}

/// Pass-1 state of one process (stage 1: merge and address resolution).
struct Resolver {
    map: AddrMap<Entry>,
    pending: AddrMap<Pending>,
    /// Objects created so far, per thread.
    created: Vec<u32>,
    /// Anomaly counts (the rest of the statistics are taken by stage 2).
    stats: Stats,
    clock: u64,
    window: u64,
    cur_alloc: Option<u64>,
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
        let k = self.created[t as usize];
        self.created[t as usize] += 1;
        self.cur_alloc = Some(size);
        let fresh = Entry {
            creator: t,
            k,
            live: true,
            size,
            birth: self.clock,
        };
        if let Some(old) = self.map.insert(addr, fresh) {
            if old.live {
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
            Some(e) if e.live => {
                e.live = false;
                let e = *e;
                Some(self.finish_consume(t, e, is_free))
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
            size: e.size,
            lifetime: self.clock - e.birth,
            creator: e.creator,
            k: e.k,
            cross,
            is_free,
        });
        if cross {
            ObjRef::Shared(e.k)
        } else {
            ObjRef::Local(self.created[t as usize] - 1 - e.k)
        }
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
) -> Resolved {
    let pid = proc_.pid;
    let (tids, iters): (Vec<u32>, Vec<I>) =
        proc_.threads.into_iter().map(|t| (t.tid, t.events)).unzip();
    let stage2 = Stage2 {
        threads: tids
            .iter()
            .map(|&tid| Pass1Thread {
                enc: ThreadEncoder::new(pid, tid),
                create_off: Vec::new(),
                local_of: Vec::new(),
                free_local: Vec::new(),
                next_local: 0,
                patches: Vec::new(),
            })
            .collect(),
        stats: Stats::default(),
        next_shared: 0,
    };
    let n = tids.len();
    std::thread::scope(|sc| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Rec>>(16);
        let (back, spare) = std::sync::mpsc::sync_channel::<Vec<Rec>>(18);
        let worker = sc.spawn(move || {
            let mut st = stage2;
            for batch in rx {
                st.apply(&batch);
                let _ = back.try_send(batch);
            }
            st
        });
        let r = Resolver {
            map: AddrMap::default(),
            pending: AddrMap::default(),
            created: vec![0; n],
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
        let st = match worker.join() {
            Ok(st) => st,
            Err(e) => std::panic::resume_unwind(e),
        };
        let mut stats = st.stats;
        stats.merge(&r.stats);
        Resolved {
            threads: st.threads,
            shared: st.next_shared,
            stats,
            events,
        }
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

/// Pass 2 for one thread: rewrites the creation ops of shared objects into their shared slots and adds
/// the process's shared base to every shared slot. With base 0 (one process, or the first) the bytes
/// between patches are copied as they are: the cost is a memcpy plus one re-encoding per shared object.
fn patch(th: &Pass1Thread, base: u32, shared_total: u32) -> ThreadEncoder {
    let bytes = th.enc.bytes();
    let mut patches = th.patches.clone();
    patches.sort_unstable();
    let mut out = Vec::with_capacity(bytes.len() + patches.len() * 4);
    let shift = |r: ObjRef| match r {
        ObjRef::Shared(i) => ObjRef::Shared(i + base),
        l => l,
    };
    if base == 0 {
        let mut pos = 0usize;
        for &(off, sh) in &patches {
            let off = off as usize;
            out.extend_from_slice(&bytes[pos..off]);
            let mut end = off;
            let op = StoredOp::decode(bytes, &mut end).expect("stage-2 output decodes");
            map_op(
                op,
                |r, creating| if creating { ObjRef::Shared(sh) } else { r },
            )
            .encode(&mut out);
            pos = end;
        }
        out.extend_from_slice(&bytes[pos..]);
    } else {
        let mut pos = 0usize;
        let mut next = patches.iter().peekable();
        while pos < bytes.len() {
            let at = pos as u64;
            let op = StoredOp::decode(bytes, &mut pos).expect("stage-2 output decodes");
            let sh = match next.peek() {
                Some(&&(off, sh)) if off == at => {
                    next.next();
                    Some(sh)
                }
                _ => None,
            };
            map_op(op, |r, creating| match (creating, sh) {
                (true, Some(sh)) => ObjRef::Shared(sh + base),
                _ => shift(r),
            })
            .encode(&mut out);
        }
    }
    ThreadEncoder::from_encoded(
        th.enc.pid,
        th.enc.tid,
        out,
        th.enc.ops(),
        th.next_local,
        base + shared_total,
    )
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

/// Compiles recorded processes (each a set of per-thread event streams) into one workload: threads of
/// the first process first. `source` is stored as the workload's provenance.
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
        .map(|p| resolve(p, opts))
        .collect();
    let phases = vec![("resolve", t.elapsed().as_secs_f64())];
    finish(resolved, source, Vec::new(), phases)
}

/// Pass 2 and assembly.
fn finish(
    resolved: Vec<Resolved>,
    source: &str,
    mut notes: Vec<String>,
    mut phases: Vec<(&'static str, f64)>,
) -> Result<Compiled, CompileError> {
    let t = std::time::Instant::now();
    // Shared slots: numbered per process in order of cross-thread consumption; processes one after the
    // other.
    let mut bases = Vec::with_capacity(resolved.len());
    let mut total_shared = 0u64;
    for r in &resolved {
        bases.push(total_shared);
        total_shared += r.shared as u64;
    }
    if total_shared > u32::MAX as u64 - 1 {
        return Err(CompileError::TooLarge(format!(
            "{total_shared} cross-thread objects exceed 2^32 slots"
        )));
    }
    let jobs: Vec<(usize, usize)> = resolved
        .iter()
        .enumerate()
        .flat_map(|(p, r)| (0..r.threads.len()).map(move |t| (p, t)))
        .collect();
    let encoded: Vec<ThreadEncoder> = jobs
        .par_iter()
        .map(|&(p, t)| patch(&resolved[p].threads[t], bases[p] as u32, resolved[p].shared))
        .collect();
    // Threads whose every event was dropped (markers only, unknown frees...) are left out.
    let threads: Vec<ThreadEncoder> = encoded.into_iter().filter(|e| e.ops() > 0).collect();
    let mut stats = Stats::default();
    let mut events = 0;
    for r in &resolved {
        stats.merge(&r.stats);
        events += r.events;
    }
    if resolved.len() > 1 {
        notes.push(format!(
            "{} processes compiled side by side; peak live figures are the sum of the per-process peaks",
            resolved.len()
        ));
    }
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

/// Compiles raw trace files (one per process) into one workload. Files are opened and resolved in
/// parallel; each file's recovery state (clean, or what a crash left) becomes a note in the workload.
pub fn compile_files(paths: &[PathBuf], opts: &CompileOptions) -> Result<Compiled, CompileError> {
    if paths.is_empty() {
        return Err(CompileError::NoInput);
    }
    let t = std::time::Instant::now();
    let traces: Vec<RawTrace> = paths
        .par_iter()
        .map(|p| RawTrace::open(p))
        .collect::<Result<_, _>>()?;
    let mut phases = vec![("open", t.elapsed().as_secs_f64())];
    let t = std::time::Instant::now();
    let notes: Vec<String> = traces
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
    let resolved: Vec<Resolved> = traces
        .par_iter()
        .map(|tr| {
            let threads = (0..tr.threads().len())
                .map(|i| ThreadStream {
                    tid: tr.threads()[i].tid,
                    events: tr.thread_events(i),
                })
                .collect();
            resolve(
                ProcessStreams {
                    pid: tr.header().pid,
                    threads,
                },
                opts,
            )
        })
        .collect();
    phases.push(("resolve", t.elapsed().as_secs_f64()));
    let source = format!(
        "hakmem compile {}",
        paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut c = finish(resolved, &source, notes, phases)?;
    c.raw_record_bytes = traces.iter().map(|t| t.record_bytes()).sum();
    Ok(c)
}

/// Compiles one raw trace in memory (what `info` does for raw traces).
pub fn compile_file(path: &Path, opts: &CompileOptions) -> Result<Compiled, CompileError> {
    compile_files(&[path.to_path_buf()], opts)
}
