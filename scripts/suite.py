#!/usr/bin/env python3
"""An independent live runner: the suite of bench/suite.toml under each allocator, through LD_PRELOAD.

Usage: scripts/suite.py [--repeats R] [--alloc NAME[=PATH.so],...] [--only NAME,...] [--group pattern|real]
                        [--quick] [--json FILE] [--subject NAME] [--timeout S] [--target-dir DIR]
                        [--no-build] [--manifest FILE]

For each of R repeats, for each program, for each allocator (so repeats are interleaved: drift hits every
allocator alike), it runs the program once, one run at a time, and measures with os.wait4: wall seconds,
user and system CPU seconds, peak RSS (ru_maxrss of the child: for a program that starts other processes
it is the largest of them, not their sum), minor/major faults. A run whose exit status or stdout (SHA-256)
differs from the `system` run of the same program is a failed sample ("output differs"): an allocator that
changes a program's result is broken.

Allocators: system (no preload), hakmem (target/release/libhakmem.so), mimalloc and mimalloc2 (the
workspace's builds of mimalloc 3.x and 2.x, target/release/libhakmem_mimalloc{,2}.so), jemalloc and
tcmalloc (Debian's libjemalloc.so.2 and libtcmalloc_minimal.so.4). One that is missing is skipped with a
note; NAME=PATH.so adds another.

Output: per program a table (median wall and CPU time, median peak RSS, each as a ratio to the "best
mimalloc" = the faster, respectively leaner, of mimalloc and mimalloc2 on that program; spread of wall
time), geometric means of the ratios per group, and the verdict of issue 11's targets for --subject
(default hakmem). --json FILE writes everything (samples included), rewritten after every run.
Exit status: 0 when every sample succeeded, 1 when some failed, 2 on bad usage. Python 3.11+ stdlib only.
"""
import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBDIR = "/usr/lib/x86_64-linux-gnu"
BEST = ("mimalloc", "mimalloc2")
FORMAT = "hakmem-suite"
FORMAT_VERSION = 1


def fail(msg):
    print(f"error: {msg}", file=sys.stderr)
    sys.exit(2)


def default_allocators(profile_dir):
    return [
        ("system", None),
        ("hakmem", os.path.join(profile_dir, "libhakmem.so")),
        ("mimalloc", os.path.join(profile_dir, "libhakmem_mimalloc.so")),
        ("mimalloc2", os.path.join(profile_dir, "libhakmem_mimalloc2.so")),
        ("jemalloc", os.path.join(LIBDIR, "libjemalloc.so.2")),
        ("tcmalloc", os.path.join(LIBDIR, "libtcmalloc_minimal.so.4")),
    ]


def parse_allocs(spec, profile_dir):
    known = dict(default_allocators(profile_dir))
    if spec is None:
        return default_allocators(profile_dir)
    out = []
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        if "=" in item:
            name, path = item.split("=", 1)
            if not name or not path:
                fail(f"--alloc item '{item}' must be NAME or NAME=PATH.so")
            out.append((name, os.path.abspath(path)))
        elif item in known:
            out.append((item, known[item]))
        else:
            fail(f"unknown allocator '{item}' (known: {', '.join(known)}; or NAME=PATH.so)")
    if len({n for n, _ in out}) != len(out):
        fail("--alloc names an allocator twice")
    return out


def mimalloc_versions():
    """MI_MALLOC_VERSION of the vendored sources, read the way the baselines crate reads them."""
    versions = {}
    cargo_home = os.environ.get("CARGO_HOME", os.path.expanduser("~/.cargo"))
    lock = os.path.join(ROOT, "Cargo.lock")
    try:
        text = open(lock).read()
        ver = text.split('name = "libmimalloc-sys"\nversion = "', 1)[1].split('"', 1)[0]
    except (OSError, IndexError):
        return versions
    src = os.path.join(cargo_home, "registry", "src")
    for reg in sorted(os.listdir(src)) if os.path.isdir(src) else []:
        base = os.path.join(src, reg, f"libmimalloc-sys-{ver}", "c_src", "mimalloc")
        for line, name in (("v3", "mimalloc"), ("v2", "mimalloc2")):
            try:
                for row in open(os.path.join(base, line, "include", "mimalloc.h")):
                    parts = row.split()
                    if parts[:2] == ["#define", "MI_MALLOC_VERSION"]:
                        n = int(parts[2])
                        versions[name] = f"{n // 10000}.{n // 100 % 100}.{n % 100}"
            except (OSError, ValueError, IndexError):
                pass
    return versions


def load_manifest(path, bench_dir, quick):
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        fail(f"cannot read the manifest {path}: {e}")
    except tomllib.TOMLDecodeError as e:
        fail(f"{path} is not valid TOML: {e}")
    subst = {"bin": os.path.join(bench_dir, "bin"), "data": os.path.join(bench_dir, "data"),
             "bench": os.path.join(ROOT, "bench")}
    progs, seen = [], set()
    for i, p in enumerate(data.get("program", [])):
        for key in ("name", "group", "cmd"):
            if key not in p:
                fail(f"{path}: program #{i + 1} has no '{key}'")
        if p["name"] in seen:
            fail(f"{path}: program '{p['name']}' appears twice")
        seen.add(p["name"])
        if p["group"] not in ("pattern", "real"):
            fail(f"{path}: program '{p['name']}': group must be 'pattern' or 'real'")
        argv = p.get("quick", p["cmd"]) if quick else p["cmd"]
        prog = {
            "name": p["name"], "group": p["group"], "target": p.get("target"),
            "threads": p.get("threads", 1), "about": p.get("about", ""), "needs": p.get("needs"),
            "argv": [a.format(**subst) for a in argv],
            "stdin": p["stdin"].format(**subst) if "stdin" in p else None,
            "env": {k: str(v) for k, v in p.get("env", {}).items()},
            "uses_data": any("{data}" in a for a in argv) or "{data}" in p.get("stdin", ""),
        }
        progs.append(prog)
    return progs


class Sample(dict):
    pass


def run_once(prog, alloc_name, so, timeout, scratch, measure):
    """One run of `prog` under `so` (None = no preload) through the `measure` helper (bench/measure.c),
    which forks the program from a small process so that ru_maxrss is the program's own, not the runner's
    (ru_maxrss survives execve)."""
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env["LC_ALL"] = "C"
    env.update(prog["env"])
    out_path = os.path.join(scratch, "stdout")
    err_path = os.path.join(scratch, "stderr")
    cost_path = os.path.join(scratch, "cost")
    workdir = os.path.join(scratch, "cwd")
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    if os.path.exists(cost_path):
        os.unlink(cost_path)
    argv = [measure] + (["--preload", so] if so else []) + [cost_path, "--"] + prog["argv"]
    with open(out_path, "wb") as out, open(err_path, "wb") as err, \
            open(prog["stdin"] or os.devnull, "rb") as inp:
        load = os.getloadavg()[0]
        child = subprocess.Popen(argv, stdin=inp, stdout=out, stderr=err, env=env, cwd=workdir,
                                 start_new_session=True)
        timed_out = []

        def kill():
            timed_out.append(True)
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            child.wait()
        except BaseException:
            kill()  # interrupted (SIGINT/SIGTERM): the program does not outlive the runner
            raise
        finally:
            timer.cancel()
    try:
        wall_ns, status, ut, st, maxrss, minflt, majflt = (int(x) for x in open(cost_path).read().split())
    except (OSError, ValueError):
        wall_ns, status, ut, st, maxrss, minflt, majflt = 0, -1, 0, 0, 0, 0, 0
    code = os.waitstatus_to_exitcode(status) if status >= 0 else None
    h = hashlib.sha256()
    with open(out_path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    with open(err_path, "rb") as f:
        err_tail = f.read()[-400:].decode(errors="replace").strip()
    s = Sample(program=prog["name"], alloc=alloc_name, wall_s=wall_ns / 1e9, user_s=ut / 1e6, sys_s=st / 1e6,
               cpu_s=(ut + st) / 1e6, maxrss_kib=maxrss, minflt=minflt, majflt=majflt, exit=code,
               stdout_sha256=h.hexdigest(), stdout_bytes=os.path.getsize(out_path), load1=load, ok=True, reason=None)
    if timed_out:
        s["ok"], s["reason"] = False, f"timeout after {timeout:g} s"
    elif code is None:
        s["ok"], s["reason"] = False, f"not measured (measure exited {child.returncode}: {err_tail[-200:]})"
    elif code < 0:
        s["ok"], s["reason"] = False, f"killed by signal {signal.Signals(-code).name}"
    elif code != 0:
        s["ok"], s["reason"] = False, f"exit status {code}"
    if not s["ok"]:
        s["stderr_tail"] = err_tail
    return s


def median(xs):
    return statistics.median(xs) if xs else None


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def summarize(progs, allocs, samples):
    """Per program and allocator: medians, spreads and ratios to the best mimalloc."""
    summary = {}
    for prog in progs:
        name = prog["name"]
        rows = {}
        for a, _ in allocs:
            ok = [s for s in samples if s["program"] == name and s["alloc"] == a and s["ok"]]
            n_all = sum(1 for s in samples if s["program"] == name and s["alloc"] == a)
            if not n_all:
                continue
            walls = [s["wall_s"] for s in ok]
            row = {"runs": n_all, "ok": len(ok), "wall_s": median(walls), "cpu_s": median([s["cpu_s"] for s in ok]),
                   "maxrss_kib": median([s["maxrss_kib"] for s in ok]),
                   "wall_min_s": min(walls) if walls else None, "wall_max_s": max(walls) if walls else None,
                   "load1": median([s["load1"] for s in ok])}
            row["spread"] = (row["wall_max_s"] - row["wall_min_s"]) / row["wall_s"] if walls and row["wall_s"] else None
            reasons = sorted({s["reason"] for s in samples if s["program"] == name and s["alloc"] == a and not s["ok"]})
            row["failures"] = reasons
            rows[a] = row
        best = [rows[b] for b in BEST if b in rows and rows[b]["ok"]]
        ref = {}
        if best:
            ref = {k: min(r[k] for r in best) for k in ("wall_s", "cpu_s", "maxrss_kib")}
        for row in rows.values():
            for k, rk in (("wall_s", "time_ratio"), ("cpu_s", "cpu_ratio"), ("maxrss_kib", "rss_ratio")):
                row[rk] = row[k] / ref[k] if ref and row[k] is not None and ref[k] else None
        summary[name] = rows
    return summary


def geomeans(progs, allocs, summary):
    out = {}
    for group in ("pattern", "real", "all"):
        names = [p["name"] for p in progs if group == "all" or p["group"] == group]
        if not names:
            continue
        g = {}
        for a, _ in allocs:
            rows = [summary[n][a] for n in names if a in summary.get(n, {})]
            g[a] = {k: geomean([r[k] for r in rows]) for k in ("time_ratio", "cpu_ratio", "rss_ratio")}
            g[a]["programs"] = len(rows)
        out[group] = g
    return out


def targets(progs, summary, geo, subject):
    """Issue 11's targets for `subject`, each with the figures that decide it."""
    res = []

    def add(name, what, value, limit, ok):
        cmp = "≥" if "throughput" in what or what == "programs in the suite" else "≤"
        res.append({"target": name, "what": what, "value": value, "limit": limit, "cmp": cmp,
                    "met": None if ok is None else bool(ok)})

    for p in progs:
        rows = summary.get(p["name"], {})
        me = rows.get(subject)
        if not me or me["wall_s"] is None:
            continue
        kind = p["target"]
        if kind == "pattern":
            add(p["name"], "peak RSS / best mimalloc", me["rss_ratio"], 1.25,
                None if me["rss_ratio"] is None else me["rss_ratio"] <= 1.25)
            add(p["name"], "time / best mimalloc", me["time_ratio"], 1.0,
                None if me["time_ratio"] is None else me["time_ratio"] <= 1.0)
        elif kind == "bigbuf":
            refs = [rows[a]["wall_s"] for a in ("system", "tcmalloc") if a in rows and rows[a]["wall_s"]]
            if refs:
                r = me["wall_s"] / min(refs)
                add(p["name"], "time / faster of system and tcmalloc", r, 1.10, r <= 1.10)
            if "system" in rows and rows["system"]["maxrss_kib"]:
                r = me["maxrss_kib"] / rows["system"]["maxrss_kib"]
                add(p["name"], "peak RSS / system", r, 1.0, r <= 1.0)
        elif kind == "randmix":
            thr = 1 / me["time_ratio"] if me["time_ratio"] else None
            add(p["name"], "throughput / best mimalloc (wall)", thr, 1.10, None if thr is None else thr >= 1.10)
    real = [p["name"] for p in progs if p["group"] == "real"]
    g = geo.get("real", {}).get(subject)
    if g and real:
        add("real programs", "time geomean / best mimalloc", g["time_ratio"], 0.90,
            None if g["time_ratio"] is None else g["time_ratio"] <= 0.90)
        add("real programs", "peak RSS geomean / best mimalloc", g["rss_ratio"], 1.0,
            None if g["rss_ratio"] is None else g["rss_ratio"] <= 1.0)
        rows = [summary[n][subject] for n in real if subject in summary.get(n, {})]
        worst_t = max((r["time_ratio"] for r in rows if r["time_ratio"] is not None), default=None)
        worst_m = max((r["rss_ratio"] for r in rows if r["rss_ratio"] is not None), default=None)
        add("real programs", "worst time / best mimalloc", worst_t, 1.05, None if worst_t is None else worst_t <= 1.05)
        add("real programs", "worst peak RSS / best mimalloc", worst_m, 1.5, None if worst_m is None else worst_m <= 1.5)
        if len(real) < 10:
            add("real programs", "programs in the suite", len(real), 10, False)
    return res


def fmt(x, spec):
    return "—" if x is None else format(x, spec)


def print_report(progs, allocs, summary, geo, tgts, subject, out):
    w = max([10] + [len(a) for a, _ in allocs])
    for p in progs:
        rows = summary.get(p["name"])
        if not rows:
            continue
        print(f"\n{p['name']} ({p['group']}, {p['threads']} thread{'s' if p['threads'] != 1 else ''}): {p['about']}",
              file=out)
        print(f"  $ {' '.join(p['argv'])}{' < ' + p['stdin'] if p['stdin'] else ''}", file=out)
        print(f"  {'allocator':<{w}} {'wall s':>8} {'×best':>6} {'cpu s':>8} {'×best':>6} {'peak MiB':>9} {'×best':>6}"
              f" {'spread':>7} {'load':>5}  runs", file=out)
        for a, _ in allocs:
            r = rows.get(a)
            if not r:
                continue
            status = f"{r['ok']}/{r['runs']}" + (f"  FAILED: {'; '.join(r['failures'])}" if r["failures"] else "")
            rss = None if r["maxrss_kib"] is None else r["maxrss_kib"] / 1024
            print(f"  {a:<{w}} {fmt(r['wall_s'], '8.3f')} {fmt(r['time_ratio'], '6.3f')} {fmt(r['cpu_s'], '8.3f')}"
                  f" {fmt(r['cpu_ratio'], '6.3f')} {fmt(rss, '9.1f')} {fmt(r['rss_ratio'], '6.3f')}"
                  f" {fmt(None if r['spread'] is None else 100 * r['spread'], '6.1f')}% {fmt(r['load1'], '5.1f')}  {status}",
                  file=out)
    for group, g in geo.items():
        print(f"\ngeomean of ratios to the best mimalloc, {group} programs:", file=out)
        print(f"  {'allocator':<{w}} {'time':>6} {'cpu':>6} {'peak RSS':>9}  programs", file=out)
        for a, _ in allocs:
            if a in g:
                r = g[a]
                print(f"  {a:<{w}} {fmt(r['time_ratio'], '6.3f')} {fmt(r['cpu_ratio'], '6.3f')} {fmt(r['rss_ratio'], '9.3f')}"
                      f"  {r['programs']}", file=out)
    if tgts:
        print(f"\nissue 11 targets for {subject} (time = median wall time):", file=out)
        for t in tgts:
            verdict = {True: "met", False: "MISSED", None: "n/a"}[t["met"]]
            cmp = t["cmp"]
            val = fmt(t["value"], ".3f") if isinstance(t["value"], float) or t["value"] is None else str(t["value"])
            print(f"  {t['target']:<17} {t['what']:<40} {val:>7} (target {cmp} {t['limit']})  {verdict}", file=out)


def markdown(meta, progs, allocs, summary, geo, tgts, subject):
    """The same tables as print_report, in Markdown (for docs/experiments)."""
    names = [a for a, _ in allocs]
    lines = [f"Commit `{(meta.get('commit') or '?')[:12]}`, {meta.get('date')}, {meta.get('repeats')} interleaved repeats; "
             f"load average {meta['load_start'][0]:.1f} at the start, {meta.get('load_end', meta['load_start'])[0]:.1f} at the end; "
             f"{meta['machine'].get('cpus')} CPUs ({meta['machine'].get('cpu')}).", ""]
    lines.append("Median wall time (s) and its ratio to the best mimalloc; `cpu` = user+sys ratio; peak RSS (MiB) and ratio; "
                 "`!` = failed samples.")
    for group in ("pattern", "real"):
        gp = [p for p in progs if p["group"] == group and summary.get(p["name"])]
        if not gp:
            continue
        lines += ["", f"#### {'Patterns' if group == 'pattern' else 'Real programs'}", "",
                  "| program | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for p in gp:
            cells = []
            for a in names:
                r = summary[p["name"]].get(a)
                if not r or r["wall_s"] is None:
                    cells.append("failed" if r else "—")
                    continue
                bad = " !" if r["failures"] else ""
                cells.append(f"{r['wall_s']:.2f} s ({fmt(r['time_ratio'], '.2f')}×, cpu {fmt(r['cpu_ratio'], '.2f')}×) · "
                             f"{r['maxrss_kib'] / 1024:.1f} MiB ({fmt(r['rss_ratio'], '.2f')}×){bad}")
            lines.append(f"| `{p['name']}` | " + " | ".join(cells) + " |")
    for group, g in geo.items():
        lines += ["", f"Geomean of ratios to the best mimalloc, {group} programs:", "",
                  "| | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for key, label in (("time_ratio", "time"), ("cpu_ratio", "cpu"), ("rss_ratio", "peak RSS")):
            lines.append(f"| {label} | " + " | ".join(fmt(g.get(a, {}).get(key), ".3f") for a in names) + " |")
    if tgts:
        lines += ["", f"Issue 11 targets for `{subject}`:", "", "| program | figure | value | target | verdict |",
                  "|---|---|---|---|---|"]
        for t in tgts:
            cmp = t["cmp"]
            val = fmt(t["value"], ".3f") if isinstance(t["value"], float) or t["value"] is None else str(t["value"])
            verdict = {True: "met", False: "**missed**", None: "n/a"}[t["met"]]
            lines.append(f"| {t['target']} | {t['what']} | {val} | {cmp} {t['limit']} | {verdict} |")
    return "\n".join(lines) + "\n"


def rerender(path, subject, md_path):
    """--from-json: the report of an earlier run, from its JSON (no program is run)."""
    try:
        doc = json.load(open(path))
    except (OSError, ValueError) as e:
        fail(f"cannot read {path}: {e}")
    if doc.get("format") != FORMAT or doc.get("format_version") != FORMAT_VERSION:
        fail(f"{path} is not a {FORMAT} v{FORMAT_VERSION} file (format {doc.get('format')!r} v{doc.get('format_version')!r})")
    allocs = [(a["name"], a["path"]) for a in doc["allocators"]]
    progs = []
    for p in doc["programs"]:
        progs.append(dict(p, needs=None, uses_data=False))
    samples = doc["samples"]
    summary = summarize(progs, allocs, samples)
    geo = geomeans(progs, allocs, summary)
    tgts = targets(progs, summary, geo, subject) if any(a == subject for a, _ in allocs) else []
    print_report(progs, allocs, summary, geo, tgts, subject, sys.stdout)
    if md_path:
        write_text(md_path, markdown(doc, progs, allocs, summary, geo, tgts, subject))
    return 0


def write_text(path, text):
    if path == "-":
        sys.stdout.write(text)
        return
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def git_commit():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5, help="interleaved repeats [5]")
    ap.add_argument("--alloc", help="comma-separated allocators (system,hakmem,mimalloc,mimalloc2,jemalloc,"
                                    "tcmalloc, or NAME=PATH.so) [all six]")
    ap.add_argument("--only", help="comma-separated program names")
    ap.add_argument("--group", choices=["pattern", "real"], help="only this group")
    ap.add_argument("--quick", action="store_true", help="small parameters (the manifest's 'quick' argv), for tests")
    ap.add_argument("--json", metavar="FILE", help="write results as JSON ('-' = stdout), rewritten after each run")
    ap.add_argument("--subject", default="hakmem", help="allocator whose issue-11 targets are judged [hakmem]")
    ap.add_argument("--timeout", type=float, default=120, help="seconds per run before it is killed [120]")
    ap.add_argument("--target-dir", help="cargo target directory [$CARGO_TARGET_DIR or ./target]")
    ap.add_argument("--no-build", action="store_true", help="do not run bench/build.sh first")
    ap.add_argument("--manifest", default=os.path.join(ROOT, "bench", "suite.toml"), help="[bench/suite.toml]")
    ap.add_argument("--markdown", metavar="FILE", help="also write the tables as Markdown ('-' = stdout)")
    ap.add_argument("--from-json", metavar="FILE", help="print the report of an earlier run's JSON; run nothing")
    args = ap.parse_args()
    if args.from_json:
        return rerender(args.from_json, args.subject, args.markdown)
    if args.repeats < 1:
        fail("--repeats must be at least 1")
    if args.timeout <= 0:
        fail("--timeout must be positive")
    target_dir = os.path.abspath(args.target_dir or os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target"))
    profile_dir = os.path.join(target_dir, "release")
    bench_dir = os.path.join(target_dir, "bench")
    allocs = parse_allocs(args.alloc, profile_dir)
    progs = load_manifest(args.manifest, bench_dir, args.quick)
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in wanted if n not in {p["name"] for p in progs}]
        if unknown:
            fail(f"--only: no program named {', '.join(unknown)} in {args.manifest}")
        progs = [p for p in progs if p["name"] in wanted]
    if args.group:
        progs = [p for p in progs if p["group"] == args.group]
    if not progs:
        fail("no program selected")

    notes = []
    present = []
    for name, so in allocs:
        if so and not os.path.isfile(so):
            hint = " (run `cargo build --release --workspace`)" if so.startswith(profile_dir) else \
                " (apt-get install libjemalloc2 libtcmalloc-minimal4)" if so.startswith(LIBDIR) else ""
            notes.append(f"allocator {name} skipped: {so} is missing{hint}")
        else:
            present.append((name, so))
    allocs = present
    kept = []
    for p in progs:
        if p["needs"] and not shutil.which(p["needs"]):
            notes.append(f"program {p['name']} skipped: {p['needs']} is not installed")
        else:
            kept.append(p)
    progs = kept
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    if not progs or not allocs:
        fail("nothing to run (see the notes above)")

    if not args.no_build:
        cmd = [os.path.join(ROOT, "bench", "build.sh")]
        if not any(p["uses_data"] for p in progs):
            cmd.append("--no-data")
        env = dict(os.environ, CARGO_TARGET_DIR=target_dir)
        r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL)
        if r.returncode != 0:
            fail(f"{' '.join(cmd)} failed (exit {r.returncode})")

    measure = os.path.join(bench_dir, "bin", "measure")
    if not os.access(measure, os.X_OK):
        fail(f"{measure} is missing: run bench/build.sh (or drop --no-build)")
    versions = mimalloc_versions()
    meta = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "command": [sys.executable, os.path.abspath(__file__)] + sys.argv[1:],
        "commit": git_commit(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count(),
                    "cpu": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), None)
                    if os.path.exists("/proc/cpuinfo") else None},
        "repeats": args.repeats, "quick": args.quick, "subject": args.subject,
        "allocators": [{"name": n, "path": so, "version": versions.get(n)} for n, so in allocs],
        "notes": notes, "load_start": list(os.getloadavg()),
    }
    samples = []
    scratch = tempfile.mkdtemp(prefix="hakmem-suite-")

    def write_json(final):
        if not args.json:
            return
        summary = summarize(progs, allocs, samples)
        geo = geomeans(progs, allocs, summary)
        doc = dict(meta, complete=final, load_end=list(os.getloadavg()),
                   programs=[{k: p[k] for k in ("name", "group", "target", "threads", "about", "argv", "stdin", "env")}
                             for p in progs],
                   samples=samples, summary=summary, geomean=geo,
                   targets=targets(progs, summary, geo, args.subject))
        text = json.dumps(doc, indent=1)
        if args.json == "-":
            if final:
                print(text)
            return
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, args.json)

    total = args.repeats * len(progs) * len(allocs)
    done = 0
    t_start = time.time()
    log = sys.stderr
    try:
        for rep in range(args.repeats):
            for p in progs:
                # Rotate the allocator order each repeat so that no allocator always runs first.
                k = rep % len(allocs)
                order = allocs[k:] + allocs[:k]
                batch = []
                for name, so in order:
                    s = run_once(p, name, so, args.timeout, scratch, measure)
                    s["repeat"] = rep
                    batch.append(s)
                    done += 1
                    print(f"[{done}/{total}] {p['name']:<17} {name:<{max(10, max(len(a) for a, _ in allocs))}} {s['wall_s']:7.3f} s {s['maxrss_kib'] / 1024:8.1f} MiB"
                          f"  load {s['load1']:.1f}{'' if s['ok'] else '  FAILED: ' + s['reason']}", file=log, flush=True)
                # The reference output: the program's first successful system run (else its first success).
                pool = [x for x in samples + batch if x["program"] == p["name"] and x["ok"]]
                ref = next((x for x in pool if x["alloc"] == "system"), pool[0] if pool else None)
                for s in batch:
                    if s["ok"] and s is not ref and s["stdout_sha256"] != ref["stdout_sha256"]:
                        s["ok"], s["reason"] = False, f"output differs from {ref['alloc']}'s"
                        print(f"  {p['name']} {s['alloc']}: FAILED: {s['reason']}", file=log, flush=True)
                samples.extend(batch)
                write_json(False)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    summary = summarize(progs, allocs, samples)
    geo = geomeans(progs, allocs, summary)
    tgts = targets(progs, summary, geo, args.subject) if any(a == args.subject for a, _ in allocs) else []
    out = sys.stderr if args.json == "-" else sys.stdout
    print(f"suite: {len(progs)} programs × {len(allocs)} allocators × {args.repeats} repeats, "
          f"{time.time() - t_start:.0f} s; commit {meta['commit'] or '?'}; load {meta['load_start'][0]:.1f} → "
          f"{os.getloadavg()[0]:.1f}", file=out)
    print("ratios: to the best mimalloc (the faster resp. leaner of mimalloc and mimalloc2 on that program); "
          "peak RSS = ru_maxrss (largest process)", file=out)
    print_report(progs, allocs, summary, geo, tgts, args.subject, out)
    write_json(True)
    if args.markdown:
        meta["load_end"] = list(os.getloadavg())
        write_text(args.markdown, markdown(meta, progs, allocs, summary, geo, tgts, args.subject))
    return 0 if all(s["ok"] for s in samples) else 1


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
