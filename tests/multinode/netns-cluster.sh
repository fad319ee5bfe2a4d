#!/usr/bin/env bash
# netns-cluster.sh: N "nodes" (2-4) on this machine, each a network namespace with its own
# address, hostname and /etc/hosts, joined by veth pairs to a private bridge, for the multi-node
# tests (tests/multinode/) and bench/netem_scaling.sh.
#
#   netns-cluster.sh up DIR N            # builds the nodes a, b[, c, d]; DIR records what it made
#   netns-cluster.sh down DIR            # removes exactly what DIR records (and kills its processes)
#   netns-cluster.sh exec DIR NODE cmd...  # runs cmd on NODE: in its namespace, hostname NODE
#   netns-cluster.sh shape DIR RATE DELAY  # tc netem on every node's link (e.g. 1gbit 1ms); 'off';
#                                          # without sch_netem, DELAY 0 shapes the rate with tbf
#   netns-cluster.sh netem-ok DIR        # exit 0 if this kernel has sch_netem (delays possible)
#   netns-cluster.sh addr DIR NODE       # the node's address
#   netns-cluster.sh status DIR
#
# Layout (ID: 6 random hex digits, kept in DIR/cluster.env):
#   eir-ID-sw            a "switch" namespace holding the bridge br0 (10.213.X.254) and one veth
#                        end per node (va, vb, ...); a fresh namespace has its own, empty firewall,
#                        so the host's iptables (Docker's FORWARD DROP with bridge netfilter) never
#                        sees this traffic
#   eir-ID-a, eir-ID-b   one per node: lo up, eth0 (the other veth end) at 10.213.X.1, .2, ...
#   /etc/netns/eir-ID-*/hosts  the nodes' names (ip netns exec bind-mounts it on /etc/hosts)
# Nothing is created in the host's own network namespace: no interface, address, route or
# firewall rule; every interface command names one of the namespaces above (ip -n). The subnet
# 10.213.X.0/24 is one that no route of this machine covers (checked; EIR_NETNS_SUBNET=10.213.X
# picks one; EIR_NETNS_ID=ID fixes the ID). `up` refuses (exit 1) when a namespace it would create exists and is not recorded
# as its own in DIR; `up` on a DIR that still records a cluster removes that one first.
# Hostnames: `exec` runs the command in a new UTS namespace set to the node's name, so processes
# started through it (an orted, a slurmd and its jobs) see `hostname` = a, b, ...
# Open MPI: DIR/rsh is a launcher agent (--mca plm_rsh_agent DIR/rsh) that starts orted on another
# node through `exec`, so `mpirun --host a:2,b:2` started on node a needs no ssh.
# Needs root, iproute2 (ip, tc) and util-linux (unshare). Exit codes: 0 done, 1 failure, 2 usage.
set -euo pipefail

me=$(readlink -f "$0")
die() { echo "netns-cluster: $*" >&2; exit 1; }
usage() { sed -n '4,13p' "$me" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1; shift

load() {  # load DIR: reads DIR/cluster.env (or fails)
  [ -s "$1/cluster.env" ] || die "$1 holds no cluster (no cluster.env): run 'up' first"
  # shellcheck disable=SC1091
  source "$1/cluster.env"
}

ns_exists() { [ -e "/run/netns/$1" ]; }

node_ns() {  # node_ns NODE: the namespace of a node of the loaded cluster
  local n
  for n in $NODES; do [ "$n" = "$1" ] && { echo "$NSPREFIX-$1"; return 0; }; done
  [ "$1" = sw ] && { echo "$NSPREFIX-sw"; return 0; }
  die "no node '$1' in $DIR (nodes: $NODES)"
}

ip2int() { local IFS=.; set -- $1; echo $(( ($1 << 24) + ($2 << 16) + ($3 << 8) + $4 )); }

# subnet_in_use A.B.C: does any IPv4 route of the host (any table, default routes aside) or any
# address overlap A.B.C.0/24?
subnet_in_use() {
  local lo hi p net len n_lo n_hi w
  lo=$(ip2int "$1.0"); hi=$(( lo + 255 ))
  while read -r -a w; do
    p=${w[0]}
    case $p in local|broadcast|unicast|multicast|anycast|blackhole|unreachable|prohibit|throw|nat) p=${w[1]:-} ;; esac
    [[ $p =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+(/[0-9]+)?$ ]] || continue
    net=${p%/*}; len=32; [[ $p == */* ]] && len=${p#*/}
    [ "$len" = 0 ] && continue
    n_lo=$(( $(ip2int "$net") & (0xFFFFFFFF << (32 - len)) & 0xFFFFFFFF )); n_hi=$(( n_lo + (1 << (32 - len)) - 1 ))
    [ "$n_hi" -lt "$lo" ] || [ "$n_lo" -gt "$hi" ] || return 0
  done < <(ip -4 route show table all; ip -4 -o addr show | awk '{print $4}')
  return 1
}

cmd_down() {
  DIR=$1
  [ -s "$DIR/cluster.env" ] || { echo "netns-cluster: nothing recorded in $DIR" >&2; return 0; }
  load "$DIR"
  local ns pids i left
  # processes still in the namespaces (daemons, ranks): TERM, then KILL after 5 s
  for ns in $NAMESPACES; do
    ns_exists "$ns" || continue
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -z "$pids" ] || kill -TERM $pids 2>/dev/null || true
  done
  for i in $(seq 1 50); do
    left=""
    for ns in $NAMESPACES; do ns_exists "$ns" && left+=$(ip netns pids "$ns" 2>/dev/null || true); done
    [ -z "$left" ] && break
    sleep 0.1
  done
  for ns in $NAMESPACES; do
    ns_exists "$ns" || continue
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    [ -z "$pids" ] || { echo "netns-cluster: killing what is left in $ns: $pids" >&2; kill -KILL $pids 2>/dev/null || true; }
  done
  # deleting a namespace deletes its interfaces (the veth pairs and the bridge go with them)
  for ns in $NAMESPACES; do
    ns_exists "$ns" && { ip netns del "$ns" || echo "netns-cluster: could not delete namespace $ns" >&2; }
    rm -rf "/etc/netns/$ns"
  done
  [ "${ETC_NETNS_MADE:-0}" = 1 ] && rmdir /etc/netns 2>/dev/null || true  # only if up made it (and it is empty)
  rm -f "$DIR/cluster.env" "$DIR/rsh"
  echo "netns-cluster: removed $NAMESPACES" >&2
}

cmd_up() {
  DIR=$1; local n=$2 id x subnet nodes="" i node ns nsl
  [[ $n =~ ^[2-4]$ ]] || die "N must be 2, 3 or 4, not '$n'"
  [ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
  for b in ip tc unshare flock; do command -v "$b" >/dev/null || die "$b not found (apt-get install iproute2 util-linux)"; done
  ip netns list >/dev/null 2>&1 || die "'ip netns' does not work here"
  mkdir -p "$DIR"; DIR=$(cd "$DIR" && pwd)
  # a cluster this DIR still records (a run killed before its 'down'): remove it first
  [ -s "$DIR/cluster.env" ] && { echo "netns-cluster: $DIR records an old cluster: removing it" >&2; cmd_down "$DIR"; }
  mkdir -p /run/netns
  exec 9>/run/eir-netns-cluster.lock
  flock -w 30 9 || die "another netns-cluster.sh up holds /run/eir-netns-cluster.lock"
  id=${EIR_NETNS_ID:-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')}
  [[ $id =~ ^[0-9a-f]{6}$ ]] || die "EIR_NETNS_ID must be 6 hex digits"
  if [ -n "${EIR_NETNS_SUBNET:-}" ]; then
    [[ $EIR_NETNS_SUBNET =~ ^10\.213\.[0-9]+$ ]] || die "EIR_NETNS_SUBNET must be 10.213.X"
    subnet=$EIR_NETNS_SUBNET
    subnet_in_use "$subnet" && die "$subnet.0/24 overlaps a route or address of this machine (ip -4 route show table all)"
  else
    subnet=""
    for x in $(seq 0 255); do subnet_in_use "10.213.$x" || { subnet=10.213.$x; break; }; done
    [ -n "$subnet" ] || die "every 10.213.X.0/24 overlaps a route of this machine"
  fi
  for i in $(seq 1 "$n"); do nodes+="${nodes:+ }$(printf "\\x$(printf %x $((96 + i)))")"; done
  nsl="eir-$id-sw"; for node in $nodes; do nsl+=" eir-$id-$node"; done
  for ns in $nsl; do
    ns_exists "$ns" && die "namespace $ns exists and is not recorded in $DIR: refusing to touch it"
    [ -e "/etc/netns/$ns" ] && die "/etc/netns/$ns exists and is not recorded in $DIR: refusing to touch it"
  done
  # recorded before anything is made, so 'down' (or the next 'up') finds a half-built cluster
  cat > "$DIR/cluster.env" <<EOF
# written by tests/multinode/netns-cluster.sh up: what 'down' removes
ID=$id
SUBNET=$subnet
NODES="$nodes"
NSPREFIX=eir-$id
NAMESPACES="$nsl"
ETC_NETNS_MADE=$([ -d /etc/netns ] && echo 0 || echo 1)
EOF
  up_done=0
  trap '[ "$up_done" = 1 ] || { echo "netns-cluster: up failed, removing what it made" >&2; cmd_down "$DIR"; }' EXIT
  ip netns add "eir-$id-sw"
  ip -n "eir-$id-sw" link set lo up
  ip -n "eir-$id-sw" link add br0 type bridge
  ip -n "eir-$id-sw" addr add "$subnet.254/24" dev br0
  ip -n "eir-$id-sw" link set br0 up
  {
    echo "127.0.0.1 localhost"
    echo "$subnet.254 sw"
    i=0; for node in $nodes; do i=$((i + 1)); echo "$subnet.$i $node"; done
  } > "$DIR/hosts"
  i=0
  for node in $nodes; do
    i=$((i + 1)); ns=eir-$id-$node
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    # both ends are made inside our namespaces: the host's namespace never holds them
    ip -n "eir-$id-sw" link add name "v$node" type veth peer name eth0 netns "$ns"
    ip -n "eir-$id-sw" link set dev "v$node" master br0 up
    ip -n "$ns" addr add "$subnet.$i/24" dev eth0
    ip -n "$ns" link set eth0 up
    mkdir -p "/etc/netns/$ns"; cp "$DIR/hosts" "/etc/netns/$ns/hosts"
    echo "$node" > "/etc/netns/$ns/hostname"
  done
  mkdir -p "/etc/netns/eir-$id-sw"; cp "$DIR/hosts" "/etc/netns/eir-$id-sw/hosts"
  # Open MPI's launcher agent: called as `rsh [options] HOST command...` like ssh
  cat > "$DIR/rsh" <<EOF
#!/usr/bin/env bash
# Open MPI plm_rsh_agent for the cluster in $DIR: runs the remote command on node HOST
set -euo pipefail
while [ \$# -gt 0 ] && [[ \$1 == -* ]]; do shift; done
[ \$# -ge 2 ] || { echo "rsh: usage: rsh HOST command..." >&2; exit 255; }
host=\$1; shift
exec bash "$me" exec "$DIR" "\$host" /bin/sh -c "\$*"
EOF
  chmod 755 "$DIR/rsh"
  # every node reaches every other one: a TCP connection to a closed port is refused at once
  # when the peer is reachable (no ping needed)
  local err
  for node in $nodes; do
    i=0
    for x in $nodes; do
      i=$((i + 1))
      err=$(ip netns exec "eir-$id-$node" timeout 3 bash -c "echo > /dev/tcp/$subnet.$i/9" 2>&1 || true)
      [[ $err == *refused* ]] || die "node $node cannot reach $x ($subnet.$i): ${err:-no answer in 3 s}"
    done
  done
  up_done=1
  flock -u 9
  echo "netns-cluster: $n nodes ($nodes) on $subnet.0/24 in namespaces eir-$id-*, recorded in $DIR" >&2
}

cmd_exec() {
  DIR=$1; local node=$2 ns; shift 2
  [ $# -ge 1 ] || die "exec: no command"
  load "$DIR"
  if [ "$node" = sw ]; then ns=$NSPREFIX-sw
  else
    # a node may also be named by its address
    local i=0 x
    for x in $NODES; do i=$((i + 1)); [ "$node" = "$SUBNET.$i" ] && node=$x; done
    ns=$(node_ns "$node")
  fi
  ns_exists "$ns" || die "namespace $ns is gone"
  exec ip netns exec "$ns" unshare --uts -- /bin/sh -c 'hostname "$0" && exec "$@"' "$node" "$@"
}

# netem_ok: can this kernel emulate delay (sch_netem)? Probed on lo of our own switch namespace.
netem_ok() {
  tc -n "$NSPREFIX-sw" qdisc replace dev lo root netem delay 0ms 2>/dev/null || return 1
  tc -n "$NSPREFIX-sw" qdisc del dev lo root 2>/dev/null || true
}

cmd_shape() {
  DIR=$1; load "$DIR"; local rate=$2 delay=${3:-0ms} node bps burst
  if [ "$rate" = off ]; then
    for node in $NODES; do tc -n "$NSPREFIX-$node" qdisc del dev eth0 root 2>/dev/null || true; done
    return 0
  fi
  [[ $rate =~ ^[0-9.]+[kmg]?bit$ ]] || die "shape: RATE like 1gbit, 10gbit, 500mbit, not '$rate'"
  [[ $delay =~ ^[0-9.]+(ms|us|s)$ ]] || die "shape: DELAY like 0.1ms, 1ms, 100us, not '$delay'"
  if netem_ok; then
    # each node's egress: a packet crosses one netem (its sender's), so one-way delay = DELAY
    for node in $NODES; do
      tc -n "$NSPREFIX-$node" qdisc replace dev eth0 root netem rate "$rate" delay "$delay" limit 100000
    done
  elif [[ $delay =~ ^0+(\.0+)?(ms|us|s)$ ]]; then
    # no sch_netem in this kernel: the rate alone with a token bucket (1 ms worth of burst)
    bps=$(echo "$rate" | awk '{n = $0 + 0; u = substr($0, length($0) - 3, 1); f = u == "k" ? 1e3 : u == "m" ? 1e6 : u == "g" ? 1e9 : 1; print n * f}')
    burst=$(awk -v b="$bps" 'BEGIN {x = int(b / 8 / 1000); print (x < 65536 ? 65536 : x)}')
    for node in $NODES; do
      tc -n "$NSPREFIX-$node" qdisc replace dev eth0 root tbf rate "$rate" burst "$burst" latency 50ms
    done
    echo "netns-cluster: no sch_netem in this kernel: $rate with tbf, no delay" >&2
  else
    die "this kernel has no sch_netem (CONFIG_NET_SCH_NETEM), so a delay cannot be emulated; with DELAY 0 the rate alone is shaped (tbf)"
  fi
}

case $cmd in
  up) [ $# -eq 2 ] || usage; cmd_up "$1" "$2" ;;
  down) [ $# -eq 1 ] || usage; [ -d "$1" ] || exit 0; cmd_down "$(cd "$1" && pwd)" ;;
  exec) [ $# -ge 3 ] || usage; cmd_exec "$(cd "$1" && pwd)" "${@:2}" ;;
  shape) [ $# -ge 2 ] || usage; cmd_shape "$(cd "$1" && pwd)" "${@:2}" ;;
  netem-ok) DIR=$(cd "$1" && pwd); load "$DIR"; netem_ok ;;
  addr)
    [ $# -eq 2 ] || usage; DIR=$(cd "$1" && pwd); load "$DIR"
    i=0; for x in $NODES; do i=$((i + 1)); [ "$x" = "$2" ] && { echo "$SUBNET.$i"; exit 0; }; done
    die "no node '$2'" ;;
  status)
    DIR=$(cd "$1" && pwd); load "$DIR"
    echo "cluster $ID: nodes $NODES on $SUBNET.0/24"
    for ns in $NAMESPACES; do
      if ns_exists "$ns"; then echo "$ns: $(ip netns pids "$ns" | wc -l) process(es)"; ip -n "$ns" -br addr | sed 's/^/  /'
      else echo "$ns: missing"; fi
    done ;;
  *) usage ;;
esac
