#!/usr/bin/env bash
# The same load against Asterisk app_voicemail, for the side-by-side in docs/PERFORMANCE.md
# ("Against Asterisk app_voicemail").
#
#   scripts/load-asterisk.sh [-s|--srtp] [-d BASE] [-n "N1 N2"] [-r RATE] [-t HOLD_S] [-j GEN_THREADS] [--no-build]
#
# Installs Asterisk from Debian's packages when it is missing (idempotently, like
# scripts/install-test-deps.sh; the packaged service is stopped and disabled, it is not ours to
# run). Then, for each N: writes a private configuration under BASE (default /tmp): PJSIP on a
# free loopback UDP port, any caller from 127.0.0.0/8 identified by its address with no
# authentication, every number runs Answer() and VoiceMail(1001@default,u) (the "unavailable"
# greeting, the beep, then recording until the caller hangs up), messages in WAV; with -s the
# endpoint requires SDES-SRTP. Starts Asterisk on it, runs `scripts/load.sh --target` with
# Asterisk's pid for CPU and RSS, counts the messages stored, and stops it.
#
# Debian 12 (bookworm) has no asterisk package; Debian 13 (trixie) and sid do, as do Ubuntu's
# universe releases. Elsewhere, any Asterisk >= 18 with chan_pjsip, app_voicemail (file
# storage), res_srtp and the English core sounds works: put its `asterisk` on PATH and the
# script finds its modules by app_voicemail.so (or set ASTERISK_MODULES=dir).
set -euo pipefail
cd "$(dirname "$0")/.."

counts="100 1000"
srtp=0
base=/tmp
pass=()
while [ $# -gt 0 ]; do
  case "$1" in
    -s|--srtp) srtp=1; pass+=("$1"); shift ;;
    -d) base="$2"; shift 2 ;;
    -n) counts="$2"; shift 2 ;;
    -r|-t|-j|-G) pass+=("$1" "$2"); shift 2 ;;
    --no-build) pass+=("$1"); shift ;;
    *) echo "usage: $0 [-s|--srtp] [-d base] [-n \"N1 N2\"] [-r rate] [-t hold_s] [-j gen_threads] [-G gen_rt_prio] [--no-build]" >&2; exit 2 ;;
  esac
done

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

if ! command -v asterisk >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  if ! apt-cache policy asterisk | grep -q 'Candidate: [0-9]'; then
    echo "load-asterisk: no asterisk package in this system's apt sources ($(. /etc/os-release; echo "$PRETTY_NAME"))." >&2
    echo "load-asterisk: install Asterisk >= 18 with chan_pjsip, app_voicemail, res_srtp and the English core sounds, put it on PATH, and run this again." >&2
    exit 1
  fi
  need=()
  for pkg in asterisk asterisk-voicemail asterisk-core-sounds-en; do
    installed "$pkg" || need+=("$pkg")
  done
  echo "load-asterisk: installing ${need[*]}" >&2
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now asterisk.service >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/asterisk ]; then
    /etc/init.d/asterisk stop >/dev/null 2>&1 || true
    update-rc.d asterisk disable >/dev/null 2>&1 || true
  fi
fi

modules=${ASTERISK_MODULES:-}
if [ -z "$modules" ]; then
  vm=$(find /usr/lib /usr/local/lib -name app_voicemail.so -path '*asterisk*' 2>/dev/null | head -1)
  [ -n "$vm" ] || { echo "load-asterisk: app_voicemail.so not found (set ASTERISK_MODULES)" >&2; exit 1; }
  modules=$(dirname "$vm")
fi
sounds=/usr/share/asterisk
[ -d "$sounds/sounds/en" ] || [ -d "$sounds/sounds" ] || sounds=/var/lib/asterisk

free_port() {
  python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
echo "# $(asterisk -V) (modules $modules); app_voicemail, PJSIP over UDP on loopback, $([ "$srtp" = 1 ] && echo SDES-SRTP || echo RTP)"

for n in $counts; do
  dir=$(mktemp -d "$base/umgw-asterisk.XXXXXX")
  etc=$dir/etc
  mkdir -p "$etc" "$dir/lib" "$dir/spool" "$dir/run" "$dir/log" "$dir/cache"
  port=$(free_port)
  cat >"$etc/asterisk.conf" <<CONF
[directories]
astcachedir => $dir/cache
astetcdir => $etc
astmoddir => $modules
astvarlibdir => $dir/lib
astdbdir => $dir/lib
astkeydir => $dir/lib
astdatadir => $sounds
astagidir => $dir/lib/agi-bin
astspooldir => $dir/spool
astrundir => $dir/run
astlogdir => $dir/log
astsbindir => $(dirname "$(command -v asterisk)")

[options]
nocolor = yes
maxfiles = 200000
CONF
  # Everything the package would autoload, less what binds other ports, talks to hardware
  # or writes records per call.
  cat >"$etc/modules.conf" <<'CONF'
[modules]
autoload = yes
require = chan_pjsip.so
require = app_voicemail.so
require = res_rtp_asterisk.so
require = codec_ulaw.so
require = format_wav.so
noload = app_voicemail_imap.so
noload = app_voicemail_odbc.so
noload = chan_sip.so
noload = chan_iax2.so
noload = chan_skinny.so
noload = chan_mgcp.so
noload = chan_unistim.so
noload = chan_dahdi.so
noload = chan_console.so
noload = chan_alsa.so
noload = chan_oss.so
noload = pbx_dundi.so
noload = res_hep.so
noload = res_hep_pjsip.so
noload = res_hep_rtcp.so
noload = cdr_csv.so
noload = cdr_custom.so
noload = cdr_sqlite3_custom.so
noload = cel_custom.so
noload = cel_sqlite3_custom.so
CONF
  if [ "$srtp" = 1 ]; then
    echo "require = res_srtp.so" >>"$etc/modules.conf"
  fi
  cat >"$etc/logger.conf" <<'CONF'
[general]
[logfiles]
messages.log => notice,warning,error
CONF
  cat >"$etc/rtp.conf" <<'CONF'
[general]
rtpstart = 10000
rtpend = 59999
CONF
  cat >"$etc/pjsip.conf" <<CONF
[transport-udp]
type = transport
protocol = udp
bind = 127.0.0.1:$port

[load]
type = endpoint
context = load
disallow = all
allow = ulaw
direct_media = no
rtp_symmetric = yes
timers = no
media_encryption = $([ "$srtp" = 1 ] && echo sdes || echo no)

[load]
type = identify
endpoint = load
match = 127.0.0.0/8
CONF
  cat >"$etc/extensions.conf" <<'CONF'
[general]
static = yes
writeprotect = yes

[load]
exten => _X.,1,Answer()
 same => n,VoiceMail(1001@default,u)
 same => n,Hangup()
CONF
  cat >"$etc/voicemail.conf" <<'CONF'
[general]
format = wav
attach = no
maxmsg = 9999
maxsecs = 3600
minsecs = 0
maxsilence = 0

[default]
1001 => 1234,Load Test
CONF
  asterisk -C "$etc/asterisk.conf" -f -n -q >"$dir/log/console.log" 2>&1 &
  ast=$!
  booted=0
  for _ in $(seq 100); do
    if asterisk -C "$etc/asterisk.conf" -rx "core waitfullybooted" >/dev/null 2>&1; then
      booted=1; break
    fi
    sleep 0.2
  done
  if [ "$booted" = 0 ] || ! kill -0 "$ast" 2>/dev/null; then
    echo "# asterisk did not start; its log:"; tail -20 "$dir/log/console.log" "$dir/log/messages.log" 2>/dev/null | sed 's/^/#   /'
    kill "$ast" 2>/dev/null || true
    exit 1
  fi
  scripts/load.sh --target "127.0.0.1:$port" --called "sip:1001@127.0.0.1:$port" --target-pid "$ast" \
    -n "$n" "${pass[@]}" || true
  sleep 1
  stored=$(find "$dir/spool/voicemail/default/1001" -name 'msg*.txt' 2>/dev/null | wc -l)
  echo "# N=$n: asterisk stored $stored messages"
  asterisk -C "$etc/asterisk.conf" -rx "core stop now" >/dev/null 2>&1 || kill "$ast" 2>/dev/null || true
  wait "$ast" 2>/dev/null || true
  if grep -q -E "ERROR" "$dir/log/messages.log" 2>/dev/null; then
    echo "# asterisk errors (first 5), logs in $dir/log:"; grep -m5 ERROR "$dir/log/messages.log" | sed 's/^/#   /'
  else
    rm -rf "$dir"
  fi
done
