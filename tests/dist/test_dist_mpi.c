/* test_dist_mpi.c: the trainer as a data-parallel group over MPI (run by
 * ctest as `mpirun -np 2`, label "mpi"; docs/distributed.md):
 *  - 2 ranks equal one process with --dp-shards 2 bit for bit: per-step
 *    losses, gradient norms, validation losses inside the run, and the final
 *    weights; both ranks end with the same weights; and one process without
 *    shards agrees within the stated tolerance (another summation order);
 *  - rank 0's state reaches a rank that was initialised otherwise (sync);
 *  - a stop seen by one rank stops both at the same step, the step is
 *    rolled back everywhere, and the run then continues bit for bit;
 *  - a non-finite loss on one rank skips the step on both, then stops both;
 *  - a backend failure on one rank stops both: that rank reports its own
 *    error, the other names it;
 *  - a rank started with another setting is refused, naming the setting.
 * Not libcheck: its forked test cases do not mix with MPI, and a failed
 * check must not leave the other rank waiting in a collective, so checks
 * count failures and every rank runs every collective to the end. */
#include <math.h>
#include <mpi.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "rb_data.h"
#include "rb_model.h"
#include "rb_rng.h"
#include "rb_test.h"
#include "rb_train.h"

static int rank, fails;
static rb_comm *comm;
static rb_backend *cpu;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fails++;                                                                               \
            fprintf(stderr, "rank %d: FAIL %s:%d: ", rank, __FILE__, __LINE__);                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#define STEPS 6

/* rows following a learnable rule, as tests/unit/test_trainer.c */
static const char *make_data(void)
{
    static char path[1000];
    snprintf(path, sizeof path, "%s/d.rbtok", rb_test_tmpdir());
    rb_error err = {0};
    rb_tokwriter *w = NULL;
    if (rb_tokwriter_open(&w, path, 37, 25, &err) != RB_OK) abort();
    rb_rng rng;
    rb_rng_seed(&rng, 42);
    int32_t row[25];
    for (int r = 0; r < 120; r++) {
        row[0] = (int32_t)(rb_rng_u64(&rng) % 37);
        for (int i = 1; i < 25; i++)
            row[i] = rb_rng_uniform(&rng) < 0.1 ? (int32_t)(rb_rng_u64(&rng) % 37) : (row[i - 1] * 3 + 1) % 37;
        if (rb_tokwriter_append(w, row, 25, &err) != RB_OK) abort();
    }
    if (rb_tokwriter_finish(w, &err) != RB_OK) abort();
    return path;
}

static rb_model *make_model(rb_backend *be, uint64_t seed)
{
    rb_config c;
    rb_config_defaults(&c);
    c.vocab_size = 37, c.dim = 32, c.n_heads = 4, c.n_kv_heads = 2, c.hidden_dim = 48;
    c.max_seq_len = 32, c.n_prelude = 1, c.n_recur = 2, c.n_coda = 1;
    rb_model *m = NULL;
    rb_error err = {0};
    if (rb_model_create(&m, &c, be, &err) != RB_OK || rb_model_init_random(m, seed, 0.05f, &err) != RB_OK) {
        fprintf(stderr, "rank %d: %s\n", rank, err.msg);
        abort();
    }
    return m;
}

static void config_for(rb_train_config *c, const char *data)
{
    rb_train_config_default(c, 4);
    snprintf(c->sources[0].path, sizeof c->sources[0].path, "%s", data);
    c->sources[0].weight = 1;
    c->n_sources = 1;
    c->batch = 4;
    c->grad_accum = 2;
    c->steps = STEPS;
    c->val_every = 3; /* validation inside the run is a collective too */
    c->n_val_depths = 2;
    c->val_depths[0] = 1;
    c->val_depths[1] = 3;
    c->val_rows = 10; /* 3 batches of 2 rows: an odd round on the 2 ranks */
    c->optim.muon_lr = 0.02f;
    c->optim.adam_lr = 3e-3f;
    c->seed = 11;
}

typedef struct {
    double loss[STEPS], gn[STEPS], val[STEPS][2];
    float *params;
} trajectory;

static rb_status run(rb_trainer *t, int from, int to, trajectory *tr, rb_error *err)
{
    for (int s = from; s < to; s++) {
        rb_train_metrics mt;
        rb_status st = rb_trainer_step(t, &mt, err);
        if (st != RB_OK) return st;
        tr->loss[s] = mt.loss;
        tr->gn[s] = mt.grad_norm;
        tr->val[s][0] = mt.n_val > 0 ? mt.val_loss[0] : 0;
        tr->val[s][1] = mt.n_val > 1 ? mt.val_loss[1] : 0;
    }
    return RB_OK;
}

static int same_bits(const double *a, const double *b, int n) { return memcmp(a, b, (size_t)n * sizeof *a) == 0; }

static trajectory reference; /* rank 0: one process, --dp-shards 2 */

/* 2 ranks == one process with 2 shards, bit for bit */
static void group_equals_one_process(const char *data)
{
    rb_error err = {0};
    rb_train_config c;
    config_for(&c, data);
    /* rank 1 starts from other weights: sync must replace them */
    rb_model *m = make_model(cpu, rank == 0 ? 9 : 1000);
    rb_trainer *t = NULL;
    trajectory g;
    memset(&g, 0, sizeof g);
    rb_status st = rb_trainer_create_comm(&t, m, &c, NULL, comm, &err);
    CHECK(st == RB_OK, "create: %s", err.msg);
    CHECK(rb_trainer_shards(t) == 2, "default shards: one per rank, got %d", rb_trainer_shards(t));
    st = rb_trainer_sync(t, &err);
    CHECK(st == RB_OK, "sync: %s", err.msg);
    st = run(t, 0, STEPS, &g, &err);
    CHECK(st == RB_OK, "group run: %s", err.msg);
    const size_t P = m->table.total;
    g.params = malloc(P * sizeof(float));
    rb_model_get_params(m, g.params, &err);

    /* both ranks hold the same weights at the end */
    float *root = malloc(P * sizeof(float));
    memcpy(root, g.params, P * sizeof(float));
    MPI_Bcast(root, (int)P, MPI_FLOAT, 0, MPI_COMM_WORLD);
    CHECK(memcmp(root, g.params, P * sizeof(float)) == 0, "rank %d's weights differ from rank 0's", rank);
    free(root);

    if (rank == 0) {
        rb_train_config c1 = c;
        c1.dp_shards = 2;
        rb_model *m1 = make_model(cpu, 9);
        rb_trainer *t1 = NULL;
        memset(&reference, 0, sizeof reference);
        CHECK(rb_trainer_create(&t1, m1, &c1, NULL, &err) == RB_OK, "%s", err.msg);
        CHECK(run(t1, 0, STEPS, &reference, &err) == RB_OK, "%s", err.msg);
        reference.params = malloc(P * sizeof(float));
        rb_model_get_params(m1, reference.params, &err);
        for (int s = 0; s < STEPS; s++) {
            CHECK(same_bits(&g.loss[s], &reference.loss[s], 1), "step %d: loss %.17g (2 ranks) vs %.17g (1 "
                  "process, 2 shards)", s + 1, g.loss[s], reference.loss[s]);
            CHECK(same_bits(&g.gn[s], &reference.gn[s], 1), "step %d: grad norm %.17g vs %.17g", s + 1, g.gn[s],
                  reference.gn[s]);
            CHECK(same_bits(g.val[s], reference.val[s], 2), "step %d: validation %.17g %.17g vs %.17g %.17g",
                  s + 1, g.val[s][0], g.val[s][1], reference.val[s][0], reference.val[s][1]);
        }
        CHECK(reference.val[2][0] > 0 && reference.val[5][1] > 0, "validations ran at steps 3 and 6");
        CHECK(memcmp(g.params, reference.params, P * sizeof(float)) == 0, "final weights differ");
        CHECK(reference.loss[STEPS - 1] < reference.loss[0] - 0.05, "it learned: %.4f -> %.4f", reference.loss[0],
              reference.loss[STEPS - 1]);
        /* one process without shards: the same rows, draws and initial
         * states, but its GEMMs sum all 4 rows of a micro-batch at once
         * (two shards: 2 + 2, then a + b), so only rounding differs: at
         * step 1 (same weights) the loss to 1e-6 and the gradient norm to
         * 1e-5 relative; later steps drift as Muon amplifies rounding */
        rb_model *m2 = make_model(cpu, 9);
        rb_trainer *t2 = NULL;
        trajectory plain;
        memset(&plain, 0, sizeof plain);
        CHECK(rb_trainer_create(&t2, m2, &c, NULL, &err) == RB_OK, "%s", err.msg);
        CHECK(rb_trainer_shards(t2) == 1, "one process: one shard");
        CHECK(run(t2, 0, STEPS, &plain, &err) == RB_OK, "%s", err.msg);
        CHECK(fabs(plain.loss[0] - reference.loss[0]) <= 1e-6 * fabs(reference.loss[0]), "step 1 loss %.9g vs %.9g",
              plain.loss[0], reference.loss[0]);
        CHECK(fabs(plain.gn[0] - reference.gn[0]) <= 1e-5 * reference.gn[0], "step 1 grad norm %.9g vs %.9g",
              plain.gn[0], reference.gn[0]);
        double worst = 0;
        for (int s = 0; s < STEPS; s++) worst = fmax(worst, fabs(plain.loss[s] - reference.loss[s]) / reference.loss[s]);
        CHECK(worst < 2e-2, "unsharded trajectory within 2e-2: %.3g", worst);
        printf("rank 0: 2 ranks == 1 process with 2 shards, bit for bit over %d steps (loss %.4f -> %.4f); "
               "without shards: step 1 loss %.2g apart, trajectory %.2g\n", STEPS, reference.loss[0],
               reference.loss[STEPS - 1], fabs(plain.loss[0] - reference.loss[0]) / reference.loss[0], worst);
        free(reference.params);
        reference.params = NULL;
        rb_trainer_destroy(t1);
        rb_trainer_destroy(t2);
        rb_model_destroy(m1);
        rb_model_destroy(m2);
    }
    /* the reference trajectory for the tests below, on both ranks */
    MPI_Bcast(reference.loss, STEPS, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    MPI_Bcast(reference.gn, STEPS, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    free(g.params);
    rb_trainer_destroy(t);
    rb_model_destroy(m);
}

/* 4 shards on 2 ranks: each rank sums its two shards first, so the group
 * adds (s0 + s1) + (s2 + s3) where one process adds ((s0 + s1) + s2) + s3:
 * the same update within rounding, with the same rows and draws */
static void more_shards_than_ranks(const char *data)
{
    rb_error err = {0};
    rb_train_config c;
    config_for(&c, data);
    c.dp_shards = 4;
    c.val_every = 0;
    rb_model *m = make_model(cpu, 9);
    rb_trainer *t = NULL;
    trajectory g;
    memset(&g, 0, sizeof g);
    CHECK(rb_trainer_create_comm(&t, m, &c, NULL, comm, &err) == RB_OK, "%s", err.msg);
    CHECK(rb_trainer_sync(t, &err) == RB_OK, "%s", err.msg);
    CHECK(run(t, 0, 2, &g, &err) == RB_OK, "%s", err.msg);
    if (rank == 0) {
        rb_model *m1 = make_model(cpu, 9);
        rb_trainer *t1 = NULL;
        trajectory one;
        memset(&one, 0, sizeof one);
        CHECK(rb_trainer_create(&t1, m1, &c, NULL, &err) == RB_OK, "%s", err.msg);
        CHECK(run(t1, 0, 2, &one, &err) == RB_OK, "%s", err.msg);
        CHECK(fabs(g.loss[0] - one.loss[0]) <= 1e-12 * one.loss[0], "step 1 loss %.17g vs %.17g", g.loss[0],
              one.loss[0]);
        CHECK(fabs(g.gn[0] - one.gn[0]) <= 1e-6 * one.gn[0], "step 1 grad norm %.17g vs %.17g", g.gn[0], one.gn[0]);
        CHECK(fabs(g.loss[1] - one.loss[1]) <= 1e-5 * one.loss[1], "step 2 loss %.17g vs %.17g", g.loss[1],
              one.loss[1]);
        rb_trainer_destroy(t1);
        rb_model_destroy(m1);
    }
    rb_trainer_destroy(t);
    rb_model_destroy(m);
}

/* a stop on rank 1 alone stops both at the same step, rolled back */
static void stop_on_one_rank(const char *data)
{
    rb_error err = {0};
    rb_train_config c;
    config_for(&c, data);
    atomic_int stop = 0;
    rb_model *m = make_model(cpu, 9);
    rb_trainer *t = NULL;
    trajectory g;
    memset(&g, 0, sizeof g);
    CHECK(rb_trainer_create_comm(&t, m, &c, &stop, comm, &err) == RB_OK, "%s", err.msg);
    CHECK(rb_trainer_sync(t, &err) == RB_OK, "%s", err.msg);
    CHECK(run(t, 0, 2, &g, &err) == RB_OK, "%s", err.msg);
    if (rank == 1) atomic_store(&stop, 2);
    rb_train_metrics mt;
    rb_status st = rb_trainer_step(t, &mt, &err);
    CHECK(st == RB_EINTERRUPTED, "rank %d: status %d (%s), want interrupted", rank, (int)st, err.msg);
    CHECK(rb_trainer_step_count(t) == 2, "the stopped step is not counted");
    if (rank == 0) CHECK(strstr(err.msg, "another rank") != NULL, "rank 0 says why: %s", err.msg);
    atomic_store(&stop, 0);
    CHECK(run(t, 2, STEPS, &g, &err) == RB_OK, "%s", err.msg);
    CHECK(same_bits(g.loss, reference.loss, STEPS), "after the stop the run continues bit for bit");
    CHECK(same_bits(g.gn, reference.gn, STEPS), "grad norms continue bit for bit");
    rb_trainer_destroy(t);
    rb_model_destroy(m);
}

/* a non-finite loss on rank 1 alone: both skip, then both stop */
static void nonfinite_on_one_rank(const char *data)
{
    rb_error err = {0};
    rb_train_config c;
    config_for(&c, data);
    c.max_bad_steps = 2;
    c.val_every = 0;
    rb_model *m = make_model(cpu, 9);
    rb_trainer *t = NULL;
    CHECK(rb_trainer_create_comm(&t, m, &c, NULL, comm, &err) == RB_OK, "%s", err.msg);
    CHECK(rb_trainer_sync(t, &err) == RB_OK, "%s", err.msg);
    rb_train_metrics mt;
    CHECK(rb_trainer_step(t, &mt, &err) == RB_OK, "%s", err.msg);
    const size_t P = m->table.total;
    float *before = malloc(P * sizeof(float)), *after = malloc(P * sizeof(float));
    rb_model_get_params(m, before, &err);
    if (rank == 1) { /* only rank 1's copy: its loss becomes NaN */
        float *h = malloc(P * sizeof(float));
        memcpy(h, before, P * sizeof(float));
        h[m->table.items[rb_param_table_find(&m->table, "model.norm.weight")].offset] = NAN;
        rb_model_set_params(m, h, &err);
        free(h);
    }
    rb_status st = rb_trainer_step(t, &mt, &err);
    CHECK(st == RB_OK && mt.skipped == 1, "rank %d: step 2 skipped everywhere (status %d, skipped %d)", rank, (int)st,
          mt.skipped);
    if (rank == 0) {
        rb_model_get_params(m, after, &err);
        CHECK(memcmp(before, after, P * sizeof(float)) == 0, "a skipped step changed rank 0's weights");
    }
    st = rb_trainer_step(t, &mt, &err);
    CHECK(st == RB_ENUMERIC, "rank %d: both stop after max_bad_steps (status %d: %s)", rank, (int)st, err.msg);
    free(before);
    free(after);
    rb_trainer_destroy(t);
    rb_model_destroy(m);
}

/* a backend that fails once armed: a device lost in the middle of a step */
static rb_backend flaky;
static int flaky_armed;
static rb_status flaky_upload(rb_backend *be, void *dst, const void *src, size_t bytes, rb_error *err)
{
    if (flaky_armed) return rb_fail(err, RB_EBACKEND, "injected: the device went away");
    return cpu->upload(be, dst, src, bytes, err);
}

static void error_on_one_rank(const char *data)
{
    rb_error err = {0};
    rb_train_config c;
    config_for(&c, data);
    c.val_every = 0;
    flaky = *cpu;
    flaky.upload = flaky_upload;
    rb_model *m = make_model(rank == 1 ? &flaky : cpu, 9);
    rb_trainer *t = NULL;
    CHECK(rb_trainer_create_comm(&t, m, &c, NULL, comm, &err) == RB_OK, "%s", err.msg);
    CHECK(rb_trainer_sync(t, &err) == RB_OK, "%s", err.msg);
    rb_train_metrics mt;
    CHECK(rb_trainer_step(t, &mt, &err) == RB_OK, "%s", err.msg);
    flaky_armed = rank == 1;
    rb_status st = rb_trainer_step(t, &mt, &err);
    CHECK(st == RB_EBACKEND, "rank %d: status %d, want RB_EBACKEND (%s)", rank, (int)st, err.msg);
    if (rank == 1) CHECK(strstr(err.msg, "injected") != NULL, "rank 1 reports its own error: %s", err.msg);
    else CHECK(strstr(err.msg, "rank 1 of 2 failed") != NULL, "rank 0 names rank 1: %s", err.msg);
    flaky_armed = 0;
    rb_trainer_destroy(t);
    rb_model_destroy(m);
}

/* a rank started with another setting is refused before any step */
static void settings_must_match(const char *data)
{
    rb_error err = {0};
    rb_train_config c;
    config_for(&c, data);
    if (rank == 1) c.optim.muon_lr *= 2;
    rb_model *m = make_model(cpu, 9);
    rb_trainer *t = NULL;
    CHECK(rb_trainer_create_comm(&t, m, &c, NULL, comm, &err) == RB_OK, "%s", err.msg);
    rb_status st = rb_trainer_sync(t, &err);
    CHECK(st == RB_EINVAL, "rank %d: status %d, want RB_EINVAL", rank, (int)st);
    if (rank == 1) CHECK(strstr(err.msg, "optim.muon_lr") != NULL, "rank 1 names the setting: %s", err.msg);
    else CHECK(strstr(err.msg, "rank 1") != NULL, "rank 0 names the rank: %s", err.msg);
    /* and a shard count the group cannot share out is refused at once */
    rb_trainer *t3 = NULL;
    c.dp_shards = 3;
    c.batch = 6;
    st = rb_trainer_create_comm(&t3, m, &c, NULL, comm, &err);
    CHECK(st == RB_EINVAL && strstr(err.msg, "spread evenly"), "3 shards over 2 ranks: %s", err.msg);
    rb_trainer_destroy(t);
    rb_model_destroy(m);
}

int main(void)
{
    rb_error err = {0};
    if (!getenv("OMPI_COMM_WORLD_SIZE")) {
        printf("SKIP: run under mpirun -np 2 (ctest does)\n");
        return RB_TEST_SKIP;
    }
    if (app_dist_mpi_init(&comm, &err) != RB_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    rank = comm->rank;
    if (comm->size != 2) {
        if (rank == 0) fprintf(stderr, "test_dist_mpi: needs exactly 2 ranks, got %d\n", comm->size);
        app_dist_mpi_finalize();
        return 1;
    }
    cpu = rb_test_cpu_backend();
    const char *data = make_data();
    group_equals_one_process(data);
    more_shards_than_ranks(data);
    stop_on_one_rank(data);
    nonfinite_on_one_rank(data);
    error_on_one_rank(data);
    settings_must_match(data);
    int total = fails;
    MPI_Allreduce(MPI_IN_PLACE, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) printf("%s: %d failed check(s) over 2 ranks\n", total ? "FAILED" : "passed", total);
    rb_comm_destroy(comm);
    app_dist_mpi_finalize();
    return total ? 1 : 0;
}
