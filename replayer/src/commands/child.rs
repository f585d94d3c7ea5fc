//! `hakmem __child --job JSON` (hidden): one replay/bench sample inside a fresh process, started by
//! `hakmem replay` / `hakmem bench`. Prints one JSON line (a `reports::model::Sample`) on stdout.

use anyhow::Context;
use std::io::Write;

/// Arguments of `hakmem __child`.
#[derive(clap::Args)]
pub struct Args {
    /// The job, as JSON (see `replayer::child::Job`).
    #[arg(long)]
    job: String,
}

/// Runs `hakmem __child`.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let job: replayer::child::Job =
        serde_json::from_str(&args.job).context("malformed --job JSON")?;
    let sample = replayer::child::run_job(&job);
    let mut line = serde_json::to_string(&sample)?;
    line.push('\n');
    let mut out = std::io::stdout().lock();
    out.write_all(line.as_bytes())?;
    out.flush()?;
    Ok(0)
}
