/* cmd_data.c: `retrobench data`: tokenize text or JSONL with a model's
 * tokenizer and pack it into rows of T + 1 ids (BOS per document, EOS
 * after it), written to a memory-mappable token file, with a progress bar.
 *
 *   retrobench data -m MODEL_OR_TOKENIZER -o OUT.rbtok --seq T
 *       (--text FILE [--separator S] | --jsonl FILE (--field F | --template "Q: {question}\nA: {answer}"))
 *       [--max-docs N] [--no-strip] [--pad]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app_model.h"
#include "cli.h"
#include "rb_data.h"
#include "rb_tokenizer.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: retrobench data -m MODEL_OR_TOKENIZER -o OUT.rbtok --seq T\n"
               "         (--text FILE [--separator S] | --jsonl FILE (--field F | --template T))\n"
               "         [--max-docs N] [--no-strip] [--pad]\n"
               "Documents become BOS doc EOS, packed without gaps into rows of T + 1 ids.\n"
               "In --template, {name} is a JSON field and \\n a newline.\n");
}

static rb_status encode_cb(void *ctx, const char *text, size_t len, int32_t **ids, size_t *n, rb_error *err)
{
    return rb_tokenizer_encode((const rb_tokenizer *)ctx, text, len, 0, ids, n, err);
}

typedef struct {
    double t0, last;
    int tty;
} progress;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int progress_cb(void *ctx, uint64_t done, uint64_t total)
{
    progress *p = ctx;
    double t = now_s();
    if (t - p->last < 0.2 && done < total) return 0;
    p->last = t;
    double frac = total ? (double)done / (double)total : 1;
    int width = 30, fill = (int)(frac * width);
    double rate = (double)done / 1048576.0 / (t - p->t0 + 1e-9);
    double eta = frac > 0 ? (t - p->t0) * (1 - frac) / frac : 0;
    fprintf(stderr, "%s  [%.*s%*s] %5.1f%%  %.1f MiB/s  eta %.0f s%s", p->tty ? "\r" : "",
            fill, "##############################", width - fill, "", frac * 100, rate, eta,
            p->tty ? "" : "\n");
    return 0;
}

/* "\n" and "\t" in a command-line template become the characters. */
static char *unescape(const char *s)
{
    char *o = malloc(strlen(s) + 1), *w = o;
    if (!o) return NULL;
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] == 'n') *w++ = '\n', s++;
        else if (s[0] == '\\' && s[1] == 't') *w++ = '\t', s++;
        else if (s[0] == '\\' && s[1] == '\\') *w++ = '\\', s++;
        else *w++ = *s;
    }
    *w = '\0';
    return o;
}

int cmd_data(int argc, char **argv)
{
    const char *model = NULL, *tok_path = NULL, *out = NULL, *text = NULL, *jsonl = NULL;
    const char *field = NULL, *templ = NULL, *sep = NULL;
    long seq = 0, max_docs = 0;
    int strip = 1, pad = 0;
    static const struct option opts[] = {
        {"model", 1, 0, 'm'}, {"tokenizer", 1, 0, 'T'}, {"output", 1, 0, 'o'}, {"seq", 1, 0, 'S'},
        {"text", 1, 0, 'x'}, {"jsonl", 1, 0, 'j'}, {"field", 1, 0, 'f'}, {"template", 1, 0, 'p'},
        {"separator", 1, 0, 's'}, {"max-docs", 1, 0, 'M'}, {"no-strip", 0, 0, 'N'},
        {"pad", 0, 0, 'P'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:o:h", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'm': model = optarg; break;
        case 'T': tok_path = optarg; break;
        case 'o': out = optarg; break;
        case 'S': bad = app_parse_int("data", "--seq", optarg, 1, 1 << 22, &seq); break;
        case 'x': text = optarg; break;
        case 'j': jsonl = optarg; break;
        case 'f': field = optarg; break;
        case 'p': templ = optarg; break;
        case 's': sep = optarg; break;
        case 'M': bad = app_parse_int("data", "--max-docs", optarg, 1, 0x7fffffffffffffffL, &max_docs); break;
        case 'N': strip = 0; break;
        case 'P': pad = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (bad) return 2;
    }
    if (!out || !seq || !!text == !!jsonl) {
        fprintf(stderr, "retrobench data: need -o OUT, --seq T and exactly one of --text or --jsonl\n");
        return 2;
    }
    if (jsonl && !!field == !!templ) {
        fprintf(stderr, "retrobench data: --jsonl needs exactly one of --field or --template\n");
        return 2;
    }
    rb_tokenizer *tok = NULL;
    rb_loaded_model lm;
    int rc = app_open_tokenizer("data", model, tok_path, &tok, &lm);
    if (rc) return rc;
    rb_error err = {0};
    rb_pack_opts po = {.vocab_size = (uint32_t)rb_tokenizer_vocab_size(tok),
                       .row_len = (uint32_t)seq + 1,
                       .bos_id = rb_tokenizer_bos(tok),
                       .eos_id = rb_tokenizer_eos(tok),
                       .tail = pad ? RB_PACK_PAD : RB_PACK_DROP,
                       .pad_id = rb_tokenizer_eos(tok)};
    char *tpl = templ ? unescape(templ) : NULL;
    rb_packer *pk = NULL;
    progress pr = {now_s(), 0, isatty(2)};
    rb_ingest_opts io;
    rb_ingest_opts_default(&io);
    io.encode = encode_cb;
    io.encode_ctx = tok;
    io.progress = progress_cb;
    io.progress_ctx = &pr;
    io.separator = sep;
    io.field = field;
    io.templ = tpl;
    io.strip = strip;
    io.max_docs = (uint64_t)max_docs;
    rb_ingest_stats is;
    rb_pack_stats ps;
    rb_status st = rb_packer_open(&pk, out, &po, &err);
    if (st == RB_OK) st = text ? rb_ingest_text(text, &io, pk, &is, &err) : rb_ingest_jsonl(jsonl, &io, pk, &is, &err);
    if (pr.tty) fputc('\n', stderr);
    if (st == RB_OK) st = rb_packer_finish(pk, &ps, &err);
    else rb_packer_abort(pk);
    if (st != RB_OK) {
        fprintf(stderr, "retrobench data: %s\n", err.msg);
        rc = 1;
    } else {
        fprintf(stderr, "retrobench data: %llu documents, %llu tokens (%.2f bytes/token) -> %llu rows "
                        "of %ld in %s (%llu tail tokens %s) in %.1f s\n",
                (unsigned long long)is.docs, (unsigned long long)ps.stream_tokens,
                is.tokens ? (double)is.text_bytes / (double)is.tokens : 0.0,
                (unsigned long long)ps.rows, seq + 1, out,
                (unsigned long long)(pad ? ps.pad_tokens : ps.dropped_tokens), pad ? "padded" : "dropped",
                now_s() - pr.t0);
    }
    free(tpl);
    if (lm.tok) rb_loaded_model_free(&lm);
    else rb_tokenizer_free(tok);
    return rc;
}
