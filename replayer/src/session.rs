//! One measuring session, shared by `hakmem replay` and `hakmem bench`: the plan (interleaved repeats ×
//! workloads × configurations), the manifest, the children, the bundle and the summary.
//!
//! Entry point: [`Session::run`]. Exit code: 0 when every sample succeeded, 1 when some failed (the bundle
//! holds them with their reasons).

use crate::bundle::BundleWriter;
use crate::child::{Job, Source};
use crate::engine::Touch;
use crate::orchestrate::{self, Runner, Task};
use crate::spec::{AllocSpec, BackendKind};
use crate::{backend, sysinfo};
use reports::model::{
    AllocatorInfo, Manifest, Sample, Status, WorkloadInfo, BUNDLE_FORMAT_VERSION,
};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// One workload of a session: what the manifest says about it and how a child runs it (or why it cannot).
#[derive(Clone, Debug)]
pub struct Input {
    /// Manifest entry (its `name` names the samples).
    pub info: WorkloadInfo,
    /// How to run it, or the reason it cannot be run (recorded as failed samples).
    pub source: Result<Source, String>,
}

/// Everything a session needs.
#[derive(Clone, Debug)]
pub struct Session {
    /// `replay` or `bench`.
    pub kind: &'static str,
    /// Allocator configurations.
    pub configs: Vec<AllocSpec>,
    /// Workloads.
    pub inputs: Vec<Input>,
    /// Repeats per configuration × workload (with `auto_repeats`, the cap).
    pub repeats: u32,
    /// `--repeats auto`: run rounds of one repeat each until every workload is settled
    /// ([`crate::live::settled`]: each configuration separated from the baseline at p < 0.05 or within
    /// ±1 % of it), at least [`crate::live::AUTO_MIN_REPEATS`] and at most `repeats` rounds.
    pub auto_repeats: bool,
    /// Children at once (`None` = cores / widest workload's threads).
    pub jobs: Option<usize>,
    /// Per-child timeout.
    pub timeout: Duration,
    /// Memory touching.
    pub touch: Touch,
    /// Contract checking.
    pub check: bool,
    /// Latency sampling period.
    pub latency_every: u32,
    /// Warm each replay thread's allocator up before the start barrier.
    pub warmup: bool,
    /// Busy wait before each replayed op, ns (`--pace`; 0 = off).
    pub pace_ns: u32,
    /// Walks of the live blocks every this many allocations (`--walk`; 0 = off).
    pub walk: u32,
    /// Bundle directory.
    pub out: Option<PathBuf>,
    /// `--export-json` target.
    pub export_json: Option<PathBuf>,
    /// Baseline configuration for ratios.
    pub baseline: Option<String>,
}

/// Version string of a configuration's allocator, for provenance.
pub fn allocator_version(spec: &AllocSpec) -> String {
    match spec.backend {
        BackendKind::System => backend::glibc_version(),
        BackendKind::Mimalloc => backend::mimalloc_version(),
        BackendKind::Hakmem => format!(
            "hakmem-allocator {} (linked in; HAKMEM_CHECK={})",
            env!("CARGO_PKG_VERSION"),
            crate::hakmem_backend::check_level(&spec.knobs)
        ),
        BackendKind::Preload => {
            let p = spec.path.clone().unwrap_or_default();
            // libhakmem.so reads its misuse-check level from the environment the child inherits.
            let check = if p
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("libhakmem."))
            {
                format!(" HAKMEM_CHECK={}", crate::hakmem_backend::check_level(&[]))
            } else {
                String::new()
            };
            match sysinfo::sha256_file(&p) {
                Ok(h) => format!("{} sha256:{h}{check}", p.display()),
                Err(e) => format!("{} ({e}){check}", p.display()),
            }
        }
    }
}

/// Path of the running `hakmem` executable (children are started from it).
pub fn self_exe() -> anyhow::Result<PathBuf> {
    use anyhow::Context;
    std::fs::read_link("/proc/self/exe")
        .context("cannot find the hakmem executable through /proc/self/exe")
}

/// The manifest's note of a replay with `--pace NS`.
pub fn pace_note(ns: u32) -> String {
    format!("replay pacing: each replay thread busy-waited {ns} ns (a calibrated loop) before each call, inside the timed region")
}

/// The manifest's note of a replay with `--walk N`.
pub fn walk_note(n: u32) -> String {
    format!(
        "replay walks: each replay thread read the first byte of each of its live blocks in allocation order, \
generation 0 every {n} allocations, older generations as CPython's collector (thresholds {n}/{o}/{o}), inside the timed region",
        o = crate::engine::WALK_OLDER_EVERY
    )
}

/// The manifest's note of a replay with `--warmup`.
pub const WARMUP_NOTE: &str = "replay warm-up: before the start barrier each replay thread made one malloc and one free per size class it allocates (up to 32 KiB), outside the timed region";

impl Session {
    /// Builds the manifest of this session.
    pub fn manifest(&self, jobs: usize) -> Manifest {
        Manifest {
            format_version: BUNDLE_FORMAT_VERSION,
            kind: self.kind.to_string(),
            command: std::env::args().collect(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            date: sysinfo::now_rfc3339(),
            machine: sysinfo::machine(),
            workloads: self.inputs.iter().map(|i| i.info.clone()).collect(),
            allocators: self
                .configs
                .iter()
                .map(|c| AllocatorInfo {
                    allocator: c.allocator_name().to_string(),
                    config: c.label.clone(),
                    knobs: c.knobs.iter().cloned().collect(),
                    version: allocator_version(c),
                    path: c
                        .path
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                })
                .collect(),
            repeats: self.repeats,
            jobs: jobs as u32,
            touch: self.touch.name().to_string(),
            check: self.check,
            notes: self
                .warmup
                .then(|| WARMUP_NOTE.to_string())
                .into_iter()
                .chain((self.pace_ns > 0).then(|| pace_note(self.pace_ns)))
                .chain((self.walk > 0).then(|| walk_note(self.walk)))
                .collect(),
        }
    }

    /// The samples to take, in the order they start: repeats outermost, then workloads, then configurations
    /// (A B C A B C …, so drift hits every configuration alike), and the samples that fail before any child
    /// starts (unreadable workloads), in the same order. `hakmem plan` numbers its jobs in this order.
    pub fn tasks(&self) -> (Vec<Task>, Vec<Sample>) {
        self.tasks_of(0..self.repeats)
    }

    /// [`Session::tasks`] of the repeats `rounds` only (`--repeats auto` runs one round at a time).
    pub fn tasks_of(&self, rounds: std::ops::Range<u32>) -> (Vec<Task>, Vec<Sample>) {
        let mut tasks = Vec::new();
        let mut failed_early = Vec::new();
        for repeat in rounds {
            for input in &self.inputs {
                for spec in &self.configs {
                    match &input.source {
                        Ok(source) => tasks.push(Task {
                            job: Job {
                                source: source.clone(),
                                alloc: spec.clone(),
                                touch: self.touch,
                                check: self.check,
                                latency_every: self.latency_every,
                                warmup: self.warmup,
                                pace_ns: self.pace_ns,
                                walk: self.walk,
                                cpus: Vec::new(),
                            },
                            workload: input.info.name.clone(),
                            repeat,
                            threads: input.info.threads.max(1),
                        }),
                        Err(reason) => failed_early.push(Sample {
                            allocator: spec.allocator_name().to_string(),
                            config: spec.label.clone(),
                            workload: input.info.name.clone(),
                            repeat,
                            status: Some(Status::Error),
                            error: reason.clone(),
                            ..Sample::default()
                        }),
                    }
                }
            }
        }
        (tasks, failed_early)
    }

    /// Runs the session; prints the summary; returns the exit code.
    pub fn run(self) -> anyhow::Result<u8> {
        let allowed = sysinfo::allowed_cpus();
        let widest = self
            .inputs
            .iter()
            .map(|i| i.info.threads.max(1))
            .max()
            .unwrap_or(1);
        let jobs = self
            .jobs
            .unwrap_or_else(|| orchestrate::default_jobs(allowed.len(), widest))
            .max(1);
        let (slots, shared) = orchestrate::plan_cpus(&allowed, jobs, widest);
        let mut bundle = BundleWriter::create(
            self.out.as_deref(),
            self.manifest(jobs),
            self.export_json.clone(),
        )?;
        if shared {
            let note = if jobs > 1 {
                format!(
                    "parallel children share cores: {jobs} children × {widest} threads on {} usable cores {:?}",
                    allowed.len(),
                    allowed
                )
            } else {
                format!(
                    "threads share cores: a workload has {widest} threads, {} cores are usable {:?}",
                    allowed.len(),
                    allowed
                )
            };
            let fix = if jobs > 1 {
                " (use --jobs 1 for exclusive cores)"
            } else {
                ""
            };
            eprintln!("note: {note}{fix}");
            bundle.note(note)?;
        }
        let env: Vec<String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("HAKMEM_") && !k.starts_with("HAKMEM_BENCH_"))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !env.is_empty() {
            bundle.note(format!(
                "HAKMEM_* environment in effect for hakmem and preloaded children (spec knobs override it): {}",
                env.join(" ")
            ))?;
        }
        if !sysinfo::reset_peak_rss() {
            bundle
                .note("peak RSS could not be reset before replays: peak_rss_bytes includes workload loading".into())?;
        }
        bundle.note(
            "peak_rss_bytes and post_rss_bytes are the whole child's (harness + decoded workload + allocator); baseline_rss_bytes is the child's RSS just before the timed region (VmHWM reset there), so peak - baseline (\"heap peak\") is the allocator's own".into(),
        )?;
        if self.auto_repeats {
            self.measure_auto(&mut bundle, jobs, &slots)?;
        } else {
            self.measure(&mut bundle, jobs, &slots)?;
        }
        bundle.finish()?;
        // The same tables as `hakmem report` (one renderer, one set of formats), read back from the bundle
        // just written.
        let report = reports::load_report(&[bundle.dir().to_path_buf()], self.baseline.as_deref())
            .map_err(|e| anyhow::anyhow!("reading back the bundle: {e}"))?;
        let to_stdout = self
            .export_json
            .as_ref()
            .map(|p| p.as_os_str() != "-")
            .unwrap_or(true);
        let style = if to_stdout {
            reports::terminal::Style::auto()
        } else {
            reports::terminal::Style::default()
        };
        let table = reports::terminal::render_terminal(&report, style);
        print_summary(&bundle, &table, to_stdout)
    }

    /// Runs every sample of this session (interleaved repeats × workloads × configurations) on `jobs`
    /// parallel slots of cores and appends them to `bundle` as they finish. `hakmem live --record` uses it to
    /// put the replays of a recording into the live bundle.
    pub fn measure(
        &self,
        bundle: &mut BundleWriter,
        jobs: usize,
        slots: &[Vec<u32>],
    ) -> anyhow::Result<()> {
        self.measure_rounds(bundle, jobs, slots, 0..self.repeats)
    }

    /// `--repeats auto`: one interleaved round at a time until every workload is settled (see
    /// [`Session::auto_repeats`]) or the cap is reached; the bundle gets a note saying which.
    pub fn measure_auto(
        &self,
        bundle: &mut BundleWriter,
        jobs: usize,
        slots: &[Vec<u32>],
    ) -> anyhow::Result<()> {
        let cap = self.repeats.max(1);
        let base = self
            .baseline
            .as_deref()
            .and_then(|b| {
                self.configs
                    .iter()
                    .position(|c| c.label == b || c.backend.name() == b)
            })
            .or_else(|| self.configs.iter().position(|c| c.label == "system"))
            .unwrap_or(0);
        let mut rounds = 0;
        while rounds < cap {
            self.measure_rounds(bundle, jobs, slots, rounds..rounds + 1)?;
            rounds += 1;
            if rounds < crate::live::AUTO_MIN_REPEATS.min(cap) {
                continue;
            }
            let all_settled = self.inputs.iter().all(|input| {
                let times: Vec<Vec<f64>> = self
                    .configs
                    .iter()
                    .map(|c| {
                        bundle
                            .samples()
                            .iter()
                            .filter(|s| {
                                s.workload == input.info.name
                                    && s.config == c.label
                                    && s.status == Some(Status::Ok)
                                    && s.seconds > 0.0
                            })
                            .map(|s| s.seconds)
                            .collect()
                    })
                    .collect();
                crate::live::settled(&times, base)
            });
            if all_settled {
                break;
            }
        }
        let base_label = self
            .configs
            .get(base)
            .map(|c| c.label.as_str())
            .unwrap_or("");
        let note = if rounds >= cap {
            format!("--repeats auto: stopped at the cap of {cap} repeats before every configuration was separated from (or equivalent to) {base_label}")
        } else {
            format!("--repeats auto: {rounds} repeats separated every configuration from {base_label} (p < 0.05) or showed it equivalent (within ±1%)")
        };
        eprintln!("hakmem {}: {note}", self.kind);
        bundle.note(note)
    }

    fn measure_rounds(
        &self,
        bundle: &mut BundleWriter,
        jobs: usize,
        slots: &[Vec<u32>],
        rounds: std::ops::Range<u32>,
    ) -> anyhow::Result<()> {
        let (tasks, failed_early) = self.tasks_of(rounds);
        for mut s in failed_early {
            orchestrate::stamp_node(&mut s);
            bundle.push(s)?;
        }
        let runner = Runner {
            exe: self_exe()?,
            jobs,
            timeout: self.timeout,
            progress: true,
            wrapper: Vec::new(),
        };
        let mut write_err = None;
        orchestrate::run_tasks(tasks, &runner, slots, |s| {
            if write_err.is_none() {
                if let Err(e) = bundle.push(s) {
                    write_err = Some(e);
                }
            }
        });
        if let Some(e) = write_err {
            return Err(e);
        }
        Ok(())
    }
}

/// Prints a finished bundle's summary table and where the results are (to stdout, or to stderr when
/// `--export-json -` owns stdout), and returns the exit code: 1 if any sample failed, else 0.
pub fn print_summary(bundle: &BundleWriter, table: &str, to_stdout: bool) -> anyhow::Result<u8> {
    let text = format!("{table}results: {}\n", bundle.dir().display());
    if to_stdout {
        std::io::stdout().lock().write_all(text.as_bytes())?;
    } else {
        eprint!("{text}");
    }
    let failures = bundle
        .samples()
        .iter()
        .filter(|s| s.status != Some(Status::Ok))
        .count();
    Ok(u8::from(failures > 0))
}
