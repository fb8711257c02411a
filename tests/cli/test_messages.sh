#!/usr/bin/env bash
# test_messages.sh: what a user meets when something is wrong (issue 8,
# item 6), and the exit-status convention of docs/cli.md:
#   0 done; 1 an input (file, prompt) is wrong or the work failed;
#   2 the command line itself is wrong; 130/143 interrupted.
#  - empty and truncated model files are called that; a folder given where a
#    file is expected says so; a tokenizer given as -m says to pass it with
#    --tokenizer;
#  - a prompt longer than the context is one line without a negative count;
#    invalid UTF-8 in a prompt is called that (generate, trace, tokenize);
#  - an empty --depths list is a usage error;
#  - prompts come from a file or stdin (--prompt-file F, --prompt-file -);
#  - --version prints the version; loss shows progress on stderr;
#  - the same mistake gives the same exit status and one line in every
#    command.
# usage: test_messages.sh RETROBENCH
set -u
rb="$1"
src="${RB_SOURCE_DIR:?}"
assets="${RB_ASSETS_DIR:-$src/../shared/assets}"
bin="$assets/stories260K/stories260K.bin"
tok="$assets/stories260K/tok512.bin"
gguf="$assets/stories260K-gguf/stories260K.gguf"
hf="$assets/stories260K-hf"
sample="$assets/tinystories/tinystories_sample.txt"
llama_json="$assets/tokenizers/llama2/tokenizer.json"
for f in "$bin" "$tok" "$gguf" "$hf/config.json" "$sample" "$llama_json"; do
  [ -e "$f" ] || { echo "SKIP: needs $f, which is absent"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
pass() { echo "ok: $*"; }
export OMP_NUM_THREADS=1

# expect STATUS WORD NAME -- command...: exit status STATUS, exactly one
# line on stderr, containing WORD (case-insensitive; "" for any).
expect() {
  local want="$1" word="$2" name="$3"; shift 4
  "$@" > "$tmp/out" 2> "$tmp/err" < /dev/null
  local rc=$? lines
  lines=$(wc -l < "$tmp/err")
  if [ $rc -ne "$want" ]; then fail "$name: exit status $rc, want $want: $(head -c 300 "$tmp/err")"
  elif [ "$lines" -ne 1 ]; then fail "$name: $lines lines on stderr: $(head -c 400 "$tmp/err")"
  elif [ -n "$word" ] && ! grep -qiF -- "$word" "$tmp/err"; then fail "$name: message lacks '$word': $(cat "$tmp/err")"
  else pass "$name: $(cat "$tmp/err")"; fi
}

"$rb" data -m "$tok" --text "$sample" --separator "<|endoftext|>" --seq 32 -o "$tmp/d.rbtok" 2>/dev/null
"$rb" surgery -m "$bin" --tokenizer "$tok" --prc 1,2,1 -o "$tmp/s.safetensors" 2>/dev/null

# --- empty and truncated model files
for ext in gguf bin safetensors model; do
  : > "$tmp/zero.$ext"
  expect 1 "empty" "empty .$ext file" -- "$rb" info -m "$tmp/zero.$ext"
done
head -c $(( $(stat -c %s "$gguf") / 3 )) "$gguf" > "$tmp/cut.gguf"
head -c $(( $(stat -c %s "$bin") / 2 )) "$bin" > "$tmp/cut.bin"
head -c $(( $(stat -c %s "$tmp/s.safetensors") / 2 )) "$tmp/s.safetensors" > "$tmp/cut.safetensors"
head -c 10 "$gguf" > "$tmp/stub.gguf"
for f in cut.gguf cut.bin cut.safetensors stub.gguf; do
  expect 1 "truncated" "truncated $f" -- "$rb" info -m "$tmp/$f"
done

# --- a folder where a file is expected
mkdir -p "$tmp/adir"
expect 1 "folder" "--tokenizer FOLDER" -- "$rb" generate -m "$bin" --tokenizer "$tmp/adir" -p hi
expect 1 "folder" "loss --data FOLDER" -- "$rb" loss -m "$bin" --data "$tmp/adir"
expect 1 "folder" "data --text FOLDER" -- "$rb" data -m "$tok" --text "$tmp/adir" --seq 8 -o "$tmp/x.rbtok"
expect 1 "folder" "--prompt-file FOLDER" -- "$rb" generate -m "$bin" --prompt-file "$tmp/adir"
expect 1 "folder" "-m FOLDER without config.json" -- "$rb" info -m "$tmp/adir"

# --- a tokenizer given as the model
expect 1 "--tokenizer" "tokenizer.bin as -m" -- "$rb" generate -m "$tok" -p hi
expect 1 "--tokenizer" "tokenizer.json as -m" -- "$rb" info -m "$llama_json"

# --- prompts
long=$(python3 -c 'print("Once upon a time " * 200)')
for cmd in generate trace; do
  m="$bin"; [ $cmd = trace ] && m="$tmp/s.safetensors"
  expect 1 "context" "$cmd: prompt longer than the context" -- "$rb" $cmd -m "$m" -p "$long"
  grep -qE -- '-[0-9]' "$tmp/err" && fail "$cmd: a negative number in the message: $(cat "$tmp/err")"
  expect 1 "UTF-8" "$cmd: invalid UTF-8 prompt" -- "$rb" $cmd -m "$m" -p $'bad \xff\xfe text'
done
expect 1 "UTF-8" "tokenize: invalid UTF-8" -- "$rb" tokenize -m "$tok" $'\xc3\x28'
printf 'Once upon a time' > "$tmp/prompt.txt"
a=$("$rb" generate -m "$bin" -p "Once upon a time" -n 16 2>/dev/null)
b=$("$rb" generate -m "$bin" --prompt-file "$tmp/prompt.txt" -n 16 2>/dev/null)
c=$("$rb" generate -m "$bin" --prompt-file - -n 16 < "$tmp/prompt.txt" 2>/dev/null)
[ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" = "$c" ] && pass "generate: --prompt-file F and - (stdin) equal -p" ||
  fail "prompt from a file / stdin: '$b' / '$c' vs '$a'"
a=$("$rb" trace -m "$tmp/s.safetensors" -p "Once upon" -r 3 2>/dev/null)
b=$("$rb" trace -m "$tmp/s.safetensors" --prompt-file - -r 3 < <(printf 'Once upon\n') 2>/dev/null)
[ -n "$a" ] && [ "$a" = "$b" ] && pass "trace: --prompt-file - equals -p (one final newline dropped)" ||
  fail "trace from stdin differs"
a=$("$rb" tokenize -m "$tok" "Once upon a time" 2>/dev/null)
b=$("$rb" tokenize -m "$tok" --prompt-file "$tmp/prompt.txt" 2>/dev/null)
[ -n "$a" ] && [ "$a" = "$b" ] && pass "tokenize: --prompt-file equals TEXT" || fail "tokenize --prompt-file: '$b' vs '$a'"

# --- lists, version, progress
expect 2 "--depths" "loss --depths ''" -- "$rb" loss -m "$bin" --data "$tmp/d.rbtok" --depths ''
expect 2 "--depths" "loss --depths ','" -- "$rb" loss -m "$bin" --data "$tmp/d.rbtok" --depths ','
expect 2 "--depths" "loss --depths 1,,2" -- "$rb" loss -m "$bin" --data "$tmp/d.rbtok" --depths 1,,2
v=$("$rb" --version 2>&1); rc=$?
[ $rc -eq 0 ] && [[ "$v" =~ ^retrobench\ [0-9]+\.[0-9]+\.[0-9]+ ]] && pass "--version: $v" || fail "--version: exit $rc: '$v'"
"$rb" loss -m "$tmp/s.safetensors" --data "$tmp/d.rbtok" --depths 1,4 > "$tmp/out" 2> "$tmp/err"
[ "$(grep -c 'depth=' "$tmp/out")" -eq 2 ] && grep -q "depth 4" "$tmp/err" && pass "loss reports progress: $(tail -1 "$tmp/err")" ||
  fail "loss progress on stderr: '$(cat "$tmp/err")'"

# --- the same mistake, the same exit status, one line, in every command
declare -A extra=(
  [info]="" [generate]="-p hi" [trace]="-p hi" [tokenize]="hi" [loss]="--data $tmp/d.rbtok"
  [surgery]="--prc 1,1,1 -o $tmp/o.safetensors" [convert]="-o $tmp/o.safetensors"
  [data]="--text $sample --seq 8 -o $tmp/o.rbtok"
)
for cmd in info generate trace tokenize loss surgery convert data; do
  # shellcheck disable=SC2086
  {
  expect 2 "--frobnicate" "$cmd: unknown option" -- "$rb" $cmd -m "$bin" --frobnicate ${extra[$cmd]}
  expect 2 "-m" "$cmd: no model" -- "$rb" $cmd ${extra[$cmd]}
  expect 1 "no such file" "$cmd: missing model file" -- "$rb" $cmd -m "$tmp/none.gguf" ${extra[$cmd]}
  expect 1 "empty" "$cmd: empty model file" -- "$rb" $cmd -m "$tmp/zero.gguf" ${extra[$cmd]}
  }
done
expect 2 "-n" "generate: -n not a number" -- "$rb" generate -m "$bin" -p hi -n many
expect 2 "-r" "trace: -r 0" -- "$rb" trace -m "$tmp/s.safetensors" -p hi -r 0
expect 2 "--seq" "data: --seq 0" -- "$rb" data -m "$tok" --text "$sample" --seq 0 -o "$tmp/o.rbtok"
expect 1 "recurrent" "trace on a plain model" -- "$rb" trace -m "$bin" -p hi
expect 1 "tokenizer" "generate with a model that carries no tokenizer" -- "$rb" generate -m "$hf" -p hi
expect 1 "layers" "surgery asking for more layers than the model has" -- "$rb" surgery -m "$bin" --prc 3,3,3 -o "$tmp/o.safetensors"
expect 1 "$tmp/none.rbtok" "loss on a missing data file" -- "$rb" loss -m "$bin" --data "$tmp/none.rbtok"
expect 1 "$tmp/none.txt" "data on a missing text file" -- "$rb" data -m "$tok" --text "$tmp/none.txt" --seq 8 -o "$tmp/o.rbtok"
expect 2 "frobnicate" "unknown command" -- "$rb" frobnicate

[ "$fails" -eq 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "all passed"
