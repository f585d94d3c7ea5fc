//! Beyond one machine: the sample matrix of `hakmem replay` or `hakmem live` as independent jobs for engines
//! a cluster already has (a Slurm job array, GNU parallel over ssh), merged back into one result bundle.
//!
//! ```text
//! hakmem plan replay ARGS… -o PLAN ─▶ PLAN/plan.json     what to run: workloads by content hash, configurations,
//!                                                        repeats, the interleaving order, the tool's build
//!                                     PLAN/workloads/    the workloads, named by hash (not with --shared-fs)
//!                                     PLAN/jobs.txt      one line per sample: `hakmem run-job PLAN K`
//!                                     PLAN/slurm.sbatch  the same as a job array
//! hakmem plan live ARGS… -o PLAN ───▶ the same, with the command (argv, working directory, stdin file by
//!                                     content hash in PLAN/inputs/) and its reference run's exit status
//!                                     and stdout hash, taken once at plan time, in plan.json
//! hakmem run-job PLAN K ────────────▶ PLAN/samples/K.json   (atomically: written aside, then renamed)
//! hakmem collect PLAN [-o BUNDLE] ──▶ BUNDLE/{manifest.json, samples.jsonl}   (default PLAN/bundle)
//! ```
//!
//! Entry points: [`write::write_plan`], [`run::run_job`], [`collect::collect`], [`Plan::load`].
//!
//! Invariants: job `K` is the `K`-th task of [`crate::session::Session::tasks`] for the same arguments (of a
//! live plan: round `K / configs`, configuration `K % configs`, as `hakmem live` starts them), so a plan
//! takes exactly the samples a local run takes, in the same interleaved order when jobs start in order; a sample file names its plan and the tool build that took it, and `collect` refuses to mix plans
//! or builds; every file this module creates is private (0600, directories 0700): workloads and results
//! describe the recorded program.

pub mod collect;
mod fsutil;
pub mod run;
pub mod write;

use crate::engine::Touch;
use crate::spec::AllocSpec;
use anyhow::Context;
use reports::model::{Machine, Manifest, Sample};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub use fsutil::sh_quote;

/// Version of the plan layout; a plan of another version is refused with both versions named.
pub const PLAN_FORMAT_VERSION: u32 = 1;
/// The plan inside a plan directory.
pub const PLAN_FILE: &str = "plan.json";
/// One shell command per job, in job order.
pub const JOBS_FILE: &str = "jobs.txt";
/// The Slurm job array.
pub const SBATCH_FILE: &str = "slurm.sbatch";
/// Where jobs write their samples (`K.json`).
pub const SAMPLES_DIR: &str = "samples";
/// Where the plan keeps its copies of the workloads.
pub const WORKLOADS_DIR: &str = "workloads";
/// Where a live plan keeps its copy of the stdin file.
pub const INPUTS_DIR: &str = "inputs";
/// Where Slurm writes each array task's output.
pub const LOGS_DIR: &str = "logs";
/// The commands `collect` found still to run (missing jobs, and failed ones with `--force`).
pub const RERUN_FILE: &str = "rerun.txt";

/// The build of `hakmem` that wrote a plan or took a sample. Samples taken by another build measure another
/// program (the `hakmem` backend is linked into it), so they are never pooled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    /// Package version (`hakmem --version`).
    pub version: String,
    /// The executable's GNU build id (`build-id:HEX`), or its SHA-256 (`sha256:HEX`) when it has none.
    pub build: String,
}

impl Tool {
    /// This executable.
    pub fn current() -> anyhow::Result<Tool> {
        let exe = crate::session::self_exe()?;
        let build = match fsutil::gnu_build_id(&exe) {
            Some(id) => format!("build-id:{id}"),
            None => format!(
                "sha256:{}",
                crate::sysinfo::sha256_file(&exe)
                    .with_context(|| format!("cannot read {}", exe.display()))?
            ),
        };
        Ok(Tool {
            version: env!("CARGO_PKG_VERSION").to_string(),
            build,
        })
    }
}

impl std::fmt::Display for Tool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "hakmem {} ({})", self.version, self.build)
    }
}

/// One workload of a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanWorkload {
    /// Its name in samples (as in a local replay: the file stem, made unique).
    pub name: String,
    /// The file jobs read: relative to the plan directory (`workloads/HASH.hkw`), or absolute with
    /// `--shared-fs` (the path the user gave, on a file system every node mounts at the same place).
    pub file: PathBuf,
    /// `sha256:HEX` of its content; a job whose file has another content fails with that reason.
    pub hash: String,
    /// Its size in bytes (what shared storage holds per copy).
    pub bytes: u64,
    /// Threads it runs (cores a job wants).
    pub threads: u32,
}

/// A file a live plan's jobs read (the command's stdin).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanFile {
    /// Relative to the plan directory (`inputs/HASH`), or absolute with `--shared-fs`.
    pub file: PathBuf,
    /// `sha256:HEX` of its content; a job whose file has another content fails with that reason.
    pub hash: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// What a live plan runs: the command, where, with what on stdin, and what its output must be.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LivePlan {
    /// The workload name of its samples (`LiveCommand::name`).
    pub name: String,
    /// Program and arguments, as given (a program name without `/` is looked up in the job's `PATH`).
    pub argv: Vec<String>,
    /// Working directory of every run (absolute): `--cwd`, or where the plan was written.
    pub cwd: PathBuf,
    /// The file fed to stdin (`None` = `/dev/null`).
    pub stdin: Option<PlanFile>,
    /// Cores each run is pinned to (the array's `--cpus-per-task`).
    pub cores: u32,
    /// Exit status and stdout hash of the reference run under the system allocator, taken when the plan
    /// was written: every job's sample is judged against it (a different result is `output_differs`).
    pub reference: crate::live::Reference,
    /// The host the reference run ran on.
    pub reference_host: String,
}

/// A job: which workload, configuration and repeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "[u32; 3]", into = "[u32; 3]")]
pub struct JobRef {
    /// Index into [`Plan::workloads`].
    pub workload: u32,
    /// Index into [`Plan::configs`].
    pub config: u32,
    /// Repeat index.
    pub repeat: u32,
}

impl From<[u32; 3]> for JobRef {
    fn from(a: [u32; 3]) -> Self {
        JobRef {
            workload: a[0],
            config: a[1],
            repeat: a[2],
        }
    }
}

impl From<JobRef> for [u32; 3] {
    fn from(j: JobRef) -> Self {
        [j.workload, j.config, j.repeat]
    }
}

/// `PLAN_DIR/plan.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    /// [`PLAN_FORMAT_VERSION`] of the writer.
    pub format_version: u32,
    /// Unique id of this plan; every sample file carries it.
    pub id: String,
    /// `replay` or `live`.
    pub kind: String,
    /// The build that wrote the plan; jobs must run with the same one.
    pub tool: Tool,
    /// When the plan was written (RFC 3339 UTC).
    pub created: String,
    /// The `hakmem plan …` command line.
    pub command: Vec<String>,
    /// The `hakmem` executable the job commands run (absolute).
    pub exe: PathBuf,
    /// The plan directory as the job commands name it (absolute).
    pub dir: PathBuf,
    /// Workloads are read where they are (`--shared-fs`) instead of from the plan's copies.
    pub shared_fs: bool,
    /// Per-child timeout, seconds (as `--timeout`).
    pub timeout_secs: f64,
    /// Memory touching (as `--touch`).
    pub touch: Touch,
    /// Contract checking (as `--check`).
    pub check: bool,
    /// Latency sampling period (as `--latency-every`).
    pub latency_every: u32,
    /// Replay warm-up (as `--warmup`).
    #[serde(default)]
    pub warmup: bool,
    /// Busy wait before each replayed op, ns (as `--pace`; 0 = off).
    #[serde(default)]
    pub pace_ns: u32,
    /// Walks of the live blocks (as `--walk`; 0 = off).
    #[serde(default)]
    pub walk: u32,
    /// `HAKMEM_*` variables in effect when the plan was written; every job runs with exactly these, as the
    /// children of a local replay would.
    pub env: Vec<(String, String)>,
    /// Configuration the collected summary's ratios refer to (as `--baseline`).
    pub baseline: Option<String>,
    /// Where `collect` also writes the bundle as one JSON document (as `--export-json`).
    pub export_json: Option<PathBuf>,
    /// Jobs at once: the array's `%MAX` and the suggested `parallel --jobs` (from `--jobs`).
    pub max_parallel: usize,
    /// The workloads (none in a live plan).
    pub workloads: Vec<PlanWorkload>,
    /// What a live plan runs (`kind` = `live`; its jobs name workload 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<LivePlan>,
    /// The allocator configurations (sweeps expanded).
    pub configs: Vec<AllocSpec>,
    /// The bundle's manifest as a local replay would write it; `collect` fills in machine, date and notes.
    pub manifest: Manifest,
    /// How jobs are ordered (for readers of the file).
    pub order: String,
    /// Job `K` is `jobs[K]`: `[workload, config, repeat]` indices.
    pub jobs: Vec<JobRef>,
}

/// `PLAN_DIR/samples/K.json`: one finished job.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SampleFile {
    /// [`Plan::id`] of the plan the job belongs to.
    pub plan: String,
    /// The build that took the sample.
    pub tool: Tool,
    /// The job number `K`.
    pub key: u64,
    /// The machine that took it (host name, CPU model, cores, memory, kernel).
    pub machine: Machine,
    /// When the job started (RFC 3339 UTC).
    pub started: String,
    /// The sample, exactly as a local replay records it.
    pub sample: Sample,
}

impl Plan {
    /// Reads `dir/plan.json`, checking the format version first.
    pub fn load(dir: &Path) -> anyhow::Result<Plan> {
        let path = dir.join(PLAN_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound && dir.is_dir() {
                anyhow::anyhow!(
                    "{} is missing: is {} a plan directory written by `hakmem plan`?",
                    path.display(),
                    dir.display()
                )
            } else {
                anyhow::anyhow!("cannot read {}: {e}", path.display())
            }
        })?;
        let value: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a valid plan", path.display()))?;
        match value.get("format_version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(PLAN_FORMAT_VERSION) => {}
            Some(v) => anyhow::bail!(
                "{} has plan format version {v}; this hakmem reads version {PLAN_FORMAT_VERSION}: plan again with this build",
                path.display()
            ),
            None => anyhow::bail!("{} is not a valid plan (no format_version)", path.display()),
        }
        let plan: Plan = serde_json::from_value(value)
            .with_context(|| format!("{} is not a valid plan", path.display()))?;
        plan.check()
            .with_context(|| format!("{} is not a valid plan", path.display()))?;
        Ok(plan)
    }

    /// Every job names a workload and a configuration of the plan; the timeout is one a child can be
    /// given (hand-edited plans included: a negative, NaN or huge value is an error, not a panic later).
    fn check(&self) -> anyhow::Result<()> {
        let workloads = match (&self.live, self.kind.as_str()) {
            (Some(l), "live") => {
                anyhow::ensure!(
                    self.workloads.is_empty() && !l.argv.is_empty() && l.cores >= 1,
                    "a live plan names a command, at least one core and no workload files"
                );
                1
            }
            (None, "replay") => self.workloads.len(),
            (_, kind) => anyhow::bail!(
                "kind `{kind}` with{} a live command: expected `replay` without one or `live` with one",
                if self.live.is_some() { "" } else { "out" }
            ),
        };
        for (k, j) in self.jobs.iter().enumerate() {
            anyhow::ensure!(
                (j.workload as usize) < workloads
                    && (j.config as usize) < self.configs.len()
                    && j.repeat < self.manifest.repeats.max(1),
                "job {k} names workload {}, configuration {}, repeat {} (the plan has {}, {}, {})",
                j.workload,
                j.config,
                j.repeat,
                workloads,
                self.configs.len(),
                self.manifest.repeats
            );
        }
        let max = crate::options::MAX_TIMEOUT_SECS;
        anyhow::ensure!(
            self.timeout_secs > 0.0 && self.timeout_secs <= max,
            "timeout_secs is {}: it must be a positive number of seconds, at most {max} (7 days)",
            self.timeout_secs
        );
        Ok(())
    }

    /// The name samples of job `j` carry (its workload's, or the live command's).
    pub fn workload_name(&self, j: JobRef) -> &str {
        match &self.live {
            Some(l) => &l.name,
            None => &self.workloads[j.workload as usize].name,
        }
    }

    /// Cores a job is pinned to: the live plan's, or the widest workload's threads.
    pub fn cores_per_job(&self) -> u32 {
        match &self.live {
            Some(l) => l.cores.max(1),
            None => self
                .workloads
                .iter()
                .map(|w| w.threads)
                .max()
                .unwrap_or(1)
                .max(1),
        }
    }

    /// The shell command that runs job `k` (`--force` retakes a finished one).
    pub fn job_command(&self, k: usize, force: bool) -> String {
        format!(
            "{} run-job {}{} {k}",
            sh_quote(&self.exe.to_string_lossy()),
            if force { "--force " } else { "" },
            sh_quote(&self.dir.to_string_lossy())
        )
    }

    /// Where job `k` writes its sample.
    pub fn sample_path(dir: &Path, k: usize) -> PathBuf {
        dir.join(SAMPLES_DIR).join(format!("{k}.json"))
    }

    /// Says whether `tool` may take or be collected into this plan's samples, and why not.
    pub fn check_tool(&self, tool: &Tool, what: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            &self.tool == tool,
            "{what} was made by {tool}, but plan {} was written by {}: samples of different builds measure \
             different programs and are never mixed (run every job with the build that wrote the plan, or plan again)",
            self.id,
            self.tool
        );
        Ok(())
    }
}
