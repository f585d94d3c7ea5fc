//! The terminal summary printed by `hakmem report` and `hakmem demo`: a verdict line and a table per
//! workload, then the overview matrix when there are several workloads.
//!
//! Entry point: [`render_terminal`]. Colour (ANSI) and width-fitting apply only when asked ([`Style`]), which
//! the CLI decides from whether stdout is a terminal; piped output is plain and stable.

use crate::format;
use crate::summary::{Report, LEGEND};

/// Box highlights the terminal summary shows per workload (the Markdown and HTML reports show them all).
const TERMINAL_BOX_LINES: usize = 3;
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

fn colour_of(tone: Tone) -> Option<(comfy_table::Color, bool)> {
    use comfy_table::Color;
    match tone {
        Tone::Plain => None,
        Tone::Better => Some((Color::Green, true)),
        Tone::Worse => Some((Color::Red, true)),
        Tone::Dim => Some((Color::DarkGrey, false)),
        Tone::Failed => Some((Color::Yellow, false)),
    }
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

/// Renders a [`Table`] with aligned columns (numeric ones right-aligned), two spaces apart, through
/// `comfy-table`: the one table renderer of the terminal (`report`, `demo`, `replay`, `bench`). Column 0
/// is shortened with `…` if the table would exceed [`Style::width`].
pub fn render_table(t: &Table, style: Style) -> String {
    use comfy_table::{Attribute, Cell, CellAlignment, ContentArrangement};
    let ncol = t.header.len();
    if ncol == 0 {
        return String::new();
    }
    let len = |s: &str| s.chars().count();
    let mut widths: Vec<usize> = t.header.iter().map(|h| len(h)).collect();
    for row in &t.rows {
        for (i, c) in row.iter().enumerate().take(ncol) {
            widths[i] = widths[i].max(len(&c.0));
        }
    }
    let mut first = widths[0];
    if let Some(w) = style.width {
        let total: usize = widths.iter().sum::<usize>() + 2 * (ncol - 1);
        if total > w {
            first = widths[0].saturating_sub(total - w).max(12);
        }
    }
    let mut ct = comfy_table::Table::new();
    ct.load_preset(comfy_table::presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    if style.colour {
        ct.enforce_styling();
    } else {
        ct.force_no_tty();
    }
    let cell = |i: usize, text: &str, tone: Tone| {
        let text = if i == 0 {
            shorten(text, first)
        } else {
            text.to_owned()
        };
        let mut c = Cell::new(text);
        if t.numeric.get(i).copied().unwrap_or(false) {
            c = c.set_alignment(CellAlignment::Right);
        }
        if style.colour {
            if let Some((colour, bold)) = colour_of(tone) {
                c = c.fg(colour);
                if bold {
                    c = c.add_attribute(Attribute::Bold);
                }
            }
        }
        c
    };
    ct.set_header(
        t.header
            .iter()
            .enumerate()
            .map(|(i, h)| cell(i, h, Tone::Plain)),
    );
    for row in &t.rows {
        ct.add_row(
            row.iter()
                .take(ncol)
                .enumerate()
                .map(|(i, (text, tone))| cell(i, text, *tone)),
        );
    }
    for (i, col) in ct.column_iter_mut().enumerate() {
        col.set_padding((0, if i + 1 == ncol { 0 } else { 2 }));
    }
    let mut out = String::new();
    for line in ct.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
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
            if let Some(k) = w.kernel_verdict() {
                out.push_str(&format!("  {k}\n"));
            }
            out.push_str(&render_table(&summary_table(w), style));
            if let Some(f) = &w.fidelity {
                out.push_str(&format!("  {}\n", f.line()));
            }
            let boxes: Vec<_> = w.box_lines(TERMINAL_BOX_LINES).collect();
            if !boxes.is_empty() {
                out.push_str("  Per-box counters that differ most between the HAKMEM configurations (medians):\n");
                for h in boxes {
                    let v = |c: &str| format::count(w.box_value(c, &h.r#box, &h.counter));
                    let spread = if h.spread >= 100.0 {
                        format!("{:.0}", h.spread)
                    } else {
                        format!("{:.1}", h.spread)
                    };
                    out.push_str(&format!(
                        "    {}.{}  {spread}×: {} in {}, {} in {}\n",
                        h.r#box,
                        h.counter,
                        v(&h.min_config),
                        h.min_config,
                        v(&h.max_config),
                        h.max_config
                    ));
                }
            }
            out.push('\n');
        }
        if let Some(t) = s.fidelity.as_ref().filter(|t| t.programs > 1) {
            out.push_str(&format!("{}\n\n", t.line()));
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
