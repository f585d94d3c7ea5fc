use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use traces::event::{Event, Op};
use traces::raw::RawTrace;

/// The release-built recorder: next to the test binary's `deps/` directory (`target/release/`), or
/// `HAKMEM_RECORD_LIB`. A missing library fails the test with the command that builds it.
pub fn recorder_so() -> PathBuf {
    if let Some(p) = std::env::var_os("HAKMEM_RECORD_LIB") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let so = dir.join("libhakmem_recorder.so");
    assert!(
        so.is_file(),
        "{} is missing: build it with `cargo build --release -p hakmem-recorder` (same CARGO_TARGET_DIR)",
        so.display()
    );
    so
}

fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("hakmem-recorder-tests-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

/// Compiles `tests/c/NAME.c` with gcc (once per test run) and returns the executable.
pub fn program(name: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/c")
        .join(format!("{name}.c"));
    let exe = scratch().join(name);
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _g = LOCK.lock().unwrap();
    if !exe.exists() {
        let out = Command::new("gcc")
            // -fno-builtin: keep GCC from deleting malloc/free pairs whose memory is never used.
            .args(["-O2", "-fno-builtin", "-pthread", "-o"])
            .arg(&exe)
            .arg(&src)
            .output()
            .expect("gcc must be installed to build the test programs");
        assert!(
            out.status.success(),
            "gcc {}: {}",
            src.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    exe
}

/// A fresh empty directory for one test's traces.
pub fn trace_dir(test: &str) -> PathBuf {
    let d = scratch().join(format!("traces-{test}"));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs `cmd` under the recorder writing into `dir` (extra environment in `env`).
pub fn run_recorded(mut cmd: Command, dir: &Path, env: &[(&str, &str)]) -> Output {
    cmd.env("LD_PRELOAD", recorder_so())
        .env("HAKMEM_RECORD_DIR", dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("spawn")
}

/// Every trace written in `dir`, opened.
pub fn traces_in(dir: &Path) -> Vec<RawTrace> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "hkraw"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| RawTrace::open(p).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// Events of every thread, keyed by tid.
pub fn by_tid(t: &RawTrace) -> BTreeMap<u32, Vec<Event>> {
    let mut m: BTreeMap<u32, Vec<Event>> = BTreeMap::new();
    for i in 0..t.threads().len() {
        m.entry(t.threads()[i].tid)
            .or_default()
            .extend(t.thread_events(i));
    }
    m
}

/// All ops of a trace, per thread concatenated.
pub fn all_ops(t: &RawTrace) -> Vec<Op> {
    (0..t.threads().len())
        .flat_map(|i| t.thread_events(i))
        .map(|e| e.op)
        .collect()
}

/// Parses a `%p` pointer ("0x…" or "(nil)").
pub fn ptr(s: &str) -> u64 {
    if s == "(nil)" {
        0
    } else {
        u64::from_str_radix(s.trim_start_matches("0x"), 16)
            .unwrap_or_else(|_| panic!("bad pointer {s}"))
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
