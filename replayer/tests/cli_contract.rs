//! The contract every subcommand keeps with its user (issue 13): no panic, hang or signal on any input;
//! a bad value is one `error:` line naming the option, exit status 2, before any work or file; one
//! spelling per concept across subcommands; private files. Each test is named after what broke.

use crate::common::{s, stderr};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use traces::event::Op;
use traces::raw::{BuilderSpec, EndState, RawTraceBuilder};

fn exe() -> &'static str {
    env!("CARGO_BIN_EXE_hakmem")
}

fn hakmem(args: &[&str]) -> Output {
    Command::new(exe())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run hakmem")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir()
        .join(format!("hakmem-cli-contract-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `hakmem replay W --repeats 1 ARGS… -o OUT` (ARGS may give other repeats), which must succeed.
fn replay_ok(w: &Path, out: &Path, args: &[&str]) -> Output {
    let mut a = vec!["replay", s(w), "-o", s(out)];
    if !args.contains(&"--repeats") {
        a.extend(["--repeats", "1"]);
    }
    a.extend(args);
    let o = hakmem(&a);
    assert!(o.status.success(), "{a:?}: {}", stderr(&o));
    o
}

/// A usage error: exit 2, one `error:` line first, no panic.
fn assert_usage_error(o: &Output, needle: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.starts_with("error: "), "{e}");
    assert!(!e.contains("panicked"), "{e}");
    assert!(e.contains(needle), "expected `{needle}` in: {e}");
}

fn small_workload(d: &Path) -> PathBuf {
    let w = d.join("w.hkw");
    let o = hakmem(&["gen", "random-mixed", "--iters", "2000", "--out", s(&w)]);
    assert!(o.status.success(), "{}", stderr(&o));
    w
}

// ------------------------------------------------------------------------------------------------
// The property: every numeric option of every subcommand, extreme and malformed values.

/// Value names of options that take numbers; every other value name must be listed in `NOT_NUMERIC`, so
/// that a new option cannot escape this test by its spelling.
const NUMERIC: &[&str] = &[
    "N",
    "N|auto",
    "NS|off",
    "N|off",
    "SECONDS",
    "BYTES",
    "FRACTION",
    "KIB",
    "MICROSECONDS",
];
const NOT_NUMERIC: &[&str] = &[
    "FILE", "DIR", "PLAN_DIR", "SPEC", "NAME", "WHEN", "TOUCH", "CALLS", "CMD",
];

/// Values no numeric option accepts.
const ALWAYS_BAD: &[&str] = &[
    "-1",
    "1e100",
    "2e19",
    "NaN",
    "abc",
    "",
    "99999999999999999999999",
];
/// Values some options accept: the command must still end at once with exit 2 (its base arguments fail
/// after parsing) and never panic.
const EDGE: &[&str] = &["0", "18446744073709551615", "4294967295", "1e9"];

/// `(subcommand words, arguments that make the command fail right after parsing)`.
fn bases(d: &Path) -> Vec<(Vec<&'static str>, Vec<String>)> {
    let no_dir = "/proc/hakmem-no-such-dir/x".to_string();
    let w = small_workload(d);
    let strs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    vec![
        (vec!["record"], strs(&["--", "/no/such/program"])),
        (
            vec!["compile"],
            vec!["/no/such.hkraw".into(), "-o".into(), no_dir.clone()],
        ),
        (
            vec!["gen", "random-mixed"],
            vec!["-o".into(), no_dir.clone()],
        ),
        (
            vec!["gen", "producer-consumer"],
            vec!["-o".into(), no_dir.clone()],
        ),
        (vec!["gen", "threads"], vec!["-o".into(), no_dir.clone()]),
        (
            vec!["replay"],
            vec![s(&w).to_string(), "--alloc".into(), "bogus".into()],
        ),
        (vec!["bench", "random-mixed"], strs(&["--alloc", "bogus"])),
        (
            vec!["bench", "producer-consumer"],
            strs(&["--alloc", "bogus"]),
        ),
        (
            vec!["demo"],
            vec![
                "--alloc".into(),
                "bogus".into(),
                "-o".into(),
                s(&d.join("demo")).into(),
            ],
        ),
        (vec!["info"], strs(&["/no/such.hkw"])),
        (vec!["report"], strs(&["/no/such/bundle"])),
        (vec!["live"], strs(&["--alloc", "bogus", "--", "true"])),
        (
            vec!["plan", "replay"],
            vec![
                s(&w).to_string(),
                "--alloc".into(),
                "bogus".into(),
                "-o".into(),
                no_dir.clone(),
            ],
        ),
        (
            vec!["plan", "live"],
            vec![
                "--alloc".into(),
                "bogus".into(),
                "--repeats".into(),
                "1".into(),
                "-o".into(),
                no_dir.clone(),
                "--".into(),
                "true".into(),
            ],
        ),
        (vec!["run-job"], strs(&["/no/such/plan", "0"])),
        (vec!["collect"], strs(&["/no/such/plan"])),
    ]
}

/// `(option, value name)` of every option that takes a value, from `--help`.
fn options_with_values(words: &[&str]) -> Vec<(String, String)> {
    let mut args: Vec<&str> = words.to_vec();
    args.push("--help");
    let o = hakmem(&args);
    assert!(o.status.success(), "{words:?} --help: {}", stderr(&o));
    let help = String::from_utf8_lossy(&o.stdout).into_owned();
    let mut out = Vec::new();
    for line in help.lines() {
        let t = line.trim_start();
        let Some(pos) = t.find("--") else { continue };
        if !(t.starts_with("--") || t.starts_with('-')) {
            continue;
        }
        let rest = &t[pos..];
        let name: String = rest
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '=')
            .collect();
        let after = rest[name.len()..].trim_start();
        if let Some(v) = after.strip_prefix('<') {
            let value: String = v.chars().take_while(|c| *c != '>').collect();
            out.push((name, value));
        }
    }
    out
}

/// Runs `hakmem args`, killing it after `limit`: `None` when it had to be killed.
fn run_limited(args: &[String], limit: Duration) -> Option<Output> {
    let mut child = Command::new(exe())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hakmem");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            return Some(child.wait_with_output().expect("output"));
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn extreme_and_malformed_numbers_never_panic_hang_or_pass_unnamed() {
    let d = scratch("property");
    let mut cases: Vec<(Vec<String>, String, bool)> = Vec::new();
    for (words, base) in bases(&d) {
        let opts = options_with_values(&words);
        for (name, value) in &opts {
            let known = NUMERIC.contains(&value.as_str()) || NOT_NUMERIC.contains(&value.as_str());
            assert!(
                known,
                "{words:?} {name} <{value}>: classify this value name in NUMERIC or NOT_NUMERIC"
            );
            if !NUMERIC.contains(&value.as_str()) {
                continue;
            }
            for (v, bad) in ALWAYS_BAD
                .iter()
                .map(|v| (v, true))
                .chain(EDGE.iter().map(|v| (v, false)))
            {
                let mut args: Vec<String> = words.iter().map(|w| w.to_string()).collect();
                args.push(format!("{name}={v}"));
                // An option the base gives too (`plan live --repeats`) is tested instead of the base's.
                let mut base = base.clone();
                if let Some(i) = base.iter().position(|b| b == name) {
                    base.drain(i..i + 2);
                }
                args.extend(base);
                cases.push((args, name.clone(), bad));
            }
        }
    }
    // The memo's positional spelling of bench, kept hidden, goes through the same parsers.
    for v in ALWAYS_BAD.iter().chain(EDGE) {
        let args: Vec<String> = ["bench", "random-mixed", "--alloc", "bogus", "--", v]
            .iter()
            .map(|s| s.to_string())
            .collect();
        cases.push((args, "ITERS".into(), ALWAYS_BAD.contains(v)));
    }
    assert!(cases.len() > 300, "found only {} cases", cases.len());
    // Four invocations at a time; each must end within a generous limit (parse-time errors take
    // milliseconds: this only catches hangs such as a parent simulating 2^64 steps).
    let failures = std::sync::Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|sc| {
        for _ in 0..4 {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((args, option, bad)) = cases.get(i) else {
                    break;
                };
                let problem = match run_limited(args, Duration::from_secs(30)) {
                    None => Some("did not finish within 30 s".to_string()),
                    Some(o) => {
                        let e = stderr(&o);
                        if let Some(sig) = o.status.signal() {
                            Some(format!("killed by signal {sig}: {e}"))
                        } else if e.contains("panicked") {
                            Some(format!("panicked: {e}"))
                        } else if o.status.code() != Some(2) {
                            Some(format!("exit {:?} instead of 2: {e}", o.status.code()))
                        } else if !e.starts_with("error: ") {
                            Some(format!("no `error:` line first: {e}"))
                        } else if (*bad || e.contains("invalid value"))
                            && !e.contains(option.as_str())
                        {
                            Some(format!("the message does not name {option}: {e}"))
                        } else {
                            None
                        }
                    }
                };
                if let Some(p) = problem {
                    failures.lock().unwrap().push(format!("{args:?}: {p}"));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ------------------------------------------------------------------------------------------------
// Panics, aborts, hangs (items 1–4)

#[test]
fn timeout_2e19_panicked_and_1e19_overflowed_an_instant_leaving_a_partial_bundle() {
    let d = scratch("timeout");
    let w = small_workload(&d);
    for t in ["2e19", "1e19", "1e100", "18446744073709551615"] {
        let out = d.join(format!("b{t}"));
        let o = hakmem(&[
            "replay",
            s(&w),
            "--alloc",
            "system",
            "--timeout",
            t,
            "-o",
            s(&out),
        ]);
        assert_usage_error(&o, "--timeout");
        assert!(!out.exists(), "no partial bundle for --timeout {t}");
        let o = hakmem(&["bench", "random-mixed", "--timeout", t]);
        assert_usage_error(&o, "--timeout");
    }
}

#[test]
fn gen_and_bench_with_ws_4294967295_aborted_on_a_55_gb_allocation() {
    let d = scratch("ws");
    for sub in ["random-mixed", "threads"] {
        let o = hakmem(&[
            "gen",
            sub,
            "--iters",
            "1000",
            "--ws",
            "4294967295",
            "-o",
            s(&d.join("x.hkw")),
        ]);
        assert_usage_error(&o, "--ws");
    }
    let o = hakmem(&[
        "bench",
        "random-mixed",
        "--iters",
        "1000",
        "--ws",
        "4294967295",
    ]);
    assert_usage_error(&o, "--ws");
}

#[test]
fn bench_with_a_huge_iteration_count_spun_in_the_parent_and_ignored_timeout() {
    // 10^12 steps: the parent used to simulate the whole loop before starting any child. Now the child
    // starts at once and the timeout applies: one sample, status timeout, exit 1.
    let d = scratch("huge-iters");
    let out = d.join("b");
    let o = hakmem(&[
        "bench",
        "random-mixed",
        "--iters",
        "1000000000000",
        "--alloc",
        "system",
        "--repeats",
        "1",
        "--timeout",
        "1",
        "-o",
        s(&out),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let samples = std::fs::read_to_string(out.join("samples.jsonl")).unwrap();
    assert!(samples.contains("\"timeout\""), "{samples}");
    let o = hakmem(&["bench", "random-mixed", "--", "18446744073709551615"]);
    assert_usage_error(&o, "ITERS");
}

#[test]
fn gen_with_u64_max_iterations_grew_memory_until_killed() {
    let d = scratch("gen-huge");
    let o = hakmem(&[
        "gen",
        "random-mixed",
        "--iters",
        "18446744073709551615",
        "-o",
        s(&d.join("x.hkw")),
    ]);
    assert_usage_error(&o, "--iters");
    let o = hakmem(&[
        "gen",
        "threads",
        "--threads",
        "4096",
        "--iters",
        "1000000000",
        "-o",
        s(&d.join("x.hkw")),
    ]);
    assert_usage_error(&o, "--iters");
}

#[test]
fn a_hand_edited_plan_timeout_panicked_run_job() {
    let d = scratch("plan-timeout");
    let w = small_workload(&d);
    let p = d.join("plan");
    let o = hakmem(&[
        "plan",
        "replay",
        s(&w),
        "--alloc",
        "system",
        "--repeats",
        "1",
        "-o",
        s(&p),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(p.join("plan.json")).unwrap();
    let field = "\"timeout_secs\": 600.0";
    assert!(text.contains(field), "{text}");
    for bad in ["-1", "0", "1e300", "NaN", "null", "\"600\""] {
        std::fs::write(
            p.join("plan.json"),
            text.replace(field, &format!("\"timeout_secs\": {bad}")),
        )
        .unwrap();
        for cmd in ["run-job", "collect"] {
            let mut args = vec![cmd, s(&p)];
            if cmd == "run-job" {
                args.push("0");
            }
            let o = hakmem(&args);
            assert_usage_error(&o, "not a valid plan");
        }
    }
    std::fs::write(p.join("plan.json"), &text).unwrap();
    // Job numbers that are no number, or no job of the plan.
    for k in ["-1", "abc", "", "1.5", "99999999999999999999999"] {
        let o = hakmem(&["run-job", s(&p), k]);
        assert_usage_error(&o, "");
    }
    for k in ["1", "18446744073709551615"] {
        let o = hakmem(&["run-job", s(&p), k]);
        assert_usage_error(&o, "it has 1 jobs");
    }
    assert!(
        std::fs::read_dir(p.join("samples"))
            .unwrap()
            .next()
            .is_none(),
        "no sample was written"
    );
}

#[test]
fn plan_live_with_repeats_auto_record_or_a_failing_command_left_a_plan_directory() {
    let d = scratch("plan-live-refused");
    let p = d.join("plan");
    for (args, needle) in [
        (vec!["--", "true"], "--repeats"),
        (vec!["--repeats", "auto", "--", "true"], "--repeats 10"),
        (
            vec!["--repeats", "2", "--record", "--", "true"],
            "hakmem plan replay",
        ),
        (
            vec!["--repeats", "2", "--", "/no/such/program"],
            "/no/such/program",
        ),
        (
            vec!["--repeats", "2", "--cores", "0", "--", "true"],
            "--cores",
        ),
        (
            vec!["--repeats", "2", "--stdin", "/no/such/file", "--", "true"],
            "/no/such/file",
        ),
    ] {
        let mut a = vec!["plan", "live", "--alloc", "system", "-o", s(&p)];
        a.extend(args.iter().copied());
        let o = hakmem(&a);
        let e = stderr(&o);
        // The reference run announces itself before it fails.
        let e = e
            .strip_prefix("hakmem plan live: reference run of program under the system allocator\n")
            .unwrap_or(&e);
        assert_eq!(o.status.code(), Some(2), "{e}");
        assert!(e.starts_with("error: ") && !e.contains("panicked"), "{e}");
        assert!(e.contains(needle), "expected `{needle}` in: {e}");
        assert!(!p.exists(), "{args:?} left {}", p.display());
    }
}

// ------------------------------------------------------------------------------------------------
// Wrong or misleading figures (items 6, 9, 10)

fn heap_peak(bundle: &Path) -> u64 {
    let text = std::fs::read_to_string(bundle.join("samples.jsonl")).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    let peak = v["peak_rss_bytes"].as_u64().unwrap();
    let base = v["baseline_rss_bytes"].as_u64().unwrap();
    assert!(base > 0, "{v}");
    peak.saturating_sub(base)
}

#[test]
fn heap_peak_counted_the_harness_latency_buffer() {
    // With one call in 1 timed, the latency buffer holds 8 bytes per op (16 MiB for 2M ops); it used to
    // fill during the timed region and show up as "heap peak". Now it is resident before the baseline.
    let d = scratch("latency-buffer");
    let w = d.join("w.hkw");
    let o = hakmem(&[
        "gen",
        "random-mixed",
        "--iters",
        "2000000",
        "--ws",
        "64",
        "--min",
        "16",
        "--max",
        "64",
        "-o",
        s(&w),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let mut peaks = Vec::new();
    for every in ["0", "1"] {
        let out = d.join(format!("every{every}"));
        replay_ok(&w, &out, &["--alloc", "system", "--latency-every", every]);
        peaks.push(heap_peak(&out));
    }
    let diff = peaks[1].abs_diff(peaks[0]);
    assert!(
        diff < 4 << 20,
        "heap peak with --latency-every 1 differs by {diff} bytes from --latency-every 0 ({peaks:?})"
    );
}

#[test]
fn a_baseline_nobody_measured_was_accepted_silently() {
    let d = scratch("baseline");
    let w = small_workload(&d);
    let o = hakmem(&["replay", s(&w), "--alloc", "system", "--baseline", "nope"]);
    assert_usage_error(&o, "nope");
    let out = d.join("b");
    let o = replay_ok(&w, &out, &["--alloc", "system", "--alloc", "hakmem"]);
    // One default baseline everywhere: system.
    let table = String::from_utf8_lossy(&o.stdout);
    let system_row = table
        .lines()
        .find(|l| l.starts_with("system"))
        .expect("a system row");
    assert!(system_row.contains("baseline"), "{table}");
    let o = hakmem(&["report", s(&out), "--baseline", "nope"]);
    assert_usage_error(&o, "nope");
}

#[test]
fn hakmem_colon_and_a_preload_without_malloc_made_bogus_configurations() {
    let d = scratch("specs");
    let w = small_workload(&d);
    let o = hakmem(&["replay", s(&w), "--alloc", "hakmem", "--alloc", "hakmem:"]);
    assert_usage_error(&o, "twice");
    let libm = [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/usr/lib/x86_64-linux-gnu/libm.so.6",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .expect("libm.so.6");
    let o = hakmem(&["replay", s(&w), "--alloc", &format!("preload:{libm}")]);
    assert_usage_error(&o, "malloc");
}

// ------------------------------------------------------------------------------------------------
// Error messages (items 11–15)

#[test]
fn info_json_into_a_closed_pipe_said_broken_pipe_and_exited_2() {
    let d = scratch("epipe");
    let w = small_workload(&d);
    let mut child = Command::new(exe())
        .args(["info", "--json", s(&w)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is gone (as `| head -1`); the rest of the document hits a closed pipe.
    let o = child.wait_with_output().unwrap();
    assert_eq!(first.trim(), "{");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

#[test]
fn os_errors_were_printed_twice() {
    let o = hakmem(&["demo", "-o", "/proc/hakmem-no-such/x"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert_eq!(e.matches("os error").count(), 1, "{e}");
    let d = scratch("twice");
    let w = small_workload(&d);
    let out = d.join("b");
    replay_ok(&w, &out, &["--alloc", "system"]);
    let o = hakmem(&["report", s(&out), "--html", "/proc/hakmem-no-such/x.html"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert_eq!(e.matches("os error").count(), 1, "{e}");
}

#[test]
fn a_workload_given_to_report_and_a_raw_trace_given_to_replay_got_the_wrong_message() {
    let d = scratch("kinds");
    let w = small_workload(&d);
    let o = hakmem(&["report", s(&w)]);
    assert_usage_error(&o, "a workload (.hkw), not a result bundle");
    let raw = d.join("t.hkraw");
    let mut b = RawTraceBuilder::create(&raw, &BuilderSpec::default()).unwrap();
    b.push(
        1,
        10,
        Op::Malloc {
            size: 16,
            ptr: 0x1000,
        },
    )
    .unwrap();
    b.push(1, 20, Op::Free { ptr: 0x1000 }).unwrap();
    b.finish(EndState::Exit).unwrap();
    let o = hakmem(&["report", s(&raw)]);
    assert_usage_error(&o, "raw trace");
    let o = hakmem(&[
        "replay",
        s(&raw),
        "--alloc",
        "system",
        "--repeats",
        "1",
        "-o",
        s(&d.join("b")),
    ]);
    let e = stderr(&o);
    assert!(
        e.contains("raw trace") && e.contains("hakmem compile"),
        "{e}"
    );
}

#[test]
fn demo_with_a_bad_alloc_or_timeout_failed_after_seconds_of_work_leaving_a_directory() {
    let d = scratch("demo-early");
    let out = d.join("demo");
    let o = hakmem(&["demo", "--alloc", "bogus", "-o", s(&out)]);
    assert_usage_error(&o, "bogus");
    assert!(!out.exists());
    let o = hakmem(&["demo", "--timeout", "0", "-o", s(&out)]);
    assert_usage_error(&o, "--timeout");
    assert!(!out.exists());
}

#[test]
fn record_accepted_a_bad_recorder_a_bad_chunk_size_and_left_an_empty_directory() {
    let d = scratch("record-bad");
    let out = d.join("traces");
    let o = Command::new(exe())
        .args(["record", "-o", s(&out), "--", "true"])
        .env("HAKMEM_RECORD_LIB", "/etc/hostname")
        .output()
        .unwrap();
    assert_usage_error(&o, "not an ELF");
    let o = Command::new(exe())
        .args(["record", "-o", s(&out), "--", "true"])
        .env("HAKMEM_RECORD_CHUNK_KB", "abc")
        .output()
        .unwrap();
    assert_usage_error(&o, "HAKMEM_RECORD_CHUNK_KB");
    let o = hakmem(&["record", "-o", s(&out), "--", "/no/such/cmd"]);
    assert_usage_error(&o, "/no/such/cmd");
    assert!(!out.exists(), "record left {} behind", out.display());
}

#[test]
fn gen_made_an_object_slot_per_ws_slot_and_accepted_sizes_no_replay_can_allocate() {
    let d = scratch("gen-slots");
    let o = hakmem(&[
        "gen",
        "random-mixed",
        "--ws",
        "100000000",
        "--iters",
        "10",
        "-o",
        s(&d.join("x.hkw")),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let printed = String::from_utf8_lossy(&o.stdout);
    let slots: u64 = printed
        .split(", ")
        .find_map(|p| p.strip_suffix(" object slots"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{printed}"));
    assert!(slots <= 10, "{printed}");
    let o = hakmem(&[
        "gen",
        "random-mixed",
        "--max",
        "18446744073709551615",
        "-o",
        s(&d.join("y.hkw")),
    ]);
    assert_usage_error(&o, "--max");
    let o = hakmem(&["bench", "random-mixed", "0"]);
    assert_usage_error(&o, "ITERS");
    let o = hakmem(&["bench", "random-mixed", "--iters", "0"]);
    assert_usage_error(&o, "--iters");
}

// ------------------------------------------------------------------------------------------------
// One CLI (items 17–19, 22)

#[test]
fn output_flags_and_iteration_counts_had_two_spellings() {
    let d = scratch("spellings");
    for flag in ["--out", "--output", "-o"] {
        let f = d.join(format!("g{flag}.hkw"));
        let o = hakmem(&["gen", "random-mixed", "--iters", "100", flag, s(&f)]);
        assert!(o.status.success(), "gen {flag}: {}", stderr(&o));
        let c = d.join(format!("c{flag}.hkw"));
        let o = hakmem(&["compile", s(&d.join("nothing.hkraw")), flag, s(&c)]);
        assert_eq!(o.status.code(), Some(2), "compile {flag}");
        assert!(
            !stderr(&o).contains("unexpected argument"),
            "{}",
            stderr(&o)
        );
    }
    let out = d.join("b");
    let o = hakmem(&[
        "bench",
        "random-mixed",
        "--iters",
        "1000",
        "--ws",
        "16",
        "--seed",
        "7",
        "--alloc",
        "system",
        "--repeats",
        "1",
        "--out",
        s(&out),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(m.contains("random-mixed(iters=1000,ws=16,seed=7"), "{m}");
}

#[test]
fn replay_and_report_printed_different_tables() {
    let d = scratch("tables");
    let w = small_workload(&d);
    let out = d.join("b");
    let o = replay_ok(
        &w,
        &out,
        &["--alloc", "system", "--alloc", "hakmem", "--repeats", "2"],
    );
    let replay = String::from_utf8_lossy(&o.stdout).into_owned();
    let o = hakmem(&["report", s(&out)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let report = String::from_utf8_lossy(&o.stdout).into_owned();
    let header = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("config "))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no table in:\n{t}"))
    };
    assert_eq!(header(&replay), header(&report));
    assert!(!replay.contains("q1..q3"), "{replay}");
    let row = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("hakmem "))
            .map(str::to_owned)
            .unwrap()
    };
    assert_eq!(row(&replay), row(&report));
}

#[test]
fn compile_printed_a_note_per_file_and_disagreed_with_info_on_bytes_per_op() {
    let d = scratch("notes");
    let rec = d.join("rec");
    std::fs::create_dir_all(&rec).unwrap();
    for pid in 0..5u64 {
        let p = rec.join(format!("p.{pid}.hkraw"));
        let spec = BuilderSpec {
            pid: 100 + pid as u32,
            ..BuilderSpec::default()
        };
        let mut b = RawTraceBuilder::create(&p, &spec).unwrap();
        for i in 0..50u64 {
            b.push(
                1,
                10 * i + 1,
                Op::Malloc {
                    size: 32,
                    ptr: 0x1000 + 64 * i,
                },
            )
            .unwrap();
        }
        for i in 0..50u64 {
            b.push(
                1,
                1000 + i,
                Op::Free {
                    ptr: 0x1000 + 64 * i,
                },
            )
            .unwrap();
        }
        b.finish(EndState::Exit).unwrap();
    }
    let w = d.join("w.hkw");
    let o = hakmem(&["compile", s(&rec), "-o", s(&w)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let printed = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(!printed.contains("clean exit"), "{printed}");
    assert!(printed.contains("5 traces ended cleanly"), "{printed}");
    let o = hakmem(&["compile", s(&rec), "-o", s(&w), "-v"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout)
            .matches("clean exit")
            .count(),
        5
    );
    let bpo = |t: &str| -> String {
        let i = t.find(" bytes/op").unwrap();
        t[..i].rsplit(['(', ' ']).next().unwrap().to_owned()
    };
    let o = hakmem(&["info", s(&w)]);
    let info = String::from_utf8_lossy(&o.stdout).into_owned();
    let line = info.lines().find(|l| l.contains("bytes/op")).unwrap();
    let from_info = line.split_whitespace().nth(1).unwrap().to_owned();
    assert_eq!(bpo(&printed), from_info, "{printed}\n{info}");
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn traces_workloads_and_bundles_were_world_readable() {
    let d = scratch("modes");
    let w = small_workload(&d);
    assert_eq!(mode(&w), 0o600, "workload");
    let out = d.join("bundle");
    replay_ok(&w, &out, &["--alloc", "system"]);
    assert_eq!(mode(&out), 0o700, "bundle directory");
    for f in ["manifest.json", "samples.jsonl"] {
        assert_eq!(mode(&out.join(f)), 0o600, "{f}");
    }
    let tdir = d.join("traces");
    let o = hakmem(&["record", "-q", "-o", s(&tdir), "--", "ls", "/"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(mode(&tdir), 0o700, "trace directory");
    let traces: Vec<PathBuf> = std::fs::read_dir(&tdir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!traces.is_empty());
    for t in traces {
        assert_eq!(mode(&t), 0o600, "{}", t.display());
    }
    // Asked otherwise: HAKMEM_FILE_MODE.
    let shared = d.join("shared.hkw");
    let o = Command::new(exe())
        .args(["gen", "random-mixed", "--iters", "100", "-o", s(&shared)])
        .env("HAKMEM_FILE_MODE", "644")
        .output()
        .unwrap();
    assert!(o.status.success());
    assert_eq!(mode(&shared), 0o644 & !umask());
}

/// This process's umask, from /proc (setting it to read it would race with the other tests).
fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

#[test]
fn launchers_were_recorded_with_no_way_to_keep_only_the_program() {
    let d = scratch("only");
    let o = hakmem(&[
        "record",
        "-o",
        s(&d),
        "--only",
        "ls",
        "--",
        "sh",
        "-c",
        "ls / > /dev/null",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let kept: Vec<PathBuf> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(!kept.is_empty(), "{}", stderr(&o));
    for p in kept {
        let t = traces::raw::RawTrace::open(&p).unwrap();
        let exe = t.header().executable.clone();
        assert!(exe.ends_with("/ls") || exe == "ls", "{exe}");
    }
}
