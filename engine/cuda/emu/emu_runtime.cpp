/* emu_runtime.cpp: the CPU emulation behind emu.h: a fiber per CUDA thread
 * (see emu.h for the rules it enforces), and stand-ins for the parts of the
 * CUDA runtime and cuBLAS the backend calls, written from their documented
 * semantics (column-major GEMM, beta == 0 never reads C, launch limits).
 *
 * Device memory is host memory with guard bytes on both sides and filled
 * with NaN on allocation: a kernel that writes outside its allocation is
 * reported after its launch, and one that reads memory nobody wrote
 * propagates NaN into the results the tests compare. Outside kernels and
 * runtime calls, device memory is mapped without access (PROT_NONE), as it
 * is out of the host's reach on a GPU: host code that dereferences a device
 * pointer (instead of downloading) crashes in the emulated tests
 * (RB_EMU_PROTECT=1, below). */
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <map>
#include <vector>

#include "emu.h"

/* ================= fibers ================= */

enum { F_RUN, F_AT_BLOCK, F_AT_WARP, F_DONE };

struct fiber {
    void *sp;
    char *stack;
    int state;
    unsigned xseq; /* warp exchanges done, selects the slot bank */
    rb_emu_thread t;
};

rb_emu_thread *rb_emu_cur;
static const size_t STACK_BYTES = 256 * 1024;
static std::vector<fiber> fibers;
static int cur_fiber, n_fibers;
static void *sched_sp;
static const std::function<void()> *cur_body;
static const char *cur_kernel = "";
static std::vector<unsigned char> dyn_smem;
static std::vector<uint64_t> slots; /* [warp][2][32] */
static std::vector<unsigned char> gslots; /* [warp][2][32][RB_EMU_GATHER_MAX]: warp gathers */

[[noreturn]] static void emu_abort(const char *what)
{
    fprintf(stderr, "CUDA emulation: kernel %s: %s\n", cur_kernel, what);
    abort();
}

#if defined(__x86_64__)
extern "C" void rb_emu_swap(void **save_sp, void *next_sp);
__asm__(".text\n"
        ".globl rb_emu_swap\n"
        ".type rb_emu_swap,@function\n"
        "rb_emu_swap:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size rb_emu_swap,.-rb_emu_swap\n");
#else
#error "the CUDA emulation's fiber switch is written for x86-64"
#endif

static void yield_to_scheduler(int state);

static void fiber_main(void)
{
    (*cur_body)();
    yield_to_scheduler(F_DONE);
    emu_abort("a finished fiber was resumed");
}

/* A fresh stack whose first switch "returns" into fiber_main with the
 * alignment a call would give it. */
static void fiber_reset(fiber *f, int index)
{
    if (!f->stack) {
        void *p = mmap(NULL, STACK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) emu_abort("cannot map a fiber stack");
        f->stack = (char *)p;
    }
    /* Stacks are page-aligned mappings: without an offset every fiber's
     * live frames would share the same few cache sets, and each switch
     * would miss. Staggering the tops by 64-byte lines spreads them. */
    uintptr_t top = ((uintptr_t)f->stack + STACK_BYTES - (uintptr_t)(index % 61) * 64 * 3) & ~(uintptr_t)15;
    void **sp = (void **)top;
    *--sp = NULL;                 /* fiber_main's own return address: never used */
    *--sp = (void *)fiber_main;   /* popped by rb_emu_swap's ret */
    for (int i = 0; i < 6; i++) *--sp = NULL; /* rbp rbx r12 r13 r14 r15 */
    f->sp = sp;
    f->state = F_RUN;
    f->xseq = 0;
}

static int reverse_order(void);

/* Leave the running fiber in `state` and run the next runnable fiber of
 * this round directly (the order of a round: thread index, or reversed
 * with RB_EMU_ORDER=reverse); the scheduler only when the round is over
 * and barriers must be resolved. Handing over directly halves the
 * switches of a round, which dominate the emulation's time. */
static void yield_to_scheduler(int state)
{
    const int me = cur_fiber;
    fiber *f = &fibers[(size_t)me];
    f->state = state;
    int next = -1;
    if (reverse_order()) {
        for (int i = me - 1; i >= 0; i--)
            if (fibers[(size_t)i].state == F_RUN) {
                next = i;
                break;
            }
    } else {
        for (int i = me + 1; i < n_fibers; i++)
            if (fibers[(size_t)i].state == F_RUN) {
                next = i;
                break;
            }
    }
    if (next < 0) {
        rb_emu_swap(&f->sp, sched_sp);
        return;
    }
    cur_fiber = next;
    rb_emu_cur = &fibers[(size_t)next].t;
    rb_emu_swap(&f->sp, fibers[(size_t)next].sp);
}

void rb_emu_syncthreads(void) { yield_to_scheduler(F_AT_BLOCK); }

uint64_t rb_emu_exchange(uint64_t v, int a, int is_xor)
{
    fiber *f = &fibers[cur_fiber];
    const int lane = cur_fiber & 31, warp = cur_fiber >> 5;
    const unsigned bank = f->xseq++ & 1u;
    uint64_t *s = &slots[((size_t)warp * 2 + bank) * 32];
    s[lane] = v;
    yield_to_scheduler(F_AT_WARP);
    int src = is_xor ? (lane ^ a) : a;
    if (src < 0 || src > 31 || warp * 32 + src >= n_fibers) emu_abort("shuffle from a lane outside the warp");
    return s[src];
}

void rb_emu_syncwarp(void) { (void)rb_emu_exchange(0, 0, 1); }

/* Shares the exchange's bank counter: every lane of a warp makes the same
 * sequence of collective calls, and a lane that runs ahead to the next one
 * writes the other bank while the rest still read this one. */
void rb_emu_warp_gather(const void *mine, size_t bytes, void *all)
{
    if (bytes > RB_EMU_GATHER_MAX) emu_abort("warp gather of more than RB_EMU_GATHER_MAX bytes");
    fiber *f = &fibers[cur_fiber];
    const int lane = cur_fiber & 31, warp = cur_fiber >> 5;
    const unsigned bank = f->xseq++ & 1u;
    unsigned char *s = &gslots[((size_t)warp * 2 + bank) * 32 * RB_EMU_GATHER_MAX];
    memcpy(s + (size_t)lane * RB_EMU_GATHER_MAX, mine, bytes);
    yield_to_scheduler(F_AT_WARP);
    if (warp * 32 + 32 > n_fibers) emu_abort("warp-collective operation in a block of fewer than 32 threads per warp");
    for (int l = 0; l < 32; l++)
        memcpy((unsigned char *)all + (size_t)l * bytes, s + (size_t)l * RB_EMU_GATHER_MAX, bytes);
}

/* mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32, D = A B + C with
 * C = D, from the PTX ISA's fragment layouts (section "Matrix Fragments for
 * mma.m16n8k16 with floating point type", figures for A, B and C/D of
 * .bf16 / .f32), with g = lane >> 2 and t = lane % 4:
 *   A (16 x 16, row): a0..a7 = the halves (low first) of registers a[0..3];
 *     row g for a0, a1, a4, a5 and g + 8 for the others;
 *     column 2t + (i & 1), plus 8 for a4..a7;
 *   B (16 x 8, col): b0..b3 = the halves of b[0], b[1];
 *     row (k) 2t + (i & 1), plus 8 for b2, b3; column g;
 *   C, D (16 x 8, f32): c0..c3; row g for c0, c1 and g + 8 for c2, c3;
 *     column 2t + (i & 1).
 * The products of bf16 values are exact; their sum is taken in double and
 * rounded once to fp32. (PTX does not specify the hardware's internal
 * accumulation order or rounding: results may differ in the last bits.) */
void rb_emu_mma_bf16_16816(float d[4], const uint32_t a[4], const uint32_t b[2])
{
    struct frag {
        uint32_t a[4], b[2];
        float c[4];
    } me, all[32];
    static_assert(sizeof(frag) <= RB_EMU_GATHER_MAX, "fragment too large for a gather");
    memcpy(me.a, a, sizeof me.a);
    memcpy(me.b, b, sizeof me.b);
    memcpy(me.c, d, sizeof me.c);
    rb_emu_warp_gather(&me, sizeof me, all);
    auto half = [](uint32_t r, int hi) {
        uint32_t u = (hi ? r >> 16 : r & 0xffffu) << 16;
        float v;
        memcpy(&v, &u, 4);
        return v;
    };
    float A[16][16], B[16][8], C[16][8];
    for (int l = 0; l < 32; l++) {
        const int g = l >> 2, t = l & 3;
        for (int i = 0; i < 8; i++)
            A[g + ((i & 2) ? 8 : 0)][2 * t + (i & 1) + (i >= 4 ? 8 : 0)] = half(all[l].a[i >> 1], i & 1);
        for (int i = 0; i < 4; i++) B[2 * t + (i & 1) + (i >= 2 ? 8 : 0)][g] = half(all[l].b[i >> 1], i & 1);
        for (int i = 0; i < 4; i++) C[g + (i >= 2 ? 8 : 0)][2 * t + (i & 1)] = all[l].c[i];
    }
    const int lane = cur_fiber & 31, g = lane >> 2, t = lane & 3;
    for (int i = 0; i < 4; i++) {
        const int r = g + (i >= 2 ? 8 : 0), c = 2 * t + (i & 1);
        double s = C[r][c];
        for (int k = 0; k < 16; k++) s += (double)A[r][k] * (double)B[k][c];
        d[i] = (float)s;
    }
}

void *rb_emu_dyn_smem(void) { return dyn_smem.data(); }

static int reverse_order(void)
{
    static int r = -1;
    if (r < 0) {
        const char *e = getenv("RB_EMU_ORDER");
        r = e && !strcmp(e, "reverse");
    }
    return r;
}

static void run_block(dim3 grid, dim3 block, uint3 bid)
{
    const int n = (int)(block.x * block.y * block.z);
    n_fibers = n;
    if ((int)fibers.size() < n) fibers.resize((size_t)n);
    slots.assign((size_t)((n + 31) / 32) * 64, 0);
    gslots.resize((size_t)((n + 31) / 32) * 64 * RB_EMU_GATHER_MAX);
    for (int i = 0; i < n; i++) {
        fiber *f = &fibers[(size_t)i];
        fiber_reset(f, i);
        f->t.tid = make_uint3(i % block.x, (i / block.x) % block.y, i / (block.x * block.y));
        f->t.bid = bid;
        f->t.bdim = block;
        f->t.gdim = grid;
    }
    const int rev = reverse_order();
    for (;;) {
        for (int k = 0; k < n; k++) {
            int i = rev ? n - 1 - k : k;
            if (fibers[(size_t)i].state != F_RUN) continue;
            cur_fiber = i;
            rb_emu_cur = &fibers[(size_t)i].t;
            rb_emu_swap(&sched_sp, fibers[(size_t)i].sp);
        }
        int done = 0, at_block = 0;
        for (int i = 0; i < n; i++) {
            done += fibers[(size_t)i].state == F_DONE;
            at_block += fibers[(size_t)i].state == F_AT_BLOCK;
        }
        if (done == n) return;
        if (at_block == n - done) {
            if (done) emu_abort("__syncthreads() not reached by threads that already exited");
            for (int i = 0; i < n; i++) fibers[(size_t)i].state = F_RUN;
            continue;
        }
        int released = 0;
        for (int w = 0; w * 32 < n; w++) {
            int lanes = n - w * 32 < 32 ? n - w * 32 : 32, at = 0, dn = 0;
            for (int l = 0; l < lanes; l++) {
                at += fibers[(size_t)(w * 32 + l)].state == F_AT_WARP;
                dn += fibers[(size_t)(w * 32 + l)].state == F_DONE;
            }
            if (at == lanes) {
                for (int l = 0; l < lanes; l++) fibers[(size_t)(w * 32 + l)].state = F_RUN;
                released = 1;
            } else if (at && dn) {
                emu_abort("warp shuffle or __syncwarp with lanes that already exited");
            }
        }
        if (!released) emu_abort("deadlock: threads wait at different barriers");
    }
}

/* ================= runtime: errors, memory ================= */

static cudaError_t last_error = cudaSuccess;
static std::map<const void *, const void *> func_smem_limit; /* kernel -> raised limit (as int) */
static const size_t SMEM_DEFAULT = 48 * 1024, SMEM_OPTIN = 227 * 1024;

struct alloc_rec {
    unsigned char *base; /* guard | payload | guard, a whole mapping */
    size_t bytes, mapped;
};
static std::map<uintptr_t, alloc_rec> allocs;
static const size_t GUARD = 256;
static int device_open; /* nesting of runtime calls that may touch device memory */

/* RB_EMU_PROTECT=1: device memory is readable only while a kernel, copy
 * or GEMM runs (two mprotect calls per allocation and call: slow, so the
 * tests use it on a short run). */
static int protect_enabled(void)
{
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("RB_EMU_PROTECT");
        on = e && *e && strcmp(e, "0") != 0;
    }
    return on;
}

static void device_access(int open)
{
    if (!protect_enabled()) return;
    if (open ? device_open++ > 0 : --device_open > 0) return;
    for (auto &kv : allocs)
        if (mprotect(kv.second.base, kv.second.mapped, open ? PROT_READ | PROT_WRITE : PROT_NONE) != 0) {
            perror("CUDA emulation: mprotect");
            abort();
        }
}

struct device_scope {
    device_scope() { device_access(1); }
    ~device_scope() { device_access(0); }
};

static void check_guards(const char *after)
{
    for (auto &kv : allocs) {
        const alloc_rec &a = kv.second;
        for (size_t i = 0; i < GUARD; i++)
            if (a.base[i] != 0xA5 || a.base[GUARD + a.bytes + i] != 0xA5) {
                fprintf(stderr, "CUDA emulation: %s wrote outside a %zu-byte allocation\n", after, a.bytes);
                abort();
            }
    }
}

void rb_emu_launch(dim3 grid, dim3 block, size_t smem, const void *kernel, const char *name,
                   const std::function<void()> &body)
{
    cur_kernel = name;
    size_t threads = (size_t)block.x * block.y * block.z;
    size_t limit = SMEM_DEFAULT;
    auto it = func_smem_limit.find(kernel);
    if (it != func_smem_limit.end()) limit = (size_t)(uintptr_t)it->second;
    if (threads == 0 || threads > 1024 || block.z > 64 || grid.x == 0 || grid.y == 0 || grid.z == 0 ||
        grid.y > 65535 || grid.z > 65535) {
        last_error = cudaErrorInvalidConfiguration;
        return;
    }
    if (smem > limit) {
        last_error = cudaErrorInvalidValue;
        return;
    }
    dyn_smem.assign(smem + 16, 0xFF);
    device_scope open_device;
    cur_body = &body;
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) run_block(grid, block, make_uint3(x, y, z));
    rb_emu_cur = NULL;
    char what[256];
    snprintf(what, sizeof what, "kernel %s", name);
    check_guards(what);
}

static int emu_no_device(void)
{
    const char *e = getenv("RB_EMU_NO_DEVICE");
    return e && *e && strcmp(e, "0") != 0;
}

extern "C" {

cudaError_t cudaGetLastError(void)
{
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}
cudaError_t cudaPeekAtLastError(void) { return last_error; }

const char *cudaGetErrorString(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected (emulation, RB_EMU_NO_DEVICE set)";
    default: return "emulated CUDA error";
    }
}

cudaError_t cudaGetDeviceCount(int *n)
{
    if (emu_no_device()) {
        *n = 0;
        return cudaErrorNoDevice;
    }
    *n = 1;
    return cudaSuccess;
}
cudaError_t cudaSetDevice(int d) { return d == 0 && !emu_no_device() ? cudaSuccess : cudaErrorInvalidDevice; }
cudaError_t cudaGetDevice(int *d)
{
    *d = 0;
    return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *p, int d)
{
    if (d != 0 || emu_no_device()) return cudaErrorInvalidDevice;
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "CPU emulation of a CUDA device");
    p->totalGlobalMem = (size_t)8 << 30;
    p->multiProcessorCount = 4;
    p->sharedMemPerBlock = SMEM_DEFAULT;
    p->sharedMemPerBlockOptin = SMEM_OPTIN;
    p->major = 9;
    p->minor = 0;
    p->warpSize = 32;
    p->maxThreadsPerBlock = 1024;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *v, enum cudaDeviceAttr a, int d)
{
    if (a == cudaDevAttrMaxSharedMemoryPerBlockOptin) *v = (int)SMEM_OPTIN;
    else if (a == cudaDevAttrMultiProcessorCount) *v = 4;
    else *v = 0;
    return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void *func, enum cudaFuncAttribute attr, int value)
{
    if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
        if (value < 0 || (size_t)value > SMEM_OPTIN) return cudaErrorInvalidValue;
        func_smem_limit[func] = (const void *)(uintptr_t)value;
    }
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_b, size_t *total)
{
    *free_b = (size_t)6 << 30;
    *total = (size_t)8 << 30;
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t bytes)
{
    const size_t page = 4096, n = (bytes + 255) / 256 * 256;
    const size_t mapped = (n + 2 * GUARD + page - 1) / page * page;
    void *m = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return cudaErrorMemoryAllocation;
    unsigned char *b = (unsigned char *)m;
    memset(b, 0xA5, GUARD);
    memset(b + GUARD, 0xFF, bytes); /* NaN: results read from unwritten memory show */
    memset(b + GUARD + bytes, 0xA5, n + GUARD - bytes);
    if (protect_enabled() && device_open == 0 && mprotect(m, mapped, PROT_NONE) != 0) abort();
    allocs[(uintptr_t)(b + GUARD)] = alloc_rec{b, bytes, mapped};
    *p = b + GUARD;
    return cudaSuccess;
}

cudaError_t cudaFree(void *p)
{
    if (!p) return cudaSuccess;
    auto it = allocs.find((uintptr_t)p);
    if (it == allocs.end()) return cudaErrorInvalidValue;
    {
        device_scope open_device;
        check_guards("a copy or kernel before cudaFree");
    }
    munmap(it->second.base, it->second.mapped);
    allocs.erase(it);
    return cudaSuccess;
}

cudaError_t cudaMallocHost(void **p, size_t bytes)
{
    *p = malloc(bytes ? bytes : 1);
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
cudaError_t cudaFreeHost(void *p)
{
    free(p);
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, enum cudaMemcpyKind k)
{
    device_scope open_device;
    if (n) memmove(dst, src, n);
    check_guards("cudaMemcpy");
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, enum cudaMemcpyKind k, cudaStream_t s)
{
    return cudaMemcpy(dst, src, n, k);
}
cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                              size_t height, enum cudaMemcpyKind k, cudaStream_t s)
{
    if (width > dpitch || width > spitch) return cudaErrorInvalidPitchValue;
    device_scope open_device;
    for (size_t r = 0; r < height; r++)
        memmove((char *)dst + r * dpitch, (const char *)src + r * spitch, width);
    check_guards("cudaMemcpy2DAsync");
    return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t s)
{
    device_scope open_device;
    if (n) memset(p, v, n);
    check_guards("cudaMemsetAsync");
    return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int flags)
{
    static int dummy;
    *s = (cudaStream_t)&dummy;
    return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) { return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t s) { return cudaSuccess; }
cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }

/* ================= cuBLAS ================= */

cublasStatus_t cublasCreate_v2(cublasHandle_t *h)
{
    static int dummy;
    if (emu_no_device()) return CUBLAS_STATUS_NOT_INITIALIZED;
    *h = (cublasHandle_t)&dummy;
    return CUBLAS_STATUS_SUCCESS;
}
cublasStatus_t cublasDestroy_v2(cublasHandle_t h) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetStream_v2(cublasHandle_t h, cudaStream_t s) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m) { return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t h, void *ws, size_t bytes) { return CUBLAS_STATUS_SUCCESS; }
const char *cublasGetStatusString(cublasStatus_t s)
{
    return s == CUBLAS_STATUS_SUCCESS ? "success" : s == CUBLAS_STATUS_INVALID_VALUE ? "invalid value" : "emulated cuBLAS error";
}

static float round_mantissa(float x, int keep_bits)
{
    /* round to nearest even, keeping keep_bits of the 23 fraction bits */
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return x;
    const int drop = 23 - keep_bits;
    uint32_t half = (1u << (drop - 1)) - 1u + ((u >> drop) & 1u);
    u = (u + half) & ~((1u << drop) - 1u);
    memcpy(&x, &u, 4);
    return x;
}

static float load_elem(const void *p, cudaDataType t, size_t i, int round_bits)
{
    float v = t == CUDA_R_16BF ? __bfloat162float(((const __nv_bfloat16 *)p)[i]) : ((const float *)p)[i];
    return round_bits ? round_mantissa(v, round_bits) : v;
}

cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                            int k, const void *alpha, const void *A, cudaDataType At, int lda,
                            const void *B, cudaDataType Bt, int ldb, const void *beta, void *C,
                            cudaDataType Ct, int ldc, cublasComputeType_t ct, cublasGemmAlgo_t algo)
{
    if (m < 0 || n < 0 || k < 0) return CUBLAS_STATUS_INVALID_VALUE;
    const int a_rows = ta == CUBLAS_OP_N ? m : k, b_rows = tb == CUBLAS_OP_N ? k : n;
    if (lda < (a_rows > 1 ? a_rows : 1) || ldb < (b_rows > 1 ? b_rows : 1) || ldc < (m > 1 ? m : 1))
        return CUBLAS_STATUS_INVALID_VALUE;
    if (Ct != CUDA_R_32F || (At != CUDA_R_32F && At != CUDA_R_16BF) || At != Bt)
        return CUBLAS_STATUS_NOT_SUPPORTED;
    int bits = ct == CUBLAS_COMPUTE_32F_FAST_TF32 ? 10 : ct == CUBLAS_COMPUTE_32F_FAST_16BF ? 7 : 0;
    if (At == CUDA_R_16BF) bits = 0;
    const float al = *(const float *)alpha, be = *(const float *)beta;
    device_scope open_device;
    float *c = (float *)C;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            double s = 0;
            for (int l = 0; l < k; l++) {
                size_t ia = ta == CUBLAS_OP_N ? (size_t)i + (size_t)l * lda : (size_t)l + (size_t)i * lda;
                size_t ib = tb == CUBLAS_OP_N ? (size_t)l + (size_t)j * ldb : (size_t)j + (size_t)l * ldb;
                s += (double)load_elem(A, At, ia, bits) * (double)load_elem(B, Bt, ib, bits);
            }
            float *cij = c + (size_t)i + (size_t)j * ldc;
            *cij = be == 0.0f ? (float)(al * s) : (float)(al * s + (double)be * *cij);
        }
    check_guards("cublasGemmEx");
    return CUBLAS_STATUS_SUCCESS;
}

} /* extern "C" */
