/* packer.c: documents -> "BOS doc EOS BOS doc EOS ..." wrapped into rows of
 * T + 1 ids (METHOD.md section 2, the authors' "wrapped" packing), written
 * through rb_tokwriter. Only a partial row is held in memory. */
#include "rb_data.h"

#include <stdlib.h>
#include <string.h>

struct rb_packer {
    rb_tokwriter *w;
    rb_pack_opts o;
    int32_t *row; /* the row being filled (row_len ids) */
    size_t fill;
    rb_pack_stats st;
};

static int id_ok(int32_t id, uint32_t vocab) { return id >= 0 && (uint32_t)id < vocab; }

rb_status rb_packer_open(rb_packer **out, const char *path, const rb_pack_opts *opts,
                         rb_error *err)
{
    if (!out || !path || !opts) return rb_fail(err, RB_EINVAL, "rb_packer_open: NULL argument");
    *out = NULL;
    if (opts->bos_id != -1 && !id_ok(opts->bos_id, opts->vocab_size))
        return rb_fail(err, RB_EINVAL, "%s: packer: bos_id %d is outside [0, %u) (use -1 for none)",
                       path, opts->bos_id, opts->vocab_size);
    if (opts->eos_id != -1 && !id_ok(opts->eos_id, opts->vocab_size))
        return rb_fail(err, RB_EINVAL, "%s: packer: eos_id %d is outside [0, %u) (use -1 for none)",
                       path, opts->eos_id, opts->vocab_size);
    if (opts->tail != RB_PACK_DROP && opts->tail != RB_PACK_PAD)
        return rb_fail(err, RB_EINVAL, "%s: packer: unknown tail policy %d", path,
                       (int)opts->tail);
    if (opts->tail == RB_PACK_PAD && !id_ok(opts->pad_id, opts->vocab_size))
        return rb_fail(err, RB_EINVAL, "%s: packer: pad_id %d is outside [0, %u)", path,
                       opts->pad_id, opts->vocab_size);
    rb_packer *p = calloc(1, sizeof *p);
    if (!p) return rb_fail(err, RB_ENOMEM, "%s: out of memory", path);
    p->o = *opts;
    if (opts->row_len > 0) {
        p->row = malloc((size_t)opts->row_len * sizeof *p->row);
        if (!p->row) {
            free(p);
            return rb_fail(err, RB_ENOMEM, "%s: out of memory for a row of %u ids", path,
                           opts->row_len);
        }
    }
    rb_status st = rb_tokwriter_open(&p->w, path, opts->vocab_size, opts->row_len, err);
    if (st == RB_OK) rb_tokwriter_set_identity(p->w, opts->tok_identity);
    if (st != RB_OK) {
        free(p->row);
        free(p);
        return st;
    }
    *out = p;
    return RB_OK;
}

/* Push ids into the stream, writing each row as it fills. */
static rb_status push(rb_packer *p, const int32_t *ids, size_t n, rb_error *err)
{
    p->st.stream_tokens += n;
    if (p->o.row_len == 0) {
        rb_status st = rb_tokwriter_append(p->w, ids, n, err);
        if (st == RB_OK) p->st.written_tokens += n;
        return st;
    }
    while (n > 0) {
        size_t room = p->o.row_len - p->fill;
        size_t take = n < room ? n : room;
        memcpy(p->row + p->fill, ids, take * sizeof *ids);
        p->fill += take;
        ids += take;
        n -= take;
        if (p->fill == p->o.row_len) {
            rb_status st = rb_tokwriter_append(p->w, p->row, p->fill, err);
            if (st != RB_OK) return st;
            p->st.written_tokens += p->fill;
            p->st.rows++;
            p->fill = 0;
        }
    }
    return RB_OK;
}

rb_status rb_packer_add(rb_packer *p, const int32_t *ids, size_t n, rb_error *err)
{
    /* check first, so that a bad document leaves the stream unchanged */
    for (size_t i = 0; i < n; i++)
        if (!id_ok(ids[i], p->o.vocab_size))
            return rb_fail(err, RB_EINVAL,
                           "packer: document %llu: id %d at position %zu is outside [0, %u)",
                           (unsigned long long)p->st.docs, ids[i], i, p->o.vocab_size);
    rb_status st = RB_OK;
    if (p->o.bos_id >= 0) st = push(p, &p->o.bos_id, 1, err);
    if (st == RB_OK) st = push(p, ids, n, err);
    if (st == RB_OK && p->o.eos_id >= 0) st = push(p, &p->o.eos_id, 1, err);
    if (st != RB_OK) return st;
    p->st.docs++;
    p->st.doc_tokens += n;
    return RB_OK;
}

void rb_packer_get_stats(const rb_packer *p, rb_pack_stats *stats) { *stats = p->st; }

rb_status rb_packer_finish(rb_packer *p, rb_pack_stats *stats, rb_error *err)
{
    if (!p) return rb_fail(err, RB_EINVAL, "rb_packer_finish: NULL packer");
    rb_status st = RB_OK;
    if (p->fill > 0) {
        if (p->o.tail == RB_PACK_DROP) {
            p->st.dropped_tokens += p->fill;
        } else {
            size_t pad = p->o.row_len - p->fill;
            for (size_t i = p->fill; i < p->o.row_len; i++) p->row[i] = p->o.pad_id;
            st = rb_tokwriter_append(p->w, p->row, p->o.row_len, err);
            if (st == RB_OK) {
                p->st.pad_tokens += pad;
                p->st.written_tokens += p->o.row_len;
                p->st.rows++;
            }
        }
        p->fill = 0;
    }
    if (st == RB_OK) {
        st = rb_tokwriter_finish(p->w, err);
    } else {
        rb_tokwriter_abort(p->w);
    }
    if (stats) *stats = p->st;
    free(p->row);
    free(p);
    return st;
}

void rb_packer_abort(rb_packer *p)
{
    if (!p) return;
    rb_tokwriter_abort(p->w);
    free(p->row);
    free(p);
}
