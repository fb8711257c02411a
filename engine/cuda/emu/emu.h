/* emu.h: the CPU emulation of the CUDA execution model used by the CUDA
 * backend's kernels, so that CI (which has no GPU) runs the very kernels
 * the GPU runs and checks them against the CPU backend.
 *
 * Each block runs on the host thread as blockDim fibers (one per CUDA
 * thread, switched only at __syncthreads, __syncwarp and warp shuffles);
 * blocks run one after the other. Shared arrays (RB_SHARED = static) are
 * therefore the block's own. The emulation is strict where the hardware's
 * behaviour is undefined: a barrier that some threads of the block never
 * reach, or a shuffle with an exited lane, aborts with the kernel's name.
 * Set RB_EMU_ORDER=reverse to run the threads of each phase in reverse
 * order: a kernel whose result changes has a race between threads.
 *
 * Only the subset of CUDA the backend uses is provided; emu_runtime.cpp
 * also defines the runtime and cuBLAS entry points the backend calls
 * (declared by the real CUDA headers, never linked here). */
#ifndef RB_EMU_H
#define RB_EMU_H

#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <functional>

struct rb_emu_thread {
    uint3 tid, bid;
    dim3 bdim, gdim;
};
extern rb_emu_thread *rb_emu_cur;

#define threadIdx (rb_emu_cur->tid)
#define blockIdx (rb_emu_cur->bid)
#define blockDim (rb_emu_cur->bdim)
#define gridDim (rb_emu_cur->gdim)

void rb_emu_launch(dim3 grid, dim3 block, size_t smem, const void *kernel, const char *name,
                   const std::function<void()> &body);
void *rb_emu_dyn_smem(void);
void rb_emu_syncthreads(void);
void rb_emu_syncwarp(void);
/* lane exchange of 8 bytes: each lane offers v, receives lane src's value */
uint64_t rb_emu_exchange(uint64_t v, int src_lane_or_xor, int is_xor);
/* Warp-collective gather: every lane of the warp offers `bytes` (at most
 * RB_EMU_GATHER_MAX) and receives all 32 offers, lane by lane, in all[]. */
#define RB_EMU_GATHER_MAX 64
void rb_emu_warp_gather(const void *mine, size_t bytes, void *all);
/* mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 d, a, b, d: the
 * warp-collective tensor-core product, from the fragment layouts of the
 * PTX ISA (see emu_runtime.cpp). a[4], b[2]: this lane's bf16 pairs; d[4]:
 * its accumulators, updated in place. */
void rb_emu_mma_bf16_16816(float d[4], const uint32_t a[4], const uint32_t b[2]);

#ifndef __launch_bounds__
#define __launch_bounds__(...)
#endif
#define __syncthreads() rb_emu_syncthreads()
#define __syncwarp(...) rb_emu_syncwarp()

template <typename T> static inline T rb_emu_shfl(T v, int a, int is_xor)
{
    static_assert(sizeof(T) <= 8, "shuffle of at most 8 bytes");
    uint64_t u = 0;
    memcpy(&u, &v, sizeof v);
    u = rb_emu_exchange(u, a, is_xor);
    T r;
    memcpy(&r, &u, sizeof r);
    return r;
}
template <typename T> static inline T rb_emu_shfl_xor(T v, int m) { return rb_emu_shfl(v, m, 1); }
template <typename T> static inline T rb_emu_shfl_idx(T v, int s) { return rb_emu_shfl(v, s, 0); }

#endif
