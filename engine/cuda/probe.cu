/* probe.cu: entry point of the CUDA module that says whether a usable GPU
 * is present, so the engine can fall back to the CPU with a one-line notice. */
#include <cuda_runtime.h>
#include <stdio.h>

extern "C" __attribute__((visibility("default"))) int rb_cuda_probe(char *msg, size_t msg_len)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        snprintf(msg, msg_len, "no usable CUDA device: %s", cudaGetErrorString(e));
        return 0;
    }
    if (n > 0) {
        cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, 0) == cudaSuccess)
            snprintf(msg, msg_len, "%d CUDA device(s); device 0: %s, %.1f GiB", n, p.name,
                     (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
    } else {
        snprintf(msg, msg_len, "no CUDA device");
    }
    return n;
}
