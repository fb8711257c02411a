/* comm_nccl.c: a data-parallel group whose gradient sums run through NCCL
 * in the CUDA module (engine/cuda/cuda_nccl.cu), while a host group (MPI)
 * keeps the small host collectives and carries NCCL's unique id.
 *
 * The module was opened by cuda_module.c; its handle is found again from
 * one of the backend's own function pointers (dladdr, then dlopen with
 * RTLD_NOLOAD, which only returns an object already loaded), so the module
 * loader needs no change and nothing is loaded twice. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb_comm.h"

#define ID_BYTES 128

typedef int (*built_fn)(void);
typedef rb_status (*id_fn)(rb_backend *, unsigned char *, rb_error *);
typedef rb_status (*init_fn)(rb_backend *, int, int, const unsigned char *, void **, char *, size_t, rb_error *);
typedef rb_status (*sum_fn)(void *, rb_backend *, float *, size_t, rb_error *);
typedef void (*free_fn)(void *);

typedef struct {
    rb_comm pub;
    rb_comm *host;
    rb_backend *be;
    void *nccl;
    sum_fn sum;
    free_fn release;
    char name[96];
} nccl_comm;

/* the loaded CUDA module that holds be's code, or NULL */
static void *module_of(rb_backend *be)
{
    if (!rb_backend_is_cuda(be) || !be->upload) return NULL;
    Dl_info info;
    if (!dladdr((void *)be->upload, &info) || !info.dli_fname) return NULL;
    return dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_LOCAL);
}

int rb_comm_nccl_built(rb_backend *be)
{
    void *h = module_of(be);
    if (!h) return -1;
    built_fn built = (built_fn)dlsym(h, "rb_cuda_nccl_built");
    int r = built ? built() : 0;
    dlclose(h); /* drops the reference RTLD_NOLOAD took; the module stays loaded */
    return r;
}

static rb_status n_sum(rb_comm *c, rb_backend *be, float *buf, size_t n, rb_error *err)
{
    nccl_comm *g = (nccl_comm *)c;
    if (be != g->be)
        return rb_fail(err, RB_EINVAL, "nccl: the gradient is on another backend than the one the group "
                                       "was made for");
    return g->sum(g->nccl, be, buf, n, err);
}

static rb_status n_host(rb_comm *c, double *v, int n, rb_error *err)
{
    nccl_comm *g = (nccl_comm *)c;
    return g->host->allreduce_host(g->host, v, n, err);
}

static rb_status n_bcast(rb_comm *c, void *buf, size_t bytes, rb_error *err)
{
    nccl_comm *g = (nccl_comm *)c;
    return g->host->bcast_host(g->host, buf, bytes, err);
}

static void n_destroy(rb_comm *c)
{
    nccl_comm *g = (nccl_comm *)c;
    if (!g) return;
    if (g->nccl && g->release) g->release(g->nccl);
    free(g);
}

/* every rank's verdict: the number of ranks that failed (0: all went on) */
static int failures(rb_comm *host, int failed, rb_error *err)
{
    double v = failed ? 1 : 0;
    rb_error e2 = {0};
    if (host->allreduce_host(host, &v, 1, &e2) != RB_OK) {
        if (err && !failed) *err = e2;
        return host->size;
    }
    return (int)v;
}

rb_status rb_comm_nccl_create(rb_comm **out, rb_backend *be, rb_comm *host, rb_error *err)
{
    *out = NULL;
    rb_error local = {0};
    rb_status st = RB_OK;
    void *h = module_of(be);
    built_fn built = h ? (built_fn)dlsym(h, "rb_cuda_nccl_built") : NULL;
    id_fn get_id = h ? (id_fn)dlsym(h, "rb_cuda_nccl_unique_id") : NULL;
    init_fn init = h ? (init_fn)dlsym(h, "rb_cuda_nccl_init") : NULL;
    sum_fn sum = h ? (sum_fn)dlsym(h, "rb_cuda_nccl_allreduce") : NULL;
    free_fn release = h ? (free_fn)dlsym(h, "rb_cuda_nccl_free") : NULL;
    if (h) dlclose(h);
    if (!rb_backend_is_cuda(be))
        st = rb_fail(&local, RB_EUNSUPPORTED, "nccl: the backend is %s; NCCL sums GPU memory (use --device cuda)",
                     be && be->name ? be->name : "not a GPU");
    else if (!h)
        st = rb_fail(&local, RB_EUNSUPPORTED, "nccl: the CUDA module that made this backend cannot be found "
                                              "again (dladdr)");
    else if (!built || !built())
        st = rb_fail(&local, RB_EUNSUPPORTED, "nccl: this CUDA module was built without NCCL (nccl.h was not "
                                              "found); rebuild where the CUDA toolkit has it");
    else if (!get_id || !init || !sum || !release)
        st = rb_fail(&local, RB_EUNSUPPORTED, "nccl: the CUDA module lacks its NCCL entry points; rebuild it");
    unsigned char id[ID_BYTES];
    memset(id, 0, sizeof id);
    if (st == RB_OK && host->rank == 0) st = get_id(be, id, &local);
    /* everyone must reach ncclCommInitRank or nobody: it blocks until the
     * whole group has called it */
    int bad = failures(host, st != RB_OK, &local);
    if (bad) {
        if (st == RB_OK)
            st = rb_fail(&local, RB_EUNSUPPORTED, "nccl: %d rank(s) could not prepare NCCL (their messages say "
                                                  "why)", bad);
        if (err) *err = local;
        return st;
    }
    if ((st = host->bcast_host(host, id, sizeof id, &local)) != RB_OK) {
        if (err) *err = local;
        return st;
    }
    nccl_comm *g = calloc(1, sizeof *g);
    if (!g) st = rb_fail(&local, RB_ENOMEM, "nccl: out of memory");
    void *comm = NULL;
    char name[64] = "nccl";
    if (st == RB_OK) st = init(be, host->rank, host->size, id, &comm, name, sizeof name, &local);
    bad = failures(host, st != RB_OK, &local);
    if (bad) {
        if (st == RB_OK)
            st = rb_fail(&local, RB_EBACKEND, "nccl: %d rank(s) could not join the NCCL group (their messages "
                                              "say why)", bad);
        if (comm) release(comm);
        free(g);
        if (err) *err = local;
        return st;
    }
    g->host = host;
    g->be = be;
    g->nccl = comm;
    g->sum = sum;
    g->release = release;
    snprintf(g->name, sizeof g->name, "%s+%s", host->name, name);
    g->pub.rank = host->rank;
    g->pub.size = host->size;
    g->pub.name = g->name;
    g->pub.ctx = g;
    g->pub.allreduce_sum = n_sum;
    g->pub.allreduce_host = n_host;
    g->pub.bcast_host = n_bcast;
    g->pub.destroy = n_destroy;
    *out = &g->pub;
    return RB_OK;
}
