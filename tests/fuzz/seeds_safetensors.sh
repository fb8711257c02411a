#!/usr/bin/env bash
# seeds_safetensors.sh OUTDIR: seed files for fuzz_safetensors. Small
# safetensors files written byte by byte here (every dtype family, metadata,
# an empty tensor, a retrobench checkpoint header with its config), plus the
# real stories260K-hf model.safetensors when the assets are present.
set -euo pipefail
out="$1"

# st FILE HEADER DATA_BYTES: 8-byte little-endian header length, header, data.
st() {
    local file="$1" header="$2" nbytes="$3" len i
    len=${#header}
    {
        for i in 0 1 2 3 4 5 6 7; do printf "\\x$(printf %02x $(((len >> (8 * i)) & 255)))"; done
        printf '%s' "$header"
        head -c "$nbytes" /dev/zero | tr '\0' '\101'
    } >"$out/$file"
}

st one_f32.st '{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}' 16
st mixed.st '{"__metadata__":{"format":"pt"},"a":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},"b":{"dtype":"BF16","shape":[1,2],"data_offsets":[6,10]},"c":{"dtype":"F32","shape":[],"data_offsets":[10,14]},"d":{"dtype":"I8","shape":[2],"data_offsets":[14,16]}}      ' 16
st empty.st '{"e":{"dtype":"F32","shape":[0,4],"data_offsets":[0,0]},"x":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}}' 8
st meta_only.st '{"__metadata__":{"k":"v","q":"\"quoted\" \u00e9"}}' 0
cfg='{\"vocab_size\":8,\"dim\":4,\"n_heads\":2,\"n_kv_heads\":1,\"head_dim\":2,\"hidden_dim\":6,\"max_seq_len\":16,\"block\":\"llama\",\"norm_eps\":1e-05,\"rope_theta\":10000,\"rope_layout\":\"half\",\"rope_scaling\":\"none\",\"rope_factor\":1,\"rope_low_freq_factor\":1,\"rope_high_freq_factor\":4,\"rope_original_max_pos\":8192,\"tied_head\":true,\"n_prelude\":1,\"n_recur\":0,\"n_coda\":0,\"state_init\":\"truncnormal\",\"state_sigma\":0.00870388281}'
st checkpoint.st "{\"__metadata__\":{\"format\":\"retrobench\",\"config\":\"$cfg\"},\"model.norm.weight\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}" 16

asset="${RB_ASSETS_DIR:-}/stories260K-hf/model.safetensors"
if [ -f "$asset" ]; then cp "$asset" "$out/stories260K.st"; fi
