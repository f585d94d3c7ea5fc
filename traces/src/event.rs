//! The decoded form of one recorded allocator call: what the raw-trace reader yields and what
//! [`crate::compile`] consumes.
//!
//! Pointers are plain `u64` addresses (0 = NULL). Timestamps are nanoseconds on the recording process's
//! monotonic clock (the reader converts TSC ticks with the calibration stored in the trace). `tid` is the
//! kernel thread id (`gettid`) of the thread that made the call.

use serde::{Deserialize, Serialize};

/// One recorded event: who, when, what.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Nanoseconds since the trace's start (monotonic clock of the recording process).
    pub ts_ns: u64,
    /// Kernel thread id of the calling thread.
    pub tid: u32,
    /// The call and its arguments and result.
    pub op: Op,
}

/// A recorded call. Allocation events carry the returned pointer (0 when the call failed); frees carry
/// the pointer they were given. Frees are recorded before the real free runs and allocations after the
/// real call returns, so that for one address the log order is the happens-before order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// `malloc(size) -> ptr`
    Malloc {
        /// Requested size in bytes.
        size: u64,
        /// Returned pointer.
        ptr: u64,
    },
    /// `calloc(nmemb, size) -> ptr`
    Calloc {
        /// Number of elements.
        nmemb: u64,
        /// Element size.
        size: u64,
        /// Returned pointer.
        ptr: u64,
    },
    /// `realloc(old, size) -> new` (old = 0 behaves as malloc; size = 0 with old != 0 may free).
    Realloc {
        /// Pointer passed in.
        old: u64,
        /// Requested size.
        size: u64,
        /// Returned pointer (0 on failure, in which case `old` stays live).
        new: u64,
    },
    /// `reallocarray(old, nmemb, size) -> new`
    ReallocArray {
        /// Pointer passed in.
        old: u64,
        /// Number of elements.
        nmemb: u64,
        /// Element size.
        size: u64,
        /// Returned pointer.
        new: u64,
    },
    /// `free(ptr)`
    Free {
        /// Pointer passed in (0 = free(NULL)).
        ptr: u64,
    },
    /// `free_sized(ptr, size)` (C23)
    FreeSized {
        /// Pointer passed in.
        ptr: u64,
        /// Size the caller states.
        size: u64,
    },
    /// `free_aligned_sized(ptr, align, size)` (C23)
    FreeAlignedSized {
        /// Pointer passed in.
        ptr: u64,
        /// Alignment the caller states.
        align: u64,
        /// Size the caller states.
        size: u64,
    },
    /// `posix_memalign(&ptr, align, size) -> ret`
    PosixMemalign {
        /// Requested alignment.
        align: u64,
        /// Requested size.
        size: u64,
        /// Pointer stored (0 if `ret != 0`).
        ptr: u64,
        /// Return value (0 or an errno value).
        ret: u32,
    },
    /// `aligned_alloc(align, size) -> ptr`
    AlignedAlloc {
        /// Requested alignment.
        align: u64,
        /// Requested size.
        size: u64,
        /// Returned pointer.
        ptr: u64,
    },
    /// `memalign(align, size) -> ptr`
    Memalign {
        /// Requested alignment.
        align: u64,
        /// Requested size.
        size: u64,
        /// Returned pointer.
        ptr: u64,
    },
    /// `valloc(size) -> ptr`
    Valloc {
        /// Requested size.
        size: u64,
        /// Returned pointer.
        ptr: u64,
    },
    /// `pvalloc(size) -> ptr`
    Pvalloc {
        /// Requested size.
        size: u64,
        /// Returned pointer.
        ptr: u64,
    },
    /// A thread was first seen (its first hooked call) or started.
    ThreadStart,
    /// A thread exited.
    ThreadExit,
    /// The process forked; the child records into its own file.
    Fork {
        /// Pid of the child.
        child_pid: u32,
    },
    /// The process is about to `exec`; the new image records into a new file.
    Exec,
}

/// The kinds of allocator call, in the order used for per-kind tables (`info`, replay latencies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    /// malloc
    Malloc,
    /// free (and free_sized / free_aligned_sized)
    Free,
    /// calloc
    Calloc,
    /// realloc
    Realloc,
    /// reallocarray
    Reallocarray,
    /// posix_memalign
    PosixMemalign,
    /// aligned_alloc
    AlignedAlloc,
    /// memalign
    Memalign,
    /// valloc
    Valloc,
    /// pvalloc
    Pvalloc,
}

impl CallKind {
    /// Every kind, in table order.
    pub const ALL: [CallKind; 10] = [
        CallKind::Malloc,
        CallKind::Free,
        CallKind::Calloc,
        CallKind::Realloc,
        CallKind::Reallocarray,
        CallKind::PosixMemalign,
        CallKind::AlignedAlloc,
        CallKind::Memalign,
        CallKind::Valloc,
        CallKind::Pvalloc,
    ];

    /// The C name of the call (also the JSON key used by `info` and replay results).
    pub fn name(self) -> &'static str {
        match self {
            CallKind::Malloc => "malloc",
            CallKind::Free => "free",
            CallKind::Calloc => "calloc",
            CallKind::Realloc => "realloc",
            CallKind::Reallocarray => "reallocarray",
            CallKind::PosixMemalign => "posix_memalign",
            CallKind::AlignedAlloc => "aligned_alloc",
            CallKind::Memalign => "memalign",
            CallKind::Valloc => "valloc",
            CallKind::Pvalloc => "pvalloc",
        }
    }
}

impl Op {
    /// The allocator call this op is, or `None` for thread/process markers.
    pub fn call_kind(&self) -> Option<CallKind> {
        Some(match self {
            Op::Malloc { .. } => CallKind::Malloc,
            Op::Calloc { .. } => CallKind::Calloc,
            Op::Realloc { .. } => CallKind::Realloc,
            Op::ReallocArray { .. } => CallKind::Reallocarray,
            Op::Free { .. } | Op::FreeSized { .. } | Op::FreeAlignedSized { .. } => CallKind::Free,
            Op::PosixMemalign { .. } => CallKind::PosixMemalign,
            Op::AlignedAlloc { .. } => CallKind::AlignedAlloc,
            Op::Memalign { .. } => CallKind::Memalign,
            Op::Valloc { .. } => CallKind::Valloc,
            Op::Pvalloc { .. } => CallKind::Pvalloc,
            Op::ThreadStart | Op::ThreadExit | Op::Fork { .. } | Op::Exec => return None,
        })
    }
}
