//! The Release Guard box: the only place a FREE SuperSlab is returned to the OS — after a delay, so a
//! SuperSlab that empties and is needed again soon is reused instead of unmapped and remapped.
//!
//! Entrances (all with the Shared Pool lock held): [`put_locked`] (a SuperSlab became FREE: queue it with its
//! time; if more than `HAKMEM_SS_FREE_KEEP` wait, the oldest are released at once), [`take_locked`] (reuse
//! the newest FREE one), [`tick_locked`] (release those older than `HAKMEM_RELEASE_DELAY_MS`; the Shared
//! Pool's tick collects abandoned SuperSlabs first). Calls below it: Large (`trim`), Tier, OS.
//!
//! Safety of a release: the SuperSlab has `owner == 0` and no assigned slab, so no block of it is live and
//! no thread can free into it; its chunk mark is cleared before `munmap`.
//! Invariants: every queued SuperSlab is FREE with `assigned == 0`, `owner == 0`; the queue is ordered by
//! `free_since`; `len == count <= max(keep, 0)` after every `put_locked`.

use core::ptr::null_mut;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::superslab::{self, SuperSlab};
use crate::{config, os, tier};

static mut HEAD: *mut SuperSlab = null_mut(); // oldest
static mut TAIL: *mut SuperSlab = null_mut(); // newest
static mut COUNT: u32 = 0;
static TICKS: AtomicU64 = AtomicU64::new(0);
/// SuperSlabs returned to the OS.
pub static RELEASED: AtomicU64 = AtomicU64::new(0);
/// FREE SuperSlabs taken again before their release.
pub static REUSED: AtomicU64 = AtomicU64::new(0);

/// Queues an empty SuperSlab (owner already 0).
///
/// # Safety
/// Lock held; `ss` is in no list, has no assigned slab and no owner.
pub unsafe fn put_locked(ss: *mut SuperSlab) {
    // SAFETY: lock held.
    unsafe {
        debug_assert_eq!((*ss).assigned, 0);
        tier::set(ss, tier::FREE);
        (*ss).free_since = os::now_ns();
        (*ss).next = null_mut();
        (*ss).prev = TAIL;
        if TAIL.is_null() {
            HEAD = ss;
        } else {
            (*TAIL).next = ss;
        }
        TAIL = ss;
        COUNT += 1;
        let keep = config::get().ss_free_keep;
        while COUNT > keep {
            let old = pop_head();
            release(old);
        }
    }
}

unsafe fn pop_head() -> *mut SuperSlab {
    // SAFETY: lock held by the caller; the queue is not empty.
    unsafe {
        let ss = HEAD;
        HEAD = (*ss).next;
        if HEAD.is_null() {
            TAIL = null_mut();
        } else {
            (*HEAD).prev = null_mut();
        }
        COUNT -= 1;
        (*ss).next = null_mut();
        ss
    }
}

/// The newest FREE SuperSlab, or null.
///
/// # Safety
/// Lock held.
pub unsafe fn take_locked() -> *mut SuperSlab {
    // SAFETY: lock held.
    unsafe {
        let ss = TAIL;
        if ss.is_null() {
            return ss;
        }
        TAIL = (*ss).prev;
        if TAIL.is_null() {
            HEAD = null_mut();
        } else {
            (*TAIL).next = null_mut();
        }
        COUNT -= 1;
        (*ss).prev = null_mut();
        (*ss).next = null_mut();
        REUSED.fetch_add(1, Ordering::Relaxed);
        ss
    }
}

unsafe fn release(ss: *mut SuperSlab) {
    // SAFETY: a FREE SuperSlab: no live block, no owner, unlinked (see module docs).
    unsafe {
        debug_assert_eq!((*ss).owner.load(Ordering::Relaxed), 0);
        tier::set(ss, tier::RELEASED);
        os::set_chunk_kind(ss as usize, os::KIND_NONE);
        os::unmap(superslab::base_of(ss) as *mut u8, os::CHUNK);
    }
    RELEASED.fetch_add(1, Ordering::Relaxed);
}

/// One tick of the Release Guard: counts it, trims the Large box's free ranges and unmaps FREE SuperSlabs
/// older than `HAKMEM_RELEASE_DELAY_MS` (the Shared Pool's tick calls it after collecting abandoned ones).
///
/// # Safety
/// Shared Pool lock held.
pub unsafe fn tick_locked(now: u64) {
    TICKS.fetch_add(1, Ordering::Relaxed);
    // SAFETY: lock held.
    unsafe {
        let delay = config::get().release_delay_ms as u64 * 1_000_000;
        crate::large::trim(now, delay);
        while !HEAD.is_null() && now.saturating_sub((*HEAD).free_since) >= delay {
            let old = pop_head();
            release(old);
        }
    }
}

/// FREE SuperSlabs waiting.
pub fn waiting() -> u64 {
    // SAFETY: a racy statistics read through a raw pointer.
    unsafe { core::ptr::read_volatile(core::ptr::addr_of!(COUNT)) as u64 }
}

/// Number of ticks run.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

/// Checks the queue.
///
/// # Safety
/// Shared Pool lock held.
pub unsafe fn check_invariants_locked() -> Result<(), &'static str> {
    // SAFETY: lock held.
    unsafe {
        let mut r = Ok(());
        let mut n = 0;
        let mut last = 0;
        let mut ss = *core::ptr::addr_of!(HEAD);
        while !ss.is_null() {
            if (*ss).assigned != 0 || (*ss).owner.load(Ordering::Relaxed) != 0 {
                r = Err("FREE SuperSlab with slabs or an owner");
            }
            if (*ss).tier.load(Ordering::Relaxed) != tier::FREE {
                r = Err("queued SuperSlab not FREE");
            }
            if (*ss).free_since < last {
                r = Err("release queue out of order");
            }
            last = (*ss).free_since;
            n += 1;
            ss = (*ss).next;
        }
        if n != *core::ptr::addr_of!(COUNT) {
            r = Err("release queue count mismatch");
        }
        r
    }
}
