#!/usr/bin/env bash
# local-cluster.sh: a private one-node Slurm cluster (munged, slurmctld, slurmd) on this machine,
# to try the sbatch scripts without a real cluster; tests/cli/slurm_train.sh uses it.
#
#   slurm/local-cluster.sh start DIR [CPUS]   # prints the line to eval: export SLURM_CONF=DIR/slurm.conf
#   slurm/local-cluster.sh stop DIR           # stops the daemons that 'start DIR' started
#
# Everything lives in DIR: config, munge key and socket, spool, state, logs and pid files, and
# the daemons listen on free loopback ports, so a system-wide Slurm or munge is left alone.
# Needs root and the Debian packages slurm-wlm slurmctld slurmd slurm-client munge.
# Exit codes: 0 started/stopped, 1 the cluster did not come up (the logs are printed).
set -euo pipefail

usage() { echo "usage: $0 start DIR [CPUS] | stop DIR" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)

# A loopback port nothing listens on, from a range chosen by the caller's pid (two clusters on
# one machine get different ports).
free_port() {
  local p i
  for i in $(seq 0 199); do
    p=$(( $1 + ($$ * 7 + i * 13) % 2000 ))
    ss -Hltn "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return 0; }
  done
  echo "local-cluster: no free port near $1" >&2; return 1
}

# stop_daemons NAME:PIDFILE...: TERM them all at once (each takes ~2 s to exit), KILL whoever
# is left after 10 s.
stop_daemons() {
  local spec f pid i pids=()
  for spec in "$@"; do
    f=${spec#*:}
    [ -s "$f" ] || continue
    pid=$(cat "$f"); rm -f "$f"
    kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
  done
  for pid in "${pids[@]}"; do
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { echo "local-cluster: pid $pid ignored SIGTERM, killing it" >&2; kill -KILL "$pid" 2>/dev/null || true; }
  done
  return 0
}

stop() {
  # jobs still running would keep slurmstepd processes around: cancel them first
  if [ -s "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null; then
    export SLURM_CONF=$dir/slurm.conf
    timeout 10 scancel --user=root 2>/dev/null || true
    local i
    for i in $(seq 1 40); do
      [ -z "$(timeout 5 squeue -h -t running,completing 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  stop_daemons "slurmd:$dir/slurmd.pid" "slurmctld:$dir/slurmctld.pid" "munged:$dir/munge/munged.pid"
  return 0
}

dump_logs() {
  local f
  for f in "$dir"/log/*.log "$dir"/munge/munged.log; do
    [ -s "$f" ] && { echo "---- $f (last 30 lines)" >&2; tail -30 "$f" >&2; }
  done
  return 0
}

start() {
  local cpus=${1:-$(nproc)} i state
  for b in munged mungekey slurmctld slurmd sinfo; do
    command -v "$b" >/dev/null || { echo "local-cluster: $b not found (apt-get install slurm-wlm slurmctld slurmd slurm-client munge)" >&2; return 1; }
  done
  [ "$(id -u)" = 0 ] || { echo "local-cluster: needs root (slurmd runs jobs as their user)" >&2; return 1; }
  mkdir -p "$dir/munge" "$dir/spool/ctld" "$dir/spool/d" "$dir/log"
  runuser -u munge -- test -x "$dir" || { echo "local-cluster: the munge user cannot enter $dir (chmod 755 it and its parents)" >&2; return 1; }
  # munge: a private key and socket, owned by the munge user as munged demands
  [ -s "$dir/munge/munge.key" ] || mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null 2>&1 \
    || dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 2>/dev/null
  chmod 700 "$dir/munge"; chmod 600 "$dir/munge/munge.key"
  chown -R munge:munge "$dir/munge"
  runuser -u munge -- munged --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed" \
    || { dump_logs; return 1; }
  # the socket's folder must be reachable for root clients (slurmctld, slurmd, sbatch run as root)
  chmod 755 "$dir/munge"
  local ctld_port d_port
  ctld_port=$(free_port 20000); d_port=$(free_port 22000)
  cat > "$dir/slurm.conf" <<EOF
# written by slurm/local-cluster.sh: a one-node cluster on loopback
ClusterName=eirlocal
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also delays a requeued job's restart (default 120 s)
AuthInfo=socket=$dir/munge/munge.socket,cred_expire=10
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=pmix
SlurmdParameters=config_overrides
MailProg=/bin/true
EnforcePartLimits=ALL
KillWait=10
InactiveLimit=0
# scheduling passes every 2 s, so a requeued job starts soon after its begin time
SchedulerParameters=sched_interval=2
MinJobAge=300
StateSaveLocation=$dir/spool/ctld
SlurmdSpoolDir=$dir/spool/d
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
PlugStackConfig=$dir/plugstack.conf
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  : > "$dir/plugstack.conf"
  export SLURM_CONF=$dir/slurm.conf
  slurmctld -i -f "$SLURM_CONF" || { dump_logs; return 1; }
  slurmd -N localhost -f "$SLURM_CONF" || { dump_logs; return 1; }
  # up when the node reports idle (bounded: 60 x 0.5 s)
  for i in $(seq 1 60); do
    state=$(timeout 5 sinfo -h -o %T 2>/dev/null || true)
    [ "$state" = idle ] && break
    sleep 0.5
  done
  [ "$state" = idle ] || { echo "local-cluster: node state '$state' after 30 s" >&2; dump_logs; return 1; }
  echo "export SLURM_CONF=$SLURM_CONF"
}

case $cmd in
  start) start "${3:-}" || { stop; exit 1; } ;;
  stop) stop ;;
  *) usage ;;
esac
