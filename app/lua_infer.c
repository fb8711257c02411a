/* lua_infer.c: inference from Lua, with the command line's defaults and
 * seeds so the same call gives the same tokens: model:generate (text at a
 * test-time depth, sampling, adaptive exit), model:trace (the latent state
 * converging, iteration by iteration), model:loss (held-out loss at several
 * depths, on the rows `retrobench train` holds out). */
#include "lua_int.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_data.h"
#include "rb_infer.h"
#include "rb_tokenizer.h"
#include "rb_train.h"

/* One thread for small models while decoding (as the commands do), put
 * back afterwards so training keeps its threads. */
static int decode_threads(const rb_model *m)
{
    int old = omp_get_max_threads();
    if (!getenv("OMP_NUM_THREADS") && m->table.total < 20u * 1000 * 1000) omp_set_num_threads(1);
    return old;
}

/* what `retrobench generate` seeds the state of the token at pos with */
static uint64_t state_seed(uint64_t seed, int pos)
{
    return seed * 0x9E3779B97F4A7C15ull + (uint64_t)pos * 0xD1B54A32D192ED03ull + 1;
}

static void parse_exit(lua_State *L, const char *fn, int opts, rb_exit_rule *ex, int *use)
{
    *use = 0;
    const char *s = lh_opt_str(L, opts, fn, "exit", NULL);
    if (!s) return;
    memset(ex, 0, sizeof *ex);
    const char *colon = strchr(s, ':');
    size_t k = colon ? (size_t)(colon - s) : strlen(s);
    if (k == 3 && !strncmp(s, "rel", 3)) ex->kind = RB_EXIT_REL_CHANGE, ex->threshold = 0.03f;
    else if (k == 2 && !strncmp(s, "kl", 2)) ex->kind = RB_EXIT_KL, ex->threshold = 5e-4f;
    else if (k == 6 && !strncmp(s, "argmax", 6)) ex->kind = RB_EXIT_ARGMAX, ex->patience = 5;
    else lh_error(L, "%s: exit '%s': use \"rel[:0.03]\", \"kl[:5e-4]\" or \"argmax[:5]\"", fn, s);
    if (colon) {
        char *end;
        double v = strtod(colon + 1, &end);
        if (*end || !(v >= 0) || v > 1e9) lh_error(L, "%s: exit '%s': the value after ':' must be a number >= 0", fn, s);
        if (ex->kind == RB_EXIT_ARGMAX) ex->patience = (int)v;
        else ex->threshold = (float)v;
    }
    *use = 1;
}

typedef struct {
    rb_session *s;
    float *logits, *scratch;
    int32_t *ids;
    rb_detok *dt;
    char *text;
    rb_trace tr;
    int have_trace;
    int threads;
} gen_res;

static int gen_gc(lua_State *L)
{
    gen_res *r = lua_touserdata(L, 1);
    rb_session_destroy(r->s);
    free(r->logits);
    free(r->scratch);
    free(r->ids);
    rb_detok_free(r->dt);
    free(r->text);
    if (r->have_trace) rb_trace_free(&r->tr);
    if (r->threads > 0) omp_set_num_threads(r->threads);
    memset(r, 0, sizeof *r);
    return 0;
}

static gen_res *new_res(lua_State *L)
{
    gen_res *r = lua_newuserdatauv(L, sizeof *r, 0);
    memset(r, 0, sizeof *r);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, gen_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    return r;
}

/* free now (the threads come back at once), not at the next collection */
static void done_res(lua_State *L, int idx)
{
    lua_pushcfunction(L, gen_gc);
    lua_pushvalue(L, idx);
    lua_call(L, 1, 0);
}

/* the prompt's ids as `generate` and `trace` make them */
static void encode_prompt(lua_State *L, const char *fn, const rb_tokenizer *tok, const rb_config *cfg, const char *prompt,
                          size_t len, gen_res *r, size_t *n)
{
    rb_error err = {0};
    int bos = rb_tokenizer_bos(tok);
    int add_bos = bos >= 0 && (rb_tokenizer_add_bos(tok) || !prompt[0]);
    if (rb_tokenizer_encode(tok, prompt, len, add_bos, &r->ids, n, &err) != RB_OK)
        lh_error(L, "%s: prompt: %s", fn, err.msg);
    if (*n == 0)
        lh_error(L, "%s: the prompt is empty and the tokenizer has no BOS token to start from; give a prompt", fn);
    if ((long)*n > cfg->max_seq_len)
        lh_error(L, "%s: the prompt is %zu tokens, longer than the model's context of %d tokens; shorten it", fn, *n,
                 cfg->max_seq_len);
}

static int m_generate(lua_State *L)
{
    const char *fn = "model:generate";
    lh_model *mm = lh_check_model(L, 1, fn);
    size_t plen;
    const char *prompt = luaL_checklstring(L, 2, &plen);
    static const char *const known[] = {"max_new", "depth", "temperature", "top_k", "top_p", "seed", "exit", NULL};
    lh_check_keys(L, 3, fn, known);
    const rb_config *cfg = &mm->m->cfg;
    const int recurrent = rb_config_is_recurrent(cfg);
    lua_Integer n_new = lh_opt_int(L, 3, fn, "max_new", 256, 0, 1 << 24);
    const lua_Integer depth = lh_opt_int(L, 3, fn, "depth", recurrent ? 4 : 1, 1, 4096);
    const double temp = lh_opt_num(L, 3, fn, "temperature", 0, 0, 100);
    const lua_Integer top_k = lh_opt_int(L, 3, fn, "top_k", 0, 0, 1 << 24);
    const double top_p = lh_opt_num(L, 3, fn, "top_p", 1, 0, 1);
    const lua_Integer seed = lh_opt_int(L, 3, fn, "seed", 42, 0, INT64_MAX);
    rb_exit_rule ex;
    int use_exit;
    parse_exit(L, fn, 3, &ex, &use_exit);
    const rb_tokenizer *tok = lh_model_tok(mm);
    if (!tok) lh_error(L, "%s: the model carries no tokenizer; load it with tokenizer = FILE", fn);
    gen_res *r = new_res(L);
    const int res_idx = lua_gettop(L);
    size_t n_ids = 0;
    encode_prompt(L, fn, tok, cfg, prompt, plen, r, &n_ids);
    long max_tokens = (long)n_ids + (long)n_new;
    if (max_tokens > cfg->max_seq_len) {
        max_tokens = cfg->max_seq_len;
        n_new = max_tokens - (long)n_ids;
    }
    const int V = cfg->vocab_size;
    rb_error err = {0};
    r->logits = malloc(sizeof(float) * (size_t)V);
    r->scratch = malloc(sizeof(float) * 2 * (size_t)V);
    if (!r->logits || !r->scratch) lh_error(L, "%s: out of memory", fn);
    if (rb_session_create(&r->s, mm->m, (int)(max_tokens > 0 ? max_tokens : 1), recurrent ? (int)depth : 1, &err) !=
            RB_OK ||
        rb_detok_create(&r->dt, tok, &err) != RB_OK)
        lh_engine_error(L, fn, &err);
    if (prompt[0]) rb_detok_mid_text(r->dt);
    r->threads = decode_threads(mm->m);
    rb_sample_opts so = {(float)temp, (int)top_k, (float)top_p};
    rb_rng rng;
    rb_rng_seed(&rng, (uint64_t)seed);
    rb_infer_opts io = {.depth = (int)depth, .exit = use_exit ? &ex : NULL};
    io.seed = state_seed((uint64_t)seed, 0);
    if (rb_session_feed(r->s, r->ids, (int)n_ids, &io, r->logits, NULL, &err) != RB_OK) lh_engine_error(L, fn, &err);
    const int bos = rb_tokenizer_bos(tok);
    const rb_loaded_model *tl = mm->tok_lm ? mm->tok_lm : &mm->lm;
    long generated = 0, depth_sum = 0;
    size_t text_len = 0;
    const char *stop = "length";
    while (generated < n_new) {
        if (lh_stop_value(L)) {
            done_res(L, res_idx);
            return lh_raise_stop(L, " during model:generate");
        }
        int32_t next = rb_sample(r->logits, V, &so, &rng, r->scratch);
        int is_end = next == rb_tokenizer_eos(tok) || (bos >= 0 && next == bos);
        for (int e = 0; e < tl->n_eos; e++) is_end |= next == tl->eos_ids[e];
        if (is_end) {
            stop = "eos";
            break;
        }
        if (rb_detok_push(r->dt, next, &r->text, &text_len, &err) != RB_OK) lh_engine_error(L, fn, &err);
        generated++;
        if (generated == n_new) break;
        int used = 0;
        io.seed = state_seed((uint64_t)seed, rb_session_pos(r->s));
        if (rb_session_feed(r->s, &next, 1, &io, r->logits, &used, &err) != RB_OK) lh_engine_error(L, fn, &err);
        depth_sum += used;
    }
    if (rb_detok_flush(r->dt, &r->text, &text_len, &err) != RB_OK) lh_engine_error(L, fn, &err);
    lua_pushlstring(L, r->text ? r->text : "", text_len);
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, generated);
    lua_setfield(L, -2, "tokens");
    lua_pushinteger(L, (lua_Integer)n_ids);
    lua_setfield(L, -2, "prompt_tokens");
    lua_pushstring(L, stop);
    lua_setfield(L, -2, "stop");
    lua_pushinteger(L, recurrent ? depth : 1);
    lua_setfield(L, -2, "depth");
    if (recurrent && generated > 1) {
        lua_pushnumber(L, (double)depth_sum / (double)(generated - 1));
        lua_setfield(L, -2, "mean_depth");
    }
    done_res(L, res_idx);
    return 2;
}

/* a token's text (as trace prints it, unquoted) */
static void push_piece(lua_State *L, const rb_tokenizer *tok, int32_t id)
{
    rb_detok *d = NULL;
    char *s = NULL;
    size_t n = 0;
    if (rb_detok_create(&d, tok, NULL) == RB_OK) {
        rb_detok_mid_text(d);
        rb_detok_push(d, id, &s, &n, NULL);
        rb_detok_flush(d, &s, &n, NULL);
    }
    lua_pushlstring(L, s ? s : "", n);
    free(s);
    rb_detok_free(d);
}

static int m_trace(lua_State *L)
{
    const char *fn = "model:trace";
    lh_model *mm = lh_check_model(L, 1, fn);
    size_t plen;
    const char *prompt = luaL_checklstring(L, 2, &plen);
    static const char *const known[] = {"depth", "tokens", "seed", NULL};
    lh_check_keys(L, 3, fn, known);
    const lua_Integer depth = lh_opt_int(L, 3, fn, "depth", 16, 1, 4096);
    const lua_Integer n_more = lh_opt_int(L, 3, fn, "tokens", 0, 0, 100000);
    const lua_Integer seed = lh_opt_int(L, 3, fn, "seed", 42, 0, INT64_MAX);
    const rb_config *cfg = &mm->m->cfg;
    if (!rb_config_is_recurrent(cfg))
        lh_error(L, "%s: the model is not recurrent; there is no latent iteration to trace (make one with rb.surgery)",
                 fn);
    const rb_tokenizer *tok = lh_model_tok(mm);
    if (!tok) lh_error(L, "%s: the model carries no tokenizer; load it with tokenizer = FILE", fn);
    gen_res *r = new_res(L);
    const int res_idx = lua_gettop(L);
    size_t n_ids = 0;
    encode_prompt(L, fn, tok, cfg, prompt, plen, r, &n_ids);
    const int V = cfg->vocab_size;
    long total = (long)n_ids + (long)n_more;
    if (total > cfg->max_seq_len) total = cfg->max_seq_len;
    rb_error err = {0};
    if (!(r->logits = malloc(sizeof(float) * (size_t)V))) lh_error(L, "%s: out of memory", fn);
    if (rb_trace_alloc(&r->tr, (int)depth, &err) != RB_OK) lh_engine_error(L, fn, &err);
    r->have_trace = 1;
    if (rb_session_create(&r->s, mm->m, (int)total, (int)depth, &err) != RB_OK) lh_engine_error(L, fn, &err);
    r->threads = decode_threads(mm->m);
    rb_infer_opts io = {.depth = (int)depth, .seed = (uint64_t)seed, .trace = &r->tr};
    lua_newtable(L);
    int32_t next = 0;
    int k = 1;
    for (long t = 0; t <= n_more && rb_session_pos(r->s) < total; t++) {
        if (lh_stop_value(L)) {
            done_res(L, res_idx);
            return lh_raise_stop(L, " during model:trace");
        }
        io.seed = (uint64_t)seed + (uint64_t)rb_session_pos(r->s);
        rb_status st = t == 0 ? rb_session_feed(r->s, r->ids, (int)n_ids, &io, r->logits, NULL, &err)
                              : rb_session_feed(r->s, &next, 1, &io, r->logits, NULL, &err);
        if (st != RB_OK) lh_engine_error(L, fn, &err);
        lua_createtable(L, 0, 3);
        lua_pushinteger(L, rb_session_pos(r->s) - 1);
        lua_setfield(L, -2, "position");
        lua_pushboolean(L, t > 0);
        lua_setfield(L, -2, "generated");
        lua_createtable(L, r->tr.iters, 0);
        for (int i = 0; i < r->tr.iters; i++) {
            lua_createtable(L, 0, 6);
            lua_pushinteger(L, i + 1);
            lua_setfield(L, -2, "iter");
            lua_pushnumber(L, r->tr.rel_change[i]);
            lua_setfield(L, -2, "rel_change");
            if (!isnan(r->tr.kl[i])) {
                lua_pushnumber(L, r->tr.kl[i]);
                lua_setfield(L, -2, "kl");
            }
            lua_pushinteger(L, r->tr.top_token[i]);
            lua_setfield(L, -2, "top");
            push_piece(L, tok, r->tr.top_token[i]);
            lua_setfield(L, -2, "piece");
            lua_pushnumber(L, r->tr.top_prob[i]);
            lua_setfield(L, -2, "prob");
            lua_rawseti(L, -2, i + 1);
        }
        lua_setfield(L, -2, "iters");
        lua_rawseti(L, -2, k++);
        next = rb_argmax(r->logits, V);
    }
    done_res(L, res_idx);
    return 1;
}

/* ---------------- loss ---------------- */

typedef struct {
    rb_trainer *t;
} loss_res;

static int loss_gc(lua_State *L)
{
    loss_res *r = lua_touserdata(L, 1);
    rb_trainer_destroy(r->t);
    r->t = NULL;
    return 0;
}

typedef struct {
    lua_State *L;
    int depth;
    double last;
} loss_progress;

static void on_rows(void *user, uint64_t done, uint64_t total)
{
    loss_progress *p = user;
    double t = lh_now();
    if (t - p->last < 0.2 && done < total) return;
    p->last = t;
    lh_progress(p->L, "model:loss: depth %d, %llu of %llu held-out rows", p->depth, (unsigned long long)done,
                (unsigned long long)total);
}

static void add_data(lua_State *L, const char *fn, rb_train_config *c, int idx)
{
    const char *path = NULL;
    if (lua_type(L, idx) == LUA_TSTRING) path = lua_tostring(L, idx);
    else if (lua_istable(L, idx)) {
        lua_getfield(L, idx, "path");
        path = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    if (!path) lh_error(L, "%s: data is a token file (a path, or rb.pack's result), or a list of them; not a %s", fn,
                        luaL_typename(L, idx));
    if (c->n_sources >= RB_TRAIN_MAX_SOURCES || strlen(path) >= sizeof c->sources[0].path)
        lh_error(L, "%s: at most %d data files, paths under %zu bytes", fn, RB_TRAIN_MAX_SOURCES,
                 sizeof c->sources[0].path);
    snprintf(c->sources[c->n_sources].path, sizeof c->sources[0].path, "%s", path);
    c->sources[c->n_sources++].weight = 1;
}

static int m_loss(lua_State *L)
{
    const char *fn = "model:loss";
    lh_model *mm = lh_check_model(L, 1, fn);
    static const char *const known[] = {"depths", "val_fraction", "batch", "seed", NULL};
    lh_check_keys(L, 3, fn, known);
    rb_train_config c;
    rb_train_config_default(&c, 4);
    c.n_sources = 0;
    c.steps = 1000;
    int list = 0;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "path");
        list = lua_isnil(L, -1);
        lua_pop(L, 1);
    }
    if (list) {
        lua_Integer n = luaL_len(L, 2);
        if (n < 1) lh_error(L, "%s: data is an empty list; give a token file", fn);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, 2, i);
            add_data(L, fn, &c, lua_gettop(L));
            lua_pop(L, 1);
        }
    } else {
        add_data(L, fn, &c, 2);
    }
    int depths[64];
    int nd = lh_opt_int_list(L, 3, fn, "depths", depths, 64, 1, 4096);
    if (nd < 0) {
        static const int def[4] = {1, 2, 4, 8};
        memcpy(depths, def, sizeof def);
        nd = 4;
    }
    c.val_fraction = lh_opt_num(L, 3, fn, "val_fraction", 0.05, 0.0001, 1);
    c.batch = (int)lh_opt_int(L, 3, fn, "batch", 8, 1, 4096);
    c.seed = (uint64_t)lh_opt_int(L, 3, fn, "seed", 1, 0, INT64_MAX);
    /* the tokenizer that made the data must be the model's */
    const rb_loaded_model *lm = mm->tok_lm && mm->tok_lm->tok ? mm->tok_lm : &mm->lm;
    rb_loaded_model view = *lm;
    view.cfg = mm->m->cfg;
    for (int i = 0; i < c.n_sources; i++) {
        char msg[2048];
        int bad = app_data_problem(&view, c.sources[i].path, msg, sizeof msg);
        if (bad) lh_error(L, "%s: %s", fn, msg);
        if (msg[0]) lh_log(L, LH_LOG_WARN, "%s: %s", fn, msg);
    }
    if (c.val_fraction >= 1) c.val_fraction = 0.999999; /* every row: as `retrobench loss --val-fraction 1` */
    c.score_only = 1;
    loss_res *r = lua_newuserdatauv(L, sizeof *r, 0);
    r->t = NULL;
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, loss_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    const int res_idx = lua_gettop(L);
    rb_error err = {0};
    if (rb_trainer_create(&r->t, mm->m, &c, lh_host(L)->stop, &err) != RB_OK) lh_engine_error(L, fn, &err);
    const int recurrent = rb_config_is_recurrent(&mm->m->cfg);
    loss_progress lp = {L, 0, 0};
    rb_trainer_set_progress(r->t, on_rows, &lp);
    lua_createtable(L, 0, nd);
    for (int i = 0; i < nd; i++) {
        double l = 0;
        lp.depth = depths[i];
        rb_status st = rb_trainer_validate(r->t, recurrent ? depths[i] : 1, &l, &err);
        if (st == RB_EINTERRUPTED) {
            lh_progress_end(L);
            return lh_raise_stop(L, " during model:loss");
        }
        if (st != RB_OK) {
            lh_progress_end(L);
            lh_engine_error(L, fn, &err);
        }
        lua_pushnumber(L, l);
        lua_rawseti(L, -2, depths[i]);
    }
    lh_progress_end(L);
    lua_pushcfunction(L, loss_gc);
    lua_pushvalue(L, res_idx);
    lua_call(L, 1, 0);
    return 1;
}

void lh_open_infer(lua_State *L)
{
    static const luaL_Reg methods[] = {{"generate", m_generate}, {"trace", m_trace}, {"loss", m_loss}, {NULL, NULL}};
    lh_model_add_methods(L, methods);
}
