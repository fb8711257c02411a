#!/usr/bin/env bash
# test_lua_safety.sh: `retrobench run` as a user expects an embedded
# language to behave:
#  - the curated environment (no io, os.execute, string.dump, package,
#    debug.sethook, binary chunks; require only finds the script's folder
#    and scripts/);
#  - a runaway loop (also one that catches errors with pcall) is stopped by
#    SIGINT (exit 130) and by the instruction and time budgets (exit 1),
#    each message naming file:line;
#  - a training run stopped by SIGINT or a budget saves a checkpoint that
#    loads, and a resume ends byte-identical to an uninterrupted run;
#  - an error in a training callback exits 1 naming the callback's line,
#    and the last checkpoint loads;
#  - syntax errors, missing scripts and engine errors are one message with
#    file:line; the command line's mistakes exit 2;
#  - files written by rb.write_json are never half-written (SIGKILL).
# usage: test_lua_safety.sh RETROBENCH
set -u
rb="$1"
src="${RB_SOURCE_DIR:?}"
assets="${RB_ASSETS_DIR:-$src/../shared/assets}"
bin="$assets/stories260K/stories260K.bin"
tok="$assets/stories260K/tok512.bin"
text="$assets/tinystories/tinystories_sample.txt"
for f in "$bin" "$tok" "$text"; do
  [ -e "$f" ] || { echo "SKIP: needs $f, which is absent"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
export OMP_NUM_THREADS=1
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
# expect STATUS PATTERN NAME -- command...: exit status and a stderr line
expect() {
  local want="$1" pat="$2" name="$3" rc; shift 4
  "$@" > "$tmp/out" 2> "$tmp/err"
  rc=$?
  if [ "$rc" != "$want" ]; then fail "$name: exit $rc, want $want: $(head -3 "$tmp/err")"; return; fi
  if [ -n "$pat" ] && ! grep -qE -- "$pat" "$tmp/err"; then fail "$name: stderr lacks /$pat/: $(head -3 "$tmp/err")"; return; fi
  ok "$name (exit $rc)"
}
# run_bg SCRIPT ARGS...: start a script in the background (pid in $bg)
run_bg() { "$rb" run "$@" > "$tmp/out" 2> "$tmp/err" & bg=$!; }

# 1. the environment
mkdir -p lib
cat > lib/helper.lua <<'L'
return {twice = function(x) return 2 * x end}
L
cat > env.lua <<'L'
local rb = require "retrobench"
local h = require "lib.helper"
assert(h.twice(21) == 42)
for _, name in ipairs{"io", "package", "dofile", "loadfile"} do assert(_G[name] == nil, name .. " is available") end
assert(os.execute == nil and os.exit == nil and os.remove == nil and os.rename == nil and os.tmpname == nil)
assert(os.setlocale == nil and os.clock and os.time and os.date and os.getenv)
assert(string.dump == nil and ("x").dump == nil)
assert(debug.sethook == nil and debug.getinfo == nil and debug.traceback)
assert(not pcall(load, "return 1", "x", "b"))
assert(load("return 1 + 1")() == 2)
assert(not pcall(require, "../lib/helper") and not pcall(require, "/etc/passwd"))
assert(not pcall(collectgarbage, "stop"))
assert(select("#", ...) == 2 and arg[1] == "k=v" and arg.k == "v" and arg.flag == true and rb.args.k == "v")
print("environment ok")
L
expect 0 "" "environment: curated, require from the script's folder" -- "$rb" run env.lua -- k=v flag
grep -q "environment ok" "$tmp/out" || fail "environment: script output missing"

# 2. a runaway loop
printf 'local n = 0\nwhile true do n = n + 1 end\n' > loop.lua
printf 'while true do\n  pcall(function() while true do end end)\nend\n' > sneaky.lua
expect 1 "^retrobench run: loop.lua:2: stopped: the instruction budget of 5000000 Lua instructions ran out" \
  "loop: instruction budget" -- "$rb" run --budget-instructions 5000000 loop.lua
expect 1 "^retrobench run: loop.lua:2: stopped: the time budget of 0.5 s ran out" "loop: time budget" -- \
  "$rb" run --budget-seconds 0.5 loop.lua
expect 1 "sneaky.lua:[0-9]+: stopped: the time budget" "loop inside pcall: time budget" -- \
  "$rb" run --budget-seconds 0.5 sneaky.lua
for s in loop sneaky; do
  run_bg $s.lua
  sleep 0.4
  kill -INT $bg
  wait $bg
  rc=$?
  if [ $rc -ne 130 ]; then fail "$s: SIGINT exit $rc, want 130"
  elif ! grep -qE "^retrobench run: $s.lua:[0-9]+: interrupted by SIGINT" "$tmp/err"; then fail "$s: SIGINT message: $(head -2 "$tmp/err")"
  else ok "$s: SIGINT stops it (exit 130, $(head -1 "$tmp/err" | cut -c1-60)...)"; fi
done
run_bg loop.lua
sleep 0.3
kill -TERM $bg
wait $bg
[ $? -eq 143 ] && ok "loop: SIGTERM (exit 143)" || fail "loop: SIGTERM exit status"

# 3. training stopped by a signal or a budget resumes byte-identical
"$rb" data -m "$tok" --text "$text" --seq 32 -o d.rbtok 2>/dev/null || fail "data"
"$rb" surgery -m "$bin" --tokenizer "$tok" --prc 1,2,1 -o s.safetensors 2>/dev/null || fail "surgery"
cat > train.lua <<'L'
local rb = require "retrobench"
rb.train{model = rb.load("s.safetensors"), data = "d.rbtok", steps = tonumber(arg.steps), batch = 2, out = arg.out,
         val_depths = {1, 2}, val_fraction = 0.1, ckpt_every = 40, resume = arg.resume == "1", quiet = true}
L
"$rb" run train.lua -- steps=160 out=ref 2>/dev/null || fail "uninterrupted training"
run_bg train.lua -- steps=160 out=int
for _ in $(seq 1 200); do [ -s int/metrics.jsonl ] && [ "$(grep -c step int/metrics.jsonl)" -ge 20 ] && break; sleep 0.02; done
kill -INT $bg
wait $bg
rc=$?
[ $rc -eq 130 ] || fail "training: SIGINT exit $rc (want 130): $(head -2 "$tmp/err")"
grep -qE "train.lua:2: interrupted by SIGINT during rb.train; the run in int is saved at phase 1 step [0-9]+" "$tmp/err" ||
  fail "training: SIGINT message: $(head -1 "$tmp/err")"
"$rb" info -m "int/$(cat int/latest)/model.safetensors" > /dev/null 2>&1 || fail "training: the checkpoint after SIGINT does not load"
expect 1 "train.lua:2: stopped: the time budget of 0.3 s ran out during rb.train; the run in bud is saved" \
  "training: time budget" -- "$rb" run --budget-seconds 0.3 train.lua -- steps=160 out=bud
"$rb" info -m "bud/$(cat bud/latest)/model.safetensors" > /dev/null 2>&1 || fail "training: the checkpoint after the budget does not load"
for d in int bud; do
  "$rb" run train.lua -- steps=160 out=$d resume=1 2>/dev/null || fail "resume $d"
done
clockless() { sed -E 's/,"tokens_per_s":[0-9.e+-]+//; s/,"time":[0-9.e+-]+//' "$1"; }
for d in int bud; do
  if diff <(clockless ref/metrics.jsonl) <(clockless $d/metrics.jsonl) > /dev/null &&
     cmp -s ref/step-00000160/model.safetensors $d/step-00000160/model.safetensors &&
     cmp -s ref/step-00000160/optim.safetensors $d/step-00000160/optim.safetensors; then
    ok "training stopped ($d) and resumed: metrics and final checkpoint byte-identical to the uninterrupted run"
  else
    fail "training stopped ($d) and resumed differs from the uninterrupted run"
  fi
done

# 4. an error in a training callback
cat > cb.lua <<'L'
local rb = require "retrobench"
rb.train{model = rb.load("s.safetensors"), data = "d.rbtok", steps = 30, batch = 2, out = "cb", ckpt_every = 4,
         quiet = true,
         on_step = function(m)
           if m.step == 10 then error("loss looks wrong at step " .. m.step) end
         end}
L
expect 1 "^retrobench run: cb.lua:2: rb.train: the on_step callback failed, so training stopped \(the last checkpoint in cb is intact\): cb.lua:5: loss looks wrong at step 10" \
  "callback error names its line" -- "$rb" run cb.lua
[ "$(cat cb/latest)" = step-00000008 ] || fail "callback error: latest is $(cat cb/latest), want step-00000008"
"$rb" info -m cb/step-00000008/model.safetensors > /dev/null 2>&1 && ok "callback error: the last checkpoint loads" ||
  fail "callback error: the last checkpoint does not load"
"$rb" train -m s.safetensors --data d.rbtok --steps 30 --batch 2 --out cb --ckpt-every 4 --resume --quiet 2>/dev/null &&
  ok "callback error: the run resumes from it" || fail "callback error: resume failed"

# 5. errors that are not the script's logic
printf 'local x = = 1\n' > syntax.lua
expect 1 "^retrobench run: syntax.lua:1: unexpected symbol" "syntax error" -- "$rb" run syntax.lua
expect 1 "^retrobench run: nowhere.lua: no such file" "missing script" -- "$rb" run nowhere.lua
printf 'local rb = require "retrobench"\nlocal m = rb.load("s.safetensors")\nrb.load("empty.gguf")\n' > engine.lua
: > empty.gguf
expect 1 "^retrobench run: engine.lua:3: rb.load: .*empty" "engine error" -- "$rb" run engine.lua
printf 'return {f = function() local t = nil; return t.x end}\n' > lib/bad.lua
printf 'require("lib.bad").f()\n' > mod.lua
expect 1 "^retrobench run: lib/bad.lua:1: attempt to index a nil value" "error in a module" -- "$rb" run mod.lua
expect 2 "unknown option '--budget'" "unknown option" -- "$rb" run --budget 5 loop.lua
expect 2 "give the script" "no script" -- "$rb" run
expect 2 "expects a number" "bad budget" -- "$rb" run --budget-seconds x loop.lua

# 6. files are whole or absent
cat > writer.lua <<'L'
local rb = require "retrobench"
local rows = {}
for i = 1, 20000 do rows[i] = {i = i, text = ("row %d of a large table"):format(i)} end
local n = 0
while true do
  n = n + 1
  rows[1].n = n
  rb.write_json("big.json", rows)
end
L
run_bg writer.lua
for _ in $(seq 1 500); do [ -e big.json ] && break; sleep 0.02; done
good=0
for i in 1 2 3 4 5; do
  sleep 0.$((RANDOM % 5 + 2))
  kill -STOP $bg
  if /usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1]))' big.json 2>/dev/null; then good=$((good + 1)); fi
  kill -CONT $bg
done
kill -KILL $bg
wait $bg 2>/dev/null
/usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1]))' big.json 2>/dev/null && good=$((good + 1))
[ $good -eq 6 ] && ok "rb.write_json: big.json parses at 5 random moments and after SIGKILL" ||
  fail "rb.write_json: big.json was half-written ($good of 6 parsed)"

echo "test_lua_safety: $fails failure(s)"
[ $fails -eq 0 ]
