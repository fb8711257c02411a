/* checkpoint.c: the retrobench checkpoint, a safetensors file with every
 * parameter (F32, named by the parameter table) and a __metadata__ of:
 *   "format": "retrobench"
 *   "config": rb_config as JSON (config_json.c)
 *   "plan":   the retrofit plan as JSON, when the model came from surgery
 *   any extra string pairs given to rb_checkpoint_save.
 * Recognised extras on load: "bos_token_id" (an integer), "eos_token_id"
 * (an integer or a JSON list of integers), the embedded tokenizer (one of
 * the RB_CKPT_TOKENIZER_* keys, tok_embed.c) and, from checkpoints written
 * before tokenizers were embedded, "tokenizer" (a path to a tokenizer.json /
 * tokenizer.bin, relative paths taken from the checkpoint's folder; a named
 * file that is missing is an error). opts->tokenizer_path, when given, wins
 * and neither is consulted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"
#include "io/tok_embed.h"

static const char *const reserved[] = {"format", "config", "plan"};

/* ---------------- the plan as JSON ---------------- */

static int str_terminated(const char *s, size_t cap) { return memchr(s, '\0', cap) != NULL; }

static rb_status check_plan(const rb_retrofit_plan *p, int n_layers, const char *src, rb_error *err)
{
    if (p->n_blocks != n_layers)
        return rb_fail(err, RB_EINVAL, "%s: retrofit plan lists %d blocks but the model has %d",
                       src, p->n_blocks, n_layers);
    if (p->n_src_layers < 0 || (p->n_blocks > 0 && !p->src_layer))
        return rb_fail(err, RB_EINVAL, "%s: retrofit plan has a bad layer map", src);
    for (int i = 0; i < p->n_blocks; i++)
        if (p->src_layer[i] < -1 || p->src_layer[i] >= p->n_src_layers)
            return rb_fail(err, RB_EINVAL, "%s: retrofit plan maps block %d to base layer %d, "
                           "outside -1..%d", src, i, p->src_layer[i], p->n_src_layers - 1);
    if (!str_terminated(p->adapter_init, sizeof p->adapter_init) ||
        !str_terminated(p->base_model, sizeof p->base_model) || !str_terminated(p->kind, sizeof p->kind))
        return rb_fail(err, RB_EINVAL, "%s: retrofit plan strings are not terminated", src);
    return RB_OK;
}

static char *plan_to_json(const rb_retrofit_plan *p)
{
    cJSON *o = cJSON_CreateObject();
    int ok = o && cJSON_AddNumberToObject(o, "n_src_layers", p->n_src_layers) &&
             cJSON_AddNumberToObject(o, "n_blocks", p->n_blocks);
    cJSON *a = ok ? cJSON_AddArrayToObject(o, "src_layer") : NULL;
    ok = ok && a;
    for (int i = 0; ok && i < p->n_blocks; i++) {
        cJSON *n = cJSON_CreateNumber(p->src_layer[i]);
        ok = n && cJSON_AddItemToArray(a, n);
    }
    ok = ok && cJSON_AddStringToObject(o, "adapter_init", p->adapter_init) &&
         cJSON_AddStringToObject(o, "base_model", p->base_model);
    if (ok && p->kind[0]) ok = cJSON_AddStringToObject(o, "kind", p->kind) != NULL;
    return rb_json_take_text(o, ok, 0);
}

static rb_status plan_from_json(const char *json, int n_layers, const char *src,
                                rb_retrofit_plan *p, rb_error *err)
{
    memset(p, 0, sizeof *p);
    cJSON *o = cJSON_Parse(json);
    rb_status rc = RB_OK;
    if (!cJSON_IsObject(o)) {
        rc = rb_fail(err, RB_EFORMAT, "%s: the retrofit plan is not a JSON object", src);
        goto done;
    }
    for (const cJSON *x = o->child; x; x = x->next) {
        static const char *const keys[] = {"n_src_layers", "n_blocks", "src_layer",
                                           "adapter_init", "base_model", "kind"};
        int known = 0;
        for (int i = 0; i < 6; i++) known |= !strcmp(x->string, keys[i]);
        if (!known) {
            rc = rb_fail(err, RB_EFORMAT, "%s: unknown retrofit plan field \"%.60s\"", src,
                         x->string);
            goto done;
        }
    }
    const cJSON *ns = cJSON_GetObjectItemCaseSensitive(o, "n_src_layers");
    const cJSON *nb = cJSON_GetObjectItemCaseSensitive(o, "n_blocks");
    const cJSON *sl = cJSON_GetObjectItemCaseSensitive(o, "src_layer");
    const cJSON *ai = cJSON_GetObjectItemCaseSensitive(o, "adapter_init");
    const cJSON *bm = cJSON_GetObjectItemCaseSensitive(o, "base_model");
    if (!rb_json_is_int_in(ns, 0, 1e6) || !rb_json_is_int_in(nb, 0, 1e6) || !cJSON_IsArray(sl) ||
        !cJSON_IsString(ai) || !cJSON_IsString(bm)) {
        rc = rb_fail(err, RB_EFORMAT, "%s: the retrofit plan needs n_src_layers, n_blocks "
                     "(integers), src_layer (a list), adapter_init and base_model (strings)",
                     src);
        goto done;
    }
    p->n_src_layers = (int)ns->valuedouble;
    p->n_blocks = (int)nb->valuedouble;
    if (cJSON_GetArraySize(sl) != p->n_blocks) {
        rc = rb_fail(err, RB_EFORMAT, "%s: the retrofit plan's src_layer has %d entries for %d "
                     "blocks", src, cJSON_GetArraySize(sl), p->n_blocks);
        goto done;
    }
    if (strlen(ai->valuestring) >= sizeof p->adapter_init ||
        strlen(bm->valuestring) >= sizeof p->base_model) {
        rc = rb_fail(err, RB_EFORMAT, "%s: the retrofit plan's adapter_init or base_model is "
                     "too long", src);
        goto done;
    }
    const cJSON *kd = cJSON_GetObjectItemCaseSensitive(o, "kind"); /* optional */
    if (kd && (!cJSON_IsString(kd) || strlen(kd->valuestring) >= sizeof p->kind)) {
        rc = rb_fail(err, RB_EFORMAT, "%s: the retrofit plan's kind must be a short string", src);
        goto done;
    }
    if (kd) snprintf(p->kind, sizeof p->kind, "%s", kd->valuestring);
    snprintf(p->adapter_init, sizeof p->adapter_init, "%s", ai->valuestring);
    snprintf(p->base_model, sizeof p->base_model, "%s", bm->valuestring);
    p->src_layer = calloc((size_t)p->n_blocks + 1, sizeof *p->src_layer);
    if (!p->src_layer) {
        rc = rb_fail(err, RB_ENOMEM, "%s: out of memory", src);
        goto done;
    }
    int i = 0;
    for (const cJSON *x = sl->child; x; x = x->next, i++) {
        if (!rb_json_is_int_in(x, -1, 1e6)) {
            rc = rb_fail(err, RB_EFORMAT, "%s: the retrofit plan's src_layer[%d] is not an "
                         "integer >= -1", src, i);
            goto done;
        }
        p->src_layer[i] = (int)x->valuedouble;
    }
    rc = check_plan(p, n_layers, src, err);
done:
    cJSON_Delete(o);
    if (rc != RB_OK) rb_retrofit_plan_free(p);
    return rc;
}

/* ---------------- save ---------------- */

rb_status rb_checkpoint_save(const char *path, const rb_config *cfg, const float *params,
                             const rb_retrofit_plan *plan, const char *const *extra_keys,
                             const char *const *extra_values, int n_extra, rb_error *err)
{
    rb_config c = *cfg;
    rb_status rc = rb_config_finalize(&c, err);
    if (rc != RB_OK) {
        rb_fail_prefix(err, "saving checkpoint %s: ", path);
        return rc;
    }
    if (!params) return rb_fail(err, RB_EINVAL, "saving checkpoint %s: no parameters", path);
    if (n_extra < 0 || (n_extra > 0 && (!extra_keys || !extra_values)))
        return rb_fail(err, RB_EINVAL, "saving checkpoint %s: bad extra metadata list", path);
    for (int i = 0; i < n_extra; i++)
        for (int r = 0; r < 3; r++)
            if (extra_keys[i] && !strcmp(extra_keys[i], reserved[r]))
                return rb_fail(err, RB_EINVAL, "saving checkpoint %s: extra metadata key \"%s\" "
                               "is reserved (format, config, plan)", path, extra_keys[i]);
    if (plan && (rc = check_plan(plan, rb_config_n_layers(&c), path, err)) != RB_OK) return rc;

    rb_param_table tab;
    if ((rc = rb_param_table_build(&tab, &c, err)) != RB_OK) return rc;
    char *cj = rb_config_to_json(&c);
    char *pj = plan ? plan_to_json(plan) : NULL;
    int n_meta = 2 + (plan ? 1 : 0) + n_extra;
    const char **mk = calloc((size_t)n_meta, sizeof *mk);
    const char **mv = calloc((size_t)n_meta, sizeof *mv);
    rb_st_write_tensor *wt = calloc((size_t)tab.count + 1, sizeof *wt);
    if (!cj || (plan && !pj) || !mk || !mv || !wt) {
        rc = rb_fail(err, RB_ENOMEM, "saving checkpoint %s: out of memory", path);
        goto done;
    }
    int k = 0;
    mk[k] = "format", mv[k++] = "retrobench";
    mk[k] = "config", mv[k++] = cj;
    if (plan) mk[k] = "plan", mv[k++] = pj;
    for (int i = 0; i < n_extra; i++) mk[k] = extra_keys[i], mv[k++] = extra_values[i];
    for (int i = 0; i < tab.count; i++) {
        const rb_param *p = &tab.items[i];
        wt[i].name = p->name;
        wt[i].dtype = RB_ST_F32;
        wt[i].ndim = p->ndim;
        wt[i].shape[0] = p->rows;
        wt[i].shape[1] = p->cols;
        wt[i].data = params + p->offset;
    }
    rc = rb_st_write(path, wt, tab.count, mk, mv, n_meta, err);
done:
    free(wt);
    free(mk);
    free(mv);
    free(cj);
    free(pj);
    rb_param_table_free(&tab);
    return rc;
}

/* ---------------- load ---------------- */

static rb_status parse_id_list(const char *text, const char *key, const char *src, int *ids,
                               int max, int *n, rb_error *err)
{
    cJSON *j = cJSON_Parse(text);
    rb_status rc = RB_OK;
    *n = 0;
    if (rb_json_is_int_in(j, 0, 2147483647.0)) {
        ids[(*n)++] = (int)j->valuedouble;
    } else if (cJSON_IsArray(j) && cJSON_GetArraySize(j) <= max) {
        for (const cJSON *x = j->child; x && rc == RB_OK; x = x->next) {
            if (!rb_json_is_int_in(x, 0, 2147483647.0))
                rc = RB_EFORMAT;
            else
                ids[(*n)++] = (int)x->valuedouble;
        }
    } else {
        rc = RB_EFORMAT;
    }
    cJSON_Delete(j);
    if (rc != RB_OK)
        rb_fail(err, rc, "%s: __metadata__ \"%s\" must be a token id or a list of at most %d "
                "ids", src, key, max);
    return rc;
}

static char *metadata_as_json(const rb_safetensors *st)
{
    cJSON *o = cJSON_CreateObject();
    int ok = o != NULL;
    for (int i = 0; ok && i < rb_st_metadata_count(st); i++)
        ok = cJSON_AddStringToObject(o, rb_st_metadata_key(st, i), rb_st_metadata_value(st, i)) !=
             NULL;
    return rb_json_take_text(o, ok, 0);
}

rb_status rb_load_checkpoint(const char *path, const rb_load_opts *opts, rb_loaded_model *out,
                             rb_error *err)
{
    memset(out, 0, sizeof *out);
    out->bos_id = -1;
    rb_safetensors *st = NULL;
    rb_param_table tab = {0};
    rb_st_entry *ent = NULL, **match = NULL;
    rb_status rc = rb_st_open(&st, path, err);
    if (rc != RB_OK) return rc;

    const char *fmt = rb_st_metadata_get(st, "format");
    if (!fmt || strcmp(fmt, "retrobench") != 0) {
        rc = rb_fail(err, RB_EFORMAT, "%s: not a retrobench checkpoint (its __metadata__ has no "
                     "\"format\": \"retrobench\"); a Hugging Face model loads from its folder, "
                     "the one holding config.json", path);
        goto fail;
    }
    const char *cj = rb_st_metadata_get(st, "config");
    if (!cj) {
        rc = rb_fail(err, RB_EFORMAT, "%s: __metadata__ has no \"config\" entry", path);
        goto fail;
    }
    char src[1200];
    snprintf(src, sizeof src, "%s (__metadata__ \"config\")", path);
    if ((rc = rb_config_from_json(cj, &out->cfg, src, err)) != RB_OK) goto fail;
    const int L = rb_config_n_layers(&out->cfg);
    const char *pj = rb_st_metadata_get(st, "plan");
    if (pj) {
        snprintf(src, sizeof src, "%s (__metadata__ \"plan\")", path);
        if ((rc = plan_from_json(pj, L, src, &out->plan, err)) != RB_OK) goto fail;
        out->has_plan = 1;
    }

    /* Every block holds several tensors: a layer count beyond the tensor
     * count is wrong, and refusing it keeps the table bounded by the file. */
    const int n = rb_st_count(st);
    if (L > n) {
        rc = rb_fail(err, RB_EFORMAT, "%s: the config has %d blocks but the file holds only %d "
                     "tensors", path, L, n);
        goto fail;
    }
    if ((rc = rb_param_table_build(&tab, &out->cfg, err)) != RB_OK) goto fail;
    ent = calloc((size_t)n + 1, sizeof *ent);
    match = calloc((size_t)tab.count + 1, sizeof *match);
    if (!ent || !match) {
        rc = rb_fail(err, RB_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        ent[i].t = rb_st_at(st, i);
        ent[i].name = ent[i].t->name;
        ent[i].st = st;
    }
    if ((rc = rb_st_entries_sort(ent, n, path, err)) != RB_OK) goto fail;
    if ((rc = rb_st_match_table(&tab, ent, n, match, path, "its config", err)) != RB_OK)
        goto fail;
    for (int i = 0; i < n; i++)
        if (!ent[i].used) {
            rc = rb_fail(err, RB_EFORMAT, "%s: tensor '%s' is not a parameter of the model its "
                         "config describes", path, ent[i].name);
            goto fail;
        }
    out->n_params = tab.total;
    out->headers_only = opts && opts->headers_only;
    if (!out->headers_only) {
        out->params = rb_io_params_alloc(opts, &out->cfg, tab.total, path, &out->params_borrowed, err);
        if (!out->params) {
            rc = err ? err->code : RB_ENOMEM;
            goto fail;
        }
        if ((rc = rb_st_copy_table(&tab, match, out->params, err)) != RB_OK) goto fail;
    }
    out->metadata_json = metadata_as_json(st);
    if (!out->metadata_json) {
        rc = rb_fail(err, RB_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    out->format = RB_FORMAT_CHECKPOINT;
    snprintf(out->source, sizeof out->source, "%s", path);

    const char *b = rb_st_metadata_get(st, "bos_token_id");
    const char *e = rb_st_metadata_get(st, "eos_token_id");
    int nb = 0;
    if (b && (rc = parse_id_list(b, "bos_token_id", path, &out->bos_id, 1, &nb, err)) != RB_OK)
        goto fail;
    if (!nb) out->bos_id = -1;
    if (e && (rc = parse_id_list(e, "eos_token_id", path, out->eos_ids, RB_MAX_EOS_IDS,
                                 &out->n_eos, err)) != RB_OK)
        goto fail;

    char tok_path[RB_IO_PATH_MAX];
    const char *tp = opts ? opts->tokenizer_path : NULL;
    static const char *const embed_keys[] = {RB_CKPT_TOKENIZER_JSON, RB_CKPT_TOKENIZER_BIN,
                                             RB_CKPT_TOKENIZER_GGUF};
    for (int k = 0; k < 3 && !tp && !out->tok; k++) {
        const char *v = rb_st_metadata_get(st, embed_keys[k]);
        if (!v) continue;
        rb_tokenizer *t = NULL;
        if ((rc = rb_tokenizer_from_embedding(embed_keys[k], v, path, &t, err)) != RB_OK) goto fail;
        if ((rc = rb_io_adopt_tokenizer(out, t, path, err)) != RB_OK) goto fail;
        snprintf(out->tok_embed_key, sizeof out->tok_embed_key, "%s", embed_keys[k]);
        if (!(out->tok_embed_value = strdup(v))) {
            rc = rb_fail(err, RB_ENOMEM, "%s: out of memory", path);
            goto fail;
        }
    }
    const char *meta_tok = rb_st_metadata_get(st, "tokenizer");
    if (!tp && !out->tok && meta_tok && meta_tok[0]) {
        if (meta_tok[0] == '/') {
            snprintf(tok_path, sizeof tok_path, "%s", meta_tok);
        } else {
            char dir[RB_IO_PATH_MAX];
            rb_io_dirname(path, dir, sizeof dir);
            if (rb_io_join(tok_path, sizeof tok_path, dir, meta_tok) != 0) {
                rc = rb_fail(err, RB_EINVAL, "%s: tokenizer path in __metadata__ is too long",
                             path);
                goto fail;
            }
        }
        if (!rb_io_is_file(tok_path)) {
            rc = rb_fail(err, RB_EIO, "%s: __metadata__ names the tokenizer %s, which does not "
                         "exist (this checkpoint predates embedded tokenizers); pass the "
                         "tokenizer with --tokenizer, or `retrobench convert -m CKPT --tokenizer "
                         "TOK -o NEW.safetensors` to embed it", path, tok_path);
            goto fail;
        }
        tp = tok_path;
    }
    if (tp && (rc = rb_io_attach_tokenizer(out, tp, 0, err)) != RB_OK) goto fail;

    free(ent);
    free(match);
    rb_param_table_free(&tab);
    rb_st_close(st);
    return RB_OK;
fail:
    free(ent);
    free(match);
    rb_param_table_free(&tab);
    rb_st_close(st);
    rb_loaded_model_free(out);
    return rc;
}
