//! `hakmem plan replay ARGS… -o PLAN_DIR`: the samples `hakmem replay ARGS…` would take, written as
//! independent jobs (`jobs.txt` for GNU parallel, `slurm.sbatch` for a Slurm job array) instead of run.
//! The work is in `replayer::plan`.

use replayer::plan::write::{write_plan, PlanOptions};
use replayer::plan::{sh_quote, JOBS_FILE, SBATCH_FILE};

/// `hakmem plan …`.
#[derive(clap::Subcommand)]
pub enum Plan {
    /// Plan the samples of `hakmem replay` with the same arguments; `-o PLAN_DIR` is required.
    Replay(ReplayArgs),
}

/// Arguments of `hakmem plan replay`: those of `hakmem replay`, plus `--shared-fs`.
#[derive(clap::Args)]
#[command(
    mut_arg("out", |a| a
        .required(true)
        .value_name("PLAN_DIR")
        .help("Plan directory to create (must not exist, or be empty)")),
    mut_arg("jobs", |a| a
        .help("Jobs at once: the Slurm array's %MAX and the suggested `parallel --jobs` [default: usable cores here / the widest workload's threads]")),
    mut_arg("export_json", |a| a
        .help("Also write the collected bundle as one JSON document (by `hakmem collect`)")),
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

/// Runs `hakmem plan`.
pub fn run(cmd: Plan) -> anyhow::Result<u8> {
    match cmd {
        Plan::Replay(a) => {
            let session = super::replay::session(a.replay)?;
            let dir = session
                .out
                .clone()
                .ok_or_else(|| anyhow::anyhow!("`hakmem plan` needs -o PLAN_DIR"))?;
            let written = write_plan(
                &session,
                &PlanOptions {
                    dir,
                    shared_fs: a.shared_fs,
                },
            )?;
            let p = &written.plan;
            let dir = p.dir.to_string_lossy();
            let exe = sh_quote(&p.exe.to_string_lossy());
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
            Ok(0)
        }
    }
}
