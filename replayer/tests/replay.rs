//! `hakmem replay` end to end: real workloads from `hakmem gen`, real child processes, every backend,
//! allocators built here with gcc that crash, hang or break the malloc contract, and bad input.

use reports::model::{Manifest, Sample, Status};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `hakmem` binary under test.
pub fn hakmem() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hakmem"))
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("replayer-tests")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `hakmem ARGS…` and returns its output.
pub fn run(args: &[&str]) -> Output {
    Command::new(hakmem())
        .args(args)
        .env_remove("LD_PRELOAD")
        .output()
        .expect("cannot run hakmem")
}

/// Runs `hakmem ARGS…` and insists on success.
pub fn run_ok(args: &[&str]) -> Output {
    let out = run(args);
    assert!(
        out.status.success(),
        "hakmem {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Reads a bundle's manifest and samples.
pub fn bundle(dir: &Path) -> (Manifest, Vec<Sample>) {
    let m = std::fs::read_to_string(dir.join("manifest.json")).expect("bundle has a manifest");
    let s = std::fs::read_to_string(dir.join("samples.jsonl")).expect("bundle has samples");
    (
        serde_json::from_str(&m).unwrap(),
        s.lines()
            .map(|l| serde_json::from_str(l).expect("a sample line parses"))
            .collect(),
    )
}

/// `libhakmem.so`, built by `cargo build --release --workspace` next to the `hakmem` binary.
fn libhakmem() -> PathBuf {
    let p = hakmem().parent().unwrap().join("libhakmem.so");
    assert!(
        p.is_file(),
        "{} is missing: run `cargo build --release --workspace` first (the CI command does)",
        p.display()
    );
    p
}

const BAD_ALLOCATOR_C: &str = r#"
/* Deliberately broken allocators, one per -D mode, preloaded over glibc. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <malloc.h>
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
static unsigned long calls;
#ifdef MODE_CTOR_ABORT
__attribute__((constructor)) static void die(void) { abort(); }
#endif
void *malloc(size_t n) {
    calls++;
#ifdef MODE_CRASH
    if (calls > 20000) raise(SIGSEGV);
#endif
#ifdef MODE_SLEEP
    if (calls > 20000) for (;;) sleep(1000);
#endif
#ifdef MODE_OVERLAP
    /* sizes 3001..3009 (the harness never asks for them): every 4th returns the previous block again */
    static void *last;
    if (n >= 3001 && n <= 3009) {
        if (last && calls % 4 == 0) return last;
        last = __libc_malloc(n);
        return last;
    }
#endif
    return __libc_malloc(n);
}
void free(void *p) {
#ifdef MODE_OVERLAP
    if (p && malloc_usable_size(p) >= 3001 && malloc_usable_size(p) <= 3040) return;
#endif
    __libc_free(p);
}
"#;

/// Builds the broken allocator `mode` (CRASH, SLEEP, OVERLAP, CTOR_ABORT) with gcc.
pub fn bad_allocator(dir: &Path, mode: &str) -> PathBuf {
    let src = dir.join("bad.c");
    std::fs::write(&src, BAD_ALLOCATOR_C).unwrap();
    let so = dir.join(format!("bad_{mode}.so"));
    let st = Command::new("gcc")
        .args(["-shared", "-fPIC", "-O1", &format!("-DMODE_{mode}"), "-o"])
        .arg(&so)
        .arg(&src)
        .status()
        .expect("gcc is needed to build the test allocators (Debian: apt-get install gcc)");
    assert!(st.success(), "gcc failed to build {}", so.display());
    so
}

/// Writes the memo's random-mixed workload of `iters` steps (the generator's other defaults) to `path`.
pub fn gen_random_mixed(path: &Path, iters: u64) {
    let iters = iters.to_string();
    run_ok(&[
        "gen",
        "random-mixed",
        "--iters",
        &iters,
        "-o",
        path.to_str().unwrap(),
    ]);
}

/// Writes a `gen threads` workload (`threads` threads, `iters` iterations each, default remote share).
pub fn gen_threads(path: &Path, threads: u32, iters: u64) {
    let (threads, iters) = (threads.to_string(), iters.to_string());
    run_ok(&[
        "gen",
        "threads",
        "--threads",
        &threads,
        "--iters",
        &iters,
        "-o",
        path.to_str().unwrap(),
    ]);
}

fn ops_of(m: &Manifest, workload: &str) -> u64 {
    m.workloads
        .iter()
        .find(|w| w.name == workload)
        .expect("workload in manifest")
        .ops
}

#[test]
fn multithreaded_workloads_with_sync_points_replay_on_every_backend() {
    let d = scratch("mt");
    let pc = d.join("pc.hkw");
    let th = d.join("th.hkw");
    run_ok(&[
        "gen",
        "producer-consumer",
        "--items",
        "20000",
        "-o",
        pc.to_str().unwrap(),
    ]);
    run_ok(&[
        "gen",
        "threads",
        "--threads",
        "3",
        "--iters",
        "20000",
        "--remote",
        "0.3",
        "-o",
        th.to_str().unwrap(),
    ]);
    let lib = libhakmem();
    let preload = format!("preload:{}", lib.display());
    let out = d.join("bundle");
    // Linked calls for `hakmem` and `mimalloc`, and the same libhakmem.so preloaded beside them.
    run_ok(&[
        "replay",
        pc.to_str().unwrap(),
        th.to_str().unwrap(),
        "--calls",
        "linked",
        "--alloc",
        "system",
        "--alloc",
        "mimalloc",
        "--alloc",
        "hakmem",
        "--alloc",
        &preload,
        "--repeats",
        "1",
        "--timeout",
        "60",
        "-o",
        out.to_str().unwrap(),
    ]);
    let (m, samples) = bundle(&out);
    assert_eq!(samples.len(), 8);
    assert_eq!(
        m.workloads.iter().map(|w| w.threads).collect::<Vec<_>>(),
        [2, 3]
    );
    assert!(m
        .workloads
        .iter()
        .all(|w| w.hash.starts_with("sha256:") && w.ops > 0));
    for s in &samples {
        assert_eq!(s.status, Some(Status::Ok), "{s:?}");
        assert_eq!(
            s.ops,
            ops_of(&m, &s.workload),
            "replayed ops of {} on {}",
            s.workload,
            s.config
        );
        assert!(s.ops_per_sec > 0.0 && s.peak_rss_bytes > 0 && s.post_rss_bytes > 0);
        assert!(
            s.latency_ns.contains_key("malloc") && s.latency_ns.contains_key("free"),
            "{s:?}"
        );
        // The preloaded libhakmem.so reports its per-box statistics through `hakmem_stats_snapshot`.
        assert_eq!(
            s.allocator == "hakmem" || s.config.ends_with("libhakmem.so"),
            !s.box_stats.is_empty(),
            "box stats for hakmem, linked or preloaded: {s:?}"
        );
    }
    for w in ["pc", "th"] {
        let of = |preloaded: bool| {
            samples
                .iter()
                .find(|s| {
                    (s.workload == w || s.workload.ends_with(&format!("{w}.hkw")))
                        && (s.config.ends_with("libhakmem.so") == preloaded)
                        && (preloaded || s.allocator == "hakmem")
                })
                .unwrap()
        };
        let (linked, preloaded) = (of(false), of(true));
        let names = |s: &Sample| -> Vec<(String, Vec<String>)> {
            s.box_stats
                .iter()
                .map(|(b, m)| (b.clone(), m.keys().cloned().collect()))
                .collect()
        };
        assert_eq!(
            names(linked),
            names(preloaded),
            "the same counters either way"
        );
        let total: u64 = preloaded.box_stats.values().flat_map(|m| m.values()).sum();
        assert!(total > 0, "{:?}", preloaded.box_stats);
    }
}

#[test]
fn check_catches_overlapping_blocks_of_a_broken_allocator() {
    let d = scratch("check");
    let so = bad_allocator(&d, "OVERLAP");
    let w = d.join("w.hkw");
    run_ok(&[
        "gen",
        "random-mixed",
        "--iters",
        "4000",
        "--ws",
        "16",
        "--min",
        "3001",
        "--max",
        "3009",
        "-o",
        w.to_str().unwrap(),
    ]);
    let out = d.join("bundle");
    let bad = format!("preload:{}", so.display());
    let o = run(&[
        "replay",
        w.to_str().unwrap(),
        "--check",
        "--alloc",
        &bad,
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
    assert_eq!(
        o.status.code(),
        Some(1),
        "a failed check makes the exit code 1"
    );
    let (m, samples) = bundle(&out);
    assert!(m.check);
    for s in &samples {
        if s.config == bad {
            assert_eq!(s.status, Some(Status::CheckFailed), "{s:?}");
            assert!(
                s.violations.iter().any(|v| v.contains("overlapping")),
                "{:?}",
                s.violations
            );
        } else {
            assert_eq!(s.status, Some(Status::Ok), "{s:?}");
            assert!(s.violations.is_empty());
        }
        assert_eq!(s.ops, ops_of(&m, "w"));
    }
}

#[test]
fn crashing_hanging_and_unloadable_preloads_are_failed_samples_and_the_rest_goes_on() {
    let d = scratch("crash");
    let w = d.join("w.hkw");
    gen_random_mixed(&w, 100000);
    let crash = format!("preload:{}", bad_allocator(&d, "CRASH").display());
    let hang = format!("preload:{}", bad_allocator(&d, "SLEEP").display());
    let ctor = format!("preload:{}", bad_allocator(&d, "CTOR_ABORT").display());
    let out = d.join("bundle");
    let o = run(&[
        "replay",
        w.to_str().unwrap(),
        "--alloc",
        &crash,
        "--alloc",
        &hang,
        "--alloc",
        &ctor,
        "--alloc",
        "system",
        "--timeout",
        "4",
        "--repeats",
        "1",
        "--jobs",
        "2",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let (_, samples) = bundle(&out);
    let by = |c: &str| {
        samples
            .iter()
            .find(|s| s.config == c)
            .unwrap_or_else(|| panic!("no sample for {c}"))
    };
    assert_eq!(by(&crash).status, Some(Status::Crashed));
    assert!(by(&crash).error.contains("SIGSEGV"), "{}", by(&crash).error);
    assert_eq!(by(&hang).status, Some(Status::Timeout));
    assert_eq!(by(&ctor).status, Some(Status::Crashed));
    assert!(by(&ctor).error.contains("SIGABRT"), "{}", by(&ctor).error);
    assert_eq!(by("system").status, Some(Status::Ok));
    let table = String::from_utf8_lossy(&o.stdout);
    assert!(
        table.contains("timeout") && table.contains("SIGSEGV"),
        "{table}"
    );
}

#[test]
fn a_corrupt_workload_is_reported_and_the_others_still_run() {
    let d = scratch("corrupt");
    let good = d.join("good.hkw");
    gen_random_mixed(&good, 10000);
    let bytes = std::fs::read(&good).unwrap();
    let truncated = d.join("truncated.hkw");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let garbage = d.join("garbage.hkw");
    std::fs::write(&garbage, b"this is not a workload").unwrap();
    let out = d.join("bundle");
    let o = run(&[
        "replay",
        garbage.to_str().unwrap(),
        truncated.to_str().unwrap(),
        good.to_str().unwrap(),
        "--alloc",
        "system",
        "--repeats",
        "1",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("error: workload")
            && err.contains("garbage.hkw")
            && err.contains("truncated.hkw"),
        "{err}"
    );
    let (_, samples) = bundle(&out);
    let st = |w: &str| samples.iter().find(|s| s.workload == w).unwrap().status;
    assert_eq!(st("garbage"), Some(Status::Error));
    assert_eq!(st("truncated"), Some(Status::Error));
    assert_eq!(st("good"), Some(Status::Ok));
}

#[test]
fn bad_specs_are_one_clear_error_before_any_child_runs() {
    let d = scratch("specs");
    let w = d.join("w.hkw");
    gen_random_mixed(&w, 1000);
    let cases: &[(&str, &[&str])] = &[
        (
            "preload:/no/such/lib.so",
            &["/no/such/lib.so", "No such file"],
        ),
        (
            "nosuchalloc",
            &[
                "unknown allocator `nosuchalloc`",
                "mimalloc",
                "preload:PATH.so",
            ],
        ),
        (
            "hakmem:HAKMEM_NO_SUCH_KNOB=1",
            &["HAKMEM_NO_SUCH_KNOB", "HAKMEM_TINY_UNIFIED_C7"],
        ),
        (
            "hakmem:HAKMEM_TINY_UNIFIED_C7=lots",
            &["lots", "HAKMEM_TINY_UNIFIED_C7"],
        ),
    ];
    for (spec, needles) in cases {
        let out = d.join("bundle");
        let o = run(&[
            "replay",
            w.to_str().unwrap(),
            "--alloc",
            spec,
            "-o",
            out.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{spec}: {err}");
        assert!(
            err.starts_with("error: ") && err.lines().count() == 1,
            "{spec}: {err}"
        );
        for n in *needles {
            assert!(err.contains(n), "{spec}: {err:?} lacks {n:?}");
        }
        assert!(!out.exists(), "no bundle for a run that did not start");
    }
}

#[test]
fn a_sweep_expands_into_labelled_configurations_and_export_json_goes_to_stdout() {
    let d = scratch("sweep");
    let w = d.join("w.hkw");
    gen_random_mixed(&w, 20000);
    let out = d.join("bundle");
    let o = run_ok(&[
        "replay",
        w.to_str().unwrap(),
        "--alloc",
        "hakmem:HAKMEM_TINY_UNIFIED_C7=64|256,HAKMEM_TINY_REFILL_BATCH=16|32",
        "--repeats",
        "2",
        "--touch",
        "all",
        "--export-json",
        "-",
        "-o",
        out.to_str().unwrap(),
    ]);
    let doc: serde_json::Value =
        serde_json::from_slice(&o.stdout).expect("stdout is the exported JSON");
    let (m, samples) = bundle(&out);
    assert_eq!(doc["samples"].as_array().unwrap().len(), 8);
    assert_eq!(m.allocators.len(), 4);
    assert_eq!(m.touch, "all");
    let c = &m.allocators[1];
    assert_eq!(
        c.config,
        "hakmem:HAKMEM_TINY_UNIFIED_C7=64,HAKMEM_TINY_REFILL_BATCH=32"
    );
    assert_eq!(
        c.knobs.get("HAKMEM_TINY_REFILL_BATCH").map(String::as_str),
        Some("32")
    );
    // Repeats are interleaved: the first four samples started are repeat 0 of each configuration.
    assert!(samples.iter().all(|s| s.status == Some(Status::Ok)));
    let mut first: Vec<&str> = samples
        .iter()
        .filter(|s| s.repeat == 0)
        .map(|s| s.config.as_str())
        .collect();
    first.sort();
    first.dedup();
    assert_eq!(first.len(), 4);
}

#[test]
fn samples_carry_the_harness_baseline_rss_and_the_table_shows_the_heap_peak() {
    let d = scratch("baseline-rss");
    let w = d.join("rm.hkw");
    run_ok(&[
        "gen",
        "random-mixed",
        "--iters",
        "400000",
        "--ws",
        "4096",
        "--min",
        "1024",
        "--max",
        "8192",
        "-o",
        w.to_str().unwrap(),
    ]);
    let out = d.join("bundle");
    let o = run_ok(&[
        "replay",
        w.to_str().unwrap(),
        "--alloc",
        "hakmem",
        "--alloc",
        "mimalloc",
        "--repeats",
        "1",
        "--touch",
        "all",
        "--timeout",
        "60",
        "-o",
        out.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("heap peak"), "{stdout}");
    let (m, samples) = bundle(&out);
    let info = &m.workloads[0];
    assert_eq!(samples.len(), 2);
    for s in &samples {
        assert_eq!(s.status, Some(Status::Ok), "{s:?}");
        assert!(s.baseline_rss_bytes > 0, "{s:?}");
        assert!(
            s.peak_rss_bytes >= s.baseline_rss_bytes,
            "peak {} < baseline {} on {}",
            s.peak_rss_bytes,
            s.baseline_rss_bytes,
            s.config
        );
        // The baseline holds the decoded workload (16 bytes per op), resident before the timed region.
        assert!(
            s.baseline_rss_bytes >= 16 * info.ops,
            "baseline {} below the decoded ops ({} ops) on {}",
            s.baseline_rss_bytes,
            info.ops,
            s.config
        );
        // With every byte touched, the allocator's own peak holds (most of) the peak live bytes.
        let heap = s.peak_rss_bytes - s.baseline_rss_bytes;
        assert!(
            heap >= info.peak_live_bytes / 2,
            "heap peak {heap} vs peak live {} on {}",
            info.peak_live_bytes,
            s.config
        );
    }
}

/// `--warmup` takes its value only after `=`: a workload path right after it stays the workload.
#[test]
fn warmup_flag_does_not_swallow_the_workload() {
    let d = scratch("warmup-flag");
    let w = d.join("w.hkw");
    gen_random_mixed(&w, 2000);
    for flag in ["--warmup", "--warmup=false"] {
        let out = d.join(flag.trim_start_matches('-').replace('=', "-"));
        let o = run_ok(&[
            "replay",
            flag,
            w.to_str().unwrap(),
            "--alloc",
            "system",
            "--repeats",
            "1",
            "-o",
            out.to_str().unwrap(),
        ]);
        let (m, samples) = bundle(&out);
        assert_eq!(samples.len(), 1, "{}", String::from_utf8_lossy(&o.stderr));
        let noted = m.notes.iter().any(|n| n.starts_with("replay warm-up:"));
        assert_eq!(noted, flag == "--warmup", "{flag}: {:?}", m.notes);
    }
    let bad = run(&["replay", "--warmup=maybe", w.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(2));
}

/// `--pace NS` end to end: every op of the paced replay is replayed and the manifest notes the pacing;
/// `off` replays without the note; a bad value is a usage error. How long the waits take is not asserted
/// here (timing never decides a test; a CI run on a busy machine saw the waits 13 % shorter than
/// calibrated): the engine's tests check the calibration's arithmetic (`pace_calibration_covers_the_requested_wait`)
/// and that a paced replay makes every call (`a_paced_replay_makes_every_call_with_its_sync_points`).
#[test]
fn a_paced_replay_replays_every_op_and_notes_its_pacing() {
    let d = scratch("pace");
    let w = d.join("w.hkw");
    gen_random_mixed(&w, 2000);
    for pace in ["off", "100000"] {
        let out = d.join(pace);
        let o = run_ok(&[
            "replay",
            w.to_str().unwrap(),
            "--alloc",
            "system",
            "--repeats",
            "1",
            "--pace",
            pace,
            "-o",
            out.to_str().unwrap(),
        ]);
        let (m, samples) = bundle(&out);
        assert_eq!(samples.len(), 1, "{}", String::from_utf8_lossy(&o.stderr));
        let s = &samples[0];
        assert_eq!(s.status, Some(Status::Ok), "{}", s.error);
        assert_eq!(s.ops, ops_of(&m, &s.workload));
        let note = m.notes.iter().find(|n| n.starts_with("replay pacing:"));
        if pace == "off" {
            assert!(note.is_none(), "{:?}", m.notes);
        } else {
            assert!(note.unwrap().contains("100000 ns"), "{note:?}");
        }
    }
    for bad in ["fast", "-1", "1e9"] {
        let o = run(&["replay", "--pace", bad, w.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "--pace {bad}");
    }
}

/// `--walk N` end to end: a walk after every allocation of a random-mixed workload (which frees every
/// block it allocates: allocations = ops / 2) makes one walk per allocation, reads the same number of
/// blocks under every allocator (the count is the workload's, not the allocator's), the same again
/// with a several-thread workload whose shared slots are not walked, notes the mode in the manifest
/// and each sample; `off` walks nothing and notes nothing; 0 and garbage are usage errors.
#[test]
fn walks_are_counted_the_same_under_every_allocator_and_noted() {
    let d = scratch("walk");
    let w = d.join("w.hkw");
    gen_random_mixed(&w, 3000);
    let t = d.join("t.hkw");
    gen_threads(&t, 2, 3000);
    for walk in ["off", "1", "5"] {
        let out = d.join(walk);
        let o = run_ok(&[
            "replay",
            w.to_str().unwrap(),
            t.to_str().unwrap(),
            "--alloc",
            "system",
            "--alloc",
            "mimalloc",
            "--alloc",
            "hakmem",
            "--repeats",
            "2",
            "--walk",
            walk,
            "-o",
            out.to_str().unwrap(),
        ]);
        let (m, samples) = bundle(&out);
        assert_eq!(samples.len(), 12, "{}", String::from_utf8_lossy(&o.stderr));
        let note = m.notes.iter().find(|n| n.starts_with("replay walks:"));
        for workload in ["w", "t"] {
            let of: Vec<&Sample> = samples.iter().filter(|s| s.workload == workload).collect();
            assert_eq!(of.len(), 6);
            for s in &of {
                assert_eq!(s.status, Some(Status::Ok), "{}", s.error);
                assert_eq!(
                    (s.walk, s.walks, s.walked_blocks),
                    (of[0].walk, of[0].walks, of[0].walked_blocks),
                    "{} against {}",
                    s.config,
                    of[0].config
                );
            }
            let s = of[0];
            match walk {
                "off" => assert_eq!((s.walk, s.walks, s.walked_blocks), (0, 0, 0)),
                "1" => {
                    assert_eq!(s.walk, 1);
                    if workload == "w" {
                        assert_eq!(s.walks, ops_of(&m, "w") / 2);
                    }
                    assert!(s.walked_blocks >= s.walks, "{s:?}");
                }
                _ => {
                    assert_eq!(s.walk, 5);
                    assert!(s.walks > 0 && s.walked_blocks > 0, "{s:?}");
                }
            }
        }
        if walk == "off" {
            assert!(note.is_none(), "{:?}", m.notes);
        } else {
            assert!(
                note.unwrap().contains(&format!("every {walk} allocations")),
                "{note:?}"
            );
        }
    }
    for bad in ["0", "often", "-1", "1.5", "3e9"] {
        let o = run(&["replay", &format!("--walk={bad}"), w.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "--walk {bad}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(
            e.contains("--walk") && e.contains("allocations between walks"),
            "{e}"
        );
        let o = run(&["live", &format!("--walk={bad}"), "--", "true"]);
        assert_eq!(o.status.code(), Some(2), "live --walk {bad}");
    }
}

#[test]
fn repeats_auto_runs_whole_rounds_between_five_and_the_cap() {
    let d = scratch("auto");
    let w = d.join("w.hkw");
    gen_random_mixed(&w, 20000);
    let out = d.join("bundle");
    let o = run_ok(&[
        "replay",
        w.to_str().unwrap(),
        "--alloc",
        "system",
        "--alloc",
        "mimalloc",
        "--repeats",
        "auto",
        "--max-repeats",
        "7",
        "-o",
        out.to_str().unwrap(),
    ]);
    let (m, samples) = bundle(&out);
    let per = |c: &str| samples.iter().filter(|s| s.config == c).count();
    // Whatever the timings, each round runs every configuration once: 5 to 7 rounds.
    assert_eq!(per("system"), per("mimalloc"));
    assert!((5..=7).contains(&per("system")), "{} rounds", per("system"));
    let mut repeats: Vec<u32> = samples.iter().map(|s| s.repeat).collect();
    repeats.sort_unstable();
    repeats.dedup();
    assert_eq!(repeats, (0..per("system") as u32).collect::<Vec<_>>());
    let note = m
        .notes
        .iter()
        .find(|n| n.starts_with("--repeats auto:"))
        .expect("a note says why the rounds stopped");
    let stopped_at_cap = note.contains("cap of 7");
    assert_eq!(stopped_at_cap, per("system") == 7, "{note}");
    // Warm-up is the replay default, and the manifest says so.
    assert!(
        m.notes.iter().any(|n| n.starts_with("replay warm-up:")),
        "{:?}",
        m.notes
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("--repeats auto:"));
    let bad = run(&["replay", w.to_str().unwrap(), "--repeats", "sometimes"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// `hakmem replay` calls every allocator the way programs do unless told otherwise: `hakmem` and `mimalloc`
/// go through their preloaded libraries (the manifest names the file), HAKMEM's rows stay HAKMEM's (its
/// per-box statistics come through the preload); `--calls linked` links them into the harness instead.
#[test]
fn replay_preloads_every_allocator_by_default_and_links_them_on_request() {
    let d = scratch("calls");
    let w = d.join("rm.hkw");
    gen_random_mixed(&w, 20000);
    for (calls, preloaded) in [(None, true), (Some("linked"), false)] {
        let out = d.join(format!("b-{preloaded}"));
        let mut args = vec!["replay", w.to_str().unwrap()];
        if let Some(c) = calls {
            args.extend(["--calls", c]);
        }
        args.extend([
            "--alloc",
            "mimalloc",
            "--alloc",
            "hakmem:HAKMEM_TINY_UNIFIED_C7=64",
            "--repeats",
            "1",
            "-o",
            out.to_str().unwrap(),
        ]);
        run_ok(&args);
        let (m, samples) = bundle(&out);
        let path_of = |config: &str| {
            m.allocators
                .iter()
                .find(|a| a.config == config)
                .unwrap()
                .path
                .clone()
        };
        let (hak, mim) = (
            path_of("hakmem:HAKMEM_TINY_UNIFIED_C7=64"),
            path_of("mimalloc"),
        );
        assert_eq!(hak.ends_with("/libhakmem.so"), preloaded, "{hak}");
        assert_eq!(mim.ends_with("/libhakmem_mimalloc.so"), preloaded, "{mim}");
        let h = samples
            .iter()
            .find(|s| s.config.starts_with("hakmem"))
            .unwrap();
        assert_eq!(h.status, Some(Status::Ok), "{h:?}");
        assert_eq!(h.allocator, "hakmem");
        assert!(!h.box_stats.is_empty(), "{h:?}");
    }
}
