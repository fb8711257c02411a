/* cmd_convert.c: `retrobench convert -m IN -o OUT`: OUT ending in
 * .safetensors is a retrobench checkpoint (any model); any other OUT is a
 * Hugging Face folder (plain models only). */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "app_model.h"
#include "cli.h"

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

int cmd_convert(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *tok = NULL;
    static const struct option opts[] = {{"model", 1, 0, 'm'}, {"output", 1, 0, 'o'},
                                         {"tokenizer", 1, 0, 'T'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:o:h", opts, NULL)) != -1) {
        if (c == 'm') in = optarg;
        else if (c == 'o') out = optarg;
        else if (c == 'T') tok = optarg;
        else if (c == 'h') {
            printf("usage: retrobench convert -m IN -o OUT.safetensors | -o OUT_FOLDER (Hugging Face)\n");
            return 0;
        } else return 2;
    }
    if (!out) {
        fprintf(stderr, "retrobench convert: no output; use -o OUT.safetensors or -o FOLDER\n");
        return 2;
    }
    if (ends_with(out, ".gguf") || ends_with(out, ".bin")) {
        fprintf(stderr, "retrobench convert: writing %s is not supported; write a retrobench "
                        ".safetensors or a Hugging Face folder\n", out);
        return 2;
    }
    app_model am;
    int rc = app_model_open(&am, "convert", in, tok, 0);
    if (rc) return rc;
    rb_error err = {0};
    rb_status st;
    if (ends_with(out, ".safetensors")) {
        /* keep the source checkpoint's extra metadata (tokenizer, special
         * ids, training state), so a checkpoint converts to itself */
        const char *keys[64], *vals[64];
        int n = 0;
        cJSON *meta = am.lm.metadata_json ? cJSON_Parse(am.lm.metadata_json) : NULL;
        const cJSON *it;
        cJSON_ArrayForEach(it, meta)
        {
            if (n < 64 && cJSON_IsString(it) && strcmp(it->string, "format") &&
                strcmp(it->string, "config") && strcmp(it->string, "plan")) {
                keys[n] = it->string;
                vals[n++] = it->valuestring;
            }
        }
        st = rb_checkpoint_save(out, &am.lm.cfg, am.lm.params, am.lm.has_plan ? &am.lm.plan : NULL,
                                keys, vals, n, &err);
        cJSON_Delete(meta);
    } else {
        const char *tj = tok ? tok : am.lm.tokenizer_path;
        if (tj && !ends_with(tj, ".json")) tj = NULL; /* only tokenizer.json belongs in an HF folder */
        st = rb_hf_folder_save(out, &am.lm.cfg, am.lm.params, tj, am.lm.bos_id,
                               am.lm.n_eos ? am.lm.eos_ids[0] : -1, &err);
    }
    if (st != RB_OK) {
        fprintf(stderr, "retrobench convert: %s\n", err.msg);
        rc = 1;
    } else {
        fprintf(stderr, "retrobench convert: %s (%s) -> %s\n", in, rb_model_format_name(am.lm.format), out);
    }
    app_model_close(&am);
    return rc;
}
