#!/usr/bin/env bash
# seeds_tokenizer_json.sh OUTDIR: small tokenizer.json seeds for
# fuzz_tokenizer_json, one per pipeline family (the real files are megabytes,
# too slow to mutate): SentencePiece-style BPE with byte fallback, GPT-2
# byte-level, Llama-3 split + ignore_merges, SmolLM2 digits, Metaspace, and
# added tokens with every flag.
set -euo pipefail
out="$1"
bytes=""
for i in $(seq 0 255); do bytes="$bytes, \"$(printf '<0x%02X>' "$i")\": $((i + 3))"; done
cat >"$out/spm.json" <<J
{"added_tokens": [{"id": 0, "content": "<unk>", "special": true, "normalized": false},
 {"id": 1, "content": "<s>", "special": true, "normalized": false}, {"id": 2, "content": "</s>", "special": true, "normalized": false}],
 "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"}, {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
 "pre_tokenizer": null,
 "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
 "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
 "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true,
  "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2$bytes, "\u2581": 259, "a": 260, "b": 261, "\u2581a": 262, "ab": 263, "\u2581ab": 264, "\u00a0": 265},
  "merges": ["\u2581 a", "a b", "\u2581a b"]}}
J
cat >"$out/gpt2.json" <<'J'
{"added_tokens": [{"id": 9, "content": "<|endoftext|>", "special": true, "normalized": true}],
 "normalizer": null, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
 "decoder": {"type": "ByteLevel"}, "post_processor": {"type": "ByteLevel"},
 "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": "", "end_of_word_suffix": "", "byte_fallback": false,
  "vocab": {"a": 0, "b": 1, "Ġ": 2, "Ġa": 3, "ab": 4, "Ġab": 5, "1": 6, "2": 7, "12": 8, "<|endoftext|>": 9, "Ċ": 10},
  "merges": ["Ġ a", "a b", "Ġa b", "1 2"]}}
J
cat >"$out/llama3.json" <<'J'
{"added_tokens": [{"id": 9, "content": "<|begin_of_text|>", "special": true}],
 "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]},
 "post_processor": {"type": "Sequence", "processors": [{"type": "ByteLevel"}, {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [9], "tokens": ["<|begin_of_text|>"]}}}]},
 "decoder": {"type": "ByteLevel"},
 "model": {"type": "BPE", "ignore_merges": true, "vocab": {"a": 0, "b": 1, "Ġ": 2, "Ġa": 3, "ab": 4, "Ġab": 5, "1": 6, "2": 7, "12": 8, "<|begin_of_text|>": 9}, "merges": [["Ġ", "a"], ["a", "b"], ["Ġa", "b"], ["1", "2"]]}}
J
cat >"$out/smollm.json" <<'J'
{"added_tokens": [{"id": 9, "content": "<|im_start|>", "special": true}, {"id": 10, "content": "hi there", "special": false, "normalized": true, "lstrip": true, "rstrip": true, "single_word": true}],
 "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, {"type": "ByteLevel", "add_prefix_space": true, "use_regex": true}]},
 "decoder": {"type": "ByteLevel"},
 "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "Ġ": 2, "Ġa": 3, "ab": 4, "Ġab": 5, "1": 6, "2": 7, "12": 8}, "merges": ["Ġ a", "a b", "Ġa b", "1 2"]}}
J
cat >"$out/metaspace.json" <<'J'
{"pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true},
 "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": true},
 "normalizer": {"type": "Replace", "pattern": {"String": "\t"}, "content": "  "},
 "added_tokens": [{"id": 7, "content": "[X]", "special": false, "normalized": true}],
 "model": {"type": "BPE", "unk_token": "<unk>", "vocab": {"<unk>": 0, "▁": 1, "a": 2, "▁a": 3, "b": 4, "ab": 5, "▁ab": 6, "[X]": 7}, "merges": ["▁ a", "a b", "▁a b"]}}
J
