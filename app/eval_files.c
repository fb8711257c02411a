/* eval_files.c: see eval_files.h. */
#include "eval_files.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CMD "retrobench eval"

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    while (b) {
        size_t got = fread(b + n, 1, cap - n - 1, f);
        n += got;
        if (n + 1 < cap) break;
        char *nb = realloc(b, cap *= 2);
        if (!nb) free(b);
        b = nb;
    }
    int bad = ferror(f);
    fclose(f);
    if (!b || bad) {
        free(b);
        errno = bad ? EIO : ENOMEM;
        return NULL;
    }
    b[n] = '\0';
    if (len) *len = n;
    return b;
}

static const char *str_field(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int evf_load_problems(const char *path, const char *qf, const char *af, int64_t skip, int64_t limit,
                      evf_problems *out)
{
    memset(out, 0, sizeof *out);
    size_t len;
    char *data = read_file(path, &len);
    if (!data) {
        fprintf(stderr, CMD ": --data %s: %s\n", path, strerror(errno));
        return 2;
    }
    int64_t line = 0, cap = 0;
    char *p = data;
    int rc = 0;
    while (*p && rc == 0) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = '\0';
        char *s = p;
        while (*s == ' ' || *s == '\t' || *s == '\r') s++;
        if (*s) {
            if (line >= skip && (limit < 0 || line < skip + limit)) {
                cJSON *o = cJSON_Parse(s);
                const char *q = o ? str_field(o, qf) : NULL, *a = o ? str_field(o, af) : NULL;
                if (!o) {
                    fprintf(stderr, CMD ": %s: line %lld is not a JSON object\n", path, (long long)line + 1);
                    rc = 2;
                } else if (!q || !a) {
                    fprintf(stderr, CMD ": %s: line %lld has no string field \"%s\"; name the fields with "
                                    "--question-field / --answer-field\n", path, (long long)line + 1, q ? af : qf);
                    rc = 2;
                } else {
                    if (out->count == cap) {
                        cap = cap ? 2 * cap : 1024;
                        rb_eval_problem *ni = realloc(out->items, (size_t)cap * sizeof *ni);
                        char **ns = realloc(out->strings, (size_t)cap * 2 * sizeof *ns);
                        if (ni) out->items = ni;
                        if (ns) out->strings = ns;
                        if (!ni || !ns) {
                            fprintf(stderr, CMD ": out of memory\n");
                            rc = 1;
                        }
                    }
                    if (rc == 0) {
                        char *qs = strdup(q), *as = strdup(a);
                        out->strings[out->n_strings++] = qs;
                        out->strings[out->n_strings++] = as;
                        out->items[out->count++] = (rb_eval_problem){line, qs, as};
                    }
                }
                cJSON_Delete(o);
            }
            line++;
        }
        if (!nl) break;
        p = nl + 1;
    }
    free(data);
    if (rc == 0 && out->count == 0) {
        fprintf(stderr, CMD ": %s: no problems in the range asked for (%lld lines; --skip %lld)\n", path,
                (long long)line, (long long)skip);
        rc = 2;
    }
    if (rc) evf_problems_free(out);
    return rc;
}

void evf_problems_free(evf_problems *p)
{
    for (int64_t i = 0; i < p->n_strings; i++) free(p->strings[i]);
    free(p->strings);
    free(p->items);
    free(p->storage);
    memset(p, 0, sizeof *p);
}

int evf_load_exemplars(const char *path, rb_eval_exemplar **out, int *n, char ***strings)
{
    evf_problems p;
    /* same reader, other field names */
    int rc = evf_load_problems(path, "question", "target", 0, -1, &p);
    if (rc) return rc;
    *out = calloc((size_t)p.count, sizeof **out);
    if (!*out) {
        evf_problems_free(&p);
        fprintf(stderr, CMD ": out of memory\n");
        return 1;
    }
    for (int64_t i = 0; i < p.count; i++) (*out)[i] = (rb_eval_exemplar){p.items[i].question, p.items[i].answer};
    *n = (int)p.count;
    *strings = p.strings; /* keeps the texts alive; the caller frees each and the array */
    free(p.items);
    return 0;
}

/* ---- answers already written ---- */

static uint64_t key_of(int64_t id, int depth) { return ((uint64_t)id << 16) | (uint64_t)(depth & 0xffff); }

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int evf_done_has(const evf_done *d, int64_t id, int depth)
{
    uint64_t k = key_of(id, depth);
    return d->count && bsearch(&k, d->keys, (size_t)d->count, sizeof k, cmp_u64) != NULL;
}

void evf_done_free(evf_done *d)
{
    free(d->keys);
    memset(d, 0, sizeof *d);
}

int evf_resume(const char *path, const rb_eval_config *c, evf_done *done, rb_eval_tally *t, int64_t *n_read)
{
    *n_read = 0;
    size_t len;
    char *data = read_file(path, &len);
    if (!data) {
        if (errno == ENOENT) return 0;
        fprintf(stderr, CMD ": %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t good = 0; /* bytes of complete, valid lines */
    int64_t line = 0;
    int rc = 0;
    char *p = data;
    while (p < data + len && rc == 0) {
        char *nl = memchr(p, '\n', (size_t)(data + len - p));
        int last = nl == NULL || nl + 1 == data + len;
        if (!nl) { /* no newline: an interrupted write */
            fprintf(stderr, CMD ": %s: dropping a torn last line (%zu bytes) left by an interrupted run\n",
                    path, (size_t)(data + len - p));
            break;
        }
        *nl = '\0';
        line++;
        cJSON *o = cJSON_Parse(p);
        const cJSON *id = o ? cJSON_GetObjectItemCaseSensitive(o, "id") : NULL;
        const cJSON *dp = o ? cJSON_GetObjectItemCaseSensitive(o, "depth") : NULL;
        const cJSON *cor = o ? cJSON_GetObjectItemCaseSensitive(o, "correct") : NULL;
        const cJSON *nt = o ? cJSON_GetObjectItemCaseSensitive(o, "new_tokens") : NULL;
        const cJSON *pt = o ? cJSON_GetObjectItemCaseSensitive(o, "prompt_tokens") : NULL;
        const cJSON *fl = o ? cJSON_GetObjectItemCaseSensitive(o, "flops") : NULL;
        int ok = o && cJSON_IsNumber(id) && cJSON_IsNumber(dp) && cJSON_IsObject(cor) && cJSON_IsNumber(nt) &&
                 cJSON_IsNumber(pt) && cJSON_IsNumber(fl);
        int correct[RB_EVAL_MAX_RULES] = {0};
        for (int k = 0; ok && k < c->n_rules; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(cor, c->rules[k].name);
            if (!cJSON_IsBool(v)) {
                fprintf(stderr, CMD ": %s: line %lld has no score for rule \"%s\"; it was made with other "
                                "extraction rules: use another -o\n", path, (long long)line, c->rules[k].name);
                rc = 2;
                ok = 1; /* reported */
                break;
            }
            correct[k] = cJSON_IsTrue(v);
        }
        if (rc == 0 && !ok) {
            if (last) {
                fprintf(stderr, CMD ": %s: dropping a malformed last line left by an interrupted run\n", path);
            } else {
                fprintf(stderr, CMD ": %s: line %lld is not an answer record; the file is damaged: move it "
                                "away to start over\n", path, (long long)line);
                rc = 2;
            }
        }
        if (rc == 0 && ok) {
            if (done->count == done->cap) {
                done->cap = done->cap ? 2 * done->cap : 4096;
                uint64_t *nk = realloc(done->keys, (size_t)done->cap * sizeof *nk);
                if (!nk) {
                    fprintf(stderr, CMD ": out of memory\n");
                    rc = 1;
                }
                done->keys = nk ? nk : done->keys;
            }
            if (rc == 0) {
                done->keys[done->count++] = key_of((int64_t)id->valuedouble, dp->valueint);
                rb_error err = {0};
                if (rb_eval_tally_add(t, dp->valueint, correct, nt->valueint, pt->valueint, fl->valuedouble,
                                      &err) != RB_OK) {
                    fprintf(stderr, CMD ": %s\n", err.msg);
                    rc = 1;
                }
                (*n_read)++;
                good = (size_t)(nl + 1 - data);
            }
        }
        cJSON_Delete(o);
        if (!ok && last) break;
        p = nl + 1;
    }
    free(data);
    if (rc == 0 && good < len) {
        if (truncate(path, (off_t)good) != 0) {
            fprintf(stderr, CMD ": %s: cannot cut the torn line: %s\n", path, strerror(errno));
            rc = 1;
        }
    }
    if (rc == 0 && done->count) qsort(done->keys, (size_t)done->count, sizeof *done->keys, cmp_u64);
    return rc;
}

int evf_write_record(FILE *f, const char *path, const rb_eval_record *r, const rb_eval_config *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "id", (double)r->id);
    cJSON_AddNumberToObject(o, "depth", r->depth);
    cJSON_AddStringToObject(o, "prompt", r->prompt);
    cJSON_AddStringToObject(o, "completion", r->completion);
    cJSON *ex = cJSON_AddObjectToObject(o, "extracted");
    cJSON *co = cJSON_AddObjectToObject(o, "correct");
    for (int k = 0; k < c->n_rules; k++) {
        cJSON_AddStringToObject(ex, c->rules[k].name, r->extracted[k]);
        cJSON_AddBoolToObject(co, c->rules[k].name, r->correct[k]);
    }
    cJSON_AddStringToObject(o, "gold", r->gold);
    cJSON_AddNumberToObject(o, "prompt_tokens", r->prompt_tokens);
    cJSON_AddBoolToObject(o, "truncated", r->truncated);
    cJSON_AddNumberToObject(o, "new_tokens", r->new_tokens);
    cJSON_AddStringToObject(o, "stop", r->stop);
    cJSON_AddNumberToObject(o, "flops", r->flops);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) {
        fprintf(stderr, CMD ": out of memory\n");
        return 1;
    }
    size_t n = strlen(s);
    s[n] = '\n'; /* replaces the NUL: one write for the whole line */
    int ok = fwrite(s, 1, n + 1, f) == n + 1 && fflush(f) == 0;
    free(s);
    if (!ok) {
        fprintf(stderr, CMD ": cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

/* ---- settings ---- */

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; s && *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return (h ^ 0xff) * 0x100000001b3ull;
}

static cJSON *settings_json(const char *model, const char *data, const char *qf, const char *af, int64_t skip,
                            const rb_eval_config *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", model);
    cJSON_AddStringToObject(o, "data", data);
    cJSON_AddStringToObject(o, "question_field", qf);
    cJSON_AddStringToObject(o, "answer_field", af);
    cJSON_AddNumberToObject(o, "skip", (double)skip);
    cJSON_AddNumberToObject(o, "shots", c->shots);
    cJSON_AddStringToObject(o, "question_template", c->question_template);
    cJSON_AddStringToObject(o, "exemplar_template", c->exemplar_template);
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < c->shots && i < c->n_exemplars; i++)
        h = fnv(fnv(h, c->exemplars[i].question), c->exemplars[i].target);
    char hex[32];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
    cJSON_AddStringToObject(o, "exemplars_used", hex);
    cJSON_AddBoolToObject(o, "bos", c->add_bos);
    cJSON_AddNumberToObject(o, "max_length", c->max_length);
    cJSON_AddNumberToObject(o, "max_new", c->max_new);
    cJSON *st = cJSON_AddArrayToObject(o, "stops");
    for (int i = 0; i < c->n_stops; i++) cJSON_AddItemToArray(st, cJSON_CreateString(c->stops[i]));
    cJSON *ru = cJSON_AddArrayToObject(o, "rules");
    for (int k = 0; k < c->n_rules; k++) {
        char r[1024];
        snprintf(r, sizeof r, "%s:%s:%d", c->rules[k].name,
                 c->rules[k].kind == RB_EXTRACT_POSIX ? c->rules[k].pattern
                 : c->rules[k].kind == RB_EXTRACT_FLEXIBLE ? "builtin-flexible" : "builtin-strict",
                 c->rules[k].select);
        cJSON_AddItemToArray(ru, cJSON_CreateString(r));
    }
    cJSON_AddNumberToObject(o, "seed", (double)c->seed);
    return o;
}

int evf_check_settings(const char *path, const char *model, const char *data, const char *qf, const char *af,
                       int64_t skip, const rb_eval_config *c)
{
    cJSON *now = settings_json(model, data, qf, af, skip, c);
    char *old = read_file(path, NULL);
    int rc = 0;
    if (!old) {
        char *s = cJSON_Print(now);
        rc = s ? evf_write_atomic(path, s, strlen(s)) : 1;
        free(s);
        cJSON_Delete(now);
        return rc;
    }
    cJSON *was = cJSON_Parse(old);
    free(old);
    if (!was) {
        fprintf(stderr, CMD ": %s is not JSON; move the output folder away to start over\n", path);
        cJSON_Delete(now);
        return 2;
    }
    for (const cJSON *it = now->child; it && rc == 0; it = it->next) {
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(was, it->string);
        if (!w || !cJSON_Compare(it, w, 1)) {
            char *a = cJSON_PrintUnformatted(it), *b = w ? cJSON_PrintUnformatted(w) : strdup("(absent)");
            fprintf(stderr, CMD ": the answers in this folder were made with %s = %s, this run asks for %s; "
                            "resume with the same setting or use another -o (%s)\n", it->string, b ? b : "?",
                    a ? a : "?", path);
            free(a);
            free(b);
            rc = 2;
        }
    }
    cJSON_Delete(was);
    cJSON_Delete(now);
    return rc;
}

/* ---- summaries ---- */

int evf_write_atomic(const char *path, const char *buf, size_t n)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int ok = fd >= 0;
    size_t done = 0;
    while (ok && done < n) {
        ssize_t w = write(fd, buf + done, n - done);
        if (w <= 0) ok = 0;
        else done += (size_t)w;
    }
    if (ok && fsync(fd) != 0) ok = 0;
    if (fd >= 0 && close(fd) != 0) ok = 0;
    if (ok && rename(tmp, path) != 0) ok = 0;
    if (!ok) {
        fprintf(stderr, CMD ": cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return 1;
    }
    return 0;
}

static void add_num(cJSON *o, const char *k, double v)
{
    if (isfinite(v)) cJSON_AddNumberToObject(o, k, v);
    else cJSON_AddNullToObject(o, k);
}

int evf_write_summary(const char *dir, const rb_eval_config *c, const rb_eval_tally *t, const evf_run_info *info,
                      int print)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", info->model);
    cJSON_AddStringToObject(o, "data", info->data);
    cJSON_AddNumberToObject(o, "first_problem", (double)info->first);
    cJSON_AddNumberToObject(o, "problems", (double)info->count);
    cJSON_AddNumberToObject(o, "shots", c->shots);
    cJSON_AddNumberToObject(o, "max_new", c->max_new);
    cJSON_AddNumberToObject(o, "max_length", c->max_length);
    cJSON_AddNumberToObject(o, "seed", (double)c->seed);
    cJSON_AddBoolToObject(o, "complete", info->complete);
    cJSON *res = cJSON_AddArrayToObject(o, "results");
    size_t cap = 4096, used = 0;
    char *csv = malloc(cap);
    if (!csv) {
        cJSON_Delete(o);
        fprintf(stderr, CMD ": out of memory\n");
        return 1;
    }
    used += (size_t)snprintf(csv, cap, "depth,n,rule,accuracy,stderr,mean_new_tokens,mean_prompt_tokens,mean_flops\n");
    if (print) {
        printf("%-6s %6s", "depth", "n");
        for (int k = 0; k < c->n_rules; k++) printf("  %22s", c->rules[k].name);
        printf("  %13s  %13s\n", "tokens/answer", "GFLOP/answer");
    }
    for (int i = 0; i < rb_eval_tally_count(t); i++) {
        rb_eval_depth_summary s;
        rb_eval_tally_get(t, i, &s);
        cJSON *r = cJSON_CreateObject();
        cJSON_AddNumberToObject(r, "depth", s.depth);
        cJSON_AddNumberToObject(r, "n", (double)s.n);
        for (int k = 0; k < c->n_rules; k++) {
            cJSON *a = cJSON_AddObjectToObject(r, c->rules[k].name);
            add_num(a, "accuracy", s.accuracy[k]);
            add_num(a, "stderr", s.se[k]);
            if (used + 512 > cap) {
                char *nc = realloc(csv, cap *= 2);
                if (!nc) break;
                csv = nc;
            }
            used += (size_t)snprintf(csv + used, cap - used, "%d,%lld,%s,%.6f,%.6f,%.3f,%.3f,%.6g\n", s.depth,
                                     (long long)s.n, c->rules[k].name, s.accuracy[k], s.se[k], s.mean_new_tokens,
                                     s.mean_prompt_tokens, s.mean_flops);
        }
        add_num(r, "mean_new_tokens", s.mean_new_tokens);
        add_num(r, "mean_prompt_tokens", s.mean_prompt_tokens);
        add_num(r, "mean_flops", s.mean_flops);
        cJSON_AddItemToArray(res, r);
        if (print) {
            printf("%-6d %6lld", s.depth, (long long)s.n);
            for (int k = 0; k < c->n_rules; k++) {
                char cell[64];
                snprintf(cell, sizeof cell, "%.4f +- %.4f", s.accuracy[k], s.se[k]);
                printf("  %22s", cell);
            }
            printf("  %13.1f  %13.2f\n", s.mean_new_tokens, s.mean_flops / 1e9);
        }
    }
    cJSON *run = cJSON_AddObjectToObject(o, "this_run");
    cJSON_AddNumberToObject(run, "answers", (double)info->answers_this_run);
    cJSON_AddNumberToObject(run, "new_tokens", (double)info->tokens_this_run);
    add_num(run, "seconds", info->seconds_this_run);
    add_num(run, "tokens_per_second",
            info->seconds_this_run > 0 ? (double)info->tokens_this_run / info->seconds_this_run : NAN);
    char *js = cJSON_Print(o);
    cJSON_Delete(o);
    char path[4200];
    int rc = 0;
    snprintf(path, sizeof path, "%s/summary.json", dir);
    if (!js) rc = 1;
    else {
        size_t n = strlen(js);
        char *withnl = realloc(js, n + 2);
        if (withnl) {
            js = withnl;
            js[n] = '\n', js[n + 1] = '\0';
        }
        rc = evf_write_atomic(path, js, strlen(js));
    }
    free(js);
    snprintf(path, sizeof path, "%s/summary.csv", dir);
    if (rc == 0) rc = evf_write_atomic(path, csv, used);
    free(csv);
    return rc;
}
