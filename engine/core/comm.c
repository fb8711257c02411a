/* comm.c: the group of one process (rb_comm_self_create): every
 * collective of one rank leaves its data unchanged. Tests use it to run
 * the trainer's distributed path without a transport. */
#include <stdlib.h>

#include "rb_comm.h"

static rb_status self_sum(rb_comm *c, rb_backend *be, float *buf, size_t n, rb_error *err)
{
    (void)c, (void)be, (void)buf, (void)n, (void)err;
    return RB_OK;
}

static rb_status self_host(rb_comm *c, double *v, int n, rb_error *err)
{
    (void)c, (void)v, (void)n, (void)err;
    return RB_OK;
}

static rb_status self_bcast(rb_comm *c, void *buf, size_t bytes, rb_error *err)
{
    (void)c, (void)buf, (void)bytes, (void)err;
    return RB_OK;
}

static void self_destroy(rb_comm *c) { free(c); }

rb_status rb_comm_self_create(rb_comm **out, rb_error *err)
{
    rb_comm *c = calloc(1, sizeof *c);
    if (!c) return rb_fail(err, RB_ENOMEM, "communicator: out of memory");
    c->rank = 0;
    c->size = 1;
    c->name = "self";
    c->allreduce_sum = self_sum;
    c->allreduce_host = self_host;
    c->bcast_host = self_bcast;
    c->destroy = self_destroy;
    *out = c;
    return RB_OK;
}
