/* dist_mpi.c: the data-parallel group over MPI (Open MPI here): the
 * gradient sum is one MPI_Allreduce on the CPU backend's buffer, the host
 * collectives are MPI_Allreduce of doubles and MPI_Bcast. Built only where
 * CMake finds MPI; app/dist.c calls it only when mpirun started us.
 *
 * The group works on its own duplicate of MPI_COMM_WORLD with errors
 * returned rather than fatal, so a failing collective becomes one line
 * from the trainer instead of an abort without context. */
#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

typedef struct {
    rb_comm pub;
    MPI_Comm comm;
} mpi_group;

static int finalize_due; /* MPI_Init succeeded here */

static rb_status mpi_fail(rb_error *err, const char *what, int code)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(code, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "error %d", code);
    return rb_fail(err, RB_EIO, "mpi: %s failed: %s", what, msg);
}

/* MPI counts are ints: larger buffers go in pieces (2^31 floats is 8 GiB
 * of gradient, a 2-billion-parameter model in one call) */
#define CHUNK ((size_t)INT_MAX / 2 + 1)

static rb_status g_sum(rb_comm *c, rb_backend *be, float *buf, size_t n, rb_error *err)
{
    mpi_group *g = (mpi_group *)c;
    if (rb_backend_is_cuda(be))
        return rb_fail(err, RB_EUNSUPPORTED, "mpi: the gradient is in GPU memory; a group on the GPU sums it "
                                             "with NCCL (this MPI is not CUDA-aware)");
    for (size_t off = 0; off < n; off += CHUNK) {
        const int cnt = (int)(n - off < CHUNK ? n - off : CHUNK);
        int rc = MPI_Allreduce(MPI_IN_PLACE, buf + off, cnt, MPI_FLOAT, MPI_SUM, g->comm);
        if (rc != MPI_SUCCESS) return mpi_fail(err, "MPI_Allreduce of the gradient", rc);
    }
    return RB_OK;
}

static rb_status g_host(rb_comm *c, double *v, int n, rb_error *err)
{
    mpi_group *g = (mpi_group *)c;
    int rc = MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, g->comm);
    return rc == MPI_SUCCESS ? RB_OK : mpi_fail(err, "MPI_Allreduce", rc);
}

static rb_status g_bcast(rb_comm *c, void *buf, size_t bytes, rb_error *err)
{
    mpi_group *g = (mpi_group *)c;
    for (size_t off = 0; off < bytes; off += CHUNK) {
        const int cnt = (int)(bytes - off < CHUNK ? bytes - off : CHUNK);
        int rc = MPI_Bcast((char *)buf + off, cnt, MPI_BYTE, 0, g->comm);
        if (rc != MPI_SUCCESS) return mpi_fail(err, "MPI_Bcast", rc);
    }
    return RB_OK;
}

static void g_destroy(rb_comm *c)
{
    mpi_group *g = (mpi_group *)c;
    if (!g) return;
    MPI_Comm_free(&g->comm);
    free(g);
}

rb_status app_dist_mpi_init(rb_comm **out, rb_error *err)
{
    *out = NULL;
    int provided = 0, rc;
    /* SERIALIZED: the workbench trains on a worker thread, one at a time */
    if ((rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_SERIALIZED, &provided)) != MPI_SUCCESS)
        return mpi_fail(err, "MPI_Init_thread", rc);
    finalize_due = 1;
    mpi_group *g = calloc(1, sizeof *g);
    if (!g) return rb_fail(err, RB_ENOMEM, "mpi: out of memory");
    if ((rc = MPI_Comm_dup(MPI_COMM_WORLD, &g->comm)) != MPI_SUCCESS) {
        free(g);
        return mpi_fail(err, "MPI_Comm_dup", rc);
    }
    MPI_Comm_set_errhandler(g->comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(g->comm, &g->pub.rank);
    MPI_Comm_size(g->comm, &g->pub.size);
    g->pub.name = "mpi";
    g->pub.ctx = g;
    g->pub.allreduce_sum = g_sum;
    g->pub.allreduce_host = g_host;
    g->pub.bcast_host = g_bcast;
    g->pub.destroy = g_destroy;
    *out = &g->pub;
    return RB_OK;
}

void app_dist_mpi_finalize(void)
{
    int done = 0;
    if (finalize_due && MPI_Finalized(&done) == MPI_SUCCESS && !done) MPI_Finalize();
    finalize_due = 0;
}

const char *app_dist_mpi_version(void)
{
    static char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    /* one of the calls allowed before MPI_Init */
    if (!v[0] && MPI_Get_library_version(v, &len) == MPI_SUCCESS) {
        /* "Open MPI v4.1.4, package: ..., ident: ..., repo rev: ...": its name and version */
        v[strcspn(v, ",\n")] = '\0';
    }
    return v;
}
