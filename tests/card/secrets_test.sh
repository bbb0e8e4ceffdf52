#!/usr/bin/env bash
# After enrollment the factory management key, PIN and PUK no longer work, and
# no PIV command reads either private key off the card.
. "$(dirname "$0")/lib.sh"
new_store
pcsc_start 2
expect 0 with_password "passwd1-A" admin user add USER-A --password-fd 3
card_init A
card_insert A 0
R=$(reader_name 0)

# Before: the factory credentials work (the test would prove nothing otherwise).
yubico-piv-tool -r "$R" -a verify-pin -P 123456 >/dev/null 2>&1 || fail "a fresh card refuses the factory PIN"
expect 0 enroll USER-A A 0 135792 --new-puk-fd 4 4< <(echo 97531864)

# After: each factory value is refused, and the new ones work.
if out=$(yubico-piv-tool -r "$R" -a verify-pin -P 123456 2>&1); then fail "the factory PIN still works: $out"; fi
yubico-piv-tool -r "$R" -a verify-pin -P 135792 >/dev/null 2>&1 || fail "the new PIN does not work"
if out=$(yubico-piv-tool -r "$R" -k 010203040506070801020304050607080102030405060708 \
           -a generate -s 9a -A ECCP256 2>&1); then
  fail "the factory management key still works: $out"
fi
if out=$(yubico-piv-tool -r "$R" -a unblock-pin -P 12345678 -N 246802 2>&1); then
  fail "the factory PUK still works: $out"
fi
yubico-piv-tool -r "$R" -a change-puk -P 97531864 -N 97531865 >/dev/null 2>&1 || fail "the new PUK does not work"
pass "factory management key, PIN and PUK no longer work; the new PIN and PUK do"

# Every command byte, with the P1/P2 pairs PIV uses, and GET DATA of every
# object tag PIV and YubiKeys define, after a successful VERIFY: no answer may
# carry either private scalar.
kem=$(card_private_scalar A 9d)
auth=$(card_private_scalar A 9e)
[ ${#kem} -eq 64 ] && [ ${#auth} -eq 64 ] || fail "could not read the card's keys from its state file"
# Make sure these are the keys the card uses: the scalar OpenSSL finds in the
# state file, and a public key that matches the one the card reports.
python3 -c 'import base64,sys; [sys.stdout.buffer.write(base64.urlsafe_b64decode(l.split("=",1)[1].strip()+"==")) for l in open(sys.argv[1]) if l.startswith("key.9d.private=")]' \
  "$(card_state A)" > "$WORK/kem.der"
openssl_scalar=$(openssl pkey -inform DER -in "$WORK/kem.der" -text -noout | sed -n '/^priv:/,/^pub:/p' |
                 grep -Ev '^(priv|pub):' | tr -d ' :\n')
[ ${#openssl_scalar} -eq 66 ] && openssl_scalar=${openssl_scalar#00}
[ "$openssl_scalar" = "$kem" ] || fail "the probe looks for $kem, OpenSSL says the key is $openssl_scalar"
state_key="SHA256:$(openssl pkey -inform DER -in "$WORK/kem.der" -pubout -outform DER | openssl dgst -sha256 -binary | base64 | tr -d '=')"
[ "$state_key" = "$(admin card show --reader "$R" --json | json_get 'd["key_agreement_key_fingerprint"]')" ] ||
  fail "the state file's 9D key is not the card's"
python3 - "$R" > "$WORK/apdus" <<'PY'
import sys
apdus = ["00 A4 04 00 05 A0 00 00 03 08", "00 20 00 80 08 31 33 35 37 39 32 FF FF"]
for ins in range(256):
    if ins in (0x20, 0x24, 0x2C, 0xFB, 0xFF):   # PIN/PUK/reset/key changes: not probes
        continue
    for p1, p2 in ((0x00, 0x00), (0x3F, 0xFF), (0x00, 0x9D), (0x00, 0x9E), (0x9D, 0x00),
                   (0x9E, 0x00), (0x11, 0x9D), (0x11, 0x9E)):
        apdus.append(f"00 {ins:02X} {p1:02X} {p2:02X} 00")
tags = [0x7E] + [0x5FC100 + i for i in range(0x30)] + [0x5FFF00 + i for i in range(0x20)]
for t in tags:
    tb = t.to_bytes(3 if t > 0xFF else 1, "big")
    data = bytes([0x5C, len(tb)]) + tb
    apdus.append("00 CB 3F FF %02X %s 00" % (len(data), data.hex(" ").upper()))
print("\n".join(apdus))
PY
args=()
while read -r apdu; do args+=(-s "$apdu"); done < "$WORK/apdus"
opensc-tool -r "$R" "${args[@]}" > "$WORK/answers" 2>&1 || true
answered=$(grep -c "^Received" "$WORK/answers" || true)
[ "$answered" -gt 2000 ] || fail "only $answered APDUs were answered: $(tail -5 "$WORK/answers")"
# Response bytes are the hex pairs opensc-tool prints at the start of lines.
python3 - "$WORK/answers" "$kem" "$auth" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
hexbytes = "".join(m.group(1).replace(" ", "") for m in re.finditer(r"^((?:[0-9A-F]{2} )+)", text, re.M)).lower()
for scalar in sys.argv[2:]:
    if scalar in hexbytes:
        sys.exit("a private scalar appeared in a card's answer")
PY
grep -q "SW1=0x90, SW2=0x00" "$WORK/answers" || fail "no command succeeded; the probe was not talking to the card"
pass "$answered probing APDUs through OpenSC: no answer holds either private key"
