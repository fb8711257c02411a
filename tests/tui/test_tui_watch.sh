#!/usr/bin/env bash
# test_tui_watch.sh: `retrobench tui --watch RUN_DIR` follows a headless
# `retrobench train` as it writes (tmux):
#  - the six panes appear and tile the screen;
#  - the loss plot gains points while the run trains (its step count
#    grows, and the status pane's step with it), validation per depth
#    shows up in the legend, the run's total steps come from its
#    checkpoint, and the run ends "finished";
#  - r loads the newest checkpoint: answers at every depth appear;
#  - 80x24 and 200x60 keep a valid layout;
#  - SIGTERM leaves a restored terminal and exit status 143.
set -euo pipefail
source "$(dirname "$0")/tui_lib.sh"
need_tools
make_model
make_data

# one OpenMP thread: a tiny model gains nothing from two, and on a loaded
# machine spinning threads slow it down many times
export OMP_NUM_THREADS=1
STEPS=40
mkdir -p "$TMP/run"
start 100 30 LANG=C.UTF-8 OMP_NUM_THREADS=1 -- "$RB" tui --watch run --depths 1,2,4 -n 8
wait_for "waiting for .*metrics.jsonl" 10
"$RB" train -m "$TMP/s121.safetensors" --data "$TMP/ts.rbtok" --steps $STEPS --batch 2 --val-every 10 \
    --val-depths 1,4 --ckpt-every 10 --out "$TMP/run" --quiet 2>"$TMP/train.err" &
BG_PID=$!

steps_shown() { screen | sed -n 's/.*Loss  \([0-9]*\) steps.*/\1/p' | head -1; }
wait_for "Loss  [0-9]+ steps" 60
first=$(steps_shown)
valid_layout 100 30 6 --title "Loss" --title "Status" --title "Convergence" --title "Answers at depths" \
    --title "Accuracy" --title "Log"
# the plot gains points while the run writes
for i in $(seq 1 600); do
    now=$(steps_shown)
    [ -n "$now" ] && [ "$now" -gt "$first" ] && break
    sleep 0.1
done
[ "$now" -gt "$first" ] || fail "the loss plot stayed at $first steps while training ran"
echo "loss plot: $first steps, then $now"
# the status pane follows: its step reaches the plot's (it may have moved on)
status_step() { screen | sed -n 's/.*step \([0-9]*\)\(\/[0-9]*\)\? *phase.*/\1/p' | head -1; }
for i in $(seq 1 100); do
    st=$(status_step)
    [ -n "$st" ] && [ "$st" -ge "$now" ] && break
    sleep 0.1
done
[ -n "$st" ] && [ "$st" -ge "$now" ] || fail "the status pane's step (${st:-none}) never reached the plot's $now"
wait_for "val r=4" 60  # validation per depth
wait_for "newest step-000000[0-9][0-9]" 60
wait_for "step [0-9]+/$STEPS" 10 # total steps from the checkpoint's metadata

# load the newest checkpoint: answers at every depth
keys r
wait_for "loaded step-" 30
wait_for "r=4 " 30
wait_for "iter 1/4" 60

wait $BG_PID || fail "the training run failed: $(cat "$TMP/train.err")"
BG_PID=
wait_for "step $STEPS/$STEPS .*finished" 30
wait_for "Loss  $STEPS steps" 10

# after a resize, wait for a valid redrawn screen rather than a fixed time
T resize-window -t tui -x 80 -y 24
wait_valid_layout 80 24 6 --title "Loss" --title "Status"
T resize-window -t tui -x 200 -y 60
wait_valid_layout 200 60 6 --title "Loss" --title "sampled n+k"

# SIGTERM: restored terminal, status 143
shell=$(T display -p -t tui '#{pane_pid}')
pid=$(pgrep -P "$shell" -f "retrobench tui" | head -1)
[ -n "$pid" ] || fail "cannot find the workbench's process"
kill -TERM "$pid"
check_restored
[ "$(exit_status)" = 143 ] || fail "exit status $(exit_status) after SIGTERM"
echo "PASS"
