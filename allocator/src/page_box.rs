//! The Page Box: per thread and class, a ring of the slabs ("pages") the thread owns for that class, with a
//! current page that refills the Unified Cache in batches — from its free list, its remote frees, or by
//! carving fresh blocks.
//!
//! Entrance: [`refill`] (called by the Unified Cache on a miss, for classes in
//! `HAKMEM_TINY_PAGE_BOX_CLASSES`); [`give_back`] returns a block to its slab (cache overflow) and retires a
//! slab that became empty. Box order on a refill: **Page Box → Warm Pool → Shared Pool**.
//!
//! Invariants: the ring of class c holds exactly the assigned slabs of class c in SuperSlabs owned by the heap
//! (`len == count`); `current` is null or in the ring; a slab other than `current` with `used == 0` is
//! retired (unassigned) as soon as the heap notices it.

use core::ptr::null_mut;

use crate::heap::Heap;
use crate::route::NUM_CLASSES;
use crate::stats::{bump, S_PB_HITS, S_PB_NEW_PAGES, S_RETIRED_SLABS};
use crate::superslab::{self, Block, Slab};
use crate::warm_pool;

/// How many pages a refill looks at before asking the Warm Pool for a fresh one.
pub const SCAN_LIMIT: usize = 8;
/// Abandoned SuperSlabs one refill may reclaim for its class before it binds a fresh slab.
pub const RECLAIMS_PER_REFILL: usize = 4;

/// One class's ring.
#[repr(C)]
pub struct PageQueue {
    /// The page refills start from.
    pub current: *mut Slab,
    /// Pages in the ring.
    pub count: u32,
}

impl PageQueue {
    /// No pages.
    pub const EMPTY: PageQueue = PageQueue {
        current: null_mut(),
        count: 0,
    };
}

/// Adds a slab to class `cls`'s ring (new or reclaimed slab), right after `current`.
///
/// The ring is kept in age order: a new page goes after the current one and becomes current (see
/// [`refill`]), so `current.next` is always the page that went longest without being current — the one most
/// likely to have received frees from other threads (a producer whose consumer frees in FIFO order finds its
/// oldest pages first; inserting before `current` made the scan visit the newest pages first and a producer
/// mapped a new page on every miss while the old ones filled up with remote frees).
///
/// # Safety
/// `h` is the calling thread's heap and owns the slab's SuperSlab; the slab is in no ring.
pub unsafe fn attach(h: *mut Heap, cls: usize, slab: *mut Slab) {
    // SAFETY: per contract; ring links are owner-only fields.
    unsafe {
        let q = &mut (*h).pages[cls];
        if q.current.is_null() {
            (*slab).next = slab;
            (*slab).prev = slab;
            q.current = slab;
        } else {
            let cur = q.current;
            let next = (*cur).next;
            (*slab).prev = cur;
            (*slab).next = next;
            (*next).prev = slab;
            (*cur).next = slab;
        }
        q.count += 1;
    }
}

/// Removes a slab from its ring.
///
/// # Safety
/// As [`attach`], with the slab in class `cls`'s ring.
pub unsafe fn detach(h: *mut Heap, cls: usize, slab: *mut Slab) {
    // SAFETY: per contract.
    unsafe {
        let q = &mut (*h).pages[cls];
        if (*slab).next == slab {
            q.current = null_mut();
        } else {
            let (prev, next) = ((*slab).prev, (*slab).next);
            (*prev).next = next;
            (*next).prev = prev;
            if q.current == slab {
                q.current = next;
            }
        }
        (*slab).next = slab;
        (*slab).prev = slab;
        q.count -= 1;
    }
}

/// Fills `out` with up to `want` blocks of class `cls`, or hands a whole remote list to `*pending` (see
/// `superslab::slab_take`); returns 0 with `*pending` still null only when memory is exhausted.
///
/// # Safety
/// `h` is the calling thread's live heap; `out` has room for `want` pointers; `pending` is valid and null.
pub unsafe fn refill(
    h: *mut Heap,
    cls: usize,
    out: *mut *mut u8,
    want: usize,
    pending: *mut *mut Block,
) -> usize {
    // SAFETY: per contract; every slab in the ring is owned by `h`.
    unsafe {
        let mut asked_shared_pool = false;
        let mut reclaims = 0;
        loop {
            let got = take_from_ring(h, cls, out, want, pending);
            if got > 0 || !(*pending).is_null() {
                bump(&(*h).stats.class[cls][S_PB_HITS], 1);
                return got;
            }
            // An exited thread's slab of this class with room, before a fresh slab.
            if reclaims < RECLAIMS_PER_REFILL && warm_pool::reclaim_for_class(h, cls) {
                reclaims += 1;
                continue;
            }
            // A fresh slab from a SuperSlab the thread owns (Warm Pool) …
            let slab = warm_pool::assign_slab(h, cls);
            if !slab.is_null() {
                bump(&(*h).stats.class[cls][S_PB_NEW_PAGES], 1);
                attach(h, cls, slab);
                (*h).pages[cls].current = slab;
                continue;
            }
            // … else the Shared Pool, which first reclaims abandoned SuperSlabs: their partial slabs join the
            // rings right after `current`, so the next pass takes their free blocks before a fresh slab.
            if asked_shared_pool || !warm_pool::refill_from_shared_pool(h, cls) {
                return 0;
            }
            asked_shared_pool = true;
        }
    }
}

/// Takes blocks from the current page, then from up to [`SCAN_LIMIT`] further pages of the ring.
unsafe fn take_from_ring(
    h: *mut Heap,
    cls: usize,
    out: *mut *mut u8,
    want: usize,
    pending: *mut *mut Block,
) -> usize {
    // SAFETY: the caller's contract (`refill`).
    unsafe {
        let q = &mut (*h).pages[cls];
        let cur = q.current;
        if cur.is_null() {
            return 0;
        }
        let mut got = superslab::slab_take(cur, out, want, pending);
        if got < want && q.count > 1 && (*pending).is_null() {
            let mut s = (*cur).next;
            let mut scanned = 0;
            while got < want && s != cur && scanned < SCAN_LIMIT {
                if superslab::slab_has_free(s) {
                    let p = if got == 0 {
                        pending
                    } else {
                        core::ptr::null_mut()
                    };
                    got += superslab::slab_take(s, out.add(got), want - got, p);
                    q.current = s;
                    if !(*pending).is_null() {
                        break;
                    }
                }
                s = (*s).next;
                scanned += 1;
            }
        }
        got
    }
}

/// Returns one block to its slab (owner side) and retires the slab if it became empty.
///
/// # Safety
/// `h` is the calling thread's live heap and owns the block's SuperSlab; the block is free.
#[inline]
pub unsafe fn give_back(h: *mut Heap, p: *mut u8) {
    // SAFETY: per contract.
    unsafe {
        let slab = superslab::slab_of(p as usize);
        superslab::slab_push_local(slab, p);
        if (*slab).used == 0 {
            let cls = (*slab).class as usize;
            if (*h).pages[cls].current != slab {
                retire(h, cls, slab);
            }
        }
    }
}

/// Unassigns an empty slab and tells the Warm Pool.
///
/// # Safety
/// As [`give_back`]; `slab.used == 0` and it is in class `cls`'s ring.
pub unsafe fn retire(h: *mut Heap, cls: usize, slab: *mut Slab) {
    // SAFETY: per contract.
    unsafe {
        detach(h, cls, slab);
        superslab::slab_unassign(slab);
        bump(&(*h).stats.class[cls][S_RETIRED_SLABS], 1);
        warm_pool::on_slab_retired(h, superslab::superslab_of(slab as usize));
    }
}

/// Checks the ring of class `cls`: length, membership, class, ownership.
///
/// # Safety
/// `h` is the calling thread's heap and no other thread frees into its SuperSlabs meanwhile.
pub unsafe fn check_invariants(h: *mut Heap, cls: usize) -> Result<(), &'static str> {
    // SAFETY: per contract.
    unsafe {
        let q = &(*h).pages[cls];
        if q.current.is_null() {
            return if q.count == 0 {
                Ok(())
            } else {
                Err("page ring empty but count != 0")
            };
        }
        let mut s = q.current;
        let mut n = 0u32;
        loop {
            if !(*s).assigned || (*s).class as usize != cls {
                return Err("page ring holds a slab of another class");
            }
            let ss = superslab::superslab_of(s as usize);
            if (*ss).owner.load(core::sync::atomic::Ordering::Relaxed) != h as usize {
                return Err("page ring holds a slab the heap does not own");
            }
            if (*(*s).next).prev != s {
                return Err("page ring links broken");
            }
            superslab::check_slab(s)?;
            n += 1;
            if n > NUM_CLASSES as u32 * 1_000_000 {
                return Err("page ring does not close");
            }
            s = (*s).next;
            if s == q.current {
                break;
            }
        }
        if n != q.count {
            return Err("page ring length != count");
        }
        Ok(())
    }
}
