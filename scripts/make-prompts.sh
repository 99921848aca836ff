#!/usr/bin/env bash
# Renders a language's prompts.txt to WAVs with espeak-ng and sox (8 kHz mono 16-bit PCM):
#   scripts/make-prompts.sh                 audio/prompts.txt       -> audio/*.wav       (en-US)
#   scripts/make-prompts.sh de-DE           audio/de-DE/prompts.txt -> audio/de-DE/*.wav
#   scripts/make-prompts.sh de-DE NAME...   only those lines (so other WAVs stay byte-identical)
# The espeak-ng voice is en-us for en-US, else the tag's language (de-DE: de). A maintainer
# tool: the WAVs are committed, so neither builds nor tests need it.
set -euo pipefail
cd "$(dirname "$0")/../audio"
command -v espeak-ng >/dev/null && command -v sox >/dev/null || {
    echo "make-prompts: needs espeak-ng and sox (apt-get install espeak-ng sox)" >&2; exit 1; }
lang=en-US
if [ $# -gt 0 ]; then lang=$1; shift; fi
case "$lang" in
    en-US) dir=.; voice=en-us ;;
    *-*) dir=$lang; voice=$(printf '%s' "${lang%%-*}" | tr '[:upper:]' '[:lower:]') ;;
    *) echo "make-prompts: \"$lang\" is not a language tag such as de-DE" >&2; exit 1 ;;
esac
[ -f "$dir/prompts.txt" ] || { echo "make-prompts: no audio/$lang/prompts.txt" >&2; exit 1; }
only=" $* "
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
grep -v '^#' "$dir/prompts.txt" | grep -v '^$' | while IFS='|' read -r name text; do
    if [ "$only" != "  " ] && [[ "$only" != *" $name "* ]]; then continue; fi
    out=$name.wav
    [ "$dir" = . ] || out=$dir/$name.wav
    espeak-ng -v "$voice" -s 170 -w "$tmp/$name.wav" "$text"
    # Trim leading/trailing silence so prompts chain without gaps, then 8 kHz mono s16.
    sox "$tmp/$name.wav" -r 8000 -c 1 -b 16 -e signed-integer "$out" \
        silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse gain -n -3
    echo "audio/$out"
done
