#!/usr/bin/env bash
# SIPp load run (docs/PERFORMANCE.md): N deposit calls with RTP at RATE calls/s, each speaking
# for HOLD_MS, against a gateway already listening on GW (e.g. one started by scripts/load.sh
# -k, or any umgw whose dial plan has the called user).
#
#   tests/sipp/load/run.sh GW N RATE HOLD_MS [called-uri]
#
# SIPp's rtpstream sends from one thread per few calls and cannot reach thousands of
# concurrent streams on two cores; src/bin/umgw-load.rs covers that scale.
set -euo pipefail
gw=$1 n=$2 rate=$3 hold=$4 called=${5:-sip:alice@contoso.com}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/umgw-sipp-load.XXXXXX)
trap 'rm -rf "$work"' EXIT
sox -n -r 8000 -c 1 -e u-law "$work/tone.wav" synth 60 sine 425 vol 0.3
cp "$here/deposit_rtp.xml" "$work/"
cd "$work"
sipp "$gw" -sf deposit_rtp.xml -key called "$called" -i 127.0.0.1 -mi 127.0.0.1 \
  -m "$n" -r "$rate" -l "$n" -d "$hold" -max_socket 65000 -nostdin -timeout 600s \
  -trace_stat -fd 1 -trace_err >/dev/null 2>&1 || status=$?
stat=$(ls ./*_.csv 2>/dev/null | head -1)
if [ -n "$stat" ]; then
  # Last statistics line: total successful and failed calls.
  awk -F';' 'NR==1{for(i=1;i<=NF;i++) h[$i]=i} END{printf "sipp: %s successful, %s failed calls\n", $h["SuccessfulCall(C)"], $h["FailedCall(C)"]}' "$stat"
fi
exit "${status:-0}"
