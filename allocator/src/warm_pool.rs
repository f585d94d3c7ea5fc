//! The Warm Pool box: a thread's HOT SuperSlabs — where fresh slabs come from without any lock.
//!
//! Entrances: [`acquire_slab`] (a fresh slab for a class: hit = an owned SuperSlab had an unassigned slab,
//! miss = the Shared Pool is asked, which prefills the pool with up to `HAKMEM_WARM_POOL_PREFILL` SuperSlabs),
//! [`refill_scan`] (the refill path of classes outside the Page Box: scan the owned SuperSlabs' slab tables
//! for blocks of the class) and [`on_slab_retired`] (a SuperSlab that emptied goes to the Release Guard unless
//! it is the thread's last).
//!
//! Invariants: the list holds exactly the SuperSlabs with `owner == heap` (`len == count`), all HOT.

use core::ptr::null_mut;
use core::sync::atomic::Ordering;

use crate::heap::Heap;
use crate::shared_pool::LOCK;
use crate::stats::{bump, G_WARM_HITS, G_WARM_MISSES, S_WARM_SCAN_HITS};
use crate::superslab::{self, Slab, SuperSlab, ALL_ASSIGNED};
use crate::{page_box, release_guard, shared_pool, tier};

/// A thread's HOT SuperSlabs (doubly linked through `SuperSlab::next/prev`).
#[repr(C)]
pub struct WarmPool {
    /// First SuperSlab.
    pub head: *mut SuperSlab,
    /// How many.
    pub count: u32,
}

impl WarmPool {
    /// No SuperSlabs.
    pub const EMPTY: WarmPool = WarmPool {
        head: null_mut(),
        count: 0,
    };
}

/// Adds an owned SuperSlab at the front.
///
/// # Safety
/// `h` is the calling thread's heap, `ss` is owned by it and in no list.
pub unsafe fn add(h: *mut Heap, ss: *mut SuperSlab) {
    // SAFETY: per contract.
    unsafe {
        let w = &mut (*h).warm;
        (*ss).prev = null_mut();
        (*ss).next = w.head;
        if !w.head.is_null() {
            (*w.head).prev = ss;
        }
        w.head = ss;
        w.count += 1;
    }
}

/// Removes a SuperSlab from the pool.
///
/// # Safety
/// `ss` is in `h`'s pool.
pub unsafe fn remove(h: *mut Heap, ss: *mut SuperSlab) {
    // SAFETY: per contract.
    unsafe {
        let w = &mut (*h).warm;
        if (*ss).prev.is_null() {
            w.head = (*ss).next;
        } else {
            (*(*ss).prev).next = (*ss).next;
        }
        if !(*ss).next.is_null() {
            (*(*ss).next).prev = (*ss).prev;
        }
        (*ss).next = null_mut();
        (*ss).prev = null_mut();
        w.count -= 1;
    }
}

/// A fresh slab for class `cls` from a SuperSlab the thread owns, null if none has an unassigned slab (a
/// Warm Pool hit, else nothing is counted: the caller asks [`refill_from_shared_pool`]).
///
/// # Safety
/// `h` is the calling thread's live heap.
pub unsafe fn assign_slab(h: *mut Heap, cls: usize) -> *mut Slab {
    // SAFETY: per contract; every listed SuperSlab is owned by `h`.
    unsafe {
        let mut ss = (*h).warm.head;
        while !ss.is_null() {
            if (*ss).assigned != ALL_ASSIGNED {
                bump(&(*h).stats.scalar[G_WARM_HITS], 1);
                return superslab::slab_assign(ss, cls);
            }
            ss = (*ss).next;
        }
        null_mut()
    }
}

/// The ring of class `cls` has nothing: ask the Shared Pool for an abandoned SuperSlab with room in that
/// class (its slabs join the rings). False if none.
///
/// # Safety
/// `h` is the calling thread's live heap.
pub unsafe fn reclaim_for_class(h: *mut Heap, cls: usize) -> bool {
    // SAFETY: forwarded.
    unsafe { shared_pool::reclaim_for_class(h, cls) }
}

/// A Warm Pool miss: the Shared Pool adds SuperSlabs to the pool (reclaimed ones, whose partial slabs join
/// the Page Box rings, FREE ones or a new mapping). False when memory is exhausted.
///
/// # Safety
/// `h` is the calling thread's live heap.
pub unsafe fn refill_from_shared_pool(h: *mut Heap, cls: usize) -> bool {
    // SAFETY: per contract.
    unsafe {
        bump(&(*h).stats.scalar[G_WARM_MISSES], 1);
        shared_pool::acquire(h, cls)
    }
}

/// A fresh slab assigned to class `cls` (null when memory is exhausted).
///
/// # Safety
/// `h` is the calling thread's live heap.
pub unsafe fn acquire_slab(h: *mut Heap, cls: usize) -> *mut Slab {
    // SAFETY: per contract; every listed SuperSlab is owned by `h`.
    unsafe {
        for attempt in 0..2 {
            let mut ss = (*h).warm.head;
            while !ss.is_null() {
                if (*ss).assigned != ALL_ASSIGNED {
                    if attempt == 0 {
                        bump(&(*h).stats.scalar[G_WARM_HITS], 1);
                    }
                    return superslab::slab_assign(ss, cls);
                }
                ss = (*ss).next;
            }
            if attempt == 0 {
                bump(&(*h).stats.scalar[G_WARM_MISSES], 1);
                if !shared_pool::acquire(h, cls) {
                    return null_mut();
                }
            }
        }
        null_mut()
    }
}

/// Refill path for classes outside the Page Box: scans every owned SuperSlab's slab table for blocks of
/// class `cls`, then takes a fresh slab.
///
/// # Safety
/// `h` is the calling thread's live heap; `out` has room for `want` pointers.
pub unsafe fn refill_scan(h: *mut Heap, cls: usize, out: *mut *mut u8, want: usize) -> usize {
    // SAFETY: per contract.
    unsafe {
        let mut got = 0;
        let mut ss = (*h).warm.head;
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
            bump(&(*h).stats.class[cls][S_WARM_SCAN_HITS], 1);
            return got;
        }
        let slab = acquire_slab(h, cls);
        if slab.is_null() {
            return 0;
        }
        page_box::attach(h, cls, slab);
        superslab::slab_take(slab, out, want, core::ptr::null_mut())
    }
}

/// A slab of `ss` was retired: if `ss` is now empty and not the thread's only SuperSlab, it goes FREE.
///
/// # Safety
/// `h` is the calling thread's live heap and owns `ss`.
pub unsafe fn on_slab_retired(h: *mut Heap, ss: *mut SuperSlab) {
    // SAFETY: per contract.
    unsafe {
        if (*ss).assigned != 0 || (*h).warm.count <= 1 {
            return;
        }
        remove(h, ss);
        crate::os::set_chunk_kind(ss as usize, crate::os::KIND_SMALL);
        (*ss).owner.store(0, Ordering::Release);
        LOCK.lock();
        release_guard::put_locked(ss);
        LOCK.unlock();
        crate::idle_release::request();
    }
}

/// Checks that every SuperSlab in the pool is owned by `h`, HOT, and sound.
///
/// # Safety
/// `h` is the calling thread's heap and no other thread frees into its SuperSlabs meanwhile.
pub unsafe fn check_invariants(h: *mut Heap) -> Result<(), &'static str> {
    // SAFETY: per contract.
    unsafe {
        let mut n = 0;
        let mut ss = (*h).warm.head;
        while !ss.is_null() {
            if (*ss).owner.load(Ordering::Relaxed) != h as usize {
                return Err("warm pool SuperSlab not owned by the heap");
            }
            if (*ss).tier.load(Ordering::Relaxed) != tier::HOT {
                return Err("warm pool SuperSlab not HOT");
            }
            superslab::check_invariants(ss)?;
            n += 1;
            ss = (*ss).next;
        }
        if n != (*h).warm.count {
            return Err("warm pool count mismatch");
        }
        Ok(())
    }
}
