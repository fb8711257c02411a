/* cmd_demo.c: what `retrobench` does with no arguments (until the TUI
 * lands): the embedded default experiment.
 *
 * The first run builds sample-data/ with the project's own commands from the
 * public assets in ../shared/assets: TinyStories text packed with the
 * stories260K tokenizer, stories260K cut to (P,R,C) = (1,2,1) (layers
 * 0 | 2,3 | 4), and a short healing run with the paper's recipe (1-sqrt
 * curriculum to rbar 4, Muon + AdamW). Training checkpoints as it goes, so an
 * interrupted first run resumes. Then it shows the healed model's answers at
 * test depths 1, 2, 4 and 8 and the latent state converging at depth 8. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "rb_train.h"

static int exists(const char *p) { return access(p, R_OK) == 0; }

/* The repository root: the folder above the executable's folder (build/). */
static void repo_root(char *buf, size_t len)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) {
        snprintf(buf, len, ".");
        return;
    }
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    slash = strrchr(exe, '/');
    if (slash) *slash = '\0';
    snprintf(buf, len, "%s", exe);
}

static int run(int (*fn)(int, char **), char **argv)
{
    int argc = 0;
    while (argv[argc]) argc++;
    return fn(argc, argv);
}

int cmd_demo(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    char root[PATH_MAX], assets[PATH_MAX + 64], sd[PATH_MAX + 32];
    repo_root(root, sizeof root);
    const char *env = getenv("RB_ASSETS_DIR");
    snprintf(assets, sizeof assets, "%s", env ? env : "");
    if (!env) {
        char tmp[PATH_MAX + 32];
        snprintf(tmp, sizeof tmp, "%s/../shared/assets", root);
        if (!realpath(tmp, assets)) snprintf(assets, sizeof assets, "%s", tmp);
    }
    snprintf(sd, sizeof sd, "%s/sample-data", root);
    char model[PATH_MAX + 160], tok[PATH_MAX + 160], text[PATH_MAX + 200], data[PATH_MAX + 64];
    char surg[PATH_MAX + 64], run_dir[PATH_MAX + 64], ck[PATH_MAX + 512];
    snprintf(model, sizeof model, "%s/stories260K/stories260K.bin", assets);
    snprintf(tok, sizeof tok, "%s/stories260K/tok512.bin", assets);
    snprintf(text, sizeof text, "%s/tinystories/tinystories_train_prefix_niklas6.txt", assets);
    snprintf(data, sizeof data, "%s/tinystories-256.rbtok", sd);
    snprintf(surg, sizeof surg, "%s/stories260K-121.safetensors", sd);
    snprintf(run_dir, sizeof run_dir, "%s/healed", sd);
    if (!exists(model) || !exists(tok) || !exists(text)) {
        fprintf(stderr, "retrobench: the default experiment needs the public assets in %s "
                        "(stories260K, tinystories); set RB_ASSETS_DIR to their folder, or run a "
                        "command (retrobench help)\n", assets);
        return 2;
    }
    if (mkdir(sd, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "retrobench: cannot create %s: %s\n", sd, strerror(errno));
        return 1;
    }
    int rc;
    if (!exists(data)) {
        fprintf(stderr, "== building sample-data: TinyStories packed into rows of 257 tokens\n");
        char *a[] = {"data", "-m", tok, "--text", text, "--seq", "256", "-o", data, NULL};
        if ((rc = run(cmd_data, a))) return rc;
    }
    if (!exists(surg)) {
        fprintf(stderr, "== surgery: stories260K -> (P,R,C) = (1,2,1)\n");
        char *a[] = {"surgery", "-m", model, "--tokenizer", tok, "--prc", "1,2,1", "-o", surg, NULL};
        if ((rc = run(cmd_surgery, a))) return rc;
    }
    char latest[256];
    int done = 0;
    if (rb_train_latest_checkpoint(run_dir, latest, sizeof latest, NULL) == RB_OK) {
        snprintf(ck, sizeof ck, "%s/%s/model.safetensors", run_dir, latest);
        done = !strcmp(latest, "step-00000200");
    }
    if (!done) {
        fprintf(stderr, "== healing: 200 steps, 1-sqrt curriculum to rbar 4, Muon + AdamW "
                        "(checkpointed; an interrupted run resumes)\n");
        char *a[] = {"train", "-m", surg, "--data", data, "--steps", "200", "--batch", "8",
                     "--rbar", "4", "--lr-muon", "0.01", "--lr-adam", "0.003", "--ckpt-every", "50",
                     "--val-depths", "1,2,4,8", "--out", run_dir, "--resume", "--quiet", NULL};
        if ((rc = run(cmd_train, a))) return rc;
        if (rb_train_latest_checkpoint(run_dir, latest, sizeof latest, NULL) != RB_OK) return 1;
        snprintf(ck, sizeof ck, "%s/%s/model.safetensors", run_dir, latest);
    }
    const char *prompt = "Once upon a time, there was a little";
    printf("retrobench: the default experiment (stories260K retrofitted to (1,2,1), healed on "
           "TinyStories)\nmodel %s\n\n", ck);
    fflush(stdout);
    const char *depths[] = {"1", "2", "4", "8"};
    for (int i = 0; i < 4; i++) {
        printf("-- test depth r = %s\n", depths[i]);
        fflush(stdout);
        char *a[] = {"generate", "-m", ck, "-p", (char *)prompt, "-n", "40", "-r", (char *)depths[i],
                     "--seed", "1", NULL};
        if ((rc = run(cmd_generate, a))) return rc;
        fflush(stdout);
    }
    printf("\n-- the latent state converging at depth 8 (next token after the prompt)\n");
    fflush(stdout);
    char *a[] = {"trace", "-m", ck, "-p", (char *)prompt, "-r", "8", NULL};
    rc = run(cmd_trace, a);
    printf("\nMore: retrobench help; retrobench generate -m %s -p \"...\" -r 16\n", ck);
    return rc;
}
