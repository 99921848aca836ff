#!/usr/bin/env bash
# Installs what the test suite needs from Debian packages, idempotently.
#   sipp  (package sip-tester): drives the SIP/RTP scenarios in tests/sipp/
#   sox, libsox-fmt-all: write the MP3/FLAC/OGG fixtures of the prompt decoding tests
#   sipvicious: svwar/svmap scan the gateway in the scan test (it must learn no mailbox)
#   stunnel4: puts TLS (with a client certificate) in front of SIPp, whose Debian build has no TLS
#   dovecot-imapd: the IMAP store tests start a private Dovecot on a loopback port (tests/support/dovecot.rs);
#     the system service the package starts is stopped and disabled so it holds no port
#   kamailio: the cluster tests (tests/cluster.rs, tests/imap.rs) run packaging/kamailio/kamailio.cfg in front of
#     three gateways; likewise the packaged service is stopped and disabled (it would hold 5060)
#   espeak-ng, flite, festival, festvox-kallpc16k, festvox-kdlpc16k, festvox-us-slt-hts: the synthetic
#     voices of the Voice Mail Preview test set (scripts/make-preview-set.sh, benches/preview.rs)
#   python3-aiosmtpd: the e-mail notification tests start an SMTP server (STARTTLS, AUTH) with it
#     (tests/support/smtp.rs); Debian's /usr/bin/python3 runs it
# and, by scripts/install-model.sh, the embedded Voice Mail Preview engine's speech model.
# Safe to run repeatedly; does nothing when everything is present.
set -euo pipefail

"$(dirname "$0")/install-model.sh"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

need=()
for pkg in sip-tester sox libsox-fmt-all stunnel4 sipvicious dovecot-imapd kamailio \
    espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts python3-aiosmtpd; do
    installed "$pkg" || need+=("$pkg")
done

# The packaged services are not ours to run: the tests start their own instances.
#   stop_system_service NAME UNIT...
stop_system_service() {
    local name=$1
    shift
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        $SUDO systemctl disable --now "$@" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$name" ]; then
        $SUDO "/etc/init.d/$name" stop >/dev/null 2>&1 || true
        $SUDO update-rc.d "$name" disable >/dev/null 2>&1 || true
    fi
}

if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
        echo "install-test-deps: need root (or sudo) to install: ${need[*]}" >&2
        exit 1
    fi
else
    SUDO=
fi

echo "install-test-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
stop_system_service dovecot dovecot.service dovecot.socket
stop_system_service kamailio kamailio.service
for tool in sipp sox stunnel4 svwar espeak-ng flite text2wave; do
    command -v "$tool" >/dev/null 2>&1 || { echo "install-test-deps: $tool still missing after install" >&2; exit 1; }
done
/usr/bin/python3 -c 'import aiosmtpd' 2>/dev/null || { echo "install-test-deps: python3-aiosmtpd still missing after install" >&2; exit 1; }
for daemon in dovecot kamailio; do
    [ -x "/usr/sbin/$daemon" ] || { echo "install-test-deps: /usr/sbin/$daemon still missing after install" >&2; exit 1; }
done
