//! HTML export: one self-contained file (inline CSS and SVG, no script, no network).
//!
//! Layout: a header with the verdicts at a glance and the overview matrix (workload × configuration, ratio
//! to the baseline), then one section per bundle with, per workload, the summary table, throughput with
//! quartile whiskers, memory (peak RSS, post-workload RSS, the ideal), latency percentiles per call kind,
//! per-box statistics with the counters that differ most highlighted, configuration sweeps, the workload's
//! profile; then the bundle's failed samples and its provenance. The page skeleton and CSS live in
//! `templates/` and are included at build time.
//!
//! Every section is a `<section class="NAME">` (`overview`, `summary`, `throughput`, `memory`, `latency`,
//! `boxes`, `sweeps`, `profile`, `failures`, `provenance`), present even when it has nothing to show (then it
//! says why), so a reader always finds the same headings and tests can check for them.

use super::Exporter;
use crate::format;
use crate::profile::Profile;
use crate::summary::{ConfigSummary, Report, Section, Significance, WorkloadSummary, LEGEND};
use crate::svg::{self, esc};
use crate::table::{overview_table, summary_table, Table, Tone};
use std::fmt::Write;

/// The HTML exporter.
pub struct Html;

const TEMPLATE: &str = include_str!("../../templates/report.html");
const STYLE: &str = include_str!("../../templates/style.css");

/// Every section class an HTML report contains.
pub const SECTIONS: [&str; 10] = [
    "overview",
    "summary",
    "throughput",
    "memory",
    "latency",
    "boxes",
    "sweeps",
    "profile",
    "failures",
    "provenance",
];

impl Exporter for Html {
    fn name(&self) -> &'static str {
        "html"
    }

    fn render(&self, report: &Report) -> String {
        let palette = Palette::new(report);
        let mut body = String::new();
        overview(&mut body, report);
        for (i, s) in report.sections.iter().enumerate() {
            bundle(&mut body, report, s, i, &palette);
        }
        let title = match report.sections.as_slice() {
            [one] => format!("HAKMEM Workbench report — {}", one.name),
            _ => "HAKMEM Workbench report".to_owned(),
        };
        let generated = report
            .sections
            .iter()
            .map(|s| s.manifest.date.as_str())
            .filter(|d| !d.is_empty())
            .max()
            .unwrap_or("")
            .to_owned();
        TEMPLATE
            .replace("{{style}}", STYLE)
            .replace("{{title}}", &esc(&title))
            .replace("{{generated}}", &esc(&generated))
            .replace("{{legend}}", &esc(LEGEND))
            .replace("{{body}}", &body)
    }
}

/// A colour class per configuration: HAKMEM configurations in blues and teals, baselines in their own hues.
struct Palette {
    configs: Vec<(String, String)>,
}

impl Palette {
    fn new(report: &Report) -> Palette {
        let mut configs = Vec::new();
        let (mut hk, mut other) = (0, 0);
        for (_, _, r) in report.rows() {
            if configs
                .iter()
                .any(|(c, _): &(String, String)| c == &r.config)
            {
                continue;
            }
            let class = match r.allocator.as_str() {
                "hakmem" => {
                    hk += 1;
                    format!("c-hk{}", (hk - 1) % 6)
                }
                "system" => "c-system".to_owned(),
                "mimalloc" => "c-mimalloc".to_owned(),
                _ => {
                    other += 1;
                    format!("c-other{}", (other - 1) % 3)
                }
            };
            configs.push((r.config.clone(), class));
        }
        Palette { configs }
    }

    fn class(&self, config: &str) -> &str {
        self.configs
            .iter()
            .find(|c| c.0 == config)
            .map(|c| c.1.as_str())
            .unwrap_or("c-other0")
    }
}

fn tone_class(t: Tone) -> &'static str {
    match t {
        Tone::Plain => "",
        Tone::Better => "better",
        Tone::Worse => "worse",
        Tone::Dim => "dim",
        Tone::Failed => "failed",
    }
}

fn html_table(t: &Table, class: &str) -> String {
    let mut out = format!(r#"<table class="{class}"><thead><tr>"#);
    for (h, num) in t.header.iter().zip(&t.numeric) {
        let _ = write!(
            out,
            r#"<th class="{}">{}</th>"#,
            if *num { "num" } else { "" },
            esc(h)
        );
    }
    out.push_str("</tr></thead><tbody>");
    for row in &t.rows {
        out.push_str("<tr>");
        for ((text, tone), num) in row.iter().zip(&t.numeric) {
            let _ = write!(
                out,
                r#"<td class="{} {}">{}</td>"#,
                if *num { "num" } else { "" },
                tone_class(*tone),
                esc(text)
            );
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

fn anchor(si: usize, wi: usize) -> String {
    format!("b{si}-w{wi}")
}

fn overview(out: &mut String, report: &Report) {
    out.push_str(r#"<section class="overview"><h2>At a glance</h2>"#);
    if report.sections.is_empty() {
        out.push_str("<p>No bundles.</p></section>");
        return;
    }
    out.push_str(r#"<ul class="verdicts">"#);
    for (si, s) in report.sections.iter().enumerate() {
        for (wi, w) in s.workloads.iter().enumerate() {
            let _ = write!(
                out,
                r##"<li><a href="#{}">{}</a>: {}{}</li>"##,
                anchor(si, wi),
                esc(&crate::table::workload_label(report, &s.name, &w.workload)),
                esc(&w.verdict()),
                w.hakmem_verdict()
                    .map(|h| format!(r#"<br><span class="verdict2">{}</span>"#, esc(&h)))
                    .unwrap_or_default()
                    + &w.memory_verdict()
                        .map(|m| format!(r#"<br><span class="verdict3">{}</span>"#, esc(&m)))
                        .unwrap_or_default()
            );
        }
    }
    out.push_str("</ul>");
    out.push_str("<h3>Ops/s relative to each workload's baseline</h3>");
    out.push_str(&html_table(&overview_table(report), "matrix"));
    let _ = write!(out, r#"<p class="legend">{}</p></section>"#, esc(LEGEND));
}

fn bundle(out: &mut String, report: &Report, s: &Section, si: usize, palette: &Palette) {
    let _ = write!(
        out,
        r#"<div class="bundle"><h2>Bundle <code>{}</code></h2>"#,
        esc(&s.name)
    );
    for w in &s.warnings {
        let _ = write!(out, r#"<p class="warning">warning: {}</p>"#, esc(w));
    }
    if let Some(t) = s.fidelity.as_ref().filter(|t| t.programs > 1) {
        let _ = write!(out, r#"<p class="fidelity">{}</p>"#, esc(&t.line()));
    }
    for (wi, w) in s.workloads.iter().enumerate() {
        workload(out, report, s, w, &anchor(si, wi), palette);
    }
    failures(out, s);
    provenance(out, s);
    out.push_str("</div>");
}

fn workload(
    out: &mut String,
    _report: &Report,
    s: &Section,
    w: &WorkloadSummary,
    id: &str,
    palette: &Palette,
) {
    let _ = write!(
        out,
        r#"<article class="workload" id="{id}"><h3>{} <span class="dim">— {}</span></h3>"#,
        esc(&w.workload),
        esc(&s.name)
    );
    if let Some(i) = w.info.as_ref().filter(|i| i.ops > 0) {
        let _ = write!(
            out,
            r#"<p class="facts">{} ops · {} thread(s) · ideal RSS (peak live bytes) {}{}</p>"#,
            format::count(i.ops as f64),
            i.threads,
            format::bytes(i.peak_live_bytes as f64),
            if i.path.is_empty() {
                String::new()
            } else {
                format!(" · <code>{}</code>", esc(&i.path))
            }
        );
    }
    let _ = write!(
        out,
        r#"<p class="verdict{}">{}</p>"#,
        if w.too_short.is_some() {
            " too-short"
        } else {
            ""
        },
        esc(&w.verdict())
    );
    if let Some(h) = w.hakmem_verdict() {
        let _ = write!(out, r#"<p class="verdict2">{}</p>"#, esc(&h));
    }
    if let Some(m) = w.memory_verdict() {
        let _ = write!(out, r#"<p class="verdict3">{}</p>"#, esc(&m));
    }
    if let Some(k) = w.kernel_verdict() {
        let _ = write!(out, r#"<p class="verdict3">{}</p>"#, esc(&k));
    }

    out.push_str(r#"<section class="summary"><h4>Summary</h4>"#);
    out.push_str(&html_table(&summary_table(w), "summary-table"));
    if let Some(f) = &w.fidelity {
        let _ = write!(out, r#"<p class="fidelity">{}</p>"#, esc(&f.line()));
    }
    out.push_str("</section>");

    throughput(out, w, palette);
    memory(out, w, palette);
    latency(out, w, palette);
    boxes(out, w);
    sweeps(out, w);
    profile(out, w);
    out.push_str("</article>");
}

fn note_of(r: &ConfigSummary) -> (String, &'static str) {
    match &r.vs_baseline {
        Some(c) if c.significance == Significance::Baseline => ("baseline".into(), "dim"),
        Some(c) => {
            let tone = crate::table::tone_of(r);
            (
                format!("{} {}", format::ratio(c.ratio), c.significance.mark())
                    .trim_end()
                    .to_owned(),
                tone_class(tone),
            )
        }
        None if r.ok == 0 => ("all failed".into(), "failed"),
        None => (String::new(), ""),
    }
}

fn throughput(out: &mut String, w: &WorkloadSummary, palette: &Palette) {
    out.push_str(r#"<section class="throughput"><h4>Throughput (ops/s; bar = median, thick whisker = quartiles, thin = min–max)</h4>"#);
    let bars: Vec<svg::WhiskerBar> = w
        .rows
        .iter()
        .map(|r| {
            let q = r.ops_per_sec.unwrap_or_default();
            let (note, note_class) = note_of(r);
            svg::WhiskerBar {
                label: r.config.clone(),
                median: q.median,
                q1: q.q1,
                q3: q.q3,
                min: q.min,
                max: q.max,
                class: palette.class(&r.config).to_owned(),
                note,
                note_class: note_class.to_owned(),
            }
        })
        .collect();
    if let Some(i) = w.info.as_ref().filter(|i| i.ops > 0 && i.ops < 10_000) {
        let _ = write!(
            out,
            r#"<p class="note">This workload makes only {} allocator calls: its ops/s is dominated by timer resolution and thread start-up, so read its memory figures rather than its speed.</p>"#,
            format::count(i.ops as f64)
        );
    }
    if bars.is_empty() {
        out.push_str("<p>No samples.</p>");
    } else {
        out.push_str(&svg::hbar_whiskers(
            &format!("Throughput on {}", w.workload),
            &bars,
            &format::si,
        ));
    }
    out.push_str("</section>");
}

fn memory(out: &mut String, w: &WorkloadSummary, _palette: &Palette) {
    // Bundles since `baseline_rss_bytes` give the allocator's own peak (peak RSS − baseline): that is what
    // the chart compares with the ideal (the whole child's RSS is mostly the harness, alike for all).
    let with_heap = w.rows.iter().any(|r| r.heap_peak.is_some());
    if with_heap {
        out.push_str(r#"<section class="memory"><h4>Memory: heap peak (the allocator's own) against the ideal</h4>"#);
    } else {
        out.push_str(r#"<section class="memory"><h4>Memory: peak RSS and RSS after the workload, against the ideal</h4>"#);
    }
    let groups: Vec<(String, Vec<Option<f64>>)> = w
        .rows
        .iter()
        .filter(|r| r.ok > 0)
        .map(|r| {
            let bars = if with_heap {
                vec![r.heap_peak.map(|q| q.median)]
            } else {
                vec![r.peak_rss.map(|q| q.median), r.post_rss.map(|q| q.median)]
            };
            (r.config.clone(), bars)
        })
        .collect();
    let ideal = w
        .info
        .as_ref()
        .map(|i| i.peak_live_bytes as f64)
        .filter(|v| *v > 0.0);
    if groups.is_empty() {
        out.push_str("<p>No successful samples.</p>");
    } else {
        let series = if with_heap {
            vec![svg::Series {
                name: "heap peak".into(),
                class: "s-peak".into(),
            }]
        } else {
            vec![
                svg::Series {
                    name: "peak RSS".into(),
                    class: "s-peak".into(),
                },
                svg::Series {
                    name: "RSS after workload".into(),
                    class: "s-post".into(),
                },
            ]
        };
        out.push_str(&svg::grouped_hbars(
            &format!("Memory on {}", w.workload),
            &series,
            &groups,
            ideal.map(|v| (v, format!("ideal (peak live bytes) {}", format::bytes(v)))),
            true,
            &format::bytes,
        ));
        out.push_str(r#"<table><thead><tr><th>config</th><th class="num">peak RSS</th>"#);
        if with_heap {
            out.push_str(r#"<th class="num">heap peak</th>"#);
        }
        let _ = write!(
            out,
            r#"<th class="num">vs baseline</th><th class="num">above leanest</th><th class="num">post RSS</th><th class="num">{}</th><th class="num">minor faults</th></tr></thead><tbody>"#,
            if with_heap {
                "heap peak / ideal"
            } else {
                "peak / ideal"
            }
        );
        // The child's RSS includes the harness; what differs between configurations is the allocator's.
        let leanest = w
            .rows
            .iter()
            .filter_map(|r| r.peak_rss.map(|q| q.median))
            .fold(f64::INFINITY, f64::min);
        for r in w.rows.iter().filter(|r| r.ok > 0) {
            let peak = r.peak_rss.map(|q| q.median);
            let _ = write!(
                out,
                r#"<tr><td>{}</td><td class="num">{}</td>"#,
                esc(&r.config),
                peak.map(format::bytes).unwrap_or_default(),
            );
            if with_heap {
                let _ = write!(
                    out,
                    r#"<td class="num">{}</td>"#,
                    r.heap_peak
                        .map(|q| format::bytes(q.median))
                        .unwrap_or_default()
                );
            }
            let _ = write!(
                out,
                r#"<td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
                r.peak_rss_ratio.map(format::ratio).unwrap_or_default(),
                peak.map(|p| format!("+{}", format::bytes(p - leanest)))
                    .unwrap_or_default(),
                r.post_rss
                    .map(|q| format::bytes(q.median))
                    .unwrap_or_default(),
                // Like with like: the heap's peak against the heap's ideal where the bundle has it.
                match (
                    if with_heap {
                        r.heap_peak.map(|q| q.median)
                    } else {
                        peak
                    },
                    ideal
                ) {
                    (Some(p), Some(i)) => format::ratio(p / i),
                    _ => String::new(),
                },
                r.minor_faults.map(format::count).unwrap_or_default()
            );
        }
        out.push_str("</tbody></table>");
        if ideal.is_some() {
            out.push_str(r#"<p class="note">The ideal is the workload's peak of live requested bytes: what a perfect allocator would need. RSS also counts the replayer's own object table and the program image; "above leanest" is the peak RSS beyond the leanest configuration's, the part the allocators differ in.</p>"#);
        }
        if with_heap {
            out.push_str(r#"<p class="note">Heap peak = peak RSS − the child's RSS just before the timed region (after decoding the workload and allocating the object table; the peak is reset there): the allocator's own peak memory.</p>"#);
        }
    }
    out.push_str("</section>");
}

fn latency(out: &mut String, w: &WorkloadSummary, palette: &Palette) {
    out.push_str(r#"<section class="latency"><h4>Latency per call kind (median over repeats of each sampled percentile)</h4>"#);
    let mut kinds: Vec<&String> = w.rows.iter().flat_map(|r| r.latency_ns.keys()).collect();
    kinds.sort();
    kinds.dedup();
    if kinds.is_empty() {
        out.push_str("<p>No latency samples in this bundle.</p></section>");
        return;
    }
    let names = ["p50", "p90", "p99", "p99.9"];
    for kind in kinds {
        let rows: Vec<(String, String, Vec<f64>)> = w
            .rows
            .iter()
            .filter_map(|r| {
                r.latency_ns.get(kind).map(|l| {
                    (
                        r.config.clone(),
                        palette.class(&r.config).to_owned(),
                        vec![l.p50, l.p90, l.p99, l.p999],
                    )
                })
            })
            .collect();
        let _ = write!(out, "<h5><code>{}</code></h5>", esc(kind));
        out.push_str(&svg::log_dots(
            &format!("{kind} latency on {}", w.workload),
            &names,
            &rows,
            &format::ns,
        ));
    }
    out.push_str(r#"<table><thead><tr><th>config</th><th>call</th><th class="num">sampled</th><th class="num">p50</th><th class="num">p90</th><th class="num">p99</th><th class="num">p99.9</th></tr></thead><tbody>"#);
    for r in &w.rows {
        for (k, l) in &r.latency_ns {
            let _ = write!(
                out,
                r#"<tr><td>{}</td><td><code>{}</code></td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
                esc(&r.config),
                esc(k),
                format::count(l.samples as f64),
                format::ns(l.p50),
                format::ns(l.p90),
                format::ns(l.p99),
                format::ns(l.p999)
            );
        }
    }
    out.push_str("</tbody></table></section>");
}

fn boxes(out: &mut String, w: &WorkloadSummary) {
    out.push_str(r#"<section class="boxes"><h4>Per-box statistics (HAKMEM configurations)</h4>"#);
    let hak: Vec<&ConfigSummary> = w.rows.iter().filter(|r| !r.box_stats.is_empty()).collect();
    if hak.is_empty() {
        out.push_str("<p>No per-box statistics: no HAKMEM configuration in this workload reported any.</p></section>");
        return;
    }
    if w.box_highlights.is_empty() {
        if hak.len() > 1 {
            out.push_str(
                "<p>No counter differs by more than 10 % between the HAKMEM configurations.</p>",
            );
        }
    } else {
        out.push_str(r#"<p>Which box explains it: the counters that differ most between HAKMEM configurations.</p><table class="highlights"><thead><tr><th>box</th><th>counter</th><th class="num">spread</th><th>lowest</th><th>highest</th></tr></thead><tbody>"#);
        for h in &w.box_highlights {
            let v = |c: &str| {
                w.row(c)
                    .and_then(|r| r.box_stats.get(&h.r#box))
                    .and_then(|m| m.get(&h.counter))
                    .copied()
                    .unwrap_or(0.0)
            };
            let _ = write!(
                out,
                r#"<tr><td>{}</td><td><code>{}</code></td><td class="num hl">{:.1}×</td><td>{} <span class="dim">({})</span></td><td>{} <span class="dim">({})</span></td></tr>"#,
                esc(&h.r#box),
                esc(&h.counter),
                h.spread,
                format::count(v(&h.min_config)),
                esc(&crate::table::short_label(&h.min_config)),
                format::count(v(&h.max_config)),
                esc(&crate::table::short_label(&h.max_config))
            );
        }
        out.push_str("</tbody></table>");
    }
    // The full table: one row per box counter, one column per HAKMEM configuration.
    let mut keys: Vec<(&String, &String)> = hak
        .iter()
        .flat_map(|r| {
            r.box_stats
                .iter()
                .flat_map(|(b, cs)| cs.keys().map(move |c| (b, c)))
        })
        .collect();
    keys.sort();
    keys.dedup();
    // Counters that are zero everywhere say nothing; long tables start folded so the highlights lead.
    keys.retain(|(b, c)| {
        hak.iter().any(|r| {
            r.box_stats
                .get(*b)
                .and_then(|m| m.get(*c))
                .is_some_and(|v| *v != 0.0)
        })
    });
    let _ = write!(
        out,
        r#"<details{}><summary>All {} non-zero counters (median over repeats)</summary><div class="scroll"><table class="boxstats"><thead><tr><th>box</th><th>counter</th>"#,
        if keys.len() <= 40 { " open" } else { "" },
        keys.len()
    );
    for r in &hak {
        let _ = write!(
            out,
            r#"<th class="num" title="{}">{}</th>"#,
            esc(&r.config),
            esc(&crate::table::short_label(&r.config))
                .replace(',', ",&#8203;")
                .replace('=', "=&#8203;")
                .replace(':', ":&#8203;")
        );
    }
    out.push_str("</tr></thead><tbody>");
    let mut last_box: Option<&String> = None;
    for (b, c) in keys {
        let hl = w
            .box_highlights
            .iter()
            .any(|h| &h.r#box == b && &h.counter == c);
        let _ = write!(
            out,
            r#"<tr class="{}"><td>{}</td><td><code>{}</code></td>"#,
            if hl { "hl" } else { "" },
            if last_box == Some(b) {
                String::new()
            } else {
                esc(b)
            },
            esc(c)
        );
        last_box = Some(b);
        for r in &hak {
            let v = r.box_stats.get(b).and_then(|m| m.get(c));
            let _ = write!(
                out,
                r#"<td class="num">{}</td>"#,
                v.map(|v| format::count(*v)).unwrap_or_default()
            );
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div></details></section>");
}

fn sweeps(out: &mut String, w: &WorkloadSummary) {
    out.push_str(r#"<section class="sweeps"><h4>Configuration sweeps</h4>"#);
    if w.sweeps.is_empty() {
        out.push_str(
            r#"<p>No sweep here: a sweep is three or more HAKMEM configurations differing in one knob, e.g. <code>--alloc 'hakmem:HAKMEM_TINY_UNIFIED_C7=64|128|256'</code>.</p>"#,
        );
    }
    for sw in &w.sweeps {
        let fixed = if sw.fixed.is_empty() {
            String::new()
        } else {
            format!(
                " (with {})",
                sw.fixed
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let _ = write!(
            out,
            "<h5>ops/s against <code>{}</code>{}</h5>",
            esc(&sw.knob),
            esc(&fixed)
        );
        let points: Vec<(String, f64, f64, f64)> = sw
            .points
            .iter()
            .filter_map(|p| {
                p.ops_per_sec
                    .map(|q| (p.value.clone(), q.median, q.q1, q.q3))
            })
            .collect();
        out.push_str(&svg::line_chart(
            &format!("sweep of {}", sw.knob),
            &sw.knob,
            &points,
            &format::si,
        ));
    }
    out.push_str("</section>");
}

fn profile(out: &mut String, w: &WorkloadSummary) {
    out.push_str(r#"<section class="profile"><h4>Workload profile</h4>"#);
    let Some(info) = &w.info else {
        out.push_str("<p>The manifest does not describe this workload.</p></section>");
        return;
    };
    let p = Profile::read(&info.profile);
    if p.facts.is_empty() && p.histograms.is_empty() && info.ops == 0 {
        out.push_str("<p>The bundle does not describe this workload (no profile from <code>hakmem info --json</code>).</p></section>");
        return;
    }
    if p.facts.is_empty() && p.histograms.is_empty() {
        let _ = write!(
            out,
            "<p>{} ops, {} thread(s), peak live {}. No detailed profile in the bundle (it comes from <code>hakmem info --json</code>).</p>",
            format::count(info.ops as f64),
            info.threads,
            format::bytes(info.peak_live_bytes as f64)
        );
    }
    if !p.facts.is_empty() {
        out.push_str(r#"<div class="factgrid">"#);
        for (k, v) in &p.facts {
            let _ = write!(
                out,
                r#"<div><span class="k">{}</span><span class="v">{}</span></div>"#,
                esc(k),
                esc(v)
            );
        }
        out.push_str("</div>");
    }
    out.push_str(r#"<div class="hists">"#);
    for (title, bins) in &p.histograms {
        let _ = write!(
            out,
            r#"<figure><figcaption>{}</figcaption>{}</figure>"#,
            esc(&title.replace('_', " ")),
            svg::histogram(title, bins, &format::si)
        );
    }
    out.push_str("</div></section>");
}

fn failures(out: &mut String, s: &Section) {
    let _ = write!(
        out,
        r#"<section class="failures"><h3>Failed samples ({})</h3>"#,
        s.failures.len()
    );
    if s.failures.is_empty() {
        out.push_str("<p>None: every sample completed.</p></section>");
        return;
    }
    out.push_str(r#"<table><thead><tr><th>config</th><th>workloads</th><th class="num">samples</th><th>status</th><th>reason</th></tr></thead><tbody>"#);
    for g in s.failure_groups() {
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td>{}</td><td class="num">{}</td><td class="failed">{}</td><td><code>{}</code></td></tr>"#,
            esc(&g.config),
            esc(&g.workloads.join(", ")),
            g.count,
            esc(&g.status_name()),
            esc(&g.error)
        );
    }
    out.push_str("</tbody></table>");
    out.push_str(r#"<details><summary>Every failed sample</summary><table><thead><tr><th>workload</th><th>config</th><th class="num">repeat</th><th>status</th></tr></thead><tbody>"#);
    for f in &s.failures {
        let _ = write!(
            out,
            r#"<tr><td>{}</td><td>{}</td><td class="num">{}</td><td class="failed">{}</td></tr>"#,
            esc(&f.workload),
            esc(&f.config),
            f.repeat,
            esc(&crate::summary::status_name(f.status))
        );
    }
    out.push_str("</tbody></table></details></section>");
}

fn provenance(out: &mut String, s: &Section) {
    let m = &s.manifest;
    out.push_str(r#"<section class="provenance"><h3>Provenance</h3><table class="facts"><tbody>"#);
    let mut row = |k: &str, v: String| {
        let _ = write!(out, "<tr><th>{}</th><td>{}</td></tr>", esc(k), v);
    };
    row("bundle", format!("<code>{}</code>", esc(&s.path)));
    row(
        "command",
        format!("<code>{}</code>", esc(&m.command.join(" "))),
    );
    row("kind", esc(&m.kind));
    row("tool version", esc(&m.tool_version));
    row("date", esc(&m.date));
    row(
        "machine",
        esc(&format!(
            "{} — {}, {} cores, {} memory, kernel {}",
            m.machine.hostname,
            m.machine.cpu,
            m.machine.cores,
            format::bytes(m.machine.memory_bytes as f64),
            m.machine.kernel
        )),
    );
    row(
        "run",
        esc(&format!(
            "{} repeat(s), {} job(s), touch {}, check {}",
            m.repeats,
            m.jobs,
            m.touch,
            if m.check { "on" } else { "off" }
        )),
    );
    for n in &m.notes {
        row("note", esc(n));
    }
    out.push_str("</tbody></table>");
    if !m.workloads.is_empty() {
        out.push_str(r#"<table><thead><tr><th>workload</th><th>path</th><th>hash</th><th class="num">ops</th><th class="num">threads</th></tr></thead><tbody>"#);
        for w in &m.workloads {
            let _ = write!(
                out,
                r#"<tr><td>{}</td><td><code>{}</code></td><td><code class="hash">{}</code></td><td class="num">{}</td><td class="num">{}</td></tr>"#,
                esc(&w.name),
                esc(&w.path),
                esc(&w.hash),
                if w.ops == 0 {
                    "—".to_owned()
                } else {
                    format::count(w.ops as f64)
                },
                if w.threads == 0 {
                    "—".to_owned()
                } else {
                    w.threads.to_string()
                }
            );
        }
        out.push_str("</tbody></table>");
    }
    if !m.allocators.is_empty() {
        out.push_str(r#"<table><thead><tr><th>config</th><th>allocator</th><th>version</th><th>knobs</th></tr></thead><tbody>"#);
        for a in &m.allocators {
            let knobs: Vec<String> = a.knobs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let version = if a.path.is_empty() {
                a.version.clone()
            } else {
                format!("{} ({})", a.version, a.path)
            };
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
                esc(&a.config),
                esc(&a.allocator),
                esc(&version),
                esc(&knobs.join(" "))
            );
        }
        out.push_str("</tbody></table>");
    }
    let _ = write!(out, r#"<p class="dim">p-values: {}</p>"#, esc(&pvals(s)));
    out.push_str("</section>");
}

fn pvals(s: &Section) -> String {
    let n = s.manifest.repeats.max(1) as usize;
    // Exact two-sided minimum of the U test with n against n samples: 2 / C(2n, n).
    let mut c = 1.0f64;
    for k in 0..n {
        c *= (2 * n - k) as f64 / (k + 1) as f64;
    }
    let p_min = (2.0 / c).min(1.0);
    let mut text = format!(
        "How sure: two-sided Mann-Whitney U test of each configuration's repeats against the baseline's \
         (exact when there are no ties). With {n} repeat(s) a side the smallest possible p is {}",
        crate::summary::format_p(p_min)
    );
    if p_min >= crate::summary::ALPHA {
        text.push_str(", so separated interquartile ranges (*) are the best evidence available: run more repeats");
    }
    text.push('.');
    text
}
