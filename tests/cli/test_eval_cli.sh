#!/usr/bin/env bash
# test_eval_cli.sh: `retrobench eval` through the command line, on the real
# stories260K (cut to (1,2,1) for depths) and GSM8K problems.
#  - an uninterrupted run writes one answer per (problem, depth), with the
#    fields the issue names, and summaries whose accuracy and standard error
#    recompute from the answers (sample std / sqrt(n));
#  - SIGINT exits 130; SIGKILL at a random moment; a torn last line: each
#    time the same command finishes the run, and the answers equal the
#    uninterrupted run's (greedy, batched = single: order does not matter);
#  - resuming with another batch size is allowed (same answers), with
#    other protocol settings refused naming the setting;
#  - a plain model with several depths is evaluated once, said so;
#  - bad inputs: one line naming the file / field, non-zero status.
# usage: test_eval_cli.sh RETROBENCH
set -u
rb="$1"
assets="${RB_ASSETS_DIR:-${RB_SOURCE_DIR:?}/../shared/assets}"
bin="$assets/stories260K/stories260K.bin"
tok="$assets/stories260K/tok512.bin"
gsm="$assets/gsm8k/train.jsonl"
for f in "$bin" "$tok" "$gsm"; do
  [ -e "$f" ] || { echo "SKIP: needs $f, which is absent"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
export OMP_NUM_THREADS=1
t0=$(date +%s)

"$rb" surgery -m "$bin" --tokenizer "$tok" --prc 1,2,1 -o "$tmp/s.safetensors" 2>/dev/null || fail "surgery"
common=(-m "$tmp/s.safetensors" --data "$gsm" --limit 24 --depths 1,2 --max-length 512 --max-new 48 --quiet)
sorted() { python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
rows.sort(key=lambda r: (r["id"], r["depth"]))
for r in rows: print(json.dumps(r, sort_keys=True))' "$1"; }

# 1. reference
"$rb" eval "${common[@]}" --batch 8 -o "$tmp/ref" > "$tmp/ref.out" 2>"$tmp/ref.err" || fail "reference run: $(cat "$tmp/ref.err")"
n=$(wc -l < "$tmp/ref/answers.jsonl")
[ "$n" -eq 48 ] || fail "reference: $n answers, want 24 problems x 2 depths = 48"
python3 - "$tmp/ref" <<'EOF' || fail "answers / summary check"
import json, math, sys, csv
d = sys.argv[1]
rows = [json.loads(l) for l in open(d + "/answers.jsonl")]
need = {"id", "depth", "prompt", "completion", "extracted", "gold", "correct"}
assert all(need <= set(r) for r in rows), "missing fields"
assert len({(r["id"], r["depth"]) for r in rows}) == len(rows), "duplicate answers"
assert all(r["prompt"].endswith("A: Let's think step by step.") for r in rows)
s = json.load(open(d + "/summary.json"))
for res in s["results"]:
    sc = [1.0 if r["correct"]["flexible-extract"] else 0.0 for r in rows if r["depth"] == res["depth"]]
    n = len(sc); m = sum(sc) / n
    se = math.sqrt(sum((x - m) ** 2 for x in sc) / (n - 1)) / math.sqrt(n)
    assert res["n"] == n and abs(res["flexible-extract"]["accuracy"] - m) < 1e-12, res
    assert abs(res["flexible-extract"]["stderr"] - se) < 1e-9, (res, se)
rows_csv = list(csv.DictReader(open(d + "/summary.csv")))
assert len(rows_csv) == 2 * len(s["results"]), "csv rows"
EOF
grep -q "flexible-extract" "$tmp/ref.out" || fail "no table on stdout"

# 2. SIGINT, then the same command again
"$rb" eval "${common[@]}" --batch 8 -o "$tmp/int" >/dev/null 2>"$tmp/int.err" &
pid=$!
for _ in $(seq 1 400); do
  [ -s "$tmp/int/answers.jsonl" ] && [ "$(wc -l < "$tmp/int/answers.jsonl")" -ge 3 ] && break
  sleep 0.02
done
kill -INT $pid
wait $pid
rc=$?
if [ $rc -eq 0 ]; then
  echo "note: the run finished before SIGINT arrived"
elif [ $rc -ne 130 ]; then
  fail "SIGINT exit status $rc (want 130): $(cat "$tmp/int.err")"
fi
"$rb" eval "${common[@]}" --batch 3 -o "$tmp/int" >/dev/null 2>"$tmp/int2.err" || fail "resume after SIGINT: $(cat "$tmp/int2.err")"
diff <(sorted "$tmp/ref/answers.jsonl") <(sorted "$tmp/int/answers.jsonl") >/dev/null \
  && echo "ok: SIGINT (status $rc), resumed with batch 3: the 48 answers equal the uninterrupted run's" \
  || fail "answers after SIGINT + resume differ"

# 3. SIGKILL at a random moment, then a torn last line
"$rb" eval "${common[@]}" --batch 4 -o "$tmp/kill" >/dev/null 2>&1 &
pid=$!
sleep 0.$((RANDOM % 9 + 1))
kill -KILL $pid 2>/dev/null
wait $pid 2>/dev/null
printf '{"id": 3, "depth": 1, "prompt": "Q: trunc' >> "$tmp/kill/answers.jsonl"
"$rb" eval "${common[@]}" --batch 8 -o "$tmp/kill" >/dev/null 2>"$tmp/kill.err" || fail "resume after SIGKILL: $(cat "$tmp/kill.err")"
grep -q "torn last line" "$tmp/kill.err" || fail "the torn line was not reported"
diff <(sorted "$tmp/ref/answers.jsonl") <(sorted "$tmp/kill/answers.jsonl") >/dev/null \
  && echo "ok: SIGKILL + torn last line, resumed: the answers equal the uninterrupted run's" \
  || fail "answers after SIGKILL + resume differ"
# a finished run has nothing left to do
"$rb" eval "${common[@]}" -o "$tmp/kill" >/dev/null 2>"$tmp/again.err" || fail "rerun of a finished eval"
[ "$(wc -l < "$tmp/kill/answers.jsonl")" -eq 48 ] || fail "a rerun added answers"

# 4. other settings are refused, naming the setting
"$rb" eval "${common[@]}" --shots 2 -o "$tmp/ref" >/dev/null 2>"$tmp/shots.err"
rc=$?
[ $rc -eq 2 ] && grep -q "shots" "$tmp/shots.err" || fail "settings mismatch: status $rc, $(cat "$tmp/shots.err")"

# 5. a plain model: depth does not apply
"$rb" eval -m "$bin" --tokenizer "$tok" --data "$gsm" --limit 2 --depths 1,4 --max-length 512 --max-new 8 \
  --quiet -o "$tmp/plain" >/dev/null 2>"$tmp/plain.err" || fail "plain model: $(cat "$tmp/plain.err")"
grep -q "not recurrent" "$tmp/plain.err" || fail "no notice for depths on a plain model"
[ "$(wc -l < "$tmp/plain/answers.jsonl")" -eq 2 ] || fail "plain model: want 2 answers (depth 1 only)"

# 6. bad inputs
printf '{"question": "x"}\n' > "$tmp/bad.jsonl"
"$rb" eval -m "$bin" --tokenizer "$tok" --data "$tmp/bad.jsonl" -o "$tmp/bad" >/dev/null 2>"$tmp/bad.err"
rc=$?
[ $rc -ne 0 ] && grep -q 'answer' "$tmp/bad.err" && [ "$(wc -l < "$tmp/bad.err")" -eq 1 ] \
  || fail "missing field: status $rc, $(cat "$tmp/bad.err")"
"$rb" eval -m "$bin" --tokenizer "$tok" --data "$gsm" --flex-regex '([0-9' -o "$tmp/bad2" >/dev/null 2>"$tmp/bad2.err"
[ $? -ne 0 ] && grep -q 'POSIX' "$tmp/bad2.err" || fail "bad regex: $(cat "$tmp/bad2.err")"
"$rb" eval -m "$bin" --tokenizer "$tok" --data "$gsm" --depths 1,x -o "$tmp/bad3" >/dev/null 2>"$tmp/bad3.err"
[ $? -eq 2 ] && grep -q 'depths' "$tmp/bad3.err" || fail "bad depths: $(cat "$tmp/bad3.err")"
"$rb" eval -m "$bin" --tokenizer "$tok" --data "$gsm" --max-length 4096 -o "$tmp/bad4" >/dev/null 2>"$tmp/bad4.err"
[ $? -ne 0 ] && grep -q 'max-length' "$tmp/bad4.err" || fail "context too long: $(cat "$tmp/bad4.err")"

echo "eval cli: $(( $(date +%s) - t0 )) s"
if [ $fails -eq 0 ]; then echo "all eval CLI checks passed"; exit 0; fi
echo "$fails check(s) failed"
exit 1
