/* tok_embed.h (internal to engine/io): base64 and the tokenizer carried in a
 * checkpoint's __metadata__ (tok_embed.c, base64.c). */
#ifndef RB_IO_TOK_EMBED_H
#define RB_IO_TOK_EMBED_H

#include <stddef.h>
#include <stdint.h>

#include "rb_error.h"
#include "rb_io.h"

/* Standard alphabet with '=' padding; NULL when memory runs out. */
char *rb_base64_encode(const void *data, size_t n);
/* *out is malloc'd; what names the text in errors. */
rb_status rb_base64_decode(const char *s, unsigned char **out, size_t *n, const char *what,
                           rb_error *err);

/* The tokenizer embedded under key (one of RB_CKPT_TOKENIZER_*), source
 * naming it in messages. */
rb_status rb_tokenizer_from_embedding(const char *key, const char *value, const char *source,
                                      rb_tokenizer **out, rb_error *err);

#endif
