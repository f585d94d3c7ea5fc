//! `hakmem bench random-mixed | producer-consumer`: the memo's benchmark loops run live (not from a
//! workload) through the same allocator specs, children and bundle as `hakmem replay`; `--callgrind`
//! counts instructions per op instead.

use replayer::child::Source;
use replayer::engine::{ProducerConsumer, RandomMixed, Touch};
use replayer::options;
use replayer::session::{Input, Session};
use reports::model::WorkloadInfo;
use std::path::PathBuf;
use std::time::Duration;

/// Subcommands of `hakmem bench`.
#[derive(clap::Subcommand)]
pub enum Bench {
    /// The memo's `bench_random_mixed ITERS WS SEED`: each step frees an occupied random slot or mallocs
    /// into an empty one (sizes uniform in [min, max]).
    RandomMixed(RandomMixedArgs),
    /// Two threads: one mallocs, the other frees every block (all frees cross-thread).
    ProducerConsumer(ProducerConsumerArgs),
}

/// Options shared by the benches.
#[derive(clap::Args, Clone)]
pub struct Common {
    /// Allocator configuration (as in `hakmem replay`); repeat the flag for several.
    #[arg(long = "alloc", value_name = "SPEC", default_values_t = ["system".to_string(), "mimalloc".to_string(), "hakmem".to_string()])]
    allocs: Vec<String>,
    /// Samples per configuration, interleaved across configurations.
    #[arg(long, default_value = "5", value_name = "N", value_parser = options::repeats)]
    repeats: u32,
    /// Children at once [default: usable cores / threads of the bench, at least 1].
    #[arg(long, value_name = "N", value_parser = options::jobs)]
    jobs: Option<usize>,
    /// How much of each new block to write.
    #[arg(long, value_enum, default_value_t = Touch::First)]
    touch: Touch,
    /// Kill a child after this many seconds (recorded as a `timeout` sample).
    #[arg(long, default_value = "600", value_name = "SECONDS", value_parser = options::timeout)]
    timeout: Duration,
    /// Time one call in N for latency percentiles (0 = off).
    #[arg(long, default_value = "64", value_name = "N", value_parser = options::latency_every)]
    latency_every: u32,
    /// Smallest size [default: $HAKMEM_BENCH_MIN_SIZE, else 16].
    #[arg(long, value_name = "BYTES", value_parser = options::block_size_u32)]
    min: Option<u32>,
    /// Largest size [default: $HAKMEM_BENCH_MAX_SIZE, else 1024].
    #[arg(long, value_name = "BYTES", value_parser = options::block_size_u32)]
    max: Option<u32>,
    /// Bundle directory [default: ./hakmem-results/bench-DATE].
    #[arg(long = "out", short = 'o', alias = "output", value_name = "DIR")]
    out: Option<PathBuf>,
    /// Also write the whole bundle as one JSON document (`-` = stdout).
    #[arg(long, value_name = "FILE")]
    export_json: Option<PathBuf>,
    /// Configuration the ratios refer to [default: system if measured, else the first].
    #[arg(long, value_name = "NAME")]
    baseline: Option<String>,
    /// Instead of timing: run each configuration once under `valgrind --tool=callgrind` and print
    /// instructions per op (a run with 0 iterations is subtracted for setup).
    #[arg(long)]
    callgrind: bool,
}

/// Arguments of `hakmem bench random-mixed`.
#[derive(clap::Args)]
pub struct RandomMixedArgs {
    /// Steps (each step is one malloc or one free) [default: 1000000].
    #[arg(long, value_name = "N", value_parser = options::bench_steps)]
    iters: Option<u64>,
    /// Working set: number of slots [default: 256].
    #[arg(long, value_name = "N", value_parser = options::ws)]
    ws: Option<u32>,
    /// PRNG seed [default: 42].
    #[arg(long, value_name = "N", value_parser = options::seed)]
    seed: Option<u64>,
    /// The memo's positional spelling `ITERS WS SEED`, kept for old scripts (hidden; the flags win).
    #[arg(hide = true, value_name = "ITERS", value_parser = options::bench_steps)]
    iters_pos: Option<u64>,
    #[arg(hide = true, value_name = "WS", value_parser = options::ws)]
    ws_pos: Option<u32>,
    #[arg(hide = true, value_name = "SEED", value_parser = options::seed)]
    seed_pos: Option<u64>,
    #[command(flatten)]
    common: Common,
}

/// Arguments of `hakmem bench producer-consumer`.
#[derive(clap::Args)]
pub struct ProducerConsumerArgs {
    /// Blocks passed from producer to consumer [default: 1000000].
    #[arg(long, value_name = "N", value_parser = options::bench_steps)]
    iters: Option<u64>,
    /// The old positional spelling of `--iters` (hidden; the flag wins).
    #[arg(hide = true, value_name = "ITERS", value_parser = options::bench_steps)]
    iters_pos: Option<u64>,
    /// Blocks in flight at most (ring capacity, rounded up to a power of two).
    #[arg(long, default_value = "1024", value_name = "N", value_parser = options::depth)]
    depth: u32,
    /// PRNG seed for the sizes.
    #[arg(long, default_value = "42", value_name = "N", value_parser = options::seed)]
    seed: u64,
    #[command(flatten)]
    common: Common,
}

fn size_bound(flag: Option<u32>, env: &str, default: u32) -> anyhow::Result<u32> {
    if let Some(v) = flag {
        return Ok(v);
    }
    match std::env::var(env) {
        Ok(v) => options::block_size_u32(&v).map_err(|e| anyhow::anyhow!("{env}={v:?}: {e}")),
        Err(_) => Ok(default),
    }
}

/// The size band: flags, else `HAKMEM_BENCH_MIN_SIZE` / `HAKMEM_BENCH_MAX_SIZE`, else 16..=1024.
fn size_band(c: &Common) -> anyhow::Result<(u32, u32)> {
    let min = size_bound(c.min, "HAKMEM_BENCH_MIN_SIZE", 16)?;
    let max = size_bound(c.max, "HAKMEM_BENCH_MAX_SIZE", 1024)?;
    anyhow::ensure!(
        min <= max && max > 0,
        "size range [{min}, {max}] (--min, --max) is empty; the sizes are drawn from [min, max]"
    );
    Ok((min, max))
}

/// Runs `hakmem bench`.
pub fn run(args: Bench) -> anyhow::Result<u8> {
    let (common, name, threads, source) = match args {
        Bench::RandomMixed(a) => {
            let (min, max) = size_band(&a.common)?;
            let p = RandomMixed {
                iters: a.iters.or(a.iters_pos).unwrap_or(1_000_000),
                ws: a.ws.or(a.ws_pos).unwrap_or(256),
                seed: a.seed.or(a.seed_pos).unwrap_or(42),
                min,
                max,
            };
            let name = format!(
                "random-mixed(iters={},ws={},seed={},min={min},max={max})",
                p.iters, p.ws, p.seed
            );
            (a.common, name, 1, Source::RandomMixed(p))
        }
        Bench::ProducerConsumer(a) => {
            let (min, max) = size_band(&a.common)?;
            let p = ProducerConsumer {
                iters: a.iters.or(a.iters_pos).unwrap_or(1_000_000),
                depth: a.depth,
                seed: a.seed,
                min,
                max,
            };
            let name = format!(
                "producer-consumer(iters={},depth={},seed={},min={min},max={max})",
                p.iters, p.depth, p.seed
            );
            (a.common, name, 2, Source::ProducerConsumer(p))
        }
    };
    let configs = super::checked_run_setup(&common.allocs, common.baseline.as_deref())?;
    let timeout = common.timeout;
    if let Some(out) = &common.out {
        replayer::files::check_output_dir(out, "--out")?;
    }
    // The exact op count of random-mixed (steps + leftover frees) costs a simulation of the whole loop in
    // this process: done only while it is cheap (at most ~0.1 s); past that the samples carry the count.
    let ops = match &source {
        Source::RandomMixed(p) if p.iters <= 10_000_000 => replayer::workload::random_mixed_ops(p),
        Source::RandomMixed(_) => 0,
        Source::ProducerConsumer(p) => 2 * p.iters,
        Source::Workload { .. } => 0,
    };
    let info = WorkloadInfo {
        name,
        threads,
        ops,
        ..WorkloadInfo::default()
    };
    if common.callgrind {
        return replayer::callgrind::run(
            &configs,
            &info,
            source,
            common.touch,
            timeout,
            common.baseline.as_deref(),
        );
    }
    Session {
        kind: "bench",
        configs,
        inputs: vec![Input {
            info,
            source: Ok(source),
        }],
        repeats: common.repeats,
        auto_repeats: false,
        jobs: common.jobs,
        timeout,
        touch: common.touch,
        check: false,
        latency_every: common.latency_every,
        warmup: false,
        pace_ns: 0,
        walk: 0,
        out: common.out,
        export_json: common.export_json,
        baseline: common.baseline,
    }
    .run()
}
