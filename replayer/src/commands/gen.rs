//! `hakmem gen`: write a synthetic workload (.hkw). The generators live in `traces::gen`; this file parses
//! their parameters and writes the file.

use anyhow::Context;
use replayer::options;
use std::io::Write;
use std::path::PathBuf;
use traces::gen;
use traces::workload::WorkloadWriter;

/// Subcommands of `hakmem gen`.
#[derive(clap::Subcommand)]
pub enum Gen {
    /// The memo's bench_random_mixed: one thread, WS slots, each step frees an occupied slot or mallocs an
    /// empty one (slot and size drawn independently); leftovers freed at the end.
    RandomMixed(RandomMixedArgs),
    /// Items allocated by producer threads and freed by consumer threads, with bounded queue depth
    /// (stands in for xmalloc-test).
    ProducerConsumer(ProducerConsumerArgs),
    /// T random-mixed threads, a fraction of whose objects are freed by the next thread (stands in for
    /// larson / mstress).
    Threads(ThreadsArgs),
}

/// Arguments of `hakmem gen random-mixed`.
#[derive(clap::Args)]
pub struct RandomMixedArgs {
    /// Steps (each step is one malloc or one free).
    #[arg(long, default_value = "1000000", value_name = "N", value_parser = options::gen_steps)]
    iters: u64,
    /// Working set: number of slots.
    #[arg(long, default_value = "256", value_name = "N", value_parser = options::ws)]
    ws: u32,
    /// PRNG seed.
    #[arg(long, default_value = "42", value_name = "N", value_parser = options::seed)]
    seed: u64,
    /// Smallest allocation size in bytes (HAKMEM_BENCH_MIN_SIZE of the memo's benchmark).
    #[arg(long, default_value = "16", value_name = "BYTES", value_parser = options::block_size)]
    min: u64,
    /// Largest allocation size in bytes, inclusive (HAKMEM_BENCH_MAX_SIZE).
    #[arg(long, default_value = "1024", value_name = "BYTES", value_parser = options::block_size)]
    max: u64,
    /// Output workload file (created 0600).
    #[arg(short = 'o', long = "out", alias = "output", value_name = "FILE")]
    output: PathBuf,
}

/// Arguments of `hakmem gen producer-consumer`.
#[derive(clap::Args)]
pub struct ProducerConsumerArgs {
    /// Producer threads.
    #[arg(long, default_value = "1", value_name = "N", value_parser = options::threads)]
    producers: u32,
    /// Consumer threads (producer p sends to consumer p % consumers).
    #[arg(long, default_value = "1", value_name = "N", value_parser = options::threads)]
    consumers: u32,
    /// Items each producer sends.
    #[arg(long, default_value = "500000", value_name = "N", value_parser = options::items)]
    items: u64,
    /// Items in flight per producer before it must free an ack (queue depth).
    #[arg(long, default_value = "64", value_name = "N", value_parser = options::depth)]
    depth: u32,
    /// Smallest item size in bytes.
    #[arg(long, default_value = "16", value_name = "BYTES", value_parser = options::block_size)]
    min: u64,
    /// Largest item size in bytes, inclusive.
    #[arg(long, default_value = "1024", value_name = "BYTES", value_parser = options::block_size)]
    max: u64,
    /// Size of the ack a consumer allocates per item.
    #[arg(long, default_value = "16", value_name = "BYTES", value_parser = options::block_size)]
    ack_size: u64,
    /// PRNG seed.
    #[arg(long, default_value = "42", value_name = "N", value_parser = options::seed)]
    seed: u64,
    /// Output workload file (created 0600).
    #[arg(short = 'o', long = "out", alias = "output", value_name = "FILE")]
    output: PathBuf,
}

/// Arguments of `hakmem gen threads`.
#[derive(clap::Args)]
pub struct ThreadsArgs {
    /// Threads.
    #[arg(long, default_value = "4", value_name = "N", value_parser = options::threads)]
    threads: u32,
    /// Random-mixed steps per thread.
    #[arg(long, default_value = "250000", value_name = "N", value_parser = options::gen_steps)]
    iters: u64,
    /// Slots per thread.
    #[arg(long, default_value = "256", value_name = "N", value_parser = options::ws)]
    ws: u32,
    /// Smallest allocation size in bytes.
    #[arg(long, default_value = "16", value_name = "BYTES", value_parser = options::block_size)]
    min: u64,
    /// Largest allocation size in bytes, inclusive.
    #[arg(long, default_value = "1024", value_name = "BYTES", value_parser = options::block_size)]
    max: u64,
    /// Fraction of allocations freed by the next thread (0..=1).
    #[arg(long, default_value = "0.1", value_name = "FRACTION", value_parser = options::fraction)]
    remote: f64,
    /// PRNG seed (thread t uses seed + t).
    #[arg(long, default_value = "42", value_name = "N", value_parser = options::seed)]
    seed: u64,
    /// Output workload file (created 0600).
    #[arg(short = 'o', long = "out", alias = "output", value_name = "FILE")]
    output: PathBuf,
}

/// Runs `hakmem gen`.
pub fn run(args: Gen) -> anyhow::Result<u8> {
    let (min, max) = match &args {
        Gen::RandomMixed(a) => (a.min, a.max),
        Gen::ProducerConsumer(a) => (a.min, a.max),
        Gen::Threads(a) => (a.min, a.max),
    };
    if min > max {
        anyhow::bail!(
            "--min {min} is larger than --max {max}; the sizes are drawn from [min, max]"
        );
    }
    if let Gen::Threads(a) = &args {
        let total = u64::from(a.threads).saturating_mul(a.iters);
        anyhow::ensure!(
            total <= options::MAX_GEN_STEPS,
            "--threads {} x --iters {} = {total} steps; a generated workload holds at most {} \
             (lower --iters or --threads)",
            a.threads,
            a.iters,
            options::MAX_GEN_STEPS
        );
    }
    let output = match &args {
        Gen::RandomMixed(a) => &a.output,
        Gen::ProducerConsumer(a) => &a.output,
        Gen::Threads(a) => &a.output,
    };
    replayer::files::check_output_file(output, "--out")?;
    let (writer, output) = match args {
        Gen::RandomMixed(a) => {
            let p = gen::RandomMixedParams {
                iters: a.iters,
                ws: a.ws,
                seed: a.seed,
                min: a.min,
                max: a.max,
            };
            (gen::random_mixed(&p), a.output)
        }
        Gen::ProducerConsumer(a) => {
            let p = gen::ProducerConsumerParams {
                producers: a.producers,
                consumers: a.consumers,
                items: a.items,
                depth: a.depth,
                min: a.min,
                max: a.max,
                ack_size: a.ack_size,
                seed: a.seed,
            };
            (
                gen::producer_consumer(&p).context("gen producer-consumer")?,
                a.output,
            )
        }
        Gen::Threads(a) => {
            let p = gen::ThreadsParams {
                threads: a.threads,
                iters: a.iters,
                ws: a.ws,
                min: a.min,
                max: a.max,
                remote: a.remote,
                seed: a.seed,
            };
            (gen::threads(&p).context("gen threads")?, a.output)
        }
    };
    write(&writer, &output)
}

/// Writes `w` to `output` and prints a one-line summary.
fn write(w: &WorkloadWriter, output: &std::path::Path) -> anyhow::Result<u8> {
    let s = w.write(output)?;
    let threads = w.threads().len();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "wrote {}: {} ops, {} thread{}, {} object slots, {} bytes ({:.2} bytes/op in the op streams)",
        output.display(),
        s.ops,
        threads,
        if threads == 1 { "" } else { "s" },
        s.object_slots,
        s.bytes,
        if s.ops == 0 {
            0.0
        } else {
            w.threads().iter().map(|t| t.encoded_len()).sum::<usize>() as f64 / s.ops as f64
        }
    )?;
    Ok(0)
}
