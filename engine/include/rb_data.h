/* rb_data.h: training data for retrobench: the packed token file, its
 * writer, row order and validation split, the document packer, text and
 * JSONL ingestion, and weighted mixtures of token files.
 *
 * The recipe (METHOD.md section 2): documents are tokenized with the base
 * model's tokenizer, each gets a BOS in front and an EOS after it (so an EOS
 * separates consecutive documents), and the stream is wrapped into rows of
 * T + 1 tokens (input = row[0..T-1], target = row[1..T]); no cross-document
 * mask, loss on every token.
 *
 * Tokenizing is the caller's business: ingestion takes an encode callback,
 * so this module does not depend on the tokenizer module. */
#ifndef RB_DATA_H
#define RB_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "rb_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Packed token file (.rbtok)                                               */
/* ------------------------------------------------------------------------ */

/* Layout, all integers little-endian:
 *   offset  0  char[8]  magic "RBTOK\0\0\0"
 *   offset  8  u32      version (2; version 1 files are still read)
 *   offset 12  u32      vocab_size (>= 1); every id is < vocab_size
 *   offset 16  u32      id_width in bytes: 2 when vocab_size <= 65536, else 4
 *   offset 20  u32      row_len: T + 1 when the stream was packed into rows, else 0
 *   offset 24  u64      n_tokens (a multiple of row_len when row_len > 0)
 *   offset 32  u64      tokenizer identity (rb_tokenizer_identity) of the
 *                       tokenizer that made the ids; 0: unknown (version 1
 *                       files have 0 here: the field was reserved)
 *   offset 40  u8[24]   reserved, zero
 *   offset 64  ids      n_tokens unsigned ids of id_width bytes each
 * The file size is exactly 64 + n_tokens * id_width. */
#define RB_TOKFILE_MAGIC "RBTOK\0\0\0"
#define RB_TOKFILE_VERSION 2u
#define RB_TOKFILE_HEADER_SIZE 64u

typedef struct {
    uint32_t version;
    uint32_t vocab_size;
    uint32_t id_width;
    uint32_t row_len;
    uint64_t n_tokens;
    uint64_t n_rows; /* n_tokens / row_len, or 0 when row_len is 0 */
    uint64_t tok_identity; /* 0: unknown (version 1, or written without a tokenizer) */
} rb_tokfile_info;

typedef struct rb_tokfile rb_tokfile;

enum {
    /* Every id is checked against vocab_size when the file is opened (a
     * memory-speed pass over the ids); this flag is kept for callers that
     * asked for it when the check was optional. */
    RB_TOKFILE_CHECK_IDS = 1
};

/* Memory-map a token file, validate every header field against the real
 * file size and every id against vocab_size. Each failure is one line naming
 * the file and the field (for an id: its row and column). */
rb_status rb_tokfile_open(rb_tokfile **out, const char *path, unsigned flags, rb_error *err);
/* Only the header, checked against the file size (no mapping, no id scan). */
rb_status rb_tokfile_read_info(const char *path, rb_tokfile_info *info, rb_error *err);
void rb_tokfile_close(rb_tokfile *f);
const rb_tokfile_info *rb_tokfile_get_info(const rb_tokfile *f);
const char *rb_tokfile_path(const rb_tokfile *f);
/* Scan every id; fails with the row (and column) of the first id >= vocab_size. */
rb_status rb_tokfile_check_ids(const rb_tokfile *f, rb_error *err);
/* ids [start, start + n) converted to int32. */
rb_status rb_tokfile_read(const rb_tokfile *f, uint64_t start, size_t n, int32_t *out,
                          rb_error *err);
/* Row i: row_len ids starting at i * row_len (file must have rows). */
rb_status rb_tokfile_row(const rb_tokfile *f, uint64_t row, int32_t *out, rb_error *err);

/* Streaming writer: ids are appended to a temporary file next to path; finish
 * writes the header, fsyncs, renames over path and fsyncs the directory, so
 * path holds either the old file or the complete new one. */
typedef struct rb_tokwriter rb_tokwriter;

/* row_len 0: an unpacked stream. */
rb_status rb_tokwriter_open(rb_tokwriter **out, const char *path, uint32_t vocab_size,
                            uint32_t row_len, rb_error *err);
/* Append ids; each must be in [0, vocab_size). On failure nothing of this
 * call is kept and the writer stays usable (or can be aborted). */
rb_status rb_tokwriter_append(rb_tokwriter *w, const int32_t *ids, size_t n, rb_error *err);
uint64_t rb_tokwriter_count(const rb_tokwriter *w);
/* Record the identity of the tokenizer that made the ids (rb_tokenizer_identity);
 * without it the file says "unknown" and readers warn. */
void rb_tokwriter_set_identity(rb_tokwriter *w, uint64_t tok_identity);
/* Complete the file. Frees w whether or not it succeeds. Fails when
 * row_len > 0 and the count is not a multiple of it; on any failure before
 * the rename the temporary file is removed and path is untouched (a failing
 * fsync of the directory after the rename is reported too). */
rb_status rb_tokwriter_finish(rb_tokwriter *w, rb_error *err);
/* Drop everything written; path is untouched. Frees w. NULL is fine. */
void rb_tokwriter_abort(rb_tokwriter *w);

/* ------------------------------------------------------------------------ */
/* Row order and validation split                                           */
/* ------------------------------------------------------------------------ */

/* Validation rows are the LAST ceil(val_fraction * n_rows) rows of the file
 * (rows [n_train, n_rows)); training rows are [0, n_train). A contiguous tail
 * keeps all but one boundary document out of the training rows, which an
 * every-N-th split would not. val_fraction in [0, 1); at least one training
 * row must remain. */
rb_status rb_split_rows(uint64_t n_rows, double val_fraction, uint64_t *n_train,
                        uint64_t *n_val, rb_error *err);

/* A uniformly random permutation of 0..n-1 (Fisher-Yates, engine RNG seeded
 * by rb_rng_seed2(seed, epoch)): the same (seed, epoch) gives the same order
 * on every machine. perm has n entries. */
rb_status rb_row_order(uint64_t n, uint64_t seed, uint64_t epoch, uint64_t *perm,
                       rb_error *err);

/* ------------------------------------------------------------------------ */
/* Packing documents into rows                                              */
/* ------------------------------------------------------------------------ */

typedef enum {
    RB_PACK_DROP = 0, /* the last partial row is dropped (default) */
    RB_PACK_PAD = 1   /* it is filled with pad_id (the loss must then skip pad_id) */
} rb_pack_tail;

typedef struct {
    uint32_t vocab_size;
    uint32_t row_len; /* T + 1 (1025 in the paper); 0 keeps one unwrapped stream */
    int32_t bos_id;   /* put before every document; -1: none */
    int32_t eos_id;   /* put after every document; -1: none */
    rb_pack_tail tail;
    int32_t pad_id;   /* RB_PACK_PAD only */
    uint64_t tok_identity; /* recorded in the file (rb_tokenizer_identity); 0: unknown */
} rb_pack_opts;

typedef struct {
    uint64_t docs;           /* documents added */
    uint64_t doc_tokens;     /* their ids, without BOS/EOS */
    uint64_t stream_tokens;  /* ids including BOS/EOS */
    uint64_t written_tokens; /* ids in the file */
    uint64_t rows;           /* rows in the file */
    uint64_t dropped_tokens; /* tail ids dropped (RB_PACK_DROP) */
    uint64_t pad_tokens;     /* pad ids added (RB_PACK_PAD) */
} rb_pack_stats;

typedef struct rb_packer rb_packer;

/* Produces BOS doc EOS BOS doc EOS ... wrapped into rows of row_len ids,
 * written to path through rb_tokwriter (atomic on finish). */
rb_status rb_packer_open(rb_packer **out, const char *path, const rb_pack_opts *opts,
                         rb_error *err);
/* Add one document (ids without BOS/EOS; n may be 0). */
rb_status rb_packer_add(rb_packer *p, const int32_t *ids, size_t n, rb_error *err);
void rb_packer_get_stats(const rb_packer *p, rb_pack_stats *stats);
/* Handle the tail, complete the file and free p (also on failure, when the
 * file is not created). stats may be NULL. */
rb_status rb_packer_finish(rb_packer *p, rb_pack_stats *stats, rb_error *err);
void rb_packer_abort(rb_packer *p);

/* ------------------------------------------------------------------------ */
/* Templates: "Q: {question}\nA: {answer}"                                  */
/* ------------------------------------------------------------------------ */

/* {name} is replaced by the value of field name; "{{" and "}}" stand for
 * literal braces. A lone brace is an error naming its offset. */
typedef struct rb_template rb_template;

/* Returns the value of `name` (name_len bytes, not NUL-terminated) and its
 * length in *len, or NULL when the field is absent (then err is filled). */
typedef const char *(*rb_template_lookup_fn)(void *ctx, const char *name, size_t name_len,
                                             size_t *len, rb_error *err);

rb_status rb_template_parse(rb_template **out, const char *text, rb_error *err);
void rb_template_free(rb_template *t);
int rb_template_n_fields(const rb_template *t);
/* Field i's name (NUL-terminated). */
const char *rb_template_field(const rb_template *t, int i);
/* Render; *text is malloc'd and NUL-terminated (caller frees). */
rb_status rb_template_render(const rb_template *t, rb_template_lookup_fn lookup, void *ctx,
                             char **text, size_t *len, rb_error *err);

/* ------------------------------------------------------------------------ */
/* Ingestion of text and JSONL                                              */
/* ------------------------------------------------------------------------ */

/* Encode len bytes of UTF-8 text into ids. *ids must come from malloc (the
 * ingester frees it); *n may be 0. Return non-OK to stop ingestion. */
typedef rb_status (*rb_encode_fn)(void *ctx, const char *text, size_t len, int32_t **ids,
                                  size_t *n, rb_error *err);
/* Progress in bytes of the input file; return non-zero to stop
 * (ingestion then fails with RB_EINTERRUPTED). */
typedef int (*rb_progress_fn)(void *ctx, uint64_t done, uint64_t total);

typedef struct {
    rb_encode_fn encode;
    void *encode_ctx;
    rb_progress_fn progress; /* may be NULL */
    void *progress_ctx;
    /* text: documents are separated by this string (e.g. "<|endoftext|>");
     * NULL or "" makes the whole file one document. */
    const char *separator;
    /* JSONL: the document is string field `field`, or `templ` rendered with
     * the line's fields (exactly one of the two). Values must be strings. */
    const char *field;
    const char *templ;
    int strip;        /* trim ASCII whitespace around each document (the authors' str.strip()) */
    int skip_empty;   /* skip documents that are empty (after strip) */
    uint64_t max_docs; /* stop after this many documents; 0: all */
} rb_ingest_opts;

typedef struct {
    uint64_t docs;    /* documents passed to the packer */
    uint64_t skipped; /* empty documents skipped */
    uint64_t bytes;   /* input bytes read */
    uint64_t text_bytes; /* bytes of document text encoded */
    uint64_t tokens;  /* ids from the encoder */
} rb_ingest_stats;

/* Defaults: no separator, strip and skip_empty on, all documents. */
void rb_ingest_opts_default(rb_ingest_opts *o);
rb_status rb_ingest_text(const char *path, const rb_ingest_opts *opts, rb_packer *pk,
                         rb_ingest_stats *stats, rb_error *err);
/* How often needle occurs in the file at path (non-overlapping), e.g. to
 * find which end-of-text marker a text uses. */
rb_status rb_text_count(const char *path, const char *needle, uint64_t *count, rb_error *err);
/* One JSON object per line; blank lines are skipped; a malformed line fails
 * with its line number. */
rb_status rb_ingest_jsonl(const char *path, const rb_ingest_opts *opts, rb_packer *pk,
                          rb_ingest_stats *stats, rb_error *err);

/* ------------------------------------------------------------------------ */
/* Weighted mixtures of token files                                         */
/* ------------------------------------------------------------------------ */

typedef struct {
    const rb_tokfile *file; /* must have rows; all sources share row_len and vocab_size */
    double weight;          /* > 0 (normalised over the sources) */
    uint64_t first_row;     /* rows [first_row, first_row + n_rows) are used, e.g. */
    uint64_t n_rows;        /* the training rows of rb_split_rows; 0: to the end */
} rb_mix_source;

/* Draw i goes to the source with the largest deficit w_s * (i + 1) - c_s
 * (c_s: rows it has given so far; ties to the lower index), so after any
 * number of draws every source has given its weight's share to within one
 * row. Inside a source, rows come in a random order (rb_row_order with
 * seed rb_rng_seed2(seed, source index) and the epoch), reshuffled at each
 * pass; the whole sequence is a function of (sources, seed). */
typedef struct rb_mixture rb_mixture;

rb_status rb_mixture_create(rb_mixture **out, const rb_mix_source *src, int n_src,
                            uint64_t seed, rb_error *err);
void rb_mixture_free(rb_mixture *m);
uint32_t rb_mixture_row_len(const rb_mixture *m);
/* The next (source, row index in that source's file). */
rb_status rb_mixture_next(rb_mixture *m, int *src, uint64_t *row, rb_error *err);
/* The next row's ids (row_len of them); src may be NULL. */
rb_status rb_mixture_next_row(rb_mixture *m, int32_t *out, int *src, rb_error *err);
/* Draws made so far; seek replays to a position (for resuming). */
uint64_t rb_mixture_position(const rb_mixture *m);
rb_status rb_mixture_seek(rb_mixture *m, uint64_t position, rb_error *err);

#ifdef __cplusplus
}
#endif
#endif
