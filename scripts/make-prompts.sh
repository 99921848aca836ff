#!/usr/bin/env bash
# Renders audio/prompts.txt to audio/*.wav with espeak-ng and sox (8 kHz mono 16-bit PCM).
# A maintainer tool: the WAVs are committed, so neither builds nor tests need it.
set -euo pipefail
cd "$(dirname "$0")/../audio"
command -v espeak-ng >/dev/null && command -v sox >/dev/null || {
    echo "make-prompts: needs espeak-ng and sox (apt-get install espeak-ng sox)" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
grep -v '^#' prompts.txt | grep -v '^$' | while IFS='|' read -r name text; do
    espeak-ng -v en-us -s 170 -w "$tmp/$name.wav" "$text"
    # Trim leading/trailing silence so prompts chain without gaps, then 8 kHz mono s16.
    sox "$tmp/$name.wav" -r 8000 -c 1 -b 16 -e signed-integer "$name.wav" \
        silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse gain -n -3
    echo "audio/$name.wav"
done
