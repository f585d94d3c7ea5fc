//! The workload format (`.hkw`): what `hakmem compile` and `hakmem gen` write and `hakmem replay` maps.
//!
//! Entry points: [`Workload::open`] (map, check, validate every stream), [`Workload::open_header`] (map and
//! check the header only: what `info` needs), [`Workload::ops`] (one thread's [`ReplayOp`]s in order),
//! [`WorkloadWriter`] (build one in memory and write it).
//!
//! # Objects and slots
//! A workload names objects by *slot*: an index into the table of pointers the replayer allocates
//! (`header().object_slots` entries; every slot in every op is `< object_slots`). Slots are laid out as
//!
//! ```text
//! [0, shared_slots)                          shared slots: objects consumed by a thread other than
//!                                            their creator; each such object has its own slot, never reused
//! [local_base(t), local_base(t)+local_slots(t))  thread t's local slots, reused by t's own objects
//! ```
//!
//! A local slot is only ever touched by its thread, so a thread reuses it freely (LIFO) once its object is
//! gone: a single-threaded workload needs as many slots as it has objects live at once (`gen random-mixed`
//! with `--ws 256` needs 256, like the live benchmark's array).
//!
//! # Sync points (cross-thread frees and reallocs)
//! An op that consumes an object in a *shared* slot (`Free*`, or `Realloc*` with `old`) carries
//! `sync: true`: before running it the replayer waits until the slot is *published*, i.e. holds a non-zero
//! pointer stored by the creating thread with `Release` (the waiter loads with `Acquire`). This is glibc
//! trace2wl's scheme. Any op creating an object in a shared slot must publish it. The global order in
//! which the workload was written is a valid sequential schedule, so waiting never deadlocks.
//!
//! # Failed calls and `realloc(p, 0)`
//! A workload never contains a recorded failure: allocations that returned NULL (and failed reallocs, which
//! leave the old block live) are dropped by the compiler and counted in [`Stats::failed_allocs`];
//! `free(NULL)` is dropped and counted in [`Stats::null_frees`]. A recorded `realloc(p, 0)` that returned
//! NULL (glibc frees `p`) is stored as `Free` of `p` and counted in [`Stats::realloc_zero_frees`], so
//! every allocator replays it the same way. A `Realloc` with `size: 0` therefore only occurs when the
//! recorded allocator returned a pointer; if the replayed allocator returns NULL for it, that is valid
//! (the slot becomes empty, later frees of it are `free(NULL)`). Any *other* NULL returned during replay
//! is an allocation failure of the replayed allocator: the replayer must still publish something non-zero
//! into a shared slot (or otherwise release waiters) so that a waiting thread does not hang.
//!
//! # File layout (all integers little-endian)
//! ```text
//! 0        8        12           16            24                     24+header_len
//! | magic  | version| header_len | header_csum | header (bincode,     | thread 0 ops | thread 1 ops | ...
//! |"HKWLOAD\0"      |   u32      |    u64      |  fixint, Header)     |  (varints, see below)
//! ```
//! Each thread's stream is `ops` consecutive records; `offset`, `len` and `checksum` are in the header.
//!
//! ## Op record
//! ```text
//! head  = varint( code << 4 | kind )      code = slot_index << 1 | shared      kind = KIND_* (0..=11)
//! Malloc, Valloc, Pvalloc          head(obj) size
//! Calloc                           head(obj) nmemb size
//! Realloc                          head(new) old_code+1 (0 = NULL) size
//! ReallocArray                     head(new) old_code+1 nmemb size
//! Free                             head(obj)
//! FreeSized                        head(obj) size
//! FreeAlignedSized                 head(obj) align size
//! PosixMemalign, AlignedAlloc, Memalign   head(obj) align size
//! ```
//! `slot_index` is the local slot (relative to the thread's `local_base`) when `shared = 0`, else the
//! shared slot. A malloc of a small local slot with a size below 2^14 takes 4 bytes, a free 2.

use crate::event::CallKind;
use crate::stats::Stats;
use crate::varint::{self, VarintError};
use memmap2::Mmap;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::path::{Path, PathBuf};

/// First 8 bytes of every workload file.
pub const MAGIC: [u8; 8] = *b"HKWLOAD\0";
/// Version of the workload layout this crate reads and writes.
pub const VERSION: u32 = 1;
/// Bytes before the header.
pub const PREAMBLE_LEN: usize = 24;
/// Largest header accepted (a corrupt length must not make us allocate gigabytes).
const MAX_HEADER_LEN: u64 = 64 << 20;

const KIND_MALLOC: u64 = 0;
const KIND_CALLOC: u64 = 1;
const KIND_REALLOC: u64 = 2;
const KIND_REALLOCARRAY: u64 = 3;
const KIND_FREE: u64 = 4;
const KIND_FREE_SIZED: u64 = 5;
const KIND_FREE_ALIGNED_SIZED: u64 = 6;
const KIND_POSIX_MEMALIGN: u64 = 7;
const KIND_ALIGNED_ALLOC: u64 = 8;
const KIND_MEMALIGN: u64 = 9;
const KIND_VALLOC: u64 = 10;
const KIND_PVALLOC: u64 = 11;

/// A reference to an object as stored and as written: a slot of the writing thread, or a shared slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjRef {
    /// Local slot `i` of the thread whose stream holds the op.
    Local(u32),
    /// Shared slot `i` (published by its creator; consuming it is a sync point).
    Shared(u32),
}

impl ObjRef {
    #[inline]
    fn code(self) -> u64 {
        match self {
            ObjRef::Local(i) => (i as u64) << 1,
            ObjRef::Shared(i) => ((i as u64) << 1) | 1,
        }
    }

    #[inline]
    fn from_code(code: u64) -> Option<ObjRef> {
        let idx = u32::try_from(code >> 1).ok()?;
        Some(if code & 1 == 0 {
            ObjRef::Local(idx)
        } else {
            ObjRef::Shared(idx)
        })
    }
}

/// One op as the writer takes it and as it is stored: objects are [`ObjRef`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // fields are the C arguments, named as in `man 3 malloc`
pub enum StoredOp {
    /// `obj = malloc(size)`
    Malloc { obj: ObjRef, size: u64 },
    /// `obj = calloc(nmemb, size)`
    Calloc { obj: ObjRef, nmemb: u64, size: u64 },
    /// `new = realloc(old, size)`; `old = None` is `realloc(NULL, size)`.
    Realloc {
        old: Option<ObjRef>,
        new: ObjRef,
        size: u64,
    },
    /// `new = reallocarray(old, nmemb, size)`
    ReallocArray {
        old: Option<ObjRef>,
        new: ObjRef,
        nmemb: u64,
        size: u64,
    },
    /// `free(obj)`
    Free { obj: ObjRef },
    /// `free_sized(obj, size)`
    FreeSized { obj: ObjRef, size: u64 },
    /// `free_aligned_sized(obj, align, size)`
    FreeAlignedSized { obj: ObjRef, align: u64, size: u64 },
    /// `posix_memalign(&obj, align, size)`
    PosixMemalign { obj: ObjRef, align: u64, size: u64 },
    /// `obj = aligned_alloc(align, size)`
    AlignedAlloc { obj: ObjRef, align: u64, size: u64 },
    /// `obj = memalign(align, size)`
    Memalign { obj: ObjRef, align: u64, size: u64 },
    /// `obj = valloc(size)`
    Valloc { obj: ObjRef, size: u64 },
    /// `obj = pvalloc(size)`
    Pvalloc { obj: ObjRef, size: u64 },
}

impl StoredOp {
    /// The allocator call.
    pub fn kind(&self) -> CallKind {
        match self {
            StoredOp::Malloc { .. } => CallKind::Malloc,
            StoredOp::Calloc { .. } => CallKind::Calloc,
            StoredOp::Realloc { .. } => CallKind::Realloc,
            StoredOp::ReallocArray { .. } => CallKind::Reallocarray,
            StoredOp::Free { .. }
            | StoredOp::FreeSized { .. }
            | StoredOp::FreeAlignedSized { .. } => CallKind::Free,
            StoredOp::PosixMemalign { .. } => CallKind::PosixMemalign,
            StoredOp::AlignedAlloc { .. } => CallKind::AlignedAlloc,
            StoredOp::Memalign { .. } => CallKind::Memalign,
            StoredOp::Valloc { .. } => CallKind::Valloc,
            StoredOp::Pvalloc { .. } => CallKind::Pvalloc,
        }
    }

    /// The object this op creates, if any.
    pub fn created(&self) -> Option<ObjRef> {
        match *self {
            StoredOp::Malloc { obj, .. }
            | StoredOp::Calloc { obj, .. }
            | StoredOp::PosixMemalign { obj, .. }
            | StoredOp::AlignedAlloc { obj, .. }
            | StoredOp::Memalign { obj, .. }
            | StoredOp::Valloc { obj, .. }
            | StoredOp::Pvalloc { obj, .. } => Some(obj),
            StoredOp::Realloc { new, .. } | StoredOp::ReallocArray { new, .. } => Some(new),
            StoredOp::Free { .. }
            | StoredOp::FreeSized { .. }
            | StoredOp::FreeAlignedSized { .. } => None,
        }
    }

    /// The object this op consumes (frees or reallocates away), if any.
    pub fn consumed(&self) -> Option<ObjRef> {
        match *self {
            StoredOp::Free { obj }
            | StoredOp::FreeSized { obj, .. }
            | StoredOp::FreeAlignedSized { obj, .. } => Some(obj),
            StoredOp::Realloc { old, .. } | StoredOp::ReallocArray { old, .. } => old,
            _ => None,
        }
    }

    /// Appends the encoding of this op to `out` (layout in the module docs).
    #[inline]
    pub fn encode(&self, out: &mut Vec<u8>) {
        #[inline(always)]
        fn head(out: &mut Vec<u8>, obj: ObjRef, kind: u64) {
            varint::put(out, (obj.code() << 4) | kind);
        }
        #[inline(always)]
        fn old_code(old: Option<ObjRef>) -> u64 {
            old.map_or(0, |o| o.code() + 1)
        }
        match *self {
            StoredOp::Malloc { obj, size } => {
                head(out, obj, KIND_MALLOC);
                varint::put(out, size);
            }
            StoredOp::Calloc { obj, nmemb, size } => {
                head(out, obj, KIND_CALLOC);
                varint::put(out, nmemb);
                varint::put(out, size);
            }
            StoredOp::Realloc { old, new, size } => {
                head(out, new, KIND_REALLOC);
                varint::put(out, old_code(old));
                varint::put(out, size);
            }
            StoredOp::ReallocArray {
                old,
                new,
                nmemb,
                size,
            } => {
                head(out, new, KIND_REALLOCARRAY);
                varint::put(out, old_code(old));
                varint::put(out, nmemb);
                varint::put(out, size);
            }
            StoredOp::Free { obj } => head(out, obj, KIND_FREE),
            StoredOp::FreeSized { obj, size } => {
                head(out, obj, KIND_FREE_SIZED);
                varint::put(out, size);
            }
            StoredOp::FreeAlignedSized { obj, align, size } => {
                head(out, obj, KIND_FREE_ALIGNED_SIZED);
                varint::put(out, align);
                varint::put(out, size);
            }
            StoredOp::PosixMemalign { obj, align, size } => {
                head(out, obj, KIND_POSIX_MEMALIGN);
                varint::put(out, align);
                varint::put(out, size);
            }
            StoredOp::AlignedAlloc { obj, align, size } => {
                head(out, obj, KIND_ALIGNED_ALLOC);
                varint::put(out, align);
                varint::put(out, size);
            }
            StoredOp::Memalign { obj, align, size } => {
                head(out, obj, KIND_MEMALIGN);
                varint::put(out, align);
                varint::put(out, size);
            }
            StoredOp::Valloc { obj, size } => {
                head(out, obj, KIND_VALLOC);
                varint::put(out, size);
            }
            StoredOp::Pvalloc { obj, size } => {
                head(out, obj, KIND_PVALLOC);
                varint::put(out, size);
            }
        }
    }

    /// Decodes one op at `*pos`, advancing it.
    #[inline]
    pub fn decode(buf: &[u8], pos: &mut usize) -> Result<StoredOp, DecodeError> {
        let h = varint::get(buf, pos)?;
        let obj = ObjRef::from_code(h >> 4).ok_or(DecodeError::SlotOverflow)?;
        let mut num = || varint::get(buf, pos);
        Ok(match h & 15 {
            KIND_MALLOC => StoredOp::Malloc { obj, size: num()? },
            KIND_CALLOC => StoredOp::Calloc {
                obj,
                nmemb: num()?,
                size: num()?,
            },
            KIND_REALLOC => {
                let old = decode_old(num()?)?;
                StoredOp::Realloc {
                    old,
                    new: obj,
                    size: num()?,
                }
            }
            KIND_REALLOCARRAY => {
                let old = decode_old(num()?)?;
                StoredOp::ReallocArray {
                    old,
                    new: obj,
                    nmemb: num()?,
                    size: num()?,
                }
            }
            KIND_FREE => StoredOp::Free { obj },
            KIND_FREE_SIZED => StoredOp::FreeSized { obj, size: num()? },
            KIND_FREE_ALIGNED_SIZED => StoredOp::FreeAlignedSized {
                obj,
                align: num()?,
                size: num()?,
            },
            KIND_POSIX_MEMALIGN => StoredOp::PosixMemalign {
                obj,
                align: num()?,
                size: num()?,
            },
            KIND_ALIGNED_ALLOC => StoredOp::AlignedAlloc {
                obj,
                align: num()?,
                size: num()?,
            },
            KIND_MEMALIGN => StoredOp::Memalign {
                obj,
                align: num()?,
                size: num()?,
            },
            KIND_VALLOC => StoredOp::Valloc { obj, size: num()? },
            KIND_PVALLOC => StoredOp::Pvalloc { obj, size: num()? },
            k => return Err(DecodeError::BadKind(k as u8)),
        })
    }
}

#[inline]
fn decode_old(v: u64) -> Result<Option<ObjRef>, DecodeError> {
    if v == 0 {
        Ok(None)
    } else {
        ObjRef::from_code(v - 1)
            .map(Some)
            .ok_or(DecodeError::SlotOverflow)
    }
}

/// Why an op record could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The stream ended inside a record.
    #[error("record truncated")]
    Truncated,
    /// A number longer than 64 bits.
    #[error("number overflows 64 bits")]
    Overflow,
    /// A kind code this version does not know.
    #[error("unknown op kind {0}")]
    BadKind(u8),
    /// A slot index beyond 32 bits.
    #[error("slot index overflows 32 bits")]
    SlotOverflow,
}

impl From<VarintError> for DecodeError {
    fn from(e: VarintError) -> Self {
        match e {
            VarintError::Truncated => DecodeError::Truncated,
            VarintError::Overflow => DecodeError::Overflow,
        }
    }
}

/// One op as the replayer runs it: objects are global slots (`< object_slots`).
///
/// `sync: true` marks an op consuming an object in a shared slot: wait for the slot to be published first
/// (see the module docs). Creating ops whose slot is `< shared_slots` must publish with `Release`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // fields are the C arguments, named as in `man 3 malloc`
pub enum ReplayOp {
    /// `slot[obj] = malloc(size)`
    Malloc { obj: u32, size: u64 },
    /// `slot[obj] = calloc(nmemb, size)`
    Calloc { obj: u32, nmemb: u64, size: u64 },
    /// `slot[new] = realloc(old.map_or(NULL, |o| slot[o]), size)`; `new` may equal `old`.
    Realloc {
        old: Option<u32>,
        new: u32,
        size: u64,
        sync: bool,
    },
    /// `slot[new] = reallocarray(old.map_or(NULL, |o| slot[o]), nmemb, size)`
    ReallocArray {
        old: Option<u32>,
        new: u32,
        nmemb: u64,
        size: u64,
        sync: bool,
    },
    /// `free(slot[obj])`
    Free { obj: u32, sync: bool },
    /// `free_sized(slot[obj], size)` (use `free` where the C library lacks it)
    FreeSized { obj: u32, size: u64, sync: bool },
    /// `free_aligned_sized(slot[obj], align, size)` (use `free` where the C library lacks it)
    FreeAlignedSized {
        obj: u32,
        align: u64,
        size: u64,
        sync: bool,
    },
    /// `posix_memalign(&slot[obj], align, size)`
    PosixMemalign { obj: u32, align: u64, size: u64 },
    /// `slot[obj] = aligned_alloc(align, size)`
    AlignedAlloc { obj: u32, align: u64, size: u64 },
    /// `slot[obj] = memalign(align, size)`
    Memalign { obj: u32, align: u64, size: u64 },
    /// `slot[obj] = valloc(size)`
    Valloc { obj: u32, size: u64 },
    /// `slot[obj] = pvalloc(size)`
    Pvalloc { obj: u32, size: u64 },
}

impl ReplayOp {
    /// The allocator call (`free_sized` and `free_aligned_sized` count as `free`).
    pub fn kind(&self) -> CallKind {
        match self {
            ReplayOp::Malloc { .. } => CallKind::Malloc,
            ReplayOp::Calloc { .. } => CallKind::Calloc,
            ReplayOp::Realloc { .. } => CallKind::Realloc,
            ReplayOp::ReallocArray { .. } => CallKind::Reallocarray,
            ReplayOp::Free { .. }
            | ReplayOp::FreeSized { .. }
            | ReplayOp::FreeAlignedSized { .. } => CallKind::Free,
            ReplayOp::PosixMemalign { .. } => CallKind::PosixMemalign,
            ReplayOp::AlignedAlloc { .. } => CallKind::AlignedAlloc,
            ReplayOp::Memalign { .. } => CallKind::Memalign,
            ReplayOp::Valloc { .. } => CallKind::Valloc,
            ReplayOp::Pvalloc { .. } => CallKind::Pvalloc,
        }
    }
}

/// Resolves [`ObjRef`]s of one thread into global slots.
#[derive(Clone, Copy, Debug)]
struct SlotMap {
    local_base: u32,
}

impl SlotMap {
    #[inline]
    fn slot(self, r: ObjRef) -> u32 {
        match r {
            ObjRef::Local(i) => self.local_base + i,
            ObjRef::Shared(i) => i,
        }
    }

    #[inline]
    fn resolve(self, op: StoredOp) -> ReplayOp {
        let s = |r| self.slot(r);
        let sync = |r: ObjRef| matches!(r, ObjRef::Shared(_));
        match op {
            StoredOp::Malloc { obj, size } => ReplayOp::Malloc { obj: s(obj), size },
            StoredOp::Calloc { obj, nmemb, size } => ReplayOp::Calloc {
                obj: s(obj),
                nmemb,
                size,
            },
            StoredOp::Realloc { old, new, size } => ReplayOp::Realloc {
                old: old.map(s),
                new: s(new),
                size,
                sync: old.is_some_and(sync),
            },
            StoredOp::ReallocArray {
                old,
                new,
                nmemb,
                size,
            } => ReplayOp::ReallocArray {
                old: old.map(s),
                new: s(new),
                nmemb,
                size,
                sync: old.is_some_and(sync),
            },
            StoredOp::Free { obj } => ReplayOp::Free {
                obj: s(obj),
                sync: sync(obj),
            },
            StoredOp::FreeSized { obj, size } => ReplayOp::FreeSized {
                obj: s(obj),
                size,
                sync: sync(obj),
            },
            StoredOp::FreeAlignedSized { obj, align, size } => ReplayOp::FreeAlignedSized {
                obj: s(obj),
                align,
                size,
                sync: sync(obj),
            },
            StoredOp::PosixMemalign { obj, align, size } => ReplayOp::PosixMemalign {
                obj: s(obj),
                align,
                size,
            },
            StoredOp::AlignedAlloc { obj, align, size } => ReplayOp::AlignedAlloc {
                obj: s(obj),
                align,
                size,
            },
            StoredOp::Memalign { obj, align, size } => ReplayOp::Memalign {
                obj: s(obj),
                align,
                size,
            },
            StoredOp::Valloc { obj, size } => ReplayOp::Valloc { obj: s(obj), size },
            StoredOp::Pvalloc { obj, size } => ReplayOp::Pvalloc { obj: s(obj), size },
        }
    }
}

/// One thread of a workload, as described in the header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadHeader {
    /// Process id of the recorded process (0 for generated workloads).
    pub pid: u32,
    /// Kernel thread id of the recorded thread (generated workloads number threads from 1).
    pub tid: u32,
    /// Ops in this thread's stream.
    pub ops: u64,
    /// First global slot of this thread's local slots.
    pub local_base: u32,
    /// Local slots this thread uses.
    pub local_slots: u32,
    /// Byte offset of the stream in the file.
    pub offset: u64,
    /// Byte length of the stream.
    pub len: u64,
    /// Checksum of the stream's bytes.
    pub checksum: u64,
}

/// The header of a workload: layout, provenance and the precomputed statistics.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Total ops over all threads.
    pub total_ops: u64,
    /// Size of the replayer's object table: every slot is `< object_slots`.
    pub object_slots: u32,
    /// Slots `[0, shared_slots)` are shared (see the module docs).
    pub shared_slots: u32,
    /// One entry per thread, in stream order.
    pub threads: Vec<ThreadHeader>,
    /// Statistics computed when the workload was written.
    pub stats: Stats,
    /// How the workload was produced (a `gen` command line, or the compiled raw traces).
    pub source: String,
    /// Notes from compilation (for example what crash recovery found in a raw trace).
    pub notes: Vec<String>,
    /// Version of the tool that wrote it.
    pub writer: String,
}

impl Header {
    /// Per-thread op counts.
    pub fn ops_per_thread(&self) -> Vec<u64> {
        self.threads.iter().map(|t| t.ops).collect()
    }

    /// Checks the layout equations: `total_ops == Σ ops`, `object_slots == shared_slots + Σ local_slots`,
    /// `local_base(t) == shared_slots + Σ_{u<t} local_slots(u)`, streams contiguous from `data_start` to
    /// `file_len`.
    fn check_layout(&self, data_start: u64, file_len: u64) -> Result<(), String> {
        self.check_equations(data_start, file_len).map_err(|e| {
            if e.starts_with("truncated") {
                e
            } else {
                format!("inconsistent header: {e}")
            }
        })
    }

    fn check_equations(&self, data_start: u64, file_len: u64) -> Result<(), String> {
        let mut ops = 0u64;
        let mut base = self.shared_slots as u64;
        let mut off = data_start;
        for (i, t) in self.threads.iter().enumerate() {
            ops = ops.checked_add(t.ops).ok_or("op count overflows")?;
            if t.local_base as u64 != base {
                return Err(format!(
                    "thread {i}: local_base {} should be {base}",
                    t.local_base
                ));
            }
            base += t.local_slots as u64;
            if t.offset != off {
                return Err(format!(
                    "thread {i}: stream offset {} should be {off}",
                    t.offset
                ));
            }
            off = off.checked_add(t.len).ok_or("stream length overflows")?;
            if t.len < t.ops {
                return Err(format!(
                    "thread {i}: {} ops cannot fit in {} bytes",
                    t.ops, t.len
                ));
            }
        }
        if ops != self.total_ops {
            return Err(format!(
                "threads hold {ops} ops, header says {}",
                self.total_ops
            ));
        }
        if base != self.object_slots as u64 {
            return Err(format!(
                "slots add up to {base}, header says {}",
                self.object_slots
            ));
        }
        if off > file_len {
            return Err(format!(
                "truncated: op streams end at byte {off}, the file has {file_len} bytes"
            ));
        }
        if off < file_len {
            return Err(format!("{} bytes after the last op stream", file_len - off));
        }
        self.stats.check_invariants()
    }
}

/// What went wrong with a workload file. Displays as `<path>: <cause>` (one line).
#[derive(Debug, thiserror::Error)]
#[error("{}: {kind}", path.display())]
pub struct WorkloadError {
    /// The file.
    pub path: PathBuf,
    /// The cause.
    pub kind: WorkloadErrorKind,
}

/// The cause of a [`WorkloadError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WorkloadErrorKind {
    /// Opening, reading, mapping or writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The path is a directory.
    #[error("is a directory, expected a workload file (.hkw)")]
    IsDirectory,
    /// Zero bytes.
    #[error("empty file, expected a workload (.hkw)")]
    Empty,
    /// Shorter than the fixed preamble.
    #[error("truncated: {0} bytes, too short for a workload header")]
    TooShort(u64),
    /// The first 8 bytes are not [`MAGIC`].
    #[error("not a workload file (.hkw): bad magic {0:02x?}")]
    BadMagic([u8; 8]),
    /// Another format version.
    #[error("workload format version {found}, but this hakmem reads version {expected}; regenerate it with this hakmem (`hakmem compile` / `hakmem gen`)")]
    Version {
        /// Version in the file.
        found: u32,
        /// Version this crate reads.
        expected: u32,
    },
    /// The header length points beyond the file.
    #[error("truncated or corrupt: header of {len} bytes does not fit in a {file_len}-byte file")]
    HeaderLength {
        /// Header length in the preamble.
        len: u64,
        /// File length.
        file_len: u64,
    },
    /// The header's bytes do not match their checksum.
    #[error("corrupt header (checksum mismatch)")]
    HeaderChecksum,
    /// The header does not deserialize.
    #[error("corrupt header: {0}")]
    HeaderDecode(String),
    /// The header's numbers contradict each other or the file size.
    #[error("{0}")]
    Layout(String),
    /// A stream's bytes do not match their checksum (truncated or bit-flipped).
    #[error("corrupt op stream of thread {thread} (checksum mismatch)")]
    StreamChecksum {
        /// Thread index.
        thread: usize,
    },
    /// A stream does not decode into its header's op count or references a slot it may not.
    #[error("corrupt op stream of thread {thread} at op {op}: {cause}")]
    Stream {
        /// Thread index.
        thread: usize,
        /// Op index in the thread.
        op: u64,
        /// What is wrong.
        cause: String,
    },
    /// The writer was given something it cannot store.
    #[error("cannot write: {0}")]
    Invalid(String),
}

impl WorkloadError {
    fn new(path: &Path, kind: WorkloadErrorKind) -> Self {
        WorkloadError {
            path: path.to_path_buf(),
            kind,
        }
    }
}

/// A mapped workload file.
pub struct Workload {
    map: Mmap,
    header: Header,
    path: PathBuf,
    validated: bool,
}

impl std::fmt::Debug for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workload")
            .field("path", &self.path)
            .field("header", &self.header)
            .finish()
    }
}

/// Does `bytes` start like a workload file? (Used by `info` to tell workloads from raw traces.)
pub fn has_magic(bytes: &[u8]) -> bool {
    bytes.len() >= 8 && bytes[..8] == MAGIC
}

impl Workload {
    /// Maps `path`, checks magic, version and header, and validates every op stream (checksums, op counts,
    /// slot bounds) in parallel. After this, [`Workload::ops`] yields exactly `header().threads[t].ops`
    /// ops per thread, all with slots `< object_slots`.
    ///
    /// The file must not be truncated or rewritten while mapped (that would be SIGBUS or garbage): the
    /// writer replaces workloads by rename, never in place.
    pub fn open(path: &Path) -> Result<Workload, WorkloadError> {
        let mut w = Self::open_header(path)?;
        w.validate()?;
        Ok(w)
    }

    /// Maps `path` and checks magic, version, header checksum and layout, without reading the op streams:
    /// constant time, what `info` uses. [`Workload::ops`] on a workload opened this way stops early at
    /// the first undecodable record instead of failing; call [`Workload::validate`] to be sure.
    pub fn open_header(path: &Path) -> Result<Workload, WorkloadError> {
        let err = |k| WorkloadError::new(path, k);
        let meta = std::fs::metadata(path).map_err(|e| err(e.into()))?;
        if meta.is_dir() {
            return Err(err(WorkloadErrorKind::IsDirectory));
        }
        let file = File::open(path).map_err(|e| err(e.into()))?;
        let file_len = file.metadata().map_err(|e| err(e.into()))?.len();
        if file_len == 0 {
            return Err(err(WorkloadErrorKind::Empty));
        }
        // SAFETY: the mapping is read-only and private to this process; the workbench writes workloads to
        // a temporary name and renames them, so a mapped file is never truncated under us. A third party
        // truncating it concurrently would raise SIGBUS, which is the documented contract of this type.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| err(e.into()))?;
        let bytes: &[u8] = &map;
        if bytes.len() < 8 {
            return Err(err(WorkloadErrorKind::TooShort(file_len)));
        }
        if !has_magic(bytes) {
            let mut m = [0u8; 8];
            m.copy_from_slice(&bytes[..8]);
            return Err(err(WorkloadErrorKind::BadMagic(m)));
        }
        if bytes.len() < PREAMBLE_LEN {
            return Err(err(WorkloadErrorKind::TooShort(file_len)));
        }
        let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(err(WorkloadErrorKind::Version {
                found: version,
                expected: VERSION,
            }));
        }
        let header_len = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes")) as u64;
        let header_sum = u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"));
        if header_len > MAX_HEADER_LEN || PREAMBLE_LEN as u64 + header_len > file_len {
            return Err(err(WorkloadErrorKind::HeaderLength {
                len: header_len,
                file_len,
            }));
        }
        let hb = &bytes[PREAMBLE_LEN..PREAMBLE_LEN + header_len as usize];
        if varint::checksum(hb) != header_sum {
            return Err(err(WorkloadErrorKind::HeaderChecksum));
        }
        let header: Header = bincode::Options::deserialize(header_options(header_len), hb)
            .map_err(|e| err(WorkloadErrorKind::HeaderDecode(e.to_string())))?;
        header
            .check_layout(PREAMBLE_LEN as u64 + header_len, file_len)
            .map_err(|e| err(WorkloadErrorKind::Layout(e)))?;

        Ok(Workload {
            map,
            header,
            path: path.to_path_buf(),
            validated: false,
        })
    }

    /// Checks every stream's checksum (in parallel) without decoding: catches truncation and bit flips at
    /// memory speed. `info` runs this; [`Workload::validate`] does it and more.
    pub fn verify_checksums(&self) -> Result<(), WorkloadError> {
        (0..self.header.threads.len())
            .into_par_iter()
            .try_for_each(|t| {
                if self.stream_checksum(t) == self.header.threads[t].checksum {
                    Ok(())
                } else {
                    Err(WorkloadErrorKind::StreamChecksum { thread: t })
                }
            })
            .map_err(|k| WorkloadError::new(&self.path, k))
    }

    /// Checks every stream: checksum, exact op count and length, known kinds, slots within the thread's
    /// local range or the shared range. Threads are checked in parallel.
    pub fn validate(&mut self) -> Result<(), WorkloadError> {
        if self.validated {
            return Ok(());
        }
        let result: Result<(), WorkloadErrorKind> = (0..self.header.threads.len())
            .into_par_iter()
            .try_for_each(|t| self.validate_thread(t));
        result.map_err(|k| WorkloadError::new(&self.path, k))?;
        self.validated = true;
        Ok(())
    }

    /// The checksum of thread `t`'s stream, summed in 16 MiB pieces, each dropped from the resident set
    /// once summed (a workload of any length is checked in bounded memory).
    fn stream_checksum(&self, t: usize) -> u64 {
        let bytes = self.stream(t);
        let mut sum = varint::Checksum::new();
        for (i, piece) in bytes.chunks(16 << 20).enumerate() {
            sum.update(piece);
            release(bytes, i << 24, (i << 24) + piece.len());
        }
        sum.finish()
    }

    fn validate_thread(&self, t: usize) -> Result<(), WorkloadErrorKind> {
        let th = &self.header.threads[t];
        let bytes = self.stream(t);
        if self.stream_checksum(t) != th.checksum {
            return Err(WorkloadErrorKind::StreamChecksum { thread: t });
        }
        let shared = self.header.shared_slots;
        let local = th.local_slots;
        let check = |r: ObjRef| match r {
            ObjRef::Local(i) if i < local => Ok(()),
            ObjRef::Shared(i) if i < shared => Ok(()),
            ObjRef::Local(i) => Err(format!("local slot {i} beyond the thread's {local}")),
            ObjRef::Shared(i) => Err(format!("shared slot {i} beyond {shared}")),
        };
        let mut pos = 0usize;
        let mut released = 0usize;
        for n in 0..th.ops {
            if n % (1 << 20) == 0 {
                // Validated bytes leave the resident set: opening a workload of any length stays small.
                released = release(bytes, released, pos);
            }
            let bad = |cause: String| WorkloadErrorKind::Stream {
                thread: t,
                op: n,
                cause,
            };
            let op = StoredOp::decode(bytes, &mut pos).map_err(|e| bad(e.to_string()))?;
            if let Some(r) = op.created() {
                check(r).map_err(bad)?;
            }
            if let Some(r) = op.consumed() {
                check(r).map_err(bad)?;
            }
        }
        if pos != bytes.len() {
            return Err(WorkloadErrorKind::Stream {
                thread: t,
                op: th.ops,
                cause: format!("{} trailing bytes", bytes.len() - pos),
            });
        }
        Ok(())
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The file this workload was mapped from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Size of the file in bytes.
    pub fn file_len(&self) -> u64 {
        self.map.len() as u64
    }

    /// The whole file's bytes (for hashing into result provenance).
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// Whether every stream has been validated.
    pub fn is_validated(&self) -> bool {
        self.validated
    }

    /// The raw bytes of thread `t`'s stream.
    fn stream(&self, t: usize) -> &[u8] {
        let th = &self.header.threads[t];
        &self.map[th.offset as usize..(th.offset + th.len) as usize]
    }

    /// Thread `t`'s ops in order, with global slots. Panics if `t >= threads`.
    pub fn ops(&self, thread: usize) -> Ops<'_> {
        Ops {
            inner: self.stored_ops(thread),
            map: SlotMap {
                local_base: self.header.threads[thread].local_base,
            },
        }
    }

    /// Thread `t`'s ops as stored (thread-relative [`ObjRef`]s). Panics if `t >= threads`.
    pub fn stored_ops(&self, thread: usize) -> StoredOps<'_> {
        StoredOps {
            buf: self.stream(thread),
            pos: 0,
            left: self.header.threads[thread].ops,
            released: 0,
        }
    }
}

/// Iterator over one thread's [`StoredOp`]s (see [`Workload::stored_ops`]).
pub struct StoredOps<'a> {
    buf: &'a [u8],
    pos: usize,
    left: u64,
    /// Bytes before this offset were already handed to [`StoredOps::release_consumed`].
    released: usize,
}

impl StoredOps<'_> {
    /// Drops the mapped pages holding only ops already decoded from this process's resident set (they are
    /// read again from the file if touched), so a long stream read once does not stay in memory. One
    /// `madvise` call; call it every few megabytes of stream.
    pub fn release_consumed(&mut self) {
        self.released = release(self.buf, self.released, self.pos);
    }
}

/// Drops the pages lying wholly inside `buf[from..to]` (a slice of a workload's read-only file mapping)
/// from this process's resident set; returns the offset up to which pages were dropped (or `from`).
fn release(buf: &[u8], from: usize, to: usize) -> usize {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
    let base = buf.as_ptr() as usize;
    let lo = (base + from).next_multiple_of(page);
    let hi = (base + to.min(buf.len())) / page * page;
    if hi <= lo {
        return from;
    }
    // SAFETY: `lo..hi` lies inside `buf`, bytes of the workload's read-only file mapping (`Workload` is
    // the only caller's owner). MADV_DONTNEED on a read-only file mapping only unmaps the pages; a later
    // access maps the same contents again, so no slice of the mapping observes a change.
    unsafe { libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_DONTNEED) };
    hi - base
}

impl Iterator for StoredOps<'_> {
    type Item = StoredOp;

    #[inline]
    fn next(&mut self) -> Option<StoredOp> {
        if self.left == 0 {
            return None;
        }
        match StoredOp::decode(self.buf, &mut self.pos) {
            Ok(op) => {
                self.left -= 1;
                Some(op)
            }
            Err(_) => {
                self.left = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, usize::try_from(self.left).ok())
    }
}

/// Iterator over one thread's [`ReplayOp`]s (see [`Workload::ops`]).
pub struct Ops<'a> {
    inner: StoredOps<'a>,
    map: SlotMap,
}

impl Ops<'_> {
    /// See [`StoredOps::release_consumed`].
    pub fn release_consumed(&mut self) {
        self.inner.release_consumed()
    }
}

impl Iterator for Ops<'_> {
    type Item = ReplayOp;

    #[inline]
    fn next(&mut self) -> Option<ReplayOp> {
        self.inner.next().map(|op| self.map.resolve(op))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.inner.size_hint()
    }
}

fn header_options(limit: u64) -> impl bincode::Options {
    use bincode::Options;
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
        .with_limit(limit.max(1))
}

/// One thread's stream being written: encodes ops and tracks the slots they use.
#[derive(Clone, Debug, Default)]
pub struct ThreadEncoder {
    /// Process id recorded in the header.
    pub pid: u32,
    /// Thread id recorded in the header.
    pub tid: u32,
    buf: Vec<u8>,
    ops: u64,
    /// One more than the largest local / shared slot index used (u64: index `u32::MAX` must not wrap).
    local_slots: u64,
    shared_slots: u64,
}

impl ThreadEncoder {
    /// An empty stream for thread `tid` of process `pid`.
    pub fn new(pid: u32, tid: u32) -> Self {
        ThreadEncoder {
            pid,
            tid,
            ..Default::default()
        }
    }

    #[inline]
    fn note(&mut self, r: ObjRef) {
        match r {
            ObjRef::Local(i) => self.local_slots = self.local_slots.max(i as u64 + 1),
            ObjRef::Shared(i) => self.shared_slots = self.shared_slots.max(i as u64 + 1),
        }
    }

    /// Appends one op.
    #[inline]
    pub fn push(&mut self, op: &StoredOp) {
        if let Some(r) = op.created() {
            self.note(r);
        }
        if let Some(r) = op.consumed() {
            self.note(r);
        }
        op.encode(&mut self.buf);
        self.ops += 1;
    }

    /// A stream from already encoded bytes (`ops` records) whose local slots are `< local_slots` and
    /// shared slots `< shared_slots` (the caller vouches; [`Workload::validate`] checks on reading).
    pub fn from_encoded(
        pid: u32,
        tid: u32,
        buf: Vec<u8>,
        ops: u64,
        local_slots: u32,
        shared_slots: u32,
    ) -> Self {
        ThreadEncoder {
            pid,
            tid,
            buf,
            ops,
            local_slots: local_slots as u64,
            shared_slots: shared_slots as u64,
        }
    }

    /// Ops pushed so far.
    pub fn ops(&self) -> u64 {
        self.ops
    }

    /// Encoded bytes so far.
    pub fn encoded_len(&self) -> usize {
        self.buf.len()
    }

    /// The encoded stream so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Reserves room for `additional` more encoded bytes.
    pub fn reserve(&mut self, additional: usize) {
        self.buf.reserve(additional);
    }
}

/// Builds a workload in memory and writes it. Threads are added with [`WorkloadWriter::add_thread`] and
/// filled with [`WorkloadWriter::push`] (or built separately as [`ThreadEncoder`]s, e.g. in parallel, and
/// handed over with [`WorkloadWriter::from_threads`]). Statistics are given by the caller
/// ([`crate::stats::StatsTracker`] computes them from the same ops).
#[derive(Debug, Default)]
pub struct WorkloadWriter {
    threads: Vec<ThreadEncoder>,
    /// Statistics to store (see [`Stats`]).
    pub stats: Stats,
    /// Provenance to store.
    pub source: String,
    /// Notes to store.
    pub notes: Vec<String>,
}

/// What [`WorkloadWriter::write`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteSummary {
    /// Total file size.
    pub bytes: u64,
    /// Total ops.
    pub ops: u64,
    /// Size of the object table.
    pub object_slots: u32,
}

impl WorkloadWriter {
    /// An empty workload described by `source`.
    pub fn new(source: impl Into<String>) -> Self {
        WorkloadWriter {
            source: source.into(),
            ..Default::default()
        }
    }

    /// A workload from already encoded threads.
    pub fn from_threads(source: impl Into<String>, threads: Vec<ThreadEncoder>) -> Self {
        WorkloadWriter {
            threads,
            source: source.into(),
            ..Default::default()
        }
    }

    /// Adds an empty thread; returns its index.
    pub fn add_thread(&mut self, pid: u32, tid: u32) -> usize {
        self.threads.push(ThreadEncoder::new(pid, tid));
        self.threads.len() - 1
    }

    /// Appends `op` to thread `thread`'s stream. Panics if the thread was not added.
    #[inline]
    pub fn push(&mut self, thread: usize, op: &StoredOp) {
        self.threads[thread].push(op);
    }

    /// The threads so far.
    pub fn threads(&self) -> &[ThreadEncoder] {
        &self.threads
    }

    /// The header this writer would store (layout, slot bases, checksums; stream offsets are filled in by
    /// [`WorkloadWriter::write`]). Errors: too many slots, or statistics that contradict the streams.
    pub fn header(&self) -> Result<Header, String> {
        self.streamed(true).header()
    }

    /// This writer's threads described as a [`StreamedWorkload`] (checksums computed here if `sums`).
    fn streamed(&self, sums: bool) -> StreamedWorkload {
        StreamedWorkload {
            threads: self
                .threads
                .iter()
                .map(|t| ThreadDesc {
                    pid: t.pid,
                    tid: t.tid,
                    ops: t.ops,
                    local_slots: t.local_slots,
                    shared_slots: t.shared_slots,
                    len: t.buf.len() as u64,
                    checksum: if sums { varint::checksum(&t.buf) } else { 0 },
                })
                .collect(),
            stats: self.stats.clone(),
            source: self.source.clone(),
            notes: self.notes.clone(),
        }
    }

    /// Writes the workload to `path` (through a temporary file in the same directory and a rename, so a
    /// mapped older version is never truncated).
    pub fn write(&self, path: &Path) -> Result<WriteSummary, WorkloadError> {
        use std::os::unix::fs::FileExt;
        // Streams go to their offsets in parallel (the page-cache copy is the cost).
        self.streamed(false).write(path, |t, f, off| {
            let buf = &self.threads[t].buf;
            f.write_all_at(buf, off)?;
            Ok(varint::checksum(buf))
        })
    }
}

/// One finished thread stream as the header describes it, wherever its bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadDesc {
    /// Process id.
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Ops in the stream.
    pub ops: u64,
    /// One more than the largest local slot the stream uses.
    pub local_slots: u64,
    /// One more than the largest shared slot the stream uses.
    pub shared_slots: u64,
    /// Bytes of the stream.
    pub len: u64,
    /// [`varint`] checksum of those bytes (see [`StreamChecksum`]).
    pub checksum: u64,
}

/// [`ThreadDesc::checksum`] computed over a stream that is produced in pieces.
#[derive(Clone, Debug)]
pub struct StreamChecksum(varint::Checksum);

impl Default for StreamChecksum {
    fn default() -> Self {
        StreamChecksum(varint::Checksum::new())
    }
}

impl StreamChecksum {
    /// Adds the next bytes of the stream.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes)
    }
    /// The checksum of everything added.
    pub fn finish(self) -> u64 {
        self.0.finish()
    }
}

/// A workload whose streams are not held in memory (the streaming compiler's output): the header is built
/// from [`ThreadDesc`]s and each stream's bytes are written by a callback. Same bytes on disk as
/// [`WorkloadWriter`] for the same streams.
#[derive(Clone, Debug, Default)]
pub struct StreamedWorkload {
    /// The threads, in stream order.
    pub threads: Vec<ThreadDesc>,
    /// Statistics to store.
    pub stats: Stats,
    /// Provenance to store.
    pub source: String,
    /// Notes to store.
    pub notes: Vec<String>,
}

impl StreamedWorkload {
    /// The header that would be stored (stream offsets are filled in by [`StreamedWorkload::write`]).
    /// Errors: too many slots, or statistics that contradict the streams.
    pub fn header(&self) -> Result<Header, String> {
        let too_many = || "more than 2^32 object slots".to_string();
        let shared = self
            .threads
            .iter()
            .map(|t| t.shared_slots)
            .max()
            .unwrap_or(0);
        let mut base = shared;
        let mut threads = Vec::with_capacity(self.threads.len());
        for t in &self.threads {
            threads.push(ThreadHeader {
                pid: t.pid,
                tid: t.tid,
                ops: t.ops,
                local_base: u32::try_from(base).map_err(|_| too_many())?,
                local_slots: u32::try_from(t.local_slots).map_err(|_| too_many())?,
                offset: 0,
                len: t.len,
                checksum: t.checksum,
            });
            base += t.local_slots;
        }
        let object_slots = u32::try_from(base).map_err(|_| too_many())?;
        let header = Header {
            total_ops: self.threads.iter().map(|t| t.ops).sum(),
            object_slots,
            shared_slots: u32::try_from(shared).map_err(|_| too_many())?,
            threads,
            stats: self.stats.clone(),
            source: self.source.clone(),
            notes: self.notes.clone(),
            writer: format!("hakmem-traces {}", env!("CARGO_PKG_VERSION")),
        };
        header.stats.check_invariants()?;
        if header.stats.ops() != header.total_ops {
            return Err(format!(
                "statistics count {} ops, streams hold {}",
                header.stats.ops(),
                header.total_ops
            ));
        }
        Ok(header)
    }

    /// Writes the workload to `path` through a temporary file in the same directory and a rename (a mapped
    /// older version is never truncated). `fill(t, file, offset)` must write exactly thread `t`'s `len`
    /// bytes at `offset` and return their checksum ([`StreamChecksum`]), which the header stores (the
    /// header is written after the streams); threads are filled in parallel.
    pub fn write(
        &self,
        path: &Path,
        fill: impl Fn(usize, &File, u64) -> std::io::Result<u64> + Sync,
    ) -> Result<WriteSummary, WorkloadError> {
        use bincode::Options;
        let err = |k| WorkloadError::new(path, k);
        let mut header = self
            .header()
            .map_err(|e| err(WorkloadErrorKind::Invalid(e)))?;
        // Fixint encoding: the header's length does not depend on the offsets, so measure it once.
        let header_len = header_options(MAX_HEADER_LEN)
            .serialized_size(&header)
            .map_err(|e| err(WorkloadErrorKind::Invalid(e.to_string())))?;
        let mut off = PREAMBLE_LEN as u64 + header_len;
        for t in &mut header.threads {
            t.offset = off;
            off += t.len;
        }
        let tmp = tmp_path(path);
        let write = |header: &mut Header| -> std::io::Result<()> {
            use std::os::unix::fs::FileExt;
            let f = crate::private::create_file(&tmp)?;
            f.set_len(off)?;
            let sums: Vec<u64> = header
                .threads
                .par_iter()
                .enumerate()
                .map(|(t, th)| fill(t, &f, th.offset))
                .collect::<Result<_, _>>()?;
            for (th, sum) in header.threads.iter_mut().zip(sums) {
                th.checksum = sum;
            }
            let hb = header_options(MAX_HEADER_LEN)
                .serialize(&*header)
                .map_err(std::io::Error::other)?;
            debug_assert_eq!(hb.len() as u64, header_len);
            let mut head = Vec::with_capacity(PREAMBLE_LEN + hb.len());
            head.extend_from_slice(&MAGIC);
            head.extend_from_slice(&VERSION.to_le_bytes());
            head.extend_from_slice(&(hb.len() as u32).to_le_bytes());
            head.extend_from_slice(&varint::checksum(&hb).to_le_bytes());
            head.extend_from_slice(&hb);
            f.write_all_at(&head, 0)?;
            std::fs::rename(&tmp, path)
        };
        if let Err(e) = write(&mut header) {
            let _ = std::fs::remove_file(&tmp);
            return Err(err(e.into()));
        }
        Ok(WriteSummary {
            bytes: off,
            ops: header.total_ops,
            object_slots: header.object_slots,
        })
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".tmp{}", std::process::id()));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_ops_are_small() {
        let mut b = Vec::new();
        StoredOp::Malloc {
            obj: ObjRef::Local(255),
            size: 1024,
        }
        .encode(&mut b);
        assert_eq!(b.len(), 4);
        b.clear();
        StoredOp::Free {
            obj: ObjRef::Local(255),
        }
        .encode(&mut b);
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn every_kind_round_trips() {
        let l = ObjRef::Local(3);
        let s = ObjRef::Shared(u32::MAX);
        let ops = [
            StoredOp::Malloc { obj: l, size: 0 },
            StoredOp::Calloc {
                obj: s,
                nmemb: 3,
                size: u64::MAX,
            },
            StoredOp::Realloc {
                old: None,
                new: l,
                size: 5,
            },
            StoredOp::Realloc {
                old: Some(s),
                new: l,
                size: 5,
            },
            StoredOp::ReallocArray {
                old: Some(l),
                new: s,
                nmemb: 2,
                size: 9,
            },
            StoredOp::Free { obj: s },
            StoredOp::FreeSized { obj: l, size: 8 },
            StoredOp::FreeAlignedSized {
                obj: l,
                align: 64,
                size: 8,
            },
            StoredOp::PosixMemalign {
                obj: l,
                align: 4096,
                size: 1,
            },
            StoredOp::AlignedAlloc {
                obj: l,
                align: 32,
                size: 64,
            },
            StoredOp::Memalign {
                obj: s,
                align: 16,
                size: 1,
            },
            StoredOp::Valloc { obj: l, size: 10 },
            StoredOp::Pvalloc { obj: l, size: 10 },
        ];
        let mut b = Vec::new();
        for op in &ops {
            op.encode(&mut b);
        }
        let mut pos = 0;
        for op in &ops {
            assert_eq!(StoredOp::decode(&b, &mut pos).unwrap(), *op);
        }
        assert_eq!(pos, b.len());
    }
}
