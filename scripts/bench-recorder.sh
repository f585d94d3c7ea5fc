#!/usr/bin/env bash
# Recorder overhead benchmark (a benchmark, not a test): an allocation-heavy C program (malloc/free of
# 16..1024 B, 64 live slots) run plain, under the *floor* (recorder/tests/c/floor_preload.c: interposition
# + one rdtsc + one 8-byte store per call into a fresh MAP_SHARED file mapping — what no recorder can
# avoid), under libhakmem_recorder.so, and under heaptrack, with 1 and 2 threads. Runs are interleaved (plain, recorded, plain, recorded, …) and medians are reported; the
# program times itself (CLOCK_MONOTONIC around its loop), so start-up and the tools' post-processing are
# excluded. Prints ns per event of overhead, the ratio to the plain run, the recorder's overhead over the
# floor's (target ≤ 1.25×), and bytes per event of the trace.
#
# Usage: scripts/bench-recorder.sh [ITERS (default 2000000)] [REPEATS (default 5)]
# Env: CARGO_TARGET_DIR (where the release build is), BENCH_DIR (trace directory, default: a temp dir on
# the same file system as /tmp), HEAPTRACK_ITERS (default ITERS/4: heaptrack is slow).
set -euo pipefail
cd "$(dirname "$0")/.."
ITERS=${1:-2000000}
REPEATS=${2:-5}
HT_ITERS=${HEAPTRACK_ITERS:-$((ITERS / 4))}
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p hakmem-recorder
SO="$TARGET/release/libhakmem_recorder.so"
[ -f "$SO" ] || { echo "error: $SO not found after the build" >&2; exit 1; }
SO=$(realpath "$SO")
WORK=$(mktemp -d "${BENCH_DIR:-/tmp}/hakmem-bench-recorder.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
gcc -O2 -pthread -o "$WORK/bench_alloc" recorder/tests/c/bench_alloc.c
gcc -O2 -shared -fPIC -o "$WORK/libfloor.so" recorder/tests/c/floor_preload.c

calc() { awk "BEGIN { print $1 }"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# run KIND THREADS ITERS -> "ns events"
run() {
  local kind=$1 threads=$2 iters=$3
  case $kind in
    plain) "$WORK/bench_alloc" "$iters" "$threads" ;;
    floor)
      rm -f "$WORK/floor.bin"
      LD_PRELOAD="$WORK/libfloor.so" FLOOR_FILE="$WORK/floor.bin" "$WORK/bench_alloc" "$iters" "$threads" ;;
    rec)
      rm -f "$WORK"/traces/*.hkraw
      mkdir -p "$WORK/traces"
      LD_PRELOAD="$SO" HAKMEM_RECORD_DIR="$WORK/traces" "$WORK/bench_alloc" "$iters" "$threads" ;;
    heaptrack)
      rm -f "$WORK"/ht.*
      heaptrack -o "$WORK/ht" "$WORK/bench_alloc" "$iters" "$threads" 2>/dev/null | grep -E '^[0-9]+ [0-9]+$' ;;
  esac
}

echo "recorder overhead benchmark: $(nproc) cores, $(uname -r), traces in $WORK (on $(df --output=fstype "$WORK" | tail -1))"
echo "program: malloc/free 16..1024 B, 64 live slots; $ITERS iterations per thread (heaptrack: $HT_ITERS); $REPEATS interleaved repeats; medians; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-28s %12s %12s %14s %10s\n' "configuration" "events" "ms" "overhead ns/ev" "slowdown"
for threads in 1 2; do
  declare -A ns=() ; declare -A evs=()
  for kind in plain floor rec heaptrack; do ns[$kind]=""; done
  for ((r = 0; r < REPEATS; r++)); do
    for kind in plain floor rec; do
      read -r t e < <(run $kind $threads "$ITERS")
      ns[$kind]+="$t "; evs[$kind]=$e
    done
    if command -v heaptrack >/dev/null; then
      read -r t e < <(run plain $threads "$HT_ITERS"); ns[htplain]+="$t "; evs[htplain]=$e
      read -r t e < <(run heaptrack $threads "$HT_ITERS"); ns[heaptrack]+="$t "; evs[heaptrack]=$e
    fi
  done
  p=$(echo ${ns[plain]} | tr ' ' '\n' | median)
  fl=$(echo ${ns[floor]} | tr ' ' '\n' | median)
  rcd=$(echo ${ns[rec]} | tr ' ' '\n' | median)
  printf '%-28s %12d %12.1f %14s %10s\n' "plain, $threads thread(s)" "${evs[plain]}" "$(calc "$p/1000000")" "-" "1.00x"
  printf '%-28s %12d %12.1f %14.2f %9.2fx\n' "floor, $threads thr" "${evs[floor]}" "$(calc "$fl/1000000")" \
    "$(calc "($fl-$p)/${evs[floor]}")" "$(calc "$fl/$p")"
  printf '%-28s %12d %12.1f %14.2f %9.2fx   %.2fx the floor'"'"'s overhead\n' "hakmem recorder, $threads thr" "${evs[rec]}" \
    "$(calc "$rcd/1000000")" "$(calc "($rcd-$p)/${evs[rec]}")" "$(calc "$rcd/$p")" "$(calc "($rcd-$p)/($fl-$p)")"
  if [ -n "${ns[heaptrack]}" ]; then
    hp=$(echo ${ns[htplain]} | tr ' ' '\n' | median)
    ht=$(echo ${ns[heaptrack]} | tr ' ' '\n' | median)
    printf '%-28s %12d %12.1f %14.2f %9.2fx\n' "heaptrack, $threads thr" "${evs[heaptrack]}" "$(calc "$ht/1000000")" \
      "$(calc "($ht-$hp)/${evs[heaptrack]}")" "$(calc "$ht/$hp")"
  fi
  # Trace size of the last recorded run (file bytes include the header page and chunk headers).
  f=$(ls "$WORK"/traces/*.hkraw | head -1)
  sz=$(stat -c %s "$f")
  printf '%-28s %12s bytes = %.2f bytes/event (whole file)\n' "  trace, $threads thr" "$sz" "$(calc "$sz/${evs[rec]}")"
  if [ "$threads" = 1 ] && [ -n "${ns[heaptrack]}" ]; then
    h=$(ls "$WORK"/ht.* 2>/dev/null | head -1)
    [ -n "$h" ] && printf '%-28s %12s bytes = %.2f bytes/event (%s, compressed)\n' "  heaptrack data, 1 thr" "$(stat -c %s "$h")" \
      "$(echo "$(stat -c %s "$h")/${evs[heaptrack]}" | bc -l)" "$(basename "$h")"
  fi
  unset ns evs
done
