//! HAKMEM: a box-architecture memory allocator — Tiny (≤ 1024 B), Pool (≤ 32 KiB), Mid (≤ 256 KiB) and
//! Large (direct mapping) — usable in-process (these functions, or [`Hakmem`] as `#[global_allocator]`) and as
//! `libhakmem.so` through `LD_PRELOAD` (package `hakmem-preload`).
//!
//! Entry points: [`malloc`], [`free`], [`calloc`], [`realloc`], [`aligned_alloc`], [`usable_size`] (C
//! semantics), [`init`] with a [`Config`] (or the `HAKMEM_*` environment, [`KNOBS`]), [`stats::snapshot`].
//!
//! The boxes, one module each: [`gatekeeper`] (entrance) → [`route`] (size → class) → [`unified_cache`]
//! (per-thread array caches) → [`page_box`] (per-thread current page per class) → [`warm_pool`] (per-thread
//! HOT SuperSlabs) → [`shared_pool`] (global lock) → [`superslab`] + [`tier`] (2 MiB regions, HOT / DRAINING /
//! FREE) → [`release_guard`] (delayed return to the OS, ticked in the background by [`idle_release`]) with
//! [`prefault`]; [`stats`], [`config`], and [`os`] (the
//! only module that calls the kernel). Thread state lives in [`heap`]; Large blocks in [`large`],
//! which hands 32–256 KiB requests to [`mid`] (classes carved from shared 2 MiB chunks).
//!
//! Invariants (checked by [`check_invariants`]): see each module; globally, a block is in exactly one of: the
//! program, a Unified Cache, a slab free list, a slab remote list, or never carved.
#![deny(missing_docs)]

pub mod check;
pub mod config;
pub mod gatekeeper;
pub mod heap;
pub mod idle_release;
pub mod large;
pub mod mid;
pub mod os;
pub mod page_box;
pub mod prefault;
pub mod release_guard;
pub mod route;
pub mod shared_pool;
pub mod stats;
pub mod superslab;
pub mod tier;
pub mod unified_cache;
pub mod warm_pool;

use core::alloc::{GlobalAlloc, Layout};

pub use config::{Config, ConfigError, Knob, KNOBS};
pub use gatekeeper::{aligned_alloc, calloc, free, free_sized, malloc, owns, realloc, usable_size};
pub use heap::InitError;

/// Fixes the configuration before the first allocation in the process. After that (or a second call):
/// [`InitError::AlreadyInitialized`]. Without it, the first allocation reads the `HAKMEM_*` environment.
pub fn init(config: Config) -> Result<(), InitError> {
    heap::init(config)
}

/// The configuration in force (initialising from the environment if nothing did yet).
pub fn current_config() -> Config {
    heap::config().clone()
}

/// Checks the invariants of every box reachable from the calling thread (its heap, caches, Page Box rings,
/// Warm Pool SuperSlabs and their slabs) and of the global lists. Needs no concurrent frees into the calling
/// thread's SuperSlabs while it runs.
pub fn check_invariants() -> Result<(), &'static str> {
    route::check_invariants()?;
    mid::check_invariants()?;
    heap::config().check_invariants()?;
    // SAFETY: the calling thread's own heap; the caller guarantees no concurrent frees into it.
    unsafe { heap::check_invariants(heap::current())? };
    shared_pool::check_invariants()?;
    shared_pool::LOCK.lock();
    // SAFETY: lock held.
    let r = unsafe { release_guard::check_invariants_locked() }
        .and_then(|()| tier::check_counts_locked());
    shared_pool::LOCK.unlock();
    r
}

/// Runs the Release Guard now: collects abandoned SuperSlabs and unmaps FREE ones whose delay has passed.
pub fn collect() {
    shared_pool::LOCK.lock();
    // SAFETY: lock held.
    unsafe { shared_pool::tick_locked(os::now_ns()) };
    shared_pool::LOCK.unlock();
}

/// HAKMEM as a Rust global allocator: `#[global_allocator] static A: hakmem_allocator::Hakmem = Hakmem;`
#[derive(Clone, Copy, Debug, Default)]
pub struct Hakmem;

// SAFETY: the functions below return blocks of at least `layout.size()` bytes aligned to `layout.align()`
// (see the Gatekeeper invariants), and free only what they allocated.
unsafe impl GlobalAlloc for Hakmem {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let (size, align) = (layout.size(), layout.align());
        // SAFETY: plain allocations.
        unsafe {
            if align <= 8 {
                malloc(size)
            } else if align <= 16 {
                malloc(size.max(16))
            } else {
                aligned_alloc(align, size)
            }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from `alloc` per the GlobalAlloc contract.
        unsafe { free(ptr) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`; the block is zeroed over `layout.size()` bytes.
        unsafe {
            if layout.align() <= 16 {
                calloc(1, layout.size().max(layout.align()))
            } else {
                let p = aligned_alloc(layout.align(), layout.size());
                if !p.is_null() {
                    core::ptr::write_bytes(p, 0, layout.size());
                }
                p
            }
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `alloc` with `layout`; blocks keep their alignment when realloc returns them
        // in place, and a moved block comes from `alloc` with the same alignment.
        unsafe {
            if layout.align() <= 8 {
                return realloc(ptr, new_size);
            }
            if layout.align() <= 16 {
                return realloc(ptr, new_size.max(16));
            }
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let q = self.alloc(new_layout);
            if !q.is_null() {
                core::ptr::copy_nonoverlapping(ptr, q, layout.size().min(new_size));
                free(ptr);
            }
            q
        }
    }
}
