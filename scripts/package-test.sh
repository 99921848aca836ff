#!/usr/bin/env bash
# Builds the Debian package with cargo-deb, installs it on this machine (a throwaway CI machine:
# needs root), checks the installed files and `umgw check` against the packaged config, then
# purges the package again. Checks too that the debug symbols ship in the separate umgw-dbgsym
# package, not in umgw (a stripped binary, a sensible size). scripts/test.sh runs it (CI
# machines are throwaway and root).
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

fail() { echo "package-test: FAIL: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "must run as root (dpkg -i)"

if ! cargo deb --version >/dev/null 2>&1; then
    echo "package-test: installing cargo-deb"
    cargo install cargo-deb --locked
fi

echo "package-test: building the package"
rm -rf target/debian
cargo deb --locked
deb=$(ls target/debian/umgw_*.deb)
[ -f "$deb" ] || fail "no .deb in target/debian"
echo "package-test: built $deb"
dpkg-deb --info "$deb"
contents=$(dpkg-deb --contents "$deb")
echo "package-test: $(grep -c -v '/$' <<<"$contents") files (dpkg-deb --contents $deb lists them)"

# Debug symbols ship in the separate umgw-dbgsym package (Cargo.toml: dbgsym), not in umgw.
if grep -E '/usr/lib/debug/|\.debug$' <<<"$contents"; then
    fail "$deb carries debug files (above): they belong in umgw-dbgsym"
fi
dbgsym=$(ls target/debian/umgw-dbgsym_*.ddeb 2>/dev/null) || fail "no umgw-dbgsym .ddeb beside $deb"
dbgsym_files=$(dpkg-deb --contents "$dbgsym")
# The stripped binary (the prompts of both shipped languages embedded) and the prompt WAVs
# again as files (en-US 5.4 MB, de-DE 6.2 MB of PCM, which hardly compresses), docs: about
# 23 MB. The debug info inside would add about 30 MB (the .ddeb's size); the section check
# below is the exact test for it.
size_kb=$(( $(stat -c %s "$deb") / 1024 ))
echo "package-test: $deb is $size_kb KiB; $dbgsym is $(( $(stat -c %s "$dbgsym") / 1024 )) KiB"
[ "$size_kb" -le $((32 * 1024)) ] || fail "$deb is $size_kb KiB, more than 32 MiB: debug info inside?"

# Start from a clean slate, then install.
dpkg --purge umgw >/dev/null 2>&1 || true
if ! dpkg -i "$deb"; then
    apt-get install -f -y
fi

echo "package-test: checking the installed files"
for f in /usr/bin/umgw /etc/umgw/umgw.toml \
    /etc/umgw/dialplans/contoso-lync.toml /etc/umgw/dialplans/pbx-extensions.toml \
    /usr/share/umgw/audio/vm-not-available.wav /usr/share/umgw/audio/prompts.txt \
    /usr/share/doc/umgw/CONFIG.md /usr/share/doc/umgw/OPERATIONS.md \
    /usr/share/doc/umgw/examples/kamailio.cfg /usr/share/umgw/install-model.sh; do
    [ -f "$f" ] || fail "missing $f"
done
[ -x /usr/bin/umgw ] || fail "/usr/bin/umgw is not executable"
if readelf -S --wide /usr/bin/umgw | grep -E '\.debug_(info|line|str)'; then
    fail "/usr/bin/umgw has debug sections (above): it should be stripped"
fi
build_id=$(readelf -n /usr/bin/umgw | sed -n 's/.*Build ID: *\([0-9a-f]*\).*/\1/p')
[ -n "$build_id" ] || fail "/usr/bin/umgw has no build id"
grep -q "/usr/lib/debug/.build-id/${build_id:0:2}/${build_id:2}.debug$" <<<"$dbgsym_files" \
    || fail "$dbgsym has no debug file for /usr/bin/umgw's build id $build_id:"$'\n'"$dbgsym_files"
unit=""
for u in /lib/systemd/system/umgw.service /usr/lib/systemd/system/umgw.service; do
    [ -f "$u" ] && unit=$u
done
[ -n "$unit" ] || fail "umgw.service not installed"
grep -q '^ExecStart=/usr/bin/umgw run --config /etc/umgw/umgw.toml$' "$unit" || fail "$unit: ExecStart"
grep -q '^User=umgw$' "$unit" || fail "$unit: User"
dpkg-query --control-show umgw conffiles | grep -q '^ */etc/umgw/umgw.toml' \
    || fail "/etc/umgw/umgw.toml is not a conffile"
getent passwd umgw >/dev/null || fail "no umgw user"
[ "$(stat -c %U /var/lib/umgw)" = umgw ] || fail "/var/lib/umgw is not owned by umgw"
if command -v systemd-analyze >/dev/null 2>&1; then
    # Containers often lack a running systemd: report, do not fail.
    systemd-analyze verify "$unit" || echo "package-test: note: systemd-analyze verify complained (see above)"
fi

echo "package-test: umgw check against the packaged config"
out=$(umgw check --config /etc/umgw/umgw.toml) || fail "umgw check failed: $out"
echo "$out"
case "$out" in ok:*) ;; *) fail "unexpected check output: $out" ;; esac
out=$(runuser -u umgw -- umgw mailbox list --config /etc/umgw/umgw.toml) \
    || fail "umgw mailbox list as the umgw user failed"
echo "$out" | grep -q '^alice ' || fail "mailbox list: $out"

echo "package-test: purging"
dpkg --purge umgw
[ ! -e /usr/bin/umgw ] || fail "/usr/bin/umgw left after purge"
[ ! -e /etc/umgw/umgw.toml ] || fail "/etc/umgw/umgw.toml left after purge"

echo "package-test: ok in $(( $(date +%s) - started )) s"
