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
    /// Do not list the traces at the end.
    #[arg(short, long)]
    quiet: bool,
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
    let opts = RecordOptions {
        out_dir: args.out.clone(),
        command: args.command,
        chunk_kb: args.chunk_kb,
        recorder,
    };
    let outcome = record::record(&opts)?;
    let mut err = std::io::stderr().lock();
    if let Some(sig) = std::os::unix::process::ExitStatusExt::signal(&outcome.status) {
        writeln!(
            err,
            "hakmem record: the program was killed by {} (exit status {})",
            record::signal_name(sig),
            outcome.exit_code()
        )?;
    }
    if !args.quiet {
        writeln!(
            err,
            "hakmem record: {} trace(s) in {}",
            outcome.traces.len(),
            args.out.display()
        )?;
        for p in &outcome.traces {
            let s = TraceSummary::read(p);
            writeln!(
                err,
                "  {}  pid {}  {} threads  {} events  {} bytes  {}",
                p.display(),
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
