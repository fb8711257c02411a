/* config.c: defaults and validation of the model description. */
#include "rb_config.h"

#include <math.h>
#include <string.h>

void rb_config_defaults(rb_config *c)
{
    memset(c, 0, sizeof *c);
    c->block = RB_BLOCK_LLAMA;
    c->norm_eps = 1e-5f;
    c->rope_theta = 10000.0f;
    c->rope_layout = RB_ROPE_HALF;
    c->rope_scaling = RB_ROPE_SCALING_NONE;
    c->rope_factor = 1.0f;
    c->rope_low_freq_factor = 1.0f;
    c->rope_high_freq_factor = 4.0f;
    c->rope_original_max_pos = 8192;
    c->max_seq_len = 2048;
    c->state_init = RB_STATE_TRUNCNORMAL;
    c->state_sigma = RB_STATE_SIGMA_DEFAULT;
}

#define NEED_POSITIVE(field)                                                             \
    do {                                                                                 \
        if (c->field <= 0)                                                               \
            return rb_fail(err, RB_EINVAL, "model config: " #field " = %d; it must be a " \
                                           "positive integer", c->field);                \
    } while (0)

rb_status rb_config_finalize(rb_config *c, rb_error *err)
{
    NEED_POSITIVE(vocab_size);
    NEED_POSITIVE(dim);
    NEED_POSITIVE(n_heads);
    NEED_POSITIVE(n_kv_heads);
    NEED_POSITIVE(hidden_dim);
    NEED_POSITIVE(max_seq_len);
    if (c->head_dim == 0) {
        if (c->dim % c->n_heads != 0)
            return rb_fail(err, RB_EINVAL,
                           "model config: n_heads = %d does not divide dim = %d; choose a head "
                           "count that divides the width (or set head_dim explicitly)",
                           c->n_heads, c->dim);
        c->head_dim = c->dim / c->n_heads;
    }
    if (c->head_dim < 0 || c->head_dim % 2 != 0)
        return rb_fail(err, RB_EINVAL,
                       "model config: head_dim = %d; RoPE needs a positive even head size",
                       c->head_dim);
    /* keep every product of sizes well inside int (GEMM dimensions) */
    const long lim = 1L << 20;
    if (c->vocab_size > (1L << 24) || c->dim > lim || c->hidden_dim > lim || c->n_heads > 4096 ||
        c->head_dim > 4096 || (long)c->n_heads * c->head_dim > lim || c->max_seq_len > (1L << 22))
        return rb_fail(err, RB_EINVAL,
                       "model config: sizes too large (vocab %d, dim %d, hidden %d, heads %d x "
                       "head_dim %d, max_seq_len %d)", c->vocab_size, c->dim, c->hidden_dim,
                       c->n_heads, c->head_dim, c->max_seq_len);
    if (c->n_heads % c->n_kv_heads != 0)
        return rb_fail(err, RB_EINVAL,
                       "model config: n_kv_heads = %d does not divide n_heads = %d; grouped-query "
                       "attention needs a whole number of query heads per KV head",
                       c->n_kv_heads, c->n_heads);
    if (c->n_prelude < 0 || c->n_recur < 0 || c->n_coda < 0)
        return rb_fail(err, RB_EINVAL,
                       "model config: block counts (prelude %d, recurrent %d, coda %d) must not "
                       "be negative", c->n_prelude, c->n_recur, c->n_coda);
    if (rb_config_n_layers(c) == 0)
        return rb_fail(err, RB_EINVAL,
                       "model config: the model has no layers (prelude, recurrent and coda are "
                       "all empty); give it at least one block");
    if (!(c->norm_eps > 0) || !isfinite(c->norm_eps))
        return rb_fail(err, RB_EINVAL, "model config: norm_eps = %g; it must be positive",
                       (double)c->norm_eps);
    if (!(c->rope_theta > 0) || !isfinite(c->rope_theta))
        return rb_fail(err, RB_EINVAL, "model config: rope_theta = %g; it must be positive",
                       (double)c->rope_theta);
    if (c->rope_layout != RB_ROPE_HALF && c->rope_layout != RB_ROPE_INTERLEAVED)
        return rb_fail(err, RB_EINVAL, "model config: rope_layout = %d is not a known layout",
                       (int)c->rope_layout);
    if (c->block != RB_BLOCK_LLAMA && c->block != RB_BLOCK_OLMO2)
        return rb_fail(err, RB_EINVAL, "model config: block kind %d is not known (llama, olmo2)",
                       (int)c->block);
    if (c->rope_scaling == RB_ROPE_SCALING_LLAMA3) {
        if (!(c->rope_factor >= 1) || !(c->rope_low_freq_factor > 0) ||
            !(c->rope_high_freq_factor > c->rope_low_freq_factor) || c->rope_original_max_pos <= 0)
            return rb_fail(err, RB_EINVAL,
                           "model config: llama3 rope scaling needs factor >= 1, 0 < "
                           "low_freq_factor < high_freq_factor and original_max_position_"
                           "embeddings > 0 (got %g, %g, %g, %d)",
                           (double)c->rope_factor, (double)c->rope_low_freq_factor,
                           (double)c->rope_high_freq_factor, c->rope_original_max_pos);
    } else if (c->rope_scaling != RB_ROPE_SCALING_NONE) {
        return rb_fail(err, RB_EINVAL, "model config: rope scaling kind %d is not known",
                       (int)c->rope_scaling);
    }
    if (c->state_init != RB_STATE_TRUNCNORMAL && c->state_init != RB_STATE_ZERO)
        return rb_fail(err, RB_EINVAL, "model config: state_init %d is not known (truncnormal, zero)",
                       (int)c->state_init);
    if (c->state_init == RB_STATE_TRUNCNORMAL && (!(c->state_sigma > 0) || !isfinite(c->state_sigma)))
        return rb_fail(err, RB_EINVAL, "model config: state_sigma = %g; it must be positive",
                       (double)c->state_sigma);
    return RB_OK;
}
