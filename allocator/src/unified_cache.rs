//! The Unified Cache box: per-thread, per-class array stacks of free blocks — the hot path.
//!
//! Entrances: [`pop`] / [`push`] (inlined into the Gatekeeper: a load, a compare, a store or two; no
//! atomics, no branches on statistics), and on their misses [`refill`] (cache empty: one batch of at most
//! `max_batch ≤ 256` blocks from the Page Box, or from the Warm Pool scan for classes outside the Page Box) and
//! [`flush_and_push`] (cache full: the older half goes back to its slabs).
//!
//! Calls below it: Page Box (which holds the Warm Pool), SuperSlab, OS. A thread's caches, refill parameters
//! and counters are one [`Caches`], passed down by the heap.
//!
//! Invariants: `slots <= top <= limit == slots + cap`, `count == top - slots`; `slots[0..count)` are distinct free blocks of this class in SuperSlabs
//! owned by this heap; a refill moves `1 <= n <= batch <= min(256, cap)` blocks.

use core::sync::atomic::{AtomicU64, Ordering};

use core::ptr::{addr_of, addr_of_mut};

use crate::os::{self, bump};
use crate::page_box::{self, Pages};
use crate::route::NUM_CLASSES;
use crate::superslab::{self, Block};

/// Per class: cache misses (= refills asked).
pub const MISSES: usize = 0;
/// Per class: blocks moved into the cache by refills.
pub const REFILL_BLOCKS: usize = 1;
/// Per class: cycles spent in refills (with `HAKMEM_MEASURE_UNIFIED_CACHE=1`).
pub const REFILL_CYCLES: usize = 2;
/// Per class: cache overflows.
pub const FLUSHES: usize = 3;
/// Per class: blocks moved back to slabs by overflows.
pub const FLUSH_BLOCKS: usize = 4;
/// Counters per class.
pub const NCOUNT: usize = 5;

/// A thread's Unified Cache box: one cache per class (its arrays first, at the heap's offset 16: the hot
/// path), refill parameters, counters, and the Page Box below it.
///
/// Each class's cache is a stack of block pointers in `slots[c][0..cap)`, `top[c]` pointing one past the last
/// one held:
/// ```text
///  slots[c] ── held blocks ── top[c] ── room ── limit[c] (= slots[c] + cap[c])
/// ```
/// The fields are arrays indexed by class (8-byte elements), so a fast path addresses a class's word as
/// `heap + class * 8 + constant`, with no multiply or shift. A pop is `top -= 1` and a load, a push a store
/// and `top += 1`; `hits` counts pops (one add).
#[repr(C)]
pub struct Caches {
    /// Per class: one past the last block held (`slots <= top <= limit`); written only by the owning thread.
    pub top: [*mut *mut u8; NUM_CLASSES],
    /// Per class: `slots + cap`.
    pub limit: [*mut *mut u8; NUM_CLASSES],
    /// Per class: the `cap` slots.
    pub slots: [*mut *mut u8; NUM_CLASSES],
    /// Per class: allocations served (pops, and blocks a miss handed out); owner-written, relaxed load + store.
    pub hits: [AtomicU64; NUM_CLASSES],
    /// Per class: a remote-free list taken whole from a slab, handed out one block per miss (see
    /// `superslab::slab_take`); its blocks count as used in their slab.
    pub pending: [*mut Block; NUM_CLASSES],
    /// Per class: capacity (0 only in the empty start-up heap).
    pub cap: [u32; NUM_CLASSES],
    /// Refill batch per class.
    pub batch: [u32; NUM_CLASSES],
    /// Bit c set ⇔ class c refills through the Page Box (else through its scan).
    pub page_box: u64,
    /// Measure refill cycles.
    pub measure: bool,
    /// Per class, indexed by [`MISSES`] … [`FLUSH_BLOCKS`].
    pub counters: [[AtomicU64; NCOUNT]; NUM_CLASSES],
    /// The thread's Page Box.
    pub pages: Pages,
}

impl Caches {
    /// Every cache empty with capacity 0 (`top == limit == slots == null`: every pop and push misses), no
    /// pages.
    #[allow(clippy::declare_interior_mutable_const)]
    pub const EMPTY: Caches = Caches {
        top: [core::ptr::null_mut(); NUM_CLASSES],
        limit: [core::ptr::null_mut(); NUM_CLASSES],
        slots: [core::ptr::null_mut(); NUM_CLASSES],
        hits: [const { AtomicU64::new(0) }; NUM_CLASSES],
        pending: [core::ptr::null_mut(); NUM_CLASSES],
        cap: [0; NUM_CLASSES],
        batch: [0; NUM_CLASSES],
        page_box: 0,
        measure: false,
        counters: [const { [const { AtomicU64::new(0) }; NCOUNT] }; NUM_CLASSES],
        pages: Pages::EMPTY,
    };
}

/// One class's cache in a [`Caches`]: a handle (the caches' address and the class), no storage of its own.
#[derive(Clone, Copy)]
pub struct Cache {
    u: *mut Caches,
    cls: usize,
}

impl Cache {
    /// `&mut (*u).top[cls]` without a bounds check.
    #[inline(always)]
    fn top(self) -> *mut *mut *mut u8 {
        // SAFETY: `cls < NUM_CLASSES` (checked by `cache_of`'s contract); address arithmetic only.
        unsafe {
            addr_of_mut!((*self.u).top)
                .cast::<*mut *mut u8>()
                .add(self.cls)
        }
    }

    /// The class's slot array.
    ///
    /// # Safety
    /// The handle's caches are live.
    #[inline(always)]
    pub unsafe fn slots(self) -> *mut *mut u8 {
        // SAFETY: per contract; `cls < NUM_CLASSES`.
        unsafe {
            *addr_of_mut!((*self.u).slots)
                .cast::<*mut *mut u8>()
                .add(self.cls)
        }
    }

    /// The class's pending list head.
    ///
    /// # Safety
    /// The handle's caches are live.
    #[inline(always)]
    pub unsafe fn pending(self) -> *mut *mut Block {
        // SAFETY: per contract; `cls < NUM_CLASSES`.
        unsafe {
            addr_of_mut!((*self.u).pending)
                .cast::<*mut Block>()
                .add(self.cls)
        }
    }

    /// Capacity.
    ///
    /// # Safety
    /// The handle's caches are live.
    #[inline(always)]
    pub unsafe fn cap(self) -> u32 {
        // SAFETY: per contract.
        unsafe { (*self.u).cap[self.cls] }
    }

    /// Blocks held.
    ///
    /// # Safety
    /// The handle's caches are live.
    #[inline(always)]
    pub unsafe fn count(self) -> u32 {
        // SAFETY: per contract; `top` and `slots` lie in (or at the end of) the same slot array.
        unsafe { ((*self.top() as usize - self.slots() as usize) / size_of::<*mut u8>()) as u32 }
    }

    /// Allocations served from this cache.
    ///
    /// # Safety
    /// The handle's caches are live.
    pub unsafe fn hits(self) -> u64 {
        // SAFETY: per contract.
        unsafe { (*self.u).hits[self.cls].load(Ordering::Relaxed) }
    }

    /// Counts `n` allocations served.
    ///
    /// # Safety
    /// The handle's caches belong to the calling thread.
    #[inline(always)]
    unsafe fn add_hits(self, n: u64) {
        // SAFETY: per contract; `cls < NUM_CLASSES`.
        unsafe {
            bump(
                &*addr_of!((*self.u).hits).cast::<AtomicU64>().add(self.cls),
                n,
            )
        }
    }

    /// Sets the count (owner only).
    ///
    /// # Safety
    /// The handle's caches belong to the calling thread; `n <= cap`.
    #[inline]
    pub unsafe fn set_count(self, n: u32) {
        // SAFETY: n <= cap, so the pointer stays inside the slot array (or one past it).
        unsafe {
            debug_assert!(n <= self.cap());
            *self.top() = self.slots().add(n as usize);
        }
    }
}

/// Pops a block, `None` if the cache is empty. Cost: a load, a compare with the slot base, a decrement and a
/// store of `top`, the block load, and the hit count (one add).
///
/// # Safety
/// `c` is a cache of the calling thread's heap (or of the empty heap).
#[inline(always)]
pub unsafe fn try_pop(c: Cache) -> Option<*mut u8> {
    // SAFETY: per contract, `c` is ours; slots <= top - 1 < limit when top != slots.
    unsafe {
        let t = *c.top();
        if t == c.slots() {
            return None;
        }
        let t = t.sub(1);
        *c.top() = t;
        c.add_hits(1);
        Some(*t)
    }
}

/// The cache of class `cls` in `u`, without a bounds check.
///
/// # Safety
/// `cls < NUM_CLASSES` and `u` points to a thread's caches (or the empty heap's).
#[inline(always)]
pub unsafe fn cache_of(u: *mut Caches, cls: usize) -> Cache {
    debug_assert!(cls < NUM_CLASSES);
    Cache { u, cls }
}

/// The Page Box below `u`.
///
/// # Safety
/// `u` points to a thread's caches.
#[inline]
pub unsafe fn pages(u: *mut Caches) -> *mut Pages {
    // SAFETY: per contract.
    unsafe { addr_of_mut!((*u).pages) }
}

/// Pops a block (counted as a hit), or null if the cache is empty.
///
/// # Safety
/// As [`try_pop`].
#[inline(always)]
pub unsafe fn pop(c: Cache) -> *mut u8 {
    // SAFETY: forwarded.
    unsafe { try_pop(c).unwrap_or(core::ptr::null_mut()) }
}

/// Pushes a block if there is room. Cost: a load, a compare with `limit`, two stores.
///
/// # Safety
/// As [`pop`]; `p` is a free block of this class owned by this heap.
#[inline(always)]
pub unsafe fn push(c: Cache, p: *mut u8) -> bool {
    // SAFETY: per contract; top < limit so the slot is in bounds.
    unsafe {
        let t = *c.top();
        if t == *addr_of!((*c.u).limit).cast::<*mut *mut u8>().add(c.cls) {
            return false;
        }
        *t = p;
        *c.top() = t.add(1);
        true
    }
}

/// Cache miss: refills class `cls` with one batch and returns one block (null when out of memory).
///
/// # Safety
/// `u` is the calling thread's live caches and its cache for `cls` is empty.
#[cold]
#[inline(never)]
pub unsafe fn refill(u: *mut Caches, cls: usize) -> *mut u8 {
    // SAFETY: `u` is ours per contract; the cache is empty so its `cap >= batch` slots are free to fill.
    unsafe {
        let c = cache_of(u, cls);
        debug_assert_eq!(c.count(), 0);
        let st = &(*u).counters[cls];
        bump(&st[MISSES], 1);
        if let Some(p) = pop_pending(c) {
            return p;
        }
        let want = (*u).batch[cls] as usize;
        let t0 = if (*u).measure { os::cycles() } else { 0 };
        let slots = c.slots();
        let got = if (*u).page_box & (1 << cls) != 0 {
            page_box::refill(pages(u), cls, slots, want, c.pending())
        } else {
            page_box::refill_scan(pages(u), cls, slots, want)
        };
        if (*u).measure {
            bump(&st[REFILL_CYCLES], os::cycles().wrapping_sub(t0));
        }
        if got == 0 {
            return pop_pending(c).unwrap_or(core::ptr::null_mut());
        }
        bump(&st[REFILL_BLOCKS], got as u64);
        c.set_count(got as u32 - 1);
        c.add_hits(1);
        *c.slots().add(got - 1)
    }
}

/// Pops one block of the pending remote list, counting it as a hit.
///
/// # Safety
/// `c` is a cache of the calling thread's live heap.
#[inline]
pub unsafe fn pop_pending(c: Cache) -> Option<*mut u8> {
    // SAFETY: the caller owns the cache; pending blocks are free blocks of this class.
    unsafe {
        let b = *c.pending();
        if b.is_null() {
            return None;
        }
        *c.pending() = superslab::pending_next(b);
        c.add_hits(1);
        Some(b as *mut u8)
    }
}

/// Cache full: gives the older half back to the slabs, then pushes `p`.
///
/// # Safety
/// `u` is the calling thread's live caches; `p` is a free block of class `cls` owned by the thread.
#[cold]
#[inline(never)]
pub unsafe fn flush_and_push(u: *mut Caches, cls: usize, p: *mut u8) {
    // SAFETY: per contract; the moved range stays inside `slots[0..cap)`.
    unsafe {
        let c = cache_of(u, cls);
        let cap = c.cap() as usize;
        let count = c.count() as usize;
        let n = (cap / 2).max(1).min(count);
        flush_range(u, cls, 0, n);
        let rest = count - n;
        core::ptr::copy(c.slots().add(n), c.slots(), rest);
        c.set_count(rest as u32);
        let pushed = push(c, p);
        debug_assert!(pushed);
    }
}

/// Gives `slots[from..from+n)` back to their slabs.
unsafe fn flush_range(u: *mut Caches, cls: usize, from: usize, n: usize) {
    // SAFETY: the caller passes a range inside the cache; each block belongs to a slab the thread owns.
    unsafe {
        let st = &(*u).counters[cls];
        bump(&st[FLUSHES], 1);
        bump(&st[FLUSH_BLOCKS], n as u64);
        let slots = cache_of(u, cls).slots();
        // One loop per free-list link format, chosen once: below level 2 the loop is the plain one.
        if superslab::links_encoded() {
            for i in from..from + n {
                page_box::give_back::<true>(pages(u), *slots.add(i));
            }
        } else {
            page_box::give_back_plain(pages(u), cls, slots.add(from), n);
        }
    }
}

/// Empties every cache back into the slabs (thread exit).
///
/// # Safety
/// `u` is the calling thread's live caches.
pub unsafe fn drain_all(u: *mut Caches) {
    // SAFETY: per contract.
    unsafe {
        for cls in 0..NUM_CLASSES {
            let c = cache_of(u, cls);
            let n = c.count() as usize;
            if n > 0 {
                flush_range(u, cls, 0, n);
                c.set_count(0);
            }
            while let Some(p) = pop_pending(cache_of(u, cls)) {
                if superslab::links_encoded() {
                    page_box::give_back::<true>(pages(u), p);
                } else {
                    page_box::give_back::<false>(pages(u), p);
                }
            }
        }
    }
}

/// Checks `slots <= top <= limit == slots + cap` and that every cached block belongs to a slab of this class.
///
/// # Safety
/// `c` belongs to the calling thread's heap.
pub unsafe fn check_invariants(c: Cache) -> Result<(), &'static str> {
    // SAFETY: per contract; slots `0..count` are in bounds once `top` is known to lie in `slots..=limit`.
    unsafe {
        let (top, slots) = (*c.top(), c.slots());
        let limit = *addr_of!((*c.u).limit).cast::<*mut *mut u8>().add(c.cls);
        if top < slots || top > limit || limit as usize - slots as usize != c.cap() as usize * 8 {
            return Err("unified cache top outside slots..limit");
        }
        let mut bs0 = 0;
        for i in 0..c.count() as usize {
            let slab = superslab::slab_of(*slots.add(i) as usize);
            // Cached blocks live in our SuperSlabs, whose headers are mapped.
            let (assigned, bs) = ((*slab).assigned, (*slab).block_size);
            if !assigned {
                return Err("cached block in an unassigned slab");
            }
            if i == 0 {
                bs0 = bs;
            } else if bs != bs0 {
                return Err("cached blocks of different sizes");
            }
        }
    }
    Ok(())
}
