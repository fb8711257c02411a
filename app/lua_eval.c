/* lua_eval.c: rb.eval, the paper's GSM8K protocol (EVAL.md, rb_eval.h) at
 * several test-time depths, from Lua. Every part of the protocol is an
 * option (templates, exemplars, shots, BOS, lengths, stop strings, the
 * extraction patterns); the defaults are `retrobench eval`'s. With out =
 * DIR it writes what the command writes (answers.jsonl, summary.json and
 * .csv, run.json) and resumes an interrupted evaluation the same way;
 * without it nothing is written and the script gets the summary (and, with
 * answers = true, every answer; on_answer sees each as it finishes). */
#include "lua_int.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "eval_files.h"
#include "rb_eval.h"

/* eval_files.c reports its problems with fprintf(stderr, "retrobench eval:
 * ..."). Around those calls stderr is a memory stream, and what they said
 * becomes the Lua error's message instead of a line on the terminal. */
typedef struct {
    FILE *saved, *mem;
    char *buf;
    size_t len;
} capture;

static void capture_begin(capture *c)
{
    memset(c, 0, sizeof *c);
    c->mem = open_memstream(&c->buf, &c->len);
    if (!c->mem) return;
    fflush(stderr);
    c->saved = stderr;
    stderr = c->mem;
}

/* the captured text, without "retrobench eval: " and the final newline (static) */
static const char *capture_end(capture *c)
{
    static char msg[2048];
    msg[0] = '\0';
    if (!c->mem) return msg;
    stderr = c->saved;
    fclose(c->mem);
    const char *s = c->buf ? c->buf : "";
    const char *pfx = "retrobench eval: ";
    const char *last = s; /* the last line is the error; earlier ones were notices */
    for (const char *p = s; *p; p++)
        if (*p == '\n' && p[1]) last = p + 1;
    if (!strncmp(last, pfx, strlen(pfx))) last += strlen(pfx);
    snprintf(msg, sizeof msg, "%s", last);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n') msg[--n] = '\0';
    free(c->buf);
    c->buf = NULL;
    return msg;
}

typedef struct {
    lua_State *L;
    evf_problems probs;
    rb_eval_exemplar *ex;
    char **ex_strings;
    int n_ex;
    rb_eval_tally *tally;
    evf_done done;
    FILE *f;
    char path[4200];
    const rb_eval_config *c;
    int64_t written, tokens;
    int on_answer_ref, answers_ref;
    const rb_eval_record *rec;
    char *cb_error;
    int quiet;
    double last;
    /* strings owned for the config */
    char *qtmpl, *etmpl;
} eval_res;

static int eval_gc(lua_State *L)
{
    eval_res *r = lua_touserdata(L, 1);
    if (r->f) fclose(r->f);
    r->f = NULL;
    rb_eval_tally_free(r->tally);
    r->tally = NULL;
    evf_done_free(&r->done);
    evf_problems_free(&r->probs);
    for (int i = 0; r->ex_strings && i < 2 * r->n_ex; i++) free(r->ex_strings[i]);
    free(r->ex_strings);
    r->ex_strings = NULL;
    free(r->ex);
    r->ex = NULL;
    free(r->cb_error);
    r->cb_error = NULL;
    if (r->on_answer_ref > 0) luaL_unref(L, LUA_REGISTRYINDEX, r->on_answer_ref);
    if (r->answers_ref > 0) luaL_unref(L, LUA_REGISTRYINDEX, r->answers_ref);
    r->on_answer_ref = r->answers_ref = 0;
    return 0;
}

static int skip_cb(void *ud, int64_t id, int depth) { return evf_done_has(&((eval_res *)ud)->done, id, depth); }

/* a record as a table (runs protected) */
static int record_cf(lua_State *L)
{
    eval_res *r = lua_touserdata(L, 1);
    const rb_eval_record *x = r->rec;
    lua_createtable(L, 0, 14);
    lua_pushinteger(L, x->id);
    lua_setfield(L, -2, "id");
    lua_pushinteger(L, x->depth);
    lua_setfield(L, -2, "depth");
    lua_pushstring(L, x->prompt);
    lua_setfield(L, -2, "prompt");
    lua_pushstring(L, x->completion);
    lua_setfield(L, -2, "completion");
    lua_pushstring(L, x->gold);
    lua_setfield(L, -2, "gold");
    lua_newtable(L);
    lua_newtable(L);
    for (int k = 0; k < r->c->n_rules; k++) {
        lua_pushstring(L, x->extracted[k]);
        lua_setfield(L, -3, r->c->rules[k].name);
        lua_pushboolean(L, x->correct[k]);
        lua_setfield(L, -2, r->c->rules[k].name);
    }
    lua_setfield(L, -3, "correct");
    lua_setfield(L, -2, "extracted");
    lua_pushinteger(L, x->prompt_tokens);
    lua_setfield(L, -2, "prompt_tokens");
    lua_pushboolean(L, x->truncated);
    lua_setfield(L, -2, "truncated");
    lua_pushinteger(L, x->new_tokens);
    lua_setfield(L, -2, "new_tokens");
    lua_pushstring(L, x->stop);
    lua_setfield(L, -2, "stop");
    lua_pushnumber(L, x->flops);
    lua_setfield(L, -2, "flops");
    const int rec = lua_gettop(L);
    if (r->answers_ref > 0) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, r->answers_ref);
        lua_pushvalue(L, rec);
        lua_rawseti(L, -2, (lua_Integer)luaL_len(L, -2) + 1);
        lua_pop(L, 1);
    }
    if (r->on_answer_ref > 0) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, r->on_answer_ref);
        lua_pushvalue(L, rec);
        lua_call(L, 1, 0);
    }
    return 0;
}

static rb_status record_cb(void *ud, const rb_eval_record *x, rb_error *err)
{
    eval_res *r = ud;
    if (r->f && evf_write_record(r->f, r->path, x, r->c) != 0) return rb_fail(err, RB_EIO, "cannot write %s", r->path);
    r->written++;
    rb_status st = rb_eval_tally_add(r->tally, x->depth, x->correct, x->new_tokens, x->prompt_tokens, x->flops, err);
    if (st != RB_OK) return st;
    if (r->on_answer_ref > 0 || r->answers_ref > 0) {
        r->rec = x;
        char *msg = NULL;
        if (lh_protected(r->L, record_cf, r, &msg) != LUA_OK) {
            if (lh_stop_value(r->L)) {
                free(msg);
                return rb_fail(err, RB_EINTERRUPTED, "stopped");
            }
            r->cb_error = msg;
            return rb_fail(err, RB_EINVAL, "the on_answer callback failed");
        }
    }
    lh_safe_point(r->L);
    return RB_OK;
}

static void progress_cb(void *ud, const rb_eval_progress *p)
{
    eval_res *r = ud;
    r->tokens = p->tokens;
    if (r->quiet) return;
    double t = lh_now();
    if (t - r->last < 0.25 && p->done < p->total) return;
    r->last = t;
    double eta = p->done > 0 ? p->seconds * (double)(p->total - p->done) / (double)p->done : -1;
    lh_progress(r->L, "rb.eval: %lld/%lld answers, %d active, %.1f tok/s, eta %.0f s", (long long)p->done,
                (long long)p->total, p->active, p->seconds > 0 ? (double)p->tokens / p->seconds : 0.0, eta);
}

/* exemplars: a list of {question = ..., target = ...}, or a JSONL file */
static void read_exemplars(lua_State *L, const char *fn, eval_res *r, rb_eval_config *cfg)
{
    lua_getfield(L, 2, "exemplars");
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        return;
    }
    if (lua_type(L, -1) == LUA_TSTRING) {
        capture cp;
        capture_begin(&cp);
        int rc = evf_load_exemplars(lua_tostring(L, -1), &r->ex, &r->n_ex, &r->ex_strings);
        const char *msg = capture_end(&cp);
        if (rc) lh_error(L, "%s: exemplars: %s", fn, msg);
    } else if (lua_istable(L, -1)) {
        lua_Integer n = luaL_len(L, -1);
        r->ex = calloc((size_t)(n > 0 ? n : 1), sizeof *r->ex);
        r->ex_strings = calloc((size_t)(2 * n + 1), sizeof *r->ex_strings);
        if (!r->ex || !r->ex_strings) lh_error(L, "%s: out of memory", fn);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, i);
            lua_getfield(L, -1, "question");
            lua_getfield(L, -2, "target");
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                lh_error(L, "%s: exemplars[%lld] needs string fields question and target", fn, (long long)i);
            r->ex_strings[2 * r->n_ex] = strdup(lua_tostring(L, -2));
            r->ex_strings[2 * r->n_ex + 1] = strdup(lua_tostring(L, -1));
            r->ex[r->n_ex].question = r->ex_strings[2 * r->n_ex];
            r->ex[r->n_ex].target = r->ex_strings[2 * r->n_ex + 1];
            r->n_ex++;
            lua_pop(L, 3);
        }
    } else {
        lh_error(L, "%s: exemplars must be a list of {question = ..., target = ...} or a JSONL file, not a %s", fn,
                 luaL_typename(L, -1));
    }
    lua_pop(L, 1);
    cfg->exemplars = r->ex;
    cfg->n_exemplars = r->n_ex;
}

/* problems given in the script: a list of {question = ..., answer = ...} */
static void read_problems(lua_State *L, const char *fn, eval_res *r, int idx, const char *qf, const char *af)
{
    lua_Integer n = luaL_len(L, idx);
    if (n < 1 || n > ((lua_Integer)1 << 30)) lh_error(L, "%s: problems is an empty list (or too long)", fn);
    evf_problems *p = &r->probs;
    p->items = calloc((size_t)n, sizeof *p->items);
    p->strings = calloc((size_t)(2 * n), sizeof *p->strings);
    if (!p->items || !p->strings) lh_error(L, "%s: out of memory", fn);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, idx, i);
        lua_getfield(L, -1, qf);
        lua_getfield(L, -2, af);
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
            lh_error(L, "%s: problems[%lld] needs string fields %s and %s", fn, (long long)i, qf, af);
        p->strings[p->n_strings++] = strdup(lua_tostring(L, -2));
        p->strings[p->n_strings++] = strdup(lua_tostring(L, -1));
        p->items[p->count].id = i - 1;
        p->items[p->count].question = p->strings[p->n_strings - 2];
        p->items[p->count].answer = p->strings[p->n_strings - 1];
        p->count++;
        lua_pop(L, 3);
    }
}

static void push_summary(lua_State *L, const rb_eval_config *c, const rb_eval_tally *t)
{
    int nd = rb_eval_tally_count(t);
    lua_createtable(L, nd, 0);
    lua_newtable(L); /* accuracy by depth (the first rule: flexible-extract) */
    for (int i = 0; i < nd; i++) {
        rb_eval_depth_summary s;
        rb_eval_tally_get(t, i, &s);
        lua_createtable(L, 0, 8);
        lua_pushinteger(L, s.depth);
        lua_setfield(L, -2, "depth");
        lua_pushinteger(L, s.n);
        lua_setfield(L, -2, "n");
        lua_newtable(L);
        lua_newtable(L);
        for (int k = 0; k < c->n_rules; k++) {
            lua_pushnumber(L, s.accuracy[k]);
            lua_setfield(L, -3, c->rules[k].name);
            lua_pushnumber(L, s.se[k]);
            lua_setfield(L, -2, c->rules[k].name);
        }
        lua_setfield(L, -3, "se");
        lua_setfield(L, -2, "accuracy");
        lua_pushnumber(L, s.mean_new_tokens);
        lua_setfield(L, -2, "mean_new_tokens");
        lua_pushnumber(L, s.mean_prompt_tokens);
        lua_setfield(L, -2, "mean_prompt_tokens");
        lua_pushnumber(L, s.mean_flops);
        lua_setfield(L, -2, "mean_flops");
        lua_rawseti(L, -3, i + 1);
        lua_pushnumber(L, s.accuracy[0]);
        lua_rawseti(L, -2, s.depth);
    }
}

static int l_eval(lua_State *L)
{
    const char *fn = "rb.eval";
    lua_settop(L, 2);
    lh_model *mm = lh_check_model(L, 1, fn);
    luaL_checktype(L, 2, LUA_TTABLE);
    static const char *const known[] = {"data",        "problems",     "depths",         "shots",
                                        "skip",        "limit",        "batch",          "max_new",
                                        "max_length",  "seed",         "out",            "question_template",
                                        "exemplar_template", "exemplars", "stops",       "bos",
                                        "flex_regex",  "strict_regex", "question_field", "answer_field",
                                        "on_answer",   "answers",      "quiet",          NULL};
    lh_check_keys(L, 2, fn, known);
    const rb_tokenizer *tok = lh_model_tok(mm);
    if (!tok) lh_error(L, "%s: the model carries no tokenizer; load it with tokenizer = FILE", fn);
    eval_res *r = lua_newuserdatauv(L, sizeof *r, 0);
    memset(r, 0, sizeof *r);
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, eval_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    const int res_idx = lua_gettop(L);
    r->L = L;
    rb_eval_config cfg;
    rb_eval_config_default(&cfg);
    const char *qt = lh_opt_str(L, 2, fn, "question_template", NULL);
    const char *et = lh_opt_str(L, 2, fn, "exemplar_template", NULL);
    if (qt) cfg.question_template = qt;
    if (et) cfg.exemplar_template = et;
    read_exemplars(L, fn, r, &cfg);
    cfg.shots = (int)lh_opt_int(L, 2, fn, "shots", 1, 0, 1000);
    if (cfg.shots > cfg.n_exemplars)
        lh_error(L, "%s: shots = %d but there are %d exemplars; give shots 0..%d or more exemplars", fn, cfg.shots,
                 cfg.n_exemplars, cfg.n_exemplars);
    cfg.add_bos = lh_opt_bool(L, 2, fn, "bos", 1);
    cfg.max_new = (int)lh_opt_int(L, 2, fn, "max_new", 256, 1, 1 << 20);
    cfg.max_length = (int)lh_opt_int(L, 2, fn, "max_length", 1024, 2, 1 << 22);
    cfg.batch = (int)lh_opt_int(L, 2, fn, "batch", 32, 1, 4096);
    cfg.seed = (uint64_t)lh_opt_int(L, 2, fn, "seed", 0, 0, INT64_MAX);
    lua_getfield(L, 2, "stops");
    if (!lua_isnil(L, -1)) {
        if (!lua_istable(L, -1)) lh_error(L, "%s: stops must be a list of strings", fn);
        lua_Integer n = luaL_len(L, -1);
        if (n > RB_EVAL_MAX_STOPS - 1) lh_error(L, "%s: at most %d stop strings", fn, RB_EVAL_MAX_STOPS - 1);
        cfg.n_stops = 0;
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, i);
            if (lua_type(L, -1) != LUA_TSTRING || !lua_tostring(L, -1)[0])
                lh_error(L, "%s: stops[%lld] must be a non-empty string", fn, (long long)i);
            cfg.stops[cfg.n_stops++] = lua_tostring(L, -1); /* held by the table */
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    const char *flex = lh_opt_str(L, 2, fn, "flex_regex", NULL), *strict = lh_opt_str(L, 2, fn, "strict_regex", NULL);
    if (flex) cfg.rules[0] = (rb_extract_rule){"flexible-extract", RB_EXTRACT_POSIX, flex, -1};
    if (strict) cfg.rules[1] = (rb_extract_rule){"strict-match", RB_EXTRACT_POSIX, strict, 0};
    for (int k = 0; k < cfg.n_rules; k++) {
        rb_extractor *x = NULL;
        rb_error err = {0};
        if (rb_extractor_create(&x, &cfg.rules[k], &err) != RB_OK) lh_engine_error(L, fn, &err);
        rb_extractor_free(x);
    }
    const char *qf = lh_opt_str(L, 2, fn, "question_field", "question");
    const char *af = lh_opt_str(L, 2, fn, "answer_field", "answer");
    const lua_Integer skip = lh_opt_int(L, 2, fn, "skip", 0, 0, (lua_Integer)1 << 40);
    const lua_Integer limit = lh_opt_int(L, 2, fn, "limit", -1, -1, (lua_Integer)1 << 40);
    const char *data = lh_opt_str(L, 2, fn, "data", NULL);
    const char *out = lh_opt_str(L, 2, fn, "out", NULL);
    r->quiet = lh_opt_bool(L, 2, fn, "quiet", 0);
    lua_getfield(L, 2, "problems");
    if (!!data == !lua_isnil(L, -1))
        lh_error(L, "%s: give exactly one of data = FILE.jsonl or problems = {{question = ..., answer = ...}, ...}", fn);
    if (data) {
        struct stat sb;
        if (stat(data, &sb) != 0) lh_error(L, "%s: data %s: %s", fn, data, strerror(errno));
        capture cp;
        capture_begin(&cp);
        int rc = evf_load_problems(data, qf, af, skip, limit, &r->probs);
        const char *msg = capture_end(&cp);
        if (rc) lh_error(L, "%s: %s", fn, msg);
    } else {
        if (out) lh_error(L, "%s: out = DIR records answers against a data file; give data = FILE.jsonl", fn);
        if (!lua_istable(L, -1)) lh_error(L, "%s: problems must be a list of tables", fn);
        read_problems(L, fn, r, lua_gettop(L), qf, af);
    }
    lua_pop(L, 1);
    const int recurrent = rb_config_is_recurrent(&mm->m->cfg);
    int depths[64];
    int nd = lh_opt_int_list(L, 2, fn, "depths", depths, 64, 1, 4096);
    for (int i = 0; i < nd; i++)
        for (int j = 0; j < i; j++)
            if (depths[i] == depths[j]) lh_error(L, "%s: depth %d is listed twice", fn, depths[i]);
    if (nd < 0) {
        static const int paper[] = {1, 2, 4, 8, 16, 32};
        nd = recurrent ? 6 : 1;
        memcpy(depths, recurrent ? paper : (const int[]){1}, sizeof(int) * (size_t)nd);
    } else if (!recurrent && (nd > 1 || depths[0] != 1)) {
        lh_log(L, LH_LOG_WARN, "%s: the model is not recurrent, so test-time depth has no effect: evaluating once, "
                               "reported as depth 1", fn);
        depths[0] = 1;
        nd = 1;
    }
    cfg.depths = depths;
    cfg.n_depths = nd;
    const rb_loaded_model *tl = mm->tok_lm ? mm->tok_lm : &mm->lm;
    int32_t eos_ids[RB_MAX_EOS_IDS];
    cfg.n_eos = tl->n_eos;
    for (int i = 0; i < cfg.n_eos; i++) eos_ids[i] = tl->eos_ids[i];
    cfg.eos_ids = eos_ids;
    r->c = &cfg;
    if (!(r->tally = rb_eval_tally_create(cfg.n_rules))) lh_error(L, "%s: out of memory", fn);
    if (out) {
        if (mkdir(out, 0755) != 0 && errno != EEXIST)
            lh_error(L, "%s: cannot create the output folder %s: %s", fn, out, strerror(errno));
        char path[4200], model_abs[4096], data_abs[4096];
        snprintf(path, sizeof path, "%s/run.json", out);
        const char *model_id = realpath(mm->lm.source, model_abs) ? model_abs : mm->lm.source;
        const char *data_id = realpath(data, data_abs) ? data_abs : data;
        int64_t n_old = 0;
        snprintf(r->path, sizeof r->path, "%s/answers.jsonl", out);
        capture cp;
        capture_begin(&cp);
        int rc = evf_check_settings(path, model_id, data_id, qf, af, skip, &cfg);
        if (!rc) rc = evf_resume(r->path, &cfg, &r->done, r->tally, &n_old);
        const char *msg = capture_end(&cp);
        if (rc) lh_error(L, "%s: %s", fn, msg);
        if (msg[0]) lh_log(L, LH_LOG_INFO, "%s: %s", fn, msg);
        if (!(r->f = fopen(r->path, "a"))) lh_error(L, "%s: cannot write %s: %s", fn, r->path, strerror(errno));
    }
    lua_getfield(L, 2, "on_answer");
    if (!lua_isnil(L, -1)) {
        if (!lua_isfunction(L, -1)) lh_error(L, "%s: on_answer must be a function", fn);
        r->on_answer_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    } else {
        lua_pop(L, 1);
    }
    if (lh_opt_bool(L, 2, fn, "answers", 0)) {
        lua_newtable(L);
        r->answers_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    /* the stop flag is an atomic int; the evaluator reads it as a volatile
       int, which is the same object on every platform this builds on */
    rb_eval_hooks hooks = {skip_cb, record_cb, progress_cb, r, (const volatile int *)lh_host(L)->stop};
    rb_error err = {0};
    double t0 = lh_now();
    mm->in_use++;
    rb_status st = rb_eval_run(mm->m, tok, &cfg, r->probs.items, r->probs.count, &hooks, &err);
    mm->in_use--;
    double secs = lh_now() - t0;
    lh_progress_end(L);
    if (out && r->tally) {
        evf_run_info info = {mm->lm.source, data, r->probs.count ? r->probs.items[0].id : 0, r->probs.count, r->written,
                             r->tokens, secs, st == RB_OK};
        capture cp;
        capture_begin(&cp);
        int rc = evf_write_summary(out, &cfg, r->tally, &info, 0);
        const char *msg = capture_end(&cp);
        if (rc && st == RB_OK) lh_error(L, "%s: %s", fn, msg);
    }
    if (r->cb_error) {
        lua_pushstring(L, r->cb_error);
        return lh_error(L, "%s: the on_answer callback failed, so the evaluation stopped%s: %s", fn,
                        out ? " (the answers so far are saved)" : "", lua_tostring(L, -1));
    }
    if (st == RB_EINTERRUPTED && lh_stop_value(L)) {
        char what[4400];
        snprintf(what, sizeof what, " during rb.eval%s%s%s", out ? "; the answers so far are saved in " : "",
                 out ? out : "", out ? ": run it again to continue" : "");
        return lh_raise_stop(L, what);
    }
    if (st != RB_OK) lh_engine_error(L, fn, &err);
    lua_createtable(L, 0, 6);
    push_summary(L, &cfg, r->tally);
    lua_setfield(L, -3, "accuracy");
    lua_setfield(L, -2, "depths");
    lua_pushinteger(L, r->written);
    lua_setfield(L, -2, "answered");
    lua_pushinteger(L, r->tokens);
    lua_setfield(L, -2, "tokens");
    lua_pushnumber(L, secs);
    lua_setfield(L, -2, "seconds");
    if (r->answers_ref > 0) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, r->answers_ref);
        lua_setfield(L, -2, "answers");
    }
    lua_pushcfunction(L, eval_gc);
    lua_pushvalue(L, res_idx);
    lua_call(L, 1, 0);
    return 1;
}

void lh_open_eval(lua_State *L)
{
    static const luaL_Reg fns[] = {{"eval", l_eval}, {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
}
