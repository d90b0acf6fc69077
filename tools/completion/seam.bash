# bash completion for seam(1): commands, each command's options, the names
# in the runtime directory, and files after "@".

_seam_names() {
    seam list --names 2>/dev/null
}

_seam() {
    local cur prev cmd i
    COMPREPLY=()
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD - 1]}
    local commands="listen subscribe send call ping flood watch list status monitor encode decode version help"
    local global="-j --json -V --version -h --help"

    # the command is the first word that is not a global option
    cmd=
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        -j | --json | -V | --version | -h | --help) ;;
        *)
            cmd=${COMP_WORDS[i]}
            break
            ;;
        esac
    done
    if [[ -z $cmd ]]; then
        if [[ $cur == -* ]]; then
            mapfile -t COMPREPLY < <(compgen -W "$global" -- "$cur")
        else
            mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
        fi
        return
    fi

    local opts="-j --json -h --help"
    case $cmd in
    listen) opts+=" --echo --stream --silent --quiet --count -n --announce --allow-uid --allow-gid --require-exe --idle-exit --monitorable --publish --publish-stdin" ;;
    subscribe) opts+=" --count -n" ;;
    monitor) opts+=" --pcap -w --count -n --quiet -q" ;;
    call) opts+=" --timeout -t --more" ;;
    status) opts+=" --timeout -t" ;;
    ping) opts+=" --count -c" ;;
    flood) opts+=" --count -n --size -s" ;;
    watch) opts+=" --count -n" ;;
    list) opts+=" --names" ;;
    esac

    # an option's value: a file for --pcap and --require-exe, else a
    # number: nothing to offer
    case $prev in
    --pcap | -w | --require-exe)
        mapfile -t COMPREPLY < <(compgen -f -- "$cur")
        return
        ;;
    --count | -n | -c | --announce | --allow-uid | --allow-gid | --idle-exit | --timeout | -t | --size | -s | --stream | --publish)
        return
        ;;
    esac

    if [[ $cur == -* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
        return
    fi
    if [[ $cur == @* ]]; then
        local f
        mapfile -t f < <(compgen -f -- "${cur#@}")
        COMPREPLY=("${f[@]/#/@}")
        return
    fi

    # which positional argument this is
    local npos=0 skip=0
    for ((i = i + 1; i < COMP_CWORD; i++)); do
        if ((skip)); then
            skip=0
            continue
        fi
        case ${COMP_WORDS[i]} in
        --count | -n | -c | --announce | --allow-uid | --allow-gid | --idle-exit | --timeout | -t | --size | -s | --pcap | -w | --require-exe | --stream | --publish) skip=1 ;;
        -?*) ;;
        *) npos=$((npos + 1)) ;;
        esac
    done
    case $cmd in
    listen | subscribe | send | call | ping | flood | watch | status | monitor)
        if ((npos == 0)); then
            mapfile -t COMPREPLY < <(compgen -W "$(_seam_names)" -- "$cur")
        fi
        ;;
    help)
        if ((npos == 0)); then
            mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
        fi
        ;;
    esac
}

complete -F _seam seam
