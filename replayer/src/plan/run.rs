//! `hakmem run-job PLAN_DIR K`: takes sample `K` of a plan exactly as a local replay takes it — the same
//! `hakmem __child`, pinned, with the plan's timeout, checks and `HAKMEM_*` environment — or, of a live
//! plan, as `hakmem live` takes it (the same [`crate::live::LiveCommand::sample`]: the program preloaded,
//! pinned, in its own process group, killed at the timeout, its exit status and stdout hash judged against
//! the plan's reference run), and writes `PLAN_DIR/samples/K.json` atomically with the host and machine
//! that took it.
//!
//! Entry point: [`run_job`]. Idempotent: a finished job (its sample file exists and belongs to this plan) is
//! not run again unless `force`.
//!
//! Cores: the job's threads are pinned to cores of this process's affinity mask. Under GNU parallel
//! (`PARALLEL_JOBSLOT` = 1, 2, …) slot `s` takes the cores a local replay's slot `s` would take, so `parallel
//! --jobs N` on one machine spreads like `hakmem replay --jobs N`; under Slurm the mask is the task's
//! allocation (with `TaskPlugin=task/affinity` or cgroups), and the job takes its first cores.

use super::fsutil::write_private_atomically;
use super::{LivePlan, Plan, SampleFile, Tool};
use crate::child::{Job, Source};
use crate::orchestrate::{self, Runner, Task};
use anyhow::Context;
use reports::model::{Sample, Status};
use std::path::Path;
use std::time::Duration;

/// What [`run_job`] did.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// The job ran; its sample was written.
    Ran(Box<Sample>),
    /// The job had finished before (its sample is kept).
    AlreadyDone(Box<Sample>),
}

/// Job `k` of the plan, or an error naming the plan's range.
fn job(plan: &Plan, k: usize) -> anyhow::Result<super::JobRef> {
    plan.jobs.get(k).copied().with_context(|| {
        format!(
            "job {k} is not in plan {}: it has {} jobs, 0..={}",
            plan.id,
            plan.jobs.len(),
            plan.jobs.len().saturating_sub(1)
        )
    })
}

/// The task of job `k` of a replay plan (workload path resolved against `dir`, cpus left to the runner).
pub fn task(plan: &Plan, dir: &Path, k: usize) -> anyhow::Result<Task> {
    let j = job(plan, k)?;
    anyhow::ensure!(plan.live.is_none(), "plan {} is a live plan", plan.id);
    let w = &plan.workloads[j.workload as usize];
    Ok(Task {
        job: Job {
            source: Source::Workload {
                path: dir.join(&w.file),
            },
            alloc: plan.configs[j.config as usize].clone(),
            touch: plan.touch,
            check: plan.check,
            latency_every: plan.latency_every,
            warmup: plan.warmup,
            pace_ns: plan.pace_ns,
            walk: plan.walk,
            cpus: Vec::new(),
        },
        workload: w.name.clone(),
        repeat: j.repeat,
        threads: w.threads.max(1),
    })
}

/// Cores for a job of `threads` threads: GNU parallel's job slot picks the slot a local replay would give
/// it; otherwise the first cores of the affinity mask.
pub fn cores_for(threads: u32) -> Vec<u32> {
    let allowed = crate::sysinfo::allowed_cpus();
    let slot = std::env::var("PARALLEL_JOBSLOT")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .filter(|&s| s >= 1)
        .map(|s| s - 1)
        .unwrap_or(0);
    let (slots, _) = orchestrate::plan_cpus(&allowed, slot + 1, threads);
    slots.into_iter().nth(slot).unwrap_or_default()
}

/// Why a file of the plan cannot be used here: missing, or another content than the plan's.
fn content_problem(what: &str, path: &Path, hash: &str) -> Option<String> {
    let got = match crate::sysinfo::sha256_file(path) {
        Ok(h) => format!("sha256:{h}"),
        Err(e) => return Some(format!("{what} {}: {e}", path.display())),
    };
    (got != hash).then(|| {
        format!(
            "{what} {} has content {got}, the plan's is {hash}: it changed since the plan was written",
            path.display()
        )
    })
}

/// Why a workload cannot be replayed here: missing, another content than the plan's, or damaged.
fn workload_problem(path: &Path, hash: &str) -> Option<String> {
    if let Some(p) = content_problem("workload", path, hash) {
        return Some(p);
    }
    // The same full check a local replay makes before starting children (every stream's checksum).
    match traces::workload::Workload::open(path) {
        Ok(_) => None,
        Err(e) => Some(format!("workload {}: {e}", path.display())),
    }
}

/// Runs job `k` of the plan in `dir` (unless it finished before and `force` is false).
pub fn run_job(dir: &Path, k: usize, force: bool) -> anyhow::Result<Outcome> {
    let plan = Plan::load(dir)?;
    let j = job(&plan, k)?;
    let tool = Tool::current()?;
    plan.check_tool(&tool, "this hakmem")?;
    let out = Plan::sample_path(dir, k);
    if !force {
        if let Ok(text) = std::fs::read_to_string(&out) {
            match serde_json::from_str::<SampleFile>(&text) {
                Ok(f) if f.plan == plan.id && f.key == k as u64 => {
                    return Ok(Outcome::AlreadyDone(Box::new(f.sample)))
                }
                Ok(f) => anyhow::bail!(
                    "{} holds job {} of plan {}, not job {k} of plan {}: it is not overwritten (remove it, or use --force)",
                    out.display(),
                    f.key,
                    f.plan,
                    plan.id
                ),
                // A damaged file (not written by run-job, which renames whole files in place) is retaken.
                Err(_) => {}
            }
        }
    }
    // Exactly the plan's HAKMEM_* environment for the child, as the children of a local run inherit it.
    // Nothing else runs in this process yet (no threads), so changing the environment is sound.
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("HAKMEM_")) {
        std::env::remove_var(key);
    }
    for (key, value) in &plan.env {
        std::env::set_var(key, value);
    }
    let started = crate::sysinfo::now_rfc3339();
    let sample = match &plan.live {
        Some(live) => live_sample(&plan, live, dir, j),
        None => replay_sample(&plan, dir, k)?,
    };
    let file = SampleFile {
        plan: plan.id.clone(),
        tool,
        key: k as u64,
        machine: crate::sysinfo::machine(),
        started,
        sample: sample.clone(),
    };
    let text = serde_json::to_string_pretty(&file)?;
    write_private_atomically(&out, text.as_bytes())?;
    Ok(Outcome::Ran(Box::new(sample)))
}

/// The failed sample of job `j` that never started its child (what it needs is missing or changed here),
/// with this host's name and CPU model, as a local run records a workload it cannot read.
fn failed_sample(plan: &Plan, j: super::JobRef, reason: String) -> Sample {
    let spec = &plan.configs[j.config as usize];
    let mut s = Sample {
        kind: match plan.live {
            Some(_) => reports::model::KIND_LIVE.to_string(),
            None => String::new(),
        },
        allocator: spec.backend.name().to_string(),
        config: spec.label.clone(),
        workload: plan.workload_name(j).to_string(),
        repeat: j.repeat,
        status: Some(Status::Error),
        error: reason,
        ..Sample::default()
    };
    orchestrate::stamp_node(&mut s);
    s
}

/// Job `k` of a replay plan: the workload checked, then one `hakmem __child` as a local replay runs it.
fn replay_sample(plan: &Plan, dir: &Path, k: usize) -> anyhow::Result<Sample> {
    let task = task(plan, dir, k)?;
    let w = &plan.workloads[plan.jobs[k].workload as usize];
    let cpus = cores_for(task.threads);
    Ok(match workload_problem(&dir.join(&w.file), &w.hash) {
        Some(reason) => failed_sample(plan, plan.jobs[k], reason),
        None => {
            let runner = Runner {
                exe: crate::session::self_exe()?,
                jobs: 1,
                timeout: Duration::from_secs_f64(plan.timeout_secs),
                progress: false,
                wrapper: Vec::new(),
            };
            orchestrate::run_one(&task, cpus, &runner)
        }
    })
}

/// Job `j` of a live plan: the stdin file and working directory checked, then one live sample exactly as
/// `hakmem live` takes it, judged against the plan's reference run.
fn live_sample(plan: &Plan, live: &LivePlan, dir: &Path, j: super::JobRef) -> Sample {
    let spec = &plan.configs[j.config as usize];
    let failed = |reason: String| failed_sample(plan, j, reason);
    let stdin = live.stdin.as_ref().map(|f| (dir.join(&f.file), &f.hash));
    if let Some((path, hash)) = &stdin {
        if let Some(why) = content_problem("stdin file", path, hash) {
            return failed(why);
        }
    }
    if !live.cwd.is_dir() {
        return failed(format!(
            "the working directory {} does not exist here (every node must see it at the same path)",
            live.cwd.display()
        ));
    }
    let d = match crate::live::Deployment::of(spec) {
        Ok(d) => d,
        Err(e) => return failed(format!("cannot deploy {} here: {e}", spec.label)),
    };
    let cmd = crate::live::LiveCommand {
        argv: live.argv.iter().map(Into::into).collect(),
        cwd: Some(live.cwd.clone()),
        stdin: stdin.map(|(p, _)| p),
        timeout: Duration::from_secs_f64(plan.timeout_secs),
    };
    cmd.sample(&d, &cores_for(live.cores), j.repeat, &live.reference)
}
