/* vw_format.h: numbers as the panes print them, in few columns.
 *
 * Every function writes a NUL-terminated string into buf (cap bytes) and
 * returns buf; NaN and infinities print as "nan", "inf", "-inf", and a
 * duration that is not known (negative or not finite) prints as "--". */
#ifndef VW_FORMAT_H
#define VW_FORMAT_H

#include <stddef.h>

/* SI prefixes for counts and rates: 950 -> "950", 12345 -> "12.3k",
 * 1.2e12 -> "1.20T", 3 significant digits; below 1: "0.5", "1.2e-3". */
char *vw_fmt_si(double v, char *buf, size_t cap);

/* A short general number (losses, learning rates, KL): 3 significant
 * digits, exponent form only when it is shorter ("2.31", "0.0153", "1e-05"
 * -> "1e-5", "3.5e+12" -> "3.5e12"). */
char *vw_fmt_num(double v, char *buf, size_t cap);

/* Durations: "45s", "3m05s", "1h02m", "2d03h"; under 10 s one decimal
 * ("1.5s"), under 1 s milliseconds ("250ms"). */
char *vw_fmt_duration(double seconds, char *buf, size_t cap);

/* Seconds left when `done` of `total` units took `elapsed` seconds at a
 * steady rate; -1 when that is unknown (nothing done, no total). */
double vw_eta(double done, double total, double elapsed);

/* A fraction as a percentage: 0.4567 -> "45.7%"; clamped to [0, 100]. */
char *vw_fmt_percent(double frac, char *buf, size_t cap);

#endif
