//! The Stats box: per-box counters, readable in-process ([`snapshot`]) and printed at exit
//! (`HAKMEM_STATS=1`).
//!
//! Counters live where they are bumped: per-thread plain counters in the heap (written only by their thread
//! with relaxed load+store — no atomic read-modify-write, no branch), global atomics on cold paths. The fast
//! path touches one counter: the class's `hits`, in the cache line it already writes. A thread's counters
//! are merged into the retired totals when it exits, so snapshots include exited threads.
//!
//! Names are stable: box → counter, classes by memo class (`_c0`…`_c7`, `_pool`) and, in
//! `unified_cache_by_size`, by block size (`hits_640B`).
//! Invariant: every counter is monotonic except the `*_now`/`waiting`/`live_bytes` gauges.

use core::fmt::Write as _;
use core::sync::atomic::{AtomicU64, Ordering};
use std::collections::BTreeMap;

use crate::heap::{self, Heap};
use crate::route::{BLOCK_SIZE, GROUP, NUM_CLASSES, NUM_GROUPS, NUM_TINY};
use crate::shared_pool::{self, LOCK};
use crate::unified_cache::Cache;
use crate::{large, os, prefault, release_guard, tier};

/// Per-class: Unified Cache misses (= refills asked).
pub const S_MISSES: usize = 0;
/// Per-class: blocks moved into the cache by refills.
pub const S_REFILL_BLOCKS: usize = 1;
/// Per-class: cycles spent in refills (with `HAKMEM_MEASURE_UNIFIED_CACHE=1`).
pub const S_REFILL_CYCLES: usize = 2;
/// Per-class: cache overflows.
pub const S_FLUSHES: usize = 3;
/// Per-class: blocks moved back to slabs by overflows.
pub const S_FLUSH_BLOCKS: usize = 4;
/// Per-class: refills served by the Page Box from pages the thread holds.
pub const S_PB_HITS: usize = 5;
/// Per-class: fresh pages bound by the Page Box.
pub const S_PB_NEW_PAGES: usize = 6;
/// Per-class: refills served by the Warm Pool scan (classes outside the Page Box).
pub const S_WARM_SCAN_HITS: usize = 7;
/// Per-class: slabs that emptied and went back to their SuperSlab.
pub const S_RETIRED_SLABS: usize = 8;
const NCLASS: usize = 9;

/// Warm Pool hits.
pub const G_WARM_HITS: usize = 0;
/// Warm Pool misses.
pub const G_WARM_MISSES: usize = 1;
/// SuperSlabs prefilled into the Warm Pool beyond the one needed.
pub const G_WARM_PREFILLED: usize = 2;
/// Frees this thread pushed onto another thread's slab.
pub const G_REMOTE_FREES: usize = 3;
const NSCALAR: usize = 4;

/// A heap's counters.
#[repr(C)]
pub struct HeapStats {
    /// Per-class counters, indexed by the `S_*` constants.
    pub class: [[AtomicU64; NCLASS]; NUM_CLASSES],
    /// Per-heap counters, indexed by the `G_*` constants.
    pub scalar: [AtomicU64; NSCALAR],
}

impl HeapStats {
    /// All zero.
    #[allow(clippy::declare_interior_mutable_const)]
    pub const ZERO: HeapStats = HeapStats {
        class: [const { [const { AtomicU64::new(0) }; NCLASS] }; NUM_CLASSES],
        scalar: [const { AtomicU64::new(0) }; NSCALAR],
    };
}

/// Adds `n` to a counter written only by its own thread: relaxed load + store, no locked instruction.
#[inline(always)]
pub fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

static RETIRED: HeapStats = HeapStats::ZERO;
static RETIRED_HITS: [AtomicU64; NUM_CLASSES] = [const { AtomicU64::new(0) }; NUM_CLASSES];
/// Frees by threads without a heap into other threads' slabs.
pub static REMOTE_FREES_NO_HEAP: AtomicU64 = AtomicU64::new(0);
/// Frees into SuperSlabs whose owner exited.
pub static REMOTE_FREES_ABANDONED: AtomicU64 = AtomicU64::new(0);
/// Frees of pointers HAKMEM did not hand out, passed to the C library.
pub static FOREIGN_FREES: AtomicU64 = AtomicU64::new(0);

/// Merges an exiting heap's counters into the retired totals and zeroes them.
///
/// # Safety
/// Shared Pool lock held; the heap belongs to the calling (exiting) thread.
pub unsafe fn retire_locked(s: &HeapStats, caches: &[Cache; NUM_CLASSES]) {
    for c in 0..NUM_CLASSES {
        for k in 0..NCLASS {
            RETIRED.class[c][k]
                .fetch_add(s.class[c][k].swap(0, Ordering::Relaxed), Ordering::Relaxed);
        }
        RETIRED_HITS[c].fetch_add(caches[c].take_hits(), Ordering::Relaxed);
    }
    for k in 0..NSCALAR {
        RETIRED.scalar[k].fetch_add(s.scalar[k].swap(0, Ordering::Relaxed), Ordering::Relaxed);
    }
}

struct Raw {
    class: [[u64; NCLASS]; NUM_CLASSES],
    hits: [u64; NUM_CLASSES],
    scalar: [u64; NSCALAR],
}

fn add_heap(
    raw: &mut Raw,
    s: &HeapStats,
    caches: &[Cache; NUM_CLASSES],
    retired_hits: Option<&[AtomicU64]>,
) {
    for c in 0..NUM_CLASSES {
        for k in 0..NCLASS {
            raw.class[c][k] += s.class[c][k].load(Ordering::Relaxed);
        }
        raw.hits[c] += match retired_hits {
            Some(h) => h[c].load(Ordering::Relaxed),
            None => caches[c].hits(),
        };
    }
    for k in 0..NSCALAR {
        raw.scalar[k] += s.scalar[k].load(Ordering::Relaxed);
    }
}

/// Sums live and retired heaps without allocating.
fn collect() -> Raw {
    let mut raw = Raw {
        class: [[0; NCLASS]; NUM_CLASSES],
        hits: [0; NUM_CLASSES],
        scalar: [0; NSCALAR],
    };
    let _ = heap::config();
    LOCK.lock();
    let no_caches: [Cache; NUM_CLASSES] = [const { Cache::EMPTY }; NUM_CLASSES];
    add_heap(&mut raw, &RETIRED, &no_caches, Some(&RETIRED_HITS));
    // SAFETY: lock held; the closure only reads counters.
    unsafe { heap::for_each_heap_locked(|h: &Heap| add_heap(&mut raw, &h.stats, &h.caches, None)) };
    LOCK.unlock();
    raw
}

fn group_name(cls: usize) -> usize {
    if cls < NUM_TINY {
        GROUP[cls] as usize
    } else {
        NUM_GROUPS
    }
}

/// Calls `f(box, counter, value)` for every counter, in a stable order, without allocating.
fn visit(raw: &Raw, f: &mut dyn FnMut(&str, &str, u64)) {
    let cfg = heap::config();
    let mut name = os::StackBuf::<64>::new();
    let mut grouped = [[0u64; NCLASS + 1]; NUM_GROUPS + 1];
    for c in 0..NUM_CLASSES {
        let g = group_name(c);
        for (k, v) in raw.class[c].iter().enumerate() {
            grouped[g][k] += v;
        }
        grouped[g][NCLASS] += raw.hits[c];
    }
    let suffix = |g: usize, buf: &mut os::StackBuf<64>| {
        if g < NUM_GROUPS {
            let _ = write!(buf, "_c{g}");
        } else {
            let _ = write!(buf, "_pool");
        }
    };
    let uc: [(&str, usize); 7] = [
        ("hits", NCLASS),
        ("misses", S_MISSES),
        ("refills", S_MISSES),
        ("refill_blocks", S_REFILL_BLOCKS),
        ("refill_cycles", S_REFILL_CYCLES),
        ("flushes", S_FLUSHES),
        ("flush_blocks", S_FLUSH_BLOCKS),
    ];
    for (label, k) in uc {
        for (g, row) in grouped.iter().enumerate() {
            name.clear();
            let _ = write!(name, "{label}");
            suffix(g, &mut name);
            f(
                "unified_cache",
                core::str::from_utf8(name.as_bytes()).unwrap_or("?"),
                row[k],
            );
        }
    }
    for (g, row) in grouped.iter().enumerate() {
        name.clear();
        let _ = write!(name, "avg_refill_cycles");
        suffix(g, &mut name);
        let avg = row[S_REFILL_CYCLES].checked_div(row[S_MISSES]).unwrap_or(0);
        f(
            "unified_cache",
            core::str::from_utf8(name.as_bytes()).unwrap_or("?"),
            avg,
        );
    }
    for g in 0..NUM_GROUPS {
        name.clear();
        let _ = write!(name, "capacity_c{g}");
        f(
            "unified_cache",
            core::str::from_utf8(name.as_bytes()).unwrap_or("?"),
            cfg.unified_cap[g] as u64,
        );
    }
    f("unified_cache", "capacity_pool", cfg.pool_cap as u64);
    f("unified_cache", "refill_batch", cfg.refill_batch as u64);
    for (c, &bs) in BLOCK_SIZE.iter().enumerate() {
        for (label, v) in [("hits", raw.hits[c]), ("misses", raw.class[c][S_MISSES])] {
            name.clear();
            let _ = write!(name, "{label}_{bs}B");
            f(
                "unified_cache_by_size",
                core::str::from_utf8(name.as_bytes()).unwrap_or("?"),
                v,
            );
        }
    }
    for (label, k) in [
        ("hits", S_PB_HITS),
        ("new_pages", S_PB_NEW_PAGES),
        ("retired_slabs", S_RETIRED_SLABS),
    ] {
        for (g, row) in grouped.iter().enumerate() {
            name.clear();
            let _ = write!(name, "{label}");
            suffix(g, &mut name);
            f(
                "page_box",
                core::str::from_utf8(name.as_bytes()).unwrap_or("?"),
                row[k],
            );
        }
    }
    f(
        "page_box",
        "enabled_classes_mask",
        cfg.page_box_classes as u64,
    );
    f("warm_pool", "hits", raw.scalar[G_WARM_HITS]);
    f("warm_pool", "misses", raw.scalar[G_WARM_MISSES]);
    f("warm_pool", "prefilled", raw.scalar[G_WARM_PREFILLED]);
    let scan: u64 = grouped.iter().map(|r| r[S_WARM_SCAN_HITS]).sum();
    f("warm_pool", "scan_refills", scan);
    let mut total = 0;
    for g in 0..=NUM_GROUPS {
        let v: u64 = (0..NUM_CLASSES)
            .filter(|&c| group_name(c) == g)
            .map(|c| shared_pool::LOCK_ACQUISITIONS[c].load(Ordering::Relaxed))
            .sum();
        total += v;
        name.clear();
        let _ = write!(name, "lock_acquisitions");
        suffix(g, &mut name);
        f(
            "shared_pool",
            core::str::from_utf8(name.as_bytes()).unwrap_or("?"),
            v,
        );
    }
    f("shared_pool", "lock_acquisitions_total", total);
    f(
        "shared_pool",
        "reclaimed",
        shared_pool::RECLAIMED.load(Ordering::Relaxed),
    );
    f(
        "shared_pool",
        "reclaimed_for_class",
        shared_pool::RECLAIMED_FOR_CLASS.load(Ordering::Relaxed),
    );
    f(
        "shared_pool",
        "reclaimed_on_free",
        shared_pool::RECLAIMED_ON_FREE.load(Ordering::Relaxed),
    );
    f(
        "shared_pool",
        "abandoned",
        shared_pool::ABANDONED.load(Ordering::Relaxed),
    );
    f(
        "superslab",
        "purged_bytes",
        crate::superslab::PURGED_BYTES.load(Ordering::Relaxed) as u64,
    );
    f("shared_pool", "abandoned_now", shared_pool::abandoned_now());
    f(
        "shared_pool",
        "superslabs_mapped",
        shared_pool::MAPPED.load(Ordering::Relaxed),
    );
    for from in 0..5 {
        for to in 0..5 {
            let meaningful = matches!(
                (from as u8, to as u8),
                (tier::NEW, tier::HOT)
                    | (tier::HOT, tier::DRAINING)
                    | (tier::HOT, tier::FREE)
                    | (tier::DRAINING, tier::HOT)
                    | (tier::DRAINING, tier::FREE)
                    | (tier::FREE, tier::HOT)
                    | (tier::FREE, tier::RELEASED)
            );
            if meaningful {
                name.clear();
                let _ = write!(name, "{}_to_{}", tier::NAMES[from], tier::NAMES[to]);
                let v = tier::TRANSITIONS[from][to].load(Ordering::Relaxed);
                f(
                    "tier",
                    core::str::from_utf8(name.as_bytes()).unwrap_or("?"),
                    v,
                );
            }
        }
    }
    f("tier", "hot_now", tier::population(tier::HOT as usize));
    f(
        "tier",
        "draining_now",
        tier::population(tier::DRAINING as usize),
    );
    f("tier", "free_now", tier::population(tier::FREE as usize));
    f(
        "release_guard",
        "released",
        release_guard::RELEASED.load(Ordering::Relaxed),
    );
    f(
        "release_guard",
        "reused",
        release_guard::REUSED.load(Ordering::Relaxed),
    );
    f("release_guard", "waiting", release_guard::waiting());
    f("release_guard", "ticks", release_guard::ticks());
    f(
        "idle_release",
        "threads_started",
        crate::idle_release::STARTED.load(Ordering::Relaxed),
    );
    f(
        "idle_release",
        "ticks",
        crate::idle_release::TICKS.load(Ordering::Relaxed),
    );
    f("prefault", "enabled", cfg.ss_prefault as u64);
    f(
        "prefault",
        "prefaulted_bytes",
        prefault::PREFAULTED_BYTES.load(Ordering::Relaxed),
    );
    f(
        "os",
        "bytes_mapped",
        os::BYTES_MAPPED.load(Ordering::Relaxed),
    );
    f(
        "os",
        "bytes_released",
        os::BYTES_RELEASED.load(Ordering::Relaxed),
    );
    f("os", "mmap_calls", os::MAP_CALLS.load(Ordering::Relaxed));
    f(
        "os",
        "munmap_calls",
        os::UNMAP_CALLS.load(Ordering::Relaxed),
    );
    f("mid", "allocs", crate::mid::ALLOCS.load(Ordering::Relaxed));
    f("mid", "frees", crate::mid::FREES.load(Ordering::Relaxed));
    f(
        "mid",
        "chunks_mapped",
        crate::mid::CHUNKS_MAPPED.load(Ordering::Relaxed),
    );
    f(
        "mid",
        "chunks_released",
        crate::mid::CHUNKS_RELEASED.load(Ordering::Relaxed),
    );
    f("large", "allocs", large::ALLOCS.load(Ordering::Relaxed));
    f("large", "frees", large::FREES.load(Ordering::Relaxed));
    f(
        "large",
        "cache_hits",
        large::CACHE_HITS.load(Ordering::Relaxed),
    );
    f(
        "large",
        "retained_bytes",
        large::RETAINED_BYTES.load(Ordering::Relaxed),
    );
    f("large", "splits", large::SPLITS.load(Ordering::Relaxed));
    f("large", "merges", large::MERGES.load(Ordering::Relaxed));
    f(
        "large",
        "live_bytes",
        large::LIVE_BYTES.load(Ordering::Relaxed),
    );
    f(
        "gatekeeper",
        "remote_frees",
        raw.scalar[G_REMOTE_FREES] + REMOTE_FREES_NO_HEAP.load(Ordering::Relaxed),
    );
    f(
        "gatekeeper",
        "remote_frees_to_abandoned",
        REMOTE_FREES_ABANDONED.load(Ordering::Relaxed),
    );
    f(
        "gatekeeper",
        "foreign_frees",
        FOREIGN_FREES.load(Ordering::Relaxed),
    );
}

/// Box name → counter → value, aggregated over all threads, live and exited.
pub fn snapshot() -> BTreeMap<String, BTreeMap<String, u64>> {
    let raw = collect();
    let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    visit(&raw, &mut |b, k, v| {
        out.entry(b.to_string())
            .or_default()
            .insert(k.to_string(), v);
    });
    out
}

/// Writes every counter to stderr as `hakmem: box.counter value` lines (no allocation).
pub fn print() {
    let raw = collect();
    os::write_stderr(b"hakmem: per-box statistics\n");
    let mut line = os::StackBuf::<160>::new();
    visit(&raw, &mut |b, k, v| {
        line.clear();
        let _ = writeln!(line, "hakmem: {b}.{k} {v}");
        os::write_stderr(line.as_bytes());
    });
}

/// `atexit` handler installed with `HAKMEM_STATS=1`.
pub extern "C" fn print_at_exit() {
    print();
}
