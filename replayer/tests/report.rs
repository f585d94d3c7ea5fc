//! End-to-end tests of `hakmem report`: the real binary on bundles written to disk — constructed ones with
//! realistic figures, and a real one measured by `hakmem replay` — and on bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[allow(dead_code)]
#[path = "../../reports/tests/fixture.rs"]
mod fixture;

fn hakmem() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hakmem"))
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("the hakmem binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hakmem-report-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_fixture(dir: &Path) -> PathBuf {
    let b = fixture::main_bundle();
    let path = dir.join("main");
    reports::bundle::write_bundle(&path, &b.manifest, &b.samples).unwrap();
    path
}

#[test]
fn report_writes_every_export_and_html_section() {
    let dir = tmp("all");
    let bundle = write_fixture(&dir);
    let o = run(hakmem()
        .arg("report")
        .arg(&bundle)
        .arg("--html")
        .arg(dir.join("r.html"))
        .arg("--export-csv")
        .arg(dir.join("r.csv"))
        .arg("--export-markdown")
        .arg(dir.join("r.md"))
        .arg("--export-json")
        .arg(dir.join("r.json")));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("mimalloc is fastest"), "{out}");
    assert!(!out.contains('\x1b'), "no colour when piped");
    let html = std::fs::read_to_string(dir.join("r.html")).unwrap();
    for s in reports::export::html::SECTIONS {
        assert!(
            html.contains(&format!(r#"<section class="{s}">"#)),
            "HTML section {s} missing"
        );
    }
    let json = std::fs::read_to_string(dir.join("r.json")).unwrap();
    let back: reports::Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back.sections[0].workloads.len(), 2);
    let csv = std::fs::read_to_string(dir.join("r.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * fixture::CONFIGS.len());
    assert!(std::fs::read_to_string(dir.join("r.md"))
        .unwrap()
        .contains("| mimalloc | 5/5 |"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn export_to_stdout_replaces_the_table_and_colour_is_on_request() {
    let dir = tmp("stdout");
    let bundle = write_fixture(&dir);
    let o = run(hakmem()
        .arg("report")
        .arg(&bundle)
        .args(["--export-markdown", "-"]));
    assert!(o.status.success());
    assert!(text(&o.stdout).starts_with("# HAKMEM Workbench report"));
    let o = run(hakmem().arg("report").arg(&bundle).args([
        "--color",
        "always",
        "--baseline",
        "hakmem",
    ]));
    let out = text(&o.stdout);
    assert!(
        // Green (comfy-table writes the 256-colour code of crossterm's `Green`).
        out.contains("\x1b[38;5;10m") && out.contains("system"),
        "{out}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_bundle_is_one_clear_error() {
    let o = run(hakmem().args(["report", "/nonexistent/bundle-q"]));
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.starts_with("error: bundle /nonexistent/bundle-q: no such file"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn newer_format_version_is_refused_naming_both() {
    let dir = tmp("newer");
    let bundle = write_fixture(&dir);
    let m = bundle.join("manifest.json");
    let t = std::fs::read_to_string(&m)
        .unwrap()
        .replace("\"format_version\": 1,", "\"format_version\": 7,");
    std::fs::write(&m, t).unwrap();
    let o = run(hakmem().arg("report").arg(&bundle));
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("format version 7") && err.contains("reads version 1"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupt_and_empty_lines_are_warnings_naming_the_line() {
    let dir = tmp("corrupt");
    let bundle = write_fixture(&dir);
    let s = bundle.join("samples.jsonl");
    let mut t = std::fs::read_to_string(&s).unwrap();
    t.insert_str(0, "\n{\"allocator\": \"system\", \"config\"\n");
    std::fs::write(&s, t).unwrap();
    let o = run(hakmem().arg("report").arg(&bundle));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let err = text(&o.stderr);
    assert!(err.contains("samples.jsonl:1: empty line"), "{err}");
    assert!(err.contains("samples.jsonl:2: corrupt sample"), "{err}");
    assert!(text(&o.stdout).contains("mimalloc is fastest"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn several_bundles_give_sections_and_an_overview() {
    let dir = tmp("several");
    let a = write_fixture(&dir);
    let b = fixture::small_bundle();
    let bpath = dir.join("small");
    reports::bundle::write_bundle(&bpath, &b.manifest, &b.samples).unwrap();
    let html = dir.join("r.html");
    let o = run(hakmem()
        .arg("report")
        .arg(&a)
        .arg(&bpath)
        .arg("--html")
        .arg(&html));
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).contains("Overview"));
    let h = std::fs::read_to_string(&html).unwrap();
    assert_eq!(h.matches(r#"<div class="bundle">"#).count(), 2);
    assert!(h.contains("rm-8-128") && h.contains("table class=\"matrix\""));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A real bundle: a small random-mixed workload replayed through system and mimalloc by `hakmem replay`.
#[test]
fn report_of_a_real_replay() {
    let dir = tmp("real");
    let w = dir.join("rm.hkw");
    let o = run(hakmem()
        .args(["gen", "random-mixed", "--iters", "20000", "-o"])
        .arg(&w));
    assert!(o.status.success(), "gen: {}", text(&o.stderr));
    let bundle = dir.join("bundle");
    let o = run(hakmem()
        .arg("replay")
        .arg(&w)
        .args([
            "--alloc",
            "system",
            "--alloc",
            "mimalloc",
            "--repeats",
            "3",
            "-o",
        ])
        .arg(&bundle));
    assert!(o.status.success(), "replay: {}", text(&o.stderr));
    let html = dir.join("r.html");
    let o = run(hakmem()
        .arg("report")
        .arg(&bundle)
        .arg("--html")
        .arg(&html)
        .args(["--export-csv", "-"]));
    assert!(o.status.success(), "{}", text(&o.stderr));
    let csv = text(&o.stdout);
    assert_eq!(csv.lines().count(), 3, "header + system + mimalloc:\n{csv}");
    let h = std::fs::read_to_string(&html).unwrap();
    for s in reports::export::html::SECTIONS {
        assert!(
            h.contains(&format!(r#"<section class="{s}">"#)),
            "HTML section {s} missing"
        );
    }
    let report = reports::load_report(&[bundle], None).unwrap();
    let wl = &report.sections[0].workloads[0];
    assert_eq!(wl.baseline.as_deref(), Some("system"));
    let mi = wl.row("mimalloc").unwrap();
    assert_eq!(mi.ok, 3);
    assert!(mi.ops_per_sec.unwrap().median > 0.0);
    assert!(!mi.latency_ns.is_empty(), "the replayer samples latencies");
    std::fs::remove_dir_all(&dir).unwrap();
}
