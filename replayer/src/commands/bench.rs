//! `hakmem bench random-mixed | producer-consumer`: the memo's benchmark loops run live (not from a
//! workload) through the same allocator specs, children and bundle as `hakmem replay`; `--callgrind`
//! counts instructions per op instead.

use replayer::child::Source;
use replayer::engine::{ProducerConsumer, RandomMixed, Touch};
use replayer::session::{Input, Session};
use reports::model::WorkloadInfo;
use std::path::PathBuf;

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
    #[arg(long, default_value_t = 5)]
    repeats: u32,
    /// Children at once [default: usable cores / threads of the bench, at least 1].
    #[arg(long)]
    jobs: Option<usize>,
    /// How much of each new block to write.
    #[arg(long, value_enum, default_value_t = Touch::First)]
    touch: Touch,
    /// Kill a child after this many seconds.
    #[arg(long, default_value_t = 600.0)]
    timeout: f64,
    /// Time one call in N for latency percentiles (0 = off).
    #[arg(long, default_value_t = 64)]
    latency_every: u32,
    /// Smallest size [default: $HAKMEM_BENCH_MIN_SIZE, else 16].
    #[arg(long)]
    min: Option<u32>,
    /// Largest size [default: $HAKMEM_BENCH_MAX_SIZE, else 1024].
    #[arg(long)]
    max: Option<u32>,
    /// Bundle directory [default: ./hakmem-results/bench-DATE].
    #[arg(long, short = 'o')]
    out: Option<PathBuf>,
    /// Also write the whole bundle as one JSON document (`-` = stdout).
    #[arg(long, value_name = "FILE")]
    export_json: Option<PathBuf>,
    /// Configuration the ratios refer to [default: mimalloc if measured, else the first].
    #[arg(long)]
    baseline: Option<String>,
    /// Instead of timing: run each configuration once under `valgrind --tool=callgrind` and print
    /// instructions per op (a run with 0 iterations is subtracted for setup).
    #[arg(long)]
    callgrind: bool,
}

/// Arguments of `hakmem bench random-mixed`.
#[derive(clap::Args)]
pub struct RandomMixedArgs {
    /// Steps.
    #[arg(default_value_t = 1_000_000)]
    iters: u64,
    /// Working set (slots).
    #[arg(default_value_t = 256)]
    ws: u32,
    /// PRNG seed.
    #[arg(default_value_t = 42)]
    seed: u64,
    #[command(flatten)]
    common: Common,
}

/// Arguments of `hakmem bench producer-consumer`.
#[derive(clap::Args)]
pub struct ProducerConsumerArgs {
    /// Blocks passed from producer to consumer.
    #[arg(default_value_t = 1_000_000)]
    iters: u64,
    /// Blocks in flight at most (ring capacity, rounded up to a power of two).
    #[arg(long, default_value_t = 1024)]
    depth: u32,
    /// PRNG seed for the sizes.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[command(flatten)]
    common: Common,
}

fn size_bound(flag: Option<u32>, env: &str, default: u32) -> anyhow::Result<u32> {
    if let Some(v) = flag {
        return Ok(v);
    }
    match std::env::var(env) {
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{env}={v:?} is not a size in bytes")),
        Err(_) => Ok(default),
    }
}

/// The size band: flags, else `HAKMEM_BENCH_MIN_SIZE` / `HAKMEM_BENCH_MAX_SIZE`, else 16..=1024.
fn size_band(c: &Common) -> anyhow::Result<(u32, u32)> {
    let min = size_bound(c.min, "HAKMEM_BENCH_MIN_SIZE", 16)?;
    let max = size_bound(c.max, "HAKMEM_BENCH_MAX_SIZE", 1024)?;
    anyhow::ensure!(min <= max && max > 0, "size range [{min}, {max}] is empty");
    Ok((min, max))
}

/// Runs `hakmem bench`.
pub fn run(args: Bench) -> anyhow::Result<u8> {
    let (common, name, threads, source) = match args {
        Bench::RandomMixed(a) => {
            let (min, max) = size_band(&a.common)?;
            anyhow::ensure!(a.ws > 0, "the working set must have at least one slot");
            let p = RandomMixed {
                iters: a.iters,
                ws: a.ws,
                seed: a.seed,
                min,
                max,
            };
            let name = format!(
                "random-mixed(iters={},ws={},seed={},min={min},max={max})",
                a.iters, a.ws, a.seed
            );
            (a.common, name, 1, Source::RandomMixed(p))
        }
        Bench::ProducerConsumer(a) => {
            let (min, max) = size_band(&a.common)?;
            let p = ProducerConsumer {
                iters: a.iters,
                depth: a.depth,
                seed: a.seed,
                min,
                max,
            };
            let name = format!(
                "producer-consumer(iters={},depth={},seed={},min={min},max={max})",
                a.iters, a.depth, a.seed
            );
            (a.common, name, 2, Source::ProducerConsumer(p))
        }
    };
    let (configs, timeout) =
        super::checked_run_setup(&common.allocs, common.repeats, common.timeout)?;
    let ops = match &source {
        Source::RandomMixed(p) => replayer::workload::random_mixed_ops(p),
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
        jobs: common.jobs,
        timeout,
        touch: common.touch,
        check: false,
        latency_every: common.latency_every,
        out: common.out,
        export_json: common.export_json,
        baseline: common.baseline,
    }
    .run()
}
