#!/usr/bin/zsh -f
# zsh_complete.zsh COMPLETION_DIR LINE...
# Types each LINE into a real interactive zsh (no rc files, compinit with
# COMPLETION_DIR first in $fpath) and asks for all matches at its end with
# zshcompsys(1)'s all-matches widget (_all_matches inserts every match into
# the line); prints the resulting line, one per LINE, between @@ markers.
# Each answer is read when the shell prints it, never after a fixed time.
emulate -L zsh
zmodload zsh/zpty || exit 69
dir=$1
shift
zpty z zsh -f -i || exit 69
zpty -w z "PS1='> ' PROMPT_EOL_MARK='' fpath=(${(q)dir} \$fpath)"
zpty -w z 'autoload -Uz compinit && compinit -u -D'
zpty -w z 'zle -C all-matches complete-word _generic; bindkey "^Xa" all-matches'
zpty -w z "zstyle ':completion:all-matches:*' completer _all_matches _complete"
zpty -w z "zstyle ':completion:all-matches:*' insert true"
zpty -w z 'show-line() { zle -I; print -r -- "@@$BUFFER@@" }; zle -N show-line; bindkey "^Xp" show-line'
# (Quoted apart, so that the echo of the command does not match.)
zpty -w z 'print ready-""@@'
zpty -r z out '*ready-@@*' || exit 70
for line in "$@"; do
  zpty -n -w z $'\C-u'"$line"$'\C-xa\C-xp'
  zpty -r z out '*@@*@@*' || exit 70
  print -r -- "${(M)out##*@@*@@}" | tr -d '\r' | grep -ao '@@.*@@' | tail -n 1
done
zpty -w z $'\C-u''exit'
zpty -d z
