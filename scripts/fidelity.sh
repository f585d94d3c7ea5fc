#!/usr/bin/env bash
# Reproduces the fidelity table of issue 10: how well `hakmem live --record`'s replay predicts the live runs
# of real programs, and whether the live ratios agree with an independent measurement (/usr/bin/time).
#
# Usage: scripts/fidelity.sh [--repeats R] [--quick] [--only NAME,…] [--alloc NAME,…] [--out DIR]
#                            [--no-build] [--no-independent] [--agreement] [--same-run] [--report DIR]
#                            [-- EXTRA hakmem live ARGS…]
#
#   --repeats R       interleaved repeats per allocator, live and replay [5]
#   --quick           the programs' small `quick` argv of bench/suite.toml (to check that the script works)
#   --only LIST       programs of bench/suite.toml [bintrees,wordfreq,workq,py_dict]
#   --alloc LIST      allocators [system,hakmem,mimalloc,mimalloc2,jemalloc,tcmalloc]
#   --out DIR         where the bundles go [target/fidelity-DATE]
#   --no-build        do not run cargo build and bench/build.sh first
#   --no-independent  skip the comparison with /usr/bin/time
#   --agreement       only the live-vs-/usr/bin/time comparison, alternating round by round: R times
#                     `hakmem live --repeats 1` then one /usr/bin/time round (no recording, no replay)
#   --same-run        only the live-vs-/usr/bin/time comparison on the same runs: `hakmem live --repeats R`
#                     of `/usr/bin/time CMD` (through sh, which tags each line with the run's LD_PRELOAD),
#                     so both tools time every run; their ratios can differ only by how they measure
#   --report DIR      run nothing: print the tables of an earlier run's DIR (e.g. after a model change)
#   -- ARGS           passed to every `hakmem live` (e.g. `-- --replay-calls preload,linked --touch line`)
#
# For each program: `hakmem live --record --repeats R` under every allocator into DIR/NAME (one bundle),
# then its fidelity as `hakmem report` computes it (reports/src/fidelity.rs, the one place of the model):
# pairs that live separates (p < 0.05), how many the replay orders the same way, Kendall τ, the median
# |predicted − live| time ratio error, and programs without a time prediction (some predicted time not
# positive). Totals pool every program (errors pooled, then the median).
# Right after each program's live runs, /usr/bin/time measures the same command under the same preloads
# (R rounds interleaved over the allocators, one run at a time; DIR/NAME/independent.jsonl), and the script
# prints, per allocator, live's ratio to system next to /usr/bin/time's and their difference.
# Every figure printed comes with the load average at the start and the end. Needs python3 (3.11+).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
repeats=5 quick=0 only="bintrees,wordfreq,workq,py_dict"
allocs="system,hakmem,mimalloc,mimalloc2,jemalloc,tcmalloc"
out="" build=1 independent=1 agreement=0 same_run=0 report_only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --repeats) repeats="${2:?--repeats needs a number}"; shift 2 ;;
    --quick) quick=1; shift ;;
    --only) only="${2:?--only needs a list}"; shift 2 ;;
    --alloc) allocs="${2:?--alloc needs a list}"; shift 2 ;;
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    --no-build) build=0; shift ;;
    --no-independent) independent=0; shift ;;
    --agreement) agreement=1; shift ;;
    --same-run) same_run=1; shift ;;
    --report) report_only="${2:?--report needs a directory}"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,32p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$repeats" in ''|*[!0-9]*|0) echo "error: --repeats must be a positive number, not '$repeats'" >&2; exit 2 ;; esac
command -v python3 >/dev/null || { echo "error: python3 is needed" >&2; exit 2; }

if [ -n "$report_only" ]; then
  out="$report_only"
  [ -d "$out" ] || { echo "error: --report $out: no such directory" >&2; exit 2; }
else
  out="${out:-$target/fidelity-$(date -u +%Y%m%dT%H%M%SZ)}"
  mkdir -p "$out"
  if [ "$build" = 1 ]; then
    (cd "$root" && cargo build --release --workspace) >&2
    "$root/bench/build.sh" >/dev/null
  fi
fi
hakmem="$target/release/hakmem"
[ -x "$hakmem" ] || { echo "error: $hakmem is missing (cargo build --release --workspace)" >&2; exit 2; }

export FID_ROOT="$root" FID_TARGET="$target" FID_OUT="$out" FID_REPEATS="$repeats" FID_QUICK="$quick"
export FID_ONLY="$only" FID_ALLOCS="$allocs" FID_INDEPENDENT="$independent" FID_REPORT_ONLY="${report_only:+1}"
export FID_HAKMEM="$hakmem" FID_AGREEMENT="$agreement" FID_SAME_RUN="$same_run"
exec python3 "$root/scripts/fidelity.py" "$@"
