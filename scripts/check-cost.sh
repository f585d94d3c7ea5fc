#!/usr/bin/env bash
# What HAKMEM's default misuse checks cost (issue 12), as deployed: the memo's loop (`random_mixed.c`) and the
# multi-threaded mailbox benchmark (`mt_mailbox.c`) through LD_PRELOAD, HAKMEM_CHECK=1 against HAKMEM_CHECK=0
# of the same library in the same run, rounds interleaved (the order rotated by one each round), medians over
# the rounds. Several libraries (e.g. main's and a branch's) can be compared in one run.
#
#   scripts/check-cost.sh [--rounds N] [--lib NAME=PATH]... [--only rm|mt] [--rm "ARGS"] [--mt "ARGS"]
#
# Prints, per library and benchmark: the CHECK=0 and CHECK=1 medians (Mops per CPU-second, as the benchmarks
# print them), the ratio of the medians, the median of the per-round ratios ("paired"), the cost of level 1
# from the latter with a bootstrap 90 % interval over rounds; and the load average before and after. A
# benchmark, not a test: nothing here decides a verdict.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=31
libs=()
rm_args="20000000 256 42 16 1024"
mt_args="4 3000000 256"
only=""
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds="$2"; shift 2 ;;
        --lib) libs+=("$2"); shift 2 ;;
        --rm) rm_args="$2"; shift 2 ;;
        --mt) mt_args="$2"; shift 2 ;;
        --only) only="$2"; shift 2 ;;
        -h|--help) sed -n 2,12p "$0"; exit 0 ;;
        *) echo "check-cost.sh: unknown argument \`$1\` (see --help)" >&2; exit 2 ;;
    esac
done
[ ${#libs[@]} -gt 0 ] || libs=("main=target/release/libhakmem.so")
case "$only" in ''|rm|mt) ;; *) echo "check-cost.sh: --only takes rm or mt" >&2; exit 2 ;; esac
case "$rounds" in ''|*[!0-9]*) echo "check-cost.sh: --rounds needs a positive integer" >&2; exit 2 ;; esac
[ "$rounds" -ge 1 ] || { echo "check-cost.sh: --rounds needs a positive integer" >&2; exit 2; }
for l in "${libs[@]}"; do
    p="${l#*=}"
    [ -f "$p" ] || { echo "check-cost.sh: missing library $p (cargo build --release -p hakmem-preload)" >&2; exit 2; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
gcc -O2 -o "$work/rm" allocator/bench/random_mixed.c
gcc -O2 -pthread -o "$work/mt" allocator/bench/mt_mailbox.c

configs=()
for l in "${libs[@]}"; do for c in 0 1; do configs+=("$l:$c"); done; done
n=${#configs[@]}
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 0 $((rounds - 1))); do
    for i in $(seq 0 $((n - 1))); do
        cfg=${configs[$(((i + r) % n))]}
        name=${cfg%%=*}; rest=${cfg#*=}; lib=${rest%:*}; c=${rest##*:}
        for b in rm mt; do
            [ -z "$only" ] || [ "$only" = "$b" ] || continue
            args=$rm_args; [ "$b" = mt ] && args=$mt_args
            # shellcheck disable=SC2086
            v=$(HAKMEM_CHECK=$c LD_PRELOAD="$(realpath "$lib")" "$work/$b" $args | awk '{print $2}')
            [ -n "$v" ] || { echo "check-cost.sh: $b printed nothing under $lib (CHECK=$c)" >&2; exit 1; }
            echo "$r $b $name $c $v" >>"$work/samples"
        done
    done
done
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$work/samples" "${libs[*]%%=*}" <<'EOF'
import random, sys, statistics as st
from collections import defaultdict
random.seed(1)
order = sys.argv[2].split()
s = defaultdict(dict)
for line in open(sys.argv[1]):
    r, b, name, c, v = line.split()
    s[(b, name, c)][int(r)] = float(v)
print(f"{'bench':5} {'library':12} {'CHECK=0':>8} {'CHECK=1':>8} {'ratio':>7} {'paired':>7} {'cost':>6} {'90 % interval':>14}  rounds")
for (b, name, c) in sorted(k for k in s if k[2] == "0"):
    z, o = s[(b, name, "0")], s[(b, name, "1")]
    rs = [o[r] / z[r] for r in z if r in o]
    mz, mo, pr = st.median(z.values()), st.median(o.values()), st.median(rs)
    boot = sorted(st.median(random.choices(rs, k=len(rs))) for _ in range(2000))
    lo, hi = 100 * (1 - boot[1899]), 100 * (1 - boot[99])
    print(f"{b:5} {name:12} {mz:8.1f} {mo:8.1f} {mo / mz:7.3f} {pr:7.3f} {100 * (1 - pr):5.1f}% {lo:6.1f}–{hi:4.1f} %  {len(rs)}")
names = sorted({k[1] for k in s}, key=lambda n: order.index(n))
if len(names) > 1:
    print(f"\nagainst {names[0]} at the same level (median of the per-round ratios):")
    for (b, name, c) in sorted(k for k in s if k[1] != names[0]):
        base, x = s[(b, names[0], c)], s[(b, name, c)]
        rs = [x[r] / base[r] for r in x if r in base]
        print(f"{b:5} {name:12} CHECK={c} {st.median(rs):7.3f}  {len(rs)}")
EOF
