//! HAKMEM Workbench reports: what the user sees.
//!
//! Data flow: [`bundle::Bundle::load`] reads a result bundle ([`model`], written by the replayer) →
//! [`summary::Report::build`] computes medians, quartiles, ratios to a baseline with their spread and a
//! significance mark ([`stats`]) → an [`export::Exporter`] renders it (JSON, CSV, Markdown, self-contained
//! HTML with inline SVG charts from [`svg`]), and [`terminal`] prints the summary table. [`progress`] draws
//! the progress bars of `hakmem demo` on a terminal.
//!
//! Invariants: reading never panics on bad input (typed [`error::ReportError`] or a warning naming the
//! line); every exporter is a pure function of the [`summary::Report`]; the JSON export reads back equal.
#![deny(missing_docs)]

pub mod bundle;
pub mod error;
pub mod export;
pub mod fidelity;
pub mod format;
pub mod model;
pub mod profile;
pub mod progress;
pub mod stats;
pub mod summary;
pub mod svg;
pub mod table;
pub mod term;
pub mod terminal;

pub use bundle::Bundle;
pub use error::ReportError;
pub use summary::Report;

/// Loads every bundle in `paths` and summarises them against `baseline`.
pub fn load_report(
    paths: &[std::path::PathBuf],
    baseline: Option<&str>,
) -> Result<Report, ReportError> {
    let bundles = paths
        .iter()
        .map(|p| Bundle::load(p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Report::build(&bundles, baseline))
}
