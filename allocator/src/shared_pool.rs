//! The Shared Pool box: the one global lock, and SuperSlabs for threads whose Warm Pool ran dry.
//!
//! Entrance: [`acquire`] — under the lock: reclaim an abandoned (DRAINING) SuperSlab, else take FREE ones
//! waiting in the Release Guard (prefilling the Warm Pool with up to `HAKMEM_WARM_POOL_PREFILL`), else map a
//! new one (through the Prefault box). Each call counts one lock acquisition for the requesting class. In
//! steady state a thread never comes here. What it hands out is returned to the Warm Pool above (the
//! SuperSlabs, owned by the caller), which takes them in; the Page Box attaches their partial slabs. Calls
//! below it: Release Guard, Tier, Prefault, SuperSlab, Config, OS. The release tick ([`tick_locked`]) starts
//! here: abandoned SuperSlabs collected, then the Release Guard's tick.
//!
//! The same lock guards the Release Guard's FREE list, the heap registry and the metadata arena; `fork` takes
//! it in `prepare` and releases it in parent and child (the heap's fork handlers), so the child inherits
//! consistent lists.
//!
//! [`reclaim_for_class`] serves a thread whose Page Box ring of a class is empty with an abandoned SuperSlab
//! that has room in that class (a per-class count of such SuperSlabs lets it skip the lock when none has).
//!
//! Invariants: every SuperSlab on the abandoned list has `owner == 0` and tier DRAINING (`len == count`);
//! `ABANDONED_BY_CLASS[c]` = abandoned SuperSlabs whose `classes` mask has bit c.

use core::ptr::null_mut;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::route::NUM_CLASSES;
use crate::superslab::{self, SuperSlab};
use crate::{config, os, prefault, release_guard, tier};

/// The global lock.
pub static LOCK: os::SpinLock = os::SpinLock::new();

/// Lock acquisitions by class (the memo's `shared_pool_acquire_slab` count).
pub static LOCK_ACQUISITIONS: [AtomicU64; NUM_CLASSES] = [const { AtomicU64::new(0) }; NUM_CLASSES];
/// Abandoned SuperSlabs reclaimed by another thread.
pub static RECLAIMED: AtomicU64 = AtomicU64::new(0);
/// Of those, reclaimed by a thread freeing one of their blocks ([`reclaim_on_free`]).
pub static RECLAIMED_ON_FREE: AtomicU64 = AtomicU64::new(0);
/// SuperSlabs abandoned by exiting threads.
pub static ABANDONED: AtomicU64 = AtomicU64::new(0);
/// SuperSlabs mapped.
pub static MAPPED: AtomicU64 = AtomicU64::new(0);
/// The most SuperSlabs mapped at once (mapped less released, taken after each new mapping, under the lock):
/// with 2 MiB each, what the SuperSlabs put under the peak RSS at most.
pub static MAPPED_PEAK: AtomicU64 = AtomicU64::new(0);

/// SuperSlabs mapped now (mapped less released; racy outside the lock).
pub fn mapped_now() -> u64 {
    MAPPED
        .load(Ordering::Relaxed)
        .saturating_sub(crate::release_guard::RELEASED.load(Ordering::Relaxed))
}

static mut ABANDONED_HEAD: *mut SuperSlab = null_mut();
static mut ABANDONED_COUNT: u32 = 0;
/// Per class: abandoned SuperSlabs with a slab of that class that has room (written under the lock, read
/// racily to skip the lock when none has).
static ABANDONED_BY_CLASS: [AtomicU32; NUM_CLASSES] = [const { AtomicU32::new(0) }; NUM_CLASSES];
/// Abandoned SuperSlabs reclaimed because they had room in a class a thread needed.
pub static RECLAIMED_FOR_CLASS: AtomicU64 = AtomicU64::new(0);
/// Abandoned SuperSlabs whose empty slabs wait for their first purge (written under the lock).
static UNPURGED: AtomicU32 = AtomicU32::new(0);

/// Whether abandoned SuperSlabs wait to be purged (the idle release keeps ticking while they do).
pub fn purge_waiting() -> bool {
    UNPURGED.load(Ordering::Relaxed) != 0
}

/// Purges the empty slabs of the abandoned `ss`, counting its first purge since it was abandoned.
///
/// # Safety
/// Lock held; `ss` is on the abandoned list.
unsafe fn purge_abandoned(ss: *mut SuperSlab) {
    // SAFETY: lock held; the abandoned SuperSlab has no owner.
    unsafe {
        superslab::purge(ss);
        if !(*ss).purged {
            (*ss).purged = true;
            UNPURGED.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Sets the class index entry of an abandoned SuperSlab (`classes` = new mask).
///
/// # Safety
/// Lock held; `ss` is abandoned (or being linked / unlinked).
unsafe fn set_classes(ss: *mut SuperSlab, classes: u64) {
    // SAFETY: lock held.
    unsafe {
        let old = (*ss).classes;
        let mut gone = old & !classes;
        while gone != 0 {
            let c = gone.trailing_zeros() as usize;
            gone &= gone - 1;
            ABANDONED_BY_CLASS[c].fetch_sub(1, Ordering::Relaxed);
        }
        let mut new = classes & !old;
        while new != 0 {
            let c = new.trailing_zeros() as usize;
            new &= new - 1;
            ABANDONED_BY_CLASS[c].fetch_add(1, Ordering::Relaxed);
        }
        (*ss).classes = classes;
    }
}

/// A thread needs blocks of class `cls` and its ring has none: it reclaims an abandoned SuperSlab holding a
/// slab of that class with room (mimalloc 3 takes an abandoned page of the size it needs), so exited
/// threads' partial slabs are filled before a fresh slab is bound. Returns it, owned by `owner` (chunk-map
/// value `map_value`), its remote frees collected and its empty slabs unassigned; null (without the lock)
/// when none has.
///
/// # Safety
/// `owner` is the calling thread's heap.
pub unsafe fn reclaim_for_class(owner: usize, map_value: u8, cls: usize) -> *mut SuperSlab {
    if ABANDONED_BY_CLASS[cls].load(Ordering::Relaxed) == 0 {
        return null_mut();
    }
    LOCK.lock();
    // SAFETY: lock held; abandoned SuperSlabs are the lock holder's to move.
    let found = unsafe {
        let mut ss = *core::ptr::addr_of!(ABANDONED_HEAD);
        while !ss.is_null() && (*ss).classes & (1 << cls) == 0 {
            ss = (*ss).next;
        }
        if !ss.is_null() {
            take_abandoned_locked(owner, map_value, ss);
            RECLAIMED_FOR_CLASS.fetch_add(1, Ordering::Relaxed);
        }
        ss
    };
    LOCK.unlock();
    found
}

/// What [`acquire`] hands out: SuperSlabs owned by the caller, linked through `next` (null-terminated), in
/// the order they were taken.
pub struct Acquired {
    /// The first SuperSlab handed out (null if none).
    pub head: *mut SuperSlab,
    /// Whether one of them has an unassigned slab (false only when memory is exhausted).
    pub space: bool,
    /// FREE SuperSlabs taken beyond the one needed.
    pub prefilled: u32,
}

/// SuperSlabs for a thread whose Warm Pool has no unassigned slab, owned by `owner` (chunk-map value
/// `map_value`): abandoned ones reclaimed (their remote frees collected, empty slabs unassigned) until one
/// has an unassigned slab, else FREE ones (up to `HAKMEM_WARM_POOL_PREFILL`), else a new mapping — with
/// transparent huge pages asked for when `huge` (the caller's heap is large already; `HAKMEM_SS_THP`).
///
/// # Safety
/// `owner` is the calling thread's heap.
pub unsafe fn acquire(owner: usize, map_value: u8, cls: usize, huge: bool) -> Acquired {
    let cfg = config::get();
    let mut out = Acquired {
        head: null_mut(),
        space: false,
        prefilled: 0,
    };
    let mut tail: *mut SuperSlab = null_mut();
    let mut hand_out = |ss: *mut SuperSlab| {
        // SAFETY: `ss` is the caller's now and in no list.
        unsafe { (*ss).next = null_mut() };
        if tail.is_null() {
            out.head = ss;
        } else {
            // SAFETY: as above, for the previous one.
            unsafe { (*tail).next = ss };
        }
        tail = ss;
    };
    LOCK.lock();
    LOCK_ACQUISITIONS[cls].fetch_add(1, Ordering::Relaxed);
    // SAFETY: the lock is held.
    let (space, prefilled) = unsafe {
        tick_locked(os::now_ns());
        // A reclaimed SuperSlab may be full of live slabs: it still feeds the Page Box rings, but the caller
        // needs an unassigned slab, so keep going until one is in the Warm Pool.
        // Abandoned SuperSlabs first: their free space is memory already mapped (and their live blocks'
        // slabs are resident anyway); take them until one has an unassigned slab.
        let mut space = false;
        let mut prefilled = 0;
        for _ in 0..RECLAIM_PER_ACQUIRE {
            let reclaimed = reclaim_locked(owner, map_value);
            if reclaimed.is_null() {
                break;
            }
            hand_out(reclaimed);
            if (*reclaimed).assigned != superslab::ALL_ASSIGNED {
                space = true;
                break;
            }
        }
        let mut taken = 0;
        while taken < cfg.warm_pool_prefill.max(1) {
            let ss = release_guard::take_locked();
            if ss.is_null() {
                break;
            }
            (*ss).owner.store(owner, Ordering::Release);
            os::set_chunk_kind(ss as usize, map_value);
            tier::set(ss, tier::HOT);
            hand_out(ss);
            if space {
                prefilled += 1;
            }
            space = true;
            taken += 1;
        }
        if !space {
            let base = prefault::map_superslab(cfg.ss_prefault, huge && cfg.ss_thp);
            if !base.is_null() {
                let ss = superslab::format(base, owner);
                os::set_chunk_kind(base as usize, map_value);
                tier::set(ss, tier::HOT);
                MAPPED.fetch_add(1, Ordering::Relaxed);
                MAPPED_PEAK.fetch_max(mapped_now(), Ordering::Relaxed);
                hand_out(ss);
                space = true;
            }
        }
        (space, prefilled)
    };
    LOCK.unlock();
    out.space = space;
    out.prefilled = prefilled;
    out
}

/// Abandoned SuperSlabs one [`acquire`] may take before it maps or reuses a FREE one.
pub const RECLAIM_PER_ACQUIRE: usize = 8;

/// Takes one abandoned SuperSlab for `owner` (null if none), as [`take_abandoned_locked`].
///
/// # Safety
/// Lock held; `owner` is the calling thread's heap.
unsafe fn reclaim_locked(owner: usize, map_value: u8) -> *mut SuperSlab {
    // SAFETY: lock held.
    unsafe {
        let ss = *core::ptr::addr_of!(ABANDONED_HEAD);
        if !ss.is_null() {
            take_abandoned_locked(owner, map_value, ss);
        }
        ss
    }
}

/// A thread freeing a block of an abandoned SuperSlab adopts it (mimalloc's reclaim on free): the block and
/// the SuperSlab's other free space become the caller's to reuse, instead of waiting, remote-freed, for a
/// thread that needs a new SuperSlab. Returns false (the caller frees remotely) if another thread took it
/// first.
///
/// # Safety
/// `owner` is the calling thread's heap; `ss` holds a live block the caller is freeing (so it is mapped and
/// cannot become FREE meanwhile).
pub unsafe fn reclaim_on_free(owner: usize, map_value: u8, ss: *mut SuperSlab) -> bool {
    LOCK.lock();
    // SAFETY: lock held; an abandoned SuperSlab (owner 0, DRAINING) is on the abandoned list.
    let ok = unsafe {
        let ok = (*ss).owner.load(Ordering::Relaxed) == 0
            && (*ss).tier.load(Ordering::Relaxed) == tier::DRAINING;
        if ok {
            take_abandoned_locked(owner, map_value, ss);
            RECLAIMED_ON_FREE.fetch_add(1, Ordering::Relaxed);
        }
        ok
    };
    LOCK.unlock();
    ok
}

/// Gives the abandoned `ss` to `owner`: owner, chunk mark, tier, remote frees collected, empty slabs
/// unassigned. Its other slabs are the caller's to attach to its Page Box rings (the caller puts the
/// SuperSlab in its Warm Pool).
///
/// # Safety
/// Lock held; `owner` is the calling thread's heap; `ss` is on the abandoned list.
unsafe fn take_abandoned_locked(owner: usize, map_value: u8, ss: *mut SuperSlab) {
    // SAFETY: lock held; the abandoned SuperSlab has no owner, so the lock holder may touch its slabs.
    unsafe {
        unlink_abandoned(ss);
        (*ss).owner.store(owner, Ordering::Release);
        os::set_chunk_kind(ss as usize, map_value);
        tier::set(ss, tier::HOT);
        RECLAIMED.fetch_add(1, Ordering::Relaxed);
        let mut mask = (*ss).assigned;
        while mask != 0 {
            let i = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            let slab = core::ptr::addr_of_mut!((*ss).slabs[i]);
            superslab::slab_collect(slab);
            if (*slab).used == 0 {
                superslab::slab_unassign(slab);
            }
        }
    }
}

unsafe fn unlink_abandoned(ss: *mut SuperSlab) {
    // SAFETY: lock held by the caller; `ss` is on the abandoned list.
    unsafe {
        if (*ss).prev.is_null() {
            ABANDONED_HEAD = (*ss).next;
        } else {
            (*(*ss).prev).next = (*ss).next;
        }
        if !(*ss).next.is_null() {
            (*(*ss).next).prev = (*ss).prev;
        }
        (*ss).next = null_mut();
        (*ss).prev = null_mut();
        ABANDONED_COUNT -= 1;
        set_classes(ss, 0);
        if !(*ss).purged {
            (*ss).purged = true;
            UNPURGED.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Puts a DRAINING SuperSlab (owner already 0) on the abandoned list. The pages of its unassigned slabs are
/// purged by the first release tick after `HAKMEM_PURGE_DELAY_MS` (so a dead thread keeps resident only
/// its live blocks' slabs), not now: a thread started next usually reclaims it at once (server-style thread
/// churn), and a purge now would make it fault every page in again.
///
/// # Safety
/// Lock held; `ss` is in no list.
pub unsafe fn abandon_locked(ss: *mut SuperSlab, now: u64) {
    // SAFETY: lock held.
    unsafe {
        (*ss).free_since = now;
        (*ss).purged = (*ss).dirty & !(*ss).assigned == 0;
        if !(*ss).purged {
            UNPURGED.fetch_add(1, Ordering::Relaxed);
        }
        ABANDONED.fetch_add(1, Ordering::Relaxed);
        (*ss).prev = null_mut();
        (*ss).next = ABANDONED_HEAD;
        if !ABANDONED_HEAD.is_null() {
            (*ABANDONED_HEAD).prev = ss;
        }
        ABANDONED_HEAD = ss;
        ABANDONED_COUNT += 1;
        set_classes(ss, superslab::classes_with_room(ss));
    }
}

/// Collects remote frees of every abandoned SuperSlab; those that emptied go FREE (Release Guard tick); those
/// abandoned at least `delay_ns` ago are purged: the first time whatever their empty dirty slabs, later when
/// at least `purge_min` empty slabs are dirty again.
///
/// # Safety
/// Lock held.
pub unsafe fn drain_abandoned_locked(purge_min: u32, now: u64, delay_ns: u64) {
    // SAFETY: lock held; abandoned SuperSlabs have no owner.
    unsafe {
        let mut ss = *core::ptr::addr_of!(ABANDONED_HEAD);
        while !ss.is_null() {
            let next = (*ss).next;
            let mut mask = (*ss).assigned;
            while mask != 0 {
                let i = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                let slab = core::ptr::addr_of_mut!((*ss).slabs[i]);
                superslab::slab_collect(slab);
                if (*slab).used == 0 {
                    superslab::slab_unassign(slab);
                }
            }
            if (*ss).assigned == 0 {
                unlink_abandoned(ss);
                release_guard::put_locked(ss);
            } else {
                // Slabs that emptied here are purged once at least `purge_min` of them wait: each purge is a
                // `madvise` under the lock, which every allocating thread may be waiting for.
                let empty_dirty = ((*ss).dirty & !(*ss).assigned).count_ones();
                if now.saturating_sub((*ss).free_since) >= delay_ns
                    && empty_dirty != 0
                    && (!(*ss).purged || empty_dirty >= purge_min)
                {
                    purge_abandoned(ss);
                }
                set_classes(ss, superslab::classes_with_room(ss));
            }
            ss = next;
        }
    }
}

/// Number of abandoned SuperSlabs waiting.
pub fn abandoned_now() -> u64 {
    // SAFETY: a racy read of a counter for statistics only, through a raw pointer.
    unsafe { core::ptr::read_volatile(core::ptr::addr_of!(ABANDONED_COUNT)) as u64 }
}

/// Checks the abandoned list. Takes the lock.
pub fn check_invariants() -> Result<(), &'static str> {
    LOCK.lock();
    // SAFETY: lock held.
    let r = unsafe {
        let mut n = 0;
        let mut ss = *core::ptr::addr_of!(ABANDONED_HEAD);
        let mut r = Ok(());
        let mut by_class = [0u32; NUM_CLASSES];
        while !ss.is_null() {
            for (c, count) in by_class.iter_mut().enumerate() {
                *count += ((*ss).classes >> c) as u32 & 1;
            }
            if (*ss).owner.load(Ordering::Relaxed) != 0
                || (*ss).tier.load(Ordering::Relaxed) != tier::DRAINING
            {
                r = Err("abandoned SuperSlab with an owner or not DRAINING");
            }
            n += 1;
            ss = (*ss).next;
        }
        if n != *core::ptr::addr_of!(ABANDONED_COUNT) {
            r = Err("abandoned count mismatch");
        }
        if (0..NUM_CLASSES).any(|c| ABANDONED_BY_CLASS[c].load(Ordering::Relaxed) != by_class[c]) {
            r = Err("per-class index of abandoned SuperSlabs disagrees with their masks");
        }
        r
    };
    LOCK.unlock();
    r
}

/// The release tick: collects abandoned SuperSlabs (purging those with at least
/// [`PURGE_MIN_ON_SLOW_PATH`] empty dirty slabs: ticks run on allocation slow paths, under the lock), then
/// the Release Guard releases what waited longer than the delay.
///
/// # Safety
/// Lock held.
pub unsafe fn tick_locked(now: u64) {
    // SAFETY: forwarded.
    unsafe { tick_with_purge_locked(now, PURGE_MIN_ON_SLOW_PATH) }
}

/// Empty dirty slabs an abandoned SuperSlab needs before a slow-path tick purges them.
pub const PURGE_MIN_ON_SLOW_PATH: u32 = 8;

/// [`tick_locked`] purging abandoned SuperSlabs with at least `purge_min` empty dirty slabs (the idle
/// release thread passes 1).
///
/// # Safety
/// Lock held.
pub unsafe fn tick_with_purge_locked(now: u64, purge_min: u32) {
    // SAFETY: lock held.
    unsafe {
        let delay = config::get().purge_delay_ms as u64 * 1_000_000;
        drain_abandoned_locked(purge_min, now, delay);
        release_guard::tick_locked(now);
    }
}

/// A tick if the lock is free (never blocks): from remote frees into abandoned SuperSlabs, so a program that
/// frees everything sees its RSS fall.
pub fn maybe_tick() {
    if LOCK.try_lock() {
        // SAFETY: lock held.
        unsafe { tick_locked(os::now_ns()) };
        LOCK.unlock();
    }
}
