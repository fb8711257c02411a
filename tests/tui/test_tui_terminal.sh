#!/usr/bin/env bash
# test_tui_terminal.sh: the workbench on different terminals and ways out (tmux):
#  - LANG=C: ASCII only (no braille, no box drawing), still a valid layout;
#  - colour by default; none with NO_COLOR or a terminal without colours;
#  - Ctrl-C leaves a restored terminal and exit status 130;
#  - stderr written while curses owns the screen lands in the log pane
#    (a checkpoint that fails to load), not over the panes, and the error
#    is repeated on the terminal after exit;
#  - a plain (not recurrent) model: one answer row, no trace;
#  - `?` lists the keys at 80x24;
#  - bad command lines: one-line errors and exit status 2.
set -euo pipefail
source "$(dirname "$0")/tui_lib.sh"
need_tools
make_model
export OMP_NUM_THREADS=1

# bad command lines (no terminal needed)
for args in "" "-m x --watch y" "experiment.lua" "-m s121.safetensors --depths 4,2" "-m s121.safetensors -n 0"; do
    set +e
    (cd "$TMP" && "$RB" tui $args </dev/null >"$TMP/out.txt" 2>"$TMP/err.txt")
    st=$?
    set -e
    [ "$st" = 2 ] || fail "tui $args: exit status $st, expected 2"
    [ "$(wc -l <"$TMP/err.txt")" -ge 1 ] || fail "tui $args: no error message"
done
grep -q "cannot read the experiment experiment.lua" <(cd "$TMP" && "$RB" tui experiment.lua 2>&1 || true) ||
    fail "EXP.lua: a missing script is not named"

# ASCII under LANG=C
start 100 30 LANG=C LC_ALL=C -- "$RB" tui -m s121.safetensors --depths 1,2,4 -n 8
wait_for "iter 1/4" 20
valid_layout 100 30 4 --ascii --title "Answers at depths" --title "Convergence"
keys '?'
wait_for "Keys \(any key closes\)" 5
screen | LC_ALL=C grep -q '[^ -~]' && fail "non-ASCII characters in the help under LANG=C"
keys x
keys C-c
check_restored
[ "$(exit_status)" = 130 ] || fail "exit status $(exit_status) after Ctrl-C"
T kill-server

# colour: on by default, off with NO_COLOR and on a terminal without colours
has_color() { T capture-pane -e -p -t tui | grep -qE $'\e\\[([0-9;]*;)?(3[0-7]|4[0-7]|38;|48;)'; }
start 100 30 LANG=C.UTF-8 -- "$RB" tui -m s121.safetensors --depths 1,2 -n 4
wait_for "iter 1/2" 20
has_color || fail "no colour on a colour terminal"
keys q
check_restored
T kill-server
start 100 30 LANG=C.UTF-8 NO_COLOR=1 -- "$RB" tui -m s121.safetensors --depths 1,2 -n 4
wait_for "iter 1/2" 20
has_color && fail "colour although NO_COLOR is set"
valid_layout 100 30 4
keys q
check_restored
T kill-server
start 100 30 LANG=C.UTF-8 -- env TERM=vt100 "$RB" tui -m s121.safetensors --depths 1,2 -n 4 # tmux sets TERM itself
wait_for "iter 1/2" 20
has_color && fail "colour on a vt100"
keys q
check_restored
T kill-server

# stderr into the log pane: a run whose newest checkpoint is broken
mkdir -p "$TMP/bad/step-00000001"
echo "not a safetensors file" >"$TMP/bad/step-00000001/model.safetensors"
echo "step-00000001" >"$TMP/bad/latest"
start 100 30 LANG=C.UTF-8 -- "$RB" tui --watch bad --reload
wait_for "could not load|model.safetensors: " 20
valid_layout 100 30 6 --title "Log"
keys BTab z # focus the log (before the loss pane), zoom it
wait_for "could not load" 5
wait_for "retrobench tui: .*model.safetensors: .*(truncated|not a)" 5 # the loader's own stderr line
keys q
check_restored
screen | grep -q "^retrobench tui: could not load" || fail "the error was not repeated on the terminal after exit"
T kill-server

# a plain model: one row, no trace
need_asset stories260K/stories260K.bin
start 100 30 LANG=C.UTF-8 -- "$RB" tui -m "$ASSETS/stories260K/stories260K.bin" --tokenizer "$ASSETS/stories260K/tok512.bin"
wait_for "every depth gives this answer" 20
wait_for "no recurrence to trace" 20
keys '?'
wait_for "Keys \(any key closes\)" 5
T resize-window -t tui -x 80 -y 24
sleep 0.5
for k in "next pane" "next iteration" "next token" "type a prompt" "pause / resume training" "save a checkpoint now"; do
    screen | grep -q "$k" || fail "the help at 80x24 lacks '$k'"
done
keys x q
check_restored
[ "$(exit_status)" = 0 ] || fail "exit status $(exit_status)"
echo "PASS"
