//! `hakmem gen`, `compile` and `info` end to end: the real binary on real files, including every kind of
//! bad input (one `error: <file>: <cause>` line, exit code 1 or 2, no panic).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use traces::event::Op;
use traces::raw::{BuilderSpec, EndState, RawTraceBuilder};

fn hakmem(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hakmem"))
        .args(args)
        .output()
        .expect("run hakmem")
}

fn ok(args: &[&str]) -> String {
    let o = hakmem(args);
    assert!(
        o.status.success(),
        "hakmem {args:?} failed: {}\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("hakmem-cli-traces-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn info_json(p: &Path) -> Value {
    serde_json::from_str(&ok(&["info", "--json", s(p)])).unwrap()
}

#[test]
fn gen_random_mixed_defaults_fit_in_four_bytes_per_op() {
    let out = dir().join("rm.hkw");
    let printed = ok(&["gen", "random-mixed", "-o", s(&out)]);
    assert!(printed.contains("1 thread"), "{printed}");
    let j = info_json(&out);
    let ops = j["ops"].as_u64().unwrap();
    assert!(ops > 1_000_000 && ops < 1_000_257, "{ops}");
    assert_eq!(j["by_kind"]["malloc"], j["by_kind"]["free"]);
    assert_eq!(j["threads"], 1);
    assert_eq!(j["object_slots"], 256);
    let bytes = std::fs::metadata(&out).unwrap().len();
    assert!(
        (bytes as f64 / ops as f64) <= 4.0,
        "{bytes} bytes for {ops} ops"
    );
    assert!(j["peak_live_bytes"].as_u64().unwrap() > 0);
    assert!(j["size_histogram"]
        .as_array()
        .unwrap()
        .iter()
        .all(|b| b["lo"].as_u64().unwrap() <= 1024));
    let text = ok(&["info", s(&out)]);
    assert!(
        text.contains("peak live") && text.contains("lifetimes (ops)"),
        "{text}"
    );
}

#[test]
fn gen_multithreaded_workloads_have_cross_thread_frees() {
    let pc = dir().join("pc.hkw");
    ok(&[
        "gen",
        "producer-consumer",
        "--producers",
        "2",
        "--consumers",
        "2",
        "--items",
        "2000",
        "-o",
        s(&pc),
    ]);
    let j = info_json(&pc);
    assert_eq!(j["threads"], 4);
    assert_eq!(j["cross_thread_frees"], 2 * 2 * 2000);
    let th = dir().join("th.hkw");
    ok(&[
        "gen",
        "threads",
        "--threads",
        "3",
        "--iters",
        "3000",
        "--remote",
        "0.5",
        "-o",
        s(&th),
    ]);
    let j = info_json(&th);
    assert_eq!(j["threads"], 3);
    assert!(j["cross_thread_frees"].as_u64().unwrap() > 1000);
    assert_eq!(j["live_objects_at_end"], 0);
}

/// A two-thread raw trace through the real raw writer: address reuse, a cross-thread free, a realloc
/// move, an unknown free, a double free and a log inversion.
fn raw_trace(path: &Path) {
    let mut b = RawTraceBuilder::create(path, &BuilderSpec::default()).unwrap();
    let (t1, t2) = (501, 502);
    b.push(
        t1,
        10,
        Op::Malloc {
            size: 100,
            ptr: 0x1000,
        },
    )
    .unwrap();
    b.push(t2, 20, Op::Free { ptr: 0x1000 }).unwrap(); // cross-thread free
    b.push(
        t1,
        30,
        Op::Malloc {
            size: 200,
            ptr: 0x1000,
        },
    )
    .unwrap(); // address reused: new object
    b.push(
        t1,
        40,
        Op::Realloc {
            old: 0x1000,
            size: 400,
            new: 0x2000,
        },
    )
    .unwrap(); // moved
    b.push(t2, 50, Op::Free { ptr: 0xdead0 }).unwrap(); // unknown
    b.push(t1, 60, Op::Free { ptr: 0x2000 }).unwrap();
    b.push(t2, 70, Op::Free { ptr: 0x2000 }).unwrap(); // double
    b.push(
        t1,
        80,
        Op::Malloc {
            size: 64,
            ptr: 0x3000,
        },
    )
    .unwrap();
    b.push(
        t2,
        90,
        Op::Malloc {
            size: 32,
            ptr: 0x3000,
        },
    )
    .unwrap(); // logged before t1's realloc below
    b.push(
        t1,
        95,
        Op::Realloc {
            old: 0x3000,
            size: 128,
            new: 0x4000,
        },
    )
    .unwrap(); // inversion
    b.push(t1, 100, Op::Free { ptr: 0x4000 }).unwrap();
    b.push(t2, 110, Op::Free { ptr: 0x3000 }).unwrap();
    b.finish(EndState::Exit).unwrap();
}

#[test]
fn compile_then_info_report_every_anomaly_and_match_info_on_the_raw_trace() {
    let d = dir().join("rec");
    std::fs::create_dir_all(&d).unwrap();
    let raw = d.join("prog.501");
    raw_trace(&raw);
    let out = dir().join("compiled.hkw");
    let printed = ok(&["compile", s(&raw), "-o", s(&out)]);
    assert!(printed.contains("12 events"), "{printed}");
    let j = info_json(&out);
    assert_eq!(j["format"], "workload");
    assert_eq!(j["threads"], 2);
    assert_eq!(j["cross_thread_frees"], 1);
    assert_eq!(j["unknown_frees"], 1);
    assert_eq!(j["double_frees"], 1);
    assert_eq!(j["inversions_repaired"], 1);
    assert_eq!(j["by_kind"]["realloc"], 2);
    assert_eq!(j["by_kind"]["malloc"], 4);
    assert_eq!(j["by_kind"]["free"], 4);
    assert_eq!(j["live_objects_at_end"], 0);
    assert!(j["notes"][0].as_str().unwrap().contains("clean exit"));
    // `info` on the raw trace compiles it in memory: same figures.
    let r = info_json(&raw);
    assert_eq!(r["format"], "raw");
    for k in [
        "threads",
        "ops",
        "by_kind",
        "cross_thread_frees",
        "unknown_frees",
        "double_frees",
        "peak_live_bytes",
        "size_histogram",
        "lifetime_histogram",
    ] {
        assert_eq!(r[k], j[k], "{k}");
    }
    // A recording directory compiles too.
    let out2 = dir().join("from-dir.hkw");
    ok(&["compile", s(&d), "-o", s(&out2)]);
    assert_eq!(info_json(&out2)["ops"], j["ops"]);
}

fn assert_bad(args: &[&str], path: &Path, cause: &str) {
    let o = hakmem(args);
    let code = o.status.code().expect("exit code, not a signal");
    assert!(
        (1..128).contains(&code) && code <= 2,
        "hakmem {args:?}: exit {code}"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    assert!(lines[0].contains(s(path)), "names the file: {err}");
    assert!(
        lines[0].to_lowercase().contains(&cause.to_lowercase()),
        "cause {cause:?}: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_input_is_one_error_line_for_info_and_compile() {
    let d = dir().join("bad");
    std::fs::create_dir_all(&d).unwrap();
    let good = d.join("good.hkw");
    ok(&[
        "gen",
        "threads",
        "--threads",
        "2",
        "--iters",
        "2000",
        "-o",
        s(&good),
    ]);
    let bytes = std::fs::read(&good).unwrap();
    let raw = d.join("good.raw");
    raw_trace(&raw);
    let raw_bytes = std::fs::read(&raw).unwrap();
    let out = d.join("out.hkw");

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", vec![], "empty"),
        (
            "magic",
            b"this is not an allocation trace at all\n".to_vec(),
            "magic",
        ),
        (
            "version.hkw",
            {
                let mut b = bytes.clone();
                b[8] = 9;
                b
            },
            "version 9",
        ),
        (
            "truncated.hkw",
            bytes[..bytes.len() / 2].to_vec(),
            "truncated",
        ),
        (
            "flipped-header.hkw",
            {
                let mut b = bytes.clone();
                b[40] ^= 4;
                b
            },
            "corrupt",
        ),
        (
            "flipped-stream.hkw",
            {
                let mut b = bytes.clone();
                let n = b.len();
                b[n - 100] ^= 1;
                b
            },
            "corrupt",
        ),
        ("tiny.hkw", b"HKW".to_vec(), "truncated"),
        (
            "raw-version",
            {
                let mut b = raw_bytes.clone();
                b[8] = 9;
                b
            },
            "version",
        ),
        ("raw-truncated", raw_bytes[..20].to_vec(), "truncated"),
    ];
    for (name, content, cause) in &cases {
        let p = d.join(name);
        std::fs::write(&p, content).unwrap();
        assert_bad(&["info", s(&p)], &p, cause);
        assert_bad(&["info", "--json", s(&p)], &p, cause);
        if !name.ends_with(".hkw") {
            assert_bad(&["compile", s(&p), "-o", s(&out)], &p, cause);
        }
    }
    // A workload given to compile is not a raw trace.
    assert_bad(&["compile", s(&good), "-o", s(&out)], &good, "magic");
    // Directories and missing paths.
    let empty_dir = d.join("empty-dir");
    std::fs::create_dir_all(&empty_dir).unwrap();
    assert_bad(&["info", s(&empty_dir)], &empty_dir, "directory");
    assert_bad(
        &["compile", s(&empty_dir), "-o", s(&out)],
        &empty_dir,
        "no raw trace",
    );
    let missing = d.join("missing");
    assert_bad(&["info", s(&missing)], &missing, "no such file");
    assert_bad(
        &["compile", s(&missing), "-o", s(&out)],
        &missing,
        "no such file",
    );
    // An unwritable output names the output.
    let bad_out = d.join("no-such-dir").join("x.hkw");
    assert_bad(
        &["gen", "random-mixed", "--iters", "10", "-o", s(&bad_out)],
        &bad_out,
        "no such file",
    );
    assert!(!out.exists(), "nothing written on failure");
}
