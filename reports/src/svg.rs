//! Hand-rolled inline SVG charts for the HTML report: no scripts, no network, text that stays text.
//!
//! Entry points: [`hbar_whiskers`] (throughput with quartile whiskers), [`grouped_hbars`] (RSS side by side
//! with a reference line for the ideal), [`log_dots`] (latency percentiles on a log axis), [`line_chart`]
//! (configuration sweeps) and [`histogram`] (workload profile). Every chart is a `<svg>` with a `viewBox`,
//! so it scales with the page; labels are SVG `<text>`, so the report stays searchable.
//!
//! Invariant: all user-supplied text passes through [`esc`].

use std::fmt::Write;

/// Escapes text for HTML and SVG.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Chart width in SVG user units.
const W: f64 = 960.0;
/// Width reserved for row labels.
const LABEL_W: f64 = 300.0;
/// Width reserved right of the plot for annotations.
const NOTE_W: f64 = 170.0;

/// A "nice" axis: step and top for values up to `max` (about five gridlines).
pub fn nice_axis(max: f64) -> (f64, f64) {
    if max <= 0.0 || !max.is_finite() {
        return (1.0, 1.0);
    }
    let raw = max / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    (step, (max / step).ceil() * step)
}

/// Drops trailing zeros of the number in a tick label: `50.0M` → `50M`, `1.00 µs` → `1 µs`, `2.50k` → `2.5k`.
pub fn compact(label: &str) -> String {
    let end = label
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(label.len());
    let (num, unit) = label.split_at(end);
    if !num.contains('.') {
        return label.to_owned();
    }
    let num = num.trim_end_matches('0').trim_end_matches('.');
    format!("{num}{unit}")
}

/// [`nice_axis`] in the binary unit (KiB, MiB, GiB) that `max` is counted in.
pub fn binary_axis(max: f64) -> (f64, f64) {
    let mut scale = 1.0;
    while max / scale >= 1024.0 {
        scale *= 1024.0;
    }
    let (step, top) = nice_axis(max / scale);
    (step * scale, top * scale)
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max - 1).collect();
        out.push('…');
        out
    }
}

fn open(out: &mut String, h: f64, title: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart" viewBox="0 0 {W} {h}" width="100%" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title>"#,
        t = esc(title)
    );
}

/// Vertical gridlines with tick labels over the plot area `(x0, x1, y0, y1)`.
fn x_grid(
    out: &mut String,
    (x0, x1, y0, y1): (f64, f64, f64, f64),
    top: f64,
    step: f64,
    fmt: &dyn Fn(f64) -> String,
) {
    let mut v = 0.0;
    while v <= top * 1.000_001 {
        let x = x0 + (x1 - x0) * v / top;
        let _ = write!(
            out,
            r#"<line class="grid" x1="{x:.1}" y1="{y0:.1}" x2="{x:.1}" y2="{y1:.1}"/><text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            y1 + 14.0,
            esc(&compact(&fmt(v)))
        );
        v += step;
    }
}

/// One bar of [`hbar_whiskers`].
pub struct WhiskerBar {
    /// Row label.
    pub label: String,
    /// Bar length (the median).
    pub median: f64,
    /// Thick whisker: first and third quartile.
    pub q1: f64,
    /// Third quartile.
    pub q3: f64,
    /// Thin whisker: extremes.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// CSS class of the bar (colour per allocator).
    pub class: String,
    /// Text right of the plot (ratio and mark).
    pub note: String,
    /// CSS class of the note (tone).
    pub note_class: String,
}

/// Horizontal bars at the median with quartile (thick) and min–max (thin) whiskers.
pub fn hbar_whiskers(title: &str, bars: &[WhiskerBar], fmt: &dyn Fn(f64) -> String) -> String {
    let row_h = 30.0;
    let top_pad = 10.0;
    let h = top_pad + row_h * bars.len() as f64 + 30.0;
    let (x0, x1) = (LABEL_W, W - NOTE_W);
    let vmax = bars.iter().map(|b| b.max.max(b.median)).fold(0.0, f64::max);
    let (step, top) = nice_axis(vmax);
    let sx = |v: f64| x0 + (x1 - x0) * (v / top).clamp(0.0, 1.0);
    let mut out = String::new();
    open(&mut out, h, title);
    let y_end = top_pad + row_h * bars.len() as f64;
    x_grid(&mut out, (x0, x1, top_pad, y_end), top, step, fmt);
    for (i, b) in bars.iter().enumerate() {
        let y = top_pad + row_h * i as f64;
        let cy = y + row_h / 2.0;
        let _ = write!(
            out,
            r#"<text class="label" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            x0 - 8.0,
            cy + 4.0,
            esc(&shorten(&crate::table::short_label(&b.label), 40))
        );
        let _ = write!(
            out,
            r#"<rect class="bar {}" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}"><title>{}: median {}</title></rect>"#,
            esc(&b.class),
            y + 6.0,
            (sx(b.median) - x0).max(0.5),
            row_h - 12.0,
            esc(&b.label),
            esc(&fmt(b.median))
        );
        let _ = write!(
            out,
            r#"<line class="whisker-thin" x1="{:.1}" y1="{cy:.1}" x2="{:.1}" y2="{cy:.1}"/><line class="whisker" x1="{:.1}" y1="{cy:.1}" x2="{:.1}" y2="{cy:.1}"/><line class="whisker" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/><line class="whisker" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/>"#,
            sx(b.min),
            sx(b.max),
            sx(b.q1),
            sx(b.q3),
            sx(b.q1),
            cy - 6.0,
            sx(b.q1),
            cy + 6.0,
            sx(b.q3),
            cy - 6.0,
            sx(b.q3),
            cy + 6.0
        );
        let _ = write!(
            out,
            r#"<text class="note {}" x="{:.1}" y="{:.1}">{}</text>"#,
            esc(&b.note_class),
            x1 + 10.0,
            cy + 4.0,
            esc(&b.note)
        );
    }
    out.push_str("</svg>");
    out
}

/// A series of [`grouped_hbars`]: name and CSS class.
pub struct Series {
    /// Legend text.
    pub name: String,
    /// CSS class of its bars.
    pub class: String,
}

/// One row of bars per group, one bar per series; an optional labelled reference line (the ideal).
/// With `binary`, gridlines fall on round numbers of KiB/MiB/GiB.
pub fn grouped_hbars(
    title: &str,
    series: &[Series],
    groups: &[(String, Vec<Option<f64>>)],
    reference: Option<(f64, String)>,
    binary: bool,
    fmt: &dyn Fn(f64) -> String,
) -> String {
    let bar_h = 12.0;
    let group_h = bar_h * series.len() as f64 + 12.0;
    let legend_h = 24.0;
    let h = legend_h + group_h * groups.len() as f64 + 30.0;
    let (x0, x1) = (LABEL_W, W - NOTE_W);
    let vmax = groups
        .iter()
        .flat_map(|g| g.1.iter().flatten().copied())
        .chain(reference.iter().map(|r| r.0))
        .fold(0.0, f64::max);
    let (step, top) = if binary {
        binary_axis(vmax)
    } else {
        nice_axis(vmax)
    };
    let sx = |v: f64| x0 + (x1 - x0) * (v / top).clamp(0.0, 1.0);
    let mut out = String::new();
    open(&mut out, h, title);
    let mut lx = x0;
    for s in series {
        let _ = write!(
            out,
            r#"<rect class="bar {}" x="{lx:.1}" y="4" width="12" height="12"/><text class="legend" x="{:.1}" y="14">{}</text>"#,
            esc(&s.class),
            lx + 16.0,
            esc(&s.name)
        );
        lx += 30.0 + 7.5 * s.name.chars().count() as f64;
    }
    if let Some((_, label)) = &reference {
        let _ = write!(
            out,
            r#"<line class="reference" x1="{lx:.1}" y1="10" x2="{:.1}" y2="10"/><text class="legend reference-label" x="{:.1}" y="14">{}</text>"#,
            lx + 18.0,
            lx + 24.0,
            esc(label)
        );
    }
    let y_end = legend_h + group_h * groups.len() as f64;
    x_grid(&mut out, (x0, x1, legend_h, y_end), top, step, fmt);
    for (gi, (label, values)) in groups.iter().enumerate() {
        let gy = legend_h + group_h * gi as f64 + 6.0;
        let _ = write!(
            out,
            r#"<text class="label" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            x0 - 8.0,
            gy + group_h / 2.0,
            esc(&shorten(&crate::table::short_label(label), 40))
        );
        for (si, v) in values.iter().enumerate() {
            let Some(v) = v else { continue };
            let y = gy + bar_h * si as f64;
            let _ = write!(
                out,
                r#"<rect class="bar {}" x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{:.1}"><title>{}: {}</title></rect><text class="value" x="{:.1}" y="{:.1}">{}</text>"#,
                esc(&series[si].class),
                (sx(*v) - x0).max(0.5),
                bar_h - 2.0,
                esc(&series[si].name),
                esc(&fmt(*v)),
                sx(*v) + 4.0,
                y + bar_h - 3.0,
                esc(&fmt(*v))
            );
        }
    }
    if let Some((v, _)) = &reference {
        let x = sx(*v);
        let _ = write!(
            out,
            r#"<line class="reference" x1="{x:.1}" y1="{legend_h:.1}" x2="{x:.1}" y2="{y_end:.1}"/>"#
        );
    }
    out.push_str("</svg>");
    out
}

/// Latency percentiles on a log axis: one row per label, a dot per percentile joined by a line.
pub fn log_dots(
    title: &str,
    names: &[&str],
    rows: &[(String, String, Vec<f64>)],
    fmt: &dyn Fn(f64) -> String,
) -> String {
    let row_h = 26.0;
    let legend_h = 24.0;
    let h = legend_h + row_h * rows.len() as f64 + 30.0;
    let (x0, x1) = (LABEL_W, W - NOTE_W);
    let vals: Vec<f64> = rows
        .iter()
        .flat_map(|r| r.2.iter().copied())
        .filter(|v| *v > 0.0)
        .collect();
    let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = vals.iter().copied().fold(0.0, f64::max);
    let (dlo, dhi) = if vals.is_empty() {
        (0.0, 1.0)
    } else {
        let a = lo.log10().floor();
        let b = hi.log10().ceil();
        (a, if b > a { b } else { a + 1.0 })
    };
    let sx = |v: f64| {
        let l = if v > 0.0 { v.log10() } else { dlo };
        x0 + (x1 - x0) * ((l - dlo) / (dhi - dlo)).clamp(0.0, 1.0)
    };
    let mut out = String::new();
    open(&mut out, h, title);
    let mut lx = x0;
    for (i, n) in names.iter().enumerate() {
        let _ = write!(
            out,
            r#"<circle class="dot p{i}" cx="{:.1}" cy="10" r="5"/><text class="legend" x="{:.1}" y="14">{}</text>"#,
            lx + 6.0,
            lx + 14.0,
            esc(n)
        );
        lx += 34.0 + 7.5 * n.chars().count() as f64;
    }
    let y_end = legend_h + row_h * rows.len() as f64;
    let mut d = dlo;
    while d <= dhi + 1e-9 {
        let v = 10f64.powf(d);
        let x = sx(v);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{x:.1}" y1="{legend_h:.1}" x2="{x:.1}" y2="{y_end:.1}"/><text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            y_end + 14.0,
            esc(&compact(&fmt(v)))
        );
        d += 1.0;
    }
    for (i, (label, class, values)) in rows.iter().enumerate() {
        let cy = legend_h + row_h * i as f64 + row_h / 2.0;
        let _ = write!(
            out,
            r#"<text class="label" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            x0 - 8.0,
            cy + 4.0,
            esc(&shorten(&crate::table::short_label(label), 40))
        );
        let pos: Vec<f64> = values
            .iter()
            .filter(|v| **v > 0.0)
            .map(|v| sx(*v))
            .collect();
        if let (Some(a), Some(b)) = (pos.first(), pos.last()) {
            let _ = write!(
                out,
                r#"<line class="span {}" x1="{a:.1}" y1="{cy:.1}" x2="{b:.1}" y2="{cy:.1}"/>"#,
                esc(class)
            );
        }
        for (j, v) in values.iter().enumerate() {
            if *v > 0.0 {
                let _ = write!(
                    out,
                    r#"<circle class="dot p{j}" cx="{:.1}" cy="{:.1}" r="5"><title>{} {}: {}</title></circle>"#,
                    sx(*v),
                    // Equal percentiles (a coarse clock) would hide each other: stagger them a little.
                    cy + (j as f64 - 1.5) * 2.5,
                    esc(label),
                    esc(names.get(j).copied().unwrap_or("")),
                    esc(&fmt(*v))
                );
            }
        }
        if let Some(last) = values.last() {
            let _ = write!(
                out,
                r#"<text class="note" x="{:.1}" y="{:.1}">{} {}</text>"#,
                x1 + 10.0,
                cy + 4.0,
                esc(names.last().copied().unwrap_or("")),
                esc(&fmt(*last))
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// A line through categorical x positions with quartile whiskers at each point (configuration sweeps).
pub fn line_chart(
    title: &str,
    x_name: &str,
    points: &[(String, f64, f64, f64)],
    fmt: &dyn Fn(f64) -> String,
) -> String {
    let h = 300.0;
    let (x0, x1, y0, y1) = (90.0, W - 40.0, 20.0, h - 60.0);
    let vmax = points.iter().map(|p| p.3.max(p.1)).fold(0.0, f64::max);
    let (step, top) = nice_axis(vmax);
    let n = points.len().max(1);
    let px = |i: usize| {
        if n == 1 {
            (x0 + x1) / 2.0
        } else {
            x0 + (x1 - x0) * i as f64 / (n - 1) as f64
        }
    };
    let py = |v: f64| y1 - (y1 - y0) * (v / top).clamp(0.0, 1.0);
    let mut out = String::new();
    open(&mut out, h, title);
    let mut v = 0.0;
    while v <= top * 1.000_001 {
        let y = py(v);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{x0:.1}" y1="{y:.1}" x2="{x1:.1}" y2="{y:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            x0 - 8.0,
            y + 4.0,
            esc(&compact(&fmt(v)))
        );
        v += step;
    }
    let path: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{:.1},{:.1}", px(i), py(p.1)))
        .collect();
    let _ = write!(
        out,
        r#"<polyline class="line" points="{}"/>"#,
        path.join(" ")
    );
    for (i, (label, med, q1, q3)) in points.iter().enumerate() {
        let x = px(i);
        let _ = write!(
            out,
            r#"<line class="whisker" x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}"/><circle class="dot p0" cx="{x:.1}" cy="{:.1}" r="5"><title>{}: {}</title></circle><text class="value" x="{:.1}" y="{:.1}">{}</text><text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            py(*q1),
            py(*q3),
            py(*med),
            esc(label),
            esc(&fmt(*med)),
            x + 8.0,
            py(*med) - 8.0,
            esc(&fmt(*med)),
            y1 + 18.0,
            esc(&shorten(label, 24))
        );
    }
    let _ = write!(
        out,
        r#"<text class="axis-name" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        (x0 + x1) / 2.0,
        h - 12.0,
        esc(x_name)
    );
    out.push_str("</svg>");
    out
}

/// Vertical bars, one per bin, labels under them (workload profile histograms).
pub fn histogram(title: &str, bins: &[(String, f64)], fmt: &dyn Fn(f64) -> String) -> String {
    const HW: f64 = 520.0;
    let h = 220.0;
    let (x0, x1, y0, y1) = (56.0, HW - 28.0, 12.0, h - 34.0);
    let vmax = bins.iter().map(|b| b.1).fold(0.0, f64::max);
    let (step, top) = nice_axis(vmax);
    let n = bins.len().max(1) as f64;
    let bw = (x1 - x0) / n;
    let py = |v: f64| y1 - (y1 - y0) * (v / top).clamp(0.0, 1.0);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg class="chart hist" viewBox="0 0 {HW} {h}" width="100%" role="img" aria-label="{t}" xmlns="http://www.w3.org/2000/svg"><title>{t}</title>"#,
        t = esc(title)
    );
    let mut v = 0.0;
    while v <= top * 1.000_001 {
        let y = py(v);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{x0:.1}" y1="{y:.1}" x2="{x1:.1}" y2="{y:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            x0 - 6.0,
            y + 4.0,
            esc(&compact(&fmt(v)))
        );
        v += step;
    }
    // Label every k-th bin so that labels (about 6.5 units a character at 11 px) never overlap.
    let widest = bins
        .iter()
        .map(|b| b.0.chars().count().min(10))
        .max()
        .unwrap_or(1) as f64
        * 6.5
        + 6.0;
    let every = ((widest / bw).ceil() as usize).max(1);
    for (i, (label, count)) in bins.iter().enumerate() {
        let x = x0 + bw * i as f64;
        let _ = write!(
            out,
            r#"<rect class="bar hist" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"><title>{}: {}</title></rect>"#,
            x + bw * 0.1,
            py(*count),
            bw * 0.8,
            (y1 - py(*count)).max(0.0),
            esc(label),
            esc(&fmt(*count))
        );
        if i % every == 0 {
            let _ = write!(
                out,
                r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                x + bw / 2.0,
                y1 + 16.0,
                esc(&shorten(label, 10))
            );
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod unit {
    #[test]
    fn nice_axis_covers_max() {
        for max in [0.7, 1.0, 3.3, 47.0, 123_456.0, 9.9e7] {
            let (step, top) = super::nice_axis(max);
            assert!(
                top >= max && top / step <= 10.0 && top / step >= 2.0,
                "{max}: {step} {top}"
            );
        }
    }

    #[test]
    fn compact_ticks() {
        assert_eq!(super::compact("50.0M"), "50M");
        assert_eq!(super::compact("1.00 µs"), "1 µs");
        assert_eq!(super::compact("2.50k"), "2.5k");
        assert_eq!(super::compact("0.00"), "0");
        assert_eq!(super::compact("1.91 MiB"), "1.91 MiB");
        assert_eq!(super::compact("64"), "64");
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(super::esc("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
    }
}
