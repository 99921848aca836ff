# Sourced by scripts/load.sh and scripts/cluster-load.sh: the load runs' dial plan and mailboxes.
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
