/* test_cuda_probe.c: the CUDA module (librbcuda.so, built whenever nvcc
 * exists) is opened on demand with dlopen, as the engine will, and asked
 * for a device. Skips when the module was not built (no nvcc) or no GPU or
 * driver is present; passes when a device answers. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "rb_test.h"

int main(void)
{
    const char *dir = getenv("RB_BINARY_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/librbcuda.so", dir ? dir : ".");
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        printf("SKIP: the CUDA module is not loadable here (%s)\n", dlerror());
        return RB_TEST_SKIP;
    }
    int (*probe)(char *, size_t) = (int (*)(char *, size_t))dlsym(h, "rb_cuda_probe");
    if (!probe) {
        printf("FAIL: %s has no rb_cuda_probe\n", path);
        return 1;
    }
    char msg[256] = "";
    int n = probe(msg, sizeof msg);
    if (n <= 0) {
        printf("SKIP: %s\n", msg);
        return RB_TEST_SKIP;
    }
    printf("ok: %s\n", msg);
    return 0;
}
