/*
 * bench_pipeline.c — throughput of the row pipeline (src/ingest/pipeline.c):
 * nd-json records → parse → 10 mappings → a columnar batch, on one core,
 * over realistic wiki-edit events, beside jansson parsing the same records
 * (parse only) in the same run.
 *
 * Generates BENCH_PIPELINE_EVENTS (default 500,000) events with wikigen and
 * runs, best of BENCH_PIPELINE_PASSES (default 5) passes each:
 *   pipeline   pipeline_process() in batches of 4096 records, the batch
 *              arena reset per batch as the job runner does, with the
 *              mappings of a typical wiki job (TIME_PARSE, LOWER, CASE,
 *              COALESCE, arithmetic, CONCAT and identities)
 *   jansson    json_loadb + json_decref over every record (the reference)
 * Prints rows/s and MB/s, and the pipeline as a multiple of jansson.
 * BENCH_PIPELINE_JANSSON=0 skips the reference (for profiling the pipeline).
 * The goal is 1M rows/s per core (about 430 MB/s).
 */
#include "ingest/ingest.h"
#include "util/util.h"
#include "util/wikigen.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 4096

static const char spec[] =
    "{\"type\": \"streaming\", \"target\": {\"type\": \"table\", \"tableName\": \"wiki\"},"
    " \"source\": {\"type\": \"connection\", \"connectionName\": \"push\","
    "  \"inputSchema\": ["
    "   {\"name\": \"time\", \"dataType\": \"string\"},"
    "   {\"name\": \"channel\", \"dataType\": \"string\"},"
    "   {\"name\": \"cityName\", \"dataType\": \"string\"},"
    "   {\"name\": \"isRobot\", \"dataType\": \"long\"},"
    "   {\"name\": \"namespace\", \"dataType\": \"string\"},"
    "   {\"name\": \"page\", \"dataType\": \"string\"},"
    "   {\"name\": \"user\", \"dataType\": \"string\"},"
    "   {\"name\": \"added\", \"dataType\": \"long\"},"
    "   {\"name\": \"deleted\", \"dataType\": \"long\"}],"
    "  \"formatSettings\": {\"format\": \"nd-json\"}},"
    " \"mappings\": ["
    "  {\"columnName\": \"__time\", \"expression\": \"TIME_PARSE(\\\"time\\\")\"},"
    "  {\"columnName\": \"channel\", \"expression\": \"channel\"},"
    "  {\"columnName\": \"page\", \"expression\": \"LOWER(page)\"},"
    "  {\"columnName\": \"user\", \"expression\": \"\\\"user\\\"\"},"
    "  {\"columnName\": \"robot\", \"expression\":"
    "     \"CASE WHEN \\\"isRobot\\\" THEN 1 ELSE 0 END\"},"
    "  {\"columnName\": \"city\", \"expression\": \"COALESCE(\\\"cityName\\\", 'unknown')\"},"
    "  {\"columnName\": \"net\", \"expression\": \"added - deleted\"},"
    "  {\"columnName\": \"added\", \"expression\": \"added\"},"
    "  {\"columnName\": \"deleted\", \"expression\": \"deleted\"},"
    "  {\"columnName\": \"ns\", \"expression\": \"CONCAT(\\\"namespace\\\", ':', page)\"}]}";

struct corpus {
    char *data;
    size_t *off; /* record i is data[off[i] .. off[i+1]-1), its '\n' excluded */
    size_t n;
};

static uint64_t fold(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3ull; }

/* Reads every output value, so nothing the pipeline wrote goes unused. */
static uint64_t touch_batch(const struct pipeline_out *out, uint64_t h)
{
    for (uint32_t r = 0; r < out->nrows; r++)
        h = fold(h, (uint64_t)out->time[r]);
    for (uint32_t c = 0; c < out->ncols; c++) {
        const struct sql_value *v = out->values[c];
        for (uint32_t r = 0; v && r < out->nrows; r++) {
            if (v[r].is_null)
                h = fold(h, 7);
            else if (v[r].type == SQL_STRING)
                h = fold(h, v[r].v.s.n ? (unsigned char)v[r].v.s.p[0] + v[r].v.s.n : 0);
            else
                h = fold(h, (uint64_t)v[r].v.l);
        }
    }
    return h;
}

static int run_pipeline(struct pipeline *p, const struct corpus *c,
                        struct format_record *recs, uint64_t *sum)
{
    struct arena mem;
    /* One block holds a whole batch, so a reset keeps it (see bench_format.c). */
    arena_init(&mem, 16 << 20, 0);
    uint64_t h = 0;
    int rc = 0;
    for (size_t i = 0; i < c->n && !rc; i += BATCH) {
        size_t n = c->n - i < BATCH ? c->n - i : BATCH;
        arena_reset(&mem);
        struct pipeline_out out;
        struct lerr err;
        lerr_init(&err);
        rc = pipeline_process(p, recs + i, n, &mem, &out, NULL, NULL, &err);
        if (rc)
            fprintf(stderr, "bench_pipeline: %s\n", err.msg);
        else if (out.nrows != n)
            rc = fprintf(stderr, "bench_pipeline: %u rows out of %zu\n", out.nrows, n);
        h = touch_batch(&out, h);
    }
    arena_destroy(&mem);
    *sum = h;
    return rc;
}

static int run_jansson(const struct corpus *c, uint64_t *sum)
{
    uint64_t h = 0;
    for (size_t i = 0; i < c->n; i++) {
        json_error_t je;
        json_t *o = json_loadb(c->data + c->off[i], c->off[i + 1] - c->off[i] - 1, 0, &je);
        if (!o)
            return 1;
        h = fold(h, json_object_size(o));
        json_decref(o);
    }
    *sum = h;
    return 0;
}

int main(void)
{
    const char *env = getenv("BENCH_PIPELINE_EVENTS");
    size_t n = env ? strtoull(env, NULL, 10) : 500000;
    env = getenv("BENCH_PIPELINE_PASSES");
    int passes = env ? atoi(env) : 5;
    env = getenv("BENCH_PIPELINE_JANSSON");
    bool reference = !env || strcmp(env, "0") != 0;
    struct wikigen *g = wikigen_new(42);
    struct buf b;
    buf_init(&b, 0);
    struct corpus c = {.off = malloc((n + 1) * sizeof(size_t)), .n = n};
    struct format_record *recs = calloc(n + 1, sizeof *recs);
    if (!g || !c.off || !recs)
        return 1;
    /* Times from 2015-09-12 on, as the quickstart data. */
    for (size_t i = 0; i < n; i++) {
        c.off[i] = b.len;
        wikigen_next(g, 1442016000000LL + (int64_t)i * 7, &b);
        buf_putc(&b, '\n');
    }
    c.off[n] = b.len;
    c.data = b.data;
    wikigen_free(g);
    for (size_t i = 0; i < n; i++)
        recs[i] = (struct format_record){.data = c.data + c.off[i],
                                         .len = c.off[i + 1] - c.off[i] - 1,
                                         .offset = (int64_t)i};
    double mb = (double)b.len / 1e6;
    printf("%zu wiki events, %.1f MB (%.0f bytes each), batches of %d, best of %d\n", n, mb,
           (double)b.len / (double)n, BATCH, passes);

    struct pipeline_opts po = {spec, sizeof spec - 1, NULL, 1442016000000LL};
    struct pipeline *p = NULL;
    struct lerr err;
    lerr_init(&err);
    if (pipeline_new(&po, &p, &err)) {
        fprintf(stderr, "bench_pipeline: %s: %s\n", err.target, err.msg);
        return 1;
    }
    double best_p = 1e30, best_j = 1e30;
    uint64_t sum_p = 0, sum_j = 0;
    for (int pass = 0; pass < passes; pass++) {
        /* Interleaved, so both see the same machine load. */
        int64_t t0 = util_mono_ns();
        if (run_pipeline(p, &c, recs, &sum_p))
            return 1;
        int64_t t1 = util_mono_ns();
        if (reference && run_jansson(&c, &sum_j)) {
            fprintf(stderr, "bench_pipeline: jansson failed on a record\n");
            return 1;
        }
        int64_t t2 = util_mono_ns();
        double sp = (double)(t1 - t0) / 1e9, sj = (double)(t2 - t1) / 1e9;
        best_p = sp < best_p ? sp : best_p;
        best_j = sj < best_j ? sj : best_j;
    }
    struct pipeline_counters cnt;
    pipeline_counters(p, &cnt);
    if (cnt.processed != n * (size_t)passes) {
        fprintf(stderr, "bench_pipeline: %llu rows processed cleanly, want %zu\n",
                (unsigned long long)cnt.processed, n * (size_t)passes);
        return 1;
    }
    printf("pipeline  %10.0f rows/s  %7.1f MB/s  %5.2fx jansson  (checksum %016llx)\n",
           (double)n / best_p, mb / best_p, best_j / best_p, (unsigned long long)sum_p);
    if (reference)
        printf("jansson   %10.0f rows/s  %7.1f MB/s  (parse only; checksum %016llx)\n",
           (double)n / best_j, mb / best_j, (unsigned long long)sum_j);
    pipeline_free(p);
    buf_free(&b);
    free(c.off);
    free(recs);
    return 0;
}
