/* cmd_convert.c: `retrobench convert -m IN -o OUT`:
 *   OUT ending in .safetensors: a retrobench checkpoint (any model), which
 *     carries the tokenizer (embedded in its metadata);
 *   OUT ending in .json: the tokenizer alone, as a Hugging Face
 *     tokenizer.json (IN may be a model or a tokenizer file);
 *   any other OUT: a Hugging Face folder (plain models only): config.json,
 *     model.safetensors and tokenizer.json, whatever the tokenizer's source
 *     (tokenizer.json, llama2.c tokenizer.bin, GGUF vocabulary). */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_model.h"
#include "cli.h"

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

static int is_embed_key(const char *k)
{
    return !strcmp(k, RB_CKPT_TOKENIZER_JSON) || !strcmp(k, RB_CKPT_TOKENIZER_BIN) ||
           !strcmp(k, RB_CKPT_TOKENIZER_GGUF) || !strcmp(k, "tokenizer");
}

/* OUT.json: the tokenizer as tokenizer.json. */
static int write_tokenizer_json(const char *in, const char *tok_path, const char *out)
{
    rb_tokenizer *tok = NULL;
    rb_loaded_model lm;
    int rc = app_open_tokenizer("convert", in, tok_path, &tok, &lm);
    if (rc) return rc;
    rb_error err = {0};
    rb_status st;
    if (lm.tok) {
        st = rb_tokenizer_save_json(&lm, out, &err);
    } else {
        /* a tokenizer file given directly */
        rb_loaded_model tmp;
        memset(&tmp, 0, sizeof tmp);
        tmp.tok = tok;
        snprintf(tmp.tokenizer_path, sizeof tmp.tokenizer_path, "%s", in ? in : tok_path);
        st = rb_tokenizer_save_json(&tmp, out, &err);
    }
    char id[96];
    if (st != RB_OK) {
        fprintf(stderr, "retrobench convert: %s\n", err.msg);
        rc = APP_EXIT_INPUT;
    } else {
        fprintf(stderr, "retrobench convert: %s -> %s (tokenizer.json; %s)\n", in ? in : tok_path, out,
                app_tok_identity(tok, id, sizeof id));
    }
    if (lm.tok) rb_loaded_model_free(&lm);
    else rb_tokenizer_free(tok);
    return rc;
}

int cmd_convert(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *tok = NULL;
    static const struct option opts[] = {{"model", 1, 0, 'm'}, {"output", 1, 0, 'o'},
                                         {"tokenizer", 1, 0, 'T'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:o:h", opts, NULL)) != -1) {
        if (c == 'm') in = optarg;
        else if (c == 'o') out = optarg;
        else if (c == 'T') tok = optarg;
        else if (c == 'h') {
            printf("usage: retrobench convert -m IN [--tokenizer TOK] -o OUT.safetensors | -o OUT.json "
                   "| -o OUT_FOLDER\n"
                   "OUT.safetensors: a retrobench checkpoint (the tokenizer embedded)\n"
                   "OUT.json: the tokenizer alone, as a Hugging Face tokenizer.json\n"
                   "OUT_FOLDER: a Hugging Face folder (config.json, model.safetensors, tokenizer.json)\n");
            return 0;
        } else return app_bad_option("convert", c, argv);
    }
    if (optind < argc) {
        fprintf(stderr, "retrobench convert: unexpected argument '%s'\n", argv[optind]);
        return APP_EXIT_USAGE;
    }
    if (!out) {
        fprintf(stderr, "retrobench convert: no output; use -o OUT.safetensors, -o OUT.json or -o FOLDER\n");
        return APP_EXIT_USAGE;
    }
    if (ends_with(out, ".gguf") || ends_with(out, ".bin")) {
        fprintf(stderr, "retrobench convert: writing %s is not supported; write a retrobench "
                        ".safetensors, a tokenizer .json or a Hugging Face folder\n", out);
        return APP_EXIT_USAGE;
    }
    if (ends_with(out, ".json")) {
        if (!in && !tok) {
            fprintf(stderr, "retrobench convert: no input; use -m MODEL_OR_TOKENIZER\n");
            return APP_EXIT_USAGE;
        }
        return write_tokenizer_json(in, tok, out);
    }
    app_model am;
    int rc = app_model_load(&am, "convert", in, tok, 0, APP_LOAD_HOST);
    if (rc) return rc;
    rb_error err = {0};
    rb_status st;
    char *tok_value = NULL, *tok_text = NULL;
    if (ends_with(out, ".safetensors")) {
        /* keep the source checkpoint's extra metadata (special ids, training
         * state), so a checkpoint converts to itself; the tokenizer is
         * (re-)embedded from what was loaded */
        const char *keys[64], *vals[64];
        int n = 0;
        cJSON *meta = am.lm.metadata_json ? cJSON_Parse(am.lm.metadata_json) : NULL;
        const cJSON *it;
        cJSON_ArrayForEach(it, meta)
        {
            if (n < 60 && cJSON_IsString(it) && strcmp(it->string, "format") &&
                strcmp(it->string, "config") && strcmp(it->string, "plan") &&
                strcmp(it->string, "bos_token_id") && strcmp(it->string, "eos_token_id") &&
                !is_embed_key(it->string)) {
                keys[n] = it->string;
                vals[n++] = it->valuestring;
            }
        }
        rc = app_checkpoint_meta("convert", &am.lm, keys, vals, &n, &tok_value);
        st = rc ? RB_EINVAL
                : rb_checkpoint_save(out, &am.lm.cfg, am.lm.params, am.lm.has_plan ? &am.lm.plan : NULL,
                                     keys, vals, n, &err);
        cJSON_Delete(meta);
    } else {
        size_t tok_len = 0;
        st = am.lm.tok ? rb_loaded_model_tokenizer_json(&am.lm, &tok_text, &tok_len, &err) : RB_OK;
        if (st == RB_OK)
            st = rb_hf_folder_save_text(out, &am.lm.cfg, am.lm.params, tok_text, tok_len, am.lm.bos_id,
                                        am.lm.n_eos ? am.lm.eos_ids[0] : -1, &err);
        if (st == RB_OK && !am.lm.tok)
            fprintf(stderr, "retrobench convert: warning: %s carries no tokenizer, so %s has no "
                            "tokenizer.json; give one with --tokenizer\n", in, out);
    }
    if (rc) {
        /* message printed */
    } else if (st != RB_OK) {
        fprintf(stderr, "retrobench convert: %s\n", err.msg);
        rc = APP_EXIT_INPUT;
    } else {
        fprintf(stderr, "retrobench convert: %s (%s) -> %s\n", in, rb_model_format_name(am.lm.format), out);
    }
    free(tok_value);
    free(tok_text);
    app_model_close(&am);
    return rc;
}
