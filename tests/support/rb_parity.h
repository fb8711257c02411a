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

/* Every op of the table, forward and backward. */
void rb_parity_ops(rb_backend *ref, rb_backend *cand, const rb_parity_opts *o, rb_parity_report *rep);

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

#endif
