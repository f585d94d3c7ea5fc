//! `hakmem bench` end to end: the live loops in real child processes, the same bundle as replay, and the
//! same op sequence as the generated workload.

use super::replay::{bundle, run, run_ok, scratch};
use reports::model::Status;

#[test]
fn live_random_mixed_makes_the_same_calls_as_the_generated_workload() {
    let d = scratch("bench-rm");
    let out = d.join("live");
    let o = run_ok(&[
        "bench",
        "random-mixed",
        "30000",
        "64",
        "7",
        "--min",
        "8",
        "--max",
        "128",
        "--alloc",
        "system",
        "--alloc",
        "mimalloc",
        "--alloc",
        "hakmem",
        "--repeats",
        "2",
        "-o",
        out.to_str().unwrap(),
    ]);
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("ratio") && table.contains("mimalloc"),
        "{table}"
    );
    let (m, live) = bundle(&out);
    assert_eq!(m.kind, "bench");
    assert_eq!(live.len(), 6);
    let w = d.join("w.hkw");
    run_ok(&[
        "gen",
        "random-mixed",
        "--iters",
        "30000",
        "--ws",
        "64",
        "--seed",
        "7",
        "--min",
        "8",
        "--max",
        "128",
        "-o",
        w.to_str().unwrap(),
    ]);
    let replayed = d.join("replayed");
    run_ok(&[
        "replay",
        w.to_str().unwrap(),
        "--alloc",
        "system",
        "--repeats",
        "1",
        "-o",
        replayed.to_str().unwrap(),
    ]);
    let (rm, rs) = bundle(&replayed);
    for s in &live {
        assert_eq!(s.status, Some(Status::Ok), "{s:?}");
        assert_eq!(
            s.ops, rm.workloads[0].ops,
            "live ops = the workload's ops ({})",
            s.config
        );
        assert_eq!(s.ops, rs[0].ops);
        assert!(s.latency_ns["malloc"].samples > 0);
    }
}

#[test]
fn bench_size_range_comes_from_the_memo_environment_unless_flags_say_otherwise() {
    let d = scratch("bench-env");
    let out = d.join("b");
    let o = std::process::Command::new(super::replay::hakmem())
        .args([
            "bench",
            "random-mixed",
            "1000",
            "16",
            "1",
            "--alloc",
            "system",
            "--repeats",
            "1",
            "--max",
            "300",
        ])
        .arg("-o")
        .arg(&out)
        .env("HAKMEM_BENCH_MIN_SIZE", "129")
        .env("HAKMEM_BENCH_MAX_SIZE", "1024")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (m, _) = bundle(&out);
    assert!(
        m.workloads[0].name.contains("min=129,max=300"),
        "{}",
        m.workloads[0].name
    );
    let bad = run(&[
        "bench",
        "random-mixed",
        "10",
        "--min",
        "50",
        "--max",
        "10",
        "--alloc",
        "system",
    ]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).starts_with("error: "));
}

#[test]
fn producer_consumer_frees_every_block_in_the_other_thread_on_every_backend() {
    let d = scratch("bench-pc");
    let out = d.join("b");
    run_ok(&[
        "bench",
        "producer-consumer",
        "50000",
        "--alloc",
        "system",
        "--alloc",
        "mimalloc",
        "--alloc",
        "hakmem",
        "--repeats",
        "1",
        "-o",
        out.to_str().unwrap(),
    ]);
    let (m, samples) = bundle(&out);
    assert_eq!(m.workloads[0].threads, 2);
    assert_eq!(samples.len(), 3);
    for s in &samples {
        assert_eq!(s.status, Some(Status::Ok), "{s:?}");
        assert_eq!(s.ops, 100_000);
        assert_eq!(s.cpus.len(), 2, "two threads get two cores: {s:?}");
        if s.allocator == "hakmem" {
            let remote = s
                .box_stats
                .get("gatekeeper")
                .and_then(|g| g.get("remote_frees"))
                .copied();
            assert_eq!(
                remote,
                Some(50_000),
                "every free is remote: {:?}",
                s.box_stats.get("gatekeeper")
            );
        }
    }
}

#[test]
fn callgrind_counts_instructions_per_op_with_setup_subtracted() {
    let o = run(&[
        "bench",
        "random-mixed",
        "20000",
        "64",
        "3",
        "--callgrind",
        "--alloc",
        "mimalloc",
        "--alloc",
        "hakmem",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "needs valgrind (Debian: apt-get install valgrind): {text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for config in ["mimalloc", "hakmem"] {
        let line = text
            .lines()
            .find(|l| l.starts_with(config))
            .unwrap_or_else(|| panic!("no {config} row: {text}"));
        // Counts are printed with thousands separators (`1,234,567`), as in every table.
        let cols: Vec<String> = line
            .split_whitespace()
            .map(|c| c.replace(',', ""))
            .collect();
        let (total, setup, ops, per_op): (u64, u64, u64, f64) = (
            cols[1].parse().unwrap(),
            cols[2].parse().unwrap(),
            cols[3].parse().unwrap(),
            cols[4].parse().unwrap(),
        );
        assert!(total > setup && ops >= 20_000, "{line}");
        assert!(
            per_op > 10.0 && per_op < 10_000.0,
            "implausible Ir/op: {line}"
        );
        assert!(
            (per_op - (total - setup) as f64 / ops as f64).abs() < 0.1,
            "{line}"
        );
    }
}
