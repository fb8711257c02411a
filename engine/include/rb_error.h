/* rb_error.h: status codes and the error record every engine call fills.
 *
 * The engine never prints and never exits: a failing call returns a status
 * and writes one line into an rb_error that names what was wrong (the file,
 * the field, the value) and, where there is one, the fix. Callers that do
 * not care may pass NULL for the error record. */
#ifndef RB_ERROR_H
#define RB_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    RB_OK = 0,
    RB_EINVAL,        /* bad argument or configuration */
    RB_ENOMEM,        /* allocation failed */
    RB_EIO,           /* reading or writing a file failed */
    RB_EFORMAT,       /* a file is malformed */
    RB_EUNSUPPORTED,  /* well-formed but not something we handle */
    RB_ENUMERIC,      /* non-finite values */
    RB_EINTERRUPTED,  /* stopped on request */
    RB_EBACKEND       /* the compute backend failed */
} rb_status;

#define RB_ERROR_MSG_MAX 1024

typedef struct {
    rb_status code;
    char msg[RB_ERROR_MSG_MAX];
} rb_error;

/* Record a failure in err (which may be NULL) and return code. */
rb_status rb_fail(rb_error *err, rb_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix an existing message with context ("loading X: " + old message). */
rb_status rb_fail_prefix(rb_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void rb_error_clear(rb_error *err);
const char *rb_status_name(rb_status s);

#ifdef __cplusplus
}
#endif
#endif
