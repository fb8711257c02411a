#!/usr/bin/env python3
"""hf_reference.py: expected ids from the Hugging Face `tokenizers` library.

Run by tests/integration/test_tok_hf_python.c at test time (never stored):

    hf_reference.py ASSETS_DIR OUT_DIR

For the real Llama-2 and GPT-2 tokenizer.json files, and for variants of them
that exercise other pipeline settings (Llama-3 split regex + ignore_merges,
Qwen2 regex, SmolLM2 Digits + ByteLevel, ByteLevel add_prefix_space,
Metaspace pre-tokenizer, extra added tokens with lstrip/rstrip/single_word/
normalized), it writes:
  OUT_DIR/<name>.json            the tokenizer file (variants only)
  OUT_DIR/<name>.jsonl           {"text", "hex", "ids", "decoded_hex"} per test string
  OUT_DIR/<name>.decode.jsonl    {"ids", "hex"}: HF decode of random id lists
  OUT_DIR/manifest.tsv           name, tokenizer path, compare-decode flag
  OUT_DIR/splits.jsonl           {"hex", "gpt2", "llama3", "qwen2"}: the pieces (hex) that
                                 each split regex cuts a string into, for random strings
                                 over an alphabet chosen to stress the regex alternatives
Exit status 3 when `tokenizers` cannot be imported (the test then skips).
"""
import json
import os
import random
import sys

try:
    from tokenizers import AddedToken, Regex, Tokenizer, pre_tokenizers
except Exception as e:  # noqa: BLE001 - any import failure means "skip"
    print("cannot import tokenizers: %s" % e, file=sys.stderr)
    sys.exit(3)

GPT2_RE = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
LLAMA3_RE = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
             "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")
QWEN2_RE = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
            "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")

STRINGS = [
    "", " ", "  ", "\n", "\n\n", "\r\n", " \r\n \r\n", "\t \t", "a", " a", "a ", "  a  ",
    "Hello world", " Hello world", "Hello world ", "Hello  world", "Hello\u00a0world",
    "don't DON'T I'M we'RE they've she'd it's you'd 'tis o'clock y'all it'\u017f",
    "it'\u017fx I'Ve 'REd 'LLama 'Sup 'dx 'mm 'tt",
    "12345678 123 1234 9876543210 3.14159 1,000,000 -42 +7 0x1F 1e10",
    "\u0663\u0664\u0665 \u00b2\u00b3 \u00bd \u2167 \u2460 \uff11\uff12",
    "Caf\u00e9 na\u00efve r\u00e9sum\u00e9 fa\u00e7ade jalape\u00f1o \u00dcber stra\u00dfe",
    "e\u0301 a\u0308 combining marks",
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u8fd9\u662f\u4e00\u4e2a\u6d4b\u8bd5\u3002",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059\u3002",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629",
    "\u05e2\u05d1\u05e8\u05d9\u05ea", "\u0420\u0443\u0441\u0441\u043a\u0438\u0439 \u0442\u0435\u043a\u0441\u0442",
    "\u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac", "\u0939\u093f\u0928\u094d\u0926\u0940",
    "Emoji: \U0001F600\U0001F389\U0001F44D\U0001F3FD and \u2764\ufe0f \U0001F468\u200d\U0001F469\u200d\U0001F467",
    "\U0001D518\U0001D52B\U0001D526\U0001D520\U0001D52C\U0001D521\U0001D522 \U00010348 \U0001F9E0",
    "\u00a0\u3000x \u001cy \u0085z \u2028w \u2029v \u202fu \u205ft \u180es \u200br \ufeffq",
    "\x00\x01\x02\x7f control \x1b[31m",
    "tabs\tand\nnewlines\r\nmixed \n\t \n",
    "    indented code\n        more\n",
    "def add(a, b):\n    return a + b\n",
    "https://example.com/path?q=1&lang=en#top email@example.org",
    "!!!???...,,, ;;; --- ___ *** ### $$$ %%% ^^^ &&& (( )) [[ ]] {{ }} <<< >>>",
    "\u2581leading meta \u2581\u2581 two metas",
    "<s> </s> <unk> <0x41> <|endoftext|> <|im_start|>",
    "Hello</s>world <s>again</s>",
    "He said, \u201cWow, that is a really amazing vase! Can I buy it?\u201d",
    "x" * 100, "ab" * 50, " the" * 30,
    "<tool>call</tool> hello world [X] a[X]b  <tool>  x",
    "hello world hello  world HELLO WORLD helloworld",
    "<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n",
]


def random_text(rng, n):
    out = []
    for _ in range(n):
        k = rng.choice([1, 1, 1, 2, 3, 4])
        lo, hi = {1: (0x20, 0x7E), 2: (0x80, 0x7FF), 3: (0x800, 0xFFFF), 4: (0x10000, 0x10FFFF)}[k]
        while True:
            c = rng.randint(lo, hi)
            if not 0xD800 <= c <= 0xDFFF:
                break
        out.append(chr(c))
    return "".join(out)


SPLIT_ALPHABET = [" ", " ", "  ", "\n", "\r", "\t", "a", "B", "1", "23", "'", "s", "S", "\u017f",
                  "t", "re", "VE", "ll", "d", "M", ".", ",", "!", "\u00a0", "\u3000", "\u0085",
                  "\u2028", "\u00e9", "\u0663", "\u00bd", "\U0001F600", "\u0301", "_", "-", "\x1c"]


def write_splits(outdir, rng):
    res = {"gpt2": GPT2_RE, "llama3": LLAMA3_RE, "qwen2": QWEN2_RE}
    pts = {k: pre_tokenizers.Split(Regex(v), "isolated") for k, v in res.items()}
    with open(os.path.join(outdir, "splits.jsonl"), "w", encoding="utf-8") as f:
        for _ in range(3000):
            s = "".join(rng.choice(SPLIT_ALPHABET) for _ in range(rng.randint(1, 24)))
            row = {"hex": s.encode("utf-8").hex()}
            for k, p in pts.items():
                row[k] = [piece.encode("utf-8").hex() for piece, _ in p.pre_tokenize_str(s)]
            f.write(json.dumps(row) + "\n")


def variants(assets):
    llama = os.path.join(assets, "tokenizers/llama2/tokenizer.json")
    pairs = os.path.join(assets, "tokenizers/llama2/tokenizer.merges-as-pairs.json")
    gpt2 = os.path.join(assets, "tokenizers/gpt2/tokenizer.json")
    with open(gpt2, encoding="utf-8") as f:
        g = json.load(f)
    with open(llama, encoding="utf-8") as f:
        lj = json.load(f)
    out = [("llama2", llama, None, True), ("llama2_pairs", pairs, None, True), ("gpt2", gpt2, None, True)]

    v = json.loads(json.dumps(g))
    v["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": LLAMA3_RE}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
    v["model"]["ignore_merges"] = True
    out.append(("llama3_style", None, v, True))

    v = json.loads(json.dumps(g))
    v["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": QWEN2_RE}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
    out.append(("qwen2_style", None, v, True))

    v = json.loads(json.dumps(g))
    v["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}
    out.append(("smollm_style", None, v, True))

    v = json.loads(json.dumps(g))
    v["pre_tokenizer"]["add_prefix_space"] = True
    out.append(("gpt2_prefix_space", None, v, False))

    for scheme, split in (("first", False), ("always", True)):
        v = json.loads(json.dumps(lj))
        v["normalizer"] = None
        v["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": scheme,
                              "split": split}
        v["decoder"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": scheme,
                        "split": split}
        out.append(("llama2_metaspace_%s" % scheme, None, v, False))
    return out, llama, gpt2


def with_added(path, extra):
    t = Tokenizer.from_file(path)
    t.add_tokens(extra)
    return json.loads(t.to_str())


def main():
    assets, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    vs, llama, gpt2 = variants(assets)
    vs.append(("llama2_added", None, with_added(llama, [
        AddedToken("<tool>", special=False, normalized=False, lstrip=True, rstrip=True),
        AddedToken("</tool>", special=True, normalized=False),
        AddedToken("hello world", special=False, normalized=True),
        AddedToken("[X]", special=True, normalized=False, single_word=True)]), False))
    vs.append(("gpt2_added", None, with_added(gpt2, [
        AddedToken("<|im_start|>", special=True, normalized=False),
        AddedToken("<|im_end|>", special=True, normalized=False),
        AddedToken("hello world", special=False, normalized=True),
        AddedToken("<tool>", special=False, normalized=False, lstrip=True, rstrip=True)]), False))

    rng = random.Random(1234)
    write_splits(outdir, rng)
    strings = list(STRINGS)
    strings += [random_text(rng, rng.randint(1, 40)) for _ in range(60)]
    sample = os.path.join(assets, "tinystories/tinystories_train_prefix_niklas6.txt")
    if os.path.exists(sample):
        with open(sample, encoding="utf-8") as f:
            strings.append(f.read(30000))

    manifest = []
    for name, path, obj, cmp_decode in vs:
        if obj is not None:
            path = os.path.join(outdir, name + ".json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(obj, f, ensure_ascii=False)
        tok = Tokenizer.from_file(path)
        with open(os.path.join(outdir, name + ".jsonl"), "w", encoding="utf-8") as f:
            for s in strings:
                ids = tok.encode(s, add_special_tokens=False).ids
                dec = tok.decode(ids, skip_special_tokens=True)
                # hex copies: the C side's JSON reader stops strings at U+0000
                f.write(json.dumps({"text": s, "hex": s.encode("utf-8").hex(), "ids": ids,
                                    "decoded_hex": dec.encode("utf-8").hex()},
                                   ensure_ascii=False) + "\n")
        # HF decode of random id lists: every id for byte-level vocabularies
        # (from_utf8_lossy, as ours), no byte-fallback ids for SentencePiece
        # ones (HF's ByteFallback decoder replaces per byte, ours per
        # maximal invalid sequence).
        n = tok.get_vocab_size()
        pool = [i for i in range(n)]
        if "llama2" in name:
            pool = [i for i in pool if not tok.id_to_token(i).startswith("<0x")]
        with open(os.path.join(outdir, name + ".decode.jsonl"), "w", encoding="utf-8") as f:
            for _ in range(200):
                ids = [rng.choice(pool) for _ in range(rng.randint(1, 12))]
                dec = tok.decode(ids, skip_special_tokens=True)
                f.write(json.dumps({"ids": ids, "hex": dec.encode("utf-8").hex()}) + "\n")
        manifest.append("%s\t%s\t%d\n" % (name, path, 1 if cmp_decode else 0))
    with open(os.path.join(outdir, "manifest.tsv"), "w", encoding="utf-8") as f:
        f.writelines(manifest)


if __name__ == "__main__":
    main()
