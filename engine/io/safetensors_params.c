/* safetensors_params.c: fill the parameter buffer (rb_param_table layout)
 * from stored tensors that may come from one file or several shards. The
 * Hugging Face loader and the retrobench checkpoint share it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const rb_st_entry *)a)->name, ((const rb_st_entry *)b)->name);
}

rb_status rb_st_entries_sort(rb_st_entry *e, int n, const char *what, rb_error *err)
{
    qsort(e, (size_t)n, sizeof *e, cmp_entry);
    for (int i = 1; i < n; i++)
        if (!strcmp(e[i - 1].name, e[i].name))
            return rb_fail(err, RB_EFORMAT, "%s: tensor '%s' is stored twice (in %s and in %s)",
                           what, e[i].name, rb_st_source(e[i - 1].st), rb_st_source(e[i].st));
    return RB_OK;
}

rb_st_entry *rb_st_entries_find(rb_st_entry *e, int n, const char *name)
{
    rb_st_entry key = {.name = name};
    return bsearch(&key, e, (size_t)n, sizeof *e, cmp_entry);
}

static void fmt_shape(char *buf, size_t cap, const rb_st_tensor *t)
{
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < t->ndim && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, d ? ", %lld" : "%lld", (long long)t->shape[d]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

rb_status rb_st_match_table(const rb_param_table *tab, rb_st_entry *e, int n,
                            rb_st_entry **match, const char *what, const char *expect,
                            rb_error *err)
{
    for (int i = 0; i < tab->count; i++) {
        const rb_param *p = &tab->items[i];
        rb_st_entry *x = rb_st_entries_find(e, n, p->name);
        if (!x)
            return rb_fail(err, RB_EFORMAT, "%s: tensor '%s' is missing (%s requires it)", what,
                           p->name, expect);
        const rb_st_tensor *t = x->t;
        int ok = p->ndim == 2 ? (t->ndim == 2 && t->shape[0] == p->rows && t->shape[1] == p->cols)
                              : (t->ndim == 1 && t->shape[0] == p->rows);
        if (!ok) {
            char got[256], want[64];
            fmt_shape(got, sizeof got, t);
            if (p->ndim == 2)
                snprintf(want, sizeof want, "[%lld, %lld]", (long long)p->rows,
                         (long long)p->cols);
            else
                snprintf(want, sizeof want, "[%lld]", (long long)p->rows);
            return rb_fail(err, RB_EFORMAT, "%s: tensor '%s' has shape %s, but %s expects %s",
                           rb_st_source(x->st), p->name, got, expect, want);
        }
        if (t->dtype != RB_ST_F32 && t->dtype != RB_ST_F16 && t->dtype != RB_ST_BF16)
            return rb_fail(err, RB_EUNSUPPORTED,
                           "%s: tensor '%s' has dtype %s; retrobench reads only F32, F16 and "
                           "BF16 weights (convert the checkpoint to one of them)",
                           rb_st_source(x->st), p->name, rb_st_dtype_name(t->dtype));
        x->used = 1;
        match[i] = x;
    }
    return RB_OK;
}

rb_status rb_st_copy_table(const rb_param_table *tab, rb_st_entry *const *match, float *params,
                           rb_error *err)
{
    for (int i = 0; i < tab->count; i++) {
        rb_status rc = rb_st_read_f32(match[i]->st, match[i]->t, params + tab->items[i].offset,
                                      err);
        if (rc != RB_OK) return rc;
    }
    return RB_OK;
}
