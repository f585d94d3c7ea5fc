//! The terminal summary printed by `hakmem report` and `hakmem demo`: a verdict line and a table per
//! workload, then the overview matrix when there are several workloads.
//!
//! Entry point: [`render_terminal`]. Colour (ANSI) and width-fitting apply only when asked ([`Style`]), which
//! the CLI decides from whether stdout is a terminal; piped output is plain and stable.

use crate::summary::{Report, LEGEND};
use crate::table::{overview_table, summary_table, Table, Tone};

/// How to draw.
#[derive(Clone, Copy, Debug, Default)]
pub struct Style {
    /// ANSI colours.
    pub colour: bool,
    /// Fit to this many columns (long configuration labels are shortened with `…`).
    pub width: Option<usize>,
}

impl Style {
    /// Colour and width when stdout is a terminal, plain otherwise (`NO_COLOR` disables colour).
    pub fn auto() -> Style {
        if crate::term::stdout_is_terminal() {
            Style {
                colour: std::env::var_os("NO_COLOR").is_none(),
                width: crate::term::width(1),
            }
        } else {
            Style::default()
        }
    }
}

fn paint(s: &str, tone: Tone, style: Style) -> String {
    if !style.colour || s.is_empty() {
        return s.to_owned();
    }
    let code = match tone {
        Tone::Plain => return s.to_owned(),
        Tone::Better => "1;32",
        Tone::Worse => "1;31",
        Tone::Dim => "2",
        Tone::Failed => "33",
    };
    format!("\x1b[{code}m{s}\x1b[0m")
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max || max < 2 {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

/// Renders a [`Table`] with aligned columns. Column 0 is shortened if the table would exceed the width.
pub fn render_table(t: &Table, style: Style) -> String {
    let ncol = t.header.len();
    let len = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = t.header.iter().map(|h| len(h)).collect();
    for row in &t.rows {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(len(&c.0));
        }
    }
    if let Some(w) = style.width {
        let total: usize = widths.iter().sum::<usize>() + 2 * (ncol - 1);
        if total > w {
            let excess = total - w;
            widths[0] = widths[0].saturating_sub(excess).max(12);
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<(String, Tone)>, out: &mut String| {
        let mut parts = Vec::new();
        for (i, (text, tone)) in cells.into_iter().enumerate() {
            let text = if i == 0 {
                shorten(&text, widths[0])
            } else {
                text
            };
            let pad = widths[i].saturating_sub(len(&text));
            let padded = if t.numeric[i] {
                format!("{}{}", " ".repeat(pad), paint(&text, tone, style))
            } else if i + 1 == ncol {
                paint(&text, tone, style)
            } else {
                format!("{}{}", paint(&text, tone, style), " ".repeat(pad))
            };
            parts.push(padded);
        }
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(
        t.header.iter().map(|h| (h.clone(), Tone::Plain)).collect(),
        &mut out,
    );
    for row in &t.rows {
        line(row.clone(), &mut out);
    }
    out
}

/// The terminal summary of a report.
pub fn render_terminal(report: &Report, style: Style) -> String {
    let mut out = String::new();
    let bold = |s: &str| {
        if style.colour {
            format!("\x1b[1m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    };
    for s in &report.sections {
        for w in &s.workloads {
            out.push_str(&bold(&format!("{} — {}", s.name, w.workload)));
            out.push('\n');
            let v = w.verdict();
            if !v.is_empty() {
                out.push_str(&format!("  {v}\n"));
            }
            if let Some(h) = w.hakmem_verdict() {
                out.push_str(&format!("  {h}\n"));
            }
            if let Some(m) = w.memory_verdict() {
                out.push_str(&format!("  {m}\n"));
            }
            out.push_str(&render_table(&summary_table(w), style));
            out.push('\n');
        }
        if !s.failures.is_empty() {
            out.push_str(&format!("{} failed sample(s):\n", s.failures.len()));
            for g in s.failure_groups() {
                out.push_str(&format!(
                    "  {} on {} ({}×): {} {}\n",
                    g.config,
                    g.workloads.join(", "),
                    g.count,
                    g.status_name(),
                    g.error.lines().next().unwrap_or("")
                ));
            }
            out.push('\n');
        }
    }
    let n_workloads: usize = report.sections.iter().map(|s| s.workloads.len()).sum();
    if n_workloads > 1 {
        out.push_str(&bold("Overview: ops/s ratio to each workload's baseline"));
        out.push('\n');
        out.push_str(&render_table(&overview_table(report), style));
        out.push('\n');
    }
    out.push_str(LEGEND);
    out.push('\n');
    out
}
