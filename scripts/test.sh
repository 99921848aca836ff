#!/usr/bin/env bash
# The one test command (README, .ci/run): installs test dependencies, then runs every test.
# Nothing is skipped silently: tests that need sipp fail if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
# The Debian package: build, install, `umgw check` on the installed files, purge.
scripts/package-test.sh
# A short fuzz run of every cargo-fuzz target (docs/FUZZING.md has the long campaigns).
scripts/fuzz-smoke.sh 10
cargo test --locked --all-targets
