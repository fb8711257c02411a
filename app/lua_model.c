/* lua_model.c: models in Lua: rb.load (any format), rb.model (a randomly
 * initialised plain model from a configuration table), rb.convert, and the
 * model methods info, flops, save, encode, decode, close. A model is a
 * full userdata owning its backend, the engine model and what its file
 * said (configuration, tokenizer, plan, metadata); a model made from
 * another (surgery, a random model given a model's tokenizer) shares that
 * model's tokenizer and keeps it alive. */
#include "lua_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "rb_backend.h"
#include "rb_sched.h"

/* ---------------- backends ---------------- */

static rb_status make_backend(lua_State *L, const char *device, rb_backend **out, char *used, size_t cap,
                              rb_error *err)
{
    *out = NULL;
    if (!device) device = app_device_choice();
    if (!device) device = "cpu";
    if (!strcmp(device, "gpu")) device = "cuda";
    if (strcmp(device, "cpu") && strcmp(device, "cuda") && strcmp(device, "auto"))
        return rb_fail(err, RB_EINVAL, "device must be \"cpu\", \"cuda\" or \"auto\", not '%s'", device);
    if (strcmp(device, "cpu") != 0) {
        rb_cuda_options o;
        rb_cuda_options_default(&o);
        const char *prec = app_precision_choice();
        if (prec) {
            int p = rb_cuda_precision_parse(prec);
            if (p < 0) return rb_fail(err, RB_EINVAL, "precision must be fp32, tf32 or bf16, not '%s'", prec);
            o.precision = (rb_cuda_precision)p;
        }
        rb_error e2 = {0};
        if (rb_backend_cuda_create(out, &o, &e2) == RB_OK) {
            snprintf(used, cap, "%s", app_backend_describe(*out));
            return RB_OK;
        }
        if (!strcmp(device, "cuda"))
            return rb_fail(err, RB_EBACKEND, "device \"cuda\": %s; use device = \"cpu\" or \"auto\"", e2.msg);
        lh_log(L, LH_LOG_WARN, "device \"auto\": %s; using the CPU", e2.msg);
    }
    snprintf(used, cap, "cpu");
    return rb_backend_cpu_create(out, err);
}

/* ---------------- the userdata ---------------- */

lh_model *lh_check_model(lua_State *L, int idx, const char *fn)
{
    lh_model *mm = luaL_testudata(L, idx, LH_MODEL_MT);
    if (!mm && idx > 0)
        lh_error(L, "%s: argument #%d must be a model (from rb.load, rb.model or rb.surgery), not a %s", fn, idx,
                 luaL_typename(L, idx));
    if (!mm) lh_error(L, "%s: model must be a model (from rb.load, rb.model or rb.surgery), not a %s", fn,
                      luaL_typename(L, idx));
    if (!mm->m) lh_error(L, "%s: the model was closed (model:close()); load it again", fn);
    return mm;
}

const rb_tokenizer *lh_model_tok(const lh_model *mm) { return mm->tok_lm ? mm->tok_lm->tok : NULL; }

static void release(lh_model *mm)
{
    rb_model_destroy(mm->m);
    mm->m = NULL;
    rb_backend_destroy(mm->be);
    mm->be = NULL;
}

static int m_gc(lua_State *L)
{
    lh_model *mm = luaL_checkudata(L, 1, LH_MODEL_MT);
    if (mm->busy) return 0; /* a run still holds it: never happens (the run holds a reference) */
    release(mm);
    rb_loaded_model_free(&mm->lm);
    if (mm->tok_ref != LUA_NOREF) luaL_unref(L, LUA_REGISTRYINDEX, mm->tok_ref);
    mm->tok_ref = LUA_NOREF;
    mm->tok_lm = NULL;
    return 0;
}

static lh_model *new_model(lua_State *L)
{
    lh_model *mm = lua_newuserdatauv(L, sizeof *mm, 0);
    memset(mm, 0, sizeof *mm);
    mm->tok_ref = LUA_NOREF;
    luaL_setmetatable(L, LH_MODEL_MT);
    return mm;
}

lh_model *lh_push_model(lua_State *L, const char *fn, const rb_config *cfg, const float *params, const char *device)
{
    lh_model *mm = new_model(L);
    rb_error err = {0};
    mm->lm.cfg = *cfg;
    mm->lm.bos_id = -1;
    mm->tok_lm = &mm->lm;
    if (make_backend(L, device, &mm->be, mm->device, sizeof mm->device, &err) != RB_OK ||
        rb_model_create(&mm->m, cfg, mm->be, &err) != RB_OK || rb_model_set_params(mm->m, params, &err) != RB_OK) {
        release(mm);
        lh_engine_error(L, fn, &err);
    }
    mm->lm.cfg = mm->m->cfg; /* finalized */
    return mm;
}

/* ---------------- rb.load ---------------- */

typedef struct {
    lh_model *mm;
} load_ctx;

/* The weights go straight into the CPU model's memory (one copy). */
static float *alloc_in_model(void *ctx, const rb_config *cfg, size_t n_floats, rb_error *err)
{
    lh_model *mm = ctx;
    if (rb_model_create(&mm->m, cfg, mm->be, err) != RB_OK) return NULL;
    if (mm->m->table.total != n_floats) {
        rb_fail(err, RB_EINVAL, "parameter table of %zu floats, the loader expects %zu", mm->m->table.total,
                n_floats);
        return NULL;
    }
    return mm->m->params;
}

static int l_load(lua_State *L)
{
    const char *fn = "rb.load";
    const char *path = luaL_checkstring(L, 1);
    static const char *const known[] = {"tokenizer", "device", NULL};
    lh_check_keys(L, 2, fn, known);
    const char *tok = lh_opt_str(L, 2, fn, "tokenizer", NULL);
    const char *device = lh_opt_str(L, 2, fn, "device", NULL);
    lh_model *mm = new_model(L);
    rb_error err = {0};
    if (make_backend(L, device, &mm->be, mm->device, sizeof mm->device, &err) != RB_OK) lh_engine_error(L, fn, &err);
    rb_load_opts lo = {.tokenizer_path = tok};
    const int direct = !strcmp(mm->be->name, "cpu");
    if (direct) {
        lo.params_alloc = alloc_in_model;
        lo.params_ctx = mm;
    }
    if (rb_model_file_load(path, &lo, &mm->lm, &err) != RB_OK) {
        release(mm);
        lh_engine_error(L, fn, &err);
    }
    if (!direct &&
        (rb_model_create(&mm->m, &mm->lm.cfg, mm->be, &err) != RB_OK ||
         rb_model_set_params(mm->m, mm->lm.params, &err) != RB_OK)) {
        release(mm);
        lh_engine_error(L, fn, &err);
    }
    if (!direct) free(mm->lm.params);
    mm->lm.params = NULL; /* the weights live in the model now */
    mm->lm.params_borrowed = 0;
    mm->tok_lm = &mm->lm;
    return 1;
}

/* ---------------- rb.model: a random plain model ---------------- */

static int l_model(lua_State *L)
{
    const char *fn = "rb.model";
    luaL_checktype(L, 1, LUA_TTABLE);
    static const char *const known_cfg[] = {"vocab_size", "dim", "n_layers", "n_heads", "n_kv_heads", "head_dim",
                                            "hidden_dim", "max_seq_len", "block", "norm_eps", "rope_theta",
                                            "tied_head", NULL};
    static const char *const known_opt[] = {"seed", "std", "tokenizer", "device", NULL};
    lh_check_keys(L, 1, fn, known_cfg);
    lh_check_keys(L, 2, fn, known_opt);
    rb_config c;
    rb_config_defaults(&c);
    c.vocab_size = (int)lh_opt_int(L, 1, fn, "vocab_size", 0, 1, 1 << 24);
    c.dim = (int)lh_opt_int(L, 1, fn, "dim", 0, 1, 1 << 16);
    const int n_layers = (int)lh_opt_int(L, 1, fn, "n_layers", 0, 1, 4096);
    c.n_heads = (int)lh_opt_int(L, 1, fn, "n_heads", 0, 1, 4096);
    c.n_kv_heads = (int)lh_opt_int(L, 1, fn, "n_kv_heads", c.n_heads, 1, 4096);
    c.head_dim = (int)lh_opt_int(L, 1, fn, "head_dim", 0, 0, 1 << 14);
    c.hidden_dim = (int)lh_opt_int(L, 1, fn, "hidden_dim", 0, 1, 1 << 20);
    c.max_seq_len = (int)lh_opt_int(L, 1, fn, "max_seq_len", 0, 1, 1 << 22);
    static const char *const blocks[] = {"llama", "olmo2", NULL};
    c.block = lh_opt_choice(L, 1, fn, "block", blocks, 0) == 1 ? RB_BLOCK_OLMO2 : RB_BLOCK_LLAMA;
    c.norm_eps = (float)lh_opt_num(L, 1, fn, "norm_eps", c.block == RB_BLOCK_OLMO2 ? 1e-6 : c.norm_eps, 0, 1);
    c.rope_theta = (float)lh_opt_num(L, 1, fn, "rope_theta", c.rope_theta, 1, 1e12);
    c.tied_head = lh_opt_bool(L, 1, fn, "tied_head", 1);
    static const char *const required[] = {"vocab_size", "dim", "n_layers", "n_heads", "hidden_dim", "max_seq_len", NULL};
    for (int i = 0; required[i]; i++) {
        lua_getfield(L, 1, required[i]);
        if (lua_isnil(L, -1))
            lh_error(L, "%s: the configuration needs %s (required: vocab_size, dim, n_layers, n_heads, hidden_dim, "
                        "max_seq_len)", fn, required[i]);
        lua_pop(L, 1);
    }
    c.n_prelude = n_layers; /* a plain model: every layer is "prelude" */
    const uint64_t seed = (uint64_t)lh_opt_int(L, 2, fn, "seed", 1, 0, INT64_MAX);
    const double std = lh_opt_num(L, 2, fn, "std", 0.02, 0, 10);
    const char *device = lh_opt_str(L, 2, fn, "device", NULL);
    rb_error err = {0};
    if (rb_config_finalize(&c, &err) != RB_OK) lh_engine_error(L, fn, &err);
    /* the tokenizer: a file, or a model whose tokenizer to share */
    lh_model *owner = NULL;
    const char *tok_path = NULL;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "tokenizer");
        if (lua_type(L, -1) == LUA_TSTRING) tok_path = lua_tostring(L, -1);
        else if (!lua_isnil(L, -1)) owner = lh_check_model(L, lua_gettop(L), fn);
        lua_pop(L, 1);
    }
    lh_model *mm = new_model(L);
    if (make_backend(L, device, &mm->be, mm->device, sizeof mm->device, &err) != RB_OK ||
        rb_model_create(&mm->m, &c, mm->be, &err) != RB_OK ||
        rb_model_init_random(mm->m, seed, (float)std, &err) != RB_OK) {
        release(mm);
        lh_engine_error(L, fn, &err);
    }
    mm->lm.cfg = mm->m->cfg;
    mm->lm.bos_id = -1;
    mm->lm.format = RB_FORMAT_UNKNOWN;
    snprintf(mm->lm.source, sizeof mm->lm.source, "random (seed %llu)", (unsigned long long)seed);
    mm->tok_lm = &mm->lm;
    if (tok_path) {
        rb_tokenizer *t = NULL;
        if (rb_tokenizer_load_any(&t, tok_path, &err) != RB_OK) {
            release(mm);
            lh_engine_error(L, fn, &err);
        }
        if (rb_tokenizer_bos(t) < 0 && rb_detect_format(tok_path) == RB_FORMAT_LLAMA2C)
            rb_tokenizer_set_special(t, 1, 2); /* llama2.c's convention, as its loader does */
        if (rb_tokenizer_vocab_size(t) > c.vocab_size) {
            int tv = rb_tokenizer_vocab_size(t);
            rb_tokenizer_free(t);
            release(mm);
            lh_error(L, "%s: the tokenizer %s has %d ids, more than vocab_size %d; raise vocab_size", fn, tok_path,
                     tv, c.vocab_size);
        }
        mm->lm.tok = t;
        snprintf(mm->lm.tokenizer_path, sizeof mm->lm.tokenizer_path, "%s", tok_path);
        mm->lm.bos_id = rb_tokenizer_bos(t);
        int eos = rb_tokenizer_eos(t);
        mm->lm.n_eos = eos >= 0;
        mm->lm.eos_ids[0] = eos;
    } else if (owner) {
        const rb_tokenizer *t = lh_model_tok(owner);
        if (t && rb_tokenizer_vocab_size(t) > c.vocab_size) {
            release(mm);
            lh_error(L, "%s: the tokenizer of the given model has %d ids, more than vocab_size %d", fn,
                     rb_tokenizer_vocab_size(t), c.vocab_size);
        }
        mm->tok_lm = owner->tok_lm;
        lua_getfield(L, 2, "tokenizer");
        mm->tok_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    return 1;
}

/* ---------------- methods ---------------- */

static void set_int(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}
static void set_num(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}
static void set_str(lua_State *L, const char *k, const char *v)
{
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
}

static void flops_at(const lh_model *mm, int r, double *train, double *infer)
{
    const rb_config *c = &mm->m->cfg;
    rb_param_counts pc;
    rb_model_param_counts(mm->m, &pc);
    const double head = (double)c->vocab_size * c->dim;
    if (!rb_config_is_recurrent(c)) {
        *train = rb_flops_per_token_static(pc.total - pc.embed - pc.head);
        *infer = 2.0 * ((double)pc.prelude + pc.coda + pc.final_norm + head);
    } else {
        *train = rb_flops_per_token_scheduled(pc.prelude, pc.recur - pc.adapter, pc.coda, r, 8);
        *infer = 2.0 * ((double)pc.prelude + (double)r * pc.recur + pc.coda + pc.final_norm + head);
    }
}

static void push_layer_list(lua_State *L, const rb_retrofit_plan *p, int from, int n)
{
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushinteger(L, p->src_layer[from + i]);
        lua_rawseti(L, -2, i + 1);
    }
}

static int m_info(lua_State *L)
{
    lh_model *mm = lh_check_model(L, 1, "model:info");
    static const char *const known[] = {"depth", NULL};
    lh_check_keys(L, 2, "model:info", known);
    const int depth = (int)lh_opt_int(L, 2, "model:info", "depth", 0, 0, 1 << 20);
    const rb_config *c = &mm->m->cfg;
    rb_param_counts pc;
    rb_model_param_counts(mm->m, &pc);
    lua_newtable(L);
    set_str(L, "source", mm->lm.source);
    set_str(L, "format", mm->lm.format ? rb_model_format_name(mm->lm.format) : "random");
    set_str(L, "device", mm->device);
    lua_pushboolean(L, rb_config_is_recurrent(c));
    lua_setfield(L, -2, "recurrent");
    set_int(L, "layers", rb_config_n_layers(c));
    set_int(L, "prelude", c->n_prelude);
    set_int(L, "recur", c->n_recur);
    set_int(L, "coda", c->n_coda);
    set_int(L, "vocab_size", c->vocab_size);
    set_int(L, "dim", c->dim);
    set_int(L, "n_heads", c->n_heads);
    set_int(L, "n_kv_heads", c->n_kv_heads);
    set_int(L, "head_dim", c->head_dim);
    set_int(L, "hidden_dim", c->hidden_dim);
    set_int(L, "max_seq_len", c->max_seq_len);
    set_str(L, "block", c->block == RB_BLOCK_OLMO2 ? "olmo2" : "llama");
    set_num(L, "norm_eps", c->norm_eps);
    set_num(L, "rope_theta", c->rope_theta);
    lua_pushboolean(L, c->tied_head);
    lua_setfield(L, -2, "tied_head");
    set_str(L, "state_init", c->state_init == RB_STATE_ZERO ? "zero" : "truncnormal");
    set_num(L, "state_sigma", c->state_sigma);
    lua_newtable(L);
    set_int(L, "total", (lua_Integer)pc.total);
    set_int(L, "embed", (lua_Integer)pc.embed);
    set_int(L, "prelude", (lua_Integer)pc.prelude);
    set_int(L, "recur", (lua_Integer)pc.recur);
    set_int(L, "adapter", (lua_Integer)pc.adapter);
    set_int(L, "coda", (lua_Integer)pc.coda);
    set_int(L, "final_norm", (lua_Integer)pc.final_norm);
    set_int(L, "head", (lua_Integer)pc.head);
    set_int(L, "non_embedding", (lua_Integer)(pc.total - pc.embed - pc.head));
    lua_setfield(L, -2, "params");
    if (mm->lm.has_plan) {
        const rb_retrofit_plan *p = &mm->lm.plan;
        lua_newtable(L);
        push_layer_list(L, p, 0, c->n_prelude);
        lua_setfield(L, -2, "prelude");
        push_layer_list(L, p, c->n_prelude, c->n_recur);
        lua_setfield(L, -2, "recur");
        push_layer_list(L, p, c->n_prelude + c->n_recur, c->n_coda);
        lua_setfield(L, -2, "coda");
        set_int(L, "base_layers", p->n_src_layers);
        set_str(L, "base", p->base_model);
        set_str(L, "adapter_init", p->adapter_init);
        set_str(L, "kind", p->kind[0] ? p->kind : "retrofit");
        lua_setfield(L, -2, "plan");
    }
    const rb_tokenizer *t = lh_model_tok(mm);
    if (t) {
        char id[32];
        snprintf(id, sizeof id, "%016llx", (unsigned long long)rb_tokenizer_identity(t));
        lua_newtable(L);
        set_int(L, "vocab_size", rb_tokenizer_vocab_size(t));
        set_str(L, "identity", id);
        set_int(L, "bos", rb_tokenizer_bos(t));
        set_int(L, "eos", rb_tokenizer_eos(t));
        lua_setfield(L, -2, "tokenizer");
    }
    if (depth > 0) {
        double tr, inf;
        flops_at(mm, depth, &tr, &inf);
        lua_newtable(L);
        set_int(L, "depth", depth);
        set_num(L, "train", tr);
        set_num(L, "infer", inf);
        lua_setfield(L, -2, "flops");
    }
    return 1;
}

static int m_flops(lua_State *L)
{
    lh_model *mm = lh_check_model(L, 1, "model:flops");
    lua_Integer r = luaL_optinteger(L, 2, 1);
    if (r < 1 || r > 65536) lh_error(L, "model:flops: depth %lld is out of range; give 1..65536", (long long)r);
    double tr, inf;
    flops_at(mm, (int)r, &tr, &inf);
    lua_pushnumber(L, tr);
    lua_pushnumber(L, inf);
    return 2;
}

/* The checkpoint metadata pairs of lm (tokenizer embedded, special ids),
 * as `retrobench surgery/train/convert` write them, in the same order. */
static rb_status meta_pairs(const rb_loaded_model *lm, const char **keys, const char **vals, int *n, char **owned,
                            char *bos, char *eos, rb_error *err)
{
    *owned = NULL;
    if (lm->tok) {
        const char *key = NULL;
        if (rb_tokenizer_embedding(lm, &key, owned, err) != RB_OK)
            return rb_fail_prefix(err, "cannot carry the tokenizer into the checkpoint: ");
        keys[*n] = key;
        vals[(*n)++] = *owned;
    }
    if (lm->bos_id >= 0) {
        snprintf(bos, 32, "%d", lm->bos_id);
        keys[*n] = "bos_token_id";
        vals[(*n)++] = bos;
    }
    if (lm->n_eos > 0) {
        snprintf(eos, 32, "%d", lm->eos_ids[0]);
        keys[*n] = "eos_token_id";
        vals[(*n)++] = eos;
    }
    return RB_OK;
}

void lh_model_meta(lua_State *L, const char *fn, const lh_model *mm, const char **keys, const char **vals, int *n,
                   char **owned, char *bos, char *eos)
{
    rb_error err = {0};
    if (meta_pairs(mm->tok_lm ? mm->tok_lm : &mm->lm, keys, vals, n, owned, bos, eos, &err) != RB_OK)
        lh_engine_error(L, fn, &err);
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* model:save(path): a retrobench checkpoint (.safetensors: the tokenizer
 * embedded, the plan recorded) or a Hugging Face folder (plain models) */
static int m_save(lua_State *L)
{
    const char *fn = "model:save";
    lh_model *mm = lh_check_model(L, 1, fn);
    const char *path = luaL_checkstring(L, 2);
    if (ends_with(path, ".gguf") || ends_with(path, ".bin") || ends_with(path, ".json"))
        return lh_error(L, "%s: %s: write a retrobench .safetensors or a Hugging Face folder (a path without an "
                           "extension)", fn, path);
    rb_error err = {0};
    const rb_loaded_model *lm = mm->tok_lm ? mm->tok_lm : &mm->lm;
    const char *keys[4], *vals[4];
    int n = 0;
    char bos[32], eos[32], *owned = NULL, *text = NULL;
    size_t len = 0;
    float *host = malloc(mm->m->table.total * sizeof(float));
    rb_status st = host ? rb_model_get_params(mm->m, host, &err) : rb_fail(&err, RB_ENOMEM, "out of memory");
    if (st == RB_OK && ends_with(path, ".safetensors")) {
        st = meta_pairs(lm, keys, vals, &n, &owned, bos, eos, &err);
        if (st == RB_OK)
            st = rb_checkpoint_save(path, &mm->m->cfg, host, mm->lm.has_plan ? &mm->lm.plan : NULL, keys, vals, n,
                                    &err);
    } else if (st == RB_OK) {
        st = lm->tok ? rb_loaded_model_tokenizer_json(lm, &text, &len, &err) : RB_OK;
        if (st == RB_OK)
            st = rb_hf_folder_save_text(path, &mm->m->cfg, host, text, len, lm->bos_id,
                                        lm->n_eos ? lm->eos_ids[0] : -1, &err);
    }
    free(host);
    free(owned);
    free(text);
    if (st != RB_OK) lh_engine_error(L, fn, &err);
    return 0;
}

static int is_embed_key(const char *k)
{
    return !strcmp(k, RB_CKPT_TOKENIZER_JSON) || !strcmp(k, RB_CKPT_TOKENIZER_BIN) ||
           !strcmp(k, RB_CKPT_TOKENIZER_GGUF) || !strcmp(k, "tokenizer");
}

/* rb.convert(in, out [, {tokenizer}]): what `retrobench convert` writes,
 * without a backend (the weights stay on the host) */
static int l_convert(lua_State *L)
{
    const char *fn = "rb.convert";
    const char *in = luaL_checkstring(L, 1);
    const char *out = luaL_checkstring(L, 2);
    static const char *const known[] = {"tokenizer", NULL};
    lh_check_keys(L, 3, fn, known);
    const char *tok = lh_opt_str(L, 3, fn, "tokenizer", NULL);
    if (ends_with(out, ".gguf") || ends_with(out, ".bin"))
        return lh_error(L, "%s: writing %s is not supported; write a retrobench .safetensors, a tokenizer .json or "
                           "a Hugging Face folder", fn, out);
    rb_error err = {0};
    rb_loaded_model lm;
    memset(&lm, 0, sizeof lm);
    rb_load_opts lo = {.tokenizer_path = tok, .headers_only = ends_with(out, ".json")};
    if (rb_model_file_load(in, &lo, &lm, &err) != RB_OK) lh_engine_error(L, fn, &err);
    rb_status st = RB_OK;
    char *owned = NULL, *text = NULL;
    cJSON *meta = NULL;
    if (ends_with(out, ".json")) {
        st = lm.tok ? rb_tokenizer_save_json(&lm, out, &err)
                    : rb_fail(&err, RB_EINVAL, "%s carries no tokenizer; give one with tokenizer = FILE", in);
    } else if (ends_with(out, ".safetensors")) {
        /* keep the source checkpoint's other metadata (special ids and the
           tokenizer are written again from what was loaded) */
        const char *keys[64], *vals[64];
        int n = 0;
        meta = lm.metadata_json ? cJSON_Parse(lm.metadata_json) : NULL;
        const cJSON *it;
        cJSON_ArrayForEach(it, meta)
        {
            if (n < 60 && cJSON_IsString(it) && strcmp(it->string, "format") && strcmp(it->string, "config") &&
                strcmp(it->string, "plan") && strcmp(it->string, "bos_token_id") &&
                strcmp(it->string, "eos_token_id") && !is_embed_key(it->string)) {
                keys[n] = it->string;
                vals[n++] = it->valuestring;
            }
        }
        char bos[32], eos[32];
        st = meta_pairs(&lm, keys, vals, &n, &owned, bos, eos, &err);
        if (st == RB_OK)
            st = rb_checkpoint_save(out, &lm.cfg, lm.params, lm.has_plan ? &lm.plan : NULL, keys, vals, n, &err);
    } else {
        size_t len = 0;
        st = lm.tok ? rb_loaded_model_tokenizer_json(&lm, &text, &len, &err) : RB_OK;
        if (st == RB_OK)
            st = rb_hf_folder_save_text(out, &lm.cfg, lm.params, text, len, lm.bos_id, lm.n_eos ? lm.eos_ids[0] : -1,
                                        &err);
    }
    cJSON_Delete(meta);
    free(owned);
    free(text);
    rb_loaded_model_free(&lm);
    if (st != RB_OK) lh_engine_error(L, fn, &err);
    return 0;
}

static int m_encode(lua_State *L)
{
    const char *fn = "model:encode";
    lh_model *mm = lh_check_model(L, 1, fn);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    static const char *const known[] = {"bos", NULL};
    lh_check_keys(L, 3, fn, known);
    const rb_tokenizer *t = lh_model_tok(mm);
    if (!t) lh_error(L, "%s: the model carries no tokenizer; load it with tokenizer = FILE", fn);
    int bos = lh_opt_bool(L, 3, fn, "bos", 0);
    int32_t *ids = NULL;
    size_t n = 0;
    rb_error err = {0};
    if (rb_tokenizer_encode(t, text, len, bos && rb_tokenizer_bos(t) >= 0, &ids, &n, &err) != RB_OK)
        lh_engine_error(L, fn, &err);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        lua_pushinteger(L, ids[i]);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    free(ids);
    return 1;
}

static int m_decode(lua_State *L)
{
    const char *fn = "model:decode";
    lh_model *mm = lh_check_model(L, 1, fn);
    luaL_checktype(L, 2, LUA_TTABLE);
    const rb_tokenizer *t = lh_model_tok(mm);
    if (!t) lh_error(L, "%s: the model carries no tokenizer; load it with tokenizer = FILE", fn);
    lua_Integer n = luaL_len(L, 2);
    const int V = rb_tokenizer_vocab_size(t);
    int32_t *ids = lua_newuserdatauv(L, (size_t)(n > 0 ? n : 1) * sizeof *ids, 0);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 2, i);
        int isint = 0;
        lua_Integer v = lua_tointegerx(L, -1, &isint);
        if (!isint || v < 0 || v >= V)
            lh_error(L, "%s: ids[%lld] is %s; ids are integers in 0..%d", fn, (long long)i,
                     lua_isnil(L, -1) ? "nil" : luaL_tolstring(L, -1, NULL), V - 1);
        ids[i - 1] = (int32_t)v;
        lua_pop(L, 1);
    }
    char *text = NULL;
    size_t len = 0;
    rb_error err = {0};
    if (rb_tokenizer_decode(t, ids, (size_t)n, &text, &len, &err) != RB_OK) lh_engine_error(L, fn, &err);
    lua_pushlstring(L, text, len);
    free(text);
    return 1;
}

static int m_close(lua_State *L)
{
    lh_model *mm = luaL_checkudata(L, 1, LH_MODEL_MT);
    if (mm->busy) lh_error(L, "model:close: the model is being trained; close it after rb.train returns");
    if (mm->in_use) lh_error(L, "model:close: the model is being evaluated; close it after rb.eval returns");
    release(mm);
    return 0;
}

static int m_tostring(lua_State *L)
{
    lh_model *mm = luaL_checkudata(L, 1, LH_MODEL_MT);
    if (!mm->m) {
        lua_pushfstring(L, "retrobench model (closed) %s", mm->lm.source);
        return 1;
    }
    const rb_config *c = &mm->m->cfg;
    if (rb_config_is_recurrent(c))
        lua_pushfstring(L, "retrobench model %s: (%d,%d,%d), dim %d", mm->lm.source, c->n_prelude, c->n_recur, c->n_coda,
                        c->dim);
    else
        lua_pushfstring(L, "retrobench model %s: %d layers, dim %d", mm->lm.source, c->n_prelude, c->dim);
    return 1;
}

void lh_open_model(lua_State *L)
{
    static const luaL_Reg methods[] = {{"info", m_info},     {"flops", m_flops},   {"save", m_save},
                                       {"encode", m_encode}, {"decode", m_decode}, {"close", m_close},
                                       {NULL, NULL}};
    if (luaL_newmetatable(L, LH_MODEL_MT)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, m_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, m_close);
        lua_setfield(L, -2, "__close");
        lua_pushcfunction(L, m_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    static const luaL_Reg fns[] = {{"load", l_load}, {"model", l_model}, {"convert", l_convert}, {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}

/* The methods other files add to models (generate, trace, loss) go into
 * the same __index table. */
void lh_model_add_methods(lua_State *L, const luaL_Reg *methods)
{
    luaL_getmetatable(L, LH_MODEL_MT);
    lua_getfield(L, -1, "__index");
    luaL_setfuncs(L, methods, 0);
    lua_pop(L, 2);
}
