//! The memo's `bench_random_mixed ITERS WS SEED` loop against HAKMEM, mimalloc and the C library, one
//! allocator per process (run it several times, interleaved, and compare medians; `hakmem bench random-mixed`
//! is the workbench's version with repeats and ratios).
//!
//! Usage: `bench_random_mixed ALLOC ITERS WS SEED [MIN MAX]` with ALLOC = hakmem | mimalloc | system |
//! pc-hakmem | pc-mimalloc | pc-system (producer-consumer: one thread allocates, another frees).
//! Calls are statically dispatched (HAKMEM inlines, as in the replayer); `BENCH_DYN=1` calls through function
//! pointers instead. Prints `ALLOC Mops/s maxrss_kib` (random-mixed: per thread-CPU second; producer-consumer: per wall second).

use std::time::Instant;

type Malloc = unsafe fn(usize) -> *mut u8;
type Free = unsafe fn(*mut u8);

unsafe fn hk_malloc(n: usize) -> *mut u8 {
    // SAFETY: C semantics.
    unsafe { hakmem_allocator::malloc(n) }
}
unsafe fn hk_free(p: *mut u8) {
    // SAFETY: our block.
    unsafe { hakmem_allocator::free(p) }
}
unsafe fn mi_malloc(n: usize) -> *mut u8 {
    // SAFETY: C semantics.
    unsafe { libmimalloc_sys::mi_malloc(n) as *mut u8 }
}
unsafe fn mi_free(p: *mut u8) {
    // SAFETY: mimalloc block.
    unsafe { libmimalloc_sys::mi_free(p as *mut _) }
}
unsafe fn sys_malloc(n: usize) -> *mut u8 {
    // SAFETY: C semantics.
    unsafe { libc::malloc(n) as *mut u8 }
}
unsafe fn sys_free(p: *mut u8) {
    // SAFETY: C library block.
    unsafe { libc::free(p as *mut _) }
}

/// Statically dispatched allocator calls, so that HAKMEM's fast paths inline into the loop (as they do in
/// the replayer with fat LTO); mimalloc and the C library are FFI calls either way.
trait Alloc {
    unsafe fn malloc(n: usize) -> *mut u8;
    unsafe fn free(p: *mut u8);
}
struct Hk;
impl Alloc for Hk {
    #[inline(always)]
    unsafe fn malloc(n: usize) -> *mut u8 {
        // SAFETY: C semantics.
        unsafe { hakmem_allocator::malloc(n) }
    }
    #[inline(always)]
    unsafe fn free(p: *mut u8) {
        // SAFETY: our block.
        unsafe { hakmem_allocator::free(p) }
    }
}
struct Mi;
impl Alloc for Mi {
    #[inline(always)]
    unsafe fn malloc(n: usize) -> *mut u8 {
        // SAFETY: C semantics.
        unsafe { libmimalloc_sys::mi_malloc(n) as *mut u8 }
    }
    #[inline(always)]
    unsafe fn free(p: *mut u8) {
        // SAFETY: mimalloc block.
        unsafe { libmimalloc_sys::mi_free(p as *mut _) }
    }
}
struct Sys;
impl Alloc for Sys {
    #[inline(always)]
    unsafe fn malloc(n: usize) -> *mut u8 {
        // SAFETY: C semantics.
        unsafe { libc::malloc(n) as *mut u8 }
    }
    #[inline(always)]
    unsafe fn free(p: *mut u8) {
        // SAFETY: C library block.
        unsafe { libc::free(p as *mut _) }
    }
}

fn run_static<A: Alloc>(iters: u64, ws: usize, seed: u64, min: u64, max: u64) -> f64 {
    let mut slots = vec![std::ptr::null_mut::<u8>(); ws];
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let span = max - min + 1;
    let t0 = cpu_now();
    for _ in 0..iters {
        let i = rng.below(ws as u64) as usize;
        let size = (min + rng.below(span)) as usize;
        let s = &mut slots[i];
        // SAFETY: every pointer in `slots` is live and came from `A`.
        unsafe {
            if s.is_null() {
                let p = A::malloc(size);
                *p = 1;
                *s = p;
            } else {
                A::free(*s);
                *s = std::ptr::null_mut();
            }
        }
    }
    let dt = cpu_now() - t0;
    for s in slots {
        if !s.is_null() {
            // SAFETY: live block from `A`.
            unsafe { A::free(s) };
        }
    }
    iters as f64 / dt
}

struct Rng(u64);
impl Rng {
    #[inline(always)]
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    #[inline(always)]
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
}

#[inline(always)]
fn run(m: Malloc, f: Free, iters: u64, ws: usize, seed: u64, min: u64, max: u64) -> f64 {
    let mut slots = vec![std::ptr::null_mut::<u8>(); ws];
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let span = max - min + 1;
    let t0 = cpu_now();
    for _ in 0..iters {
        let i = rng.below(ws as u64) as usize;
        let size = (min + rng.below(span)) as usize;
        let s = &mut slots[i];
        // SAFETY: every pointer in `slots` is live and came from `m`.
        unsafe {
            if s.is_null() {
                let p = m(size);
                *p = 1;
                *s = p;
            } else {
                f(*s);
                *s = std::ptr::null_mut();
            }
        }
    }
    let dt = cpu_now() - t0;
    for s in slots {
        if !s.is_null() {
            // SAFETY: live block from `m`.
            unsafe { f(s) };
        }
    }
    iters as f64 / dt
}

/// Thread CPU time in seconds: less disturbed than wall time on a shared machine.
fn cpu_now() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

struct SendPtr(*mut u8);
// SAFETY: the pointer is handed from one thread to the other and used by one at a time.
unsafe impl Send for SendPtr {}

fn producer_consumer(m: Malloc, f: Free, iters: u64, seed: u64, min: u64, max: u64) -> f64 {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<SendPtr>>(64);
    let t0 = Instant::now();
    let consumer = std::thread::spawn(move || {
        for batch in rx {
            for p in batch {
                // SAFETY: live block from `m`, handed over by the producer.
                unsafe { f(p.0) };
            }
        }
    });
    let mut rng = Rng(seed | 1);
    let span = max - min + 1;
    let mut batch = Vec::with_capacity(256);
    for _ in 0..iters {
        let size = (min + rng.below(span)) as usize;
        // SAFETY: C semantics.
        let p = unsafe { m(size) };
        // SAFETY: fresh block of at least one byte.
        unsafe { *p = 1 };
        batch.push(SendPtr(p));
        if batch.len() == 256 {
            tx.send(std::mem::replace(&mut batch, Vec::with_capacity(256)))
                .unwrap();
        }
    }
    tx.send(batch).unwrap();
    drop(tx);
    consumer.join().unwrap();
    iters as f64 / t0.elapsed().as_secs_f64()
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 5 {
        eprintln!("usage: bench_random_mixed ALLOC ITERS WS SEED [MIN MAX]");
        std::process::exit(2);
    }
    let iters: u64 = a[2].parse().unwrap();
    let ws: usize = a[3].parse().unwrap();
    let seed: u64 = a[4].parse().unwrap();
    let min: u64 = a.get(5).map(|s| s.parse().unwrap()).unwrap_or(16);
    let max: u64 = a.get(6).map(|s| s.parse().unwrap()).unwrap_or(1024);
    let (m, f): (Malloc, Free) = match a[1].trim_start_matches("pc-") {
        "hakmem" => (hk_malloc, hk_free),
        "mimalloc" => (mi_malloc, mi_free),
        "system" => (sys_malloc, sys_free),
        other => {
            eprintln!("unknown allocator {other}");
            std::process::exit(2);
        }
    };
    let ops = if a[1].starts_with("pc-") {
        producer_consumer(m, f, iters, seed, min, max)
    } else if std::env::var_os("BENCH_DYN").is_some() {
        run(m, f, iters, ws, seed, min, max)
    } else {
        match a[1].as_str() {
            "hakmem" => run_static::<Hk>(iters, ws, seed, min, max),
            "mimalloc" => run_static::<Mi>(iters, ws, seed, min, max),
            _ => run_static::<Sys>(iters, ws, seed, min, max),
        }
    };
    // SAFETY: getrusage with a valid out-pointer.
    let rss = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru.ru_maxrss
    };
    println!("{} {:.1} {}", a[1], ops / 1e6, rss);
    if std::env::var_os("HAKMEM_STATS").is_some() && a[1].ends_with("hakmem") {
        hakmem_allocator::stats::print();
    }
}
