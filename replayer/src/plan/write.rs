//! `hakmem plan replay ARGS… -o PLAN_DIR`: the session `hakmem replay ARGS…` would run, written down as jobs
//! instead of run; `hakmem plan live ARGS… -o PLAN_DIR`: the same for `hakmem live ARGS…`.
//!
//! Entry points: [`write_plan`], [`write_live_plan`].

use super::fsutil::{copy_private, create_private_dir, random_hex, write_private_atomically};
use super::{
    JobRef, LivePlan, Plan, PlanFile, PlanWorkload, Tool, INPUTS_DIR, JOBS_FILE, LOGS_DIR,
    PLAN_FILE, PLAN_FORMAT_VERSION, SAMPLES_DIR, SBATCH_FILE, WORKLOADS_DIR,
};
use crate::child::Source;
use crate::live::{Deployment, LiveCommand};
use crate::session::Session;
use anyhow::Context;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// How to write a plan.
#[derive(Clone, Debug)]
pub struct PlanOptions {
    /// The plan directory (must not exist, or be empty).
    pub dir: PathBuf,
    /// Reference the workloads where they are instead of copying them into the plan.
    pub shared_fs: bool,
}

/// What [`write_plan`] wrote.
#[derive(Clone, Debug)]
pub struct Written {
    /// The plan.
    pub plan: Plan,
    /// Bytes of workload copies in the plan directory (0 with `--shared-fs`).
    pub copied_bytes: u64,
}

/// Jobs at once when `--jobs` is not given: the local default (usable cores / widest workload's threads).
fn default_parallel(session: &Session) -> usize {
    let widest = session
        .inputs
        .iter()
        .map(|i| i.info.threads.max(1))
        .max()
        .unwrap_or(1);
    crate::orchestrate::default_jobs(crate::sysinfo::allowed_cpus().len(), widest)
}

/// Writes the plan of `session` into `opts.dir`: `plan.json`, the workloads (unless `shared_fs`),
/// `jobs.txt`, `slurm.sbatch`, and the empty `samples/` and `logs/` directories.
pub fn write_plan(session: &Session, opts: &PlanOptions) -> anyhow::Result<Written> {
    let bad: Vec<&str> = session
        .inputs
        .iter()
        .filter_map(|i| i.source.as_ref().err().map(String::as_str))
        .collect();
    anyhow::ensure!(
        bad.is_empty(),
        "cannot plan with unreadable workloads ({})",
        bad.join("; ")
    );
    check_empty(&opts.dir)?;
    let dir = create_plan_dir(&opts.dir)?;
    if !opts.shared_fs {
        create_private_dir(&dir.join(WORKLOADS_DIR))?;
    }

    let mut workloads = Vec::new();
    let mut copied_bytes = 0;
    for input in &session.inputs {
        let Ok(Source::Workload { path }) = &input.source else {
            anyhow::bail!("`hakmem plan` takes workload files only")
        };
        let hex = input
            .info
            .hash
            .strip_prefix("sha256:")
            .context("a workload without its content hash")?;
        let bytes = std::fs::metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .len();
        let file = if opts.shared_fs {
            std::fs::canonicalize(path)
                .with_context(|| format!("cannot resolve {}", path.display()))?
        } else {
            let rel = Path::new(WORKLOADS_DIR).join(format!("{hex}.hkw"));
            // Content-addressed: the same workload given twice is stored once.
            if !dir.join(&rel).exists() {
                copy_private(path, &dir.join(&rel))?;
                copied_bytes += bytes;
            }
            rel
        };
        workloads.push(PlanWorkload {
            name: input.info.name.clone(),
            file,
            hash: input.info.hash.clone(),
            bytes,
            threads: input.info.threads.max(1),
        });
    }

    let (tasks, _) = session.tasks();
    let jobs = tasks
        .iter()
        .map(|t| {
            let w = workloads.iter().position(|w| w.name == t.workload);
            let c = session
                .configs
                .iter()
                .position(|c| c.label == t.job.alloc.label);
            match (w, c) {
                (Some(w), Some(c)) => Ok(JobRef {
                    workload: w as u32,
                    config: c as u32,
                    repeat: t.repeat,
                }),
                _ => Err(anyhow::anyhow!(
                    "task {} × {} has no workload or configuration",
                    t.workload,
                    t.job.alloc.label
                )),
            }
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let max_parallel = session
        .jobs
        .unwrap_or_else(|| default_parallel(session))
        .max(1);
    let export_json = absolute_export(&session.export_json)?;
    let plan = Plan {
        format_version: PLAN_FORMAT_VERSION,
        id: random_hex()?,
        kind: session.kind.to_string(),
        tool: Tool::current()?,
        created: crate::sysinfo::now_rfc3339(),
        command: std::env::args().collect(),
        exe: crate::session::self_exe()?,
        dir: dir.clone(),
        shared_fs: opts.shared_fs,
        timeout_secs: session.timeout.as_secs_f64(),
        touch: session.touch,
        check: session.check,
        latency_every: session.latency_every,
        warmup: session.warmup,
        pace_ns: session.pace_ns,
        walk: session.walk,
        env: hakmem_env(),
        baseline: session.baseline.clone(),
        export_json,
        max_parallel,
        workloads,
        live: None,
        configs: session.configs.clone(),
        manifest: session.manifest(max_parallel),
        order: "repeats outermost, then workloads, then configurations (A B C A B C …), as a local replay starts them".into(),
        jobs,
    };
    write_files(&plan)?;
    Ok(Written { plan, copied_bytes })
}

/// `--export-json FILE` as `collect` will see it: relative to where the plan was written (`-` stays stdout).
fn absolute_export(p: &Option<PathBuf>) -> anyhow::Result<Option<PathBuf>> {
    Ok(match p {
        Some(p) if p.as_os_str() != "-" && p.is_relative() => {
            Some(std::env::current_dir()?.join(p))
        }
        other => other.clone(),
    })
}

/// A plan needs a directory of its own: `dir` must not exist, or be empty.
fn check_empty(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_none();
        anyhow::ensure!(
            empty,
            "{} exists and is not empty: a plan needs a directory of its own (samples of two plans must never meet); choose another -o",
            dir.display()
        );
    }
    Ok(())
}

/// Creates the plan directory with its `samples/` and `logs/`; returns its absolute path.
fn create_plan_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    create_private_dir(dir)?;
    let dir =
        std::fs::canonicalize(dir).with_context(|| format!("cannot resolve {}", dir.display()))?;
    for sub in [SAMPLES_DIR, LOGS_DIR] {
        create_private_dir(&dir.join(sub))?;
    }
    Ok(dir)
}

/// Writes `plan.json`, `jobs.txt` and `slurm.sbatch` into the plan's directory.
fn write_files(plan: &Plan) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(plan)?;
    write_private_atomically(&plan.dir.join(PLAN_FILE), text.as_bytes())?;
    write_private_atomically(&plan.dir.join(JOBS_FILE), jobs_txt(plan).as_bytes())?;
    write_private_atomically(&plan.dir.join(SBATCH_FILE), sbatch(plan).as_bytes())?;
    Ok(())
}

/// What `hakmem plan live` plans: the checked arguments of `hakmem live`, with a fixed number of repeats.
#[derive(Clone, Debug)]
pub struct LiveSpec {
    /// The configurations (sweeps expanded).
    pub configs: Vec<crate::spec::AllocSpec>,
    /// Their deployments, in the same order.
    pub deployments: Vec<Deployment>,
    /// The command (its timeout is every job's).
    pub cmd: LiveCommand,
    /// Runs per configuration.
    pub repeats: u32,
    /// Jobs at once (the array's `%MAX`, the suggested `parallel --jobs`).
    pub max_parallel: usize,
    /// Cores each run is pinned to.
    pub cores: u32,
    /// As `--baseline`.
    pub baseline: Option<String>,
    /// As `--export-json` (written by `collect`).
    pub export_json: Option<PathBuf>,
}

/// Writes the plan of `hakmem live` into `opts.dir`: takes the reference run under the system allocator
/// here, first (a command that cannot run is an error before anything is written), then writes
/// `plan.json`, the stdin file's copy under `inputs/` (unless `shared_fs`), `jobs.txt`, `slurm.sbatch`, and
/// the empty `samples/` and `logs/`. Job `K` is round `K / configs` of configuration `K % configs`.
pub fn write_live_plan(spec: &LiveSpec, opts: &PlanOptions) -> anyhow::Result<Written> {
    let argv = spec
        .cmd
        .argv
        .iter()
        .map(|a| {
            a.to_str().map(str::to_string).with_context(|| {
                format!(
                    "the argument {} is not UTF-8: a plan stores the command as text",
                    a.to_string_lossy()
                )
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    check_empty(&opts.dir)?;
    let cwd = match &spec.cmd.cwd {
        Some(d) => d.clone(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let cwd = std::fs::canonicalize(&cwd)
        .with_context(|| format!("cannot resolve the working directory {}", cwd.display()))?;
    let stdin = match &spec.cmd.stdin {
        Some(p) => Some(
            std::fs::canonicalize(p).with_context(|| format!("cannot resolve {}", p.display()))?,
        ),
        None => None,
    };
    let cmd = LiveCommand {
        cwd: Some(cwd.clone()),
        stdin: stdin.clone(),
        ..spec.cmd.clone()
    };
    let allowed = crate::sysinfo::allowed_cpus();
    let (slots, _) = crate::orchestrate::plan_cpus(&allowed, 1, spec.cores);
    eprintln!(
        "hakmem plan live: reference run of {} under the system allocator",
        cmd.name()
    );
    let reference = crate::live::reference_run(&cmd, &slots[0])?;

    let dir = create_plan_dir(&opts.dir)?;
    let mut copied_bytes = 0;
    let stdin = match &stdin {
        None => None,
        Some(path) => {
            let hash = format!(
                "sha256:{}",
                crate::sysinfo::sha256_file(path)
                    .with_context(|| format!("cannot read {}", path.display()))?
            );
            let bytes = std::fs::metadata(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .len();
            let file = if opts.shared_fs {
                path.clone()
            } else {
                create_private_dir(&dir.join(INPUTS_DIR))?;
                let rel = Path::new(INPUTS_DIR).join(&hash["sha256:".len()..]);
                copy_private(path, &dir.join(&rel))?;
                copied_bytes += bytes;
                rel
            };
            Some(PlanFile { file, hash, bytes })
        }
    };
    let n = spec.configs.len() as u32;
    let jobs = (0..spec.repeats)
        .flat_map(|r| {
            (0..n).map(move |c| JobRef {
                workload: 0,
                config: c,
                repeat: r,
            })
        })
        .collect();
    let mut manifest = crate::live::manifest(
        &cmd,
        &spec.configs,
        &spec.deployments,
        spec.repeats,
        spec.max_parallel as u32,
        crate::engine::Touch::First,
    );
    manifest.notes.push(format!(
        "{} (taken when the plan was written, on {})",
        reference.note(),
        crate::sysinfo::machine().hostname
    ));
    let export_json = absolute_export(&spec.export_json)?;
    let plan = Plan {
        format_version: PLAN_FORMAT_VERSION,
        id: random_hex()?,
        kind: reports::model::KIND_LIVE.to_string(),
        tool: Tool::current()?,
        created: crate::sysinfo::now_rfc3339(),
        command: std::env::args().collect(),
        exe: crate::session::self_exe()?,
        dir,
        shared_fs: opts.shared_fs,
        timeout_secs: spec.cmd.timeout.as_secs_f64(),
        touch: crate::engine::Touch::First,
        check: false,
        latency_every: 0,
        warmup: false,
        pace_ns: 0,
        walk: 0,
        env: hakmem_env(),
        baseline: spec.baseline.clone(),
        export_json,
        max_parallel: spec.max_parallel.max(1),
        workloads: Vec::new(),
        live: Some(LivePlan {
            name: cmd.name(),
            argv,
            cwd,
            stdin,
            cores: spec.cores.max(1),
            reference,
            reference_host: crate::sysinfo::machine().hostname,
        }),
        configs: spec.configs.clone(),
        manifest,
        order:
            "repeats outermost, then configurations (A B C A B C …), as `hakmem live` starts them"
                .into(),
        jobs,
    };
    write_files(&plan)?;
    Ok(Written { plan, copied_bytes })
}

/// The `HAKMEM_*` variables (not the bench's size band) in effect now, sorted.
pub(crate) fn hakmem_env() -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("HAKMEM_") && !k.starts_with("HAKMEM_BENCH_"))
        .collect();
    env.sort();
    env
}

/// One line per job, in job order.
fn jobs_txt(plan: &Plan) -> String {
    let mut s = String::new();
    for k in 0..plan.jobs.len() {
        s.push_str(&plan.job_command(k, false));
        s.push('\n');
    }
    s
}

/// The Slurm time limit in minutes: the child's timeout plus room for starting, checking the workload's
/// hash and checksums (a quarter of the timeout, at least a minute), rounded up.
pub fn slurm_minutes(timeout_secs: f64) -> u64 {
    let secs = timeout_secs + (timeout_secs / 4.0).max(60.0);
    (secs / 60.0).ceil().max(1.0) as u64
}

/// The job array: one task per job, `%max_parallel` at once, as many cores per task as the widest workload
/// has threads (a Slurm array gives every task the same resources).
fn sbatch(plan: &Plan) -> String {
    use super::sh_quote;
    let n = plan.jobs.len();
    let cores = plan.cores_per_job();
    let dir = plan.dir.to_string_lossy();
    let mut s = String::new();
    let _ = writeln!(s, "#!/bin/bash");
    let _ = writeln!(
        s,
        "# hakmem plan {}: {n} samples of `{}`, one array task each.",
        plan.id,
        plan.command.join(" ")
    );
    let _ = writeln!(
        s,
        "# Submit: sbatch {}",
        sh_quote(&format!("{dir}/{SBATCH_FILE}"))
    );
    let _ = writeln!(
        s,
        "# Then:   {} collect {}",
        sh_quote(&plan.exe.to_string_lossy()),
        sh_quote(&dir)
    );
    let _ = writeln!(
        s,
        "# More tasks than the cluster's MaxArraySize: submit in chunks; task T runs job HAKMEM_PLAN_OFFSET + T,"
    );
    let _ = writeln!(
        s,
        "#   sbatch --array=0-999%{} --export=ALL,HAKMEM_PLAN_OFFSET=1000 {}",
        plan.max_parallel,
        sh_quote(&format!("{dir}/{SBATCH_FILE}"))
    );
    let _ = writeln!(
        s,
        "# cpus-per-task = {}; the time limit = --timeout {}s plus start-up room.",
        if plan.live.is_some() {
            "the cores of one live run (--cores)"
        } else {
            "the widest workload's threads"
        },
        plan.timeout_secs
    );
    let _ = writeln!(
        s,
        "#SBATCH --job-name=hakmem-{}",
        &plan.id[..8.min(plan.id.len())]
    );
    let _ = writeln!(
        s,
        "#SBATCH --array=0-{}%{}",
        n.saturating_sub(1),
        plan.max_parallel
    );
    let _ = writeln!(s, "#SBATCH --ntasks=1");
    let _ = writeln!(s, "#SBATCH --cpus-per-task={cores}");
    let _ = writeln!(s, "#SBATCH --time={}", slurm_minutes(plan.timeout_secs));
    let _ = writeln!(s, "#SBATCH --output={dir}/{LOGS_DIR}/%A_%a.out");
    let _ = writeln!(s, "set -eu");
    let _ = writeln!(
        s,
        "exec {} run-job {} \"$(( ${{HAKMEM_PLAN_OFFSET:-0}} + SLURM_ARRAY_TASK_ID ))\"",
        sh_quote(&plan.exe.to_string_lossy()),
        sh_quote(&dir)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_limit_covers_the_timeout_with_room() {
        assert_eq!(slurm_minutes(600.0), 13);
        assert_eq!(slurm_minutes(60.0), 2);
        assert_eq!(slurm_minutes(1.0), 2);
        assert!(slurm_minutes(86400.0) as f64 * 60.0 >= 86400.0 * 1.25);
    }
}
