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

def independent(name, argv, stdin, env, path):
    """The independent measurement: `/usr/bin/time -f '%e %U %S %M'` of the same command under the same
    preloads (LD_PRELOAD set the way `hakmem live` sets it: in front of any LD_PRELOAD of the environment),
    `repeats` rounds interleaved over the allocators in the same order, one run at a time, right after the
    program's live runs so that both see the same machine. Writes one JSON line per run to `path`;
    returns {alloc: [wall seconds, …]} of the runs whose exit status and stdout match the system run's."""
    sos = dict(default_allocators(os.path.join(target, "release")))
    walls, ref = {a: [] for a in allocs}, None
    with open(path, "w") as log, tempfile.TemporaryDirectory() as tmp:
        tf = os.path.join(tmp, "time")
        for r in range(repeats):
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
                if ok:
                    walls[a].append(wall)
    return walls

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
        r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL)
        if r.returncode not in (0, 1):
            print(f"error: hakmem live failed on {name} (exit {r.returncode})", file=sys.stderr)
            sys.exit(1)
        if os.environ["FID_INDEPENDENT"] == "1":
            if not os.access(TIME, os.X_OK):
                print(f"error: {TIME} is missing (apt-get install time)", file=sys.stderr)
                sys.exit(2)
            print(f"== {name}: /usr/bin/time, same preloads (load {load():.1f})", file=sys.stderr, flush=True)
            independent(name, argv, subst(p["stdin"]) if "stdin" in p else None, env,
                        os.path.join(out, name, "independent.jsonl"))

rows, errors, live_ratios = [], [], {}
pairs = agree = 0
for name in only:
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
        pairs += f["pairs"]
        agree += f["agree"]
        rows.append((name, w["info"].get("ops", 0), f))

print(f"Fidelity of `hakmem live --record` ({repeats} repeats; {', '.join(allocs)}; bundles in {out})")
print(f"{'program':<10} {'calls':>11} {'pairs':>5} {'agree':>5} {'tau':>6} {'error':>7}  worst (config: predicted/live ratio)")
for name, ops, f in rows:
    tau = "-" if f.get("kendall_tau") is None else f"{f['kendall_tau']:.2f}"
    err = "-" if f.get("ratio_error_median") is None else f"{100 * f['ratio_error_median']:.1f}%"
    ps = [p for p in f["predictions"] if p.get("ratio_error") is not None and p["config"] != f["baseline"]]
    worst = max(ps, key=lambda p: p["ratio_error"], default=None)
    w = f"{worst['config']}: {worst['predicted_ratio']:.3f}/{worst['live_ratio']:.3f}" if worst else ""
    print(f"{name:<10} {ops:>11,} {f['pairs']:>5} {f['agree']:>5} {tau:>6} {err:>7}  {w}")
    if f.get("not_meaningful"):
        print(f"{'':<10} {f['not_meaningful']}")
share = f"{100 * agree / pairs:.0f}%" if pairs else "-"
med = f"{100 * statistics.median(errors):.1f}%" if errors else "-"
print(f"{'total':<10} {'':>11} {pairs:>5} {agree:>5} {'':>6} {med:>7}  ({share} of the separated pairs agree; targets: >= 80%, error <= 5%)")

indep = {}
for name in live_ratios:
    path = os.path.join(out, name, "independent.jsonl")
    if os.path.exists(path):
        for line in open(path):
            x = json.loads(line)
            if x["ok"]:
                indep.setdefault(name, {}).setdefault(x["alloc"], []).append((x["wall_s"], x["outer_wall_s"]))
if indep:
    print()
    print("Live ratios to system: hakmem live vs /usr/bin/time (independent, same preloads, run right after)")
    print(f"{'program':<10} {'allocator':<10} {'live':>7} {'time':>7} {'diff':>7}")
    diffs = []
    for name, lr in live_ratios.items():
        w = indep.get(name, {})
        if not w.get("system"):
            continue
        # /usr/bin/time's %e has a resolution of 10 ms: below half a second the wall time measured around
        # /usr/bin/time (its own start-up included, about a millisecond) is used instead.
        k = 0 if statistics.median(x[0] for x in w["system"]) >= 0.5 else 1
        base = statistics.median(x[k] for x in w["system"])
        for a, r in lr.items():
            if a == "system" or not w.get(a):
                continue
            m = statistics.median(x[k] for x in w[a]) / base
            d = r / m - 1
            diffs.append(abs(d))
            print(f"{name:<10} {a:<10} {r:>7.3f} {m:>7.3f} {100 * d:>+6.1f}%")
    if diffs:
        within = sum(d <= 0.05 for d in diffs)
        print(f"{'total':<10} {'':<10} {'':>7} {'':>7} median |diff| {100 * statistics.median(diffs):.1f}%, max {100 * max(diffs):.1f}%, {within}/{len(diffs)} within 5% (target)")
print(f"load average: {load_start:.1f} at the start, {load():.1f} at the end")
