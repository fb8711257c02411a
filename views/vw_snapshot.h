/* vw_snapshot.h: everything the panes show, as one fixed-size value.
 *
 * The worker (app/) fills a snapshot under a mutex; the UI thread copies it
 * once per frame and draws from its copy, so drawing never waits for the
 * engine and the engine never waits for drawing. No pointers: a snapshot
 * is copied with memcpy. Sizes are fixed, so long runs are kept at bounded
 * resolution (see vw_metrics). Text is UTF-8. */
#ifndef VW_SNAPSHOT_H
#define VW_SNAPSHOT_H

#include <stdint.h>

#define VW_MAX_DEPTHS 8     /* answer rows; validation depths */
#define VW_MAX_ITERS 64     /* iterations a trace keeps */
#define VW_TOPK 5           /* tokens shown per iteration */
#define VW_PIECE 32         /* bytes of one token's text */
#define VW_ANS_TOKENS 64    /* tokens per answer */
#define VW_ANS_BYTES 768
#define VW_PROMPT_BYTES 512
#define VW_RECENT 1024      /* training steps at full resolution */
#define VW_HISTORY 2048     /* the whole run, thinned */
#define VW_VALS 512         /* validation points */
#define VW_EVALS 64         /* evaluation rounds (accuracy per depth) */
#define VW_LOG_LINES 256
#define VW_LOG_BYTES 240

/* One training step (a metrics.jsonl line, or a runner callback). */
typedef struct {
    double x;         /* position on the plots' x axis: steps over all phases */
    double flops;     /* training FLOPs so far */
    double time;      /* seconds since the run started */
    float loss, lr_mult, lr_muon, lr_adam, grad_norm, tokens_per_s;
    int32_t step;     /* step within its phase */
    int16_t phase, rbar, n, k;
    uint8_t skipped;  /* the optimizer skipped this step (non-finite gradients) */
} vw_metric;

/* The steps of a run: the newest VW_RECENT at full resolution, and the
 * whole run thinned to every stride-th step (stride doubles when full). */
typedef struct {
    vw_metric recent[VW_RECENT]; /* ring: oldest at recent_head when full */
    int recent_head, recent_n;
    vw_metric hist[VW_HISTORY];
    int hist_n;
    int64_t hist_stride;
    int64_t total;               /* steps ever pushed */
} vw_metrics;

void vw_metrics_clear(vw_metrics *m);
void vw_metrics_push(vw_metrics *m, const vw_metric *p);
/* The newest step, or NULL when there is none. */
const vw_metric *vw_metrics_last(const vw_metrics *m);
/* Steps with x >= x_from in x order: thinned history older than the recent
 * ring, then the ring. Writes at most cap pointers; returns the count. */
int vw_metrics_collect(const vw_metrics *m, double x_from, const vw_metric **out, int cap);

/* Held-out loss at several depths at one step (NaN where not measured). */
typedef struct {
    double x;
    int32_t step;
    int16_t phase;
    uint8_t final;                /* the end-of-phase validation */
    float loss[VW_MAX_DEPTHS];    /* index i: depth vw_snapshot.val_depth[i] */
} vw_val;

/* One answer: a prompt continued greedily at one test depth. */
typedef struct {
    int depth;
    int state;                        /* VW_ANS_* */
    int verdict;                      /* -1 not known, 0 wrong, 1 right */
    int n_tokens;
    int32_t ids[VW_ANS_TOKENS];
    uint16_t off[VW_ANS_TOKENS + 1];  /* token i is text[off[i] .. off[i+1]) */
    char text[VW_ANS_BYTES];
    float seconds;
} vw_answer;
enum { VW_ANS_EMPTY = 0, VW_ANS_QUEUED, VW_ANS_RUNNING, VW_ANS_DONE, VW_ANS_ERROR };

typedef struct {
    uint32_t id;                 /* changes with every new prompt */
    char prompt[VW_PROMPT_BYTES];
    char expect[128];            /* the known answer ("" when none) */
    int recurrent;               /* 0: a plain model, depth has no effect */
    int n_rows;
    vw_answer rows[VW_MAX_DEPTHS];
} vw_answers;

typedef struct {
    int32_t id;
    float p;
    char text[VW_PIECE];
} vw_tok;

/* The latent state converging for one token of one answer (rb_trace), and
 * the top tokens at each iteration as the worker computes them. */
typedef struct {
    uint32_t answers_id;   /* which answers this belongs to */
    int row, token;        /* answer row, token index in it */
    int depth;             /* iterations traced */
    int state;             /* VW_TRACE_* */
    int iters;
    char note[96];         /* why there is no trace, or an error */
    float rel[VW_MAX_ITERS];        /* ||s_i - s_{i-1}|| / ||s_i|| */
    float kl[VW_MAX_ITERS];         /* KL(p_i || p_{i-1}); NaN at i = 1 */
    vw_tok top1[VW_MAX_ITERS];
    uint8_t have_topk[VW_MAX_ITERS];
    vw_tok topk[VW_MAX_ITERS][VW_TOPK];
} vw_trace;
enum { VW_TRACE_NONE = 0, VW_TRACE_RUNNING, VW_TRACE_DONE, VW_TRACE_UNAVAILABLE };

/* One evaluation round: accuracy per depth (from the evaluator). */
typedef struct {
    int64_t step;                   /* training step (-1: not during training) */
    double train_flops;             /* training FLOPs at that step */
    int n;
    int depth[VW_MAX_DEPTHS];
    float accuracy[VW_MAX_DEPTHS];  /* 0..1 */
    double flops[VW_MAX_DEPTHS];    /* inference FLOPs per problem at that depth */
    int items;                      /* problems scored */
} vw_eval;

enum { VW_LOG_INFO = 0, VW_LOG_WARN, VW_LOG_ERROR, VW_LOG_STDERR, VW_LOG_TRACE };
typedef struct {
    double t;                  /* seconds since the workbench started */
    uint8_t level;             /* VW_LOG_*; VW_LOG_TRACE: a traceback line */
    char text[VW_LOG_BYTES];
} vw_log_line;
typedef struct {
    vw_log_line lines[VW_LOG_LINES]; /* ring */
    int head, n;
    int64_t total;
} vw_log;

/* Push one message; each '\n'-separated line becomes a log line (long lines
 * are cut at a character boundary). */
void vw_log_push(vw_log *l, int level, double t, const char *text);
/* The i-th line, oldest first (0 <= i < n). */
const vw_log_line *vw_log_at(const vw_log *l, int i);

typedef struct {
    int mode;                 /* vw_mode */
    char source[256];         /* the model file or the run folder */
    char model[160];          /* one line about the model */
    char loaded[160];         /* the checkpoint the answers come from */
    char newest[160];         /* the newest checkpoint of the run */
    int auto_reload;          /* follow new checkpoints */
    int training;             /* a run is going on (watch: lines keep coming) */
    int paused;
    int finished;
    int phase;
    int64_t step, total_steps;/* total_steps 0: unknown */
    double elapsed, flops;
    float loss, lr_mult, lr_muon, lr_adam, grad_norm, tokens_per_s;
    int rbar, n, k;
    char data[128];           /* the data phase: sources, mixture */
    char worker[128];         /* what the worker is doing now */
    int worker_busy;
    double wall_updated;      /* seconds since start when the last step arrived */
} vw_status;

typedef struct {
    uint64_t gen;             /* bumped at every change */
    double now;               /* seconds since the workbench started, at the last change */
    vw_status status;
    vw_metrics metrics;
    int n_val_depths;
    int val_depth[VW_MAX_DEPTHS];
    vw_val vals[VW_VALS];
    int n_vals;
    vw_answers answers;
    vw_trace trace;
    vw_eval evals[VW_EVALS];
    int n_evals;
    vw_log log;
} vw_snapshot;

void vw_snapshot_init(vw_snapshot *s, int mode);
/* Index of depth d among val_depth, adding it when there is room; -1 if full. */
int vw_snapshot_val_slot(vw_snapshot *s, int depth);
/* Append a validation point, thinning old points when full. */
void vw_snapshot_push_val(vw_snapshot *s, const vw_val *v);
/* Append an evaluation round (the oldest is dropped when full). */
void vw_snapshot_push_eval(vw_snapshot *s, const vw_eval *e);

#endif
