# A private pcscd with virtual card readers, for one test run (sourced).
#
#   pcsc_start READERS      pcscd with READERS virtual readers (even number; 2 per vpcd entry)
#   card_init NAME [opts]   a blank virtual card named NAME (cug-vcard init)
#   card_insert NAME N      put card NAME into reader N (0-based); waits until pcscd sees it
#   card_pull NAME          take it out again (stops its cug-vcard)
#   reader_name N           the PC/SC name of reader N
#
# Everything lives under $PCSC_WORK; pcscd runs in its own mount namespace with
# its socket bind-mounted from there, clients find it through
# PCSCLITE_CSOCK_NAME, and the vpcd ports are chosen free per run, so runs in
# parallel (and a system pcscd) do not collide. pcsc_stop (called by the
# caller's cleanup) stops everything by PID.
: "${CUG_VCARD:?CUG_VCARD must name the cug-vcard program}"
: "${CUG_CARD_WAIT:?CUG_CARD_WAIT must name the cug-card-wait program}"

PCSC_WORK=""
PCSC_PID=""
PCSC_PORT=0
PCSC_PREFIX=""
declare -A CARD_PID=()
declare -A CARD_READER=()

# A base port with READERS free ports after it.
pcsc_free_ports() {
  local want=$1 base tries=0
  while [ $tries -lt 50 ]; do
    base=$(( (RANDOM % 2000) * 16 + 20000 ))
    if ! ss -Htln | awk '{print $4}' | grep -Eq ":($(seq -s '|' "$base" $((base + want - 1))))$"; then
      echo "$base"; return 0
    fi
    tries=$((tries + 1))
  done
  return 1
}

pcsc_start() {
  local readers=${1:-2} entries i
  entries=$(( (readers + 1) / 2 ))
  PCSC_WORK=$(mktemp -d "${TMPDIR:-/tmp}/cug-pcsc.XXXXXX")
  mkdir -p "$PCSC_WORK/conf" "$PCSC_WORK/run" "$PCSC_WORK/drivers" "$PCSC_WORK/cards"
  PCSC_PORT=$(pcsc_free_ports $((entries * 2))) || { echo "no free ports for vpcd" >&2; return 1; }
  PCSC_PREFIX="cug-vpcd-$$"
  for ((i = 0; i < entries; i++)); do
    # Each entry loads its own copy of the driver: it keeps its sockets in globals.
    cp /usr/lib/pcsc/drivers/serial/libifdvpcd.so "$PCSC_WORK/drivers/vpcd$i.so"
    cat > "$PCSC_WORK/conf/vpcd$i" <<CONF
FRIENDLYNAME "$PCSC_PREFIX-$i"
DEVICENAME   /dev/null:$((PCSC_PORT + 2 * i))
LIBPATH      $PCSC_WORK/drivers/vpcd$i.so
CHANNELID    $((PCSC_PORT + 2 * i))
CONF
  done
  # pcscd's socket is always /run/pcscd/pcscd.comm: in a mount namespace of
  # its own, a tmpfs over /run (so the host's /run is not touched, not even
  # for a mount point) holds /run/pcscd, bound to our directory.
  unshare -m sh -c "mount -t tmpfs -o mode=0755 cug-pcsc /run && mkdir /run/pcscd &&
    mount --bind '$PCSC_WORK/run' /run/pcscd && exec pcscd -f ${PCSCD_DEBUG:+-d} -c '$PCSC_WORK/conf'" \
    >"$PCSC_WORK/pcscd.log" 2>&1 &
  PCSC_PID=$!
  export PCSCLITE_CSOCK_NAME="$PCSC_WORK/run/pcscd.comm"
  # Up once its socket is there and every vpcd entry listens for its cards.
  local want=""
  for ((i = 0; i < entries; i++)); do want="$want|:$((PCSC_PORT + 2 * i))\$"; done
  want=${want#|}
  for _ in $(seq 200); do
    [ -S "$PCSCLITE_CSOCK_NAME" ] &&
      [ "$(ss -Htln | awk '{print $4}' | grep -E "$want" | grep -Eo '[0-9]+$' | sort -u | wc -l)" -ge "$entries" ] &&
      return 0
    kill -0 "$PCSC_PID" 2>/dev/null || break
    sleep 0.02
  done
  echo "pcscd did not start:" >&2; cat "$PCSC_WORK/pcscd.log" >&2
  return 1
}

pcsc_stop() {
  [ "$BASHPID" = "$$" ] || return 0  # not in a background subshell (see tests/admin/lib.sh)
  local name
  for name in "${!CARD_PID[@]}"; do kill "${CARD_PID[$name]}" 2>/dev/null || true; done
  for name in "${!CARD_PID[@]}"; do wait "${CARD_PID[$name]}" 2>/dev/null || true; done
  CARD_PID=()
  if [ -n "$PCSC_PID" ]; then
    kill "$PCSC_PID" 2>/dev/null || true
    wait "$PCSC_PID" 2>/dev/null || true
    PCSC_PID=""
  fi
  [ -n "$PCSC_WORK" ] && { [ -n "${KEEP_PCSC:-}" ] || rm -rf "$PCSC_WORK"; }
  PCSC_WORK=""
}

# Reader N's PC/SC name: vpcd entry N/2, slot N%2.
reader_name() { printf '%s-%d 00 %02d' "$PCSC_PREFIX" $(($1 / 2)) $(($1 % 2)); }

card_state() { echo "$PCSC_WORK/cards/$1.state"; }

card_init() { local name=$1; shift; "$CUG_VCARD" init "$(card_state "$name")" "$@" >/dev/null; }

card_insert() {  # card_insert NAME N [cug-vcard insert options]
  local name=$1 reader=$2; shift 2
  "$CUG_VCARD" insert "$(card_state "$name")" --port $((PCSC_PORT + reader)) --wait 30 "$@" \
    2>>"$PCSC_WORK/vcard-$name.log" &
  CARD_PID[$name]=$!
  CARD_READER[$name]=$reader
  # pcscd polls its readers about every 400 ms: wait until it has seen the
  # card (after any removal before it had been noticed).
  "$CUG_CARD_WAIT" "$(reader_name "$reader")" present 30000 >/dev/null && return 0
  echo "card $name did not appear in reader $reader: $(tail -3 "$PCSC_WORK/vcard-$name.log" 2>/dev/null) / $(ss -tanp | grep ":$((PCSC_PORT + reader))\b") / alive: $(kill -0 ${CARD_PID[$name]} && echo yes)" >&2
  return 1
}

card_pull() {
  local name=$1
  [ -n "${CARD_PID[$name]:-}" ] || return 0
  kill "${CARD_PID[$name]}" 2>/dev/null || true
  wait "${CARD_PID[$name]}" 2>/dev/null || true
  unset "CARD_PID[$name]"
  # Until pcscd notices, the reader still shows the card.
  "$CUG_CARD_WAIT" "$(reader_name "${CARD_READER[$name]}")" absent 30000 >/dev/null || true
  unset "CARD_READER[$name]"
}
