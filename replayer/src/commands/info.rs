//! `hakmem info FILE [--json]`: describe a workload (.hkw) from its precomputed header statistics.

use std::io::Write;
use std::path::PathBuf;
use traces::info::Info;
use traces::workload::Workload;

/// Arguments of `hakmem info`.
#[derive(clap::Args)]
pub struct Args {
    /// A workload (.hkw) or a raw trace.
    file: PathBuf,
    /// Print JSON (the same object the replayer stores in result manifests).
    #[arg(long)]
    json: bool,
}

/// Runs `hakmem info`.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let w = Workload::open_header(&args.file)?;
    let info = Info::from_workload(&w);
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &info)?;
        writeln!(out)?;
    } else {
        out.write_all(info.render_text().as_bytes())?;
    }
    out.flush()?;
    Ok(0)
}
