//! The child side of a sample: what runs inside `hakmem __child --job JSON`.
//!
//! Entry point: [`run_job`]. The parent serialises a [`Job`] into the child's argument list; the child pins
//! itself, configures the backend before its first allocation, loads and decodes the workload (outside
//! the timed region), replays it (the engine records the baseline RSS and resets the peak right before its
//! timed region), frees leftovers, reads its memory figures and prints one [`Sample`] as
//! one JSON line on stdout. The parent fills in the identity fields (allocator, config, workload, repeat).
//!
//! Invariant: exactly one JSON line is printed on stdout per child, whatever happens short of a crash.

use crate::backend::{Allocator, Mimalloc, System};
use crate::engine::{self, Options, Outcome, ProducerConsumer, RandomMixed, Touch};
use crate::spec::{AllocSpec, BackendKind};
use crate::sysinfo;
use reports::model::{Sample, Status};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What a child measures.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Replay a workload file.
    Workload {
        /// The `.hkw` path.
        path: PathBuf,
    },
    /// The live random-mixed loop.
    RandomMixed(RandomMixed),
    /// The live producer-consumer loop.
    ProducerConsumer(ProducerConsumer),
}

/// One sample's instructions, passed from the parent to the child as JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    /// What to run.
    pub source: Source,
    /// Through which allocator configuration.
    pub alloc: AllocSpec,
    /// Memory touching.
    pub touch: Touch,
    /// Contract checking.
    pub check: bool,
    /// Latency sampling period (0 = off).
    pub latency_every: u32,
    /// Warm each replay thread's allocator up before the start barrier (see
    /// [`crate::engine::Options::warmup`]); ignored by the live benchmarks.
    #[serde(default)]
    pub warmup: bool,
    /// Busy wait before each replayed op, ns (see [`crate::engine::Options::pace_ns`]); 0 = off.
    #[serde(default)]
    pub pace_ns: u32,
    /// Walks of the live blocks, youngest generation every this many allocations (see
    /// [`crate::engine::Options::walk`]); 0 = off.
    #[serde(default)]
    pub walk: u32,
    /// CPUs to pin to (empty = no pinning).
    pub cpus: Vec<u32>,
}

/// Runs one job in this process and returns its sample (identity fields left empty).
pub fn run_job(job: &Job) -> Sample {
    match run_inner(job) {
        Ok(s) => s,
        Err(e) => Sample {
            status: Some(Status::Error),
            error: format!("{e:#}"),
            ..Sample::default()
        },
    }
}

fn run_inner(job: &Job) -> anyhow::Result<Sample> {
    use anyhow::Context;
    sysinfo::pin_to(&job.cpus).with_context(|| format!("pinning to CPUs {:?}", job.cpus))?;
    if job.alloc.backend == BackendKind::Preload {
        check_preloaded(job)?;
    }
    if job.alloc.backend == BackendKind::Hakmem {
        crate::hakmem_backend::configure(&job.alloc.knobs)?;
    }
    let program = match &job.source {
        Source::Workload { path } => Some(crate::workload::load_program(path, job.cpus.len())?),
        _ => None,
    };
    let opts = Options {
        touch: job.touch,
        check: job.check,
        latency_every: job.latency_every,
        warmup: job.warmup,
        pace_ns: job.pace_ns,
        walk: job.walk,
    };
    // The engine reads the baseline RSS and resets VmHWM right before its timed region (after its own
    // allocations); this early reset only matters if that one fails.
    let early_reset = sysinfo::reset_peak_rss();
    let outcome = match job.alloc.backend {
        BackendKind::System | BackendKind::Preload => run_on::<System>(job, program.as_ref(), opts),
        BackendKind::Mimalloc => run_on::<Mimalloc>(job, program.as_ref(), opts),
        BackendKind::Hakmem => crate::hakmem_backend::run(job, program.as_ref(), opts),
    };
    let post_rss_bytes = sysinfo::rss_bytes();
    let peak_rss_bytes = match outcome.peak_rss_bytes {
        0 => sysinfo::peak_rss_bytes(),
        p => p,
    };
    let box_stats = match job.alloc.backend {
        BackendKind::Hakmem => crate::hakmem_backend::box_stats(),
        // A preloaded libhakmem.so reports the same counters through its `hakmem_stats_snapshot` export.
        BackendKind::Preload => crate::hakmem_backend::preloaded_box_stats(),
        _ => Default::default(),
    };
    let baseline_rss_bytes = outcome.baseline_rss_bytes;
    let status = if outcome.alloc_failures > 0 {
        Status::AllocFailed
    } else if outcome.violation_count > 0 {
        Status::CheckFailed
    } else {
        Status::Ok
    };
    let mut error = String::new();
    if outcome.alloc_failures > 0 {
        error = format!("{} allocations returned NULL", outcome.alloc_failures);
    } else if outcome.violation_count > 0 {
        error = format!("{} contract violations", outcome.violation_count);
    }
    if !outcome.peak_reset {
        error.push_str(if error.is_empty() { "" } else { "; " });
        error.push_str(if early_reset {
            "peak RSS could not be reset right before the timed region (includes harness setup)"
        } else {
            "peak RSS could not be reset before the replay (includes loading)"
        });
    }
    let mut sample = sample_of(
        outcome,
        status,
        error,
        peak_rss_bytes,
        post_rss_bytes,
        box_stats,
        &job.cpus,
    );
    sample.baseline_rss_bytes = baseline_rss_bytes;
    sample.walk = job.walk as u64;
    Ok(sample)
}

/// Dispatches a job to the monomorphised loop of backend `A`.
pub(crate) fn run_on<A: Allocator>(
    job: &Job,
    program: Option<&crate::program::Program>,
    opts: Options,
) -> Outcome {
    match (&job.source, program) {
        (Source::Workload { .. }, Some(p)) => engine::replay::<A>(p, opts),
        (Source::RandomMixed(rm), _) => {
            let gen = crate::workload::random_mixed_steps(rm);
            engine::bench_random_mixed::<A>(*rm, gen, opts)
        }
        (Source::ProducerConsumer(pc), _) => engine::bench_producer_consumer::<A>(*pc, opts),
        (Source::Workload { .. }, None) => unreachable!("workload jobs always carry a program"),
    }
}

fn sample_of(
    o: Outcome,
    status: Status,
    error: String,
    peak_rss_bytes: u64,
    post_rss_bytes: u64,
    box_stats: std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>>,
    cpus: &[u32],
) -> Sample {
    Sample {
        status: Some(status),
        error,
        ops: o.ops,
        seconds: o.seconds,
        ops_per_sec: if o.seconds > 0.0 {
            o.ops as f64 / o.seconds
        } else {
            0.0
        },
        cpu_seconds: o.cpu_seconds,
        peak_rss_bytes,
        post_rss_bytes,
        minor_faults: o.minor_faults,
        major_faults: o.major_faults,
        latency_ns: o.latency_ns,
        box_stats,
        violations: o.violations,
        cpus: cpus.to_vec(),
        walks: o.walks,
        walked_blocks: o.walked_blocks,
        ..Sample::default()
    }
}

/// `ld.so` ignores a library it cannot load and runs the program without it: make that an error instead
/// of a silent measurement of the C library.
fn check_preloaded(job: &Job) -> anyhow::Result<()> {
    let Some(path) = &job.alloc.path else {
        anyhow::bail!("preload spec without a path")
    };
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let want = path.to_string_lossy();
    if !maps.lines().any(|l| l.ends_with(&*want)) {
        anyhow::bail!(
            "{want} was not loaded by LD_PRELOAD (ld.so ignored it: wrong architecture or not a shared library?)"
        );
    }
    Ok(())
}
