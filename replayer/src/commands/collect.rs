//! `hakmem collect PLAN_DIR [-o BUNDLE]`: merges a plan's samples into a result bundle (see
//! `replayer::plan::collect`), prints the summary, and lists the jobs still to run.

use replayer::plan::collect::{collect, rerun_commands};
use replayer::plan::RERUN_FILE;
use std::io::Write;
use std::path::PathBuf;

/// Commands listed on the terminal at most; all of them are in PLAN_DIR/rerun.txt.
const LIST_AT_MOST: usize = 20;

/// Arguments of `hakmem collect`.
#[derive(clap::Args)]
#[command(
    after_help = "Exit status: 0 when every job has a successful sample, 1 when some are missing or failed \
(the bundle holds what there is; the commands to rerun the others are listed and written to \
PLAN_DIR/rerun.txt, e.g. for `parallel < PLAN_DIR/rerun.txt`), 2 when nothing could be collected (not a \
plan, samples of another plan or another hakmem build)."
)]
pub struct Args {
    /// Plan directory written by `hakmem plan`.
    plan_dir: PathBuf,
    /// Bundle directory [default: PLAN_DIR/bundle].
    #[arg(long = "out", short = 'o', alias = "output", value_name = "DIR")]
    out: Option<PathBuf>,
}

/// Runs `hakmem collect`.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let c = collect(&args.plan_dir, args.out.as_deref())?;
    // The same tables as `hakmem report` and `hakmem replay`, read back from the merged bundle.
    let report = reports::load_report(std::slice::from_ref(&c.bundle), c.plan.baseline.as_deref())
        .map_err(|e| anyhow::anyhow!("reading back the bundle: {e}"))?;
    let table = reports::terminal::render_terminal(&report, reports::terminal::Style::auto());
    let mut out = std::io::stdout().lock();
    writeln!(out, "{table}results: {}", c.bundle.display())?;
    out.flush()?;
    for note in &c.host_notes {
        eprintln!("note: {note}");
    }
    for p in &c.stray {
        eprintln!(
            "warning: {} is not a sample of this plan; left out",
            p.display()
        );
    }
    let n = c.plan.jobs.len();
    if !c.missing.is_empty() {
        eprintln!(
            "missing: {} of {n} jobs have no sample (not run yet, or killed before they finished); run:",
            c.missing.len()
        );
        for cmd in rerun_commands(&c.plan, &c.missing, &[])
            .iter()
            .take(LIST_AT_MOST)
        {
            eprintln!("  {cmd}");
        }
    }
    if !c.failed.is_empty() {
        eprintln!("failed: {} of {n} jobs; to retake them:", c.failed.len());
        let cmds = rerun_commands(&c.plan, &[], &c.failed);
        for ((_, why), cmd) in c.failed.iter().zip(&cmds).take(LIST_AT_MOST) {
            eprintln!("  {cmd}    # {why}");
        }
    }
    let todo = c.missing.len() + c.failed.len();
    if todo > 0 {
        if todo > LIST_AT_MOST {
            eprintln!("  … ({todo} in all)");
        }
        eprintln!(
            "all of them: {} (e.g. parallel < {})",
            c.plan.dir.join(RERUN_FILE).display(),
            c.plan.dir.join(RERUN_FILE).display()
        );
        return Ok(1);
    }
    Ok(0)
}
