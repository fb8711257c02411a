/* device.c: see device.h. */
#include "device.h"

#include "dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { DEV_CPU, DEV_CUDA, DEV_AUTO } device_kind;

static const char *device_opt;    /* as given, NULL when absent */
static const char *precision_opt;

static int parse_device(const char *s, device_kind *k)
{
    if (!strcmp(s, "cpu")) *k = DEV_CPU;
    else if (!strcmp(s, "cuda") || !strcmp(s, "gpu")) *k = DEV_CUDA;
    else if (!strcmp(s, "auto")) *k = DEV_AUTO;
    else return -1;
    return 0;
}

/* value of "--name X" / "--name=X" at argv[i]; *used: arguments consumed */
static const char *match(int argc, char **argv, int i, const char *name, int *used)
{
    size_t n = strlen(name);
    if (strncmp(argv[i], name, n) != 0) return NULL;
    if (argv[i][n] == '=') {
        *used = 1;
        return argv[i] + n + 1;
    }
    if (argv[i][n] == '\0') {
        *used = i + 1 < argc ? 2 : 1;
        return i + 1 < argc ? argv[i + 1] : "";
    }
    return NULL;
}

int app_device_take_options(int *argc, char **argv)
{
    int out = 0;
    for (int i = 0; i < *argc;) {
        if (!strcmp(argv[i], "--")) { /* the rest is the command's */
            while (i < *argc) argv[out++] = argv[i++];
            break;
        }
        int used = 0;
        const char *v;
        if ((v = match(*argc, argv, i, "--device", &used))) {
            device_kind k;
            if (parse_device(v, &k)) {
                fprintf(stderr, "retrobench: --device must be cpu, cuda or auto, not '%s'\n", v);
                return -1;
            }
            device_opt = v;
        } else if ((v = match(*argc, argv, i, "--precision", &used))) {
            if (rb_cuda_precision_parse(v) < 0) {
                fprintf(stderr, "retrobench: --precision must be fp32, tf32 or bf16, not '%s'\n", v);
                return -1;
            }
            precision_opt = v;
        }
        if (used) {
            i += used;
            continue;
        }
        argv[out++] = argv[i++];
    }
    argv[out] = NULL;
    *argc = out;
    return 0;
}

int app_backend_create(const char *cmd, rb_backend **out)
{
    *out = NULL;
    const char *dev = device_opt ? device_opt : getenv("RB_DEVICE");
    const char *prec = precision_opt ? precision_opt : getenv("RB_PRECISION");
    device_kind k = DEV_CPU;
    if (dev && *dev && parse_device(dev, &k)) {
        fprintf(stderr, "retrobench %s: RB_DEVICE must be cpu, cuda or auto, not '%s'\n", cmd, dev);
        return 2;
    }
    rb_error err = {0};
    if (k != DEV_CPU) {
        rb_cuda_options o;
        rb_cuda_options_default(&o);
        o.device = app_dist_local_rank(); /* under mpirun: one GPU per rank of the node (docs/distributed.md) */
        if (prec && *prec) {
            int p = rb_cuda_precision_parse(prec);
            if (p < 0) {
                fprintf(stderr, "retrobench %s: RB_PRECISION must be fp32, tf32 or bf16, not '%s'\n", cmd, prec);
                return 2;
            }
            o.precision = (rb_cuda_precision)p;
        }
        if (rb_backend_cuda_create(out, &o, &err) == RB_OK) return 0;
        if (k == DEV_CUDA) {
            fprintf(stderr, "retrobench %s: --device cuda: %s; use --device cpu or auto\n", cmd, err.msg);
            return 1;
        }
        fprintf(stderr, "retrobench %s: --device auto: %s; using the CPU\n", cmd, err.msg);
    } else if (precision_opt) {
        fprintf(stderr, "retrobench %s: --precision applies to --device cuda; the CPU computes in fp32\n", cmd);
    }
    err.msg[0] = '\0';
    if (rb_backend_cpu_create(out, &err) != RB_OK) {
        fprintf(stderr, "retrobench %s: %s\n", cmd, err.msg);
        return 1;
    }
    return 0;
}

const char *app_device_choice(void)
{
    const char *d = device_opt ? device_opt : getenv("RB_DEVICE");
    return d && *d ? d : NULL;
}

const char *app_precision_choice(void)
{
    const char *p = precision_opt ? precision_opt : getenv("RB_PRECISION");
    return p && *p ? p : NULL;
}

const char *app_backend_describe(const rb_backend *be) { return be && be->name ? be->name : "?"; }
