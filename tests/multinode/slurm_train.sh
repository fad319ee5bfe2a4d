#!/usr/bin/env bash
# Slurm with two nodes: the namespace nodes a and b of tests/multinode/netns-cluster.sh each run a
# slurmd, slurmctld runs on the head node sw (tests/multinode/slurm-cluster.sh), and
#  1. `sbatch -N 2 --ntasks-per-node=2 slurm/train-multinode.sbatch` (srun --mpi=pmix, Open MPI's
#     TCP transport between the nodes) trains a tiny model to the end;
#  2. the same job, with one rank on node b killed (SIGKILL) mid-run, ends entirely within
#     seconds, leaves checkpoints that all load, and once requeued (scontrol requeue) resumes
#     from the last checkpoint and ends exactly where job 1 ended.
# Exits 77 (ctest: skipped) where Slurm or network namespaces cannot run; EIR_REQUIRE_OPS=1
# makes that a failure. Every daemon and namespace made here is removed on exit.
source "$(dirname "$0")/../cli_lib.sh"
NC=$SRC/tests/multinode/netns-cluster.sh
SC=$SRC/tests/multinode/slurm-cluster.sh

skip() {
  echo "SKIP: $*" >&2
  [ "${EIR_REQUIRE_OPS:-0}" = 1 ] && fail "EIR_REQUIRE_OPS=1 but: $*"
  exit 77
}
[ "$(id -u)" = 0 ] || skip "network namespaces and a Slurm cluster need root"
have_slurm() { command -v sbatch && command -v slurmctld && command -v slurmd && command -v munged && command -v ip; } >/dev/null
if ! have_slurm; then
  command -v apt-get >/dev/null || skip "Slurm is not installed and this is not a Debian shell"
  echo "installing the Slurm packages (scripts/install-deps.sh --ops)"
  bash "$SRC/scripts/install-deps.sh" --ops >"$TMP/apt.log" 2>&1 || { tail -20 "$TMP/apt.log" >&2; skip "cannot install Slurm"; }
  have_slurm || skip "Slurm still missing after install-deps.sh --ops"
fi
unshare --net --uts --mount true 2>/dev/null || skip "cannot create namespaces here (no CAP_SYS_ADMIN?)"
ip netns list >/dev/null 2>&1 || skip "'ip netns' does not work here"

chmod 755 "$TMP"  # munge's user must be able to enter the cluster folder
N=$TMP/net S=$TMP/slurm
cleanup() {
  local rc=$?
  kill $(jobs -p) 2>/dev/null || true  # a wait_job in the background (see bg_out)
  bash "$SC" stop "$S" >/dev/null 2>&1 || true
  bash "$NC" down "$N" >/dev/null 2>&1 || true
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP
t0=$SECONDS
bash "$NC" up "$N" 2 || fail "netns-cluster.sh up"
# shellcheck disable=SC1091
source "$N/cluster.env"
# bg_out FILE cmd...: cmd's output to FILE, run in the background and waited for, so that a
# TERM/INT reaches the traps at once (bash runs a trap only after a foreground command ends)
bg_out() { local f=$1; shift; "$@" > "$f" & wait $!; }
bg_out "$TMP/conf" bash "$SC" start "$S" "$N" 2 || skip "the two-node Slurm cluster did not start (see above)"
eval "$(cat "$TMP/conf")"
pass "Slurm on two namespace nodes (a, b; controller on sw, $SUBNET.0/24) up in $((SECONDS - t0)) s"

on() { bash "$NC" exec "$N" "$@"; }  # on NODE cmd...: client commands run on the head node sw
job_field() { timeout 10 bash "$NC" exec "$N" sw scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }
wait_job() {  # wait_job ID SECONDS: prints the final state, or "still X after S s"
  local id=$1 limit=$2 s="" i
  for ((i = 0; i < limit * 2; i++)); do
    s=$(job_field "$id" JobState)
    case $s in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED) echo "$s"; return 0 ;; esac
    sleep 0.5
  done
  echo "still ${s:-unknown} after $limit s"
}
show_job() {
  echo "---- job $1 output" >&2; cat "$2" >&2 || true
  timeout 10 bash "$NC" exec "$N" sw scontrol show job "$1" >&2 || true
  tail -20 "$S"/log/*.log >&2 || true
}
ranks_on() { ip netns pids "$NSPREFIX-$1" 2>/dev/null | while read -r p; do [ "$(cat "/proc/$p/comm" 2>/dev/null)" = eir-dist ] && echo "$p"; done; true; }

D=$TMP/data; make_tiny_dataset "$D"
# the job's environment (sbatch exports it): Open MPI's TCP transport on the nodes' subnet
export EIR_DIST=$BUILD/eir-dist EIR_HOME=$SRC OMPI_MCA_btl=tcp,self,vader OMPI_MCA_btl_tcp_if_include=$SUBNET.0/24
TRAIN=(--global_configs "$D/g.yaml" --input_configs "$D/i.yaml" --output_configs "$D/o.yaml"
       --g.basic_experiment.n_epochs=20 --g.training_control.early_stopping_patience=0)
submit() {  # submit NAME: sbatch -N 2 of train-multinode.sbatch from the repository root; prints the id
  mkdir -p "$TMP/$1"; cd "$SRC"
  on sw sbatch --parsable -N 2 --ntasks-per-node=2 --cpus-per-task=1 --chdir="$TMP/$1" \
    --output="$TMP/$1/eir-dist-mn-%j.out" slurm/train-multinode.sbatch --run-folder run "${TRAIN[@]}"
}

# ---- job 1: to the end
t0=$SECONDS
j1=$(submit j1) || fail "sbatch refused job 1"
out1=$TMP/j1/eir-dist-mn-$j1.out R1=$TMP/j1/run
bg_out "$TMP/state" wait_job "$j1" 240; state=$(cat "$TMP/state")
[ "$state" = COMPLETED ] && [ "$(job_field "$j1" ExitCode)" = 0:0 ] || { show_job "$j1" "$out1"; fail "job 1: $state"; }
[ "$(job_field "$j1" NodeList)" = "a,b" ] || [ "$(job_field "$j1" NodeList)" = "a-b" ] || { show_job "$j1" "$out1"; fail "job 1 did not run on a and b"; }
for msg in "2 node(s)" "srun --mpi=pmix" "4 rank(s), 4 rows per rank" "Training finished after 200 iterations"; do
  grep -qF "$msg" "$out1" || { show_job "$j1" "$out1"; fail "job 1's output lacks '$msg'"; }
done
pass "sbatch -N 2 train-multinode.sbatch: 4 ranks (srun --mpi=pmix) on a and b trained to the end in $((SECONDS - t0)) s (job $j1)"

# ---- job 2: one rank on b killed mid-run, then requeued
t0=$SECONDS
j2=$(submit j2) || fail "sbatch refused job 2"
out2=$TMP/j2/eir-dist-mn-$j2.out R2=$TMP/j2/run
rows=0
for _ in $(seq 1 600); do  # up to 120 s for 45 iterations (a checkpoint every 10)
  [ -f "$R2/train_average_history.log" ] && rows=$(wc -l < "$R2/train_average_history.log")
  [ "$rows" -gt 45 ] && break
  case $(job_field "$j2" JobState) in RUNNING|PENDING|CONFIGURING) ;; *) break ;; esac
  sleep 0.2
done
[ "$rows" -gt 45 ] || { show_job "$j2" "$out2"; fail "job 2 did not reach iteration 45"; }
victim=$(ranks_on b | head -1)
[ -n "$victim" ] || { show_job "$j2" "$out2"; fail "no eir-dist process on node b"; }
kill -KILL "$victim"
tk=$(date +%s.%N)
state="" left=""
for _ in $(seq 1 300); do  # up to 60 s
  left="$(ranks_on a)$(ranks_on b)"
  state=$(job_field "$j2" JobState)
  [ -z "$left" ] && case $state in FAILED|CANCELLED|COMPLETED) true ;; *) false ;; esac && break
  sleep 0.2
done
secs=$(echo "$(date +%s.%N) - $tk" | awk '{printf "%.1f", $1 - $3}')
[ -z "$left" ] || { show_job "$j2" "$out2"; fail "eir-dist processes still alive 60 s after a rank was killed: $left"; }
[ "$state" = FAILED ] || { show_job "$j2" "$out2"; fail "job 2 after the kill: '$state' (FAILED expected)"; }
awk -v s="$secs" 'BEGIN {exit !(s <= 15)}' || { show_job "$j2" "$out2"; fail "the job took $secs s to end after the kill"; }
at=$(($(wc -l < "$R2/train_average_history.log") - 1))
tmps=$(find "$R2" -name '*.tmp.*' | wc -l)
for f in "$R2"/saved_models/*.safetensors "$R2/training_state.safetensors"; do
  [ -e "$f" ] || continue
  "$BUILD/st_compare" "$f" "$f" "$( [ "$f" = "$R2/training_state.safetensors" ] && echo params || echo input_modules.txt.embedding.weight)" 0 > /dev/null \
    || fail "$f is not a valid checkpoint after the kill"
done
pass "kill -9 of rank pid $victim on b at iteration ~$at: job FAILED and every rank gone in $secs s; checkpoints load ($tmps unfinished temporaries left)"

on sw scontrol requeue "$j2" || { show_job "$j2" "$out2"; fail "scontrol requeue $j2"; }
bg_out "$TMP/state" wait_job "$j2" 240; state=$(cat "$TMP/state")
[ "$state" = COMPLETED ] && [ "$(job_field "$j2" ExitCode)" = 0:0 ] || { show_job "$j2" "$out2"; fail "requeued job 2: $state"; }
[ "$(job_field "$j2" Restarts)" = 1 ] || { show_job "$j2" "$out2"; fail "job 2 was not requeued exactly once"; }
for msg in "resuming from $R2/training_state.safetensors (restart 1)" "Resumed from $R2 at iteration" "Training finished after 200 iterations" "eir-dist exited with code 0"; do
  grep -qF "$msg" "$out2" || { show_job "$j2" "$out2"; fail "job 2's output lacks '$msg'"; }
done
[ -z "$(find "$R2" -name '*.tmp.*')" ] || fail "temporaries left in the run folder after the resume"
resumed=$(sed -n "s|.*Resumed from $R2 at iteration \([0-9]*\).*|\1|p" "$out2" | head -1)
for f in train_average_history.log validation_average_history.log results/out/Label/validation_Label_history.log; do
  cmp "$R1/$f" "$R2/$f" || fail "the killed and resumed run differs from job 1 in $f"
done
pass "requeued: resumed at iteration $resumed, finished identically to job 1, $((SECONDS - t0)) s for job 2 in all"
