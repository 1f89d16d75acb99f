/*
 * bench_json.c — throughput of the nd-json record scanner (src/format/json.c)
 * on realistic wiki-edit events, beside jansson on the same records in the
 * same run.
 *
 * Generates BENCH_JSON_EVENTS (default 1,000,000) events with wikigen into
 * one buffer, then for each parser runs over every record, touching every
 * top-level member (key bytes, kind, string bytes, number value) and folding
 * them into a checksum so nothing is optimised away. The best of three passes
 * is reported as records/s and MB/s, and the scanner's speed as a multiple of
 * jansson's (json_loadb + iterating the object).
 */
#include "format/json.h"
#include "util/util.h"
#include "util/wikigen.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct corpus {
    char *data;
    size_t *off; /* record i is data[off[i] .. off[i+1]-1), a '\n' excluded */
    size_t n;
};

static uint64_t fold(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3ull; }

static uint64_t touch_bytes(uint64_t h, const char *p, size_t n)
{
    h = fold(h, n);
    if (n)
        h = fold(h, (unsigned char)p[0] + ((uint64_t)(unsigned char)p[n - 1] << 8));
    return h;
}

static uint64_t run_scanner(const struct corpus *c, char *scratch, size_t scratch_cap,
                            long *errors)
{
    uint64_t h = 0;
    struct format_json_iter it;
    struct format_json_member m;
    struct lerr err;
    for (size_t i = 0; i < c->n; i++) {
        const char *p = c->data + c->off[i];
        size_t len = c->off[i + 1] - c->off[i] - 1;
        err.code = LERR_OK;
        if (format_json_iter_init(&it, p, len, scratch, scratch_cap, &err) < 0) {
            (*errors)++;
            continue;
        }
        int r;
        while ((r = format_json_iter_next(&it, &m, &err)) == 1) {
            h = touch_bytes(h, m.key, m.key_len);
            h = fold(h, m.v.kind);
            switch (m.v.kind) {
            case FORMAT_JSON_KIND_STRING: h = touch_bytes(h, m.v.str, m.v.str_len); break;
            case FORMAT_JSON_KIND_NUMBER:
                h = fold(h, (m.v.num_flags & FORMAT_JSON_NUM_INT) ? (uint64_t)m.v.i
                                                                  : (uint64_t)m.v.d);
                break;
            case FORMAT_JSON_KIND_OBJECT:
            case FORMAT_JSON_KIND_ARRAY: h = touch_bytes(h, m.v.raw, m.v.raw_len); break;
            default: break;
            }
        }
        if (r < 0)
            (*errors)++;
    }
    return h;
}

static uint64_t run_jansson(const struct corpus *c, long *errors)
{
    uint64_t h = 0;
    for (size_t i = 0; i < c->n; i++) {
        const char *p = c->data + c->off[i];
        size_t len = c->off[i + 1] - c->off[i] - 1;
        json_error_t je;
        json_t *o = json_loadb(p, len, 0, &je);
        if (!o) {
            (*errors)++;
            continue;
        }
        const char *key;
        json_t *v;
        json_object_foreach(o, key, v) {
            h = touch_bytes(h, key, strlen(key));
            h = fold(h, json_typeof(v));
            switch (json_typeof(v)) {
            case JSON_STRING:
                h = touch_bytes(h, json_string_value(v), json_string_length(v));
                break;
            case JSON_INTEGER: h = fold(h, (uint64_t)json_integer_value(v)); break;
            case JSON_REAL: h = fold(h, (uint64_t)json_real_value(v)); break;
            default: break;
            }
        }
        json_decref(o);
    }
    return h;
}

int main(void)
{
    const char *env = getenv("BENCH_JSON_EVENTS");
    size_t n = env ? (size_t)strtoull(env, NULL, 10) : 1000000;
    if (n == 0)
        n = 1;
    struct corpus c = {NULL, malloc((n + 1) * sizeof(size_t)), n};
    struct buf b;
    buf_init(&b, 0);
    struct wikigen *g = wikigen_new(2015);
    if (!c.off || !g) {
        fprintf(stderr, "bench_json: out of memory\n");
        return 1;
    }
    int64_t t0 = 1442016000000LL; /* 2015-09-12 */
    for (size_t i = 0; i < n; i++) {
        c.off[i] = b.len;
        /* ~11.6 events per second, as in a busy hour of the real feed */
        if (!wikigen_next(g, t0 + (int64_t)i * 86, &b) || !buf_putc(&b, '\n')) {
            fprintf(stderr, "bench_json: out of memory generating events\n");
            return 1;
        }
    }
    c.off[n] = b.len;
    c.data = b.data;
    wikigen_free(g);
    double mb = (double)b.len / 1e6;
    printf("corpus: %zu wikigen events, %.1f MB, %.1f bytes/record\n", n, mb, (double)b.len / n);

    /* A scratch as long as the longest record never runs out. */
    size_t maxrec = 0;
    for (size_t i = 0; i < n; i++)
        if (c.off[i + 1] - c.off[i] > maxrec)
            maxrec = c.off[i + 1] - c.off[i];
    char *scratch = malloc(maxrec + 1);

    double best_s = 1e30, best_j = 1e30;
    uint64_t hs = 0, hj = 0;
    long es = 0, ej = 0;
    for (int pass = 0; pass < 3; pass++) {
        es = 0;
        int64_t a = util_mono_ns();
        hs = run_scanner(&c, scratch, maxrec + 1, &es);
        int64_t z = util_mono_ns();
        if ((z - a) / 1e9 < best_s)
            best_s = (z - a) / 1e9;
    }
    for (int pass = 0; pass < 3; pass++) {
        ej = 0;
        int64_t a = util_mono_ns();
        hj = run_jansson(&c, &ej);
        int64_t z = util_mono_ns();
        if ((z - a) / 1e9 < best_j)
            best_j = (z - a) / 1e9;
    }
    printf("json scanner: %10.0f records/s  %7.1f MB/s  (%.3f s, %ld errors, checksum %016llx)\n",
           n / best_s, mb / best_s, best_s, es, (unsigned long long)hs);
    printf("jansson     : %10.0f records/s  %7.1f MB/s  (%.3f s, %ld errors, checksum %016llx)\n",
           n / best_j, mb / best_j, best_j, ej, (unsigned long long)hj);
    printf("ratio: scanner/jansson = %.1fx\n", best_j / best_s);
    free(scratch);
    free(c.off);
    buf_free(&b);
    return es || ej ? 1 : 0;
}
