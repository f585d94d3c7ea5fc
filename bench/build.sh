#!/usr/bin/env bash
# Builds the suite's programs and data (see bench/suite.toml):
#   bench/measure.c     → target/bench/bin/measure (scripts/suite.py runs every program through it)
#   bench/programs/*.c  → target/bench/bin/NAME   (gcc -O2, C11, pthreads)
#   bench/programs/*.cc → target/bench/bin/NAME   (g++ -O2)
#   inputs              → target/bench/data/      (bench/gen_data.py, and a generated git repository)
# No allocator is linked in: the programs call the C library's malloc, so LD_PRELOAD decides who answers.
# Programs are rebuilt when their source (or common.h / bigbuf.h) is newer; data is made once
# (`rm -rf target/bench/data` to regenerate); `--no-data` builds the programs only. Prints the output directory.
set -euo pipefail
data=1
case "${1:-}" in
  --no-data) data=0 ;;
  "") ;;
  *) echo "error: usage: bench/build.sh [--no-data]" >&2; exit 2 ;;
esac
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${CARGO_TARGET_DIR:-$root/target}/bench"
src="$root/bench/programs"
mkdir -p "$out/bin" "$out/data"

newer() { # newer TARGET SOURCES… — true when TARGET is missing or older than any source
  local t=$1; shift
  [ -e "$t" ] || return 0
  for s in "$@"; do [ "$s" -nt "$t" ] && return 0; done
  return 1
}

# The runner's measuring helper (see its header comment).
if newer "$out/bin/measure" "$root/bench/measure.c"; then
  gcc -O2 -Wall -Wextra -o "$out/bin/measure.tmp.$$" "$root/bench/measure.c"
  mv "$out/bin/measure.tmp.$$" "$out/bin/measure"
fi

for c in "$src"/*.c; do
  name=$(basename "$c" .c)
  if newer "$out/bin/$name" "$c" "$src/common.h" "$src/bigbuf.h"; then
    gcc -O2 -std=gnu11 -Wall -Wextra -pthread -o "$out/bin/$name.tmp.$$" "$c"
    mv "$out/bin/$name.tmp.$$" "$out/bin/$name"
  fi
done
for c in "$src"/*.cc; do
  name=$(basename "$c" .cc)
  if newer "$out/bin/$name" "$c" "$src/common.h" "$src/bigbuf.h"; then
    g++ -O2 -std=gnu++17 -Wall -Wextra -pthread -o "$out/bin/$name.tmp.$$" "$c"
    mv "$out/bin/$name.tmp.$$" "$out/bin/$name"
  fi
done

if [ "$data" = 0 ]; then echo "$out"; exit 0; fi
python3 "$root/bench/gen_data.py" "$out/data"

# A git repository with 150 commits over 60 files, fixed names and dates, so its history is reproducible.
repo="$out/data/repo"
if [ ! -e "$repo/.git/refs/heads/main" ]; then
  rm -rf "$repo" "$repo.tmp"
  mkdir -p "$repo.tmp"
  (
    cd "$repo.tmp"
    export GIT_CONFIG_NOSYSTEM=1 HOME=/nonexistent GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.org
    export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.org
    git init -q -b main .
    python3 - <<'PY'
import random
rng = random.Random(14)
words = open("../words.txt").read(3_000_000).split()
for f in range(60):
    with open(f"f{f:03d}.txt", "w") as fh:
        fh.write("\n".join(" ".join(rng.choices(words, k=8)) for _ in range(200)) + "\n")
PY
    git add -A
    GIT_AUTHOR_DATE="2024-01-01T00:00:00Z" GIT_COMMITTER_DATE="2024-01-01T00:00:00Z" git commit -q -m "initial"
    for i in $(seq 1 150); do
      python3 - "$i" <<'PY'
import random, sys
i = int(sys.argv[1])
rng = random.Random(1000 + i)
words = open("../words.txt").read(3_000_000).split()
for f in rng.sample(range(60), 4):
    name = f"f{f:03d}.txt"
    lines = open(name).read().split("\n")[:-1]
    for _ in range(rng.randint(3, 15)):
        k = rng.randrange(len(lines))
        op = rng.randint(0, 2)
        if op == 0:
            lines[k] = " ".join(rng.choices(words, k=8))
        elif op == 1:
            lines.insert(k, " ".join(rng.choices(words, k=8)))
        elif len(lines) > 10:
            del lines[k]
    open(name, "w").write("\n".join(lines) + "\n")
PY
      git add -A
      d=$(printf '2024-01-01T%02d:%02d:00Z' $((i / 60)) $((i % 60)))
      GIT_AUTHOR_DATE="$d" GIT_COMMITTER_DATE="$d" git commit -q -m "change $i"
    done
  )
  mv "$repo.tmp" "$repo"
fi
echo "$out"
