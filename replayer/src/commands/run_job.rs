//! `hakmem run-job PLAN_DIR K`: takes sample K of a plan (see `replayer::plan::run`) and writes
//! `PLAN_DIR/samples/K.json`.

use replayer::plan::run::{run_job, Outcome};
use reports::model::Status;
use std::path::PathBuf;

/// Arguments of `hakmem run-job`.
#[derive(clap::Args)]
#[command(
    after_help = "Exit status: 0 when the sample succeeded (or had finished before), 1 when it failed (crash, \
timeout, allocation failure, --check violation, workload or stdin file missing or changed here, a live run \
whose exit status or stdout differs from the plan's reference run: recorded in the sample file with its \
reason), 2 when the job could not run (no such plan or job, another hakmem build)."
)]
pub struct Args {
    /// Plan directory written by `hakmem plan`.
    plan_dir: PathBuf,
    /// Job number, 0 .. jobs-1 (the line of jobs.txt, from 0; SLURM_ARRAY_TASK_ID in slurm.sbatch).
    job: usize,
    /// Take the sample again even if the job finished before.
    #[arg(long)]
    force: bool,
}

/// Runs `hakmem run-job`.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let (sample, verb) = match run_job(&args.plan_dir, args.job, args.force)? {
        Outcome::Ran(s) => (s, "took"),
        Outcome::AlreadyDone(s) => (s, "had already taken (use --force to retake it)"),
    };
    let what = match sample.status {
        Some(Status::Ok) if sample.is_live() => format!("ok, {:.3} s", sample.seconds),
        Some(Status::Ok) => format!("ok, {:.2}M ops/s", sample.ops_per_sec / 1e6),
        Some(st) => format!("{st:?}: {}", sample.error),
        None => "no status".into(),
    };
    eprintln!(
        "job {} {verb}: {} × {} #{} on {}: {what}",
        args.job, sample.workload, sample.config, sample.repeat, sample.host
    );
    Ok(if sample.status == Some(Status::Ok) {
        0
    } else {
        1
    })
}
