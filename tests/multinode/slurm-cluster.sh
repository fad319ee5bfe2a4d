#!/usr/bin/env bash
# slurm-cluster.sh: a Slurm cluster on the nodes of tests/multinode/netns-cluster.sh: slurmctld
# on the head node "sw" (the bridge's namespace, 10.213.X.254), one slurmd on each node a, b, ...
# (NodeName/NodeHostname = the node, NodeAddr = its address), one munged for all of them on the
# host (munge's socket is a file, which every network namespace reaches).
#
#   slurm-cluster.sh start DIR NETDIR [CPUS]   # NETDIR: a cluster made by netns-cluster.sh up;
#                                              # CPUS per node (default 2); prints the line to eval
#   slurm-cluster.sh stop DIR                  # cancels the jobs, stops the daemons it started
#
# Client commands (sbatch, squeue, scontrol, srun) must run on a node that reaches the controller:
#   netns-cluster.sh exec NETDIR sw sbatch ...   (with SLURM_CONF exported as printed)
# Everything lives in DIR: slurm.conf, munge key and socket, spool and node-local folders, logs and
# pid files. Node-local folders: SlurmdSpoolDir=DIR/spool/%n, and TmpFS=DIR/nodetmp, which each
# slurmd (and so every job step on its node) sees as its own DIR/nodetmp.<node> through a bind mount
# in its private mount namespace, as a real node has its own /tmp: Slurm's PMIx plugin makes its
# per-step folder there under the same name on every node. /tmp itself stays shared (the jobs'
# working folders and run folders are on "shared storage").
# Needs root and slurm-wlm slurmctld slurmd slurm-client munge. Exit codes: 0 started/stopped,
# 1 the cluster did not come up (the logs are printed), 2 usage.
set -euo pipefail

usage() { echo "usage: $0 start DIR NETDIR [CPUS] | stop DIR" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1
mkdir -p "$2"
dir=$(cd "$2" && pwd)
NC=$(dirname "$(readlink -f "$0")")/netns-cluster.sh

stop_pid() {  # stop_pid PIDFILE: TERM, KILL after 10 s
  local f=$1 pid i
  [ -s "$f" ] || return 0
  pid=$(cat "$f"); rm -f "$f"
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  echo "slurm-cluster: pid $pid ignored SIGTERM, killing it" >&2; kill -KILL "$pid" 2>/dev/null || true
}

stop() {
  local netdir n i
  netdir=$(cat "$dir/netdir" 2>/dev/null || true)
  if [ -n "$netdir" ] && [ -s "$dir/slurmctld.pid" ] && kill -0 "$(cat "$dir/slurmctld.pid")" 2>/dev/null; then
    export SLURM_CONF=$dir/slurm.conf
    timeout 10 bash "$NC" exec "$netdir" sw scancel --user=root 2>/dev/null || true
    for i in $(seq 1 40); do
      [ -z "$(timeout 5 bash "$NC" exec "$netdir" sw squeue -h -t running,completing 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  for n in $(cat "$dir/nodes" 2>/dev/null || true); do stop_pid "$dir/slurmd-$n.pid" & done
  stop_pid "$dir/slurmctld.pid" &
  wait
  stop_pid "$dir/munge/munged.pid"
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
  local netdir cpus=${2:-2} i n state b
  netdir=$(cd "$1" && pwd)
  for b in munged mungekey slurmctld slurmd sinfo; do
    command -v "$b" >/dev/null || { echo "slurm-cluster: $b not found (scripts/install-deps.sh --ops)" >&2; return 1; }
  done
  [ "$(id -u)" = 0 ] || { echo "slurm-cluster: needs root" >&2; return 1; }
  [ -s "$netdir/cluster.env" ] || { echo "slurm-cluster: $netdir holds no netns-cluster.sh cluster" >&2; return 1; }
  # shellcheck disable=SC1091
  source "$netdir/cluster.env"
  echo "$netdir" > "$dir/netdir"; echo "$NODES" > "$dir/nodes"
  mkdir -p "$dir/munge" "$dir/spool/ctld" "$dir/log" "$dir/nodetmp"
  runuser -u munge -- test -x "$dir" || { echo "slurm-cluster: the munge user cannot enter $dir (chmod 755 it and its parents)" >&2; return 1; }
  [ -s "$dir/munge/munge.key" ] || mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null 2>&1 \
    || dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 2>/dev/null
  chmod 700 "$dir/munge"; chmod 600 "$dir/munge/munge.key"
  chown -R munge:munge "$dir/munge"
  runuser -u munge -- munged --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed" \
    || { dump_logs; return 1; }
  chmod 755 "$dir/munge"
  {
    cat <<EOF
# written by tests/multinode/slurm-cluster.sh: controller on sw, one slurmd per namespace node
ClusterName=eirmn
SlurmctldHost=sw($SUBNET.254)
SlurmctldPort=6817
SlurmdPort=6818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
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
KillWait=5
InactiveLimit=0
SchedulerParameters=sched_interval=2
MinJobAge=300
StateSaveLocation=$dir/spool/ctld
SlurmdSpoolDir=$dir/spool/%n
TmpFS=$dir/nodetmp
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
PlugStackConfig=$dir/plugstack.conf
EOF
    i=0
    for n in $NODES; do
      i=$((i + 1))
      echo "NodeName=$n NodeHostname=$n NodeAddr=$SUBNET.$i CPUs=$cpus State=UNKNOWN"
    done
    echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
  } > "$dir/slurm.conf"
  : > "$dir/plugstack.conf"
  export SLURM_CONF=$dir/slurm.conf
  bash "$NC" exec "$netdir" sw slurmctld -i -f "$SLURM_CONF" || { dump_logs; return 1; }
  awk '$2 ~ "^/sys/fs/cgroup" {print $3, $2, $4}' /proc/self/mounts > "$dir/cgroup-mounts"
  for n in $NODES; do
    mkdir -p "$dir/spool/$n" "$dir/nodetmp.$n"; chmod 755 "$dir/spool/$n"; chmod 1777 "$dir/nodetmp.$n"
    # ip netns exec gave this command its own mount namespace (mounts made there stay there) and
    # a fresh /sys for the network namespace, without the cgroup file systems slurmd needs: mount
    # them again as the host has them (DIR/cgroup-mounts), then the node's own TmpFS
    bash "$NC" exec "$netdir" "$n" /bin/sh -c '
      while read -r t p o; do mkdir -p "$p" && mount -t "$t" -o "$o" "$t" "$p" || exit 1; done < "$1"
      mount --bind "$2" "$3" && exec slurmd -N "$4" -f "$5"' \
      sh "$dir/cgroup-mounts" "$dir/nodetmp.$n" "$dir/nodetmp" "$n" "$SLURM_CONF" || { dump_logs; return 1; }
  done
  # up when every node reports idle (bounded: 60 x 0.5 s)
  for i in $(seq 1 60); do
    state=$(timeout 5 bash "$NC" exec "$netdir" sw sinfo -h -N -o %T 2>/dev/null | sort -u | tr '\n' ' ' || true)
    [ "$state" = "idle " ] && break
    sleep 0.5
  done
  [ "$state" = "idle " ] || { echo "slurm-cluster: node states '$state' after 30 s" >&2; dump_logs; return 1; }
  echo "export SLURM_CONF=$SLURM_CONF"
}

case $cmd in
  start) [ $# -ge 3 ] || usage; start "$3" "${4:-}" || { stop; exit 1; } ;;
  stop) stop ;;
  *) usage ;;
esac
