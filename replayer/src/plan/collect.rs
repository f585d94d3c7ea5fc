//! `hakmem collect PLAN_DIR [-o BUNDLE]`: merges a plan's sample files into an ordinary result bundle.
//!
//! Entry point: [`collect`]. Samples are written in job order, one file read at a time (memory stays
//! bounded by what the summary keeps per sample, without latency and box statistics). Refuses (an error,
//! nothing written) to mix samples of another plan or another build of `hakmem`. Lists missing jobs and
//! failed ones with the commands that rerun them (also written to `PLAN_DIR/rerun.txt`). Flags
//! configurations whose samples come from several hosts; where node kinds (CPU models) mix, says which
//! configurations a kind lacks (the report groups workloads by node kind, see `reports::bundle`).

use super::fsutil::{create_private_dir, write_private_atomically};
use super::{Plan, SampleFile, RERUN_FILE, SAMPLES_DIR};
use anyhow::Context;
use reports::model::{Machine, Manifest, Sample, Status, MANIFEST_FILE, SAMPLES_FILE};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// What [`collect`] merged and what it could not.
#[derive(Clone, Debug)]
pub struct Collected {
    /// The bundle directory written.
    pub bundle: PathBuf,
    /// The plan.
    pub plan: Plan,
    /// Samples merged, without latency percentiles, box statistics and violations (for the summary).
    pub samples: Vec<Sample>,
    /// Jobs with no sample yet.
    pub missing: Vec<usize>,
    /// Jobs whose sample failed, with the reason.
    pub failed: Vec<(usize, String)>,
    /// Findings about the hosts the samples came from (also in the manifest's notes).
    pub host_notes: Vec<String>,
    /// Files in `samples/` that are not a job's sample (left alone).
    pub stray: Vec<PathBuf>,
}

/// The note that marks a bundle as collected from `plan` (a later `collect` of the same plan may rewrite it).
fn origin_note(plan: &Plan) -> String {
    format!(
        "collected by `hakmem collect` from plan {} ({} jobs, {})",
        plan.id,
        plan.jobs.len(),
        plan.dir.display()
    )
}

/// Merges the samples of the plan in `dir` into `out` (default `dir/bundle`).
pub fn collect(dir: &Path, out: Option<&Path>) -> anyhow::Result<Collected> {
    let plan = Plan::load(dir)?;
    let out = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.join("bundle"));
    let origin = origin_note(&plan);
    if let Ok(text) = std::fs::read_to_string(out.join(MANIFEST_FILE)) {
        let ours = serde_json::from_str::<Manifest>(&text)
            .map(|m| m.notes.iter().any(|n| n == &origin))
            .unwrap_or(false);
        anyhow::ensure!(
            ours,
            "{} already holds a bundle that was not collected from plan {}: choose another -o",
            out.display(),
            plan.id
        );
    }

    // One pass over the sample files in job order, each checked and appended to a temporary samples file
    // in the bundle directory; only a light copy of each sample is kept (for the summary).
    let created = !out.exists();
    create_private_dir(&out)?;
    let tmp = tmp_samples(&out);
    let _ = std::fs::remove_file(&tmp);
    let read = read_samples(&plan, dir, &tmp);
    let Read {
        samples,
        missing,
        failed,
        machines,
        first_start,
    } = match read {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            if created {
                let _ = std::fs::remove_dir(&out);
            }
            return Err(e);
        }
    };
    let n = plan.jobs.len();
    let stray = stray_files(dir, n)?;

    let host_notes = host_findings(&plan, &samples);
    let mut manifest = plan.manifest.clone();
    manifest.command = plan.command.clone();
    if let Some(m) = machines.first() {
        manifest.machine = m.clone();
    }
    if let Some(d) = first_start {
        manifest.date = d;
    }
    manifest.notes.push(origin);
    if !plan.env.is_empty() {
        let env: Vec<String> = plan.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        manifest.notes.push(format!(
            "HAKMEM_* environment of the plan, set for every job (spec knobs override it): {}",
            env.join(" ")
        ));
    }
    if plan.live.is_none() {
        manifest.notes.push(
            "peak_rss_bytes and post_rss_bytes are the whole child's (harness + decoded workload + allocator); baseline_rss_bytes is the child's RSS just before the timed region (VmHWM reset there), so peak - baseline (\"heap peak\") is the allocator's own".into(),
        );
    }
    if machines.len() > 1 {
        manifest.notes.push(format!(
            "the manifest's machine is the first job's; {} machines took samples (each sample names its host and CPU)",
            machines.len()
        ));
    }
    manifest.notes.extend(host_notes.iter().cloned());
    if !missing.is_empty() {
        manifest.notes.push(format!(
            "incomplete: {} of {n} jobs have no sample yet (rerun them and collect again)",
            missing.len()
        ));
    }

    finish_samples(&out)?;
    let text = serde_json::to_string_pretty(&manifest)?;
    write_private_atomically(&out.join(MANIFEST_FILE), text.as_bytes())?;
    if let Some(p) = &plan.export_json {
        write_export(&out, &manifest, p)?;
    }
    let rerun = rerun_commands(&plan, &missing, &failed);
    let rerun_path = dir.join(RERUN_FILE);
    if rerun.is_empty() {
        let _ = std::fs::remove_file(&rerun_path);
    } else {
        write_private_atomically(&rerun_path, rerun.join("\n").as_bytes())?;
    }
    Ok(Collected {
        bundle: out,
        plan,
        samples,
        missing,
        failed,
        host_notes,
        stray,
    })
}

struct Read {
    samples: Vec<Sample>,
    missing: Vec<usize>,
    failed: Vec<(usize, String)>,
    machines: Vec<Machine>,
    first_start: Option<String>,
}

/// Reads every job's sample file, refusing other plans and builds, and appends the samples to `tmp`.
fn read_samples(plan: &Plan, dir: &Path, tmp: &Path) -> anyhow::Result<Read> {
    let mut w = std::io::BufWriter::with_capacity(
        1 << 20,
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?,
    );
    let mut r = Read {
        samples: Vec::new(),
        missing: Vec::new(),
        failed: Vec::new(),
        machines: Vec::new(),
        first_start: None,
    };
    for k in 0..plan.jobs.len() {
        let path = Plan::sample_path(dir, k);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                r.missing.push(k);
                continue;
            }
            Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
        };
        let file: SampleFile = match serde_json::from_str(&text) {
            Ok(f) => f,
            Err(e) => {
                // run-job renames whole files into place, so this one was damaged afterwards: retake it.
                r.failed
                    .push((k, format!("{} is not a sample file ({e})", path.display())));
                continue;
            }
        };
        anyhow::ensure!(
            file.plan == plan.id,
            "{} is a sample of plan {}, not of plan {}: samples of different plans are never mixed",
            path.display(),
            file.plan,
            plan.id
        );
        anyhow::ensure!(
            file.key == k as u64,
            "{} holds job {} of this plan, not job {k} (renamed or copied by hand?)",
            path.display(),
            file.key
        );
        plan.check_tool(&file.tool, &path.display().to_string())?;
        if let Some(why) = identity_mismatch(plan, k, &file.sample) {
            anyhow::bail!("{}: {why}", path.display());
        }
        if file.sample.status != Some(Status::Ok) {
            r.failed.push((
                k,
                format!(
                    "{:?}: {}",
                    file.sample.status.unwrap_or(Status::Error),
                    file.sample.error
                ),
            ));
        }
        let earlier = match &r.first_start {
            Some(d) => &file.started < d,
            None => true,
        };
        if earlier {
            r.first_start = Some(file.started.clone());
        }
        if !r.machines.contains(&file.machine) {
            r.machines.push(file.machine.clone());
        }
        serde_json::to_writer(&mut w, &file.sample)?;
        w.write_all(b"\n")
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        let mut light = file.sample;
        light.latency_ns.clear();
        light.box_stats.clear();
        light.violations.clear();
        r.samples.push(light);
    }
    w.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    Ok(r)
}

/// The commands that retake what is missing or failed, one per line (failed jobs with `--force`).
pub fn rerun_commands(plan: &Plan, missing: &[usize], failed: &[(usize, String)]) -> Vec<String> {
    let mut v: Vec<String> = missing
        .iter()
        .map(|&k| plan.job_command(k, false))
        .collect();
    v.extend(failed.iter().map(|(k, _)| plan.job_command(*k, true)));
    v
}

/// A sample must be the one its job takes: same workload, configuration and repeat.
fn identity_mismatch(plan: &Plan, k: usize, s: &Sample) -> Option<String> {
    let j = plan.jobs[k];
    let w = plan.workload_name(j);
    let c = &plan.configs[j.config as usize].label;
    (s.workload != w || &s.config != c || s.repeat != j.repeat).then(|| {
        format!(
            "holds {} × {} #{}, but job {k} is {w} × {c} #{}",
            s.workload, s.config, s.repeat, j.repeat
        )
    })
}

/// The temporary samples file, renamed over `samples.jsonl` once complete.
fn tmp_samples(out: &Path) -> PathBuf {
    out.join(format!(".{SAMPLES_FILE}.{}.tmp", std::process::id()))
}

fn finish_samples(out: &Path) -> anyhow::Result<()> {
    let tmp = tmp_samples(out);
    let path = out.join(SAMPLES_FILE);
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))
}

/// `--export-json` of the plan: the bundle as one JSON document, read back from what was written.
fn write_export(out: &Path, manifest: &Manifest, dest: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(out.join(SAMPLES_FILE))?;
    let samples: Vec<serde_json::Value> = text
        .lines()
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let doc = serde_json::json!({ "manifest": manifest, "samples": samples });
    write_private_atomically(dest, serde_json::to_string_pretty(&doc)?.as_bytes())
}

/// Files in `samples/` other than `0.json … (n-1).json` and run-job's hidden temporaries.
fn stray_files(dir: &Path, n: usize) -> anyhow::Result<Vec<PathBuf>> {
    let sdir = dir.join(SAMPLES_DIR);
    let mut stray = Vec::new();
    let entries =
        std::fs::read_dir(&sdir).with_context(|| format!("cannot read {}", sdir.display()))?;
    for e in entries {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let ours = name
            .strip_suffix(".json")
            .and_then(|k| k.parse::<usize>().ok())
            .is_some_and(|k| k < n && name == format!("{k}.json"));
        if !ours {
            stray.push(e.path());
        }
    }
    stray.sort();
    Ok(stray)
}

/// Hosts and node kinds: a configuration whose samples come from several hosts is flagged; where CPU models
/// differ, ratios are only meaningful within one kind, so each kind that lacks a configuration is named.
pub fn host_findings(plan: &Plan, samples: &[Sample]) -> Vec<String> {
    let mut notes = Vec::new();
    let mut hosts_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut configs_of_kind: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for s in samples {
        hosts_of.entry(&s.config).or_default().insert(&s.host);
        configs_of_kind.entry(&s.cpu).or_default().insert(&s.config);
    }
    let all_hosts: BTreeSet<&str> = hosts_of.values().flatten().copied().collect();
    if all_hosts.len() > 1 {
        let mut per_host: BTreeMap<&str, usize> = BTreeMap::new();
        for s in samples {
            *per_host.entry(&s.host).or_default() += 1;
        }
        let list: Vec<String> = per_host.iter().map(|(h, c)| format!("{h} ×{c}")).collect();
        notes.push(format!(
            "samples come from {} hosts: {}",
            all_hosts.len(),
            list.join(", ")
        ));
        for (config, hosts) in &hosts_of {
            if hosts.len() > 1 {
                let h: Vec<&str> = hosts.iter().copied().collect();
                notes.push(format!(
                    "configuration {config} ran on {} hosts ({}): its repeats mix machines",
                    hosts.len(),
                    h.join(", ")
                ));
            }
        }
    }
    if configs_of_kind.len() > 1 {
        let kinds: Vec<&str> = configs_of_kind.keys().copied().collect();
        notes.push(format!(
            "heterogeneous nodes: {} CPU models ({}); ratios are only meaningful within one kind, so the report groups workloads by CPU model",
            kinds.len(),
            kinds.join("; ")
        ));
        let labels: Vec<&str> = plan.configs.iter().map(|c| c.label.as_str()).collect();
        for (kind, have) in &configs_of_kind {
            let lack: Vec<&str> = labels
                .iter()
                .copied()
                .filter(|l| !have.contains(l))
                .collect();
            if !lack.is_empty() {
                notes.push(format!(
                    "node kind {kind} has no sample of {}: its ratios leave them out",
                    lack.join(", ")
                ));
            }
        }
    }
    notes
}
