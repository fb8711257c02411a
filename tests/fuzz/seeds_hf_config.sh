#!/usr/bin/env bash
# seeds_hf_config.sh OUTDIR: seed files for fuzz_hf_config: the real
# stories260K-hf config.json when the assets are present, Llama 3 / OLMo 2 /
# transformers 5 style configs, and a retrobench checkpoint config.
set -euo pipefail
out="$1"
asset="${RB_ASSETS_DIR:-}/stories260K-hf/config.json"
if [ -f "$asset" ]; then cp "$asset" "$out/stories260K.json"; fi
cat >"$out/llama32.json" <<'J'
{"architectures": ["LlamaForCausalLM"], "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "head_dim": 64, "hidden_act": "silu", "hidden_size": 2048, "intermediate_size": 8192, "max_position_embeddings": 131072, "mlp_bias": false, "attention_bias": false, "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"}, "rope_theta": 500000.0, "tie_word_embeddings": true, "vocab_size": 128256}
J
cat >"$out/olmo2.json" <<'J'
{"architectures": ["Olmo2ForCausalLM"], "bos_token_id": null, "eos_token_id": 100257, "hidden_act": "silu", "hidden_size": 2048, "intermediate_size": 8192, "max_position_embeddings": 4096, "model_type": "olmo2", "num_attention_heads": 16, "num_hidden_layers": 16, "rms_norm_eps": 1e-06, "rope_scaling": null, "rope_theta": 500000, "vocab_size": 100352}
J
cat >"$out/v5.json" <<'J'
{"model_type": "llama", "hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 5, "num_attention_heads": 8, "num_key_value_heads": 4, "max_position_embeddings": 512, "rms_norm_eps": 1e-05, "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"}, "vocab_size": 512}
J
cat >"$out/retrobench.json" <<'J'
{"vocab_size":8,"dim":4,"n_heads":2,"n_kv_heads":1,"head_dim":2,"hidden_dim":6,"max_seq_len":16,"block":"olmo2","norm_eps":1e-05,"rope_theta":10000,"rope_layout":"interleaved","rope_scaling":"llama3","rope_factor":8,"rope_low_freq_factor":1,"rope_high_freq_factor":4,"rope_original_max_pos":8192,"tied_head":false,"n_prelude":1,"n_recur":2,"n_coda":1,"state_init":"zero","state_sigma":0.00870388281}
J
