//! `hakmem plan` / `run-job` / `collect` end to end: a plan run through GNU parallel collects into the
//! bundle a local replay of the same arguments writes; a killed job is missing until its rerun; samples of
//! another plan or another build are refused; hosts that mix are flagged.

use crate::common::{breaker, gcc, PROG_C};
use crate::replay::{bundle, gen_threads, hakmem, run, run_ok, scratch};
use reports::model::{Manifest, Sample, Status};
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Two workloads (one with two threads and cross-thread frees) in `dir`.
fn workloads(dir: &Path, iters: &str) -> (String, String) {
    let a = dir.join("rm.hkw").display().to_string();
    let b = dir.join("thr.hkw").display().to_string();
    run_ok(&["gen", "random-mixed", "--iters", iters, "-o", &a]);
    gen_threads(Path::new(&b), 2, 20000);
    (a, b)
}

/// GNU parallel, or `None` (with a note) when it is absent and cannot be installed by us (not root).
/// As root (CI, where `.ci/run` installs it) its absence is a failure, not a skip.
fn gnu_parallel() -> Option<PathBuf> {
    let ok = Command::new("parallel")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("GNU parallel"))
        .unwrap_or(false);
    if ok {
        return Some(PathBuf::from("parallel"));
    }
    // SAFETY: getuid(2) has no preconditions.
    let root = unsafe { libc::getuid() } == 0;
    assert!(
        !root,
        "GNU parallel is not installed: `apt-get install parallel` (.ci/run does)"
    );
    eprintln!(
        "note: GNU parallel is not installed and this is not root: the parallel test is skipped"
    );
    None
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn value_keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn sample_lines(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("samples.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn identity(s: &Sample) -> (String, String, u32) {
    (s.workload.clone(), s.config.clone(), s.repeat)
}

#[test]
fn a_plan_run_by_gnu_parallel_collects_the_samples_and_keys_of_a_local_replay() {
    let Some(parallel) = gnu_parallel() else {
        return;
    };
    let d = scratch("cluster-parallel");
    let (a, b) = workloads(&d, "100000");
    let local = d.join("local").display().to_string();
    let plan = d.join("plan");
    let p = plan.display().to_string();
    let args = [
        a.as_str(),
        b.as_str(),
        "--alloc",
        "system",
        "--alloc",
        "mimalloc",
        "--alloc",
        "hakmem:HAKMEM_TINY_UNIFIED_C7=64",
        "--repeats",
        "3",
        "--jobs",
        "2",
    ];
    let mut replay = vec!["replay"];
    replay.extend(args);
    replay.extend(["-o", &local]);
    run_ok(&replay);
    let mut planned = vec!["plan", "replay"];
    planned.extend(args);
    planned.extend(["-o", &p]);
    let out = run_ok(&planned);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("18 jobs"), "{text}");

    // The plan's files: 18 job lines, an 18-task array, private files.
    let jobs = std::fs::read_to_string(plan.join("jobs.txt")).unwrap();
    assert_eq!(jobs.lines().count(), 18);
    assert!(jobs.lines().all(|l| l.contains(" run-job ")), "{jobs}");
    let sbatch = std::fs::read_to_string(plan.join("slurm.sbatch")).unwrap();
    assert!(sbatch.contains("#SBATCH --array=0-17%2"), "{sbatch}");
    assert!(sbatch.contains("#SBATCH --cpus-per-task=2"), "{sbatch}");
    assert!(sbatch.contains("#SBATCH --time=13"), "{sbatch}");
    for f in ["plan.json", "jobs.txt", "slurm.sbatch"] {
        assert_eq!(mode(&plan.join(f)), 0o600, "{f}");
    }
    for dir in ["", "samples", "workloads", "logs"] {
        assert_eq!(mode(&plan.join(dir)), 0o700, "{dir}/");
    }
    assert_eq!(
        std::fs::read_dir(plan.join("workloads")).unwrap().count(),
        2
    );

    let st = Command::new(&parallel)
        .args(["--jobs", "2"])
        .stdin(std::fs::File::open(plan.join("jobs.txt")).unwrap())
        .env_remove("LD_PRELOAD")
        .status()
        .unwrap();
    assert!(st.success(), "parallel: {st}");

    // Idempotent: a finished job is not run again.
    let before = std::fs::read(plan.join("samples/4.json")).unwrap();
    let again = run_ok(&["run-job", &p, "4"]);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(std::fs::read(plan.join("samples/4.json")).unwrap(), before);

    let out = run_ok(&["collect", &p]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("3/3"), "{text}");
    let collected = plan.join("bundle");
    assert_eq!(mode(&collected), 0o700);
    assert_eq!(mode(&collected.join("samples.jsonl")), 0o600);
    assert_eq!(mode(&collected.join("manifest.json")), 0o600);

    let (lm, ls) = bundle(Path::new(&local));
    let (cm, cs) = bundle(&collected);
    let ids = |v: &[Sample]| v.iter().map(identity).collect::<BTreeSet<_>>();
    assert_eq!(ids(&ls), ids(&cs));
    assert_eq!(cs.len(), 18);
    assert!(cs.iter().all(|s| s.status == Some(Status::Ok)), "{cs:?}");
    // Collected in job order, which is the local replay's start order.
    let order: Vec<_> = cs.iter().map(identity).collect();
    let mut sorted = order.clone();
    sorted.sort_by_key(|(w, c, r)| {
        let ci = ["system", "mimalloc", "hakmem:HAKMEM_TINY_UNIFIED_C7=64"]
            .iter()
            .position(|x| x == c)
            .unwrap();
        (*r, w.clone(), ci)
    });
    assert_eq!(order, sorted);
    assert!(cs
        .iter()
        .all(|s| !s.host.is_empty() && s.host == ls[0].host));
    // The same keys in every sample and in the manifest.
    let lkeys: BTreeSet<_> = sample_lines(Path::new(&local))
        .iter()
        .map(value_keys)
        .collect();
    let ckeys: BTreeSet<_> = sample_lines(&collected).iter().map(value_keys).collect();
    assert_eq!(lkeys, ckeys);
    assert_eq!(lkeys.len(), 1, "{lkeys:?}");
    let mv = |m: &Manifest| serde_json::to_value(m).unwrap();
    assert_eq!(value_keys(&mv(&lm)), value_keys(&mv(&cm)));
    assert_eq!(lm.allocators, cm.allocators);
    let wl = |m: &Manifest| {
        m.workloads
            .iter()
            .map(|w| {
                (
                    w.name.clone(),
                    w.hash.clone(),
                    w.threads,
                    w.ops,
                    w.path.clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(wl(&lm), wl(&cm));
    assert_eq!(
        (lm.repeats, lm.touch.clone(), lm.check, lm.kind.clone()),
        (cm.repeats, cm.touch.clone(), cm.check, cm.kind.clone())
    );
    assert!(cm
        .notes
        .iter()
        .any(|n| n.contains("collected by `hakmem collect`")));

    // `hakmem report` reads the collected bundle as it reads a local one.
    let html = d.join("r.html").display().to_string();
    let rep = run_ok(&[
        "report",
        &collected.display().to_string(),
        &local,
        "--html",
        &html,
    ]);
    assert!(String::from_utf8_lossy(&rep.stdout).contains("rm"));
    assert!(std::fs::metadata(&html).unwrap().len() > 1000);
}

/// The children of process `pid`.
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect()
}

/// Starts `hakmem run-job PLAN K`, waits until it has a child for which `is_child` holds, kills the job
/// (SIGKILL) and insists that the child dies with it (gone, or a zombie nobody reaps).
fn kill_job_while_its_child_runs(plan: &str, k: usize, is_child: impl Fn(u32) -> bool) {
    let mut job = Command::new(hakmem())
        .args(["run-job", plan, &k.to_string()])
        .env_remove("LD_PRELOAD")
        .spawn()
        .unwrap();
    let child = loop {
        if let Some(c) = children(job.id()).into_iter().find(|&c| is_child(c)) {
            break c;
        }
        assert!(
            job.try_wait().unwrap().is_none(),
            "run-job ended before its child was seen"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    };
    job.kill().unwrap();
    job.wait().unwrap();
    let dead = || {
        std::fs::read_to_string(format!("/proc/{child}/stat"))
            .map(|s| s.contains(") Z "))
            .unwrap_or(true)
    };
    for _ in 0..10_000 {
        if dead() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
    assert!(dead(), "job {k}'s child outlived it: {stat}");
}

#[test]
fn a_killed_job_is_missing_with_its_command_and_its_rerun_completes_the_bundle() {
    let d = scratch("cluster-killed");
    let (a, b) = workloads(&d, "2000000");
    let plan = d.join("plan");
    let p = plan.display().to_string();
    // --check makes every child slow enough to be killed while it replays.
    run_ok(&[
        "plan",
        "replay",
        &a,
        &b,
        "--alloc",
        "system",
        "--alloc",
        "hakmem",
        "--repeats",
        "1",
        "--check",
        "-o",
        &p,
    ]);
    // Kill job 0 while its child replays: no sample may appear, and the child must die with it.
    kill_job_while_its_child_runs(&p, 0, |_| true);
    assert!(!plan.join("samples/0.json").exists());
    for k in 1..4 {
        run_ok(&["run-job", &p, &k.to_string()]);
    }

    let out = run(&["collect", &p]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing: 1 of 4 jobs"), "{err}");
    assert!(err.contains(&format!("run-job {p} 0")), "{err}");
    let (m, s) = bundle(&plan.join("bundle"));
    assert_eq!(s.len(), 3);
    assert!(
        m.notes.iter().any(|n| n.contains("incomplete")),
        "{:?}",
        m.notes
    );
    let rerun = std::fs::read_to_string(plan.join("rerun.txt")).unwrap();
    assert_eq!(rerun.lines().count(), 1);
    let st = Command::new("sh")
        .arg(plan.join("rerun.txt"))
        .env_remove("LD_PRELOAD")
        .status()
        .unwrap();
    assert!(st.success());

    let out = run_ok(&["collect", &p]);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (m, s) = bundle(&plan.join("bundle"));
    assert_eq!(s.len(), 4);
    assert!(s.iter().all(|x| x.status == Some(Status::Ok)));
    assert!(!m.notes.iter().any(|n| n.contains("incomplete")));
    assert!(!plan.join("rerun.txt").exists());
}

#[test]
fn collect_refuses_other_plans_and_builds_and_flags_mixed_hosts() {
    let d = scratch("cluster-refuse");
    let (a, _) = workloads(&d, "20000");
    let mk = |name: &str| {
        let p = d.join(name).display().to_string();
        run_ok(&[
            "plan",
            "replay",
            &a,
            "--alloc",
            "system",
            "--alloc",
            "mimalloc",
            "--repeats",
            "2",
            "-o",
            &p,
        ]);
        for k in 0..4 {
            run_ok(&["run-job", &p, &k.to_string()]);
        }
        PathBuf::from(p)
    };
    let (one, two) = (mk("one"), mk("two"));
    let s = |p: &Path, k: usize| p.join(format!("samples/{k}.json"));

    // A sample of another plan.
    let mine = std::fs::read(s(&one, 1)).unwrap();
    std::fs::copy(s(&two, 1), s(&one, 1)).unwrap();
    let out = run(&["collect", &one.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("different plans"),
        "{err}"
    );
    assert!(
        !one.join("bundle").exists(),
        "nothing is written when collect refuses"
    );
    std::fs::write(s(&one, 1), &mine).unwrap();

    // A sample taken by another build of hakmem.
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s(&one, 2)).unwrap()).unwrap();
    v["tool"]["build"] = "build-id:0000".into();
    std::fs::write(s(&one, 2), serde_json::to_vec(&v).unwrap()).unwrap();
    let out = run(&["collect", &one.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("different builds"), "{err}");
    // ... and a job cannot be run by another build either: the plan names its build.
    let mut plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(two.join("plan.json")).unwrap()).unwrap();
    plan["tool"]["build"] = "build-id:0000".into();
    std::fs::write(two.join("plan.json"), serde_json::to_vec(&plan).unwrap()).unwrap();
    let out = run(&["run-job", "--force", &two.display().to_string(), "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("different builds"));

    // Bad input: no such job, not a plan.
    let out = run(&["run-job", &one.display().to_string(), "4"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("it has 4 jobs"));
    let out = run(&["collect", &d.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("plan directory"));
    let out = run(&["plan", "replay", &a, "-o", &one.display().to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));

    // Two hosts of two CPU models (as two node kinds of a cluster would write them): flagged at collect
    // time, and the report keeps ratios within one kind.
    run_ok(&["run-job", "--force", &one.display().to_string(), "2"]);
    for k in [2, 3] {
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(s(&one, k)).unwrap()).unwrap();
        v["sample"]["host"] = "node-b".into();
        v["sample"]["cpu"] = "Other CPU".into();
        v["machine"]["hostname"] = "node-b".into();
        std::fs::write(s(&one, k), serde_json::to_vec(&v).unwrap()).unwrap();
    }
    let out = run_ok(&["collect", &one.display().to_string()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("samples come from 2 hosts"), "{err}");
    assert!(err.contains("configuration system ran on 2 hosts"), "{err}");
    assert!(err.contains("heterogeneous nodes: 2 CPU models"), "{err}");
    let rep = run_ok(&["report", &one.join("bundle").display().to_string()]);
    let text = String::from_utf8_lossy(&rep.stdout);
    assert!(text.contains("rm @ Other CPU"), "{text}");
}

#[test]
fn with_shared_fs_jobs_read_the_workload_in_place_and_a_changed_one_is_a_failed_sample() {
    let d = scratch("cluster-shared-fs");
    let (a, b) = workloads(&d, "20000");
    let p = d.join("plan").display().to_string();
    run_ok(&[
        "plan",
        "replay",
        &a,
        "--alloc",
        "system",
        "--repeats",
        "2",
        "--shared-fs",
        "-o",
        &p,
    ]);
    assert!(!d.join("plan/workloads").exists());
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("plan/plan.json")).unwrap()).unwrap();
    let file = plan["workloads"][0]["file"].as_str().unwrap().to_string();
    assert_eq!(Path::new(&file), std::fs::canonicalize(&a).unwrap());
    run_ok(&["run-job", &p, "0"]);
    // The workload changes on the shared file system after planning: the job says so instead of
    // measuring something else under the plan's name.
    std::fs::copy(&b, &a).unwrap();
    let out = run(&["run-job", &p, "1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("changed since the plan was written"), "{err}");
    let out = run(&["collect", &p]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("failed: 1 of 2 jobs") && err.contains("--force"),
        "{err}"
    );
}

// ------------------------------------------------------------------------------------------------
// Live plans: the real program as jobs.

/// Runs every line of `jobs.txt` through GNU parallel (`--jobs 2`) or, without it, one after the other
/// through `sh` (the commands are self-contained either way).
fn run_jobs_file(plan: &Path) {
    let jobs = std::fs::File::open(plan.join("jobs.txt")).unwrap();
    let st = match gnu_parallel() {
        Some(p) => Command::new(p)
            .args(["--jobs", "2"])
            .stdin(jobs)
            .env_remove("LD_PRELOAD")
            .status(),
        None => Command::new("sh")
            .stdin(jobs)
            .env_remove("LD_PRELOAD")
            .status(),
    }
    .unwrap();
    assert!(st.success(), "the jobs: {st}");
}

fn plan_json(plan: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(plan.join("plan.json")).unwrap()).unwrap()
}

#[test]
fn a_live_plan_run_by_gnu_parallel_collects_the_samples_and_keys_of_a_local_live_run() {
    let d = scratch("cluster-live");
    let prog = gcc(&d, PROG_C, "prog", &[]);
    let local = d.join("local").display().to_string();
    let plan = d.join("plan");
    let p = plan.display().to_string();
    // The program by a relative path, found through --cwd (as a local live run finds it).
    let args = [
        "--alloc",
        "system",
        "--alloc",
        "hakmem",
        "--repeats",
        "2",
        "--cwd",
        d.to_str().unwrap(),
        "--",
        "./prog",
        "200000",
    ];
    assert!(prog.is_file());
    let mut live = vec!["live", "-o", &local];
    live.extend(args);
    run_ok(&live);
    let mut planned = vec!["plan", "live", "-o", &p];
    planned.extend(args);
    let out = run_ok(&planned);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("4 jobs"), "{text}");

    let jobs = std::fs::read_to_string(plan.join("jobs.txt")).unwrap();
    assert_eq!(jobs.lines().count(), 4);
    let sbatch = std::fs::read_to_string(plan.join("slurm.sbatch")).unwrap();
    assert!(sbatch.contains("#SBATCH --array=0-3%1"), "{sbatch}");
    for f in ["plan.json", "jobs.txt", "slurm.sbatch"] {
        assert_eq!(mode(&plan.join(f)), 0o600, "{f}");
    }
    let v = plan_json(&plan);
    assert_eq!(v["kind"], "live");
    assert_eq!(
        Path::new(v["live"]["cwd"].as_str().unwrap()),
        std::fs::canonicalize(&d).unwrap()
    );
    assert_eq!(v["live"]["reference"]["exit_code"], 0);

    run_jobs_file(&plan);
    let out = run_ok(&["collect", &p]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("2/2"), "{text}");
    let collected = plan.join("bundle");

    let (lm, ls) = bundle(Path::new(&local));
    let (cm, cs) = bundle(&collected);
    let ids = |v: &[Sample]| v.iter().map(identity).collect::<BTreeSet<_>>();
    assert_eq!(ids(&ls), ids(&cs));
    assert_eq!(cs.len(), 4);
    for s in &cs {
        assert_eq!(s.kind, "live");
        assert_eq!(s.status, Some(Status::Ok), "{s:?}");
        assert_eq!(s.exit_code, Some(0));
        // The same program's output, judged against the plan's reference run.
        assert_eq!(s.stdout_hash, ls[0].stdout_hash);
        assert_eq!(s.stdout_hash, v["live"]["reference"]["stdout_hash"]);
        assert!(!s.host.is_empty() && !s.cpu.is_empty() && !s.cpus.is_empty());
        assert!(s.seconds > 0.0 && s.peak_rss_bytes > 0);
    }
    // The same keys in every line of both bundles, apart from the CPU seconds a line leaves out when they
    // are zero (which a short run's user or system time can be, on either side).
    let keys = |dir: &Path| -> BTreeSet<BTreeSet<String>> {
        sample_lines(dir)
            .iter()
            .map(|v| {
                let mut k = value_keys(v);
                k.remove("user_seconds");
                k.remove("sys_seconds");
                k
            })
            .collect()
    };
    let lkeys = keys(Path::new(&local));
    assert_eq!(lkeys, keys(&collected));
    assert_eq!(lkeys.len(), 1, "{lkeys:?}");
    assert!(lkeys
        .iter()
        .all(|k| k.contains("stdout_hash") && k.contains("exit_code") && k.contains("host")));
    let mv = |m: &Manifest| serde_json::to_value(m).unwrap();
    assert_eq!(value_keys(&mv(&lm)), value_keys(&mv(&cm)));
    assert_eq!((lm.kind.as_str(), cm.kind.as_str()), ("live", "live"));
    assert_eq!(lm.allocators, cm.allocators);
    assert_eq!(lm.workloads, cm.workloads);
    assert_eq!(lm.repeats, cm.repeats);
    for needle in [
        "live command:",
        "reference run",
        "collected by `hakmem collect`",
    ] {
        assert!(
            cm.notes.iter().any(|n| n.contains(needle)),
            "{needle}: {:?}",
            cm.notes
        );
    }

    // `hakmem report` reads it as it reads the local one.
    let rep = run_ok(&["report", &collected.display().to_string()]);
    let text = String::from_utf8_lossy(&rep.stdout);
    assert!(
        text.contains("prog 200000") && text.contains("hakmem"),
        "{text}"
    );
}

#[test]
fn a_killed_live_job_is_missing_with_its_command_and_a_changed_output_is_a_failed_sample() {
    let d = scratch("cluster-live-killed");
    let prog = gcc(&d, PROG_C, "prog", &[]);
    let (extra_spec, hang_spec) = (breaker(&d, "EXTRA_OUTPUT"), breaker(&d, "HANG"));
    let plan = d.join("plan");
    let p = plan.display().to_string();
    run_ok(&[
        "plan",
        "live",
        "--alloc",
        "system",
        "--alloc",
        &extra_spec,
        "--alloc",
        &hang_spec,
        "--repeats",
        "1",
        "--timeout",
        "2",
        "-o",
        &p,
        "--",
        prog.to_str().unwrap(),
        "1000",
    ]);
    run_ok(&["run-job", &p, "0"]);
    // A preload that prints: the job says so and records an output_differs sample.
    let out = run(&["run-job", &p, "1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stdout differs"), "{err}");

    // Job 2 hangs in its preload's constructor: kill the job; its program must die with it. The child
    // is waited for until it has exec'd the program (its parent-death signal is set before exec).
    let program = prog.to_str().unwrap().as_bytes();
    kill_job_while_its_child_runs(&p, 2, |c| {
        std::fs::read(format!("/proc/{c}/cmdline")).is_ok_and(|b| b.starts_with(program))
    });
    assert!(!plan.join("samples/2.json").exists());

    let out = run(&["collect", &p]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing: 1 of 3 jobs"), "{err}");
    assert!(err.contains(&format!("run-job {p} 2")), "{err}");
    assert!(err.contains("failed: 1 of 3 jobs"), "{err}");
    assert!(err.contains(&format!("run-job --force {p} 1")), "{err}");
    let (m, s) = bundle(&plan.join("bundle"));
    assert_eq!(m.kind, "live");
    assert_eq!(s.len(), 2);
    let differs = s.iter().find(|x| x.config == extra_spec).unwrap();
    assert_eq!(differs.status, Some(Status::OutputDiffers), "{differs:?}");

    // Its rerun (from rerun.txt) ends at the plan's timeout: a timeout sample, no longer missing.
    let rerun = std::fs::read_to_string(plan.join("rerun.txt")).unwrap();
    assert_eq!(rerun.lines().count(), 2, "{rerun}");
    let out = run(&["run-job", &p, "2"]);
    assert_eq!(out.status.code(), Some(1));
    let out = run(&["collect", &p]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("missing"), "{err}");
    assert!(err.contains("failed: 2 of 3 jobs"), "{err}");
    let (_, s) = bundle(&plan.join("bundle"));
    let hung = s.iter().find(|x| x.config == hang_spec).unwrap();
    assert_eq!(hung.status, Some(Status::Timeout), "{hung:?}");
}

#[test]
fn a_live_plan_copies_its_stdin_and_with_shared_fs_a_changed_stdin_is_a_failed_sample() {
    let d = scratch("cluster-live-stdin");
    let input = d.join("in.txt");
    std::fs::write(&input, "b\na\nc\n").unwrap();
    let mk = |name: &str, shared: bool| {
        let p = d.join(name).display().to_string();
        let mut a = vec![
            "plan",
            "live",
            "--alloc",
            "system",
            "--repeats",
            "2",
            "--stdin",
            input.to_str().unwrap(),
            "-o",
            &p,
        ];
        if shared {
            a.push("--shared-fs");
        }
        a.extend(["--", "sort"]);
        run_ok(&a);
        p
    };
    let (copied, shared) = (mk("copied", false), mk("shared", true));
    assert_eq!(
        std::fs::read_dir(Path::new(&copied).join("inputs"))
            .unwrap()
            .count(),
        1
    );
    assert!(!Path::new(&shared).join("inputs").exists());
    run_ok(&["run-job", &copied, "0"]);
    run_ok(&["run-job", &shared, "0"]);
    // The file changes after planning: the copy is unaffected, the file read in place is refused.
    std::fs::write(&input, "z\ny\n").unwrap();
    run_ok(&["run-job", &copied, "1"]);
    let out = run(&["run-job", &shared, "1"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("changed since the plan was written"), "{err}");
    run_ok(&["collect", &copied]);
    let out = run(&["collect", &shared]);
    assert_eq!(out.status.code(), Some(1));
}
