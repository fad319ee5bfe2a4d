#!/usr/bin/env bash
# MPI over a network: two "nodes" on this machine (network namespaces a and b joined by a bridge,
# tests/multinode/netns-cluster.sh), `mpirun -np 4 --host a:2,b:2` started on a with Open MPI's
# TCP transport between the nodes (shared memory inside one) trains the rank-count invariance
# config of tests/cli/dist_invariance.sh and must end with the same parameters as one rank within
# the same tolerance (INVARIANCE_RTOL, cli_lib.sh) and the same validation metrics. Also checked:
# the ranks ran on both hosts, node b's link carried the gradients, and without the TCP transport
# the 2-node job cannot run (so nothing crossed nodes over shared memory).
# Usage: mpi_train.sh BUILD_DIR SOURCE_DIR. Exits 77 (ctest: skipped) without root or network
# namespaces; EIR_REQUIRE_MULTINODE=1 makes that a failure. The namespaces are removed on exit.
source "$(dirname "$0")/../cli_lib.sh"
NC=$SRC/tests/multinode/netns-cluster.sh

skip() {
  echo "SKIP: $*" >&2
  [ "${EIR_REQUIRE_MULTINODE:-0}" = 1 ] && fail "EIR_REQUIRE_MULTINODE=1 but: $*"
  exit 77
}
[ "$(id -u)" = 0 ] || skip "network namespaces need root"
command -v ip >/dev/null && command -v unshare >/dev/null || skip "ip (iproute2) or unshare (util-linux) missing"
unshare --net --uts true 2>/dev/null || skip "cannot create network/UTS namespaces here (no CAP_SYS_ADMIN?)"
ip netns list >/dev/null 2>&1 || skip "'ip netns' does not work here"

C=$TMP/net
foreign=""
cleanup() {
  local rc=$?
  kill $(jobs -p) 2>/dev/null || true  # a run in the background (see bg)
  bash "$NC" down "$C" >/dev/null 2>&1 || true
  [ -z "$foreign" ] || ip netns del "$foreign" 2>/dev/null || true
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP
# a namespace with one of the names `up` would make, not recorded as its own: refused, left alone
id=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n'); foreign=eir-$id-b
ip netns add "$foreign"
expect_fail 1 "namespace $foreign exists and is not recorded" env EIR_NETNS_ID="$id" bash "$NC" up "$TMP/refused" 2
[ -e "/run/netns/$foreign" ] && [ ! -e "/run/netns/eir-$id-a" ] && [ ! -e "/run/netns/eir-$id-sw" ] || fail "a refused up touched namespaces"
bash "$NC" down "$TMP/refused" && [ -e "/run/netns/$foreign" ] || fail "down removed a namespace it did not make"
ip netns del "$foreign"; foreign=""
pass "up refuses a name it would make that exists and is not its own; down leaves it alone"

t0=$SECONDS
bash "$NC" up "$C" 2 || fail "netns-cluster.sh up failed"
# shellcheck disable=SC1091
source "$C/cluster.env"
pass "2 nodes (a, b) on $SUBNET.0/24 in $((SECONDS - t0)) s"

on() { bash "$NC" exec "$C" "$@"; }  # on NODE cmd...
# bg cmd...: run in the background and waited for, so that a TERM/INT reaches the traps at once
# (bash runs a trap only after a foreground command ends)
bg() { "$@" & wait $!; }
NET=(--host a:2,b:2 --mca plm_rsh_agent "$C/rsh" --mca plm_rsh_no_tree_spawn 1
     --mca btl_tcp_if_include "$SUBNET.0/24" --mca oob_tcp_if_include "$SUBNET.0/24")

# the launch itself: two ranks per host, each host its own name
on a mpirun -np 4 "${NET[@]}" --mca btl tcp,self,vader sh -c 'echo "$OMPI_COMM_WORLD_RANK $(hostname)"' > "$TMP/hosts.txt" 2>&1 \
  || { cat "$TMP/hosts.txt"; fail "mpirun --host a:2,b:2 hostname"; }
[ "$(sort "$TMP/hosts.txt" | tr '\n' ' ')" = "0 a 1 a 2 b 3 b " ] || { cat "$TMP/hosts.txt"; fail "ranks not placed a:2,b:2"; }
pass "mpirun -np 4 --host a:2,b:2: ranks 0,1 on a, 2,3 on b"

D=$TMP/data; make_tiny_dataset "$D"
invariance_cfg "$D"
mkdir -p "$TMP/r1" && cd "$TMP/r1"
t0=$SECONDS
bg timeout 120 mpirun -np 1 "$BUILD/eir-dist" "${INV_CFG[@]}" > log.txt 2>&1 || { cat log.txt; fail "1 rank"; }
pass "1 rank trained in $((SECONDS - t0)) s"

bytes() { on b cat /sys/class/net/eth0/statistics/rx_bytes /sys/class/net/eth0/statistics/tx_bytes | awk '{s += $1} END {print s}'; }
mkdir -p "$TMP/r4" && cd "$TMP/r4"
b0=$(bytes); t0=$SECONDS
bg timeout 120 bash "$NC" exec "$C" a mpirun -np 4 "${NET[@]}" --mca btl tcp,self,vader "$BUILD/eir-dist" "${INV_CFG[@]}" \
  --g.basic_experiment.memory_dataset=False > log.txt 2>&1 || { cat log.txt; fail "4 ranks on a:2,b:2"; }
secs=$((SECONDS - t0)); b1=$(bytes)
grep -q "4 rank(s)" log.txt || { cat log.txt; fail "the log does not show 4 ranks"; }
compare_runs "$TMP/r1/run" "$TMP/r4/run" "4 ranks on 2 nodes against 1 rank"
pass "4 ranks on 2 nodes over TCP trained in $secs s; parameters within $INVARIANCE_RTOL of 1 rank, same validation metrics"
# the gradients crossed b's link (every step all-reduces the whole gradient buffer)
traffic=$((b1 - b0))
[ "$traffic" -gt 1000000 ] || fail "node b's eth0 carried only $traffic bytes during the 4-rank run"
pass "node b's eth0 carried $((traffic / 1024)) KiB during the run"

# without the TCP transport the two nodes cannot talk, so nothing crossed nodes over shared
# memory. Open MPI prints "unable to reach each other" at the first message and then (4.1.4)
# spins instead of aborting: stop it as soon as the message is there.
mkdir -p "$TMP/shm" && cd "$TMP/shm"
bash "$NC" exec "$C" a mpirun -np 4 "${NET[@]}" --mca btl self,vader "$BUILD/eir-dist" "${INV_CFG[@]}" > log.txt 2>&1 &
pid=$!
for _ in $(seq 1 300); do
  grep -q "unable to reach each other" log.txt && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
kill -TERM "$pid" 2>/dev/null || true  # the exec chain ends in mpirun itself, which stops its ranks
wait "$pid" 2>/dev/null || true
grep -q "unable to reach each other" log.txt && grep -q "BTLs attempted: vader self" log.txt \
  || { cat log.txt; fail "with --mca btl self,vader the 2-node job should find its ranks unreachable"; }
pass "with btl self,vader only, ranks on a and b are unreachable: the 4-rank run used TCP between the nodes"
