#!/usr/bin/env bash
# mutate.sh: the mutation check. Applies each mutation of tools/mutants (a
# small wrong edit of the recipe, the model or a reader) to a scratch copy
# of the working tree, rebuilds it, runs the test suites named for it, and
# says which test caught it. A mutation nobody catches is a number or rule
# that no test pins. Not part of CI: a full run takes most of an hour on
# two cores (see docs/mutants.md).
#
#   tools/mutate.sh                      every mutation
#   tools/mutate.sh 'init-*' flops-fwd   a subset, by name or shell glob
#   tools/mutate.sh --list               names and what each breaks
#
# Options:
#   --scratch DIR     scratch folder (default ${TMPDIR:-/tmp}/retrobench-mutants);
#                     it keeps a copy of the tree and one build, so later runs
#                     and each mutant rebuild only what changed
#   --timeout S       wall-clock limit of one mutant's tests (default 600);
#                     a mutant whose tests run past it counts as killed (hang)
#   --no-baseline     skip the check that the named suites pass unmutated
#   --list            print the mutations and exit
#   --check           only check that every text applies to the working tree
#                     (seconds; run it after merges)
#
# One line per mutation:
#   killed by TEST[,TEST]  a named suite failed (or timed out) with it applied
#   SURVIVED               every named suite passed: a test is missing
#   could not apply: ...   its text is not (or more than once) in the file
#                          today, or the mutant does not compile: the list
#                          went stale and needs updating
# and a last line "N killed, M survived" (", K could not apply" when K > 0).
# Exit status 0 only when every selected mutation was killed.
set -uo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
list="$here/tools/mutants"
scratch="${TMPDIR:-/tmp}/retrobench-mutants"
limit=600
baseline=1
only_list=0
only_check=0
patterns=()
while [ $# -gt 0 ]; do
  case "$1" in
    --scratch) scratch=$2; shift 2 ;;
    --timeout) limit=$2; shift 2 ;;
    --no-baseline) baseline=0; shift ;;
    --list) only_list=1; shift ;;
    --check) only_check=1; shift ;;
    -h|--help) sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "mutate.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
    *) patterns+=("$1"); shift ;;
  esac
done

# ---- read tools/mutants -------------------------------------------------
# Blocks of "key = value" lines, each opened by "[name]"; keys: file,
# before, after, breaks, tests (optional; default: the unit and reference
# suites). before/after are one line of literal text each.
names=() files=() befores=() afters=() breakss=() testss=()
cur=-1
lineno=0
fail_list() { echo "mutate.sh: $list line $lineno: $1" >&2; exit 2; }
while IFS= read -r line || [ -n "$line" ]; do
  lineno=$((lineno + 1))
  case "$line" in ''|'#'*) continue ;; esac
  if [[ "$line" =~ ^\[([A-Za-z0-9._-]+)\]$ ]]; then
    cur=${#names[@]}
    names+=("${BASH_REMATCH[1]}")
    files+=("") befores+=("") afters+=("") breakss+=("") testss+=("")
    continue
  fi
  [[ "$line" =~ ^(file|before|after|breaks|tests)[[:space:]]*=[[:space:]]?(.*)$ ]] ||
    fail_list "expected '[name]' or 'key = value' (keys: file before after breaks tests)"
  [ "$cur" -ge 0 ] || fail_list "a key before the first [name]"
  key=${BASH_REMATCH[1]}
  val=${BASH_REMATCH[2]}
  case "$key" in
    file) files[cur]=$val ;;
    before) befores[cur]=$val ;;
    after) afters[cur]=$val ;;
    breaks) breakss[cur]=$val ;;
    tests) testss[cur]=$val ;;
  esac
done <"$list"
for i in "${!names[@]}"; do
  for j in "${!names[@]}"; do
    [ "$j" -lt "$i" ] && [ "${names[j]}" = "${names[i]}" ] &&
      { echo "mutate.sh: $list: mutation '${names[i]}' is listed twice" >&2; exit 2; }
  done
  if [ -z "${files[i]}" ] || [ -z "${befores[i]}" ] || [ -z "${breakss[i]}" ] ||
     [ "${befores[i]}" = "${afters[i]}" ]; then
    echo "mutate.sh: $list: mutation '${names[i]}' needs file, before, after (different) and breaks" >&2
    exit 2
  fi
done

# ---- select -------------------------------------------------------------
sel=()
for i in "${!names[@]}"; do
  if [ ${#patterns[@]} -eq 0 ]; then sel+=("$i"); continue; fi
  for p in "${patterns[@]}"; do
    # shellcheck disable=SC2053
    if [[ "${names[i]}" == $p ]]; then sel+=("$i"); break; fi
  done
done
for p in "${patterns[@]}"; do
  hit=0
  for i in "${!names[@]}"; do [[ "${names[i]}" == $p ]] && hit=1; done
  [ $hit = 1 ] || { echo "mutate.sh: no mutation is named '$p' (see --list)" >&2; exit 2; }
done
# apply FILE BEFORE AFTER: literal, exactly-once replacement (python3 so no
# character of the texts is special). Prints why not on failure.
apply() {
  /usr/bin/python3 - "$1" "$2" "$3" <<'EOF'
import sys
path, before, after = sys.argv[1:4]
try:
    text = open(path, encoding="utf-8").read()
except OSError as e:
    print("file not found: %s" % e.strerror); sys.exit(1)
n = text.count(before)
if n != 1:
    print("text not found" if n == 0 else "text found %d times" % n); sys.exit(1)
open(path, "w", encoding="utf-8").write(text.replace(before, after))
EOF
}

if [ "$only_check" = 1 ]; then
  bad=0
  tmpf=$(mktemp)
  for i in "${sel[@]}"; do
    if ! cp -f "$here/${files[i]}" "$tmpf" 2>/dev/null; then
      echo "${names[i]}: could not apply: file not found: ${files[i]}"; bad=$((bad + 1)); continue
    fi
    why=$(apply "$tmpf" "${befores[i]}" "${afters[i]}") ||
      { echo "${names[i]}: could not apply: $why in ${files[i]}"; bad=$((bad + 1)); }
  done
  rm -f "$tmpf"
  echo "${#sel[@]} mutations, $bad could not apply"
  [ $bad = 0 ]; exit
fi
if [ "$only_list" = 1 ]; then
  for i in "${sel[@]}"; do printf '%-26s %s\n' "${names[i]}" "${breakss[i]}"; done
  exit 0
fi

default_tests="label:unit label:reference"
tests_of() { local t=${testss[$1]}; echo "${t:-$default_tests}"; }

# ---- scratch copy of the working tree -----------------------------------
src="$scratch/src"
bld="$scratch/build"
mkdir -p "$src" "$bld" || exit 2
# ../shared/assets relative to the source tree is where the suites look
shared=$(cd "$here/.." && pwd)/shared
[ -e "$scratch/shared" ] || ln -s "$shared" "$scratch/shared"
for l in .venv .cache; do
  [ -e "$here/$l" ] && [ ! -e "$src/$l" ] && ln -s "$(readlink -f "$here/$l")" "$src/$l"
done

echo "mutate.sh: copying the working tree to $src" >&2
# Tracked and untracked-but-not-ignored files: what the working tree holds.
# Only files whose content differs are copied, with a fresh time stamp, so
# the scratch build recompiles them (a file left mutated by an interrupted
# run included) and nothing else.
(cd "$here" && git ls-files -z --cached --others --exclude-standard) >"$scratch/files" || exit 2
(cd "$here" && while IFS= read -r -d '' f; do
  [ -f "$f" ] || continue
  if ! cmp -s "$f" "$src/$f"; then
    mkdir -p "$(dirname "$src/$f")" && cp -f "$f" "$src/$f"
  fi
done) <"$scratch/files"
# files gone from the working tree leave the scratch copy too
(cd "$src" && find . -type f ! -path './.venv/*' ! -path './.cache/*' -printf '%P\0') |
  while IFS= read -r -d '' f; do
    grep -qzxF -- "$f" "$scratch/files" || rm -f "$src/$f"
  done

if [ ! -f "$bld/build.ninja" ] && [ ! -f "$bld/Makefile" ]; then
  gen=()
  command -v ninja >/dev/null && gen=(-G Ninja)
  cmake -S "$src" -B "$bld" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release >"$scratch/configure.log" 2>&1 ||
    { echo "mutate.sh: configuring the scratch build failed (see $scratch/configure.log)" >&2; exit 2; }
fi
jobs=$(nproc 2>/dev/null || echo 2)

# The ctest selection and build targets of a test list ("label:L" or names).
ctest_args() {
  local regex="" labels="" t
  for t in $1; do
    case "$t" in
      label:*) labels="${labels:+$labels|}${t#label:}" ;;
      *) regex="${regex:+$regex|}$t" ;;
    esac
  done
  if [ -n "$regex" ] && [ -n "$labels" ]; then
    echo "mutate.sh: a test list mixes names and labels: $1" >&2
    return 1
  fi
  if [ -n "$labels" ]; then echo "-L ^($labels)\$"; else echo "-R ^($regex)\$"; fi
}
targets_of() {
  local t out="retrobench"
  for t in $1; do
    case "$t" in
      label:*) echo "all"; return ;;
      cli_*) ;;
      *) out="$out $t" ;;
    esac
  done
  echo "$out"
}

# Builds the given targets; prints nothing on success.
build() {
  # shellcheck disable=SC2086
  cmake --build "$bld" -j "$jobs" --target $1 >"$scratch/build.log" 2>&1
}

# Runs the tests; sets failed_tests to the names of the failing ones
# ("timeout" when the whole run hit the limit). Returns 0 when all passed.
failed_tests=""
run_tests() {
  local args
  args=$(ctest_args "$1") || return 2
  # shellcheck disable=SC2086
  timeout -k 20 "$limit" ctest --test-dir "$bld" $args -LE fuzz -j "$jobs" --output-on-failure \
    >"$scratch/test.log" 2>&1
  local rc=$?
  failed_tests=$(sed -n '/The following tests FAILED:/,$p' "$scratch/test.log" |
    sed -n 's/^[[:space:]]*[0-9]* - \([^ ]*\) .*/\1/p' | paste -sd, -)
  if [ $rc = 124 ] || [ $rc = 137 ]; then
    failed_tests="${failed_tests:+$failed_tests,}timeout(${limit}s)"
    return 1
  fi
  if grep -q "No tests were found" "$scratch/test.log"; then
    echo "mutate.sh: no test matches '$1'" >&2
    return 2
  fi
  [ $rc = 0 ] && return 0
  [ -n "$failed_tests" ] || failed_tests="ctest(rc=$rc)"
  return 1
}

# ---- baseline: the named suites pass on the unmutated tree ---------------
if [ "$baseline" = 1 ]; then
  all_tests="" all_targets=""
  for i in "${sel[@]}"; do
    for t in $(tests_of "$i"); do
      case " $all_tests " in *" $t "*) ;; *) all_tests="$all_tests $t" ;; esac
    done
  done
  # names and labels are run as two baselines
  names_only="" labels_only=""
  for t in $all_tests; do
    case "$t" in label:*) labels_only="$labels_only $t" ;; *) names_only="$names_only $t" ;; esac
  done
  for group in "$names_only" "$labels_only"; do
    [ -n "${group// /}" ] || continue
    all_targets=$(targets_of "$group")
    echo "mutate.sh: baseline build and run of:$group" >&2
    build "$all_targets" || { echo "mutate.sh: the unmutated tree does not build (see $scratch/build.log)" >&2; exit 2; }
    run_tests "$group"
    case $? in
      0) ;;
      2) exit 2 ;;
      *) echo "mutate.sh: the unmutated tree fails $failed_tests; fix that first (see $scratch/test.log)" >&2
         exit 2 ;;
    esac
  done
fi

# ---- the mutants ----------------------------------------------------------
killed=0 survived=0 stale=0
survivors=()
total=${#sel[@]}
k=0
t_all=$(date +%s)
for i in "${sel[@]}"; do
  k=$((k + 1))
  name=${names[i]} file=${files[i]} tests=$(tests_of "$i")
  label=$(printf '[%2d/%d] %-26s' "$k" "$total" "$name")
  t0=$(date +%s)
  cp -f "$src/$file" "$scratch/pristine" 2>/dev/null
  if ! why=$(apply "$src/$file" "${befores[i]}" "${afters[i]}"); then
    echo "$label could not apply: $why in $file"
    stale=$((stale + 1))
    continue
  fi
  if ! build "$(targets_of "$tests")"; then
    echo "$label could not apply: the mutant does not compile (see $scratch/build-$name.log)"
    cp -f "$scratch/build.log" "$scratch/build-$name.log"
    stale=$((stale + 1))
  else
    run_tests "$tests"
    rc=$?
    secs=$(($(date +%s) - t0))
    if [ $rc = 0 ]; then
      echo "$label SURVIVED (${secs}s; ran: $tests) -- ${breakss[i]}"
      survived=$((survived + 1))
      survivors+=("$name")
    elif [ $rc = 2 ]; then
      echo "$label could not apply: its test list '$tests' names no test"
      stale=$((stale + 1))
    else
      echo "$label killed by $failed_tests (${secs}s)"
      cp -f "$scratch/test.log" "$scratch/test-$name.log"
      killed=$((killed + 1))
    fi
  fi
  # revert: the original text with a fresh time stamp (rebuilt next time)
  cp -f "$scratch/pristine" "$src/$file"
done
rm -f "$scratch/pristine"
echo "mutate.sh: $total mutations in $(($(date +%s) - t_all))s; logs of killed mutants in $scratch/test-NAME.log" >&2
[ ${#survivors[@]} -gt 0 ] && echo "mutate.sh: survivors: ${survivors[*]}" >&2
summary="$killed killed, $survived survived"
[ $stale -gt 0 ] && summary="$summary, $stale could not apply"
echo "$summary"
[ $survived = 0 ] && [ $stale = 0 ]
