#!/usr/bin/env bash
# test_tui_experiment.sh: `retrobench tui EXP.lua` runs a Lua experiment
# (tests/tui/exp_tiny.lua: stories260K cut to (1,2,1), trained on a
# TinyStories sample) on the workbench's worker thread (tmux):
#  - the six panes appear and tile the screen; the loss plot gains points
#    while it trains; validation per depth; the script's prompt answered
#    at every depth on the live model;
#  - Space pauses (the step counter stops) and resumes (it moves again);
#  - s while paused writes a checkpoint at that step that loads, and stays
#    paused;
#  - the Lua line (:) runs against the live state, its print in the log,
#    and a control request made while paused reaches the run;
#  - q during training leaves a restored terminal and a loadable newest
#    checkpoint past the paused step; SIGTERM too, with status 143;
#  - a script error shows its traceback in the log pane, the accuracy pane
#    shows the script's rb.eval, and q leaves a restored terminal, status 1;
#  - `retrobench` with no arguments opens scripts/default.lua in the
#    workbench on a terminal, runs it headless otherwise, and names the
#    file when it is missing.
set -euo pipefail
source "$(dirname "$0")/tui_lib.sh"
need_tools
need_asset stories260K/stories260K.bin
need_asset stories260K/tok512.bin
need_asset tinystories/tinystories_sample.txt
export OMP_NUM_THREADS=1 # a tiny model gains nothing from two threads on a loaded machine
EXP=$HERE/exp_tiny.lua
ARGS=(base="$ASSETS/stories260K/stories260K.bin" tok="$ASSETS/stories260K/tok512.bin"
      text="$ASSETS/tinystories/tinystories_sample.txt")

status_step() { screen | sed -n 's/.*step \([0-9]*\)\/[0-9]* *phase.*/\1/p' | head -1; }
steps_shown() { screen | sed -n 's/.*Loss  \([0-9]*\) steps.*/\1/p' | head -1; }
# wait_step_above N SECONDS: until the status pane's step passes N
wait_step_above() {
    local n=$1 limit=$2 i=0 s
    while [ $((i += 1)) -le $((limit * 10)) ]; do
        s=$(status_step)
        [ -n "$s" ] && [ "$s" -gt "$n" ] && return 0
        sleep 0.1
    done
    fail "the status step stayed at ${s:-nothing} (not past $n) for ${limit}s"
}
loads() { "$RB" generate -m "$1/model.safetensors" -p "Once" -n 3 >/dev/null 2>&1 || fail "$1 does not load"; }

# ---- a long run: panes, curves, pause, save now, Lua line, quit ----
start 120 40 LANG=C.UTF-8 OMP_NUM_THREADS=1 -- "$RB" tui "$EXP" -- "${ARGS[@]}" steps=100000 out=run
wait_for "Loss  [0-9]+ steps" 60
valid_layout 120 40 6 --title "Loss" --title "Status" --title "Convergence" --title "Answers at depths" \
    --title "Accuracy" --title "Log"
first=$(steps_shown)
for i in $(seq 1 300); do # the plot gains points while the script trains
    now=$(steps_shown)
    [ -n "$now" ] && [ "$now" -gt "$first" ] && break
    sleep 0.1
done
[ "$now" -gt "$first" ] || fail "the loss plot stayed at $first steps while training ran"
echo "loss plot: $first steps, then $now"
wait_for "val r=1 val r=4" 5 # the legend: validation per depth
wait_for "prompt Once upon a time +expect the" 10
wait_for "r=4 +[✓✗]" 60 # the prompt answered on the model being trained

keys Space
wait_for "step [0-9]+/100000 +phase 1 +paused" 10
p1=$(status_step)
sleep 1.5
p2=$(status_step)
[ "$p1" = "$p2" ] || fail "paused at step $p1, yet the step moved to $p2"
echo "paused at step $p1"

keys s
ck=$(printf 'step-%08d' "$p1")
wait_for "checkpoint run/$ck" 20
wait_for "still paused" 5
[ -f "$TMP/run/$ck/model.safetensors" ] || fail "save now wrote no $ck"
loads "$TMP/run/$ck"
[ "$(status_step)" = "$p1" ] || fail "the save let training go on past step $p1"

keys : 'print("lua says " .. 6 * 7 .. ", lr scale " .. (require "retrobench").training():lr_scale())' Enter
wait_for "lua says 42, lr scale 1" 10
# a control request made while held after the save reaches the next step
keys : '(require "retrobench").training():set_lr_scale(0.5)' Enter

keys Space
wait_for "training resumed" 5
wait_step_above "$p1" 30
echo "resumed: step $(status_step)"
keys : 'print("now lr scale " .. (require "retrobench").training():lr_scale())' Enter
wait_for "now lr scale 0.5" 10

keys q
check_restored
[ "$(exit_status)" = 0 ] || fail "exit status $(exit_status) after q"
screen | grep -q "stopped on request during rb.train; the run in run is saved" || fail "no word of the saved run"
last=$(ls -d "$TMP"/run/step-* | sort | tail -1)
[ "$(basename "$last")" \> "$ck" ] || fail "q saved no checkpoint after $ck (newest: $last)"
loads "$last"
echo "quit saved $(basename "$last")"

# ---- SIGTERM during training: restored terminal, 143, a loadable checkpoint ----
start 120 40 LANG=C.UTF-8 OMP_NUM_THREADS=1 -- "$RB" tui "$EXP" -- "${ARGS[@]}" steps=100000 out=run3
wait_for "Loss  [0-9]+ steps" 60
wait_step_above 2 30
shell=$(T display -p -t tui '#{pane_pid}')
pid=$(pgrep -P "$shell" -f "retrobench tui" | head -1)
[ -n "$pid" ] || fail "cannot find the workbench's process"
kill -TERM "$pid"
check_restored
[ "$(exit_status)" = 143 ] || fail "exit status $(exit_status) after SIGTERM"
last=$(ls -d "$TMP"/run3/step-* 2>/dev/null | sort | tail -1)
[ -n "$last" ] || fail "SIGTERM during training left no checkpoint"
loads "$last"
echo "SIGTERM saved $(basename "$last")"

# ---- a script error: traceback in the log pane; rb.eval in the accuracy pane ----
start 120 40 LANG=C.UTF-8 OMP_NUM_THREADS=1 -- "$RB" tui "$EXP" -- "${ARGS[@]}" steps=20 out=run2 fail=1
wait_for "exp_tiny.lua:[0-9]+: the planned failure of" 60
wait_for "in local 'deeper'" 5
wait_for "accuracy vs depth" 5
screen | grep -q "no evaluation yet" && fail "the accuracy pane missed the script's rb.eval"
keys q
check_restored
[ "$(exit_status)" = 1 ] || fail "exit status $(exit_status) after a script error"
screen | grep -q "retrobench tui: .*the planned failure" || fail "the error was not printed after exit"

# ---- no arguments: scripts/default.lua ----
mkdir -p "$TMP/scripts"
cat >"$TMP/scripts/default.lua" <<'LUA'
print("the default experiment ran")
LUA
out=$(cd "$TMP" && RB_SCRIPTS_DIR="$TMP/scripts" "$RB" </dev/null) || fail "headless no-arg run failed"
[ "$out" = "the default experiment ran" ] || fail "headless no-arg run printed '$out'"
set +e
err=$(cd "$TMP" && RB_SCRIPTS_DIR="$TMP/none" "$RB" </dev/null 2>&1)
st=$?
set -e
[ $st = 1 ] || fail "a missing default.lua gave status $st"
echo "$err" | grep -q "$TMP/none/default.lua" || fail "the message does not name the file: $err"
start 100 30 LANG=C.UTF-8 RB_SCRIPTS_DIR="$TMP/scripts" -- "$RB"
wait_for "the default experiment ran" 20
wait_for "default.lua finished" 5
keys q
check_restored
echo "PASS"
