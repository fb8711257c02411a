/* device.h: the one place where a command's compute device is chosen.
 *
 * Every command that computes accepts --device cpu|cuda|auto and, for the
 * GPU, --precision fp32|tf32|bf16 (docs/cuda.md). main() takes both options
 * out of argv before the command parses the rest, so no command handles
 * them itself; the backend is then made by app_backend_create (which
 * app_model_open and the benchmarks call). RB_DEVICE and RB_PRECISION in
 * the environment set the defaults (cpu; bf16 on the GPU). */
#ifndef RB_APP_DEVICE_H
#define RB_APP_DEVICE_H

#include "rb_backend.h"

/* Remove "--device X", "--device=X", "--precision X" and "--precision=X"
 * from argv (up to a "--"), remembering them. Prints an error naming the
 * bad value and returns -1; 0 otherwise. */
int app_device_take_options(int *argc, char **argv);

/* The backend the options ask for. cpu: the CPU backend; cuda: the GPU or a
 * one-line error saying why not (exit status returned); auto: the GPU when
 * one works, else the CPU after a one-line notice on stderr. Returns 0 or
 * the exit status, having printed "retrobench CMD: ...". */
int app_backend_create(const char *cmd, rb_backend **out);

/* The device and precision asked for (--device / --precision, else
 * RB_DEVICE / RB_PRECISION), NULL when neither says: for front ends that
 * make their backends themselves (the Lua host's `device` option). */
const char *app_device_choice(void);
const char *app_precision_choice(void);

/* "cpu" or the CUDA device's description, for logs and benchmark output. */
const char *app_backend_describe(const rb_backend *be);

/* The option text for usage messages. */
#define APP_DEVICE_USAGE "[--device cpu|cuda|auto] [--precision fp32|tf32|bf16]"

#endif
