//! `hakmem replay WORKLOAD… --alloc SPEC …`: replays workloads through allocator configurations, each
//! sample a fresh child process, and writes a result bundle plus a summary table.

use super::live::ReplayCalls;
use replayer::engine::Touch;
use replayer::options;
use replayer::session::Session;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `hakmem replay`.
#[derive(clap::Args)]
#[command(
    after_help = "Exit status: 0 when every sample succeeded, 1 when some failed (crash, timeout, \
allocation failure, --check violation, unreadable workload: all recorded in the bundle with their reason), \
2 when the run could not start (bad spec, unknown knob, missing .so).\n\
Results: DIR/manifest.json + DIR/samples.jsonl (one JSON sample per line, appended as children finish)."
)]
pub struct Args {
    /// Workload files (.hkw) from `hakmem compile` or `hakmem gen`.
    #[arg(required = true)]
    workloads: Vec<PathBuf>,
    /// Allocator configuration: `hakmem`, `hakmem:KEY=VALUE,…` (a value `A|B|C` sweeps), `system`,
    /// `mimalloc`, `preload:PATH.so`. Repeat the flag for several.
    #[arg(long = "alloc", value_name = "SPEC", default_values_t = ["system".to_string(), "mimalloc".to_string(), "hakmem".to_string()])]
    allocs: Vec<String>,
    /// Samples per configuration × workload, interleaved across configurations; `auto` repeats until
    /// every configuration is separated from the baseline (p < 0.05) or equivalent to it (ratio range
    /// within ±1%), at least 5 and at most --max-repeats times.
    #[arg(long, default_value = "5", value_name = "N|auto", value_parser = parse_repeats)]
    pub(crate) repeats: Repeats,
    /// Cap of `--repeats auto`.
    #[arg(long, default_value = "20", value_name = "N", value_parser = options::repeats)]
    max_repeats: u32,
    /// Children at once [default: usable cores / the widest workload's threads, at least 1].
    #[arg(long, value_name = "N", value_parser = options::jobs)]
    jobs: Option<usize>,
    /// How much of each new block to write.
    #[arg(long, value_enum, default_value_t = Touch::First)]
    touch: Touch,
    /// Kill a child after this many seconds (recorded as a `timeout` sample).
    #[arg(long, default_value = "600", value_name = "SECONDS", value_parser = options::timeout)]
    timeout: Duration,
    /// Verify each allocator's contract while replaying (alignment, usable size, calloc zeroed, no
    /// overlap, realloc keeps contents); slower, so its figures are not comparable with unchecked runs.
    #[arg(long)]
    check: bool,
    /// Time one call in N per thread for latency percentiles (0 = off).
    #[arg(long, default_value = "64", value_name = "N", value_parser = options::latency_every)]
    latency_every: u32,
    /// Before the start barrier, each replay thread makes one malloc and one free per size class it
    /// allocates (up to 32 KiB): its heap's creation and the first touch of the allocator's per-class
    /// metadata are then outside the timed region, and a short workload ranks the allocators as a long
    /// one does (`--warmup=false`: time them too).
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value_t = true, default_missing_value = "true", value_name = "BOOL")]
    warmup: bool,
    /// Busy-wait NS nanoseconds before each replayed call, in every replay thread (a calibrated loop,
    /// inside the timed region), as a stand-in for the program's work between its calls: the threads of a
    /// back-to-back replay contend for the allocator more than the program's do. `off` = 0 = the calls
    /// back to back. An experiment (docs/experiments/harness.md, "Pacing"): it changes every time measured.
    #[arg(long, default_value = "off", value_name = "NS|off", value_parser = options::pace)]
    pace: u32,
    /// Walk each replay thread's live blocks in allocation order, reading the first byte of each, inside
    /// the timed region, as a program's collector or pointer-chasing loops do: the youngest blocks every N
    /// allocations of the thread, older generations as CPython's collector schedules them (thresholds
    /// N/10/10; the oldest only once the blocks moved to it since its last walk are a quarter of it), so a
    /// walk costs a bounded number of reads per allocation. An allocator that places consecutive
    /// allocations close together walks faster. Counts in the samples (`walks`, `walked_blocks`);
    /// `off` = no walks. An experiment (docs/experiments/harness.md, "Walks").
    #[arg(long, default_value = "off", value_name = "N|off", value_parser = options::walk)]
    walk: u32,
    /// How the replay calls the allocators: `preload` runs every configuration through its preloaded .so
    /// and the C library's symbols (`hakmem` = libhakmem.so with the spec's knobs in the environment,
    /// `mimalloc` = libhakmem_mimalloc.so, the same vendored version), as programs call them, so that
    /// every backend pays the same call; `linked` calls hakmem and mimalloc linked into the harness
    /// (HAKMEM's Rust code inlined into the replay loop by LTO, mimalloc's C code not: faster for HAKMEM
    /// than as deployed, docs/experiments/harness.md).
    #[arg(long, value_enum, default_value_t = ReplayCalls::Preload, value_name = "CALLS")]
    calls: ReplayCalls,
    /// Bundle directory [default: ./hakmem-results/replay-DATE].
    #[arg(long = "out", short = 'o', alias = "output", value_name = "DIR")]
    out: Option<PathBuf>,
    /// Also write the whole bundle as one JSON document (`-` = stdout).
    #[arg(long, value_name = "FILE")]
    export_json: Option<PathBuf>,
    /// Configuration the summary's ratios refer to [default: system if measured, else the first].
    #[arg(long, value_name = "NAME")]
    baseline: Option<String>,
}

/// `--repeats`: a number or `auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Repeats {
    /// Exactly this many.
    Fixed(u32),
    /// Until settled, up to `--max-repeats`.
    Auto,
}

fn parse_repeats(s: &str) -> Result<Repeats, String> {
    if s == "auto" {
        return Ok(Repeats::Auto);
    }
    options::repeats(s).map(Repeats::Fixed)
}

/// Runs `hakmem replay`.
pub fn run(args: Args) -> anyhow::Result<u8> {
    session(args)?.run()
}

/// The session `hakmem replay ARGS` runs (also what `hakmem plan replay ARGS` writes as jobs): specs,
/// knobs and limits checked, workloads described (an unreadable one is reported here).
pub fn session(args: Args) -> anyhow::Result<Session> {
    let configs = super::checked_run_setup(&args.allocs, args.baseline.as_deref())?;
    let configs = args.calls.specs(&configs)?;
    let timeout = args.timeout;
    if let Some(out) = &args.out {
        replayer::files::check_output_dir(out, "--out")?;
    }
    let inputs = replayer::workload::inputs(&args.workloads);
    for i in &inputs {
        if let Err(e) = &i.source {
            eprintln!("error: {e}");
        }
    }
    Ok(Session {
        kind: "replay",
        configs,
        inputs,
        repeats: match args.repeats {
            Repeats::Fixed(n) => n,
            Repeats::Auto => args.max_repeats,
        },
        auto_repeats: args.repeats == Repeats::Auto,
        jobs: args.jobs,
        timeout,
        touch: args.touch,
        check: args.check,
        latency_every: args.latency_every,
        warmup: args.warmup,
        pace_ns: args.pace,
        walk: args.walk,
        out: args.out,
        export_json: args.export_json,
        baseline: args.baseline,
    })
}
