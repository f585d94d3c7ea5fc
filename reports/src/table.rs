//! Text tables shared by the terminal and Markdown renderers: the per-workload summary table and the
//! overview matrix (workload × configuration, ratio to the baseline). Cells are plain strings; renderers
//! decide alignment, colour and borders.
//!
//! Entry points: [`summary_table`], [`overview_table`]. Invariant: every row has `header.len()` cells.

use crate::format;
use crate::summary::{p_equals, ConfigSummary, Report, Significance, WorkloadSummary};

/// How a cell should be emphasised (colour on a terminal, a class in HTML).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// Nothing to say.
    Plain,
    /// Better than the baseline, surely.
    Better,
    /// Worse than the baseline, surely.
    Worse,
    /// Dimmed: the baseline itself, or noise.
    Dim,
    /// A failure.
    Failed,
}

/// A table of strings with a tone per cell.
#[derive(Clone, Debug, Default)]
pub struct Table {
    /// Column titles.
    pub header: Vec<String>,
    /// Whether each column is numeric (right-aligned).
    pub numeric: Vec<bool>,
    /// Rows of `(text, tone)`.
    pub rows: Vec<Vec<(String, Tone)>>,
}

/// A configuration label shortened for charts and column headers: the `HAKMEM_TINY_` / `HAKMEM_` prefixes
/// of knob names are dropped (`hakmem:PAGE_BOX_CLASSES=5,6,7`); other labels are unchanged.
pub fn short_label(config: &str) -> String {
    match config.split_once(':') {
        Some((backend, knobs)) if backend == "hakmem" => {
            format!(
                "{backend}:{}",
                knobs.replace("HAKMEM_TINY_", "").replace("HAKMEM_", "")
            )
        }
        _ => config.to_owned(),
    }
}

/// The tone of a comparison.
pub fn tone_of(row: &ConfigSummary) -> Tone {
    match &row.vs_baseline {
        None if row.ok == 0 => Tone::Failed,
        None => Tone::Plain,
        Some(c) if c.significance == Significance::Baseline => Tone::Dim,
        Some(c) if c.significance.is_difference() && c.ratio > 1.0 => Tone::Better,
        Some(c) if c.significance.is_difference() && c.ratio < 1.0 => Tone::Worse,
        Some(_) => Tone::Plain,
    }
}

/// The summary table of one workload. When some row knows its baseline RSS (bundles written since
/// `baseline_rss_bytes`), a "heap peak" column (peak RSS − the child's RSS before the timed region: the
/// allocator's own peak) follows "peak RSS"; for older bundles the table is as before.
pub fn summary_table(w: &WorkloadSummary) -> Table {
    if w.is_live() {
        return live_table(w);
    }
    let with_heap = w.rows.iter().any(|r| r.heap_peak.is_some());
    let mut header = vec![
        "config", "ok", "ops/s", "IQR", "vs base", "range", "sig", "peak RSS",
    ];
    let mut numeric = vec![false, true, true, true, true, true, false, true];
    if with_heap {
        header.push("heap peak");
        numeric.push(true);
    }
    header.push("post RSS");
    numeric.push(true);
    let rows = w
        .rows
        .iter()
        .map(|r| {
            let p = |s: String| (s, Tone::Plain);
            let tone = tone_of(r);
            let ok = ok_cell(r);
            let (ops, iqr) = match r.ops_per_sec {
                Some(q) => (
                    format::si(q.median),
                    format!("{:.1}%", q.relative_iqr() * 100.0),
                ),
                None => ("failed".into(), String::new()),
            };
            let (ratio, range, sig) = comparison_cells(r);
            let rss = |q: Option<crate::stats::Quartiles>| {
                q.map(|q| format::bytes(q.median)).unwrap_or_default()
            };
            let mut cells = vec![
                p(r.config.clone()),
                ok,
                (ops, if r.ok == 0 { Tone::Failed } else { Tone::Plain }),
                (iqr, Tone::Dim),
                (ratio, tone),
                (range, Tone::Dim),
                (sig, tone),
                p(rss(r.peak_rss)),
            ];
            if with_heap {
                cells.push(p(rss(r.heap_peak)));
            }
            cells.push(p(rss(r.post_rss)));
            cells
        })
        .collect();
    Table {
        header: header.iter().map(|s| s.to_string()).collect(),
        numeric,
        rows,
    }
}

/// The "ok" cell of a row: samples that succeeded out of all, marked when any failed.
fn ok_cell(r: &ConfigSummary) -> (String, Tone) {
    let tone = if r.failed > 0 {
        Tone::Failed
    } else {
        Tone::Plain
    };
    (format!("{}/{}", r.ok, r.ok + r.failed), tone)
}

/// The ratio, range and significance cells of a row.
fn comparison_cells(r: &ConfigSummary) -> (String, String, String) {
    match &r.vs_baseline {
        Some(c) if c.significance == Significance::Baseline => {
            ("baseline".to_owned(), String::new(), String::new())
        }
        Some(c) => (
            format::ratio(c.ratio),
            format!("{:.2}–{:.2}", c.low, c.high),
            match c.p_value {
                Some(pv) => format!(
                    "{} {}",
                    c.significance.mark(),
                    p_equals(pv).replace(' ', "")
                ),
                None => c.significance.mark().to_owned(),
            },
        ),
        None => (String::new(), String::new(), String::new()),
    }
}

/// The summary table of a live workload: median wall time of the program (the ratio is still a speed
/// ratio, baseline time over this time), user and system CPU, peak RSS and faults; with a replay of its
/// recording, the predicted time and the error of the predicted time ratio beside the live one.
fn live_table(w: &WorkloadSummary) -> Table {
    let fid = w.fidelity.as_ref();
    let mut header = vec![
        "config", "ok", "wall", "IQR", "vs base", "range", "sig", "CPU", "peak RSS",
    ];
    let mut numeric = vec![false, true, true, true, true, true, false, true, true];
    if fid.is_some() {
        header.extend(["predicted", "pred. ratio", "live ratio", "error"]);
        numeric.extend([true, true, true, true]);
    }
    let rows = w
        .rows
        .iter()
        .map(|r| {
            let p = |s: String| (s, Tone::Plain);
            let tone = tone_of(r);
            let ok = ok_cell(r);
            let (wall, iqr) = match (r.seconds, r.ops_per_sec) {
                (Some(sec), Some(q)) => (
                    format::seconds(sec),
                    format!("{:.1}%", q.relative_iqr() * 100.0),
                ),
                _ => ("failed".into(), String::new()),
            };
            let (ratio, range, sig) = comparison_cells(r);
            let mut cells = vec![
                p(r.config.clone()),
                ok,
                (wall, if r.ok == 0 { Tone::Failed } else { Tone::Plain }),
                (iqr, Tone::Dim),
                (ratio, tone),
                (range, Tone::Dim),
                (sig, tone),
                p(r.cpu_seconds.map(format::seconds).unwrap_or_default()),
                p(r.peak_rss
                    .map(|q| format::bytes(q.median))
                    .unwrap_or_default()),
            ];
            if let Some(f) = fid {
                match f.predictions.iter().find(|x| x.config == r.config) {
                    Some(x) => cells.extend([
                        p(x.predicted_seconds
                            .map(format::seconds)
                            .unwrap_or_else(|| "n/a".into())),
                        p(x.predicted_ratio
                            .map(|r| format!("{r:.3}"))
                            .unwrap_or_else(|| "n/a".into())),
                        p(format!("{:.3}", x.live_ratio)),
                        (
                            x.ratio_error
                                .map(|e| format!("{:.1}%", e * 100.0))
                                .unwrap_or_else(|| "n/a".into()),
                            if x.config == f.baseline {
                                Tone::Dim
                            } else {
                                Tone::Plain
                            },
                        ),
                    ]),
                    None => cells.extend((0..4).map(|_| p(String::new()))),
                }
            }
            cells
        })
        .collect();
    Table {
        header: header.iter().map(|s| s.to_string()).collect(),
        numeric,
        rows,
    }
}

/// Row label of a workload in the overview: `workload`, or `bundle/workload` when several bundles share a
/// workload name.
pub fn workload_label(report: &Report, section: &str, workload: &str) -> String {
    let clashes = report
        .sections
        .iter()
        .filter(|s| s.workloads.iter().any(|w| w.workload == workload))
        .count();
    if clashes > 1 {
        format!("{section}/{workload}")
    } else {
        workload.to_owned()
    }
}

/// The overview matrix: one row per configuration, one column per workload (labels of configurations are
/// long, workloads few), each cell the ratio to that workload's baseline with its significance mark. The
/// first row names each workload's baseline.
pub fn overview_table(report: &Report) -> Table {
    let configs = report.configs();
    let columns: Vec<(&crate::summary::Section, &WorkloadSummary)> = report
        .sections
        .iter()
        .flat_map(|s| s.workloads.iter().map(move |w| (s, w)))
        .collect();
    let mut header = vec!["config".to_owned()];
    header.extend(
        columns
            .iter()
            .map(|(s, w)| workload_label(report, &s.name, &w.workload)),
    );
    let mut numeric = vec![false];
    numeric.extend(columns.iter().map(|_| true));
    let mut rows = Vec::new();
    let mut base_row = vec![("(baseline)".to_owned(), Tone::Dim)];
    base_row.extend(
        columns
            .iter()
            .map(|(_, w)| (w.baseline.clone().unwrap_or_default(), Tone::Dim)),
    );
    rows.push(base_row);
    for c in &configs {
        let mut row = vec![(c.clone(), Tone::Plain)];
        for (_, w) in &columns {
            let short = w.too_short.is_some();
            let cell = match w.row(c) {
                None => (String::new(), Tone::Plain),
                Some(r) if r.ok == 0 => ("failed".into(), Tone::Failed),
                Some(r) => match &r.vs_baseline {
                    Some(cmp) if cmp.significance == Significance::Baseline => {
                        ("1.00×".into(), Tone::Dim)
                    }
                    Some(cmp) => (
                        format!("{} {}", format::ratio(cmp.ratio), cmp.significance.mark())
                            .trim_end()
                            .to_owned(),
                        tone_of(r),
                    ),
                    None => (String::new(), Tone::Plain),
                },
            };
            // Too short to rank: the ratio is shown for what it is, greyed and marked.
            let cell = if short && !cell.0.is_empty() && cell.1 != Tone::Failed {
                (format!("({})", cell.0), Tone::Dim)
            } else {
                cell
            };
            row.push(cell);
        }
        rows.push(row);
    }
    Table {
        header,
        numeric,
        rows,
    }
}
