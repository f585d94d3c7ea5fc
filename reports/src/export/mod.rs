//! Exporters: one trait, one file per format.
//!
//! Entry points: [`Exporter`] (render a [`Report`] to a string), [`exporter_for`] (by format name) and
//! [`write_export`] (to a file, or stdout for `-`). Every exporter is a pure function of the report, so the
//! same report always renders the same bytes (the snapshot tests rely on it).

pub mod csv;
pub mod html;
pub mod json;
pub mod markdown;

use crate::error::ReportError;
use crate::summary::Report;
use std::io::Write;
use std::path::Path;

/// A report format.
pub trait Exporter {
    /// Format name (`json`, `csv`, `markdown`, `html`).
    fn name(&self) -> &'static str;
    /// Renders the whole report.
    fn render(&self, report: &Report) -> String;
}

/// The exporter of format `name`, if there is one.
pub fn exporter_for(name: &str) -> Option<Box<dyn Exporter>> {
    match name {
        "json" => Some(Box::new(json::Json)),
        "csv" => Some(Box::new(csv::Csv)),
        "markdown" | "md" => Some(Box::new(markdown::Markdown)),
        "html" => Some(Box::new(html::Html)),
        _ => None,
    }
}

/// Renders `report` with `exporter` into `dest` (`-` for stdout). A closed stdout is not an error.
pub fn write_export(
    exporter: &dyn Exporter,
    report: &Report,
    dest: &Path,
) -> Result<(), ReportError> {
    let text = exporter.render(report);
    let err = |cause| ReportError::Write {
        path: dest.to_path_buf(),
        cause,
    };
    if dest == Path::new("-") {
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            r => r.map_err(err),
        }
    } else {
        if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        // Write beside and rename, so a reader never sees half a report.
        let tmp = dest.with_extension("partial");
        std::fs::write(&tmp, text).map_err(err)?;
        std::fs::rename(&tmp, dest).map_err(err)
    }
}
