#!/usr/bin/env python3
"""The measuring and table part of scripts/fidelity.sh (which parses the arguments, builds, and passes them
here in FID_* environment variables). Python 3.11+ standard library only."""

import hashlib, json, os, statistics, subprocess, sys, tempfile, time, tomllib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from suite import default_allocators  # the same .so paths as the suite runner

TIME = "/usr/bin/time"

root, target, out = os.environ["FID_ROOT"], os.environ["FID_TARGET"], os.environ["FID_OUT"]
repeats, quick = int(os.environ["FID_REPEATS"]), os.environ["FID_QUICK"] == "1"
only = [p for p in os.environ["FID_ONLY"].split(",") if p]
allocs = [a for a in os.environ["FID_ALLOCS"].split(",") if a]
hakmem, report_only = os.environ["FID_HAKMEM"], os.environ["FID_REPORT_ONLY"] == "1"
agreement = os.environ.get("FID_AGREEMENT") == "1"
same_run = os.environ.get("FID_SAME_RUN") == "1"
extra = sys.argv[1:]

def load():
    return os.getloadavg()[0]

with open(os.path.join(root, "bench", "suite.toml"), "rb") as f:
    progs = {p["name"]: p for p in tomllib.load(f)["program"]}
for name in only:
    if name not in progs:
        print(f"error: --only {name}: not a program of bench/suite.toml ({', '.join(progs)})", file=sys.stderr)
        sys.exit(2)

def subst(s):
    return (s.replace("{bin}", os.path.join(target, "bench", "bin"))
             .replace("{data}", os.path.join(target, "bench", "data"))
             .replace("{bench}", os.path.join(root, "bench")))

def independent(name, argv, stdin, env, path, rounds=None, ref=None):
    """The independent measurement: `/usr/bin/time -f '%e %U %S %M'` of the same command under the same
    preloads (LD_PRELOAD set the way `hakmem live` sets it: in front of any LD_PRELOAD of the environment),
    `repeats` rounds interleaved over the allocators in the same order, one run at a time, right after the
    program's live runs so that both see the same machine. Appends one JSON line per run to `path`;
    `rounds` (default: all `repeats`) numbers them; `ref` is the system run's (exit, stdout hash) if known.
    Returns that reference: runs whose exit status and stdout differ from it are marked not ok."""
    sos = dict(default_allocators(os.path.join(target, "release")))
    with open(path, "a") as log, tempfile.TemporaryDirectory() as tmp:
        tf = os.path.join(tmp, "time")
        for r in (range(repeats) if rounds is None else rounds):
            for a in allocs:
                if a not in sos:
                    continue  # a configuration such as hakmem:KNOB=V: no plain preload to compare with
                e = dict(env)
                if sos.get(a):
                    e["LD_PRELOAD"] = sos[a] + (" " + env["LD_PRELOAD"] if env.get("LD_PRELOAD") else "")
                with open(stdin or os.devnull, "rb") as fin:
                    t0 = time.perf_counter()
                    p = subprocess.run([TIME, "-f", "%e %U %S %M", "-o", tf] + argv, env=e, stdin=fin,
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                    outer = time.perf_counter() - t0
                fields = open(tf).read().split()[-4:]
                wall, user, sys_s, rss = float(fields[0]), float(fields[1]), float(fields[2]), int(fields[3])
                digest = (p.returncode, hashlib.sha256(p.stdout).hexdigest())
                if a == "system" and ref is None:
                    ref = digest
                ok = ref is None or digest == ref
                log.write(json.dumps({"program": name, "alloc": a, "repeat": r, "wall_s": wall,
                                      "outer_wall_s": outer, "user_s": user, "sys_s": sys_s,
                                      "maxrss_kib": rss, "exit": p.returncode, "ok": ok}) + "\n")
    return ref


def need_time():
    if not os.access(TIME, os.X_OK):
        print(f"error: {TIME} is missing (apt-get install time)", file=sys.stderr)
        sys.exit(2)


def agreement_runs(name, p, argv, env):
    """--agreement: R rounds, each one `hakmem live --repeats 1` (all allocators) then one /usr/bin/time
    round of the same command under the same preloads, so that both measurements see the same minutes of
    this machine (its speed drifts by more than 5 % between minutes). Live bundles go to
    OUT/NAME/live-R, the /usr/bin/time runs to OUT/NAME/independent.jsonl."""
    need_time()
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "independent.jsonl")
    if os.path.exists(path):
        os.remove(path)
    ref = None
    for r in range(repeats):
        cmd = [hakmem, "live", "--repeats", "1", "--timeout", "600", "-o", os.path.join(d, f"live-{r}")]
        for a in allocs:
            cmd += ["--alloc", a]
        if "stdin" in p:
            cmd += ["--stdin", subst(p["stdin"])]
        rc = subprocess.run(cmd + extra + ["--"] + argv, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL).returncode
        if rc not in (0, 1):
            print(f"error: hakmem live failed on {name} (exit {rc})", file=sys.stderr)
            sys.exit(1)
        ref = independent(name, argv, subst(p["stdin"]) if "stdin" in p else None, env, path, [r], ref)


SAME_RUN_TIME = "same-run.time"  # /usr/bin/time's lines of --same-run, in OUT/NAME
SAME_RUN_LIVE = "same-run"       # the live bundle of --same-run, in OUT/NAME


def same_run_runs(name, p, argv, env):
    """--same-run: one `hakmem live --repeats R` (all allocators) of `/usr/bin/time CMD`, so that both tools
    time the same runs. sh puts the run's LD_PRELOAD (as hakmem live set it) into /usr/bin/time's format,
    which appends one line per run to OUT/NAME/same-run.time: `PRELOAD %e %U %S %M`. The runs happen one at a
    time (--jobs 1), the reference run first."""
    need_time()
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, SAME_RUN_TIME)
    if os.path.exists(path):
        os.remove(path)
    wrap = ["/bin/sh", "-c", 'exec ' + TIME + ' -a -o "$0" -f "${LD_PRELOAD:-system} %e %U %S %M" "$@"', path]
    cmd = [hakmem, "live", "--repeats", str(repeats), "--jobs", "1", "--timeout", "600",
           "-o", os.path.join(d, SAME_RUN_LIVE)]
    for a in allocs:
        cmd += ["--alloc", a]
    if "stdin" in p:
        cmd += ["--stdin", subst(p["stdin"])]
    rc = subprocess.run(cmd + extra + ["--"] + wrap + argv, env=env, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL).returncode
    if rc not in (0, 1):
        print(f"error: hakmem live failed on {name} (exit {rc})", file=sys.stderr)
        sys.exit(1)


def same_run_pairs(name):
    """{allocator: {repeat: (live wall s, /usr/bin/time %e s)}} of a --same-run of a program, or {} if it
    has none. /usr/bin/time's lines come in run order: the reference run (system) first, then the rounds;
    each allocator's k-th line is its repeat k (after the reference for system). A line whose preload is
    none of the allocators' is ignored; an allocator whose line count does not match its samples is left out
    (the pairing would be a guess)."""
    d = os.path.join(out, name)
    path, samples = os.path.join(d, SAME_RUN_TIME), os.path.join(d, SAME_RUN_LIVE, "samples.jsonl")
    if not (os.path.exists(path) and os.path.exists(samples)):
        return {}
    sos = {os.path.realpath(so): a for a, so in default_allocators(os.path.join(target, "release")) if so}
    times = {}
    for line in open(path):
        f = line.split()
        if len(f) < 5:
            continue
        pre, wall = f[0], float(f[-4])
        first = os.path.realpath(pre.split(":")[0])  # hakmem live puts its preload in front
        a = "system" if pre == "system" else sos.get(first)
        if a:
            times.setdefault(a, []).append(wall)
    if times.get("system"):
        times["system"] = times["system"][1:]  # the reference run
    live = {}
    for line in open(samples):
        x = json.loads(line)
        if x.get("kind") == "live":
            live.setdefault(x["config"], {})[x["repeat"]] = x["seconds"] if x.get("status") == "ok" else None
    pairs = {}
    for a, reps in live.items():
        t = times.get(a, [])
        if len(t) != len(reps):
            continue
        # Below 50 ms, %e's 10 ms step is a fifth of the run: not a measurement to compare ratios with.
        pairs[a] = {r: (reps[r], t[r]) for r in sorted(reps) if reps[r] is not None and r < len(t) and t[r] >= 0.05}
    return pairs


def live_rounds(name):
    """{config: {round: wall seconds}} of the ok live samples of a program: its `hakmem live --record`
    bundle (round = the sample's repeat), or the rounds of --agreement (round = R of OUT/NAME/live-R).
    A round seen twice for one config is dropped (it names no single round)."""
    secs, seen, d = {}, set(), os.path.join(out, name)
    files = [(os.path.join(d, "samples.jsonl"), None)]
    if os.path.isdir(d):
        files += [(os.path.join(d, sub, "samples.jsonl"), int(sub[5:])) for sub in sorted(os.listdir(d))
                  if sub.startswith("live-") and sub[5:].isdigit()]
    for f, rnd in files:
        if os.path.exists(f):
            for line in open(f):
                x = json.loads(line)
                if x.get("kind") == "live" and x.get("status") == "ok":
                    k = (x["config"], x["repeat"] if rnd is None else rnd)
                    if k in seen:
                        secs[k[0]].pop(k[1], None)
                    else:
                        seen.add(k)
                        secs.setdefault(k[0], {})[k[1]] = x["seconds"]
    return secs


def paired(d, a, base="system"):
    """Time ratio of a to base: the median over the rounds both ran of the ratio within the round (the
    rounds are interleaved, so this cancels the machine's drift between rounds, as `hakmem report`'s
    paired ratio does); the ratio of the medians with fewer than 3 common rounds."""
    common = sorted(set(d[a]) & set(d[base]))
    if len(common) >= 3:
        return statistics.median(d[a][r] / d[base][r] for r in common)
    return statistics.median(d[a].values()) / statistics.median(d[base].values())


load_start = load()
if not report_only:
    for name in only:
        p = progs[name]
        argv = [subst(a) for a in (p.get("quick", p["cmd"]) if quick else p["cmd"])]
        cmd = [hakmem, "live", "--record", "--repeats", str(repeats), "--timeout", "600",
               "-o", os.path.join(out, name)]
        for a in allocs:
            cmd += ["--alloc", a]
        if "stdin" in p:
            cmd += ["--stdin", subst(p["stdin"])]
        cmd += extra + ["--"] + argv
        env = dict(os.environ, **{k: subst(v) for k, v in p.get("env", {}).items()})
        print(f"== {name}: {' '.join(argv)} (load {load():.1f})", file=sys.stderr, flush=True)
        if agreement:
            agreement_runs(name, p, argv, env)
            continue
        if same_run:
            same_run_runs(name, p, argv, env)
            continue
        r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL)
        if r.returncode not in (0, 1):
            print(f"error: hakmem live failed on {name} (exit {r.returncode})", file=sys.stderr)
            sys.exit(1)
        if os.environ["FID_INDEPENDENT"] == "1":
            need_time()
            path = os.path.join(out, name, "independent.jsonl")
            if os.path.exists(path):
                os.remove(path)
            print(f"== {name}: /usr/bin/time, same preloads (load {load():.1f})", file=sys.stderr, flush=True)
            independent(name, argv, subst(p["stdin"]) if "stdin" in p else None, env,
                        os.path.join(out, name, "independent.jsonl"))

rows, errors, additive, live_ratios = [], [], [], {}
pairs = agree = 0
for name in only if agreement else []:
    if live_rounds(name).get("system"):
        live_ratios[name] = {}
for name in [] if agreement or same_run else only:
    bundle = os.path.join(out, name)
    if not os.path.isdir(bundle):
        print(f"warning: no bundle for {name} in {out}", file=sys.stderr)
        continue
    rep = json.loads(subprocess.run([hakmem, "report", bundle, "--export-json", "-"], check=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout)
    for w in rep["sections"][0]["workloads"]:
        if w.get("kind") == "live":
            secs = {row["config"]: row.get("seconds") for row in w["rows"]}
            if secs.get("system"):
                live_ratios[name] = {c: v / secs["system"] for c, v in secs.items() if v}
        f = w.get("fidelity")
        if w.get("info", {}).get("live_workload") or not f:
            continue
        errs = [p["ratio_error"] for p in f["predictions"]
                if p["config"] != f["baseline"] and p.get("ratio_error") is not None]
        errors += errs
        additive += [abs(p["additive_ratio"] - p["live_ratio"]) for p in f["predictions"]
                     if p["config"] != f["baseline"] and p.get("additive_ratio") is not None]
        pairs += f["pairs"]
        agree += f["agree"]
        rows.append((name, w["info"].get("ops", 0), f))

if not (agreement or same_run):
    reps = "repeats as run" if report_only else f"{repeats} repeats"
    print(f"Fidelity of `hakmem live --record` ({reps}; {', '.join(allocs)}; bundles in {out})")
    print(f"{'program':<10} {'calls':>11} {'pairs':>5} {'agree':>5} {'tau':>6} {'error':>7} {'additive':>8}  model, worst (config: predicted/live ratio)")
for name, ops, f in rows:
    tau = "-" if f.get("kendall_tau") is None else f"{f['kendall_tau']:.2f}"
    err = "-" if f.get("ratio_error_median") is None else f"{100 * f['ratio_error_median']:.1f}%"
    ps = [p for p in f["predictions"] if p.get("ratio_error") is not None and p["config"] != f["baseline"]]
    worst = max(ps, key=lambda p: p["ratio_error"], default=None)
    w = f"{worst['config']}: {worst['predicted_ratio']:.3f}/{worst['live_ratio']:.3f}" if worst else ""
    add = "-" if f.get("additive_error_median") is None else f"{100 * f['additive_error_median']:.1f}%"
    model = f.get("model") or "additive"
    if f.get("scale"):
        model += f" k={f['scale']:.2f} s={f['share']:.2f}"
    print(f"{name:<10} {ops:>11,} {f['pairs']:>5} {f['agree']:>5} {tau:>6} {err:>7} {add:>8}  {model}, {w}")
    if f.get("not_meaningful"):
        print(f"{'':<10} {f['not_meaningful']}")
share = f"{100 * agree / pairs:.0f}%" if pairs else "-"
med = f"{100 * statistics.median(errors):.1f}%" if errors else "-"
if not (agreement or same_run):
    amed = f"{100 * statistics.median(additive):.1f}%" if additive else "-"
    print(f"{'total':<10} {'':>11} {pairs:>5} {agree:>5} {'':>6} {med:>7} {amed:>8}  ({share} of the separated pairs agree; targets: >= 80%, error <= 5%)")

indep = {}
for name in live_ratios:
    path = os.path.join(out, name, "independent.jsonl")
    if os.path.exists(path):
        for line in open(path):
            x = json.loads(line)
            if x["ok"]:
                indep.setdefault(name, {}).setdefault(x["alloc"], {})[x["repeat"]] = (x["wall_s"], x["outer_wall_s"])
if indep:
    print()
    how = "alternating round by round" if agreement else "run right after"
    print(f"Live ratios to system: hakmem live vs /usr/bin/time (independent, same preloads, {how})")
    print("(each the median over the rounds of the ratio within the round)")
    print(f"{'program':<10} {'allocator':<10} {'live':>7} {'time':>7} {'diff':>7}")
    diffs, floor = [], []
    for name in live_ratios:
        w = indep.get(name, {})
        ls = live_rounds(name)
        if not w.get("system") or not ls.get("system"):
            continue
        # /usr/bin/time's %e has a resolution of 10 ms: below half a second the wall time measured around
        # /usr/bin/time (its own start-up included, about a millisecond) is used instead.
        k = 0 if statistics.median(x[0] for x in w["system"].values()) >= 0.5 else 1
        t = {a: {r: x[k] for r, x in v.items()} for a, v in w.items()}
        for a in allocs:
            if a == "system" or not t.get(a) or not ls.get(a):
                continue
            r, m = paired(ls, a), paired(t, a)
            d = r / m - 1
            diffs.append(abs(d))
            print(f"{name:<10} {a:<10} {r:>7.3f} {m:>7.3f} {100 * d:>+6.1f}%")
            # The independent measurement against itself: its even rounds' ratio against its odd rounds'.
            halves = [{c: {x: v for x, v in t[c].items() if x % 2 == k} for c in (a, "system")} for k in (0, 1)]
            if all(len(set(h[a]) & set(h["system"])) >= 3 for h in halves):
                floor.append(abs(paired(halves[0], a) / paired(halves[1], a) - 1))
    if diffs:
        within = sum(d <= 0.05 for d in diffs)
        print(f"{'total':<10} {'':<10} {'':>7} {'':>7} median |diff| {100 * statistics.median(diffs):.1f}%, max {100 * max(diffs):.1f}%, {within}/{len(diffs)} within 5% (target)")
    if floor:
        within = sum(d <= 0.05 for d in floor)
        print(f"{'noise':<10} /usr/bin/time against itself (its even rounds' ratios against its odd rounds'): median |diff| {100 * statistics.median(floor):.1f}%, {within}/{len(floor)} within 5%")
same = {name: same_run_pairs(name) for name in only}
same = {n: v for n, v in same.items() if v.get("system")}
for name in only:
    if same_run and name not in same:
        print(f"warning: {name}: no same-run pairs (runs under 50 ms, or /usr/bin/time's lines do not match the samples)", file=sys.stderr)
if same:
    print()
    print("Live ratios to system on the same runs: hakmem live's wall time vs /usr/bin/time's %e of each run")
    print("(each the median over the rounds of the ratio within the round; 'gap' = median live − %e of a run)")
    print(f"{'program':<10} {'allocator':<10} {'live':>7} {'time':>7} {'diff':>7} {'gap':>8}")
    diffs, gaps = [], []
    for name, v in same.items():
        lv = {a: {r: x[0] for r, x in reps.items()} for a, reps in v.items()}
        tv = {a: {r: x[1] for r, x in reps.items()} for a, reps in v.items()}
        for a in allocs:
            if a not in v:
                continue
            if not v[a] or not v.get("system"):
                continue
            gap = statistics.median(x[0] - x[1] for x in v[a].values())
            gaps.append(gap)
            if a == "system":
                print(f"{name:<10} {a:<10} {'':>7} {'':>7} {'':>7} {1000 * gap:>6.1f}ms")
                continue
            r, m = paired(lv, a), paired(tv, a)
            d = r / m - 1
            diffs.append(abs(d))
            print(f"{name:<10} {a:<10} {r:>7.3f} {m:>7.3f} {100 * d:>+6.1f}% {1000 * gap:>6.1f}ms")
    if diffs:
        within = sum(d <= 0.05 for d in diffs)
        print(f"{'total':<10} {'':<10} {'':>7} {'':>7} median |diff| {100 * statistics.median(diffs):.1f}%, max {100 * max(diffs):.1f}%, {within}/{len(diffs)} within 5%; median gap {1000 * statistics.median(gaps):.1f} ms (live's time includes sh's and /usr/bin/time's start-up; %e truncates to 10 ms)")

print(f"load average: {load_start:.1f} at the start, {load():.1f} at the end")
