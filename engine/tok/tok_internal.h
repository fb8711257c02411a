/* tok_internal.h: the tokenizer's inside, shared by the files of engine/tok.
 *
 * One struct serves every family. A tokenizer is a pipeline:
 *   added tokens (matched verbatim) -> normalizer ops -> pre-tokenizer steps
 *   -> model (rank-based BPE, or llama2.c's score-based merging)
 * and decoding runs each id through a small "render" plan (byte pieces,
 * byte-level alphabet, replacements, leading-space strip). Loaders
 * (tok_json.c, tok_spm.c, tok_gguf_bpe.c) fill the struct; tok_encode.c and
 * tok_decode.c only read it. */
#ifndef RB_TOK_INTERNAL_H
#define RB_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "rb_tokenizer.h"

/* ---- limits (checked when loading untrusted files) ---- */
#define RB_TOK_MAX_VOCAB (1 << 24)       /* 16.7M ids: far above any real vocabulary */
#define RB_TOK_MAX_PIECE (1 << 16)       /* bytes in one vocabulary piece */
#define RB_TOK_MAX_STEPS 8               /* normalizer ops / pre-tokenizer steps / replaces */
#define RB_TOK_SOURCE_MAX 256

/* ---- UTF-8 (tok_utf8.c) ---- */
/* Offset of the first byte that is not part of valid UTF-8 (overlongs,
 * surrogates and code points above U+10FFFF are invalid), or len if valid. */
size_t rb_tok_utf8_invalid_at(const char *s, size_t len);
/* Decode the code point at s (valid UTF-8, len >= 1); *n gets its byte count. */
uint32_t rb_tok_utf8_next(const char *s, size_t len, size_t *n);
/* Byte count of the UTF-8 character whose lead byte is c (1 for stray bytes). */
size_t rb_tok_utf8_len(unsigned char c);
/* Write cp as UTF-8 into out (4 bytes room); returns the byte count. */
size_t rb_tok_utf8_put(uint32_t cp, char *out);

/* ---- Unicode classes (tok_unicode.c) ---- */
int rb_tok_is_letter(uint32_t cp);   /* \p{L} */
int rb_tok_is_number(uint32_t cp);   /* \p{N} */
int rb_tok_is_space(uint32_t cp);    /* \s: the White_Space property */
const char *rb_tok_unicode_version(void);

/* ---- split regexes implemented as scanners (tok_regex.c) ---- */
typedef enum {
    RB_TOK_RE_GPT2 = 1,   /* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
    RB_TOK_RE_LLAMA3,     /* (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
    RB_TOK_RE_QWEN2       /* as LLAMA3 but \p{N} one at a time */
} rb_tok_regex;
/* The pattern string of a tokenizer.json Split/ByteLevel regex -> kind, or 0. */
rb_tok_regex rb_tok_regex_from_pattern(const char *pattern);
/* ... and back: the pattern string tokenizer.json spells for kind. */
const char *rb_tok_regex_pattern(rb_tok_regex kind);
/* End of the match that starts at pos (pos < len); always > pos. */
size_t rb_tok_regex_match(rb_tok_regex kind, const char *s, size_t len, size_t pos);

/* ---- hash maps (tok_map.c) ---- */
typedef struct {
    const char *key; /* not owned */
    uint32_t len;
    uint32_t hash;
    int32_t val;
} rb_tok_strmap_slot;

typedef struct {
    rb_tok_strmap_slot *slots; /* key == NULL: empty */
    size_t cap;                /* power of two */
    size_t count;
} rb_tok_strmap;

/* Insert key -> val unless the key is present (then *existing gets its value
 * and nothing changes). The key bytes must outlive the map. */
rb_status rb_tok_strmap_put(rb_tok_strmap *m, const char *key, size_t len, int32_t val,
                            int32_t *existing, rb_error *err);
int32_t rb_tok_strmap_get(const rb_tok_strmap *m, const char *key, size_t len); /* -1 if absent */
void rb_tok_strmap_free(rb_tok_strmap *m);

typedef struct {
    uint64_t key; /* (left << 32 | right) + 1; 0 = empty */
    int32_t rank;
    int32_t merged;
} rb_tok_pairmap_slot;

typedef struct {
    rb_tok_pairmap_slot *slots;
    size_t cap;
    size_t count;
} rb_tok_pairmap;

/* Insert unless present (first, lowest rank wins); *was_new says which. */
rb_status rb_tok_pairmap_put(rb_tok_pairmap *m, int32_t left, int32_t right, int32_t rank,
                             int32_t merged, int *was_new, rb_error *err);
const rb_tok_pairmap_slot *rb_tok_pairmap_get(const rb_tok_pairmap *m, int32_t left,
                                              int32_t right);
void rb_tok_pairmap_free(rb_tok_pairmap *m);

/* ---- growable id list (tok_core.c) ---- */
typedef struct {
    int32_t *v;
    size_t n, cap;
} rb_tok_ids;
rb_status rb_tok_ids_push(rb_tok_ids *o, int32_t id, rb_error *err);

/* ---- the tokenizer ---- */
typedef enum { RB_TOK_MODEL_BPE = 1, RB_TOK_MODEL_SPM_SCORE } rb_tok_model;

typedef enum { RB_TOK_NORM_PREPEND = 1, RB_TOK_NORM_REPLACE } rb_tok_norm_kind;
typedef struct {
    rb_tok_norm_kind kind;
    char *a; size_t a_len; /* PREPEND: the prefix; REPLACE: the pattern */
    char *b; size_t b_len; /* REPLACE: the replacement */
} rb_tok_norm_op;

typedef enum {
    RB_TOK_PRE_SPLIT = 1, /* Split(Regex, Isolated) with a known regex */
    RB_TOK_PRE_DIGITS,    /* Digits(individual_digits) */
    RB_TOK_PRE_BYTELEVEL, /* ByteLevel(add_prefix_space, use_regex): GPT-2 regex + byte alphabet */
    RB_TOK_PRE_METASPACE  /* Metaspace(replacement, prepend_scheme, split) */
} rb_tok_pre_kind;
enum { RB_TOK_PREPEND_ALWAYS = 0, RB_TOK_PREPEND_FIRST, RB_TOK_PREPEND_NEVER };
typedef struct {
    rb_tok_pre_kind kind;
    rb_tok_regex regex;      /* SPLIT */
    int individual;          /* DIGITS */
    int add_prefix_space;    /* BYTELEVEL */
    int use_regex;           /* BYTELEVEL */
    char repl[8];            /* METASPACE replacement (UTF-8, NUL-terminated) */
    size_t repl_len;
    int prepend_scheme;      /* METASPACE */
    int split;               /* METASPACE */
} rb_tok_pre_step;

typedef struct {
    char *content; size_t len;        /* as written in the file */
    char *norm; size_t norm_len;      /* content run through the normalizer (normalized tokens) */
    int32_t id;
    uint8_t special, normalized, lstrip, rstrip, single_word;
} rb_tok_added;

typedef struct {
    char *from; size_t from_len;
    char *to; size_t to_len;
} rb_tok_replace;

struct rb_tokenizer {
    char source[RB_TOK_SOURCE_MAX]; /* file or origin, for messages */
    rb_tok_model model;
    int n;                 /* ids 0 .. n-1 */
    char **piece;          /* raw vocabulary strings, NUL-terminated ("" for holes) */
    uint32_t *piece_len;
    uint8_t *type;         /* RB_TOKTYPE_* */
    float *score;          /* SPM_SCORE only */

    rb_tok_strmap vocab;   /* model lookup: BPE: every model piece; SPM: NORMAL pieces */
    rb_tok_pairmap merges; /* BPE: (left id, right id) -> rank, merged id */
    int byte_id[256];      /* id of <0xXX>, or -1 */
    int byte_fallback;     /* unknown characters become <0xXX> tokens */
    int unk_id;            /* -1 if none */
    int fuse_unk;
    int ignore_merges;     /* BPE: a word that is a piece is emitted whole */
    int spm_meta;          /* SPM_SCORE: pieces spell space as U+2581 (GGUF) rather than ' ' */

    int n_norm;
    rb_tok_norm_op norm[RB_TOK_MAX_STEPS];
    int n_pre;
    rb_tok_pre_step pre[RB_TOK_MAX_STEPS];

    int n_added;
    rb_tok_added *added;   /* sorted by content length, longest first */
    uint8_t added_first_raw[256];  /* first bytes of tokens matched on raw text */
    uint8_t added_first_norm[256]; /* first bytes of normalized contents */

    /* decode plan */
    int dec_bytes;         /* BYTE pieces <0xXX> render as the raw byte */
    int dec_bytelevel;     /* pieces are in the GPT-2 byte alphabet */
    int n_dec_replace;
    rb_tok_replace dec_replace[RB_TOK_MAX_STEPS];
    int dec_strip;         /* leading spaces removed from the start of the output */

    int bos, eos, add_bos;
};

/* Whether added token a is matched on normalized text (by its normalized
 * content) rather than on the raw input. Score-based SentencePiece matches
 * everything on its normalized text. */
static inline int rb_tok_added_on_norm(const rb_tokenizer *t, const rb_tok_added *a)
{
    if (t->model == RB_TOK_MODEL_SPM_SCORE) return 1;
    return a->normalized && t->n_norm > 0;
}

/* tok_core.c */
/* Whole file into *data (malloc'd, NUL-terminated; limit 1 GiB). */
rb_status rb_tok_read_file(const char *path, char **data, size_t *len, rb_error *err);
/* A zeroed tokenizer with n ids (pieces all "" until set). */
rb_status rb_tok_alloc(rb_tokenizer **out, int n, const char *source, rb_error *err);
rb_status rb_tok_set_piece(rb_tokenizer *t, int id, const char *s, size_t len, rb_error *err);
/* Rewrite control characters in err->msg as \xNN (loaders call this on
 * failure, since messages quote file content). */
void rb_tok_clean_msg(rb_error *err);
/* "<0xXX>" (uppercase or lowercase hex) -> byte, or -1. */
int rb_tok_parse_byte_piece(const char *s, size_t len);
/* Sort added tokens longest first and fill the first-byte tables. */
void rb_tok_finish_added(rb_tokenizer *t);

/* tok_bytelevel.c: GPT-2's bytes <-> printable code points table. */
/* UTF-8 of the code point standing for byte b into out (room for 4 bytes);
 * returns its length (1 or 2). */
size_t rb_tok_bytelevel_encode(unsigned char b, char *out);
/* The byte that code point cp stands for, or -1. */
int rb_tok_bytelevel_decode(uint32_t cp);

/* tok_bpe.c / tok_spm_merge.c: the models, appending ids for one word. */
rb_status rb_tok_bpe_word(const rb_tokenizer *t, const char *w, size_t len, rb_tok_ids *out,
                          rb_error *err);
rb_status rb_tok_spm_word(const rb_tokenizer *t, const char *w, size_t len, rb_tok_ids *out,
                          rb_error *err);

/* tok_identity.c: piece id in its canonical (tokenizer.json) spelling into
 * out, which has room for 3 * piece_len + 1 bytes; returns the length. */
size_t rb_tok_canonical_piece(const rb_tokenizer *t, int32_t id, char *out);

/* tok_gguf_bpe.c: byte-level pre-tokenizer steps for a GGUF tokenizer.ggml.pre name. */
rb_status rb_tok_pre_from_gguf_name(rb_tokenizer *t, const char *pre, rb_error *err);

#endif
