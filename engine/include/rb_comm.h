/* rb_comm.h: the data-parallel group as the trainer sees it.
 *
 * The engine never links a transport. A front end that runs several
 * processes (app/dist_mpi.c: Open MPI) fills in this table and hands it to
 * rb_trainer_create_comm; the CUDA module adds NCCL for the gradient sum
 * (rb_comm_nccl_create below). Every rank calls the same operations in the
 * same order with the same sizes (they are collectives); a call that fails
 * leaves the group unusable, and the trainer then reports an error.
 *
 * Per optimizer step the trainer makes exactly one allreduce_sum over the
 * whole gradient buffer (before clipping) and one allreduce_host of five
 * doubles (the status word: loss sum, stop, non-finite and error counts);
 * rb_trainer_sync broadcasts rank 0's state once at the start of a phase;
 * validation makes one allreduce_host of size + 2 doubles per round of
 * `size` batches. docs/distributed.md has the protocol and its costs. */
#ifndef RB_COMM_H
#define RB_COMM_H

#include <stddef.h>

#include "rb_backend.h"
#include "rb_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rb_comm rb_comm;

struct rb_comm {
    int rank;          /* 0 .. size - 1; rank 0 writes files */
    int size;          /* processes in the group */
    const char *name;  /* "self", "mpi", "mpi+nccl": for logs and metrics */
    void *ctx;
    /* buf[n] (memory of backend be: host for the CPU, device for CUDA) is
     * replaced by its sum over the ranks, identical on every rank. One call
     * per step, over the whole gradient. */
    rb_status (*allreduce_sum)(rb_comm *c, rb_backend *be, float *buf, size_t n, rb_error *err);
    /* v[n] host doubles replaced by their sums over the ranks (small: status
     * words; counts of small integers are exact) */
    rb_status (*allreduce_host)(rb_comm *c, double *v, int n, rb_error *err);
    /* buf[bytes] of host memory: rank 0's contents on every rank */
    rb_status (*bcast_host)(rb_comm *c, void *buf, size_t bytes, rb_error *err);
    void (*destroy)(rb_comm *c);
};

/* A group of one process (rank 0 of 1): every operation leaves its data as
 * it is. For tests, and for code written once for both cases. */
rb_status rb_comm_self_create(rb_comm **out, rb_error *err);

/* Gradient sums through NCCL on a CUDA backend's device memory, over the
 * group `host` (which keeps doing the host operations and carries NCCL's
 * unique id from rank 0 to the others). The NCCL code lives in the CUDA
 * module (engine/cuda/cuda_nccl.cu), which loads libnccl.so.2 itself on
 * first use. RB_EUNSUPPORTED, naming the reason, when be is not a CUDA
 * backend, the module was built without nccl.h, or libnccl cannot be
 * loaded. Collective over `host`: every rank calls it. The result does not
 * own `host` (destroy it after the NCCL group). */
rb_status rb_comm_nccl_create(rb_comm **out, rb_backend *be, rb_comm *host, rb_error *err);
/* Whether the CUDA module that made `be` carries the NCCL code (1), was
 * built without it (0); -1 when be is not a CUDA backend. */
int rb_comm_nccl_built(rb_backend *be);

static inline void rb_comm_destroy(rb_comm *c)
{
    if (c && c->destroy) c->destroy(c);
}

#ifdef __cplusplus
}
#endif
#endif
