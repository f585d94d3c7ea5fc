#!/usr/bin/env python3
"""The measuring and table part of scripts/fidelity.sh (which parses the arguments, builds, and passes them
here in FID_* environment variables). Python 3.11+ standard library only."""

import json, os, statistics, subprocess, sys, tomllib

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
        f = w.get("fidelity")
        if w.get("info", {}).get("live_workload") or not f:
            continue
        live_ratios[name] = {p["config"]: p["live_ratio"] for p in f["predictions"]}
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

if os.environ["FID_INDEPENDENT"] == "1" and not report_only and live_ratios:
    sj = os.path.join(out, "suite.json")
    cmd = [sys.executable, os.path.join(root, "scripts", "suite.py"), "--no-build", "--repeats", str(repeats),
           "--only", ",".join(live_ratios), "--alloc", ",".join(allocs), "--json", sj]
    if quick:
        cmd.append("--quick")
    print(f"== independent runner: scripts/suite.py (load {load():.1f})", file=sys.stderr, flush=True)
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=False)
if os.path.exists(os.path.join(out, "suite.json")) and live_ratios:
    doc = json.load(open(os.path.join(out, "suite.json")))
    print()
    print("Live ratios to system: hakmem live vs scripts/suite.py (independent runner, same preloads)")
    print(f"{'program':<10} {'allocator':<10} {'live':>7} {'suite':>7} {'diff':>7}")
    diffs = []
    for name, lr in live_ratios.items():
        def med_wall(a):
            w = [s["wall_s"] for s in doc["samples"] if s["program"] == name and s["alloc"] == a and s["ok"]]
            return statistics.median(w) if w else None
        base = med_wall("system")
        for a, r in lr.items():
            m = med_wall(a)
            if a == "system" or base is None or m is None:
                continue
            d = lr[a] / (m / base) - 1
            diffs.append(abs(d))
            print(f"{name:<10} {a:<10} {lr[a]:>7.3f} {m / base:>7.3f} {100 * d:>+6.1f}%")
    if diffs:
        within = sum(d <= 0.05 for d in diffs)
        print(f"{'total':<10} {'':<10} {'':>7} {'':>7} median |diff| {100 * statistics.median(diffs):.1f}%, max {100 * max(diffs):.1f}%, {within}/{len(diffs)} within 5% (target)")
print(f"load average: {load_start:.1f} at the start, {load():.1f} at the end")
