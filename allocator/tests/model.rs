use std::collections::BTreeMap;

use hakmem_allocator as hk;

use crate::util::Rng;

/// A live block in the reference model: where, how big, the byte it is filled with, how aligned.
#[derive(Clone, Copy)]
struct Live {
    ptr: usize,
    size: usize,
    fill: u8,
}

// SAFETY: a Live block is owned by one thread at a time (handed over through a channel).
unsafe impl Send for Live {}

struct Model {
    blocks: Vec<Live>,
    ranges: BTreeMap<usize, usize>,
}

impl Model {
    fn new() -> Self {
        Model {
            blocks: Vec::new(),
            ranges: BTreeMap::new(),
        }
    }

    fn add(&mut self, b: Live) {
        let end = b.ptr + b.size.max(1);
        if let Some((&s, &e)) = self.ranges.range(..end).next_back() {
            assert!(
                e <= b.ptr || s >= end,
                "block {:#x}+{} overlaps live {:#x}..{:#x}",
                b.ptr,
                b.size,
                s,
                e
            );
        }
        self.ranges.insert(b.ptr, end);
        self.blocks.push(b);
    }

    fn take(&mut self, i: usize) -> Live {
        let b = self.blocks.swap_remove(i);
        self.ranges.remove(&b.ptr);
        b
    }
}

fn check_contents(b: &Live) {
    // SAFETY: the block is live with `size` bytes.
    let s = unsafe { std::slice::from_raw_parts(b.ptr as *const u8, b.size) };
    if let Some(i) = s.iter().position(|&x| x != b.fill) {
        panic!(
            "block {:#x}+{} byte {} is {:#x}, expected {:#x}",
            b.ptr, b.size, i, s[i], b.fill
        );
    }
    // SAFETY: live block.
    assert!(unsafe { hk::usable_size(b.ptr as *mut u8) } >= b.size);
}

fn fill(p: *mut u8, size: usize, v: u8) {
    // SAFETY: the caller passes a live block of at least `size` bytes.
    unsafe { p.write_bytes(v, size) };
}

fn random_size(r: &mut Rng) -> usize {
    match r.below(100) {
        0..=59 => r.below(129) as usize,
        60..=89 => 129 + r.below(896) as usize,
        90..=98 => 1025 + r.below(40000) as usize,
        _ => 40000 + r.below(600000) as usize,
    }
}

/// One model step; returns a block to hand to another thread, if the step chose to.
fn step(m: &mut Model, r: &mut Rng, seq: &mut u8) -> Option<Live> {
    *seq = seq.wrapping_add(1).max(1);
    let v = *seq;
    let op = r.below(100);
    if m.blocks.is_empty() || op < 40 {
        let size = random_size(r);
        // SAFETY: plain allocation.
        let p = unsafe { hk::malloc(size) };
        assert!(!p.is_null(), "malloc({size})");
        assert_eq!(
            p as usize % if size > 8 { 16 } else { 8 },
            0,
            "malloc({size}) misaligned"
        );
        fill(p, size, v);
        m.add(Live {
            ptr: p as usize,
            size,
            fill: v,
        });
    } else if op < 48 {
        let (n, s) = (1 + r.below(8) as usize, random_size(r) / 8);
        // SAFETY: plain allocation.
        let p = unsafe { hk::calloc(n, s) };
        assert!(!p.is_null());
        // SAFETY: calloc returned n * s bytes.
        let zeroed = unsafe { std::slice::from_raw_parts(p, n * s) };
        assert!(zeroed.iter().all(|&b| b == 0), "calloc not zeroed");
        fill(p, n * s, v);
        m.add(Live {
            ptr: p as usize,
            size: n * s,
            fill: v,
        });
    } else if op < 55 {
        let align = 1usize << r.below(14);
        let size = random_size(r);
        // SAFETY: plain allocation.
        let p = unsafe { hk::aligned_alloc(align, size) };
        assert!(
            !p.is_null() && (p as usize).is_multiple_of(align),
            "aligned_alloc({align}, {size}) = {p:p}"
        );
        fill(p, size, v);
        m.add(Live {
            ptr: p as usize,
            size,
            fill: v,
        });
    } else if op < 65 {
        let i = r.below(m.blocks.len() as u64) as usize;
        let b = m.take(i);
        check_contents(&b);
        let size = random_size(r).max(1); // realloc(p, 0) frees, as glibc's does
                                          // SAFETY: `b` is live; on success the old pointer is dead.
        let p = unsafe { hk::realloc(b.ptr as *mut u8, size) };
        assert!(!p.is_null());
        let kept = b.size.min(size);
        // SAFETY: the first `kept` bytes were preserved.
        let s = unsafe { std::slice::from_raw_parts(p, kept) };
        assert!(s.iter().all(|&x| x == b.fill), "realloc lost contents");
        fill(p, size, v);
        m.add(Live {
            ptr: p as usize,
            size,
            fill: v,
        });
    } else if op < 70 {
        let i = r.below(m.blocks.len() as u64) as usize;
        let b = m.take(i);
        check_contents(&b);
        return Some(b);
    } else {
        let i = r.below(m.blocks.len() as u64) as usize;
        let b = m.take(i);
        check_contents(&b);
        // SAFETY: live block, freed once.
        unsafe { hk::free(b.ptr as *mut u8) };
    }
    None
}

#[test]
fn random_calls_match_the_reference_model() {
    let mut m = Model::new();
    let mut r = Rng::new(1);
    let mut seq = 0u8;
    for i in 0..60_000 {
        if let Some(b) = step(&mut m, &mut r, &mut seq) {
            // SAFETY: live block handed back to the allocator.
            unsafe { hk::free(b.ptr as *mut u8) };
        }
        if i % 10_000 == 0 {
            hk::check_invariants().unwrap();
        }
    }
    for b in std::mem::take(&mut m.blocks) {
        check_contents(&b);
        // SAFETY: live block.
        unsafe { hk::free(b.ptr as *mut u8) };
    }
    hk::check_invariants().unwrap();
}

#[test]
fn random_calls_across_threads_with_cross_thread_frees_match_the_model() {
    const THREADS: usize = 4;
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..THREADS)
        .map(|_| std::sync::mpsc::channel::<Live>())
        .unzip();
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(THREADS));
    let handles: Vec<_> = rxs
        .into_iter()
        .enumerate()
        .map(|(t, rx)| {
            let txs = txs.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut m = Model::new();
                let mut r = Rng::new(100 + t as u64);
                let mut seq = 0u8;
                for _ in 0..25_000 {
                    if let Some(b) = step(&mut m, &mut r, &mut seq) {
                        txs[(t + 1 + r.below(THREADS as u64 - 1) as usize) % THREADS]
                            .send(b)
                            .unwrap();
                    }
                    while let Ok(b) = rx.try_recv() {
                        check_contents(&b);
                        // SAFETY: a live block of another thread, freed once here.
                        unsafe { hk::free(b.ptr as *mut u8) };
                    }
                }
                drop(txs);
                barrier.wait();
                for b in rx.iter() {
                    check_contents(&b);
                    // SAFETY: as above.
                    unsafe { hk::free(b.ptr as *mut u8) };
                }
                for b in std::mem::take(&mut m.blocks) {
                    check_contents(&b);
                    // SAFETY: own live block.
                    unsafe { hk::free(b.ptr as *mut u8) };
                }
                // No other thread frees into our SuperSlabs any more.
                barrier.wait();
                hk::check_invariants().unwrap();
            })
        })
        .collect();
    drop(txs);
    for h in handles {
        h.join().expect("a model thread failed");
    }
}
