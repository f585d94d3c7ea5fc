//! The replay engine: runs a [`Program`] (or a live benchmark loop) through one [`Allocator`] inside the
//! current process and measures it. It runs inside `hakmem __child`, one sample per process.
//!
//! Entry points: [`replay`], [`bench_random_mixed`], [`bench_producer_consumer`].
//!
//! Shape of a run: everything is allocated before the start barrier (object table, latency buffers, the
//! decoded ops); one OS thread per recorded thread waits on the barrier; only the loop between the barrier
//! and each thread's last op is timed; leftovers are freed after timing.
//!
//! Cost of the timed loop per op (no `--check`): one 16-byte op load, one object-table load/store, the
//! direct allocator call, the touch. Every `latency_every`-th op is bracketed by two `rdtsc` reads; the loop
//! is split in chunks of that length so the untimed ops carry no extra branch.
//!
//! Object table invariant: slot value 0 = empty; [`FAILED`] = the allocation failed (or realloc(p, 0)
//! freed the block) so nothing is to be freed, but waiting threads are released; any other value = a live
//! block of the backend under test. A slot is published with a release store and consumed by a thread
//! with a sync mark with an acquire load (plain moves on x86-64).

use crate::backend::{AlignedKind, Allocator};
use crate::program::{Kind, Op, Program, KINDS, NO_OBJECT};
use reports::model::Percentiles;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::Instant;

/// Slot marker for "no block, but published" (see the module docs).
pub const FAILED: usize = 1;

/// Maximum number of violation lines kept per sample (the count is exact).
pub const MAX_VIOLATION_LINES: usize = 20;

/// How much of each new block the replay writes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Touch {
    /// Never touch the blocks.
    None,
    /// Write the first byte.
    First,
    /// Write one byte per 64-byte cache line.
    Line,
    /// Write every byte.
    All,
    /// Use the block as a program does: write one byte per 64-byte cache line at allocation (as `line`)
    /// and read its first word right before freeing it (a program reads a node's links or a string's
    /// length before it frees it).
    Use,
}

impl Touch {
    /// The mode as the timed loop's const parameter (see [`Touch::of_code`]).
    const fn code(self) -> u8 {
        self as u8
    }

    /// The mode of a [`Touch::code`]: a constant after inlining, so the loop's `match` on it folds away.
    #[inline(always)]
    const fn of_code(code: u8) -> Touch {
        match code {
            0 => Touch::None,
            1 => Touch::First,
            2 => Touch::Line,
            3 => Touch::All,
            _ => Touch::Use,
        }
    }

    /// The mode's name as written in results.
    pub fn name(self) -> &'static str {
        match self {
            Touch::None => "none",
            Touch::First => "first",
            Touch::Line => "line",
            Touch::All => "all",
            Touch::Use => "use",
        }
    }
}

/// Options of one run.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Memory touching.
    pub touch: Touch,
    /// Verify the allocator's contract while replaying.
    pub check: bool,
    /// Time one call in this many per thread (0 = no latency sampling).
    pub latency_every: u32,
    /// Before the start barrier, each replay thread makes one malloc and one free per size class it
    /// will allocate ([`warmup_sizes`]), so that its heap's creation and the first touch of the
    /// allocator's per-class metadata are not timed.
    pub warmup: bool,
    /// Pacing: each replay thread busy-waits this many nanoseconds before each op, inside the timed
    /// region ([`Pace`]); 0 = off, the ops back to back. Ignored by the live benchmarks.
    pub pace_ns: u32,
    /// Walks: each replay thread reads its live blocks in allocation order on a generational schedule
    /// whose youngest generation is walked every `walk` allocations ([`Walker`]), inside the timed
    /// region; 0 = off. Ignored by the live benchmarks.
    pub walk: u32,
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Allocator calls made in the timed region.
    pub ops: u64,
    /// Wall seconds from the first thread's start to the last thread's end.
    pub seconds: f64,
    /// CPU seconds of the process over the timed region.
    pub cpu_seconds: f64,
    /// Minor faults over the timed region.
    pub minor_faults: u64,
    /// Major faults over the timed region.
    pub major_faults: u64,
    /// Allocations that returned NULL for a non-zero size.
    pub alloc_failures: u64,
    /// Sampled latencies per call kind.
    pub latency_ns: BTreeMap<String, Percentiles>,
    /// Contract violations (first [`MAX_VIOLATION_LINES`]).
    pub violations: Vec<String>,
    /// Total contract violations.
    pub violation_count: u64,
    /// VmRSS just before the timed region (after decoding, object table and latency buffers).
    pub baseline_rss_bytes: u64,
    /// Whether VmHWM was reset right after reading the baseline (so the peak is the timed region's).
    pub peak_reset: bool,
    /// VmHWM read right after the timed region, before the harness sorts its latency samples (whose
    /// copies would otherwise count as the allocator's peak); 0 if it could not be read.
    pub peak_rss_bytes: u64,
    /// Allocator calls of the warm-up ([`Options::warmup`]), made before the timed region and not
    /// counted in `ops`.
    pub warmup_calls: u64,
    /// Walks made by the replay threads ([`Options::walk`]; 0 when off).
    pub walks: u64,
    /// Live blocks read by those walks (a block read by several walks counts once per walk). It depends
    /// on the workload and `walk` only, not on the allocator (barring failed allocations).
    pub walked_blocks: u64,
}

// ---------------------------------------------------------------------------------------------------
// Clock

/// A cheap timestamp: the TSC on x86-64 (about 20 cycles, not serialising, fine for sampling).
#[inline(always)]
fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: rdtsc has no preconditions on x86-64.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        use std::sync::OnceLock;
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

/// Per-thread record of the timed region, used to convert ticks to nanoseconds.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: Instant,
    end: Instant,
    t0: u64,
    t1: u64,
}

fn ns_per_tick(spans: &[Span]) -> f64 {
    let ns: f64 = spans
        .iter()
        .map(|s| (s.end - s.start).as_nanos() as f64)
        .sum();
    let ticks: f64 = spans.iter().map(|s| s.t1.saturating_sub(s.t0) as f64).sum();
    if ticks > 0.0 {
        ns / ticks
    } else {
        1.0
    }
}

/// A fixed busy wait between a replay thread's ops (`--pace NS`): a program does work between its
/// allocator calls, and a replay that makes the calls back to back lets the threads contend for the
/// allocator's locks and lines more often than the program does. The wait is a loop of `iters` dependent
/// increments, calibrated once per run ([`Pace::calibrate`]): no clock read and no system call per op
/// (`rdtsc` costs about 15 ns on the machines this runs on, more than the waits it would time), no
/// memory traffic, and it stays on the CPU as the program's work does. Calibration keeps the fastest of
/// several rounds, so a round slowed by preemption does not shorten the waits: each wait takes at least
/// `ns` unless the CPU runs faster than during calibration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pace {
    /// Loop iterations per wait (at least 1).
    pub iters: u64,
    /// Nanoseconds per iteration as calibrated.
    pub ns_per_iter: f64,
}

/// Iterations of one calibration round of [`Pace::calibrate`] (about 0.1–0.2 ms).
const PACE_CALIBRATION_ITERS: u64 = 1 << 16;

/// How long [`Pace::calibrate`] runs its rounds at least.
const PACE_CALIBRATION_TIME: std::time::Duration = std::time::Duration::from_millis(20);

impl Pace {
    /// The loop of `ns` nanoseconds on this CPU: the fastest of the timed rounds of
    /// [`PACE_CALIBRATION_TIME`] (at least 8), long enough for a CPU that was idle to reach its speed.
    pub fn calibrate(ns: u32) -> Pace {
        let begin = Instant::now();
        let mut ns_per_iter = f64::INFINITY;
        let mut rounds = 0;
        while rounds < 8 || begin.elapsed() < PACE_CALIBRATION_TIME {
            let start = Instant::now();
            spin(PACE_CALIBRATION_ITERS);
            let t = start.elapsed().as_nanos() as f64 / PACE_CALIBRATION_ITERS as f64;
            ns_per_iter = ns_per_iter.min(t);
            rounds += 1;
        }
        let ns_per_iter = ns_per_iter.max(1e-3);
        Pace {
            iters: ((ns as f64 / ns_per_iter).ceil() as u64).max(1),
            ns_per_iter,
        }
    }

    /// One wait. Cost: `iters` iterations of a load, an add and a store (the `black_box`), nothing else.
    #[inline(always)]
    fn wait(self) {
        spin(self.iters);
    }
}

/// `n` iterations of a loop the compiler cannot remove or shorten.
#[inline(always)]
fn spin(n: u64) {
    let mut i = 0u64;
    while i < n {
        i = std::hint::black_box(i) + 1;
    }
}

/// Most latency samples one buffer holds (64 MiB): a live benchmark of 10^12 steps with `--latency-every 1`
/// must not allocate a buffer as large as the run (later samples are not taken). Replays sample more
/// sparsely instead ([`MAX_LATENCY_SAMPLES`]).
const MAX_BUF_SAMPLES: u64 = 8 << 20;

/// Latency samples of one thread: `kind << 56 | ticks`, preallocated so the timed loop never allocates.
struct LatencyBuf(Vec<u64>);

impl LatencyBuf {
    /// A buffer for `ops / every` samples (at most [`MAX_BUF_SAMPLES`]), written once so its pages are
    /// resident *before* the baseline RSS is read: the heap peak (peak − baseline) is then the
    /// allocator's alone, not the harness's latency buffer growing during the timed region.
    fn with_capacity(ops: u64, every: u32) -> Self {
        let n = if every == 0 {
            0
        } else {
            (ops / every as u64 + 2).min(MAX_BUF_SAMPLES)
        };
        let mut v = vec![1u64; n as usize];
        v.clear();
        LatencyBuf(v)
    }
    #[inline(always)]
    fn push(&mut self, kind: Kind, ticks: u64) {
        if self.0.len() < self.0.capacity() {
            self.0.push((kind as u64) << 56 | ticks.min((1 << 56) - 1));
        }
    }
}

fn percentiles(bufs: &[LatencyBuf], ns_per_tick: f64) -> BTreeMap<String, Percentiles> {
    let mut per_kind: Vec<Vec<u64>> = vec![Vec::new(); KINDS];
    for b in bufs {
        for &e in &b.0 {
            let k = (e >> 56) as usize;
            if k < KINDS {
                per_kind[k].push(e & ((1 << 56) - 1));
            }
        }
    }
    let mut out = BTreeMap::new();
    for (k, mut v) in per_kind.into_iter().enumerate() {
        if v.is_empty() {
            continue;
        }
        v.sort_unstable();
        let at = |q: f64| {
            let i = ((v.len() as f64 - 1.0) * q).round() as usize;
            v[i.min(v.len() - 1)] as f64 * ns_per_tick
        };
        out.insert(
            Kind::ALL[k].name().to_string(),
            Percentiles {
                samples: v.len() as u64,
                p50: at(0.50),
                p90: at(0.90),
                p99: at(0.99),
                p999: at(0.999),
            },
        );
    }
    out
}

// ---------------------------------------------------------------------------------------------------
// Process counters

struct Usage {
    cpu: f64,
    minflt: u64,
    majflt: u64,
}

/// Reads the harness's RSS (VmRSS) and then resets VmHWM, right before the timed region starts: returns
/// `(baseline_rss_bytes, peak_reset)`. Everything the harness needs (decoded ops, object table, latency
/// buffers, thread stacks) is resident by then, so the peak read after the run minus this baseline is
/// the allocator's own peak. Done before [`usage`] so its syscalls do not count in the timed CPU time.
fn start_baseline() -> (u64, bool) {
    let baseline = crate::sysinfo::vm_rss_bytes();
    (baseline, crate::sysinfo::reset_peak_rss())
}

fn usage() -> Usage {
    // SAFETY: rusage is plain old data; getrusage writes it fully on success.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    Usage {
        cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
        minflt: ru.ru_minflt as u64,
        majflt: ru.ru_majflt as u64,
    }
}

fn finish(outcome: &mut Outcome, before: &Usage, spans: &[Span], bufs: &[LatencyBuf]) {
    let after = usage();
    outcome.peak_rss_bytes = crate::sysinfo::peak_rss_bytes();
    outcome.cpu_seconds = (after.cpu - before.cpu).max(0.0);
    outcome.minor_faults = after.minflt.saturating_sub(before.minflt);
    outcome.major_faults = after.majflt.saturating_sub(before.majflt);
    if let (Some(start), Some(end)) = (
        spans.iter().map(|s| s.start).min(),
        spans.iter().map(|s| s.end).max(),
    ) {
        outcome.seconds = (end - start).as_secs_f64();
    }
    outcome.latency_ns = percentiles(bufs, ns_per_tick(spans));
}

// ---------------------------------------------------------------------------------------------------
// Touching and contract checking

#[inline(always)]
fn touch(p: *mut u8, size: usize, mode: Touch) {
    if p as usize <= FAILED || size == 0 {
        return;
    }
    // SAFETY: `p` is a live block of at least `size` bytes just returned by the allocator.
    unsafe {
        match mode {
            Touch::None => {}
            Touch::First => p.write_volatile(1),
            Touch::Line | Touch::Use => {
                let mut off = 0;
                while off < size {
                    p.add(off).write_volatile(1);
                    off += 64;
                }
            }
            Touch::All => std::ptr::write_bytes(p, 0xA5, size),
        }
    }
}

/// `--touch use`: the program's last look at a block before it frees it (one load of its first word).
#[inline(always)]
fn touch_before_free(v: usize, mode: Touch) {
    if mode == Touch::Use && v > FAILED {
        // SAFETY: `v` is a live block (object-table invariant), about to be freed; its first byte is
        // inside it (every allocator here hands out at least 8 usable bytes, even for size 0) and was
        // written at allocation by this mode (or zeroed by calloc), so the load reads initialised memory.
        unsafe { std::ptr::read_volatile(v as *const u8) };
    }
}

/// Bytes of a block that `--check` fills with a pattern and verifies (bounded so huge blocks stay cheap).
const CHECK_BYTES: usize = 1 << 20;

#[inline]
fn pattern(obj: u32, i: usize) -> u8 {
    (obj.wrapping_mul(0x9E37_79B9) >> 24) as u8 ^ (i as u8)
}

/// `--check`: a map of live blocks (start -> (end, object)) to detect overlaps, plus the violations found.
struct Checker {
    live: Mutex<BTreeMap<usize, (usize, u32)>>,
    lines: Mutex<Vec<String>>,
    count: AtomicU64,
}

impl Checker {
    fn new() -> Self {
        Checker {
            live: Mutex::new(BTreeMap::new()),
            lines: Mutex::new(Vec::new()),
            count: AtomicU64::new(0),
        }
    }

    #[cold]
    fn violation(&self, msg: String) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() < MAX_VIOLATION_LINES {
            lines.push(msg);
        }
    }

    /// Verifies a fresh block, registers it as live and fills it with the object's pattern.
    fn on_alloc<A: Allocator>(
        &self,
        kind: Kind,
        p: *mut u8,
        size: usize,
        align: usize,
        obj: u32,
        zeroed: bool,
    ) {
        if p as usize <= FAILED {
            return;
        }
        let addr = p as usize;
        let need = if align > 0 {
            align
        } else {
            16.min(prev_pow2(size.max(1)))
        };
        if !addr.is_multiple_of(need) {
            self.violation(format!(
                "{}({size}{}) returned {addr:#x}, not aligned to {need}",
                kind.name(),
                align_note(align)
            ));
        }
        // SAFETY: `p` is a live block of this backend.
        let usable = unsafe { A::usable_size(p) };
        if usable < size {
            self.violation(format!(
                "{}({size}) returned {addr:#x} with usable size {usable} < {size}",
                kind.name()
            ));
        }
        let n = size.min(CHECK_BYTES);
        // SAFETY: `p` has at least `size >= n` bytes.
        let bytes = unsafe { std::slice::from_raw_parts_mut(p, n) };
        if zeroed {
            if let Some(i) = bytes.iter().position(|&b| b != 0) {
                self.violation(format!(
                    "calloc block {addr:#x} of {size} bytes is not zeroed (byte {i})"
                ));
            }
        }
        self.insert(kind, addr, size, obj);
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = pattern(obj, i);
        }
    }

    fn insert(&self, kind: Kind, addr: usize, size: usize, obj: u32) {
        let end = addr + size.max(1);
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let overlap = live
            .range(..end)
            .next_back()
            .filter(|(_, &(e, _))| e > addr)
            .map(|(&s, &(e, o))| (s, e, o));
        if let Some((s, e, o)) = overlap {
            drop(live);
            self.violation(format!(
                "{}({size}) returned [{addr:#x}, {end:#x}) overlapping live block [{s:#x}, {e:#x}) of object {o}",
                kind.name()
            ));
            live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            live.remove(&s);
        }
        live.insert(addr, (end, obj));
    }

    /// Unregisters a block about to be freed or reallocated; returns its (size, object).
    fn remove(&self, p: usize) -> Option<(usize, u32)> {
        if p <= FAILED {
            return None;
        }
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        live.remove(&p).map(|(end, obj)| (end - p, obj))
    }

    /// After `realloc(old, size) -> p`: the first min(old size, size) bytes must still be the old pattern.
    fn after_realloc<A: Allocator>(
        &self,
        p: *mut u8,
        size: usize,
        obj: u32,
        old: Option<(usize, u32)>,
    ) {
        if p as usize <= FAILED {
            return;
        }
        if let Some((old_size, old_obj)) = old {
            let n = old_size.min(size).min(CHECK_BYTES);
            // SAFETY: `p` is live with at least `size >= n` bytes.
            let bytes = unsafe { std::slice::from_raw_parts(p, n) };
            if let Some(i) = bytes
                .iter()
                .enumerate()
                .position(|(i, &b)| b != pattern(old_obj, i))
            {
                self.violation(format!(
                    "realloc to {size} bytes at {:#x} lost the contents at byte {i} of {n} preserved",
                    p as usize
                ));
            }
        }
        self.on_alloc::<A>(Kind::Realloc, p, size, 0, obj, false);
    }

    fn into_lines(self) -> (Vec<String>, u64) {
        (
            self.lines.into_inner().unwrap_or_else(|e| e.into_inner()),
            self.count.into_inner(),
        )
    }
}

fn prev_pow2(n: usize) -> usize {
    1 << (usize::BITS - 1 - n.leading_zeros())
}

fn align_note(align: usize) -> String {
    if align > 0 {
        format!(", align {align}")
    } else {
        String::new()
    }
}

// ---------------------------------------------------------------------------------------------------
// Replay of a program

/// Waits until another thread has published slot `slot`: spin a little, then yield.
#[cold]
#[inline(never)]
fn wait_published(slot: &AtomicUsize) -> usize {
    let mut spins = 0u32;
    loop {
        let v = slot.load(Ordering::Acquire);
        if v != 0 {
            return v;
        }
        spins += 1;
        if spins < 128 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// Takes the block out of a slot (leaving it empty). Cost without a sync mark: one load, one store.
#[inline(always)]
fn take(table: &[AtomicUsize], i: u32, wait: bool) -> usize {
    // SAFETY: Program::validate guaranteed i < table.len().
    let slot = unsafe { table.get_unchecked(i as usize) };
    let mut v = slot.load(if wait {
        Ordering::Acquire
    } else {
        Ordering::Relaxed
    });
    if v == 0 && wait {
        v = wait_published(slot);
    }
    slot.store(0, Ordering::Relaxed);
    v
}

#[inline(always)]
fn publish(table: &[AtomicUsize], i: u32, p: *mut u8) {
    let v = if p.is_null() { FAILED } else { p as usize };
    // SAFETY: Program::validate guaranteed i < table.len().
    unsafe { table.get_unchecked(i as usize) }.store(v, Ordering::Release);
}

#[inline(always)]
fn real(v: usize) -> *mut u8 {
    if v <= FAILED {
        std::ptr::null_mut()
    } else {
        v as *mut u8
    }
}

fn aligned_kind(kind: Kind) -> AlignedKind {
    match kind {
        Kind::PosixMemalign => AlignedKind::PosixMemalign,
        Kind::AlignedAlloc => AlignedKind::AlignedAlloc,
        Kind::Memalign => AlignedKind::Memalign,
        Kind::Valloc => AlignedKind::Valloc,
        _ => AlignedKind::Pvalloc,
    }
}

// ---------------------------------------------------------------------------------------------------
// Walks (`--walk N`)

/// Reads the byte at `p + dep` and returns a zero computed from it: a walk passes it to its next read, so
/// that read's address depends on this one's value and the reads are made one after the other, as a
/// linked list's are (CPython's collector follows the list through each object's header). Cost: a load
/// and an `and` on the load's result; the CPU cannot start the next load before this one completes, and
/// the only help it gets is from its prefetchers following the addresses. (Independent loads would
/// overlap in the out-of-order window and hide most of the placement's effect.)
///
/// # Safety
/// `p + dep` must be readable (a live block's first byte); the byte may be uninitialised (it is read
/// into a register, never into a Rust value).
#[inline(always)]
unsafe fn read_chained(p: usize, dep: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let x: usize;
        // SAFETY: the caller guarantees `p + dep` is readable; the asm reads one byte there and
        // writes only `x` and the flags.
        unsafe {
            core::arch::asm!(
                "movzx {x:e}, byte ptr [{p} + {d}]",
                "and {x:e}, 0",
                p = in(reg) p,
                d = in(reg) dep,
                x = lateout(reg) x,
                options(nostack, readonly),
            );
        }
        x
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        // SAFETY: the caller guarantees `p + dep` is readable; `MaybeUninit` reads it without
        // asserting it is initialised.
        unsafe { std::ptr::read_volatile((p + dep) as *const std::mem::MaybeUninit<u8>) };
        0
    }
}

/// CPython's `gc.get_threshold()[1]` and `[2]`: the middle generation is walked after more than this
/// many walks of the youngest, the oldest after more than this many of the middle.
pub const WALK_OLDER_EVERY: u32 = 10;

/// A replay thread's walks over its live blocks in allocation order (`--walk N`), scheduled as CPython's
/// cyclic collector schedules its collections: a program whose objects are walked by a collector or by
/// its own loops runs faster when consecutive allocations lie close together, and a replay of the calls
/// alone cannot see that (docs/experiments/harness.md, "py_dict" and "Walks").
///
/// The blocks are listed in allocation order, `list = [oldest | middle | young)`:
/// ```text
/// list: (slot, tag) …  [0, mid)         [mid, young)        [young, len)
///                      generation 2     generation 1        generation 0 (since the last walk)
/// ```
/// Every `young_every` allocations of the thread it walks generation 0, or, as CPython picks, the oldest
/// generation whose counter is due: generation 1 after more than [`WALK_OLDER_EVERY`] walks of generation
/// 0, generation 2 after more than [`WALK_OLDER_EVERY`] walks of generation 1 *and* once the blocks moved
/// to generation 2 since its last walk are at least a quarter of those it kept then (CPython's
/// `long_lived_pending >= long_lived_total / 4`). A walk of generation `g` reads the first byte of every
/// still-live block of generations `0..=g`, oldest first, each read's address depending on the previous
/// read's value ([`read_chained`]), drops the entries of freed blocks and moves the survivors to
/// generation `g + 1` (2 stays 2).
///
/// Cost: one tag store and one entry push per allocation; a walk visits at most the entries listed since
/// the walked generation's last walk, so the young walks visit each entry once, the middle ones at most
/// 11 `young_every` entries per 11 `young_every` allocations, and the oldest (the quarter rule) at most
/// about five entries per block moved to it: a bounded number of visits per allocation, whatever the
/// workload's length or live set.
///
/// Invariants ([`Walker::check_invariants`]): `mid <= young <= list.len()`; every entry's slot is one of
/// the thread's own slots; `tags[slot]` is the tag of the slot's current block (the last registered),
/// so an entry is live iff its slot holds a block and its tag is the slot's; tags are unique per thread
/// up to wrap-around of the 32-bit counter (an entry that survives 2^32 of the thread's allocations
/// unwalked and whose slot then holds the block tagged the same is read twice, which is harmless).
///
/// Only the slots the thread alone touches (its local slots, [`Program::own_slots`]) are listed: a block
/// in a shared slot may be freed by its consumer at any moment, so reading it could read freed memory.
#[derive(Debug, Default)]
pub struct Walker {
    young_every: u32,
    own: std::ops::Range<usize>,
    tags: Vec<u32>,
    next_tag: u32,
    list: Vec<(u32, u32)>,
    mid: usize,
    young: usize,
    since: u32,
    young_walks: u32,
    mid_walks: u32,
    long_lived_total: usize,
    long_lived_pending: usize,
    walks: u64,
    walked: u64,
}

impl Walker {
    /// The walker of a thread that owns `own` (slots of the object table) and makes at most `allocs`
    /// allocations; `young_every` 0 = no walks (nothing is allocated). Its memory is written here, so
    /// that the timed region does not fault it in: a tag per own slot and room for `list` to hold every
    /// own slot plus the generation-1 and pending generation-2 entries of a typical run.
    pub fn new(young_every: u32, own: std::ops::Range<usize>, allocs: u64) -> Walker {
        if young_every == 0 {
            return Walker::default();
        }
        let slots = own.len();
        let cap = (slots as u64)
            .saturating_add(16 * young_every as u64 * WALK_OLDER_EVERY as u64)
            .min(allocs.max(1)) as usize;
        let mut list = vec![(0u32, 0u32); cap];
        list.clear();
        Walker {
            young_every,
            own,
            tags: vec![u32::MAX; slots],
            next_tag: 0,
            list,
            ..Walker::default()
        }
    }

    /// Called after each allocation of the thread into `slot` (the op's `obj`), once the slot holds the
    /// result: lists the block if the slot is one of the thread's own and holds a block, then walks if a
    /// walk is due. Cost without a walk: a range test, a slot load, a tag store, a push, a counter test.
    #[inline(always)]
    fn on_alloc(&mut self, slot: u32, table: &[AtomicUsize]) {
        let s = slot as usize;
        if self.own.contains(&s) {
            // SAFETY: Program::validate guaranteed slot < table.len().
            let v = unsafe { table.get_unchecked(s) }.load(Ordering::Relaxed);
            if v > FAILED {
                self.next_tag = self.next_tag.wrapping_add(1);
                // SAFETY: `s` is in `own`, and `tags` has one entry per slot of `own`.
                *unsafe { self.tags.get_unchecked_mut(s - self.own.start) } = self.next_tag;
                self.list.push((slot, self.next_tag));
            }
        }
        self.since += 1;
        if self.since >= self.young_every {
            self.walk(table);
        }
    }

    /// One walk: picks the generation as CPython does, reads its and the younger generations' live
    /// blocks in allocation order, compacts the list and promotes the survivors.
    #[cold]
    #[inline(never)]
    fn walk(&mut self, table: &[AtomicUsize]) {
        self.since = 0;
        let gen = if self.mid_walks > WALK_OLDER_EVERY
            && self.long_lived_pending >= self.long_lived_total / 4
        {
            2
        } else if self.young_walks > WALK_OLDER_EVERY {
            1
        } else {
            0
        };
        let start = match gen {
            0 => self.young,
            1 => self.mid,
            _ => 0,
        };
        let mut kept = start;
        let mut dep = 0;
        for r in start..self.list.len() {
            let (slot, tag) = self.list[r];
            // SAFETY: listed slots are own slots (< table.len(), see `on_alloc`).
            let v = unsafe { table.get_unchecked(slot as usize) }.load(Ordering::Relaxed);
            if v > FAILED && self.tags[slot as usize - self.own.start] == tag {
                // SAFETY: `v` is the live block of an own slot: only this thread frees or replaces it,
                // and it is not doing so now; `dep` is 0. Every allocator here hands out at least one
                // usable byte at the block's start (even for size 0).
                dep = unsafe { read_chained(v, dep) };
                self.list[kept] = (slot, tag);
                kept += 1;
            }
        }
        self.walked += (kept - start) as u64;
        self.walks += 1;
        self.list.truncate(kept);
        match gen {
            0 => {
                self.young_walks += 1;
            }
            1 => {
                self.long_lived_pending += kept - self.mid;
                self.young_walks = 0;
                self.mid_walks += 1;
                self.mid = kept;
            }
            _ => {
                self.long_lived_total = kept;
                self.long_lived_pending = 0;
                self.young_walks = 0;
                self.mid_walks = 0;
                self.mid = kept;
            }
        }
        self.young = kept;
    }

    /// Walks made and live blocks read so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.walks, self.walked)
    }

    /// Checks the invariants of the type's documentation (tests and debug builds).
    pub fn check_invariants(&self, table: &[AtomicUsize]) {
        assert!(self.mid <= self.young && self.young <= self.list.len());
        assert!(self.since < self.young_every.max(1));
        for &(slot, _) in &self.list {
            assert!(
                self.own.contains(&(slot as usize)),
                "slot {slot} is not own"
            );
            assert!((slot as usize) < table.len());
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// The replay loop

/// Executes one op: malloc and free inline (most calls of real programs), every other kind through
/// [`exec_other`]. Without `--check` a free costs the kind test, one slot load and store (plus the
/// wait test) and the call; a malloc the kind tests, the call, the touch and one slot store.
///
/// With `W` (`--walk`) every allocating op then calls [`Walker::on_alloc`]; without it the walker is not
/// touched and the loop is the one without walks.
#[inline(always)]
fn exec_fast<A: Allocator, const CHECK: bool, const T: u8, const W: bool>(
    op: &Op,
    table: &[AtomicUsize],
    ck: &Checker,
    failures: &mut u64,
    walker: &mut Walker,
) {
    let t = Touch::of_code(T);
    if !CHECK {
        match op.kind_code() {
            FREE => {
                let v = take(table, op.obj, op.wait());
                touch_before_free(v, t);
                if v > FAILED {
                    // SAFETY: slot values > FAILED are live blocks of backend A (object-table invariant).
                    unsafe { A::free(v as *mut u8) };
                }
                return;
            }
            MALLOC => {
                let size = op.size() as usize;
                // SAFETY: backend initialised by the caller of `replay`.
                let p = unsafe { A::malloc(size) };
                if p.is_null() {
                    malloc_failed(table, op.obj, size, failures);
                    return;
                }
                touch(p, size, t);
                publish(table, op.obj, p);
                if W {
                    walker.on_alloc(op.obj, table);
                }
                return;
            }
            _ => {}
        }
    }
    *failures += exec_other::<A, CHECK, T>(op, table, ck);
    if W && op.kind_code() != FREE {
        walker.on_alloc(op.obj, table);
    }
}

/// A malloc returned NULL: counted if the size was not 0, the slot published as [`FAILED`].
#[cold]
#[inline(never)]
fn malloc_failed(table: &[AtomicUsize], obj: u32, size: usize, failures: &mut u64) {
    *failures += (size != 0) as u64;
    publish(table, obj, std::ptr::null_mut());
}

const FREE: u64 = Kind::Free as u64;
const MALLOC: u64 = Kind::Malloc as u64;

/// The kinds [`exec_fast`] does not inline (all of them with `--check`), out of line so that the loop
/// keeps its registers for malloc and free.
#[inline(never)]
fn exec_other<A: Allocator, const CHECK: bool, const T: u8>(
    op: &Op,
    table: &[AtomicUsize],
    ck: &Checker,
) -> u64 {
    exec::<A, CHECK>(op, table, Touch::of_code(T), ck)
}

/// Executes one op. Returns 1 if an allocation failed, else 0.
#[inline(always)]
fn exec<A: Allocator, const CHECK: bool>(
    op: &Op,
    table: &[AtomicUsize],
    t: Touch,
    ck: &Checker,
) -> u64 {
    let size = op.size() as usize;
    match op.kind() {
        Kind::Free => {
            let v = take(table, op.obj, op.wait());
            if CHECK {
                ck.remove(v);
            } else {
                touch_before_free(v, t);
            }
            if v > FAILED {
                // SAFETY: slot values > FAILED are live blocks of backend A (object-table invariant).
                unsafe { A::free(v as *mut u8) };
            }
            0
        }
        Kind::Malloc => {
            // SAFETY: backend initialised by the caller of `replay`.
            let p = unsafe { A::malloc(size) };
            if CHECK {
                ck.on_alloc::<A>(Kind::Malloc, p, size, 0, op.obj, false);
            } else {
                touch(p, size, t);
            }
            publish(table, op.obj, p);
            (p.is_null() && size != 0) as u64
        }
        Kind::Calloc => {
            let n = op.arg() as usize;
            // SAFETY: as malloc.
            let p = unsafe { A::calloc(n, size) };
            let total = n.saturating_mul(size);
            if CHECK {
                ck.on_alloc::<A>(Kind::Calloc, p, total, 0, op.obj, true);
            } else {
                touch(p, total, t);
            }
            publish(table, op.obj, p);
            (p.is_null() && total != 0) as u64
        }
        Kind::Realloc => {
            let old = if op.old() == NO_OBJECT {
                0
            } else {
                take(table, op.old(), op.wait())
            };
            let prev = if CHECK { ck.remove(old) } else { None };
            // SAFETY: `old` is null or a live block of A (object-table invariant).
            let p = unsafe { A::realloc(real(old), size) };
            let failed = p.is_null() && size != 0;
            if failed && old > FAILED {
                // realloc failed: the old block stays live and keeps its identity in the new slot.
                if CHECK {
                    if let Some((s, o)) = prev {
                        ck.insert(Kind::Realloc, old, s, o);
                    }
                }
                publish(table, op.obj, old as *mut u8);
                return 1;
            }
            if CHECK {
                ck.after_realloc::<A>(p, size, op.obj, prev);
            } else {
                touch(p, size, t);
            }
            publish(table, op.obj, p);
            failed as u64
        }
        kind => {
            let align = op.arg() as usize;
            // SAFETY: Program::validate checked that the alignment is a power of two.
            let p = unsafe { A::aligned(aligned_kind(kind), align, size) };
            if CHECK {
                let need = match kind {
                    Kind::Valloc | Kind::Pvalloc => 4096,
                    _ => align,
                };
                ck.on_alloc::<A>(kind, p, size, need, op.obj, false);
            } else {
                touch(p, size, t);
            }
            publish(table, op.obj, p);
            (p.is_null() && size != 0) as u64
        }
    }
}

/// Waits for the block a sampled op consumes before its latency bracket opens: a sync wait is not the
/// allocator's latency.
#[inline(always)]
fn wait_before_timing(op: &Op, table: &[AtomicUsize]) {
    if op.wait() {
        let i = if op.kind() == Kind::Realloc {
            op.old()
        } else {
            op.obj
        };
        if i != NO_OBJECT {
            // SAFETY: Program::validate guaranteed i < table.len().
            let slot = unsafe { table.get_unchecked(i as usize) };
            if slot.load(Ordering::Acquire) == 0 {
                wait_published(slot);
            }
        }
    }
}

/// The timed loop of one thread: chunks of `every` ops, the first of each chunk timed.
fn run_ops<A: Allocator, const CHECK: bool, const T: u8, const W: bool>(
    ops: &[Op],
    table: &[AtomicUsize],
    every: u32,
    lat: &mut LatencyBuf,
    ck: &Checker,
    walker: &mut Walker,
) -> u64 {
    let mut failures = 0;
    if every == 0 {
        for op in ops {
            exec_fast::<A, CHECK, T, W>(op, table, ck, &mut failures, walker);
        }
        return failures;
    }
    for chunk in ops.chunks(every as usize) {
        let (first, rest) = chunk.split_first().expect("chunks are non-empty");
        wait_before_timing(first, table);
        let t0 = ticks();
        exec_fast::<A, CHECK, T, W>(first, table, ck, &mut failures, walker);
        let t1 = ticks();
        lat.push(first.kind(), t1.wrapping_sub(t0));
        for op in rest {
            exec_fast::<A, CHECK, T, W>(op, table, ck, &mut failures, walker);
        }
    }
    failures
}

/// [`run_ops`] with a [`Pace`] wait before every op, outside the latency bracket (a separate loop, so
/// that the unpaced loop keeps no pacing test).
fn run_ops_paced<A: Allocator, const CHECK: bool, const T: u8, const W: bool>(
    ops: &[Op],
    table: &[AtomicUsize],
    every: u32,
    lat: &mut LatencyBuf,
    ck: &Checker,
    pace: Pace,
    walker: &mut Walker,
) -> u64 {
    let mut failures = 0;
    let every = if every == 0 {
        usize::MAX
    } else {
        every as usize
    };
    for chunk in ops.chunks(every) {
        let (first, rest) = chunk.split_first().expect("chunks are non-empty");
        pace.wait();
        if every == usize::MAX {
            exec_fast::<A, CHECK, T, W>(first, table, ck, &mut failures, walker);
        } else {
            wait_before_timing(first, table);
            let t0 = ticks();
            exec_fast::<A, CHECK, T, W>(first, table, ck, &mut failures, walker);
            lat.push(first.kind(), ticks().wrapping_sub(t0));
        }
        for op in rest {
            pace.wait();
            exec_fast::<A, CHECK, T, W>(op, table, ck, &mut failures, walker);
        }
    }
    failures
}

/// Replays `program` through `A` with one thread per op stream. The caller has initialised `A`.
pub fn replay<A: Allocator>(program: &Program, opts: Options) -> Outcome {
    // One loop per touch mode, so that an op does not test the mode (`--check` fills blocks itself).
    const NONE: u8 = Touch::None.code();
    const FIRST: u8 = Touch::First.code();
    const LINE: u8 = Touch::Line.code();
    const ALL: u8 = Touch::All.code();
    const USE: u8 = Touch::Use.code();
    if opts.walk > 0 {
        // With walks: a second set of loops, so that the loops without them keep no walk code.
        return match (opts.check, opts.touch) {
            (true, _) => replay_impl::<A, true, NONE, true>(program, opts),
            (false, Touch::None) => replay_impl::<A, false, NONE, true>(program, opts),
            (false, Touch::First) => replay_impl::<A, false, FIRST, true>(program, opts),
            (false, Touch::Line) => replay_impl::<A, false, LINE, true>(program, opts),
            (false, Touch::All) => replay_impl::<A, false, ALL, true>(program, opts),
            (false, Touch::Use) => replay_impl::<A, false, USE, true>(program, opts),
        };
    }
    match (opts.check, opts.touch) {
        (true, _) => replay_impl::<A, true, NONE, false>(program, opts),
        (false, Touch::None) => replay_impl::<A, false, NONE, false>(program, opts),
        (false, Touch::First) => replay_impl::<A, false, FIRST, false>(program, opts),
        (false, Touch::Line) => replay_impl::<A, false, LINE, false>(program, opts),
        (false, Touch::All) => replay_impl::<A, false, ALL, false>(program, opts),
        (false, Touch::Use) => replay_impl::<A, false, USE, false>(program, opts),
    }
}

/// Largest request the warm-up makes (32 KiB): larger blocks come from mappings or from the allocators'
/// large-block paths, whose state a warm-up call would change rather than prepare (glibc raises its mmap
/// threshold after freeing a mapped block).
pub const WARMUP_MAX_SIZE: u64 = 32 << 10;

/// The warm-up's size class of a request: multiples of 16 up to 1 KiB, then four classes per power of
/// two (the granularity of mimalloc's, jemalloc's and tcmalloc's classes, finer than glibc's bins where
/// it matters); `None` for 0 and for requests above [`WARMUP_MAX_SIZE`].
fn warmup_class(size: u64) -> Option<u64> {
    if size == 0 || size > WARMUP_MAX_SIZE {
        return None;
    }
    if size <= 1024 {
        return Some(size.next_multiple_of(16));
    }
    let quarter = (1u64 << (63 - (size - 1).leading_zeros())) / 4;
    Some(size.next_multiple_of(quarter))
}

/// The requests a thread's warm-up makes: one per size class ([`warmup_class`]) of the blocks its ops
/// allocate (malloc, calloc's product, realloc's new size, aligned kinds' size), ascending.
pub fn warmup_sizes(ops: &[Op]) -> Vec<usize> {
    let classes: std::collections::BTreeSet<u64> = ops
        .iter()
        .filter_map(|op| {
            let size = match op.kind() {
                Kind::Free => return None,
                Kind::Calloc => op.size().saturating_mul(op.arg() as u64),
                _ => op.size(),
            };
            warmup_class(size)
        })
        .collect();
    classes.into_iter().map(|c| c as usize).collect()
}

/// One malloc per size of `sizes` (each block's first byte written, as a program's first use would),
/// then a free of each; returns the calls made. Runs before the barrier: nothing here is timed.
fn warm_up<A: Allocator>(sizes: &[usize]) -> u64 {
    let blocks: Vec<*mut u8> = sizes
        .iter()
        .map(|&size| {
            // SAFETY: backend initialised by the caller of `replay`.
            let p = unsafe { A::malloc(size) };
            touch(p, size, Touch::First);
            p
        })
        .collect();
    for &p in &blocks {
        if !p.is_null() {
            // SAFETY: `p` was just returned by A::malloc and is freed once.
            unsafe { A::free(p) };
        }
    }
    2 * blocks.len() as u64
}

/// Latency samples kept per sample at most (8 bytes each): a longer workload is sampled more sparsely.
const MAX_LATENCY_SAMPLES: u64 = 8 << 20;

fn replay_impl<A: Allocator, const CHECK: bool, const T: u8, const W: bool>(
    program: &Program,
    opts: Options,
) -> Outcome {
    let table: Vec<AtomicUsize> = (0..program.object_slots)
        .map(|_| AtomicUsize::new(0))
        .collect();
    let ck = Checker::new();
    let nthreads = program.threads.len();
    let barrier = Barrier::new(nthreads + 1);
    let every = match opts.latency_every {
        0 => 0,
        e => e.max(
            u32::try_from(program.total_ops().div_ceil(MAX_LATENCY_SAMPLES)).unwrap_or(u32::MAX),
        ),
    };
    let mut bufs: Vec<LatencyBuf> = (0..nthreads)
        .map(|t| LatencyBuf::with_capacity(program.thread_ops(t), every))
        .collect();
    let blocks = program.blocks.as_deref();
    let pace = (opts.pace_ns > 0).then(|| Pace::calibrate(opts.pace_ns));
    let (before, base, results) = std::thread::scope(|s| {
        let (table, ck, barrier) = (&table[..], &ck, &barrier);
        let handles: Vec<_> = program
            .threads
            .iter()
            .zip(bufs.iter_mut())
            .enumerate()
            .map(|(t, (ops, lat))| {
                s.spawn(move || {
                    // Long workloads: a cursor past the first block and a refill buffer of the same
                    // size, its pages touched now so that refills do not fault in the timed region.
                    let mut more = blocks.map(|b| {
                        let mut buf =
                            vec![Op::new(Kind::Free, 0, 0, 0, NO_OBJECT, false); ops.len()];
                        buf.clear();
                        (b.cursor(t, ops.len()), buf)
                    });
                    let sizes = if opts.warmup {
                        warmup_sizes(ops)
                    } else {
                        Vec::new()
                    };
                    let mut walker = if W {
                        Walker::new(opts.walk, program.own_slots(t), program.thread_ops(t))
                    } else {
                        Walker::default()
                    };
                    let mut run = |ops: &[Op], walker: &mut Walker| match pace {
                        None => run_ops::<A, CHECK, T, W>(ops, table, every, lat, ck, walker),
                        Some(p) => {
                            run_ops_paced::<A, CHECK, T, W>(ops, table, every, lat, ck, p, walker)
                        }
                    };
                    // Set up (the scan for the warm-up's sizes reads every op); the driver reads the
                    // baseline RSS. The warm-up's blocks are the allocator's memory and count in its
                    // heap peak (a THP allocator faults in huge pages there); its time does not: the
                    // driver reads the CPU time after it, then the start.
                    barrier.wait();
                    let warm = if opts.warmup { warm_up::<A>(&sizes) } else { 0 };
                    barrier.wait();
                    barrier.wait();
                    let start = Instant::now();
                    let t0 = ticks();
                    let mut f = run(ops, &mut walker);
                    if let Some((cursor, buf)) = &mut more {
                        while cursor.refill(buf) {
                            f += run(buf, &mut walker);
                        }
                    }
                    let t1 = ticks();
                    let end = Instant::now();
                    if W && (cfg!(debug_assertions) || cfg!(test)) {
                        walker.check_invariants(table);
                    }
                    (f, Span { start, end, t0, t1 }, warm, walker.counts())
                })
            })
            .collect();
        // The baseline RSS once every thread is set up (the harness's pages are not the allocator's),
        // the CPU time once every thread has warmed up (start-up is not the replay's time).
        barrier.wait();
        let base = start_baseline();
        barrier.wait();
        let before = usage();
        barrier.wait();
        let results: Vec<(u64, Span, u64, (u64, u64))> = handles
            .into_iter()
            .map(|h| h.join().expect("a replay thread panicked"))
            .collect();
        (before, base, results)
    });
    let spans: Vec<Span> = results.iter().map(|r| r.1).collect();
    let mut outcome = Outcome {
        ops: program.total_ops(),
        alloc_failures: results.iter().map(|r| r.0).sum(),
        warmup_calls: results.iter().map(|r| r.2).sum(),
        walks: results.iter().map(|r| r.3 .0).sum(),
        walked_blocks: results.iter().map(|r| r.3 .1).sum(),
        baseline_rss_bytes: base.0,
        peak_reset: base.1,
        ..Outcome::default()
    };
    finish(&mut outcome, &before, &spans, &bufs);
    free_leftovers::<A>(&table);
    (outcome.violations, outcome.violation_count) = ck.into_lines();
    outcome
}

/// Frees what the workload left live (outside the timed region).
fn free_leftovers<A: Allocator>(table: &[AtomicUsize]) {
    for slot in table {
        let v = slot.swap(0, Ordering::Relaxed);
        if v > FAILED {
            // SAFETY: slot values > FAILED are live blocks of backend A.
            unsafe { A::free(v as *mut u8) };
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// Live benchmarks

/// Parameters of the live random-mixed loop (the memo's `bench_random_mixed ITERS WS SEED`).
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct RandomMixed {
    /// Steps.
    pub iters: u64,
    /// Working set: number of slots.
    pub ws: u32,
    /// PRNG seed.
    pub seed: u64,
    /// Smallest size drawn.
    pub min: u32,
    /// Largest size drawn.
    pub max: u32,
}

/// The memo's loop run live through `A`: each step picks a slot; an occupied slot is freed, an empty one
/// gets a malloc of a drawn size; at the end the remaining blocks are freed (inside the timed region, as
/// the generated workload does). `step` yields `(slot, size)` for each step; it is inlined into the loop.
pub fn bench_random_mixed<A: Allocator>(
    p: RandomMixed,
    mut step: impl FnMut() -> (u32, u32),
    opts: Options,
) -> Outcome {
    let mut slots = vec![0usize; p.ws.max(1) as usize];
    let mut lat = LatencyBuf::with_capacity(p.iters + p.ws as u64, opts.latency_every);
    let t = opts.touch;
    let mut failures = 0u64;
    // One step; cost: the generator, one slot load/store, the allocator call, the touch.
    let mut one = |slots: &mut [usize], failures: &mut u64| -> Kind {
        let (slot, size) = step();
        let s = &mut slots[slot as usize % slots.len()];
        if *s != 0 {
            if *s > FAILED {
                // SAFETY: slot values > FAILED are live blocks of A.
                unsafe { A::free(*s as *mut u8) };
            }
            *s = 0;
            Kind::Free
        } else {
            // SAFETY: backend initialised by the caller.
            let q = unsafe { A::malloc(size as usize) };
            touch(q, size as usize, t);
            *failures += q.is_null() as u64;
            *s = if q.is_null() { FAILED } else { q as usize };
            Kind::Malloc
        }
    };
    let base = start_baseline();
    let before = usage();
    let start = Instant::now();
    let t0 = ticks();
    let every = opts.latency_every as u64;
    let mut i = 0;
    while i < p.iters {
        if every == 0 {
            one(&mut slots, &mut failures);
            i += 1;
            continue;
        }
        let n = every.min(p.iters - i);
        let a = ticks();
        let kind = one(&mut slots, &mut failures);
        let b = ticks();
        lat.push(kind, b.wrapping_sub(a));
        for _ in 1..n {
            one(&mut slots, &mut failures);
        }
        i += n;
    }
    let mut ops = p.iters;
    for s in slots.iter_mut() {
        if *s != 0 {
            if *s > FAILED {
                // SAFETY: slot values > FAILED are live blocks of A.
                unsafe { A::free(*s as *mut u8) };
            }
            *s = 0;
            ops += 1;
        }
    }
    let t1 = ticks();
    let span = Span {
        start,
        end: Instant::now(),
        t0,
        t1,
    };
    let mut outcome = Outcome {
        ops,
        alloc_failures: failures,
        baseline_rss_bytes: base.0,
        peak_reset: base.1,
        ..Outcome::default()
    };
    finish(&mut outcome, &before, &[span], &[lat]);
    outcome
}

/// Parameters of the live producer-consumer benchmark.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct ProducerConsumer {
    /// Blocks passed from the producer to the consumer.
    pub iters: u64,
    /// Ring capacity (blocks in flight), rounded up to a power of two.
    pub depth: u32,
    /// PRNG seed for the sizes.
    pub seed: u64,
    /// Smallest size drawn.
    pub min: u32,
    /// Largest size drawn.
    pub max: u32,
}

#[repr(align(128))]
struct Padded(std::sync::atomic::AtomicU64);

/// Two threads: the producer mallocs blocks and passes them through a bounded single-producer
/// single-consumer ring; the consumer frees every one of them (every free is a cross-thread free).
///
/// No deadlock: each side publishes all its progress before it waits, so when the producer waits the ring
/// is really full (the consumer can go on) and when the consumer waits it is really empty.
pub fn bench_producer_consumer<A: Allocator>(p: ProducerConsumer, opts: Options) -> Outcome {
    let depth = (p.depth.max(1) as usize).next_power_of_two();
    let mask = depth as u64 - 1;
    // Indices are published every `batch` items (and before any wait), so the two cores do not bounce
    // the head and tail cache lines on every block: the figure is the allocator's, not the ring's.
    let batch = (depth as u64 / 2).clamp(1, 32);
    let ring: Vec<AtomicUsize> = (0..depth).map(|_| AtomicUsize::new(0)).collect();
    let head = Padded(AtomicU64::new(0));
    let tail = Padded(AtomicU64::new(0));
    let barrier = Barrier::new(3);
    let mut bufs = vec![
        LatencyBuf::with_capacity(p.iters, opts.latency_every),
        LatencyBuf::with_capacity(p.iters, opts.latency_every),
    ];
    let every = opts.latency_every as u64;
    let t = opts.touch;
    let (before, base, spans, failures) = std::thread::scope(|s| {
        let (ring, head, tail, barrier) = (&ring[..], &head.0, &tail.0, &barrier);
        let (bp, bc) = bufs.split_at_mut(1);
        let (lp, lc) = (&mut bp[0], &mut bc[0]);
        let producer = s.spawn(move || {
            let mut rng = SplitMix64(p.seed);
            let span_sz = (p.max.max(p.min) - p.min) as u64 + 1;
            let mut failures = 0u64;
            let mut seen_tail = 0u64;
            barrier.wait();
            let start = Instant::now();
            let t0 = ticks();
            for i in 0..p.iters {
                let size = (p.min as u64 + rng.next() % span_sz) as usize;
                let timed = every != 0 && i % every == 0;
                let a = if timed { ticks() } else { 0 };
                // SAFETY: backend initialised by the caller.
                let q = unsafe { A::malloc(size) };
                if timed {
                    lp.push(Kind::Malloc, ticks().wrapping_sub(a));
                }
                touch(q, size, t);
                failures += q.is_null() as u64;
                if i - seen_tail >= depth as u64 {
                    // Full (as far as we know): publish what we have, then wait for the consumer.
                    head.store(i, Ordering::Release);
                    let mut spins = 0u32;
                    loop {
                        seen_tail = tail.load(Ordering::Acquire);
                        if i - seen_tail < depth as u64 {
                            break;
                        }
                        spins += 1;
                        if spins < 64 {
                            std::hint::spin_loop();
                        } else {
                            std::thread::yield_now();
                        }
                    }
                }
                ring[(i & mask) as usize].store(q as usize, Ordering::Relaxed);
                if (i + 1) % batch == 0 {
                    head.store(i + 1, Ordering::Release);
                }
            }
            head.store(p.iters, Ordering::Release);
            (
                Span {
                    start,
                    end: Instant::now(),
                    t0,
                    t1: ticks(),
                },
                failures,
            )
        });
        let consumer = s.spawn(move || {
            barrier.wait();
            let start = Instant::now();
            let t0 = ticks();
            let mut seen_head = 0u64;
            for i in 0..p.iters {
                if i >= seen_head {
                    // Empty (as far as we know): publish our progress, then wait for the producer.
                    tail.store(i, Ordering::Release);
                    let mut spins = 0u32;
                    loop {
                        seen_head = head.load(Ordering::Acquire);
                        if i < seen_head {
                            break;
                        }
                        spins += 1;
                        if spins < 64 {
                            std::hint::spin_loop();
                        } else {
                            std::thread::yield_now();
                        }
                    }
                }
                let q = ring[(i & mask) as usize].load(Ordering::Relaxed);
                if (i + 1) % batch == 0 {
                    tail.store(i + 1, Ordering::Release);
                }
                let timed = every != 0 && i % every == 0;
                let a = if timed { ticks() } else { 0 };
                // SAFETY: `q` is null or a live block of A handed over by the producer, freed once.
                unsafe { A::free(q as *mut u8) };
                if timed {
                    lc.push(Kind::Free, ticks().wrapping_sub(a));
                }
            }
            Span {
                start,
                end: Instant::now(),
                t0,
                t1: ticks(),
            }
        });
        let base = start_baseline();
        let before = usage();
        barrier.wait();
        let (sp, failures) = producer.join().expect("producer panicked");
        let sc = consumer.join().expect("consumer panicked");
        (before, base, [sp, sc], failures)
    });
    let mut outcome = Outcome {
        ops: 2 * p.iters,
        alloc_failures: failures,
        baseline_rss_bytes: base.0,
        peak_reset: base.1,
        ..Outcome::default()
    };
    finish(&mut outcome, &before, &spans, &bufs);
    outcome
}

/// SplitMix64 (Steele, Lea, Flood 2014): a small PRNG with full 64-bit output, used for live sizes.
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// Next 64 random bits.
    #[inline(always)]
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An allocator that breaks every rule `--check` verifies; it never frees (blocks leak).
    struct Broken;

    impl Allocator for Broken {
        const NAME: &'static str = "broken";
        unsafe fn malloc(size: usize) -> *mut u8 {
            // SAFETY: plain C call.
            unsafe { libc::malloc(size.max(1)).cast() }
        }
        unsafe fn calloc(nmemb: usize, size: usize) -> *mut u8 {
            // SAFETY: plain C calls; the block has nmemb * size bytes.
            unsafe {
                let p = libc::malloc((nmemb * size).max(1)).cast::<u8>();
                std::ptr::write_bytes(p, 0xFF, nmemb * size);
                p
            }
        }
        unsafe fn realloc(_p: *mut u8, size: usize) -> *mut u8 {
            // SAFETY: plain C call (the old contents are deliberately not copied).
            unsafe { Self::calloc(1, size) }
        }
        unsafe fn free(_p: *mut u8) {}
        unsafe fn aligned(_kind: AlignedKind, align: usize, size: usize) -> *mut u8 {
            // SAFETY: the block has size + 2 * align bytes; the result stays inside it.
            unsafe {
                let p = libc::malloc(size + 2 * align) as usize;
                (p.div_ceil(align) * align + 8) as *mut u8
            }
        }
        unsafe fn usable_size(_p: *mut u8) -> usize {
            1
        }
    }

    fn op(kind: Kind, obj: u32, size: u64, arg: u32, old: u32) -> Op {
        Op::new(kind, obj, size, arg, old, false)
    }

    /// What a test allocator notes of each malloc (its size) and free.
    trait Observe {
        const NAME: &'static str;
        fn malloc(size: usize);
        fn free();
    }

    /// The system allocator, telling `H` of every malloc and free.
    struct Observed<H>(std::marker::PhantomData<H>);

    impl<H: Observe> Allocator for Observed<H> {
        const NAME: &'static str = H::NAME;
        unsafe fn malloc(size: usize) -> *mut u8 {
            H::malloc(size);
            // SAFETY: plain C call.
            unsafe { libc::malloc(size).cast() }
        }
        unsafe fn calloc(nmemb: usize, size: usize) -> *mut u8 {
            // SAFETY: plain C call.
            unsafe { libc::calloc(nmemb, size).cast() }
        }
        unsafe fn realloc(p: *mut u8, size: usize) -> *mut u8 {
            // SAFETY: the caller passes a live block of this allocator (libc's).
            unsafe { libc::realloc(p.cast(), size).cast() }
        }
        unsafe fn free(p: *mut u8) {
            H::free();
            // SAFETY: the caller passes a live block of this allocator (libc's).
            unsafe { libc::free(p.cast()) }
        }
        unsafe fn aligned(_kind: AlignedKind, align: usize, size: usize) -> *mut u8 {
            // SAFETY: plain C call with a power-of-two alignment.
            unsafe { libc::memalign(align, size).cast() }
        }
        unsafe fn usable_size(p: *mut u8) -> usize {
            // SAFETY: the caller passes a live block of this allocator (libc's).
            unsafe { libc::malloc_usable_size(p.cast()) }
        }
    }

    /// Logs every malloc's size (and a free as `usize::MAX`) in call order.
    struct Log;

    static LOG: Mutex<Vec<usize>> = Mutex::new(Vec::new());

    impl Observe for Log {
        const NAME: &'static str = "logged";
        fn malloc(size: usize) {
            LOG.lock().unwrap().push(size);
        }
        fn free() {
            LOG.lock().unwrap().push(usize::MAX);
        }
    }

    type Logged = Observed<Log>;

    #[test]
    fn warmup_classes_are_16_byte_steps_then_quarter_powers_of_two() {
        let c = |s| warmup_class(s);
        assert_eq!(
            (c(0), c(1), c(16), c(17), c(1024)),
            (None, Some(16), Some(16), Some(32), Some(1024))
        );
        assert_eq!(
            (c(1025), c(1280), c(1281), c(5000)),
            (Some(1280), Some(1280), Some(1536), Some(5120))
        );
        assert_eq!(
            (c(WARMUP_MAX_SIZE), c(WARMUP_MAX_SIZE + 1)),
            (Some(WARMUP_MAX_SIZE), None)
        );
    }

    #[test]
    fn warmup_calls_each_class_once_before_the_first_op_and_outside_ops() {
        // 24 and 30 share the class 32; 1 MiB is above the warm-up's limit; calloc counts its product.
        let ops = vec![
            op(Kind::Malloc, 0, 24, 0, NO_OBJECT),
            op(Kind::Malloc, 1, 30, 0, NO_OBJECT),
            op(Kind::Malloc, 2, 5000, 0, NO_OBJECT),
            op(Kind::Malloc, 3, 1 << 20, 0, NO_OBJECT),
            op(Kind::Calloc, 4, 100, 3, NO_OBJECT),
            op(Kind::Free, 0, 0, 0, NO_OBJECT),
            op(Kind::Free, 1, 0, 0, NO_OBJECT),
            op(Kind::Free, 2, 0, 0, NO_OBJECT),
            op(Kind::Free, 3, 0, 0, NO_OBJECT),
            op(Kind::Free, 4, 0, 0, NO_OBJECT),
        ];
        assert_eq!(warmup_sizes(&ops), vec![32, 304, 5120]);
        let program = Program {
            threads: vec![ops],
            object_slots: 5,
            blocks: None,
            own: Vec::new(),
        };
        program.validate().unwrap();
        let run = |warmup| {
            LOG.lock().unwrap().clear();
            let opts = Options {
                touch: Touch::First,
                check: false,
                latency_every: 0,
                warmup,
                pace_ns: 0,
                walk: 0,
            };
            let o = replay::<Logged>(&program, opts);
            (o, std::mem::take(&mut *LOG.lock().unwrap()))
        };
        const F: usize = usize::MAX;
        let program_calls = [24, 30, 5000, 1 << 20, F, F, F, F, F];
        let (cold, log) = run(false);
        assert_eq!((cold.ops, cold.warmup_calls), (10, 0));
        assert_eq!(log, program_calls);
        let (warm, log) = run(true);
        assert_eq!(
            (warm.ops, warm.warmup_calls, warm.alloc_failures),
            (10, 6, 0)
        );
        let mut expected = vec![32, 304, 5120, F, F, F];
        expected.extend(program_calls);
        assert_eq!(log, expected);
    }

    /// Counts mallocs and frees (for the paced replay's test; its own counters, so that it does not race
    /// with the tests that read [`LOG`]).
    struct Count;

    static COUNTED: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

    impl Observe for Count {
        const NAME: &'static str = "counted";
        fn malloc(_size: usize) {
            COUNTED[0].fetch_add(1, Ordering::Relaxed);
        }
        fn free() {
            COUNTED[1].fetch_add(1, Ordering::Relaxed);
        }
    }

    type Counted = Observed<Count>;

    #[test]
    fn a_paced_replay_makes_every_call_with_its_sync_points() {
        // Thread 0 allocates 300 blocks and frees the first 100; thread 1 frees the rest (sync marks).
        // Paced, with and without latency sampling (the paced loop's two branches), and checked.
        let t0: Vec<Op> = (0..300)
            .map(|i| op(Kind::Malloc, i, 16 + i as u64, 0, NO_OBJECT))
            .chain((0..100).map(|i| op(Kind::Free, i, 0, 0, NO_OBJECT)))
            .collect();
        let t1: Vec<Op> = (100..300)
            .map(|i| Op::new(Kind::Free, i, 0, 0, NO_OBJECT, true))
            .collect();
        let program = Program {
            threads: vec![t0, t1],
            object_slots: 300,
            blocks: None,
            own: Vec::new(),
        };
        program.validate().unwrap();
        for (latency_every, check) in [(0, false), (7, false), (0, true)] {
            let before = COUNTED.each_ref().map(|c| c.load(Ordering::Relaxed));
            let o = replay::<Counted>(
                &program,
                Options {
                    touch: Touch::Use,
                    check,
                    latency_every,
                    warmup: false,
                    pace_ns: 50,
                    walk: 0,
                },
            );
            let calls = COUNTED
                .each_ref()
                .map(|c| c.load(Ordering::Relaxed))
                .into_iter()
                .zip(before)
                .map(|(a, b)| a - b)
                .collect::<Vec<_>>();
            assert_eq!(calls, [300, 300], "latency every {latency_every}");
            assert_eq!((o.ops, o.alloc_failures, o.violation_count), (600, 0, 0));
            assert_eq!(o.latency_ns.is_empty(), latency_every == 0);
        }
    }

    #[test]
    fn pace_calibration_covers_the_requested_wait() {
        for ns in [1, 5, 1000, 10_000_000] {
            let p = Pace::calibrate(ns);
            assert!(p.iters >= 1 && p.ns_per_iter > 0.0, "{p:?}");
            assert!(p.iters as f64 * p.ns_per_iter >= ns as f64, "{ns}: {p:?}");
            assert!(
                (p.iters - 1) as f64 * p.ns_per_iter < ns as f64,
                "{ns}: more than one iteration too many: {p:?}"
            );
        }
    }

    #[test]
    fn check_reports_each_broken_rule() {
        let program = Program {
            threads: vec![vec![
                op(Kind::PosixMemalign, 0, 100, 256, NO_OBJECT),
                op(Kind::Calloc, 1, 8, 4, NO_OBJECT),
                op(Kind::Malloc, 2, 64, 0, NO_OBJECT),
                op(Kind::Realloc, 3, 128, 0, 2),
                op(Kind::Free, 0, 0, 0, NO_OBJECT),
            ]],
            object_slots: 4,
            blocks: None,
            own: Vec::new(),
        };
        program.validate().unwrap();
        let opts = Options {
            touch: Touch::First,
            check: true,
            latency_every: 0,
            warmup: false,
            pace_ns: 0,
            walk: 0,
        };
        let o = replay::<Broken>(&program, opts);
        assert_eq!(o.ops, 5);
        let all = o.violations.join("\n");
        for needle in [
            "not aligned to 256",
            "not zeroed",
            "lost the contents",
            "usable size 1 < 100",
        ] {
            assert!(all.contains(needle), "{needle:?} missing from:\n{all}");
        }
        assert_eq!(o.violation_count, o.violations.len() as u64);
    }

    #[test]
    fn touch_use_writes_every_line_and_reads_before_free() {
        // Thread 0 allocates blocks of 1..=4 cache lines and frees half of them; thread 1 frees the
        // rest (sync marks): every free of a `use` replay reads the block it frees.
        let t0: Vec<Op> = (0..400)
            .map(|i| op(Kind::Malloc, i, 1 + (i as u64 % 4) * 64, 0, NO_OBJECT))
            .chain((0..200).map(|i| op(Kind::Free, i, 0, 0, NO_OBJECT)))
            .collect();
        let t1: Vec<Op> = (200..400)
            .map(|i| Op::new(Kind::Free, i, 0, 0, NO_OBJECT, true))
            .collect();
        let program = Program {
            threads: vec![t0, t1],
            object_slots: 400,
            blocks: None,
            own: Vec::new(),
        };
        program.validate().unwrap();
        let o = replay::<crate::backend::System>(
            &program,
            Options {
                touch: Touch::Use,
                check: false,
                latency_every: 0,
                warmup: false,
                pace_ns: 0,
                walk: 0,
            },
        );
        assert_eq!((o.ops, o.alloc_failures), (800, 0));
        assert_eq!(Touch::Use.name(), "use");
    }

    #[test]
    fn a_correct_allocator_passes_the_check_with_sync_points() {
        // Thread 0 allocates into shared slots; thread 1 frees and reallocs them (sync marks).
        let t0 = (0..200)
            .map(|i| op(Kind::Malloc, i, 16 + i as u64, 0, NO_OBJECT))
            .collect();
        let mut t1: Vec<Op> = (0..100)
            .map(|i| Op::new(Kind::Free, i, 0, 0, NO_OBJECT, true))
            .collect();
        t1.extend((100..200).map(|i| Op::new(Kind::Realloc, i, 4096, 0, i, true)));
        let program = Program {
            threads: vec![t0, t1],
            object_slots: 200,
            blocks: None,
            own: Vec::new(),
        };
        program.validate().unwrap();
        let o = replay::<crate::backend::System>(
            &program,
            Options {
                touch: Touch::All,
                check: true,
                latency_every: 8,
                warmup: false,
                pace_ns: 0,
                walk: 0,
            },
        );
        assert_eq!(o.ops, 400);
        assert_eq!(o.alloc_failures, 0);
        assert!(o.violations.is_empty(), "{:?}", o.violations);
        assert!(o.latency_ns["malloc"].samples > 0);
    }

    fn walk_opts(walk: u32) -> Options {
        Options {
            touch: Touch::First,
            check: false,
            latency_every: 0,
            warmup: false,
            pace_ns: 0,
            walk,
        }
    }

    fn one_thread(ops: Vec<Op>, slots: usize) -> Program {
        let program = Program {
            threads: vec![ops],
            object_slots: slots,
            blocks: None,
            own: Vec::new(),
        };
        program.validate().unwrap();
        program
    }

    /// `--walk` by hand: 100 blocks kept live, walks every 10 allocations: ten young walks of ten blocks
    /// each (the middle generation is due after more than ten young walks, so never here); off: none.
    #[test]
    fn young_walks_read_each_new_block_once() {
        let ops = (0..100)
            .map(|i| op(Kind::Malloc, i, 24, 0, NO_OBJECT))
            .collect();
        let program = one_thread(ops, 100);
        let o = replay::<crate::backend::System>(&program, walk_opts(10));
        assert_eq!((o.walks, o.walked_blocks, o.ops), (10, 100, 100));
        let o = replay::<crate::backend::System>(&program, walk_opts(0));
        assert_eq!((o.walks, o.walked_blocks), (0, 0));
    }

    /// The generations by hand: 130 blocks kept live, walks every 10: walks 1–11 are young (10 blocks
    /// each), walk 12 the middle generation (the 110 survivors and 10 young blocks), walk 13 young again.
    #[test]
    fn the_middle_generation_is_walked_after_eleven_young_walks() {
        let ops = (0..130)
            .map(|i| op(Kind::Malloc, i, 24, 0, NO_OBJECT))
            .collect();
        let program = one_thread(ops, 130);
        let o = replay::<crate::backend::System>(&program, walk_opts(10));
        assert_eq!((o.walks, o.walked_blocks), (13, 110 + 120 + 10));
    }

    /// Freed blocks are not read, and a slot reused by a newer block (at the same address, as a LIFO
    /// free list gives it back) is read once, in its new place: 4 blocks, walk (4); free two, allocate
    /// them again in the same slots and two more, walk (the 4 young ones, not the stale entries).
    #[test]
    fn a_walk_skips_freed_blocks_and_reads_a_reused_slot_once() {
        let mut ops: Vec<Op> = (0..4)
            .map(|i| op(Kind::Malloc, i, 24, 0, NO_OBJECT))
            .collect();
        ops.extend([0, 1].map(|i| op(Kind::Free, i, 0, 0, NO_OBJECT)));
        ops.extend([0, 1, 4, 5].map(|i| op(Kind::Malloc, i, 24, 0, NO_OBJECT)));
        let program = one_thread(ops, 6);
        let o = replay::<crate::backend::System>(&program, walk_opts(4));
        assert_eq!((o.walks, o.walked_blocks), (2, 8));
    }

    /// A reference for `--walk`: CPython's schedule over the live objects themselves (each with its
    /// generation), without the walker's list, tags and compaction.
    struct WalkModel {
        every: u32,
        gen: Vec<Option<u8>>,
        since: u32,
        young_walks: u32,
        mid_walks: u32,
        total: u64,
        pending: u64,
        walks: u64,
        walked: u64,
    }

    impl WalkModel {
        fn alloc(&mut self, slot: u32) {
            self.gen[slot as usize] = Some(0);
            self.since += 1;
            if self.since < self.every {
                return;
            }
            self.since = 0;
            let g = if self.mid_walks > WALK_OLDER_EVERY && self.pending >= self.total / 4 {
                2
            } else if self.young_walks > WALK_OLDER_EVERY {
                1
            } else {
                0
            };
            let mut n = 0;
            for x in self.gen.iter_mut().flatten() {
                if *x <= g {
                    n += 1;
                    *x = (g + 1).min(2);
                }
            }
            self.walks += 1;
            self.walked += n;
            match g {
                0 => self.young_walks += 1,
                1 => {
                    self.pending += n;
                    self.young_walks = 0;
                    self.mid_walks += 1;
                }
                _ => {
                    self.total = n;
                    self.pending = 0;
                    self.young_walks = 0;
                    self.mid_walks = 0;
                }
            }
        }
    }

    /// Random single-thread workloads (malloc, calloc, realloc within and across slots, free; slots
    /// reused) against [`WalkModel`], for several walk periods, every generation reached; the last two
    /// keep `base` blocks live from the start (the oldest generation is then large against what the
    /// churn moves to it, so the quarter rule decides when it is walked).
    #[test]
    fn walks_match_the_reference_schedule() {
        for (seed, every, base) in [
            (1u64, 1u32, 0u32),
            (2, 3, 0),
            (3, 7, 0),
            (4, 16, 0),
            (5, 50, 0),
            (6, 1, 1500),
            (7, 2, 800),
        ] {
            let slots = 200u32;
            let mut rng = SplitMix64(seed);
            let mut live = vec![false; slots as usize];
            let mut model = WalkModel {
                every,
                gen: vec![None; slots as usize],
                since: 0,
                young_walks: 0,
                mid_walks: 0,
                total: 0,
                pending: 0,
                walks: 0,
                walked: 0,
            };
            model.gen.resize((slots + base) as usize, None);
            let mut ops = Vec::new();
            for b in slots..slots + base {
                ops.push(op(Kind::Malloc, b, 16, 0, NO_OBJECT));
                model.alloc(b);
            }
            for _ in 0..20_000 {
                let s = (rng.next() % slots as u64) as u32;
                let size = 1 + rng.next() % 300;
                let r = rng.next() % 8;
                if live[s as usize] {
                    if r < 2 {
                        // realloc in place of the same slot, or into a free slot
                        let to = (rng.next() % slots as u64) as u32;
                        let to = if live[to as usize] { s } else { to };
                        ops.push(op(Kind::Realloc, to, size, 0, s));
                        live[s as usize] = false;
                        model.gen[s as usize] = None;
                        live[to as usize] = true;
                        model.alloc(to);
                    } else {
                        ops.push(op(Kind::Free, s, 0, 0, NO_OBJECT));
                        live[s as usize] = false;
                        model.gen[s as usize] = None;
                    }
                } else {
                    let kind = if r == 0 { Kind::Calloc } else { Kind::Malloc };
                    ops.push(op(
                        kind,
                        s,
                        size,
                        (kind == Kind::Calloc) as u32 * 2,
                        NO_OBJECT,
                    ));
                    live[s as usize] = true;
                    model.alloc(s);
                }
            }
            assert!(model.walks > 12 * WALK_OLDER_EVERY as u64 || every > 7);
            let program = one_thread(ops, (slots + base) as usize);
            let o = replay::<crate::backend::System>(&program, walk_opts(every));
            assert_eq!(
                (o.walks, o.walked_blocks),
                (model.walks, model.walked),
                "seed {seed}, every {every}, base {base}"
            );
            assert_eq!(o.alloc_failures, 0);
        }
    }

    /// Only a thread's own slots are walked: thread 0 creates an object in shared slot 0 that thread 1
    /// frees (it could free it during thread 0's walk), and one in its own slot 1; thread 1 allocates in
    /// its own slot 3. A walk after every allocation: three walks, the two own blocks read.
    #[test]
    fn walks_read_only_the_threads_own_slots() {
        let program = Program {
            threads: vec![
                vec![
                    op(Kind::Malloc, 0, 32, 0, NO_OBJECT),
                    op(Kind::Malloc, 1, 32, 0, NO_OBJECT),
                    op(Kind::Free, 1, 0, 0, NO_OBJECT),
                ],
                vec![
                    Op::new(Kind::Free, 0, 0, 0, NO_OBJECT, true),
                    op(Kind::Malloc, 3, 32, 0, NO_OBJECT),
                    op(Kind::Free, 3, 0, 0, NO_OBJECT),
                ],
            ],
            object_slots: 5,
            blocks: None,
            own: vec![1..3, 3..5],
        };
        program.validate().unwrap();
        assert_eq!((program.own_slots(0), program.own_slots(1)), (1..3, 3..5));
        let o = replay::<crate::backend::System>(&program, walk_opts(1));
        assert_eq!((o.walks, o.walked_blocks), (3, 2));
        // Without the workload's layout a several-thread program walks nothing; a one-thread one, all.
        let unknown = Program {
            own: Vec::new(),
            ..program.clone()
        };
        assert_eq!((unknown.own_slots(0), unknown.own_slots(1)), (0..0, 0..0));
        assert_eq!(one_thread(Vec::new(), 7).own_slots(0), 0..7);
    }
}
