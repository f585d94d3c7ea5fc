//! `hakmem plan replay|live ARGS… -o PLAN_DIR`: the samples `hakmem replay ARGS…` or `hakmem live ARGS…`
//! would take, written as independent jobs (`jobs.txt` for GNU parallel, `slurm.sbatch` for a Slurm job
//! array) instead of run. The work is in `replayer::plan`.

use super::live::Repeats;
use replayer::plan::write::{write_live_plan, write_plan, LiveSpec, PlanOptions, Written};
use replayer::plan::{sh_quote, JOBS_FILE, SBATCH_FILE};

/// `hakmem plan …`.
#[derive(clap::Subcommand)]
pub enum Plan {
    /// Plan the samples of `hakmem replay` with the same arguments; `-o PLAN_DIR` is required.
    Replay(ReplayArgs),
    /// Plan the samples of `hakmem live` with the same arguments; `-o PLAN_DIR` and `--repeats N` are
    /// required.
    Live(LiveArgs),
}

/// `-o PLAN_DIR` of `plan replay` and `plan live`: required, and what it names.
fn plan_dir(a: clap::Arg) -> clap::Arg {
    a.required(true)
        .value_name("PLAN_DIR")
        .help("Plan directory to create (must not exist, or be empty)")
}

/// `--export-json` of a plan: written by `hakmem collect`.
fn collected_export(a: clap::Arg) -> clap::Arg {
    a.help("Also write the collected bundle as one JSON document (by `hakmem collect`)")
}

/// Arguments of `hakmem plan replay`: those of `hakmem replay`, plus `--shared-fs`.
#[derive(clap::Args)]
#[command(
    mut_arg("out", plan_dir),
    mut_arg("jobs", |a| a
        .help("Jobs at once: the Slurm array's %MAX and the suggested `parallel --jobs` [default: usable cores here / the widest workload's threads]")),
    mut_arg("export_json", collected_export),
    after_help = "Writes PLAN_DIR/plan.json, PLAN_DIR/workloads/ (copies named by content hash; not with \
--shared-fs), PLAN_DIR/jobs.txt (one `hakmem run-job PLAN_DIR K` per sample) and PLAN_DIR/slurm.sbatch (a job \
array). Run the jobs with `parallel --jobs N [--sshloginfile HOSTS] < PLAN_DIR/jobs.txt` or \
`sbatch PLAN_DIR/slurm.sbatch`, then `hakmem collect PLAN_DIR`. Every node must see PLAN_DIR (and, with \
--shared-fs, the workloads and any preload:PATH.so) at the same path, and run the same hakmem build."
)]
pub struct ReplayArgs {
    #[command(flatten)]
    replay: super::replay::Args,
    /// Jobs read the workloads at the paths given (on a file system every node mounts at the same place)
    /// instead of from copies in the plan directory.
    #[arg(long)]
    shared_fs: bool,
}

/// Arguments of `hakmem plan live`: those of `hakmem live` (without `--record`, and with a number of
/// repeats), plus `--shared-fs` and `--cores`.
#[derive(clap::Args)]
#[command(
    mut_arg("out", plan_dir),
    mut_arg("repeats", |a| a
        .default_value(None::<&str>)
        .required(true)
        .help("Runs per configuration, interleaved across configurations. `auto` is refused: it decides after \
each round whether to run another, which a plan written ahead cannot")),
    mut_arg("jobs", |a| a
        .help("Jobs at once: the Slurm array's %MAX and the suggested `parallel --jobs` [default 1, as `hakmem live`]")),
    mut_arg("export_json", collected_export),
    mut_arg("record", |a| a.hide(true)),
    mut_arg("replay_calls", |a| a.hide(true)),
    mut_arg("touch", |a| a.hide(true)),
    mut_arg("max_repeats", |a| a.hide(true)),
    after_help = "Takes the reference run under the system allocator now, here (its exit status and stdout \
hash are in plan.json: every job's output is judged against it, so the program's output must not depend on the \
node). Writes PLAN_DIR/plan.json (the command, its working directory: --cwd or the current one, the stdin \
file by content hash), PLAN_DIR/inputs/ (the stdin file's copy; not with --shared-fs), PLAN_DIR/jobs.txt (one \
`hakmem run-job PLAN_DIR K` per sample) and PLAN_DIR/slurm.sbatch. Jobs run with the plan's HAKMEM_* \
variables; other variables come from the job's environment (write `env K=V CMD …` as the command to fix \
one). `--record` is refused: record and compile once (`hakmem record`, `hakmem compile`), then `hakmem plan \
replay` the workload."
)]
pub struct LiveArgs {
    #[command(flatten)]
    live: super::live::Args,
    /// Jobs read the stdin file at the path given (on a file system every node mounts at the same place)
    /// instead of from a copy in the plan directory.
    #[arg(long)]
    shared_fs: bool,
    /// Cores each run is pinned to, and the array's --cpus-per-task [default: the usable cores here /
    /// --jobs, as `hakmem live --jobs` gives each run].
    #[arg(long, value_name = "N", value_parser = parse_cores)]
    cores: Option<u32>,
}

/// `--cores`: 1..=4096 (one live run's cores).
fn parse_cores(s: &str) -> Result<u32, String> {
    replayer::options::integer(s, 1, replayer::options::MAX_THREADS, "cores").map(|v| v as u32)
}

/// Runs `hakmem plan`.
pub fn run(cmd: Plan) -> anyhow::Result<u8> {
    let written = match cmd {
        Plan::Replay(a) => {
            let session = super::replay::session(a.replay)?;
            anyhow::ensure!(
                !session.auto_repeats,
                "--repeats auto cannot be planned: it decides after each round whether to run another, \
                 and a plan is written before any job runs; give a number, e.g. --repeats 10"
            );
            let dir = session
                .out
                .clone()
                .ok_or_else(|| anyhow::anyhow!("`hakmem plan` needs -o PLAN_DIR"))?;
            write_plan(
                &session,
                &PlanOptions {
                    dir,
                    shared_fs: a.shared_fs,
                },
            )?
        }
        Plan::Live(a) => plan_live(a)?,
    };
    print_plan(&written);
    Ok(0)
}

/// `hakmem plan live`: the checks of `hakmem live`, then the plan.
fn plan_live(a: LiveArgs) -> anyhow::Result<Written> {
    let args = a.live;
    let repeats = match args.repeats {
        Repeats::Fixed(n) => n,
        Repeats::Auto => anyhow::bail!(
            "--repeats auto cannot be planned: it decides after each round whether to run another, and a plan \
             is written before any job runs; give a number, e.g. --repeats 10 (auto takes 5 to --max-repeats {})",
            args.max_repeats
        ),
    };
    anyhow::ensure!(
        !args.record,
        "`hakmem plan live` does not take --record: record and compile the command once (`hakmem record -o \
         DIR -- CMD …`, `hakmem compile DIR -o W.hkw`), then plan its replays with `hakmem plan replay W.hkw`, \
         or run `hakmem live --record` on one machine"
    );
    let dir = args
        .out
        .clone()
        .ok_or_else(|| anyhow::anyhow!("`hakmem plan live` needs -o PLAN_DIR"))?;
    replayer::files::check_output_dir(&dir, "--out")?;
    let p = super::live::prepare(&args)?;
    let jobs = args.jobs.unwrap_or(1).max(1);
    let usable = replayer::sysinfo::allowed_cpus().len();
    let cores = a.cores.unwrap_or((usable / jobs).max(1) as u32);
    write_live_plan(
        &LiveSpec {
            configs: p.configs,
            deployments: p.deployments,
            cmd: p.cmd,
            repeats,
            max_parallel: jobs,
            cores,
            baseline: args.baseline.clone(),
            export_json: args.export_json.clone(),
        },
        &PlanOptions {
            dir,
            shared_fs: a.shared_fs,
        },
    )
}

/// What was planned and how to run it.
fn print_plan(written: &Written) {
    let p = &written.plan;
    let dir = p.dir.to_string_lossy();
    let exe = sh_quote(&p.exe.to_string_lossy());
    match &p.live {
        Some(live) => {
            println!(
                "plan {}: {} jobs (`{}` × {} configurations × {} repeats, {} core{} each) in {dir}",
                p.id,
                p.jobs.len(),
                live.name,
                p.configs.len(),
                p.manifest.repeats,
                live.cores,
                if live.cores == 1 { "" } else { "s" }
            );
            println!(
                "reference run (system allocator): exit status {}, stdout {}",
                live.reference
                    .exit_code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "none (killed by a signal)".into()),
                live.reference.stdout_hash
            );
            match &live.stdin {
                Some(f) if p.shared_fs => println!(
                    "stdin: {} read in place ({} bytes)",
                    f.file.display(),
                    f.bytes
                ),
                Some(f) => println!("stdin: copied into the plan ({} bytes)", f.bytes),
                None => {}
            }
        }
        None => {
            let storage: u64 = p.workloads.iter().map(|w| w.bytes).sum();
            println!(
                "plan {}: {} jobs ({} workloads × {} configurations × {} repeats) in {dir}",
                p.id,
                p.jobs.len(),
                p.workloads.len(),
                p.configs.len(),
                p.manifest.repeats
            );
            if p.shared_fs {
                println!("workloads: read in place ({storage} bytes on the shared file system)");
            } else {
                println!(
                    "workloads: copied into the plan ({} bytes)",
                    written.copied_bytes
                );
            }
        }
    }
    println!(
        "run with:  parallel --jobs {} < {}",
        p.max_parallel,
        sh_quote(&format!("{dir}/{JOBS_FILE}"))
    );
    println!(
        "      or:  sbatch {}",
        sh_quote(&format!("{dir}/{SBATCH_FILE}"))
    );
    println!("then:      {exe} collect {}", sh_quote(&dir));
}
