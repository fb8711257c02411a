/* rb_eval.h: generation-based evaluation with the paper's GSM8K protocol
 * (../shared/design/EVAL.md, lm-evaluation-harness gsm8k-cot with the
 * "Let's think step by step." suffix), at any list of test-time depths.
 *
 * Every part of the protocol is a field of rb_eval_config, filled with the
 * paper's values by rb_eval_config_default: templates, exemplars and shot
 * count, BOS, context truncation, stop strings and tokens, extraction
 * rules. The run (rb_eval_run) decodes greedily in batches (rb_batch.h:
 * outputs equal the single-sequence path token for token), reports every
 * finished answer through a callback, progress through another, and stops
 * between decode steps when asked. Nothing here prints. */
#ifndef RB_EVAL_H
#define RB_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "rb_model.h"
#include "rb_tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RB_EVAL_INVALID "[invalid]"
#define RB_EVAL_MAX_RULES 4
#define RB_EVAL_MAX_STOPS 16

/* ---------------- protocol pieces (engine/eval/protocol.c) ---------------- */

/* Answer extraction as the harness's RegexFilter: all non-overlapping
 * matches of the pattern, left to right; the first (select 0) or the last
 * (select -1); of its capture groups the first non-empty one (the whole
 * match when there is no group); whitespace stripped; no match:
 * "[invalid]".
 *  FLEXIBLE: (-?[$0-9.,]{2,})|(-?[0-9]+)        (the paper's number)
 *  STRICT:   The answer is (\-?[0-9\.\,]+).     (the final . is any
 *            character but a newline, as in Python)
 * Both are matched by hand-written code that reproduces Python's `re`
 * exactly, on bytes of UTF-8 text (tests/reference/test_ref_eval_extract
 * checks it against Python). POSIX: a user pattern in POSIX extended
 * syntax (regcomp with REG_EXTENDED | REG_NEWLINE, in the C locale's byte
 * semantics). Caveats against Python: POSIX picks the longest match at
 * the leftmost position where Python picks the first alternative that
 * matches; inside [...] a backslash is a literal character (write
 * [0-9.,], not [0-9\.\,]); no lazy quantifiers, \d or lookaround; the
 * text must not contain NUL bytes (it is cut there). */
typedef enum { RB_EXTRACT_FLEXIBLE = 0, RB_EXTRACT_STRICT = 1, RB_EXTRACT_POSIX = 2 } rb_extract_kind;

typedef struct {
    const char *name;    /* "flexible-extract", "strict-match", ... */
    rb_extract_kind kind;
    const char *pattern; /* RB_EXTRACT_POSIX only */
    int select;          /* 0: first match; -1: last match */
} rb_extract_rule;

typedef struct rb_extractor rb_extractor;
rb_status rb_extractor_create(rb_extractor **out, const rb_extract_rule *rule, rb_error *err);
void rb_extractor_free(rb_extractor *x);
/* The extracted answer (malloc'd, NUL-terminated), "[invalid]" when
 * nothing matches; NULL only when out of memory. */
char *rb_extract(const rb_extractor *x, const char *text, size_t len);

/* Gold answer: the text after the last "####" of answer (all of it when
 * there is none), whitespace stripped (Python's answer.split('####')[-1].strip()). */
char *rb_eval_gold(const char *answer);
/* The normalisation applied to prediction and gold alike, in order: delete
 * every ","; delete every "$"; delete everything up to and including the
 * last "#### "; delete one "." at the end (or before a final newline, as
 * Python's \.$); lowercase (ASCII). malloc'd. */
char *rb_eval_normalize(const char *s);
/* 1 when normalize(pred) == normalize(gold) (string equality), else 0
 * (also when out of memory: -1). */
int rb_eval_correct(const char *pred, const char *gold);
/* Post-processing of a continuation: cut text at the first occurrence of
 * each stop string in turn (s = s.split(stop)[0]); returns the new length
 * and NUL-terminates. */
size_t rb_eval_cut_stops(char *text, size_t len, const char *const *stops, int n_stops);
/* Byte offset of the first stop string in text[0, len), or -1. */
long rb_eval_find_stop(const char *text, size_t len, const char *const *stops, int n_stops);

/* ---------------- configuration ---------------- */

typedef struct {
    const char *question;
    const char *target;
} rb_eval_exemplar;

/* The eight exemplars of EVAL.md (question -> target), in order. */
extern const rb_eval_exemplar rb_eval_gsm8k_exemplars[8];

typedef struct {
    /* prompt: shots exemplars (the first ones, always the same) rendered
     * with exemplar_template, then the problem with question_template;
     * templates use {question} / {target} ({{ and }} for braces) */
    const char *question_template;
    const char *exemplar_template;
    const rb_eval_exemplar *exemplars;
    int n_exemplars;
    int shots;
    int add_bos;    /* prepend the tokenizer's BOS before tokenizing (1) */
    int max_length; /* the context keeps its last max_length - max_new tokens (1024) */
    int max_new;    /* new tokens at most (256) */
    /* stopping: a stop string in the decoded continuation, or one of the
     * stop tokens (the tokenizer's EOS when n_eos == 0) */
    const char *stops[RB_EVAL_MAX_STOPS];
    int n_stops;
    const int32_t *eos_ids;
    int n_eos;
    /* extraction rules, reported side by side (flexible, strict) */
    rb_extract_rule rules[RB_EVAL_MAX_RULES];
    int n_rules;
    /* run */
    const int *depths; /* test-time depths r (a plain model: only 1) */
    int n_depths;
    int batch;         /* sequences decoded together (32) */
    uint64_t seed;     /* s_0 seed (rb_draw_state_row), recorded with the results */
} rb_eval_config;

/* The paper's protocol: templates, the eight exemplars, 1 shot, BOS,
 * 1024 / 256, stops Q: </s> <|im_end|> (the tokenizer's EOS text is added
 * by rb_eval_run when absent), flexible + strict, depth 1, batch 32, seed 0. */
void rb_eval_config_default(rb_eval_config *c);

/* The context text of one problem (exemplars + rendered question), malloc'd. */
rb_status rb_eval_render(const rb_eval_config *c, const char *question, char **text, rb_error *err);

/* Inference FLOPs of one answer: every weight product (2 per weight, the
 * head included, embeddings excluded) and attention scores and sums
 * (4 (p + 1) H hd per block application at position p) for the prompt
 * rows and the fed-back tokens, plus the head for each new token. */
double rb_eval_answer_flops(const rb_config *c, int depth, int prompt_tokens, int new_tokens);

/* ---------------- the run (engine/eval/evaluator.c) ---------------- */

typedef struct {
    int64_t id;          /* reported with the answer (e.g. the line number) */
    const char *question;
    const char *answer;  /* the reference solution; its gold is rb_eval_gold(answer) */
} rb_eval_problem;

typedef struct {
    int64_t id;
    int depth;
    const char *prompt;     /* context text (without BOS) */
    const char *completion; /* decoded continuation after the stop cut */
    const char *gold;
    const char *extracted[RB_EVAL_MAX_RULES];
    int correct[RB_EVAL_MAX_RULES];
    int prompt_tokens;      /* after truncation, BOS included */
    int truncated;          /* the context lost tokens on the left */
    int new_tokens;         /* tokens generated, a final stop token included */
    const char *stop;       /* "stop" (a stop string), "eos", "length" */
    double flops;           /* rb_eval_answer_flops */
} rb_eval_record;

typedef struct {
    int64_t done, total;   /* answers (problem x depth) in this run */
    int64_t tokens;        /* new tokens so far */
    int active;            /* sequences in the batch now */
    double seconds;
} rb_eval_progress;

typedef struct {
    /* already answered (resuming): skip it; may be NULL */
    int (*skip)(void *ud, int64_t id, int depth);
    /* one finished answer; a non-OK status stops the run with it */
    rb_status (*record)(void *ud, const rb_eval_record *r, rb_error *err);
    /* after every decode step; may be NULL */
    void (*progress)(void *ud, const rb_eval_progress *p);
    void *ud;
    /* checked between decode steps: non-zero stops the run
     * (RB_EINTERRUPTED; answers not yet reported are dropped) */
    const volatile int *stop;
} rb_eval_hooks;

rb_status rb_eval_run(rb_model *m, const rb_tokenizer *tok, const rb_eval_config *c,
                      const rb_eval_problem *problems, int64_t n_problems, const rb_eval_hooks *hooks,
                      rb_error *err);

/* ---------------- summaries (protocol.c) ---------------- */

/* Accuracy per depth and rule with its standard error (sample standard
 * deviation of the 0/1 scores over sqrt(n), as the harness), mean new
 * tokens, prompt tokens and FLOPs per answer. */
typedef struct {
    int depth;
    int64_t n;
    double accuracy[RB_EVAL_MAX_RULES];
    double se[RB_EVAL_MAX_RULES]; /* standard error; NaN when n < 2 */
    double mean_new_tokens, mean_prompt_tokens, mean_flops;
} rb_eval_depth_summary;

typedef struct rb_eval_tally rb_eval_tally;
rb_eval_tally *rb_eval_tally_create(int n_rules);
void rb_eval_tally_free(rb_eval_tally *t);
rb_status rb_eval_tally_add(rb_eval_tally *t, int depth, const int *correct, int new_tokens,
                            int prompt_tokens, double flops, rb_error *err);
/* Depths seen, ascending; entry i of 0 .. count - 1. */
int rb_eval_tally_count(const rb_eval_tally *t);
void rb_eval_tally_get(const rb_eval_tally *t, int i, rb_eval_depth_summary *out);

#ifdef __cplusplus
}
#endif
#endif
