#!/usr/bin/env bash
# Dependency audit with cargo-deny, policy in deny.toml (scripts/test.sh, and so CI, runs it):
#   licenses  every crate's licence is one deny.toml allows
#   bans      no OpenSSL/native-tls (TLS is rustls), no wildcard version requirements
#   sources   crates come from crates.io only (no git, no other registry)
#   advisories  RustSec: known vulnerabilities, unsound or unmaintained crates, yanked versions
# Any finding fails. The first three need nothing beyond what cargo already has. Advisories need
# the RustSec database, a git repository on GitHub: where GitHub cannot be reached, a local copy
# stands in for it (UMGW_ADVISORY_DB=/path/to/advisory-db, default ../shared/advisory-db when
# that exists: a git clone or bare mirror with its `main` branch), else the copy cargo-deny
# fetched last time; with neither, advisories are reported as NOT CHECKED, loudly, and the
# audit does not fail for being offline.
#
#   scripts/audit.sh
#   UMGW_ADVISORY_DB=~/advisory-db scripts/audit.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo deny --version >/dev/null 2>&1; then
    echo "audit: installing cargo-deny" >&2
    # Its release profile is fat LTO with one codegen unit: minutes longer to build on two
    # cores for a tool that runs for a second.
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
        cargo install cargo-deny --locked
fi

cargo deny --offline --locked check licenses bans sources

db_url=https://github.com/RustSec/advisory-db
# A copy kept beside the checkout (the project's shared/ folder) is used when there is one.
if [ -z "${UMGW_ADVISORY_DB:-}" ] && [ -d ../shared/advisory-db ]; then
    UMGW_ADVISORY_DB=../shared/advisory-db
fi
if [ -n "${UMGW_ADVISORY_DB:-}" ]; then
    [ -d "$UMGW_ADVISORY_DB" ] || { echo "audit: UMGW_ADVISORY_DB=$UMGW_ADVISORY_DB is not a directory" >&2; exit 1; }
    # cargo-deny fetches with the git command line: point that URL at the local copy.
    export GIT_CONFIG_COUNT=1
    export GIT_CONFIG_KEY_0="url.file://$(realpath "$UMGW_ADVISORY_DB").insteadOf"
    export GIT_CONFIG_VALUE_0="$db_url"
fi
fetch_error=""
if ! fetch_log=$(cargo deny fetch db 2>&1); then
    # git's own line says why (e.g. "Could not resolve host: github.com").
    fetch_error=$(grep -m1 'fatal:' <<<"$fetch_log" || grep -m1 'ERROR' <<<"$fetch_log" || true)
fi
db=""
for d in "${CARGO_HOME:-$HOME/.cargo}"/advisory-dbs/advisory-db-*/; do
    [ -d "$d/crates" ] && db=$d
done
if [ -z "$db" ]; then
    cat >&2 <<EOF
audit: ==========================================================================
audit: ADVISORIES NOT CHECKED: the RustSec database cannot be fetched from
audit: $db_url and there is no earlier copy:
audit: ${fetch_error:-no reason given}
audit: Licenses, bans and sources were checked. To check advisories offline, set
audit: UMGW_ADVISORY_DB to a local copy of the database (see docs/OPERATIONS.md).
audit: ==========================================================================
EOF
    exit 0
fi
updated=$(git -C "$db" log -1 --format=%cs 2>/dev/null || echo "an unknown date")
if [ -z "$fetch_error" ]; then
    echo "audit: advisories: RustSec database of $updated, fetched now${UMGW_ADVISORY_DB:+ from $UMGW_ADVISORY_DB}"
else
    echo "audit: advisories: RustSec database of $updated, fetched earlier: it cannot be updated now, so advisories published since then are NOT checked ($fetch_error)"
fi
cargo deny --offline --locked check advisories
