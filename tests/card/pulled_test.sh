#!/usr/bin/env bash
# A card pulled out in the middle of an operation (VERIFY and ECDH, a
# presence signature) is always reported as a card that is not there
# (status 15), never as a broken answer or an I/O error, whenever the pull
# comes: in the middle of an APDU (the virtual card leaves after reading its
# Nth command, N drawn at random) or between two (its process killed while
# it is busy).
#
# Each trial puts the card into a reader of its own: vpcd's reader does not
# always see a card inserted again after one was pulled in the middle of a
# PC/SC transaction (a quirk of the virtual reader, not of cug).
. "$(dirname "$0")/lib.sh"
trials=${CUG_PULL_TRIALS:-10}
pcsc_start $(( (trials + 2) / 2 * 2 ))
new_store
expect 0 with_password "passwd0-A" admin user add USER-A --password-fd 3
card_init A
card_insert A "$trials"
expect 0 enroll USER-A A "$trials" 246800
card_pull A
for trial in $(seq "$trials"); do
  reader=$((trial - 1))
  R=$(reader_name "$reader")
  if [ $((trial % 2)) = 1 ]; then
    n=$((RANDOM % 30 + 1))
    how="mid-APDU (command $n)"
    card_insert A "$reader" --pull-after "$n"
    status=0; "$CUG_CARD_USE" "$R" busy 246800 > "$WORK/busy" 2>&1 || status=$?
  else
    how="between APDUs"
    card_insert A "$reader"
    "$CUG_CARD_USE" "$R" busy 246800 > "$WORK/busy" 2>&1 &
    user=$!
    cleanup_pids+=("$user")
    for _ in $(seq 600); do grep -q busy "$WORK/busy" && break; sleep 0.05; done
    grep -q busy "$WORK/busy" || fail "trial $trial: the card was not in use: $(cat "$WORK/busy")"
    sleep "0.0$((RANDOM % 10))"  # a moment into the next operations, different each time
    card_pull A
    status=0; wait "$user" || status=$?
  fi
  card_pull A
  [ "$status" = 15 ] || fail "trial $trial: a card pulled $how gave status $status: $(tail -1 "$WORK/busy")"
  echo "ok: trial $trial, pulled $how: $(tail -1 "$WORK/busy")"
done
pass "a card pulled mid-operation: status 15 in all $trials trials"
