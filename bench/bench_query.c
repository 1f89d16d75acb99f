/*
 * bench_query.c — query latency over generated wiki edits, beside sqlite3
 * running the same queries over the same rows in the same process.
 *
 * Builds a detail table of BENCH_QUERY_ROWS (default 10,000,000) edits over
 * one day, persisted to segments every 1,000,000 rows as ingestion would
 * (realtime buffer limit), with page and user drawn from Zipf
 * distributions (500,000 pages, 100,000 users), 50 channels (one with a
 * third of the edits), countryName NULL 90% of the time, and added /
 * deleted / delta numbers. The sqlite3 reference is an in-memory table
 * without indexes holding the first BENCH_QUERY_SQLITE_ROWS rows (default:
 * all of them). Each query runs once to warm up, then BENCH_QUERY_RUNS
 * times (default 5) on each side; the median latency, the rows scanned per
 * second (one thread: our queries run on one core) and sqlite's latency as
 * a multiple of ours (scaled by rows when sqlite holds fewer) are printed.
 * When both sides hold the same rows, the results are compared too.
 * BENCH_QUERY_ONLY=<part of a name> runs only the matching queries.
 *
 * Then the distinct users three ways, ours each (issue 14): the HLL
 * sketch's APPROX_COUNT_DISTINCT("user") (lgK 12) and the theta sketch's
 * APPROX_COUNT_DISTINCT_DS_THETA("user") beside the exact answer by GROUP
 * BY "user" over the same column, with the estimates' error against it; and
 * grouped and filtered sketch queries updated once per dictionary id beside
 * the per-row updates (query__sketch_by_dict off), whose answers must match.
 */
#include "query/query.h"
#include "query/query_int.h" /* query__sketch_by_dict: the per-row sketch path, for comparison */
#include "storage/storage.h"

#include "bench_zipf.h"
#include "util/util.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DAY_MS 86400000LL
#define T0 1442016000000LL /* 2015-09-12T00:00:00Z, the quickstart's day */
#define BATCH 65536u
#define PERSIST_EVERY 1000000u
#define NPAGES 500000u
#define NUSERS 100000u
#define NCHANNELS 50u

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_u64(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ULL;
}

static double next_unit(void) { return (double)(next_u64() >> 11) / 9007199254740992.0; }

/* ---- the table ----------------------------------------------------------------------- */

enum { C_CHANNEL, C_PAGE, C_USER, C_COUNTRY, C_ADDED, C_DELETED, C_DELTA, NCOLS };

static const struct storage_column columns[NCOLS] = {
    {"channel", SQL_STRING, STORAGE_DIMENSION, {0}},
    {"page", SQL_STRING, STORAGE_DIMENSION, {0}},
    {"user", SQL_STRING, STORAGE_DIMENSION, {0}},
    {"countryName", SQL_STRING, STORAGE_DIMENSION, {0}},
    {"added", SQL_LONG, STORAGE_DIMENSION, {0}},
    {"deleted", SQL_LONG, STORAGE_DIMENSION, {0}},
    {"delta", SQL_LONG, STORAGE_DIMENSION, {0}},
};

static char **page_names, **user_names, *channel_names[NCHANNELS], *country_names[40];

static void make_names(void)
{
    page_names = malloc(NPAGES * sizeof *page_names);
    user_names = malloc(NUSERS * sizeof *user_names);
    static const char *const words[] = {"History",  "List",  "Battle", "Station", "Album",
                                        "Election", "River", "Film",   "Church",  "School"};
    char tmp[96];
    for (uint32_t i = 0; i < NPAGES; i++) {
        snprintf(tmp, sizeof tmp, "%s of %s %u", words[i % 10], words[(i / 10) % 10], i);
        page_names[i] = strdup(tmp);
    }
    for (uint32_t i = 0; i < NUSERS; i++) {
        snprintf(tmp, sizeof tmp, i % 7 == 0 ? "192.168.%u.%u" : "Editor%u", i / 256, i % 256);
        user_names[i] = strdup(tmp);
    }
    channel_names[0] = strdup("#en.wikipedia");
    for (uint32_t i = 1; i < NCHANNELS; i++) {
        snprintf(tmp, sizeof tmp, "#l%02u.wikipedia", i);
        channel_names[i] = strdup(tmp);
    }
    for (uint32_t i = 0; i < 40; i++) {
        snprintf(tmp, sizeof tmp, "Country %u", i);
        country_names[i] = strdup(tmp);
    }
}

struct rowgen {
    struct zipf pages, users;
    uint64_t row, nrows;
};

/* One batch of rows, column-major; times rise through the day with jitter. */
static void gen_batch(struct rowgen *g, uint32_t n, int64_t *time, struct sql_value **cv)
{
    for (uint32_t r = 0; r < n; r++, g->row++) {
        int64_t base = T0 + (int64_t)((double)g->row / (double)g->nrows * (double)DAY_MS);
        int64_t t = base + (int64_t)(next_u64() % 2000) - 1000;
        time[r] = t < T0 ? T0 : t >= T0 + DAY_MS ? T0 + DAY_MS - 1 : t;
        uint32_t ch = next_u64() % 3 == 0 ? 0 : 1 + (uint32_t)(next_u64() % (NCHANNELS - 1));
        const char *page = page_names[zipf_rank(&g->pages, next_unit())];
        const char *user = user_names[zipf_rank(&g->users, next_unit())];
        cv[C_CHANNEL][r] = sql_string(channel_names[ch], strlen(channel_names[ch]));
        cv[C_PAGE][r] = sql_string(page, strlen(page));
        cv[C_USER][r] = sql_string(user, strlen(user));
        if (next_u64() % 10 == 0) {
            const char *c = country_names[next_u64() % 40];
            cv[C_COUNTRY][r] = sql_string(c, strlen(c));
        } else {
            cv[C_COUNTRY][r] = sql_null(SQL_STRING);
        }
        int64_t added = (int64_t)(next_u64() % 100 == 0 ? next_u64() % 20000 : next_u64() % 500);
        int64_t deleted = (int64_t)(next_u64() % 4 == 0 ? next_u64() % 300 : 0);
        cv[C_ADDED][r] = sql_long(added);
        cv[C_DELETED][r] = sql_long(deleted);
        cv[C_DELTA][r] = sql_long(added - deleted);
    }
}

static int commit_noop(void *ctx, const struct storage_segment_info *a, size_t na,
                       const struct storage_segment_info *r, size_t nr, struct lerr *err)
{
    (void)ctx, (void)a, (void)na, (void)r, (void)nr, (void)err;
    return 0;
}

static struct storage_table *table;

static int env_open(void *ctx, const char *name, struct storage_snapshot **snap, struct lerr *err)
{
    (void)ctx;
    if (strcmp(name, "wiki") != 0)
        return LERR_NOT_FOUND;
    *snap = storage_table_snapshot(table);
    return *snap ? 0 : lerr_set(err, LERR_NOMEM, "no snapshot");
}

static const struct query_env env = {.open_table = env_open};

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_query: %s: %s\n", what, msg);
    exit(1);
}

static uint64_t env_u64(const char *name, uint64_t def)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 10) : def;
}

/* ---- running queries -------------------------------------------------------------------- */

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_dbl);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Our result as lines of tab-separated cells (csv without quotes is
 * enough for these results). */
static double run_ours(const char *sql, struct buf *out)
{
    struct query_request req;
    query_request_init(&req);
    req.sql = sql;
    req.sql_len = strlen(sql);
    req.format = QUERY_FORMAT_CSV;
    req.timeout_ms = 0;
    struct lerr err;
    lerr_init(&err);
    buf_reset(out);
    int64_t t0 = util_mono_ns();
    if (query_execute(&req, &env, out, NULL, &err))
        die(sql, err.msg);
    return (double)(util_mono_ns() - t0) / 1e6;
}

static double run_sqlite(sqlite3 *db, const char *sql, struct buf *out)
{
    sqlite3_stmt *st;
    buf_reset(out);
    int64_t t0 = util_mono_ns();
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        die(sql, sqlite3_errmsg(db));
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            if (i)
                buf_putc(out, ',');
            const unsigned char *t = sqlite3_column_text(st, i);
            if (t)
                buf_puts(out, (const char *)t);
        }
        buf_putc(out, '\n');
    }
    sqlite3_finalize(st);
    double ms = (double)(util_mono_ns() - t0) / 1e6;
    buf_putc(out, '\n'); /* our csv ends with a blank line */
    return ms;
}

struct bq {
    const char *name, *ours, *sqlite;
};

static const struct bq queries[] = {
    {"top pages", "SELECT page, COUNT(*) FROM wiki GROUP BY page ORDER BY 2 DESC LIMIT 10",
     "SELECT page, COUNT(*) FROM wiki GROUP BY page ORDER BY 2 DESC LIMIT 10"},
    {"hourly SUM(deleted)", "SELECT TIME_FLOOR(__time, 'PT1H'), SUM(deleted) FROM wiki GROUP BY 1",
     "SELECT strftime('%Y-%m-%dT%H:00:00.000Z', t / 3600000 * 3600, 'unixepoch'), SUM(deleted) "
     "FROM wiki GROUP BY t / 3600000 ORDER BY 1"},
    {"filtered count", "SELECT COUNT(*) FROM wiki WHERE channel = '#en.wikipedia'",
     "SELECT COUNT(*) FROM wiki WHERE channel = '#en.wikipedia'"},
    {"filtered count, rows",
     "SELECT COUNT(*) FROM wiki WHERE channel = '#en.wikipedia' AND added > 100",
     "SELECT COUNT(*) FROM wiki WHERE channel = '#en.wikipedia' AND added > 100"},
    {"count", "SELECT COUNT(*) FROM wiki", "SELECT COUNT(*) FROM wiki"},
    {"channels SUM(added)", "SELECT channel, COUNT(*), SUM(added) FROM wiki GROUP BY channel",
     "SELECT channel, COUNT(*), SUM(added) FROM wiki GROUP BY channel ORDER BY channel"},
    {"filtered top pages",
     "SELECT page, SUM(added) FROM wiki WHERE channel = '#en.wikipedia' AND countryName IS NULL "
     "GROUP BY page ORDER BY 2 DESC, 1 LIMIT 10",
     "SELECT page, SUM(added) FROM wiki WHERE channel = '#en.wikipedia' AND countryName IS NULL "
     "GROUP BY page ORDER BY 2 DESC, 1 LIMIT 10"},
};

int main(void)
{
    uint64_t nrows = env_u64("BENCH_QUERY_ROWS", 10000000);
    uint64_t nsqlite = env_u64("BENCH_QUERY_SQLITE_ROWS", nrows);
    int runs = (int)env_u64("BENCH_QUERY_RUNS", 5);
    if (nsqlite > nrows)
        nsqlite = nrows;
    if (runs < 1)
        runs = 1;
    make_names();
    struct rowgen g = {{0}, {0}, 0, nrows};
    zipf_init(&g.pages, NPAGES, 1.0);
    zipf_init(&g.users, NUSERS, 1.1);

    char dir[] = "/tmp/lodestar-bench-query-XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp", "failed");
    struct storage_schema sch = {STORAGE_DETAIL, STORAGE_GRAN_DAY, STORAGE_GRAN_MILLISECOND,
                                 columns, NCOLS};
    struct storage_open_opts oo = {{PERSIST_EVERY * 2ull, 4ull << 30, 0}, NULL, 0, false};
    struct lerr err;
    lerr_init(&err);
    if (storage_table_open(dir, "wiki", &sch, &oo, &table, &err))
        die("storage_table_open", err.msg);
    sqlite3 *db;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK)
        die("sqlite3_open", "failed");
    sqlite3_exec(db,
                 "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
                 "CREATE TABLE wiki(t INTEGER, channel TEXT, page TEXT, user TEXT,"
                 " countryName TEXT, added INTEGER, deleted INTEGER, delta INTEGER);"
                 "BEGIN",
                 NULL, NULL, NULL);
    sqlite3_stmt *ins;
    if (sqlite3_prepare_v2(db, "INSERT INTO wiki VALUES(?,?,?,?,?,?,?,?)", -1, &ins, NULL))
        die("sqlite prepare", sqlite3_errmsg(db));

    int64_t *time = malloc(BATCH * sizeof *time);
    struct sql_value *cv[NCOLS];
    struct storage_batch_col bc[NCOLS];
    for (int c = 0; c < NCOLS; c++) {
        cv[c] = malloc(BATCH * sizeof *cv[c]);
        bc[c] = (struct storage_batch_col){(uint32_t)c + 1, cv[c], NULL};
    }
    double t_ours = 0, t_sqlite = 0;
    uint64_t since_persist = 0;
    for (uint64_t done = 0; done < nrows;) {
        uint32_t n = (uint32_t)(nrows - done < BATCH ? nrows - done : BATCH);
        gen_batch(&g, n, time, cv);
        int64_t t0 = util_mono_ns();
        struct storage_batch b = {n, time, NCOLS, bc};
        if (storage_table_append(table, &b, &err))
            die("append", err.msg);
        since_persist += n;
        if (since_persist >= PERSIST_EVERY || done + n == nrows) {
            if (storage_table_persist(table, commit_noop, NULL, &err))
                die("persist", err.msg);
            since_persist = 0;
        }
        int64_t t1 = util_mono_ns();
        t_ours += (double)(t1 - t0) / 1e9;
        for (uint32_t r = 0; r < n && done + r < nsqlite; r++) {
            sqlite3_reset(ins);
            sqlite3_bind_int64(ins, 1, time[r]);
            for (int c = 0; c < NCOLS; c++) {
                const struct sql_value *v = &cv[c][r];
                if (v->is_null)
                    sqlite3_bind_null(ins, c + 2);
                else if (v->type == SQL_STRING)
                    sqlite3_bind_text(ins, c + 2, v->v.s.p, (int)v->v.s.n, SQLITE_STATIC);
                else
                    sqlite3_bind_int64(ins, c + 2, v->v.l);
            }
            if (sqlite3_step(ins) != SQLITE_DONE)
                die("sqlite insert", sqlite3_errmsg(db));
        }
        t_sqlite += (double)(util_mono_ns() - t1) / 1e9;
        done += n;
    }
    sqlite3_finalize(ins);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    struct storage_status st;
    storage_table_status(table, &st);
    printf("bench_query: %llu rows in %llu segments (%.0f MB), built in %.1f s; sqlite3 in-memory "
           "table of %llu rows (no index), loaded in %.1f s; median of %d runs after a warm-up\n",
           (unsigned long long)nrows, (unsigned long long)st.segment_count,
           (double)st.total_bytes / 1e6, t_ours, (unsigned long long)nsqlite, t_sqlite, runs);
    printf("%-22s %10s %12s %10s %12s %9s  %s\n", "query", "ours ms", "ours Mrow/s", "sqlite ms",
           "sqlite Mrow/s", "speedup", "results");

    struct buf a, b;
    buf_init(&a, 0);
    buf_init(&b, 0);
    double *ta = malloc((size_t)runs * sizeof *ta), *tb = malloc((size_t)runs * sizeof *tb);
    const char *only = getenv("BENCH_QUERY_ONLY"); /* a part of a query's name */
    for (size_t q = 0; q < LS_ARRAY_LEN(queries); q++) {
        if (only && !strstr(queries[q].name, only))
            continue;
        run_ours(queries[q].ours, &a);
        for (int i = 0; i < runs; i++)
            ta[i] = run_ours(queries[q].ours, &a);
        run_sqlite(db, queries[q].sqlite, &b);
        for (int i = 0; i < runs; i++)
            tb[i] = run_sqlite(db, queries[q].sqlite, &b);
        double ma = median(ta, runs), mb = median(tb, runs);
        double ra = (double)nrows / (ma / 1e3) / 1e6, rb = (double)nsqlite / (mb / 1e3) / 1e6;
        const char *same = nsqlite != nrows ? "not compared (fewer sqlite rows)"
                           : strcmp(buf_cstr(&a), buf_cstr(&b)) == 0 ? "same as sqlite"
                                                                     : "DIFFERENT from sqlite";
        printf("%-22s %10.2f %12.1f %10.1f %12.1f %8.1fx  %s\n", queries[q].name, ma, ra, mb, rb,
               ra / rb, same);
        if (getenv("BENCH_QUERY_SHOW"))
            printf("ours:\n%ssqlite:\n%s", buf_cstr(&a), buf_cstr(&b));
    }
    printf("speedup = our rows/s over sqlite's rows/s (sqlite's latency over ours when both hold "
           "the same rows); our queries run on one core\n");

    /* distinct users: the sketches beside the exact GROUP BY on the same column */
    static const char exact[] =
        "SELECT COUNT(*) FROM (SELECT \"user\" FROM wiki GROUP BY \"user\")";
    static const char *const approx[] = {
        "SELECT APPROX_COUNT_DISTINCT(\"user\") FROM wiki",
        "SELECT APPROX_COUNT_DISTINCT_DS_THETA(\"user\") FROM wiki"};
    run_ours(exact, &b);
    for (int i = 0; i < runs; i++)
        tb[i] = run_ours(exact, &b);
    double me = median(tb, runs);
    double truth = atof(buf_cstr(&b));
    printf("%-34s %10s %12s %14s %9s  %s\n", "distinct users", "ms", "Mrow/s", "exact GROUP BY ms",
           "speedup", "estimate (exact)");
    for (size_t k = 0; k < LS_ARRAY_LEN(approx); k++) {
        run_ours(approx[k], &a);
        for (int i = 0; i < runs; i++)
            ta[i] = run_ours(approx[k], &a);
        double ma = median(ta, runs);
        double est = atof(buf_cstr(&a));
        printf("%-34s %10.2f %12.1f %14.2f %8.2fx  %.0f (%.0f, %+.2f%%)\n",
               k ? "APPROX_COUNT_DISTINCT_DS_THETA" : "APPROX_COUNT_DISTINCT (HLL)", ma,
               (double)nrows / (ma / 1e3) / 1e6, me, me / ma, est, truth,
               truth > 0 ? (est - truth) / truth * 100 : 0.0);
    }
    printf("speedup = the exact GROUP BY's latency over the sketch's (same rows, same column, "
           "one core)\n");
    /* grouped and filtered sketches: once per (group, dictionary id) of a view beside the
     * per-row updates (query__sketch_by_dict off), same answers */
    static const char *const grouped[] = {
        "SELECT channel, APPROX_COUNT_DISTINCT(\"user\") FROM wiki GROUP BY channel",
        "SELECT TIME_FLOOR(__time, 'PT1H'), APPROX_COUNT_DISTINCT_DS_THETA(\"user\") FROM wiki "
        "GROUP BY 1",
        "SELECT APPROX_COUNT_DISTINCT(\"user\") FROM wiki WHERE added > 100"};
    printf("%-34s %10s %14s %9s  %s\n", "grouped / filtered sketches", "by id ms", "per row ms",
           "speedup", "answers");
    for (size_t k = 0; k < LS_ARRAY_LEN(grouped); k++) {
        query__sketch_by_dict = true;
        run_ours(grouped[k], &a);
        for (int i = 0; i < runs; i++)
            ta[i] = run_ours(grouped[k], &a);
        query__sketch_by_dict = false;
        run_ours(grouped[k], &b);
        for (int i = 0; i < runs; i++)
            tb[i] = run_ours(grouped[k], &b);
        query__sketch_by_dict = true;
        double ma = median(ta, runs), mb = median(tb, runs);
        printf("%-34.34s %10.2f %14.2f %8.2fx  %s\n", grouped[k] + 7, ma, mb, mb / ma,
               strcmp(buf_cstr(&a), buf_cstr(&b)) == 0 ? "the same" : "DIFFERENT");
    }
    free(ta);
    free(tb);
    buf_free(&a);
    buf_free(&b);
    sqlite3_close(db);
    storage_table_free(table);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return 0;
}
