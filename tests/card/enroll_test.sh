#!/usr/bin/env bash
# The four patent users enrolled on four virtual cards through the real pcscd,
# read back with our code, yubico-piv-tool and OpenSC.
. "$(dirname "$0")/lib.sh"
new_store
pcsc_start 4
expect 0 admin group add VPN1 --prefix 10.0.0.0/24
expect 0 admin group add VPN2 --prefix 10.0.1.0/24
n=0
for u in A B C D; do
  expect 0 with_password "passwd$n-$u" admin user add "USER-$u" --password-fd 3
  card_init "$u"
  card_insert "$u" "$n"
  expect 0 enroll "USER-$u" "$u" "$n" "24680$n"
  contains "$OUT" "enrolled USER-$u on the card in '$(reader_name $n)'"
  contains "$OUT" "management key: AES-256, random, sealed in the store"
  contains "$OUT" "PUK: "
  n=$((n + 1))
done
expect 0 admin member add VPN1 USER-A
expect 0 admin member add VPN1 USER-B
expect 0 admin member add VPN2 USER-C
expect 0 admin member add VPN2 USER-D
pass "four users enrolled on four cards in four readers"

server_key=$(admin server show --json | json_get 'd["key"]')
n=0
for u in A B C D; do
  expect 0 admin card show --reader "$(reader_name $n)" --json
  got=$(printf '%s' "$OUT" | json_get 'd["user"], d["server"]["key"], d["server_matches_store"], d["keys_match_store"], d["key_agreement_key"], d["authentication_key"], d["pin_tries_left"]')
  [ "$got" = "USER-$u $server_key True True True True 3" ] || fail "card show of USER-$u's card: $got"
  expect 0 admin user show "USER-$u" --json
  [ "$(printf '%s' "$OUT" | json_get 'd["card"]["device"]')" != "" ] || fail "no card recorded for USER-$u"
  n=$((n + 1))
done
pass "cug-admin card show reads each card back, matching the store"

for n in 0 1 2 3; do
  u=$(echo ABCD | cut -c$((n + 1)))
  status=$(yubico-piv-tool -r "$(reader_name $n)" -a status 2>&1) || fail "yubico-piv-tool status: $status"
  for slot in 9d 9e 95; do contains "$status" "Slot $slot:"; done
  contains "$status" "Subject DN:	CN=USER-$u"
  contains "$status" "Subject DN:	CN=test-server"
  subject=$(yubico-piv-tool -r "$(reader_name $n)" -a read-certificate -s 9d | openssl x509 -noout -subject)
  [ "$subject" = "subject=CN = USER-$u" ] || fail "yubico-piv-tool read-certificate 9d: $subject"
  issuer=$(yubico-piv-tool -r "$(reader_name $n)" -a read-certificate -s 95 | openssl x509 -noout -subject)
  [ "$issuer" = "subject=CN = test-server" ] || fail "yubico-piv-tool read-certificate 95: $issuer"
  keys=$(pkcs15-tool --reader "$n" --list-public-keys 2>&1) || fail "pkcs15-tool: $keys"
  contains "$keys" "Key ref        : 157 (0x9D)"
  contains "$keys" "Key ref        : 158 (0x9E)"
  certs=$(pkcs15-tool --reader "$n" --list-certificates 2>&1)
  contains "$certs" "Certificate for Key Management"
  contains "$certs" "Retired Certificate for Key Management 20"
done
pass "yubico-piv-tool and OpenSC accept the cards and read their certificates"

# The key in the certificate is the key on the card: ECDH through OpenSC's
# PIV driver is beyond pkcs15-tool, but the public key OpenSC reads must be
# the one the store registered.
for n in 0 1; do
  u=$(echo AB | cut -c$((n + 1)))
  want=$(admin card show --reader "$(reader_name $n)" --json | json_get 'd["key_agreement_key_fingerprint"]')
  got=$(pkcs15-tool --reader "$n" --read-public-key 03 2>/dev/null | openssl pkey -pubin -outform DER |
        openssl dgst -sha256 -binary | base64 | tr -d '=')
  [ "SHA256:$got" = "$want" ] || fail "OpenSC reads USER-$u's 9D key as SHA256:$got, the card says $want"
done
pass "OpenSC reads the same 9D keys"

# The cards at work, through the high-level card API the terminal programs use.
for n in 0 1 2 3; do
  out=$("$CUG_CARD_USE" "$(reader_name $n)" agree "24680$n") || fail "ECDH on card $n: $out"
  out=$("$CUG_CARD_USE" "$(reader_name $n)" sign) || fail "presence signature on card $n: $out"
done
status=0; out=$("$CUG_CARD_USE" "$(reader_name 0)" agree 999999) || status=$?
[ "$status" -eq 77 ] || fail "a wrong PIN should give status 77, gave $status: $out"
contains "$out" "wrong PIN (2 tries left)"
out=$("$CUG_CARD_USE" "$(reader_name 0)" agree 246800) || fail "the right PIN after a wrong one: $out"
pass "ECDH with 9D after the PIN, presence signatures with 9E, wrong PIN counted"

expect 0 admin audit --json
[ "$(printf '%s' "$OUT" | json_get 'sum(1 for e in d if e["action"] == "card.enroll")')" = 4 ] ||
  fail "four card.enroll audit entries expected"
expect 0 admin check
