//! CSV export: one row per bundle × workload × configuration, raw numbers (no units), RFC 4180 quoting.
//! Latency columns `lat_<kind>_<pct>_ns` are the union of the call kinds present, sorted, so every row has
//! the same columns; an absent figure is an empty field (`heap_peak_median` is empty for bundles written
//! before samples carried `baseline_rss_bytes`).

use super::Exporter;
use crate::summary::Report;
use std::collections::BTreeSet;

/// The CSV exporter.
pub struct Csv;

/// The fixed columns, in order.
pub const COLUMNS: [&str; 25] = [
    "bundle",
    "workload",
    "config",
    "allocator",
    "ok",
    "failed",
    "ops_per_sec_median",
    "ops_per_sec_q1",
    "ops_per_sec_q3",
    "ops_per_sec_min",
    "ops_per_sec_max",
    "baseline",
    "ratio",
    "ratio_low",
    "ratio_high",
    "p_value",
    "significance",
    "peak_rss_median",
    "post_rss_median",
    "ideal_rss",
    "peak_rss_ratio",
    "cpu_seconds_median",
    "seconds_median",
    "minor_faults_median",
    "heap_peak_median",
];

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn num(x: Option<f64>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

impl Exporter for Csv {
    fn name(&self) -> &'static str {
        "csv"
    }

    fn render(&self, report: &Report) -> String {
        let kinds: BTreeSet<&String> = report
            .rows()
            .flat_map(|(_, _, r)| r.latency_ns.keys())
            .collect();
        let mut header: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
        for k in &kinds {
            for p in ["p50", "p90", "p99", "p999"] {
                header.push(format!("lat_{k}_{p}_ns"));
            }
        }
        let mut out = header
            .iter()
            .map(|h| field(h))
            .collect::<Vec<_>>()
            .join(",");
        out.push('\n');
        for (s, w, r) in report.rows() {
            let q = r.ops_per_sec;
            let c = r.vs_baseline.as_ref();
            let sig = c.map(|c| {
                serde_json::to_value(c.significance)
                    .unwrap()
                    .as_str()
                    .unwrap_or("")
                    .to_owned()
            });
            let mut cells: Vec<String> = vec![
                field(&s.name),
                field(&w.workload),
                field(&r.config),
                field(&r.allocator),
                r.ok.to_string(),
                r.failed.to_string(),
                num(q.map(|q| q.median)),
                num(q.map(|q| q.q1)),
                num(q.map(|q| q.q3)),
                num(q.map(|q| q.min)),
                num(q.map(|q| q.max)),
                field(w.baseline.as_deref().unwrap_or("")),
                num(c.map(|c| c.ratio)),
                num(c.map(|c| c.low)),
                num(c.map(|c| c.high)),
                num(c.and_then(|c| c.p_value)),
                sig.unwrap_or_default(),
                num(r.peak_rss.map(|q| q.median)),
                num(r.post_rss.map(|q| q.median)),
                num(w.info.as_ref().map(|i| i.peak_live_bytes as f64)),
                num(r.peak_rss_ratio),
                num(r.cpu_seconds),
                num(r.seconds),
                num(r.minor_faults),
                num(r.heap_peak.map(|q| q.median)),
            ];
            for k in &kinds {
                let l = r.latency_ns.get(*k);
                cells.push(num(l.map(|l| l.p50)));
                cells.push(num(l.map(|l| l.p90)));
                cells.push(num(l.map(|l| l.p99)));
                cells.push(num(l.map(|l| l.p999)));
            }
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out
    }
}
