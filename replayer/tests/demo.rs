//! End-to-end test of `hakmem demo`: the whole loop (gen, record of a real `sort --parallel=2`, compile,
//! replay through HAKMEM default and Page Box, system, mimalloc; report) on small sizes, with output piped.

use std::path::PathBuf;
use std::process::Command;

fn hakmem() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hakmem"))
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hakmem-demo-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn demo_runs_the_whole_loop_and_writes_the_report() {
    let out = tmp("small");
    let o = hakmem()
        .arg("demo")
        .arg("--out")
        .arg(&out)
        .args([
            "--iters",
            "20000",
            "--sort-lines",
            "20000",
            "--repeats",
            "2",
        ])
        .output()
        .expect("hakmem runs");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "demo failed:\n{stderr}\n{stdout}");
    assert!(
        !stderr.contains('\r') && !stdout.contains('\x1b'),
        "no progress bars or colour when piped"
    );
    assert!(
        stderr.contains("generated 3 random-mixed workloads"),
        "{stderr}"
    );
    assert!(
        stderr.contains("recorded and compiled `sort --parallel=2`"),
        "{stderr}"
    );

    // The recorder left sort's behaviour intact (the demo checks sort's output), and the demo cleans up
    // the 20 MB of sort input and output it no longer needs.
    for f in ["sort-input.txt", "sort-output.txt"] {
        assert!(!out.join(f).exists(), "demo_leaves_sort_files_behind: {f}");
    }

    // The summary names the HTML report, which has every section.
    let html_line = stdout
        .lines()
        .find(|l| l.starts_with("HTML report: "))
        .expect("HTML path printed");
    let html = std::fs::read_to_string(html_line.trim_start_matches("HTML report: ")).unwrap();
    for s in reports::export::html::SECTIONS {
        assert!(
            html.contains(&format!(r#"<section class="{s}">"#)),
            "HTML section {s} missing"
        );
    }
    assert!(out.join("report.md").is_file() && out.join("report.csv").is_file());

    // The sections a reader looks for carry real data: a sweep line, box statistics, a profile.
    assert!(html.contains("<polyline"), "the C7 capacity sweep is drawn");
    assert!(
        html.contains(r#"<table class="boxstats">"#),
        "per-box statistics of HAKMEM"
    );
    assert!(html.contains("size histogram"), "the workload profile");

    // Five workloads (three bands, sort and threaded python3) × eight configurations (the sweep expands to three), two
    // repeats each.
    let report = reports::load_report(&[out.join("results")], None).unwrap();
    let s = &report.sections[0];
    let names: Vec<&str> = s.workloads.iter().map(|w| w.workload.as_str()).collect();
    assert_eq!(
        names,
        [
            "rm-16-1024",
            "rm-8-128",
            "rm-129-1024",
            "sort",
            "python-threads"
        ]
    );
    for w in &s.workloads {
        let configs: Vec<&str> = w.rows.iter().map(|r| r.config.as_str()).collect();
        assert_eq!(configs.len(), 8, "{}: {configs:?}", w.workload);
        assert!(
            configs.contains(&"hakmem:HAKMEM_TINY_PAGE_BOX_CLASSES=5-7"),
            "{configs:?}"
        );
        assert!(
            configs.contains(&"hakmem:HAKMEM_TINY_UNIFIED_C7=128"),
            "{configs:?}"
        );
        for r in &w.rows {
            assert_eq!(r.ok + r.failed, 2, "{} {}", w.workload, r.config);
        }
        let sys = w.row("system").unwrap();
        assert_eq!(sys.ok, 2, "system replays {}", w.workload);
    }
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn demo_into_a_file_is_a_clear_error() {
    let f = tmp("file");
    std::fs::write(&f, "not a directory").unwrap();
    let o = hakmem().arg("demo").arg("--out").arg(&f).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("error: ") && err.contains(&*f.to_string_lossy()),
        "{err}"
    );
    std::fs::remove_file(&f).unwrap();
}
