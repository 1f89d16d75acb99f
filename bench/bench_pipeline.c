/*
 * bench_pipeline.c — throughput of the row pipeline (src/ingest/pipeline.c):
 * nd-json records → parse → 10 mappings → a columnar batch, on one core,
 * over realistic wiki-edit events, beside jansson parsing the same records
 * (parse only) in the same run.
 *
 * Generates BENCH_PIPELINE_EVENTS (default 500,000) events with wikigen and
 * runs, best of BENCH_PIPELINE_PASSES (default 5) interleaved passes each:
 *   pipeline   pipeline_process() in batches of 4096 records, the batch
 *              arena reset per batch as the job runner does, with the
 *              mappings of a typical wiki job (TIME_PARSE, LOWER, CASE,
 *              COALESCE, arithmetic, CONCAT and identities); the arena's
 *              blocks hold a whole batch, so a reset keeps its memory
 *   1mb-blocks the same with 1 MB arena blocks, as the job runner's batch
 *              arena has: a reset frees all blocks but one, and the next
 *              batch takes its memory from malloc again
 *   jansson    json_loadb + json_decref over every record (the reference)
 * Rates are per CPU-second of the benchmark's thread (one core), so other
 * load on a shared machine costs less accuracy than wall time would; the
 * wall-clock rate of the same passes and the load average are printed too.
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
#include <time.h>

#define BATCH 4096

/* The batches' tallies, added up as a job does. */
static struct pipeline_tally g_batch, g_totals;

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

static int run_pipeline(struct pipeline *p, const struct corpus *c, struct record *recs,
                        size_t block, uint64_t *sum)
{
    struct arena mem;
    arena_init(&mem, block, 0);
    uint64_t h = 0;
    int rc = 0;
    for (size_t i = 0; i < c->n && !rc; i += BATCH) {
        size_t n = c->n - i < BATCH ? c->n - i : BATCH;
        arena_reset(&mem);
        struct pipeline_out out;
        struct lerr err;
        lerr_init(&err);
        rc = pipeline_process(p, recs + i, n, &mem, &out, &g_batch, NULL, NULL, &err);
        if (!rc)
            pipeline_tally_add(&g_totals, &g_batch);
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

enum { CASE_PIPELINE, CASE_1MB, CASE_JANSSON, NCASES };
static const char *const case_names[] = {"pipeline", "1mb-blocks", "jansson"};

/* CPU time of this thread: what one core spent, whatever else the machine runs. */
static int64_t cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
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
    struct record *recs = calloc(n + 1, sizeof *recs);
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
        recs[i] = (struct record){
            .data = c.data + c.off[i], .len = c.off[i + 1] - c.off[i] - 1, .offset = (int64_t)i};
    double mb = (double)b.len / 1e6;
    double load = 0;
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fscanf(la, "%lf", &load) != 1)
            load = 0;
        fclose(la);
    }
    printf("%zu wiki events, %.1f MB (%.0f bytes each), batches of %d, best of %d; "
           "load average %.2f\n",
           n, mb, (double)b.len / (double)n, BATCH, passes, load);

    struct job_spec js;
    struct pipeline *p = NULL;
    struct lerr err;
    lerr_init(&err);
    int rc = catalog_job_spec_parse_text(spec, sizeof spec - 1, &js, &err);
    struct pipeline_opts po = {&js, NULL, 1442016000000LL, NULL};
    if (!rc)
        rc = pipeline_new(&po, &p, &err);
    catalog_job_spec_destroy(&js);
    if (rc) {
        fprintf(stderr, "bench_pipeline: %s: %s\n", err.target, err.msg);
        return 1;
    }
    /* One 16 MB block holds a whole batch (about 5 MB), so a reset keeps it. */
    static const size_t blocks[NCASES] = {16u << 20, 1u << 20, 0};
    double best_cpu[NCASES], best_wall[NCASES];
    uint64_t sums[NCASES] = {0};
    for (int k = 0; k < NCASES; k++)
        best_cpu[k] = best_wall[k] = 1e30;
    for (int pass = 0; pass < passes; pass++) {
        /* Interleaved, so every case sees the same machine load. */
        for (int k = 0; k < NCASES; k++) {
            if (k == CASE_JANSSON && !reference)
                continue;
            int64_t w0 = util_mono_ns(), c0 = cpu_ns();
            int rc = k == CASE_JANSSON ? run_jansson(&c, &sums[k])
                                       : run_pipeline(p, &c, recs, blocks[k], &sums[k]);
            if (rc) {
                fprintf(stderr, "bench_pipeline: %s failed\n", case_names[k]);
                return 1;
            }
            double cs = (double)(cpu_ns() - c0) / 1e9, ws = (double)(util_mono_ns() - w0) / 1e9;
            best_cpu[k] = cs < best_cpu[k] ? cs : best_cpu[k];
            best_wall[k] = ws < best_wall[k] ? ws : best_wall[k];
        }
    }
    struct pipeline_counters cnt = g_totals.c;
    if (cnt.processed != n * (size_t)passes * 2) {
        fprintf(stderr, "bench_pipeline: %llu rows processed cleanly, want %zu\n",
                (unsigned long long)cnt.processed, n * (size_t)passes * 2);
        return 1;
    }
    for (int k = 0; k < NCASES; k++) {
        if (k == CASE_JANSSON && !reference)
            continue;
        printf("%-10s %10.0f rows/s  %7.1f MB/s  (wall %10.0f rows/s)", case_names[k],
               (double)n / best_cpu[k], mb / best_cpu[k], (double)n / best_wall[k]);
        if (reference)
            printf("  %5.2fx jansson", best_cpu[CASE_JANSSON] / best_cpu[k]);
        printf("  (checksum %016llx)\n", (unsigned long long)sums[k]);
    }
    if (sums[CASE_PIPELINE] != sums[CASE_1MB]) {
        fprintf(stderr, "bench_pipeline: the two arena setups made different batches\n");
        return 1;
    }
    pipeline_free(p);
    buf_free(&b);
    free(c.off);
    free(recs);
    return 0;
}
