//! `hakmem info FILE [--json]`: describe a workload (.hkw, from its precomputed header statistics) or a
//! raw trace (compiled in memory). The library side is `traces::info`.

use std::io::Write;
use std::path::PathBuf;

/// Arguments of `hakmem info`.
#[derive(clap::Args)]
pub struct Args {
    /// A workload (.hkw) or a raw trace written by `hakmem record`.
    file: PathBuf,
    /// Print JSON (the same object the replayer stores in result manifests).
    #[arg(long)]
    json: bool,
}

/// Runs `hakmem info`.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let info = traces::info::describe(&args.file)?;
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
