# Shared by the card tests: a store (tests/admin/lib.sh) and a private pcscd
# with virtual cards (tests/support/pcsc.sh), both cleaned up on exit.
. "$(dirname "${BASH_SOURCE[0]}")/../admin/lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../support/pcsc.sh"
trap 'pcsc_stop; cleanup' EXIT

# enroll USER CARD READER PIN [more cug-admin options]: enrolls through cug-admin.
enroll() {
  local user=$1 card=$2 reader=$3 pin=$4; shift 4
  admin card enroll "$user" --reader "$(reader_name "$reader")" --new-pin-fd 3 "$@" 3< <(echo "$pin")
}

# The private scalar of a virtual card's key in SLOT, as lowercase hex (the
# last 32 bytes of a minimal PKCS#8 P-256 key are not it: find it after 0420).
card_private_scalar() {
  python3 - "$(card_state "$1")" "$2" <<'PY'
import base64, sys
state, slot = sys.argv[1], sys.argv[2]
for line in open(state):
    if line.startswith(f"key.{slot}.private="):
        der = base64.urlsafe_b64decode(line.split("=", 1)[1].strip() + "==")
        i = der.find(bytes.fromhex("020101" "0420"))
        print(der[i + 5:i + 37].hex())
PY
}
