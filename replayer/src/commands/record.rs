//! `hakmem record [-o DIR] [--compile] [--chunk-kb N] [-q] -- CMD ARGS…`: run a program under the
//! recorder, list the raw traces it wrote and, with `--compile`, compile them into one workload (all on
//! stderr, so the program's stdout stays its own).

use replayer::record::{self, RecordOptions, TraceSummary};
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `hakmem record`.
#[derive(clap::Args)]
#[command(
    after_help = "The program's stdin, stdout, stderr and exit status are its own (a death by signal N exits \
with 128+N); the list of traces goes to stderr.\n\nRecorder knobs (environment, read once by each recorded process):\n  \
HAKMEM_RECORD_DIR       trace directory (set from -o)\n  \
HAKMEM_RECORD_CHUNK_KB  bytes per thread chunk in KiB, 4..1048576 (default 64; set from --chunk-kb)\n  \
HAKMEM_RECORD_MAX_MB    largest trace per process in MiB (default 65536); events past it are counted as dropped\n  \
HAKMEM_RECORD_OFF       1 = pass every call through, write nothing\n  \
HAKMEM_RECORD_LIB       (read by hakmem) path of libhakmem_recorder.so (default: next to the hakmem executable)"
)]
pub struct Args {
    /// Directory for the raw traces (one file per process: PROGRAM.PID.hkraw); created if missing.
    #[arg(
        short = 'o',
        long = "out",
        alias = "output",
        default_value = ".",
        value_name = "DIR"
    )]
    out: PathBuf,
    /// Chunk size per thread in KiB (HAKMEM_RECORD_CHUNK_KB; default 64).
    #[arg(long, value_name = "KIB", value_parser = replayer::options::chunk_kb)]
    chunk_kb: Option<u32>,
    /// Compile the traces of the run into one workload, DIR/PROG.PID.hkw (as `hakmem compile` would).
    #[arg(long)]
    compile: bool,
    /// Print nothing about the traces at the end.
    #[arg(short, long)]
    quiet: bool,
    /// List every trace (pid, threads, events, bytes, how it ended), not only the summary line.
    #[arg(short, long)]
    verbose: bool,
    /// Keep only the traces of processes whose executable is named PROG (its file name, e.g. `python3.12`
    /// or `sort`); the traces of launchers (`bash`, pyenv shims, `env`) are deleted after the run.
    #[arg(long, value_name = "NAME")]
    only: Option<String>,
    /// The program and its arguments (after `--`).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    command: Vec<OsString>,
}

/// Runs `hakmem record`: the program's exit code is passed through; a signal death is reported and
/// becomes 128 + the signal number.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let recorder = record::find_recorder()?;
    record::check_env_knobs(args.chunk_kb.is_some())?;
    let opts = RecordOptions {
        out_dir: args.out.clone(),
        command: args.command,
        chunk_kb: args.chunk_kb,
        recorder,
    };
    let mut outcome = record::record(&opts)?;
    let mut err = std::io::stderr().lock();
    if let Some(prog) = &args.only {
        let (keep, drop): (Vec<_>, Vec<_>) = outcome.traces.iter().cloned().partition(|p| {
            let exe = TraceSummary::read(p).executable;
            std::path::Path::new(&exe)
                .file_name()
                .is_some_and(|n| n.to_string_lossy() == prog.as_str())
        });
        for p in &drop {
            let _ = std::fs::remove_file(p);
        }
        if !drop.is_empty() {
            writeln!(
                err,
                "hakmem record: --only {prog}: deleted {} trace{} of other programs",
                drop.len(),
                if drop.len() == 1 { "" } else { "s" }
            )?;
        }
        outcome.traces = keep;
    }
    if let Some(sig) = std::os::unix::process::ExitStatusExt::signal(&outcome.status) {
        writeln!(
            err,
            "hakmem record: the program was killed by {} (exit status {})",
            record::signal_name(sig),
            outcome.exit_code()
        )?;
    }
    if !args.quiet {
        let summaries: Vec<TraceSummary> = outcome
            .traces
            .iter()
            .map(|p| TraceSummary::read(p))
            .collect();
        let events: u64 = summaries.iter().map(|s| s.events).sum();
        let unclean = summaries.iter().filter(|s| !s.clean).count();
        writeln!(
            err,
            "hakmem record: {} trace{} in {} ({events} events; {}){}",
            summaries.len(),
            if summaries.len() == 1 { "" } else { "s" },
            args.out.display(),
            if unclean == 0 {
                "all ended cleanly".to_string()
            } else {
                format!("{unclean} did not end cleanly")
            },
            if args.verbose || summaries.is_empty() {
                ""
            } else {
                "; -v lists them"
            }
        )?;
        // One line per process only when asked, or for the ones that need attention: a launcher (a shell,
        // a pyenv shim) is recorded too and would otherwise make dozens of identical lines.
        for s in summaries.iter().filter(|s| args.verbose || !s.clean) {
            writeln!(
                err,
                "  {}  pid {}  {} threads  {} events  {} bytes  {}",
                s.path.display(),
                s.pid,
                s.threads,
                s.events,
                s.bytes,
                s.status
            )?;
        }
    }
    if args.compile {
        match record::workload_path(&outcome.traces) {
            None => writeln!(
                err,
                "hakmem record: no trace was written, nothing to compile"
            )?,
            Some(out) => {
                let c = record::compile_traces(&outcome.traces, &out)?;
                writeln!(
                    err,
                    "hakmem record: compiled {} -> {}: {} ops, {} threads; unknown frees {}, double frees {}, inversions repaired {}",
                    outcome.traces.len(),
                    c.path.display(),
                    c.ops,
                    c.threads,
                    c.unknown_frees,
                    c.double_frees,
                    c.inversions_repaired
                )?;
            }
        }
    }
    Ok(outcome.exit_code())
}
