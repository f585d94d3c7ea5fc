//! The Stats box: per-box counters, readable in-process ([`snapshot`]) and printed at exit
//! (`HAKMEM_STATS=1`).
//!
//! Counters live in the box that bumps them: per-thread plain counters in each box's part of the heap
//! (Unified Cache, Page Box, Warm Pool; written only by their thread with relaxed load+store — no atomic
//! read-modify-write, no branch), global atomics on cold paths. The fast path touches one counter: the
//! class's `hits`, in the cache line it already writes. This box only reads and sums them; heaps are
//! recycled, never freed, so their counters still count the threads that exited.
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
use crate::{large, os, page_box, prefault, release_guard, tier, unified_cache};

// Per-class columns of `Raw::class`: the Unified Cache's counters, then the Page Box's.
const S_MISSES: usize = unified_cache::MISSES;
const S_REFILL_BLOCKS: usize = unified_cache::REFILL_BLOCKS;
const S_REFILL_CYCLES: usize = unified_cache::REFILL_CYCLES;
const S_FLUSHES: usize = unified_cache::FLUSHES;
const S_FLUSH_BLOCKS: usize = unified_cache::FLUSH_BLOCKS;
const S_PB_HITS: usize = unified_cache::NCOUNT + page_box::HITS;
const S_PB_NEW_PAGES: usize = unified_cache::NCOUNT + page_box::NEW_PAGES;
const S_RETIRED_SLABS: usize = unified_cache::NCOUNT + page_box::RETIRED_SLABS;
const S_WARM_SCAN_HITS: usize = unified_cache::NCOUNT + page_box::SCAN_HITS;
const NCLASS: usize = unified_cache::NCOUNT + page_box::NCOUNT;

// Per-heap columns of `Raw::scalar`.
const G_WARM_HITS: usize = 0;
const G_WARM_MISSES: usize = 1;
const G_WARM_PREFILLED: usize = 2;
const G_REMOTE_FREES: usize = 3;
const NSCALAR: usize = 4;

/// Frees by threads without a heap into other threads' slabs.
pub static REMOTE_FREES_NO_HEAP: AtomicU64 = AtomicU64::new(0);
/// Frees into SuperSlabs whose owner exited.
pub static REMOTE_FREES_ABANDONED: AtomicU64 = AtomicU64::new(0);
/// Frees of pointers HAKMEM did not hand out, passed to the C library.
pub static FOREIGN_FREES: AtomicU64 = AtomicU64::new(0);

struct Raw {
    class: [[u64; NCLASS]; NUM_CLASSES],
    hits: [u64; NUM_CLASSES],
    scalar: [u64; NSCALAR],
}

fn add_heap(raw: &mut Raw, h: &Heap) {
    let u = &h.uc;
    for c in 0..NUM_CLASSES {
        for k in 0..unified_cache::NCOUNT {
            raw.class[c][k] += u.counters[c][k].load(Ordering::Relaxed);
        }
        for k in 0..page_box::NCOUNT {
            raw.class[c][unified_cache::NCOUNT + k] +=
                u.pages.counters[c][k].load(Ordering::Relaxed);
        }
        raw.hits[c] += u.hits[c].load(Ordering::Relaxed);
    }
    let w = &u.pages.warm;
    raw.scalar[G_WARM_HITS] += w.hits.load(Ordering::Relaxed);
    raw.scalar[G_WARM_MISSES] += w.misses.load(Ordering::Relaxed);
    raw.scalar[G_WARM_PREFILLED] += w.prefilled.load(Ordering::Relaxed);
    raw.scalar[G_REMOTE_FREES] += h.remote_frees.load(Ordering::Relaxed);
}

/// Sums every heap ever made (live, and recycled ones, which keep the counts of the threads that exited)
/// without allocating.
fn collect() -> Raw {
    let mut raw = Raw {
        class: [[0; NCLASS]; NUM_CLASSES],
        hits: [0; NUM_CLASSES],
        scalar: [0; NSCALAR],
    };
    let _ = heap::config();
    LOCK.lock();
    // SAFETY: lock held; the closure only reads counters.
    unsafe { heap::for_each_heap_locked(|h: &Heap| add_heap(&mut raw, h)) };
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
    f(
        "shared_pool",
        "superslabs_mapped_peak",
        shared_pool::MAPPED_PEAK.load(Ordering::Relaxed),
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

/// Writes every counter into `out` as `box\tcounter\tvalue\n` lines (the same names and values as
/// [`snapshot`]), without allocating: for `libhakmem.so`'s `hakmem_stats_snapshot` export, which a replay
/// child reads with `dlsym`. Returns the length the whole text needs; when that exceeds `out.len()` only the
/// lines that fit whole were written (call again with a larger buffer).
pub fn write_lines(out: &mut [u8]) -> usize {
    let raw = collect();
    let mut need = 0usize;
    let mut line = os::StackBuf::<160>::new();
    let mut fits = true;
    visit(&raw, &mut |b, k, v| {
        line.clear();
        let _ = writeln!(line, "{b}\t{k}\t{v}");
        let bytes = line.as_bytes();
        if fits && need + bytes.len() <= out.len() {
            out[need..need + bytes.len()].copy_from_slice(bytes);
        } else {
            fits = false;
        }
        need += bytes.len();
    });
    need
}

/// Writes every counter to stderr as `hakmem: box.counter value` lines (no allocation).
pub fn print() {
    let raw = collect();
    // The lines go out in writes of at most PIPE_BUF (4096) bytes, each starting with a header that names
    // the process: a pipe keeps such a write whole, so when several processes of one program print at once
    // (stderr shared), every line still follows its own process's header (`hakmem live` collects them per
    // process), and a program's exit costs a few system calls, not one per counter.
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let mut out = os::StackBuf::<4096>::new();
    let mut line = os::StackBuf::<160>::new();
    let mut chunk = 0u32;
    let header = |out: &mut os::StackBuf<4096>, chunk: u32| {
        let mut h = os::StackBuf::<96>::new();
        if chunk == 0 {
            let _ = writeln!(h, "hakmem: per-box statistics (pid {pid})");
        } else {
            let _ = writeln!(h, "hakmem: per-box statistics (pid {pid}, continued)");
        }
        out.extend(h.as_bytes());
    };
    header(&mut out, chunk);
    visit(&raw, &mut |b, k, v| {
        line.clear();
        let _ = writeln!(line, "hakmem: {b}.{k} {v}");
        if out.len() + line.len() > 4096 {
            os::write_stderr(out.as_bytes());
            out.clear();
            chunk += 1;
            header(&mut out, chunk);
        }
        out.extend(line.as_bytes());
    });
    os::write_stderr(out.as_bytes());
}

/// `atexit` handler installed with `HAKMEM_STATS=1`.
pub extern "C" fn print_at_exit() {
    print();
}
