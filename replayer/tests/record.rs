//! `hakmem record` end to end: real programs (python3, sort, git, sqlite3, perl, sh) run with and without
//! the recorder give the same output and exit status, and leave readable traces.
//!
//! Self-contained (no `use crate::…`), so it builds both as a module of `tests.rs` and on its own.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use traces::raw::{EndState, RawTrace};

fn hakmem() -> &'static str {
    env!("CARGO_BIN_EXE_hakmem")
}

/// The recorder must sit next to the `hakmem` binary (as `cargo build --release --workspace` leaves it).
fn require_recorder() {
    let so = Path::new(hakmem()).with_file_name("libhakmem_recorder.so");
    assert!(
        so.is_file() || std::env::var_os("HAKMEM_RECORD_LIB").is_some(),
        "{} is missing: run `cargo build --release --workspace` first (same CARGO_TARGET_DIR)",
        so.display()
    );
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir()
        .join(format!("hakmem-record-tests-{}", std::process::id()))
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(mut cmd: Command, stdin: &[u8]) -> Output {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    out
}

fn traces(dir: &Path) -> Vec<RawTrace> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "hkraw"))
        .collect();
    v.sort();
    v.iter()
        .map(|p| RawTrace::open(p).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// Runs `argv` plainly and under `hakmem record -q`, compares stdout, stderr and exit status, and returns
/// the traces.
fn same_with_and_without(
    name: &str,
    argv: &[&str],
    env: &[(&str, &str)],
    stdin: &[u8],
) -> Vec<RawTrace> {
    require_recorder();
    let dir = scratch(name);
    let mut plain = Command::new(argv[0]);
    plain.args(&argv[1..]);
    let mut rec = Command::new(hakmem());
    rec.args(["record", "-q", "-o"])
        .arg(&dir)
        .arg("--")
        .args(argv);
    for (k, v) in env {
        plain.env(k, v);
        rec.env(k, v);
    }
    let a = run(plain, stdin);
    let b = run(rec, stdin);
    assert_eq!(
        a.status.code(),
        b.status.code(),
        "{name}: exit status differs: {b:?}"
    );
    assert!(
        a.stdout == b.stdout,
        "{name}: stdout differs:\n{}\n---\n{}",
        String::from_utf8_lossy(&a.stdout),
        String::from_utf8_lossy(&b.stdout)
    );
    assert_eq!(
        String::from_utf8_lossy(&a.stderr),
        String::from_utf8_lossy(&b.stderr),
        "{name}: stderr differs"
    );
    assert!(
        !a.stdout.is_empty(),
        "{name}: the program printed something"
    );
    let t = traces(&dir);
    assert!(
        !t.is_empty(),
        "{name}: no trace written in {}",
        dir.display()
    );
    for tr in &t {
        assert!(
            tr.recovery().end != EndState::None,
            "{name}: {}: {}",
            tr.path().display(),
            tr.recovery().summary()
        );
        assert_eq!(tr.recovery().dropped_events, 0);
    }
    let events: u64 = t.iter().map(|t| t.event_count()).sum();
    assert!(events > 50, "{name}: only {events} events");
    // The traces compile, and every free is of a pointer allocated while recording: recording starts
    // with the process's very first allocation, so there is nothing "from before" to excuse.
    let paths: Vec<PathBuf> = t.iter().map(|t| t.path().to_path_buf()).collect();
    let c = traces::compile::compile_files(&paths, &Default::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let st = &c.writer.stats;
    assert_eq!(
        (st.unknown_frees, st.double_frees),
        (0, 0),
        "{name}: unknown and double frees"
    );
    t
}

fn have(prog: &str) -> bool {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {prog}"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "{prog} is not installed (.ci/run installs it)");
    ok
}

#[test]
fn python3_with_pythonmalloc_malloc() {
    have("python3");
    let py = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let code = "import json\nd=[{'k':i,'v':str(i)*3} for i in range(20000)]\ns=json.dumps(d)\nprint(len(s), sum(len(x['v']) for x in json.loads(s)))";
    let t = same_with_and_without(
        "python3",
        &[py, "-c", code],
        &[("PYTHONMALLOC", "malloc")],
        b"",
    );
    let mallocs: u64 = t.iter().map(|t| t.event_count()).sum();
    assert!(
        mallocs > 20_000,
        "python's objects go through malloc with PYTHONMALLOC=malloc: {mallocs} events"
    );
}

#[test]
fn sort_parallel_two_threads_reads_stdin() {
    have("sort");
    let mut input = String::new();
    let mut x: u64 = 12345;
    for _ in 0..60_000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        input += &format!("{:016x} line\n", x >> 11);
    }
    // A small buffer makes sort spill sorted runs to temporary files and merge them (its sorting threads
    // work in preallocated buffers and make no allocator calls of their own).
    same_with_and_without(
        "sort",
        &["sort", "--parallel=2", "-S", "100K"],
        &[("LC_ALL", "C")],
        input.as_bytes(),
    );
}

#[test]
fn git_log_and_diff() {
    have("git");
    let repo = scratch("git-repo");
    let git = |args: &[&str]| {
        let o = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.com")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.com")
            .env("GIT_AUTHOR_DATE", "2020-01-01T00:00:00Z")
            .env("GIT_COMMITTER_DATE", "2020-01-01T00:00:00Z")
            .output()
            .unwrap();
        assert!(o.status.success(), "{o:?}");
    };
    git(&["init", "-q"]);
    for i in 0..3 {
        std::fs::write(
            repo.join(format!("f{i}.txt")),
            format!("{}\n", "line ".repeat(200 * (i + 1))),
        )
        .unwrap();
        git(&["add", "."]);
        git(&["commit", "-q", "-m", &format!("commit {i}")]);
    }
    let r = repo.to_str().unwrap();
    same_with_and_without(
        "git",
        &["git", "-C", r, "log", "--stat", "-p"],
        &[("GIT_PAGER", "cat")],
        b"",
    );
}

#[test]
fn sqlite3_in_memory_queries() {
    have("sqlite3");
    let sql = "create table t(a, b); with recursive c(x) as (select 1 union all select x+1 from c where x < 20000) \
               insert into t select x, printf('%08d', x * 7919 % 100003) from c; \
               create index tb on t(b); select count(*), sum(a), max(b), min(b) from t;";
    same_with_and_without("sqlite3", &["sqlite3", ":memory:", sql], &[], b"");
}

#[test]
fn perl_hash_of_strings() {
    have("perl");
    let code = "my %h; $h{$_} = 'x' x ($_ % 100) for 1..50000; my $t = 0; $t += length($h{$_}) for keys %h; print \"$t\\n\"";
    same_with_and_without("perl", &["perl", "-e", code], &[], b"");
}

#[test]
fn exit_status_and_streams_pass_through_and_traces_are_listed() {
    require_recorder();
    let dir = scratch("sh");
    let mut cmd = Command::new(hakmem());
    cmd.args(["record", "-v", "-o"]).arg(&dir).args([
        "--",
        "sh",
        "-c",
        "read x; echo out $x; echo err >&2; exit 7",
    ]);
    let out = run(cmd, b"in\n");
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out in\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("err\n"), "{err}");
    assert!(
        err.contains("hakmem record: 1 trace in") && err.contains(".hkraw"),
        "{err}"
    );
}

#[test]
fn a_killed_program_is_reported_as_128_plus_signal_and_its_trace_recovered() {
    require_recorder();
    let dir = scratch("killed");
    let mut cmd = Command::new(hakmem());
    cmd.args(["record", "-o"])
        .arg(&dir)
        .args(["--", "sh", "-c", "kill -KILL $$"]);
    let out = run(cmd, b"");
    assert_eq!(out.status.code(), Some(128 + 9));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("killed by SIGKILL"), "{err}");
    assert!(err.contains("no end record"), "{err}");
    let t = traces(&dir);
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].recovery().end, EndState::None);
    assert!(t[0].event_count() > 0);
}

#[test]
fn compile_flag_writes_a_workload_next_to_the_traces() {
    require_recorder();
    let dir = scratch("compile");
    let mut cmd = Command::new(hakmem());
    cmd.args(["record", "--compile", "-o"]).arg(&dir).args([
        "--",
        "perl",
        "-e",
        "my @a = map { 'x' x $_ } 1..3000; print scalar(@a), qq(\n)",
    ]);
    let out = run(cmd, b"");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "3000\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown frees 0, double frees 0"), "{err}");
    let hkw: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "hkw"))
        .collect();
    assert_eq!(hkw.len(), 1, "{err}");
    let w = traces::workload::Workload::open_header(&hkw[0]).unwrap();
    let info = traces::info::Info::from_workload(&w);
    let json = serde_json::to_value(&info).unwrap();
    assert!(json["by_kind"]["malloc"].as_u64().unwrap() > 3000, "{json}");
}

#[test]
fn bad_invocations_are_one_line_errors() {
    require_recorder();
    let out = Command::new(hakmem())
        .args(["record", "--", "/nonexistent/program"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: cannot run `/nonexistent/program`"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    let out = Command::new(hakmem())
        .args(["record", "--"])
        .arg("true")
        .env("HAKMEM_RECORD_LIB", "/nonexistent.so")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("/nonexistent.so: recorder library not found"));
}
