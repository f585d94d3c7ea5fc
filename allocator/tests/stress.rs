use std::sync::mpsc;

use hakmem_allocator as hk;

use crate::util::Rng;

struct Block(usize, usize);
// SAFETY: a block is owned by one thread at a time.
unsafe impl Send for Block {}

/// Producer-consumer: every block is freed by another thread (remote list), then the producer reuses them.
#[test]
fn cross_thread_frees_come_back_to_the_owner() {
    let (tx, rx) = mpsc::sync_channel::<Vec<Block>>(16);
    let consumer = std::thread::spawn(move || {
        let mut n = 0u64;
        for batch in rx {
            for Block(p, size) in batch {
                // SAFETY: live block of the producer, tagged with its size in the first byte.
                unsafe {
                    assert_eq!(
                        *(p as *const u8),
                        (size % 251) as u8,
                        "block damaged in flight"
                    );
                    hk::free(p as *mut u8);
                }
                n += 1;
            }
        }
        n
    });
    let mut r = Rng::new(7);
    let before = hk::stats::snapshot()["os"]["bytes_mapped"];
    let mut batch = Vec::new();
    for _ in 0..400_000 {
        let size = 1 + r.below(1024) as usize;
        // SAFETY: fresh block, handed to the consumer.
        let p = unsafe { hk::malloc(size) };
        // SAFETY: at least one byte.
        unsafe { *p = (size % 251) as u8 };
        batch.push(Block(p as usize, size));
        if batch.len() == 128 {
            tx.send(std::mem::take(&mut batch)).unwrap();
        }
    }
    tx.send(batch).unwrap();
    drop(tx);
    assert_eq!(consumer.join().unwrap(), 400_000);
    let s = hk::stats::snapshot();
    assert!(s["gatekeeper"]["remote_frees"] >= 400_000);
    // 400k blocks of ~512 B went through; with remote frees reused, far less than 200 MB was ever mapped
    // (other tests in this process map too, so the bound is loose).
    let mapped = s["os"]["bytes_mapped"] - before;
    assert!(
        mapped < 120 << 20,
        "producer-consumer mapped {} MiB: remote frees are not reused",
        mapped >> 20
    );
}

/// Threads start, allocate, hand half their blocks to the main thread and exit: their SuperSlabs are
/// abandoned (DRAINING) and reclaimed by later threads; the main thread's frees reach them remotely.
#[test]
fn thread_churn_abandons_and_reclaims_superslabs() {
    let mut kept: Vec<Block> = Vec::new();
    for round in 0..60u64 {
        let blocks = std::thread::spawn(move || {
            let mut r = Rng::new(round);
            let mut out = Vec::new();
            let mut mine = Vec::new();
            for i in 0..3000 {
                let size = 1 + r.below(3000) as usize;
                // SAFETY: fresh block.
                let p = unsafe { hk::malloc(size) };
                // SAFETY: `size` bytes.
                unsafe { p.write_bytes((size % 251) as u8, size) };
                if i % 2 == 0 {
                    out.push(Block(p as usize, size));
                } else {
                    mine.push(p);
                }
            }
            for p in mine.into_iter().step_by(2) {
                // SAFETY: own live block; the other half is leaked into the abandoned SuperSlab on purpose.
                unsafe { hk::free(p) };
            }
            out
        })
        .join()
        .unwrap();
        kept.extend(blocks);
        if kept.len() > 20_000 {
            for Block(p, size) in kept.drain(..10_000) {
                // SAFETY: live block of an exited thread.
                unsafe {
                    let s = std::slice::from_raw_parts(p as *const u8, size);
                    assert!(
                        s.iter().all(|&b| b == (size % 251) as u8),
                        "block of an exited thread damaged"
                    );
                    hk::free(p as *mut u8);
                }
            }
        }
    }
    for Block(p, _) in kept {
        // SAFETY: live block.
        unsafe { hk::free(p as *mut u8) };
    }
    hk::collect();
    let s = hk::stats::snapshot();
    assert!(
        s["shared_pool"]["abandoned"] >= 1,
        "no SuperSlab was abandoned: {:?}",
        s["shared_pool"]
    );
    assert!(
        s["shared_pool"]["reclaimed"] >= 1,
        "no SuperSlab was reclaimed: {:?}",
        s["shared_pool"]
    );
    assert!(s["tier"]["hot_to_draining"] >= 1 && s["tier"]["draining_to_hot"] >= 1);
    assert!(s["gatekeeper"]["remote_frees_to_abandoned"] >= 1);
    hk::check_invariants().unwrap();
}

/// Many short threads allocating and freeing concurrently (a stress test, not a benchmark).
#[test]
fn concurrent_threads_allocate_and_free_without_corruption() {
    let handles: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                for wave in 0..5u64 {
                    std::thread::spawn(move || {
                        let mut r = Rng::new(t * 100 + wave);
                        let mut v: Vec<(usize, usize)> = Vec::new();
                        for _ in 0..20_000 {
                            if v.len() < 500 && r.below(2) == 0 {
                                let size = 1 + r.below(5000) as usize;
                                // SAFETY: fresh block.
                                let p = unsafe { hk::malloc(size) };
                                // SAFETY: `size` bytes.
                                unsafe { p.write_bytes(size as u8, size) };
                                v.push((p as usize, size));
                            } else if !v.is_empty() {
                                let (p, size) = v.swap_remove(r.below(v.len() as u64) as usize);
                                // SAFETY: own live block.
                                unsafe {
                                    assert!(std::slice::from_raw_parts(p as *const u8, size)
                                        .iter()
                                        .all(|&b| b == size as u8));
                                    hk::free(p as *mut u8);
                                }
                            }
                        }
                        for (p, _) in v {
                            // SAFETY: own live block.
                            unsafe { hk::free(p as *mut u8) };
                        }
                    })
                    .join()
                    .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
