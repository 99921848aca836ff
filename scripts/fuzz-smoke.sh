#!/usr/bin/env bash
# Runs every cargo-fuzz target for N seconds each (default 10), seeded from fuzz/seeds/<target>.
# Installs cargo-fuzz on first use; on a stable toolchain RUSTC_BOOTSTRAP=1 lets it use the
# nightly-only sanitizer flags. scripts/test.sh (and so CI) runs it with 10 s per target.
#
# Quiet unless something fails: the build's and each target's output go to fuzz/logs/
# (git-ignored), and each target gets one summary line. A failure prints the end of that log,
# the crash input (under fuzz/artifacts/<target>/) and how to reproduce it.
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
export RUSTC_BOOTSTRAP=1
seconds="${1:-10}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
logs=logs
mkdir -p "$logs"

# The end of a log, indented.
show_tail() { tail -n 40 "$1" | sed 's/^/    /' >&2; }

# What went wrong in a target's log: the panic and its message or the sanitizer's report, then
# cargo-fuzz's summary (failing input, its Debug form, how to reproduce and minimise); the end
# of the log when neither is there (a timeout, out of memory).
show_failure() {
    local what
    what=$({
        grep -m1 -A1 'panicked at' "$1" || true
        grep -m2 -E 'ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer)|^SUMMARY: ' "$1" || true
        sed -n '/^Failing input:/,/^Error:/p' "$1" | grep -v -E '^(Error:|─+)?$' || true
    })
    if [ -n "$what" ]; then
        sed 's/^/    /' <<<"$what" >&2
    else
        show_tail "$1"
    fi
}

started=$(date +%s)
if ! cargo fuzz build >"$logs/build.log" 2>&1; then
    echo "fuzz-smoke: FAILED to build the targets; the end of fuzz/$logs/build.log:" >&2
    show_tail "$logs/build.log"
    exit 1
fi
echo "fuzz-smoke: ${#targets[@]} target(s) built in $(( $(date +%s) - started )) s; running ${seconds} s each (output in fuzz/$logs/)"

failed=()
for t in "${targets[@]}"; do
    corpus="corpus/$t"
    mkdir -p "$corpus"
    seeds=()
    [ -d "seeds/$t" ] && seeds=("seeds/$t")
    log="$logs/$t.log"
    if cargo fuzz run "$t" "$corpus" "${seeds[@]}" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        # libFuzzer's closing lines: "#N DONE cov: C ft: F corp: K/..." and the final stats.
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
        done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1 || true)
        cov=$(sed -E -n 's/.* cov: ([0-9]+).*/\1/p' <<<"$done_line")
        corp=$(sed -E -n 's/.* corp: ([0-9]+).*/\1/p' <<<"$done_line")
        echo "fuzz-smoke: $t ok: ${runs:-?} runs, coverage ${cov:-?}, corpus ${corp:-?}"
    else
        failed+=("$t")
        echo "fuzz-smoke: $t FAILED (whole output: fuzz/$log):" >&2
        show_failure "$log"
        crash=$(sed -E -n 's/.*Test unit written to (\S+).*/\1/p' "$log" | tail -n 1)
        if [ -n "$crash" ]; then
            case "$crash" in /*) ;; *) crash="fuzz/${crash#./}" ;; esac
            echo "fuzz-smoke: $t: crash input $crash" >&2
        fi
    fi
done
if [ ${#failed[@]} -ne 0 ]; then
    echo "fuzz-smoke: FAILED: ${failed[*]} (crash inputs are under fuzz/artifacts/, logs under fuzz/$logs/)" >&2
    exit 1
fi
echo "fuzz-smoke: all ${#targets[@]} targets ran ${seconds} s without a crash"
