/* app_data.c: before training or scoring, every token file is checked
 * against the model: the tokenizer that made the data must be the model's
 * (by identity, docs/data-and-checkpoints.md), or the run would learn or
 * score ids that mean other pieces. Ids themselves are checked when the
 * trainer opens the files (rb_tokfile_open). */
#include <stdio.h>

#include "app_data.h"
#include "app_model.h"
#include "rb_data.h"

int app_data_problem(const rb_loaded_model *lm, const char *path, char *msg, size_t cap)
{
    rb_error err = {0};
    rb_tokfile_info in;
    msg[0] = '\0';
    if (rb_tokfile_read_info(path, &in, &err) != RB_OK) {
        snprintf(msg, cap, "%s", err.msg);
        return 1;
    }
    const char *mname = lm->tokenizer_path[0] ? lm->tokenizer_path
                        : lm->tok_embed_value ? "embedded in the checkpoint" : lm->source;
    if (!lm->tok) {
        /* nothing to compare with: the sizes at least, and say what is missing */
        if ((int64_t)in.vocab_size > lm->cfg.vocab_size) {
            snprintf(msg, cap, "%s holds ids of a %u-id vocabulary but the model %s "
                               "has %d embedding rows; pack the text with the model's tokenizer "
                               "(retrobench data -m MODEL)", path, in.vocab_size, lm->source,
                     lm->cfg.vocab_size);
            return 1;
        }
        snprintf(msg, cap, "warning: %s carries no tokenizer, so the tokenizer of %s "
                           "cannot be checked against it; give the model's tokenizer with "
                           "--tokenizer", lm->source, path);
        return 0;
    }
    const uint64_t want = rb_tokenizer_identity(lm->tok);
    const int nv = rb_tokenizer_vocab_size(lm->tok);
    char ms[96];
    app_tok_identity(lm->tok, ms, sizeof ms);
    if (in.tok_identity == 0) {
        if ((int)in.vocab_size != nv) {
            snprintf(msg, cap, "%s (%s format %u) was packed by a tokenizer of %u ids, "
                               "not by the model's (%s: %s); pack the text again with `retrobench "
                               "data -m MODEL`", path,
                     in.version < 2 ? "old" : "unidentified", in.version, in.vocab_size, mname, ms);
            return 1;
        }
        snprintf(msg, cap, "warning: %s does not record which tokenizer made it (%s); "
                           "its %u-id vocabulary has the size of the model's tokenizer (%s: %s), so "
                           "it is used; pack the text again with `retrobench data` to record it",
                 path, in.version < 2 ? "written before token files did" : "written without one",
                 in.vocab_size, mname, ms);
        return 0;
    }
    if (in.tok_identity != want) {
        snprintf(msg, cap, "%s was made by another tokenizer (%u pieces, identity "
                           "%016llx) than the model's (%s: %s); pack the text again with the model's "
                           "tokenizer: retrobench data -m MODEL ...", path, in.vocab_size,
                 (unsigned long long)in.tok_identity, mname, ms);
        return 1;
    }
    return 0;
}

int app_check_data(const char *cmd, const rb_loaded_model *lm, const rb_train_source *src, int n)
{
    for (int i = 0; i < n; i++) {
        char msg[2048];
        int bad = app_data_problem(lm, src[i].path, msg, sizeof msg);
        if (msg[0]) fprintf(stderr, "retrobench %s: %s\n", cmd, msg);
        if (bad) return APP_EXIT_INPUT;
    }
    return 0;
}
