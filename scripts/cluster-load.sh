#!/usr/bin/env bash
# Cluster load harness (docs/SCALING.md): Kamailio running packaging/kamailio/kamailio.cfg as
# shipped on 127.0.0.10 in front of K umgw nodes on 127.0.0.11.. sharing one Maildir store
# (`paths.mailboxes`, each node with its own spool), driven by umgw-load through Kamailio.
#
#   scripts/cluster-load.sh [-k NODES] [-n CALLS] [-r RATE] [-t HOLD_S] [-m MAILBOXES]
#                           [-d BASE] [-p PROBE_S] [--imap] [--rolling] [--no-build]
#
# Prints umgw-load's table row (gateway CPU and RSS summed over the nodes, RTP counters summed),
# then per-node CPU and calls, Kamailio's CPU (all its processes), and the store check: every
# answered call's message in the shared store exactly once (by X-CallID), spools empty.
#
# --rolling restarts every node in turn while the calls run: SIGTERM (the node answers new
# INVITEs and Kamailio's probes 503 and finishes its calls), wait for it to exit, start it again
# on the same config and spool, wait until Kamailio sends it calls again, next node. The run
# passes with 0 failed calls and every message stored once. Per-node figures are not printed
# (each node is two processes).
#
# --imap puts the store on Dovecot instead (started here on 127.0.0.1, one account per mailbox
# plus the master user, mail under BASE): the nodes deposit with IMAP APPEND and keep the
# greetings (uploaded once with `umgw mailbox migrate-state`) on the server; the store check
# reads the accounts' Maildirs. Dovecot's CPU is printed like Kamailio's.
#
# -d BASE puts the nodes' data and the shared store under BASE (default /dev/shm: the host's
# disk out of the figures). -p sets Kamailio's probe interval (default 1 s; shipped: 10 s).
set -euo pipefail
cd "$(dirname "$0")/.."

nodes=3
calls=3000
rate=100
hold=40
mailboxes=100
base=/dev/shm
probe=1
rolling=0
imap=0
build=1
while [ $# -gt 0 ]; do
  case "$1" in
    -k) nodes="$2"; shift 2 ;;
    -n) calls="$2"; shift 2 ;;
    -r) rate="$2"; shift 2 ;;
    -t) hold="$2"; shift 2 ;;
    -m) mailboxes="$2"; shift 2 ;;
    -d) base="$2"; shift 2 ;;
    -p) probe="$2"; shift 2 ;;
    --rolling) rolling=1; shift ;;
    --imap) imap=1; shift ;;
    --no-build) build=0; shift ;;
    *) echo "usage: $0 [-k nodes] [-n calls] [-r rate] [-t hold_s] [-m mailboxes] [-d base] [-p probe_s] [--imap] [--rolling] [--no-build]" >&2; exit 2 ;;
  esac
done
if [ "$nodes" -lt 1 ] || [ "$nodes" -gt 9 ]; then
  echo "cluster-load.sh: -k takes 1 to 9 nodes" >&2; exit 2
fi
[ -x /usr/sbin/kamailio ] || { echo "cluster-load.sh: kamailio not found: run scripts/install-test-deps.sh" >&2; exit 2; }
[ "$imap" = 0 ] || [ -x /usr/sbin/dovecot ] || { echo "cluster-load.sh: dovecot not found: run scripts/install-test-deps.sh" >&2; exit 2; }
[ "$build" = 0 ] || cargo build --release --bin umgw --bin umgw-load >&2
umgw=${UMGW_BIN:-target/release/umgw}
load=${UMGW_LOAD_BIN:-target/release/umgw-load}
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

kam_ip=127.0.0.10
dir=$(mktemp -d "$base/umgw-cluster.XXXXXX")
node_pid=()
kam_pid=
dovecot_pid=
cleanup() {
  for p in "${node_pid[@]}" $kam_pid; do kill "$p" 2>/dev/null || true; done
  # Its own process group: the session processes go with the master.
  [ -z "$dovecot_pid" ] || kill -- "-$dovecot_pid" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

# The shared store: alice and mb0..mbM-1 (umgw-load's {n}), each with the same greeting.
# shellcheck source=scripts/lib/load-store.sh
. scripts/lib/load-store.sh
load_store "$dir/dialplans" "$dir/mailboxes" "$mailboxes" 1000

store_section=
if [ "$imap" = 1 ]; then
  # Dovecot as the shared store: mail processes run as nobody (it refuses root).
  imap_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  dc=$dir/dovecot
  mkdir -p "$dc/mail"
  chmod 755 "$dir" "$dc"
  chown 65534:65534 "$dc/mail"
  for u in alice $(seq -f 'mb%g' 0 $((mailboxes - 1))); do
    echo "$u:{PLAIN}$u-pw:65534:65534::$dc/mail/$u::"
  done >"$dc/users"
  echo "umgw:{PLAIN}gw-secret" >"$dc/master-users"
  cat >"$dc/dovecot.conf" <<DC
base_dir = $dc/run
state_dir = $dc/state
log_path = $dc/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_master_user_separator = *
mail_location = maildir:$dc/mail/%u
first_valid_uid = 1
protocol imap {
  mail_max_userip_connections = 1000
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $imap_port
  }
  inet_listener imaps {
    port = 0
  }
}
passdb {
  driver = passwd-file
  args = $dc/master-users
  master = yes
}
passdb {
  driver = passwd-file
  args = $dc/users
}
userdb {
  driver = passwd-file
  args = $dc/users
}
DC
  setsid /usr/sbin/dovecot -F -c "$dc/dovecot.conf" >"$dc/dovecot.out" 2>&1 &
  dovecot_pid=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$imap_port") 2>/dev/null && break
    sleep 0.1
  done
  store_section="[store]
backend = \"imap\"
[imap]
server = \"127.0.0.1:$imap_port\"
user = \"umgw\"
password = \"gw-secret\"
pool_size = 32"
fi

node_ip() { echo "127.0.0.$((11 + $1))"; }
start_node() {
  local i=$1 ip
  ip=$(node_ip "$i")
  "$umgw" run --config "$dir/node$i/umgw.toml" 2>>"$dir/node$i/umgw.log" &
  node_pid[i]=$!
  for _ in $(seq 100); do
    curl -sf "http://$ip:8080/health" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "cluster-load.sh: node $i did not start; log in $dir/node$i/umgw.log" >&2
  exit 1
}
: >"$dir/dispatcher.list"
for ((i = 0; i < nodes; i++)); do
  ip=$(node_ip "$i")
  mkdir -p "$dir/node$i/data"
  # With IMAP, paths.mailboxes is each node's greeting cache; the server has the originals.
  mailbox_root=$dir/mailboxes
  [ "$imap" = 0 ] || mailbox_root=$dir/node$i/cache
  cat >"$dir/node$i/umgw.toml" <<CONF
[log]
level = "warn"
[sip]
udp = ["$ip:5060"]
tcp = []
[media]
address = "$ip"
rtp_port_min = 20000
rtp_port_max = 39999
[peers]
trusted = ["$kam_ip"]
[paths]
dialplans = "$dir/dialplans"
prompts = "$PWD/audio"
data_dir = "$dir/node$i/data"
mailboxes = "$mailbox_root"
$store_section
[call]
min_free_disk_mb = 16
# A node being restarted lets every call finish (an operator sets the grace above the longest
# message, MaxRecordingDuration, to roll without cutting callers off).
shutdown_grace_ms = $(( ${hold%.*} * 1000 + 60000 ))
[admin]
listen = "$ip:8080"
CONF
  echo "1 sip:$ip:5060" >>"$dir/dispatcher.list"
  if [ "$imap" = 1 ] && [ "$i" = 0 ]; then
    # The greetings load_store wrote go to the server once, as an upgrade would move them.
    sed "s|^mailboxes = .*|mailboxes = \"$dir/mailboxes\"|" "$dir/node0/umgw.toml" >"$dir/migrate.toml"
    "$umgw" mailbox migrate-state --config "$dir/migrate.toml" >"$dir/migrate.log" 2>&1 ||
      { echo "cluster-load.sh: migrate-state failed:" >&2; cat "$dir/migrate.log" >&2; exit 1; }
  fi
  start_node "$i"
done

mkdir -p "$dir/kamailio"
# The generator (127.0.0.1) stands for the call server: exempt from pike like a Lync pool.
/usr/sbin/kamailio -DD -E -f packaging/kamailio/kamailio.cfg \
  -A "DISPATCHER_LIST=\"$dir/dispatcher.list\"" -A "PROBE_INTERVAL=$probe" \
  -A 'PIKE_EXEMPT="127.0.0.1/32"' -l "udp:$kam_ip:5060" \
  -Y "$dir/kamailio" -P "$dir/kamailio/kamailio.pid" -w "$dir/kamailio" \
  >/dev/null 2>"$dir/kamailio/kamailio.log" &
kam_pid=$!
sleep $((2 * probe + 1))

# CPU ticks (user + system) of processes, from /proc.
cpu_s() {
  local t=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    t=$((t + $(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$p/stat")))
  done
  echo "$t"
}
# CPU ticks of a server and its worker processes, those that have exited included (the
# master's cutime and cstime).
tree_cpu() {
  local reaped=0
  [ -r "/proc/$1/stat" ] && reaped=$(awk '{sub(/.*\) /, ""); print $14 + $15}' "/proc/$1/stat")
  echo $(( $(cpu_s "$1" $(pgrep -P "$1" || true)) + reaped ))
}
procs() { echo $(( 1 + $(pgrep -c -P "$1" || true) )); }
hz=$(getconf CLK_TCK)
calls_of() {
  curl -s "http://$(node_ip "$1"):8080/metrics" |
    awk '/^umgw_calls_total/ { n += $NF } END { print n + 0 }'
}

echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "# Kamailio $(/usr/sbin/kamailio -v | head -1 | awk '{print $3}') (shipped kamailio.cfg, probe ${probe} s) on $kam_ip, $nodes umgw node(s) on $(node_ip 0)..$(node_ip $((nodes - 1))), shared Maildir under $base; $calls calls at $rate/s, hold $hold s, $mailboxes mailboxes$( [ "$rolling" = 0 ] || echo ', rolling restart of every node')"
gen_args=(--gateway "$kam_ip:5060" --calls "$calls" --rate "$rate" --hold "$hold"
  --mailbox 'sip:mb{n}@contoso.com' --mailboxes "$mailboxes" --header)
declare -a before_cpu
for ((i = 0; i < nodes; i++)); do before_cpu[i]=$(cpu_s "${node_pid[i]}"); done
kam_before=$(tree_cpu "$kam_pid")
[ -z "$dovecot_pid" ] || dovecot_before=$(tree_cpu "$dovecot_pid")
t0=$(date +%s.%N)
if [ "$rolling" = 0 ]; then
  pid_args=() metric_args=()
  for ((i = 0; i < nodes; i++)); do
    pid_args+=(--gateway-pid "${node_pid[i]}")
    metric_args+=(--metrics "$(node_ip "$i"):8080")
  done
  "$load" "${gen_args[@]}" "${pid_args[@]}" "${metric_args[@]}" >"$dir/load.out" ||
    echo "# umgw-load failed (status $?)"
  cat "$dir/load.out"
else
  "$load" "${gen_args[@]}" >"$dir/load.out" 2>"$dir/load.err" &
  gen=$!
  # Let the calls ramp up, then take the nodes down and up one at a time.
  sleep $((hold / 2 + 5))
  for ((i = 0; i < nodes; i++)); do
    ts=$(date +%s.%N)
    kill -TERM "${node_pid[i]}"
    wait "${node_pid[i]}" || true
    down=$(date +%s.%N)
    start_node "$i"
    # Back in the rotation once Kamailio's probes see it (threshold 2, interval $probe).
    sleep $((3 * probe + 2))
    echo "# node $i: drained and exited in $(echo "$down - $ts" | bc) s, restarted; back in rotation"
  done
  wait "$gen" || echo "# umgw-load failed (status $?)"
  cat "$dir/load.out"
  cat "$dir/load.err" >&2
fi
t1=$(date +%s.%N)
wall=$(echo "$t1 - $t0" | bc)

if [ "$rolling" = 0 ]; then
  for ((i = 0; i < nodes; i++)); do
    used=$(( $(cpu_s "${node_pid[i]}") - before_cpu[i] ))
    echo "# node $i ($(node_ip "$i")): CPU $(echo "scale=1; $used / $hz * 100 / $wall" | bc) %, $(calls_of "$i") calls"
  done
fi
kam_used=$(( $(tree_cpu "$kam_pid") - kam_before ))
echo "# Kamailio ($(procs "$kam_pid") processes): CPU $(echo "scale=1; $kam_used / $hz * 100 / $wall" | bc) %, $(grep -c 'fail-over' "$dir/kamailio/kamailio.log" || true) fail-overs"
if [ -n "$dovecot_pid" ]; then
  used=$(( $(tree_cpu "$dovecot_pid") - dovecot_before ))
  echo "# Dovecot ($(procs "$dovecot_pid") processes now): CPU $(echo "scale=1; $used / $hz * 100 / $wall" | bc) %"
fi

# The store check (scripts/lib/load-store.sh): spools drained, every call's message there once.
store_root=$dir/mailboxes
[ "$imap" = 0 ] || store_root=$dir/dovecot/mail
load_store_check "$store_root" "$hold" "$dir/load.out" "$dir"/node*/data/spool
errors=$(grep -h -E "ERROR|panicked" "$dir"/node*/umgw.log | head -5 || true)
if [ -n "$errors" ]; then
  echo "# node errors (first 5), logs under $dir:"; echo "$errors" | sed 's/^/#   /'
else
  cleanup
  trap - EXIT
  rm -rf "$dir"
fi
[ "$verdict" = PASS ]
