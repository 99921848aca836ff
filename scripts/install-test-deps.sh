#!/usr/bin/env bash
# Installs what the test suite needs from Debian packages, idempotently.
#   sipp  (package sip-tester): drives the SIP/RTP scenarios in tests/sipp/
#   sox, libsox-fmt-all: write the MP3/FLAC/OGG fixtures of the prompt decoding tests
#   sipvicious: svwar/svmap scan the gateway in the scan test (it must learn no mailbox)
#   stunnel4: puts TLS (with a client certificate) in front of SIPp, whose Debian build has no TLS
# Safe to run repeatedly; does nothing when everything is present.
set -euo pipefail

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

need=()
for pkg in sip-tester sox libsox-fmt-all stunnel4 sipvicious; do
    installed "$pkg" || need+=("$pkg")
done

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
for tool in sipp sox stunnel4 svwar; do
    command -v "$tool" >/dev/null 2>&1 || { echo "install-test-deps: $tool still missing after install" >&2; exit 1; }
done
