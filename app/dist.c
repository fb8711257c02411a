/* dist.c: see dist.h. The transport-free half: the launcher's environment,
 * which commands may run as a group, and which group a backend gets. The
 * MPI calls are in dist_mpi.c (RB_HAVE_MPI). */
#include "dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rb_comm *host_group; /* MPI */
static rb_comm *gpu_group;  /* NCCL over host_group */

static int env_int(const char *name, int fallback)
{
    const char *v = getenv(name);
    if (!v || !*v) return fallback;
    char *end = NULL;
    long x = strtol(v, &end, 10);
    return end && !*end && x >= 0 && x < (1L << 30) ? (int)x : fallback;
}

int app_dist_launched(void) { return getenv("OMPI_COMM_WORLD_SIZE") != NULL; }
int app_dist_size(void) { return host_group ? host_group->size : env_int("OMPI_COMM_WORLD_SIZE", 1); }
int app_dist_rank(void) { return host_group ? host_group->rank : env_int("OMPI_COMM_WORLD_RANK", 0); }
int app_dist_local_rank(void) { return env_int("OMPI_COMM_WORLD_LOCAL_RANK", 0); }

int app_dist_command_ok(const char *cmd)
{
    /* the commands that train as one group; the Lua host joins this list */
    static const char *group_cmds[] = {"train", NULL};
    if (app_dist_size() <= 1) return 1;
    for (int i = 0; group_cmds[i]; i++)
        if (!strcmp(cmd, group_cmds[i])) return 1;
    if (app_dist_rank() == 0)
        fprintf(stderr, "retrobench %s: started by mpirun as %d ranks, but only `train` runs as a group (each rank "
                        "would do all the work and write the same files); run it without mpirun\n",
                cmd, app_dist_size());
    return 0;
}

int app_dist_open(const char *cmd)
{
    if (!app_dist_launched() || host_group) return 0;
#ifdef RB_HAVE_MPI
    rb_error err = {0};
    if (app_dist_mpi_init(&host_group, &err) != RB_OK) {
        fprintf(stderr, "retrobench %s (rank %d): %s\n", cmd, app_dist_rank(), err.msg);
        return 1;
    }
    return 0;
#else
    fprintf(stderr, "retrobench %s: started by mpirun, but this retrobench was built without MPI (CMake found "
                    "none); install libopenmpi-dev and rebuild, or run it without mpirun\n", cmd);
    return 1;
#endif
}

int app_dist_failures(int failed)
{
    if (!host_group) return failed != 0;
    double v = failed ? 1 : 0;
    rb_error err = {0};
    if (host_group->allreduce_host(host_group, &v, 1, &err) != RB_OK) {
        fprintf(stderr, "retrobench (rank %d): %s\n", host_group->rank, err.msg);
        return host_group->size;
    }
    return (int)v;
}

int app_dist_comm(const char *cmd, rb_backend *be, rb_comm **out)
{
    *out = NULL;
    if (!host_group) return 0;
    if (!rb_backend_is_cuda(be)) {
        *out = host_group;
        return 0;
    }
    if (!gpu_group) {
        rb_error err = {0};
        if (rb_comm_nccl_create(&gpu_group, be, host_group, &err) != RB_OK) {
            fprintf(stderr, "retrobench %s (rank %d): %s\n", cmd, host_group->rank, err.msg);
            return 1;
        }
    }
    *out = gpu_group;
    return 0;
}

void app_dist_close(void)
{
    rb_comm_destroy(gpu_group);
    gpu_group = NULL;
    if (!host_group) return;
    rb_comm_destroy(host_group);
    host_group = NULL;
#ifdef RB_HAVE_MPI
    app_dist_mpi_finalize();
#endif
}

const char *app_dist_transports(void)
{
    static char buf[256];
    buf[0] = '\0';
#ifdef RB_HAVE_MPI
    snprintf(buf, sizeof buf, "mpi (%s)", app_dist_mpi_version());
#endif
#if defined(RB_HAVE_CUDA) && defined(RB_HAVE_NCCL)
    snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%snccl (in the CUDA module, librbcuda.so)",
             buf[0] ? ", " : "");
#endif
    if (!buf[0]) snprintf(buf, sizeof buf, "none (one process only)");
    return buf;
}
