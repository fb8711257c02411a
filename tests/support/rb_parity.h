/* rb_parity.h: the parity harness over two backends. Every operation of
 * the backend table runs on both, forward and backward, on the same fresh
 * random inputs (uploaded to each), and the candidate's outputs are compared
 * with the reference's: error = max |cand - ref| / max |ref| over each
 * output. Model-level checks run the same model on both: a training step,
 * a loss trajectory, greedy generation.
 *
 * Used CPU-vs-CUDA (tests/cuda, label cuda), CPU-vs-emulated-CUDA (label
 * emu) and, to show the harness can fail, CPU-vs-CPU and CPU-vs-a-perturbed
 * CPU (tests/unit/test_parity_harness.c). */
#ifndef RB_PARITY_H
#define RB_PARITY_H

#include <stdint.h>

#include "rb_backend.h"
#include "rb_model.h"
#include "rb_optim.h"

typedef struct {
    double tol;        /* every op but the GEMMs (fp32: 1e-5) */
    double tol_gemm;   /* be->gemm */
    int gemm_as_bf16;  /* the candidate's gemm is checked against the reference's gemm_bf16 */
    double tol_bf16;   /* gemm_bf16, syrk_bf16 against the reference's */
    double tol_att;    /* attention_fwd (fp32: 1e-5; bf16 tensor cores: docs/cuda.md) */
    double tol_att_bwd; /* attention_bwd */
    int att_bf16_inputs; /* attention checks on bf16-representable q, k, v and dout (the candidate's
                            operand rounding is then exact: only its internal roundings remain) */
    uint64_t seed;
    int quiet;         /* no line per check */
} rb_parity_opts;

typedef struct {
    char op[24];    /* the table entry ("gemm", "attention_bwd", "train_step" ...) */
    char what[72];  /* the case */
    double err, tol;
    int pass;
} rb_parity_result;

typedef struct {
    rb_parity_result r[512];
    int n, failures;
} rb_parity_report;

void rb_parity_opts_default(rb_parity_opts *o);
void rb_parity_report_init(rb_parity_report *rep);
/* Record one comparison (printed unless quiet). */
void rb_parity_record(rb_parity_report *rep, const rb_parity_opts *o, const char *op, const char *what,
                      double err, double tol);
/* 1 when some check of table entry `op` failed. */
int rb_parity_op_failed(const rb_parity_report *rep, const char *op);
/* 1 when some check of `op` ran. */
int rb_parity_op_checked(const rb_parity_report *rep, const char *op);

/* Every op of the table, forward and backward. Besides matching the
 * reference, gemm_rows and attention_cached must be row-invariant on each
 * backend (rb_backend.h): rows computed alone, in another chunk, from a
 * misaligned copy, or against a subset of W's rows equal, bit for bit, the
 * same rows of one larger call (recorded with tolerance 0). */
void rb_parity_ops(rb_backend *ref, rb_backend *cand, const rb_parity_opts *o, rb_parity_report *rep);
/* The attention_fwd / attention_bwd checks alone (shapes of rb_parity_ops
 * and one more head size), at o->tol_att. */
void rb_parity_attention(rb_backend *ref, rb_backend *cand, const rb_parity_opts *o, rb_parity_report *rep);

/* The same random model on both backends: `steps` training steps (forward,
 * backward, optimizer; Newton-Schulz in bf16 or fp32) on fixed random
 * tokens. Records "train_step" (the first step's loss within tol_step, its
 * gradients within tol_grad, the parameters after it within tol_param) and "train_trajectory"
 * (the loss of every step, within tol_traj relative). */
void rb_parity_train(rb_backend *ref, rb_backend *cand, const rb_config *cfg, rb_optim_kind kind, int ns_bf16,
                     int steps, double tol_step, double tol_grad, double tol_param, double tol_traj,
                     const rb_parity_opts *o, rb_parity_report *rep);

/* Greedy decoding of n tokens from `start` with the model (cfg, host params)
 * on both backends at `depth`: "generate" records the number of tokens that
 * differ (must be 0) and "generate_logits" the logits' error. */
void rb_parity_generate(rb_backend *ref, rb_backend *cand, const rb_config *cfg, const float *params, int depth,
                        int n, int32_t start, double tol_logits, const rb_parity_opts *o, rb_parity_report *rep);

/* Batched greedy decoding against the single-sequence path, on `cand`:
 * every (prompt, depth) job is decoded alone (rb_session_feed, seed 77) and
 * through rb_batch with B slots for each B of Bs (jobs started as slots
 * free up, so sequences of several depths share steps). "batch_decode"
 * records, per B, the number of steps whose greedy token or logit bytes
 * differ from the single path (0 allowed: gemm_rows and attention_cached
 * are row-invariant). With ref non-NULL, "batch_tokens" records how many
 * greedy tokens of the single path differ between ref and cand (0 allowed,
 * fp32). params NULL: a random model (rb_model_init_random). */
void rb_parity_batch(rb_backend *ref, rb_backend *cand, const rb_config *cfg, const float *params,
                     int32_t *const *prompts, const int *lens, int n_prompts, const int *depths, int nd, int max_new,
                     const int *Bs, int nB, const rb_parity_opts *o, rb_parity_report *rep);

#endif
