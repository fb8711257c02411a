/* test_tok_unicode.c: the \p{L} / \p{N} tables (engine/tok/tok_unicode_tables.h)
 * against Python's unicodedata, code point by code point over all of
 * U+0000..U+10FFFF, when Python has the Unicode version the tables were
 * generated from (otherwise the comparison would only show the version
 * difference, and the test skips). */
#include "test_tok_common.h"
#include "tok/tok_internal.h"

static const char SCRIPT[] =
    "import sys, unicodedata\n"
    "print(unicodedata.unidata_version)\n"
    "for cats in (('Lu','Ll','Lt','Lm','Lo'), ('Nd','Nl','No')):\n"
    "    r = []\n"
    "    for cp in range(0x110000):\n"
    "        if unicodedata.category(chr(cp)) in cats:\n"
    "            if r and r[-1][1] == cp - 1: r[-1][1] = cp\n"
    "            else: r.append([cp, cp])\n"
    "    print(' '.join('%x-%x' % (a, b) for a, b in r))\n";

static char *lines[3];

static int in_line(const char *line, uint32_t cp)
{
    /* ranges "a-b" separated by spaces, ascending */
    const char *p = line;
    while (*p) {
        char *end;
        unsigned long a = strtoul(p, &end, 16), b = strtoul(end + 1, &end, 16);
        if (cp < a) return 0;
        if (cp <= b) return 1;
        p = end;
        while (*p == ' ') p++;
    }
    return 0;
}

START_TEST(test_classes_match_unicodedata)
{
    int bad = 0;
    /* walk the ranges once per class instead of searching per code point */
    for (int cls = 0; cls < 2; cls++) {
        int (*ours)(uint32_t) = cls == 0 ? rb_tok_is_letter : rb_tok_is_number;
        const char *p = lines[1 + cls];
        uint32_t next = 0;
        while (*p) {
            char *end;
            uint32_t a = (uint32_t)strtoul(p, &end, 16), b = (uint32_t)strtoul(end + 1, &end, 16);
            for (uint32_t cp = next; cp < a; cp++) bad += ours(cp) != 0;
            for (uint32_t cp = a; cp <= b; cp++) bad += ours(cp) != 1;
            next = b + 1;
            p = end;
            while (*p == ' ') p++;
        }
        for (uint32_t cp = next; cp < 0x110000; cp++) bad += ours(cp) != 0;
    }
    ck_assert_msg(in_line(lines[1], 'A') && in_line(lines[2], '7'), "reference tables look wrong");
    printf("Unicode %s: %d code points classified differently\n", rb_tok_unicode_version(), bad);
    ck_assert_int_eq(bad, 0);
}
END_TEST

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *py = tokt_python();
    if (!py) {
        printf("SKIP: needs $RB_SOURCE_DIR/.venv/bin/python, which is absent\n");
        return RB_TEST_SKIP;
    }
    char script[4200], out[4200], cmd[16384];
    snprintf(script, sizeof script, "%s/unicode_ref.py", rb_test_tmpdir());
    snprintf(out, sizeof out, "%s/unicode_ref.txt", rb_test_tmpdir());
    tokt_write_file(script, SCRIPT, strlen(SCRIPT));
    snprintf(cmd, sizeof cmd, "'%s' '%s' > '%s'", py, script, out);
    if (tokt_system(cmd) != 0) {
        printf("FAIL: %s\n", cmd);
        return 1;
    }
    char *all = tokt_read_file(out, NULL);
    char *save = NULL;
    for (int i = 0; i < 3; i++) lines[i] = strtok_r(i ? NULL : all, "\n", &save);
    if (!lines[0] || !lines[1] || !lines[2]) {
        printf("FAIL: unexpected output from %s\n", script);
        return 1;
    }
    if (strcmp(lines[0], rb_tok_unicode_version()) != 0) {
        printf("SKIP: needs Python with Unicode %s (the tables' version), which is absent (it has %s); "
               "regenerate with tests/data/tok/gen_unicode_tables.py to move versions\n",
               rb_tok_unicode_version(), lines[0]);
        return RB_TEST_SKIP;
    }
    Suite *s = suite_create("tok_unicode");
    TCase *tc = tcase_create("unicode");
    tcase_add_test(tc, test_classes_match_unicodedata);
    suite_add_tcase(s, tc);
    int rc = rb_test_run_suite(s);
    free(all);
    return rc;
}
