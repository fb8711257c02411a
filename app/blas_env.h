/* blas_env.h: making OpenBLAS use the kernels this CPU can run. */
#ifndef RB_APP_BLAS_ENV_H
#define RB_APP_BLAS_ENV_H

/* OpenBLAS picks its kernels from CPUID when it loads. Under some
 * hypervisors the CPU model is hidden and it falls back to its oldest x86-64
 * kernels (seen here: "Prescott" on an AVX-512 machine, 4x slower). If the
 * user has not set OPENBLAS_CORETYPE and the detected core is weaker than
 * what the CPU supports, re-execute the program once with OPENBLAS_CORETYPE
 * set, since the choice can only be made before the library initialises.
 * Returns only if no re-exec was needed or possible. */
void rb_blas_env_fix(int argc, char **argv);

/* One line describing the BLAS core in use and whether it was corrected. */
const char *rb_blas_env_note(void);

#endif
