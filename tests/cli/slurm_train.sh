#!/usr/bin/env bash
# Starts a one-node Slurm cluster on this machine (slurm/local-cluster.sh) and runs the sbatch
# scripts on it as the README tells users to: a 2-task job that trains a tiny model, a
# second one that gets SIGUSR1 mid-run the way --signal=B:USR1@120 delivers it, saves its state,
# requeues itself and resumes to the same result bit for bit, and train-multinode.sbatch with the
# mpirun launcher. Exits 77 (ctest: skipped) where Slurm cannot run; EIR_REQUIRE_OPS=1 makes that
# a failure. Every daemon started here is stopped on exit.
source "$(dirname "$0")/../cli_lib.sh"

skip() {
  echo "SKIP: $*" >&2
  [ "${EIR_REQUIRE_OPS:-0}" = 1 ] && fail "EIR_REQUIRE_OPS=1 but: $*"
  exit 77
}

# ---- packages (installed here when missing: they are not part of the default install-deps)
have_slurm() { command -v sbatch && command -v slurmctld && command -v slurmd && command -v munged && command -v ss; } >/dev/null
if ! have_slurm; then
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || skip "Slurm is not installed and this is not a root Debian shell"
  echo "installing the Slurm packages (scripts/install-deps.sh --ops)"
  bash "$SRC/scripts/install-deps.sh" --ops >"$TMP/apt.log" 2>&1 || { tail -20 "$TMP/apt.log" >&2; skip "cannot install Slurm"; }
  have_slurm || skip "Slurm still missing after install-deps.sh --ops"
fi
[ "$(id -u)" = 0 ] || skip "a local Slurm cluster needs root"

# ---- cluster: munge's user must be able to enter the folder; stopped by the EXIT trap
chmod 755 "$TMP"
C=$TMP/cluster
cleanup() {
  bash "$SRC/slurm/local-cluster.sh" stop "$C" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP
t0=$SECONDS
conf=$(bash "$SRC/slurm/local-cluster.sh" start "$C" 4) || skip "the local Slurm cluster did not start (see above)"
eval "$conf"
pass "one-node Slurm cluster up in $((SECONDS - t0)) s ($SLURM_CONF)"

D=$TMP/data; make_tiny_dataset "$D"
export EIR_DIST=$BUILD/eir-dist EIR_HOME=$SRC
# 20 epochs without early stopping: 200 iterations, long enough to be interrupted mid-run
TRAIN=(--global_configs "$D/g.yaml" --input_configs "$D/i.yaml" --output_configs "$D/o.yaml"
       --g.basic_experiment.n_epochs=20 --g.training_control.early_stopping_patience=0)

job_field() { timeout 10 scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }

# wait_job ID SECONDS: until the job has finished (any final state); prints that state
wait_job() {
  local id=$1 limit=$2 s="" i
  for ((i = 0; i < limit * 2; i++)); do
    s=$(job_field "$id" JobState)
    case $s in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED) echo "$s"; return 0 ;; esac
    sleep 0.5
  done
  echo "still ${s:-unknown} after $limit s"
}

show_job() {  # on failure: what the job printed and what Slurm says about it
  echo "---- job $1 output" >&2; cat "$2" >&2 || true
  timeout 10 scontrol show job "$1" >&2 || true
  tail -20 "$C/log/slurmctld.log" "$C/log/slurmd.log" >&2 || true
}

# ---- job 1: train.sbatch, 2 tasks (srun --mpi=pmix), to the end
mkdir -p "$TMP/j1"; cd "$SRC"
t0=$SECONDS
j1=$(sbatch --parsable --ntasks=2 --cpus-per-task=1 --chdir="$TMP/j1" --output="$TMP/j1/eir-dist-%j.out" \
       slurm/train.sbatch --run-folder run "${TRAIN[@]}") || fail "sbatch refused job 1"
out1=$TMP/j1/eir-dist-$j1.out
state=$(wait_job "$j1" 150)
[ "$state" = COMPLETED ] || { show_job "$j1" "$out1"; fail "job 1: $state"; }
[ "$(job_field "$j1" ExitCode)" = 0:0 ] || { show_job "$j1" "$out1"; fail "job 1 exit code"; }
R1=$TMP/j1/run
grep -q "2 rank(s), 8 rows per rank" "$out1" || { show_job "$j1" "$out1"; fail "job 1 did not run 2 ranks"; }
grep -q "Training finished after 200 iterations" "$out1" || { show_job "$j1" "$out1"; fail "job 1 did not finish"; }
for f in training_state.safetensors train_average_history.log validation_average_history.log configs/global_config.yaml; do
  [ -s "$R1/$f" ] || fail "job 1's run folder lacks $f"
done
ls "$R1"/saved_models/run_checkpoint_*.safetensors >/dev/null 2>&1 || fail "job 1 saved no model"
[ "$(wc -l < "$R1/train_average_history.log")" = 201 ] || fail "job 1's history should have 200 rows"
pass "train.sbatch: 2 tasks trained to the end in $((SECONDS - t0)) s (job $j1, COMPLETED)"

# ---- job 2: the same run, SIGUSR1 to the batch shell mid-run (as --signal=B:USR1@120 sends it)
mkdir -p "$TMP/j2"
t0=$SECONDS
j2=$(sbatch --parsable --ntasks=2 --cpus-per-task=1 --chdir="$TMP/j2" --output="$TMP/j2/eir-dist-%j.out" \
       slurm/train.sbatch --run-folder run "${TRAIN[@]}") || fail "sbatch refused job 2"
out2=$TMP/j2/eir-dist-$j2.out
R2=$TMP/j2/run
rows=0
for _ in $(seq 1 300); do  # up to 60 s for 20 iterations
  [ -f "$R2/train_average_history.log" ] && rows=$(wc -l < "$R2/train_average_history.log")
  [ "$rows" -gt 20 ] && break
  case $(job_field "$j2" JobState) in RUNNING|PENDING|CONFIGURING) ;; *) break ;; esac
  sleep 0.2
done
[ "$rows" -gt 20 ] || { show_job "$j2" "$out2"; fail "job 2 did not reach iteration 20"; }
scancel --batch --signal=USR1 "$j2" || fail "scancel --batch --signal=USR1 $j2"
# requeued (Restarts=1), pending a few seconds, then running again to the end
state=$(wait_job "$j2" 180)
[ "$state" = COMPLETED ] || { show_job "$j2" "$out2"; fail "job 2: $state"; }
[ "$(job_field "$j2" Restarts)" = 1 ] || { show_job "$j2" "$out2"; fail "job 2 was not requeued exactly once"; }
[ "$(job_field "$j2" ExitCode)" = 0:0 ] || { show_job "$j2" "$out2"; fail "job 2 exit code"; }
at=$(sed -n 's/.*Received signal 10 at iteration \([0-9]*\).*/\1/p' "$out2" | head -1)
[ -n "$at" ] && [ "$at" -lt 200 ] || { show_job "$j2" "$out2"; fail "job 2's eir-dist never got SIGUSR1 mid-run"; }
for msg in "eir-dist exited with code 75" "requeueing job $j2" "resuming from $R2/training_state.safetensors (restart 1)" \
           "Resumed from $R2 at iteration $at" "Training finished after 200 iterations" "eir-dist exited with code 0"; do
  grep -qF "$msg" "$out2" || { show_job "$j2" "$out2"; fail "job 2's output lacks '$msg'"; }
done
# the interrupted + resumed run equals the straight one: every iteration's loss, every validation
for f in train_average_history.log validation_average_history.log results/out/Label/validation_Label_history.log; do
  cmp "$R1/$f" "$R2/$f" || fail "resumed run differs from the straight run in $f"
done
last=$(ls "$R1/results/out/Label/samples" | sort -n | tail -1)
cmp "$R1/results/out/Label/samples/$last/predictions.csv" "$R2/results/out/Label/samples/$last/predictions.csv" \
  || fail "resumed run's predictions at iteration $last differ"
pass "SIGUSR1 at iteration $at: state saved, job requeued, resumed and finished identically in $((SECONDS - t0)) s (job $j2)"

# ---- job 3: train-multinode.sbatch on this one node, with the mpirun launcher, inputs from the environment
mkdir -p "$TMP/j3"
t0=$SECONDS
j3=$(EIR_LAUNCHER=mpirun EIR_RUN_FOLDER=run EIR_GLOBAL_CONFIGS="$D/g.yaml" EIR_INPUT_CONFIGS="$D/i.yaml" \
       EIR_OUTPUT_CONFIGS="$D/o.yaml" sbatch --parsable --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 \
       --chdir="$TMP/j3" --output="$TMP/j3/eir-dist-mn-%j.out" slurm/train-multinode.sbatch) || fail "sbatch refused job 3"
out3=$TMP/j3/eir-dist-mn-$j3.out
state=$(wait_job "$j3" 120)
[ "$state" = COMPLETED ] || { show_job "$j3" "$out3"; fail "job 3: $state"; }
grep -q "mpirun -np 2" "$out3" && grep -q "2 rank(s), 8 rows per rank" "$out3" \
  && grep -q "Training finished after 30 iterations" "$out3" || { show_job "$j3" "$out3"; fail "job 3 output"; }
[ -s "$TMP/j3/run/training_state.safetensors" ] || fail "job 3's run folder (EIR_RUN_FOLDER=run) lacks the state"
pass "train-multinode.sbatch, EIR_LAUNCHER=mpirun, inputs from EIR_* variables, in $((SECONDS - t0)) s (job $j3)"

# ---- a bad use of the script fails fast with exit code 2
mkdir -p "$TMP/j4"
j4=$(sbatch --parsable --ntasks=1 --chdir="$TMP/j4" --output="$TMP/j4/out-%j.txt" slurm/train.sbatch "${TRAIN[@]}") || fail "sbatch refused job 4"
state=$(wait_job "$j4" 60)
[ "$state" = FAILED ] && [ "$(job_field "$j4" ExitCode)" = 2:0 ] && grep -q "no run folder" "$TMP/j4/out-$j4.txt" \
  || { show_job "$j4" "$TMP/j4/out-$j4.txt"; fail "job without a run folder: $state"; }
pass "a job without --run-folder fails with exit code 2"
