/* ingest_internal.h: what the text and JSONL ingesters share (not public). */
#ifndef RB_INGEST_INTERNAL_H
#define RB_INGEST_INTERNAL_H

#include "rb_data.h"

typedef struct {
    const char *path;
    const rb_ingest_opts *o;
    rb_packer *pk;
    rb_ingest_stats st;
    uint64_t total;      /* input size in bytes */
    uint64_t last_report;
    int done;            /* max_docs reached */
} rb_ingest_run;

/* Map a whole file read-only; an empty file gives data NULL, size 0. */
rb_status rb_ingest_map(const char *path, const char **data, size_t *size, rb_error *err);
void rb_ingest_unmap(const char *data, size_t size);

rb_status rb_ingest_check_opts(const char *path, const rb_ingest_opts *o, rb_packer *pk,
                               rb_error *err);
/* Strip / skip / encode / pack one document. what names it in errors
 * ("document 3", "line 17"). */
rb_status rb_ingest_emit(rb_ingest_run *run, const char *text, size_t len, const char *what,
                         rb_error *err);
/* Report progress (throttled unless final); RB_EINTERRUPTED when told to stop. */
rb_status rb_ingest_progress(rb_ingest_run *run, uint64_t done, int final, rb_error *err);

#endif
