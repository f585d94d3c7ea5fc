//! Live runs: the real program under each allocator, the way a user deploys one (`LD_PRELOAD`), measured
//! from outside. This is the ground truth that replays are checked against (`hakmem live --record`).
//!
//! Entry points: [`LiveCommand::sample`] (one counted sample, as `hakmem live` and `hakmem run-job` of a live
//! plan both take it: [`LiveCommand::run_once`], judged, named, stamped with the host),
//! [`LiveCommand::run_once`] (one run: the program as a direct child of the driver, pinned, in its own
//! process group, reaped with `wait4` for its rusage), [`reference_run`] (the uncounted run under the
//! system allocator whose exit status and stdout every sample must match), [`judge`] (a run that differs
//! from it is a failed `output_differs` sample), [`manifest`] (the bundle's manifest), [`settled`] (the
//! stopping rule of `--repeats auto`) and [`record`] (record + compile the command once).
//!
//! What a live sample measures: wall seconds from just before `fork` to the moment the program's main
//! process has exited (its other processes are included when it waited for them); user and system CPU,
//! minor/major faults summed over the program and every descendant it waited for; peak RSS is
//! `ru_maxrss`, which the kernel keeps as a maximum, not a sum: the largest peak of any single process of
//! the program. Stdout is hashed as it streams (never kept); stderr is kept (its last 4 KiB) only to
//! explain a failure, except HAKMEM's per-box statistics (`HAKMEM_STATS=1`, set for HAKMEM
//! configurations), which are taken out of it and kept with the sample: those of the program's busiest
//! process.
//!
//! Invariants: every run yields exactly one sample; a run that outlives the timeout is killed with its
//! whole process group; nothing is allocated between `fork` and `exec`.

use crate::spec::{AllocSpec, BackendKind};
use reports::model::{
    AllocatorInfo, Manifest, Sample, Status, WorkloadInfo, BUNDLE_FORMAT_VERSION, KIND_LIVE,
};
use serde::{Deserialize, Serialize};
use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Bytes of stderr kept for failure messages.
const STDERR_KEPT: usize = 4096;

/// The command a live session runs.
#[derive(Clone, Debug)]
pub struct LiveCommand {
    /// Program and arguments.
    pub argv: Vec<OsString>,
    /// Working directory (`None` = the driver's).
    pub cwd: Option<PathBuf>,
    /// File fed to stdin on every run (`None` = `/dev/null`).
    pub stdin: Option<PathBuf>,
    /// Kill a run after this long.
    pub timeout: Duration,
}

/// How one configuration is deployed live: what to preload and which environment to add.
#[derive(Clone, Debug, PartialEq)]
pub struct Deployment {
    /// The configuration label (as in replay).
    pub label: String,
    /// Backend name of the configuration as the user wrote it (`hakmem`, `mimalloc`, `system`, `preload`).
    pub allocator: String,
    /// Library to put first in `LD_PRELOAD` (`None` = the C library's allocator).
    pub preload: Option<PathBuf>,
    /// Environment added (HAKMEM knobs of the configuration).
    pub env: Vec<(String, String)>,
}

impl Deployment {
    /// The live deployment of a configuration: `hakmem[:K=V…]` preloads `libhakmem.so` with its knobs in
    /// the environment, `mimalloc` preloads `libhakmem_mimalloc.so` (the vendored version, as replay links
    /// in), `system` preloads nothing, named and `preload:` libraries are preloaded as given.
    pub fn of(spec: &AllocSpec) -> Result<Deployment, crate::spec::SpecError> {
        let p = crate::spec::preloaded(spec)?;
        Ok(Deployment {
            label: spec.label.clone(),
            allocator: spec.backend.name().to_string(),
            preload: match p.backend {
                BackendKind::Preload => p.path,
                _ => None,
            },
            env: p.knobs,
        })
    }

    /// The reference deployment: the C library's allocator.
    pub fn system() -> Deployment {
        Deployment {
            label: "system".into(),
            allocator: "system".into(),
            preload: None,
            env: Vec::new(),
        }
    }
}

/// Exit status and output of the reference run (the system allocator), which every sample must match.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// Exit code (`None`: killed by a signal).
    pub exit_code: Option<i32>,
    /// `sha256:HEX/LEN` of its stdout.
    pub stdout_hash: String,
}

impl Reference {
    /// The reference taken from a run (which must have run to its end: exited or killed by a signal).
    pub fn of(s: &Sample) -> Reference {
        Reference {
            exit_code: s.exit_code,
            stdout_hash: s.stdout_hash.clone(),
        }
    }

    /// The bundle note that says what the samples were checked against.
    pub fn note(&self) -> String {
        format!(
            "reference run (system allocator, not counted): exit status {}, stdout {}",
            self.exit_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "none (killed by a signal)".into()),
            self.stdout_hash
        )
    }
}

/// Runs `cmd` once under the system allocator on `cpus` (not counted; it also warms the page cache) and
/// returns what every sample must match. A run that could not start or timed out is an error: nothing
/// could be judged against it (a program killed by a signal is a valid reference).
pub fn reference_run(cmd: &LiveCommand, cpus: &[u32]) -> anyhow::Result<Reference> {
    let s = cmd.run_once(&Deployment::system(), cpus, 0);
    match s.status {
        Some(Status::Ok) | Some(Status::Crashed) => Ok(Reference::of(&s)),
        _ => anyhow::bail!(
            "the reference run of {} under the system allocator failed: {}",
            cmd.name(),
            s.error
        ),
    }
}

/// The manifest of a live bundle of `cmd` through `configs` (deployed as `deployments`, in the same
/// order), with the notes that say what a live sample measures. `repeats` is 0 for `--repeats auto`.
pub fn manifest(
    cmd: &LiveCommand,
    configs: &[AllocSpec],
    deployments: &[Deployment],
    repeats: u32,
    jobs: u32,
    touch: crate::engine::Touch,
) -> Manifest {
    Manifest {
        format_version: BUNDLE_FORMAT_VERSION,
        kind: KIND_LIVE.to_string(),
        command: std::env::args().collect(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        date: crate::sysinfo::now_rfc3339(),
        machine: crate::sysinfo::machine(),
        workloads: vec![WorkloadInfo {
            name: cmd.name(),
            kind: KIND_LIVE.to_string(),
            ..Default::default()
        }],
        allocators: configs
            .iter()
            .zip(deployments)
            .map(|(c, d)| AllocatorInfo {
                allocator: c.backend.name().to_string(),
                config: c.label.clone(),
                knobs: c.knobs.iter().cloned().collect(),
                version: match &d.preload {
                    Some(p) => crate::session::allocator_version(&AllocSpec {
                        backend: BackendKind::Preload,
                        knobs: Vec::new(),
                        path: Some(p.clone()),
                        label: String::new(),
                    }),
                    None => crate::backend::glibc_version(),
                },
                path: d
                    .preload
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            })
            .collect(),
        repeats,
        jobs,
        touch: touch.name().to_string(),
        check: false,
        notes: vec![
            format!(
                "live command: {}",
                cmd.argv
                    .iter()
                    .map(|a| a.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            "live samples: seconds = the program's wall time; peak_rss_bytes = ru_maxrss, the largest peak of any one of its processes (a maximum, not a sum); CPU and faults summed over the processes it waited for".into(),
        ],
    }
}

/// The CPU set of `cpus`, built before `fork` so the child only has to make one system call.
fn cpu_set(cpus: &[u32]) -> Option<libc::cpu_set_t> {
    if cpus.is_empty() {
        return None;
    }
    // SAFETY: cpu_set_t is a plain bit array; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus {
        // SAFETY: CPU_SET only writes the bit of `c` inside `set` (it ignores numbers past its size).
        unsafe { libc::CPU_SET(c as usize, &mut set) };
    }
    Some(set)
}

fn failed(status: Status, error: String) -> Sample {
    Sample {
        status: Some(status),
        error,
        ..Sample::default()
    }
}

impl LiveCommand {
    /// A short name for the command: its arguments joined by spaces (the program by its file name; runs
    /// of white space, newlines included, become one space), shortened to 80 characters.
    pub fn name(&self) -> String {
        let mut parts: Vec<String> = self
            .argv
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        if let Some(first) = parts.first_mut() {
            if let Some(base) = Path::new(first.as_str()).file_name() {
                *first = base.to_string_lossy().into_owned();
            }
        }
        let joined = parts
            .join(" ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if joined.chars().count() > 80 {
            let mut s: String = joined.chars().take(79).collect();
            s.push('…');
            s
        } else {
            joined
        }
    }

    /// Takes one counted sample under `d`, pinned to `cpus`: [`Self::run_once`], judged against
    /// `reference`, named after the command and stamped with this host and CPU model. `hakmem live` and
    /// `hakmem run-job` of a live plan both take their samples here.
    pub fn sample(
        &self,
        d: &Deployment,
        cpus: &[u32],
        repeat: u32,
        reference: &Reference,
    ) -> Sample {
        let mut s = judge(self.run_once(d, cpus, repeat), reference);
        s.workload = self.name();
        crate::orchestrate::stamp_node(&mut s);
        s
    }

    /// Runs the command once under `d`, pinned to `cpus`, and returns the sample (identity fields filled;
    /// not yet judged against a reference).
    pub fn run_once(&self, d: &Deployment, cpus: &[u32], repeat: u32) -> Sample {
        let mut s = self.measure(d, cpus);
        s.kind = KIND_LIVE.to_string();
        s.allocator = d.allocator.clone();
        s.config = d.label.clone();
        s.repeat = repeat;
        s.cpus = cpus.to_vec();
        s
    }

    fn measure(&self, d: &Deployment, cpus: &[u32]) -> Sample {
        let Some(program) = self.argv.first() else {
            return failed(Status::Error, "no command given".into());
        };
        let mut cmd = Command::new(program);
        cmd.args(&self.argv[1..]);
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        if let Some(lib) = &d.preload {
            cmd.env(
                "LD_PRELOAD",
                crate::record::preload_value(lib, std::env::var_os("LD_PRELOAD")),
            );
        }
        for (k, v) in &d.env {
            cmd.env(k, v);
        }
        // HAKMEM prints its per-box statistics at each process's exit (a few writes): collected below, they
        // let the report say which box explains a live result. A configuration that sets HAKMEM_STATS
        // itself keeps its value.
        let box_stats = d.allocator == "hakmem";
        if box_stats && !d.env.iter().any(|(k, _)| k == "HAKMEM_STATS") {
            cmd.env("HAKMEM_STATS", "1");
        }
        let stdin = match &self.stdin {
            Some(p) => match std::fs::File::open(p) {
                Ok(f) => Stdio::from(f),
                Err(e) => {
                    return failed(
                        Status::Error,
                        format!("cannot open the stdin file {}: {e}", p.display()),
                    )
                }
            },
            None => Stdio::null(),
        };
        cmd.stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let set = cpu_set(cpus);
        // SAFETY: between fork and exec the closure makes two system calls, both async-signal-safe, on
        // memory it owns (the CPU set was built before fork); it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                // The program dies with the driver's thread that started it (it has its own process
                // group, so a Ctrl-C at the terminal does not reach it).
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
                if let Some(set) = &set {
                    if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let start = Instant::now();
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                return failed(
                    Status::Error,
                    format!("cannot start {}: {e}", program.to_string_lossy()),
                )
            }
        };
        let pid = child.id() as libc::pid_t;
        let mut out = child.stdout.take().expect("stdout is piped");
        let mut err = child.stderr.take().expect("stderr is piped");
        let out_reader = std::thread::spawn(move || {
            let mut h = crate::sysinfo::Sha256::new();
            let mut buf = vec![0u8; 1 << 16];
            let mut len = 0u64;
            loop {
                match out.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        h.update(&buf[..n]);
                        len += n as u64;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            let hex: String = h.finish().iter().map(|b| format!("{b:02x}")).collect();
            format!("sha256:{hex}/{len}")
        });
        let err_reader = std::thread::spawn(move || {
            let mut split = StderrSplit::new(box_stats);
            let mut buf = vec![0u8; 1 << 14];
            loop {
                match err.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => split.feed(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            split.finish()
        });
        // A watchdog kills the process group at the deadline; the exit is observed first without reaping
        // (WNOWAIT), so the pid cannot be reused before the watchdog has stood down.
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let timeout = self.timeout;
        let watchdog = std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(timeout) {
                // SAFETY: kill(2) on the child's own process group (started with process_group(0)), whose
                // leader has not been reaped yet.
                unsafe { libc::kill(-pid, libc::SIGKILL) };
                true
            } else {
                false
            }
        });
        let waited = wait_exit(pid);
        let wall = start.elapsed().as_secs_f64();
        let _ = done_tx.send(());
        let timed_out = watchdog.join().unwrap_or(false);
        let (status, ru) = reap(pid);
        // The program may have left processes holding its pipes: the readers end when they exit or the
        // process group is gone; a timeout kills the whole group.
        let stdout_hash = out_reader.join().unwrap_or_default();
        let (stderr, stats) = err_reader.join().unwrap_or_default();
        let status = match waited.and(status) {
            Ok(st) => st,
            Err(e) => return failed(Status::Error, format!("lost track of the program: {e}")),
        };
        if timed_out {
            return failed(
                Status::Timeout,
                format!("killed after the {:?} timeout", self.timeout),
            );
        }
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
        let (user, sys) = (tv(ru.ru_utime), tv(ru.ru_stime));
        let mut s = Sample {
            status: Some(Status::Ok),
            seconds: wall,
            ops_per_sec: if wall > 0.0 { 1.0 / wall } else { 0.0 },
            cpu_seconds: user + sys,
            user_seconds: user,
            sys_seconds: sys,
            peak_rss_bytes: (ru.ru_maxrss.max(0) as u64) * 1024,
            minor_faults: ru.ru_minflt.max(0) as u64,
            major_faults: ru.ru_majflt.max(0) as u64,
            stdout_hash,
            box_stats: stats,
            ..Sample::default()
        };
        if libc::WIFEXITED(status) {
            s.exit_code = Some(libc::WEXITSTATUS(status));
        } else if libc::WIFSIGNALED(status) {
            let sig = libc::WTERMSIG(status);
            s.status = Some(Status::Crashed);
            s.error = format!(
                "killed by {} (signal {sig}){}",
                crate::orchestrate::signal_name(sig),
                stderr_tail(&stderr)
            );
        }
        if s.exit_code.is_some_and(|c| c != 0) {
            // Kept only for a possible failure message; judge() decides whether it is one.
            s.error = stderr_tail(&stderr);
        }
        s
    }
}

/// Waits (retrying on EINTR) until `pid` has exited, without reaping it.
/// Per-box statistics of one process: box → counter → value.
type BoxStats = std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>>;

/// Splits a program's stderr as it streams: HAKMEM's per-box statistics (`hakmem: per-box statistics (pid
/// N[, continued])` headers, each followed by `hakmem: BOX.COUNTER VALUE` lines; the allocator writes them
/// in writes of at most `PIPE_BUF` bytes, each with its header, so the lines of processes printing at once
/// stay under their own header) are taken out and kept per process; everything else is the program's and
/// only its last [`STDERR_KEPT`] bytes are kept, for failure messages. Memory stays bounded whatever the
/// program writes: at most [`STATS_PROCESSES`] processes' statistics, lines cut at 64 KiB.
struct StderrSplit {
    /// Whether to look for statistics at all (HAKMEM deployments).
    stats: bool,
    /// The program's stderr, its tail.
    kept: Vec<u8>,
    /// The current line, not yet ended.
    line: Vec<u8>,
    /// Statistics by process id.
    by_pid: std::collections::BTreeMap<u32, BoxStats>,
    /// The process whose header came last.
    current: Option<u32>,
}

/// Processes whose statistics are kept (a program that runs more keeps the first ones).
const STATS_PROCESSES: usize = 4096;
/// A line longer than this is the program's, cut.
const LINE_MAX: usize = 1 << 16;

/// A counter of `s` (0 when absent).
fn counter(s: &BoxStats, bx: &str, name: &str) -> u64 {
    s.get(bx).and_then(|m| m.get(name)).copied().unwrap_or(0)
}

/// Allocations a process's statistics count: Unified Cache hits and misses (every small allocation is one
/// or the other) and Mid and Large allocations.
fn allocations(s: &BoxStats) -> u64 {
    let cache: u64 = s
        .get("unified_cache")
        .map(|m| {
            m.iter()
                .filter(|(k, _)| {
                    (k.starts_with("hits_c") || k.starts_with("misses_c"))
                        || *k == "hits_pool"
                        || *k == "misses_pool"
                })
                .map(|(_, v)| *v)
                .sum()
        })
        .unwrap_or(0);
    cache + counter(s, "mid", "allocs") + counter(s, "large", "allocs")
}

impl StderrSplit {
    fn new(stats: bool) -> Self {
        StderrSplit {
            stats,
            kept: Vec::new(),
            line: Vec::new(),
            by_pid: Default::default(),
            current: None,
        }
    }

    fn feed(&mut self, mut bytes: &[u8]) {
        while let Some(i) = bytes.iter().position(|&b| b == b'\n') {
            self.line.extend_from_slice(&bytes[..=i]);
            bytes = &bytes[i + 1..];
            let line = std::mem::take(&mut self.line);
            self.take_line(line);
        }
        self.line.extend_from_slice(bytes);
        if self.line.len() > LINE_MAX {
            let line = std::mem::take(&mut self.line);
            self.keep(&line);
        }
    }

    fn take_line(&mut self, line: Vec<u8>) {
        if self.stats && self.stats_line(&line) {
            return;
        }
        self.keep(&line);
    }

    /// Whether `line` is a statistics header or counter (then recorded).
    fn stats_line(&mut self, line: &[u8]) -> bool {
        let Ok(text) = std::str::from_utf8(line) else {
            return false;
        };
        let text = text.trim_end_matches('\n');
        // A header may follow an unfinished line of the program's in the same line.
        if let Some(at) = text.find("hakmem: per-box statistics (pid ") {
            let rest = &text[at + "hakmem: per-box statistics (pid ".len()..];
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            let Ok(pid) = digits.parse::<u32>() else {
                return false;
            };
            if at > 0 {
                self.keep(&text.as_bytes()[..at]);
                self.keep(b"\n");
            }
            if self.by_pid.len() < STATS_PROCESSES || self.by_pid.contains_key(&pid) {
                self.by_pid.entry(pid).or_default();
                self.current = Some(pid);
            } else {
                self.current = None;
            }
            return true;
        }
        let Some(rest) = text.strip_prefix("hakmem: ") else {
            return false;
        };
        let Some((name, value)) = rest.rsplit_once(' ') else {
            return false;
        };
        let (Some((bx, counter)), Ok(value)) = (name.split_once('.'), value.parse::<u64>()) else {
            return false;
        };
        let Some(pid) = self.current else {
            // Counters without a header (another process's header was cut): not ours to guess.
            return true;
        };
        if let Some(stats) = self.by_pid.get_mut(&pid) {
            stats
                .entry(bx.to_string())
                .or_default()
                .insert(counter.to_string(), value);
        }
        true
    }

    fn keep(&mut self, bytes: &[u8]) {
        self.kept.extend_from_slice(bytes);
        if self.kept.len() > 2 * STDERR_KEPT {
            self.kept.drain(..self.kept.len() - STDERR_KEPT);
        }
    }

    /// The program's stderr tail and the statistics of its busiest process (the most allocations: Unified
    /// Cache hits and misses, Mid and Large allocations; then the most bytes mapped), empty when none
    /// printed: the program's allocation-heavy process, not the shell or a short helper around it.
    fn finish(mut self) -> (String, BoxStats) {
        let line = std::mem::take(&mut self.line);
        self.keep(&line);
        let from = self.kept.len().saturating_sub(STDERR_KEPT);
        let tail = String::from_utf8_lossy(&self.kept[from..]).into_owned();
        let stats = self
            .by_pid
            .into_values()
            .filter(|s| !s.is_empty())
            .max_by_key(|s| (allocations(s), counter(s, "os", "bytes_mapped")))
            .unwrap_or_default();
        (tail, stats)
    }
}

fn wait_exit(pid: libc::pid_t) -> std::io::Result<()> {
    loop {
        // SAFETY: siginfo_t is plain data that waitid fills; pid is our own unreaped child.
        let r = unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            libc::waitid(
                libc::P_PID,
                pid as libc::id_t,
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Reaps `pid` (which has exited) and returns its wait status and its rusage (the process plus every
/// descendant it waited for).
fn reap(pid: libc::pid_t) -> (std::io::Result<i32>, libc::rusage) {
    // SAFETY: rusage is plain data that wait4 fills.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let mut status = 0;
    loop {
        // SAFETY: pid is our own child; status and ru are valid for writes.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            return (Ok(status), ru);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return (Err(e), ru);
        }
    }
}

/// `: LAST LINES` of a program's stderr (at most 3 non-empty lines, 400 characters), or nothing.
fn stderr_tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    let joined = lines[lines.len().saturating_sub(3)..].join(" | ");
    if joined.is_empty() {
        return String::new();
    }
    let chars: Vec<char> = joined.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(400)..].iter().collect();
    format!(": {tail}")
}

/// Sets a finished live sample against the reference run: a different exit status or stdout makes it a
/// failed `output_differs` sample (an allocator that changes a program's result is broken). Samples that
/// already failed (crash, timeout) are left as they are.
pub fn judge(mut s: Sample, reference: &Reference) -> Sample {
    if s.status != Some(Status::Ok) {
        return s;
    }
    let stderr = std::mem::take(&mut s.error);
    if s.exit_code != reference.exit_code {
        s.status = Some(Status::OutputDiffers);
        s.error = format!(
            "exit status {} (under system: {}){stderr}",
            code_text(s.exit_code),
            code_text(reference.exit_code)
        );
    } else if s.stdout_hash != reference.stdout_hash {
        s.status = Some(Status::OutputDiffers);
        s.error = format!(
            "stdout differs from the system run ({} vs {})",
            s.stdout_hash, reference.stdout_hash
        );
    }
    s
}

fn code_text(c: Option<i32>) -> String {
    c.map(|c| c.to_string())
        .unwrap_or_else(|| "none (signal)".into())
}

/// Repeats `--repeats auto` always takes.
pub const AUTO_MIN_REPEATS: u32 = 5;
/// Two configurations whose ratio range (`q1/q3_base ..= q3/q1_base`) lies within `1 ± AUTO_EQUIVALENT`
/// are equivalent: more repeats would not change a ranking worth reporting.
pub const AUTO_EQUIVALENT: f64 = 0.01;

/// The stopping rule of `--repeats auto`: every configuration is either separated from the baseline
/// (Mann-Whitney U over the repeats, p < 0.05) or equivalent to it (ratio range within
/// 1 ± [`AUTO_EQUIVALENT`]). `times` are the successful samples' seconds per configuration, the baseline's
/// at `base`. A configuration without two successful samples counts as settled (nothing more to learn from
/// repeating a failure).
pub fn settled(times: &[Vec<f64>], base: usize) -> bool {
    use reports::stats::{mann_whitney, Quartiles};
    let Some(b) = times.get(base) else {
        return true;
    };
    let Some(bq) = Quartiles::of(b) else {
        return true;
    };
    times.iter().enumerate().all(|(i, t)| {
        if i == base || t.len() < 2 || b.len() < 2 {
            return true;
        }
        let Some(q) = Quartiles::of(t) else {
            return true;
        };
        if mann_whitney(t, b).is_some_and(|m| m.p < reports::summary::ALPHA) {
            return true;
        }
        // Times: the ratio range of speeds base/time is bq.q1/q.q3 ..= bq.q3/q.q1.
        let (low, high) = (bq.q1 / q.q3, bq.q3 / q.q1);
        low >= 1.0 - AUTO_EQUIVALENT && high <= 1.0 + AUTO_EQUIVALENT
    })
}

/// Records the command once under the recorder (stdout discarded, stdin and working directory as for the
/// live runs) into `dir` and compiles its traces into `dir/recording.hkw`. Returns the workload's path and
/// how the recorded run ended (a recording whose program failed is still compiled and replayed; the caller
/// reports it).
pub fn record(cmd: &LiveCommand, dir: &Path) -> anyhow::Result<(PathBuf, Option<i32>)> {
    use anyhow::Context;
    let recorder = crate::record::find_recorder()?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the recording directory {}", dir.display()))?;
    let dir = std::fs::canonicalize(dir)?;
    let program = cmd.argv.first().context("no command given")?;
    let mut c = Command::new(program);
    c.args(&cmd.argv[1..])
        .env(
            "LD_PRELOAD",
            crate::record::preload_value(&recorder, std::env::var_os("LD_PRELOAD")),
        )
        .env("HAKMEM_RECORD_DIR", &dir)
        .env_remove("HAKMEM_RECORD_OFF")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(d) = &cmd.cwd {
        c.current_dir(d);
    }
    match &cmd.stdin {
        Some(p) => {
            c.stdin(
                std::fs::File::open(p).with_context(|| format!("cannot open {}", p.display()))?,
            );
        }
        None => {
            c.stdin(Stdio::null());
        }
    }
    let status = c
        .status()
        .with_context(|| format!("cannot start {}", program.to_string_lossy()))?;
    let traces: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "hkraw"))
        .collect();
    anyhow::ensure!(
        !traces.is_empty(),
        "recording {} left no trace in {} (a static binary, or one that does not call malloc?)",
        cmd.name(),
        dir.display()
    );
    let out = dir.join("recording.hkw");
    crate::record::compile_traces(&traces, &out)
        .with_context(|| format!("cannot compile the recording of {}", cmd.name()))?;
    Ok((out, status.code()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// HAKMEM's statistics are taken out of stderr per process, even when two processes' writes interleave
    /// (each write has its header) and when a program line was left unfinished; the busiest process is the
    /// one reported; the program's own lines stay, in order.
    #[test]
    fn stderr_split_takes_each_process_statistics_out() {
        let mut sp = StderrSplit::new(true);
        sp.feed(b"warning: one\nhalf a li");
        sp.feed(
            b"nehakmem: per-box statistics (pid 7)\nhakmem: os.bytes_mapped 900\nhakmem: unified",
        );
        sp.feed(
            b"_cache.hits_c1 5\nhakmem: per-box statistics (pid 9)\nhakmem: os.bytes_mapped 100\n",
        );
        sp.feed(b"hakmem: per-box statistics (pid 7, continued)\nhakmem: tier.new_to_hot 2\n");
        sp.feed(b"hakmem: per-box statistics (pid 9, continued)\nhakmem: tier.new_to_hot 3\n");
        sp.feed(
            b"hakmem: per-box statistics (pid 9, continued)\nhakmem: unified_cache.misses_c2 4\n",
        );
        sp.feed(b"hakmem: not a counter\nlast words");
        let (tail, stats) = sp.finish();
        assert_eq!(
            tail,
            "warning: one\nhalf a line\nhakmem: not a counter\nlast words"
        );
        // pid 7 made 5 allocations, pid 9 made 4 (and mapped less).
        assert_eq!(stats["os"]["bytes_mapped"], 900);
        assert_eq!(stats["tier"]["new_to_hot"], 2);
        assert_eq!(stats["unified_cache"]["hits_c1"], 5);
        assert!(
            !stats["unified_cache"].contains_key("misses_c2"),
            "{stats:?}"
        );

        // Without a header, counters are dropped, not guessed; without statistics, nothing is reported.
        let mut sp = StderrSplit::new(true);
        sp.feed(b"hakmem: os.bytes_mapped 5\nok\n");
        assert_eq!(sp.finish(), ("ok\n".to_string(), BoxStats::new()));

        // Other allocators' runs keep every line.
        let mut sp = StderrSplit::new(false);
        sp.feed(b"hakmem: per-box statistics (pid 1)\nhakmem: os.bytes_mapped 1\n");
        let (tail, stats) = sp.finish();
        assert!(stats.is_empty());
        assert_eq!(
            tail,
            "hakmem: per-box statistics (pid 1)\nhakmem: os.bytes_mapped 1\n"
        );
    }

    /// The kept tail stays bounded whatever the program writes, in lines or without a newline.
    #[test]
    fn stderr_split_memory_is_bounded() {
        let mut sp = StderrSplit::new(true);
        for _ in 0..10_000 {
            sp.feed(&[b'x'; 1000]);
            assert!(
                sp.line.len() <= LINE_MAX + 1000 && sp.kept.len() <= 2 * STDERR_KEPT + LINE_MAX
            );
        }
        for i in 0..10_000 {
            sp.feed(
                format!("hakmem: per-box statistics (pid {i})\nhakmem: os.bytes_mapped {i}\n")
                    .as_bytes(),
            );
        }
        assert!(sp.by_pid.len() <= STATS_PROCESSES);
        let (tail, stats) = sp.finish();
        assert!(tail.len() <= STDERR_KEPT);
        assert_eq!(stats["os"]["bytes_mapped"], STATS_PROCESSES as u64 - 1);
    }

    #[test]
    fn a_different_exit_or_output_is_a_failed_sample() {
        let r = Reference {
            exit_code: Some(0),
            stdout_hash: "sha256:aa/1".into(),
        };
        let ok = Sample {
            status: Some(Status::Ok),
            exit_code: Some(0),
            stdout_hash: "sha256:aa/1".into(),
            ..Sample::default()
        };
        assert_eq!(judge(ok.clone(), &r).status, Some(Status::Ok));
        let other = Sample {
            stdout_hash: "sha256:bb/1".into(),
            ..ok.clone()
        };
        let j = judge(other, &r);
        assert_eq!(j.status, Some(Status::OutputDiffers));
        assert!(j.error.contains("stdout differs"), "{}", j.error);
        let exit = Sample {
            exit_code: Some(3),
            error: ": boom".into(),
            ..ok
        };
        let j = judge(exit, &r);
        assert_eq!(j.status, Some(Status::OutputDiffers));
        assert!(
            j.error.contains("exit status 3 (under system: 0): boom"),
            "{}",
            j.error
        );
    }

    #[test]
    fn auto_repeats_stop_when_separated_or_equivalent() {
        let base = vec![1.00, 1.01, 0.99, 1.00, 1.02];
        let far = vec![1.20, 1.21, 1.19, 1.22, 1.20];
        let same = vec![1.001, 1.0, 1.002, 0.999, 1.001];
        let noisy = vec![0.9, 1.1, 1.0, 1.05, 0.95];
        assert!(settled(&[base.clone(), far.clone()], 0));
        assert!(!settled(&[base.clone(), noisy], 0));
        let tight = vec![1.0, 1.0, 1.001, 0.999, 1.0];
        assert!(settled(&[tight, same], 0));
        assert!(settled(&[base, vec![1.0]], 0));
    }
}
