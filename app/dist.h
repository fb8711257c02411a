/* dist.h: this process's data-parallel group, for every front end that
 * trains (`retrobench train`; the Lua host; docs/distributed.md).
 *
 * `mpirun -np N retrobench train ...` starts N copies of the program. Open
 * MPI tells each that it was launched so (OMPI_COMM_WORLD_SIZE, _RANK and
 * _LOCAL_RANK in its environment), and only then does app_dist_open call
 * MPI_Init: a plain run never touches MPI. The group's gradient sum is
 * MPI_Allreduce on the CPU (app/dist_mpi.c, built where CMake finds MPI)
 * and NCCL on a CUDA backend (the CUDA module), with MPI still carrying the
 * small host collectives and NCCL's unique id. */
#ifndef RB_APP_DIST_H
#define RB_APP_DIST_H

#include "rb_backend.h"
#include "rb_comm.h"

/* What the launcher's environment says: rank 0, size 1, local rank 0
 * without one. Valid before app_dist_open (for deciding who prints), and
 * what Lua's rb.rank() and rb.world_size() are to return. */
int app_dist_rank(void);
int app_dist_size(void);
int app_dist_local_rank(void);
/* 1 when started by mpirun (any size, -np 1 included). */
int app_dist_launched(void);

/* Whether `cmd` may run under mpirun with more than one rank: only the
 * commands that train as a group (every other command would run N times
 * over and write the same files). Prints why not and returns 0. */
int app_dist_command_ok(const char *cmd);

/* Join the group when launched by mpirun (MPI_Init); nothing otherwise.
 * Returns 0, or the exit status after printing "retrobench CMD: ...". */
int app_dist_open(const char *cmd);
/* Collective after app_dist_open: how many ranks report failed != 0 (0
 * without a group), so that all ranks end together when any could not
 * start (a model or data file missing on one node). */
int app_dist_failures(int failed);
/* The group the trainer uses with backend be: NULL without mpirun; MPI on
 * the CPU; NCCL over MPI on a CUDA backend. Collective. Returns 0 or the
 * exit status after printing. The group lives until app_dist_close. */
int app_dist_comm(const char *cmd, rb_backend *be, rb_comm **out);
/* Leave the group (MPI_Finalize, which waits for every rank to reach it,
 * so no rank's exit status ends the others early). */
void app_dist_close(void);

/* The transports this program was built with, for --version:
 * "mpi (Open MPI v4.1.4, ...), nccl (in the CUDA module)" or "none". */
const char *app_dist_transports(void);

/* app/dist_mpi.c, present when MPI was found (RB_HAVE_MPI). */
rb_status app_dist_mpi_init(rb_comm **out, rb_error *err);
void app_dist_mpi_finalize(void);
const char *app_dist_mpi_version(void);

#endif
