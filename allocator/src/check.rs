//! The Check box: heap-misuse detection — double frees, frees and reallocs of pointers that are not the start
//! of a live HAKMEM block — reported as one line on stderr, then `abort()`.
//!
//! Level (`HAKMEM_CHECK`, fixed at start-up by [`init`]): 0 off; 1 (default) the checks below; 2 adds the
//! padded layout of [`malloc2`] (canaries before and after every block, write-after-free poison) and free-list
//! links stored encoded ([`link_code`]: the SuperSlab and Mid boxes encode on every push and decode and check
//! on every pop and walk, reporting a forged link with [`report_free_list`]).
//!
//! Level 2 layout: every allocation of `n` bytes takes a block of `n + shift + 8` bytes and hands out
//! `user = block + shift` (`shift` = 16, or the alignment for aligned requests up to 4 KiB; larger alignments
//! get an unpadded Large block), so that the user pointer is never a block start and the level-1 checks see
//! only raw blocks:
//!
//! ```text
//!  block ─ … ─ user-16: n | log2(shift) << 56 ─ user-8: canary ^ user ─ user: n bytes ─ canary ^ user (8 bytes)
//! ```
//! A free checks both canaries (a one-byte underflow or overflow changes one of them), fills the block after
//! its first 16 bytes (the free-list link and key word) with a poison byte and its last word with a tag of its
//! address (blocks up to 256 KiB), and frees the raw block; a block handed out again with that tag must still
//! be all poison, else the write after free is reported. Level 2 is a debugging level: its cost is reported, not bounded.
//!
//! Level 1, glibc-tcache style. A key `K` ([`key_of`]: the address of the last byte of the block's 2 MiB
//! chunk, an odd address in no block) is written into the second word of every block the program frees (the
//! first word is the free-list link); every allocation clears that word before the program sees the block
//! (one store). A free then costs, on the owner's fast path ([`small_free_ok`]): the slab's block-start word
//! ([`check_word`], on the cache line the class comes from), one multiply of the address's low 16 bits and
//! one compare for "is a block start below `carve`", a compare of the block's second word with the key (which
//! is the register the free computes anyway to address the SuperSlab header) — no atomics, no extra cache line
//! but the block's own. Anything suspicious goes to
//! [`validate`] (cold), which finds the block by offset arithmetic, and confirms a key match by walking the
//! lists a free block of that slab can be on (the owner's Unified Cache and pending list, the slab's free and
//! remote lists) before reporting a double free; without a match on those lists it was a live block whose
//! data happened to equal the key, and the free goes on. A non-owner cannot walk the owner's lists safely,
//! so there a key match is reported directly: the key is an address inside the SuperSlab's header page, which
//! no pointer the program was given points into, and it is cleared on every hand-out, so a live block holds it
//! only if the program copied it out of freed memory or computed it. (A random per-process key, as before,
//! cost a load per free; the address key also stays valid when the SuperSlab changes owner.) The Mid box
//! checks under its class lock (key plus a walk of the chunk's free list); Large blocks by their header.
//!
//! The 8 B class is carved in 16 B blocks at every level (the key needs a second word, and the malloc fast path
//! clears it without testing the level; glibc's smallest chunk is 32 B).
//!
//! Messages (written with no heap: a stack buffer, `write(2)`, then `abort()`), e.g.
//! `hakmem: free(): double free of 0x7f1c2e40f140 (class 12, 256 B)`.
//!
//! Not detected at level 1: a free of a block start that a refill carved into a Unified Cache but never handed
//! out (a pointer the program can only compute, e.g. one block past its own; marking those blocks would write
//! pages the program may never use, which the SuperSlab box avoids on purpose); frees after the memory went
//! back to the OS go to the C library, which may stop them itself.
//!
//! Invariant: the key word of a block is `K` ⇔ the block was freed and not handed out since (or the program
//! wrote `K` there).

use core::fmt::Write as _;
use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use crate::heap::{self, Heap};
use crate::os::{self, CHUNK};
use crate::route::BLOCK_SIZE;
#[cfg(test)]
use crate::route::NUM_CLASSES;
use crate::superslab::{self, Slab, HEADER};
use crate::{large, mid};

/// Level and key, on one cache line read by the hot paths (written once, before the first block exists).
#[repr(C, align(64))]
struct State {
    level: AtomicU8,
    /// Level 2: canary key.
    canary: AtomicUsize,
    /// Level 2: free-list link key `L` (0 below level 2: links are stored plainly).
    link: AtomicUsize,
}

/// The level before start-up: not 0, so that the first allocation goes to [`malloc2`], which starts the
/// allocator up and then knows whether to pad (no block exists before start-up, so nothing else reads it).
const UNSET: u8 = u8::MAX;

static STATE: State = State {
    level: AtomicU8::new(UNSET),
    canary: AtomicUsize::new(0),
    link: AtomicUsize::new(0),
};

/// Sets the level and draws the keys. Called once, by [`level2_now`] on the first allocation (the level is
/// [`UNSET`] until then, which sends every allocation there), after the heap's start-up.
fn init(level: u8) {
    let c = os::random_u64() as usize;
    STATE.canary.store(c, Ordering::Relaxed);
    if level >= 2 {
        STATE
            .link
            .store(os::random_u64() as usize | 1, Ordering::Relaxed);
    }
    STATE.level.store(level.min(2), Ordering::Release);
}

/// The check level in force (`u8::MAX` before start-up).
#[inline(always)]
pub fn level() -> u8 {
    STATE.level.load(Ordering::Relaxed)
}

/// Whether allocations take level 2's padded layout (also true before start-up: see [`malloc2`]).
#[inline(always)]
pub fn padded() -> bool {
    level() >= 2
}

/// Fixes the level (starting the allocator up) if no allocation did yet: a heap copies the level and key.
pub fn ensure_started() {
    if level() == UNSET {
        start();
    }
}

/// Starts the allocator up and fixes the level if needed; whether the level is 2.
fn level2_now() -> bool {
    if level() == UNSET {
        start();
    }
    level() == 2
}

/// The first allocation: the heap's start-up, then the level of its configuration, once (a thread that
/// loses the race waits, so that no block is handed out under another key).
#[cold]
#[inline(never)]
fn start() {
    static STARTED: AtomicU8 = AtomicU8::new(0);
    let level = heap::config().check;
    if STARTED
        .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        init(level);
    } else {
        while self::level() == UNSET {
            core::hint::spin_loop();
        }
    }
}

/// The freed-block key `K` of the block starting at `block`: the address of the last byte of its 2 MiB chunk
/// (for a SuperSlab block, a byte of the SuperSlab's header page). Odd, so never a block pointer, and inside
/// no block: a live block holds it only if the program copied it out of freed memory or computed it. It
/// depends only on where the block is, so the owner, another thread and a later owner of the SuperSlab all
/// agree on it, and the owner's free fast path has it for free: it is the register the free already computes
/// to address the SuperSlab header ([`crate::superslab::slab_and_top`]).
#[inline(always)]
pub fn key_of(block: usize) -> usize {
    block | (CHUNK - 1)
}

/// Block size of class `cls` as carved: the 8 B class is carved in 16 B blocks (every block has a second
/// word, the key word, which the malloc fast path clears without testing the level).
#[inline]
pub fn block_size(cls: usize) -> u32 {
    if cls == 0 {
        16
    } else {
        BLOCK_SIZE[cls]
    }
}

/// The multiplier `M = floor(2^32 / bs) + 1` of the block-start test. With `e = bs * M mod 2^32`,
/// `1 <= e <= bs`, and for `x < 2^16`, `16 <= bs <= 32 KiB`: `x * M mod 2^32 = j * e` when `x = j * bs`, and
/// `>= M` otherwise (Lemire, Kaser and Kurz, "Faster remainder by direct computation", 2019, with 32-bit
/// words: exact while `log2(x) + log2(bs) <= 32`; `M` is one more than theirs for powers of two, so that `e`
/// is never 0). For every SuperSlab block size (at most 32 KiB, the largest Pool class) `M > 2^17 > 65536`,
/// which is larger than any limit of [`check_word`] (at most `capacity * bs <= 65536`); the unit test
/// checks every class and every `x` exhaustively.
pub const fn div_of(bs: u32) -> u32 {
    ((1u64 << 32) / bs as u64) as u32 + 1
}

/// A slab's block-start word (`Slab::check`): `M | lim << 32`, `M` = [`div_of`], `lim = ncarved * e`, where
/// `ncarved = (carve - start) / bs` is the number of blocks carved. For any `p` in the slab's 64 KiB area
/// (blocks start at its 64 KiB boundary, so `x = p & 0xffff = p - start`):
/// `(x * M) mod 2^32 < lim` ⇔ `x = j * bs` with `j < ncarved` ⇔ `p` is a block start below `carve`
/// (multiples give `j * e`, increasing in `j`; other `x` give `>= M > lim`). `lim = 0` (nothing carved, or an
/// unassigned slab's zero word) passes nothing; addresses past the blocks (the slab's tail slack, or the
/// header page after slab 31) give `j >= capacity >= ncarved`. `lim` is linear in `carve`: a carve of `n`
/// blocks adds `n * e` ([`carved_step`]), an un-carve subtracts `e`.
pub const fn check_word(bs: u32, ncarved: u32) -> u64 {
    let m = div_of(bs);
    let e = bs.wrapping_mul(m);
    m as u64 | ((ncarved * e) as u64) << 32
}

/// The fast block-start test of a slab with block-start word `M | lim << 32` on the address `a`: only its
/// low 16 bits count (see [`check_word`]).
#[inline(always)]
pub fn block_start_passes(a: usize, m: u32, lim: u32) -> bool {
    (a as u16 as u32).wrapping_mul(m) < lim
}

/// What one more carved block adds to the slab's [`check_word`] (`e << 32`).
#[inline(always)]
pub fn carved_step(slab: &Slab) -> u64 {
    (slab.block_size.wrapping_mul(slab.check as u32) as u64) << 32
}

/// Owner-side fast test of a free of `p` in `slab`: true when `p` is a block start below the slab's carve
/// pointer whose key word does not hold the key. Cost: the low 16 bits of `p`, a 32-bit multiply by the
/// slab's `M` and a compare with its `lim` (both in the slab's [`check_word`], on the slab's line, which the
/// free already reads for the class), and a compare of the block's key word — no table, no atomics.
///
/// # Safety
/// `p` lies in a SuperSlab owned by the calling thread's heap; `slab == slab_of(p)`; level ≥ 1.
#[inline(always)]
pub unsafe fn small_free_ok(slab: *mut Slab, p: *mut u8) -> bool {
    // SAFETY: forwarded.
    unsafe { small_free_test(slab, p, key_of(p as usize)) }
}

/// [`small_free_ok`] with the key `k` already loaded, and if it passes, the key written: the owner's free
/// fast path.
///
/// # Safety
/// As [`small_free_ok`]; `k` is the key; the caller frees `p` when this returns true.
#[inline(always)]
pub unsafe fn small_free_mark(slab: *mut Slab, p: *mut u8, k: usize) -> bool {
    // SAFETY: forwarded; a passing `p` is a block start of at least 16 bytes the caller gives up.
    unsafe {
        if !small_free_test(slab, p, k) {
            return false;
        }
        *(p as *mut usize).add(1) = k;
    }
    true
}

/// [`small_free_mark`] for a free that is not the owner's fast path (another thread's block, a SuperSlab
/// without an owner token): the slab's [`check_word`] is read racily (volatile, one 64-bit load, so `M` and
/// `lim` come from the same write), and a failed test (a misuse, or a block of a slab that changed meanwhile)
/// goes to [`validate`], which decides. Spares the remote free `validate`'s division.
///
/// Races with the owner, who rewrites the word as its `carve` moves: a carve only raises `lim`, and a block
/// the caller may free was handed out after the carve that made it (the hand-out and this free are ordered by
/// the program's own synchronisation), so the word read is at least that one. A stale *larger* `lim` (the
/// owner un-carved blocks at the frontier since) can only pass a block the owner's cache gave back: one the
/// program freed, whose key word holds `K` (mark on every free), so the key compare below still sends it to
/// [`validate`]; or one a refill carved and the cache never handed out, a block start the program can only
/// compute, which level 1 does not detect anyway (module docs). A stale *smaller* word (an unassigned slab's
/// 0, or a word of the slab's previous class) passes nothing more than an exact one would, or sends the
/// free to [`validate`].
///
/// # Safety
/// `p` lies in a mapped SuperSlab; `slab == slab_of(p)`; level ≥ 1; the caller gives `p` up when this returns
/// true.
#[inline]
pub unsafe fn shared_free_mark(slab: *mut Slab, p: *mut u8) -> bool {
    let a = p as usize;
    let k = key_of(a);
    // SAFETY: the SuperSlab header is mapped; the key word is read only once `p` is a block start below
    // `carve` (a mapped block of at least 16 bytes, below the header).
    unsafe {
        let w = core::ptr::read_volatile(core::ptr::addr_of!((*slab).check));
        if !block_start_passes(a, w as u32, (w >> 32) as u32) {
            return false;
        }
        if read_key_word(a) == k {
            return false;
        }
        core::ptr::write_volatile((p as *mut usize).add(1), k);
    }
    true
}

#[inline(always)]
unsafe fn small_free_test(slab: *mut Slab, p: *mut u8, k: usize) -> bool {
    // SAFETY: owner-only slab fields, read by the owner; the key word is read only once `p` is known to be a
    // block start below `carve` (so the block, at least 16 bytes, is mapped).
    unsafe {
        // One multiply and one compare decide "a block start below carve" (see `check_word`). The two
        // halves of `check` are read as two 32-bit operands (x86-64 is little-endian: `M` first).
        let w = core::ptr::addr_of!((*slab).check) as *const u32;
        if !block_start_passes(p as usize, *w, *w.add(1)) {
            return false;
        }
        *(p as *const usize).add(1) != k
    }
}

/// Marks `p` freed (its key word = `K`). Level ≥ 1; `p` is a block start of at least 16 bytes, ours to write.
///
/// # Safety
/// As stated.
#[inline(always)]
pub unsafe fn mark_free(p: *mut u8) {
    // SAFETY: per contract.
    unsafe { *(p as *mut usize).add(1) = key_of(p as usize) };
}

/// Clears `p`'s key word as the block is handed out. Level ≥ 1; `p` a block start of at least 16 bytes.
///
/// # Safety
/// As stated.
#[inline(always)]
pub unsafe fn mark_live(p: *mut u8) {
    // SAFETY: per contract.
    unsafe { *(p as *mut usize).add(1) = 0 };
}

/// The free-list link key `L` (0 below level 2, and before start-up).
#[inline(always)]
pub fn link_key() -> usize {
    STATE.link.load(Ordering::Relaxed)
}

/// The word stored in the freed block at `slot` to link it to `next` (level 2, as mimalloc's secure mode):
/// ```text
///  stored = next ^ L ^ rotl(slot, 17)        (L = link_key(); L == 0: stored = next)
/// ```
/// A program that overwrites the first word of a freed block with an address it chose (another block, the
/// stack) cannot make it decode to that address without `L`; the decoded value is then almost never a block
/// start of the same slab or chunk, which every pop and walk checks ([`link_ok`]). Its own inverse.
#[inline(always)]
pub fn link_code(lk: usize, slot: usize, next: usize) -> usize {
    if lk == 0 {
        next
    } else {
        next ^ lk ^ slot.rotate_left(17)
    }
}

/// Whether a decoded link `next` may follow a free block of the area `[start, carve)` carved in `bs`-byte
/// blocks: null, or one of its block starts.
#[inline(always)]
pub fn link_ok(next: usize, start: usize, carve: usize, bs: usize) -> bool {
    next == 0 || (next >= start && next < carve && (next - start).is_multiple_of(bs))
}

/// Level 2: the free-list link stored in the freed block at `slot` (SuperSlab class `cls` of `bs`-byte
/// blocks) decodes to a pointer that is not a block of its slab: `hakmem: malloc(): corrupted free list at
/// 0x… (class N, S B)`, then abort.
#[cold]
#[inline(never)]
pub fn report_free_list(slot: usize, cls: usize, bs: usize) -> ! {
    report_list(slot, Desc::Small { cls, bs })
}

/// [`report_free_list`] for a Mid chunk's free list (the caller released the class lock).
#[cold]
#[inline(never)]
pub fn report_mid_free_list(slot: usize, cls: usize, bs: usize) -> ! {
    report_list(slot, Desc::Mid { cls, bs })
}

fn report_list(slot: usize, desc: Desc) -> ! {
    report(Call::Malloc, Misuse::CorruptList, slot, desc)
}

/// The call a misuse is reported against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// `free` (and `free_aligned_sized`, `cfree`, Rust `dealloc`).
    Free,
    /// `free_sized`.
    FreeSized,
    /// `realloc` / `reallocarray`.
    Realloc,
    /// `malloc` and the other allocation calls (level 2: write-after-free found at reuse).
    Malloc,
    /// `malloc_usable_size`.
    UsableSize,
}

impl Call {
    fn name(self) -> &'static str {
        match self {
            Call::Free => "free",
            Call::FreeSized => "free_sized",
            Call::Realloc => "realloc",
            Call::Malloc => "malloc",
            Call::UsableSize => "malloc_usable_size",
        }
    }
}

/// What was wrong.
#[derive(Clone, Copy, Debug)]
enum Misuse {
    /// The block is already free.
    DoubleFree,
    /// `p` lies `off` bytes into the block at `block`.
    NotStart { block: usize, off: usize },
    /// A block start the allocator never handed out.
    NeverAllocated,
    /// `p` lies in HAKMEM memory that holds no block (headers, slack, an emptied slab).
    NoBlock,
    /// Level 2: the canary after the `size`-byte block was overwritten.
    Overflow { size: usize },
    /// Level 2: the canary (or size word) before the block was overwritten.
    Underflow,
    /// Level 2: a freed block was written at offset `off` of its old user area (found when handed out again).
    WriteAfterFree { off: usize },
    /// Level 2: the free-list link stored in the freed block decodes to no block of its slab or chunk.
    CorruptList,
}

/// Which block, for the message.
#[derive(Clone, Copy, Debug)]
enum Desc {
    Small { cls: usize, bs: usize },
    Mid { cls: usize, bs: usize },
    Large { len: usize },
    None,
}

/// Writes `hakmem: CALL(): WHAT 0x… (BLOCK)` on stderr and aborts. Uses no heap.
#[cold]
#[inline(never)]
fn report(call: Call, what: Misuse, p: usize, desc: Desc) -> ! {
    let mut m = os::StackBuf::<256>::new();
    let c = call.name();
    let _ = match what {
        Misuse::DoubleFree if matches!(call, Call::Free | Call::FreeSized) => {
            write!(m, "hakmem: {c}(): double free of {p:#x} (")
        }
        Misuse::DoubleFree => write!(m, "hakmem: {c}(): {p:#x} was already freed ("),
        Misuse::NotStart { block, off } => write!(
            m,
            "hakmem: {c}(): invalid pointer {p:#x} ({off} bytes into the block at {block:#x}; "
        ),
        Misuse::NeverAllocated => write!(
            m,
            "hakmem: {c}(): invalid pointer {p:#x} (a block never handed out; "
        ),
        Misuse::NoBlock => write!(m, "hakmem: {c}(): invalid pointer {p:#x} (not a block; "),
        Misuse::Overflow { size } => write!(
            m,
            "hakmem: {c}(): heap overflow: the {size}-byte block {p:#x} was written past its end ("
        ),
        Misuse::Underflow => write!(
            m,
            "hakmem: {c}(): heap underflow: the bytes before the block {p:#x} were overwritten ("
        ),
        Misuse::CorruptList => write!(m, "hakmem: {c}(): corrupted free list at {p:#x} ("),
        Misuse::WriteAfterFree { off } => write!(
            m,
            "hakmem: {c}(): write after free: the freed block {p:#x} was modified at offset {off} ("
        ),
    };
    let _ = match desc {
        Desc::Small { cls, bs } => writeln!(m, "class {cls}, {bs} B)"),
        Desc::Mid { cls, bs } => writeln!(m, "mid class {cls}, {bs} B)"),
        Desc::Large { len } => writeln!(m, "large block, {len} B)"),
        Desc::None => writeln!(m, "HAKMEM memory)"),
    };
    os::write_stderr(m.as_bytes());
    os::abort()
}

/// Checks that `p` (non-null, chunk-map byte `kind`) is the start of a live HAKMEM block, reporting (and
/// aborting) if it is a HAKMEM address that is not. Returns true if `p` is a live block of ours, false if it is
/// not HAKMEM memory at all (the C library's). Level ≥ 1.
///
/// # Safety
/// `h` is the calling thread's heap (or the empty heap); `kind == os::chunk_kind(p)`.
#[cold]
#[inline(never)]
pub unsafe fn validate(h: *mut Heap, p: *mut u8, kind: u8, call: Call) -> bool {
    let a = p as usize;
    if os::is_small(kind) {
        // SAFETY: the chunk map says a SuperSlab is mapped at `a`'s chunk.
        unsafe { small(h, a, call) };
        return true;
    }
    if kind == os::KIND_LARGE && mid::is_mid(a) {
        return mid_check(a, call);
    }
    if kind == os::KIND_LARGE || kind == os::KIND_LARGE_BACK {
        return large_check(a, kind, call);
    }
    false
}

/// [`validate`] of a SuperSlab address.
///
/// # Safety
/// `a` lies in a mapped SuperSlab; `h` as in [`validate`].
unsafe fn small(h: *mut Heap, a: usize, call: Call) {
    let ss = superslab::superslab_of(a);
    let slab = superslab::slab_of(a);
    // SAFETY: the header is mapped. A non-owner reads owner fields racily (volatile): `end`, `class` and
    // `block_size` do not change while the slab holds a live block, and `carve` only grows.
    unsafe {
        let owner = (*ss).owner.load(Ordering::Relaxed) == h as usize && h != heap::empty();
        let assigned = core::ptr::read_volatile(core::ptr::addr_of!((*slab).assigned));
        let cls = core::ptr::read_volatile(core::ptr::addr_of!((*slab).class)) as usize;
        let bs = core::ptr::read_volatile(core::ptr::addr_of!((*slab).block_size)) as usize;
        let end = core::ptr::read_volatile(core::ptr::addr_of!((*slab).end));
        let carve = core::ptr::read_volatile(core::ptr::addr_of!((*slab).carve));
        let index = core::ptr::read_volatile(core::ptr::addr_of!((*slab).index)) as usize;
        let start = superslab::slab_start(ss, index);
        let desc = if assigned && bs != 0 {
            Desc::Small { cls, bs }
        } else {
            Desc::None
        };
        if !assigned || bs == 0 || a < start || a >= end {
            // A block of an emptied slab still carries its key: name a double free as one.
            if (a & 15) == 0 && (a & (CHUNK - 1)) < CHUNK - HEADER && read_key_word(a) == key_of(a)
            {
                report(call, Misuse::DoubleFree, a, desc);
            }
            report(call, Misuse::NoBlock, a, desc);
        }
        let off = (a - start) % bs;
        if off != 0 {
            report(
                call,
                Misuse::NotStart {
                    block: a - off,
                    off,
                },
                a,
                desc,
            );
        }
        let freed = read_key_word(a) == key_of(a);
        if a >= carve {
            // A freed block a cache flush un-carved keeps its key.
            let what = if freed {
                Misuse::DoubleFree
            } else {
                Misuse::NeverAllocated
            };
            report(call, what, a, desc);
        }
        if freed && (!owner || on_small_lists(h, slab, cls, start, carve, bs, a)) {
            report(call, Misuse::DoubleFree, a, desc);
        }
        // A live block whose data equals a key: not a misuse.
    }
}

/// The key word of the block at `a` (a 16-byte aligned address inside a mapped chunk, not its last 16 bytes).
///
/// # Safety
/// As stated.
unsafe fn read_key_word(a: usize) -> usize {
    // SAFETY: per contract; volatile, as the program may hold (and write) the block.
    unsafe { core::ptr::read_volatile((a as *const usize).add(1)) }
}

/// Whether the block `a` is free in one of the places a free block of an owned slab can be: the owner's
/// Unified Cache and pending list for its class, the slab's free list, the slab's remote list.
///
/// # Safety
/// `h` is the calling thread's live heap and owns `slab`'s SuperSlab; `[start, carve)` is the slab's carved
/// area of `bs`-byte blocks.
unsafe fn on_small_lists(
    h: *mut Heap,
    slab: *mut Slab,
    cls: usize,
    start: usize,
    carve: usize,
    bs: usize,
    a: usize,
) -> bool {
    // SAFETY: owner-only structures read by the owner; list nodes are followed only while they are block
    // starts inside the carved area (a list corrupted by a write after free ends the walk).
    unsafe {
        let c = heap::cache_of(h, cls);
        let slots = c.slots();
        for i in 0..c.count() as usize {
            if *slots.add(i) as usize == a {
                return true;
            }
        }
        let in_area = |b: usize| b >= start && b < carve && (b - start).is_multiple_of(bs);
        let cap = (*slab).capacity as usize + 1;
        let heads = [
            *c.pending() as usize,
            (*slab).free as usize,
            superslab::remote_of(slab).load(Ordering::Acquire) as usize,
        ];
        for (k, &head) in heads.iter().enumerate() {
            let mut b = head;
            let mut n = 0;
            // The pending list may hold blocks of other slabs of the class: follow it while it stays in
            // SuperSlab memory of the same class.
            while b != 0 && n < cap * 64 {
                if b == a {
                    return true;
                }
                let ok = if k == 0 {
                    os::is_small(os::chunk_kind(b))
                        && (*superslab::slab_of(b)).class as usize == cls
                        && (b & 15) == 0
                } else {
                    in_area(b)
                };
                if !ok {
                    break;
                }
                b = link_code(link_key(), b, *(b as *const usize));
                n += 1;
            }
        }
        false
    }
}

/// [`validate`] of an address in a Mid chunk.
fn mid_check(a: usize, call: Call) -> bool {
    let info = mid::inspect(a);
    let desc = Desc::Mid {
        cls: info.class,
        bs: info.block_size,
    };
    match info.block {
        None => report(call, Misuse::NoBlock, a, desc),
        Some(b) if b != a => report(
            call,
            Misuse::NotStart {
                block: b,
                off: a - b,
            },
            a,
            desc,
        ),
        Some(_) if !info.carved => report(call, Misuse::NeverAllocated, a, desc),
        Some(_) if info.free => report(call, Misuse::DoubleFree, a, desc),
        Some(_) => true,
    }
}

/// [`validate`] of an address in a chunk marked Large: false if it lies outside the Large mapping there (the
/// rest of the chunk may be the C library's).
fn large_check(a: usize, kind: u8, call: Call) -> bool {
    let Some(m) = large::inspect(a, kind) else {
        return false;
    };
    if a < m.base || a >= m.base + m.len {
        return false;
    }
    let desc = Desc::Large {
        len: m.base + m.len - m.user,
    };
    if a != m.user {
        if a > m.user {
            report(
                call,
                Misuse::NotStart {
                    block: m.user,
                    off: a - m.user,
                },
                a,
                desc,
            );
        }
        report(call, Misuse::NoBlock, a, desc);
    }
    if !m.live {
        report(call, Misuse::DoubleFree, a, desc);
    }
    true
}

/// Whether the block start `p` holds the freed key (level ≥ 1).
///
/// # Safety
/// `p` is a block start of a mapped block of at least 16 bytes.
pub unsafe fn has_free_key(p: usize) -> bool {
    // SAFETY: per contract.
    unsafe { read_key_word(p) == key_of(p) }
}

const POISON: u8 = 0xdf;
const POISON_WORD: usize = usize::from_ne_bytes([POISON; 8]);

/// Offset of the first byte of `[from, from + len)` that is not poison (compared a word at a time).
///
/// # Safety
/// The range is mapped; `from` is 8-byte aligned.
unsafe fn first_unpoisoned(from: usize, len: usize) -> Option<usize> {
    let mut off = 0;
    // SAFETY: per contract.
    unsafe {
        while off + 8 <= len && read(from + off) == POISON_WORD {
            off += 8;
        }
        (off..len).find(|&i| *((from + i) as *const u8) != POISON)
    }
}
/// Blocks larger than this are not poisoned.
const POISON_MAX: usize = mid::MID_MAX;
const SIZE_MASK: usize = (1 << 56) - 1;

/// Whether freed blocks of this size and kind are poisoned: Small and Mid blocks up to [`POISON_MAX`] (Large
/// ranges are split and merged, and their headers move).
fn poisoned(bs: usize, desc: Desc) -> bool {
    bs <= POISON_MAX && matches!(desc, Desc::Small { .. } | Desc::Mid { .. })
}

/// Level 2: clears the poison tags of a slab's blocks as it leaves its class, so that blocks carved in
/// a later class (whose tail slack or block starts may coincide with this geometry's tag words) are never
/// taken for poisoned blocks of a new life.
///
/// # Safety
/// The caller owns the slab, which holds no live block (it is being unassigned).
pub unsafe fn on_slab_unassign(slab: *mut Slab) {
    if level() != 2 {
        return;
    }
    // SAFETY: per contract; `[start, end)` is the slab's area of `block_size`-byte blocks.
    unsafe {
        let bs = (*slab).block_size as usize;
        let ss = superslab::superslab_of(slab as usize);
        let mut b = superslab::slab_start(ss, (*slab).index as usize);
        if !(32..=POISON_MAX).contains(&bs) {
            return;
        }
        // Up to `end`, not `carve`: a cache flush un-carves freed (tagged) blocks at the frontier. Only tagged
        // words are written, so pages never touched stay untouched.
        while b + bs <= (*slab).end {
            let w = (b + bs - 8) as *mut usize;
            if core::ptr::read_volatile(w) == poison_tag(b, bs) {
                core::ptr::write_volatile(w, 0);
            }
            b += bs;
        }
    }
}

/// The last word of a poisoned block: tied to the block's address and size, so that a slab carved again in
/// another class (whose blocks lie elsewhere, and which overwrote the old tags when its own blocks were
/// freed) is not taken for poisoned blocks.
fn poison_tag(block: usize, bs: usize) -> usize {
    STATE.canary.load(Ordering::Relaxed).rotate_left(29)
        ^ block
        ^ bs.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// Bits every canary has set: the high bit of its first byte (the byte just past the user area, for the canary
/// after it) and of its last byte (the byte just before the user area, for the canary before it). A one-byte
/// overflow or underflow that writes a byte below 0x80 there (a string's NUL terminator, any ASCII character)
/// always changes the canary; other bytes are caught unless they equal the random byte there (1 in 128).
const CANARY_EDGES: usize = 0x8000_0000_0000_0080;

#[inline]
fn canary(user: usize) -> usize {
    (STATE.canary.load(Ordering::Relaxed) ^ user) | CANARY_EDGES
}

/// The block containing `a` (chunk-map byte `kind`): start, usable size, description, and whether it is live
/// (only Large blocks say; others report true). `None`: not in a block of ours.
///
/// # Safety
/// `kind == os::chunk_kind(a)`.
unsafe fn locate(a: usize, kind: u8) -> Option<(usize, usize, Desc, bool)> {
    if os::is_small(kind) {
        let ss = superslab::superslab_of(a);
        let slab = superslab::slab_of(a);
        // SAFETY: a mapped SuperSlab header; racy reads as in `small`.
        unsafe {
            let assigned = core::ptr::read_volatile(core::ptr::addr_of!((*slab).assigned));
            let cls = core::ptr::read_volatile(core::ptr::addr_of!((*slab).class)) as usize;
            let bs = core::ptr::read_volatile(core::ptr::addr_of!((*slab).block_size)) as usize;
            let end = core::ptr::read_volatile(core::ptr::addr_of!((*slab).end));
            let index = core::ptr::read_volatile(core::ptr::addr_of!((*slab).index)) as usize;
            let start = superslab::slab_start(ss, index);
            if !assigned || bs == 0 || a < start || a >= end {
                return None;
            }
            return Some((a - (a - start) % bs, bs, Desc::Small { cls, bs }, true));
        }
    }
    if kind == os::KIND_LARGE && mid::is_mid(a) {
        let info = mid::inspect(a);
        let desc = Desc::Mid {
            cls: info.class,
            bs: info.block_size,
        };
        return info.block.map(|b| (b, info.block_size, desc, true));
    }
    let m = large::inspect(a, kind)?;
    let len = m.base + m.len - m.user;
    (a >= m.user && a < m.base + m.len).then_some((m.user, len, Desc::Large { len }, m.live))
}

/// A checked level-2 user pointer: its raw block, size, shift.
struct Padded {
    block: usize,
    bs: usize,
    n: usize,
    desc: Desc,
    /// An unpadded Large block (alignment above 4 KiB): no canaries.
    raw: bool,
}

/// Checks the level-2 user pointer `a`: reports (and aborts) on a misuse, `None` if it is not HAKMEM memory.
///
/// # Safety
/// `kind == os::chunk_kind(a)`; level 2.
unsafe fn check_user(a: usize, kind: u8, call: Call) -> Option<Padded> {
    let ours = os::is_small(kind)
        || (kind == os::KIND_LARGE && mid::is_mid(a))
        || large::inspect(a, kind).is_some_and(|m| a >= m.base && a < m.base + m.len);
    if !ours {
        return None;
    }
    // SAFETY: per contract.
    let Some((b, bs, desc, live)) = (unsafe { locate(a, kind) }) else {
        report(call, Misuse::NoBlock, a, Desc::None)
    };
    if a == b && matches!(desc, Desc::Large { .. }) {
        // Alignments above 4 KiB are handed out unpadded (see `aligned2`).
        if !live {
            report(call, Misuse::DoubleFree, a, desc);
        }
        return Some(Padded {
            block: b,
            bs,
            n: bs,
            desc,
            raw: true,
        });
    }
    if a < b + 16 || a & 15 != 0 {
        report(
            call,
            Misuse::NotStart {
                block: b,
                off: a - b,
            },
            a,
            desc,
        );
    }
    // SAFETY: `[a - 16, a)` lies inside the mapped block.
    let (w0, w1) = unsafe { (read(a - 16), read(a - 8)) };
    let n = w0 & SIZE_MASK;
    let shift = 1usize.checked_shl((w0 >> 56) as u32).unwrap_or(0);
    let header_ok = shift == a - b && n.checked_add(shift + 8).is_some_and(|t| t <= bs);
    if w1 == key_of(b) || (w0 == POISON_WORD && w1 == POISON_WORD) {
        report(call, Misuse::DoubleFree, a, desc);
    }
    if w1 != canary(a) {
        if header_ok {
            report(call, Misuse::Underflow, a, desc);
        }
        // An interior pointer: name the user pointer of a 16-byte-shift block if its header is there.
        // SAFETY: the block's first word is mapped.
        let user = if unsafe { read(b) } >> 56 == 4 {
            b + 16
        } else {
            b
        };
        report(
            call,
            Misuse::NotStart {
                block: user,
                off: a - user,
            },
            a,
            desc,
        );
    }
    if !header_ok {
        report(call, Misuse::Underflow, a, desc);
    }
    if !live {
        report(call, Misuse::DoubleFree, a, desc);
    }
    // SAFETY: `[a + n, a + n + 8)` lies inside the block (`header_ok`).
    if unsafe { core::ptr::read_unaligned((a + n) as *const usize) } != canary(a) {
        report(call, Misuse::Overflow { size: n }, a, desc);
    }
    Some(Padded {
        block: b,
        bs,
        n,
        desc,
        raw: false,
    })
}

/// # Safety
/// `a` is an aligned, mapped word.
unsafe fn read(a: usize) -> usize {
    // SAFETY: per contract; volatile, the program may share the memory.
    unsafe { core::ptr::read_volatile(a as *const usize) }
}

/// Level 2 `free` / `free_sized` of `p`: checks the canaries, poisons, frees the raw block. False if `p` is not
/// HAKMEM memory (the caller hands it to the C library).
///
/// # Safety
/// `p` is not null, `kind == os::chunk_kind(p)`; level 2.
pub unsafe fn free2(p: *mut u8, kind: u8, call: Call) -> bool {
    let a = p as usize;
    // SAFETY: per contract.
    let Some(u) = (unsafe { check_user(a, kind, call) }) else {
        return false;
    };
    // SAFETY: a live padded block of ours, given up by the caller.
    unsafe { release(a, &u) };
    true
}

/// Poisons and frees the checked padded block `a`.
///
/// # Safety
/// `u` is `check_user(a)` of a live block the caller gives up.
unsafe fn release(a: usize, u: &Padded) {
    // SAFETY: per contract: `[block + 16, block + bs)` is the block's own memory.
    unsafe {
        if u.raw {
            return crate::gatekeeper::free_raw(u.block as *mut u8);
        }
        if poisoned(u.bs, u.desc) {
            // A second free finds the key (16-byte shift: the raw block's key word, written by the raw free)
            // or a poisoned header.
            core::ptr::write_bytes((u.block + 16) as *mut u8, POISON, u.bs - 24);
            core::ptr::write_volatile(
                (u.block + u.bs - 8) as *mut usize,
                poison_tag(u.block, u.bs),
            );
        } else {
            core::ptr::write_volatile((a - 8) as *mut usize, key_of(u.block));
        }
        crate::gatekeeper::free_raw(u.block as *mut u8);
    }
}

/// Lays out a fresh raw block as a level-2 block of `n` bytes at `block + shift` (after the write-after-free
/// check of a poisoned block).
///
/// # Safety
/// `block` is a live raw block of at least `n + shift + 8` bytes; `shift` a power of two ≥ 16.
unsafe fn lay_out(block: usize, n: usize, shift: usize) -> *mut u8 {
    let user = block + shift;
    // SAFETY: per contract.
    unsafe {
        if let Some((b, bs, desc, _)) = locate(block, os::chunk_kind(block)) {
            if b == block && poisoned(bs, desc) && read(block + bs - 8) == poison_tag(block, bs) {
                if let Some(i) = first_unpoisoned(block + 16, bs - 24) {
                    report(
                        Call::Malloc,
                        Misuse::WriteAfterFree { off: i },
                        block + 16,
                        desc,
                    );
                }
            }
        }
        core::ptr::write_volatile(
            (user - 16) as *mut usize,
            n | (shift.trailing_zeros() as usize) << 56,
        );
        core::ptr::write_volatile((user - 8) as *mut usize, canary(user));
        core::ptr::write_unaligned((user + n) as *mut usize, canary(user));
    }
    user as *mut u8
}

/// Level 2 `malloc`.
///
/// # Safety
/// Always safe; raw memory for the caller.
#[cold]
#[inline(never)]
pub unsafe fn malloc2(n: usize) -> *mut u8 {
    if n > SIZE_MASK - 64 {
        os::set_errno(libc::ENOMEM);
        return core::ptr::null_mut();
    }
    // SAFETY: a fresh raw block of `n + 24` bytes.
    unsafe {
        if !level2_now() {
            return crate::gatekeeper::malloc_raw(n);
        }
        let raw = crate::gatekeeper::malloc_raw(n + 24);
        if raw.is_null() {
            return raw;
        }
        lay_out(raw as usize, n, 16)
    }
}

/// Level 2 `aligned_alloc` (`align` a power of two).
///
/// # Safety
/// As [`malloc2`].
#[cold]
#[inline(never)]
pub unsafe fn aligned2(align: usize, n: usize) -> *mut u8 {
    // SAFETY: forwarded.
    unsafe {
        if !level2_now() {
            return crate::gatekeeper::aligned_raw(align, n);
        }
        if align <= 16 {
            return malloc2(n);
        }
        if align > 4096 {
            // A Large block whose user pointer would lie chunks away from its header: no padding.
            return crate::gatekeeper::aligned_raw(align, n);
        }
        if n > SIZE_MASK - 64 || align > 1 << 40 {
            os::set_errno(libc::ENOMEM);
            return core::ptr::null_mut();
        }
        let raw = crate::gatekeeper::aligned_raw(align, n + align + 8);
        if raw.is_null() {
            return raw;
        }
        lay_out(raw as usize, n, align)
    }
}

/// Level 2 `realloc` of a non-null `p` to `size > 0` bytes; `None` if `p` is not HAKMEM memory.
///
/// # Safety
/// As C `realloc`; `kind == os::chunk_kind(p)`.
#[cold]
#[inline(never)]
pub unsafe fn realloc2(p: *mut u8, kind: u8, size: usize) -> Option<*mut u8> {
    let a = p as usize;
    // SAFETY: per contract; the old block has `u.n` readable bytes, the new one `size`.
    unsafe {
        let u = check_user(a, kind, Call::Realloc)?;
        if size == 0 {
            release(a, &u);
            return Some(core::ptr::null_mut());
        }
        let q = malloc2(size);
        if !q.is_null() {
            core::ptr::copy_nonoverlapping(p, q, u.n.min(size));
            release(a, &u);
        }
        Some(q)
    }
}

/// Level 2 `malloc_usable_size`: the requested size of a padded block; `None` if not HAKMEM memory.
///
/// # Safety
/// `kind == os::chunk_kind(p)`.
pub unsafe fn usable2(p: *mut u8, kind: u8) -> Option<usize> {
    // SAFETY: forwarded.
    unsafe { check_user(p as usize, kind, Call::UsableSize).map(|u| u.n) }
}

/// Mid box: reports the misuse its free found (after the class lock is released).
pub fn report_mid(p: usize) -> ! {
    // The caller released the lock; `mid_check` classifies again and reports.
    mid_check(p, Call::Free);
    report(Call::Free, Misuse::DoubleFree, p, Desc::None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast test of `check_word(bs, ncarved)` on the slab-relative address `x`.
    fn fast(w: u64, x: u32) -> bool {
        block_start_passes(x as usize, w as u32, (w >> 32) as u32)
    }

    #[test]
    fn block_start_test_is_exact_for_every_class_offset_and_carve() {
        use crate::superslab::SLAB_SIZE;
        for cls in 0..NUM_CLASSES {
            let bs = block_size(cls);
            let m = div_of(bs);
            assert!(
                m as usize > SLAB_SIZE,
                "class {cls}: M = {m} must exceed every limit"
            );
            // slab 0..30 (64 KiB of blocks) and slab 31 (the header takes its last 4 KiB)
            for area in [SLAB_SIZE, SLAB_SIZE - HEADER] {
                let cap = (area / bs as usize) as u32;
                assert!(cap >= 1, "class {cls}: no block fits");
                for ncarved in [0, 1, 2.min(cap), cap - 1, cap] {
                    let w = check_word(bs, ncarved);
                    assert!(((w >> 32) as usize) <= SLAB_SIZE);
                    for x in 0..SLAB_SIZE as u32 {
                        let want = x % bs == 0 && x / bs < ncarved;
                        assert_eq!(
                            fast(w, x),
                            want,
                            "class {cls} bs {bs} area {area} ncarved {ncarved} offset {x}"
                        );
                    }
                    if area < SLAB_SIZE {
                        // slab 31: nothing in the header page passes
                        for x in (SLAB_SIZE - HEADER) as u32..SLAB_SIZE as u32 {
                            assert!(!fast(w, x), "class {cls} header offset {x} passes");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn carved_step_keeps_the_word_in_step_with_carve() {
        for cls in 0..NUM_CLASSES {
            let bs = block_size(cls);
            let cap = (crate::superslab::SLAB_SIZE / bs as usize) as u32;
            // SAFETY: an all-zero Slab is a valid value of the plain-data struct.
            let mut slab: Slab = unsafe { core::mem::zeroed() };
            slab.block_size = bs;
            slab.check = check_word(bs, 0);
            for n in 1..=cap {
                slab.check += carved_step(&slab);
                assert_eq!(slab.check, check_word(bs, n), "class {cls} ncarved {n}");
            }
            for n in (0..cap).rev() {
                slab.check -= carved_step(&slab);
                assert_eq!(slab.check, check_word(bs, n), "class {cls} ncarved {n}");
            }
        }
    }

    /// A real SuperSlab: every slab assigned to one class, each carved to a different depth; the owner's fast
    /// test and the shared one pass exactly the carved block starts at every 16-byte address of the chunk,
    /// header page included, and the layout invariants hold.
    #[test]
    fn fast_tests_on_a_mapped_superslab_pass_exactly_the_carved_block_starts() {
        use crate::superslab::{self as ss_box, SLABS};
        let k = 0x5a5a_5a5a_5a5a_5a50usize;
        for cls in [0, 1, 3, 12, 20, 21, 28, 33, 37, NUM_CLASSES - 1] {
            let base = os::map(CHUNK, false);
            assert!(!base.is_null());
            // SAFETY: a fresh zeroed CHUNK-aligned mapping, ours alone; the slabs' areas are its memory.
            unsafe {
                let ss = ss_box::format(base, 1);
                assert_eq!(ss_box::superslab_of(base as usize), ss);
                assert_eq!(ss_box::base_of(ss), base as usize);
                assert_eq!(ss as usize, base as usize + CHUNK - HEADER);
                let mut out = vec![core::ptr::null_mut(); 4096];
                for i in 0..SLABS {
                    let slab = ss_box::slab_assign(ss, cls);
                    assert_eq!((*slab).index as usize, i);
                    let cap = (*slab).capacity as usize;
                    let want = [0, 1, cap / 2, cap.saturating_sub(1), cap][i % 5];
                    let got =
                        ss_box::slab_take(slab, out.as_mut_ptr(), want, core::ptr::null_mut());
                    assert_eq!(got, want);
                    if i % 5 == 3 && got > 0 {
                        // un-carve the frontier block (as a cache flush does) and free another one
                        let top = (*slab).carve - (*slab).block_size as usize;
                        ss_box::slab_push_local::<false>(slab, top as *mut u8);
                    }
                    ss_box::check_slab(slab).unwrap();
                }
                ss_box::check_invariants(ss).unwrap();
                assert_eq!(ss_box::slab_limit(ss, SLABS - 1), ss as usize);
                for a in (base as usize..base as usize + CHUNK).step_by(16) {
                    let slab = ss_box::slab_of(a);
                    let start = ss_box::slab_start(ss, (*slab).index as usize);
                    let bs = (*slab).block_size as usize;
                    let want = a < (*slab).carve && (a - start).is_multiple_of(bs);
                    assert_eq!(
                        small_free_test(slab, a as *mut u8, k),
                        want,
                        "class {cls} address {:#x}",
                        a - base as usize
                    );
                    let w = core::ptr::read_volatile(core::ptr::addr_of!((*slab).check));
                    assert_eq!(fast(w, (a & 0xffff) as u32), want);
                }
                // every slab empties back to unassigned (the check word goes to 0)
                for i in 0..SLABS {
                    let slab = core::ptr::addr_of_mut!((*ss).slabs[i]);
                    let bs = (*slab).block_size as usize;
                    let start = ss_box::slab_start(ss, i);
                    let mut a = start;
                    while a < (*slab).carve {
                        ss_box::slab_push_local::<false>(slab, a as *mut u8);
                        a += bs;
                    }
                    ss_box::slab_unassign(slab);
                    assert_eq!((*slab).check, 0);
                }
                ss_box::check_invariants(ss).unwrap();
                assert_eq!(ss_box::purge(ss), CHUNK - HEADER);
                assert_eq!((*ss).magic, ss_box::MAGIC, "the purge kept the header page");
                os::unmap(base, CHUNK);
            }
        }
    }
}
