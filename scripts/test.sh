#!/usr/bin/env bash
# The one test command (README, .ci/run): installs test dependencies, then runs every check.
# Nothing is skipped silently: tests that need sipp fail if it is missing, and the audit says
# loudly when it could not check advisories. README ("The test command") says what each step
# does, how long it takes and how much disk it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-test-deps.sh
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
# Dependencies: licences, bans, sources and RustSec advisories (cargo-deny, deny.toml).
scripts/audit.sh
# The Debian package: build, debug symbols split off, install, `umgw check` on the installed
# files, purge.
scripts/package-test.sh
# A short fuzz run of every cargo-fuzz target (docs/FUZZING.md has the long campaigns).
scripts/fuzz-smoke.sh 10
cargo test --locked --all-targets
