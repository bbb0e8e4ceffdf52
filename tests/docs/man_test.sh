#!/usr/bin/env bash
# Every man page as users read it: mandoc's lint at every level (style
# included), man-db's and groff's warnings, and the rendered text free of
# words run together (a .BR that joined its arguments renders as
# "--no-offload).Keysareperpair..."). Needs mandoc and man-db
# (scripts/install-deps).
set -euo pipefail
export PATH="/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
man_dir=$(cd "$(dirname "$0")/../../man" && pwd)
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v mandoc > /dev/null || fail "mandoc is not installed (scripts/install-deps)"
command -v man > /dev/null || fail "man-db is not installed (scripts/install-deps)"
pages=("$man_dir"/*.[1-8])
[ ${#pages[@]} -ge 6 ] || fail "only ${#pages[@]} man pages in $man_dir"
for page in "${pages[@]}"; do
  name=$(basename "$page")
  lint=$(mandoc -T lint -W all "$page" 2>&1 || true)
  [ -z "$lint" ] || fail "mandoc -T lint $name: $lint"
  # man-db drops the formatter's stderr unless told to keep it; "w": every groff warning.
  warnings=$(MAN_KEEP_STDERR=1 MANWIDTH=80 man --warnings=w -E UTF-8 -l "$page" 2>&1 > /dev/null || true)
  [ -z "$warnings" ] || fail "man --warnings $name: $warnings"
  text=$(MANWIDTH=80 man -E UTF-8 -l "$page" 2> /dev/null)
  joined=$(grep -oE '[A-Za-z]{28,}' <<< "$text" | head -n 3 || true)
  [ -z "$joined" ] || fail "$name renders words run together: $joined"
  # The header's date is one mandoc understands (it says so above otherwise),
  # and every page names the others it refers to by their section.
  head -n 1 "$page" | grep -qE '^\.TH [A-Z._-]+ [1-8] "[0-9]{4}-[0-9]{2}-[0-9]{2}"' ||
    fail "$name: .TH date is not YYYY-MM-DD: $(head -n 1 "$page")"
done
echo "ok: ${#pages[@]} man pages: mandoc lint, man --warnings and the rendered text are clean"
