/* config_json.c: rb_config as JSON (the "config" entry of a retrobench
 * checkpoint's __metadata__) and back.
 *
 * Every field of rb_config is written, in struct order, enums as strings
 * ("llama"/"olmo2", "half"/"interleaved", "none"/"llama3",
 * "truncnormal"/"zero"), floats as the shortest decimal that reads back to
 * the same float, so that a round trip is bit-exact. Reading requires every
 * field and refuses unknown keys: a checkpoint's configuration decides how
 * its weights are used, so nothing in it is guessed or skipped. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

typedef enum { F_INT, F_FLOAT, F_BOOL, F_ENUM } field_kind;

typedef struct {
    const char *key;
    field_kind kind;
    size_t offset;
    const char *const *names; /* F_ENUM: names indexed by value, NULL-terminated */
} field;

static const char *const block_names[] = {"llama", "olmo2", NULL};
static const char *const layout_names[] = {"half", "interleaved", NULL};
static const char *const scaling_names[] = {"none", "llama3", NULL};
static const char *const state_names[] = {"truncnormal", "zero", NULL};

#define FI(k) {#k, F_INT, offsetof(rb_config, k), NULL}
#define FF(k) {#k, F_FLOAT, offsetof(rb_config, k), NULL}
static const field fields[] = {
    FI(vocab_size),
    FI(dim),
    FI(n_heads),
    FI(n_kv_heads),
    FI(head_dim),
    FI(hidden_dim),
    FI(max_seq_len),
    {"block", F_ENUM, offsetof(rb_config, block), block_names},
    FF(norm_eps),
    FF(rope_theta),
    {"rope_layout", F_ENUM, offsetof(rb_config, rope_layout), layout_names},
    {"rope_scaling", F_ENUM, offsetof(rb_config, rope_scaling), scaling_names},
    FF(rope_factor),
    FF(rope_low_freq_factor),
    FF(rope_high_freq_factor),
    FI(rope_original_max_pos),
    {"tied_head", F_BOOL, offsetof(rb_config, tied_head), NULL},
    FI(n_prelude),
    FI(n_recur),
    FI(n_coda),
    {"state_init", F_ENUM, offsetof(rb_config, state_init), state_names},
    FF(state_sigma),
};
#define N_FIELDS ((int)(sizeof fields / sizeof fields[0]))

/* Enums are stored as int-sized values in rb_config. */
_Static_assert(sizeof(rb_block_kind) == sizeof(int), "enum size");
_Static_assert(sizeof(rb_rope_layout) == sizeof(int), "enum size");

static int *int_at(rb_config *c, const field *f) { return (int *)((char *)c + f->offset); }
static float *float_at(rb_config *c, const field *f) { return (float *)((char *)c + f->offset); }

char *rb_config_to_json(const rb_config *cfg)
{
    rb_config c = *cfg;
    cJSON *o = cJSON_CreateObject();
    int ok = o != NULL;
    for (int i = 0; i < N_FIELDS && ok; i++) {
        const field *f = &fields[i];
        if (f->kind == F_INT) {
            ok = cJSON_AddNumberToObject(o, f->key, *int_at(&c, f)) != NULL;
        } else if (f->kind == F_BOOL) {
            ok = cJSON_AddBoolToObject(o, f->key, *int_at(&c, f) != 0) != NULL;
        } else if (f->kind == F_FLOAT) {
            float x = *float_at(&c, f);
            char buf[40];
            if (!isfinite(x)) {
                ok = 0; /* JSON cannot spell it; the caller gets NULL */
                break;
            }
            rb_io_format_float(buf, sizeof buf, x);
            ok = cJSON_AddRawToObject(o, f->key, buf) != NULL;
        } else {
            int v = *int_at(&c, f), n = 0;
            while (f->names[n]) n++;
            ok = v >= 0 && v < n && cJSON_AddStringToObject(o, f->key, f->names[v]) != NULL;
        }
    }
    return rb_json_take_text(o, ok, 0);
}

rb_status rb_config_from_json(const char *json, rb_config *cfg, const char *source, rb_error *err)
{
    const char *src = source ? source : "config";
    rb_config c;
    rb_config_defaults(&c);
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    if (!root) return rb_fail(err, RB_EFORMAT, "%s: the model configuration is not valid JSON", src);
    rb_status rc = RB_OK;
    if (!cJSON_IsObject(root)) {
        rc = rb_fail(err, RB_EFORMAT, "%s: the model configuration is %s, expected an object",
                     src, rb_json_type_name(root));
        goto done;
    }
    for (const cJSON *x = root->child; x; x = x->next) {
        int known = 0;
        for (int i = 0; i < N_FIELDS && !known; i++) known = !strcmp(x->string, fields[i].key);
        if (!known) {
            rc = rb_fail(err, RB_EFORMAT, "%s: unknown configuration field \"%.60s\" (written by "
                         "a newer retrobench?)", src, x->string);
            goto done;
        }
    }
    for (int i = 0; i < N_FIELDS; i++) {
        const field *f = &fields[i];
        const cJSON *j = cJSON_GetObjectItemCaseSensitive(root, f->key);
        if (!j) {
            rc = rb_fail(err, RB_EFORMAT, "%s: configuration field \"%s\" is missing", src, f->key);
            goto done;
        }
        if (f->kind == F_INT) {
            if (!rb_json_is_int_in(j, -2147483648.0, 2147483647.0)) {
                rc = rb_fail(err, RB_EFORMAT, "%s: configuration field \"%s\" must be an integer "
                             "(got %s)", src, f->key, rb_json_type_name(j));
                goto done;
            }
            *int_at(&c, f) = (int)j->valuedouble;
        } else if (f->kind == F_BOOL) {
            if (!cJSON_IsBool(j)) {
                rc = rb_fail(err, RB_EFORMAT, "%s: configuration field \"%s\" must be true or "
                             "false (got %s)", src, f->key, rb_json_type_name(j));
                goto done;
            }
            *int_at(&c, f) = cJSON_IsTrue(j);
        } else if (f->kind == F_FLOAT) {
            /* A double beyond float's range would become an infinity. */
            if (!cJSON_IsNumber(j) || !(fabs(j->valuedouble) <= FLT_MAX)) {
                rc = rb_fail(err, RB_EFORMAT, "%s: configuration field \"%s\" must be a finite "
                             "float (got %s)", src, f->key, rb_json_type_name(j));
                goto done;
            }
            *float_at(&c, f) = (float)j->valuedouble;
        } else {
            int v = -1;
            for (int k = 0; f->names[k] && cJSON_IsString(j); k++)
                if (!strcmp(j->valuestring, f->names[k])) v = k;
            if (v < 0) {
                char list[128] = "";
                for (int k = 0; f->names[k]; k++)
                    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
                             k ? ", " : "", f->names[k]);
                rc = rb_fail(err, RB_EFORMAT, "%s: configuration field \"%s\" must be one of %s",
                             src, f->key, list);
                goto done;
            }
            *int_at(&c, f) = v;
        }
    }
    rc = rb_config_finalize(&c, err);
    if (rc != RB_OK) {
        rb_fail_prefix(err, "%s: ", src);
        goto done;
    }
    *cfg = c;
done:
    cJSON_Delete(root);
    return rc;
}
