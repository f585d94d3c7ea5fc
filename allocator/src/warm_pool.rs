//! The Warm Pool box: a thread's HOT SuperSlabs — where fresh slabs come from without any lock.
//!
//! Entrances: [`assign_slab`] (a fresh slab for a class: a hit when an owned SuperSlab has an unassigned slab),
//! [`refill_from_shared_pool`] (a miss: the Shared Pool hands out SuperSlabs — reclaimed abandoned ones, FREE
//! ones, up to `HAKMEM_WARM_POOL_PREFILL`, or a new mapping — which join the pool at its front, and the
//! caller learns how many so that it can take their partial slabs), [`reclaim_for_class`] /
//! [`reclaim_on_free`] (one abandoned SuperSlab, adopted), and [`on_slab_retired`] (a SuperSlab that emptied
//! goes to the Release Guard unless it is the thread's last). Calls below it: Idle Release, Shared Pool,
//! Release Guard, Tier, SuperSlab, OS. Its counters (hits, misses, prefilled) live in the pool.
//!
//! Invariants: the list holds exactly the SuperSlabs with `owner == pool.owner` (`len == count`), all HOT.

use core::ptr::null_mut;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::os::{self, bump};
use crate::shared_pool::{self, LOCK};
use crate::superslab::{self, Slab, SuperSlab, ALL_ASSIGNED};
use crate::{idle_release, release_guard, tier};

/// A thread's HOT SuperSlabs (doubly linked through `SuperSlab::next/prev`), who owns them, and the box's
/// counters.
#[repr(C)]
pub struct WarmPool {
    /// First SuperSlab.
    pub head: *mut SuperSlab,
    /// How many.
    pub count: u32,
    /// The chunk-map value of the owner's SuperSlabs: its token, or `os::KIND_SMALL` for an owner without one.
    pub map_value: u8,
    /// The owner written into the SuperSlabs' `owner` field (the heap's address; 0 in the empty heap).
    pub owner: usize,
    /// Fresh slabs found in an owned SuperSlab.
    pub hits: AtomicU64,
    /// Times the Shared Pool was asked.
    pub misses: AtomicU64,
    /// SuperSlabs the Shared Pool handed out beyond the one needed.
    pub prefilled: AtomicU64,
}

impl WarmPool {
    /// No SuperSlabs, no owner.
    #[allow(clippy::declare_interior_mutable_const)]
    pub const EMPTY: WarmPool = WarmPool {
        head: null_mut(),
        count: 0,
        map_value: os::KIND_SMALL,
        owner: 0,
        hits: AtomicU64::new(0),
        misses: AtomicU64::new(0),
        prefilled: AtomicU64::new(0),
    };
}

/// Adds an owned SuperSlab at the front.
///
/// # Safety
/// `w` is the calling thread's pool, `ss` is owned by it and in no list.
pub unsafe fn add(w: *mut WarmPool, ss: *mut SuperSlab) {
    // SAFETY: per contract.
    unsafe {
        let w = &mut *w;
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
/// `ss` is in the pool `w` of the calling thread.
pub unsafe fn remove(w: *mut WarmPool, ss: *mut SuperSlab) {
    // SAFETY: per contract.
    unsafe {
        let w = &mut *w;
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

/// A thread that owns this many SuperSlabs gets its new ones with transparent huge pages (`HAKMEM_SS_THP`):
/// one TLB entry per 2 MiB for a large heap touched at random (thread churn: the program's reads of its
/// blocks cost half the time), while a small heap — a short thread, a small program — keeps 4 KiB pages,
/// where a huge page would make 2 MiB resident at the first touch (threads that each leave one block behind
/// doubled their RSS).
pub const HUGE_FROM: u32 = 4;

/// A fresh slab for class `cls` from a SuperSlab the thread owns, null if none has an unassigned slab (then
/// the caller asks [`refill_from_shared_pool`]). Counts a hit when `count` is set.
///
/// # Safety
/// `w` is the calling thread's pool.
pub unsafe fn assign_slab(w: *mut WarmPool, cls: usize, count: bool) -> *mut Slab {
    // SAFETY: per contract; every listed SuperSlab is owned by the pool's owner.
    unsafe {
        let mut ss = (*w).head;
        while !ss.is_null() {
            if (*ss).assigned != ALL_ASSIGNED {
                if count {
                    bump(&(*w).hits, 1);
                }
                return superslab::slab_assign(ss, cls);
            }
            ss = (*ss).next;
        }
        null_mut()
    }
}

/// A Warm Pool miss: the Shared Pool hands out SuperSlabs (reclaimed ones, whose partial slabs the caller
/// takes, FREE ones or a new mapping), which join the pool at its front. Returns how many joined (the first
/// `n` of the list), `None` when memory is exhausted.
///
/// # Safety
/// `w` is the calling thread's pool.
pub unsafe fn refill_from_shared_pool(w: *mut WarmPool, cls: usize) -> Option<u32> {
    // SAFETY: per contract; the handed-out SuperSlabs are owned by `w.owner` and in no list.
    unsafe {
        bump(&(*w).misses, 1);
        let huge = (*w).count >= HUGE_FROM;
        let got = shared_pool::acquire((*w).owner, (*w).map_value, cls, huge);
        bump(&(*w).prefilled, got.prefilled as u64);
        let mut n = 0;
        let mut ss = got.head;
        while !ss.is_null() {
            let next = (*ss).next;
            add(w, ss);
            n += 1;
            ss = next;
        }
        got.space.then_some(n)
    }
}

/// The calling thread needs class `cls` and has no room in it: an abandoned SuperSlab with room in that
/// class joins the pool (null if none); the caller takes its partial slabs.
///
/// # Safety
/// `w` is the calling thread's pool.
pub unsafe fn reclaim_for_class(w: *mut WarmPool, cls: usize) -> *mut SuperSlab {
    // SAFETY: per contract.
    unsafe {
        let ss = shared_pool::reclaim_for_class((*w).owner, (*w).map_value, cls);
        if !ss.is_null() {
            add(w, ss);
        }
        ss
    }
}

/// The calling thread frees a block of the abandoned `ss`: it joins the pool unless another thread took it
/// first (false).
///
/// # Safety
/// `w` is the calling thread's pool; `ss` holds a live block the caller is freeing.
pub unsafe fn reclaim_on_free(w: *mut WarmPool, ss: *mut SuperSlab) -> bool {
    // SAFETY: per contract.
    unsafe {
        let ok = shared_pool::reclaim_on_free((*w).owner, (*w).map_value, ss);
        if ok {
            add(w, ss);
        }
        ok
    }
}

/// A slab of `ss` was retired: if `ss` is now empty and not the thread's only SuperSlab, it goes FREE.
///
/// # Safety
/// `w` is the calling thread's pool and owns `ss`.
pub unsafe fn on_slab_retired(w: *mut WarmPool, ss: *mut SuperSlab) {
    // SAFETY: per contract.
    unsafe {
        if (*ss).assigned != 0 || (*w).count <= 1 {
            return;
        }
        remove(w, ss);
        os::set_chunk_kind(ss as usize, os::KIND_SMALL);
        (*ss).owner.store(0, Ordering::Release);
        LOCK.lock();
        release_guard::put_locked(ss);
        LOCK.unlock();
        idle_release::request();
    }
}

/// Checks that every SuperSlab in the pool is owned by its owner, HOT, and sound.
///
/// # Safety
/// `w` is the calling thread's pool and no other thread frees into its SuperSlabs meanwhile.
pub unsafe fn check_invariants(w: *mut WarmPool) -> Result<(), &'static str> {
    // SAFETY: per contract.
    unsafe {
        let mut n = 0;
        let mut ss = (*w).head;
        while !ss.is_null() {
            if (*ss).owner.load(Ordering::Relaxed) != (*w).owner {
                return Err("warm pool SuperSlab not owned by the heap");
            }
            if (*ss).tier.load(Ordering::Relaxed) != tier::HOT {
                return Err("warm pool SuperSlab not HOT");
            }
            superslab::check_invariants(ss)?;
            n += 1;
            ss = (*ss).next;
        }
        if n != (*w).count {
            return Err("warm pool count mismatch");
        }
        Ok(())
    }
}
