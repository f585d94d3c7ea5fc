//! `hakmem demo [--out DIR]`: the whole loop on this machine with defaults that just work (generate the
//! memo's three bands, record `sort --parallel=2`, compile, replay against HAKMEM default and Page Box,
//! system and mimalloc, report). The steps live in `replayer::demo`.

use anyhow::Context;
use replayer::demo::{run_demo, DemoOptions, DEFAULT_ALLOCS};
use replayer::options;
use reports::terminal::{render_terminal, Style};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `hakmem demo`.
#[derive(clap::Args)]
pub struct Args {
    /// Output directory: workloads/, traces/, results/ (the bundle), report.html, report.md, report.csv,
    /// report.json.
    #[arg(
        long = "out",
        short = 'o',
        alias = "output",
        default_value = "hakmem-demo",
        value_name = "DIR"
    )]
    pub out: PathBuf,
    /// Steps of each random-mixed workload.
    #[arg(long, default_value = "1000000", value_name = "N", value_parser = options::gen_steps)]
    pub iters: u64,
    /// Lines of the file `sort --parallel=2` sorts under the recorder.
    #[arg(long, default_value = "300000", value_name = "N", value_parser = options::sort_lines)]
    pub sort_lines: u64,
    /// Repeats per workload × configuration (from 4 the U test can reach p < 0.05; 9 copes with a busy
    /// machine).
    #[arg(long, default_value = "9", value_name = "N", value_parser = options::repeats)]
    pub repeats: u32,
    /// Children at once [default: the replayer's, from the cores].
    #[arg(long, value_name = "N", value_parser = options::jobs)]
    pub jobs: Option<usize>,
    /// Allocator configurations to compare (repeat the flag) [default: hakmem,
    /// hakmem:HAKMEM_TINY_PAGE_BOX_CLASSES=none, hakmem:HAKMEM_TINY_PAGE_BOX_CLASSES=5-7,
    /// 'hakmem:HAKMEM_TINY_UNIFIED_C7=32|128|256', system, mimalloc].
    #[arg(long = "alloc", value_name = "SPEC")]
    pub allocs: Vec<String>,
    /// Seconds before a sample is killed and recorded as a timeout.
    #[arg(long, default_value = "60", value_name = "SECONDS", value_parser = options::timeout)]
    pub timeout: Duration,
    /// Configuration the ratios are against.
    #[arg(long, default_value = "system", value_name = "NAME")]
    pub baseline: String,
}

/// Runs `hakmem demo`.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let exe =
        std::env::current_exe().context("finding the hakmem executable to run the demo's steps")?;
    let mut opts = DemoOptions::new(exe, args.out);
    opts.iters = args.iters;
    opts.sort_lines = args.sort_lines;
    opts.repeats = args.repeats;
    opts.jobs = args.jobs;
    opts.timeout = args.timeout.as_secs_f64();
    opts.baseline = args.baseline;
    opts.allocs = if args.allocs.is_empty() {
        DEFAULT_ALLOCS.iter().map(|s| s.to_string()).collect()
    } else {
        args.allocs
    };
    // Everything that can be checked is checked before the first step, so a typo costs no work and
    // leaves no half-written directory.
    super::checked_run_setup(&opts.allocs, Some(&opts.baseline))?;
    replayer::files::check_output_dir(&opts.out, "--out")?;
    let outcome = run_demo(&opts)?;
    let text = render_terminal(&outcome.report, Style::auto());
    let mut out = std::io::stdout().lock();
    let html = std::fs::canonicalize(&outcome.html).unwrap_or(outcome.html.clone());
    let md = std::fs::canonicalize(&outcome.markdown).unwrap_or(outcome.markdown.clone());
    writeln!(out, "\n{text}").context("writing the summary")?;
    writeln!(out, "HTML report: {}", html.display()).context("writing the summary")?;
    writeln!(out, "Markdown report: {}", md.display()).context("writing the summary")?;
    writeln!(
        out,
        "Bundle: {} (demo took {:.1}s)",
        outcome.bundle.display(),
        outcome.elapsed.as_secs_f64()
    )
    .context("writing the summary")?;
    out.flush().context("writing the summary")?;
    for w in outcome.report.warnings() {
        eprintln!("warning: {w}");
    }
    if outcome.problems.is_empty() {
        Ok(0)
    } else {
        for p in &outcome.problems {
            eprintln!("error: {p}");
        }
        Ok(1)
    }
}
