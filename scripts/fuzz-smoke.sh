#!/usr/bin/env bash
# Runs every cargo-fuzz target for N seconds each (default 10), seeded from fuzz/seeds/<target>.
# Installs cargo-fuzz on first use; on a stable toolchain RUSTC_BOOTSTRAP=1 lets it use the
# nightly-only sanitizer flags. scripts/test.sh (and so CI) runs it with 10 s per target.
#
#   scripts/fuzz-smoke.sh            # 10 s per target
#   scripts/fuzz-smoke.sh 60         # 60 s per target
#   scripts/fuzz-smoke.sh 60 sdp     # one target
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi
seconds="${1:-10}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(RUSTC_BOOTSTRAP=1 cargo fuzz list)
fi
export RUSTC_BOOTSTRAP=1
RUSTC_BOOTSTRAP=1 cargo fuzz build
failed=()
for t in "${targets[@]}"; do
    corpus="corpus/$t"
    mkdir -p "$corpus"
    seeds=()
    [ -d "seeds/$t" ] && seeds=("seeds/$t")
    echo "== $t: ${seconds}s"
    if ! cargo fuzz run "$t" "$corpus" "${seeds[@]}" -- -max_total_time="$seconds" -print_final_stats=1; then
        failed+=("$t")
    fi
done
if [ ${#failed[@]} -ne 0 ]; then
    echo "FAILED: ${failed[*]} (crash inputs are under fuzz/artifacts/)" >&2
    exit 1
fi
echo "all ${#targets[@]} targets ran ${seconds}s without a crash"
