# Sourced by scripts/load.sh and scripts/cluster-load.sh: the load runs' dial plan and mailboxes,
# and the store check after a run.
#
# load_store DIALPLANS MAILBOX_ROOT MAILBOXES GREETING_MS
# writes DIALPLANS/load.toml with alice (1001) and mb0..mbM-1 (umgw-load's {n}, 2000..), and
# gives each of their mailboxes under MAILBOX_ROOT the same greeting (a GREETING_MS tone,
# hard-linked). Needs $load (the umgw-load binary).
load_store() {
  local plans=$1 root=$2 count=$3 greeting_ms=$4 k
  mkdir -p "$plans" "$root/alice"
  "$load" --write-greeting "$root/alice/greeting.wav" --greeting-ms "$greeting_ms"
  cat >"$plans/load.toml" <<PLAN
Name = "load"
UriType = "SipName"
NumberOfDigitsInExtension = 4
CountryOrRegionCode = "1"
Domain = "contoso.com"
MaxRecordingDuration = 3600
RecordingIdleTimeout = 60
MinimumMessageDuration = 0

[[Mailbox]]
Id = "alice"
Extension = "1001"
SipAddress = "sip:alice@contoso.com"
DisplayName = "Alice Anders"
PLAN
  for ((k = 0; k < count; k++)); do
    mkdir -p "$root/mb$k"
    ln "$root/alice/greeting.wav" "$root/mb$k/greeting.wav"
    printf '\n[[Mailbox]]\nId = "mb%d"\nExtension = "%d"\nSipAddress = "sip:mb%d@contoso.com"\n' \
      "$k" $((2000 + k)) "$k" >>"$plans/load.toml"
  done
}

# load_store_check STORE_ROOT HOLD_S LOAD_OUT SPOOL_DIR...
# The store check after a run: waits up to 60 s for the spools to drain (free/ holds emptied
# files kept for reuse, src/gateway/spool.rs, not entries), then prints the messages in
# STORE_ROOT/<mailbox>/{new,cur}/ against umgw-load's row in LOAD_OUT (completed, failed),
# their distinct X-CallIDs, the spool files left, the recorded seconds, and the messages with a
# Voice Mail Preview; then "# PASS" or "# FAIL". Sets verdict (PASS/FAIL), stored, completed
# and previewed.
load_store_check() {
  local root=$1 hold=$2 out=$3 left unique durations shortest failed
  shift 3
  for _ in $(seq 60); do
    left=$(find "$@" -path '*/free' -prune -o -type f -print 2>/dev/null | wc -l)
    [ "$left" = 0 ] && break
    sleep 1
  done
  # Messages: <root>/<mailbox>/{new,cur}/<file> (not Dovecot's .UMGW-State/ state folder).
  _load_messages() {
    find "$root" -regextype posix-extended -regex "$root/[^/]+/(new|cur)/[^/]+" -type f "$@"
  }
  stored=$(_load_messages | wc -l)
  unique=$(_load_messages -exec grep -h -m1 -i '^X-CallID:' {} + | sort -u | wc -l)
  # (grep finding none is not a failure here)
  previewed=$({ _load_messages -exec grep -l -m1 '^Voice Mail Preview:' {} + || true; } | wc -l)
  # Recorded seconds per message (X-VoiceMessageDuration): a call cut short shows as a short one.
  durations=$(_load_messages -exec grep -h -m1 -i '^X-VoiceMessageDuration:' {} + |
    awk '{ sub(/\r$/, "", $2); print $2 }' | sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[1], a[int((NR + 1) / 2)], a[NR] }')
  # umgw-load's row: | calls | rate/s | hold s | peak concurrent | completed | failed | ...
  read -r completed failed < <(awk -F'|' '/^\| [0-9]/ { gsub(/ /, ""); print $6, $7 }' "$out") || true
  echo "# store: $stored messages for $completed completed calls ($failed failed), $unique distinct X-CallID, $left spool files left, $previewed with a Voice Mail Preview; recorded s min/median/max: ${durations:-none}"
  verdict=PASS
  shortest=${durations%% *}
  [ "${failed:-x}" = 0 ] && [ "$stored" = "$completed" ] && [ "$unique" = "$stored" ] && [ "$left" = 0 ] &&
    [ "${shortest:-0}" -ge $(( ${hold%.*} - 2 )) ] || verdict=FAIL
  echo "# $verdict: 0 failed calls, every answered call's message stored exactly once and whole"
}
