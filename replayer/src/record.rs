//! The library side of `hakmem record`: run a program under `libhakmem_recorder.so` and list the raw
//! traces it wrote.
//!
//! Entry points: [`find_recorder`] (the `.so` next to the running `hakmem`, or `HAKMEM_RECORD_LIB`),
//! [`record`] (spawn with `LD_PRELOAD` and the recorder's knobs, wait, collect), [`TraceSummary`].
//!
//! Invariants: the program's stdin, stdout and stderr are inherited untouched; the only environment
//! changes are `LD_PRELOAD` (the recorder first, then whatever the user had) and `HAKMEM_RECORD_*`
//! knobs; the traces listed are exactly the `*.hkraw` files that appeared in the output directory during
//! the run.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use traces::raw::{EndState, RawTrace};

/// File name of the recorder library.
pub const RECORDER_SO: &str = "libhakmem_recorder.so";
/// Environment variable that overrides where the recorder library is.
pub const RECORDER_ENV: &str = "HAKMEM_RECORD_LIB";

/// Errors of `hakmem record`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The recorder library was not found.
    #[error("{}: recorder library not found (build it with `cargo build --release -p hakmem-recorder`, or set {RECORDER_ENV})", path.display())]
    RecorderMissing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The output directory could not be created or listed.
    #[error("{}: {cause}", path.display())]
    OutputDir {
        /// The directory.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// The recorder library is not a library that defines `malloc`.
    #[error("{}: {cause} (is {RECORDER_ENV} right?)", path.display())]
    RecorderNotALibrary {
        /// The file.
        path: PathBuf,
        /// Why it cannot be the recorder.
        cause: String,
    },
    /// A recorder knob in the environment has a value the recorder would ignore.
    #[error("{name}={value:?}: {expected}")]
    BadKnob {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
    /// The program could not be started.
    #[error("cannot run `{}`: {cause}", program.to_string_lossy())]
    Spawn {
        /// The program.
        program: OsString,
        /// The cause.
        cause: std::io::Error,
    },
}

/// Where `hakmem record` looks for the recorder: `$HAKMEM_RECORD_LIB`, else `libhakmem_recorder.so` in
/// the directory of the running executable (`target/release/` next to `hakmem`).
pub fn find_recorder() -> Result<PathBuf, RecordError> {
    let path = match std::env::var_os(RECORDER_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => {
            let exe = std::env::current_exe().unwrap_or_default();
            exe.parent().unwrap_or(Path::new(".")).join(RECORDER_SO)
        }
    };
    if !path.is_file() {
        return Err(RecordError::RecorderMissing { path });
    }
    let path = std::fs::canonicalize(&path).unwrap_or(path);
    // ld.so only prints a warning for a preload it cannot use, and the program then runs unrecorded.
    crate::elf::check_defines_malloc(&path).map_err(|cause| RecordError::RecorderNotALibrary {
        path: path.clone(),
        cause,
    })?;
    Ok(path)
}

/// Checks the recorder knobs of the environment the way the recorder reads them, which ignores a bad
/// value silently (it has no way to say so inside a program's malloc): `HAKMEM_RECORD_CHUNK_KB` (unless
/// `--chunk-kb` overrides it) and `HAKMEM_RECORD_MAX_MB`.
pub fn check_env_knobs(chunk_kb_flag: bool) -> Result<(), RecordError> {
    let check = |name: &'static str, lo: u64, hi: u64, expected: &'static str| {
        let Some(v) = std::env::var_os(name) else {
            return Ok(());
        };
        let value = v.to_string_lossy().into_owned();
        match value.parse::<u64>() {
            Ok(n) if (lo..=hi).contains(&n) => Ok(()),
            _ => Err(RecordError::BadKnob {
                name,
                value,
                expected,
            }),
        }
    };
    if !chunk_kb_flag {
        check(
            "HAKMEM_RECORD_CHUNK_KB",
            4,
            1 << 20,
            "expected KiB per thread chunk, 4..=1048576 (or use --chunk-kb)",
        )?;
    }
    check(
        "HAKMEM_RECORD_MAX_MB",
        1,
        1 << 26,
        "expected the largest trace per process in MiB, 1..=67108864",
    )
}

/// What to record.
#[derive(Clone, Debug)]
pub struct RecordOptions {
    /// Directory for the traces (created if missing).
    pub out_dir: PathBuf,
    /// Program and its arguments.
    pub command: Vec<OsString>,
    /// `HAKMEM_RECORD_CHUNK_KB`, when set.
    pub chunk_kb: Option<u32>,
    /// The recorder library (see [`find_recorder`]).
    pub recorder: PathBuf,
}

/// One trace written by the run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TraceSummary {
    /// The file.
    pub path: PathBuf,
    /// Recorded pid.
    pub pid: u32,
    /// Executable of the process.
    pub executable: String,
    /// Threads seen.
    pub threads: usize,
    /// Events recovered.
    pub events: u64,
    /// Size of the file in bytes.
    pub bytes: u64,
    /// How recording ended, in words (from [`traces::raw::Recovery::summary`]), or why it could not be read.
    pub status: String,
    /// Whether the trace ended cleanly (normal exit or exec) with nothing lost.
    pub clean: bool,
}

impl TraceSummary {
    /// Reads a trace's summary (an unreadable file gives a summary that says why).
    pub fn read(path: &Path) -> TraceSummary {
        let bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        match RawTrace::open(path) {
            Ok(t) => TraceSummary {
                path: path.to_path_buf(),
                pid: t.header().pid,
                executable: t.header().executable.clone(),
                threads: t.threads().len(),
                events: t.event_count(),
                bytes,
                status: t.recovery().summary(),
                clean: t.recovery().is_clean() && t.recovery().end != EndState::None,
            },
            Err(e) => TraceSummary {
                path: path.to_path_buf(),
                pid: 0,
                executable: String::new(),
                threads: 0,
                events: 0,
                bytes,
                status: format!("unreadable: {e}"),
                clean: false,
            },
        }
    }
}

/// How the recorded program ended, and what it left.
#[derive(Debug)]
pub struct RecordOutcome {
    /// Exit status of the program.
    pub status: ExitStatus,
    /// Traces written during the run, sorted by file name.
    pub traces: Vec<PathBuf>,
}

impl RecordOutcome {
    /// The exit code `hakmem record` passes on: the program's, or 128 + signal when a signal killed it.
    pub fn exit_code(&self) -> u8 {
        match (self.status.code(), self.status.signal()) {
            (Some(c), _) => c as u8,
            (None, Some(s)) => (128 + s).min(255) as u8,
            _ => 1,
        }
    }
}

fn hkraw_files(dir: &Path) -> Result<BTreeSet<PathBuf>, RecordError> {
    let rd = std::fs::read_dir(dir).map_err(|source| RecordError::OutputDir {
        path: dir.to_path_buf(),
        cause: source,
    })?;
    Ok(rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "hkraw"))
        .collect())
}

/// The value of `LD_PRELOAD` for the child: the recorder first (so that its hooks are the ones bound),
/// then the user's own preloads, if any.
pub fn preload_value(recorder: &Path, existing: Option<OsString>) -> OsString {
    let mut v = recorder.as_os_str().to_os_string();
    if let Some(old) = existing.filter(|o| !o.is_empty()) {
        v.push(":");
        v.push(old);
    }
    v
}

/// Runs the program under the recorder and waits for it. While it runs, `SIGINT` and `SIGQUIT` are
/// ignored here (they reach the program, as with `time`), so that the traces are still listed.
pub fn record(opts: &RecordOptions) -> Result<RecordOutcome, RecordError> {
    let dir = &opts.out_dir;
    // Directories this run creates, outermost first: removed again if the program cannot be started, so
    // a typo in the command leaves nothing behind.
    let mut created = Vec::new();
    let mut a = dir.as_path();
    while !a.as_os_str().is_empty() && !a.exists() {
        created.push(a.to_path_buf());
        a = a.parent().unwrap_or(Path::new(""));
    }
    created.reverse();
    traces::private::create_dir_all(dir).map_err(|source| RecordError::OutputDir {
        path: dir.clone(),
        cause: source,
    })?;
    let dir = std::fs::canonicalize(dir).map_err(|source| RecordError::OutputDir {
        path: dir.clone(),
        cause: source,
    })?;
    let before = hkraw_files(&dir)?;
    let program = opts.command.first().cloned().unwrap_or_default();
    let mut cmd = Command::new(&program);
    cmd.args(&opts.command[1..])
        .env(
            "LD_PRELOAD",
            preload_value(&opts.recorder, std::env::var_os("LD_PRELOAD")),
        )
        .env("HAKMEM_RECORD_DIR", &dir)
        .env(
            "HAKMEM_RECORD_MODE",
            format!("{:o}", traces::private::file_mode()),
        )
        .env_remove("HAKMEM_RECORD_OFF");
    if let Some(kb) = opts.chunk_kb {
        cmd.env("HAKMEM_RECORD_CHUNK_KB", kb.to_string());
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(cause) => {
            for d in created.iter().rev() {
                let _ = std::fs::remove_dir(d);
            }
            return Err(RecordError::Spawn { program, cause });
        }
    };
    // SAFETY: setting the disposition of two signals in this process to "ignore"; no handler runs.
    let old = unsafe {
        [
            libc::signal(libc::SIGINT, libc::SIG_IGN),
            libc::signal(libc::SIGQUIT, libc::SIG_IGN),
        ]
    };
    let status = child.wait();
    // SAFETY: restoring the dispositions saved above.
    unsafe {
        libc::signal(libc::SIGINT, old[0]);
        libc::signal(libc::SIGQUIT, old[1]);
    }
    let status = status.map_err(|cause| RecordError::Spawn { program, cause })?;
    let after = hkraw_files(&dir)?;
    Ok(RecordOutcome {
        status,
        traces: after.difference(&before).cloned().collect(),
    })
}

/// What `--compile` produced.
#[derive(Clone, Debug)]
pub struct CompileSummary {
    /// The workload written.
    pub path: PathBuf,
    /// Ops in the workload.
    pub ops: u64,
    /// Threads in the workload.
    pub threads: usize,
    /// Frees of pointers never seen allocated (allocated before recording started).
    pub unknown_frees: u64,
    /// Frees of already freed pointers.
    pub double_frees: u64,
    /// Log inversions repaired.
    pub inversions_repaired: u64,
}

/// Compiles the traces of one run into one workload, `out` (with `traces::compile`, default options).
pub fn compile_traces(traces: &[PathBuf], out: &Path) -> anyhow::Result<CompileSummary> {
    use anyhow::Context;
    let c =
        traces::compile::compile_files_to(traces, &traces::compile::CompileOptions::default(), out)
            .with_context(|| format!("{}: cannot write the workload", out.display()))?;
    let st = &c.workload.stats;
    Ok(CompileSummary {
        path: out.to_path_buf(),
        ops: c.summary.ops,
        threads: c.workload.threads.len(),
        unknown_frees: st.unknown_frees,
        double_frees: st.double_frees,
        inversions_repaired: st.inversions_repaired,
    })
}

/// Where `--compile` writes: next to the traces, named after the first trace (`PROG.PID.hkw`).
pub fn workload_path(traces: &[PathBuf]) -> Option<PathBuf> {
    traces.first().map(|t| t.with_extension("hkw"))
}

/// Name of a signal, for messages ("SIGKILL"), or its number.
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}
