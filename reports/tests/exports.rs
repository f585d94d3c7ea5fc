//! Exporters: snapshots of the text formats (checked-in expected files; `UPDATE_SNAPSHOTS=1` rewrites them)
//! and round trips (JSON re-read equals; CSV parses back with an independent reader).

use crate::fixture::{main_bundle, small_bundle, SMALL_BASELINE_RSS};
use reports::export::{exporter_for, write_export};
use reports::terminal::{render_terminal, Style};
use reports::Report;
use std::path::PathBuf;

fn report() -> Report {
    Report::build(&[main_bundle(), small_bundle()], None)
}

/// Compares `actual` with `tests/snapshots/NAME`, or rewrites it when `UPDATE_SNAPSHOTS` is set.
fn snapshot(name: &str, actual: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with UPDATE_SNAPSHOTS=1 to create it",
            path.display()
        )
    });
    if expected != actual {
        let diff = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| format!("first difference at line {}:\n- {a}\n+ {b}", i + 1))
            .unwrap_or_else(|| "the lengths differ".into());
        panic!("{} does not match the snapshot ({diff}); if the change is intended, rerun with UPDATE_SNAPSHOTS=1", name);
    }
}

#[test]
fn markdown_snapshot() {
    snapshot(
        "report.md",
        &exporter_for("markdown").unwrap().render(&report()),
    );
}

#[test]
fn csv_snapshot() {
    snapshot(
        "report.csv",
        &exporter_for("csv").unwrap().render(&report()),
    );
}

#[test]
fn terminal_snapshot_plain_when_piped() {
    let text = render_terminal(&report(), Style::default());
    assert!(!text.contains('\x1b'), "no escape codes without a terminal");
    snapshot("report.txt", &text);
}

#[test]
fn heap_peak_column_is_peak_rss_net_of_the_baseline_when_known() {
    // Samples with `baseline_rss_bytes`: a "heap peak" column, peak RSS − baseline per sample, median.
    let small = small_bundle();
    let r = Report::build(std::slice::from_ref(&small), None);
    let text = render_terminal(&r, Style::default());
    let header = text
        .lines()
        .find(|l| l.starts_with("config"))
        .expect("a summary table");
    assert!(header.contains("peak RSS  heap peak  post RSS"), "{header}");
    for config in ["system", "mimalloc"] {
        let mut net: Vec<u64> = small
            .samples
            .iter()
            .filter(|s| s.config == config)
            .map(|s| s.peak_rss_bytes - SMALL_BASELINE_RSS)
            .collect();
        net.sort_unstable();
        let want = reports::format::bytes(net[net.len() / 2] as f64);
        let row = text
            .lines()
            .find(|l| l.starts_with(&format!("{config} ")))
            .unwrap_or_else(|| panic!("no {config} row in\n{text}"));
        assert!(
            row.contains(&want),
            "{config}: want heap peak {want} in {row:?}"
        );
        let q = r.rows().find(|(_, _, c)| c.config == config).unwrap().2;
        assert_eq!(q.heap_peak.unwrap().median, net[net.len() / 2] as f64);
    }
    let md = exporter_for("markdown").unwrap().render(&r);
    assert!(md.contains("| heap peak |"), "{md}");
    let csv = exporter_for("csv").unwrap().render(&r);
    let mut lines = csv.lines();
    let cols: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at = cols.iter().position(|c| *c == "heap_peak_median").unwrap();
    for line in lines {
        assert!(!line.split(',').nth(at).unwrap().is_empty(), "{line}");
    }
    // A bundle written before the field: no column, as before.
    let old = render_terminal(&Report::build(&[main_bundle()], None), Style::default());
    assert!(!old.contains("heap peak"), "{old}");
    assert!(old.contains("peak RSS  post RSS"), "{old}");
}

#[test]
fn terminal_colours_and_fits_width_when_asked() {
    let text = render_terminal(
        &report(),
        Style {
            colour: true,
            width: Some(80),
        },
    );
    assert!(
        text.contains("\x1b[38;5;10m"),
        "faster-than-baseline cells are green"
    );
    assert!(
        text.contains("\x1b[38;5;9m"),
        "slower-than-baseline cells are red"
    );
    assert!(
        text.contains('…'),
        "long configuration labels are shortened to fit 80 columns"
    );
}

#[test]
fn json_reads_back_equal() {
    let r = report();
    let text = exporter_for("json").unwrap().render(&r);
    let back: Report = serde_json::from_str(&text).unwrap();
    assert_eq!(back, r);
}

#[test]
fn csv_parses_back_with_the_figures() {
    let r = report();
    let text = exporter_for("csv").unwrap().render(&r);
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let headers = rd.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let records: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    let rows: Vec<_> = r.rows().collect();
    assert_eq!(records.len(), rows.len());
    for (rec, (s, w, row)) in records.iter().zip(rows) {
        assert_eq!(rec.len(), headers.len());
        assert_eq!(&rec[col("bundle")], s.name);
        assert_eq!(&rec[col("workload")], w.workload);
        assert_eq!(
            &rec[col("config")],
            row.config,
            "labels with commas survive quoting"
        );
        let med: f64 = rec[col("ops_per_sec_median")].parse().unwrap();
        assert_eq!(
            med,
            row.ops_per_sec.unwrap().median,
            "numbers are written exactly"
        );
        let ratio: f64 = rec[col("ratio")].parse().unwrap();
        assert_eq!(ratio, row.vs_baseline.as_ref().unwrap().ratio);
        let p50: f64 = rec[col("lat_malloc_p50_ns")].parse().unwrap();
        assert_eq!(p50, row.latency_ns["malloc"].p50);
    }
}

#[test]
fn csv_carries_the_live_columns_and_the_prediction() {
    let r = Report::build(&[crate::fixture::live_bundle()], None);
    let text = exporter_for("csv").unwrap().render(&r);
    let mut rd = csv::Reader::from_reader(text.as_bytes());
    let headers = rd.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let records: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    let row = |wl: &str, c: &str| {
        records
            .iter()
            .find(|x| &x[col("workload")] == wl && &x[col("config")] == c)
            .unwrap()
            .clone()
    };
    let live = row("prog", "hakmem");
    assert_eq!(&live[col("kind")], "live");
    // The fixture's hakmem live runs: 0.90 s median, user 0.8× and system 0.1× of the wall time.
    let f = |x: &csv::StringRecord, c: &str| x[col(c)].parse::<f64>().unwrap();
    assert!((f(&live, "user_seconds_median") - 0.72).abs() < 1e-9);
    assert!((f(&live, "sys_seconds_median") - 0.09).abs() < 1e-9);
    assert_eq!(&live[col("exit_status")], "0");
    assert_eq!(&live[col("stdout_hash")], "sha256:00/0");
    // Hand-computed in fidelity.rs's test: calibrated on mimalloc, predicted 0.96 s, ratio 0.96 against
    // 0.90 live, error 0.06.
    assert!((f(&live, "predicted_seconds") - 0.96).abs() < 1e-9);
    assert!((f(&live, "predicted_ratio") - 0.96).abs() < 1e-9);
    assert!((f(&live, "live_ratio") - 0.90).abs() < 1e-9);
    assert!((f(&live, "ratio_error") - 0.06).abs() < 1e-9);
    assert_eq!(&live[col("fidelity_pairs")], "3");
    assert_eq!(&live[col("fidelity_agree")], "2");
    assert!((f(&live, "fidelity_ratio_error_median") - 0.0675).abs() < 1e-9);
    let replay = row("prog (replay)", "hakmem");
    assert_eq!(&replay[col("kind")], "replay");
    assert_eq!(&replay[col("user_seconds_median")], "");
    assert_eq!(&replay[col("predicted_seconds")], "");
    assert_eq!(&replay[col("fidelity_agree")], "2");
}

#[test]
fn write_export_replaces_the_file_whole() {
    let dir = std::env::temp_dir().join(format!("hakmem-reports-{}-write", std::process::id()));
    let dest = dir.join("sub/report.md");
    let md = exporter_for("md").unwrap();
    write_export(md.as_ref(), &report(), &dest).unwrap();
    let text = std::fs::read_to_string(&dest).unwrap();
    assert!(text.starts_with("# HAKMEM Workbench report"));
    assert!(!dest.with_extension("partial").exists());
    let e = write_export(
        md.as_ref(),
        &report(),
        std::path::Path::new("/proc/forbidden/x.md"),
    )
    .unwrap_err();
    assert!(e.to_string().contains("/proc/forbidden/x.md"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
