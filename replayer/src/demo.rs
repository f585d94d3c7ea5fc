//! `hakmem demo`: the whole loop on this machine with defaults that just work.
//!
//! Entry point: [`run_demo`]. Steps, each a child process of the same `hakmem` executable (so the demo
//! exercises exactly the commands a user would type, and depends only on their command lines):
//! 1. `hakmem gen random-mixed` for the memo's three bands (16–1024, 8–128, 129–1024 B);
//! 2. a generated text file, sorted by `sort --parallel=2` under `hakmem record` (a real multi-threaded
//!    program present on every Linux machine), then `hakmem compile` of its trace; and, where python3
//!    exists, a threaded python3 script (`PYTHONMALLOC=malloc`: object churn with cross-thread frees —
//!    `sort` itself allocates little);
//! 3. `hakmem replay` of all workloads through HAKMEM ([`DEFAULT_ALLOCS`]: default, Page Box off, Page Box on
//!    C5–C7, a C7 capacity sweep), system malloc and mimalloc, with progress read from the growing
//!    `samples.jsonl`;
//! 4. where python3 exists, `hakmem live --record` of the threaded python3 script under system, mimalloc 3
//!    and 2 and hakmem: live times, the replay's predicted times and its fidelity (bundle `DIR/live`; three
//!    configurations besides the baseline, so that the calibrated model has two to fit each one's scale on);
//! 5. the report, in process: HTML, Markdown, CSV and JSON beside the bundles, and the terminal summary.
//!
//! Invariant: a step that fails stops the demo with its command and the tail of its stderr, except the
//! recordings (step 2), whose failure leaves the synthetic workloads to be replayed and is reported as a
//! [`DemoOutcome::problems`] entry.

use reports::progress::Progress;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What the demo does; [`DemoOptions::new`] gives the defaults of `hakmem demo`.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// The `hakmem` executable to run the steps with.
    pub exe: PathBuf,
    /// Output directory (workloads, traces, the result bundle, the reports).
    pub out: PathBuf,
    /// Steps of each random-mixed workload (the memo's benchmark uses 1,000,000).
    pub iters: u64,
    /// Lines of the generated file that `sort` sorts.
    pub sort_lines: u64,
    /// Repeats per workload × configuration.
    pub repeats: u32,
    /// Children at once (`None`: the replayer's default).
    pub jobs: Option<usize>,
    /// Allocator configurations (`hakmem replay --alloc` specs).
    pub allocs: Vec<String>,
    /// Per-sample timeout in seconds.
    pub timeout: f64,
    /// Baseline of the report.
    pub baseline: String,
}

/// The default configurations, after the memo: HAKMEM as shipped (Page Box on every class), with the Page Box
/// off (the memo's starting point), with the Page Box on C5–C7 only (the memo's proposed profile), a sweep of
/// the C7 Unified Cache capacity (the memo's tuning step; the default is 64), and the two baselines.
pub const DEFAULT_ALLOCS: [&str; 6] = [
    "hakmem",
    "hakmem:HAKMEM_TINY_PAGE_BOX_CLASSES=none",
    "hakmem:HAKMEM_TINY_PAGE_BOX_CLASSES=5-7",
    "hakmem:HAKMEM_TINY_UNIFIED_C7=32|128|256",
    "system",
    "mimalloc",
];

/// Configurations a spec expands to: the product of the `|`-separated alternatives of its knobs.
pub fn expanded_configs(spec: &str) -> usize {
    match spec.split_once(':') {
        Some(("hakmem", knobs)) => knobs
            .split(',')
            .map(|k| k.split('|').count().max(1))
            .product(),
        _ => 1,
    }
}

/// The memo's three random-mixed bands: (workload name, min size, max size).
pub const BANDS: [(&str, u64, u64); 3] = [
    ("rm-16-1024", 16, 1024),
    ("rm-8-128", 8, 128),
    ("rm-129-1024", 129, 1024),
];

impl DemoOptions {
    /// The defaults, with the steps run by `exe`, writing into `out`.
    pub fn new(exe: PathBuf, out: PathBuf) -> DemoOptions {
        DemoOptions {
            exe,
            out,
            iters: 1_000_000,
            sort_lines: 300_000,
            repeats: 9,
            jobs: None,
            allocs: DEFAULT_ALLOCS.iter().map(|s| s.to_string()).collect(),
            timeout: 60.0,
            baseline: "system".into(),
        }
    }
}

/// What the demo produced.
#[derive(Debug)]
pub struct DemoOutcome {
    /// The result bundle directory.
    pub bundle: PathBuf,
    /// The HTML report.
    pub html: PathBuf,
    /// The Markdown report.
    pub markdown: PathBuf,
    /// The summaries.
    pub report: reports::Report,
    /// Steps that went wrong without stopping the demo (e.g. the recording), one line each.
    pub problems: Vec<String>,
    /// Wall time of the whole demo.
    pub elapsed: Duration,
}

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DemoError {
    /// A step's command failed.
    #[error("demo step `{step}` failed: `{command}` {status}{stderr}")]
    Step {
        /// The step.
        step: String,
        /// The command line.
        command: String,
        /// How it ended.
        status: String,
        /// The last lines of its stderr (with a leading newline), if any.
        stderr: String,
    },
    /// A file could not be written or read.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        cause: std::io::Error,
    },
    /// The report could not be built or written.
    #[error(transparent)]
    Report(#[from] reports::ReportError),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> DemoError + '_ {
    move |cause| DemoError::Io {
        path: path.to_path_buf(),
        cause,
    }
}

/// How a child ended: status and captured output.
struct Finished {
    ok: bool,
    status: String,
    stdout: String,
    stderr: String,
}

fn command_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| {
            let s = a.to_string_lossy();
            if s.contains([' ', '|', '\'']) {
                format!("'{s}'")
            } else {
                s.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd` with captured output, calling `tick` every 100 ms while it runs.
fn run_child(cmd: &mut Command, mut tick: impl FnMut()) -> std::io::Result<Finished> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let status = loop {
        if let Some(st) = child.try_wait()? {
            break st;
        }
        tick();
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = String::from_utf8_lossy(&out_t.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_t.join().unwrap_or_default()).into_owned();
    let status_text = match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(s)) => format!("was killed by signal {s}"),
        _ => "ended".to_owned(),
    };
    Ok(Finished {
        ok: status.success(),
        status: status_text,
        stdout,
        stderr,
    })
}

/// Runs one step; a failure becomes [`DemoError::Step`] with the tail of stderr.
fn step(name: &str, cmd: &mut Command, tick: impl FnMut()) -> Result<Finished, DemoError> {
    let line = command_line(cmd);
    let f = run_child(cmd, tick).map_err(|e| DemoError::Step {
        step: name.into(),
        command: line.clone(),
        status: format!("could not start ({e})"),
        stderr: String::new(),
    })?;
    if f.ok {
        return Ok(f);
    }
    Err(failed(name, line, f))
}

/// The error of a step that ended badly, with the last lines of its stderr.
fn failed(name: &str, command: String, f: Finished) -> DemoError {
    let lines: Vec<&str> = f.stderr.lines().collect();
    let tail = lines[lines.len().saturating_sub(8)..].join("\n");
    DemoError::Step {
        step: name.into(),
        command,
        status: f.status,
        stderr: if tail.is_empty() {
            String::new()
        } else {
            format!(":\n{tail}")
        },
    }
}

/// Writes `lines` lines of pseudo-random words (fixed seed) for `sort` to sort.
pub fn write_sort_input(path: &Path, lines: u64) -> std::io::Result<()> {
    const WORDS: [&str; 16] = [
        "slab", "page", "box", "cache", "tiny", "pool", "warm", "shared", "guard", "tier",
        "refill", "carve", "free", "malloc", "arena", "span",
    ];
    let mut state: u64 = 0x005E_ED0F_5027;
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut w = BufWriter::new(std::fs::File::create(path)?);
    for _ in 0..lines {
        let r = next();
        let n = 2 + (r % 6) as usize;
        let mut parts: Vec<String> = (0..n)
            .map(|i| WORDS[((r >> (4 * i + 8)) & 15) as usize].to_owned())
            .collect();
        parts.push(format!("{:x}", next() % 1_000_000_007));
        writeln!(w, "{}", parts.join(" "))?;
    }
    w.flush()
}

/// `hakmem info --json PATH` run by `exe`: a workload's profile for the report, `None` if it fails.
pub fn describe_workload(exe: &Path, path: &Path) -> Option<serde_json::Value> {
    let out = Command::new(exe)
        .args(["info", "--json"])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

/// Loads `paths` as bundles, fills workload profiles the bundles lack with `hakmem info --json` run by
/// `exe`, and summarises them against `baseline`.
pub fn load_report(
    exe: &Path,
    paths: &[PathBuf],
    baseline: Option<&str>,
) -> Result<reports::Report, reports::ReportError> {
    let mut bundles = Vec::new();
    for p in paths {
        let mut b = reports::Bundle::load(p)?;
        b.fill_profiles(&|w| describe_workload(exe, w));
        bundles.push(b);
    }
    Ok(reports::Report::build(&bundles, baseline))
}

/// Lines currently in `path` (0 if it does not exist yet).
fn count_lines(path: &Path) -> u64 {
    std::fs::read(path)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count() as u64)
        .unwrap_or(0)
}

/// Runs the demo. Progress goes to stderr (bars only on a terminal); the caller prints the summary.
pub fn run_demo(opts: &DemoOptions) -> Result<DemoOutcome, DemoError> {
    let start = Instant::now();
    let out = &opts.out;
    let wdir = out.join("workloads");
    let tdir = out.join("traces");
    let bundle = out.join("results");
    for d in [out, &wdir] {
        traces::private::create_dir_all(d).map_err(io_err(d))?;
    }
    // A rerun starts clean: old traces would be compiled again, old samples counted again.
    for d in [&tdir, &bundle] {
        if d.exists() {
            std::fs::remove_dir_all(d).map_err(io_err(d))?;
        }
    }
    let mut problems = Vec::new();
    let hakmem = || Command::new(&opts.exe);

    // 1. The memo's three bands.
    let mut bar = Progress::auto("generate", BANDS.len() as u64);
    let mut workloads = Vec::new();
    for (i, (name, min, max)) in BANDS.iter().enumerate() {
        bar.set(i as u64, name);
        let path = wdir.join(format!("{name}.hkw"));
        let mut cmd = hakmem();
        cmd.args([
            "gen",
            "random-mixed",
            "--iters",
            &opts.iters.to_string(),
            "--ws",
            "256",
            "--seed",
            "42",
        ])
        .args(["--min", &min.to_string(), "--max", &max.to_string(), "-o"])
        .arg(&path);
        step("generate", &mut cmd, || {})?;
        workloads.push(path);
    }
    bar.finish(&format!(
        "generated {} random-mixed workloads ({} steps each, ws 256, seed 42) in {:.1}s",
        BANDS.len(),
        opts.iters,
        bar.elapsed().as_secs_f64()
    ));

    // 2. A real multi-threaded program, recorded and compiled.
    let mut bar = Progress::auto("record", 3);
    match record_sort(opts, &tdir, &wdir, &mut bar) {
        Ok(path) => {
            workloads.push(path);
            bar.finish(&format!(
                "recorded and compiled `sort --parallel=2` over {} lines in {:.1}s",
                opts.sort_lines,
                bar.elapsed().as_secs_f64()
            ));
        }
        Err(e) => {
            bar.finish("");
            let line = format!("the recorded workload is missing: {e}");
            eprintln!("warning: {line}");
            problems.push(line);
        }
    }

    // 2b. An allocation-heavy multi-threaded program: CPython's object churn across threads (most Linux
    // machines have python3; `sort` allocates little). Skipped with a note where python3 is missing.
    if which("python3").is_some() {
        let mut bar = Progress::auto("record", 2);
        match record_python(opts, &out.join("traces-python"), &wdir, &mut bar) {
            Ok(path) => {
                workloads.push(path);
                bar.finish(&format!(
                    "recorded and compiled threaded python3 (PYTHONMALLOC=malloc) in {:.1}s",
                    bar.elapsed().as_secs_f64()
                ));
            }
            Err(e) => {
                bar.finish("");
                let line = format!("the python3 workload is missing: {e}");
                eprintln!("warning: {line}");
                problems.push(line);
            }
        }
    } else {
        problems
            .push("python3 is not installed: the threaded python3 recording was skipped".into());
    }

    // 3. Replay everything through every configuration.
    let configs: usize = opts.allocs.iter().map(|a| expanded_configs(a)).sum();
    let total = (workloads.len() * configs) as u64 * u64::from(opts.repeats);
    let mut bar = Progress::auto("replay", total);
    let mut cmd = hakmem();
    cmd.arg("replay").args(&workloads);
    for a in &opts.allocs {
        cmd.arg("--alloc").arg(a);
    }
    cmd.args([
        "--repeats",
        &opts.repeats.to_string(),
        "--timeout",
        &opts.timeout.to_string(),
    ])
    .args(["--baseline", &opts.baseline, "-o"])
    .arg(&bundle);
    if let Some(j) = opts.jobs {
        cmd.args(["--jobs", &j.to_string()]);
    }
    let samples = bundle.join(reports::model::SAMPLES_FILE);
    let replay_line = command_line(&cmd);
    let tick = || {
        let done = count_lines(&samples);
        bar.set(done, &format!("{done} of {total} samples"));
    };
    // `hakmem replay` exits with 1 when some samples failed: failures are data, shown in the report.
    // Anything else (a usage error, a crash of the driver) stops the demo.
    let f = run_child(&mut cmd, tick).map_err(|e| DemoError::Step {
        step: "replay".into(),
        command: replay_line.clone(),
        status: format!("could not start ({e})"),
        stderr: String::new(),
    })?;
    let has_bundle =
        bundle.join(reports::model::MANIFEST_FILE).is_file() && count_lines(&samples) > 0;
    if !(f.ok || f.status == "exited with status 1" && has_bundle) {
        return Err(failed("replay", replay_line, f));
    }
    let log = out.join("replay.log");
    std::fs::write(&log, format!("$ {replay_line}\n{}{}", f.stdout, f.stderr))
        .map_err(io_err(&log))?;
    bar.finish(&format!(
        "replayed {} workloads × {} configurations × {} repeats in {:.1}s",
        workloads.len(),
        configs,
        opts.repeats,
        bar.elapsed().as_secs_f64()
    ));

    // 3b. The ground truth for one real program: the threaded python3 script run live under system,
    // mimalloc 3 and 2 and hakmem, recorded and replayed into the same bundle (`hakmem live --record`), so the
    // report shows live times, predicted times and the replay's fidelity.
    let mut bundles = vec![bundle.clone()];
    if which("python3").is_some() {
        let live = out.join("live");
        let mut bar = Progress::auto("live", 1);
        bar.set(
            0,
            "python3 threads live under each allocator, recorded and replayed",
        );
        let mut cmd = hakmem();
        cmd.args([
            "live",
            "--record",
            "--alloc",
            "system",
            "--alloc",
            "mimalloc",
            "--alloc",
            "mimalloc2",
            "--alloc",
            "hakmem",
            "--repeats",
            "5",
            "--timeout",
            &opts.timeout.to_string(),
            "--baseline",
            "system",
            "-o",
        ])
        .arg(&live)
        .args(["--", "python3", "-c", PYTHON_SCRIPT])
        .env("PYTHONMALLOC", "malloc")
        .env("PYTHONHASHSEED", "0");
        if live.exists() {
            std::fs::remove_dir_all(&live).map_err(io_err(&live))?;
        }
        let line = command_line(&cmd);
        match run_child(&mut cmd, || {}) {
            Ok(f)
                if f.ok
                    || (f.status == "exited with status 1"
                        && live.join(reports::model::MANIFEST_FILE).is_file()) =>
            {
                let log = out.join("live.log");
                std::fs::write(&log, format!("$ {line}\n{}{}", f.stdout, f.stderr))
                    .map_err(io_err(&log))?;
                bundles.push(live);
                bar.finish(&format!(
                    "ran threaded python3 live (5 repeats × 4 allocators), recorded and replayed it in {:.1}s",
                    bar.elapsed().as_secs_f64()
                ));
            }
            Ok(f) => {
                bar.finish("");
                let last = f.stderr.lines().last().unwrap_or("").to_owned();
                let problem = format!("the live run of python3 failed ({}): {last}", f.status);
                eprintln!("warning: {problem}");
                problems.push(problem);
            }
            Err(e) => {
                bar.finish("");
                problems.push(format!("the live run of python3 could not start: {e}"));
            }
        }
    }

    // 4. The report.
    let report = load_report(&opts.exe, &bundles, Some(&opts.baseline))?;
    let html = out.join("report.html");
    let markdown = out.join("report.md");
    for (format, dest) in [
        ("html", &html),
        ("markdown", &markdown),
        ("csv", &out.join("report.csv")),
        ("json", &out.join("report.json")),
    ] {
        let exporter = reports::export::exporter_for(format).expect("known format");
        reports::export::write_export(exporter.as_ref(), &report, dest)?;
    }
    Ok(DemoOutcome {
        bundle,
        html,
        markdown,
        report,
        problems,
        elapsed: start.elapsed(),
    })
}

/// The first `name` on `PATH`.
fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// Two worker threads build and drop dicts, lists and strings, and hand a share of them to each other
/// through a queue, so the other thread frees them: small-object churn with cross-thread frees.
const PYTHON_SCRIPT: &str = r#"
import threading, queue
q = queue.Queue(maxsize=256)
def work(seed, n):
    keep = []
    for i in range(n):
        d = {"k%d" % j: [j] * (j % 7) for j in range(i % 13)}
        s = ("x" * (i % 97)) + str(seed * i)
        keep.append((d, s))
        if len(keep) > 64:
            obj = keep.pop(i % 64)
            if i % 3 == 0:
                try:
                    q.put_nowait(obj)
                except queue.Full:
                    pass
        if i % 2 == 0:
            try:
                q.get_nowait()
            except queue.Empty:
                pass
ts = [threading.Thread(target=work, args=(k + 1, 20000)) for k in range(2)]
for t in ts: t.start()
for t in ts: t.join()
print("ok")
"#;

/// Records a threaded python3 run (`PYTHONMALLOC=malloc`, so every object goes through malloc) and
/// compiles it.
fn record_python(
    opts: &DemoOptions,
    tdir: &Path,
    wdir: &Path,
    bar: &mut Progress,
) -> Result<PathBuf, DemoError> {
    if tdir.exists() {
        std::fs::remove_dir_all(tdir).map_err(io_err(tdir))?;
    }
    bar.set(0, "python3 threads under the recorder");
    let mut cmd = Command::new(&opts.exe);
    cmd.args(["record", "-q", "-o"])
        .arg(tdir)
        .args(["--", "python3", "-c", PYTHON_SCRIPT])
        .env("PYTHONMALLOC", "malloc")
        .env("PYTHONHASHSEED", "0");
    step("record", &mut cmd, || {})?;
    let trace = std::fs::read_dir(tdir)
        .map_err(io_err(tdir))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| (e.metadata().map(|m| m.len()).unwrap_or(0), e.path()))
        .max();
    let Some((_, trace)) = trace else {
        return Err(DemoError::Step {
            step: "record".into(),
            command: command_line(&cmd),
            status: format!("wrote no trace into {}", tdir.display()),
            stderr: String::new(),
        });
    };
    bar.set(1, "compiling the trace");
    let path = wdir.join("python-threads.hkw");
    let mut cmd = Command::new(&opts.exe);
    cmd.arg("compile").arg(&trace).arg("-o").arg(&path);
    step("compile", &mut cmd, || {})?;
    Ok(path)
}

/// Records `sort --parallel=2` over a generated file and compiles the trace of the sort process.
fn record_sort(
    opts: &DemoOptions,
    tdir: &Path,
    wdir: &Path,
    bar: &mut Progress,
) -> Result<PathBuf, DemoError> {
    let input = opts.out.join("sort-input.txt");
    let sorted = opts.out.join("sort-output.txt");
    bar.set(0, "writing the input");
    write_sort_input(&input, opts.sort_lines).map_err(io_err(&input))?;
    bar.set(1, "sort --parallel=2 under the recorder");
    let mut cmd = Command::new(&opts.exe);
    cmd.args(["record", "-o"])
        .arg(tdir)
        .args(["--", "sort", "--parallel=2", "-S", "64M", "-o"])
        .arg(&sorted)
        .arg(&input);
    // A fixed locale: collation under a UTF-8 locale allocates differently from machine to machine.
    cmd.env("LC_ALL", "C");
    let recorded = step("record", &mut cmd, || {});
    // The recorder must leave the program's behaviour intact: check sort's output, then delete both files
    // (20 MB at the default size) — the trace is what the demo keeps.
    let intact = std::fs::read(&sorted).map(|b| {
        let lines: Vec<&[u8]> = b.split(|&c| c == b'\n').filter(|l| !l.is_empty()).collect();
        lines.len() as u64 == opts.sort_lines && lines.windows(2).all(|w| w[0] <= w[1])
    });
    let _ = std::fs::remove_file(&input);
    let _ = std::fs::remove_file(&sorted);
    recorded?;
    if !matches!(intact, Ok(true)) {
        return Err(DemoError::Step {
            step: "record".into(),
            command: command_line(&cmd),
            status: format!(
                "left {} missing or not sorted: the recorder changed the program's behaviour",
                sorted.display()
            ),
            stderr: String::new(),
        });
    }
    // One trace per process; the sort process writes the largest (the recorder may see helpers too).
    let mut traces: Vec<(u64, PathBuf)> = std::fs::read_dir(tdir)
        .map_err(io_err(tdir))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| (e.metadata().map(|m| m.len()).unwrap_or(0), e.path()))
        .collect();
    traces.sort();
    let Some((_, trace)) = traces.pop() else {
        return Err(DemoError::Step {
            step: "record".into(),
            command: command_line(&cmd),
            status: format!("wrote no trace into {}", tdir.display()),
            stderr: String::new(),
        });
    };
    bar.set(2, "compiling the trace");
    let path = wdir.join("sort.hkw");
    let mut cmd = Command::new(&opts.exe);
    cmd.arg("compile").arg(&trace).arg("-o").arg(&path);
    step("compile", &mut cmd, || {})?;
    Ok(path)
}
