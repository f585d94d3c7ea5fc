//! `hakmem live [--alloc SPEC…] [--repeats R|auto] … [--record] -- CMD ARGS…`: runs the real command under
//! each allocator (interleaved repeats, pinned), writes a bundle of `live` samples and, with `--record`,
//! records the command once, replays the recording through the same configurations into the same bundle,
//! and reports how well the replay predicts the live runs (fidelity).

use anyhow::Context;
use replayer::bundle::BundleWriter;
use replayer::engine::Touch;
use replayer::live::{self, Deployment, LiveCommand};
use replayer::session::{Input, Session};
use replayer::spec::AllocSpec;
use replayer::{orchestrate, sysinfo};
use reports::model::{Status, WorkloadInfo, KIND_LIVE};
use std::ffi::OsString;
use std::path::PathBuf;

/// Arguments of `hakmem live`.
#[derive(clap::Args)]
#[command(
    after_help = "Each run is the real program, a direct child of hakmem, with LD_PRELOAD of the \
allocator's library put first (hakmem: libhakmem.so with the spec's HAKMEM_* knobs in the environment; \
mimalloc / mimalloc2: libhakmem_mimalloc.so / libhakmem_mimalloc2.so built by this workspace; jemalloc, \
tcmalloc: the Debian libraries; system: nothing). A reference run under the system allocator comes first \
(not counted): a run whose exit status or stdout differs from it is a failed `output_differs` sample.\n\
Per sample: wall seconds, user and system CPU seconds, peak RSS (the largest of any one process of the \
program: ru_maxrss is a maximum), minor/major faults, exit status, SHA-256 of stdout; for HAKMEM \
configurations also its per-box statistics (HAKMEM_STATS=1 is set unless the spec sets it: each process \
prints them at exit in a few writes, taken out of its stderr; the busiest process's are kept).\n\
Exit status: 0 when every sample succeeded, 1 when some failed (all recorded), 2 when the run could not \
start."
)]
pub struct Args {
    /// Allocator configuration: `hakmem`, `hakmem:KEY=VALUE,…` (a value `A|B|C` sweeps), `system`,
    /// `mimalloc`, `mimalloc2`, `jemalloc`, `tcmalloc`, `preload:PATH.so`. Repeat the flag for several.
    #[arg(long = "alloc", value_name = "SPEC", default_values_t = ["system".to_string(), "mimalloc".to_string(), "hakmem".to_string()])]
    pub(crate) allocs: Vec<String>,
    /// Runs per configuration, interleaved across configurations; `auto` repeats until every configuration
    /// is separated from the baseline (p < 0.05) or equivalent to it (ratio range within ±1%), at least 5
    /// and at most --max-repeats times.
    #[arg(long, default_value = "auto", value_name = "N|auto", value_parser = parse_repeats)]
    pub(crate) repeats: Repeats,
    /// Cap of `--repeats auto`.
    #[arg(long, default_value = "20", value_name = "N", value_parser = replayer::options::repeats)]
    pub(crate) max_repeats: u32,
    /// Runs at once [default 1: a live program's threads and memory bandwidth are its own]; each run gets
    /// its share of the usable cores.
    #[arg(long, value_name = "N", value_parser = replayer::options::jobs)]
    pub(crate) jobs: Option<usize>,
    /// Kill a run after this many seconds (recorded as a `timeout` sample).
    #[arg(long, default_value = "600", value_name = "SECONDS", value_parser = replayer::options::timeout)]
    pub(crate) timeout: std::time::Duration,
    /// Feed this file to the program's stdin on every run [default: /dev/null].
    #[arg(long, value_name = "FILE")]
    pub(crate) stdin: Option<PathBuf>,
    /// Run the program in this directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) cwd: Option<PathBuf>,
    /// Bundle directory [default: ./hakmem-results/live-DATE].
    #[arg(long, short = 'o', value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    /// Also write the whole bundle as one JSON document (`-` = stdout).
    #[arg(long, value_name = "FILE")]
    pub(crate) export_json: Option<PathBuf>,
    /// Configuration the ratios refer to, and the prediction's anchor [default: system].
    #[arg(long, value_name = "NAME")]
    pub(crate) baseline: Option<String>,
    /// Also record the command once, compile it and replay the recording through the same
    /// configurations into the same bundle: the report then shows the predicted time of each allocator
    /// beside its live time, and the fidelity of the prediction.
    #[arg(long)]
    pub(crate) record: bool,
    /// How the replays of `--record` call the allocators: `preload` (every configuration through its
    /// preloaded .so and the C library's symbols, as the live runs do) or `linked` (hakmem and mimalloc
    /// linked into the harness, as `hakmem replay --calls linked` does).
    /// Several, comma-separated, replay the recording once per convention (the first one's prediction
    /// is shown beside the live times; each replay gets its own fidelity line).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "preload",
        value_name = "CALLS"
    )]
    pub(crate) replay_calls: Vec<ReplayCalls>,
    /// Memory touching of the replays of `--record`.
    #[arg(long, value_enum, default_value_t = Touch::First, value_name = "TOUCH")]
    pub(crate) touch: Touch,
    /// Warm-up of the replays of `--record` (as `hakmem replay --warmup`): each replay thread makes one
    /// malloc and one free per size class it allocates before the start barrier (`--warmup=false`: off).
    #[arg(long, action = clap::ArgAction::Set, num_args = 0..=1, require_equals = true, default_value_t = false, default_missing_value = "true", value_name = "BOOL")]
    pub(crate) warmup: bool,
    /// Pacing of the replays of `--record` (as `hakmem replay --pace`): each replay thread busy-waits NS
    /// nanoseconds before each call (`off` = 0: back to back).
    #[arg(long, default_value = "off", value_name = "NS|off", value_parser = replayer::options::pace)]
    pub(crate) pace: u32,
    /// Walks in the replays of `--record` (as `hakmem replay --walk`): each replay thread reads its live
    /// blocks in allocation order, the youngest every N allocations (`off`: no walks).
    #[arg(long, default_value = "off", value_name = "N|off", value_parser = replayer::options::walk)]
    pub(crate) walk: u32,
    /// The program and its arguments (after `--`).
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub(crate) command: Vec<OsString>,
}

/// `--repeats`: a number or `auto`.
#[derive(Clone, Copy, Debug)]
pub enum Repeats {
    /// Exactly this many.
    Fixed(u32),
    /// Until settled (see [`live::settled`]).
    Auto,
}

fn parse_repeats(s: &str) -> Result<Repeats, String> {
    if s.trim() == "auto" {
        return Ok(Repeats::Auto);
    }
    replayer::options::repeats(s)
        .map(Repeats::Fixed)
        .map_err(|e| format!("{e}; or `auto`"))
}

/// How replays call the allocators (`hakmem replay --calls`, `hakmem live --replay-calls`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReplayCalls {
    /// Through preloaded .so files, as the program does.
    Preload,
    /// hakmem and mimalloc linked into the harness.
    Linked,
}

impl ReplayCalls {
    /// `configs` as this convention calls them: as given (`linked`), or each through its preloaded library
    /// (`preload`; an error names a missing library and the command that builds it).
    pub(crate) fn specs(
        self,
        configs: &[AllocSpec],
    ) -> Result<Vec<AllocSpec>, replayer::spec::SpecError> {
        match self {
            ReplayCalls::Linked => Ok(configs.to_vec()),
            ReplayCalls::Preload => configs.iter().map(replayer::spec::preloaded).collect(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            ReplayCalls::Preload => "preload",
            ReplayCalls::Linked => "linked",
        }
    }
}

/// What `hakmem live` and `hakmem plan live` check and derive from the same arguments before running
/// anything: the configurations, how each is deployed, the command, and the baseline's label.
pub(crate) struct Prepared {
    /// The configurations (sweeps expanded).
    pub configs: Vec<AllocSpec>,
    /// Their deployments, in the same order.
    pub deployments: Vec<Deployment>,
    /// The command as each run starts it.
    pub cmd: LiveCommand,
    /// The configuration ratios refer to: `--baseline`, else `system` when measured, else the first.
    pub base_label: String,
}

/// Checks the arguments shared by `hakmem live` and `hakmem plan live` (bad ones are errors before any run).
pub(crate) fn prepare(args: &Args) -> anyhow::Result<Prepared> {
    let configs = super::checked_run_setup(&args.allocs, args.baseline.as_deref())?;
    let deployments = configs
        .iter()
        .map(Deployment::of)
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(p) = &args.stdin {
        anyhow::ensure!(p.is_file(), "--stdin {}: no such file", p.display());
    }
    if let Some(d) = &args.cwd {
        anyhow::ensure!(d.is_dir(), "--cwd {}: no such directory", d.display());
    }
    let labels: Vec<&String> = configs.iter().map(|c| &c.label).collect();
    if let Some(b) = &args.baseline {
        anyhow::ensure!(
            labels.contains(&b),
            "--baseline {b} is not among the configurations ({})",
            labels
                .iter()
                .map(|l| l.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let base_label = args
        .baseline
        .clone()
        .or_else(|| {
            labels
                .iter()
                .find(|l| **l == "system")
                .map(|l| l.to_string())
        })
        .unwrap_or_else(|| labels[0].clone());
    let cmd = LiveCommand {
        argv: args.command.clone(),
        cwd: args.cwd.clone(),
        stdin: args.stdin.clone(),
        timeout: args.timeout,
    };
    Ok(Prepared {
        configs,
        deployments,
        cmd,
        base_label,
    })
}

/// Runs `hakmem live`.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let Prepared {
        configs,
        deployments,
        cmd,
        base_label,
    } = prepare(&args)?;
    let timeout = args.timeout;
    let labels: Vec<String> = configs.iter().map(|c| c.label.clone()).collect();
    let mut conventions: Vec<(ReplayCalls, Vec<AllocSpec>)> = Vec::new();
    for calls in &args.replay_calls {
        if conventions.iter().any(|c| c.0 == *calls) {
            continue;
        }
        conventions.push((*calls, calls.specs(&configs)?));
    }
    let name = cmd.name();
    let allowed = sysinfo::allowed_cpus();
    let jobs = args.jobs.unwrap_or(1).max(1);
    let per = (allowed.len() / jobs).max(1) as u32;
    let (slots, shared) = orchestrate::plan_cpus(&allowed, jobs, per);
    let repeats = match args.repeats {
        Repeats::Fixed(n) => n,
        Repeats::Auto => 0,
    };
    let manifest = live::manifest(
        &cmd,
        &configs,
        &deployments,
        repeats,
        jobs as u32,
        args.touch,
    );
    let mut bundle = BundleWriter::create(args.out.as_deref(), manifest, args.export_json.clone())?;
    if shared {
        bundle.note(format!(
            "parallel live runs share cores: {jobs} runs on {} usable cores",
            allowed.len()
        ))?;
    }

    eprintln!("hakmem live: reference run of {name} under the system allocator");
    let reference = live::reference_run(&cmd, &slots[0])?;
    bundle.note(reference.note())?;

    let mut recorded: Vec<(ReplayCalls, Vec<AllocSpec>, Input)> = Vec::new();
    if args.record {
        let dir = bundle.dir().join("recording");
        eprintln!("hakmem live: recording {name} into {}", dir.display());
        let (path, code) = live::record(&cmd, &dir)?;
        if code != reference.exit_code {
            let note = format!(
                "the recorded run exited with {code:?}, the reference run with {:?}",
                reference.exit_code
            );
            eprintln!("warning: {note}");
            bundle.note(note)?;
        }
        let input = replayer::workload::inputs(std::slice::from_ref(&path))
            .pop()
            .expect("one input per path");
        if let Err(e) = &input.source {
            anyhow::bail!("the recording of {name} cannot be replayed: {e}");
        }
        // The live workload's facts come from its recording.
        bundle.set_workload(WorkloadInfo {
            name: name.clone(),
            kind: KIND_LIVE.to_string(),
            threads: input.info.threads,
            ops: input.info.ops,
            peak_live_bytes: input.info.peak_live_bytes,
            ..Default::default()
        })?;
        for (i, (calls, specs)) in conventions.iter().enumerate() {
            let mut input = input.clone();
            input.info.name = if i == 0 {
                format!("{name} (replay)")
            } else {
                format!("{name} (replay, {})", calls.name())
            };
            input.info.live_workload = name.clone();
            bundle.set_workload(input.info.clone())?;
            recorded.push((*calls, specs.clone(), input));
        }
    }

    let (max_rounds, auto) = match args.repeats {
        Repeats::Fixed(n) => (n, false),
        Repeats::Auto => (args.max_repeats, true),
    };
    let base = labels.iter().position(|l| *l == base_label).unwrap_or(0);
    let mut rounds = 0;
    let mut write_err = None;
    while rounds < max_rounds {
        let items: Vec<(usize, u32)> = (0..deployments.len()).map(|i| (i, rounds)).collect();
        orchestrate::run_parallel(
            items,
            |_| per,
            &slots,
            jobs,
            true,
            |&(i, r), cpus| cmd.sample(&deployments[i], &cpus, r, &reference),
            |s| {
                if write_err.is_none() {
                    if let Err(e) = bundle.push(s) {
                        write_err = Some(e);
                    }
                }
            },
        );
        if let Some(e) = write_err.take() {
            return Err(e);
        }
        rounds += 1;
        if auto && rounds >= live::AUTO_MIN_REPEATS.min(max_rounds) {
            let times: Vec<Vec<f64>> = labels
                .iter()
                .map(|l| {
                    bundle
                        .samples()
                        .iter()
                        .filter(|s| &s.config == l && s.status == Some(Status::Ok))
                        .map(|s| s.seconds)
                        .collect()
                })
                .collect();
            if live::settled(&times, base) {
                break;
            }
        }
    }
    if auto {
        let note = if rounds >= max_rounds {
            format!("--repeats auto: stopped at the cap of {max_rounds} repeats before every configuration was separated from (or equivalent to) {base_label}")
        } else {
            format!("--repeats auto: {rounds} repeats separated every configuration from {base_label} (p < 0.05) or showed it equivalent (within ±1%)")
        };
        eprintln!("hakmem live: {note}");
        bundle.note(note)?;
    }

    for (calls, specs, input) in recorded {
        eprintln!(
            "hakmem live: replaying the recording ({} calls, {} thread(s)) through {} configuration(s), {rounds} repeat(s), calls {}",
            input.info.ops,
            input.info.threads,
            specs.len(),
            calls.name()
        );
        if args.warmup {
            bundle.note(format!(
                "{}: {}",
                input.info.name,
                replayer::session::WARMUP_NOTE
            ))?;
        }
        if args.pace > 0 {
            bundle.note(format!(
                "{}: {}",
                input.info.name,
                replayer::session::pace_note(args.pace)
            ))?;
        }
        if args.walk > 0 {
            bundle.note(format!(
                "{}: {}",
                input.info.name,
                replayer::session::walk_note(args.walk)
            ))?;
        }
        bundle.note(format!(
            "{}: the replays call the allocators {}",
            input.info.name,
            match calls {
                ReplayCalls::Preload => "through their preloaded .so files and the C library's symbols, as the live runs do",
                ReplayCalls::Linked => "as `hakmem replay --calls linked` does: hakmem and mimalloc linked into the harness",
            }
        ))?;
        let threads = input.info.threads.max(1);
        let rjobs = orchestrate::default_jobs(allowed.len(), threads).min(jobs);
        let (rslots, _) = orchestrate::plan_cpus(&allowed, rjobs, threads);
        let session = Session {
            kind: "replay",
            configs: specs,
            inputs: vec![input],
            repeats: rounds,
            auto_repeats: false,
            jobs: Some(rjobs),
            timeout,
            touch: args.touch,
            check: false,
            latency_every: 64,
            warmup: args.warmup,
            pace_ns: args.pace,
            walk: args.walk,
            out: None,
            export_json: None,
            baseline: None,
        };
        session.measure(&mut bundle, rjobs, &rslots)?;
    }
    bundle.finish()?;

    let dir = bundle.dir().to_path_buf();
    let loaded = reports::Bundle::load(&dir)
        .with_context(|| format!("cannot read back the bundle {}", dir.display()))?;
    let report = reports::Report::build(&[loaded], Some(&base_label));
    let text = reports::terminal::render_terminal(&report, reports::terminal::Style::auto());
    let to_stdout = args
        .export_json
        .as_ref()
        .map(|p| p.as_os_str() != "-")
        .unwrap_or(true);
    replayer::session::print_summary(&bundle, &text, to_stdout)
}
