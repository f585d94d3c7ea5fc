//! `scripts/suite.py`, the independent live runner, on small programs of the suite (`--quick`): it builds
//! them, runs each under `system` and `hakmem` (LD_PRELOAD of libhakmem.so), checks that outputs match, and
//! writes the table and the JSON. Shapes and output checks only: timings never decide a verdict here.

use std::path::PathBuf;
use std::process::{Command, Output};

use crate::{repo, target_dir};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir()
        .join(format!("hakmem-suite-tests-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn suite(args: &[&str]) -> Output {
    Command::new("python3")
        .arg(repo().join("scripts/suite.py"))
        .arg("--target-dir")
        .arg(target_dir())
        .args(args)
        .env_remove("LD_PRELOAD")
        .output()
        .expect("python3 is needed to run scripts/suite.py")
}

fn require_libhakmem() {
    let so = target_dir().join("release/libhakmem.so");
    assert!(
        so.is_file(),
        "{} is missing: run `cargo build --release --workspace` first",
        so.display()
    );
}

#[test]
fn quick_run_of_two_programs_under_system_and_hakmem_matches_outputs_and_writes_table_and_json() {
    require_libhakmem();
    let json = scratch("quick").join("suite.json");
    let out = suite(&[
        "--quick",
        "--repeats",
        "2",
        "--only",
        "randmix_8_128,workq",
        "--alloc",
        "system,hakmem",
        "--json",
        json.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "suite.py failed: {:?}\n{stdout}\n{stderr}",
        out.status
    );
    for needle in [
        "randmix_8_128 (pattern",
        "workq (real",
        "geomean of ratios",
        "system ",
        "hakmem ",
    ] {
        assert!(
            stdout.contains(needle),
            "no '{needle}' in the table:\n{stdout}"
        );
    }
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["format"], "hakmem-suite");
    assert_eq!(doc["format_version"], 1);
    assert_eq!(doc["complete"], true);
    let allocs: Vec<&str> = doc["allocators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(allocs, ["system", "hakmem"]);
    let programs: Vec<&str> = doc["programs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(programs, ["randmix_8_128", "workq"]);
    let samples = doc["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 2 * 2 * 2, "programs × allocators × repeats");
    for s in samples {
        assert_eq!(s["ok"], true, "failed sample: {s}");
        assert_eq!(s["exit"], 0);
        assert!(
            s["wall_s"].as_f64().unwrap() > 0.0 && s["maxrss_kib"].as_u64().unwrap() > 0,
            "{s}"
        );
        // The program's own peak, not the Python runner's (ru_maxrss survives execve): small programs stay small.
        assert!(s["maxrss_kib"].as_u64().unwrap() < 16 * 1024, "{s}");
    }
    for prog in programs {
        let hashes: Vec<&str> = samples
            .iter()
            .filter(|s| s["program"] == prog)
            .map(|s| s["stdout_sha256"].as_str().unwrap())
            .collect();
        assert!(
            hashes.iter().all(|h| *h == hashes[0]),
            "{prog}: outputs differ: {hashes:?}"
        );
        for a in ["system", "hakmem"] {
            let row = &doc["summary"][prog][a];
            assert_eq!(row["ok"], 2, "{prog} {a}: {row}");
            assert!(
                row["wall_s"].as_f64().is_some() && row["maxrss_kib"].as_f64().is_some(),
                "{row}"
            );
        }
    }
    // No mimalloc in this run: ratios to the best mimalloc are absent, not invented.
    assert!(doc["summary"]["workq"]["hakmem"]["time_ratio"].is_null());
    assert!(doc["geomean"]["real"]["hakmem"]["programs"] == 1);
}

/// An "allocator" that changes what the program prints (a constructor writing to stdout) is caught.
#[test]
fn an_allocator_that_changes_the_output_is_a_failed_sample() {
    let dir = scratch("differs");
    let src = dir.join("noisy.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\n__attribute__((constructor)) static void hi(void) { puts(\"hi\"); }\n",
    )
    .unwrap();
    let so = dir.join("libnoisy.so");
    let st = Command::new("gcc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success());
    let json = dir.join("suite.json");
    let alloc = format!("system,noisy={}", so.display());
    let out = suite(&[
        "--quick",
        "--repeats",
        "1",
        "--only",
        "randmix_8_128",
        "--alloc",
        &alloc,
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let noisy = doc["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["alloc"] == "noisy")
        .unwrap();
    assert_eq!(noisy["ok"], false);
    assert!(
        noisy["reason"].as_str().unwrap().contains("output differs"),
        "{noisy}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAILED: output differs"));
}

#[test]
fn bad_invocations_are_one_line_errors_with_status_2() {
    for args in [
        &["--only", "no_such_program"][..],
        &["--alloc", "nosuch"][..],
        &["--repeats", "0"][..],
    ] {
        let out = suite(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("error: ") && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
}
