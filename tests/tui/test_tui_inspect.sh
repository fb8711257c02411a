#!/usr/bin/env bash
# test_tui_inspect.sh: `retrobench tui -m MODEL` in a real terminal (tmux),
# on stories260K cut to (1,2,1):
#  - the panes appear and tile the screen;
#  - the convergence pane shows the selected token's iteration, and its
#    numbers are `retrobench trace`'s for the same prompt, depth and seed;
#    Right steps to the next iteration and its (different) numbers;
#  - a typed prompt gets answers at every depth, each what
#    `retrobench generate -r DEPTH` prints for it;
#  - 80x24 and 200x60 keep a valid layout, 79x23 says "too small";
#  - q leaves a restored terminal and exit status 0.
set -euo pipefail
source "$(dirname "$0")/tui_lib.sh"
need_tools
make_model

# seed 2: every path draws s_0 of position p from (seed, p), so the trace
# takes the same seed
SEED=2
TRACE_SEED=$SEED
PROMPT="Once upon a time"
start 100 30 LANG=C.UTF-8 -- "$RB" tui -m s121.safetensors -p "$PROMPT" --depths 1,2,4,8 --seed $SEED -n 16
wait_for "iter 1/8" 20
valid_layout 100 30 4 --title "Answers at depths" --title "Convergence" --title "Status" --title "Log"
screen | grep -q "r=8" || fail "no r=8 answer row"

# the numbers at iterations 1..3 against retrobench trace
"$RB" trace -m "$TMP/s121.safetensors" -p "$PROMPT" -r 8 --seed $TRACE_SEED >"$TMP/trace.txt" 2>/dev/null ||
    fail "retrobench trace failed"
check_iter() { # ITER: the pane's "rel X  KL Y" and top token against the trace's row ITER
    local it=$1
    wait_for "iter $it/8" 10
    screen >"$TMP/scr.txt"
    python3 - "$TMP/scr.txt" "$TMP/trace.txt" "$it" <<'EOF' || fail "iteration $it differs from retrobench trace"
import re, sys
scr = open(sys.argv[1], encoding="utf-8").read()
it = int(sys.argv[3])
rows = {}
for line in open(sys.argv[2], encoding="utf-8"):
    m = re.match(r"\s+(\d+)\s+([\d.]+)\s+(\S+)\s+(\d+)\s+\"(.*)\" p=([\d.]+)", line)
    if m and int(m.group(1)) not in rows:   # the first block: the token after the prompt
        rows[int(m.group(1))] = m.groups()
_, rel, kl, tok_id, piece, p = rows[it]
m = re.search(r"rel (\S+)  KL (\S+)", scr)
if not m:
    sys.exit("no rel/KL on the screen")
def close(shown, ref):
    return abs(float(shown) - float(ref)) <= 0.006 * abs(float(ref)) + 1e-12
if not close(m.group(1), rel):
    sys.exit(f"rel {m.group(1)} on screen, {rel} from trace")
if kl == "-":
    if m.group(2) != "-":
        sys.exit(f"KL {m.group(2)} on screen, none from trace")
elif not close(m.group(2), kl):
    sys.exit(f"KL {m.group(2)} on screen, {kl} from trace")
if f"'{piece}'" not in scr:
    sys.exit(f"top token '{piece}' not on screen")
print(f"iteration {it}: rel {m.group(1)} KL {m.group(2)} top '{piece}' = trace")
EOF
}
check_iter 1
keys Right
check_iter 2
keys Right
check_iter 3
rel3=$(screen | grep -o "rel [0-9][^ ]*" | head -1)
keys Left
wait_for "iter 2/8" 10
[ "$(screen | grep -o "rel [0-9][^ ]*" | head -1)" != "$rel3" ] || fail "stepping back did not change the numbers"

# a typed prompt: answers at every depth, as retrobench generate gives them
NEW="Lily went to the"
keys p C-u "$NEW" Enter
wait_for "prompt $NEW" 10
wait_for "iter 1/8" 30
screen >"$TMP/scr.txt"
for r in 1 2 4 8; do
    "$RB" generate -m "$TMP/s121.safetensors" -p "$NEW" -n 16 -r $r --seed $SEED 2>/dev/null >"$TMP/gen$r.txt" ||
        fail "retrobench generate failed"
done
python3 - "$TMP/scr.txt" "$NEW" "$TMP" <<'EOF' || fail "answers differ from retrobench generate"
import re, sys
scr, prompt, tmp = open(sys.argv[1], encoding="utf-8").read(), sys.argv[2], sys.argv[3]
for r in (1, 2, 4, 8):
    m = re.search(r"│r=%-3d (.) (.*?)\s*│" % r, scr)  # label, verdict mark, text
    if not m:
        sys.exit(f"no r={r} row")
    shown = m.group(2).rstrip("…").replace("↵", "\n")
    want = open(f"{tmp}/gen{r}.txt", encoding="utf-8").read()[len(prompt):].rstrip("\n")
    if not shown.strip() or not want.startswith(shown.rstrip()):
        sys.exit(f"r={r}: screen {shown!r}, generate {want!r}")
    print(f"r={r}: {shown.strip()!r} = generate")
EOF

# resizing keeps a valid layout; below the minimum it says so
T resize-window -t tui -x 80 -y 24
sleep 0.5
wait_for "iter 1/8" 10
valid_layout 80 24 4 --title "Answers at depths"
T resize-window -t tui -x 200 -y 60
sleep 0.5
valid_layout 200 60 4 --title "Convergence"
T resize-window -t tui -x 79 -y 23
wait_for "terminal too small: 79 x 23" 10
T resize-window -t tui -x 100 -y 30
wait_for "Answers at depths" 10

# q: the terminal comes back, status 0
keys q
check_restored
[ "$(exit_status)" = 0 ] || fail "exit status $(exit_status) after q"
echo "PASS"
