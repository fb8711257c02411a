/* cmd_train.c: `retrobench train`: the paper's recipe from the command
 * line, a thin front end of the runner (runner.h).
 *
 * The recipe flags and their help come from the engine's table of training
 * settings (rb_train_fields.h); this file adds the model, the run folder,
 * checkpoint cadence, resume and a second phase, then prints what the
 * runner reports: progress to stderr, one JSON object per step to
 * OUT/metrics.jsonl (written by the runner), checkpoints to OUT (or
 * OUT/phase1 and OUT/phase2 for a two-phase run) every --ckpt-every steps,
 * at the end, and on SIGINT / SIGTERM. --resume continues from the newest
 * checkpoint and repeats an uninterrupted run exactly. Two phases (healing,
 * then a mixture) restart the optimizer and the schedules between them, as
 * in METHOD.md.
 *
 * Under `mpirun -np N` every rank runs this command as one data-parallel
 * group (app/dist.h, docs/distributed.md): rank 0 prints progress and
 * writes the run folder; the others print only their own errors, prefixed
 * with their rank; SIGUSR1, which mpirun forwards to every rank, stops the
 * group like SIGINT does a single process. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app_data.h"
#include "app_model.h"
#include "cli.h"
#include "dist.h"
#include "rb_train.h"
#include "rb_train_fields.h"
#include "runner.h"

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the stop flag is set from a signal handler");
static atomic_int stop_flag;
static void on_signal(int sig) { atomic_store(&stop_flag, sig); }

/* options of this front end (not recipe settings); values below 1000 */
enum { OPT_TOKENIZER = 'T', OPT_CKPT = 'k', OPT_RESUME = 'z', OPT_QUIET = 'q', OPT_P2_DATA = '2',
       OPT_P2_STEPS = '3', OPT_P2_RBAR = '4', OPT_FUSE = 'j', OPT_FIELD = 1000 };

static const struct {
    const char *name, *arg, *group, *help;
    int val;
} own_opts[] = {
    {"model", "MODEL", NULL, "the model to train (any format retrobench reads)", 'm'},
    {"tokenizer", "FILE", NULL, "its tokenizer, when the model file carries none", OPT_TOKENIZER},
    {"fuse", NULL, NULL, "orthogonalise q|k|v and gate|up as one matrix each even for the static "
                         "baseline (whose default, as the paper's, is separate matrices)", OPT_FUSE},
    {"out", "DIR", NULL, "the run folder: metrics.jsonl and the checkpoints", 'o'},
    {"ckpt-every", "N", "output", "steps between checkpoints (0: at the end)", OPT_CKPT},
    {"resume", NULL, "output", "continue the run in --out from its newest checkpoint", OPT_RESUME},
    {"quiet", NULL, "output", "no progress line per step", OPT_QUIET},
    {"phase2-data", "FILE[:W]", "phase 2", "data of a second phase (repeatable)", OPT_P2_DATA},
    {"phase2-steps", "N", "phase 2", "its steps", OPT_P2_STEPS},
    {"phase2-rbar", "R", "phase 2", "its rbar (4); the optimizer and schedules restart, the other "
                                    "settings carry over", OPT_P2_RBAR},
    {"help", NULL, NULL, "this text", 'h'},
};
#define N_OWN (int)(sizeof own_opts / sizeof own_opts[0])

static void help_line(FILE *f, const char *flag, const char *arg, const char *help, const char *def)
{
    char left[200];
    snprintf(left, sizeof left, "--%s%s%s", flag, arg ? " " : "", arg ? arg : "");
    if (strlen(left) > 26) fprintf(f, "  %s\n  %-26s %s", left, "", help);
    else fprintf(f, "  %-26s %s", left, help);
    if (def && *def) fprintf(f, " (%s)", def);
    fputc('\n', f);
}

static void usage(FILE *f)
{
    int nf;
    const rb_train_field *fl = rb_train_fields(&nf);
    rb_train_config d;
    rb_train_config_default(&d, 4);
    rb_train_config_resolve(&d, NULL);
    fprintf(f, "usage: retrobench train -m MODEL --data FILE[:WEIGHT] [--data ...] --steps N --out DIR "
               "[options]\n");
    for (int i = 0; i < N_OWN; i++)
        if (!own_opts[i].group) help_line(f, own_opts[i].name, own_opts[i].arg, own_opts[i].help, NULL);
    static const char *groups[] = {"data", "depth", "optimizer", "schedule", "eval"};
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        fprintf(f, "%s:\n", groups[g]);
        for (int i = 0; i < nf; i++) {
            if (!fl[i].flag || strcmp(fl[i].group, groups[g])) continue;
            int dup = 0; /* a flag shared by two settings is listed once */
            for (int j = 0; j < i; j++) dup |= fl[j].flag && !strcmp(fl[j].flag, fl[i].flag);
            if (dup) continue;
            char def[160] = "", arg[160] = "";
            /* the default, unless the help line says how it is chosen */
            if (fl[i].flags & RB_TF_REQUIRED)
                snprintf(def, sizeof def, "required");
            else if (fl[i].type != RB_TF_BOOL && !strstr(fl[i].help, "default"))
                rb_train_field_format(&d, &fl[i], def, sizeof def);
            if (fl[i].type == RB_TF_CHOICE) /* the choices: 1-sqrt|linear|constant */
                for (const rb_train_choice *chc = fl[i].choices; chc->name; chc++)
                    snprintf(arg + strlen(arg), sizeof arg - strlen(arg), "%s%s", chc == fl[i].choices ? "" : "|",
                             chc->name);
            else if (fl[i].type != RB_TF_BOOL)
                snprintf(arg, sizeof arg, "%s", fl[i].arg);
            help_line(f, fl[i].flag, arg[0] ? arg : NULL, fl[i].help, def);
        }
    }
    static const char *own_groups[] = {"output", "phase 2"};
    for (int g = 0; g < 2; g++) {
        fprintf(f, "%s:\n", own_groups[g]);
        for (int i = 0; i < N_OWN; i++)
            if (own_opts[i].group && !strcmp(own_opts[i].group, own_groups[g]))
                help_line(f, own_opts[i].name, own_opts[i].arg, own_opts[i].help, NULL);
    }
}

/* ---- printing what the runner reports ---- */

typedef struct {
    int quiet;
    int follower;    /* a rank other than 0 of a group: prints only its own errors and notices */
    int tty;         /* stderr is a terminal: validation progress is drawn in place */
    long long steps; /* of the current phase */
    double tok_acc, sec_acc;
    int val_open;    /* a "final validation:" line is being written */
    char vline[1024]; /* that line so far (redrawn after progress) */
    int vdepth;      /* depth of the last progress drawn */
    double vlast;    /* when it was drawn */
} printer;

static double clock_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void p_phase_start(void *u, const app_run_phase_info *p)
{
    printer *pr = u;
    if (pr->follower) return;
    const rb_train_config *c = p->cfg;
    pr->steps = (long long)c->steps;
    const rb_model *m = p->model;
    char ns[160] = "";
    if (c->optim.kind == RB_OPTIM_MUON)
        snprintf(ns, sizeof ns, " (Newton-Schulz %s%s%s%s)", c->optim.ns_bf16 ? "bf16: " : "fp32",
                 c->optim.ns_bf16 ? m->be->gemm_bf16_impl : "", c->optim.ns_gram ? ", Gram form" : "",
                 c->optim.muon_fuse ? "" : ", unfused");
    fprintf(stderr, "retrobench train: phase %d, %lld steps of %d x %d x %d tokens, rbar to %d (%s), "
                    "optimizer %s%s, checkpoints in %s\n", p->phase, (long long)c->steps, c->grad_accum,
            c->batch, p->seq_len, rb_config_is_recurrent(&m->cfg) ? c->rbar.max_value : 0,
            c->rbar.shape == RB_CURRIC_1SQRT ? "1-sqrt" : c->rbar.shape == RB_CURRIC_LINEAR ? "linear" : "constant",
            c->optim.kind == RB_OPTIM_MUON ? "Muon + AdamW" : "AdamW", ns, p->dir);
}

static void p_resumed(void *u, int phase, const char *dir, const char *name, int64_t step)
{
    if (((printer *)u)->follower) return;
    fprintf(stderr, "retrobench train: phase %d resumed from %s/%s at step %lld\n", phase, dir, name,
            (long long)step);
}

static int p_step(void *u, int phase, const rb_train_metrics *mt, app_run_control *ctl)
{
    (void)ctl;
    printer *pr = u;
    pr->tok_acc += mt->tokens;
    pr->sec_acc += mt->seconds;
    if (pr->quiet || pr->follower) return 0;
    fprintf(stderr, "phase %d step %lld/%lld loss %.4f%s lr x%.3f rbar %d n,k %d,%d gn %.3f  %.0f tok/s",
            phase, (long long)mt->step, pr->steps, mt->loss, mt->skipped ? " (skipped)" : "", mt->lr_mult, mt->rbar,
            mt->n, mt->k, mt->grad_norm, pr->sec_acc > 0 ? pr->tok_acc / pr->sec_acc : 0.0);
    for (int i = 0; i < mt->n_val; i++)
        fprintf(stderr, "%s r=%d %.4f", i ? "" : "  val", mt->val_depth[i], mt->val_loss[i]);
    fputc('\n', stderr);
    return 0;
}

static void p_validation(void *u, const app_run_validation *v)
{
    printer *pr = u;
    size_t len = strlen(pr->vline);
    if (pr->follower) return;
    switch (v->event) {
    case APP_RUN_VAL_START:
        snprintf(pr->vline, sizeof pr->vline, "phase %d %svalidation:", v->phase, v->final ? "final " : "");
        fputs(pr->vline, stderr);
        pr->val_open = 1;
        pr->vdepth = 0;
        break;
    case APP_RUN_VAL_DEPTH:
        snprintf(pr->vline + len, sizeof pr->vline - len, " r=%d %.4f", v->depth, v->loss);
        if (pr->tty) fprintf(stderr, "\r%s\x1b[K", pr->vline); /* over the progress */
        else fprintf(stderr, " r=%d %.4f", v->depth, v->loss);
        if (v->index + 1 == v->count) fputc('\n', stderr), pr->val_open = 0;
        break;
    case APP_RUN_VAL_FAILED:
        if (pr->tty) fprintf(stderr, "\r%s\x1b[K", pr->vline);
        fprintf(stderr, " %s\n", v->message);
        pr->val_open = 0;
        break;
    }
}

/* On a terminal: "phase 1 final validation: r=1 5.1234 r=2 37% of 4000 rows",
 * redrawn at most 5 times a second (and at the start of each depth). */
static void p_progress(void *u, int phase, int depth, uint64_t done, uint64_t total)
{
    (void)phase;
    printer *pr = u;
    if (pr->follower || !pr->tty || !pr->val_open || total == 0) return;
    const double now = clock_s();
    if (depth == pr->vdepth && now - pr->vlast < 0.2) return;
    pr->vdepth = depth;
    pr->vlast = now;
    fprintf(stderr, "\r%s r=%d %d%% of %llu rows\x1b[K", pr->vline, depth, (int)(100 * done / total),
            (unsigned long long)total);
}

static void p_stopping(void *u, int phase, int sig, int64_t step)
{
    printer *pr = u;
    (void)phase;
    pr->val_open = 0;
    if (pr->follower) return;
    fprintf(stderr, "\nretrobench train: %s; saving a checkpoint at step %lld\n",
            sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" : sig == SIGUSR1 ? "SIGUSR1" : "interrupted",
            (long long)step);
}

static void p_message(void *u, const char *msg)
{
    printer *pr = u;
    if (pr->val_open) fputc('\n', stderr), pr->val_open = 0;
    if (pr->follower) fprintf(stderr, "retrobench train (rank %d): %s\n", app_dist_rank(), msg);
    else fprintf(stderr, "retrobench train: %s\n", msg);
}

int cmd_train(int argc, char **argv)
{
    int nf;
    const rb_train_field *fl = rb_train_fields(&nf);
    struct option *opts = calloc((size_t)(nf + N_OWN + 1), sizeof *opts);
    unsigned char *given = calloc((size_t)nf, 1);
    if (!opts || !given) {
        free(opts);
        free(given);
        fprintf(stderr, "retrobench train: out of memory\n");
        return 1;
    }
    int no = 0;
    for (int i = 0; i < N_OWN; i++)
        opts[no++] = (struct option){own_opts[i].name, own_opts[i].arg ? 1 : 0, 0, own_opts[i].val};
    for (int i = 0; i < nf; i++) {
        int dup = 0;
        for (int j = 0; j < i; j++) dup |= fl[j].flag && fl[i].flag && !strcmp(fl[j].flag, fl[i].flag);
        if (fl[i].flag && !dup) opts[no++] = (struct option){fl[i].flag, fl[i].type == RB_TF_BOOL ? 0 : 1, 0, OPT_FIELD + i};
    }

    const char *model = NULL, *tok = NULL, *out = NULL;
    long ckpt_every = 0, p2_steps = 0, p2_rbar = 4;
    int resume = 0, quiet = 0, rc = 2;
    app_run_spec spec;
    memset(&spec, 0, sizeof spec);
    rb_train_config *c = &spec.phases[0];
    rb_train_config_default(c, 4);
    rb_train_config p2src;
    memset(&p2src, 0, sizeof p2src);
    const rb_train_field *src_field = rb_train_field_find("sources");
    rb_error err = {0};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "m:n:o:h", opts, NULL)) != -1) {
        int bad = 0;
        if (ch == 'n') ch = OPT_FIELD + rb_train_field_index(rb_train_field_find("steps"));
        if (ch >= OPT_FIELD && ch < OPT_FIELD + nf) {
            const rb_train_field *f = &fl[ch - OPT_FIELD];
            /* every setting with this flag (--wd: both weight decays) */
            for (int i = 0; i < nf && !bad; i++) {
                if (i != ch - OPT_FIELD && !(f->flag && fl[i].flag && !strcmp(fl[i].flag, f->flag))) continue;
                const char *text = fl[i].type == RB_TF_BOOL ? (fl[i].flags & RB_TF_NEGATE ? "0" : "1") : optarg;
                if (rb_train_field_parse(c, &fl[i], text, &err) != RB_OK) bad = 1;
                given[i] = 1;
            }
            if (bad) fprintf(stderr, "retrobench train: %s\n", err.msg);
        } else {
            switch (ch) {
            case 'm': model = optarg; break;
            case OPT_TOKENIZER: tok = optarg; break;
            case 'o': out = optarg; break;
            case OPT_P2_DATA:
                if (rb_train_field_parse(&p2src, src_field, optarg, &err) != RB_OK)
                    bad = 1, fprintf(stderr, "retrobench train: --phase2-data: %s\n", err.msg);
                break;
            case OPT_P2_STEPS: bad = app_parse_int("train", "--phase2-steps", optarg, 1, 1L << 40, &p2_steps); break;
            case OPT_P2_RBAR: bad = app_parse_int("train", "--phase2-rbar", optarg, 1, 65536, &p2_rbar); break;
            case OPT_CKPT: bad = app_parse_int("train", "--ckpt-every", optarg, 0, 1L << 40, &ckpt_every); break;
            case OPT_RESUME: resume = 1; break;
            case OPT_FUSE:
                c->optim.muon_fuse = 1;
                given[rb_train_field_index(rb_train_field_find("optim.muon_fuse"))] = 1;
                break;
            case OPT_QUIET: quiet = 1; break;
            case 'h': usage(stdout); rc = 0; goto out;
            default: usage(stderr); goto out;
            }
        }
        if (bad) goto out;
    }
    if (!model || !out || c->n_sources == 0) {
        fprintf(stderr, "retrobench train: need -m MODEL, --data FILE and --out DIR (see --help)\n");
        goto out;
    }
    for (int i = 0; i < nf; i++) /* settings without a silent default */
        if ((fl[i].flags & RB_TF_REQUIRED) && fl[i].type != RB_TF_SOURCES && !given[i]) {
            fprintf(stderr, "retrobench train: give --%s %s (%s); there is no default%s\n", fl[i].flag, fl[i].arg,
                    fl[i].help, resume ? ": with --resume, the run's own number" : "");
            goto out;
        }
    rb_train_config_resolve(c, given);
    spec.n_phases = 1;
    if (p2src.n_sources > 0 || p2_steps > 0) {
        if (p2src.n_sources == 0 || p2_steps == 0) {
            fprintf(stderr, "retrobench train: a second phase needs both --phase2-data and --phase2-steps\n");
            goto out;
        }
        rb_train_config *p2 = &spec.phases[1];
        *p2 = *c;
        memcpy(p2->sources, p2src.sources, sizeof p2src.sources);
        p2->n_sources = p2src.n_sources;
        p2->steps = p2_steps;
        p2->rbar.max_value = (int)p2_rbar;
        spec.n_phases = 2;
    }
    /* under mpirun: join the group first, so that a rank that cannot start
     * (a file missing on its node) stops every rank with it */
    if ((rc = app_dist_open("train"))) goto out;
    const int follower = app_dist_rank() != 0;
    app_model am;
    rc = app_model_open(&am, "train", model, tok, 0);
    const int opened = rc == 0;
    /* metadata that makes the checkpoints usable on their own (the tokenizer
     * embedded, app_model.c), and data made by the model's tokenizer only */
    const char *mk[3], *mv[3];
    char *tok_meta = NULL;
    int nm = 0;
    if (!rc) rc = app_checkpoint_meta("train", &am.lm, mk, mv, &nm, &tok_meta);
    /* the static baseline trains Muon on q, k, v, o, gate, up, down as
     * separate matrices, as the paper's (METHOD.md); --fuse / --no-fuse win */
    const int fuse_given = given[rb_train_field_index(rb_train_field_find("optim.muon_fuse"))];
    if (!rc && !fuse_given && c->optim.kind == RB_OPTIM_MUON &&
        !rb_optim_default_fuse(am.lm.has_plan ? am.lm.plan.kind : NULL)) {
        for (int ph = 0; ph < spec.n_phases; ph++) spec.phases[ph].optim.muon_fuse = 0;
        if (!follower)
            fprintf(stderr, "retrobench train: %s is the static baseline: Muon on q, k, v, o, gate, up, down "
                            "as separate matrices (--fuse to fuse)\n", model);
    }
    for (int ph = 0; ph < spec.n_phases && !rc; ph++)
        rc = app_check_data("train", &am.lm, spec.phases[ph].sources, spec.phases[ph].n_sources);
    const int n_failed = app_dist_failures(rc != 0);
    if (n_failed) {
        if (!rc && !follower)
            fprintf(stderr, "retrobench train: %d rank(s) could not start (their messages say why); every rank "
                            "stops\n", n_failed);
        if (!rc) rc = 1;
        goto close;
    }
    if ((rc = app_dist_comm("train", am.m->be, &spec.comm))) goto close;

    spec.model = am.m;
    spec.extras = (rb_ckpt_extras){am.lm.has_plan ? &am.lm.plan : NULL, mk, mv, nm, NULL, 0};
    spec.out_dir = out;
    spec.ckpt_every = ckpt_every;
    spec.resume = resume;
    spec.stop = &stop_flag;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);  /* even when ignored: stopping a run always saves it */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);   /* the terminal went away */
    if (spec.comm) sigaction(SIGUSR1, &sa, NULL); /* mpirun forwards it to every rank */

    printer pr = {.quiet = quiet, .tty = isatty(2), .follower = follower};
    app_run_callbacks cb = {.user = &pr, .phase_start = p_phase_start, .resumed = p_resumed, .step = p_step,
                            .validation = p_validation, .progress = p_progress, .stopping = p_stopping,
                            .notice = p_message, .error = p_message};
    app_run_result res = app_run(&spec, &cb);
    rc = app_run_exit_status(&res);
close:
    free(tok_meta);
    if (opened) app_model_close(&am);
out:
    app_dist_close(); /* every rank waits here for the others (MPI_Finalize) */
    free(opts);
    free(given);
    return rc;
}
