//! JSON export: the whole [`Report`] (summaries, comparisons, provenance), pretty-printed. Reading it back
//! with `serde_json::from_str::<Report>` gives an equal report.

use super::Exporter;
use crate::summary::Report;

/// The JSON exporter.
pub struct Json;

impl Exporter for Json {
    fn name(&self) -> &'static str {
        "json"
    }

    fn render(&self, report: &Report) -> String {
        let mut s = serde_json::to_string_pretty(report).expect("a report always serialises");
        s.push('\n');
        s
    }
}
