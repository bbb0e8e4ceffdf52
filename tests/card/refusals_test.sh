#!/usr/bin/env bash
# cug-admin card enroll refuses what it must, with its own status and one line,
# and a refused enrollment leaves the store as it was.
. "$(dirname "$0")/lib.sh"
new_store
pcsc_start 4
for u in USER-A USER-B; do expect 0 with_password "passwd-$u" admin user add "$u" --password-fd 3; done
R0=$(reader_name 0)

# The store's state, to compare before and after a refusal.
snapshot() { admin audit --json | json_get 'len(d)'; admin user list --json | json_get '[u["card"] for u in d]'; }

expect 67 enroll NOBODY X 0 135792
contains "$ERR" "no user 'NOBODY'"
expect 69 enroll USER-A X 0 135792
contains "$ERR" "no card in reader"
expect 69 admin card enroll USER-A --reader no-such-reader --new-pin-fd 3 3< <(echo 135792)
contains "$ERR" "no reader named 'no-such-reader'"
card_init A
card_insert A 0
expect 65 enroll USER-A A 0 123456
contains "$ERR" "factory default"
expect 65 enroll USER-A A 0 12345
pass "unknown user, no card, no reader, weak PIN"

before=$(snapshot)
expect 77 admin card enroll USER-A --reader "$R0" --new-pin-fd 3 --mgmt-key-fd 4 \
  3< <(echo 135792) 4< <(echo 0a0b0c0d0e0f0a0b0c0d0e0f0a0b0c0d0e0f0a0b0c0d0e0f)
contains "$ERR" "wrong management key"
expect 77 admin card enroll USER-A --reader "$R0" --new-pin-fd 3 --pin-fd 4 3< <(echo 135792) 4< <(echo 999999)
contains "$ERR" "wrong PIN (2 tries left)"
[ "$(snapshot)" = "$before" ] || fail "a refused enrollment changed the store"
for _ in 1 2; do yubico-piv-tool -r "$R0" -a verify-pin -P 000000 >/dev/null 2>&1 || true; done
expect 77 enroll USER-A A 0 135792
contains "$ERR" "blocked"
[ "$(snapshot)" = "$before" ] || fail "a refused enrollment changed the store"
pass "wrong management key, wrong current PIN, blocked PIN: refused, store unchanged"
card_pull A

card_init B --no-ecc-key-agreement
card_insert B 1
expect 69 enroll USER-A B 1 135792
contains "$ERR" "cannot make a P-256 key-agreement key in slot 9D"
card_pull B
card_init C --no-aes
card_insert C 1
expect 0 enroll USER-A C 1 135792
contains "$OUT" "management key: 3DES"
pass "a card without ECC key agreement is refused; one without AES gets a 3DES key"

# Re-enrolling USER-A on a new card: the old one no longer matches the store.
card_init D
card_insert D 2
expect 0 enroll USER-A D 2 135792 --new-puk-fd 4 4< <(echo 11223344)
expect 0 admin card show --reader "$(reader_name 1)" --json
[ "$(printf '%s' "$OUT" | json_get 'd["user"], d["keys_match_store"]')" = "USER-A False" ] ||
  fail "the replaced card still matches the store: $OUT"
expect 0 admin card show --reader "$(reader_name 2)" --json
[ "$(printf '%s' "$OUT" | json_get 'd["keys_match_store"]')" = "True" ] || fail "the new card does not match"
# Issuing USER-A's current card to USER-B: the store opens the card's sealed
# management key itself, and USER-A is left without a card.
expect 0 enroll USER-B D 2 246801 --pin-fd 4 --puk-fd 5 4< <(echo 135792) 5< <(echo 11223344)
contains "$OUT" "previously USER-A's card"
expect 0 admin user show USER-A --json
[ "$(printf '%s' "$OUT" | json_get 'd["card"]')" = "None" ] || fail "USER-A still has a card: $OUT"
expect 0 admin audit --json
contains "$(printf '%s' "$OUT" | json_get '[e["action"] for e in d]')" "'card.revoke'"
pass "re-enrollment replaces a user's keys; a card moves to another user"

# A card of another deployment: enrolled by a second store, refused by ours.
other="$WORK/other-store"
expect 0 "$ADMIN_BIN" --store "$other" init --server-name other-server --password-cost "$CHEAP"
expect 0 with_password "passwd-X" "$ADMIN_BIN" --store "$other" user add USER-X --password-fd 3
card_init E
card_insert E 3
expect 0 "$ADMIN_BIN" --store "$other" card enroll USER-X --reader "$(reader_name 3)" --new-pin-fd 3 3< <(echo 135792)
before=$(snapshot)
expect 77 enroll USER-A E 3 135792 --pin-fd 4 4< <(echo 135792)
contains "$ERR" "belongs to another cug deployment (server other-server"
[ "$(snapshot)" = "$before" ] || fail "a refused enrollment changed the store"
expect 0 admin card show --reader "$(reader_name 3)" --json
[ "$(printf '%s' "$OUT" | json_get 'd["server_matches_store"]')" = "False" ] || fail "card show: $OUT"
card_pull E
pass "a card of another deployment is refused"

# Attestation: verified against the right root, refused against another, required.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/ca.key" \
  -out "$WORK/ca.pem" -subj "/CN=Test PIV Root" -days 30 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/other.key" \
  -out "$WORK/other.pem" -subj "/CN=Other Root" -days 30 2>/dev/null
card_pull C
card_init F --attestation-ca "$WORK/ca.key" "$WORK/ca.pem"
card_insert F 1
expect 0 with_password "passwd-C" admin user add USER-C --password-fd 3
expect 77 enroll USER-C F 1 135792 --attestation-ca "$WORK/other.pem"
contains "$ERR" "does not lead to a trusted root"
expect 0 enroll USER-C F 1 135792 --attestation-ca "$WORK/ca.pem" --require-attestation --pin-fd 4 4< <(echo 123456)
contains "$OUT" "attestation: verified"
card_pull F
card_init G
card_insert G 1
expect 0 with_password "passwd-D" admin user add USER-D --password-fd 3
expect 77 enroll USER-D G 1 135792 --attestation-ca "$WORK/ca.pem" --require-attestation
contains "$ERR" "offers no attestation"
expect 0 enroll USER-D G 1 135792
contains "$OUT" "attestation: not offered"
card_pull G
card_init H --plain-piv
card_insert H 1
before=$(snapshot)
expect 69 enroll USER-D H 1 135792
contains "$ERR" "cannot change its management key"
[ "$(snapshot)" = "$before" ] || fail "a refused enrollment changed the store"
pass "attestation verified, refused with the wrong root, required; plain PIV cards refused"
expect 0 admin check
