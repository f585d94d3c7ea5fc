//! The parent side: runs every sample as a fresh `hakmem __child` process, up to `jobs` at once, each pinned
//! to its own cores, with a timeout, and turns whatever happened to the child into a [`Sample`].
//!
//! Entry points: [`plan_cpus`] (which cores each parallel slot gets), [`run_tasks`].
//!
//! Invariants: tasks start in the order given (callers interleave repeats across allocators: A B C A B C …);
//! every task yields exactly one sample, failed or not; a child that outlives `timeout` is killed with its
//! whole process group.

use crate::child::Job;
use crate::spec::BackendKind;
use reports::model::{Sample, Status};
use std::collections::VecDeque;
use std::io::{IsTerminal, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

/// One sample to take.
#[derive(Clone, Debug)]
pub struct Task {
    /// The child's instructions (its `cpus` are filled in by the slot that runs it).
    pub job: Job,
    /// Workload name for the sample.
    pub workload: String,
    /// Repeat index.
    pub repeat: u32,
    /// Threads the job runs (cores it wants).
    pub threads: u32,
}

/// How to run children.
#[derive(Clone, Debug)]
pub struct Runner {
    /// The `hakmem` executable (normally `/proc/self/exe`).
    pub exe: PathBuf,
    /// Children at once.
    pub jobs: usize,
    /// Kill a child after this long.
    pub timeout: Duration,
    /// Show progress on stderr (only when it is a terminal).
    pub progress: bool,
    /// A command to run the child under (e.g. valgrind), empty for none.
    pub wrapper: Vec<String>,
}

/// CPU slots: slot `w` of `jobs` gets `threads` cores starting at `w * threads`, wrapping around the
/// allowed cores. Returns the slots and whether any core is shared between slots (or between threads).
pub fn plan_cpus(allowed: &[u32], jobs: usize, threads: u32) -> (Vec<Vec<u32>>, bool) {
    let n = allowed.len().max(1);
    let t = threads.max(1) as usize;
    let slots = (0..jobs.max(1))
        .map(|w| {
            (0..t)
                .map(|k| allowed.get((w * t + k) % n).copied().unwrap_or(0))
                .collect()
        })
        .collect();
    (slots, jobs.max(1) * t > n)
}

/// Default parallelism: as many children as the cores allow for the widest job, at least 1.
pub fn default_jobs(cores: usize, threads: u32) -> usize {
    (cores / threads.max(1) as usize).max(1)
}

/// Runs every task and hands each sample to `on_sample` as it finishes (in completion order).
pub fn run_tasks(
    tasks: Vec<Task>,
    runner: &Runner,
    slots: &[Vec<u32>],
    on_sample: impl FnMut(Sample),
) {
    run_parallel(
        tasks,
        |t| t.threads,
        slots,
        runner.jobs,
        runner.progress,
        |task, cpus| run_one(task, cpus, runner),
        on_sample,
    );
}

/// The scheduler under [`run_tasks`] and `hakmem live`: up to `jobs` items at once, each run by `run` on
/// its slot's first `threads(item)` cores, in the order given; each sample goes to `on_sample` as it
/// finishes (progress on stderr when asked and stderr is a terminal).
pub fn run_parallel<T: Send>(
    items: Vec<T>,
    threads: impl Fn(&T) -> u32 + Sync,
    slots: &[Vec<u32>],
    jobs: usize,
    progress: bool,
    run: impl Fn(&T, Vec<u32>) -> Sample + Sync,
    mut on_sample: impl FnMut(Sample),
) {
    let total = items.len();
    let queue = Mutex::new(items.into_iter().collect::<VecDeque<_>>());
    let (tx, rx) = mpsc::channel::<Sample>();
    let show = progress && std::io::stderr().is_terminal();
    std::thread::scope(|s| {
        for slot in slots.iter().take(jobs.max(1)) {
            let tx = tx.clone();
            let (queue, threads, run) = (&queue, &threads, &run);
            s.spawn(move || loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                let Some(item) = next else { break };
                let cpus: Vec<u32> = slot
                    .iter()
                    .copied()
                    .take(threads(&item).max(1) as usize)
                    .collect();
                if tx.send(run(&item, cpus)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut bar = reports::progress::Progress::new("samples", total as u64, show);
        for (done, sample) in rx.into_iter().enumerate() {
            if show {
                let what = match sample.status {
                    Some(Status::Ok) if sample.is_live() => format!("{:.3} s", sample.seconds),
                    Some(Status::Ok) => format!("{:.1}M ops/s", sample.ops_per_sec / 1e6),
                    Some(st) => format!("{st:?}"),
                    None => String::new(),
                };
                bar.set(
                    done as u64 + 1,
                    &format!(
                        "{} {} #{}: {what}",
                        sample.config, sample.workload, sample.repeat
                    ),
                );
            }
            on_sample(sample);
        }
        bar.finish("");
    });
}

/// Runs one child and classifies its end.
pub fn run_one(task: &Task, cpus: Vec<u32>, runner: &Runner) -> Sample {
    let mut sample = classify(task, &cpus, runner);
    sample.allocator = task.job.alloc.allocator_name().to_string();
    sample.config = task.job.alloc.label.clone();
    sample.workload = task.workload.clone();
    sample.repeat = task.repeat;
    sample.cpus = cpus;
    stamp_node(&mut sample);
    if matches!(task.job.source, crate::child::Source::Workload { .. }) {
        sample.kind = reports::model::KIND_REPLAY.to_string();
    }
    sample
}

/// Writes this machine's host name and CPU model into a sample (read once per process): samples merged
/// from several nodes (`hakmem collect`) must say where each was taken.
pub fn stamp_node(sample: &mut Sample) {
    static NODE: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    let (host, cpu) = NODE.get_or_init(|| {
        let m = crate::sysinfo::machine();
        (m.hostname, m.cpu)
    });
    sample.host = host.clone();
    sample.cpu = cpu.clone();
}

fn failed(status: Status, error: String) -> Sample {
    Sample {
        status: Some(status),
        error,
        ..Sample::default()
    }
}

fn classify(task: &Task, cpus: &[u32], runner: &Runner) -> Sample {
    let mut job = task.job.clone();
    job.cpus = cpus.to_vec();
    let json = match serde_json::to_string(&job) {
        Ok(j) => j,
        Err(e) => return failed(Status::Error, format!("cannot encode the job: {e}")),
    };
    let mut cmd = match runner.wrapper.split_first() {
        Some((w, rest)) => {
            let mut c = Command::new(w);
            c.args(rest).arg(&runner.exe);
            c
        }
        None => Command::new(&runner.exe),
    };
    cmd.arg("__child").arg("--job").arg(json);
    cmd.env_remove("LD_PRELOAD");
    if job.alloc.backend == BackendKind::Preload {
        if let Some(p) = &job.alloc.path {
            cmd.env("LD_PRELOAD", p);
        }
        // A preloaded libhakmem.so reads its configuration from the environment.
        for (k, v) in &job.alloc.knobs {
            cmd.env(k, v);
        }
    }
    // The child has its own process group (so a timeout kills all of it), which also means a Ctrl-C at
    // the terminal does not reach it: have the kernel kill it when the thread that started it dies.
    // SAFETY: prctl(2) is async-signal-safe and touches no memory of the parent; nothing else runs
    // between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
            Ok(())
        });
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return failed(
                Status::Error,
                format!("cannot start {}: {e}", runner.exe.display()),
            )
        }
    };
    let pid = child.id() as i32;
    let mut out = child.stdout.take().expect("stdout is piped");
    let mut err = child.stderr.take().expect("stderr is piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        String::from_utf8_lossy(&v).into_owned()
    });
    let deadline = Instant::now() + runner.timeout;
    let mut nap = Duration::from_millis(1);
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) => {}
            Err(_) => break None,
        }
        if Instant::now() >= deadline {
            timed_out = true;
            // SAFETY: kill(2) on the child's own process group (it was started with process_group(0)).
            unsafe { libc::kill(-pid, libc::SIGKILL) };
            break child.wait().ok();
        }
        std::thread::sleep(nap);
        nap = (nap * 2).min(Duration::from_millis(20));
    };
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    let tail = stderr_tail(&stderr);
    if timed_out {
        return failed(
            Status::Timeout,
            format!("killed after the {:?} timeout", runner.timeout),
        );
    }
    let Some(status) = status else {
        return failed(Status::Error, "lost track of the child".into());
    };
    if let Some(sig) = status.signal() {
        let mut msg = format!("killed by {} (signal {sig})", signal_name(sig));
        if !tail.is_empty() {
            msg.push_str(": ");
            msg.push_str(&tail);
        }
        return failed(Status::Crashed, msg);
    }
    let parsed = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .and_then(|l| serde_json::from_str::<Sample>(l).ok());
    match (parsed, status.code()) {
        (Some(s), Some(0)) => s,
        (Some(mut s), code) => {
            s.status = Some(Status::Error);
            s.error = format!("child exited with code {code:?}: {tail}");
            s
        }
        (None, code) => failed(
            Status::Error,
            format!(
                "child exited with code {} without a result{}{tail}",
                code.unwrap_or(-1),
                if tail.is_empty() { "" } else { ": " }
            ),
        ),
    }
}

/// The last few non-empty lines of a child's stderr, joined, at most 400 characters.
fn stderr_tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(3);
    let joined = lines[start..].join(" | ");
    if joined.len() > 400 {
        let mut cut = joined.len() - 400;
        while !joined.is_char_boundary(cut) {
            cut += 1;
        }
        format!("…{}", &joined[cut..])
    } else {
        joined
    }
}

/// Conventional name of a signal number.
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGTRAP => "SIGTRAP",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGSYS => "SIGSYS",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        _ => return format!("signal {sig}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_wrap_and_report_sharing() {
        let (s, shared) = plan_cpus(&[0, 1], 2, 1);
        assert_eq!(s, vec![vec![0], vec![1]]);
        assert!(!shared);
        let (s, shared) = plan_cpus(&[0, 1], 2, 2);
        assert_eq!(s, vec![vec![0, 1], vec![0, 1]]);
        assert!(shared);
        assert_eq!(default_jobs(2, 2), 1);
        assert_eq!(default_jobs(2, 1), 2);
        assert_eq!(default_jobs(2, 8), 1);
    }
}
