/* trainer_ckpt.c: training checkpoints that resume bit for bit.
 *
 * Layout under the run folder:
 *   step-00000040/model.safetensors   weights + config + plan + "train_state"
 *   step-00000040/optim.safetensors   optimizer moments ("moment1", "moment2")
 *   latest                            the name of the newest complete folder
 * A checkpoint is written into step-....tmp-PID, fsync'd, renamed to its
 * final name, and only then is `latest` replaced (atomically). A crash at any
 * moment leaves `latest` naming a complete checkpoint. Older checkpoints but
 * the previous one, and temporary folders of killed writers, are removed
 * after the new one is in place. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/atomic_file.h"
#include "io/safetensors.h"
#include "rb_io.h"
#include "rb_safetensors.h"
#include "trainer_internal.h"

static rb_status fsync_path(const char *path, rb_error *err)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return rb_fail(err, RB_EIO, "checkpoint: cannot open %s: %s", path, strerror(errno));
    int rc = fsync(fd);
    close(fd);
    if (rc != 0) return rb_fail(err, RB_EIO, "checkpoint: fsync %s: %s", path, strerror(errno));
    return RB_OK;
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", path, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(path);
}

/* The settings that shape the training trajectory. A checkpoint records
 * them and a resume must use the same ones: the run would otherwise change
 * course without anyone noticing (a forgotten flag on --resume). The step
 * count is not among them, so a run can be resumed with more steps. */
typedef struct {
    const char *key;
    double value;
} recipe_item;

#define RB_RECIPE_MAX 48

static int recipe_items(const rb_train_config *c, recipe_item *it)
{
    int n = 0;
#define R(k, v) it[n++] = (recipe_item){k, (double)(v)}
    R("batch", c->batch);
    R("grad_accum", c->grad_accum);
    R("val_fraction", c->val_fraction);
    R("rbar.shape", c->rbar.shape);
    R("rbar.warmup_fraction", c->rbar.warmup_fraction);
    R("rbar.max", c->rbar.max_value);
    R("rbar.min_ratio", c->rbar.min_ratio);
    R("rbar.step_offset", c->rbar.step_offset);
    R("backprop.shape", c->backprop.shape);
    R("backprop.warmup_fraction", c->backprop.warmup_fraction);
    R("backprop.max", c->backprop.max_value);
    R("backprop.min_ratio", c->backprop.min_ratio);
    R("backprop.step_offset", c->backprop.step_offset);
    R("depth.mode", c->depth.mode);
    R("depth.sigma", c->depth.sigma);
    R("optim.kind", c->optim.kind);
    R("optim.muon_lr", c->optim.muon_lr);
    R("optim.muon_momentum", c->optim.muon_momentum);
    R("optim.muon_wd", c->optim.muon_wd);
    R("optim.muon_nesterov", c->optim.muon_nesterov);
    R("optim.ns_steps", c->optim.ns_steps);
    R("optim.ns_a", c->optim.ns_a);
    R("optim.ns_b", c->optim.ns_b);
    R("optim.ns_c", c->optim.ns_c);
    R("optim.muon_fuse", c->optim.muon_fuse);
    R("optim.ns_bf16", c->optim.ns_bf16);
    R("optim.ns_gram", c->optim.ns_gram);
    R("optim.adam_lr", c->optim.adam_lr);
    R("optim.adam_beta1", c->optim.adam_beta1);
    R("optim.adam_beta2", c->optim.adam_beta2);
    R("optim.adam_eps", c->optim.adam_eps);
    R("optim.adam_wd", c->optim.adam_wd);
    R("optim.clip_norm", c->optim.clip_norm);
    R("lr.kind", c->lr.kind);
    R("lr.decay", c->lr.decay);
    R("lr.warmup_fraction", c->lr.warmup_fraction);
    R("lr.decay_fraction", c->lr.decay_fraction);
    R("lr.min_ratio", c->lr.min_ratio);
#undef R
    return n;
}

/* NULL when the checkpoint's recipe equals this run's; else a reason */
static const char *recipe_mismatch(const cJSON *rec, const rb_train_config *c, char *buf, size_t cap)
{
    if (!cJSON_IsObject(rec)) {
        snprintf(buf, cap, "it records no training recipe (train_state.recipe)");
        return buf;
    }
    recipe_item it[RB_RECIPE_MAX];
    const int n = recipe_items(c, it);
    for (int i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, it[i].key);
        char *end = NULL;
        double d = cJSON_IsString(v) ? strtod(v->valuestring, &end) : 0;
        if (!cJSON_IsString(v) || end == v->valuestring || *end) {
            snprintf(buf, cap, "its recipe lacks %s", it[i].key);
            return buf;
        }
        if (d != it[i].value) {
            snprintf(buf, cap, "it was trained with %s = %.9g, this run has %.9g", it[i].key, d,
                     it[i].value);
            return buf;
        }
    }
    return NULL;
}

static char *train_state_json(const rb_trainer *t)
{
    cJSON *o = cJSON_CreateObject();
    char buf[64];
    snprintf(buf, sizeof buf, "%lld", (long long)t->step);
    cJSON_AddStringToObject(o, "step", buf);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)rb_mixture_position(t->mix));
    cJSON_AddStringToObject(o, "data_position", buf);
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)t->cfg.seed);
    cJSON_AddStringToObject(o, "seed", buf);
    cJSON_AddNumberToObject(o, "total_steps", (double)t->cfg.steps);
    cJSON_AddNumberToObject(o, "flops_total", t->flops_total);
    cJSON_AddNumberToObject(o, "bad_in_row", t->bad_in_row);
    cJSON *src = cJSON_AddArrayToObject(o, "sources");
    for (int i = 0; i < t->cfg.n_sources; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "path", t->cfg.sources[i].path);
        cJSON_AddNumberToObject(s, "weight", t->cfg.sources[i].weight);
        cJSON_AddNumberToObject(s, "train_rows", (double)t->n_train_rows[i]);
        cJSON_AddItemToArray(src, s);
    }
    recipe_item it[RB_RECIPE_MAX];
    const int n = recipe_items(&t->cfg, it);
    cJSON *rec = cJSON_AddObjectToObject(o, "recipe");
    for (int i = 0; i < n; i++) { /* as text: cJSON's numbers do not round-trip every double */
        char v[40];
        snprintf(v, sizeof v, "%.17g", it[i].value);
        cJSON_AddStringToObject(rec, it[i].key, v);
    }
    return rb_json_take_text(o, 1, 0);
}

rb_status rb_trainer_save(rb_trainer *t, const char *dir, const rb_retrofit_plan *plan,
                          const char *const *extra_keys, const char *const *extra_values,
                          int n_extra, rb_error *err)
{
    rb_model *m = t->m;
    if (!t->opt) return rb_fail(err, RB_EINVAL, "checkpoint: a scoring-only trainer has no training state");
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return rb_fail(err, RB_EIO, "checkpoint: cannot create %s: %s", dir, strerror(errno));
    char name[64], final_dir[4096], tmp_dir[4096], path[4200];
    snprintf(name, sizeof name, "step-%08lld", (long long)t->step);
    snprintf(final_dir, sizeof final_dir, "%s/%s", dir, name);
    snprintf(tmp_dir, sizeof tmp_dir, "%s/%s.tmp-%d", dir, name, (int)getpid());
    remove_tree(tmp_dir);
    if (mkdir(tmp_dir, 0755) != 0)
        return rb_fail(err, RB_EIO, "checkpoint: cannot create %s: %s", tmp_dir, strerror(errno));

    rb_status st = RB_OK;
    const size_t total = m->table.total;
    float *host = malloc(2 * total * sizeof(float));
    char *state = train_state_json(t);
    if (!host || !state) st = rb_fail(err, RB_ENOMEM, "checkpoint: out of memory");
    if (st == RB_OK) st = rb_model_get_params(m, host, err);
    if (st == RB_OK) {
        const char *keys[33], *vals[33];
        int n = 0;
        for (int i = 0; i < n_extra && n < 32; i++)
            if (strcmp(extra_keys[i], "train_state")) {
                keys[n] = extra_keys[i];
                vals[n++] = extra_values[i];
            }
        keys[n] = "train_state";
        vals[n++] = state;
        snprintf(path, sizeof path, "%s/model.safetensors", tmp_dir);
        st = rb_checkpoint_save(path, &m->cfg, host, plan, keys, vals, n, err);
    }
    int64_t ostep = 0;
    if (st == RB_OK) st = rb_optimizer_get_state(t->opt, host, &ostep, err);
    if (st == RB_OK) {
        char sbuf[32];
        snprintf(sbuf, sizeof sbuf, "%lld", (long long)ostep);
        rb_st_write_tensor tens[2] = {
            {"moment1", RB_ST_F32, 1, {(int64_t)total}, host},
            {"moment2", RB_ST_F32, 1, {(int64_t)total}, host + total}};
        const char *keys[2] = {"format", "optimizer_step"}, *vals[2] = {"retrobench-optimizer", sbuf};
        snprintf(path, sizeof path, "%s/optim.safetensors", tmp_dir);
        st = rb_st_write(path, tens, 2, keys, vals, 2, err);
    }
    free(host);
    free(state);
    if (st == RB_OK) st = fsync_path(tmp_dir, err);
    if (st == RB_OK) {
        remove_tree(final_dir); /* a stale folder of the same step from an abandoned run */
        if (rename(tmp_dir, final_dir) != 0)
            st = rb_fail(err, RB_EIO, "checkpoint: cannot rename %s to %s: %s", tmp_dir, final_dir,
                         strerror(errno));
    }
    if (st == RB_OK) st = fsync_path(dir, err);
    if (st != RB_OK) {
        remove_tree(tmp_dir);
        return st;
    }
    /* the previous checkpoint, kept besides the new one */
    char prev[256] = "";
    rb_train_latest_checkpoint(dir, prev, sizeof prev, NULL);
    snprintf(path, sizeof path, "%s/latest", dir);
    char line[80];
    int len = snprintf(line, sizeof line, "%s\n", name);
    st = rb_atomic_file_write_all(path, line, (size_t)len, err);
    if (st != RB_OK) return st;
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strncmp(e->d_name, "step-", 5) != 0) continue;
            /* unfinished folders of writers that were killed are swept too
             * (one trainer writes a run folder at a time) */
            if (strstr(e->d_name, ".tmp-")) {
                char p[4096];
                snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
                remove_tree(p);
                continue;
            }
            if (strchr(e->d_name, '.')) continue;
            if (!strcmp(e->d_name, name) || !strcmp(e->d_name, prev)) continue;
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            remove_tree(p);
        }
        closedir(d);
    }
    return RB_OK;
}

rb_status rb_train_latest_checkpoint(const char *dir, char *buf, size_t len, rb_error *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/latest", dir);
    FILE *f = fopen(path, "r");
    if (!f) return rb_fail(err, RB_EIO, "checkpoint: %s has no 'latest' file: %s", dir, strerror(errno));
    char line[256] = "";
    char *ok = fgets(line, sizeof line, f);
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    if (!ok || strncmp(line, "step-", 5) != 0 || strchr(line, '/'))
        return rb_fail(err, RB_EFORMAT, "checkpoint: %s does not name a checkpoint folder", path);
    snprintf(buf, len, "%s", line);
    return RB_OK;
}

static int64_t json_int(const cJSON *o, const char *key, int *ok)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (cJSON_IsString(v)) return strtoll(v->valuestring, NULL, 10);
    if (cJSON_IsNumber(v)) return (int64_t)v->valuedouble;
    *ok = 0;
    return 0;
}

rb_status rb_trainer_restore(rb_trainer *t, const char *dir, rb_error *err)
{
    rb_model *m = t->m;
    if (!t->opt) return rb_fail(err, RB_EINVAL, "checkpoint: a scoring-only trainer cannot resume training");
    char ck[4096], name[256], path[4200];
    snprintf(path, sizeof path, "%s/latest", dir);
    if (access(path, R_OK) == 0) {
        rb_status st = rb_train_latest_checkpoint(dir, name, sizeof name, err);
        if (st != RB_OK) return st;
        snprintf(ck, sizeof ck, "%s/%s", dir, name);
    } else {
        snprintf(ck, sizeof ck, "%s", dir);
    }
    snprintf(path, sizeof path, "%s/model.safetensors", ck);
    rb_loaded_model lm;
    memset(&lm, 0, sizeof lm);
    rb_status st = rb_load_checkpoint(path, NULL, &lm, err);
    if (st != RB_OK) return st;
    if (lm.n_params != m->table.total || lm.cfg.dim != m->cfg.dim ||
        rb_config_n_layers(&lm.cfg) != rb_config_n_layers(&m->cfg) ||
        lm.cfg.n_recur != m->cfg.n_recur || lm.cfg.vocab_size != m->cfg.vocab_size) {
        rb_loaded_model_free(&lm);
        return rb_fail(err, RB_EINVAL, "checkpoint %s: its model (%zu parameters) does not match "
                                       "the one being trained (%zu); resume with the same model",
                       path, lm.n_params, m->table.total);
    }
    cJSON *state = NULL;
    if (lm.metadata_json) {
        cJSON *meta = cJSON_Parse(lm.metadata_json);
        const cJSON *ts = meta ? cJSON_GetObjectItemCaseSensitive(meta, "train_state") : NULL;
        if (cJSON_IsString(ts)) state = cJSON_Parse(ts->valuestring);
        cJSON_Delete(meta);
    }
    if (!state) {
        rb_loaded_model_free(&lm);
        return rb_fail(err, RB_EFORMAT, "checkpoint %s: no train_state in its metadata; it is a "
                                        "model, not a training checkpoint", path);
    }
    int ok = 1;
    int64_t step = json_int(state, "step", &ok);
    int64_t pos = json_int(state, "data_position", &ok);
    int64_t seed = json_int(state, "seed", &ok);
    const cJSON *srcs = cJSON_GetObjectItemCaseSensitive(state, "sources");
    const cJSON *flops = cJSON_GetObjectItemCaseSensitive(state, "flops_total");
    if (!ok || step < 0 || pos < 0 || !cJSON_IsArray(srcs)) {
        cJSON_Delete(state);
        rb_loaded_model_free(&lm);
        return rb_fail(err, RB_EFORMAT, "checkpoint %s: train_state lacks step, data_position or "
                                        "sources", path);
    }
    /* same data: same number of sources with the same training rows */
    if (cJSON_GetArraySize(srcs) != t->cfg.n_sources) ok = 0;
    for (int i = 0; ok && i < t->cfg.n_sources; i++) {
        const cJSON *s = cJSON_GetArrayItem(srcs, i);
        const cJSON *rows = cJSON_GetObjectItemCaseSensitive(s, "train_rows");
        if (!cJSON_IsNumber(rows) || (uint64_t)rows->valuedouble != t->n_train_rows[i]) ok = 0;
    }
    if (!ok || (uint64_t)seed != t->cfg.seed) {
        cJSON_Delete(state);
        rb_loaded_model_free(&lm);
        return rb_fail(err, RB_EINVAL, "checkpoint %s: it was trained on other data or with "
                                       "another seed (sources, their row counts and the seed must "
                                       "match to resume exactly)", path);
    }
    char why[256];
    if (recipe_mismatch(cJSON_GetObjectItemCaseSensitive(state, "recipe"), &t->cfg, why, sizeof why)) {
        cJSON_Delete(state);
        rb_loaded_model_free(&lm);
        return rb_fail(err, RB_EINVAL, "checkpoint %s: %s; resume with the settings it was trained "
                                       "with (or start a new run in another folder)", path, why);
    }
    if (step > t->cfg.steps) {
        cJSON_Delete(state);
        rb_loaded_model_free(&lm);
        return rb_fail(err, RB_EINVAL, "checkpoint %s: at step %lld, past this run's %lld steps",
                       path, (long long)step, (long long)t->cfg.steps);
    }
    st = rb_model_set_params(m, lm.params, err);
    rb_loaded_model_free(&lm);
    if (st == RB_OK) st = rb_mixture_seek(t->mix, (uint64_t)pos, err);
    if (st == RB_OK) {
        t->step = step;
        t->flops_total = cJSON_IsNumber(flops) ? flops->valuedouble : 0;
        t->bad_in_row = 0;
    }
    cJSON_Delete(state);
    if (st != RB_OK) return st;

    snprintf(path, sizeof path, "%s/optim.safetensors", ck);
    rb_safetensors *sf = NULL;
    st = rb_st_open(&sf, path, err);
    if (st != RB_OK) return st;
    const size_t total = m->table.total;
    const rb_st_tensor *m1 = rb_st_find(sf, "moment1"), *m2 = rb_st_find(sf, "moment2");
    const char *os = rb_st_metadata_get(sf, "optimizer_step");
    if (!m1 || !m2 || !os || m1->numel != total || m2->numel != total) {
        rb_st_close(sf);
        return rb_fail(err, RB_EFORMAT, "checkpoint %s: expected moment1 and moment2 of %zu values "
                                        "and optimizer_step", path, total);
    }
    float *host = malloc(2 * total * sizeof(float));
    if (!host) {
        rb_st_close(sf);
        return rb_fail(err, RB_ENOMEM, "checkpoint: out of memory");
    }
    st = rb_st_read_f32(sf, m1, host, err);
    if (st == RB_OK) st = rb_st_read_f32(sf, m2, host + total, err);
    if (st == RB_OK) st = rb_optimizer_set_state(t->opt, host, strtoll(os, NULL, 10), err);
    free(host);
    rb_st_close(sf);
    return st;
}
