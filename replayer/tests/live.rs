//! `hakmem live` end to end: a C program built here run under real allocators, allocators built here that
//! change the program's output, exit status or hang it, `--record` with its fidelity, python3 where present.

use crate::common::{breaker, gcc, s, PROG_C};
use crate::replay::{bundle, hakmem, run, scratch};
use reports::model::Status;
use std::process::Command;

/// Unified Cache hits of a HAKMEM sample's per-box statistics, over the Tiny classes.
fn tiny_hits(smp: &reports::model::Sample) -> u64 {
    smp.box_stats["unified_cache"]
        .iter()
        .filter(|(k, _)| k.starts_with("hits_c"))
        .map(|(_, v)| v)
        .sum()
}

#[test]
fn live_samples_carry_every_field_and_a_changed_result_is_a_failed_sample() {
    let d = scratch("live-fields");
    let prog = gcc(&d, PROG_C, "prog", &[]);
    let out = d.join("bundle");
    let (extra_spec, exit_spec) = (breaker(&d, "EXTRA_OUTPUT"), breaker(&d, "EXIT3"));
    let o = run(&[
        "live",
        "--alloc",
        "system",
        "--alloc",
        "hakmem",
        "--alloc",
        &extra_spec,
        "--alloc",
        &exit_spec,
        "--repeats",
        "2",
        "-o",
        s(&out),
        "--",
        s(&prog),
        "200000",
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "some samples failed: {stdout}");
    let (m, samples) = bundle(&out);
    assert_eq!(m.kind, "live");
    assert_eq!(samples.len(), 8);
    for smp in &samples {
        assert_eq!(smp.kind, "live");
        assert!(smp.workload.starts_with("prog 200000"), "{}", smp.workload);
    }
    for smp in samples
        .iter()
        .filter(|x| x.config == "system" || x.config == "hakmem")
    {
        assert_eq!(smp.status, Some(Status::Ok), "{smp:?}");
        assert!(smp.seconds > 0.0 && (smp.ops_per_sec - 1.0 / smp.seconds).abs() < 1e-9);
        assert!(smp.user_seconds + smp.sys_seconds > 0.0, "{smp:?}");
        assert!((smp.cpu_seconds - smp.user_seconds - smp.sys_seconds).abs() < 1e-9);
        assert!(smp.peak_rss_bytes > 1 << 20, "{smp:?}");
        assert!(smp.minor_faults > 0);
        assert_eq!(smp.exit_code, Some(0));
        assert!(
            smp.stdout_hash.starts_with("sha256:"),
            "{}",
            smp.stdout_hash
        );
        assert!(!smp.cpus.is_empty());
    }
    let sys = samples.iter().find(|x| x.config == "system").unwrap();
    let hak = samples.iter().find(|x| x.config == "hakmem").unwrap();
    assert_eq!(
        sys.stdout_hash, hak.stdout_hash,
        "same program, same output"
    );
    assert_eq!(hak.allocator, "hakmem");
    // HAKMEM's per-box statistics come with its live samples (taken out of the program's stderr); other
    // allocators have none.
    for smp in samples.iter().filter(|x| x.config == "hakmem") {
        assert!(tiny_hits(smp) >= 200_000, "{:?}", smp.box_stats);
        assert!(smp.box_stats["os"]["bytes_mapped"] > 0);
    }
    assert!(samples
        .iter()
        .filter(|x| x.config == "system")
        .all(|x| x.box_stats.is_empty()));
    for smp in samples.iter().filter(|x| x.config == extra_spec) {
        assert_eq!(smp.status, Some(Status::OutputDiffers), "{smp:?}");
        assert!(smp.error.contains("stdout differs"), "{}", smp.error);
    }
    for smp in samples.iter().filter(|x| x.config == exit_spec) {
        assert_eq!(smp.status, Some(Status::OutputDiffers), "{smp:?}");
        assert!(
            smp.error.contains("exit status 3 (under system: 0)"),
            "{}",
            smp.error
        );
    }
    let libhakmem = hakmem().parent().unwrap().join("libhakmem.so");
    assert!(m
        .allocators
        .iter()
        .any(|a| a.config == "hakmem" && a.path == s(&libhakmem)));
    assert!(stdout.contains("output_differs"), "{stdout}");
}

/// A program of several processes (a shell running the program three times, each printing its statistics
/// at exit): the sample carries the statistics of the busiest process, the large run's, not the shell's or
/// the small runs'.
#[test]
fn live_box_stats_are_those_of_the_busiest_process() {
    let d = scratch("live-stats-procs");
    let prog = gcc(&d, PROG_C, "prog", &[]);
    let out = d.join("bundle");
    let script = format!("{} 1000; {} 300000; {} 2000", s(&prog), s(&prog), s(&prog));
    let o = run(&[
        "live",
        "--alloc",
        "hakmem",
        "--repeats",
        "1",
        "-o",
        s(&out),
        "--",
        "/bin/sh",
        "-c",
        &script,
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (_, samples) = bundle(&out);
    let hak = samples.iter().find(|x| x.config == "hakmem").unwrap();
    assert!(tiny_hits(hak) >= 300_000, "{:?}", hak.box_stats);
}

#[test]
fn a_hanging_run_is_killed_at_the_timeout_and_recorded() {
    let d = scratch("live-timeout");
    let prog = gcc(&d, PROG_C, "prog", &[]);
    let out = d.join("bundle");
    let spec = breaker(&d, "HANG");
    let started = std::time::Instant::now();
    let o = run(&[
        "live",
        "--alloc",
        "system",
        "--alloc",
        &spec,
        "--repeats",
        "1",
        "--timeout",
        "1",
        "-o",
        s(&out),
        "--",
        s(&prog),
        "1000",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let (_, samples) = bundle(&out);
    let hung = samples.iter().find(|x| x.config == spec).unwrap();
    assert_eq!(hung.status, Some(Status::Timeout), "{hung:?}");
    assert!(hung.error.contains("timeout"), "{}", hung.error);
    // Not a timing verdict: a hang of 60 s that was not killed would not end before it.
    assert!(started.elapsed().as_secs() < 60);
}

#[test]
fn record_replays_the_recording_into_the_same_bundle_with_its_fidelity() {
    let d = scratch("live-record");
    let prog = gcc(&d, PROG_C, "prog", &[]);
    let out = d.join("bundle");
    let o = run(&[
        "live",
        "--alloc",
        "system",
        "--alloc",
        "hakmem",
        "--repeats",
        "3",
        "--record",
        "--replay-calls",
        "preload,linked",
        "--warmup",
        "-o",
        s(&out),
        "--",
        s(&prog),
        "300000",
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (m, samples) = bundle(&out);
    let live: Vec<_> = samples.iter().filter(|x| x.kind == "live").collect();
    let replay: Vec<_> = samples.iter().filter(|x| x.kind == "replay").collect();
    assert_eq!((live.len(), replay.len()), (6, 12));
    let name = &live[0].workload;
    let rec = m
        .workloads
        .iter()
        .find(|w| w.name == format!("{name} (replay)"))
        .unwrap();
    assert_eq!(&rec.live_workload, name);
    assert!(
        rec.ops >= 600_000,
        "300k mallocs and frees recorded: {}",
        rec.ops
    );
    assert!(m
        .workloads
        .iter()
        .any(|w| w.name == format!("{name} (replay, linked)")));
    // The preloaded replay of hakmem runs libhakmem.so (still `hakmem` in results, with the preload's
    // per-box statistics); the linked one the crate.
    let pre = replay
        .iter()
        .find(|x| x.workload == rec.name && x.config == "hakmem")
        .unwrap();
    assert_eq!(pre.allocator, "hakmem");
    assert!(!pre.box_stats.is_empty(), "{pre:?}");
    assert!(m
        .allocators
        .iter()
        .any(|a| a.config == "hakmem" && a.path.ends_with("/libhakmem.so")));
    assert!(replay
        .iter()
        .any(|x| x.workload.ends_with("linked)") && x.allocator == "hakmem"));
    assert!(stdout.contains("Fidelity of the replay"), "{stdout}");
    // `--warmup` reaches both replays (not the live runs): one note per replay workload.
    let warm = m
        .notes
        .iter()
        .filter(|n| n.contains("replay warm-up:"))
        .count();
    assert_eq!(warm, 2, "{:?}", m.notes);

    // The fidelity object, recomputed by hand from the samples.
    let json = d.join("report.json");
    let o = run(&["report", s(&out), "--export-json", s(&json)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let by_repeat = |kind: &str, wl: &str, c: &str| {
        let mut t: Vec<(u32, f64)> = samples
            .iter()
            .filter(|x| x.kind == kind && x.workload == wl && x.config == c)
            .map(|x| (x.repeat, x.seconds))
            .collect();
        t.sort_by_key(|x| x.0);
        t
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    };
    let med = |kind: &str, wl: &str, c: &str| {
        median(by_repeat(kind, wl, c).iter().map(|x| x.1).collect())
    };
    // Ratios paired by round when both rows have at least 3 rounds in common (every round here), as
    // reports::summary::paired_ratio computes them: the median of the within-round ratios.
    let ratio = |kind: &str, wl: &str| {
        let (a, b) = (by_repeat(kind, wl, "hakmem"), by_repeat(kind, wl, "system"));
        assert_eq!(a.len(), b.len());
        if a.len() >= 3 {
            median(a.iter().zip(&b).map(|(x, y)| x.1 / y.1).collect())
        } else {
            med(kind, wl, "hakmem") / med(kind, wl, "system")
        }
    };
    let (ls, rs) = (
        med("live", name, "system"),
        med("replay", &rec.name, "system"),
    );
    let (lr, rr) = (ratio("live", name), ratio("replay", &rec.name));
    let f = &v["sections"][0]["fidelity"];
    assert_eq!(f["programs"], 1);
    // Two configurations: nothing to calibrate on, the additive model, predicted ratio
    // 1 + s · (rr − 1) with s = replay(system) / live(system), meaningful while it is positive.
    let predicted = 1.0 + rs / ls * (rr - 1.0);
    if predicted > 0.0 {
        let error = (predicted - lr).abs();
        let got = f["ratio_error_median"].as_f64().unwrap();
        assert!((got - error).abs() < 1e-9, "{got} vs hand-computed {error}");
        assert_eq!(f["not_meaningful"], 0);
    } else {
        // The replay's difference exceeds the program's time: no time prediction, said so.
        assert!(f["ratio_error_median"].is_null(), "{f}");
        assert_eq!(f["not_meaningful"], 1);
        assert!(stdout.contains("non-positive time"), "{stdout}");
    }
    let tau = f["kendall_tau"].as_f64().unwrap();
    let same_order = (lr - 1.0).signum() == (rr - 1.0).signum();
    assert_eq!(tau, if same_order { 1.0 } else { -1.0 });
    assert!(f["agree"].as_u64().unwrap() <= f["pairs"].as_u64().unwrap());
}

#[test]
fn a_tiny_program_is_too_short_to_rank() {
    let d = scratch("live-short");
    let prog = gcc(&d, PROG_C, "prog", &[]);
    let out = d.join("bundle");
    let o = run(&[
        "live",
        "--alloc",
        "system",
        "--alloc",
        "hakmem",
        "--repeats",
        "2",
        "--record",
        "-o",
        s(&out),
        "--",
        s(&prog),
        "10",
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{stdout}");
    // Decided by the recorded calls (a few dozen), not by timing: both the live runs and the replay.
    assert_eq!(stdout.matches("too short to rank").count(), 2, "{stdout}");
    // Without `--warmup`, live's replays time their threads' start-up, as the program does.
    let (m, _) = bundle(&out);
    assert!(
        !m.notes.iter().any(|n| n.contains("replay warm-up:")),
        "{:?}",
        m.notes
    );
}

#[test]
fn python3_runs_live_under_hakmem_with_the_same_output() {
    if Command::new("python3").arg("-c").arg("1").output().is_err() {
        eprintln!("python3 not found: skipped");
        return;
    }
    let d = scratch("live-python");
    let out = d.join("bundle");
    let o = Command::new(hakmem())
        .args([
            "live",
            "--alloc",
            "system",
            "--alloc",
            "hakmem",
            "--repeats",
            "1",
            "-o",
        ])
        .arg(&out)
        .args([
            "--",
            "python3",
            "-c",
            "print(sorted(str(i) for i in range(50000))[:3])",
        ])
        .env("PYTHONMALLOC", "malloc")
        .env_remove("LD_PRELOAD")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let (_, samples) = bundle(&out);
    assert!(
        samples.iter().all(|x| x.status == Some(Status::Ok)),
        "{samples:?}"
    );
}

#[test]
fn bad_live_invocations_are_one_line_errors() {
    let d = scratch("live-bad");
    for (args, needle) in [
        (
            vec!["live", "--alloc", "nosuch", "--", "true"],
            "unknown allocator `nosuch`",
        ),
        (
            vec!["live", "--repeats", "0", "--", "true"],
            "repeats must be at least 1; or `auto`",
        ),
        (
            vec!["live", "--stdin", "/no/such/file", "--", "true"],
            "/no/such/file",
        ),
        (
            vec!["live", "--baseline", "jemalloc", "--", "true"],
            "`jemalloc` is not one of the configurations",
        ),
        (vec!["live", "--", "/no/such/program"], "/no/such/program"),
    ] {
        let mut a = args.clone();
        let o_dir = d.join("b");
        a.splice(1..1, ["-o", s(&o_dir)]);
        let o = run(&a);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
