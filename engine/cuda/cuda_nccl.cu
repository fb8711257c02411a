/* cuda_nccl.cu: NCCL for the data-parallel gradient sum, on the backend's
 * stream and device memory (rb_comm_nccl_create in engine/core/comm_nccl.c
 * finds these entry points in the loaded module and builds the group).
 *
 * libnccl.so.2 is opened with dlopen on first use, not linked: the module
 * must keep loading on machines without NCCL (a single GPU needs none), and
 * a missing library is then one clear error when a group is asked for.
 * Built only where CMake found nccl.h (RB_HAVE_NCCL); otherwise every entry
 * point says so.
 *
 * The emulated module (RB_CUDA_EMU, CI without a GPU) cannot run NCCL: it
 * offers a group of one rank whose sum is the identity, so the engine's
 * glue (symbol lookup, the trainer on device memory with a group, the
 * parity test's plumbing) runs in CI. It proves nothing about NCCL itself;
 * tests/cuda/test_dist_nccl.c runs the real thing where a GPU exists. */
#include <stdio.h>
#include <string.h>

#include "cu_common.cuh"

#define RB_NCCL_ID_BYTES 128

#if defined(RB_HAVE_NCCL) && !defined(RB_CUDA_EMU)
#include <dlfcn.h>
#include <nccl.h>

static_assert(sizeof(ncclUniqueId) == RB_NCCL_ID_BYTES, "NCCL unique id size");

static struct {
    void *lib;
    ncclResult_t (*get_unique_id)(ncclUniqueId *);
    ncclResult_t (*comm_init_rank)(ncclComm_t *, int, ncclUniqueId, int);
    ncclResult_t (*all_reduce)(const void *, void *, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t);
    ncclResult_t (*comm_destroy)(ncclComm_t);
    ncclResult_t (*get_version)(int *);
    const char *(*error_string)(ncclResult_t);
} nccl;

/* Open libnccl once: the copy CMake found first, then the loader's path. */
static rb_status load_nccl(rb_error *err)
{
    if (nccl.lib) return RB_OK;
    const char *cands[] = {
#ifdef RB_NCCL_LIBRARY
        RB_NCCL_LIBRARY,
#endif
        "libnccl.so.2", "libnccl.so"};
    char why[512] = "";
    void *h = NULL;
    for (size_t i = 0; i < sizeof cands / sizeof cands[0] && !h; i++) {
        h = dlopen(cands[i], RTLD_NOW | RTLD_LOCAL);
        if (!h && !why[0]) {
            const char *e = dlerror();
            snprintf(why, sizeof why, "%s", e ? e : cands[i]);
        }
    }
    if (!h)
        return rb_fail(err, RB_EUNSUPPORTED, "nccl: libnccl.so.2 cannot be loaded (%s); install NCCL or "
                                             "put its folder on LD_LIBRARY_PATH", why);
#define SYM(field, name)                                                                           \
    if (!(*(void **)&nccl.field = dlsym(h, name))) {                                              \
        dlclose(h);                                                                                \
        memset(&nccl, 0, sizeof nccl);                                                             \
        return rb_fail(err, RB_EUNSUPPORTED, "nccl: the loaded libnccl lacks %s; it is too old",  \
                       name);                                                                      \
    }
    SYM(get_unique_id, "ncclGetUniqueId")
    SYM(comm_init_rank, "ncclCommInitRank")
    SYM(all_reduce, "ncclAllReduce")
    SYM(comm_destroy, "ncclCommDestroy")
    SYM(get_version, "ncclGetVersion")
    SYM(error_string, "ncclGetErrorString")
#undef SYM
    nccl.lib = h;
    return RB_OK;
}

static rb_status nccl_fail(rb_error *err, const char *what, ncclResult_t r)
{
    return rb_fail(err, RB_EBACKEND, "nccl: %s failed: %s", what, nccl.error_string(r));
}

extern "C" __attribute__((visibility("default"))) int rb_cuda_nccl_built(void) { return 1; }

extern "C" __attribute__((visibility("default"))) rb_status
rb_cuda_nccl_unique_id(rb_backend *be, unsigned char *id, rb_error *err)
{
    (void)be;
    rb_status st = load_nccl(err);
    if (st != RB_OK) return st;
    ncclUniqueId u;
    ncclResult_t r = nccl.get_unique_id(&u);
    if (r != ncclSuccess) return nccl_fail(err, "ncclGetUniqueId", r);
    memcpy(id, &u, sizeof u);
    return RB_OK;
}

extern "C" __attribute__((visibility("default"))) rb_status
rb_cuda_nccl_init(rb_backend *be, int rank, int size, const unsigned char *id, void **out, char *name,
                  size_t name_cap, rb_error *err)
{
    *out = NULL;
    rb_status st = load_nccl(err);
    if (st != RB_OK) return st;
    rb_cuda_ctx *c = cuda_ctx(be);
    cudaError_t e = cudaSetDevice(c->device);
    if (e != cudaSuccess)
        return rb_fail(err, RB_EBACKEND, "nccl: cannot select device %d: %s", c->device, cudaGetErrorString(e));
    ncclUniqueId u;
    memcpy(&u, id, sizeof u);
    ncclComm_t comm = NULL;
    ncclResult_t r = nccl.comm_init_rank(&comm, size, u, rank);
    if (r != ncclSuccess) return nccl_fail(err, "ncclCommInitRank", r);
    int v = 0;
    nccl.get_version(&v);
    snprintf(name, name_cap, "nccl %d.%d.%d", v / 10000, v / 100 % 100, v % 100);
    *out = comm;
    return RB_OK;
}

/* buf[n] summed over the group in place, queued on the backend's stream,
 * then waited for: the caller times the collective and learns its errors
 * here rather than at some later synchronisation. */
extern "C" __attribute__((visibility("default"))) rb_status
rb_cuda_nccl_allreduce(void *comm, rb_backend *be, float *buf, size_t n, rb_error *err)
{
    rb_cuda_ctx *c = cuda_ctx(be);
    ncclResult_t r = nccl.all_reduce(buf, buf, n, ncclFloat32, ncclSum, (ncclComm_t)comm, c->stream);
    if (r != ncclSuccess) return nccl_fail(err, "ncclAllReduce", r);
    return be->sync(be, err);
}

extern "C" __attribute__((visibility("default"))) void rb_cuda_nccl_free(void *comm)
{
    if (comm && nccl.lib) nccl.comm_destroy((ncclComm_t)comm);
}

#elif defined(RB_CUDA_EMU)

/* The emulation: a group of one, whose sum leaves the buffer as it is. */
extern "C" __attribute__((visibility("default"))) int rb_cuda_nccl_built(void) { return 1; }

extern "C" __attribute__((visibility("default"))) rb_status
rb_cuda_nccl_unique_id(rb_backend *be, unsigned char *id, rb_error *err)
{
    (void)be, (void)err;
    memset(id, 0, RB_NCCL_ID_BYTES);
    memcpy(id, "rb-emulated-nccl", 16);
    return RB_OK;
}

extern "C" __attribute__((visibility("default"))) rb_status
rb_cuda_nccl_init(rb_backend *be, int rank, int size, const unsigned char *id, void **out, char *name,
                  size_t name_cap, rb_error *err)
{
    (void)be, (void)id;
    *out = NULL;
    if (size != 1 || rank != 0)
        return rb_fail(err, RB_EUNSUPPORTED, "nccl: the emulated CUDA module has no NCCL; it offers a group of "
                                             "one rank only (asked: rank %d of %d)", rank, size);
    static int one = 1;
    *out = &one;
    snprintf(name, name_cap, "nccl (emulated, one rank)");
    return RB_OK;
}

extern "C" __attribute__((visibility("default"))) rb_status
rb_cuda_nccl_allreduce(void *comm, rb_backend *be, float *buf, size_t n, rb_error *err)
{
    (void)comm, (void)buf, (void)n;
    return be->sync(be, err);
}

extern "C" __attribute__((visibility("default"))) void rb_cuda_nccl_free(void *comm) { (void)comm; }

#else

/* Built without nccl.h: rb_comm_nccl_create reports this. */
extern "C" __attribute__((visibility("default"))) int rb_cuda_nccl_built(void) { return 0; }

#endif
