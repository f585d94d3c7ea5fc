//! The Gatekeeper box: the single entrance for every allocation call — malloc, free, calloc, realloc,
//! aligned allocation, usable size.
//!
//! Fast paths (inlined into the caller; fat LTO makes them part of the replayer's loop):
//! - `malloc(n ≤ 1024)`: class table load, thread-local heap load, cache pop — no atomics, no init check.
//! - `free(p)`: chunk-map byte (`p >> 21`) compared with the thread heap's owner token, class load from the
//!   slab header, cache push — no atomics, no load of the SuperSlab header.
//!
//! Everything else is `#[cold] #[inline(never)]`: heap start-up, refills, overflows, remote frees (one CAS on
//! the owning slab's remote list), Pool sizes, Large mappings, and pointers HAKMEM did not hand out (passed to
//! the C library's `__libc_free` / `__libc_realloc`, never dereferenced as ours).
//!
//! Invariants: every pointer returned is 16-byte aligned (8 for requests ≤ 8 B), `usable_size(p) ≥` the
//! requested size, and a block is never in two places (a cache, a slab list, the program) at once.

use core::ptr::null_mut;
use core::sync::atomic::Ordering;

use crate::check::{self, Call};
use crate::heap::{self, Heap};
use crate::os::bump;
use crate::route::{pool_class, tiny_class, BLOCK_SIZE, NUM_CLASSES, POOL_MAX, TINY_MAX};
use crate::stats;
use crate::superslab::{remote_push, slab_of, superslab_of};
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
/// Inlined into the caller (fat LTO): measured faster in the replayer's loop than an out-of-line call, even
/// though the bigger loop makes the compiler stop inlining the workload generator there (which shows as
/// +15 instructions per op under callgrind).
#[inline(always)]
pub unsafe fn malloc(size: usize) -> *mut u8 {
    // SAFETY: forwarded.
    unsafe { malloc_via::<false>(size) }
}

/// [`malloc`] reading the thread heap through the static-TLS offset (`FS = true`, for [`malloc_fs`]) or
/// through `thread_local!` (`FS = false`).
///
/// # Safety
/// As [`malloc`]; with `FS = true`, `heap::tls_offset() != 0`.
#[inline(always)]
pub unsafe fn malloc_via<const FS: bool>(size: usize) -> *mut u8 {
    // The check level is loaded once: level 2 pads (cold), level 1 clears the handed-out block's key word.
    let lv = check::level();
    if lv > 1 {
        // SAFETY: forwarded (misuse checks, level 2: the padded layout).
        return unsafe { check::malloc2(size) };
    }
    if size <= TINY_MAX {
        // SAFETY: a valid class.
        return unsafe { alloc_class_lv(heap_via::<FS>(), tiny_class(size), lv) };
    }
    // SAFETY: as above.
    unsafe { malloc_mid(size) }
}

/// [`malloc_via`] without the level-2 dispatch: the block itself (also the raw block under level 2's padding).
///
/// # Safety
/// As [`malloc_via`].
#[inline(always)]
unsafe fn malloc_body<const FS: bool>(size: usize) -> *mut u8 {
    if size <= TINY_MAX {
        // SAFETY: a valid class.
        return unsafe { alloc_class_via::<FS>(tiny_class(size)) };
    }
    // SAFETY: as above.
    unsafe { malloc_mid(size) }
}

/// The heap for the `FS` variant: `FS = true` callers have checked that the static-TLS offset is known.
#[inline(always)]
fn heap_via<const FS: bool>() -> *mut Heap {
    if FS {
        // SAFETY: `malloc_fs` / `free_fs` only take the FS path with a non-zero offset.
        unsafe { heap::current_at(heap::tls_offset()) }
    } else {
        heap::current()
    }
}

/// `malloc` for `libhakmem.so`: the heap is one `fs`-relative load once its static-TLS offset is known;
/// before that (start-up), an out-of-line call through `thread_local!`.
///
/// # Safety
/// As [`malloc`].
#[inline(always)]
pub unsafe fn malloc_fs(size: usize) -> *mut u8 {
    // The offset is loaded once and reused for the heap read (a relaxed atomic load is not merged by the
    // compiler, so going through `malloc_via::<true>` would load it twice).
    let off = heap::tls_offset();
    let lv = check::level();
    if off == 0 || lv > 1 {
        // SAFETY: forwarded.
        return unsafe { malloc_native(size) };
    }
    if size <= TINY_MAX {
        // SAFETY: `off` is the known non-zero offset; a valid class.
        return unsafe { alloc_class_lv(heap::current_at(off), tiny_class(size), lv) };
    }
    // SAFETY: as [`malloc`].
    unsafe { malloc_mid(size) }
}

#[cold]
#[inline(never)]
unsafe fn malloc_native(size: usize) -> *mut u8 {
    // SAFETY: forwarded.
    unsafe { malloc_via::<false>(size) }
}

/// `free` for `libhakmem.so` (see [`malloc_fs`]).
///
/// # Safety
/// As [`free`].
#[inline(always)]
pub unsafe fn free_fs(p: *mut u8) {
    let off = heap::tls_offset();
    if off == 0 {
        // SAFETY: forwarded.
        return unsafe { free_native(p) };
    }
    // SAFETY: `off` is the known non-zero offset (loaded once, as in [`malloc_fs`]); forwarded contract.
    unsafe {
        let kind = os::chunk_kind(p as usize);
        free_in::<false>(heap::current_at(off), p, kind)
    }
}

#[cold]
#[inline(never)]
unsafe fn free_native(p: *mut u8) {
    // SAFETY: forwarded.
    unsafe { free_via::<false>(p) }
}

#[inline(always)]
unsafe fn alloc_class(cls: usize) -> *mut u8 {
    // SAFETY: forwarded.
    unsafe { alloc_class_via::<false>(cls) }
}

#[inline(always)]
unsafe fn alloc_class_via<const FS: bool>(cls: usize) -> *mut u8 {
    // SAFETY: forwarded.
    unsafe { alloc_class_in(heap_via::<FS>(), cls) }
}

/// # Safety
/// `h` is this thread's heap (or the never-written empty heap); `cls < NUM_CLASSES`.
#[inline(always)]
unsafe fn alloc_class_in(h: *mut Heap, cls: usize) -> *mut u8 {
    // SAFETY: forwarded.
    unsafe { alloc_class_lv(h, cls, check::level()) }
}

/// [`alloc_class_in`] with the check level `lv` already loaded.
///
/// # Safety
/// As [`alloc_class_in`].
#[inline(always)]
unsafe fn alloc_class_lv(h: *mut Heap, cls: usize, lv: u8) -> *mut u8 {
    // SAFETY: `h` is this thread's heap (or the never-written empty heap); cls < NUM_CLASSES.
    unsafe {
        match unified_cache::try_pop(heap::cache_of(h, cls)) {
            Some(p) => {
                if lv != 0 {
                    check::mark_live(p); // misuse checks: clear the freed key
                }
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
    if !p.is_null() && check::level() != 0 {
        // SAFETY: a block of at least 16 bytes (checks on), handed out now.
        unsafe { check::mark_live(p) }; // misuse checks: clear the freed key
    }
    p
}

unsafe fn alloc_miss_inner(mut h: *mut Heap, cls: usize) -> *mut u8 {
    if h == heap::empty() {
        h = heap::init_thread();
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
/// Inlined, as [`malloc`].
#[inline(always)]
pub unsafe fn free(p: *mut u8) {
    // SAFETY: forwarded.
    unsafe { free_via::<false>(p) }
}

/// [`free`] with the heap read as in [`malloc_via`].
///
/// # Safety
/// As [`free`]; with `FS = true`, `heap::tls_offset() != 0`.
#[inline(always)]
pub unsafe fn free_via<const FS: bool>(p: *mut u8) {
    let kind = os::chunk_kind(p as usize);
    // SAFETY: forwarded.
    unsafe { free_in::<false>(heap_via::<FS>(), p, kind) }
}

/// [`free`] with the chunk-map byte `kind` of `p` and the thread heap `h` already read (in that order, as
/// before the split: measured faster than the heap load first).
///
/// # Safety
/// As [`free`]; `h` is this thread's heap (or the never-written empty heap); `kind` is `p`'s chunk-map byte.
#[inline(always)]
unsafe fn free_in<const RAW: bool>(h: *mut Heap, p: *mut u8, kind: u8) {
    let a = p as usize;
    // SAFETY: a chunk-map byte equal to our heap's token means a SuperSlab we own (tokens are written only by
    // the owner-to-be and withdrawn by the owner before it lets go); its header and slab table are mapped.
    unsafe {
        if kind == (*h).token {
            let slab = slab_of(a);
            let cls = (*slab).class as usize;
            if check::level() != 0 {
                // Misuse checks: a block start below `carve` without the freed key gets it, else the cold check.
                if !check::small_free_mark(slab, cls, p) {
                    return free_checked::<RAW>(h, p, kind);
                }
            }
            let c = heap::cache_of(h, cls);
            if unified_cache::push(c, p) {
                return;
            }
            return unified_cache::flush_and_push(heap::caches(h), cls, p);
        }
        free_slow::<RAW>(h, p, kind)
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
            if check::level() != 0 {
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
        h = heap::init_thread();
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
    // SAFETY: forwarded.
    unsafe { calloc_via::<false>(n, size) }
}

/// [`calloc`] for `libhakmem.so`: the block comes from [`malloc_fs`] (no `__tls_get_addr` call).
///
/// # Safety
/// As [`malloc`].
#[inline]
pub unsafe fn calloc_fs(n: usize, size: usize) -> *mut u8 {
    // SAFETY: forwarded.
    unsafe { calloc_via::<true>(n, size) }
}

/// [`malloc`] (`FS = false`) or [`malloc_fs`] (`FS = true`).
///
/// # Safety
/// As [`malloc`].
#[inline(always)]
unsafe fn malloc_any<const FS: bool>(size: usize) -> *mut u8 {
    // SAFETY: forwarded.
    unsafe {
        if FS {
            malloc_fs(size)
        } else {
            malloc(size)
        }
    }
}

/// [`free`] (`FS = false`) or [`free_fs`] (`FS = true`).
///
/// # Safety
/// As [`free`].
#[inline(always)]
unsafe fn free_any<const FS: bool>(p: *mut u8) {
    // SAFETY: forwarded.
    unsafe {
        if FS {
            free_fs(p)
        } else {
            free(p)
        }
    }
}

/// [`calloc`] over [`malloc_any`].
///
/// # Safety
/// As [`malloc`].
#[inline(always)]
unsafe fn calloc_via<const FS: bool>(n: usize, size: usize) -> *mut u8 {
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
        let p = malloc_any::<FS>(total);
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
    // SAFETY: forwarded.
    unsafe { realloc_via::<false>(p, size) }
}

/// [`realloc`] for `libhakmem.so`: allocates and frees through [`malloc_fs`] / [`free_fs`].
///
/// # Safety
/// As [`free`] for `p`.
pub unsafe fn realloc_fs(p: *mut u8, size: usize) -> *mut u8 {
    // SAFETY: forwarded.
    unsafe { realloc_via::<true>(p, size) }
}

/// [`realloc`] over [`malloc_any`] / [`free_any`].
///
/// # Safety
/// As [`free`] for `p`.
#[inline(always)]
unsafe fn realloc_via<const FS: bool>(p: *mut u8, size: usize) -> *mut u8 {
    if p.is_null() {
        // SAFETY: plain allocation.
        return unsafe { malloc_any::<FS>(size) };
    }
    if size == 0 {
        // SAFETY: forwarded contract.
        unsafe { free_any::<FS>(p) };
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
        let h = heap_via::<FS>();
        // SAFETY: the slab header is mapped when `kind` is our token; `h` is this thread's heap.
        let fast = unsafe {
            kind == (*h).token && check::small_free_ok(slab_of(a), (*slab_of(a)).class as usize, p)
        };
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
        let q = malloc_any::<FS>(size);
        if q.is_null() {
            return q;
        }
        core::ptr::copy_nonoverlapping(p, q, old.min(size));
        free_any::<FS>(p);
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

/// [`free_sized`] for `libhakmem.so` (frees through [`free_fs`]).
///
/// # Safety
/// As [`free`].
#[inline]
pub unsafe fn free_sized_fs(p: *mut u8, _size: usize) {
    if check::padded() && !p.is_null() {
        // SAFETY: forwarded.
        return unsafe { free_level2(p, os::chunk_kind(p as usize), Call::FreeSized) };
    }
    if check::level() != 0 && !p.is_null() {
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
    unsafe { free_fs(p) }
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
    unsafe { malloc_body::<false>(size) }
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
