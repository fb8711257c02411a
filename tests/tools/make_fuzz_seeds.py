#!/usr/bin/env python3
"""make_fuzz_seeds.py: small seed inputs for the GGUF and llama2.c fuzz
targets, written at test time by tests/fuzz/seeds_{gguf,llama2c}.sh
(nothing is committed).

usage: make_fuzz_seeds.py gguf OUTDIR
       make_fuzz_seeds.py llama2c OUTDIR

gguf (written with gguf-py): a tiny llama model (dim 32, one layer) with a
"llama" vocabulary and tensors in F32, F16, BF16, Q8_0, Q4_0 and Q4_1; the
same with a "gpt2" vocabulary and merges.
llama2c: tiny checkpoints with shared and unshared classifiers.
"""
import os
import struct
import sys

import numpy as np
import gguf

Q = gguf.GGMLQuantizationType


def tiny_gguf(path, vocab_kind):
    dim, hidden, heads, kv, vocab = 32, 64, 2, 1, 8
    hd = dim // heads
    rng = np.random.default_rng(1)
    w = gguf.GGUFWriter(path, "llama")
    w.add_context_length(16)
    w.add_embedding_length(dim)
    w.add_block_count(1)
    w.add_feed_forward_length(hidden)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    if vocab_kind == "llama":
        toks = ["<unk>", "<s>", "</s>", "\u2581a", "\u2581b", "a", "b", "<0x0A>"]
        w.add_tokenizer_model("llama")
        w.add_token_list(toks)
        w.add_token_scores([0.0, 0.0, 0.0, -1.0, -2.0, -3.0, -4.0, -5.0])
        w.add_token_types([2, 3, 3, 1, 1, 1, 1, 6])
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
    else:
        toks = ["a", "b", "c", "\u0120", "ab", "\u0120a", "abc", "<|endoftext|>"]
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("gpt2")
        w.add_token_list(toks)
        w.add_token_types([1, 1, 1, 1, 1, 1, 1, 3])
        w.add_token_merges(["a b", "\u0120 a", "ab c"])
        w.add_eos_token_id(7)

    def mat(rows, cols):
        return (rng.standard_normal((rows, cols)) * 0.1).astype(np.float32)

    def add(name, x, qtype):
        if qtype == Q.F32:
            w.add_tensor(name, x)
        elif qtype == Q.F16:
            w.add_tensor(name, x.astype(np.float16))
        else:
            w.add_tensor(name, gguf.quants.quantize(x, qtype), raw_dtype=qtype)

    add("token_embd.weight", mat(vocab, dim), Q.F32)
    add("blk.0.attn_norm.weight", np.ones(dim, np.float32), Q.F32)
    add("blk.0.attn_q.weight", mat(heads * hd, dim), Q.Q8_0)
    add("blk.0.attn_k.weight", mat(kv * hd, dim), Q.Q4_0)
    add("blk.0.attn_v.weight", mat(kv * hd, dim), Q.Q4_1)
    add("blk.0.attn_output.weight", mat(dim, heads * hd), Q.F16)
    add("blk.0.ffn_norm.weight", np.ones(dim, np.float32), Q.F32)
    add("blk.0.ffn_gate.weight", mat(hidden, dim), Q.BF16)
    add("blk.0.ffn_up.weight", mat(hidden, dim), Q.Q8_0)
    add("blk.0.ffn_down.weight", mat(dim, hidden), Q.F32)
    add("output_norm.weight", np.ones(dim, np.float32), Q.F32)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def tiny_llama2c(path, shared):
    dim, hidden, layers, heads, kv, vocab, seq = 8, 16, 1, 2, 1, 8, 4
    hs = dim // heads
    n = (vocab * dim + layers * dim * 2 + layers * dim * (2 * dim + 2 * kv * hs)
         + 3 * layers * hidden * dim + dim + seq * hs + (0 if shared else vocab * dim))
    with open(path, "wb") as f:
        f.write(struct.pack("<7i", dim, hidden, layers, heads, kv, vocab if shared else -vocab, seq))
        np.linspace(-1, 1, n, dtype=np.float32).tofile(f)


def main():
    kind, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    if kind == "gguf":
        tiny_gguf(os.path.join(out, "tiny_llama_vocab.gguf"), "llama")
        tiny_gguf(os.path.join(out, "tiny_gpt2_vocab.gguf"), "gpt2")
    elif kind == "llama2c":
        tiny_llama2c(os.path.join(out, "tiny_shared.bin"), True)
        tiny_llama2c(os.path.join(out, "tiny_unshared.bin"), False)
    else:
        sys.exit(f"unknown seed kind {kind!r} (gguf, llama2c)")


if __name__ == "__main__":
    main()
