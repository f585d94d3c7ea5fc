//! CSV export: one row per bundle × workload × configuration, raw numbers (no units), RFC 4180 quoting.
//! Latency columns `lat_<kind>_<pct>_ns` are the union of the call kinds present, sorted, so every row has
//! the same columns; an absent figure is an empty field (`heap_peak_median` is empty for bundles written
//! before samples carried `baseline_rss_bytes`). Live workloads (`hakmem live`) fill the live columns (`kind`
//! is `live`: user/system CPU, major faults, exit status, stdout hash); a live workload with a replay of
//! its recording also fills the prediction columns (`predicted_seconds`, `predicted_ratio`, `live_ratio`,
//! `ratio_error`, empty when a predicted time would not be positive) and the workload's fidelity
//! (`fidelity_pairs`, `fidelity_agree`, `fidelity_kendall_tau`, `fidelity_ratio_error_median`).

use super::Exporter;
use crate::summary::Report;
use std::collections::BTreeSet;

/// The CSV exporter.
pub struct Csv;

/// The fixed columns, in order.
pub const COLUMNS: [&str; 39] = [
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
    "kind",
    "user_seconds_median",
    "sys_seconds_median",
    "major_faults_median",
    "exit_status",
    "stdout_hash",
    "predicted_seconds",
    "predicted_ratio",
    "live_ratio",
    "ratio_error",
    "fidelity_pairs",
    "fidelity_agree",
    "fidelity_kendall_tau",
    "fidelity_ratio_error_median",
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
                field(&w.kind),
                num(r.user_seconds),
                num(r.sys_seconds),
                num(r.major_faults),
                r.exit_code.map(|c| c.to_string()).unwrap_or_default(),
                field(&r.stdout_hash),
            ];
            // The prediction of a live row comes from the live workload's fidelity; a replay row of
            // a recording carries the same fidelity figures but no per-row prediction.
            let f = w.fidelity.as_ref();
            let p = f
                .filter(|_| w.is_live())
                .and_then(|f| f.predictions.iter().find(|p| p.config == r.config));
            cells.extend([
                num(p.and_then(|p| p.predicted_seconds)),
                num(p.and_then(|p| p.predicted_ratio)),
                num(p.map(|p| p.live_ratio)),
                num(p.and_then(|p| p.ratio_error)),
                f.map(|f| f.pairs.to_string()).unwrap_or_default(),
                f.map(|f| f.agree.to_string()).unwrap_or_default(),
                num(f.and_then(|f| f.kendall_tau)),
                num(f.and_then(|f| f.ratio_error_median)),
            ]);
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
