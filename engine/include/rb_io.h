/* rb_io.h: reading every model file retrobench accepts into the one model
 * description (rb_config + a host parameter buffer laid out by
 * rb_param_table_build), and writing retrobench checkpoints.
 *
 * Accepted inputs:
 *  - a Hugging Face folder: config.json, model.safetensors or a sharded
 *    model.safetensors.index.json, tokenizer.json when present;
 *  - a GGUF v2/v3 file (llama architecture), tokenizer embedded;
 *  - a llama2.c .bin checkpoint (tokenizer.bin given separately);
 *  - a retrobench checkpoint: a .safetensors file whose __metadata__ holds
 *    the configuration and the retrofit plan.
 * Every loader converts RoPE to RB_ROPE_HALF (HF layout) by permuting the
 * rows of the q and k projections of adjacent-pair checkpoints. */
#ifndef RB_IO_H
#define RB_IO_H

#include <stddef.h>
#include <stdint.h>

#include "rb_config.h"
#include "rb_error.h"
#include "rb_tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    RB_FORMAT_UNKNOWN = 0,
    RB_FORMAT_HF = 1,          /* Hugging Face folder */
    RB_FORMAT_CHECKPOINT = 2,  /* retrobench .safetensors */
    RB_FORMAT_GGUF = 3,
    RB_FORMAT_LLAMA2C = 4
} rb_model_format;

const char *rb_model_format_name(rb_model_format f);

/* Where each block of a retrofitted model came from (model surgery). */
typedef struct {
    int n_src_layers;      /* layer count of the base model */
    int n_blocks;          /* n_prelude + n_recur + n_coda */
    int *src_layer;        /* [n_blocks]: base layer index of each block, -1 if new */
    char adapter_init[32]; /* "uniform" (paper default) or "identity" */
    char base_model[512];  /* path or name of the base model */
    char kind[32];         /* "" (a retrofit), "static-baseline" or "static-surgery-layers"
                              (rb_surgery.h); stored as "kind" when not empty */
} rb_retrofit_plan;

void rb_retrofit_plan_free(rb_retrofit_plan *p);

#define RB_MAX_EOS_IDS 8

typedef struct {
    rb_config cfg;          /* finalized */
    float *params;          /* host, malloc'd, rb_param_table_build(cfg) layout */
    size_t n_params;        /* floats */
    rb_model_format format;
    rb_tokenizer *tok;      /* NULL when the file carries none and none was given */
    char tokenizer_path[1024]; /* the tokenizer's file (a GGUF model: the file itself), "" if none */
    int bos_id;             /* -1 when unknown */
    int n_eos;
    int eos_ids[RB_MAX_EOS_IDS];
    int has_plan;
    rb_retrofit_plan plan;
    char *metadata_json;    /* retrobench checkpoint: its __metadata__ as a JSON object, else NULL */
    char source[1024];      /* the path that was loaded */
    /* a checkpoint whose tokenizer came from its own __metadata__: the key
     * (RB_CKPT_TOKENIZER_*) and a copy of the value, else "" and NULL */
    char tok_embed_key[32];
    char *tok_embed_value;
    int headers_only;       /* loaded with rb_load_opts.headers_only: params is NULL */
    int params_borrowed;    /* params came from rb_load_opts.params_alloc: not freed here */
} rb_loaded_model;

typedef struct {
    const char *tokenizer_path; /* tokenizer.bin / tokenizer.json to use instead of (or, for
                                   llama2.c, in the absence of) an embedded one; may be NULL */
    int headers_only;           /* configuration, tokenizer and plan only: every header is
                                   checked (tensor names, shapes, types, sizes against the
                                   file) but no weight is read; params stays NULL */
    /* Where the weights go: called once the configuration is known (cfg
     * finalized, n_floats = its parameter table's size), it returns a
     * buffer the caller owns, e.g. a CPU model's own parameter memory, so
     * that loading holds one copy of the weights. NULL (or no callback):
     * they are malloc'd and owned by the loaded model. */
    float *(*params_alloc)(void *ctx, const rb_config *cfg, size_t n_floats, rb_error *err);
    void *params_ctx;
} rb_load_opts;

/* A tokenizer carried inside a retrobench checkpoint: exactly one of these
 * __metadata__ keys holds its file (docs/data-and-checkpoints.md). */
#define RB_CKPT_TOKENIZER_JSON "tokenizer.json"        /* a tokenizer.json, as text */
#define RB_CKPT_TOKENIZER_BIN "tokenizer.bin.base64"   /* a llama2.c tokenizer.bin, base64 */
#define RB_CKPT_TOKENIZER_GGUF "tokenizer.gguf.base64" /* a GGUF of the tokenizer.* entries, base64 */

/* Detect the format of path (folder, magic bytes, extension). */
rb_model_format rb_detect_format(const char *path);

/* Load any accepted model file. On failure out is left empty and err names
 * the file and the problem. */
rb_status rb_model_file_load(const char *path, const rb_load_opts *opts, rb_loaded_model *out,
                             rb_error *err);
void rb_loaded_model_free(rb_loaded_model *m);

/* Per-format loaders behind rb_model_file_load. */
rb_status rb_load_hf_folder(const char *dir, const rb_load_opts *opts, rb_loaded_model *out,
                            rb_error *err);
rb_status rb_load_checkpoint(const char *path, const rb_load_opts *opts, rb_loaded_model *out,
                             rb_error *err);
rb_status rb_load_gguf(const char *path, const rb_load_opts *opts, rb_loaded_model *out,
                       rb_error *err);
rb_status rb_load_llama2c(const char *path, const rb_load_opts *opts, rb_loaded_model *out,
                          rb_error *err);

/* Permute the rows of a [n_heads * head_dim, cols] projection from
 * adjacent-pair RoPE layout to the half-split layout (in place). */
void rb_rope_rows_interleaved_to_half(float *w, int n_heads, int head_dim, int64_t cols);
void rb_rope_rows_half_to_interleaved(float *w, int n_heads, int head_dim, int64_t cols);

/* Write a retrobench checkpoint: safetensors with every parameter (F32) and
 * __metadata__ {"format": "retrobench", "config": <json>, "plan": <json, when
 * plan != NULL>, plus the extra string pairs}. Written to a temporary file in
 * the same folder, fsync'd, then renamed over path, so an interrupted save
 * never destroys the previous file. */
rb_status rb_checkpoint_save(const char *path, const rb_config *cfg, const float *params,
                             const rb_retrofit_plan *plan, const char *const *extra_keys,
                             const char *const *extra_values, int n_extra, rb_error *err);

/* Write a plain (non-recurrent) model as a Hugging Face folder: config.json
 * and model.safetensors; tokenizer_json (may be NULL) is copied beside. */
rb_status rb_hf_folder_save(const char *dir, const rb_config *cfg, const float *params,
                            const char *tokenizer_json, int bos_id, int eos_id, rb_error *err);
/* The same with the tokenizer.json given as text (tok_text may be NULL). */
rb_status rb_hf_folder_save_text(const char *dir, const rb_config *cfg, const float *params,
                                 const char *tok_text, size_t tok_len, int bos_id, int eos_id,
                                 rb_error *err);

/* The __metadata__ pair that carries lm's tokenizer in a checkpoint: *key is
 * one of RB_CKPT_TOKENIZER_*, *value malloc'd. A checkpoint's own embedded
 * tokenizer is passed on unchanged; otherwise the file it was read from
 * (lm->tokenizer_path) is embedded (a GGUF model contributes only its
 * tokenizer.* entries). */
rb_status rb_tokenizer_embedding(const rb_loaded_model *lm, const char **key, char **value,
                                 rb_error *err);
/* lm's tokenizer as tokenizer.json text (malloc'd): the source's own bytes
 * when it was a tokenizer.json, else written by rb_tokenizer_to_json. */
rb_status rb_loaded_model_tokenizer_json(const rb_loaded_model *lm, char **text, size_t *len,
                                         rb_error *err);
/* The same written to path (atomically: the old file or the whole new one). */
rb_status rb_tokenizer_save_json(const rb_loaded_model *lm, const char *path, rb_error *err);

/* The config as JSON (the checkpoint's "config" entry) and back. */
char *rb_config_to_json(const rb_config *cfg);
rb_status rb_config_from_json(const char *json, rb_config *cfg, const char *source, rb_error *err);

/* A tokenizer from a tokenizer.json, a llama2.c tokenizer.bin, or the
 * vocabulary a GGUF model file embeds (recognised by its magic). */
rb_status rb_tokenizer_load_any(rb_tokenizer **out, const char *path, rb_error *err);

#ifdef __cplusplus
}
#endif
#endif
