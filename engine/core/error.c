/* error.c: filling rb_error records. */
#include "rb_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

rb_status rb_fail(rb_error *err, rb_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

rb_status rb_fail_prefix(rb_error *err, const char *fmt, ...)
{
    if (!err) return RB_EINVAL;
    char old[RB_ERROR_MSG_MAX];
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n < sizeof err->msg)
        snprintf(err->msg + n, sizeof err->msg - (size_t)n, "%s", old);
    if (err->code == RB_OK) err->code = RB_EINVAL;
    return err->code;
}

void rb_error_clear(rb_error *err)
{
    if (err) {
        err->code = RB_OK;
        err->msg[0] = '\0';
    }
}

const char *rb_status_name(rb_status s)
{
    switch (s) {
    case RB_OK: return "ok";
    case RB_EINVAL: return "invalid argument";
    case RB_ENOMEM: return "out of memory";
    case RB_EIO: return "i/o error";
    case RB_EFORMAT: return "bad file format";
    case RB_EUNSUPPORTED: return "unsupported";
    case RB_ENUMERIC: return "non-finite value";
    case RB_EINTERRUPTED: return "interrupted";
    case RB_EBACKEND: return "backend failure";
    }
    return "unknown";
}
