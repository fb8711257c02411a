/* cmd_data.c: `retrobench data`: tokenize text or JSONL with a model's
 * tokenizer and pack it into rows of T + 1 ids (BOS per document, EOS
 * after it), written to a memory-mappable token file that records the
 * tokenizer's identity, with a progress bar.
 *
 *   retrobench data -m MODEL_OR_TOKENIZER -o OUT.rbtok --seq T
 *       (--text FILE [--separator S] | --jsonl FILE (--field F | --template "Q: {question}\nA: {answer}"))
 *       [--max-docs N] [--no-strip] [--pad]
 *
 * --text without --separator splits at the end-of-text marker the text uses:
 * "<|endoftext|>" or the tokenizer's EOS piece, whichever occurs more often
 * (none: the file is one document); --separator '' keeps the file whole.
 * A run that would write no row fails and says why, leaving no file. */
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
               "--text splits at <|endoftext|> or the tokenizer's EOS text, whichever the file\n"
               "uses; --separator S splits at S instead, --separator '' not at all.\n"
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
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:o:h", opts, NULL)) != -1) {
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
        default: return app_bad_option("data", c, argv);
        }
        if (bad) return APP_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "retrobench data: unexpected argument '%s'\n", argv[optind]);
        return APP_EXIT_USAGE;
    }
    if (!model && !tok_path) {
        fprintf(stderr, "retrobench data: no tokenizer; use -m MODEL_OR_TOKENIZER\n");
        return APP_EXIT_USAGE;
    }
    if (!out || !seq || !!text == !!jsonl) {
        fprintf(stderr, "retrobench data: need -o OUT, --seq T and exactly one of --text or --jsonl\n");
        return APP_EXIT_USAGE;
    }
    if (jsonl && !!field == !!templ) {
        fprintf(stderr, "retrobench data: --jsonl needs exactly one of --field or --template\n");
        return APP_EXIT_USAGE;
    }
    if (jsonl && sep) {
        fprintf(stderr, "retrobench data: --separator splits --text files; JSONL has one document per line\n");
        return APP_EXIT_USAGE;
    }
    rb_tokenizer *tok = NULL;
    rb_loaded_model lm;
    int rc = app_open_tokenizer("data", model, tok_path, &tok, &lm);
    if (rc) return rc;
    rb_error err = {0};
    char ident[96];
    app_tok_identity(tok, ident, sizeof ident);
    /* the end-of-text marker the text uses, unless told */
    char eos_text[256] = "";
    if (text && !sep) {
        const char *ep = rb_tokenizer_eos(tok) >= 0 ? rb_tokenizer_piece(tok, rb_tokenizer_eos(tok)) : NULL;
        if (ep) { /* llama2.c spells EOS "\n</s>\n" */
            size_t a = strspn(ep, "\n"), b = strlen(ep);
            while (b > a && ep[b - 1] == '\n') b--;
            if (b - a < sizeof eos_text) snprintf(eos_text, sizeof eos_text, "%.*s", (int)(b - a), ep + a);
        }
        const char *cand[2] = {"<|endoftext|>", eos_text[0] && strcmp(eos_text, "<|endoftext|>") ? eos_text : NULL};
        uint64_t best = 0;
        for (int i = 0; i < 2 && cand[i]; i++) {
            uint64_t n = 0;
            if (rb_text_count(text, cand[i], &n, &err) != RB_OK) {
                fprintf(stderr, "retrobench data: %s\n", err.msg);
                if (lm.tok) rb_loaded_model_free(&lm);
                else rb_tokenizer_free(tok);
                return APP_EXIT_INPUT;
            }
            if (n > best) {
                best = n;
                sep = cand[i];
            }
        }
        if (sep)
            fprintf(stderr, "retrobench data: %s holds \"%s\" %llu times: splitting documents there "
                            "(--separator '' keeps the file whole)\n", text, sep, (unsigned long long)best);
        else
            fprintf(stderr, "retrobench data: %s holds no end-of-text marker (\"<|endoftext|>\"%s%s%s): "
                            "it is one document; give --separator S to split it\n", text,
                    cand[1] ? ", \"" : "", cand[1] ? cand[1] : "", cand[1] ? "\"" : "");
    }
    rb_pack_opts po = {.vocab_size = (uint32_t)rb_tokenizer_vocab_size(tok),
                       .row_len = (uint32_t)seq + 1,
                       .bos_id = rb_tokenizer_bos(tok),
                       .eos_id = rb_tokenizer_eos(tok),
                       .tail = pad ? RB_PACK_PAD : RB_PACK_DROP,
                       .pad_id = rb_tokenizer_eos(tok),
                       .tok_identity = rb_tokenizer_identity(tok)};
    char *tpl = templ ? unescape(templ) : NULL;
    rb_packer *pk = NULL;
    progress pr = {now_s(), 0, isatty(2)};
    rb_ingest_opts io;
    rb_ingest_opts_default(&io);
    io.encode = encode_cb;
    io.encode_ctx = tok;
    io.progress = progress_cb;
    io.progress_ctx = &pr;
    io.separator = sep && sep[0] ? sep : NULL;
    io.field = field;
    io.templ = tpl;
    io.strip = strip;
    io.max_docs = (uint64_t)max_docs;
    rb_ingest_stats is;
    rb_pack_stats ps;
    rb_status st = rb_packer_open(&pk, out, &po, &err);
    if (st == RB_OK) st = text ? rb_ingest_text(text, &io, pk, &is, &err) : rb_ingest_jsonl(jsonl, &io, pk, &is, &err);
    if (pr.tty) fputc('\n', stderr);
    if (st == RB_OK) {
        /* a file without rows trains and scores nothing: refuse it, saying why */
        rb_packer_get_stats(pk, &ps);
        uint64_t rows = ps.stream_tokens / po.row_len + (pad && ps.stream_tokens % po.row_len ? 1 : 0);
        const char *in = text ? text : jsonl;
        if (rows == 0) {
            if (is.bytes == 0)
                snprintf(err.msg, sizeof err.msg, "%s is empty: no documents, no rows; nothing was "
                         "written", in);
            else if (is.docs == 0)
                snprintf(err.msg, sizeof err.msg, "%s: all %llu documents are empty (after "
                         "stripping whitespace): no rows; nothing was written", in,
                         (unsigned long long)is.skipped);
            else
                snprintf(err.msg, sizeof err.msg, "%s: its %llu tokens (%llu documents with BOS and "
                         "EOS) do not fill one row of %ld ids: no rows, nothing was written; use "
                         "--seq %llu or less, more text, or --pad", in,
                         (unsigned long long)ps.stream_tokens, (unsigned long long)is.docs, seq + 1,
                         (unsigned long long)(ps.stream_tokens > 1 ? ps.stream_tokens - 1 : 1));
            rb_packer_abort(pk);
            st = RB_EINVAL;
        } else {
            st = rb_packer_finish(pk, &ps, &err);
        }
    } else {
        rb_packer_abort(pk);
    }
    if (st != RB_OK) {
        fprintf(stderr, "retrobench data: %s\n", err.msg);
        rc = APP_EXIT_INPUT;
    } else {
        fprintf(stderr, "retrobench data: %llu documents, %llu tokens (%.2f bytes/token) -> %llu rows "
                        "of %ld in %s (%llu tail tokens %s) in %.1f s; tokenizer %s\n",
                (unsigned long long)is.docs, (unsigned long long)ps.stream_tokens,
                is.tokens ? (double)is.text_bytes / (double)is.tokens : 0.0,
                (unsigned long long)ps.rows, seq + 1, out,
                (unsigned long long)(pad ? ps.pad_tokens : ps.dropped_tokens), pad ? "padded" : "dropped",
                now_s() - pr.t0, ident);
    }
    free(tpl);
    if (lm.tok) rb_loaded_model_free(&lm);
    else rb_tokenizer_free(tok);
    return rc;
}
