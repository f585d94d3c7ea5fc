//! The Page Box: per thread and class, a ring of the slabs ("pages") the thread owns for that class, with a
//! current page that refills the Unified Cache in batches — from its free list, its remote frees, or by
//! carving fresh blocks.
//!
//! Entrance: [`refill`] (called by the Unified Cache on a miss, for classes in
//! `HAKMEM_TINY_PAGE_BOX_CLASSES`; [`refill_scan`] for the others); [`give_back`] returns a block to its slab
//! (cache overflow) and retires a slab that became empty; [`reclaim_on_free`] adopts an abandoned SuperSlab.
//! Box order on a refill: **Page Box → Warm Pool → Shared Pool**; SuperSlabs the Warm Pool takes in come back
//! up here and their partial slabs join the rings ([`attach_partial`]). Calls below it: Warm Pool,
//! SuperSlab. Its counters (per class: refills served, fresh pages, retired slabs, scan refills) live in
//! [`Pages`].
//!
//! Invariants: the ring of class c holds exactly the assigned slabs of class c in SuperSlabs owned by the heap
//! (`len == count`); `current` is null or in the ring; a slab other than `current` with `used == 0` is
//! retired (unassigned) as soon as the heap notices it.

use core::ptr::null_mut;
use core::sync::atomic::AtomicU64;

use crate::os::bump;
use crate::route::NUM_CLASSES;
use crate::superslab::{self, Block, Slab, SuperSlab};
use crate::warm_pool::{self, WarmPool};

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

/// Per class: refills served from pages the thread holds.
pub const HITS: usize = 0;
/// Per class: fresh pages bound.
pub const NEW_PAGES: usize = 1;
/// Per class: slabs that emptied and went back to their SuperSlab.
pub const RETIRED_SLABS: usize = 2;
/// Per class: refills served by the scan of the Warm Pool's SuperSlabs (classes outside the Page Box).
pub const SCAN_HITS: usize = 3;
/// Counters per class.
pub const NCOUNT: usize = 4;

/// A thread's Page Box: a ring per class, its counters, and the Warm Pool below it.
#[repr(C)]
pub struct Pages {
    /// One ring per class.
    pub rings: [PageQueue; NUM_CLASSES],
    /// Per class, indexed by [`HITS`] … [`SCAN_HITS`].
    pub counters: [[AtomicU64; NCOUNT]; NUM_CLASSES],
    /// The thread's HOT SuperSlabs.
    pub warm: WarmPool,
}

impl Pages {
    /// No pages, no SuperSlabs.
    #[allow(clippy::declare_interior_mutable_const)]
    pub const EMPTY: Pages = Pages {
        rings: [PageQueue::EMPTY; NUM_CLASSES],
        counters: [const { [const { AtomicU64::new(0) }; NCOUNT] }; NUM_CLASSES],
        warm: WarmPool::EMPTY,
    };
}

/// The Warm Pool of `pb`.
///
/// # Safety
/// `pb` points to a Page Box.
#[inline]
pub unsafe fn warm(pb: *mut Pages) -> *mut WarmPool {
    // SAFETY: per contract.
    unsafe { core::ptr::addr_of_mut!((*pb).warm) }
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
/// `pb` is the calling thread's Page Box and owns the slab's SuperSlab; the slab is in no ring.
pub unsafe fn attach(pb: *mut Pages, cls: usize, slab: *mut Slab) {
    // SAFETY: per contract; ring links are owner-only fields.
    unsafe {
        let q = &mut (*pb).rings[cls];
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
pub unsafe fn detach(pb: *mut Pages, cls: usize, slab: *mut Slab) {
    // SAFETY: per contract.
    unsafe {
        let q = &mut (*pb).rings[cls];
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

/// Attaches the slabs with live blocks of SuperSlabs the Warm Pool just took in (reclaimed from exited
/// threads) to their rings, right after `current`, so the next pass takes their free blocks before a fresh
/// slab. `first` and the `n - 1` SuperSlabs before it in the Warm Pool's list are the new ones; they are
/// attached in the order the Shared Pool handed them out.
///
/// # Safety
/// `pb` is the calling thread's Page Box; the SuperSlabs are owned by it and their slabs in no ring.
pub unsafe fn attach_partial(pb: *mut Pages, first: *mut SuperSlab, n: u32) {
    // SAFETY: per contract.
    unsafe {
        let mut ss = first;
        for _ in 1..n {
            ss = (*ss).next;
        }
        for _ in 0..n {
            let mut mask = (*ss).assigned;
            while mask != 0 {
                let i = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                let slab = core::ptr::addr_of_mut!((*ss).slabs[i]);
                attach(pb, (*slab).class as usize, slab);
            }
            ss = (*ss).prev;
        }
    }
}

/// A Warm Pool miss: the Shared Pool's SuperSlabs join the Warm Pool, their partial slabs the rings. False
/// when memory is exhausted.
///
/// # Safety
/// `pb` is the calling thread's Page Box.
unsafe fn from_shared_pool(pb: *mut Pages, cls: usize) -> bool {
    // SAFETY: per contract.
    unsafe {
        let w = warm(pb);
        let Some(n) = warm_pool::refill_from_shared_pool(w, cls) else {
            return false;
        };
        attach_partial(pb, (*w).head, n);
        true
    }
}

/// The calling thread frees a block of the abandoned `ss`: the thread adopts it (Warm Pool, rings) unless
/// another thread took it first (false).
///
/// # Safety
/// `pb` is the calling thread's Page Box; `ss` holds a live block the caller is freeing.
pub unsafe fn reclaim_on_free(pb: *mut Pages, ss: *mut SuperSlab) -> bool {
    // SAFETY: per contract.
    unsafe {
        if !warm_pool::reclaim_on_free(warm(pb), ss) {
            return false;
        }
        attach_partial(pb, ss, 1);
        true
    }
}

/// Fills `out` with up to `want` blocks of class `cls`, or hands a whole remote list to `*pending` (see
/// `superslab::slab_take`); returns 0 with `*pending` still null only when memory is exhausted.
///
/// # Safety
/// `pb` is the calling thread's Page Box; `out` has room for `want` pointers; `pending` is valid and null.
pub unsafe fn refill(
    pb: *mut Pages,
    cls: usize,
    out: *mut *mut u8,
    want: usize,
    pending: *mut *mut Block,
) -> usize {
    // SAFETY: per contract; every slab in the ring is owned by the thread.
    unsafe {
        let w = warm(pb);
        let mut asked_shared_pool = false;
        let mut reclaims = 0;
        loop {
            let got = take_from_ring(pb, cls, out, want, pending);
            if got > 0 || !(*pending).is_null() {
                bump(&(*pb).counters[cls][HITS], 1);
                return got;
            }
            // An exited thread's slab of this class with room, before a fresh slab.
            if reclaims < RECLAIMS_PER_REFILL {
                let ss = warm_pool::reclaim_for_class(w, cls);
                if !ss.is_null() {
                    attach_partial(pb, ss, 1);
                    reclaims += 1;
                    continue;
                }
            }
            // A fresh slab from a SuperSlab the thread owns (Warm Pool) …
            let slab = warm_pool::assign_slab(w, cls, true);
            if !slab.is_null() {
                bump(&(*pb).counters[cls][NEW_PAGES], 1);
                attach(pb, cls, slab);
                (*pb).rings[cls].current = slab;
                continue;
            }
            // … else the Shared Pool, which first reclaims abandoned SuperSlabs: their partial slabs join the
            // rings right after `current`, so the next pass takes their free blocks before a fresh slab.
            if asked_shared_pool || !from_shared_pool(pb, cls) {
                return 0;
            }
            asked_shared_pool = true;
        }
    }
}

/// Refill path for classes outside the Page Box: scans every SuperSlab of the Warm Pool for slabs of class
/// `cls` with free blocks, then takes a fresh slab.
///
/// # Safety
/// `pb` is the calling thread's Page Box; `out` has room for `want` pointers.
pub unsafe fn refill_scan(pb: *mut Pages, cls: usize, out: *mut *mut u8, want: usize) -> usize {
    // SAFETY: per contract.
    unsafe {
        let w = warm(pb);
        let mut got = 0;
        let mut ss = (*w).head;
        while !ss.is_null() && got < want {
            let mut mask = (*ss).assigned;
            while mask != 0 && got < want {
                let i = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                let slab = core::ptr::addr_of_mut!((*ss).slabs[i]);
                if (*slab).class as usize == cls && superslab::slab_has_free(slab) {
                    got +=
                        superslab::slab_take(slab, out.add(got), want - got, core::ptr::null_mut());
                }
            }
            ss = (*ss).next;
        }
        if got > 0 {
            bump(&(*pb).counters[cls][SCAN_HITS], 1);
            return got;
        }
        let mut slab = warm_pool::assign_slab(w, cls, true);
        if slab.is_null() {
            if !from_shared_pool(pb, cls) {
                return 0;
            }
            slab = warm_pool::assign_slab(w, cls, false);
            if slab.is_null() {
                return 0;
            }
        }
        attach(pb, cls, slab);
        superslab::slab_take(slab, out, want, core::ptr::null_mut())
    }
}

/// Takes blocks from the current page, then from up to [`SCAN_LIMIT`] further pages of the ring.
unsafe fn take_from_ring(
    pb: *mut Pages,
    cls: usize,
    out: *mut *mut u8,
    want: usize,
    pending: *mut *mut Block,
) -> usize {
    // SAFETY: the caller's contract (`refill`).
    unsafe {
        let q = &mut (*pb).rings[cls];
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
/// `pb` is the calling thread's Page Box and owns the block's SuperSlab; the block is free; `ENCODED` ⇔
/// `superslab::links_encoded()`.
#[inline]
pub unsafe fn give_back<const ENCODED: bool>(pb: *mut Pages, p: *mut u8) {
    // SAFETY: per contract.
    unsafe {
        let slab = superslab::slab_of(p as usize);
        superslab::slab_push_local::<ENCODED>(slab, p);
        if (*slab).used == 0 {
            let cls = (*slab).class as usize;
            if (*pb).rings[cls].current != slab {
                retire(pb, cls, slab);
            }
        }
    }
}

/// Returns `blocks[0..n)`, free blocks of class `cls`, to their slabs (owner side, plain links), one run of
/// consecutive blocks of the same slab at a time ([`superslab::slab_push_run`]), and retires the slabs that
/// became empty — what [`give_back`] does block by block, with the slab's fields written once per run. A
/// program that frees a whole structure hands the cache runs of neighbours: bintrees' flushes average
/// dozens of blocks per run.
///
/// # Safety
/// `pb` is the calling thread's Page Box and owns the blocks' SuperSlabs; the blocks are free and of class
/// `cls`; `!superslab::links_encoded()`.
pub unsafe fn give_back_plain(pb: *mut Pages, cls: usize, blocks: *const *mut u8, n: usize) {
    // SAFETY: per contract.
    unsafe {
        let mut i = 0;
        while i < n {
            let p = *blocks.add(i);
            // A lone block (the next one lies in another slab) takes the one-block path: a run's set-up and
            // write-back cost more than [`give_back`] for one block (programs that free interleaved
            // structures, wordfreq, give the cache mostly runs of one).
            if i + 1 == n
                || (p as usize ^ *blocks.add(i + 1) as usize) >> superslab::SLAB_SHIFT != 0
            {
                give_back::<false>(pb, p);
                i += 1;
                continue;
            }
            let slab = superslab::slab_of(p as usize);
            i += superslab::slab_push_run(slab, blocks.add(i), n - i);
            if (*slab).used == 0 && (*pb).rings[cls].current != slab {
                retire(pb, cls, slab);
            }
        }
    }
}

/// Unassigns an empty slab and tells the Warm Pool.
///
/// # Safety
/// As [`give_back`]; `slab.used == 0` and it is in class `cls`'s ring.
pub unsafe fn retire(pb: *mut Pages, cls: usize, slab: *mut Slab) {
    // SAFETY: per contract.
    unsafe {
        detach(pb, cls, slab);
        superslab::slab_unassign(slab);
        bump(&(*pb).counters[cls][RETIRED_SLABS], 1);
        warm_pool::on_slab_retired(warm(pb), superslab::superslab_of(slab as usize));
    }
}

/// Checks the ring of class `cls`: length, membership, class, ownership.
///
/// # Safety
/// `pb` is the calling thread's Page Box and no other thread frees into its SuperSlabs meanwhile.
pub unsafe fn check_invariants(pb: *mut Pages, cls: usize) -> Result<(), &'static str> {
    // SAFETY: per contract.
    unsafe {
        let q = &(*pb).rings[cls];
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
            if (*ss).owner.load(core::sync::atomic::Ordering::Relaxed) != (*pb).warm.owner {
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
