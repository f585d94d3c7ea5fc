//! The Gatekeeper box: the single entrance for every allocation call — malloc, free, calloc, realloc,
//! aligned allocation, usable size.
//!
//! Fast paths (inlined into the caller; fat LTO makes them part of the replayer's loop; in `libhakmem.so`
//! they are the exported `malloc` and `free`, 15 and 25 instructions on a hit, `ret` included, 31 with the
//! misuse checks — the checked free skips the unchecked one's second token compare and adds 8: the
//! block-start test `movzwl; imul; cmp; jae` and the key load, compare, branch and store):
//! - `malloc(n ≤ 1024)`: thread-local heap load (initial-exec), one compare with the heap's `tiny_end`, the
//!   cache offset table, cache pop, the key word cleared — no atomics, no init or check-level test.
//! - `free(p)`: chunk-map byte (`p >> 21`) compared with the thread heap's owner token (`check_token` first:
//!   the default level pays no level test), the misuse checks' block-start and key test (one multiply, slab
//!   line and block only), class load from the slab header, cache push — no atomics, no load of the
//!   SuperSlab header.
//!
//! Everything else is `#[cold] #[inline(never)]`: heap start-up, refills, overflows, remote frees (one CAS on
//! the owning slab's remote list), Pool sizes, Large mappings, and pointers HAKMEM did not hand out (passed to
//! the C library's `__libc_free` / `__libc_realloc`, never dereferenced as ours).
//!
//! Invariants: every pointer returned is 16-byte aligned, `usable_size(p) ≥` the
//! requested size, and a block is never in two places (a cache, a slab list, the program) at once.

use core::ptr::null_mut;
use core::sync::atomic::Ordering;

use crate::check::{self, Call};
use crate::heap::{self, Heap};
use crate::os::bump;
use crate::route::{
    pool_class, tiny_class, tiny_class_unchecked, BLOCK_SIZE, NUM_CLASSES, POOL_MAX, TINY_MAX,
};
use crate::stats;
use crate::superslab::{self, remote_push, slab_of, superslab_of};
use crate::{idle_release, large, os, page_box, shared_pool, unified_cache};

extern "C" {
    fn __libc_free(p: *mut libc::c_void);
    fn __libc_realloc(p: *mut libc::c_void, size: usize) -> *mut libc::c_void;
}

/// Allocates `size` bytes (C `malloc`). Null with errno `ENOMEM` on failure.
///
/// # Safety
/// Always safe to call; `unsafe` because the result is raw memory the caller must manage.
///
/// Cost of a hit (through `libhakmem.so`): the heap (two loads, initial-exec TLS), a compare of `size` with the
/// heap's `tiny_end` (which also sends the empty start-up heap and level-2 checks to the slow path), the class
/// (one table load), the pop, and one store clearing the block's key word (the misuse checks'
/// freed mark). No atomics, no init or check-level test. Inlined into the caller (fat LTO).
#[inline(always)]
pub unsafe fn malloc(size: usize) -> *mut u8 {
    let h = heap::current();
    // SAFETY: `h` is this thread's heap or the empty heap (tiny_end 0, so never past this test).
    unsafe {
        if size >= (*h).tiny_end {
            return malloc_slow(size);
        }
        // Every heap's `tiny_end` is 0 or TINY_MAX + 1, so `size` indexes the class table.
        match unified_cache::try_pop(heap::cache_of(h, tiny_class_unchecked(size))) {
            Some(p) => {
                check::mark_live(p); // misuse checks: clear the freed key (every block has 16 bytes)
                p
            }
            None => alloc_miss(h, tiny_class(size)),
        }
    }
}

/// The malloc requests the fast path does not serve: level-2 checks (and the first call of the process,
/// which starts the allocator up), a thread's first Tiny request (its heap is the empty one), Pool and Large.
#[cold]
#[inline(never)]
unsafe fn malloc_slow(size: usize) -> *mut u8 {
    // SAFETY: forwarded.
    unsafe {
        if check::padded() {
            return check::malloc2(size);
        }
        malloc_body(size)
    }
}

/// A block of `size` bytes without the level-2 padding.
///
/// # Safety
/// As [`malloc`].
#[inline(always)]
unsafe fn malloc_body(size: usize) -> *mut u8 {
    if size <= TINY_MAX {
        // SAFETY: a valid class.
        return unsafe { alloc_class(tiny_class(size)) };
    }
    // SAFETY: as above.
    unsafe { malloc_mid(size) }
}

/// # Safety
/// `cls < NUM_CLASSES`.
#[inline(always)]
unsafe fn alloc_class(cls: usize) -> *mut u8 {
    let h = heap::current();
    // SAFETY: `h` is this thread's heap (or the never-written empty heap); cls < NUM_CLASSES.
    unsafe {
        match unified_cache::try_pop(heap::cache_of(h, cls)) {
            Some(p) => {
                check::mark_live(p); // misuse checks: clear the freed key
                p
            }
            None => alloc_miss(h, cls),
        }
    }
}

#[cold]
#[inline(never)]
unsafe fn alloc_miss(h: *mut Heap, cls: usize) -> *mut u8 {
    // SAFETY: forwarded.
    let p = unsafe { alloc_miss_inner(h, cls) };
    if !p.is_null() {
        // SAFETY: a block of at least 16 bytes, handed out now.
        unsafe { check::mark_live(p) }; // misuse checks: clear the freed key
    }
    p
}

/// Gives the calling thread its heap (see [`heap::init_thread`]) and writes on its first line what the fast
/// paths read: the misuse checks' level and key, and the malloc fast path's size bound (0 under level 2,
/// whose padded layout the slow path builds). Null if memory is exhausted.
#[cold]
#[inline(never)]
fn start_thread() -> *mut Heap {
    check::ensure_started();
    let h = heap::init_thread();
    if !h.is_null() {
        let level = check::level();
        // SAFETY: the calling thread's fresh (or recycled) heap, not yet used by anyone.
        unsafe {
            (*h).check_token = if level >= 1 {
                (*h).token
            } else {
                os::TOKEN_NEVER
            };
            (*h).tiny_end = if level >= 2 { 0 } else { TINY_MAX + 1 };
        }
    }
    h
}

unsafe fn alloc_miss_inner(mut h: *mut Heap, cls: usize) -> *mut u8 {
    if h == heap::empty() {
        h = start_thread();
        if h.is_null() {
            os::set_errno(libc::ENOMEM);
            return null_mut();
        }
    }
    // SAFETY: `h` is now our live heap.
    unsafe {
        let c = heap::cache_of(h, cls);
        let p = unified_cache::pop(c);
        if !p.is_null() {
            return p;
        }
        if let Some(p) = unified_cache::pop_pending(c) {
            return p;
        }
        let p = unified_cache::refill(heap::caches(h), cls);
        if p.is_null() {
            os::set_errno(libc::ENOMEM);
        }
        p
    }
}

#[inline(never)]
unsafe fn malloc_mid(size: usize) -> *mut u8 {
    if size <= POOL_MAX {
        // SAFETY: a valid class.
        unsafe { alloc_class(pool_class(size)) }
    } else {
        large::alloc(size, 16)
    }
}

/// Frees a block (C `free`); null is ignored; pointers HAKMEM did not hand out go to the C library.
///
/// # Safety
/// `p` is null or a live allocation (of HAKMEM or of the C library) not used afterwards.
///
/// Cost of the owner's free (through `libhakmem.so`): the chunk-map byte, the heap (two loads), a compare with
/// the heap's token, the class byte from the slab's line, with checks on (a test of the level byte on the
/// heap's first line) the block-start test and the key compare and store (see [`check::small_free_mark`]),
/// and the cache push. No atomics. Inlined, as [`malloc`].
#[inline(always)]
pub unsafe fn free(p: *mut u8) {
    let kind = os::chunk_kind(p as usize);
    // SAFETY: forwarded.
    unsafe { free_in::<false>(heap::current(), p, kind) }
}

/// [`free`] with the chunk-map byte `kind` of `p` and the thread heap `h` already read.
///
/// # Safety
/// As [`free`]; `h` is this thread's heap (or the never-written empty heap); `kind` is `p`'s chunk-map byte.
#[inline(always)]
unsafe fn free_in<const RAW: bool>(h: *mut Heap, p: *mut u8, kind: u8) {
    let a = p as usize;
    // SAFETY: a chunk-map byte equal to our heap's token means a SuperSlab we own (tokens are written only by
    // the owner-to-be and withdrawn by the owner before it lets go); its header and slab table are mapped.
    unsafe {
        if kind == (*h).check_token {
            // Ours, misuse checks on: a block start below `carve` without the freed key gets it, else the
            // cold check.
            // The class byte is read before the test (the header is mapped whatever `p` is), with the same
            // base + index addressing as the test's loads: no slab pointer is materialised.
            let (slab, key) = superslab::slab_and_top(a);
            let cls = (*slab).class as usize;
            if !check::small_free_mark(slab, p, key) {
                return free_checked::<RAW>(h, p, kind);
            }
            if unified_cache::push(heap::cache_of(h, cls), p) {
                // No instruction: it keeps this push's tail apart from the unchecked path's identical one
                // (LLVM merges them otherwise), so that the default level falls through to its `ret`
                // instead of jumping into the other's.
                core::arch::asm!("", options(nomem, nostack, preserves_flags));
                return;
            }
            return unified_cache::flush_and_push(heap::caches(h), cls, p);
        }
        if kind == (*h).token {
            // Ours, misuse checks off (`HAKMEM_CHECK=0`).
            return free_push(h, (*slab_of(a)).class as usize, p);
        }
        free_slow::<RAW>(h, p, kind)
    }
}

/// The owner's push of a free block of class `cls`.
///
/// # Safety
/// `h` is the calling thread's live heap; `p` a free block of class `cls` in a SuperSlab it owns.
#[inline(always)]
unsafe fn free_push(h: *mut Heap, cls: usize, p: *mut u8) {
    // SAFETY: forwarded.
    unsafe {
        if !unified_cache::push(heap::cache_of(h, cls), p) {
            unified_cache::flush_and_push(heap::caches(h), cls, p);
        }
    }
}

/// A free the fast check did not pass: the full check (which aborts on a misuse), then the owner's push.
///
/// # Safety
/// As [`free_in`], with `kind` our heap's token.
#[cold]
#[inline(never)]
unsafe fn free_checked<const RAW: bool>(h: *mut Heap, p: *mut u8, kind: u8) {
    // SAFETY: forwarded; after `validate` returns, `p` is a live block of a slab we own.
    unsafe {
        if !RAW && check::padded() {
            // Level 2 hands out block + 16 (never a block start): its own free.
            return free_level2(p, kind, Call::Free);
        }
        check::validate(h, p, kind, Call::Free);
        check::mark_free(p);
        let cls = (*slab_of(p as usize)).class as usize;
        if !unified_cache::push(heap::cache_of(h, cls), p) {
            unified_cache::flush_and_push(heap::caches(h), cls, p);
        }
    }
}

/// Frees that are not "a block of a SuperSlab whose token is ours": SuperSlabs of heaps without a token,
/// other threads' blocks, Large blocks, null and foreign pointers.
#[cold]
#[inline(never)]
unsafe fn free_slow<const RAW: bool>(h: *mut Heap, p: *mut u8, kind: u8) {
    let a = p as usize;
    if !RAW && !p.is_null() && check::padded() {
        // SAFETY: forwarded.
        return unsafe { free_level2(p, kind, Call::Free) };
    }
    if os::is_small(kind) {
        // SAFETY: the chunk map says a SuperSlab is mapped there.
        unsafe {
            if check::level() != 0 && !check::shared_free_mark(slab_of(a), p) {
                // Misuse checks (aborts on a misuse), then the freed key, written before the block is given up.
                check::validate(h, p, kind, Call::Free);
                check::mark_free(p);
            }
            if (*superslab_of(a)).owner.load(Ordering::Relaxed) == h as usize {
                let cls = (*slab_of(a)).class as usize;
                if !unified_cache::push(heap::cache_of(h, cls), p) {
                    unified_cache::flush_and_push(heap::caches(h), cls, p);
                }
                return;
            }
            return free_remote(h, p);
        }
    }
    // SAFETY: forwarded contract.
    unsafe { free_other(p, kind) }
}

#[cold]
#[inline(never)]
unsafe fn free_remote(mut h: *mut Heap, p: *mut u8) {
    let a = p as usize;
    let slab = slab_of(a);
    // A thread that only frees (a consumer) gets a heap too, so its counters stay thread-local.
    if h == heap::empty() {
        h = start_thread();
    }
    // SAFETY: `p` is a live block of that slab; the push is one CAS on the slab's remote list, which lives
    // apart from the slab fields the owner writes. Nothing else of the slab is read.
    unsafe {
        let ss = superslab_of(a);
        let owner = (*ss).owner.load(Ordering::Relaxed);
        if owner == 0
            && !h.is_null()
            && heap::config().reclaim_on_free
            && page_box::reclaim_on_free(heap::pages(h), ss)
        {
            // The SuperSlab is ours now: an ordinary local free.
            let cls = (*slab).class as usize;
            if !unified_cache::push(heap::cache_of(h, cls), p) {
                unified_cache::flush_and_push(heap::caches(h), cls, p);
            }
            return;
        }
        if !h.is_null() {
            bump(&(*h).remote_frees, 1);
        } else {
            stats::REMOTE_FREES_NO_HEAP.fetch_add(1, Ordering::Relaxed);
        }
        remote_push(slab, p);
        if owner == 0 {
            let n = stats::REMOTE_FREES_ABANDONED.fetch_add(1, Ordering::Relaxed);
            if n % 256 == 255 {
                shared_pool::maybe_tick();
                idle_release::request();
            }
        }
    }
}

#[cold]
#[inline(never)]
unsafe fn free_other(p: *mut u8, kind: u8) {
    if p.is_null() {
        return;
    }
    // SAFETY: forwarded contract: a live Large block is unmapped once; anything else belongs to the C library.
    unsafe {
        if kind == os::KIND_LARGE || kind == os::KIND_LARGE_BACK {
            match large::free(p, kind) {
                large::Freed::NotOurs => {}
                large::Freed::Done => return,
                large::Freed::Waiting => return idle_release::request(),
                large::Freed::TickDue => {
                    shared_pool::maybe_tick();
                    return idle_release::request();
                }
            }
            // Misuse checks: a Large or Mid address that is not a live block is reported (never handed to the
            // C library); the rest of a shared chunk is the C library's.
            if check::level() != 0 && check::validate(heap::empty(), p, kind, Call::Free) {
                return;
            }
        }
        foreign_free(p);
    }
}

unsafe fn foreign_free(p: *mut u8) {
    stats::FOREIGN_FREES.fetch_add(1, Ordering::Relaxed);
    // SAFETY: the pointer is not ours, so by the caller's contract it came from the C library's allocator.
    unsafe { __libc_free(p as *mut libc::c_void) };
}

/// Whether HAKMEM handed out `p` (a live SuperSlab block address or a Large block).
pub fn owns(p: *const u8) -> bool {
    match os::chunk_kind(p as usize) {
        k if os::is_small(k) => true,
        k @ (os::KIND_LARGE | os::KIND_LARGE_BACK) => large::usable(p as *mut u8, k).is_some(),
        _ => false,
    }
}

/// Usable size of a block (C `malloc_usable_size`); 0 for null. For a pointer of the C library, the size its
/// chunk header records.
///
/// # Safety
/// `p` is null or a live allocation.
pub unsafe fn usable_size(p: *mut u8) -> usize {
    let a = p as usize;
    if check::padded() && !p.is_null() {
        // SAFETY: forwarded (level 2: the requested size, if `p` is a padded block of ours).
        if let Some(n) = unsafe { check::usable2(p, os::chunk_kind(a)) } {
            return n;
        }
    }
    match os::chunk_kind(a) {
        // SAFETY: the block's slab header is mapped.
        k if os::is_small(k) => unsafe { (*slab_of(a)).block_size as usize },
        _ if p.is_null() => 0,
        k => match large::usable(p, k) {
            Some(n) => n,
            // SAFETY: a live C-library block has its chunk header (size | flags) in the word before it.
            None => unsafe { foreign_usable(p) },
        },
    }
}

unsafe fn foreign_usable(p: *mut u8) -> usize {
    // SAFETY: per the caller, `p` is a live glibc chunk: the size word precedes it. Volatile, because a
    // compiler that sees the `malloc` call producing `p` would treat a plain read before it as out of bounds.
    let word = unsafe { core::ptr::read_volatile((p as *const usize).sub(1)) };
    let size = word & !7;
    let overhead = if word & 2 != 0 { 16 } else { 8 };
    size.saturating_sub(overhead)
}

/// Allocates `n * size` zeroed bytes (C `calloc`); null with ENOMEM on overflow or exhaustion.
///
/// # Safety
/// As [`malloc`].
#[inline]
pub unsafe fn calloc(n: usize, size: usize) -> *mut u8 {
    let Some(total) = n.checked_mul(size) else {
        os::set_errno(libc::ENOMEM);
        return null_mut();
    };
    if check::padded() {
        // SAFETY: a fresh padded block of `total` bytes.
        unsafe {
            let p = check::malloc2(total);
            if !p.is_null() {
                core::ptr::write_bytes(p, 0, total);
            }
            return p;
        }
    }
    if total > POOL_MAX {
        // Fresh mappings are already zero; only reused ones are cleared.
        return large::alloc_zeroed(total);
    }
    // SAFETY: fresh block of at least `total` bytes.
    unsafe {
        let p = malloc(total);
        if !p.is_null() {
            core::ptr::write_bytes(p, 0, total);
        }
        p
    }
}

/// Resizes a block (C `realloc`): null `p` allocates; size 0 frees and returns null (glibc); on failure
/// returns null and leaves `p` untouched.
///
/// # Safety
/// As [`free`] for `p`.
pub unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8 {
    if p.is_null() {
        // SAFETY: plain allocation.
        return unsafe { malloc(size) };
    }
    if size == 0 {
        // SAFETY: forwarded contract.
        unsafe { free(p) };
        return null_mut();
    }
    let a = p as usize;
    let kind = os::chunk_kind(a);
    if check::padded() {
        // SAFETY: forwarded (level 2: the padded layout); `None` means not HAKMEM memory.
        return match unsafe { check::realloc2(p, kind, size) } {
            Some(q) => q,
            // SAFETY: the C library's block.
            None => unsafe { __libc_realloc(p as *mut libc::c_void, size) as *mut u8 },
        };
    }
    if check::level() != 0 {
        // Misuse checks: the owner's fast test, else the full one (aborts on a misuse of HAKMEM memory).
        let h = heap::current();
        // SAFETY: the slab header is mapped when `kind` is our token; `h` is this thread's heap.
        let fast = unsafe { kind == (*h).token && check::small_free_ok(slab_of(a), p) };
        // SAFETY: forwarded contract.
        if !fast && !unsafe { check::validate(h, p, kind, Call::Realloc) } {
            // SAFETY: not HAKMEM memory: the C library's block.
            return unsafe { __libc_realloc(p as *mut libc::c_void, size) as *mut u8 };
        }
    }
    let old = match kind {
        // SAFETY: the slab header is mapped.
        k if os::is_small(k) => unsafe { (*slab_of(a)).block_size as usize },
        k => match large::usable(p, k) {
            Some(n) => n,
            // SAFETY: a C-library block stays with the C library.
            None => return unsafe { __libc_realloc(p as *mut libc::c_void, size) as *mut u8 },
        },
    };
    if size <= old && size >= old / 2 {
        return p;
    }
    // SAFETY: `q` is a fresh block of at least `size` bytes; `p` has `old` readable bytes.
    unsafe {
        let q = malloc(size);
        if q.is_null() {
            return q;
        }
        core::ptr::copy_nonoverlapping(p, q, old.min(size));
        free(p);
        q
    }
}

/// Allocates `size` bytes aligned to `align` (any power of two; C `aligned_alloc`). Null (errno EINVAL) if
/// `align` is not a power of two; null (ENOMEM) on exhaustion.
///
/// # Safety
/// As [`malloc`].
pub unsafe fn aligned_alloc(align: usize, size: usize) -> *mut u8 {
    if !align.is_power_of_two() {
        os::set_errno(libc::EINVAL);
        return null_mut();
    }
    if check::padded() {
        // SAFETY: forwarded (misuse checks, level 2: the padded layout).
        return unsafe { check::aligned2(align, size) };
    }
    // SAFETY: forwarded.
    unsafe { aligned_raw(align, size) }
}

/// [`aligned_alloc`] without the level-2 dispatch (`align` a power of two).
///
/// # Safety
/// As [`malloc`].
pub(crate) unsafe fn aligned_raw(align: usize, size: usize) -> *mut u8 {
    if align <= 8 {
        // SAFETY: plain allocation.
        return unsafe { malloc(size) };
    }
    if align <= 16 {
        // SAFETY: classes of 16 B and more are 16-byte aligned.
        return unsafe { malloc(size.max(16)) };
    }
    if align <= 4096 && size <= POOL_MAX {
        // Slab areas start 4 KiB-aligned, so blocks of a class whose size is a multiple of `align` are aligned.
        let start = crate::route::class_of(size.max(align)).unwrap_or(NUM_CLASSES - 1);
        for (cls, &bs) in BLOCK_SIZE.iter().enumerate().skip(start) {
            if (bs as usize).is_multiple_of(align) {
                // SAFETY: a valid class.
                return unsafe { alloc_class(cls) };
            }
        }
    }
    large::alloc(size, align)
}

/// Frees a block whose size is known (C23 `free_sized`); same as [`free`].
///
/// # Safety
/// As [`free`].
#[inline]
pub unsafe fn free_sized(p: *mut u8, _size: usize) {
    if check::padded() && !p.is_null() {
        // SAFETY: forwarded.
        return unsafe { free_level2(p, os::chunk_kind(p as usize), Call::FreeSized) };
    }
    if check::level() != 0 && !p.is_null() {
        // Misuse checks, reported against `free_sized` (the free below repeats the fast test only).
        // SAFETY: forwarded contract.
        unsafe {
            check::validate(
                heap::current(),
                p,
                os::chunk_kind(p as usize),
                Call::FreeSized,
            )
        };
    }
    // SAFETY: forwarded contract.
    unsafe { free(p) }
}

/// Level 2: a free of a padded block (checked by [`check::free2`]), or of the C library's block.
///
/// # Safety
/// As [`free`]; `p` is not null; `kind` is its chunk-map byte.
#[cold]
#[inline(never)]
unsafe fn free_level2(p: *mut u8, kind: u8, call: Call) {
    // SAFETY: forwarded contract.
    unsafe {
        if !check::free2(p, kind, call) {
            foreign_free(p);
        }
    }
}

/// A block of at least `size` bytes without the level-2 padding (for [`check::malloc2`]).
///
/// # Safety
/// As [`malloc`].
pub(crate) unsafe fn malloc_raw(size: usize) -> *mut u8 {
    // SAFETY: forwarded.
    unsafe { malloc_body(size) }
}

/// Frees a block start handed out by [`malloc_raw`] / [`aligned_raw`] (level 1 checks apply).
///
/// # Safety
/// `p` is a live block start of ours, not used afterwards.
pub(crate) unsafe fn free_raw(p: *mut u8) {
    // SAFETY: forwarded.
    unsafe { free_in::<true>(heap::current(), p, os::chunk_kind(p as usize)) }
}

/// The calling thread's heap, for tests of the boxes' invariants.
pub fn thread_heap() -> *mut Heap {
    heap::current()
}
