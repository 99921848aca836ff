#!/usr/bin/env bash
# Makes the Voice Mail Preview test set: each message of tests/data/preview/messages.tsv spoken by
# its synthetic voice and put through a telephone line, as the gateway records it.
#
#   scripts/make-preview-set.sh OUTDIR [ID...]      (IDs: only those messages)
#
# Per message ID, OUTDIR/ID.wav: 8 kHz mono 16-bit PCM, the samples a G.711 call delivers.
# The path: synthesis (espeak-ng, flite or festival) -> peak level -6 dBFS -> resample to 8 kHz
# -> for `noisy` lines, line noise mixed in (hiss and mains-hum harmonics, 25-30 dB below the
# speech) -> band limit 300-3400 Hz -> encode to mu-law (pcmu) or A-law (pcma) -> decode.
# The voice column is ENGINE:VOICE: espeak-ng:en-gb-x-rp, flite:slt, festival:kal_diphone.
#
# Idempotent: OUTDIR/ID.inputs records a hash of the message's row and this script; a
# message whose WAV was made from the same inputs is skipped. sox runs in repeatable mode
# (-R), so the noise is the same on every machine. Needs sox, espeak-ng, flite, festival and
# its voices (scripts/install-test-deps.sh installs them); fails naming what is missing.
set -euo pipefail

usage() { echo "usage: $0 OUTDIR [ID...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
out=$1
shift
only=" $* "
here=$(cd "$(dirname "$0")" && pwd)
tsv="$here/../tests/data/preview/messages.tsv"
[ -f "$tsv" ] || { echo "make-preview-set: $tsv not found" >&2; exit 1; }

die() { echo "make-preview-set: $*" >&2; exit 1; }
need_tool() {
    command -v "$1" >/dev/null 2>&1 || die "$1 not found (package $2; run scripts/install-test-deps.sh)"
}
need_tool sox sox
need_tool soxi sox
need_tool sha256sum coreutils
need_tool awk gawk

# Every tool and voice the set names, checked before anything is made: a missing festival
# voice would otherwise fall back to the default voice without a word.
# wanted ID: whether this run makes message ID.
wanted() { [ "$only" = "  " ] || [[ $only == *" $1 "* ]]; }
voices=$(tail -n +2 "$tsv" | while IFS=$'\t' read -r id voice _; do
    if wanted "$id"; then echo "$voice"; fi
done | sort -u)
[ -n "$voices" ] || die "no message of $tsv is among:$only"
festival_voices=
for v in $voices; do
    engine=${v%%:*}
    name=${v#*:}
    case $engine in
    espeak-ng)
        need_tool espeak-ng espeak-ng
        espeak-ng -v "$name" -q "x" 2>/dev/null || die "espeak-ng has no voice $name"
        ;;
    flite)
        need_tool flite flite
        flite -lv | tr ' ' '\n' | grep -qx "$name" || die "flite has no voice $name"
        ;;
    festival)
        need_tool text2wave festival
        festival_voices="$festival_voices $name"
        ;;
    *) die "unknown engine in voice $v" ;;
    esac
done
if [ -n "$festival_voices" ]; then
    # voice.list is festival's own list of installed voices.
    have=$(festival --pipe <<<'(print (voice.list))' 2>/dev/null | tr -d '()' | tr ' ' '\n')
    for name in $festival_voices; do
        grep -qx "$name" <<<"$have" ||
            die "festival has no voice $name (package festvox-*; run scripts/install-test-deps.sh)"
    done
fi

mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
script_hash=$(sha256sum "$0" | cut -d' ' -f1)
made=0
kept=0

# synth ENGINE VOICE TEXT OUT.wav
synth() {
    local engine=$1 voice=$2 text=$3 wav=$4
    case $engine in
    espeak-ng) espeak-ng -v "$voice" -s 160 -w "$wav" "$text" ;;
    flite) flite -voice "$voice" -t "$text" -o "$wav" ;;
    festival)
        printf '%s\n' "$text" >"$work/text.txt"
        text2wave -eval "(voice_$voice)" -o "$wav" "$work/text.txt" >/dev/null
        ;;
    esac
    [ -s "$wav" ] || die "$engine $voice made no audio"
}

# Line noise for `noisy` messages: pink hiss plus harmonics of 60 Hz mains hum (the
# fundamental is below the telephone band; its harmonics leak through), both measured within
# the band, their sum this many dB under the speech's RMS level (over the whole message,
# pauses included), varied per message within 25-30 dB.
noise_db() { local n=${1//[!0-9]/}; echo $((25 + 10#$n % 6)); }

# rms_db WAV: its RMS level in dBFS.
rms_db() { sox "$1" -n stats 2>&1 | awk '/^RMS lev dB/ {print $4}'; }

# at_level IN DB OUT: IN scaled so that its RMS level is DB dBFS.
at_level() {
    sox -R "$1" "$3" gain "$(awk -v want="$2" -v have="$(rms_db "$1")" 'BEGIN {print want - have}')"
}

while IFS=$'\t' read -r -u 3 id voice line codec text keywords; do
    [ "$id" = id ] && continue
    [ -n "$id" ] || continue
    wanted "$id" || continue
    case $line in clean | noisy) ;; *) die "$id: line must be clean or noisy, not $line" ;; esac
    case $codec in pcmu) enc=u-law ;; pcma) enc=a-law ;; *) die "$id: codec must be pcmu or pcma, not $codec" ;; esac
    inputs=$(printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$script_hash" "$id" "$voice" "$line" "$codec" "$text" | sha256sum | cut -d' ' -f1)
    if [ -s "$out/$id.wav" ] && [ "$(cat "$out/$id.inputs" 2>/dev/null)" = "$inputs" ]; then
        kept=$((kept + 1))
        continue
    fi
    synth "${voice%%:*}" "${voice#*:}" "$text" "$work/tts.wav"
    sox -R "$work/tts.wav" -r 8000 -c 1 -b 16 "$work/speech.wav" gain -n -6
    if [ "$line" = noisy ]; then
        dur=$(soxi -D "$work/speech.wav")
        speech_db=$(rms_db "$work/speech.wav")
        db=$(noise_db "$id")
        # Hiss carries most of the noise power, the hum 5 dB less.
        sox -R -n -r 8000 -c 1 -b 16 "$work/hiss.wav" synth "$dur" pinknoise sinc 300-3400 gain -n -20
        sox -R -n -r 8000 -c 1 -b 16 "$work/hum.wav" synth "$dur" \
            sine 300 sine 420 sine 540 sine 660 remix - gain -n -20
        at_level "$work/hiss.wav" "$(awk -v s="$speech_db" -v d="$db" 'BEGIN {print s - d - 1.2}')" "$work/hiss.l.wav"
        at_level "$work/hum.wav" "$(awk -v s="$speech_db" -v d="$db" 'BEGIN {print s - d - 6.2}')" "$work/hum.l.wav"
        sox -R -m -v 1 "$work/speech.wav" -v 1 "$work/hiss.l.wav" -v 1 "$work/hum.l.wav" "$work/line.wav"
    else
        cp "$work/speech.wav" "$work/line.wav"
    fi
    sox -R "$work/line.wav" -e "$enc" -b 8 "$work/g711.wav" sinc 300-3400
    sox -R "$work/g711.wav" -e signed-integer -b 16 "$work/$id.wav"
    mv "$work/$id.wav" "$out/$id.wav"
    printf '%s\n' "$inputs" >"$out/$id.inputs"
    made=$((made + 1))
done 3<"$tsv"

echo "make-preview-set: $made made, $kept already up to date, in $out" >&2
