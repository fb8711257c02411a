/* rope_permute.c: converting q/k projection rows between the two RoPE
 * pairings.
 *
 * Adjacent-pair checkpoints (llama2.c, GGUF) rotate rows (2i, 2i+1) of each
 * head together with frequency i; the half-split layout (Hugging Face
 * rotate_half) rotates rows (i, i + d/2). The same attention results when,
 * per head, half-split row i holds adjacent row 2i and half-split row
 * i + d/2 holds adjacent row 2i + 1. The rows are moved in place, following
 * the permutation's cycles with row swaps, so no scratch memory is needed
 * and the functions cannot fail. */
#include <stdint.h>

#include "rb_io.h"

/* Half-split row r of a head is taken from this adjacent-layout row. */
static int from_interleaved(int r, int half) { return r < half ? 2 * r : 2 * (r - half) + 1; }
/* Adjacent row r is taken from this half-split row (the inverse). */
static int from_half(int r, int half) { return (r & 1) ? half + r / 2 : r / 2; }

static void swap_rows(float *a, float *b, int64_t cols)
{
    for (int64_t c = 0; c < cols; c++) {
        float t = a[c];
        a[c] = b[c];
        b[c] = t;
    }
}

/* Apply new_row[r] = old_row[src(r)] to the d rows of one head. */
static void permute_head(float *w, int d, int64_t cols, int (*src)(int, int))
{
    const int half = d / 2;
    for (int s = 0; s < d; s++) {
        /* handle each cycle once, from its smallest row */
        int leader = 1;
        for (int r = src(s, half); r != s; r = src(r, half))
            if (r < s) {
                leader = 0;
                break;
            }
        if (!leader) continue;
        for (int r = s; src(r, half) != s; r = src(r, half))
            swap_rows(w + (int64_t)r * cols, w + (int64_t)src(r, half) * cols, cols);
    }
}

void rb_rope_rows_interleaved_to_half(float *w, int n_heads, int head_dim, int64_t cols)
{
    for (int h = 0; h < n_heads; h++)
        permute_head(w + (int64_t)h * head_dim * cols, head_dim, cols, from_interleaved);
}

void rb_rope_rows_half_to_interleaved(float *w, int n_heads, int head_dim, int64_t cols)
{
    for (int h = 0; h < n_heads; h++)
        permute_head(w + (int64_t)h * head_dim * cols, head_dim, cols, from_half);
}
