//! Markdown export: an overview matrix when there are several workloads, then per bundle and workload a
//! verdict sentence, the summary table, latency medians, the highlighted per-box counters, failures and
//! provenance. GitHub-flavoured tables; numbers carry units.

use super::Exporter;
use crate::format;
use crate::summary::{Report, LEGEND};
use crate::table::{overview_table, summary_table, Table};

/// The Markdown exporter.
pub struct Markdown;

fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// Renders a [`Table`] as a GitHub-flavoured Markdown table.
pub fn markdown_table(t: &Table) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "| {} |\n",
        t.header
            .iter()
            .map(|h| cell(h))
            .collect::<Vec<_>>()
            .join(" | ")
    ));
    let aligns: Vec<&str> = t
        .numeric
        .iter()
        .map(|&n| if n { "---:" } else { "---" })
        .collect();
    out.push_str(&format!("|{}|\n", aligns.join("|")));
    for row in &t.rows {
        out.push_str(&format!(
            "| {} |\n",
            row.iter()
                .map(|c| cell(&c.0))
                .collect::<Vec<_>>()
                .join(" | ")
        ));
    }
    out
}

impl Exporter for Markdown {
    fn name(&self) -> &'static str {
        "markdown"
    }

    fn render(&self, report: &Report) -> String {
        let mut out = String::from("# HAKMEM Workbench report\n\n");
        let n_workloads: usize = report.sections.iter().map(|s| s.workloads.len()).sum();
        if n_workloads > 1 {
            out.push_str("## Overview (ops/s ratio to each workload's baseline)\n\n");
            out.push_str(&markdown_table(&overview_table(report)));
            out.push('\n');
        }
        for s in &report.sections {
            out.push_str(&format!("## Bundle `{}`\n\n", s.name));
            for wl in &s.warnings {
                out.push_str(&format!("> warning: {wl}\n"));
            }
            if !s.warnings.is_empty() {
                out.push('\n');
            }
            for w in &s.workloads {
                out.push_str(&format!("### {}\n\n", w.workload));
                if let Some(i) = w.info.as_ref().filter(|i| i.ops > 0) {
                    out.push_str(&format!(
                        "{} ops, {} thread(s), ideal RSS (peak live bytes) {}\n\n",
                        format::count(i.ops as f64),
                        i.threads,
                        format::bytes(i.peak_live_bytes as f64)
                    ));
                }
                let v = w.verdict();
                if !v.is_empty() {
                    out.push_str(&format!("**{v}.**\n\n"));
                }
                if let Some(h) = w.hakmem_verdict() {
                    out.push_str(&format!("{h}.\n\n"));
                }
                if let Some(m) = w.memory_verdict() {
                    out.push_str(&format!("{m}.\n\n"));
                }
                if let Some(k) = w.kernel_verdict() {
                    out.push_str(&format!("{k}.\n\n"));
                }
                out.push_str(&markdown_table(&summary_table(w)));
                out.push('\n');
                if let Some(f) = &w.fidelity {
                    out.push_str(&format!("{}.\n\n", f.line()));
                }
                let lat: Vec<_> = w.rows.iter().filter(|r| !r.latency_ns.is_empty()).collect();
                if !lat.is_empty() {
                    out.push_str("Latency (median over repeats of each percentile):\n\n");
                    out.push_str("| config | call | p50 | p90 | p99 | p99.9 |\n|---|---|---:|---:|---:|---:|\n");
                    for r in lat {
                        for (k, l) in &r.latency_ns {
                            out.push_str(&format!(
                                "| {} | {k} | {} | {} | {} | {} |\n",
                                cell(&r.config),
                                format::ns(l.p50),
                                format::ns(l.p90),
                                format::ns(l.p99),
                                format::ns(l.p999)
                            ));
                        }
                    }
                    out.push('\n');
                }
                if !w.box_highlights.is_empty() {
                    out.push_str(
                        "Per-box counters that differ most between HAKMEM configurations:\n\n",
                    );
                    out.push_str(
                        "| box | counter | spread | lowest | highest |\n|---|---|---:|---|---|\n",
                    );
                    for h in &w.box_highlights {
                        let v = |c: &str| w.box_value(c, &h.r#box, &h.counter);
                        out.push_str(&format!(
                            "| {} | {} | {:.1}× | {} ({}) | {} ({}) |\n",
                            h.r#box,
                            h.counter,
                            h.spread,
                            cell(&h.min_config),
                            format::count(v(&h.min_config)),
                            cell(&h.max_config),
                            format::count(v(&h.max_config))
                        ));
                    }
                    out.push('\n');
                }
            }
            if let Some(t) = s.fidelity.as_ref().filter(|t| t.programs > 1) {
                out.push_str(&format!("**{}.**\n\n", t.line()));
            }
            if !s.failures.is_empty() {
                out.push_str(&format!(
                    "{} failed sample(s):\n\n| config | workloads | samples | status | reason |\n|---|---|---:|---|---|\n",
                    s.failures.len()
                ));
                for g in s.failure_groups() {
                    out.push_str(&format!(
                        "| {} | {} | {} | {} | {} |\n",
                        cell(&g.config),
                        cell(&g.workloads.join(", ")),
                        g.count,
                        g.status_name(),
                        cell(&g.error.replace('\n', " "))
                    ));
                }
                out.push('\n');
            }
            let m = &s.manifest;
            out.push_str(&format!(
                "Provenance: `{}` — hakmem {}, {}, {} on {} ({} cores, {}, kernel {}); {} repeat(s), {} job(s), touch `{}`{}.\n\n",
                m.command.join(" "),
                m.tool_version,
                m.date,
                m.kind,
                m.machine.hostname,
                m.machine.cores,
                m.machine.cpu,
                m.machine.kernel,
                m.repeats,
                m.jobs,
                m.touch,
                if m.check { ", --check on" } else { "" }
            ));
            for n in &m.notes {
                out.push_str(&format!("> note: {n}\n"));
            }
            if !m.notes.is_empty() {
                out.push('\n');
            }
        }
        out.push_str(&format!("_{LEGEND}._\n"));
        out
    }
}
