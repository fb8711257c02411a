# tui_lib.sh: helpers for the workbench's terminal tests (sourced).
#
# Each test runs `retrobench tui` inside its own tmux server (a private
# socket, killed on exit), drives it with send-keys and reads the screen
# with capture-pane. After the program exits, the same pane runs
# `stty -a` so a test can check that the terminal was given back.
# Tests skip (exit 77) when tmux, python3 or an asset is missing.

RB=${1:?usage: test_*.sh path/to/retrobench}
ASSETS=${RB_ASSETS_DIR:-$(dirname "$0")/../../../shared/assets}
ASSETS=$(cd "$ASSETS" 2>/dev/null && pwd || echo "$ASSETS") # absolute: tests run commands elsewhere
HERE=$(cd "$(dirname "$0")" && pwd)
SOCK=rbtui-$$-0
SOCKS=()
TMP=$(mktemp -d)
T() { tmux -L "$SOCK" -f /dev/null "$@"; }
cleanup() {
    local st=$?
    set +e
    for s in "${SOCKS[@]}"; do
        tmux -L "$s" -f /dev/null kill-server 2>/dev/null
        rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$s" # the server leaves its socket file
    done
    [ -n "${BG_PID:-}" ] && kill "$BG_PID" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$TMP"
    exit $st
}
trap cleanup EXIT

skip() { echo "SKIP: $*"; exit 77; }
fail() {
    echo "FAIL: $*"
    echo "---- screen ----"
    T capture-pane -p -t tui 2>/dev/null
    exit 1
}
need_tools() {
    command -v tmux >/dev/null || skip "tmux is not installed (tools/setup.sh installs it)"
    command -v python3 >/dev/null || skip "python3 is not installed"
}
need_asset() { [ -e "$ASSETS/$1" ] || skip "asset $1 not found under $ASSETS"; }

# start W H ENV... -- CMD...: run CMD in a new session "tui" of size W x H
# (on a fresh tmux server each time); when it exits, print EXIT=<status>
# and the terminal's modes, then wait.
start() {
    SOCK=rbtui-$$-${#SOCKS[@]}
    SOCKS+=("$SOCK")
    local w=$1 h=$2
    shift 2
    local envs=()
    while [ "$1" != "--" ]; do envs+=(-e "$1"); shift; done
    shift
    local cmd
    printf -v cmd '%q ' "$@"
    T new-session -d -s tui -x "$w" -y "$h" "${envs[@]}" \
        "cd $TMP; $cmd; echo EXIT=\$?; stty -a | tr ' ;' '\n\n' | grep -E '^-?(icanon|echo)$' | tr '\n' ' '; echo; sleep 600"
}
screen() { T capture-pane -p -t tui; }
keys() { T send-keys -t tui "$@"; }

# wait_for REGEX [SECONDS]: until the screen matches (grep -E), else fail
wait_for() {
    local re=$1 limit=${2:-20} i=0
    while [ $((i += 1)) -le $((limit * 10)) ]; do
        screen | grep -qE -- "$re" && return 0
        sleep 0.1
    done
    fail "the screen never showed /$re/ in ${limit}s"
}

# the pane's terminal state after the program left: normal screen, cursor
# shown, keypad off, and the tty modes back (icanon, echo)
check_restored() {
    wait_for "^EXIT=" 15
    local alt cur
    alt=$(T display -p -t tui '#{alternate_on}')
    cur=$(T display -p -t tui '#{cursor_flag}')
    [ "$alt" = 0 ] || fail "still on the alternate screen after exit"
    [ "$cur" = 1 ] || fail "the cursor is still hidden after exit"
    screen | grep -qE '(^| )icanon( |$)' || fail "the terminal is not back in canonical mode"
    screen | grep -qE '(^| )echo( |$)' || fail "echo is not back on"
}
exit_status() { screen | sed -n 's/^EXIT=\([0-9]*\).*/\1/p' | tail -1; }

# valid_layout N_PANES: the screen's frames tile it (tests/tui/check_screen.py)
valid_layout() {
    screen >"$TMP/screen.txt"
    python3 "$HERE/check_screen.py" "$TMP/screen.txt" "$@" || fail "invalid layout (above)"
}

# wait_valid_layout ARGS...: valid_layout once the screen passes (up to 10 s;
# a resize takes a frame or two to redraw on a loaded machine)
wait_valid_layout() {
    local i=0
    while [ $((i += 1)) -le 100 ]; do
        screen >"$TMP/screen.txt"
        python3 "$HERE/check_screen.py" "$TMP/screen.txt" "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    valid_layout "$@"
}

# A stories260K cut to (1,2,1) and a little TinyStories data, in $TMP.
make_model() {
    need_asset stories260K/stories260K.bin
    need_asset stories260K/tok512.bin
    "$RB" surgery -m "$ASSETS/stories260K/stories260K.bin" --tokenizer "$ASSETS/stories260K/tok512.bin" \
        --prc 1,2,1 -o "$TMP/s121.safetensors" >/dev/null 2>&1 || fail "surgery failed"
}
make_data() {
    need_asset tinystories/tinystories_sample.txt
    "$RB" data -m "$ASSETS/stories260K/tok512.bin" --text "$ASSETS/tinystories/tinystories_sample.txt" --seq 64 \
        -o "$TMP/ts.rbtok" >/dev/null 2>&1 || fail "retrobench data failed"
}
