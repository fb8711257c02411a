/* rb_train_fields.h: the one table of rb_train_config's settings.
 *
 * Every setting of a training recipe is described once here: its name
 * ("rbar.max"), where it lives in rb_train_config, its type and range, the
 * command-line flag that sets it, a help line, and whether it is part of
 * the checkpoint recipe (settings a resume must repeat exactly). The
 * checkpoint recipe (trainer_ckpt.c), `retrobench train`'s flags and help,
 * and the Lua module all read this table, so a new setting is added in one
 * place (and in the struct).
 *
 * Defaults are not duplicated here: they are whatever
 * rb_train_config_default() puts in the struct (which takes them from the
 * optimizer's, the schedules' and the sampler's own defaults); front ends
 * show them with rb_train_field_format() on a default config.
 *
 * The table's order is the order of the checkpoint recipe's keys. */
#ifndef RB_TRAIN_FIELDS_H
#define RB_TRAIN_FIELDS_H

#include <stddef.h>

#include "rb_error.h"
#include "rb_train.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    RB_TF_INT,      /* int */
    RB_TF_INT64,    /* int64_t */
    RB_TF_U64,      /* uint64_t (the seed), 0..INT64_MAX */
    RB_TF_DOUBLE,   /* double */
    RB_TF_FLOAT,    /* float */
    RB_TF_BOOL,     /* int 0/1 */
    RB_TF_CHOICE,   /* an enum stored as int; named by `choices` */
    RB_TF_DEPTHS,   /* val_depths[] + n_val_depths: "1,2,4,8" */
    RB_TF_SOURCES   /* sources[] + n_sources: one "FILE[:WEIGHT]" per set (appends) */
} rb_train_field_type;

typedef struct {
    const char *name; /* NULL ends a choice list */
    int value;
} rb_train_choice;

/* flags */
#define RB_TF_RECIPE 1u   /* recorded in checkpoints; a resume must use the same value */
#define RB_TF_REQUIRED 2u /* a front end must ask the user for it (no silent default) */
#define RB_TF_MUON 4u     /* Muon group: AdamW-only runs reset it (rb_train_config_resolve) */
#define RB_TF_NEGATE 8u   /* RB_TF_BOOL whose flag switches it off (--no-fuse) */

typedef struct {
    const char *name;    /* "rbar.max": the recipe key and the Lua name */
    const char *flag;    /* "rbar" for --rbar; NULL: no command-line flag. Two fields may
                            share a flag (--wd sets both weight decays) */
    const char *group;   /* help section: "data", "depth", "optimizer", "schedule", "eval" */
    rb_train_field_type type;
    size_t offset;       /* offsetof(rb_train_config, ...) */
    double min, max;     /* numeric range, inclusive (lists: of each element) */
    const rb_train_choice *choices; /* RB_TF_CHOICE */
    const char *arg;     /* the flag's argument in help ("N", "F", "R"); NULL for booleans */
    const char *help;    /* one line */
    unsigned flags;
} rb_train_field;

/* The table and its length. */
const rb_train_field *rb_train_fields(int *count);
/* By name ("rbar.max"), NULL when unknown. */
const rb_train_field *rb_train_field_find(const char *name);
int rb_train_field_index(const rb_train_field *f);

/* Set from text: numbers (range-checked, integers whole), a choice's name,
 * "1"/"0"/"true"/"false" for booleans, "1,2,4" for depths, FILE[:WEIGHT]
 * for sources (appended). The message names the field (and its flag). */
rb_status rb_train_field_parse(rb_train_config *c, const rb_train_field *f, const char *text,
                               rb_error *err);
/* Set a numeric field (INT..BOOL and CHOICE by value), range-checked. */
rb_status rb_train_field_set_number(rb_train_config *c, const rb_train_field *f, double v,
                                    rb_error *err);
/* A numeric field's value as a double (what the checkpoint recipe records);
 * 0 for lists. */
double rb_train_field_number(const rb_train_config *c, const rb_train_field *f);
/* The value as text a user would type ("1-sqrt", "0.001", "1,2,4,8"). */
void rb_train_field_format(const rb_train_config *c, const rb_train_field *f, char *buf,
                           size_t cap);

/* Settings that depend on others, applied once after a front end set what
 * the user gave; given[i] != 0 when field i was set (array of
 * rb_train_fields' count, may be NULL = nothing given):
 *  - optim.kind = adamw: the paper's AdamW-only comparison: the Muon
 *    group and adam_eps take the AdamW-only defaults (eps 1e-8); the AdamW
 *    learning rate, weight decay, betas and clipping stay as set;
 *  - optim.ns_bf16 not given: bf16, or fp32 with optim.ns_gram;
 *  - a growing backprop curriculum without backprop.warmup_fraction given
 *    ramps over 75% of training. */
void rb_train_config_resolve(rb_train_config *c, const unsigned char *given);

#ifdef __cplusplus
}
#endif
#endif
