use hakmem_allocator as hk;
use hk::route::{self, BLOCK_SIZE};
use hk::{Config, ConfigError};

#[test]
fn route_tables_hold_their_equations() {
    route::check_invariants().unwrap();
    assert_eq!(BLOCK_SIZE[route::tiny_class(0)], 8);
    assert_eq!(BLOCK_SIZE[route::tiny_class(8)], 8);
    assert_eq!(BLOCK_SIZE[route::tiny_class(9)], 16);
    assert_eq!(BLOCK_SIZE[route::tiny_class(129)], 160);
    assert_eq!(BLOCK_SIZE[route::tiny_class(1024)], 1024);
    assert_eq!(route::route(1025), route::Route::Pool(route::NUM_TINY));
    assert_eq!(
        route::route(32768),
        route::Route::Pool(route::NUM_CLASSES - 1)
    );
    assert_eq!(route::route(32769), route::Route::Large);
    // Memo classes: C7 = 513..1024, C5 = 129..256.
    assert_eq!(route::GROUP[route::tiny_class(513)], 7);
    assert_eq!(route::GROUP[route::tiny_class(512)], 6);
    assert_eq!(route::GROUP[route::tiny_class(129)], 5);
}

#[test]
fn config_set_accepts_every_knob_and_refuses_bad_values() {
    let mut c = Config::default();
    c.set("HAKMEM_TINY_UNIFIED_C7", "256").unwrap();
    c.set("TINY_UNIFIED_C0", "16").unwrap();
    c.set("HAKMEM_TINY_PAGE_BOX_CLASSES", "5,6,7").unwrap();
    assert_eq!(c.page_box_classes, 0b1110_0000);
    assert!(c.page_box_enabled(7) && !c.page_box_enabled(4));
    c.set("HAKMEM_TINY_PAGE_BOX_CLASSES", "5+6+7").unwrap();
    assert_eq!(c.page_box_classes, 0b1110_0000);
    c.set("HAKMEM_TINY_PAGE_BOX_CLASSES", "0-3").unwrap();
    assert_eq!(c.page_box_classes, 0b0000_1111);
    c.set("HAKMEM_TINY_PAGE_BOX_CLASSES", "none").unwrap();
    assert_eq!(c.page_box_classes, 0);
    c.set("HAKMEM_TINY_REFILL_BATCH", "256").unwrap();
    c.set("HAKMEM_SS_PREFAULT", "1").unwrap();
    c.set("HAKMEM_MEASURE_UNIFIED_CACHE", "true").unwrap();
    assert_eq!(c.unified_cap[7], 256);
    assert_eq!(c.unified_cap[0], 16);
    assert!(c.ss_prefault && c.measure_unified_cache);
    c.check_invariants().unwrap();

    assert!(matches!(
        c.set("HAKMEM_TINY_REFILL_BATCH", "257"),
        Err(ConfigError::BadValue { .. })
    ));
    assert!(matches!(
        c.set("HAKMEM_TINY_REFILL_BATCH", "0"),
        Err(ConfigError::BadValue { .. })
    ));
    assert!(matches!(
        c.set("HAKMEM_TINY_UNIFIED_C7", "lots"),
        Err(ConfigError::BadValue { .. })
    ));
    assert!(matches!(
        c.set("HAKMEM_TINY_UNIFIED_C8", "1"),
        Err(ConfigError::UnknownKey(_))
    ));
    assert!(matches!(
        c.set("HAKMEM_TINY_PAGE_BOX_CLASSES", "9"),
        Err(ConfigError::BadValue { .. })
    ));
    assert!(matches!(
        c.set("HAKMEM_NOPE", "1"),
        Err(ConfigError::UnknownKey(_))
    ));
    let msg = c
        .set("HAKMEM_TINY_REFILL_BATCH", "999")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("HAKMEM_TINY_REFILL_BATCH") && msg.contains("999"),
        "{msg}"
    );
}

#[test]
fn knob_table_documents_every_settable_knob_with_a_valid_default() {
    let mut names: Vec<&str> = hk::KNOBS.iter().map(|k| k.name).collect();
    for k in hk::KNOBS {
        let mut c = Config::default();
        c.set(k.name, k.default)
            .unwrap_or_else(|e| panic!("default of {} does not parse: {e}", k.name));
        assert_eq!(
            c,
            Config::default(),
            "documented default of {} differs from Config::default()",
            k.name
        );
        assert!(!k.doc.is_empty());
    }
    names.sort();
    for required in [
        "HAKMEM_TINY_PAGE_BOX_CLASSES",
        "HAKMEM_TINY_UNIFIED_C0",
        "HAKMEM_TINY_UNIFIED_C7",
        "HAKMEM_TINY_REFILL_BATCH",
        "HAKMEM_SS_PREFAULT",
        "HAKMEM_MEASURE_UNIFIED_CACHE",
        "HAKMEM_STATS",
    ] {
        assert!(
            names.binary_search(&required).is_ok(),
            "{required} missing from KNOBS"
        );
    }
}

#[test]
fn init_after_the_first_allocation_is_refused() {
    // SAFETY: plain allocation and free of our own block.
    unsafe { hk::free(hk::malloc(10)) };
    assert_eq!(
        hk::init(Config::default()),
        Err(hk::InitError::AlreadyInitialized)
    );
}

#[test]
fn invariants_hold_after_allocating_and_freeing_every_class() {
    let mut live = Vec::new();
    for round in 0..3 {
        for size in (1..40000).step_by(97) {
            // SAFETY: fresh blocks, freed once below.
            let p = unsafe { hk::malloc(size) };
            assert!(!p.is_null());
            // SAFETY: the block has `size` bytes.
            unsafe { p.write_bytes(round as u8, size) };
            live.push(p);
        }
        hk::check_invariants().unwrap();
        for p in live.drain(..).step_by(2) {
            // SAFETY: live block.
            unsafe { hk::free(p) };
        }
        hk::check_invariants().unwrap();
    }
    for p in live {
        // SAFETY: nothing is left after the drains; kept for symmetry.
        unsafe { hk::free(p) };
    }
    hk::check_invariants().unwrap();
}

/// Cache flushes give blocks back one run of same-slab blocks at a time (`page_box::give_back_plain`): runs of
/// every length — whole trees freed in order, blocks of three slabs interleaved one by one, un-carved blocks at
/// the frontier — must leave every slab's count exact and hand no block out twice.
#[test]
fn flushes_of_interleaved_and_contiguous_runs_keep_slab_counts_exact() {
    const N: usize = 3 * 4096 + 100; // 16-byte blocks over four slabs
    for order in 0..3 {
        // SAFETY: fresh blocks, each freed exactly once below.
        let mut live: Vec<*mut u8> = (0..N).map(|_| unsafe { hk::malloc(16) }).collect();
        assert!(live.iter().all(|p| !p.is_null()));
        hk::check_invariants().unwrap();
        match order {
            0 => {}
            // One block of each slab in turn: runs of length 1.
            1 => {
                let third = N / 3;
                live = (0..third)
                    .flat_map(|i| [live[i], live[i + third], live[i + 2 * third]])
                    .chain(live[3 * third..].iter().copied())
                    .collect()
            }
            // Newest first: the blocks nearest the carve frontier come back first.
            _ => live.reverse(),
        }
        for (i, &p) in live.iter().enumerate() {
            // SAFETY: live block, freed once.
            unsafe { hk::free(p) };
            if i % 1000 == 999 {
                hk::check_invariants().unwrap();
            }
        }
        hk::check_invariants().unwrap();
        // SAFETY: fresh blocks, freed below.
        let again: Vec<*mut u8> = (0..N).map(|_| unsafe { hk::malloc(16) }).collect();
        let distinct: std::collections::HashSet<usize> =
            again.iter().map(|&p| p as usize).collect();
        assert_eq!(
            distinct.len(),
            N,
            "a block was handed out twice (order {order})"
        );
        for p in again {
            // SAFETY: live block, freed once.
            unsafe { hk::free(p) };
        }
        hk::check_invariants().unwrap();
    }
}

#[test]
fn stats_snapshot_names_every_box_and_counts_misses_and_hits() {
    let mut v = Vec::new();
    for _ in 0..5000 {
        // SAFETY: fresh C7 blocks, freed below.
        v.push(unsafe { hk::malloc(700) });
    }
    for p in v.drain(..) {
        // SAFETY: live blocks.
        unsafe { hk::free(p) };
    }
    for _ in 0..100 {
        // SAFETY: as above.
        unsafe { hk::free(hk::malloc(700)) };
    }
    let s = hk::stats::snapshot();
    for b in [
        "unified_cache",
        "unified_cache_by_size",
        "page_box",
        "warm_pool",
        "shared_pool",
        "tier",
        "release_guard",
        "prefault",
        "os",
        "large",
        "gatekeeper",
    ] {
        assert!(
            s.contains_key(b),
            "box {b} missing from the snapshot: {:?}",
            s.keys()
        );
    }
    let uc = &s["unified_cache"];
    assert!(uc["misses_c7"] > 0 && uc["refills_c7"] == uc["misses_c7"]);
    assert!(uc["hits_c7"] >= 5000, "hits_c7 = {}", uc["hits_c7"]);
    assert!(uc["flushes_c7"] > 0);
    assert!(s["unified_cache_by_size"].contains_key("hits_768B"));
    assert!(s["page_box"]["new_pages_c7"] > 0);
    assert!(s["shared_pool"]["lock_acquisitions_total"] > 0);
    assert!(s["os"]["bytes_mapped"] >= 2 << 20);
    assert!(s["tier"]["new_to_hot"] >= 1);
}

#[test]
fn aligned_and_large_blocks_are_aligned_usable_and_recognised() {
    let mut align = 1usize;
    while align <= 4 << 20 {
        for size in [0usize, 1, 15, 100, 1000, 5000, 40000, 300000] {
            // SAFETY: fresh block, freed below.
            let p = unsafe { hk::aligned_alloc(align, size) };
            assert!(!p.is_null(), "aligned_alloc({align}, {size})");
            assert_eq!(
                p as usize % align,
                0,
                "aligned_alloc({align}, {size}) = {p:p}"
            );
            // SAFETY: live block.
            assert!(unsafe { hk::usable_size(p) } >= size);
            assert!(hk::owns(p));
            // SAFETY: the block has `size` bytes.
            unsafe { p.write_bytes(0xcd, size) };
            // SAFETY: live block.
            unsafe { hk::free(p) };
        }
        align *= 2;
    }
    // SAFETY: non-power-of-two alignment is refused.
    assert!(unsafe { hk::aligned_alloc(24, 10) }.is_null());
}

#[test]
fn pointers_of_the_c_library_are_recognised_and_handed_back() {
    // SAFETY: a block of the C library, which HAKMEM must pass on, not treat as its own.
    unsafe {
        let p = libc::malloc(100) as *mut u8;
        assert!(!hk::owns(p));
        let u = hk::usable_size(p);
        assert!(
            u >= 100,
            "usable size of a C-library block: {u} (kind {})",
            hk::os::chunk_kind(p as usize)
        );
        let q = hk::realloc(p, 200);
        assert!(!q.is_null() && !hk::owns(q));
        hk::free(q);
        hk::free(std::ptr::null_mut());
    }
    assert!(hk::stats::snapshot()["gatekeeper"]["foreign_frees"] >= 1);
}

#[test]
fn calloc_zeroes_recycled_blocks_and_refuses_overflow() {
    // SAFETY: blocks are written within their size and freed once.
    unsafe {
        for _ in 0..200 {
            let p = hk::malloc(300);
            p.write_bytes(0xff, 300);
            hk::free(p);
        }
        for n in [1usize, 300, 5000, 100000] {
            let p = hk::calloc(n, 1);
            assert!(
                std::slice::from_raw_parts(p, n).iter().all(|&b| b == 0),
                "calloc({n}) not zeroed"
            );
            hk::free(p);
        }
        assert!(hk::calloc(usize::MAX / 2, 3).is_null());
    }
}

#[test]
fn freed_large_mappings_are_reused_and_calloc_clears_them() {
    let before = hk::stats::snapshot()["large"]["cache_hits"];
    // SAFETY: blocks are written within their size and freed once.
    unsafe {
        for round in 0..20u8 {
            let p = hk::malloc(600_000);
            assert!(!p.is_null());
            p.write_bytes(0xee ^ round, 600_000);
            hk::free(p);
            let q = hk::calloc(1, 590_000);
            let s = std::slice::from_raw_parts(q, 590_000);
            assert!(
                s.iter().all(|&b| b == 0),
                "calloc returned a dirty reused Large block"
            );
            assert!(hk::usable_size(q) >= 590_000);
            hk::free(q);
        }
    }
    let after = hk::stats::snapshot()["large"]["cache_hits"];
    assert!(
        after > before,
        "no Large mapping was reused ({before} -> {after})"
    );
}

/// Serialises the tests that drive the Mid box, whose chunk counter one of them reads.
static MID_TESTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn many_live_mid_blocks_are_carved_from_shared_chunks_not_mapped_one_by_one() {
    let _serial = MID_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    const N: usize = 600;
    let size_of = |i: usize| 32_769 + (i * 7_919) % (256 * 1024 - 32_768);
    // Process-wide counters: other tests running beside this one map and unmap too, so the bounds leave room
    // for them while staying far below one mapping per block (10 rounds × 600 blocks = 6000 map/unmap pairs).
    let os_calls = || {
        let s = hk::stats::snapshot();
        (
            s["os"]["mmap_calls"],
            s["os"]["munmap_calls"],
            s["mid"]["chunks_mapped"],
        )
    };
    let mut blocks: Vec<(*mut u8, usize)> = Vec::with_capacity(N);
    // SAFETY: every block is written within its requested size, checked, and freed once.
    unsafe {
        let fill = |blocks: &mut Vec<(*mut u8, usize)>, round: u8| {
            for i in 0..N {
                let n = size_of(i);
                let p = hk::malloc(n);
                assert!(!p.is_null(), "malloc({n}) failed");
                assert_eq!(p as usize % 16, 0, "block {p:?} misaligned");
                let u = hk::usable_size(p);
                assert!(u >= n && u <= n + n / 4 + 8192, "usable {u} for {n}");
                p.write_bytes((i as u8) ^ round, n);
                blocks.push((p, n));
            }
        };
        let check = |blocks: &Vec<(*mut u8, usize)>, round: u8| {
            for (i, &(p, n)) in blocks.iter().enumerate() {
                let s = std::slice::from_raw_parts(p, n);
                let want = (i as u8) ^ round;
                assert!(s.iter().all(|&b| b == want), "block {i} overwritten");
            }
            let mut r: Vec<(usize, usize)> = blocks
                .iter()
                .map(|&(p, _)| (p as usize, p as usize + hk::usable_size(p)))
                .collect();
            r.sort_unstable();
            for w in r.windows(2) {
                assert!(w[0].1 <= w[1].0, "blocks overlap: {w:?}");
            }
        };
        fill(&mut blocks, 0);
        check(&blocks, 0);
        let before = os_calls();
        for round in 1..=10u8 {
            // Free every other block, then all the rest, and allocate them again.
            for &(p, _) in blocks.iter().step_by(2) {
                hk::free(p);
            }
            for &(p, _) in blocks.iter().skip(1).step_by(2) {
                hk::free(p);
            }
            blocks.clear();
            fill(&mut blocks, round);
            check(&blocks, round);
        }
        let after = os_calls();
        let (maps, unmaps, chunks) = (after.0 - before.0, after.1 - before.1, after.2 - before.2);
        assert!(
            maps < 2000 && unmaps < 2000 && chunks < 100,
            "{N} live 32–256 KiB blocks freed and reallocated 10 times took {maps} mmaps, {unmaps} munmaps, \
             {chunks} new Mid chunks"
        );
        // realloc within the Mid range keeps the contents; calloc of a reused Mid block is zero.
        let (p, n) = blocks[0];
        let q = hk::realloc(p, 200_000);
        assert!(!q.is_null() && hk::usable_size(q) >= 200_000);
        assert!(std::slice::from_raw_parts(q, n.min(200_000))
            .iter()
            .all(|&b| b == 10));
        blocks[0] = (q, 0);
        for &(p, _) in &blocks {
            hk::free(p);
        }
        for _ in 0..50 {
            let z = hk::calloc(1, 100_000);
            assert!(std::slice::from_raw_parts(z, 100_000)
                .iter()
                .all(|&b| b == 0));
            z.write_bytes(0x5a, 100_000);
            hk::free(z);
        }
        let a = hk::aligned_alloc(4096, 70_000);
        assert_eq!(a as usize % 4096, 0);
        assert!(hk::usable_size(a) >= 70_000);
        hk::free(a);
    }
    hk::check_invariants().unwrap();
}

#[test]
fn mid_blocks_survive_cross_thread_frees() {
    let _serial = MID_TESTS.lock().unwrap_or_else(|e| e.into_inner());
    let (tx, rx) = std::sync::mpsc::channel::<(usize, usize, u8)>();
    let producers: Vec<_> = (0..3u8)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..2000usize {
                    let n = 32_769 + (i * 104_729 + t as usize * 7) % (256 * 1024 - 32_768);
                    // SAFETY: the block is written within its size and handed to exactly one consumer.
                    unsafe {
                        let p = hk::malloc(n);
                        assert!(!p.is_null());
                        assert!(hk::usable_size(p) >= n);
                        p.write_bytes(t ^ i as u8, n);
                        tx.send((p as usize, n, t ^ i as u8)).unwrap();
                    }
                }
            })
        })
        .collect();
    drop(tx);
    let mut n_freed = 0;
    for (p, n, v) in rx {
        // SAFETY: a live block of `n` bytes, freed once.
        unsafe {
            let s = std::slice::from_raw_parts(p as *const u8, n);
            assert!(
                s.iter().all(|&b| b == v),
                "cross-thread Mid block corrupted"
            );
            hk::free(p as *mut u8);
        }
        n_freed += 1;
    }
    for t in producers {
        t.join().unwrap();
    }
    assert_eq!(n_freed, 6000);
    hk::mid::check_invariants().unwrap();
}
