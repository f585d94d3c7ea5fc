//! Compile benchmark: builds a large synthetic multi-threaded raw trace through the real raw writer, then
//! measures, in the same run, the raw reader alone (decoding every event: the floor any compile pays) and
//! the full streaming compile (`compile_files_to`, writing the `.hkw`), and prints events/s, their ratio
//! and the process's peak RSS.
//!
//! ```sh
//! cargo run --release -p hakmem-traces --example compile_bench -- [EVENTS] [THREADS] [REPEATS]
//! ```
//! Defaults: 50,000,000 events, 4 threads, 3 repeats (medians reported). `COMPILE_BENCH_RAW=PATH` reuses
//! (or builds and keeps) the trace at PATH; with `COMPILE_BENCH_BUILD_ONLY=1` the trace is only built. The trace models a program whose
//! threads run random-mixed loops over a shared address pool (addresses freed by one thread are handed
//! out again to any thread), with 10% of objects freed by the next thread.

use std::path::PathBuf;
use std::time::Instant;
use traces::compile::{compile_files_to, CompileOptions};
use traces::event::Op;
use traces::gen::Rng;
use traces::raw::{BuilderSpec, EndState, RawTrace, RawTraceBuilder};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let events: u64 = args
        .get(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(50_000_000);
    let threads: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(4);
    let repeats: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(3);
    let dir = std::env::temp_dir().join(format!("hakmem-compile-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let raw = dir.join("bench.raw");
    let out = dir.join("bench.hkw");

    let t0 = Instant::now();
    let raw = match std::env::var_os("COMPILE_BENCH_RAW") {
        Some(p) => PathBuf::from(p), // reuse a trace (profiling); built if missing
        None => raw,
    };
    if !raw.exists() {
        build_trace(&raw, events, threads)?;
    }
    let raw_len = std::fs::metadata(&raw)?.len();
    println!(
        "built {}: {events} events, {threads} threads, {raw_len} bytes in {:.2} s",
        raw.display(),
        t0.elapsed().as_secs_f64()
    );
    if std::env::var_os("COMPILE_BENCH_BUILD_ONLY").is_some() {
        // Only write the trace (e.g. a billion events to compile and replay with `hakmem`); keep it.
        println!(
            "peak RSS of this process (VmHWM): {} MiB",
            peak_rss_kib() / 1024
        );
        std::fs::remove_dir_all(&dir)?;
        return Ok(());
    }

    let mut decode_cpu = Vec::new();
    let mut compile_cpu = Vec::new();
    let mut decode = Vec::new();
    let mut compile = Vec::new();
    let mut total = 0;
    for _ in 0..repeats {
        // Baseline: open + decode every event of every thread (in parallel, as compile reads them).
        let t = Instant::now();
        let c0 = cpu_seconds();
        let tr = RawTrace::open(&raw)?;
        use rayon::prelude::*;
        let n: u64 = (0..tr.threads().len())
            .into_par_iter()
            .map(|i| {
                tr.thread_events(i)
                    .fold(0u64, |a, e| a + (e.ts_ns & 1))
                    .min(1)
                    + tr.threads()[i].events
            })
            .sum();
        decode.push(t.elapsed().as_secs_f64());
        decode_cpu.push(cpu_seconds() - c0);
        total = tr.event_count();
        assert!(n >= total);
        drop(tr);

        let t = Instant::now();
        let c0 = cpu_seconds();
        let c = compile_files_to(&[PathBuf::from(&raw)], &CompileOptions::default(), &out)?;
        let s = c.summary.clone();
        compile.push(t.elapsed().as_secs_f64());
        compile_cpu.push(cpu_seconds() - c0);
        assert_eq!(c.events, total);
        println!(
            "  compile: {} events -> {} ops, {} bytes ({:.2} B/op), {} slots",
            c.events,
            s.ops,
            s.bytes,
            s.bytes as f64 / s.ops.max(1) as f64,
            s.object_slots
        );
        let ph: Vec<String> = c
            .phases
            .iter()
            .map(|(n, s)| format!("{n} {s:.3} s"))
            .collect();
        println!("    phases: {}", ph.join(", "));
    }
    let md = median(&mut decode);
    let mc = median(&mut compile);
    println!(
        "decode only (baseline): median {md:.3} s = {:.1} M events/s",
        total as f64 / md / 1e6
    );
    println!(
        "compile + write:        median {mc:.3} s = {:.1} M events/s",
        total as f64 / mc / 1e6
    );
    println!("compile / decode time ratio: {:.2}x", mc / md);
    let (dc, cc) = (median(&mut decode_cpu), median(&mut compile_cpu));
    println!(
        "CPU time (all threads): decode {dc:.3} s ({:.1} ns/event), compile {cc:.3} s ({:.1} ns/event); \
         load average at end: {}",
        dc * 1e9 / total as f64,
        cc * 1e9 / total as f64,
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()
    );
    println!(
        "peak RSS of this process (VmHWM): {} MiB",
        peak_rss_kib() / 1024
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// User + system CPU seconds of this process so far (all threads).
fn cpu_seconds() -> f64 {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a `rusage` into the pointer we own; RUSAGE_SELF is always valid.
    let ru = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr());
        ru.assume_init()
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// Round-robin over threads; each step is a random-mixed step over 256 slots per thread, sizes 16..=1024;
/// addresses come from one LIFO pool shared by all threads, so freed addresses are reused across threads.
fn build_trace(
    path: &std::path::Path,
    events: u64,
    threads: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let spec = BuilderSpec {
        chunk_size: 1 << 20,
        ..BuilderSpec::default()
    };
    let mut b = RawTraceBuilder::create(path, &spec)?;
    let mut rng = Rng::new(7);
    let ws = 256usize;
    let mut slots = vec![vec![0u64; ws]; threads];
    let mut inbox: Vec<Vec<u64>> = vec![Vec::new(); threads];
    let mut pool: Vec<u64> = Vec::new();
    let mut next_addr = 0x7f00_0000_0000u64;
    let mut ts = 0u64;
    let mut n = 0u64;
    'outer: loop {
        for t in 0..threads {
            if n >= events {
                break 'outer;
            }
            let tid = 1000 + t as u32;
            ts += 3;
            if let Some(p) = inbox[t].pop() {
                b.push(tid, ts, Op::Free { ptr: p })?;
                pool.push(p);
                n += 1;
                continue;
            }
            let s = rng.below(ws as u64) as usize;
            let size = 16 + rng.below(1009);
            if slots[t][s] != 0 {
                let p = std::mem::take(&mut slots[t][s]);
                if rng.below(10) == 0 {
                    inbox[(t + 1) % threads].push(p);
                    continue;
                }
                b.push(tid, ts, Op::Free { ptr: p })?;
                pool.push(p);
            } else {
                let p = pool.pop().unwrap_or_else(|| {
                    next_addr += 1024;
                    next_addr
                });
                b.push(tid, ts, Op::Malloc { size, ptr: p })?;
                slots[t][s] = p;
            }
            n += 1;
        }
    }
    b.finish(EndState::Exit)?;
    Ok(())
}

/// VmHWM of this process in KiB (0 if unreadable).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
