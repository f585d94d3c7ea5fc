//! `hakmem report BUNDLE…`: summarise result bundles as a terminal table, and export JSON, CSV, Markdown
//! and a self-contained HTML report. All the work is in the `reports` crate; this file parses arguments.

use anyhow::Context;
use reports::export::{exporter_for, write_export};
use reports::terminal::{render_terminal, Style};
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `hakmem report`.
#[derive(clap::Args)]
pub struct Args {
    /// Result bundles (directories written by `hakmem replay` or `hakmem bench`).
    #[arg(required = true, value_name = "BUNDLE")]
    pub bundles: Vec<PathBuf>,
    /// Configuration (label such as `hakmem:HAKMEM_TINY_PAGE_BOX_CLASSES=5,6,7`) or allocator name that ratios
    /// are against. Default: `system` when present, else the first configuration (as in `replay` and `bench`).
    #[arg(long, value_name = "NAME")]
    pub baseline: Option<String>,
    /// Write the self-contained HTML report (inline SVG charts, no network) to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write the summaries as JSON to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub export_json: Option<PathBuf>,
    /// Write one CSV row per bundle × workload × configuration to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub export_csv: Option<PathBuf>,
    /// Write a Markdown report to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub export_markdown: Option<PathBuf>,
    /// Colour in the terminal table: `auto` (only on a terminal, unless NO_COLOR is set), `always`, `never`.
    #[arg(long, value_name = "WHEN", default_value = "auto", value_parser = ["auto", "always", "never"])]
    pub color: String,
}

/// Runs `hakmem report`.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let exe =
        std::env::current_exe().context("finding the hakmem executable (for `hakmem info`)")?;
    for b in &args.bundles {
        let what = match replayer::workload::sniff_kind(b) {
            Some("directory") | None if !b.is_file() => continue,
            Some("workload") => {
                "a workload (.hkw), not a result bundle: replay it first \
                (`hakmem replay FILE -o DIR`, then `hakmem report DIR`)"
            }
            Some("raw trace") => {
                "a raw trace, not a result bundle: `hakmem compile` it, \
                `hakmem replay` the workload, then report the bundle directory"
            }
            _ => "a file, not a result bundle (the directory `hakmem replay` or `bench` wrote)",
        };
        anyhow::bail!("{}: {what}", b.display());
    }
    let report = replayer::demo::load_report(&exe, &args.bundles, args.baseline.as_deref())?;
    if let Some(b) = &args.baseline {
        // A baseline no bundle has would leave every ratio empty: that is a typo, not a report.
        let rows = || {
            report
                .sections
                .iter()
                .flat_map(|s| &s.workloads)
                .flat_map(|w| &w.rows)
        };
        if !rows().any(|r| &r.config == b || &r.allocator == b) {
            let mut names: Vec<&str> = rows().map(|r| r.config.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            anyhow::bail!(
                "--baseline `{b}` is in none of the bundles; configurations: {}",
                names.join(", ")
            );
        }
    }
    for w in report.warnings() {
        eprintln!("warning: {w}");
    }
    let exports = [
        ("html", &args.html),
        ("json", &args.export_json),
        ("csv", &args.export_csv),
        ("markdown", &args.export_markdown),
    ];
    let mut stdout_taken = false;
    for (format, dest) in exports {
        let Some(dest) = dest else { continue };
        let exporter = exporter_for(format).expect("every listed format has an exporter");
        write_export(exporter.as_ref(), &report, dest)
            .with_context(|| format!("writing the {format} report"))?;
        if dest.as_os_str() == "-" {
            stdout_taken = true;
        } else {
            eprintln!("wrote {} ({format})", dest.display());
        }
    }
    if !stdout_taken {
        let mut style = Style::auto();
        match args.color.as_str() {
            "always" => style.colour = true,
            "never" => style.colour = false,
            _ => {}
        }
        let text = render_terminal(&report, style);
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .context("writing the summary to stdout")?;
        out.flush().context("writing the summary to stdout")?;
    }
    Ok(0)
}
