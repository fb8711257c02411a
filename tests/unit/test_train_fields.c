/* test_train_fields.c: the one table of training settings: the checkpoint
 * recipe is exactly its recipe rows in order, every value survives
 * format -> parse, bad values are refused naming the setting and its flag,
 * and the dependent defaults (AdamW-only, Newton-Schulz precision, backprop
 * warmup) follow the rules the command line had. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_data.h"
#include "rb_model.h"
#include "rb_safetensors.h"
#include "rb_test.h"
#include "rb_train.h"
#include "rb_train_fields.h"

START_TEST(recipe_in_checkpoints_is_the_table)
{
    /* a tiny model and data, one step, one checkpoint */
    rb_error err = {0};
    const char *data = rb_test_tmp_path("f.rbtok");
    rb_tokwriter *w = NULL;
    ck_assert(rb_tokwriter_open(&w, data, 11, 9, &err) == RB_OK);
    for (int r = 0; r < 20; r++) {
        int32_t row[9];
        for (int i = 0; i < 9; i++) row[i] = (r + i) % 11;
        ck_assert(rb_tokwriter_append(w, row, 9, &err) == RB_OK);
    }
    ck_assert(rb_tokwriter_finish(w, &err) == RB_OK);
    rb_config mc;
    rb_config_defaults(&mc);
    mc.vocab_size = 11, mc.dim = 16, mc.n_heads = 2, mc.n_kv_heads = 1, mc.hidden_dim = 24;
    mc.max_seq_len = 16, mc.n_prelude = 1, mc.n_recur = 1, mc.n_coda = 1;
    rb_model *m = NULL;
    ck_assert(rb_model_create(&m, &mc, rb_test_cpu_backend(), &err) == RB_OK);
    ck_assert(rb_model_init_random(m, 3, 0.05f, &err) == RB_OK);
    rb_train_config c;
    rb_train_config_default(&c, 4);
    const rb_train_field *src = rb_train_field_find("sources");
    ck_assert(rb_train_field_parse(&c, src, data, &err) == RB_OK);
    c.batch = 2, c.steps = 3, c.n_val_depths = 0;
    c.optim.muon_lr = 0.0123f; /* a value that is not a default */
    rb_trainer *t = NULL;
    ck_assert_msg(rb_trainer_create(&t, m, &c, NULL, &err) == RB_OK, "%s", err.msg);
    ck_assert(rb_trainer_step(t, NULL, &err) == RB_OK);
    const char *dir = rb_test_tmp_path("fck");
    ck_assert(rb_trainer_save(t, dir, NULL, NULL, NULL, 0, &err) == RB_OK);
    char path[4200];
    snprintf(path, sizeof path, "%s/step-00000001/model.safetensors", dir);
    rb_safetensors *sf = NULL;
    ck_assert(rb_st_open(&sf, path, &err) == RB_OK);
    cJSON *state = cJSON_Parse(rb_st_metadata_get(sf, "train_state"));
    rb_st_close(sf);
    const cJSON *rec = cJSON_GetObjectItemCaseSensitive(state, "recipe");
    ck_assert(cJSON_IsObject(rec));
    int nf, k = 0;
    const rb_train_field *f = rb_train_fields(&nf);
    const cJSON *item = rec->child;
    for (int i = 0; i < nf; i++) {
        if (!(f[i].flags & RB_TF_RECIPE)) continue;
        ck_assert_msg(item && !strcmp(item->string, f[i].name), "recipe key %d is %s, table says %s", k,
                      item ? item->string : "(none)", f[i].name);
        char want[40];
        snprintf(want, sizeof want, "%.17g", rb_train_field_number(&c, &f[i]));
        ck_assert_msg(!strcmp(item->valuestring, want), "%s: %s vs %s", f[i].name, item->valuestring, want);
        item = item->next;
        k++;
    }
    ck_assert_msg(item == NULL, "the checkpoint has recipe keys the table lacks (%s)", item ? item->string : "");
    /* checkpoints written before the table existed resume: the same keys in
     * the same order (the recipe as trainer_ckpt.c listed it by hand) */
    static const char *legacy[] = {
        "batch", "grad_accum", "val_fraction", "rbar.shape", "rbar.warmup_fraction", "rbar.max",
        "rbar.min_ratio", "rbar.step_offset", "backprop.shape", "backprop.warmup_fraction", "backprop.max",
        "backprop.min_ratio", "backprop.step_offset", "depth.mode", "depth.sigma", "optim.kind",
        "optim.muon_lr", "optim.muon_momentum", "optim.muon_wd", "optim.muon_nesterov", "optim.ns_steps",
        "optim.ns_a", "optim.ns_b", "optim.ns_c", "optim.muon_fuse", "optim.ns_bf16", "optim.ns_gram",
        "optim.adam_lr", "optim.adam_beta1", "optim.adam_beta2", "optim.adam_eps", "optim.adam_wd",
        "optim.clip_norm", "lr.kind", "lr.decay", "lr.warmup_fraction", "lr.decay_fraction", "lr.min_ratio"};
    ck_assert_int_eq(k, (int)(sizeof legacy / sizeof legacy[0]));
    item = rec->child;
    for (int i = 0; i < k; i++, item = item->next) ck_assert_str_eq(item->string, legacy[i]);
    cJSON_Delete(state);
    rb_trainer_destroy(t);
    rb_model_destroy(m);
}
END_TEST

START_TEST(every_value_survives_format_and_parse)
{
    int nf;
    const rb_train_field *f = rb_train_fields(&nf);
    rb_train_config d, c;
    rb_train_config_default(&d, 4);
    rb_error err = {0};
    for (int i = 0; i < nf; i++) {
        ck_assert(f[i].offset < sizeof(rb_train_config));
        ck_assert_ptr_eq(rb_train_field_find(f[i].name), &f[i]);
        if (f[i].type == RB_TF_SOURCES) continue;
        char text[256];
        rb_train_field_format(&d, &f[i], text, sizeof text);
        memset(&c, 0, sizeof c);
        ck_assert_msg(rb_train_field_parse(&c, &f[i], text, &err) == RB_OK, "%s: '%s': %s", f[i].name, text,
                      err.msg);
        if (f[i].type == RB_TF_DEPTHS) {
            ck_assert_int_eq(c.n_val_depths, d.n_val_depths);
            ck_assert(!memcmp(c.val_depths, d.val_depths, sizeof(int) * (size_t)d.n_val_depths));
        } else if (f[i].type != RB_TF_FLOAT) {
            ck_assert_msg(rb_train_field_number(&c, &f[i]) == rb_train_field_number(&d, &f[i]), "%s", f[i].name);
        } else { /* %g keeps 6 digits: the float nearest the text */
            ck_assert_msg((float)rb_train_field_number(&c, &f[i]) == (float)rb_train_field_number(&d, &f[i]),
                          "%s: %s", f[i].name, text);
        }
    }
}
END_TEST

START_TEST(bad_values_name_the_setting)
{
    rb_train_config c;
    rb_train_config_default(&c, 4);
    rb_error err = {0};
    const rb_train_field *rbar = rb_train_field_find("rbar.max");
    ck_assert_int_eq(rb_train_field_parse(&c, rbar, "0", &err), RB_EINVAL);
    ck_assert_msg(strstr(err.msg, "rbar.max") && strstr(err.msg, "--rbar"), "%s", err.msg);
    ck_assert_int_eq(rb_train_field_parse(&c, rbar, "4.5", &err), RB_EINVAL);
    ck_assert_int_eq(rb_train_field_set_number(&c, rbar, 4.5, &err), RB_EINVAL);
    ck_assert_int_eq(rb_train_field_set_number(&c, rbar, 70000, &err), RB_EINVAL);
    ck_assert(rb_train_field_set_number(&c, rbar, 16, &err) == RB_OK && c.rbar.max_value == 16);
    const rb_train_field *shape = rb_train_field_find("rbar.shape");
    ck_assert_int_eq(rb_train_field_parse(&c, shape, "square", &err), RB_EINVAL);
    ck_assert_msg(strstr(err.msg, "1-sqrt, linear or constant"), "%s", err.msg);
    ck_assert(rb_train_field_parse(&c, shape, "linear", &err) == RB_OK && c.rbar.shape == RB_CURRIC_LINEAR);
    const rb_train_field *dep = rb_train_field_find("val_depths");
    ck_assert_int_eq(rb_train_field_parse(&c, dep, "", &err), RB_EINVAL);
    ck_assert_int_eq(rb_train_field_parse(&c, dep, "1,,2", &err), RB_EINVAL);
    ck_assert_int_eq(rb_train_field_parse(&c, dep, "1,2,", &err), RB_EINVAL);
    ck_assert_int_eq(rb_train_field_parse(&c, dep, "1,5000", &err), RB_EINVAL);
    ck_assert(rb_train_field_parse(&c, dep, "3,9", &err) == RB_OK && c.n_val_depths == 2 && c.val_depths[1] == 9);
    const rb_train_field *src = rb_train_field_find("sources");
    c.n_sources = 0;
    ck_assert_int_eq(rb_train_field_parse(&c, src, "a.rbtok:0", &err), RB_EINVAL);
    ck_assert(rb_train_field_parse(&c, src, "a.rbtok:2.5", &err) == RB_OK);
    ck_assert(rb_train_field_parse(&c, src, "dir:x/b.rbtok", &err) == RB_OK);
    ck_assert_int_eq(c.n_sources, 2);
    ck_assert_str_eq(c.sources[0].path, "a.rbtok");
    ck_assert(c.sources[0].weight == 2.5);
    ck_assert_str_eq(c.sources[1].path, "dir:x/b.rbtok");
    ck_assert_ptr_null(rb_train_field_find("no.such"));
}
END_TEST

START_TEST(dependent_defaults)
{
    int nf;
    rb_train_fields(&nf);
    unsigned char *given = calloc((size_t)nf, 1);
    rb_train_config c;
    rb_error err = {0};
    /* AdamW-only: Muon settings back to defaults, eps 1e-8, AdamW lr kept */
    rb_train_config_default(&c, 4);
    ck_assert(rb_train_field_parse(&c, rb_train_field_find("optim.kind"), "adamw", &err) == RB_OK);
    c.optim.muon_lr = 0.5f, c.optim.adam_lr = 0.002f, c.optim.ns_gram = 1;
    rb_train_config_resolve(&c, given);
    ck_assert(c.optim.kind == RB_OPTIM_ADAMW && c.optim.muon_lr == 1e-3f && c.optim.adam_lr == 0.002f);
    ck_assert(c.optim.adam_eps == 1e-8f && c.optim.ns_gram == 0 && c.optim.ns_bf16 == 1);
    /* Newton-Schulz precision: fp32 with the Gram form unless given */
    rb_train_config_default(&c, 4);
    c.optim.ns_gram = 1;
    rb_train_config_resolve(&c, given);
    ck_assert_int_eq(c.optim.ns_bf16, 0);
    rb_train_config_default(&c, 4);
    c.optim.ns_gram = 1;
    c.optim.ns_bf16 = 1;
    given[rb_train_field_index(rb_train_field_find("optim.ns_bf16"))] = 1;
    rb_train_config_resolve(&c, given);
    ck_assert_int_eq(c.optim.ns_bf16, 1);
    /* a growing backprop curriculum ramps over 75% unless given */
    memset(given, 0, (size_t)nf);
    rb_train_config_default(&c, 4);
    c.backprop.shape = RB_CURRIC_LINEAR;
    rb_train_config_resolve(&c, given);
    ck_assert(c.backprop.warmup_fraction == 0.75);
    rb_train_config_default(&c, 4);
    c.backprop.shape = RB_CURRIC_LINEAR;
    c.backprop.warmup_fraction = 0.5;
    given[rb_train_field_index(rb_train_field_find("backprop.warmup_fraction"))] = 1;
    rb_train_config_resolve(&c, given);
    ck_assert(c.backprop.warmup_fraction == 0.5);
    rb_train_config_default(&c, 4);
    rb_train_config_resolve(&c, NULL);
    ck_assert(c.backprop.warmup_fraction == 0 && c.optim.ns_bf16 == 1);
    free(given);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("train_fields");
    TCase *tc = tcase_create("table");
    tcase_add_test(tc, recipe_in_checkpoints_is_the_table);
    tcase_add_test(tc, every_value_survives_format_and_parse);
    tcase_add_test(tc, bad_values_name_the_setting);
    tcase_add_test(tc, dependent_defaults);
    suite_add_tcase(s, tc);
    return rb_test_run_suite(s);
}
