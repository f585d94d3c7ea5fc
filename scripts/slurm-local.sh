#!/usr/bin/env bash
# A one-node Slurm cluster on localhost runs a plan's job array, end to end:
#   1. installs Slurm and MUNGE from Debian (slurm-wlm, munge) if they are missing (needs root and apt-get);
#   2. writes a minimal slurm.conf for this machine under WORK (the system's /etc/slurm is not touched;
#      every Slurm command below reads SLURM_CONF) and starts munged, slurmctld and slurmd;
#   3. generates two workloads, plans `hakmem replay` of them through 3 configurations × 3 repeats,
#      submits PLAN/slurm.sbatch, waits for the array to finish, collects the samples and reports;
#   4. plans `hakmem live` of a real program (`sort` of 200,000 lines fed on stdin) through the same
#      3 configurations × 2 repeats, submits, waits, collects and reports the same way;
#   5. stops the daemons it started (KEEP=1 leaves them running).
# Usage: scripts/slurm-local.sh [WORK]     (default WORK: target/slurm-local; removed and recreated)
# Environment: HAKMEM (default target/release/hakmem, built if missing), ITERS (random-mixed steps,
# default 1000000), WAIT (seconds to wait for the array, default 900).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
HAKMEM=${HAKMEM:-$ROOT/target/release/hakmem}
WORK=$(realpath -m "${1:-target/slurm-local}")
ITERS=${ITERS:-1000000}
WAIT=${WAIT:-900}

say() { printf '== %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 2; }

[ "$(id -u)" = 0 ] || die "run as root: it installs packages and starts the Slurm and MUNGE daemons"
if [ ! -x "$HAKMEM" ]; then
  say "building hakmem"
  cargo build --release -p hakmem-replayer
fi

# 1. Packages. Their maintainer scripts would start the daemons through the init system with the
# distribution's configuration; we start our own below, so service starts are declined while installing.
need=()
for p in slurm-wlm munge; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "apt-get not found: install ${need[*]} by hand"
  say "installing ${need[*]} from Debian"
  policy=/usr/sbin/policy-rc.d
  had_policy=0; [ -e "$policy" ] && had_policy=1
  if [ $had_policy = 0 ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  if [ $had_policy = 0 ]; then rm -f "$policy"; fi
fi
for c in munged slurmctld slurmd sbatch squeue scontrol; do
  command -v "$c" >/dev/null || die "$c is missing after installing slurm-wlm and munge"
done

# 2. The cluster: this machine as its only node, under WORK.
MUNGE=
cleanup() {
  if [ "${KEEP:-0}" = 1 ]; then
    say "daemons left running (KEEP=1): SLURM_CONF=$WORK/slurm/slurm.conf"
    return
  fi
  for f in "$WORK/slurm/slurmd.pid" "$WORK/slurm/slurmctld.pid" "$MUNGE/munged.pid"; do
    [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  [ -n "$MUNGE" ] && rm -rf "$MUNGE"
  return 0
}
trap cleanup EXIT
rm -rf "$WORK"
mkdir -p "$WORK/slurm/state" "$WORK/slurm/spool"
chmod 700 "$WORK"

# MUNGE authenticates Slurm's messages: a key of its own, its socket and files in a directory of the munge
# user (munged runs as that user and insists that nobody else can write where its files are, and that
# clients can reach its socket).
MUNGE=$(mktemp -d /tmp/hakmem-munge.XXXXXX)
key=$MUNGE/munge.key
dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
chown -R munge:munge "$MUNGE"
chmod 711 "$MUNGE"; chmod 400 "$key"
sock=$MUNGE/munge.socket
runuser -u munge -- munged --key-file="$key" --socket="$sock" --pid-file="$MUNGE/munged.pid" \
  --log-file="$MUNGE/munged.log" --seed-file="$MUNGE/munged.seed"
# Slurm's auth/munge plugin takes the socket from AuthInfo.
host=$(hostname -s)
node=$(slurmd -C | head -1)     # NodeName=HOST CPUs=… Boards=… SocketsPerBoard=… … RealMemory=…
export SLURM_CONF=$WORK/slurm/slurm.conf
cat > "$SLURM_CONF" <<EOF
ClusterName=hakmem-local
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$WORK/slurm/state
SlurmdSpoolDir=$WORK/slurm/spool
SlurmctldPidFile=$WORK/slurm/slurmctld.pid
SlurmdPidFile=$WORK/slurm/slurmd.pid
SlurmctldLogFile=$WORK/slurm/slurmctld.log
SlurmdLogFile=$WORK/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=local Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
say "$(sinfo --version), $(munged --version 2>&1 | head -1); slurm.conf: $SLURM_CONF"
grep -E '^(NodeName|PartitionName|TaskPlugin|SelectType)' "$SLURM_CONF" | sed 's/^/   /'
slurmctld -c
slurmd
for _ in $(seq 1 60); do
  state=$(sinfo -h -N -o '%T' 2>/dev/null | head -1 || true)
  [ "$state" = idle ] && break
  sleep 1
done
[ "${state:-}" = idle ] || { tail -20 "$WORK"/slurm/*.log >&2; die "the node did not come up (state: ${state:-none})"; }
sinfo -h -N -o '   node %N: %T, %c CPUs, partition %P'

# 3. A plan: 2 workloads × 3 configurations × 3 repeats = 18 jobs, 2 at a time.
say "workloads and plan"
"$HAKMEM" gen random-mixed --iters "$ITERS" -o "$WORK/rm.hkw" >/dev/null
"$HAKMEM" gen threads --threads 2 --iters 100000 -o "$WORK/threads.hkw" >/dev/null
"$HAKMEM" plan replay "$WORK/rm.hkw" "$WORK/threads.hkw" --alloc system --alloc mimalloc --alloc hakmem \
  --repeats 3 --jobs 2 --timeout 60 -o "$WORK/plan"
grep '^#SBATCH' "$WORK/plan/slurm.sbatch" | sed 's/^/   /'

# Submits PLAN/slurm.sbatch, waits for the array, shows each task's line, collects and reports.
# Sets status to collect's exit status when it is not 0.
status=0
run_plan() {
  local plan=$1 job start rc=0
  say "sbatch $plan/slurm.sbatch"
  job=$(sbatch --parsable "$plan/slurm.sbatch")
  job=${job%%;*}
  echo "   submitted job array $job"
  start=$(date +%s)
  while [ -n "$(squeue -h -j "$job" 2>/dev/null)" ]; do
    [ $(( $(date +%s) - start )) -lt "$WAIT" ] || { squeue -j "$job" >&2; die "the array did not finish in ${WAIT}s"; }
    sleep 1
  done
  echo "   array $job finished after $(( $(date +%s) - start )) s; $(ls "$plan/logs" | wc -l) task logs"
  # What each task printed (run-job's one line), and the cores Slurm bound it to.
  cat "$plan"/logs/*.out | sed 's/^/   /'

  say "collect $plan"
  "$HAKMEM" collect "$plan" || rc=$?
  [ $rc = 0 ] || status=$rc
  python3 - "$plan/bundle/samples.jsonl" <<'EOF' || true
import collections, json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by = collections.Counter((r.get("kind", "replay"), r["host"], r["cpu"], tuple(r["cpus"])) for r in rows)
for (kind, host, cpu, cpus), n in sorted(by.items()):
    print(f"   {n:2d} {kind} samples on {host} ({cpu}), pinned to CPUs {list(cpus)}")
EOF
  say "report $plan/bundle"
  "$HAKMEM" report "$plan/bundle" --color never
}
run_plan "$WORK/plan"

# 4. A live plan: a real program (sort, which holds its whole input in allocated lines) under each
# allocator's LD_PRELOAD, 3 configurations × 2 repeats = 6 jobs on one core each. The reference run under
# the system allocator is taken now, here; every job's exit status and stdout are checked against it.
say "live plan"
seq 200000 | awk '{ printf "%08x line %d of text to sort\n", ($1 * 2654435761) % 4294967296, $1 }' > "$WORK/lines.txt"
"$HAKMEM" plan live --alloc system --alloc mimalloc --alloc hakmem --repeats 2 --jobs 2 --cores 1 \
  --timeout 60 --stdin "$WORK/lines.txt" -o "$WORK/live-plan" -- sort
grep '^#SBATCH' "$WORK/live-plan/slurm.sbatch" | sed 's/^/   /'
run_plan "$WORK/live-plan"
exit $status
