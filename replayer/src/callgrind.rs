//! `hakmem bench … --callgrind`: instructions per op, a figure that does not depend on noise. Each
//! configuration runs the bench in a child under `valgrind --tool=callgrind`, once with the requested
//! iterations and once with zero; `Ir/op = (Ir(full) − Ir(zero)) / ops(full)` removes start-up and setup.
//! Latency sampling is off in these runs (its `rdtsc` reads would count).
//!
//! Entry point: [`run`]. Needs `valgrind` on PATH.

use crate::child::{Job, Source};
use crate::engine::Touch;
use crate::orchestrate::{self, Runner, Task};
use crate::spec::AllocSpec;
use anyhow::Context;
use reports::model::{Status, WorkloadInfo};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// Total `Ir` in a callgrind output file (its `summary:` or `totals:` line).
pub fn total_ir(path: &Path) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read callgrind output {}", path.display()))?;
    text.lines()
        .filter_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .filter_map(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
        .next()
        .with_context(|| {
            format!(
                "{}: no `summary:` line (did callgrind finish?)",
                path.display()
            )
        })
}

fn zero_iterations(source: &Source) -> Source {
    match source {
        Source::RandomMixed(p) => {
            Source::RandomMixed(crate::engine::RandomMixed { iters: 0, ..*p })
        }
        Source::ProducerConsumer(p) => {
            Source::ProducerConsumer(crate::engine::ProducerConsumer { iters: 0, ..*p })
        }
        other => other.clone(),
    }
}

/// Runs every configuration under callgrind and prints Ir/op with ratios against the baseline.
pub fn run(
    configs: &[AllocSpec],
    info: &WorkloadInfo,
    source: Source,
    touch: Touch,
    timeout: Duration,
    baseline: Option<&str>,
) -> anyhow::Result<u8> {
    let ok = std::process::Command::new("valgrind")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    anyhow::ensure!(
        ok,
        "valgrind is not installed (Debian: apt-get install valgrind)"
    );
    let dir = std::env::temp_dir().join(format!("hakmem-callgrind-{}", std::process::id()));
    traces::private::create_dir_all(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let exe = crate::session::self_exe()?;
    let mut rows: Vec<(String, u64, u64, u64)> = Vec::new();
    let mut failures = 0;
    for (i, spec) in configs.iter().enumerate() {
        let mut irs = [0u64; 2];
        let mut ops = 0;
        for (k, src) in [source.clone(), zero_iterations(&source)]
            .into_iter()
            .enumerate()
        {
            let out = dir.join(format!("cfg{i}-{k}.out"));
            let runner = Runner {
                exe: exe.clone(),
                jobs: 1,
                timeout,
                progress: false,
                wrapper: vec![
                    "valgrind".into(),
                    "--tool=callgrind".into(),
                    "--quiet".into(),
                    format!("--callgrind-out-file={}", out.display()),
                ],
            };
            let task = Task {
                job: Job {
                    source: src,
                    alloc: spec.clone(),
                    touch,
                    check: false,
                    latency_every: 0,
                    warmup: false,
                    pace_ns: 0,
                    walk: 0,
                    cpus: Vec::new(),
                },
                workload: info.name.clone(),
                repeat: 0,
                threads: info.threads,
            };
            let sample = orchestrate::run_one(&task, Vec::new(), &runner);
            if sample.status != Some(Status::Ok) {
                eprintln!(
                    "error: {} under callgrind: {:?}: {}",
                    spec.label, sample.status, sample.error
                );
                failures += 1;
                break;
            }
            if k == 0 {
                ops = sample.ops;
            }
            irs[k] = total_ir(&out)?;
        }
        if irs[0] > 0 {
            rows.push((spec.label.clone(), irs[0], irs[1], ops));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let labels: Vec<String> = configs.iter().map(|c| c.label.clone()).collect();
    let base = crate::summary::pick_baseline(&labels, baseline);
    let per_op = |r: &(String, u64, u64, u64)| r.1.saturating_sub(r.2) as f64 / r.3.max(1) as f64;
    let base_ir = base
        .as_ref()
        .and_then(|b| rows.iter().find(|r| &r.0 == b))
        .map(per_op);
    use reports::table::{Table, Tone};
    let mut t = Table {
        header: ["config", "Ir total", "Ir setup", "ops", "Ir/op", "vs base"]
            .map(String::from)
            .to_vec(),
        numeric: vec![false, true, true, true, true, true],
        rows: Vec::new(),
    };
    for r in &rows {
        let is_base = base.as_deref() == Some(r.0.as_str());
        let ratio = match base_ir {
            _ if is_base => ("baseline".to_owned(), Tone::Dim),
            Some(b) if b > 0.0 => (reports::format::ratio(per_op(r) / b), Tone::Plain),
            _ => (String::new(), Tone::Plain),
        };
        let p = |s: String| (s, Tone::Plain);
        t.rows.push(vec![
            p(r.0.clone()),
            p(reports::format::count(r.1 as f64)),
            p(reports::format::count(r.2 as f64)),
            p(reports::format::count(r.3 as f64)),
            p(format!("{:.1}", per_op(r))),
            ratio,
        ]);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "callgrind: {}", info.name)?;
    out.write_all(
        reports::terminal::render_table(&t, reports::terminal::Style::auto()).as_bytes(),
    )?;
    if let Some(b) = base {
        writeln!(
            out,
            "vs base = Ir/op ÷ Ir/op of `{b}` (below 1×: fewer instructions per op)"
        )?;
    }
    Ok(if failures > 0 { 1 } else { 0 })
}
