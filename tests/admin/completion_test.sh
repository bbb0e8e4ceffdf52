#!/usr/bin/env bash
# Shell completion: the scripts the build made with `PROGRAM completion
# bash|zsh` (the files that are installed), sourced into bash and loaded by a
# real zsh, offer each program's subcommands and options as --help lists
# them, file and directory names where a value is one, nothing where a value
# is free text, and never a hidden option.
. "$(dirname "$0")/lib.sh"
comp_dir="$CUG_BIN/completion"
programs="cug-admin cugd cug-login cug-logout cug-tun"
for p in $programs; do
  [ -s "$comp_dir/bash/$p" ] || fail "the build made no bash completion for $p"
  [ -s "$comp_dir/zsh/_$p" ] || fail "the build made no zsh completion for $p"
  cmp -s "$comp_dir/bash/$p" <("$CUG_BIN/$p" completion bash) ||
    fail "$comp_dir/bash/$p is not what '$p completion bash' prints"
done

# A directory to complete in: one directory, one file.
mkdir -p "$WORK/pick/subdir"
: > "$WORK/pick/file.pem"

# --- bash ---------------------------------------------------------------
for p in $programs; do
  # shellcheck disable=SC1090
  . "$comp_dir/bash/$p"
  complete -p "$p" | grep -q -- "-F _${p//-/_} $p\$" || fail "bash: no completion registered for $p"
done
# comp WORD... : what the program's completion offers for the last word,
# sorted, on one line. (Outside a completion compopt fails; the scripts
# ignore that.)
comp() {
  local fn="_${1//-/_}"
  COMP_WORDS=("$@")
  COMP_CWORD=$(($# - 1))
  COMPREPLY=()
  "$fn" 2>/dev/null || fail "bash: $fn failed for '$*'"
  printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'
}
expect() {  # expect WANT WORD...
  local want=$1 got
  shift
  got=$(comp "$@")
  [ "$got" = "$want" ] || fail "bash: '$*<TAB>' offers '$got', not '$want'"
}
# What --help lists: the subcommands, and the long options of a command.
help_subcommands() {
  "$@" --help | awk '/^Subcommands:/ {on = 1; next} on && /^  [a-z]/ {print $1} on && /^$/ {on = 0}' |
    LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'
}
help_long_options() {
  "$@" --help | grep -o -- '--[a-z][a-z0-9-]*' | LC_ALL=C sort -u | tr '\n' ' ' | sed 's/ $//'
}
long_only() { tr ' ' '\n' | grep -- '^--' | LC_ALL=C sort -u | tr '\n' ' ' | sed 's/ $//'; }

admin_subs=$(help_subcommands "$ADMIN_BIN")
[ -n "$admin_subs" ] && [[ $admin_subs == *member* ]] || fail "cug-admin --help lists no subcommands: '$admin_subs'"
expect "$admin_subs" cug-admin ""
expect "member" cug-admin mem
expect "add del list" cug-admin member ""
# An option's value is stepped over, even when it is a subcommand's name.
expect "add del list" cug-admin --lock-timeout 3 member ""
expect "$admin_subs" cug-admin --store member ""
# Options: exactly the long options --help shows, at every level.
got=$(comp cug-admin -- | long_only)
[ "$got" = "$(help_long_options "$ADMIN_BIN")" ] ||
  fail "bash: cug-admin --<TAB> offers '$got'; --help shows '$(help_long_options "$ADMIN_BIN")'"
got=$(comp cug-admin member add -- | long_only)
[ "$got" = "$(help_long_options "$ADMIN_BIN" member add)" ] ||
  fail "bash: cug-admin member add --<TAB> offers '$got'; its --help shows '$(help_long_options "$ADMIN_BIN" member add)'"
expect "--help -h" cug-admin member del -
# Values: directories for a DIR, files and directories for a FILE, nothing
# for free text, in both spellings of an option with its value.
expect "$WORK/pick/subdir" cug-admin --store "$WORK/pick/"
expect "$WORK/pick/subdir" cug-admin --store = "$WORK/pick/"
expect "$WORK/pick/file.pem $WORK/pick/subdir" cug-admin card enroll --attestation-ca "$WORK/pick/"
expect "" cug-admin member add --address ""
expect "" cug-admin member add --address = ""
# A positional that is a name offers no files.
expect "" cug-admin member add ""
# A program without subcommands offers its options at once; cugd's --config
# is a file.
cugd_options=$(comp cugd "" | long_only)
[ "$cugd_options" = "$(help_long_options "$CUG_BIN/cugd")" ] ||
  fail "bash: cugd <TAB> offers '$cugd_options'; --help shows '$(help_long_options "$CUG_BIN/cugd")'"
expect "$WORK/pick/file.pem $WORK/pick/subdir" cugd --config "$WORK/pick/"
expect "$WORK/pick/subdir" cug-login --socket-dir "$WORK/pick/"
expect "$(help_subcommands "$CUG_BIN/cug-tun")" cug-tun ""
for p in cug-login cug-logout cug-tun; do
  got=$(comp "$p" -- | long_only)
  [ "$got" = "$(help_long_options "$CUG_BIN/$p")" ] ||
    fail "bash: $p --<TAB> offers '$got'; --help shows '$(help_long_options "$CUG_BIN/$p")'"
done
echo "ok: bash completes subcommands, options and file values of all five programs"

# --- the command itself ---------------------------------------------------
for args in "completion" "completion fish" "completion bash zsh"; do
  set +e
  # shellcheck disable=SC2086
  out=$("$ADMIN_BIN" $args 2>"$WORK/err")
  status=$?
  set -e
  [ $status -eq 64 ] || fail "'cug-admin $args' is $status, not 64"
  [ -z "$out" ] || fail "'cug-admin $args' printed a script anyway"
  [ "$(wc -l < "$WORK/err")" -eq 1 ] && grep -q '^cug-admin: completion' "$WORK/err" ||
    fail "'cug-admin $args' said: $(cat "$WORK/err")"
done
echo "ok: 'completion' wants bash or zsh and says so in one line (64)"

# --- zsh ----------------------------------------------------------------
for p in $programs; do
  zsh -n "$comp_dir/zsh/_$p" || fail "zsh: _$p does not parse"
done
zsh_lines=(
  "cug-admin mem"
  "cug-admin member "
  "cug-admin member add --"
  "cug-admin --lock-timeout 3 gr"
  "cug-admin --store $WORK/pick/"
  "cug-admin card enroll --attestation-ca $WORK/pick/"
  "cugd --conf"
  "cug-tun --socket-dir=$WORK/pick/"
  "cug-tun show -"
  "cug-admin member add V"
)
mapfile -t zsh_got < <(cd "$WORK" && timeout 120 zsh -f "$CUG_TESTS/support/zsh_complete.zsh" \
  "$comp_dir/zsh" "${zsh_lines[@]}")
[ ${#zsh_got[@]} -eq ${#zsh_lines[@]} ] ||
  fail "zsh: ${#zsh_got[@]} answers for ${#zsh_lines[@]} lines: ${zsh_got[*]}"
zsh_want=(
  "@@cug-admin member @@"
  "@@cug-admin member add del list@@"
  "@@cug-admin member add --address --help@@"
  "@@cug-admin --lock-timeout 3 group @@"
  "@@cug-admin --store $WORK/pick/subdir/@@"
  "@@cug-admin card enroll --attestation-ca $WORK/pick/file.pem $WORK/pick/subdir/@@"
  "@@cugd --config=@@"
  "@@cug-tun --socket-dir=$WORK/pick/subdir/@@"
  "@@cug-tun show --help --json -h@@"
  "@@cug-admin member add V@@"
)
for i in "${!zsh_lines[@]}"; do
  # Matches in any order, at most one space at the end.
  norm() { sed 's/^@@//; s/@@$//; s/ *$//' <<<"$1" | tr ' ' '\n' | LC_ALL=C sort | tr '\n' ' '; }
  [ "$(norm "${zsh_got[$i]}")" = "$(norm "${zsh_want[$i]}")" ] ||
    fail "zsh: '${zsh_lines[$i]}<TAB>' gives '${zsh_got[$i]}', not '${zsh_want[$i]}'"
done
echo "ok: a real zsh completes subcommands, options and file values"
