#!/usr/bin/env bash
# Installs what the test suite needs from Debian packages, idempotently.
#   sipp  (package sip-tester): drives the SIP/RTP scenarios in tests/sipp/
#   sox:  converts prompt fixtures (MP3/FLAC/OGG) in the prompt decoding tests
# Safe to run repeatedly; does nothing when everything is present.
set -euo pipefail

need=()
command -v sipp >/dev/null 2>&1 || need+=(sip-tester)
command -v sox >/dev/null 2>&1 || need+=(sox libsox-fmt-all)

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
for tool in sipp sox; do
    command -v "$tool" >/dev/null 2>&1 || { echo "install-test-deps: $tool still missing after install" >&2; exit 1; }
done
