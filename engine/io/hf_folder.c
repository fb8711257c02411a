/* hf_folder.c: a Hugging Face model folder (config.json, model.safetensors
 * or model.safetensors.index.json + shards, tokenizer.json) read into the
 * parameter table, and a plain model written back as one.
 *
 * Tensor names are the parameter table's own (it uses HF names). Decisions:
 *  - lm_head.weight absent and tie_word_embeddings true: tied head.
 *  - lm_head.weight present although tie_word_embeddings is true: accepted
 *    only when it is bit-identical to the embedding (then it is redundant),
 *    otherwise an error: the file and the config disagree about the model.
 *  - *.rotary_emb.inv_freq (old transformers saved these buffers) are
 *    ignored: the engine computes RoPE from the config. Any other tensor
 *    that is not a parameter is an error.
 *  - model.safetensors wins when both it and an index are present (as in
 *    transformers). In a sharded folder every shard the index names must
 *    exist, every tensor the index lists must be in its shard, and every
 *    tensor of a shard must be listed for that shard. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/atomic_file.h"
#include "io/safetensors.h"

#define CONFIG_MAX ((size_t)16 << 20)
#define INDEX_MAX ((size_t)256 << 20)
#define TOKENIZER_MAX ((size_t)1 << 30)

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !memcmp(s + a - b, suffix, b);
}

typedef struct {
    rb_safetensors **shards;
    int n_shards;
    rb_st_entry *ent;
    int n_ent;
    char what[RB_IO_PATH_MAX + 64]; /* the weight file or index, for messages */
} weights;

static void weights_free(weights *w)
{
    for (int i = 0; i < w->n_shards; i++) rb_st_close(w->shards[i]);
    free(w->shards);
    free(w->ent);
    memset(w, 0, sizeof *w);
}

static rb_status open_single(weights *w, const char *path, rb_error *err)
{
    snprintf(w->what, sizeof w->what, "%s", path);
    w->shards = calloc(1, sizeof *w->shards);
    if (!w->shards) return rb_fail(err, RB_ENOMEM, "%s: out of memory", path);
    rb_status rc = rb_st_open(&w->shards[0], path, err);
    if (rc != RB_OK) return rc;
    w->n_shards = 1;
    int n = rb_st_count(w->shards[0]);
    w->ent = calloc((size_t)n + 1, sizeof *w->ent);
    if (!w->ent) return rb_fail(err, RB_ENOMEM, "%s: out of memory", path);
    for (int i = 0; i < n; i++) {
        w->ent[i].t = rb_st_at(w->shards[0], i);
        w->ent[i].name = w->ent[i].t->name;
        w->ent[i].st = w->shards[0];
    }
    w->n_ent = n;
    return rb_st_entries_sort(w->ent, n, path, err);
}

static int safe_shard_name(const char *s)
{
    return s[0] && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

static rb_status open_sharded(weights *w, const char *dir, const char *index_path, rb_error *err)
{
    snprintf(w->what, sizeof w->what, "%s", index_path);
    char *text = NULL;
    size_t len = 0;
    rb_status rc = rb_io_read_file(index_path, INDEX_MAX, &text, &len, err);
    if (rc != RB_OK) return rc;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    char **names = NULL; /* distinct shard file names, in order of first use */
    if (!cJSON_IsObject(root) || !cJSON_IsObject(wm)) {
        rc = rb_fail(err, RB_EFORMAT, "%s: not a safetensors index (expected a JSON object with "
                     "a \"weight_map\" object)", index_path);
        goto done;
    }
    int n = cJSON_GetArraySize(wm);
    names = calloc((size_t)n + 1, sizeof *names);
    w->shards = calloc((size_t)n + 1, sizeof *w->shards);
    w->ent = calloc((size_t)n + 1, sizeof *w->ent);
    if (!names || !w->shards || !w->ent) {
        rc = rb_fail(err, RB_ENOMEM, "%s: out of memory", index_path);
        goto done;
    }
    for (const cJSON *x = wm->child; x; x = x->next) {
        if (!cJSON_IsString(x) || !safe_shard_name(x->valuestring)) {
            rc = rb_fail(err, RB_EFORMAT, "%s: weight_map entry '%s' must name a file in the "
                         "same folder", index_path, x->string);
            goto done;
        }
        int s = 0;
        while (s < w->n_shards && strcmp(names[s], x->valuestring)) s++;
        if (s == w->n_shards) {
            char p[RB_IO_PATH_MAX];
            if (rb_io_join(p, sizeof p, dir, x->valuestring) != 0) {
                rc = rb_fail(err, RB_EINVAL, "%s: shard path too long", index_path);
                goto done;
            }
            if (!rb_io_is_file(p)) {
                rc = rb_fail(err, RB_EIO, "%s: shard %s (holding '%s') does not exist", index_path,
                             p, x->string);
                goto done;
            }
            if ((rc = rb_st_open(&w->shards[s], p, err)) != RB_OK) goto done;
            names[s] = x->valuestring;
            w->n_shards++;
        }
        const rb_st_tensor *t = rb_st_find(w->shards[s], x->string);
        if (!t) {
            rc = rb_fail(err, RB_EFORMAT, "%s: weight_map puts '%s' in %s, but that shard has no "
                         "such tensor", index_path, x->string, rb_st_source(w->shards[s]));
            goto done;
        }
        w->ent[w->n_ent].name = t->name;
        w->ent[w->n_ent].t = t;
        w->ent[w->n_ent].st = w->shards[s];
        w->n_ent++;
    }
    if ((rc = rb_st_entries_sort(w->ent, w->n_ent, index_path, err)) != RB_OK) goto done;
    /* Each shard's tensors must all be listed, and listed for that shard. */
    for (int s = 0; s < w->n_shards; s++)
        for (int i = 0; i < rb_st_count(w->shards[s]); i++) {
            const rb_st_tensor *t = rb_st_at(w->shards[s], i);
            rb_st_entry *e = rb_st_entries_find(w->ent, w->n_ent, t->name);
            if (!e || e->st != w->shards[s]) {
                rc = rb_fail(err, RB_EFORMAT, "%s: %s holds tensor '%s', which the index %s",
                             index_path, rb_st_source(w->shards[s]), t->name,
                             e ? "assigns to another shard" : "does not list");
                goto done;
            }
        }
done:
    free(names);
    cJSON_Delete(root);
    return rc;
}

/* A redundant head stored beside tied embeddings must equal them. */
static rb_status check_redundant_head(const rb_st_entry *e, const float *embed, size_t numel,
                                      const char *cfg_path, rb_error *err)
{
    const rb_st_tensor *t = e->t;
    if (t->numel != numel)
        return rb_fail(err, RB_EFORMAT, "%s: lm_head.weight has %llu values but the embedding "
                       "%zu, while %s says tie_word_embeddings", rb_st_source(e->st),
                       (unsigned long long)t->numel, numel, cfg_path);
    float *tmp = malloc(numel * sizeof *tmp + 1);
    if (!tmp) return rb_fail(err, RB_ENOMEM, "%s: out of memory", rb_st_source(e->st));
    rb_status rc = rb_st_read_f32(e->st, t, tmp, err);
    if (rc == RB_OK && memcmp(tmp, embed, numel * sizeof *tmp) != 0)
        rc = rb_fail(err, RB_EFORMAT, "%s: lm_head.weight differs from model.embed_tokens.weight "
                     "although %s says tie_word_embeddings: true; set it to false to use the "
                     "separate head", rb_st_source(e->st), cfg_path);
    free(tmp);
    return rc;
}

rb_status rb_load_hf_folder(const char *dir, const rb_load_opts *opts, rb_loaded_model *out,
                            rb_error *err)
{
    memset(out, 0, sizeof *out);
    out->bos_id = -1;
    weights w = {0};
    rb_param_table tab = {0};
    rb_st_entry **match = NULL;
    rb_status rc;
    char cfg_path[RB_IO_PATH_MAX], single[RB_IO_PATH_MAX], index[RB_IO_PATH_MAX],
        tok[RB_IO_PATH_MAX];
    if (!rb_io_is_dir(dir)) return rb_fail(err, RB_EIO, "%s: not a folder", dir);
    if (rb_io_join(cfg_path, sizeof cfg_path, dir, "config.json") ||
        rb_io_join(single, sizeof single, dir, "model.safetensors") ||
        rb_io_join(index, sizeof index, dir, "model.safetensors.index.json") ||
        rb_io_join(tok, sizeof tok, dir, "tokenizer.json"))
        return rb_fail(err, RB_EINVAL, "%s: path too long", dir);
    if (!rb_io_is_file(cfg_path))
        return rb_fail(err, RB_EIO, "%s: no config.json; a Hugging Face model folder holds "
                       "config.json and model.safetensors", dir);

    char *text = NULL;
    size_t len = 0;
    if ((rc = rb_io_read_file(cfg_path, CONFIG_MAX, &text, &len, err)) != RB_OK) return rc;
    rb_hf_config hc;
    rc = rb_hf_config_parse(text, len, cfg_path, &hc, err);
    free(text);
    if (rc != RB_OK) return rc;
    out->cfg = hc.cfg;

    if (rb_io_is_file(single))
        rc = open_single(&w, single, err);
    else if (rb_io_is_file(index))
        rc = open_sharded(&w, dir, index, err);
    else
        rc = rb_fail(err, RB_EIO, "%s: neither model.safetensors nor model.safetensors.index.json "
                     "is there (pytorch_model.bin is not read: convert the weights to "
                     "safetensors)", dir);
    if (rc != RB_OK) goto fail;

    const int L = rb_config_n_layers(&out->cfg);
    if (L > w.n_ent) {
        rc = rb_fail(err, RB_EFORMAT, "%s: num_hidden_layers = %d but %s holds only %d tensors",
                     cfg_path, L, w.what, w.n_ent);
        goto fail;
    }
    if ((rc = rb_param_table_build(&tab, &out->cfg, err)) != RB_OK) goto fail;
    match = calloc((size_t)tab.count + 1, sizeof *match);
    if (!match) {
        rc = rb_fail(err, RB_ENOMEM, "%s: out of memory", dir);
        goto fail;
    }
    char expect[RB_IO_PATH_MAX + 128];
    snprintf(expect, sizeof expect, "%s (%s)", cfg_path, hc.architecture);
    if ((rc = rb_st_match_table(&tab, w.ent, w.n_ent, match, w.what, expect, err)) != RB_OK)
        goto fail;
    const rb_st_entry *redundant_head = NULL;
    for (int i = 0; i < w.n_ent; i++) {
        const rb_st_entry *e = &w.ent[i];
        if (e->used || ends_with(e->name, ".rotary_emb.inv_freq")) continue;
        if (out->cfg.tied_head && !strcmp(e->name, "lm_head.weight")) {
            redundant_head = e;
            continue;
        }
        rc = rb_fail(err, RB_EFORMAT, "%s: tensor '%s' is not a parameter of the %s that %s "
                     "describes", rb_st_source(e->st), e->name, hc.architecture, cfg_path);
        goto fail;
    }

    out->n_params = tab.total;
    out->headers_only = opts && opts->headers_only;
    if (!out->headers_only) {
        out->params = rb_io_params_alloc(opts, &out->cfg, tab.total, dir, &out->params_borrowed, err);
        if (!out->params) {
            rc = err ? err->code : RB_ENOMEM;
            goto fail;
        }
        if ((rc = rb_st_copy_table(&tab, match, out->params, err)) != RB_OK) goto fail;
    }
    if (redundant_head && !out->headers_only) {
        const rb_param *emb = &tab.items[rb_param_table_find(&tab, "model.embed_tokens.weight")];
        rc = check_redundant_head(redundant_head, out->params + emb->offset, emb->numel, cfg_path,
                                  err);
        if (rc != RB_OK) goto fail;
    }

    out->format = RB_FORMAT_HF;
    snprintf(out->source, sizeof out->source, "%s", dir);
    out->bos_id = hc.bos_id;
    out->n_eos = hc.n_eos;
    memcpy(out->eos_ids, hc.eos_ids, sizeof out->eos_ids);
    if (opts && opts->tokenizer_path)
        rc = rb_io_attach_tokenizer(out, opts->tokenizer_path, 0, err);
    else if (rb_io_is_file(tok))
        rc = rb_io_attach_tokenizer(out, tok, 1, err);
    if (rc != RB_OK) goto fail;

    free(match);
    rb_param_table_free(&tab);
    weights_free(&w);
    return RB_OK;
fail:
    free(match);
    rb_param_table_free(&tab);
    weights_free(&w);
    rb_loaded_model_free(out);
    return rc;
}

/* ---------------- save ---------------- */

rb_status rb_hf_folder_save(const char *dir, const rb_config *cfg, const float *params,
                            const char *tokenizer_json, int bos_id, int eos_id, rb_error *err)
{
    /* Read the tokenizer before writing anything, so a bad path fails early. */
    char *tok_text = NULL;
    size_t tok_len = 0;
    if (tokenizer_json) {
        rb_status rc = rb_io_read_file(tokenizer_json, TOKENIZER_MAX, &tok_text, &tok_len, err);
        if (rc != RB_OK) return rc;
    }
    rb_status rc = rb_hf_folder_save_text(dir, cfg, params, tok_text, tok_len, bos_id, eos_id, err);
    free(tok_text);
    return rc;
}

rb_status rb_hf_folder_save_text(const char *dir, const rb_config *cfg, const float *params,
                                 const char *tok_text, size_t tok_len, int bos_id, int eos_id,
                                 rb_error *err)
{
    rb_config c = *cfg;
    rb_status rc = rb_config_finalize(&c, err);
    if (rc != RB_OK) {
        rb_fail_prefix(err, "saving %s: ", dir);
        return rc;
    }
    if (!params) return rb_fail(err, RB_EINVAL, "saving %s: no parameters", dir);
    char *cfg_text = rb_hf_config_to_json(&c, bos_id, eos_id, err);
    if (!cfg_text) {
        rb_fail_prefix(err, "saving %s: ", dir);
        return err ? err->code : RB_EINVAL;
    }
    char cfg_path[RB_IO_PATH_MAX], model_path[RB_IO_PATH_MAX], tok_path[RB_IO_PATH_MAX];
    rb_param_table tab = {0};
    rb_st_write_tensor *wt = NULL;
    if (rb_io_join(cfg_path, sizeof cfg_path, dir, "config.json") ||
        rb_io_join(model_path, sizeof model_path, dir, "model.safetensors") ||
        rb_io_join(tok_path, sizeof tok_path, dir, "tokenizer.json")) {
        rc = rb_fail(err, RB_EINVAL, "saving %s: path too long", dir);
        goto done;
    }
    if (mkdir(dir, 0777) != 0 && !(errno == EEXIST && rb_io_is_dir(dir))) {
        rc = rb_fail(err, RB_EIO, "saving %s: cannot create the folder (%s)", dir,
                     strerror(errno));
        goto done;
    }
    if ((rc = rb_param_table_build(&tab, &c, err)) != RB_OK) goto done;
    wt = calloc((size_t)tab.count + 1, sizeof *wt);
    if (!wt) {
        rc = rb_fail(err, RB_ENOMEM, "saving %s: out of memory", dir);
        goto done;
    }
    for (int i = 0; i < tab.count; i++) {
        const rb_param *p = &tab.items[i];
        wt[i].name = p->name;
        wt[i].dtype = RB_ST_F32;
        wt[i].ndim = p->ndim;
        wt[i].shape[0] = p->rows;
        wt[i].shape[1] = p->cols;
        wt[i].data = params + p->offset;
    }
    /* transformers checks that "format" is one it knows. */
    const char *mk[1] = {"format"}, *mv[1] = {"pt"};
    if ((rc = rb_st_write(model_path, wt, tab.count, mk, mv, 1, err)) != RB_OK) goto done;
    if (tok_text && (rc = rb_atomic_file_write_all(tok_path, tok_text, tok_len, err)) != RB_OK)
        goto done;
    /* config.json last: a folder counts as a model only once it is there. */
    rc = rb_atomic_file_write_all(cfg_path, cfg_text, strlen(cfg_text), err);
done:
    free(wt);
    free(cfg_text);
    rb_param_table_free(&tab);
    return rc;
}
