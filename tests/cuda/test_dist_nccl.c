/* test_dist_nccl.c: the NCCL path of data-parallel training
 * (docs/distributed.md): a trainer whose gradient sum goes through NCCL in
 * the CUDA module, as one rank (rb_comm_nccl_create over a group of one),
 * against the same trainer without a group on the same GPU: per-step
 * losses, gradient norms and the final weights bit for bit (a sum over one
 * rank is the identity, so any difference is the glue's: the module lookup,
 * the device pointers handed to NCCL, the stream order, the state sync).
 *
 * Registered like every tests/cuda suite: test_dist_nccl (label cuda) on
 * the GPU module, skipping (77) where no GPU or driver is present; and
 * test_dist_nccl_emu (label emu) on the emulated module, whose "NCCL" is a
 * group of one that leaves the buffer as it is: in CI that checks the glue
 * only, never NCCL itself. Without libcheck: CUDA must not cross fork. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_comm.h"
#include "rb_data.h"
#include "rb_model.h"
#include "rb_rng.h"
#include "rb_test.h"
#include "rb_train.h"

#define STEPS 4

static int fails;
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fails++;                                                                               \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                            \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
        }                                                                                          \
    } while (0)

static const char *make_data(void)
{
    static char path[1000];
    snprintf(path, sizeof path, "%s/d.rbtok", rb_test_tmpdir());
    rb_error err = {0};
    rb_tokwriter *w = NULL;
    if (rb_tokwriter_open(&w, path, 37, 17, &err) != RB_OK) abort();
    rb_rng rng;
    rb_rng_seed(&rng, 3);
    int32_t row[17];
    for (int r = 0; r < 40; r++) {
        row[0] = (int32_t)(rb_rng_u64(&rng) % 37);
        for (int i = 1; i < 17; i++) row[i] = (row[i - 1] * 3 + 1) % 37;
        if (rb_tokwriter_append(w, row, 17, &err) != RB_OK) abort();
    }
    if (rb_tokwriter_finish(w, &err) != RB_OK) abort();
    return path;
}

static rb_model *make_model(rb_backend *be)
{
    rb_config c;
    rb_config_defaults(&c);
    c.vocab_size = 37, c.dim = 32, c.n_heads = 4, c.n_kv_heads = 2, c.hidden_dim = 48;
    c.max_seq_len = 16, c.n_prelude = 1, c.n_recur = 2, c.n_coda = 1;
    rb_model *m = NULL;
    rb_error err = {0};
    if (rb_model_create(&m, &c, be, &err) != RB_OK || rb_model_init_random(m, 9, 0.05f, &err) != RB_OK) {
        printf("FAIL: %s\n", err.msg);
        exit(1);
    }
    return m;
}

static void train(rb_model *m, rb_comm *comm, const rb_train_config *c, double *loss, double *gn)
{
    rb_error err = {0};
    rb_trainer *t = NULL;
    CHECK(rb_trainer_create_comm(&t, m, c, NULL, comm, &err) == RB_OK, "%s", err.msg);
    if (!t) return;
    CHECK(rb_trainer_sync(t, &err) == RB_OK, "%s", err.msg);
    for (int s = 0; s < STEPS; s++) {
        rb_train_metrics mt;
        CHECK(rb_trainer_step(t, &mt, &err) == RB_OK, "step %d: %s", s + 1, err.msg);
        loss[s] = mt.loss;
        gn[s] = mt.grad_norm;
        CHECK(mt.ranks == 1, "one rank");
        if (comm) CHECK(mt.reduce_seconds > 0, "the all-reduce ran and was timed");
    }
    rb_trainer_destroy(t);
}

int main(void)
{
    rb_cuda_options co;
    rb_cuda_options_default(&co);
    co.precision = RB_CUDA_FP32;
    rb_backend *be = NULL;
    rb_error err = {0};
    rb_status st = rb_backend_cuda_create(&be, &co, &err);
    if (st != RB_OK) {
        printf("SKIP: %s\n", err.msg);
        return st == RB_EUNSUPPORTED ? RB_TEST_SKIP : 1;
    }
    printf("backend %s\n", be->name);
    if (rb_comm_nccl_built(be) != 1) {
        printf("SKIP: %s was built without NCCL (nccl.h not found at build time)\n", be->name);
        rb_backend_destroy(be);
        return RB_TEST_SKIP;
    }
    rb_comm *self = NULL, *group = NULL;
    CHECK(rb_comm_self_create(&self, &err) == RB_OK, "%s", err.msg);
    st = rb_comm_nccl_create(&group, be, self, &err);
    CHECK(st == RB_OK, "the NCCL group: %s", err.msg);
    if (st != RB_OK) return 1;
    printf("group %s, rank %d of %d\n", group->name, group->rank, group->size);
    /* a buffer of another backend is refused, not summed in the wrong place */
    rb_backend *cpu = rb_test_cpu_backend();
    float x = 1;
    st = group->allreduce_sum(group, cpu, &x, 1, &err);
    CHECK(st == RB_EINVAL, "a CPU buffer handed to the NCCL group: status %d", (int)st);

    rb_train_config c;
    rb_train_config_default(&c, 4);
    snprintf(c.sources[0].path, sizeof c.sources[0].path, "%s", make_data());
    c.sources[0].weight = 1;
    c.n_sources = 1;
    c.batch = 2;
    c.grad_accum = 2;
    c.steps = STEPS;
    c.val_every = 0;
    c.optim.muon_lr = 0.02f;
    c.optim.adam_lr = 3e-3f;
    c.optim.ns_bf16 = 0;
    double la[STEPS], ga[STEPS], lb[STEPS], gb[STEPS];
    rb_model *ma = make_model(be), *mb = make_model(be);
    train(ma, NULL, &c, la, ga);
    train(mb, group, &c, lb, gb);
    for (int s = 0; s < STEPS; s++) {
        CHECK(!memcmp(&la[s], &lb[s], sizeof la[s]), "step %d: loss %.17g (no group) vs %.17g (NCCL)", s + 1, la[s],
              lb[s]);
        CHECK(!memcmp(&ga[s], &gb[s], sizeof ga[s]), "step %d: grad norm %.17g vs %.17g", s + 1, ga[s], gb[s]);
    }
    const size_t P = ma->table.total;
    float *pa = malloc(P * sizeof(float)), *pb = malloc(P * sizeof(float));
    CHECK(rb_model_get_params(ma, pa, &err) == RB_OK && rb_model_get_params(mb, pb, &err) == RB_OK, "%s", err.msg);
    CHECK(!memcmp(pa, pb, P * sizeof(float)), "final weights differ");
    CHECK(la[STEPS - 1] < la[0], "it trained: %.4f -> %.4f", la[0], la[STEPS - 1]);
    printf("%s: %d steps, loss %.4f -> %.4f, NCCL group of one == no group bit for bit%s\n", fails ? "FAILED" : "ok",
           STEPS, la[0], la[STEPS - 1], fails ? "" : "");
    free(pa);
    free(pb);
    rb_model_destroy(ma);
    rb_model_destroy(mb);
    rb_comm_destroy(group);
    rb_comm_destroy(self);
    rb_backend_destroy(be);
    return fails ? 1 : 0;
}
