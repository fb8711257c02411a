/* trainer_ckpt.c: training checkpoints that resume bit for bit.
 *
 * Layout under the run folder:
 *   step-00000040/model.safetensors   weights + config + plan + "train_state"
 *   step-00000040/optim.safetensors   optimizer moments ("moment1", "moment2")
 *   latest                            the name of the newest complete folder
 * A checkpoint is written into step-....tmp-PID, fsync'd, renamed to its
 * final name, and only then is `latest` replaced (atomically). A crash at any
 * moment leaves `latest` naming a complete checkpoint. After the new one is
 * in place, temporary folders of killed writers are removed, and older
 * checkpoints but the previous one are removed if this trainer wrote them:
 * a checkpoint of another process (the run it resumed, or anything else in
 * the folder) is never deleted. The caller makes sure one trainer writes a
 * folder at a time (the runner holds a lock on the run folder). */
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
#include "rb_train_fields.h"
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

/* Remove a checkpoint folder so that it is never seen half-deleted: first
 * renamed out of the step-NNNNNNNN names (a kill after that leaves a
 * ".deleting-PID" folder the next save sweeps), then emptied. */
static void remove_tree(const char *path);
static void remove_checkpoint(const char *path)
{
    char doomed[4200];
    snprintf(doomed, sizeof doomed, "%s.deleting-%d", path, (int)getpid());
    if (rename(path, doomed) == 0) remove_tree(doomed);
    else remove_tree(path);
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

/* The settings that shape the training trajectory (RB_TF_RECIPE in the
 * field table). A checkpoint records them and a resume must use the same
 * ones: the run would otherwise change course without anyone noticing (a
 * forgotten flag on --resume). The step count is not among them, so a run
 * can be resumed with more steps. */
typedef struct {
    const char *key;
    double value;
} recipe_item;

#define RB_RECIPE_MAX 64

static int recipe_items(const rb_train_config *c, recipe_item *it)
{
    int nf, n = 0;
    const rb_train_field *f = rb_train_fields(&nf);
    for (int i = 0; i < nf && n < RB_RECIPE_MAX; i++)
        if (f[i].flags & RB_TF_RECIPE) it[n++] = (recipe_item){f[i].name, rb_train_field_number(c, &f[i])};
    return n;
}

/* NULL when the checkpoint's tabulated curricula (if any) are this run's;
 * else a reason. Checked before the recipe so the message names the table. */
static const char *table_mismatch(const cJSON *state, const rb_train_config *c, char *buf, size_t cap)
{
    const rb_curriculum *tabs[2] = {&c->rbar, &c->backprop};
    static const char *const keys[2] = {"rbar_table", "backprop_table"};
    static const char *const what[2] = {"recurrence", "backprop-depth"};
    for (int i = 0; i < 2; i++) {
        const cJSON *tj = cJSON_GetObjectItemCaseSensitive(state, keys[i]);
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(tj, "hash");
        const int mine = tabs[i]->shape == RB_CURRIC_TABLE;
        char hx[40];
        snprintf(hx, sizeof hx, "%016llx", (unsigned long long)rb_curriculum_table_hash(tabs[i]));
        if (!tj && !mine) continue;
        if (!tj) {
            snprintf(buf, cap, "it was trained with a built-in %s curriculum, this run has a tabulated one "
                     "(a function of the step, table %s)", what[i], hx);
            return buf;
        }
        if (!mine) {
            snprintf(buf, cap, "it was trained with a tabulated %s curriculum (a function of the step, table "
                     "%s), this run has a built-in one", what[i], cJSON_IsString(h) ? h->valuestring : "?");
            return buf;
        }
        if (!cJSON_IsString(h) || strcmp(h->valuestring, hx)) {
            snprintf(buf, cap, "its %s curriculum was another table (%s) than this run's (%s over %lld steps): "
                     "the function of the step differs", what[i], cJSON_IsString(h) ? h->valuestring : "?", hx,
                     (long long)tabs[i]->table_len);
            return buf;
        }
    }
    return NULL;
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
    /* changes made between steps (rb_trainer_set_*): only when made, so
     * checkpoints of runs without them stay as they were */
    if (t->lr_scale != 1) {
        char v[40];
        snprintf(v, sizeof v, "%.17g", t->lr_scale);
        cJSON_AddStringToObject(o, "lr_scale", v);
    }
    if (t->rbar_override > 0) cJSON_AddNumberToObject(o, "rbar_override", t->rbar_override);
    /* tabulated curricula (a front end's function of the step): their
     * identity, only when used, so other checkpoints stay as they were */
    const rb_curriculum *tabs[2] = {&t->cfg.rbar, &t->cfg.backprop};
    for (int i = 0; i < 2; i++) {
        if (tabs[i]->shape != RB_CURRIC_TABLE) continue;
        char v[40];
        snprintf(v, sizeof v, "%016llx", (unsigned long long)rb_curriculum_table_hash(tabs[i]));
        cJSON *tj = cJSON_AddObjectToObject(o, i == 0 ? "rbar_table" : "backprop_table");
        cJSON_AddStringToObject(tj, "hash", v);
        cJSON_AddNumberToObject(tj, "steps", (double)tabs[i]->table_len);
    }
    return rb_json_take_text(o, 1, 0);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* Copy src to dst (a new file in the checkpoint's temporary folder). */
static rb_status copy_file(const char *src, const char *dst, rb_error *err)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) return rb_fail(err, RB_EIO, "checkpoint: cannot read %s to copy it: %s", src, strerror(errno));
    struct stat sb;
    if (fstat(in, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(in);
        return rb_fail(err, RB_EIO, "checkpoint: %s is not a regular file; cannot copy it into the "
                                    "checkpoint", src);
    }
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (out < 0) {
        int e = errno;
        close(in);
        return rb_fail(err, RB_EIO, "checkpoint: cannot create %s: %s", dst, strerror(e));
    }
    char buf[1 << 16];
    rb_status st = RB_OK;
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            st = rb_fail(err, RB_EIO, "checkpoint: reading %s failed: %s", src, strerror(errno));
            break;
        }
        if (n == 0) break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) {
                st = rb_fail(err, RB_EIO, "checkpoint: writing %s failed (%s)", dst, strerror(errno));
                break;
            }
            off += w;
        }
        if (st != RB_OK) break;
    }
    if (st == RB_OK && fsync(out) != 0)
        st = rb_fail(err, RB_EIO, "checkpoint: fsync %s: %s", dst, strerror(errno));
    close(in);
    if (close(out) != 0 && st == RB_OK)
        st = rb_fail(err, RB_EIO, "checkpoint: close %s: %s", dst, strerror(errno));
    return st;
}

static int wrote(const rb_trainer *t, const char *name)
{
    for (int i = 0; i < t->n_written; i++)
        if (!strcmp(t->written[i], name)) return 1;
    return 0;
}

static void remember(rb_trainer *t, const char *name)
{
    if (wrote(t, name)) return;
    char **w = realloc(t->written, (size_t)(t->n_written + 1) * sizeof *w);
    if (!w) return; /* forgetting only makes retention keep more */
    t->written = w;
    if ((w[t->n_written] = strdup(name))) t->n_written++;
}

static void forget(rb_trainer *t, const char *name)
{
    for (int i = 0; i < t->n_written; i++)
        if (!strcmp(t->written[i], name)) {
            free(t->written[i]);
            t->written[i] = t->written[--t->n_written];
            return;
        }
}

rb_status rb_trainer_save(rb_trainer *t, const char *dir, const rb_retrofit_plan *plan,
                          const char *const *extra_keys, const char *const *extra_values,
                          int n_extra, rb_error *err)
{
    rb_ckpt_extras x = {plan, extra_keys, extra_values, n_extra, NULL, 0};
    return rb_trainer_save_with(t, dir, &x, err);
}

rb_status rb_trainer_save_with(rb_trainer *t, const char *dir, const rb_ckpt_extras *x, rb_error *err)
{
    static const rb_ckpt_extras none;
    if (!x) x = &none;
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
        for (int i = 0; i < x->n && n < 32; i++)
            if (strcmp(x->keys[i], "train_state")) {
                keys[n] = x->keys[i];
                vals[n++] = x->values[i];
            }
        keys[n] = "train_state";
        vals[n++] = state;
        snprintf(path, sizeof path, "%s/model.safetensors", tmp_dir);
        st = rb_checkpoint_save(path, &m->cfg, host, x->plan, keys, vals, n, err);
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
    for (int i = 0; st == RB_OK && i < x->n_files; i++) {
        const char *b = base_name(x->files[i]);
        if (!*b || !strcmp(b, "model.safetensors") || !strcmp(b, "optim.safetensors") || !strcmp(b, ".") ||
            !strcmp(b, "..")) {
            st = rb_fail(err, RB_EINVAL, "checkpoint: cannot copy %s into it under that name", x->files[i]);
            break;
        }
        snprintf(path, sizeof path, "%s/%s", tmp_dir, b);
        st = copy_file(x->files[i], path, err);
    }
    if (st == RB_OK) st = fsync_path(tmp_dir, err);
    if (st == RB_OK) {
        struct stat sb;
        if (lstat(final_dir, &sb) == 0) {
            if (wrote(t, name)) {
                remove_checkpoint(final_dir); /* ours: the same step saved again */
            } else {
                /* a folder of the same step that this trainer did not write
                 * (a damaged checkpoint a resume skipped, another run's):
                 * kept under another name */
                char aside[4200];
                snprintf(aside, sizeof aside, "%s.old-%d", final_dir, (int)getpid());
                if (rename(final_dir, aside) != 0)
                    st = rb_fail(err, RB_EIO, "checkpoint: %s exists and cannot be moved aside to %s: %s",
                                 final_dir, aside, strerror(errno));
            }
        }
    }
    if (st == RB_OK && rename(tmp_dir, final_dir) != 0)
        st = rb_fail(err, RB_EIO, "checkpoint: cannot rename %s to %s: %s", tmp_dir, final_dir,
                     strerror(errno));
    if (st == RB_OK) st = fsync_path(dir, err);
    if (st != RB_OK) {
        remove_tree(tmp_dir);
        return st;
    }
    remember(t, name);
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
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            /* unfinished folders of writers that were killed, and folders
             * a killed writer was deleting, are swept too (one trainer
             * writes a run folder at a time) */
            if (strstr(e->d_name, ".tmp-") || strstr(e->d_name, ".deleting-")) {
                remove_tree(p);
                continue;
            }
            if (strchr(e->d_name, '.')) continue;
            if (!strcmp(e->d_name, name) || !strcmp(e->d_name, prev)) continue;
            if (!wrote(t, e->d_name)) continue; /* never another process's checkpoint */
            remove_checkpoint(p);
            forget(t, e->d_name);
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

/* "step-" followed by digits only: a complete checkpoint folder's name */
static int is_step_name(const char *n)
{
    if (strncmp(n, "step-", 5) != 0 || !n[5]) return 0;
    for (const char *p = n + 5; *p; p++)
        if (*p < '0' || *p > '9') return 0;
    return 1;
}

static int by_step_desc(const void *a, const void *b)
{
    long long x = atoll(*(char *const *)a + 5), y = atoll(*(char *const *)b + 5);
    return x < y ? 1 : x > y ? -1 : 0;
}

rb_status rb_train_list_checkpoints(const char *dir, char ***names, int *count, rb_error *err)
{
    *names = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return RB_OK;
        return rb_fail(err, RB_EIO, "checkpoint: cannot list %s: %s", dir, strerror(errno));
    }
    char **v = NULL;
    int n = 0, cap = 0;
    rb_status st = RB_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_step_name(e->d_name)) continue;
        char p[4096];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nv = realloc(v, (size_t)cap * sizeof *nv);
            if (!nv) {
                st = rb_fail(err, RB_ENOMEM, "checkpoint: out of memory");
                break;
            }
            v = nv;
        }
        if (!(v[n] = strdup(e->d_name))) {
            st = rb_fail(err, RB_ENOMEM, "checkpoint: out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    if (st != RB_OK) {
        for (int i = 0; i < n; i++) free(v[i]);
        free(v);
        return st;
    }
    if (n > 1) qsort(v, (size_t)n, sizeof *v, by_step_desc);
    *names = v;
    *count = n;
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

rb_status rb_train_checkpoint_info(const char *ckpt_dir, rb_ckpt_info *info, rb_error *err)
{
    char path[4200];
    memset(info, 0, sizeof *info);
    snprintf(path, sizeof path, "%s/model.safetensors", ckpt_dir);
    rb_safetensors *sf = NULL;
    rb_status st = rb_st_open(&sf, path, err);
    if (st != RB_OK) return st;
    const char *ts = rb_st_metadata_get(sf, "train_state");
    cJSON *state = ts ? cJSON_Parse(ts) : NULL;
    rb_st_close(sf);
    int ok = state != NULL;
    if (ok) {
        info->step = json_int(state, "step", &ok);
        info->total_steps = json_int(state, "total_steps", &ok);
    }
    cJSON_Delete(state);
    if (!ok) return rb_fail(err, RB_EFORMAT, "checkpoint %s: no readable train_state in its metadata", path);
    return RB_OK;
}

rb_status rb_trainer_restore(rb_trainer *t, const char *dir, rb_error *err)
{
    rb_model *m = t->m;
    if (!t->opt) return rb_fail(err, RB_EINVAL, "checkpoint: a scoring-only trainer cannot resume training");
    char ck[4096], name[256], path[4200];
    snprintf(path, sizeof path, "%s/latest", dir);
    if (access(path, F_OK) == 0) {
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
    cJSON *state = NULL;
    float *host = NULL;
    rb_safetensors *sf = NULL;
#define FAIL(...) do { st = rb_fail(err, __VA_ARGS__); goto out; } while (0)
    if (lm.n_params != m->table.total || lm.cfg.dim != m->cfg.dim ||
        rb_config_n_layers(&lm.cfg) != rb_config_n_layers(&m->cfg) ||
        lm.cfg.n_recur != m->cfg.n_recur || lm.cfg.vocab_size != m->cfg.vocab_size)
        FAIL(RB_EINVAL, "checkpoint %s: its model (%zu parameters) does not match the one being "
                        "trained (%zu); resume with the same model", path, lm.n_params, m->table.total);
    if (lm.metadata_json) {
        cJSON *meta = cJSON_Parse(lm.metadata_json);
        const cJSON *ts = meta ? cJSON_GetObjectItemCaseSensitive(meta, "train_state") : NULL;
        if (cJSON_IsString(ts)) state = cJSON_Parse(ts->valuestring);
        cJSON_Delete(meta);
    }
    if (!state)
        FAIL(RB_EFORMAT, "checkpoint %s: no train_state in its metadata; it is a model, not a training "
                         "checkpoint", path);
    int ok = 1;
    const int64_t step = json_int(state, "step", &ok);
    const int64_t pos = json_int(state, "data_position", &ok);
    const int64_t seed = json_int(state, "seed", &ok);
    const cJSON *srcs = cJSON_GetObjectItemCaseSensitive(state, "sources");
    const cJSON *flops = cJSON_GetObjectItemCaseSensitive(state, "flops_total");
    const cJSON *lrs = cJSON_GetObjectItemCaseSensitive(state, "lr_scale");
    const cJSON *rbo = cJSON_GetObjectItemCaseSensitive(state, "rbar_override");
    if (!ok || step < 0 || pos < 0 || !cJSON_IsArray(srcs))
        FAIL(RB_EFORMAT, "checkpoint %s: train_state lacks step, data_position or sources", path);
    const double lr_scale = cJSON_IsString(lrs) ? strtod(lrs->valuestring, NULL) : 1;
    const int rbar_override = cJSON_IsNumber(rbo) ? (int)rbo->valuedouble : 0;
    if (!(lr_scale > 0) || rbar_override < 0 || rbar_override > RB_DEPTH_RBAR_MAX)
        FAIL(RB_EFORMAT, "checkpoint %s: train_state has lr_scale %g or rbar_override %d out of range",
             path, lr_scale, rbar_override);
    /* same data: same number of sources with the same training rows */
    if (cJSON_GetArraySize(srcs) != t->cfg.n_sources) ok = 0;
    for (int i = 0; ok && i < t->cfg.n_sources; i++) {
        const cJSON *s = cJSON_GetArrayItem(srcs, i);
        const cJSON *rows = cJSON_GetObjectItemCaseSensitive(s, "train_rows");
        if (!cJSON_IsNumber(rows) || (uint64_t)rows->valuedouble != t->n_train_rows[i]) ok = 0;
    }
    if (!ok || (uint64_t)seed != t->cfg.seed)
        FAIL(RB_EINVAL, "checkpoint %s: it was trained on other data or with another seed (sources, "
                        "their row counts and the seed must match to resume exactly)", path);
    char why[512];
    if (table_mismatch(state, &t->cfg, why, sizeof why))
        FAIL(RB_EINVAL, "checkpoint %s: %s; resume with the curriculum it was trained with (or start a new "
                        "run in another folder)", path, why);
    if (recipe_mismatch(cJSON_GetObjectItemCaseSensitive(state, "recipe"), &t->cfg, why, sizeof why))
        FAIL(RB_EINVAL, "checkpoint %s: %s; resume with the settings it was trained with (or start a "
                        "new run in another folder)", path, why);
    if (step > t->cfg.steps)
        FAIL(RB_EINVAL, "checkpoint %s: at step %lld, past this run's %lld steps", path, (long long)step,
             (long long)t->cfg.steps);

    /* the optimizer state, read in full before anything changes */
    snprintf(path, sizeof path, "%s/optim.safetensors", ck);
    if ((st = rb_st_open(&sf, path, err)) != RB_OK) goto out;
    const size_t total = m->table.total;
    const rb_st_tensor *m1 = rb_st_find(sf, "moment1"), *m2 = rb_st_find(sf, "moment2");
    const char *os = rb_st_metadata_get(sf, "optimizer_step");
    if (!m1 || !m2 || !os || m1->numel != total || m2->numel != total)
        FAIL(RB_EFORMAT, "checkpoint %s: expected moment1 and moment2 of %zu values and optimizer_step",
             path, total);
    if (!(host = malloc(2 * total * sizeof(float)))) FAIL(RB_ENOMEM, "checkpoint: out of memory");
    if ((st = rb_st_read_f32(sf, m1, host, err)) != RB_OK) goto out;
    if ((st = rb_st_read_f32(sf, m2, host + total, err)) != RB_OK) goto out;
    const int64_t ostep = strtoll(os, NULL, 10);

    /* everything read: apply */
    if ((st = rb_mixture_seek(t->mix, (uint64_t)pos, err)) != RB_OK) goto out;
    if ((st = rb_model_set_params(m, lm.params, err)) != RB_OK) goto out;
    if ((st = rb_optimizer_set_state(t->opt, host, ostep, err)) != RB_OK) goto out;
    t->step = step;
    t->flops_total = cJSON_IsNumber(flops) ? flops->valuedouble : 0;
    t->bad_in_row = 0;
    t->lr_scale = lr_scale;
    t->rbar_override = rbar_override;
#undef FAIL
out:
    free(host);
    if (sf) rb_st_close(sf);
    cJSON_Delete(state);
    rb_loaded_model_free(&lm);
    return st;
}
