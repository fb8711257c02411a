/* vw_format.c: see vw_format.h. */
#include "vw_format.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int nonfinite(double v, char *buf, size_t cap)
{
    if (isnan(v)) snprintf(buf, cap, "nan");
    else if (isinf(v)) snprintf(buf, cap, v > 0 ? "inf" : "-inf");
    else return 0;
    return 1;
}

/* Drop a "+" and leading zeros from an exponent: "1e-05" -> "1e-5". */
static void tidy_exponent(char *s)
{
    char *e = strchr(s, 'e');
    if (!e) return;
    char *p = e + 1, *q = e + 1;
    if (*p == '+') p++;
    else if (*p == '-') *q++ = *p++;
    while (*p == '0' && p[1]) p++;
    memmove(q, p, strlen(p) + 1);
}

char *vw_fmt_num(double v, char *buf, size_t cap)
{
    if (nonfinite(v, buf, cap)) return buf;
    if (v == 0) {
        snprintf(buf, cap, "0");
        return buf;
    }
    char a[32], b[32];
    snprintf(a, sizeof a, "%.3g", v);
    tidy_exponent(a);
    /* the exponent form, trailing zeros of the mantissa dropped: keep the shorter */
    snprintf(b, sizeof b, "%.2e", v);
    char *e = strchr(b, 'e'), *m = e;
    while (m > b && m[-1] == '0') m--;
    if (m > b && m[-1] == '.') m--;
    memmove(m, e, strlen(e) + 1);
    tidy_exponent(b);
    snprintf(buf, cap, "%s", strlen(b) < strlen(a) ? b : a);
    return buf;
}

char *vw_fmt_si(double v, char *buf, size_t cap)
{
    if (nonfinite(v, buf, cap)) return buf;
    static const char pre[] = " kMGTPE";
    double av = fabs(v);
    if (av < 1000) {
        if (av >= 1 || av == 0) {
            /* integers print plainly, others with 3 significant digits */
            if (v == floor(v)) snprintf(buf, cap, "%.0f", v);
            else snprintf(buf, cap, "%.3g", v);
        } else {
            vw_fmt_num(v, buf, cap);
        }
        return buf;
    }
    int k = 0;
    while (av >= 999.5 && k < 6) {
        av /= 1000;
        v /= 1000;
        k++;
    }
    if (av >= 999.5) { /* beyond exa: exponent form */
        snprintf(buf, cap, "%.2e", v * pow(1000, k));
        tidy_exponent(buf);
        return buf;
    }
    if (av < 9.995) snprintf(buf, cap, "%.2f%c", v, pre[k]);
    else if (av < 99.95) snprintf(buf, cap, "%.1f%c", v, pre[k]);
    else snprintf(buf, cap, "%.0f%c", v, pre[k]);
    return buf;
}

char *vw_fmt_duration(double s, char *buf, size_t cap)
{
    if (!isfinite(s) || s < 0) {
        snprintf(buf, cap, "--");
        return buf;
    }
    if (s < 1) {
        snprintf(buf, cap, "%.0fms", s * 1000);
        return buf;
    }
    if (s < 9.95) {
        snprintf(buf, cap, "%.1fs", s);
        return buf;
    }
    double r = floor(s + 0.5);
    if (r < 60) {
        snprintf(buf, cap, "%.0fs", r);
        return buf;
    }
    long long t = (long long)r;
    if (t < 3600) snprintf(buf, cap, "%lldm%02llds", t / 60, t % 60);
    else if (t < 86400) snprintf(buf, cap, "%lldh%02lldm", t / 3600, (t % 3600) / 60);
    else snprintf(buf, cap, "%lldd%02lldh", t / 86400, (t % 86400) / 3600);
    return buf;
}

double vw_eta(double done, double total, double elapsed)
{
    if (!(done > 0) || !(total > 0) || !isfinite(elapsed) || elapsed < 0 || !isfinite(total))
        return -1;
    if (done >= total) return 0;
    return elapsed / done * (total - done);
}

char *vw_fmt_percent(double frac, char *buf, size_t cap)
{
    if (isnan(frac)) {
        snprintf(buf, cap, "--");
        return buf;
    }
    double p = frac * 100;
    if (p < 0) p = 0;
    if (p > 100) p = 100;
    snprintf(buf, cap, "%.1f%%", p);
    return buf;
}
