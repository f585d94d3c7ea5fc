//! `scripts/fidelity.sh`, the fidelity table of issue 10, on one small program of the suite (`--quick`): it runs
//! `hakmem live --record` under `system` and `hakmem`, then the independent measurement (`/usr/bin/time` of the
//! same command under the same preloads), and prints both tables. Shapes and outputs only: timings never
//! decide a verdict here.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `target/` of this build: the test binary is `target/<profile>/deps/tests-HASH`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

#[test]
fn quick_fidelity_of_one_program_prints_the_prediction_and_the_usr_bin_time_comparison() {
    let target = target_dir();
    for f in ["release/hakmem", "release/libhakmem.so"] {
        assert!(
            target.join(f).is_file(),
            "{} is missing: run `cargo build --release --workspace` first",
            target.join(f).display()
        );
    }
    let built = Command::new(repo().join("bench/build.sh"))
        .arg("--no-data")
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(built.status.success(), "bench/build.sh failed: {built:?}");
    let out_dir = std::env::temp_dir().join(format!("hakmem-fidelity-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    let out = Command::new(repo().join("scripts/fidelity.sh"))
        .args(["--quick", "--no-build", "--repeats", "2", "--only", "workq"])
        .args(["--alloc", "system,hakmem", "--out"])
        .arg(&out_dir)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("LD_PRELOAD")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "fidelity.sh failed: {out:?}\n{stdout}\n{stderr}"
    );
    for needle in [
        "Fidelity of `hakmem live --record` (2 repeats; system, hakmem;",
        "\nworkq ",
        "hakmem live vs /usr/bin/time",
        "\nworkq      hakmem ",
        "within 5% (target)",
    ] {
        assert!(
            stdout.contains(needle),
            "no {needle:?} in:\n{stdout}\n{stderr}"
        );
    }
    // The independent runs: 2 rounds × 2 allocators, every one with the system run's output.
    let log = std::fs::read_to_string(out_dir.join("workq/independent.jsonl")).unwrap();
    let runs: Vec<&str> = log.lines().collect();
    assert_eq!(runs.len(), 4, "{log}");
    assert!(runs.iter().all(|l| l.contains("\"ok\": true")), "{log}");
    assert_eq!(
        runs.iter()
            .filter(|l| l.contains("\"alloc\": \"hakmem\""))
            .count(),
        2
    );
    let _ = std::fs::remove_dir_all(&out_dir);
}

#[test]
fn agreement_alternates_live_rounds_and_usr_bin_time_rounds() {
    let target = target_dir();
    let built = Command::new(repo().join("bench/build.sh"))
        .arg("--no-data")
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(built.status.success(), "bench/build.sh failed: {built:?}");
    let out_dir =
        std::env::temp_dir().join(format!("hakmem-agreement-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    let out = Command::new(repo().join("scripts/fidelity.sh"))
        .args([
            "--quick",
            "--no-build",
            "--agreement",
            "--repeats",
            "2",
            "--only",
            "workq",
        ])
        .args(["--alloc", "system,hakmem", "--out"])
        .arg(&out_dir)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("LD_PRELOAD")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fidelity.sh --agreement failed: {out:?}"
    );
    assert!(stdout.contains("alternating round by round"), "{stdout}");
    assert!(stdout.contains("\nworkq      hakmem "), "{stdout}");
    // No recording and no fidelity table: only the comparison.
    assert!(!stdout.contains("Fidelity of"), "{stdout}");
    for r in 0..2 {
        let live =
            std::fs::read_to_string(out_dir.join(format!("workq/live-{r}/samples.jsonl"))).unwrap();
        assert_eq!(
            live.lines().count(),
            2,
            "one live sample per allocator: {live}"
        );
    }
    let log = std::fs::read_to_string(out_dir.join("workq/independent.jsonl")).unwrap();
    let repeats: Vec<&str> = log
        .lines()
        .map(|l| &l[l.find("\"repeat\"").unwrap()..][..11])
        .collect();
    assert_eq!(
        repeats,
        [
            "\"repeat\": 0",
            "\"repeat\": 0",
            "\"repeat\": 1",
            "\"repeat\": 1"
        ],
        "{log}"
    );
    assert!(log.lines().all(|l| l.contains("\"ok\": true")), "{log}");
    let _ = std::fs::remove_dir_all(&out_dir);
}
