//! Thread heaps: the per-thread state every box hangs off, the thread-local pointer to it, process start-up
//! and thread exit.
//!
//! Entrance: [`current`] — one initial-exec thread-local load (`hakmem_heap_tls`, defined in assembly below),
//! no initialisation check. A thread starts on the static [`EMPTY`] heap whose caches all have `count == 0`
//! and `cap == 0` and whose `tiny_end` is 0, so its first malloc and its first free miss into a slow path,
//! which calls [`init_thread`]. The thread-local is a plain word without `Drop` (nothing is registered with
//! `__cxa_thread_atexit`, nothing allocates); thread exit runs [`thread_exit`] through a `pthread_key_create`
//! destructor.
//!
//! Invariants: a thread's heap pointer is either `EMPTY` (never written) or a live heap owned by that thread;
//! `heap.live ⇔` some thread owns it; every SuperSlab in `heap.warm` has `owner == heap`.

#[cfg(not(target_arch = "x86_64"))]
use core::cell::Cell;
use core::ptr::{addr_of_mut, null_mut};
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use crate::config::{self, Config};
use crate::page_box::{PageQueue, Pages};
use crate::route::{GROUP, NUM_CLASSES, NUM_TINY};
use crate::shared_pool::LOCK;
use crate::unified_cache::{Cache, Caches};
use crate::warm_pool::{self, WarmPool};
use crate::{
    idle_release, large, mid, os, page_box, release_guard, shared_pool, stats, superslab, tier,
    unified_cache,
};

/// A thread's allocator state: on its first cache line what the fast paths read besides their class's cache
/// (the token `free` compares, the misuse-check level, the malloc fast path's size bound), then the
/// boxes' per-thread state nested in the order they call each other (Unified Cache ⊃ Page Box ⊃ Warm Pool),
/// each passed down as its own piece.
#[repr(C)]
pub struct Heap {
    /// Owner token written into the chunk map for this heap's SuperSlabs (`os::TOKEN_NEVER` if none).
    pub token: u8,
    /// `token` when the misuse checks are on (`HAKMEM_CHECK` ≥ 1), else `os::TOKEN_NEVER`: the free fast path
    /// compares the chunk-map byte with this first (owner's free with checks), then with `token` (without),
    /// so the default level pays no level test. Written by the Gatekeeper when it starts a thread.
    pub check_token: u8,
    /// The malloc fast path serves requests below this from the caches (written with `check_token`):
    /// `TINY_MAX + 1`, or 0 in the empty heap (so the first malloc of a thread, even `malloc(0)`, takes the slow path, which starts the heap)
    /// and under level-2 checks (whose padded layout the slow path builds). Folding both tests into the size
    /// compare leaves the malloc fast path without a start-up or check-level test.
    pub tiny_end: usize,
    /// The Unified Cache (its per-class arrays first, at offset 16: the hot path), with the Page Box and Warm
    /// Pool.
    pub uc: Caches,
    /// Whether a thread owns this heap.
    pub live: bool,
    /// Frees this thread pushed onto another thread's slab (the Gatekeeper's per-thread counter).
    pub remote_frees: AtomicU64,
    /// Next heap in the registry (all heaps ever made).
    pub next_heap: *mut Heap,
    /// Next heap in the list of heaps waiting for a new thread.
    pub next_free: *mut Heap,
}

impl Heap {
    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY_HEAP: Heap = Heap {
        token: os::TOKEN_NEVER,
        check_token: os::TOKEN_NEVER,
        tiny_end: 0,
        uc: Caches::EMPTY,
        live: false,
        remote_frees: AtomicU64::new(0),
        next_heap: null_mut(),
        next_free: null_mut(),
    };
}

/// The Unified Cache box of `h`.
///
/// # Safety
/// `h` points to a heap.
#[inline(always)]
pub unsafe fn caches(h: *mut Heap) -> *mut Caches {
    // SAFETY: per contract.
    unsafe { addr_of_mut!((*h).uc) }
}

/// The cache of class `cls` in `h` (the hot path: the heap's address plus a constant).
///
/// # Safety
/// `cls < NUM_CLASSES` and `h` points to a heap.
#[inline(always)]
pub unsafe fn cache_of(h: *mut Heap, cls: usize) -> Cache {
    // SAFETY: per contract.
    unsafe { unified_cache::cache_of(caches(h), cls) }
}

/// The Page Box of `h`.
///
/// # Safety
/// `h` points to a heap.
#[inline]
pub unsafe fn pages(h: *mut Heap) -> *mut Pages {
    // SAFETY: per contract.
    unsafe { addr_of_mut!((*h).uc.pages) }
}

/// The Warm Pool of `h`.
///
/// # Safety
/// `h` points to a heap.
#[inline]
pub unsafe fn warm(h: *mut Heap) -> *mut WarmPool {
    // SAFETY: per contract.
    unsafe { addr_of_mut!((*h).uc.pages.warm) }
}

struct SyncHeap(Heap);
// SAFETY: the empty heap is never written (all capacities and counts are 0, so no path stores into it).
unsafe impl Sync for SyncHeap {}

/// The heap every thread starts with: every cache empty with capacity 0.
static EMPTY: SyncHeap = SyncHeap(Heap::EMPTY_HEAP);

/// The chunk-map value for SuperSlabs owned by `h`: its token, or [`os::KIND_SMALL`] for a heap without one.
///
/// # Safety
/// `h` points to a heap.
pub unsafe fn map_value(h: *mut Heap) -> u8 {
    // SAFETY: per contract.
    let t = unsafe { (*h).token };
    if (os::TOKEN_FIRST..=os::TOKEN_LAST).contains(&t) {
        t
    } else {
        os::KIND_SMALL
    }
}

/// Address of [`EMPTY`].
#[inline(always)]
pub fn empty() -> *mut Heap {
    &EMPTY.0 as *const Heap as *mut Heap
}

// The heap pointer of each thread lives in one 8-byte thread-local defined in assembly, so that every access
// uses the initial-exec model: `mov reg, [rip + hakmem_heap_tls@GOTTPOFF]; mov reg, fs:[reg]`, no call. Rust's
// `thread_local!` in a cdylib is general-dynamic (a `__tls_get_addr` call per access) and stable Rust cannot
// choose the model. In `libhakmem.so` the linker turns the reference into a TPOFF relocation resolved once at
// load (the library is marked STATIC_TLS: fine for LD_PRELOAD and for dlopen within glibc's static-TLS reserve);
// in an executable (the replayer, tests) it relaxes it to local-exec. The symbol is hidden, so a process holding
// two copies of the allocator (the replayer with libhakmem.so preloaded) keeps two slots. The initial value is
// the address of [`EMPTY`] (a `.tdata` relocation, as C's `static __thread void *p = &x;`).
#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".pushsection .tdata.hakmem_heap_tls,\"awT\",@progbits",
    ".p2align 3",
    ".globl hakmem_heap_tls",
    ".hidden hakmem_heap_tls",
    ".type hakmem_heap_tls, @tls_object",
    ".size hakmem_heap_tls, 8",
    "hakmem_heap_tls:",
    ".quad {empty}",
    ".popsection",
    empty = sym EMPTY,
);

/// The calling thread's heap (possibly [`empty`]): one initial-exec thread-local load.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub fn current() -> *mut Heap {
    let h: *mut Heap;
    // SAFETY: reads this thread's `hakmem_heap_tls` slot (defined above, 8 bytes, always initialised).
    unsafe {
        core::arch::asm!(
            "mov {h}, qword ptr [rip + hakmem_heap_tls@GOTTPOFF]",
            "mov {h}, qword ptr fs:[{h}]",
            h = out(reg) h,
            options(nostack, preserves_flags, readonly, pure)
        )
    };
    h
}

/// Installs `h` as the calling thread's heap.
#[cfg(target_arch = "x86_64")]
fn set_current(h: *mut Heap) {
    // SAFETY: writes this thread's `hakmem_heap_tls` slot.
    unsafe {
        core::arch::asm!(
            "mov {t}, qword ptr [rip + hakmem_heap_tls@GOTTPOFF]",
            "mov qword ptr fs:[{t}], {h}",
            t = out(reg) _,
            h = in(reg) h,
            options(nostack, preserves_flags)
        )
    };
}

#[cfg(not(target_arch = "x86_64"))]
thread_local! {
    static HEAP: Cell<*mut Heap> = const { Cell::new(&EMPTY.0 as *const Heap as *mut Heap) };
}

/// The calling thread's heap (possibly [`empty`]): one thread-local load.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub fn current() -> *mut Heap {
    HEAP.with(|h| h.get())
}

#[cfg(not(target_arch = "x86_64"))]
fn set_current(h: *mut Heap) {
    HEAP.with(|c| c.set(h));
}

const UNINIT: u8 = 0;
const BUSY: u8 = 1;
const READY: u8 = 2;
static STATE: AtomicU8 = AtomicU8::new(UNINIT);
static HOOKS: AtomicU8 = AtomicU8::new(UNINIT);
static mut KEY: libc::pthread_key_t = 0;
static mut REGISTRY: *mut Heap = null_mut();
static mut FREE_HEAPS: *mut Heap = null_mut();
static mut META_CUR: usize = 0;
static mut NEXT_TOKEN: u8 = os::TOKEN_FIRST;
static mut META_END: usize = 0;

/// Why [`crate::init`] refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum InitError {
    /// The allocator already served an allocation (or `init` ran) in this process.
    #[error(
        "HAKMEM is already initialised in this process (init must precede the first allocation)"
    )]
    AlreadyInitialized,
    /// The configuration breaks its invariants.
    #[error("invalid HAKMEM configuration: {0}")]
    Invalid(&'static str),
}

/// The process configuration, after start-up (reading the environment if nothing fixed it yet): the thread-exit
/// key, the fork handlers and the exit-time statistics are installed before it returns.
pub fn config() -> &'static Config {
    ensure_global();
    config::get()
}

/// Fixes the configuration before the first allocation.
pub fn init(cfg: Config) -> Result<(), InitError> {
    cfg.check_invariants().map_err(InitError::Invalid)?;
    if STATE
        .compare_exchange(UNINIT, BUSY, Ordering::Acquire, Ordering::Acquire)
        .is_err()
    {
        return Err(InitError::AlreadyInitialized);
    }
    let fixed = config::set(cfg);
    STATE.store(READY, Ordering::Release);
    install_hooks();
    if fixed {
        Ok(())
    } else {
        Err(InitError::AlreadyInitialized)
    }
}

#[inline]
fn ensure_global() {
    if STATE.load(Ordering::Acquire) != READY {
        init_global_slow();
    }
}

#[cold]
#[inline(never)]
fn init_global_slow() {
    if STATE
        .compare_exchange(UNINIT, BUSY, Ordering::Acquire, Ordering::Acquire)
        .is_ok()
    {
        config::get();
        STATE.store(READY, Ordering::Release);
        install_hooks();
    } else {
        while STATE.load(Ordering::Acquire) != READY {
            core::hint::spin_loop();
        }
    }
}

/// Registers the thread-exit key, the fork handlers and the exit-time statistics. Runs once, after the
/// configuration is READY, so any allocation these libc calls make recurses safely into a working heap.
fn install_hooks() {
    if HOOKS
        .compare_exchange(UNINIT, BUSY, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    // SAFETY: plain libc registrations with valid function pointers; KEY is written once before HOOKS is READY.
    unsafe {
        let mut key: libc::pthread_key_t = 0;
        if libc::pthread_key_create(&mut key, Some(thread_exit)) == 0 {
            *core::ptr::addr_of_mut!(KEY) = key;
        }
        libc::pthread_atfork(Some(fork_prepare), Some(fork_parent), Some(fork_child));
        if config::get().stats {
            libc::atexit(stats::print_at_exit);
        }
    }
    HOOKS.store(READY, Ordering::Release);
    // The thread that ran start-up may already own a heap made before the key existed.
    let h = current();
    if h != empty() {
        // SAFETY: KEY is valid once HOOKS is READY.
        unsafe { libc::pthread_setspecific(KEY, h as *const libc::c_void) };
    }
}

/// `pthread_atfork` prepare: hold every allocator lock across `fork` (Shared Pool, then Large cache, then Mid
/// classes: the order in which they nest).
extern "C" fn fork_prepare() {
    LOCK.lock();
    large::CACHE_LOCK.lock();
    mid::lock_all();
}

/// `pthread_atfork` parent: release them.
extern "C" fn fork_parent() {
    mid::unlock_all();
    large::CACHE_LOCK.unlock();
    LOCK.unlock();
}

/// `pthread_atfork` child: release them (the child has one thread; its heap stays valid) and forget the
/// release thread, which did not survive the fork.
extern "C" fn fork_child() {
    idle_release::fork_child();
    mid::unlock_all();
    large::CACHE_LOCK.unlock();
    LOCK.unlock();
}

/// Allocates `size` bytes of allocator metadata (never freed; heaps are recycled). Null on failure.
///
/// # Safety
/// Called with the Shared Pool lock held.
unsafe fn meta_alloc(size: usize) -> *mut u8 {
    let size = (size + 63) & !63;
    // SAFETY: the lock serialises META_*.
    unsafe {
        if *core::ptr::addr_of!(META_CUR) + size > *core::ptr::addr_of!(META_END) {
            let len = (size + os::CHUNK - 1) & !(os::CHUNK - 1);
            let p = os::map(len, false);
            if p.is_null() {
                return null_mut();
            }
            META_CUR = p as usize;
            META_END = p as usize + len;
        }
        let p = META_CUR as *mut u8;
        META_CUR += size;
        p
    }
}

/// Makes (or recycles) a heap for the calling thread and installs it. Null if memory is exhausted.
#[cold]
#[inline(never)]
pub fn init_thread() -> *mut Heap {
    ensure_global();
    let cfg = config();
    LOCK.lock();
    // SAFETY: the lock protects FREE_HEAPS, REGISTRY and the meta arena; a recycled heap is not live.
    let h = unsafe {
        let mut h = *core::ptr::addr_of!(FREE_HEAPS);
        if !h.is_null() {
            FREE_HEAPS = (*h).next_free;
        } else {
            h = make_heap(cfg);
            if !h.is_null() {
                (*h).next_heap = REGISTRY;
                REGISTRY = h;
            }
        }
        if !h.is_null() {
            (*h).live = true;
        }
        h
    };
    LOCK.unlock();
    if h.is_null() {
        return h;
    }
    set_current(h);
    if HOOKS.load(Ordering::Acquire) == READY {
        // SAFETY: KEY is valid once HOOKS is READY; the value is our heap. glibc stores the first 32 keys
        // inline in the thread descriptor; if it allocates, the heap is already installed.
        unsafe { libc::pthread_setspecific(KEY, h as *const libc::c_void) };
    }
    h
}

/// # Safety
/// Shared Pool lock held.
unsafe fn make_heap(cfg: &Config) -> *mut Heap {
    let caps: [u32; NUM_CLASSES] = core::array::from_fn(|c| {
        if c < NUM_TINY {
            cfg.unified_cap[GROUP[c] as usize]
        } else {
            cfg.pool_cap
        }
    });
    let slots: usize = caps.iter().map(|&c| c as usize).sum();
    let size = core::mem::size_of::<Heap>() + slots * core::mem::size_of::<*mut u8>();
    // SAFETY: lock held per contract; the block is fresh zeroed memory large enough for Heap + slots.
    unsafe {
        let base = meta_alloc(size);
        if base.is_null() {
            return null_mut();
        }
        let h = base as *mut Heap;
        core::ptr::write(h, Heap::EMPTY_HEAP);
        let t = *core::ptr::addr_of!(NEXT_TOKEN);
        if t <= os::TOKEN_LAST {
            (*h).token = t;
            NEXT_TOKEN = t + 1;
        }
        (*h).uc.pages.warm.owner = h as usize;
        (*h).uc.pages.warm.map_value = map_value(h);
        let mut slot = base.add(core::mem::size_of::<Heap>()) as *mut *mut u8;
        let u = caches(h);
        for (c, &cap) in caps.iter().enumerate() {
            (*u).cap[c] = cap;
            (*u).slots[c] = slot;
            (*u).top[c] = slot;
            (*u).limit[c] = slot.add(cap as usize);
            slot = slot.add(cap as usize);
            let group_batch = cfg.refill_batch.min((cap / 2).max(1));
            (*u).batch[c] = group_batch.max(1);
            let pb = if c < NUM_TINY {
                cfg.page_box_enabled(GROUP[c] as usize)
            } else {
                true
            };
            if pb {
                (*u).page_box |= 1 << c;
            }
        }
        (*u).measure = cfg.measure_unified_cache;
        h
    }
}

/// The pthread-key destructor: hands everything the exiting thread holds back.
extern "C" fn thread_exit(arg: *mut libc::c_void) {
    let h = arg as *mut Heap;
    if h.is_null() || h == empty() {
        return;
    }
    // SAFETY: the key's value is this thread's own live heap.
    unsafe { teardown(h) };
}

/// Empties the caches, abandons or frees the heap's SuperSlabs, recycles it (with its counters, which the
/// Stats box sums over every heap ever made).
///
/// # Safety
/// `h` is the calling thread's live heap.
pub unsafe fn teardown(h: *mut Heap) {
    // SAFETY: the calling thread owns `h` and every SuperSlab in its Warm Pool.
    unsafe {
        unified_cache::drain_all(caches(h));
        for c in 0..NUM_CLASSES {
            (*h).uc.pages.rings[c] = PageQueue::EMPTY;
        }
        let w = warm(h);
        // Owner work first, without the lock (other threads exit and reclaim meanwhile): collect remote frees,
        // retire empty slabs (their pages are purged after the release delay if nobody reclaims them).
        let mut ss = (*w).head;
        while !ss.is_null() {
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
            ss = (*ss).next;
        }
        LOCK.lock();
        let now = os::now_ns();
        let mut ss = (*w).head;
        while !ss.is_null() {
            let next = (*ss).next;
            os::set_chunk_kind(ss as usize, os::KIND_SMALL);
            (*ss).owner.store(0, Ordering::Release);
            if (*ss).assigned == 0 {
                release_guard::put_locked(ss);
            } else {
                tier::set(ss, tier::DRAINING);
                shared_pool::abandon_locked(ss, now);
            }
            ss = next;
        }
        (*w).head = null_mut();
        (*w).count = 0;
        (*h).live = false;
        (*h).next_free = FREE_HEAPS;
        FREE_HEAPS = h;
        shared_pool::tick_locked(now);
        LOCK.unlock();
    }
    set_current(empty());
    // What the exit queued for release goes even if the program then idles (the thread start allocates,
    // which gives this exiting thread a fresh heap; glibc runs this destructor again and that heap is
    // recycled the same way).
    idle_release::request();
}

/// Calls `f` on every heap ever made (live or recycled).
///
/// # Safety
/// Shared Pool lock held; `f` must not allocate through HAKMEM.
pub unsafe fn for_each_heap_locked(mut f: impl FnMut(&Heap)) {
    // SAFETY: registry links are written under the lock, heaps are never unmapped.
    unsafe {
        let mut h = *core::ptr::addr_of!(REGISTRY);
        while !h.is_null() {
            f(&*h);
            h = (*h).next_heap;
        }
    }
}

/// Checks the heap invariants: caches within capacity, Warm Pool SuperSlabs owned by `h`, Page Box rings
/// consistent, and every owned slab's equations (see the SuperSlab box).
///
/// # Safety
/// `h` is the calling thread's heap and no other thread frees into its SuperSlabs meanwhile.
pub unsafe fn check_invariants(h: *mut Heap) -> Result<(), &'static str> {
    if h == empty() {
        return Ok(());
    }
    // SAFETY: exclusive access per contract.
    unsafe {
        for c in 0..NUM_CLASSES {
            unified_cache::check_invariants(cache_of(h, c))?;
            page_box::check_invariants(pages(h), c)?;
        }
        warm_pool::check_invariants(warm(h))?;
    }
    Ok(())
}
