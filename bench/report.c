/* SPDX-License-Identifier: MIT */
/* report.c - turns the result lines of one benchmark run into bench.md (a
 * table per placement, then the typed path against its targets) and
 * bench.jsonl (one line per result, with its ratio to the raw AF_UNIX
 * baseline of the same case, size, placement and metric; codec rows to
 * libcbor's). Usage: bench_report RESULTS OUTDIR [TITLE]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct row {
    char kase[64];
    char transport[64];
    size_t size;
    char placement[16];
    char metric[32];
    double value;
    double min;
    double max;
    unsigned runs;
    int has_spread;
} row;

static int parse(const char *line, row *r)
{
    memset(r, 0, sizeof(*r));
    int used = 0;
    if (sscanf(line,
               "{\"case\":\"%63[^\"]\",\"transport\":\"%63[^\"]\",\"size\":%zu,"
               "\"placement\":\"%15[^\"]\",\"metric\":\"%31[^\"]\",\"value\":%lf%n",
               r->kase, r->transport, &r->size, r->placement, r->metric, &r->value, &used) < 6) {
        return -1;
    }
    const char *rest = line + used;
    int more = 0;
    if (sscanf(rest, ",\"min\":%lf,\"max\":%lf%n", &r->min, &r->max, &more) >= 2 && more > 0) {
        r->has_spread = 1;
        rest += more;
    }
    if (sscanf(rest, ",\"runs\":%u", &r->runs) != 1) {
        r->runs = 1;
    }
    return 0;
}

static const row *find(const row *rows, size_t n, const char *kase, const char *transport,
                       size_t size, const char *placement, const char *metric)
{
    for (size_t i = 0; i < n; i++) {
        const row *b = &rows[i];
        if (strcmp(b->kase, kase) == 0 && strcmp(b->transport, transport) == 0 && b->size == size &&
            strcmp(b->placement, placement) == 0 && strcmp(b->metric, metric) == 0) {
            return b;
        }
    }
    return NULL;
}

static const row *baseline(const row *rows, size_t n, const row *r)
{
    if (strcmp(r->kase, "codec") == 0) {
        const row *b = find(rows, n, "codec", "libcbor-item", r->size, r->placement, r->metric);
        return b != NULL && b->value > 0 ? b : NULL;
    }
    if (strcmp(r->kase, "rtt") != 0 && strcmp(r->kase, "tput") != 0) {
        return NULL;
    }
    /* bench_shm's rows against its own raw row, measured beside them. */
    const char *raw = strncmp(r->transport, "shm-", 4) == 0 ? "shm-raw-unix" : "raw-unix";
    for (size_t i = 0; i < n; i++) {
        const row *b = &rows[i];
        if (strcmp(b->transport, raw) == 0 && strcmp(b->kase, r->kase) == 0 && b->size == r->size &&
            strcmp(b->placement, r->placement) == 0 && strcmp(b->metric, r->metric) == 0 &&
            b->value > 0) {
            return b;
        }
    }
    return NULL;
}

static void fmt_size(char *buf, size_t len, size_t size)
{
    if (size == 0) {
        snprintf(buf, len, "-");
    } else if (size >= (1u << 20) && size % (1u << 20) == 0) {
        snprintf(buf, len, "%zu MiB", size >> 20);
    } else if (size >= 1024 && size % 1024 == 0) {
        snprintf(buf, len, "%zu KiB", size >> 10);
    } else {
        snprintf(buf, len, "%zu B", size);
    }
}

static void fmt_num(char *buf, size_t len, double v)
{
    if (v >= 1e6) {
        snprintf(buf, len, "%.3g M", v / 1e6);
    } else if (v >= 100) {
        snprintf(buf, len, "%.0f", v);
    } else if (v >= 10) {
        snprintf(buf, len, "%.1f", v);
    } else {
        snprintf(buf, len, "%.2f", v);
    }
}

static const char *placement_title(const char *p)
{
    if (strcmp(p, "same") == 0) {
        return "both processes on CPU 0";
    }
    if (strcmp(p, "split") == 0) {
        return "processes on CPU 0 and CPU 1";
    }
    return p;
}

/* "12.3 (met)" or "12.3 (missed)", or "-" without a value. */
static void fmt_target(char *buf, size_t len, const row *r, double value, int met)
{
    char v[32];
    if (r == NULL) {
        snprintf(buf, len, "-");
        return;
    }
    fmt_num(v, sizeof(v), value);
    snprintf(buf, len, "%s (%s)", v, met ? "met" : "missed");
}

/* The typed path's targets (issue 17), each row of the same run: typed
 * 3-key 64 B one-way against seam's raw-bytes path, allocations per typed
 * message, and the codec against libcbor's items. */
static void typed_summary(FILE *md, const row *rows, size_t n)
{
    fprintf(md, "\n## Typed path (same run)\n\n"
                "| measure | value | target |\n|---|---:|---|\n");
    const char *placements[] = {"same", "split"};
    for (size_t p = 0; p < 2; p++) {
        const row *typed =
            find(rows, n, "tput", "seam-poll-typed", 64, placements[p], "msgs_per_s");
        const row *raw = find(rows, n, "tput", "seam-poll", 64, placements[p], "msgs_per_s");
        if (typed == NULL || raw == NULL || raw->value <= 0) {
            continue;
        }
        char a[64], b[64];
        double ratio = typed->value / raw->value;
        fmt_target(a, sizeof(a), typed, typed->value, typed->value >= 6e6);
        if (raw->value < 20e6) {
            /* The target holds where the raw path reaches 20 M. */
            fmt_num(a, sizeof(a), typed->value);
            strncat(a, " (raw < 20 M)", sizeof(a) - strlen(a) - 1);
        }
        fmt_target(b, sizeof(b), typed, ratio, ratio >= 0.35);
        fprintf(md, "| typed 64 B msg/s, `%s` | %s | >= 6 M where raw >= 20 M |\n", placements[p],
                a);
        fprintf(md, "| typed / raw-bytes 64 B, `%s` | %s | >= 0.35 |\n", placements[p], b);
    }
    const char *allocs[][2] = {{"receiver_per_msg", "1"}, {"sender_per_msg", "0"}};
    for (size_t i = 0; i < 2; i++) {
        const row *r = find(rows, n, "allocs", "seam-poll-typed", 64, "same", allocs[i][0]);
        char a[64];
        /* "0" means none beyond the few a run's start makes (a queue grows). */
        fmt_target(a, sizeof(a), r, r != NULL ? r->value : 0,
                   r != NULL && r->value <= atof(allocs[i][1]) + 0.01);
        fprintf(md, "| allocations, %s (typed 64 B) | %s | <= %s |\n", allocs[i][0], a,
                allocs[i][1]);
    }
    const row *seam = find(rows, n, "codec", "seam", 64, "same", "roundtrips_per_s");
    const row *cbor = find(rows, n, "codec", "libcbor-item", 64, "same", "roundtrips_per_s");
    if (seam != NULL && cbor != NULL && cbor->value > 0) {
        char a[32], b[32];
        fmt_num(a, sizeof(a), seam->value);
        fmt_num(b, sizeof(b), cbor->value);
        fprintf(md,
                "| encode+decode+read, seam / libcbor items (%s / %s per s) | %.2f | compared |\n",
                a, b, seam->value / cbor->value);
    }
}

/* The shared-memory targets (issue 13), seam's rings against the raw
 * socket of the same bench_shm run; set for the same CPU, shown for both. */
static void shm_summary(FILE *md, const row *rows, size_t n)
{
    static const struct {
        const char *kase;
        size_t size;
        const char *metric;
        const char *what;
        double target;
        int lower;
    } t[] = {
        {"rtt", 64, "median_us", "64 B call RTT", 0.6, 1},
        {"tput", 64, "msgs_per_s", "64 B one-way msgs/s", 1.0, 0},
        {"tput", 1u << 20, "MB_per_s", "1 MiB one-way MB/s", 2.0, 0},
    };
    const char *placements[] = {"same", "split"};
    int any = 0;
    for (size_t p = 0; p < 2; p++) {
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
            const row *r =
                find(rows, n, t[i].kase, "shm-seam-rings", t[i].size, placements[p], t[i].metric);
            const row *b = r != NULL ? baseline(rows, n, r) : NULL;
            if (b == NULL) {
                continue;
            }
            if (!any) {
                fprintf(md, "\n## Shared memory (bench_shm, same run)\n\n"
                            "| measure | rings / raw | target (set for `same`) |\n"
                            "|---|---:|---|\n");
                any = 1;
            }
            char a[64];
            double ratio = r->value / b->value;
            fmt_target(a, sizeof(a), r, ratio,
                       t[i].lower ? ratio <= t[i].target : ratio >= t[i].target);
            fprintf(md, "| %s, `%s` | %s | %s %.1fx |\n", t[i].what, placements[p], a,
                    t[i].lower ? "<=" : ">=", t[i].target);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s RESULTS OUTDIR [TITLE]\n", argv[0]);
        return 2;
    }
    FILE *in = fopen(argv[1], "r");
    if (in == NULL) {
        perror(argv[1]);
        return 1;
    }
    size_t cap = 256, n = 0;
    row *rows = malloc(cap * sizeof(*rows));
    char line[1024];
    while (rows != NULL && fgets(line, sizeof(line), in) != NULL) {
        if (n == cap) {
            cap *= 2;
            row *more = realloc(rows, cap * sizeof(*rows));
            if (more == NULL) {
                break;
            }
            rows = more;
        }
        if (parse(line, &rows[n]) == 0) {
            n++;
        }
    }
    fclose(in);
    if (rows == NULL) {
        return 1;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/bench.jsonl", argv[2]);
    FILE *js = fopen(path, "w");
    snprintf(path, sizeof(path), "%s/bench.md", argv[2]);
    FILE *md = fopen(path, "w");
    if (js == NULL || md == NULL) {
        perror(path);
        return 1;
    }
    for (size_t i = 0; i < n; i++) {
        const row *r = &rows[i];
        const row *b = baseline(rows, n, r);
        fprintf(js,
                "{\"case\":\"%s\",\"transport\":\"%s\",\"size\":%zu,\"placement\":\"%s\","
                "\"metric\":\"%s\",\"value\":%.6g",
                r->kase, r->transport, r->size, r->placement, r->metric, r->value);
        if (b != NULL) {
            fprintf(js, ",\"ratio_to_raw\":%.4f", r->value / b->value);
        } else {
            fprintf(js, ",\"ratio_to_raw\":null");
        }
        if (r->has_spread) {
            fprintf(js, ",\"min\":%.6g,\"max\":%.6g", r->min, r->max);
        }
        fprintf(js, ",\"runs\":%u}\n", r->runs);
    }
    fprintf(md, "# %s\n", argc > 3 ? argv[3] : "seam benchmarks");
    const char *placements[] = {"same", "split"};
    for (size_t p = 0; p < 2; p++) {
        int any = 0;
        for (size_t i = 0; i < n; i++) {
            const row *r = &rows[i];
            if (strcmp(r->placement, placements[p]) != 0) {
                continue;
            }
            if (!any) {
                fprintf(md,
                        "\n## Placement `%s`: %s\n\n"
                        "| case | transport | size | metric | value | spread (min-max) | "
                        "ratio to raw |\n"
                        "|---|---|---|---|---:|---:|---:|\n",
                        placements[p], placement_title(placements[p]));
                any = 1;
            }
            char size[32], val[32], lo[32], hi[32], ratio[32] = "";
            fmt_size(size, sizeof(size), r->size);
            fmt_num(val, sizeof(val), r->value);
            const row *b = baseline(rows, n, r);
            if (b != NULL) {
                snprintf(ratio, sizeof(ratio), "%.2f", r->value / b->value);
            }
            char spread[80] = "";
            if (r->has_spread) {
                fmt_num(lo, sizeof(lo), r->min);
                fmt_num(hi, sizeof(hi), r->max);
                snprintf(spread, sizeof(spread), "%s - %s", lo, hi);
            }
            fprintf(md, "| %s | %s | %s | %s | %s | %s | %s |\n", r->kase, r->transport, size,
                    r->metric, val, spread, ratio);
        }
    }
    typed_summary(md, rows, n);
    shm_summary(md, rows, n);
    fclose(js);
    fclose(md);
    free(rows);
    return 0;
}
