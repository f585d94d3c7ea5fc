#!/usr/bin/env bash
# What `hakmem plan` and `hakmem collect` cost at the scale of docs/scale-out.md's estimate: a plan of
# PROGRAMS workloads × 20 configurations × 10 repeats (100 × 20 × 10 = 20,000 jobs), then 20,000 sample files
# (one real sample taken by `run-job`, copied under every other job's key, workload, configuration and
# repeat), then `collect`. Wall time and peak RSS from /usr/bin/time; also the fixed cost of one `run-job`
# in that plan (reading the plan, checking the build, the workload's hash and checksums) against the
# sample's own timed seconds.
# Usage: scripts/bench-plan-collect.sh [WORK]   (default target/bench-plan-collect; removed and recreated)
# Environment: HAKMEM (default target/release/hakmem), PROGRAMS (default 100), ITERS (random-mixed steps
# per workload, default 2000: the workloads' size does not matter to plan and collect, their count does).
set -euo pipefail
cd "$(dirname "$0")/.."
H=${HAKMEM:-$PWD/target/release/hakmem}
W=$(realpath -m "${1:-target/bench-plan-collect}")
PROGRAMS=${PROGRAMS:-100}
ITERS=${ITERS:-2000}
[ -x "$H" ] || { echo "error: $H is missing: cargo build --release -p hakmem-replayer" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "error: /usr/bin/time is missing (apt-get install time)" >&2; exit 2; }
rm -rf "$W"
mkdir -p "$W/w"
for i in $(seq 1 "$PROGRAMS"); do
  "$H" gen random-mixed --iters "$ITERS" --seed "$i" -o "$W/w/p$i.hkw" >/dev/null
done
measure() { /usr/bin/time -f "   %e s wall, %U s user, %S s sys, peak RSS %M KiB" "$@"; }
echo "== uptime: $(uptime)"
echo "== plan replay: $PROGRAMS workloads × 20 configurations × 10 repeats"
measure "$H" plan replay "$W"/w/*.hkw \
  --alloc 'hakmem:HAKMEM_TINY_UNIFIED_C7=16|32|64|128|256,HAKMEM_TINY_REFILL_BATCH=8|16|32|64' \
  --repeats 10 -o "$W/plan" >/dev/null
n=$(wc -l < "$W/plan/jobs.txt")
echo "   $n jobs; plan.json $(stat -c %s "$W/plan/plan.json") bytes, jobs.txt $(stat -c %s "$W/plan/jobs.txt") bytes"
echo "== run-job 0 (a real sample), then again with --force (its fixed cost against the sample's timed seconds)"
"$H" run-job "$W/plan" 0 2>/dev/null
measure "$H" run-job --force "$W/plan" 0
python3 - "$W/plan/samples/0.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))["sample"]
print(f"   the sample's timed region: {s['seconds'] * 1000:.2f} ms ({s['ops']} ops)")
EOF
echo "== $((n - 1)) more sample files (copies of sample 0 under each job's identity)"
python3 - "$W/plan" <<'EOF'
import json, os, sys
d = sys.argv[1]
plan = json.load(open(os.path.join(d, "plan.json")))
base = json.load(open(os.path.join(d, "samples", "0.json")))
for k, (w, c, r) in enumerate(plan["jobs"]):
    if k == 0:
        continue
    base["key"] = k
    base["sample"]["workload"] = plan["workloads"][w]["name"]
    base["sample"]["config"] = plan["configs"][c]["label"]
    base["sample"]["repeat"] = r
    with open(os.path.join(d, "samples", f"{k}.json"), "w") as f:
        json.dump(base, f, indent=2)
EOF
echo "   samples/: $(du -sb "$W/plan/samples" | cut -f1) bytes in $(ls "$W/plan/samples" | wc -l) files"
echo "== collect (cold page cache is not forced: the files were just written)"
measure "$H" collect "$W/plan" >/dev/null
echo "   bundle: $(stat -c %s "$W/plan/bundle/samples.jsonl") bytes samples.jsonl, $(wc -l < "$W/plan/bundle/samples.jsonl") lines"
echo "== report of the collected bundle"
measure "$H" report "$W/plan/bundle" --color never >/dev/null
echo "== uptime: $(uptime)"
