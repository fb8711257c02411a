/* cmd_info.c: `retrobench info -m MODEL [-r DEPTH]`: architecture, layer
 * map (with the source layers of a surgered model), the tokenizer and its
 * identity, parameter counts, and FLOPs per token at test depths. It reads
 * headers only: no weight is loaded, whatever the model's size. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "app_model.h"
#include "blas_env.h"
#include "cli.h"
#include "rb_sched.h"

static void print_layers(const char *label, int first, int count, const rb_loaded_model *lm)
{
    printf("  %-10s %d block%s", label, count, count == 1 ? "" : "s");
    if (count > 0) {
        printf(" (blocks %d-%d", first, first + count - 1);
        if (lm->has_plan && lm->plan.src_layer) {
            printf("; base layers");
            for (int i = 0; i < count; i++) printf("%s%d", i ? "," : " ", lm->plan.src_layer[first + i]);
        }
        printf(")");
    }
    printf("\n");
}

int cmd_info(int argc, char **argv)
{
    const char *model = NULL, *tok = NULL;
    long depth = 0;
    static const struct option opts[] = {{"model", 1, 0, 'm'}, {"tokenizer", 1, 0, 'T'},
                                         {"depth", 1, 0, 'r'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:r:h", opts, NULL)) != -1) {
        if (c == 'm') model = optarg;
        else if (c == 'T') tok = optarg;
        else if (c == 'r') {
            if (app_parse_int("info", "-r", optarg, 1, 4096, &depth)) return 2;
        } else if (c == 'h') {
            printf("usage: retrobench info -m MODEL [--tokenizer TOK] [-r DEPTH]\n");
            return 0;
        } else return app_bad_option("info", c, argv);
    }
    if (optind < argc) {
        fprintf(stderr, "retrobench info: unexpected argument '%s'\n", argv[optind]);
        return APP_EXIT_USAGE;
    }
    app_model am;
    int rc = app_model_load(&am, "info", model, tok, 0, APP_LOAD_HEADERS);
    if (rc) return rc;
    const rb_config *cfg = &am.lm.cfg;
    rb_param_counts pc;
    rb_param_table tab;
    rb_error err = {0};
    if (rb_param_table_build(&tab, cfg, &err) != RB_OK) {
        fprintf(stderr, "retrobench info: %s: %s\n", model, err.msg);
        app_model_close(&am);
        return APP_EXIT_INPUT;
    }
    rb_param_table_counts(&tab, cfg, &pc);
    rb_param_table_free(&tab);
    printf("model      %s (%s)\n", model, rb_model_format_name(am.lm.format));
    printf("block      %s, dim %d, %d heads x %d (KV heads %d), MLP %d, vocab %d\n",
           cfg->block == RB_BLOCK_OLMO2 ? "olmo2" : "llama", cfg->dim, cfg->n_heads, cfg->head_dim,
           cfg->n_kv_heads, cfg->hidden_dim, cfg->vocab_size);
    printf("norm       RMSNorm eps %g\n", (double)cfg->norm_eps);
    printf("rope       theta %g, %s pairs%s, context %d\n", (double)cfg->rope_theta,
           cfg->rope_layout == RB_ROPE_HALF ? "half-split" : "adjacent",
           cfg->rope_scaling == RB_ROPE_SCALING_LLAMA3 ? ", llama3 scaling" : "", cfg->max_seq_len);
    printf("head       %s\n", cfg->tied_head ? "tied to the embedding" : "untied");
    if (am.lm.tok) {
        char id[96];
        printf("tokenizer  %s (%s), BOS %d, EOS %d\n", app_tok_identity(am.lm.tok, id, sizeof id),
               am.lm.tok_embed_value ? "embedded in the checkpoint"
               : am.lm.tokenizer_path[0] ? am.lm.tokenizer_path : "from the model file",
               am.lm.bos_id, am.lm.n_eos ? am.lm.eos_ids[0] : -1);
    } else {
        printf("tokenizer  none (give --tokenizer to generate)\n");
    }
    if (rb_config_is_recurrent(cfg)) {
        printf("recurrent  yes: prelude, adapter Linear(%d -> %d), recurrent block x r, coda\n",
               2 * cfg->dim, cfg->dim);
        printf("state      %s", cfg->state_init == RB_STATE_ZERO ? "zeros\n" : "");
        if (cfg->state_init != RB_STATE_ZERO)
            printf("truncated normal, sigma %.6g, +-3 sigma\n", (double)cfg->state_sigma);
    } else {
        printf("recurrent  no (plain model)\n");
    }
    printf("layers\n");
    print_layers("prelude", 0, cfg->n_prelude, &am.lm);
    print_layers("recurrent", cfg->n_prelude, cfg->n_recur, &am.lm);
    print_layers("coda", cfg->n_prelude + cfg->n_recur, cfg->n_coda, &am.lm);
    if (am.lm.has_plan)
        printf("  surgery from %s (%d layers), adapter init %s\n",
               am.lm.plan.base_model[0] ? am.lm.plan.base_model : "(unnamed base)",
               am.lm.plan.n_src_layers, am.lm.plan.adapter_init);
    printf("parameters %zu total: embedding %zu, prelude %zu, recurrent %zu (adapter %zu), coda %zu, "
           "final norm %zu, head %zu\n", pc.total, pc.embed, pc.prelude, pc.recur, pc.adapter,
           pc.coda, pc.final_norm, pc.head);
    size_t core = pc.recur - pc.adapter;
    /* Inference counts every matrix a token goes through, the LM head
     * included (V x h, tied or not: a tied head is the same multiply);
     * embedding lookups and attention scores are excluded. */
    const double head = (double)cfg->vocab_size * cfg->dim;
    printf("FLOPs/token (METHOD.md: training at mean recurrence r with backprop depth 8; inference 2 x "
           "(parameters on the path + the LM head's V x h), attention excluded)\n");
    int depths[] = {1, 2, 4, 8, 16, 32, 64};
    int nd = 7;
    if (depth > 0) {
        depths[0] = (int)depth;
        nd = 1;
    }
    if (!rb_config_is_recurrent(cfg)) {
        printf("  static: training %.4g, inference %.4g\n",
               rb_flops_per_token_static(pc.total - pc.embed - pc.head),
               2.0 * ((double)pc.prelude + pc.coda + pc.final_norm + head));
    } else {
        for (int i = 0; i < nd; i++) {
            int r = depths[i];
            double train = rb_flops_per_token_scheduled(pc.prelude, core, pc.coda, r, 8);
            double infer = 2.0 * ((double)pc.prelude + (double)r * pc.recur + pc.coda +
                                  pc.final_norm + head);
            printf("  r = %-3d training %.4g, inference %.4g\n", r, train, infer);
        }
    }
    printf("compute    %s\n", rb_blas_env_note());
    app_model_close(&am);
    return 0;
}
