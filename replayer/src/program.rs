//! The replay engine's own op representation: fixed-size, decoded from a workload before the start
//! barrier, so the timed loop reads one 16-byte record per call and indexes the object table directly.
//!
//! Entry points: [`Program`] (per-thread op streams plus the object-table size) and
//! [`Program::validate`], which every program passes before it is replayed.
//!
//! Invariants (checked by [`Program::validate`]): every `obj`/`old` index is `< object_slots` (or
//! [`NO_OBJECT`] for `old`), alignments of aligned kinds are powers of two. The replay loop relies on
//! these to index without bounds checks.

/// `old` of a `realloc(NULL, n)`.
pub const NO_OBJECT: u32 = u32::MAX;

/// The call an [`Op`] makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// `malloc(size)` into slot `obj`.
    Malloc = 0,
    /// `calloc(arg, size)` into slot `obj`.
    Calloc = 1,
    /// `realloc(slot old, size)` into slot `obj` (`old` may equal `obj`, or be [`NO_OBJECT`]).
    Realloc = 2,
    /// `free(slot obj)`.
    Free = 3,
    /// `posix_memalign(align = arg, size)` into slot `obj`.
    PosixMemalign = 4,
    /// `aligned_alloc(align = arg, size)` into slot `obj`.
    AlignedAlloc = 5,
    /// `memalign(align = arg, size)` into slot `obj`.
    Memalign = 6,
    /// `valloc(size)` into slot `obj`.
    Valloc = 7,
    /// `pvalloc(size)` into slot `obj`.
    Pvalloc = 8,
}

/// Number of [`Kind`]s (latency tables are indexed by `kind as usize`).
pub const KINDS: usize = 9;

impl Kind {
    /// The C name of the call, used as the latency key in results.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Malloc => "malloc",
            Kind::Calloc => "calloc",
            Kind::Realloc => "realloc",
            Kind::Free => "free",
            Kind::PosixMemalign => "posix_memalign",
            Kind::AlignedAlloc => "aligned_alloc",
            Kind::Memalign => "memalign",
            Kind::Valloc => "valloc",
            Kind::Pvalloc => "pvalloc",
        }
    }
    /// All kinds, in discriminant order.
    pub const ALL: [Kind; KINDS] = [
        Kind::Malloc,
        Kind::Calloc,
        Kind::Realloc,
        Kind::Free,
        Kind::PosixMemalign,
        Kind::AlignedAlloc,
        Kind::Memalign,
        Kind::Valloc,
        Kind::Pvalloc,
    ];
}

/// One call to replay, 16 bytes:
///
/// ```text
///  63    60  59  58                                   0   31        0   31         0
/// +--------+----+-------------------------------------+  +-----------+  +------------+
/// |  kind  |wait|  size (59 bits)                     |  |    obj    |  |    aux     |
/// +--------+----+-------------------------------------+  +-----------+  +------------+
/// aux = realloc: the old slot (or NO_OBJECT); calloc: nmemb; aligned kinds: alignment; else 0
/// ```
///
/// Sizes are clamped to 2^59 − 1 (no allocation of that size can succeed, and a workload only holds
/// recorded successes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Op {
    word: u64,
    /// Slot the call writes (allocations, realloc result) or frees (`Free`).
    pub obj: u32,
    aux: u32,
}

const SIZE_BITS: u32 = 59;
const SIZE_MASK: u64 = (1 << SIZE_BITS) - 1;
const WAIT_BIT: u64 = 1 << SIZE_BITS;

impl Op {
    /// Builds an op. `arg` is calloc's element count or the alignment; `old` the realloc source slot
    /// (only `Realloc` keeps it); `wait` is the sync mark: the block this op consumes (`obj` of a free,
    /// `old` of a realloc) was created by another thread, wait until that thread has published it.
    pub fn new(kind: Kind, obj: u32, size: u64, arg: u32, old: u32, wait: bool) -> Op {
        let aux = if kind == Kind::Realloc { old } else { arg };
        Op {
            word: ((kind as u64) << 60) | ((wait as u64) * WAIT_BIT) | size.min(SIZE_MASK),
            obj,
            aux,
        }
    }
    /// The call.
    #[inline(always)]
    pub fn kind(&self) -> Kind {
        match self.word >> 60 {
            0 => Kind::Malloc,
            1 => Kind::Calloc,
            2 => Kind::Realloc,
            3 => Kind::Free,
            4 => Kind::PosixMemalign,
            5 => Kind::AlignedAlloc,
            6 => Kind::Memalign,
            7 => Kind::Valloc,
            _ => Kind::Pvalloc,
        }
    }
    /// The call as its discriminant (`Kind::X as u64`), for the timed loop's tests without a `match`.
    #[inline(always)]
    pub fn kind_code(&self) -> u64 {
        self.word >> 60
    }
    /// Requested bytes (calloc: element size).
    #[inline(always)]
    pub fn size(&self) -> u64 {
        self.word & SIZE_MASK
    }
    /// The sync mark (see [`Op::new`]).
    #[inline(always)]
    pub fn wait(&self) -> bool {
        self.word & WAIT_BIT != 0
    }
    /// Calloc: element count; aligned kinds: alignment; otherwise 0.
    #[inline(always)]
    pub fn arg(&self) -> u32 {
        self.aux
    }
    /// Realloc: slot of the block passed in, or [`NO_OBJECT`]; [`NO_OBJECT`] for other kinds.
    #[inline(always)]
    pub fn old(&self) -> u32 {
        if self.kind() == Kind::Realloc {
            self.aux
        } else {
            NO_OBJECT
        }
    }
}

/// A decoded workload: one op stream per recorded thread.
///
/// A workload too long to hold decoded (more than [`decoded_budget_ops`] ops) keeps only each thread's
/// first block in `threads`; `blocks` then decodes the following blocks, each the size of the first, and
/// the replay thread runs them one after the other (decoding inline: the same cost for every allocator).
#[derive(Clone, Debug, Default)]
pub struct Program {
    /// Op streams, one per thread (the first block of each when `blocks` is set).
    pub threads: Vec<Vec<Op>>,
    /// Size of the object table (slots are reused only where the workload says so).
    pub object_slots: usize,
    /// The ops after each thread's first block, for long workloads.
    pub blocks: Option<std::sync::Arc<dyn Blocks>>,
    /// Per thread, the slots only that thread touches (a workload's local slots, see
    /// `traces::workload`); empty when unknown (see [`Program::own_slots`]).
    pub own: Vec<std::ops::Range<usize>>,
}

/// Decoded ops the replay harness holds at least, over all threads, whatever the memory (64 MiB of
/// 16-byte ops): a workload with more ops than the budget is replayed in blocks.
pub const DECODED_BUDGET_OPS: usize = 4 << 20;

/// Bytes of decoded ops a child holds at most (2 GiB: 128 Mi ops), however much memory is available.
pub const DECODED_BUDGET_MAX_BYTES: u64 = 2 << 30;

/// The decoded-op budget of a child that has `cores` of the machine's `online` cores: its share of a
/// quarter of the memory available now (children run side by side, one per share of the cores), at most
/// [`DECODED_BUDGET_MAX_BYTES`], at least [`DECODED_BUDGET_OPS`] ops. A workload within it is decoded
/// whole before the barrier, so the timed loop never decodes: decoding a varint op costs about 170
/// instructions (callgrind, bintrees), more than the allocator's malloc and free together, and it would
/// mostly measure the harness. Beyond it, blocks bound the harness's memory for any length.
pub fn decoded_budget_ops(cores: usize, online: usize) -> usize {
    let op = std::mem::size_of::<Op>() as u64;
    let (cores, online) = (cores.max(1) as u64, online.max(1) as u64);
    let bytes = crate::sysinfo::mem_available_bytes()
        .map_or(0, |b| b / 4 / online * cores.min(online))
        .min(DECODED_BUDGET_MAX_BYTES);
    usize::try_from(bytes / op)
        .unwrap_or(usize::MAX)
        .max(DECODED_BUDGET_OPS)
}

/// The ops that follow each thread's first block of a long workload (see [`Program`]). Every op it yields
/// satisfies [`Program::validate`]'s rules (the loader checks the whole workload before the barrier).
pub trait Blocks: Send + Sync + std::fmt::Debug {
    /// Ops of thread `t` in total (first block included).
    fn thread_ops(&self, t: usize) -> u64;
    /// A cursor over thread `t`'s ops after its first `skip` ops.
    fn cursor(&self, t: usize, skip: usize) -> Box<dyn BlockCursor + '_>;
}

/// Decodes one thread's next block.
pub trait BlockCursor: Send {
    /// Replaces `out`'s contents by the next ops (at most `out.capacity()`); false when none are left.
    fn refill(&mut self, out: &mut Vec<Op>) -> bool;
}

/// A program that would make the replay loop index out of bounds or call an allocator with a bad argument.
#[derive(Debug, thiserror::Error)]
#[error("thread {thread}, op {index}: {reason}")]
pub struct InvalidProgram {
    /// Thread index.
    pub thread: usize,
    /// Op index in that thread.
    pub index: usize,
    /// What is wrong.
    pub reason: String,
}

impl Program {
    /// Total ops over all threads.
    pub fn total_ops(&self) -> u64 {
        (0..self.threads.len()).map(|t| self.thread_ops(t)).sum()
    }

    /// The slots thread `t` alone creates, reads and frees: its local slots when the workload says
    /// (`own`), all of them in a one-thread program, none otherwise. The walks of `--walk` read those
    /// blocks only (a block in another slot may be freed by another thread at any moment).
    pub fn own_slots(&self, t: usize) -> std::ops::Range<usize> {
        match self.own.get(t) {
            Some(r) => r.start.min(self.object_slots)..r.end.min(self.object_slots),
            None if self.threads.len() == 1 && self.own.is_empty() => 0..self.object_slots,
            None => 0..0,
        }
    }

    /// Ops of thread `t` (all blocks).
    pub fn thread_ops(&self, t: usize) -> u64 {
        match &self.blocks {
            Some(b) => b.thread_ops(t),
            None => self.threads[t].len() as u64,
        }
    }

    /// Checks the invariants the replay loop relies on (see the module docs).
    pub fn validate(&self) -> Result<(), InvalidProgram> {
        for (thread, ops) in self.threads.iter().enumerate() {
            for (index, op) in ops.iter().enumerate() {
                check_op(op, self.object_slots).map_err(|reason| InvalidProgram {
                    thread,
                    index,
                    reason,
                })?;
            }
        }
        Ok(())
    }
}

/// The rules of [`Program::validate`] for one op and a table of `slots` slots.
pub fn check_op(op: &Op, slots: usize) -> Result<(), String> {
    let (kind, old) = (op.kind(), op.old());
    if op.obj as usize >= slots {
        return Err(format!(
            "object slot {} out of range (table has {slots})",
            op.obj
        ));
    }
    if kind == Kind::Realloc && old != NO_OBJECT && old as usize >= slots {
        return Err(format!(
            "realloc source slot {old} out of range (table has {slots})"
        ));
    }
    if matches!(
        kind,
        Kind::PosixMemalign | Kind::AlignedAlloc | Kind::Memalign
    ) && !(op.arg() as u64).is_power_of_two()
    {
        return Err(format!("alignment {} is not a power of two", op.arg()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_is_16_bytes_and_round_trips() {
        assert_eq!(std::mem::size_of::<Op>(), 16);
        for kind in Kind::ALL {
            for wait in [false, true] {
                let op = Op::new(kind, 7, 1 << 40, 4096, 9, wait);
                assert_eq!(
                    (op.kind(), op.size(), op.wait(), op.obj),
                    (kind, 1 << 40, wait, 7)
                );
                let (arg, old) = if kind == Kind::Realloc {
                    (9, 9)
                } else {
                    (4096, NO_OBJECT)
                };
                assert_eq!((op.arg(), op.old()), (arg, old));
            }
        }
        assert_eq!(
            Op::new(Kind::Malloc, 0, u64::MAX, 0, 0, false).size(),
            (1 << 59) - 1
        );
    }

    #[test]
    fn the_decoded_budget_is_a_share_of_memory_within_its_bounds() {
        let max = (DECODED_BUDGET_MAX_BYTES / 16) as usize;
        let (one, all) = (decoded_budget_ops(1, 64), decoded_budget_ops(64, 64));
        assert!((DECODED_BUDGET_OPS..=max).contains(&one), "{one}");
        assert!((DECODED_BUDGET_OPS..=max).contains(&all), "{all}");
        assert!(
            one <= all,
            "a child with 1 of 64 cores holds {one} ops, one with all {all}"
        );
    }

    #[test]
    fn validate_rejects_out_of_range_slots() {
        let op = Op::new(Kind::Malloc, 3, 8, 0, NO_OBJECT, false);
        let p = Program {
            threads: vec![vec![op]],
            object_slots: 3,
            blocks: None,
            own: Vec::new(),
        };
        assert!(p
            .validate()
            .unwrap_err()
            .to_string()
            .contains("out of range"));
        let p = Program {
            threads: vec![vec![op]],
            object_slots: 4,
            blocks: None,
            own: Vec::new(),
        };
        p.validate().unwrap();
    }
}
