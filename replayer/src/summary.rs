//! The small terminal summary printed after `hakmem replay` / `hakmem bench`: per workload × configuration,
//! median ops/s with quartiles, the ratio to a baseline, median peak RSS and failures. (`hakmem report` has
//! the richer tables; this function is meant to be replaceable by it.)
//!
//! Entry point: [`summary_table`]. Quartiles are linear-interpolation quantiles over successful samples.

use reports::model::{Sample, Status};
use std::fmt::Write;

/// Quantile `q` of sorted values (linear interpolation).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = (sorted.len() - 1) as f64 * q;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Per (workload, config) figures.
#[derive(Clone, Debug)]
pub struct Row {
    /// Workload name.
    pub workload: String,
    /// Configuration label.
    pub config: String,
    /// Successful samples.
    pub ok: usize,
    /// All samples.
    pub total: usize,
    /// Quartiles of ops/s (q1, median, q3).
    pub ops: (f64, f64, f64),
    /// Median ops per CPU-second (user + system): robust to other load on the machine, a measure of
    /// efficiency rather than throughput for multi-threaded workloads.
    pub ops_per_cpu: f64,
    /// Median peak RSS.
    pub peak_rss: f64,
    /// Median of `peak RSS - baseline RSS` (the allocator's own peak) over the successful samples that
    /// know their baseline; NaN when none does (bundles written before `baseline_rss_bytes`).
    pub heap_peak: f64,
    /// First failure reason, if any.
    pub failure: String,
}

/// Groups samples by workload and configuration, in first-appearance order of `configs`.
pub fn rows(samples: &[Sample], configs: &[String]) -> Vec<Row> {
    let mut workloads: Vec<String> = Vec::new();
    for s in samples {
        if !workloads.contains(&s.workload) {
            workloads.push(s.workload.clone());
        }
    }
    let mut out = Vec::new();
    for w in &workloads {
        for c in configs {
            let group: Vec<&Sample> = samples
                .iter()
                .filter(|s| &s.workload == w && &s.config == c)
                .collect();
            if group.is_empty() {
                continue;
            }
            let good: Vec<&&Sample> = group
                .iter()
                .filter(|s| matches!(s.status, Some(Status::Ok) | Some(Status::CheckFailed)))
                .collect();
            let mut ops: Vec<f64> = good.iter().map(|s| s.ops_per_sec).collect();
            ops.sort_by(f64::total_cmp);
            let mut cpu: Vec<f64> = good
                .iter()
                .filter(|s| s.cpu_seconds > 0.0)
                .map(|s| s.ops as f64 / s.cpu_seconds)
                .collect();
            cpu.sort_by(f64::total_cmp);
            let mut rss: Vec<f64> = good.iter().map(|s| s.peak_rss_bytes as f64).collect();
            rss.sort_by(f64::total_cmp);
            let mut heap: Vec<f64> = good
                .iter()
                .filter(|s| s.baseline_rss_bytes > 0)
                .map(|s| s.peak_rss_bytes.saturating_sub(s.baseline_rss_bytes) as f64)
                .collect();
            heap.sort_by(f64::total_cmp);
            let failure = group
                .iter()
                .find(|s| s.status != Some(Status::Ok))
                .map(|s| format!("{:?}: {}", s.status.unwrap_or(Status::Error), s.error))
                .unwrap_or_default();
            out.push(Row {
                workload: w.clone(),
                config: c.clone(),
                ok: good.len(),
                total: group.len(),
                ops: (
                    quantile(&ops, 0.25),
                    quantile(&ops, 0.5),
                    quantile(&ops, 0.75),
                ),
                ops_per_cpu: quantile(&cpu, 0.5),
                peak_rss: quantile(&rss, 0.5),
                heap_peak: quantile(&heap, 0.5),
                failure,
            });
        }
    }
    out
}

/// Picks the baseline: the requested one, else `mimalloc` if measured, else the first configuration.
pub fn pick_baseline(configs: &[String], requested: Option<&str>) -> Option<String> {
    if let Some(r) = requested {
        return Some(r.to_string());
    }
    if configs.iter().any(|c| c == "mimalloc") {
        return Some("mimalloc".into());
    }
    configs.first().cloned()
}

fn mops(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else {
        format!("{:.2}M", x / 1e6)
    }
}

fn mib(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else {
        format!("{:.1} MiB", x / (1024.0 * 1024.0))
    }
}

/// Renders the summary table.
pub fn summary_table(samples: &[Sample], configs: &[String], baseline: Option<&str>) -> String {
    let rows = rows(samples, configs);
    // Without a request, a baseline that has no successful sample would leave every ratio empty.
    let measured: Vec<String> = configs
        .iter()
        .filter(|c| rows.iter().any(|r| &r.config == *c && r.ok > 0))
        .cloned()
        .collect();
    let base = pick_baseline(&measured, baseline);
    let mut t = String::new();
    let wc = rows
        .iter()
        .map(|r| r.workload.len())
        .max()
        .unwrap_or(8)
        .max(8);
    let cc = rows
        .iter()
        .map(|r| r.config.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let _ = writeln!(
        t,
        "{:<wc$}  {:<cc$}  {:>5}  {:>10}  {:>19}  {:>7}  {:>10}  {:>10}  {:>10}  failures",
        "workload",
        "config",
        "ok",
        "ops/s",
        "q1..q3",
        "ratio",
        "ops/cpu-s",
        "peak RSS",
        "heap peak"
    );
    for r in &rows {
        let b = base.as_ref().and_then(|b| {
            rows.iter()
                .find(|x| x.workload == r.workload && &x.config == b)
        });
        let ratio = match b {
            Some(b) if b.ops.1 > 0.0 && !r.ops.1.is_nan() => format!("{:.3}", r.ops.1 / b.ops.1),
            _ => "-".into(),
        };
        let _ = writeln!(
            t,
            "{:<wc$}  {:<cc$}  {:>5}  {:>10}  {:>19}  {:>7}  {:>10}  {:>10}  {:>10}  {}",
            r.workload,
            r.config,
            format!("{}/{}", r.ok, r.total),
            mops(r.ops.1),
            format!("{}..{}", mops(r.ops.0), mops(r.ops.2)),
            ratio,
            mops(r.ops_per_cpu),
            mib(r.peak_rss),
            mib(r.heap_peak),
            r.failure
        );
    }
    if let Some(b) = base {
        let _ = writeln!(
            t,
            "ratio = median ops/s / median ops/s of `{b}` on the same workload; ops/cpu-s = ops per CPU-second of the child (less sensitive to other load on the machine); peak RSS = the whole child's (harness + decoded workload + allocator); heap peak = peak RSS - the child's RSS just before the timed region (the allocator's own)"
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert_eq!(quantile(&v, 0.25), 2.0);
        assert_eq!(quantile(&[1.0, 2.0], 0.5), 1.5);
    }
}
