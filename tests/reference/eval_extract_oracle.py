"""Outside oracle for retrobench's GSM8K answer extraction and scoring.

Applies EVAL.md's rules with Python's `re`, the way lm-evaluation-harness
does (RegexFilter: findall, select a match, first non-empty group, strip,
"[invalid]"; exact_match with regexes_to_ignore, then lower()).

usage: eval_extract_oracle.py IN.json OUT.json
IN:  {"cases": [[completion, answer], ...]}
OUT: {"flex": [...], "strict": [...], "gold": [...],
      "flex_correct": [...], "strict_correct": [...]}
"""
import json
import re
import sys

FLEX = re.compile(r"(-?[$0-9.,]{2,})|(-?[0-9]+)")
STRICT = re.compile(r"The answer is (\-?[0-9\.\,]+).")
IGNORE = [",", "\\$", "(?s).*#### ", "\\.$"]


def regex_filter(regex, group_select, resp, fallback="[invalid]"):
    match = regex.findall(resp)
    if match:
        match = match[group_select]
        if isinstance(match, tuple):
            match = [m for m in match if m]
            match = match[0] if match else fallback
        return match.strip()
    return fallback


def normalise(s):
    for r in IGNORE:
        s = re.sub(r, "", s)
    return s.lower()


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    out = {"flex": [], "strict": [], "gold": [], "flex_correct": [], "strict_correct": []}
    for completion, answer in cases:
        gold = answer.split("####")[-1].strip()
        fl = regex_filter(FLEX, -1, completion)
        st = regex_filter(STRICT, 0, completion)
        out["flex"].append(fl)
        out["strict"].append(st)
        out["gold"].append(gold)
        out["flex_correct"].append(int(normalise(fl) == normalise(gold)))
        out["strict_correct"].append(int(normalise(st) == normalise(gold)))
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
