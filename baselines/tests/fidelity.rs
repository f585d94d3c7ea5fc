//! `scripts/fidelity.sh`, the fidelity table of issue 10, on one small program of the suite (`--quick`): it runs
//! `hakmem live --record` under `system` and `hakmem`, then the independent measurement (`/usr/bin/time` of the
//! same command under the same preloads), and prints both tables; `--agreement` alternates live and
//! `/usr/bin/time` rounds. Shapes and outputs only: timings never decide a verdict here.

use std::path::PathBuf;
use std::process::Command;

use crate::{repo, target_dir};

/// Runs `scripts/fidelity.sh --quick --no-build --repeats 2 --only workq --alloc system,hakmem ARGS` into a
/// fresh directory (the suite's programs built first); returns its stdout and the directory.
fn fidelity(args: &[&str], name: &str) -> (String, PathBuf) {
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
    let dir = std::env::temp_dir().join(format!("hakmem-{name}-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(repo().join("scripts/fidelity.sh"))
        .args(["--quick", "--no-build", "--repeats", "2", "--only", "workq"])
        .args(["--alloc", "system,hakmem"])
        .args(args)
        .arg("--out")
        .arg(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .env_remove("LD_PRELOAD")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "fidelity.sh {args:?} failed: {out:?}\n{stdout}\n{stderr}"
    );
    (stdout, dir)
}

/// The /usr/bin/time runs of workq: 2 rounds × 2 allocators, in round order, each with the system run's output.
fn check_independent_log(dir: &std::path::Path) {
    let log = std::fs::read_to_string(dir.join("workq/independent.jsonl")).unwrap();
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
    assert_eq!(
        log.lines()
            .filter(|l| l.contains("\"alloc\": \"hakmem\""))
            .count(),
        2
    );
}

#[test]
fn quick_fidelity_of_one_program_prints_the_prediction_and_the_usr_bin_time_comparison() {
    let (stdout, dir) = fidelity(&[], "fidelity");
    for needle in [
        "Fidelity of `hakmem live --record` (2 repeats; system, hakmem;",
        "\nworkq ",
        "hakmem live vs /usr/bin/time",
        "run right after",
        "\nworkq      hakmem ",
        "within 5% (target)",
    ] {
        assert!(stdout.contains(needle), "no {needle:?} in:\n{stdout}");
    }
    check_independent_log(&dir);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn agreement_alternates_live_rounds_and_usr_bin_time_rounds() {
    let (stdout, dir) = fidelity(&["--agreement"], "agreement");
    assert!(stdout.contains("alternating round by round"), "{stdout}");
    assert!(stdout.contains("\nworkq      hakmem "), "{stdout}");
    // No recording and no fidelity table: only the comparison.
    assert!(!stdout.contains("Fidelity of"), "{stdout}");
    for r in 0..2 {
        let live =
            std::fs::read_to_string(dir.join(format!("workq/live-{r}/samples.jsonl"))).unwrap();
        assert_eq!(
            live.lines().count(),
            2,
            "one live sample per allocator: {live}"
        );
    }
    check_independent_log(&dir);
    let _ = std::fs::remove_dir_all(&dir);
}
