/* rb_tokenizer.h: text <-> token ids for every vocabulary retrobench reads.
 *
 * Families:
 *  - SentencePiece-style BPE from tokenizer.json (Llama 2 / TinyLlama):
 *    Prepend("▁") + Replace(" " -> "▁") normalizer, merges by rank, byte
 *    fallback to <0xXX> tokens.
 *  - Byte-level BPE from tokenizer.json (GPT-2, SmolLM2, Llama 3): ByteLevel
 *    pre-tokenizer with its split regex, merges by rank, byte-to-unicode map.
 *  - Score-based SentencePiece vocabularies (llama2.c tokenizer.bin, GGUF
 *    tokenizer.ggml.model = "llama"): llama2.c's algorithm (dummy prefix
 *    space, codepoints, byte fallback, repeatedly merge the adjacent pair whose
 *    concatenation has the highest score).
 *  - GGUF "gpt2" vocabularies: byte-level BPE from tokens + merges.
 * Added/special tokens in tokenizer.json are matched verbatim before the
 * model runs. decode(encode(s)) == s for every valid UTF-8 s. */
#ifndef RB_TOKENIZER_H
#define RB_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "rb_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rb_tokenizer rb_tokenizer;

/* Hugging Face tokenizer.json (both families; merges as "a b" or ["a","b"]). */
rb_status rb_tokenizer_load_json(rb_tokenizer **out, const char *path, rb_error *err);
/* llama2.c tokenizer.bin. vocab_size <= 0: read tokens until end of file. */
rb_status rb_tokenizer_load_llama2c(rb_tokenizer **out, const char *path, int vocab_size,
                                    rb_error *err);
/* By file: *.json -> tokenizer.json, otherwise llama2.c tokenizer.bin. */
rb_status rb_tokenizer_load_file(rb_tokenizer **out, const char *path, rb_error *err);
/* The same two loaders on bytes in memory (fuzzing, embedded files). source
 * names the data in error messages (may be NULL). */
rb_status rb_tokenizer_load_json_mem(rb_tokenizer **out, const char *data, size_t len,
                                     const char *source, rb_error *err);
rb_status rb_tokenizer_load_llama2c_mem(rb_tokenizer **out, const void *data, size_t len,
                                        int vocab_size, const char *source, rb_error *err);

/* Token types as GGUF numbers them (tokenizer.ggml.token_type). */
enum {
    RB_TOKTYPE_NORMAL = 1,
    RB_TOKTYPE_UNKNOWN = 2,
    RB_TOKTYPE_CONTROL = 3,
    RB_TOKTYPE_USER_DEFINED = 4,
    RB_TOKTYPE_UNUSED = 5,
    RB_TOKTYPE_BYTE = 6
};

/* Score-based SentencePiece vocabulary (GGUF "llama"). pieces[i] has
 * piece_lens[i] bytes (not NUL-terminated); types may be NULL. bos/eos may
 * be -1. source names the file in error messages. */
rb_status rb_tokenizer_from_spm_scores(rb_tokenizer **out, int n, const char *const *pieces,
                                       const size_t *piece_lens, const float *scores,
                                       const int32_t *types, int bos, int eos, int add_bos,
                                       const char *source, rb_error *err);
/* Byte-level BPE vocabulary (GGUF "gpt2"). merges[i] is "left right".
 * pre names the GGUF tokenizer.ggml.pre split rule ("gpt2", "llama-bpe",
 * "smollm", ...); unknown names fail with a message listing the known ones. */
rb_status rb_tokenizer_from_bpe(rb_tokenizer **out, int n, const char *const *pieces,
                                const size_t *piece_lens, const int32_t *types, int n_merges,
                                const char *const *merges, const char *pre, int bos, int eos,
                                int add_bos, const char *source, rb_error *err);

void rb_tokenizer_free(rb_tokenizer *t);

/* Encode len bytes of UTF-8 text. *ids is malloc'd (caller frees). Invalid
 * UTF-8 fails with the byte offset. add_bos prepends the BOS id. */
rb_status rb_tokenizer_encode(const rb_tokenizer *t, const char *text, size_t len, int add_bos,
                              int32_t **ids, size_t *n_ids, rb_error *err);
/* Decode ids to UTF-8; *text is malloc'd and NUL-terminated. BOS/EOS and
 * other control tokens decode to nothing. The dummy-prefix space that
 * encode adds is removed from the start. Bytes that do not form UTF-8 (byte
 * tokens in a bad order) become U+FFFD, one per maximal invalid sequence. */
rb_status rb_tokenizer_decode(const rb_tokenizer *t, const int32_t *ids, size_t n, char **text,
                              size_t *len, rb_error *err);

/* Streaming decode for generation: feed one id at a time and get the bytes
 * that are complete so far (byte-fallback tokens are held until they form
 * whole UTF-8 characters). */
typedef struct rb_detok rb_detok;
rb_status rb_detok_create(rb_detok **out, const rb_tokenizer *t, rb_error *err);
/* Appends to *out (malloc'd NUL-terminated string, caller frees) the text of id.
 * *out may start NULL; *out_len is its length in bytes and is updated. */
rb_status rb_detok_push(rb_detok *d, int32_t id, char **out, size_t *out_len, rb_error *err);
/* End of stream: bytes still waiting for the rest of a character are
 * appended as U+FFFD (rb_tokenizer_decode does the same at its end). */
rb_status rb_detok_flush(rb_detok *d, char **out, size_t *out_len, rb_error *err);
/* The stream continues text shown elsewhere (e.g. only generated ids are fed
 * after a prompt that was printed as typed): do not strip the dummy-prefix
 * space from the first piece. Call right after rb_detok_create. */
void rb_detok_mid_text(rb_detok *d);
void rb_detok_free(rb_detok *d);

int rb_tokenizer_vocab_size(const rb_tokenizer *t);
int rb_tokenizer_bos(const rb_tokenizer *t); /* -1 if none */
int rb_tokenizer_eos(const rb_tokenizer *t); /* -1 if none */
/* Whether the tokenizer's own configuration prepends BOS (tokenizer.json
 * TemplateProcessing, llama2.c, the add_bos given to the constructors). */
int rb_tokenizer_add_bos(const rb_tokenizer *t);
/* RB_TOKTYPE_* of id (0 if out of range). tokenizer.json: special added
 * tokens are CONTROL, other added tokens USER_DEFINED, <0xXX> pieces BYTE
 * when byte_fallback is on. */
int rb_tokenizer_token_type(const rb_tokenizer *t, int32_t id);
/* Override special ids (e.g. from a model's config.json). */
void rb_tokenizer_set_special(rb_tokenizer *t, int bos, int eos);
/* The raw vocabulary string of id (NUL-terminated), or NULL if out of range. */
const char *rb_tokenizer_piece(const rb_tokenizer *t, int32_t id);

/* The identity of the vocabulary (docs/data-and-checkpoints.md): 64-bit
 * FNV-1a over u32le(n) and, for each id 0..n-1, u32le(len) and the piece in
 * its canonical (tokenizer.json) spelling; llama2.c's spelling of spaces and
 * of BOS/EOS is mapped to SentencePiece's first, so tokenizer.json,
 * tokenizer.bin and GGUF copies of one vocabulary share it. Never 0 (0 means
 * "unknown" in token files) except when t is NULL or memory ran out. */
uint64_t rb_tokenizer_identity(const rb_tokenizer *t);

/* The tokenizer as a Hugging Face tokenizer.json (malloc'd, NUL-terminated,
 * *len bytes), for any source: HF `tokenizers` and rb_tokenizer_load_json
 * read it back with the same ids and the same identity. Score-based
 * vocabularies get the merge list their scores imply (see tok_write_json.c). */
rb_status rb_tokenizer_to_json(const rb_tokenizer *t, char **text, size_t *len, rb_error *err);

#ifdef __cplusplus
}
#endif
#endif
