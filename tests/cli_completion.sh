#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# cli_completion.sh SEAM BUILD_DIR - the bash and zsh completion of the seam
# tool: commands, every option each command's --help lists, live names and
# @FILE; and that `cmake --install` puts both scripts where the shells look.
set -euo pipefail
seam=$(readlink -f "$1")
build=$(readlink -f "$2")
src=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=live.sh
source "$(dirname "$0")/live.sh"

# the completion runs `seam`: put this build's first on PATH
mkdir -p "$SEAM_RUNTIME_DIR/bin"
ln -s "$seam" "$SEAM_RUNTIME_DIR/bin/seam"
PATH=$SEAM_RUNTIME_DIR/bin:$PATH

# shellcheck source=../tools/completion/seam.bash
source "$src/tools/completion/seam.bash"
# complete WORDS...: what bash offers for the last word
complete_words() {
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _seam
    printf '%s\n' "${COMPREPLY[@]}" | sort
}

commands=$("$seam" --help | sed -n '/^commands:/,/^$/p' | awk 'NF > 1 {print $1}' | sort)
[[ $(wc -l <<<"$commands") -ge 10 ]] || fail "no commands in --help"
[[ "$(complete_words seam '')" == "$commands" ]] || fail "commands: $(complete_words seam '')"
[[ "$(complete_words seam -j '')" == "$commands" ]] || fail "commands after -j"
[[ "$(complete_words seam --v)" == "--version" ]] || fail "global option"
[[ "$(complete_words seam help c)" == "call" ]] || fail "help c: $(complete_words seam help c)"

# every option a command's help names is offered for that command, and
# the zsh script knows it too
for c in $commands; do
    opts=$(complete_words seam "$c" -)
    zsh_part=$(sed -n "/^        $c)\$/,/;;/p" "$src/tools/completion/_seam")
    for o in $("$seam" "$c" --help | grep -E '^  +-' | grep -o -- '--[a-z][a-z-]*' | sort -u); do
        grep -qx -- "$o" <<<"$opts" || fail "bash does not offer $o for $c: $opts"
        [[ "$o" == --json || "$o" == --help ]] && continue
        [[ "$zsh_part" == *"$o"* ]] || fail "zsh does not offer $o for $c"
    done
    grep -q "'$c:" "$src/tools/completion/_seam" || fail "zsh does not list the command $c"
done

# names come from the runtime directory; option values are not completed
"$seam" listen t.comp.one >/dev/null &
pids+=($!)
"$seam" listen t.comp.two >/dev/null &
pids+=($!)
wait_for t.comp.one
wait_for t.comp.two
[[ "$(complete_words seam call t.comp.)" == $'t.comp.one\nt.comp.two' ]] \
    || fail "names: $(complete_words seam call t.comp.)"
[[ "$(complete_words seam -j ping --count 3 t.comp.o)" == "t.comp.one" ]] || fail "name after option"
[[ -z "$(complete_words seam call --timeout '')" ]] || fail "a timeout value was completed"
[[ -z "$(complete_words seam call t.comp.one t.comp)" ]] || fail "a value was completed as a name"

# @FILE completes files
touch "$SEAM_RUNTIME_DIR/request.json"
[[ "$(complete_words seam call t.comp.one "@$SEAM_RUNTIME_DIR/req")" == "@$SEAM_RUNTIME_DIR/request.json" ]] \
    || fail "@FILE: $(complete_words seam call t.comp.one "@$SEAM_RUNTIME_DIR/req")"

# zsh: the script parses, and zsh loads it as a completion function
if command -v zsh >/dev/null; then
    zsh -n "$src/tools/completion/_seam" || fail "_seam does not parse"
    zsh -f -c "fpath=($src/tools/completion \$fpath); autoload -U compinit; compinit -u -d $SEAM_RUNTIME_DIR/zcomp; [[ \${_comps[seam]} == _seam ]]" \
        || fail "zsh does not take _seam as the completion of seam"
else
    echo "zsh not installed: zsh checks skipped"
fi

# installed where bash-completion and zsh look
cmake --install "$build" --prefix "$SEAM_RUNTIME_DIR/prefix" >/dev/null
datadir=$(ls -d "$SEAM_RUNTIME_DIR"/prefix/share)
cmp "$datadir/bash-completion/completions/seam" "$src/tools/completion/seam.bash" || fail "bash install"
cmp "$datadir/zsh/site-functions/_seam" "$src/tools/completion/_seam" || fail "zsh install"
echo "cli completion: all passed"
