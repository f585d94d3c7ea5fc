//! `hakmem`: the HAKMEM Workbench command line. Thin: each subcommand lives in `commands/NAME.rs`, parses
//! its arguments and calls library functions.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod commands;

/// The harness's own memory stays in glibc's heap, whatever allocator a replay child has preloaded
/// (see `replayer::harness_alloc`).
#[global_allocator]
static HARNESS: replayer::harness_alloc::GlibcHarness = replayer::harness_alloc::GlibcHarness;

/// Record, compile, replay and report allocation workloads; compare HAKMEM with other allocators.
#[derive(Parser)]
#[command(name = "hakmem", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a program under the recorder and write its raw allocation traces.
    Record(commands::record::Args),
    /// Compile raw traces into a replayable workload (.hkw).
    Compile(commands::compile::Args),
    /// Describe a raw trace or a workload.
    Info(commands::info::Args),
    /// Generate a synthetic workload.
    #[command(subcommand)]
    Gen(commands::gen::Gen),
    /// Replay workloads through allocators in parallel child processes.
    Replay(commands::replay::Args),
    /// Run a real program under each allocator (LD_PRELOAD), optionally record and replay it too.
    Live(commands::live::Args),
    /// Run a live benchmark (the memo's random-mixed loop) through allocators.
    #[command(subcommand)]
    Bench(commands::bench::Bench),
    /// Write the samples of a replay as jobs for GNU parallel or a Slurm job array, instead of running them.
    #[command(subcommand)]
    Plan(commands::plan::Plan),
    /// Take one sample of a plan (a line of its jobs.txt).
    RunJob(commands::run_job::Args),
    /// Merge a plan's samples into a result bundle; list the jobs still to run.
    Collect(commands::collect::Args),
    /// Summarise result bundles: terminal table, CSV/Markdown/JSON exports, HTML report.
    Report(commands::report::Args),
    /// The whole loop on this machine with defaults: generate, record, compile, replay, report.
    Demo(commands::demo::Args),
    /// Internal: one replay/bench sample inside a child process.
    #[command(hide = true, name = "__child")]
    Child(commands::child::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Record(a) => commands::record::run(a),
        Command::Compile(a) => commands::compile::run(a),
        Command::Info(a) => commands::info::run(a),
        Command::Gen(a) => commands::gen::run(a),
        Command::Replay(a) => commands::replay::run(a),
        Command::Live(a) => commands::live::run(a),
        Command::Bench(a) => commands::bench::run(a),
        Command::Plan(a) => commands::plan::run(a),
        Command::RunJob(a) => commands::run_job::run(a),
        Command::Collect(a) => commands::collect::run(a),
        Command::Report(a) => commands::report::run(a),
        Command::Demo(a) => commands::demo::run(a),
        Command::Child(a) => commands::child::run(a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// A closed stdout (`hakmem info x | head`) is not an error, whether the write error reaches here as an
/// `io::Error` or wrapped in a `serde_json::Error` (`info --json`, `--export-json -`).
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == BrokenPipe)
            || e.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(BrokenPipe))
    })
}
