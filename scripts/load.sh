#!/usr/bin/env bash
# Load harness (docs/PERFORMANCE.md): builds release, starts umgw on a temporary config, runs
# umgw-load once per N and prints one table.
#
#   scripts/load.sh [-n "100 1000"] [-r RATE] [-t HOLD_S] [-g GREETING_MS] [-m MAILBOXES]
#                   [-d BASE] [-N NICE] [-S SLICE_US] [-R RT_PRIO] [-G GEN_RT_PRIO] [-j GEN_THREADS]
#                   [-s|--srtp] [--no-build] [--sipp]
#                   [--preview | --preview-server URL | --preview-stub SECONDS[:burn]] [--preview-threads N]
#                   [--speech FILE]
#   scripts/load.sh --target HOST:PORT [--called URI] [--target-pid PID] [-n ...] [-r ...] [-t ...] [-s]
#
# -R sets media.worker_realtime_priority (SCHED_RR media workers; default 10, 0: off). Without
# real time, -N sets media.worker_nice (default -10) and -S media.worker_slice_us (default 100;
# 0: the kernel's). -G runs the
# generator itself under SCHED_RR at that priority (chrt), so that real-time workers on the
# same cores do not starve the measuring side. -j sets the generator's media threads (default:
# one per CPU).
#
# -s / --srtp: the calls offer RTP/SAVP (SDES, AES_CM_128_HMAC_SHA1_80) and encrypt their RTP;
# the gateway answers SRTP whenever it is offered. A plain answer fails the run.
#
# -d BASE puts the gateway's temporary config and data directory under BASE (default /tmp),
# e.g. /dev/shm to take the host's disk out of the figures.
#
# The calls are spread over MAILBOXES mailboxes (default 100, as callers of a real site are);
# -m 1 sends them all to one.
#
# --sipp drives the calls with SIPp (tests/sipp/load/) instead of umgw-load and prints SIPp's
# call counts and the gateway's RTP counters.
#
# --preview turns Voice Mail Preview on with the embedded engine (the model in
# /usr/share/umgw/models/whisper-tiny.en, scripts/install-model.sh; UMGW_MODEL_DIR for another);
# --preview-server URL with an OpenAI-compatible transcription server instead; --preview-stub
# SECONDS starts scripts/lib/transcription-stub.py (a fixed transcript after SECONDS asleep, or
# with :burn spinning a CPU at nice 10 for that long, as an engine would) and uses it as the
# server. --preview-threads sets transcription.max_concurrent (default: the gateway's, 4). Each
# row is then followed by the previews done / failed / timed out / skipped (the gateway's
# umgw_transcriptions_total), the preview queue's depth over the run, and how long after the
# last call ended the backlog drained (queue empty, nothing in progress, every message counted).
#
# --speech FILE: the callers say this recording (looped for the hold time; any format umgw
# decodes) instead of streaming a tone, e.g. a message of the preview test set, so previews
# transcribe speech.
#
# After each umgw-load row the store check (scripts/lib/load-store.sh): every completed call's
# message in the store once and whole, the spool empty ("# PASS" / "# FAIL").
#
# --target HOST:PORT drives another SIP server that is already running (e.g. Asterisk, see
# scripts/load-asterisk.sh) instead of starting umgw: no gateway config, no gateway counters,
# and no gateway CPU/RSS unless --target-pid PID names the process to sample. The INVITEs go
# to --called URI (default sip:1001@HOST:PORT) without History-Info.
#
# Each call: INVITE -> 200 -> ACK -> greeting (GREETING_MS tone + beep) while the caller streams a
# PCMU tone for HOLD_S -> BYE. A fresh gateway serves every N, so RSS per call is measured from
# an idle process.
#
# UMGW_BIN and UMGW_LOAD_BIN run another gateway or generator binary (A/B runs).
set -euo pipefail
cd "$(dirname "$0")/.."

counts="100 1000"
rate=200
hold=10
greeting_ms=1000
mailboxes=100
base=/tmp
rt_prio=
nice=
slice=
gen_prio=0
gen_threads=
build=1
sipp=0
srtp=0
target=
target_pid=
called=
preview=
preview_threads=
speech=
while [ $# -gt 0 ]; do
  case "$1" in
    -n) counts="$2"; shift 2 ;;
    -r) rate="$2"; shift 2 ;;
    -t) hold="$2"; shift 2 ;;
    -g) greeting_ms="$2"; shift 2 ;;
    -m) mailboxes="$2"; shift 2 ;;
    -d) base="$2"; shift 2 ;;
    -N) nice="$2"; shift 2 ;;
    -S) slice="$2"; shift 2 ;;
    -R) rt_prio="$2"; shift 2 ;;
    -G) gen_prio="$2"; shift 2 ;;
    -j) gen_threads="$2"; shift 2 ;;
    -s|--srtp) srtp=1; shift ;;
    --target) target="$2"; shift 2 ;;
    --target-pid) target_pid="$2"; shift 2 ;;
    --called) called="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --sipp) sipp=1; shift ;;
    --preview) preview=embedded; shift ;;
    --preview-server) preview="server $2"; shift 2 ;;
    --preview-stub) preview="stub $2"; shift 2 ;;
    --preview-threads) preview_threads="$2"; shift 2 ;;
    --speech) speech="$2"; shift 2 ;;
    *) echo "usage: $0 [-n \"N1 N2\"] [-r rate] [-t hold_s] [-g greeting_ms] [-m mailboxes] [-d base] [-N nice] [-S slice_us] [-R rt_prio] [-G gen_rt_prio] [-j gen_threads] [-s|--srtp] [--no-build] [--sipp] [--preview | --preview-server URL | --preview-stub SECONDS[:burn]] [--preview-threads N] [--speech FILE] [--target HOST:PORT [--called URI] [--target-pid PID]]" >&2; exit 2 ;;
  esac
done
if [ -n "$target" ] && [ "$sipp" = 1 ]; then
  echo "load.sh: --sipp drives a gateway this script starts; it does not combine with --target" >&2; exit 2
fi
if [ "$srtp" = 1 ] && [ "$sipp" = 1 ]; then
  echo "load.sh: the SIPp scenario has no SRTP; use umgw-load for --srtp" >&2; exit 2
fi
if [ -n "$preview" ] && { [ -n "$target" ] || [ "$sipp" = 1 ]; }; then
  echo "load.sh: --preview* measures a gateway this script starts with umgw-load; not with --target or --sipp" >&2; exit 2
fi
if [ -z "$target" ] && { [ -n "$target_pid" ] || [ -n "$called" ]; }; then
  echo "load.sh: --called and --target-pid go with --target" >&2; exit 2
fi

if [ "$build" = 1 ]; then
  if [ -n "$target" ]; then
    cargo build --release --bin umgw-load >&2
  else
    cargo build --release --bin umgw --bin umgw-load >&2
  fi
fi
umgw=${UMGW_BIN:-target/release/umgw}
load=${UMGW_LOAD_BIN:-target/release/umgw-load}
# shellcheck source=scripts/lib/load-store.sh
. scripts/lib/load-store.sh

# Sockets: one RTP port per call in the gateway, so raise the descriptor limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Voice Mail Preview: the [transcription] section, and the stand-in server if asked for.
transcription="[transcription]
engine = \"none\""
case "$preview" in
  "") ;;
  embedded)
    model=${UMGW_MODEL_DIR:-/usr/share/umgw/models/whisper-tiny.en}
    [ -f "$model/model.bin" ] || { echo "load.sh: no model in $model (scripts/install-model.sh)" >&2; exit 2; }
    transcription="[transcription]
engine = \"embedded\"
model_dir = \"$model\"" ;;
  server*)
    transcription="[transcription]
engine = \"server\"
url = \"${preview#server }\"" ;;
  stub*)
    spec=${preview#stub }
    stub_port=$(free_port)
    stub_args=("$stub_port" "${spec%%:*}")
    [ "${spec#*:}" = burn ] && stub_args+=(burn)
    nice -n 10 python3 scripts/lib/transcription-stub.py "${stub_args[@]}" &
    stub_pid=$!
    trap 'kill "$stub_pid" 2>/dev/null || true' EXIT
    transcription="[transcription]
engine = \"server\"
url = \"http://127.0.0.1:$stub_port\"" ;;
esac
[ -z "$preview" ] || [ -z "$preview_threads" ] || transcription="$transcription
max_concurrent = $preview_threads"

# The preview counters and gauges of the gateway whose admin endpoint is on port $1:
# "depth in_progress done failed timed_out skipped".
preview_metrics() {
  curl -s "http://127.0.0.1:$1/metrics" | awk '
    /^umgw_preview_queue_depth / { d = $2 }
    /^umgw_previews_in_progress / { p = $2 }
    /^umgw_transcriptions_total\{result="done"\} / { ok = $2 }
    /^umgw_transcriptions_total\{result="failed"\} / { f = $2 }
    /^umgw_transcriptions_total\{result="timed_out"\} / { t = $2 }
    /^umgw_transcriptions_total\{result="skipped"\} / { s = $2 }
    END { printf "%d %d %d %d %d %d\n", d, p, ok, f, t, s }'
}

# After a run with previews: waits until the backlog drained (nothing queued or in progress,
# every completed call's message counted), at most the deadline (60 s) and 30 s more, and
# prints the figures. $1 admin port, $2 the sampler's file, $3 the generator's output, $4 the
# gateway's pid.
preview_report() {
  local admin=$1 samples=$2 out=$3 pid=$4 ended now m completed cpu0 cpu1 drained=
  ended=$(date +%s.%N)
  cpu0=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
  read -r completed < <(awk -F'|' '/^\| [0-9]/ { gsub(/ /, ""); print $6 }' "$out") || true
  for _ in $(seq 900); do
    m=($(preview_metrics "$admin"))
    now=$(date +%s.%N)
    if [ "${m[0]}" = 0 ] && [ "${m[1]}" = 0 ] &&
      [ $((m[2] + m[3] + m[4] + m[5])) -ge "${completed:-0}" ]; then
      drained=$(echo "$now - $ended" | bc)
      break
    fi
    sleep 0.1
  done
  cpu1=$(awk '{ print $14 + $15 }' "/proc/$pid/stat")
  m=($(preview_metrics "$admin"))
  echo "# previews: ${m[2]} done, ${m[3]} failed, ${m[4]} timed out, ${m[5]} skipped (queue full) for ${completed:-?} completed calls"
  if [ -n "$drained" ]; then
    printf '# backlog drained %.1f s after the last call ended (gateway CPU meanwhile %s %%)\n' "$drained" \
      "$(echo "scale=0; ($cpu1 - $cpu0) * 100 / $(getconf CLK_TCK) / ($drained + 0.01)" | bc)"
  else
    echo "# backlog NOT drained 90 s after the last call ended: depth ${m[0]}, in progress ${m[1]}"
  fi
  # The model must be resident once however many transcriptions ran (issue 19: <= 500 MB).
  awk '/^VmHWM/ { printf "# gateway peak RSS (VmHWM) %d MiB, model and calls included\n", $2 / 1024 }' "/proc/$pid/status"
  # The depth every 5 s from the first sample (one a second), and its peak.
  awk 'NR % 5 == 1 { line = line " " $2 } $2 > max { max = $2 }
       END { print "# preview queue depth every 5 s:" line " (peak " max + 0 ")" }' "$samples"
}

gen=("$load")
[ "$gen_prio" = 0 ] || gen=(chrt -r "$gen_prio" "$load")
gen_args=(--rate "$rate" --hold "$hold")
[ -z "$gen_threads" ] || gen_args+=(--threads "$gen_threads")
[ "$srtp" = 0 ] || gen_args+=(--srtp)
[ -z "$speech" ] || gen_args+=(--speech "$speech")

echo "# $(date -u +%FT%TZ) $(uname -srm), $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
media="RTP"
[ "$srtp" = 0 ] || media="SRTP (AES_CM_128_HMAC_SHA1_80)"
if [ -n "$target" ]; then
  called=${called:-sip:1001@$target}
  echo "# target $target (not started by this script), called $called, ${target_pid:+sampling pid $target_pid, }rate $rate/s, hold $hold s, $media; load generator on the same machine"
  echo "# generator real-time priority $gen_prio, media threads ${gen_threads:-one per CPU}"
  pid_args=()
  [ -z "$target_pid" ] || pid_args=(--gateway-pid "$target_pid")
  first=1
  for n in $counts; do
    header=()
    [ "$first" = 1 ] && header=(--header)
    first=0
    "${gen[@]}" --gateway "$target" --called "$called" --mailbox '' --calls "$n" \
      "${gen_args[@]}" "${pid_args[@]}" "${header[@]}" || echo "# umgw-load failed (status $?)"
  done
  exit 0
fi
echo "# rate $rate/s, hold $hold s, $media, greeting $greeting_ms ms + beep, $mailboxes mailboxes, data under $base; load generator on the same machine"
[ -z "$preview" ] || echo "# Voice Mail Preview on: $(echo "$transcription" | tail -n +2 | tr '\n' ' ')"

echo "# media workers: real-time priority ${rt_prio:-default}, nice ${nice:-default}, slice ${slice:-default} µs; generator real-time priority $gen_prio, media threads ${gen_threads:-one per CPU}"
first=1
for n in $counts; do
  dir=$(mktemp -d "$base/umgw-load.XXXXXX")
  verdict=
  load_store "$dir/dialplans" "$dir/data/mailboxes" "$mailboxes" "$greeting_ms"
  sip=$(free_port)
  admin=$(free_port)
  cat >"$dir/umgw.toml" <<CONF
[log]
level = "warn"
[sip]
udp = ["127.0.0.1:$sip"]
tcp = ["127.0.0.1:$sip"]
[media]
address = "127.0.0.1"
rtp_port_min = 20000
rtp_port_max = 39999
$( [ -z "$rt_prio" ] || echo "worker_realtime_priority = $rt_prio" )
$( [ -z "$nice" ] || echo "worker_nice = $nice" )
$( [ -z "$slice" ] || echo "worker_slice_us = $slice" )
[peers]
trusted = ["127.0.0.0/8"]
[paths]
dialplans = "$dir/dialplans"
prompts = "$PWD/audio"
data_dir = "$dir/data"
[call]
min_free_disk_mb = 16
shutdown_grace_ms = 1000
[admin]
listen = "127.0.0.1:$admin"
$transcription
CONF
  "$umgw" run --config "$dir/umgw.toml" 2>"$dir/umgw.log" &
  gw=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$admin/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  header=()
  [ "$first" = 1 ] && header=(--header)
  first=0
  if [ "$sipp" = 1 ]; then
    hold_ms=$(python3 -c "print(int($hold * 1000))")
    tests/sipp/load/run.sh "127.0.0.1:$sip" "$n" "$rate" "$hold_ms" || true
    sleep 1
    echo "N=$n gateway: $(curl -s "http://127.0.0.1:$admin/metrics" | grep -E '^umgw_(rtp_packets|calls_total)' | tr '\n' ' ')"
  else
    sampler=
    if [ -n "$preview" ]; then
      while sleep 1; do echo "$(date +%s) $(preview_metrics "$admin")"; done >"$dir/previews.txt" &
      sampler=$!
    fi
    "${gen[@]}" --gateway "127.0.0.1:$sip" --calls "$n" "${gen_args[@]}" \
      --gateway-pid "$gw" --metrics "127.0.0.1:$admin" "${header[@]}" \
      --mailbox 'sip:mb{n}@contoso.com' --mailboxes "$mailboxes" | tee "$dir/load.out" ||
      echo "# umgw-load failed (status $?)"
    if [ -n "$sampler" ]; then
      preview_report "$admin" "$dir/previews.txt" "$dir/load.out" "$gw"
      kill "$sampler" 2>/dev/null || true
    fi
    load_store_check "$dir/data/mailboxes" "$hold" "$dir/load.out" "$dir/data/spool"
  fi
  kill "$gw" 2>/dev/null || true
  wait "$gw" 2>/dev/null || true
  if [ "$verdict" = FAIL ] || grep -q -E "ERROR|panicked" "$dir/umgw.log"; then
    echo "# kept $dir (store check $verdict); gateway errors (first 5) from $dir/umgw.log:"
    grep -m5 -E "ERROR|panicked" "$dir/umgw.log" | sed 's/^/#   /' || true
  else
    rm -rf "$dir"
  fi
done
