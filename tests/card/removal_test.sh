#!/usr/bin/env bash
# A card pulled out of its reader is noticed (pcscd polls vpcd about every
# 400 ms; the time it took is printed, not asserted), and a card put back is
# seen again.
. "$(dirname "$0")/lib.sh"
pcsc_start 2
card_init A
card_insert A 1
R=$(reader_name 1)
for round in 1 2 3; do
  "$CUG_CARD_WAIT" "$R" absent 30000 > "$WORK/wait" 2>&1 &
  waiter=$!
  cleanup_pids+=("$waiter")
  for _ in $(seq 100); do grep -q watching "$WORK/wait" && break; sleep 0.01; done
  pulled=$(date +%s%N)
  card_pull A
  wait "$waiter" || fail "round $round: the removal was not seen: $(cat "$WORK/wait")"
  seen=$(tail -1 "$WORK/wait")
  ms=$(( (seen - pulled) / 1000000 ))
  echo "ok: round $round: removal seen after $ms ms"
  expect 69 admin card show --reader "$R"
  contains "$ERR" "no card"
  card_insert A 1
done
"$CUG_CARD_WAIT" "$R" present 30000 >/dev/null || fail "the card put back is not present"
pass "removal seen three times; reinsertion seen"
