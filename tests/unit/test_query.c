/*
 * test_query.c — SQL execution end to end: builds tables with storage
 * (persisted segments and realtime rows in the same and in separate time
 * chunks; a detail table, an aggregate table with rolled-up measures, tables
 * whose column schema discovery widened (views of the older types), a
 * bigger one for the timeout and memory cap), then runs the SQL test files
 * tests/unit/sql_queries/<name>.txt through api_query_request_parse() and
 * query_execute(), and checks request parsing directly, and the memory
 * budgets: refusals before allocation, per-row garbage freed, the pool of
 * all queries, the server's limits and their environment variables.
 *
 * SQL file format (one case after another):
 *   -- query: <name>           starts a case; the SQL follows on its own lines
 *   -- request: {...}          extra request fields (resultFormat, header,
 *                              parameters, context); default arrayLines
 *   -- expect                  expected result lines follow, one JSON value
 *                              per line (header rows included when asked)
 *   -- unordered               compare the lines as a multiset
 *   -- layout-order            the order is the storage's (no ORDER BY): kept
 *                              on one node, a multiset over split tables
 *   -- expect-body: "<json string>"   the exact response body
 *   -- expect-error: <Kind> <text>    the error's kind and a part of its message
 *   -- expect-contains: <text> the body contains text (repeatable)
 *   -- sqlite: <SQL>           the same rows from sqlite3 over the same data
 *                              (tables wiki, tiny, wided, wides, ...; __time as
 *                              epoch ms "t")
 * Lines starting with "#" are comments.
 */
#include "api/query_request.h"
#include "check.h"
#include "query/query.h"
#include "query/query_int.h" /* query__pool: another query holding memory; query__like_par_min */
#include "storage/storage.h"

#include <dirent.h>
#include <stdarg.h>
#include <pthread.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DAY 86400000LL
#define T0 1704067200000LL /* 2024-01-01T00:00:00Z */

/* ---- the tables the queries see ---------------------------------------------------- */

struct ttable {
    const char *name;
    struct storage_table *t;
};

static struct ttable tables[16];
static size_t ntables;
static sqlite3 *db;

static int env_open(void *ctx, const char *name, struct storage_snapshot **snap, struct lerr *err)
{
    (void)ctx;
    for (size_t i = 0; i < ntables; i++)
        if (strcmp(tables[i].name, name) == 0) {
            *snap = storage_table_snapshot(tables[i].t);
            return *snap ? 0 : lerr_set(err, LERR_NOMEM, "no snapshot");
        }
    return LERR_NOT_FOUND;
}

static int env_list(void *ctx, query_table_fn fn, void *arg, struct lerr *err)
{
    (void)ctx;
    for (size_t i = 0; i < ntables; i++) {
        struct storage_snapshot *s = storage_table_snapshot(tables[i].t);
        if (!s)
            return lerr_set(err, LERR_NOMEM, "no snapshot");
        int rc = fn(arg, tables[i].name, s->cols, s->ncols);
        storage_snapshot_free(s);
        if (rc)
            return rc;
    }
    return 0;
}

/* Two lookups for LOOKUP() (sql.h's interface, as the API fills it): "colors"
 * (entries sorted by key) and "empty"; the provider's copy is released at once. */
static const struct sql_lookup_entry colors[] = {
    {"", "blank", 0, 5}, {"a", "apple", 1, 5}, {"ab", "abacus", 2, 6}, {"b", "banana", 1, 6}};
static int lookup_releases;
static void lookup_release(void *h)
{
    (void)h;
    lookup_releases++;
}
static int lookup_get(void *ctx, const char *name, size_t len, struct sql_lookup *out,
                      struct lerr *err)
{
    (void)ctx;
    (void)err;
    if (len == 6 && memcmp(name, "colors", 6) == 0)
        *out = (struct sql_lookup){colors, LS_ARRAY_LEN(colors), lookup_release, NULL};
    else if (len == 5 && memcmp(name, "empty", 5) == 0)
        *out = (struct sql_lookup){NULL, 0, NULL, NULL};
    else
        return LERR_NOT_FOUND;
    return 0;
}
static bool lookup_names(void *ctx, struct buf *out)
{
    (void)ctx;
    return buf_puts(out, "colors\nempty\n");
}
static const struct sql_lookups test_lookups = {NULL, lookup_get, lookup_names};

static struct query_env env = {
    .open_table = env_open, .list_tables = env_list, .lookups = &test_lookups};

/* ---- partial plans (query/partial.c), as a cluster runs them ----------------------------
 *
 * With split_parts set, env splits the top block of every statement that
 * aggregates straight over a table into SPLIT_PARTS parts, as the nodes of a
 * cluster do (api/fanout.c): part k runs the statement (query_request
 * .partial_out) over the segments whose index is k modulo SPLIT_PARTS, part 0
 * also over the realtime rows, and the engine merges the parts' groups. The
 * SQL files run again this way must give the same answers. */
#define SPLIT_PARTS 3
static const char *split_body; /* the request being run (run_case) */
static int split_ran, split_mangle;

struct split_env {
    struct storage_snapshot *snap;
};

static int split_open(void *ctx, const char *name, struct storage_snapshot **snap,
                      struct lerr *err)
{
    (void)name, (void)err;
    *snap = ((struct split_env *)ctx)->snap;
    return 0;
}

static void split_close(void *ctx, struct storage_snapshot *snap) { (void)ctx, (void)snap; }

/* Part k's share of table t: the segments whose index is k modulo
 * SPLIT_PARTS, and for part 0 the realtime rows too. */
static struct storage_snapshot *share_snapshot(struct storage_table *t, int k, struct lerr *err)
{
    struct storage_cut *cut = storage_table_cut(t);
    size_t n = storage_cut_nsegs(cut), nw = 0;
    struct storage_seg_want *want = calloc(n + 1, sizeof *want);
    for (size_t i = 0; i < n; i++)
        if ((int)(i % SPLIT_PARTS) == k)
            want[nw++] = (struct storage_seg_want){storage_cut_seg_name(cut, i), 0, 0};
    if (k)
        storage_cut_no_realtime(cut);
    struct storage_snapshot *share = storage_cut_snapshot(t, cut, want, nw, NULL, NULL, 0, err);
    storage_cut_free(cut);
    free(want);
    return share;
}

static int split_partials(void *ctx, const char *table, const char *fp,
                          int (*fn)(void *arg, const void *part, size_t n, struct lerr *err),
                          void *arg, struct lerr *err)
{
    (void)ctx;
    struct storage_table *t = NULL;
    for (size_t i = 0; i < ntables; i++)
        if (strcmp(tables[i].name, table) == 0)
            t = tables[i].t;
    if (!t || !split_body)
        return lerr_set(err, LERR_NOT_FOUND, "no table %s", table);
    int rc = 0;
    split_ran++;
    for (int k = 0; k < SPLIT_PARTS && !rc; k++) {
        struct split_env se = {share_snapshot(t, k, err)};
        struct arena mem;
        arena_init(&mem, 4096, 0);
        struct query_request qr;
        struct buf part;
        buf_init(&part, 0);
        rc = se.snap ? api_query_request_parse(split_body, strlen(split_body), &qr, &mem, err)
                     : err->code;
        if (!rc) {
            qr.now_ms = T0 + 3 * DAY;
            qr.partial_out = &part;
            qr.partial_fp = fp;
            struct query_env pe = {.ctx = &se,
                                   .open_table = split_open,
                                   .close_table = split_close,
                                   .list_tables = env_list,
                                   .lookups = &test_lookups};
            struct buf none;
            buf_init(&none, 0);
            rc = query_execute(&qr, &pe, &none, NULL, err);
            CHECK_MSG(rc || none.len == 0, "a part wrote a body: %s", buf_cstr(&none));
            buf_free(&none);
        }
        if (!rc && split_mangle && part.len > 1) /* a damaged part is refused, not misread */
            part.len = split_mangle == 1 ? part.len - 1 : 20;
        if (!rc)
            rc = fn(arg, part.data, part.len, err);
        buf_free(&part);
        arena_destroy(&mem);
        storage_snapshot_free(se.snap);
    }
    return rc;
}

/* Scans pushed down (query_env.open_scan), as a cluster's nodes answer
 * them: each part's share (segments k modulo SPLIT_PARTS, part 0 also the
 * realtime rows) written as images by query_scan_images, and the blocks
 * read the snapshot of all the images. */
static char split_tmp[600];
static int split_scanned, split_capped;

struct images {
    void **p;
    size_t *n;
    size_t count, cap;
};

static int keep_image(void *ctx, const void *p, size_t n, struct lerr *err)
{
    struct images *im = ctx;
    if (im->count == im->cap) {
        im->cap = im->cap ? 2 * im->cap : 8;
        im->p = realloc(im->p, im->cap * sizeof *im->p);
        im->n = realloc(im->n, im->cap * sizeof *im->n);
    }
    void *copy = malloc(n);
    if (!im->p || !im->n || !copy)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    memcpy(copy, p, n);
    im->p[im->count] = copy;
    im->n[im->count++] = n;
    return 0;
}

static int split_scan(void *ctx, const char *table, const struct query_scan *scan,
                      struct storage_snapshot **snap, struct lerr *err)
{
    (void)ctx;
    struct storage_table *t = NULL;
    for (size_t i = 0; i < ntables; i++)
        if (strcmp(tables[i].name, table) == 0)
            t = tables[i].t;
    if (!t)
        return LERR_NOT_FOUND;
    split_scanned++;
    split_capped += scan->limit >= 0;
    struct images im = {0};
    int rc = 0;
    for (int k = 0; k < SPLIT_PARTS && !rc; k++) {
        struct storage_snapshot *share = share_snapshot(t, k, err);
        rc = share ? query_scan_images(share, scan, split_tmp, keep_image, &im, err) : err->code;
        storage_snapshot_free(share);
    }
    struct storage_cut *cut = storage_table_cut(t);
    storage_cut_no_realtime(cut);
    *snap = rc ? NULL : storage_cut_snapshot(t, cut, NULL, 0, im.p, im.n, im.count, err);
    storage_cut_free(cut);
    for (size_t i = 0; rc && i < im.count; i++)
        free(im.p[i]);
    free(im.p);
    free(im.n);
    return rc ? rc : *snap ? 0 : err->code;
}

static void split_mode(bool on)
{
    env.open_schema = on ? env_open : NULL;
    env.partials = on ? split_partials : NULL;
    env.open_scan = on ? split_scan : NULL;
}

static int commit_noop(void *ctx, const struct storage_segment_info *added, size_t nadded,
                       const struct storage_segment_info *removed, size_t nremoved,
                       struct lerr *err)
{
    (void)ctx, (void)added, (void)nadded, (void)removed, (void)nremoved, (void)err;
    return 0;
}

static struct storage_table *open_table(const char *root, const char *name,
                                        const struct storage_schema *sch)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    struct storage_table *t = NULL;
    struct lerr err;
    lerr_init(&err);
    if (storage_table_open(dir, name, sch, NULL, &t, &err)) {
        fprintf(stderr, "storage_table_open(%s): %s\n", name, err.msg);
        exit(2);
    }
    tables[ntables++] = (struct ttable){name, t};
    return t;
}

static void persist(struct storage_table *t)
{
    struct lerr err;
    lerr_init(&err);
    CHECK_MSG(storage_table_persist(t, commit_noop, NULL, &err) == 0, "persist: %s", err.msg);
}

/* Appends rows given column-major values (ncols dimension columns 1..ncols). */
static void append(struct storage_table *t, const int64_t *time, uint32_t nrows,
                   struct sql_value *const *cols, uint32_t ncols)
{
    struct storage_batch_col bc[16];
    for (uint32_t c = 0; c < ncols; c++)
        bc[c] = (struct storage_batch_col){c + 1, cols[c], NULL};
    struct storage_batch b = {nrows, time, ncols, bc};
    struct lerr err;
    lerr_init(&err);
    CHECK_MSG(storage_table_append(t, &b, &err) == 0, "append: %s", err.msg);
}

static void sqlite_exec(const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "sqlite: %s: %s\n", sql, msg);
        exit(2);
    }
}

static void sqlite_bind(sqlite3_stmt *st, int i, const struct sql_value *v)
{
    if (v->is_null)
        sqlite3_bind_null(st, i);
    else if (v->type == SQL_STRING)
        sqlite3_bind_text(st, i, v->v.s.p, (int)v->v.s.n, SQLITE_TRANSIENT);
    else if (v->type == SQL_DOUBLE)
        sqlite3_bind_double(st, i, v->v.d);
    else
        sqlite3_bind_int64(st, i, v->v.l);
}

/* The same rows into sqlite table `name` (t, then the columns). */
static void sqlite_load(const char *insert, const int64_t *time, uint32_t nrows,
                        struct sql_value *const *cols, uint32_t ncols)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, insert, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "sqlite prepare: %s\n", sqlite3_errmsg(db));
        exit(2);
    }
    for (uint32_t r = 0; r < nrows; r++) {
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, time[r]);
        for (uint32_t c = 0; c < ncols; c++)
            sqlite_bind(st, (int)c + 2, &cols[c][r]);
        if (sqlite3_step(st) != SQLITE_DONE) {
            fprintf(stderr, "sqlite insert: %s\n", sqlite3_errmsg(db));
            exit(2);
        }
    }
    sqlite3_finalize(st);
}

/* tiny: twelve hand-written rows, so expected results can be read off. */
static void build_tiny(const char *root)
{
    static const struct storage_column cols[] = {
        {"s", SQL_STRING, STORAGE_DIMENSION, 0, {0}},
        {"n", SQL_LONG, STORAGE_DIMENSION, 0, {0}},
        {"d", SQL_DOUBLE, STORAGE_DIMENSION, 0, {0}},
        {"j", SQL_JSON, STORAGE_DIMENSION, 0, {0}},
    };
    struct storage_schema sch = {STORAGE_DETAIL, STORAGE_GRAN_DAY, STORAGE_GRAN_MILLISECOND, cols,
                                 4};
    struct storage_table *t = open_table(root, "tiny", &sch);
    static const int64_t H = 3600000;
    // clang-format off
    int64_t time[12] = {T0,           T0 + H,       T0 + 2 * H + H / 2, T0 + 5 * H,
                        T0 + DAY,     T0 + DAY + 10 * H, T0 + 2 * DAY - 1, T0 + DAY + 12 * H,
                        T0 + 2 * DAY, T0 + 2 * DAY + 6 * H, T0 + 2 * DAY + 7 * H,
                        T0 + 2 * DAY + 8 * H};
    // clang-format on
    struct sql_value s[12], n[12], d[12], j[12];
    const char *sv[12] = {
        "a", "b", NULL, "a", "", "c", "a", "b", "ab", NULL, "\xc3\x9cn\xc3\xaf", "a\"q,x"};
    int64_t nv[12] = {1, 2, 3, -1, 5, 6, 7, 8, 9, -1, 11, 12};
    double dv[12] = {1.5, NAN, 2.5, 0.5, -1.0, 10, NAN, 4.0, 3.0, NAN, 1.25, 2.0};
    for (int i = 0; i < 12; i++) {
        s[i] = sv[i] ? sql_string(sv[i], strlen(sv[i])) : sql_null(SQL_STRING);
        n[i] = nv[i] >= 0 ? sql_long(nv[i]) : sql_null(SQL_LONG);
        d[i] = isnan(dv[i]) ? sql_null(SQL_DOUBLE) : sql_double(dv[i]);
        j[i] = sql_null(SQL_JSON);
    }
    static const char j0[] = "{\"a\":1,\"b\":[true,null]}", j8[] = "[1,2.5,\"x\"]";
    j[0] = sql_string(j0, strlen(j0));
    j[0].type = SQL_JSON;
    j[8] = sql_string(j8, strlen(j8));
    j[8].type = SQL_JSON;
    struct sql_value *cv[4] = {s, n, d, j};
    append(t, time, 7, cv, 4);
    persist(t); /* rows 0-6: segments of 2024-01-01 and 2024-01-02 */
    struct sql_value *cv2[4] = {s + 7, n + 7, d + 7, j + 7};
    append(t, time + 7, 5, cv2, 4); /* realtime: one more in 01-02, four in 01-03 */
    sqlite_exec("CREATE TABLE tiny(t INTEGER, s TEXT, n INTEGER, d REAL)");
    sqlite_load("INSERT INTO tiny VALUES(?,?,?,?)", time, 12, cv, 3);
}

/*
 * wided and wides: column w discovered as LONG and widened while rows came
 * (schema discovery: storage_table_widen_column), so the views hold w as
 * the types it had when they were written — a persisted LONG segment, a
 * LONG buffer sealed by the widening and persisted, a DOUBLE segment, a
 * DOUBLE buffer — and wides widens once more to STRING (a STRING buffer).
 * Every view reads w as the table's type. The sqlite oracle holds the values
 * as the table's type: REAL for wided, the text Druid prints for wides.
 */
static void build_widened(const char *root)
{
    static const struct storage_column cols[] = {
        {"k", SQL_LONG, STORAGE_DIMENSION, 0, {0}},
        {"w", SQL_LONG, STORAGE_DIMENSION, 0, {0}},
    };
    struct storage_schema sch = {STORAGE_DETAIL, STORAGE_GRAN_DAY, STORAGE_GRAN_MILLISECOND, cols,
                                 2};
    static const int64_t H = 3600000;
    sqlite_exec("CREATE TABLE wided(t INTEGER, k INTEGER, w REAL)");
    sqlite_exec("CREATE TABLE wides(t INTEGER, k INTEGER, w TEXT)");
    for (int str = 0; str < 2; str++) {
        struct storage_table *t = open_table(root, str ? "wides" : "wided", &sch);
        int64_t time[12];
        struct sql_value k[12], w[12], o[12];
        for (int i = 0; i < 12; i++) {
            time[i] = T0 + i * 5 * H; /* three days */
            k[i] = sql_long(i);
        }
        w[0] = sql_long(10), w[1] = sql_long(20), w[2] = sql_null(SQL_LONG), w[3] = sql_long(-5);
        w[4] = sql_long(40), w[5] = sql_long(9007199254740993LL);
        w[6] = sql_double(2.5), w[7] = sql_double(7), w[8] = sql_double(-1.25);
        w[9] = sql_double(0.5);
        w[10] = str ? sql_string("abc", 3) : sql_double(100);
        w[11] = str ? sql_string("4", 1) : sql_null(SQL_DOUBLE);
        struct sql_value *cv[2] = {k, w};
        struct lerr err;
        lerr_init(&err);
        append(t, time, 4, cv, 2);
        persist(t);
        struct sql_value *c4[2] = {k + 4, w + 4};
        append(t, time + 4, 2, c4, 2); /* a LONG buffer, sealed by the widening */
        CHECK_MSG(storage_table_widen_column(t, 2, SQL_DOUBLE, &err) == 0, "%s", err.msg);
        struct sql_value *c6[2] = {k + 6, w + 6};
        append(t, time + 6, 3, c6, 2);
        persist(t);
        struct sql_value *c9[2] = {k + 9, w + 9};
        append(t, time + 9, 1, c9, 2); /* a DOUBLE buffer */
        if (str)
            CHECK_MSG(storage_table_widen_column(t, 2, SQL_STRING, &err) == 0, "%s", err.msg);
        struct sql_value *c10[2] = {k + 10, w + 10};
        append(t, time + 10, 2, c10, 2);
        /* the oracle: each value as the table's type reads it */
        struct arena mem;
        arena_init(&mem, 4096, 0);
        for (int i = 0; i < 12; i++)
            o[i] = w[i].is_null ? w[i]
                                : sql_value_cast(&w[i], str ? SQL_STRING : SQL_DOUBLE, &mem);
        struct sql_value *oc[2] = {k, o};
        sqlite_load(str ? "INSERT INTO wides VALUES(?,?,?)" : "INSERT INTO wided VALUES(?,?,?)",
                    time, 12, oc, 2);
        arena_destroy(&mem);
    }
}

/* wiki: 3000 generated edits over three days; day 1 and most of day 2
 * persisted, the rest realtime. */
struct gen {
    uint64_t s;
};

static uint32_t rnd(struct gen *g, uint32_t n)
{
    g->s = g->s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)((g->s >> 33) % n);
}

#define WIKI_COLS 9

static void wiki_rows(struct gen *g, int64_t t0, uint32_t n, int64_t *time, struct sql_value **cv,
                      char (*pages)[32], char (*users)[16])
{
    static const char *const channels[] = {"#en.wikipedia", "#en.wikipedia", "#fr.wikipedia",
                                           "#de.wikipedia", "#ja.wikipedia", "#vi.wikipedia"};
    static const char *const countries[] = {"France", "Germany", "Japan", "United States", ""};
    for (uint32_t r = 0; r < n; r++) {
        time[r] = t0 + (int64_t)rnd(g, (uint32_t)DAY);
        const char *ch = channels[rnd(g, 6)];
        uint32_t rank = rnd(g, 20) * rnd(g, 10) + rnd(g, 3); /* skewed to small ranks */
        if (rank % 7 == 3)
            snprintf(pages[r], 32, "Caf\xc3\xa9_%u", rank);
        else if (rank % 11 == 5)
            snprintf(pages[r], 32, "\xe6\x97\xa5\xe6\x9c\xac_%u", rank);
        else
            snprintf(pages[r], 32, "Page_%u", rank);
        snprintf(users[r], 16, "user%u", rnd(g, 50));
        cv[0][r] = sql_string(ch, strlen(ch));
        cv[1][r] = sql_string(pages[r], strlen(pages[r]));
        cv[2][r] = sql_string(users[r], strlen(users[r]));
        uint32_t c = rnd(g, 10);
        const char *country = c < 6 ? NULL : countries[c - 6 + rnd(g, 2)];
        cv[3][r] = country ? sql_string(country, strlen(country)) : sql_null(SQL_STRING);
        int64_t added = rnd(g, 1000);
        bool del_null = rnd(g, 20) == 0;
        int64_t deleted = rnd(g, 200);
        cv[4][r] = sql_long(added);
        cv[5][r] = del_null ? sql_null(SQL_LONG) : sql_long(deleted);
        cv[6][r] = del_null ? sql_null(SQL_LONG) : sql_long(added - deleted);
        cv[7][r] = rnd(g, 10) == 0 ? sql_null(SQL_DOUBLE) : sql_double(rnd(g, 400) / 4.0);
        cv[8][r] = sql_long(rnd(g, 3) == 0);
    }
}

struct edits_part {
    int64_t day;
    uint32_t n;
    bool persist_after;
};

/* A table of generated edits (wiki's columns) in memory, persisted after the
 * parts that say so, and the same rows in sqlite3's table of the same name. */
static void build_edits(const char *root, const char *name, const struct edits_part *parts,
                        size_t nparts, uint64_t seed)
{
    static const struct storage_column cols[WIKI_COLS] = {
        {"channel", SQL_STRING, STORAGE_DIMENSION, 0, {0}},
        {"page", SQL_STRING, STORAGE_DIMENSION, 0, {0}},
        {"user", SQL_STRING, STORAGE_DIMENSION, 0, {0}},
        {"countryName", SQL_STRING, STORAGE_DIMENSION, 0, {0}},
        {"added", SQL_LONG, STORAGE_DIMENSION, 0, {0}},
        {"deleted", SQL_LONG, STORAGE_DIMENSION, 0, {0}},
        {"delta", SQL_LONG, STORAGE_DIMENSION, 0, {0}},
        {"score", SQL_DOUBLE, STORAGE_DIMENSION, 0, {0}},
        {"isRobot", SQL_LONG, STORAGE_DIMENSION, 0, {0}},
    };
    struct storage_schema sch = {STORAGE_DETAIL, STORAGE_GRAN_DAY, STORAGE_GRAN_MILLISECOND, cols,
                                 WIKI_COLS};
    struct storage_table *t = open_table(root, name, &sch);
    char sql[300];
    snprintf(sql, sizeof sql,
             "CREATE TABLE %s(t INTEGER, channel TEXT, page TEXT, user TEXT, countryName TEXT,"
             " added INTEGER, deleted INTEGER, delta INTEGER, score REAL, isRobot INTEGER)",
             name);
    sqlite_exec(sql);
    snprintf(sql, sizeof sql, "INSERT INTO %s VALUES(?,?,?,?,?,?,?,?,?,?)", name);
    struct gen g = {seed};
    for (size_t p = 0; p < nparts; p++) {
        uint32_t n = parts[p].n;
        int64_t *time = calloc(n, sizeof *time);
        char(*pages)[32] = calloc(n, sizeof *pages);
        char(*users)[16] = calloc(n, sizeof *users);
        struct sql_value *cv[WIKI_COLS];
        for (int c = 0; c < WIKI_COLS; c++)
            cv[c] = calloc(n, sizeof *cv[c]);
        wiki_rows(&g, T0 + parts[p].day * DAY, n, time, cv, pages, users);
        append(t, time, n, cv, WIKI_COLS);
        sqlite_load(sql, time, n, cv, WIKI_COLS);
        if (parts[p].persist_after)
            persist(t);
        for (int c = 0; c < WIKI_COLS; c++)
            free(cv[c]);
        free(time);
        free(pages);
        free(users);
    }
}

static void build_wiki(const char *root)
{
    static const struct edits_part parts[] = {
        {0, 1000, false}, {1, 1000, true}, {1, 200, false}, {2, 800, false}};
    build_edits(root, "wiki", parts, LS_ARRAY_LEN(parts), 42);
}

/* many: 8 days of 9,000 edits each, every day a segment of three blocks of
 * rows but the last, which stays realtime, and an extra segment in day 3:
 * the table the scans split over threads are checked on (many.txt). */
static void build_many(const char *root)
{
    struct edits_part parts[10];
    size_t n = 0;
    for (int64_t d = 0; d < 8; d++) {
        parts[n++] = (struct edits_part){d, 9000, d < 7};
        if (d == 3)
            parts[n++] = (struct edits_part){d, 5000, true};
    }
    build_edits(root, "many", parts, n, 7);
}

/* rollup: an aggregate table (hourly) with count, longSum, longMax,
 * stringLatest and doubleSum measures; part persisted, part realtime, with
 * rows of the same hour on both sides. */
static void build_rollup(const char *root)
{
    struct storage_column cols[6] = {
        {"s", SQL_STRING, STORAGE_DIMENSION, 0, {0}},
        {"cnt", SQL_LONG, STORAGE_MEASURE, 0, {0}},
        {"total", SQL_LONG, STORAGE_MEASURE, 0, {0}},
        {"mx", SQL_LONG, STORAGE_MEASURE, 0, {0}},
        {"last_label", SQL_STRING, STORAGE_MEASURE, 0, {0}},
        {"dsum", SQL_DOUBLE, STORAGE_MEASURE, 0, {0}},
    };
    const char *mt[6] = {NULL, "count", "longSum", "longMax", "stringLatest", "doubleSum"};
    for (int c = 1; c < 6; c++)
        CHECK(sql_agg_for_measure(mt[c], &cols[c].agg));
    struct storage_schema sch = {STORAGE_AGGREGATE, STORAGE_GRAN_DAY, STORAGE_GRAN_HOUR, cols, 6};
    struct storage_table *t = open_table(root, "rollup", &sch);
    static const int64_t M = 60000;
    /* (time, s, n, label, d) */
    static const struct {
        int64_t t;
        const char *s;
        int64_t n;
        const char *label;
        double d;
    } rows[] = {
        {T0 + 1 * M, "x", 1, "first", 0.5},
        {T0 + 50 * M, "x", 2, "second", 0.25},
        {T0 + 5 * M, "y", 10, "y1", 1.0},
        {T0 + 70 * M, "x", 4, "third", 0.125},
        {T0 + 30 * M, "x", 8, "late-but-early", 0.0625},
        /* persisted above; realtime below */
        {T0 + 55 * M, "x", 16, "fourth", 2.0},
        {T0 + 10 * M, "y", 32, "y0", 4.0},
        {T0 + DAY + 1 * M, NULL, 64, "nul", 8.0},
    };
    size_t n = LS_ARRAY_LEN(rows);
    struct sql_agg_call *calls = calloc(6, sizeof *calls);
    for (int c = 1; c < 6; c++)
        calls[c] = cols[c].agg;
    size_t ss = sql_agg_state_size(&calls[1]);
    struct arena mem;
    arena_init(&mem, 4096, 0);
    for (size_t part = 0; part < 2; part++) {
        size_t lo = part ? 5 : 0, hi = part ? n : 5, k = hi - lo;
        int64_t time[8];
        struct sql_value sv[8];
        uint8_t *st[6] = {0};
        for (int c = 1; c < 6; c++)
            st[c] = calloc(k, ss);
        for (size_t i = 0; i < k; i++) {
            time[i] = rows[lo + i].t;
            sv[i] = rows[lo + i].s ? sql_string(rows[lo + i].s, 1) : sql_null(SQL_STRING);
            struct sql_value a[5] = {sql_null(SQL_NULL), sql_long(rows[lo + i].n),
                                     sql_long(rows[lo + i].n),
                                     sql_string(rows[lo + i].label, strlen(rows[lo + i].label)),
                                     sql_double(rows[lo + i].d)};
            for (int c = 1; c < 6; c++) {
                sql_agg_init(&calls[c], st[c] + i * ss);
                CHECK(sql_agg_add(&calls[c], st[c] + i * ss, &a[c - 1], time[i], &mem));
            }
        }
        struct storage_batch_col bc[6];
        bc[0] = (struct storage_batch_col){1, sv, NULL};
        for (int c = 1; c < 6; c++)
            bc[c] = (struct storage_batch_col){(uint32_t)c + 1, NULL, st[c]};
        struct storage_batch b = {(uint32_t)k, time, 6, bc};
        struct lerr err;
        lerr_init(&err);
        CHECK_MSG(storage_table_append(t, &b, &err) == 0, "append rollup: %s", err.msg);
        if (part == 0)
            persist(t);
        for (int c = 1; c < 6; c++)
            free(st[c]);
    }
    arena_destroy(&mem);
    free(calls);
}

/* An aggregate table `name` keyed on one column (`key`) with a count measure
 * "cnt", of the n rows keys[i] at time[i]: the first half persisted, the rest
 * realtime. */
static void build_count_by(const char *root, const char *name, const struct storage_column *key,
                           const struct sql_value *keys, const int64_t *time, int n)
{
    struct storage_column acols[2] = {
        *key,
        {.name = "cnt", .type = SQL_LONG, .kind = STORAGE_MEASURE},
    };
    CHECK(sql_agg_for_measure("count", &acols[1].agg));
    struct storage_schema asch = {STORAGE_AGGREGATE, STORAGE_GRAN_DAY, STORAGE_GRAN_DAY, acols, 2};
    struct storage_table *a = open_table(root, name, &asch);
    size_t ss = sql_agg_state_size(&acols[1].agg);
    uint8_t *st = calloc((size_t)n, ss);
    struct arena mem;
    arena_init(&mem, 4096, 0);
    struct sql_value none = sql_null(SQL_NULL);
    for (int i = 0; i < n; i++) {
        sql_agg_init(&acols[1].agg, st + ss * i);
        CHECK(sql_agg_add(&acols[1].agg, st + ss * i, &none, time[i], &mem));
    }
    int half = n / 2;
    struct storage_batch_col bc[2] = {{1, keys, NULL}, {2, NULL, st}};
    struct storage_batch b = {(uint32_t)half, time, 2, bc};
    struct lerr err;
    lerr_init(&err);
    CHECK_MSG(storage_table_append(a, &b, &err) == 0, "append %s: %s", name, err.msg);
    persist(a);
    struct storage_batch_col bc2[2] = {{1, keys + half, NULL}, {2, NULL, st + half * ss}};
    struct storage_batch b2 = {(uint32_t)(n - half), time + half, 2, bc2};
    CHECK_MSG(storage_table_append(a, &b2, &err) == 0, "append %s: %s", name, err.msg);
    arena_destroy(&mem);
    free(st);
}

/* mv, mvagg: multi-value string columns (tags) in a detail table, seven rows
 * persisted and five realtime, and in an aggregate table (count) that rolls
 * equal lists up (lists come sorted, as the row pipeline hands them). sqlite gets mv(t, s, n, tags)
 * with tags as the JSON text of the stored (sorted) list, NULL for none,
 * for json_each. */
static void build_mv(const char *root)
{
    static const struct storage_column cols[] = {
        {.name = "tags", .type = SQL_ARRAY, .kind = STORAGE_DIMENSION},
        {.name = "s", .type = SQL_STRING, .kind = STORAGE_DIMENSION},
        {.name = "n", .type = SQL_LONG, .kind = STORAGE_DIMENSION},
    };
    struct storage_schema sch = {STORAGE_DETAIL, STORAGE_GRAN_DAY, STORAGE_GRAN_MILLISECOND, cols,
                                 3};
    struct storage_table *t = open_table(root, "mv", &sch);
    /* each row's input (| separates values, ~ a NULL value, "-" none as [],
     * NULL none as NULL, "=x" the scalar x) and its stored JSON */
    static const struct {
        const char *in, *json, *s;
    } rows[12] = {
        {"a|b", "[\"a\",\"b\"]", "x"},
        {"b|c", "[\"b\",\"c\"]", "y"},
        {"=a", "[\"a\"]", "x"},
        {"-", NULL, "y"},
        {NULL, NULL, "x"},
        {"a|a|c", "[\"a\",\"a\",\"c\"]", "z"},
        {"|d", "[\"\",\"d\"]", "y"},
        {"b", "[\"b\"]", "x"},
        {"a|b|d", "[\"a\",\"b\",\"d\"]", "z"},
        {"~|e", "[null,\"e\"]", NULL},
        {"e", "[\"e\"]", "y"},
        {"a|b", "[\"a\",\"b\"]", "x"},
    };
    int64_t time[12];
    struct sql_value tags[12], sv[12], nv[12], js[12], items[12][4];
    static char bufs[12][16];
    for (int i = 0; i < 12; i++) {
        time[i] = T0 + (int64_t)i * 3600000;
        sv[i] = rows[i].s ? sql_string(rows[i].s, 1) : sql_null(SQL_STRING);
        nv[i] = sql_long(i + 1);
        js[i] = rows[i].json ? sql_string(rows[i].json, strlen(rows[i].json))
                             : sql_null(SQL_STRING);
        const char *in = rows[i].in;
        if (!in) {
            tags[i] = sql_null(SQL_ARRAY);
            continue;
        }
        if (in[0] == '=') {
            tags[i] = sql_string(in + 1, strlen(in + 1));
            continue;
        }
        tags[i] = (struct sql_value){.type = SQL_ARRAY};
        tags[i].v.a.items = items[i];
        if (in[0] == '-')
            continue;
        snprintf(bufs[i], sizeof bufs[i], "%s", in);
        char *p = bufs[i];
        for (;;) {
            char *bar = strchr(p, '|');
            if (bar)
                *bar = 0;
            items[i][tags[i].v.a.n++] = strcmp(p, "~") == 0 ? sql_null(SQL_STRING)
                                                            : sql_string(p, strlen(p));
            if (!bar)
                break;
            p = bar + 1;
        }
    }
    struct sql_value *cv[3] = {tags, sv, nv};
    append(t, time, 7, cv, 3);
    persist(t);
    struct sql_value *cv2[3] = {tags + 7, sv + 7, nv + 7};
    append(t, time + 7, 5, cv2, 3);
    sqlite_exec("CREATE TABLE mv(t INTEGER, s TEXT, n INTEGER, tags TEXT)");
    struct sql_value *sq[3] = {sv, nv, js};
    sqlite_load("INSERT INTO mv VALUES(?,?,?,?)", time, 12, sq, 3);

    struct storage_column key = {.name = "tags", .type = SQL_ARRAY, .kind = STORAGE_DIMENSION};
    build_count_by(root, "mvagg", &key, tags, time, 12);
}

/* arr, arragg: typed ARRAY columns (ARRAY<LONG> la, ARRAY<STRING> sa,
 * ARRAY<DOUBLE> da) in a detail table, six rows persisted and four
 * realtime, and la as the key of an aggregate table (count). Arrays keep
 * their order, duplicates and NULL elements; NULL and [] differ. sqlite
 * gets arr(t, s, n, la, sa, da) with each array as its JSON text (NULL for
 * a NULL array), for json_each. */
static void build_arr(const char *root)
{
    static const struct storage_column cols[] = {
        {.name = "la", .type = SQL_ARRAY, .kind = STORAGE_DIMENSION, .elem = SQL_LONG},
        {.name = "sa", .type = SQL_ARRAY, .kind = STORAGE_DIMENSION, .elem = SQL_STRING},
        {.name = "da", .type = SQL_ARRAY, .kind = STORAGE_DIMENSION, .elem = SQL_DOUBLE},
        {.name = "s", .type = SQL_STRING, .kind = STORAGE_DIMENSION},
        {.name = "n", .type = SQL_LONG, .kind = STORAGE_DIMENSION},
    };
    struct storage_schema sch = {STORAGE_DETAIL, STORAGE_GRAN_DAY, STORAGE_GRAN_MILLISECOND, cols,
                                 5};
    struct storage_table *t = open_table(root, "arr", &sch);
    /* each row's arrays as JSON (NULL: a NULL array) */
    static const struct {
        const char *la, *sa, *da, *s;
    } rows[10] = {
        {"[1,2]", "[\"a\",\"b\"]", "[0.5]", "x"},
        {"[2,1]", "[\"b\",\"a\"]", "[1.5,-2.0]", "y"},
        {"[]", "[]", "[]", "x"},
        {NULL, NULL, NULL, "y"},
        {"[1,2]", "[\"a\",\"b\"]", "[0.5]", "z"},
        {"[3,null,3]", "[\"c\",null,\"\"]", "[null]", "x"},
        {"[7]", "[\"d\"]", "[2.25,2.25]", "y"},
        {"[1,2,3]", "[\"a\",\"a\"]", "[0.5,1.5]", "z"},
        {"[]", "[\"\"]", NULL, NULL},
        {"[2]", "[\"b\"]", "[1.5]", "x"},
    };
    int64_t time[10];
    struct sql_value la[10], sa[10], da[10], sv[10], nv[10], jl[10], js[10], jd[10];
    static struct sql_value items[3][10][4];
    for (int i = 0; i < 10; i++) {
        time[i] = T0 + (int64_t)i * 3600000;
        sv[i] = rows[i].s ? sql_string(rows[i].s, 1) : sql_null(SQL_STRING);
        nv[i] = sql_long(i + 1);
        const char *txt[3] = {rows[i].la, rows[i].sa, rows[i].da};
        struct sql_value *out[3] = {&la[i], &sa[i], &da[i]}, *json[3] = {&jl[i], &js[i], &jd[i]};
        for (int c = 0; c < 3; c++) {
            *json[c] = txt[c] ? sql_string(txt[c], strlen(txt[c])) : sql_null(SQL_STRING);
            if (!txt[c]) {
                *out[c] = sql_null(SQL_ARRAY);
                continue;
            }
            json_error_t je;
            json_t *a = json_loads(txt[c], 0, &je);
            *out[c] = (struct sql_value){.type = SQL_ARRAY};
            out[c]->v.a.items = items[c][i];
            for (size_t k = 0; k < json_array_size(a) && k < 4; k++) {
                json_t *e = json_array_get(a, k);
                struct sql_value *x = &items[c][i][out[c]->v.a.n++];
                if (json_is_null(e))
                    *x = sql_null(c == 0 ? SQL_LONG : c == 1 ? SQL_STRING : SQL_DOUBLE);
                else if (c == 0)
                    *x = sql_long(json_integer_value(e));
                else if (c == 2)
                    *x = sql_double(json_number_value(e));
                else
                    *x = sql_string(strdup(json_string_value(e)), strlen(json_string_value(e)));
            }
            json_decref(a);
        }
    }
    struct sql_value *cv[5] = {la, sa, da, sv, nv};
    append(t, time, 6, cv, 5);
    persist(t);
    struct sql_value *cv2[5] = {la + 6, sa + 6, da + 6, sv + 6, nv + 6};
    append(t, time + 6, 4, cv2, 5);
    sqlite_exec("CREATE TABLE arr(t INTEGER, s TEXT, n INTEGER, la TEXT, sa TEXT, da TEXT)");
    struct sql_value *sq[5] = {sv, nv, jl, js, jd};
    sqlite_load("INSERT INTO arr VALUES(?,?,?,?,?,?)", time, 10, sq, 5);

    struct storage_column key = {
        .name = "la", .type = SQL_ARRAY, .kind = STORAGE_DIMENSION, .elem = SQL_LONG};
    build_count_by(root, "arragg", &key, la, time, 10);
}

/* mvr: 4,000 rows of 0-3 sorted values from {a..e, ''} (a row with none is
 * [] or NULL), 2,500 persisted, the rest realtime; for the random
 * multi-value statements (test_random_mv), with sqlite's copy as JSON text. */
static void build_mvr(const char *root)
{
    static const struct storage_column cols[] = {
        {.name = "tags", .type = SQL_ARRAY, .kind = STORAGE_DIMENSION},
        {.name = "s", .type = SQL_STRING, .kind = STORAGE_DIMENSION},
        {.name = "n", .type = SQL_LONG, .kind = STORAGE_DIMENSION},
    };
    struct storage_schema sch = {STORAGE_DETAIL, STORAGE_GRAN_DAY, STORAGE_GRAN_MILLISECOND, cols,
                                 3};
    struct storage_table *t = open_table(root, "mvr", &sch);
    sqlite_exec("CREATE TABLE mvr(t INTEGER, s TEXT, n INTEGER, tags TEXT)");
    enum { N = 4000 };
    static const char *const vals[] = {"", "a", "b", "c", "d", "e"};
    static const char *const ss[] = {"x", "y", "z"};
    int64_t *time = calloc(N, sizeof *time);
    struct sql_value *tags = calloc(N, sizeof *tags), *sv = calloc(N, sizeof *sv),
                     *nv = calloc(N, sizeof *nv), *js = calloc(N, sizeof *js),
                     *items = calloc(N * 3, sizeof *items);
    char(*json)[64] = calloc(N, sizeof *json);
    struct gen g = {77};
    for (int i = 0; i < N; i++) {
        time[i] = T0 + (int64_t)rnd(&g, 2 * (uint32_t)DAY);
        sv[i] = sql_string(ss[rnd(&g, 3)], 1);
        nv[i] = sql_long(rnd(&g, 100));
        uint32_t k = rnd(&g, 4), pick[3];
        for (uint32_t j = 0; j < k; j++)
            pick[j] = rnd(&g, 6);
        for (uint32_t a = 0; a < k; a++) /* sorted, as SORTED_ARRAY stores them */
            for (uint32_t b = a + 1; b < k; b++)
                if (pick[b] < pick[a]) {
                    uint32_t x = pick[a];
                    pick[a] = pick[b];
                    pick[b] = x;
                }
        if (k == 0) {
            bool as_null = rnd(&g, 2);
            tags[i] = as_null ? sql_null(SQL_ARRAY) : (struct sql_value){.type = SQL_ARRAY};
            tags[i].v.a.items = items + 3 * i;
            js[i] = sql_null(SQL_STRING);
            continue;
        }
        tags[i] = (struct sql_value){.type = SQL_ARRAY};
        tags[i].v.a.items = items + 3 * i;
        size_t o = (size_t)snprintf(json[i], sizeof json[i], "[");
        for (uint32_t j = 0; j < k; j++) {
            items[3 * i + j] = sql_string(vals[pick[j]], strlen(vals[pick[j]]));
            o += (size_t)snprintf(json[i] + o, sizeof json[i] - o, "%s\"%s\"", j ? "," : "",
                                  vals[pick[j]]);
        }
        tags[i].v.a.n = k;
        snprintf(json[i] + o, sizeof json[i] - o, "]");
        js[i] = sql_string(json[i], strlen(json[i]));
    }
    struct sql_value *cv[3] = {tags, sv, nv};
    append(t, time, 2500, cv, 3);
    persist(t);
    struct sql_value *cv2[3] = {tags + 2500, sv + 2500, nv + 2500};
    append(t, time + 2500, N - 2500, cv2, 3);
    struct sql_value *sq[3] = {sv, nv, js};
    sqlite_load("INSERT INTO mvr VALUES(?,?,?,?)", time, N, sq, 3);
    free(time);
    free(tags);
    free(sv);
    free(nv);
    free(js);
    free(items);
    free(json);
}

/* big: 60,000 realtime rows for the timeout and the memory cap. */
static void build_big(const char *root)
{
    static const struct storage_column cols[2] = {
        {"page", SQL_STRING, STORAGE_DIMENSION, 0, {0}},
        {"user", SQL_STRING, STORAGE_DIMENSION, 0, {0}},
    };
    struct storage_schema sch = {STORAGE_DETAIL, STORAGE_GRAN_DAY, STORAGE_GRAN_MILLISECOND, cols,
                                 2};
    struct storage_table *t = open_table(root, "big", &sch);
    enum { N = 60000 };
    int64_t *time = calloc(N, sizeof *time);
    struct sql_value *pv = calloc(N, sizeof *pv), *uv = calloc(N, sizeof *uv);
    char(*pages)[16] = calloc(N, sizeof *pages);
    char(*users)[16] = calloc(N, sizeof *users);
    struct gen g = {7};
    for (uint32_t r = 0; r < N; r++) {
        time[r] = T0 + r * 1000LL;
        snprintf(pages[r], 16, "p%u", rnd(&g, 3000));
        snprintf(users[r], 16, "u%u", rnd(&g, 500));
        pv[r] = sql_string(pages[r], strlen(pages[r]));
        uv[r] = sql_string(users[r], strlen(users[r]));
    }
    struct sql_value *cv[2] = {pv, uv};
    append(t, time, N, cv, 2);
    free(time);
    free(pv);
    free(uv);
    free(pages);
    free(users);
}

/* ---- running cases ---------------------------------------------------------------------- */

struct tcase {
    char name[160];
    char file[128];
    struct buf sql;
    struct buf request;
    struct buf expect; /* lines */
    bool has_expect, unordered;
    char *body; /* expect-body */
    char error[512];
    struct buf contains; /* NUL-separated */
    size_t ncontains;
    struct buf sqlite;
};

static void case_reset(struct tcase *c)
{
    buf_reset(&c->sql);
    buf_reset(&c->request);
    buf_reset(&c->expect);
    buf_reset(&c->contains);
    buf_reset(&c->sqlite);
    free(c->body);
    c->body = NULL;
    c->has_expect = c->unordered = false;
    c->error[0] = 0;
    c->ncontains = 0;
    c->name[0] = 0;
}

/* Lines of s (without empty ones) into a NULL-terminated array. */
static char **split_lines(const char *s, size_t *n)
{
    size_t cap = 16;
    char **v = calloc(cap, sizeof *v);
    *n = 0;
    while (*s) {
        const char *e = strchr(s, '\n');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len) {
            if (*n + 2 > cap) {
                cap *= 2;
                v = realloc(v, cap * sizeof *v);
            }
            v[(*n)++] = strndup(s, len);
        }
        s += len + (e ? 1 : 0);
    }
    v[*n] = NULL;
    return v;
}

static void free_lines(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Canonical text of a JSON line (so that spacing in expectations does not matter). */
static char *canon(const char *line)
{
    json_error_t je;
    json_t *j = json_loads(line, JSON_DECODE_ANY, &je);
    if (!j)
        return strdup(line);
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    json_decref(j);
    return s;
}

/* Cell text for the sqlite comparison. */
static void cell_text(json_t *v, char *out, size_t cap)
{
    if (json_is_null(v))
        snprintf(out, cap, "NULL");
    else if (json_is_string(v))
        snprintf(out, cap, "%s", json_string_value(v));
    else if (json_is_integer(v))
        snprintf(out, cap, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(out, cap, "%.17g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(out, cap, "%d", json_is_true(v) ? 1 : 0);
    else
        snprintf(out, cap, "?");
}

static bool cells_equal(const char *a, const char *b)
{
    if (strcmp(a, b) == 0)
        return true;
    char *ea, *eb;
    double x = strtod(a, &ea), y = strtod(b, &eb);
    if (*a && *b && !*ea && !*eb)
        return fabs(x - y) <= 1e-9 * (fabs(x) > 1 ? fabs(x) : 1);
    return false;
}

/* Splits s in place on tabs, keeping empty cells. */
static char **split_cells(char *s, size_t *n)
{
    *n = 1;
    for (char *p = s; *p; p++)
        *n += *p == '\t';
    char **v = calloc(*n, sizeof *v);
    size_t k = 0;
    v[k++] = s;
    for (char *p = s; *p; p++)
        if (*p == '\t') {
            *p = 0;
            v[k++] = p + 1;
        }
    return v;
}

/* Both results as lines of tab-separated cells, compared cell by cell. */
static void check_sqlite(const struct tcase *c, char **lines, size_t n)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, c->sqlite.data, -1, &st, NULL) != SQLITE_OK) {
        CHECK_MSG(0, "%s: %s: sqlite: %s", c->file, c->name, sqlite3_errmsg(db));
        return;
    }
    size_t cap = 64, m = 0;
    char **rows = calloc(cap, sizeof *rows);
    while (sqlite3_step(st) == SQLITE_ROW) {
        struct buf b;
        buf_init(&b, 0);
        for (int i = 0; i < sqlite3_column_count(st); i++) {
            if (i)
                buf_putc(&b, '\t');
            if (sqlite3_column_type(st, i) == SQLITE_NULL)
                buf_puts(&b, "NULL");
            else if (sqlite3_column_type(st, i) == SQLITE_FLOAT)
                buf_printf(&b, "%.17g", sqlite3_column_double(st, i));
            else
                buf_puts(&b, (const char *)sqlite3_column_text(st, i));
        }
        if (m + 1 >= cap)
            rows = realloc(rows, (cap *= 2) * sizeof *rows);
        rows[m++] = strdup(buf_cstr(&b));
        buf_free(&b);
    }
    sqlite3_finalize(st);
    char **ours = calloc(n + 1, sizeof *ours);
    for (size_t i = 0; i < n; i++) {
        json_t *j = json_loads(lines[i], JSON_DECODE_ANY, NULL);
        struct buf b;
        buf_init(&b, 0);
        for (size_t k = 0; j && k < json_array_size(j); k++) {
            char cell[512];
            cell_text(json_array_get(j, k), cell, sizeof cell);
            if (k)
                buf_putc(&b, '\t');
            buf_puts(&b, cell);
        }
        ours[i] = strdup(buf_cstr(&b));
        buf_free(&b);
        json_decref(j);
    }
    if (c->unordered) {
        qsort(rows, m, sizeof *rows, cmp_str);
        qsort(ours, n, sizeof *ours, cmp_str);
    }
    CHECK_MSG(m == n, "%s: %s: sqlite has %zu rows, we have %zu", c->file, c->name, m, n);
    for (size_t i = 0; i < m && i < n; i++) {
        char *a = strdup(ours[i]), *b = strdup(rows[i]);
        size_t na, nb;
        char **ca = split_cells(a, &na), **cb = split_cells(b, &nb);
        bool same = na == nb;
        for (size_t q = 0; same && q < na; q++)
            same = ca[q] && cb[q] && cells_equal(ca[q], cb[q]);
        CHECK_MSG(same, "%s: %s: row %zu: ours [%s], sqlite [%s]", c->file, c->name, i, ours[i],
                  rows[i]);
        free(ca);
        free(cb);
        free(a);
        free(b);
    }
    for (size_t i = 0; i < m; i++)
        free(rows[i]);
    for (size_t i = 0; i < n; i++)
        free(ours[i]);
    free(rows);
    free(ours);
}

/* The SQL files and the random statements compare COUNT(DISTINCT x) with
 * sqlite's exact count: their requests ask for exact counts (context
 * useApproximateCountDistinct false) unless a case sets it itself, as the
 * sketch cases do. */
static void exact_distinct(json_t *req)
{
    json_t *ctx = json_object_get(req, "context");
    if (!ctx) {
        ctx = json_object();
        json_object_set_new(req, "context", ctx);
    }
    if (json_is_object(ctx) && !json_object_get(ctx, "useApproximateCountDistinct"))
        json_object_set_new(ctx, "useApproximateCountDistinct", json_false());
}

static void run_case(struct tcase *c)
{
    if (!c->name[0])
        return;
    /* the request: the given fields, the SQL, arrayLines unless told */
    json_error_t je;
    json_t *req = c->request.len ? json_loads(c->request.data, 0, &je) : json_object();
    if (!req) {
        CHECK_MSG(0, "%s: %s: bad request JSON: %s", c->file, c->name, je.text);
        return;
    }
    json_object_set_new(req, "query", json_string(buf_cstr(&c->sql)));
    exact_distinct(req);
    if (!json_object_get(req, "resultFormat"))
        json_object_set_new(req, "resultFormat", json_string("arrayLines"));
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    struct arena mem;
    arena_init(&mem, 4096, 0);
    struct query_request qr;
    struct lerr err;
    lerr_init(&err);
    struct buf out;
    buf_init(&out, 64u << 20);
    struct query_result_meta meta;
    int rc = api_query_request_parse(body, strlen(body), &qr, &mem, &err);
    if (!rc) {
        qr.now_ms = T0 + 3 * DAY;
        split_body = body;
        rc = query_execute(&qr, &env, &out, &meta, &err);
        split_body = NULL;
    }
    free(body);
    if (c->error[0]) {
        char kind[64] = {0};
        const char *text = c->error;
        const char *sp = strchr(c->error, ' ');
        snprintf(kind, sizeof kind, "%.*s", (int)(sp ? sp - c->error : (long)strlen(c->error)),
                 c->error);
        text = sp ? sp + 1 : "";
        CHECK_MSG(rc != 0 && strcmp(lerr_name(err.code), kind) == 0 && strstr(err.msg, text),
                  "%s: %s: want error %s, got rc=%d %s: %s", c->file, c->name, c->error, rc,
                  lerr_name(err.code), rc ? err.msg : buf_cstr(&out));
        CHECK_MSG(out.len == 0, "%s: %s: a failed query wrote a body", c->file, c->name);
        goto done;
    }
    if (rc) {
        CHECK_MSG(0, "%s: %s: query failed: %s: %s", c->file, c->name, lerr_name(err.code),
                  err.msg);
        goto done;
    }
    if (!c->body && !c->ncontains && !c->has_expect && !c->sqlite.len)
        CHECK_MSG(0, "%s: %s: no expectation; the body is:\n%s", c->file, c->name, buf_cstr(&out));
    if (c->body)
        CHECK_MSG(strcmp(buf_cstr(&out), c->body) == 0, "%s: %s: body\n%s\nwant\n%s", c->file,
                  c->name, buf_cstr(&out), c->body);
    const char *p = c->contains.data;
    for (size_t i = 0; i < c->ncontains; i++, p += strlen(p) + 1)
        CHECK_MSG(strstr(buf_cstr(&out), p) != NULL, "%s: %s: body lacks \"%s\":\n%s", c->file,
                  c->name, p, buf_cstr(&out));
    if (c->has_expect || c->sqlite.len) {
        size_t ng, nw;
        char **got = split_lines(buf_cstr(&out), &ng);
        char **want = split_lines(buf_cstr(&c->expect), &nw);
        if (c->sqlite.len)
            check_sqlite(c, got, ng);
        if (c->has_expect) {
            for (size_t i = 0; i < ng; i++) {
                char *t = canon(got[i]);
                free(got[i]);
                got[i] = t;
            }
            for (size_t i = 0; i < nw; i++) {
                char *t = canon(want[i]);
                free(want[i]);
                want[i] = t;
            }
            if (c->unordered) {
                qsort(got, ng, sizeof *got, cmp_str);
                qsort(want, nw, sizeof *want, cmp_str);
            }
            bool same = ng == nw;
            for (size_t i = 0; same && i < ng; i++)
                same = strcmp(got[i], want[i]) == 0;
            if (!same) {
                fprintf(stderr, "--- %s: %s: got %zu lines:\n", c->file, c->name, ng);
                for (size_t i = 0; i < ng; i++)
                    fprintf(stderr, "  %s\n", got[i]);
                fprintf(stderr, "--- want %zu lines:\n", nw);
                for (size_t i = 0; i < nw; i++)
                    fprintf(stderr, "  %s\n", want[i]);
            }
            CHECK_MSG(same, "%s: %s: rows differ", c->file, c->name);
        }
        free_lines(got, ng);
        free_lines(want, nw);
    }
done:
    buf_free(&out);
    arena_destroy(&mem);
}

static bool directive(const char *line, const char *name, const char **rest)
{
    size_t n = strlen(name);
    if (strncmp(line, "-- ", 3) != 0 || strncmp(line + 3, name, n) != 0)
        return false;
    const char *r = line + 3 + n;
    if (*r == ':')
        r++;
    else if (*r && *r != '\n')
        return false;
    while (*r == ' ')
        r++;
    *rest = r;
    return true;
}

static void run_file(const char *dir, const char *file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    FILE *f = fopen(path, "r");
    if (!f) {
        CHECK_MSG(0, "cannot open %s", path);
        return;
    }
    struct tcase c;
    memset(&c, 0, sizeof c);
    buf_init(&c.sql, 0);
    buf_init(&c.request, 0);
    buf_init(&c.expect, 0);
    buf_init(&c.contains, 0);
    buf_init(&c.sqlite, 0);
    snprintf(c.file, sizeof c.file, "%s", file);
    enum { IN_NONE, IN_SQL, IN_EXPECT } mode = IN_NONE;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) >= 0) {
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        const char *rest;
        if (directive(line, "query", &rest)) {
            run_case(&c);
            case_reset(&c);
            snprintf(c.name, sizeof c.name, "%s", rest);
            mode = IN_SQL;
        } else if (directive(line, "request", &rest)) {
            buf_puts(&c.request, rest);
            mode = IN_NONE;
        } else if (directive(line, "expect", &rest)) {
            c.has_expect = true;
            mode = IN_EXPECT;
        } else if (directive(line, "unordered", &rest)) {
            c.unordered = true;
        } else if (directive(line, "layout-order", &rest)) {
            /* the rows of a table whose scans are pushed down come in the order of
             * the nodes' images */
            c.unordered = env.open_scan != NULL;
        } else if (directive(line, "expect-body", &rest)) {
            json_t *j = json_loads(rest, JSON_DECODE_ANY, NULL);
            CHECK_MSG(json_is_string(j), "%s: %s: expect-body needs a JSON string", file, c.name);
            if (json_is_string(j))
                c.body = strdup(json_string_value(j));
            json_decref(j);
            mode = IN_NONE;
        } else if (directive(line, "expect-error", &rest)) {
            snprintf(c.error, sizeof c.error, "%s", rest);
            mode = IN_NONE;
        } else if (directive(line, "expect-contains", &rest)) {
            buf_append(&c.contains, rest, strlen(rest) + 1);
            c.ncontains++;
            mode = IN_NONE;
        } else if (directive(line, "sqlite", &rest)) {
            buf_puts(&c.sqlite, rest);
            mode = IN_NONE;
        } else if (line[0] == '#') {
            continue; /* comment */
        } else if (mode == IN_SQL) {
            if (c.sql.len)
                buf_putc(&c.sql, '\n');
            buf_puts(&c.sql, line);
        } else if (mode == IN_EXPECT && len && line[0] != '#') {
            buf_puts(&c.expect, line);
            buf_putc(&c.expect, '\n');
        }
    }
    run_case(&c);
    case_reset(&c);
    free(line);
    fclose(f);
    buf_free(&c.sql);
    buf_free(&c.request);
    buf_free(&c.expect);
    buf_free(&c.contains);
    buf_free(&c.sqlite);
}

/* ---- request parsing --------------------------------------------------------------------- */

static void test_request_parse(void)
{
    struct arena mem;
    arena_init(&mem, 4096, 0);
    struct query_request r;
    struct lerr err;
    static const char ok[] =
        "{\"query\":\"SELECT ?\",\"resultFormat\":\"csv\",\"header\":true,\"typesHeader\":true,"
        "\"parameters\":[{\"type\":\"BIGINT\",\"value\":7},{\"type\":\"TIMESTAMP\","
        "\"value\":\"2000-01-02 03:04:05\"},{\"type\":\"VARCHAR\",\"value\":null}],"
        "\"context\":{\"timeout\":\"1500\",\"sqlTimeZone\":\"America/Los_Angeles\","
        "\"useCache\":false,\"maxQueryBytes\":1000000}}";
    lerr_init(&err);
    CHECK_EQ_INT(api_query_request_parse(ok, strlen(ok), &r, &mem, &err), 0);
    CHECK_EQ_INT(r.format, QUERY_FORMAT_CSV);
    CHECK(r.header && r.types_header && !r.sql_types_header);
    CHECK_EQ_INT(r.nparams, 3);
    CHECK_EQ_INT(r.params[0].v.l, 7);
    CHECK_EQ_INT(r.params[1].type, SQL_TIMESTAMP);
    CHECK_EQ_INT(r.params[1].v.l, 946782245000LL);
    CHECK(r.params[2].is_null);
    CHECK_EQ_INT(r.timeout_ms, 1500);
    CHECK_EQ_INT(r.max_bytes, 1000000);
    CHECK_EQ_STR(r.time_zone, "America/Los_Angeles");

    static const struct {
        const char *body, *target, *msg;
    } bad[] = {
        {"{\"query\":\"SELECT 1\",\"resultformat\":\"csv\"}", "resultformat",
         "did you mean 'resultFormat'"},
        {"{\"query\":\"SELECT 1\",\"resultFormat\":\"xml\"}", "resultFormat", "object, array"},
        {"{\"query\":1}", "query", "must be the SQL text"},
        {"{\"query\":\"SELECT ?\",\"parameters\":[{\"type\":\"BIGINT\",\"value\":\"x\"}]}",
         "parameters[0].value", "type 'BIGINT'"},
        {"{\"query\":\"SELECT ?\",\"parameters\":[{\"type\":\"BLOB\",\"value\":1}]}",
         "parameters[0].value", "types: VARCHAR"},
        {"{\"query\":\"SELECT 1\",\"context\":{\"timeout\":-5}}", "context.timeout", ">= 0"},
        {"{\"query\":\"SELECT 1\",\"header\":\"yes\"}", "header", "true or false"},
        {"[1]", "", "JSON object"},
        {"{\"query\":", "", "not valid JSON"},
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(bad); i++) {
        lerr_init(&err);
        int rc = api_query_request_parse(bad[i].body, strlen(bad[i].body), &r, &mem, &err);
        CHECK_MSG(rc == LERR_INVALID && strstr(err.msg, bad[i].msg) &&
                      strcmp(err.target, bad[i].target) == 0,
                  "request %zu: rc=%d target '%s' msg %s", i, rc, err.target, err.msg);
    }
    CHECK_EQ_INT(query_format_parse("objectLines", 11), QUERY_FORMAT_OBJECT_LINES);
    CHECK_EQ_INT(query_format_parse("nope", 4), -1);
    arena_destroy(&mem);
}

/* context.sqlOuterLimit: read on Druid's route only, a whole number >= 1. */
static void test_request_parse_druid(void)
{
    struct arena mem;
    arena_init(&mem, 4096, 0);
    struct query_request r;
    struct lerr err;
    static const char body[] =
        "{\"query\":\"SELECT 1\",\"context\":{\"sqlOuterLimit\":\"25\",\"sqlQueryId\":\"q-1\"}}";
    lerr_init(&err);
    CHECK_EQ_INT(api_query_request_parse_druid(body, strlen(body), &r, &mem, &err), 0);
    CHECK_EQ_INT(r.outer_limit, 25);
    CHECK_EQ_STR(r.query_id, "q-1");
    CHECK_EQ_INT(r.format, QUERY_FORMAT_OBJECT); /* Druid's default */
    lerr_init(&err);
    CHECK_EQ_INT(api_query_request_parse(body, strlen(body), &r, &mem, &err), 0);
    CHECK_EQ_INT(r.outer_limit, 0); /* /v1 leaves it alone, as an unknown key */
    static const struct {
        const char *body, *msg;
    } bad[] = {
        {"{\"query\":\"SELECT 1\",\"context\":{\"sqlOuterLimit\":0}}", "at least 1"},
        {"{\"query\":\"SELECT 1\",\"context\":{\"sqlOuterLimit\":-3}}", "not -3"},
        {"{\"query\":\"SELECT 1\",\"context\":{\"sqlOuterLimit\":1.5}}", "whole number"},
        {"{\"query\":\"SELECT 1\",\"context\":{\"sqlOuterLimit\":\"ten\"}}", "whole number"},
    };
    for (size_t i = 0; i < LS_ARRAY_LEN(bad); i++) {
        lerr_init(&err);
        int rc = api_query_request_parse_druid(bad[i].body, strlen(bad[i].body), &r, &mem, &err);
        CHECK_MSG(rc == LERR_INVALID && strstr(err.msg, bad[i].msg) &&
                      strcmp(err.target, "context.sqlOuterLimit") == 0,
                  "druid request %zu: rc=%d target '%s' msg %s", i, rc, err.target, err.msg);
    }
    /* the cap applies to the rows written, after ORDER BY */
    static const char sql[] = "SELECT s FROM tiny ORDER BY s DESC";
    query_request_init(&r);
    r.sql = sql;
    r.sql_len = strlen(sql);
    r.format = QUERY_FORMAT_ARRAY_LINES;
    r.header = true;
    r.outer_limit = 2;
    struct buf out;
    buf_init(&out, 0);
    lerr_init(&err);
    CHECK_EQ_INT(query_execute(&r, &env, &out, NULL, &err), 0);
    CHECK_EQ_STR(buf_cstr(&out), "[\"s\"]\n[\"\xc3\x9cn\xc3\xaf\"]\n[\"c\"]\n\n");
    /* ... and is pushed into the plan: a top-N of 2 rows, not a sort of all;
     * a smaller LIMIT of the query's own stays, a larger one is capped */
    static const char explain[] = "EXPLAIN PLAN FOR SELECT s FROM tiny ORDER BY s DESC";
    static const char own[] = "SELECT s FROM tiny ORDER BY s DESC LIMIT 1";
    static const char larger[] = "SELECT s FROM tiny ORDER BY s DESC LIMIT 50 OFFSET 1";
    r.sql = explain;
    r.sql_len = strlen(explain);
    out.len = 0;
    CHECK_EQ_INT(query_execute(&r, &env, &out, NULL, &err), 0);
    CHECK_MSG(strstr(buf_cstr(&out), "top-N keeping 2 rows") != NULL, "plan: %s", buf_cstr(&out));
    r.sql = own;
    r.sql_len = strlen(own);
    out.len = 0;
    CHECK_EQ_INT(query_execute(&r, &env, &out, NULL, &err), 0);
    CHECK_EQ_STR(buf_cstr(&out), "[\"s\"]\n[\"\xc3\x9cn\xc3\xaf\"]\n\n");
    r.sql = larger;
    r.sql_len = strlen(larger);
    out.len = 0;
    CHECK_EQ_INT(query_execute(&r, &env, &out, NULL, &err), 0);
    CHECK_EQ_STR(buf_cstr(&out), "[\"s\"]\n[\"c\"]\n[\"b\"]\n\n");
    buf_free(&out);
    arena_destroy(&mem);
}

/* ---- sys.segments and sys.tasks over a server's lists ------------------------------------ */

static const struct query_segment fake_segments[] = {
    {"wiki", "a.seg", T0, T0 + DAY, T0 + 5000, 0, 1000, 10, true, true, false, "[\"s\"]", "[]"},
    {"wiki", "b.seg", T0, T0 + DAY, T0 + 5000, 1, 2000, 20, true, false, false, NULL, NULL},
    {"all", "c.seg", INT64_MIN, INT64_MAX, T0, 0, 300, 3, true, true, false, NULL, NULL},
    {"wiki", NULL, T0 + DAY, T0 + 2 * DAY, 0, 0, 0, 7, false, true, true, "[\"s\"]", "[\"m\"]"},
};

static int fake_list_segments(void *ctx, query_segment_fn fn, void *arg, struct lerr *err)
{
    (void)ctx;
    (void)err;
    for (size_t i = 0; i < LS_ARRAY_LEN(fake_segments); i++) {
        int rc = fn(arg, &fake_segments[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static const struct query_task fake_tasks[] = {
    {"j1", "batch", "wiki", "succeeded", NULL, T0, T0 + 100, T0 + 1600},
    {"j2", "streaming", "live", "running", NULL, T0 + 1, T0 + 200, 0},
    {"j3", "streaming", "live", "pending", NULL, T0 + 2, 0, 0},
    {"j4", "batch", "wiki", "failed", "the file is not nd-json", T0 + 3, T0 + 300, T0 + 400},
    {"j5", "streaming", "live", "canceled", NULL, T0 + 4, T0 + 400, T0 + 900},
    {"j6", "streaming", "live", "suspended", NULL, T0 + 5, T0 + 500, T0 + 700},
};

static int fake_list_tasks(void *ctx, query_task_fn fn, void *arg, struct lerr *err)
{
    (void)ctx;
    (void)err;
    for (size_t i = 0; i < LS_ARRAY_LEN(fake_tasks); i++) {
        int rc = fn(arg, &fake_tasks[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static void sys_query(const struct query_env *e, const char *sql, const char *want)
{
    struct query_request r;
    query_request_init(&r);
    r.sql = sql;
    r.sql_len = strlen(sql);
    r.format = QUERY_FORMAT_ARRAY_LINES;
    struct buf out;
    buf_init(&out, 0);
    struct lerr err;
    lerr_init(&err);
    int rc = query_execute(&r, e, &out, NULL, &err);
    CHECK_MSG(rc == 0 && strcmp(buf_cstr(&out), want) == 0, "%s\n  got rc=%d %s%s\n  want %s", sql,
              rc, buf_cstr(&out), err.msg, want);
    buf_free(&out);
}

static void test_sys_tables(void)
{
    struct query_env e = env;
    e.list_segments = fake_list_segments;
    e.list_tasks = fake_list_tasks;
    sys_query(
        &e,
        "SELECT segment_id, \"start\", \"end\", \"size\", version, partition_num, "
        "num_replicas, num_rows, is_active, is_published, is_available, is_realtime, "
        "is_overshadowed FROM sys.segments WHERE datasource = 'wiki'",
        "[\"wiki_2024-01-01T00:00:00.000Z_2024-01-02T00:00:00.000Z_2024-01-01T00:00:05.000Z\","
        "\"2024-01-01T00:00:00.000Z\",\"2024-01-02T00:00:00.000Z\",1000,"
        "\"2024-01-01T00:00:05.000Z\",0,1,10,1,1,1,0,0]\n"
        "[\"wiki_2024-01-01T00:00:00.000Z_2024-01-02T00:00:00.000Z_2024-01-01T00:00:05.000Z_"
        "1\",\"2024-01-01T00:00:00.000Z\",\"2024-01-02T00:00:00.000Z\",2000,"
        "\"2024-01-01T00:00:05.000Z\",1,0,20,1,1,0,0,0]\n"
        "[\"wiki_2024-01-02T00:00:00.000Z_2024-01-03T00:00:00.000Z_realtime\","
        "\"2024-01-02T00:00:00.000Z\",\"2024-01-03T00:00:00.000Z\",0,null,0,1,7,1,0,1,1,0]\n"
        "\n");
    /* a table partitioned ALL: Druid's eternity */
    sys_query(
        &e, "SELECT segment_id, \"start\", \"end\" FROM sys.segments WHERE datasource = 'all'",
        "[\"all_-146136543-09-08T08:23:32.096Z_146140482-04-24T15:36:27.903Z_2024-01-01T00:00:"
        "00.000Z\",\"-146136543-09-08T08:23:32.096Z\",\"146140482-04-24T15:36:27.903Z\"]\n\n");
    sys_query(&e,
              "SELECT shard_spec, dimensions, metrics, last_compaction_state FROM sys.segments "
              "WHERE is_realtime = 1 OR partition_num = 1",
              "[\"{\\\"type\\\":\\\"numbered\\\",\\\"partitionNum\\\":1,\\\"partitions\\\":0}\","
              "null,null,null]\n"
              "[\"{\\\"type\\\":\\\"numbered\\\",\\\"partitionNum\\\":0,\\\"partitions\\\":0}\","
              "\"[\\\"s\\\"]\",\"[\\\"m\\\"]\",null]\n\n");
    sys_query(&e,
              "SELECT datasource, SUM(\"size\"), SUM(num_rows), COUNT(*) FROM sys.segments "
              "WHERE is_active = 1 GROUP BY 1 ORDER BY 1",
              "[\"all\",300,3,1]\n[\"wiki\",3000,37,3]\n\n");
    sys_query(
        &e,
        "SELECT task_id, group_id, type, datasource, created_time, queue_insertion_time, "
        "status, runner_status, duration, location, host, plaintext_port, tls_port, "
        "error_msg FROM sys.tasks ORDER BY task_id",
        "[\"j1\",\"j1\",\"batch\",\"wiki\",\"2024-01-01T00:00:00.000Z\","
        "\"2024-01-01T00:00:00.000Z\",\"SUCCESS\",\"NONE\",1500,null,null,null,null,null]\n"
        "[\"j2\",\"j2\",\"streaming\",\"live\",\"2024-01-01T00:00:00.001Z\","
        "\"2024-01-01T00:00:00.001Z\",\"RUNNING\",\"RUNNING\",null,null,null,null,null,null]\n"
        "[\"j3\",\"j3\",\"streaming\",\"live\",\"2024-01-01T00:00:00.002Z\","
        "\"2024-01-01T00:00:00.002Z\",\"RUNNING\",\"PENDING\",null,null,null,null,null,null]\n"
        "[\"j4\",\"j4\",\"batch\",\"wiki\",\"2024-01-01T00:00:00.003Z\","
        "\"2024-01-01T00:00:00.003Z\",\"FAILED\",\"NONE\",100,null,null,null,null,"
        "\"the file is not nd-json\"]\n"
        "[\"j5\",\"j5\",\"streaming\",\"live\",\"2024-01-01T00:00:00.004Z\","
        "\"2024-01-01T00:00:00.004Z\",\"FAILED\",\"NONE\",500,null,null,null,null,null]\n"
        "[\"j6\",\"j6\",\"streaming\",\"live\",\"2024-01-01T00:00:00.005Z\","
        "\"2024-01-01T00:00:00.005Z\",\"SUCCESS\",\"NONE\",200,null,null,null,null,null]\n"
        "\n");
    sys_query(&e, "SELECT status, COUNT(*) FROM sys.tasks GROUP BY 1 ORDER BY 1",
              "[\"FAILED\",2]\n[\"RUNNING\",2]\n[\"SUCCESS\",2]\n\n");
}

/* A query's snapshot is fixed: rows appended while its result is being
 * written are not in it, and appends never wait for queries. */
static void test_snapshot_and_meta(void)
{
    struct query_request r;
    query_request_init(&r);
    static const char sql[] = "SELECT COUNT(*) FROM tiny";
    r.sql = sql;
    r.sql_len = strlen(sql);
    r.format = QUERY_FORMAT_ARRAY;
    struct buf out;
    buf_init(&out, 0);
    struct query_result_meta meta;
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(query_execute(&r, &env, &out, &meta, &err), 0);
    CHECK_EQ_STR(buf_cstr(&out), "[[12]]\n");
    CHECK_EQ_STR(meta.content_type, "application/json");
    CHECK_EQ_INT(meta.rows, 1);
    CHECK_EQ_INT(meta.ncols, 1);
    /* a body that cannot grow past its cap fails cleanly and stays empty */
    struct buf small;
    buf_init(&small, 8);
    static const char sql2[] = "SELECT page FROM wiki";
    r.sql = sql2;
    r.sql_len = strlen(sql2);
    lerr_init(&err);
    CHECK_EQ_INT(query_execute(&r, &env, &small, &meta, &err), LERR_INVALID);
    CHECK(strstr(err.msg, "response body") != NULL);
    CHECK_EQ_INT(small.len, 0);
    buf_free(&small);
    buf_free(&out);
}

/* Queries run while a writer appends: each sees whole batches only (its
 * snapshot), counts never go backwards, and appends never wait for them. */
struct live {
    struct storage_table *t;
    int batches;
    _Atomic int done;
    struct lerr err; /* the writer's first failure (checked after join) */
};

static void *live_writer(void *arg)
{
    struct live *l = arg;
    enum { ROWS = 100 };
    int64_t time[ROWS];
    struct sql_value v[ROWS];
    static const char *const vals[] = {"x", "y", "z"};
    for (int b = 0; b < l->batches; b++) {
        for (int i = 0; i < ROWS; i++) {
            time[i] = T0 + (int64_t)(b * ROWS + i) * 1000;
            v[i] = sql_string(vals[(b + i) % 3], 1);
        }
        struct storage_batch_col bc = {1, v, NULL};
        struct storage_batch batch = {ROWS, time, 1, &bc};
        if (storage_table_append(l->t, &batch, &l->err) ||
            (b % 50 == 49 && storage_table_persist(l->t, commit_noop, NULL, &l->err)))
            break;
    }
    l->done = 1;
    return NULL;
}

static void test_concurrent_appends(const char *root)
{
    static const struct storage_column cols[1] = {{"v", SQL_STRING, STORAGE_DIMENSION, 0, {0}}};
    struct storage_schema sch = {STORAGE_DETAIL, STORAGE_GRAN_HOUR, STORAGE_GRAN_MILLISECOND, cols,
                                 1};
    struct live l = {open_table(root, "live", &sch), 200, 0, {0}};
    lerr_init(&l.err);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, live_writer, &l) == 0);
    static const char *const sqls[] = {
        "SELECT COUNT(*) FROM live",
        "SELECT COUNT(*) FROM live WHERE v IN ('x', 'y', 'z')",
    };
    long last = 0, queries = 0, bad = 0;
    bool final_seen = false, failed = false;
    while (!final_seen && !failed) {
        final_seen = l.done; /* one more round after the writer finished */
        for (size_t i = 0; i < LS_ARRAY_LEN(sqls); i++) {
            struct query_request r;
            query_request_init(&r);
            r.sql = sqls[i];
            r.sql_len = strlen(sqls[i]);
            r.format = QUERY_FORMAT_CSV;
            struct buf out;
            buf_init(&out, 0);
            struct lerr err;
            lerr_init(&err);
            if (query_execute(&r, &env, &out, NULL, &err) != 0) {
                CHECK_MSG(0, "live query failed: %s", err.msg);
                failed = true;
                buf_free(&out);
                break;
            }
            long n = atol(buf_cstr(&out));
            bad += n % 100 != 0 || n < last;
            last = n;
            queries++;
            buf_free(&out);
        }
    }
    pthread_join(th, NULL);
    CHECK_MSG(l.err.code == 0, "live writer: %s", l.err.msg);
    CHECK_MSG(bad == 0, "%ld of %ld live queries saw a partial batch or went backwards", bad,
              queries);
    CHECK_EQ_INT(last, 200 * 100);
}

/* ---- memory: budgets, the pool, limits --------------------------------------------------- */

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long max_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024;
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* What others hold from the pool (a simulated concurrent query). */
static uint64_t pool_held;

/* One request {"query": sql, "resultFormat": "arrayLines", "context": ctx};
 * the pool must be back where it was after it, whatever happened. */
static int mem_query(const char *sql, const char *ctx, struct buf *out, struct lerr *err,
                     double *secs)
{
    json_t *req = json_pack("{s:s, s:s}", "query", sql, "resultFormat", "arrayLines");
    if (ctx)
        json_object_set_new(req, "context", json_loads(ctx, 0, NULL));
    exact_distinct(req);
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    struct arena mem;
    arena_init(&mem, 4096, 0);
    struct query_request qr;
    lerr_init(err);
    buf_reset(out);
    double t0 = mono_s();
    int rc = api_query_request_parse(body, strlen(body), &qr, &mem, err);
    if (!rc) {
        qr.now_ms = T0 + 3 * DAY;
        rc = query_execute(&qr, &env, out, NULL, err);
    }
    if (secs)
        *secs = mono_s() - t0;
    free(body);
    arena_destroy(&mem);
    CHECK_MSG(query_memory_in_use() == pool_held,
              "%.60s: the query left %llu bytes taken from the pool", sql,
              (unsigned long long)(query_memory_in_use() - pool_held));
    return rc;
}

static int64_t one_long(struct buf *out)
{
    return out->data ? strtoll(out->data + (out->data[0] == '['), NULL, 10) : -1;
}

static void test_memory(void)
{
    struct buf out, sql;
    buf_init(&out, 0);
    buf_init(&sql, 0);
    struct lerr err;
    double secs;
    long rss0 = max_rss_mb();

    /* strings built per row are charged before they exist: REPEAT over the
     * 60,000 rows of big wants 24 GB; refused at the budget, at once */
    int rc = mem_query("SELECT REPEAT(page, 100000) FROM big", "{\"maxQueryBytes\": 67108864}",
                       &out, &err, &secs);
    CHECK_MSG(rc == LERR_INVALID && strstr(err.msg, "query memory limit exceeded") &&
                  strstr(err.msg, "context.maxQueryBytes = 67108864") && strstr(err.msg, "REPEAT"),
              "rc=%d %s", rc, err.msg);
    CHECK_EQ_INT(lerr_http_status(err.code), 400);
    CHECK_MSG(secs < 2.0, "refused after %.2f s", secs);
    CHECK_EQ_INT(out.len, 0);
    if (!UNDER_ASAN) /* before budgets, a block's 4,096 strings were made first: 2 GB */
        CHECK_MSG(max_rss_mb() - rss0 < 256, "the refused query grew the process by %ld MB",
                  max_rss_mb() - rss0);

    /* ... but what only an inner expression builds is freed row by row:
     * LENGTH(REPEAT()) answers within a 16 MB budget */
    rc = mem_query("SELECT SUM(LENGTH(page)) FROM big", NULL, &out, &err, NULL);
    int64_t chars = one_long(&out);
    CHECK_MSG(rc == 0 && chars > 60000, "rc=%d %s", rc, err.msg);
    rc = mem_query("SELECT SUM(LENGTH(REPEAT(page, 10000))) FROM big",
                   "{\"maxQueryBytes\": 16777216}", &out, &err, NULL);
    CHECK_MSG(rc == 0 && one_long(&out) == chars * 10000, "rc=%d %s %s", rc, err.msg,
              buf_cstr(&out));
    rc = mem_query("SELECT COUNT(*) FROM big WHERE LENGTH(page) > 4", NULL, &out, &err, NULL);
    int64_t long_pages = one_long(&out);
    rc = mem_query("SELECT COUNT(*) FROM big WHERE LENGTH(REPEAT(page, 10000)) > 40000",
                   "{\"maxQueryBytes\": 16777216}", &out, &err, NULL);
    CHECK_MSG(rc == 0 && one_long(&out) == long_pages && long_pages > 0, "rc=%d %s %s", rc,
              err.msg, buf_cstr(&out));
    /* a WHERE row that cannot get memory fails the query: never a count
     * silently missing it */
    rc = mem_query("SELECT COUNT(*) FROM big WHERE REPEAT(page, 3000000) <> ''",
                   "{\"maxQueryBytes\": 8388608}", &out, &err, NULL);
    CHECK_MSG(rc == LERR_INVALID && strstr(err.msg, "query memory limit exceeded"), "rc=%d %s %s",
              rc, err.msg, buf_cstr(&out));
    /* LIMIT without ORDER BY builds only the rows it keeps */
    buf_reset(&sql);
    buf_puts(&sql, "SELECT CONCAT(page");
    for (int i = 1; i < 10000; i++)
        buf_puts(&sql, ", page");
    buf_puts(&sql, ") FROM big LIMIT 1");
    rc = mem_query(sql.data, "{\"maxQueryBytes\": 16777216}", &out, &err, &secs);
    CHECK_MSG(rc == 0 && out.len > 20000, "rc=%d %s", rc, err.msg);

    /* group tables, sorts and results are charged too */
    rc = mem_query("SELECT page, user, COUNT(*) FROM big GROUP BY 1, 2",
                   "{\"maxQueryBytes\": 1048576}", &out, &err, &secs);
    CHECK_MSG(rc == LERR_INVALID && strstr(err.msg, "context.maxQueryBytes = 1048576") &&
                  secs < 1.0,
              "rc=%d %.2f s %s", rc, secs, err.msg);
    rc = mem_query("SELECT page, user FROM big ORDER BY user, page",
                   "{\"maxQueryBytes\": 1048576}", &out, &err, &secs);
    CHECK_MSG(rc == LERR_INVALID && strstr(err.msg, "context.maxQueryBytes = 1048576") &&
                  secs < 1.0,
              "rc=%d %.2f s %s", rc, secs, err.msg);
    rc = mem_query("SELECT page, user, __time FROM big", "{\"maxQueryBytes\": 3145728}", &out,
                   &err, &secs);
    CHECK_MSG(rc == LERR_INVALID && strstr(err.msg, "context.maxQueryBytes = 3145728"), "rc=%d %s",
              rc, err.msg);
    CHECK_EQ_INT(out.len, 0);

    /* the parse and bound trees are charged: a 50,000-term OR is refused
     * within a 1 MB budget while parsing, and answers within a normal one */
    buf_reset(&sql);
    buf_puts(&sql, "SELECT COUNT(*) FROM big WHERE user = 'u0'");
    for (int i = 1; i < 50000; i++)
        buf_printf(&sql, " OR user = 'u%d'", i);
    rc = mem_query(sql.data, "{\"maxQueryBytes\": 1048576}", &out, &err, NULL);
    CHECK_MSG(rc == LERR_INVALID && strstr(err.msg, "parsing the query"), "rc=%d %s", rc, err.msg);
    rc = mem_query(sql.data, NULL, &out, &err, &secs);
    CHECK_MSG(rc == 0 && one_long(&out) == 60000, "rc=%d %s %s", rc, err.msg, buf_cstr(&out));
    CHECK_MSG(secs < 2.0, "a 50,000-term OR took %.2f s", secs);

    /* the pool of all queries: spent by others, a query gets a 503 to retry */
    struct query_limits lim = {64u << 20, 64u << 20}, got;
    query_limits_set(&lim);
    query_limits_get(&got);
    CHECK(got.total_bytes == 64u << 20 && got.max_query_bytes == 64u << 20);
    struct mem_budget other; /* another query, holding 60 MB */
    mem_budget_init(&other, 0, &query__pool);
    CHECK(mem_budget_charge(&other, 60u << 20));
    pool_held = query_memory_in_use();
    rc = mem_query("SELECT REPEAT(page, 1000) FROM big", NULL, &out, &err, &secs);
    CHECK_MSG(rc == LERR_UNAVAILABLE && strstr(err.msg, "in use by other queries") &&
                  strstr(err.msg, "LODESTAR_QUERY_TOTAL_BYTES") && secs < 1.0,
              "rc=%d %.2f s %s", rc, secs, err.msg);
    CHECK_EQ_INT(lerr_http_status(err.code), 503);
    CHECK_EQ_INT(query_memory_in_use(), 60u << 20); /* the failed query gave all back */
    mem_budget_destroy(&other);
    pool_held = 0;
    rc = mem_query("SELECT REPEAT(page, 1000) FROM big", NULL, &out, &err, NULL);
    CHECK_MSG(rc == LERR_INVALID && strstr(err.msg, "context.maxQueryBytes = 67108864"),
              "the default budget is the server's limit when lower: rc=%d %s", rc, err.msg);
    /* context.maxQueryBytes may not ask for more than the server allows */
    lim.max_query_bytes = 32u << 20;
    query_limits_set(&lim);
    rc = mem_query("SELECT 1", "{\"maxQueryBytes\": 33554433}", &out, &err, NULL);
    CHECK_MSG(rc == LERR_INVALID && strcmp(err.target, "context.maxQueryBytes") == 0 &&
                  strstr(err.msg, "LODESTAR_QUERY_MAX_BYTES = 33554432"),
              "rc=%d %s", rc, err.msg);
    rc = mem_query("SELECT 1", "{\"maxQueryBytes\": 33554432}", &out, &err, NULL);
    CHECK_MSG(rc == 0, "%s", err.msg);

    /* the environment */
    setenv("LODESTAR_QUERY_TOTAL_BYTES", "3G", 1);
    setenv("LODESTAR_QUERY_MAX_BYTES", "512MiB", 1);
    lerr_init(&err);
    CHECK_EQ_INT(query_limits_from_env(&err), 0);
    query_limits_get(&got);
    CHECK(got.total_bytes == 3ull << 30 && got.max_query_bytes == 512ull << 20);
    setenv("LODESTAR_QUERY_MAX_BYTES", "lots", 1);
    lerr_init(&err);
    CHECK_EQ_INT(query_limits_from_env(&err), LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "LODESTAR_QUERY_MAX_BYTES='lots' is not a memory size"), "%s",
              err.msg);
    setenv("LODESTAR_QUERY_MAX_BYTES", "0", 1);
    lerr_init(&err);
    CHECK_EQ_INT(query_limits_from_env(&err), LERR_INVALID);
    unsetenv("LODESTAR_QUERY_TOTAL_BYTES");
    unsetenv("LODESTAR_QUERY_MAX_BYTES");
    /* the rows per thread of a parallel aggregation */
    uint64_t par_min = query__agg_par_min_rows;
    setenv("LODESTAR_QUERY_PARALLEL_MIN_ROWS", "1000", 1);
    lerr_init(&err);
    CHECK_EQ_INT(query_limits_from_env(&err), 0);
    CHECK_MSG(query__agg_par_min_rows == 1000, "%llu",
              (unsigned long long)query__agg_par_min_rows);
    setenv("LODESTAR_QUERY_PARALLEL_MIN_ROWS", "-5", 1);
    lerr_init(&err);
    CHECK_EQ_INT(query_limits_from_env(&err), LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "LODESTAR_QUERY_PARALLEL_MIN_ROWS='-5' is not a number of rows") &&
                  query__agg_par_min_rows == 1000,
              "%s", err.msg);
    unsetenv("LODESTAR_QUERY_PARALLEL_MIN_ROWS");
    query__agg_par_min_rows = par_min;
    lerr_init(&err);
    CHECK_EQ_INT(query_limits_from_env(&err), 0); /* unset: the defaults */
    query_limits_get(&got);
    CHECK(got.total_bytes >= (64u << 20) && got.total_bytes <= (2ull << 30) &&
          got.max_query_bytes == got.total_bytes);
    buf_free(&out);
    buf_free(&sql);
}

/* ---- random queries against sqlite3 ------------------------------------------------ */

/*
 * Differential testing: random statements over wiki (filters of nested
 * AND/OR/NOT over every column kind, GROUP BY one or two keys with HAVING,
 * top-N with every key in ORDER BY, IN and EXISTS subqueries, joins (inner,
 * left) with a grouped derived table, WITH, UNION ALL, window functions over
 * grouped rows), each written twice — in Druid SQL and in sqlite3's — and
 * the two answers compared as the SQL test files do. The generator writes
 * only what both engines define alike: no NULL-ordering, ties broken by
 * every key, time as a number on sqlite's side. LODESTAR_RANDOM_SQL=<n>[,<seed>]
 * runs more (default 300 over wiki, then 50 over many with the scans split
 * over threads; seed 1); a failure prints both texts;
 * LODESTAR_RANDOM_SQL_PRINT=1 prints every statement. test_random_mv does the
 * same over the multi-value table mvr.
 */
struct rq {
    struct buf d, s; /* Druid SQL, sqlite SQL */
    struct gen *g;
    const char *qual; /* what the filters put before a column name */
};

static void rq_both(struct rq *q, const char *text)
{
    buf_puts(&q->d, text);
    buf_puts(&q->s, text);
}

static void rq_fmt(struct rq *q, const char *fmt, ...) LS_PRINTF(2, 3);
static void rq_fmt(struct rq *q, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    rq_both(q, tmp);
}

static const char *const rq_dims[] = {"\"channel\"", "\"user\"", "\"countryName\"", "\"isRobot\"",
                                      "\"page\""};
static const char *const rq_nums[] = {"\"added\"", "\"deleted\"", "\"delta\"", "\"score\""};

static void rq_pred(struct rq *q, int depth)
{
    struct gen *g = q->g;
    const char *a = q->qual; /* "" or "a.": the table's qualifier in a join */
    uint32_t k = rnd(g, depth > 0 ? 14 : 10);
    static const char *const channels[] = {"#en.wikipedia", "#fr.wikipedia", "#de.wikipedia",
                                           "#xx"};
    static const char *const countries[] = {"France", "Germany", "", "Japan"};
    switch (k) {
    case 0: rq_fmt(q, "%s\"channel\" = '%s'", a, channels[rnd(g, 4)]); break;
    case 1: rq_fmt(q, "%s\"countryName\" <> '%s'", a, countries[rnd(g, 4)]); break;
    case 2: rq_fmt(q, "%s\"countryName\" IS %sNULL", a, rnd(g, 2) ? "NOT " : ""); break;
    case 3:
        rq_fmt(q, "%s\"user\" IN ('user%u', 'user%u', 'user%u')", a, rnd(g, 50), rnd(g, 50),
               rnd(g, 50));
        break;
    case 4:
        rq_fmt(q, "%s\"page\" %sLIKE '%s%u%%'", a, rnd(g, 4) ? "" : "NOT ",
               rnd(g, 2) ? "%" : "Page_", rnd(g, 20));
        break;
    case 5:
        rq_fmt(q, "%s%s %s %u", a, rq_nums[rnd(g, 3)], rnd(g, 2) ? ">" : "<=", rnd(g, 600));
        break;
    case 6:
        rq_fmt(q, "%s\"deleted\" %sBETWEEN %u AND %u", a, rnd(g, 3) ? "" : "NOT ", rnd(g, 50),
               50 + rnd(g, 150));
        break;
    case 7: rq_fmt(q, "%s\"score\" >= %u.5", a, rnd(g, 100)); break;
    case 8: rq_fmt(q, "%s\"isRobot\" = %u", a, rnd(g, 2)); break;
    case 9: {
        /* a time range: TIMESTAMP literals against epoch milliseconds */
        int64_t lo = T0 + (int64_t)rnd(g, 72) * 3600000;
        int64_t hi = lo + (int64_t)(1 + rnd(g, 48)) * 3600000;
        char ta[32], tb[32];
        util_format_iso_ms(lo, ta);
        util_format_iso_ms(hi, tb);
        ta[10] = tb[10] = ' ';
        ta[19] = tb[19] = 0;
        buf_printf(&q->d, "%s__time >= TIMESTAMP '%s' AND %s__time < TIMESTAMP '%s'", a, ta, a,
                   tb);
        buf_printf(&q->s, "%st >= %lld AND %st < %lld", a, (long long)lo, a, (long long)hi);
        break;
    }
    case 10:
    case 11:
        rq_both(q, "(");
        rq_pred(q, depth - 1);
        rq_both(q, k == 10 ? " AND " : " OR ");
        rq_pred(q, depth - 1);
        rq_both(q, ")");
        break;
    case 12:
        rq_both(q, "NOT (");
        rq_pred(q, depth - 1);
        rq_both(q, ")");
        break;
    default:
        rq_fmt(q, "%s\"user\" %sIN (SELECT \"user\" FROM wiki WHERE ", a, rnd(g, 3) ? "" : "NOT ");
        q->qual = "";
        rq_pred(q, 0);
        q->qual = a;
        rq_both(q, ")");
        break;
    }
}

static void rq_agg(struct rq *q)
{
    static const char *const aggs[] = {"COUNT(*)",
                                       "SUM(\"added\")",
                                       "MIN(\"delta\")",
                                       "MAX(\"score\")",
                                       "COUNT(\"countryName\")",
                                       "SUM(\"score\")",
                                       "AVG(\"score\")",
                                       "COUNT(DISTINCT \"user\")",
                                       "MAX(\"page\")",
                                       "SUM(\"added\" * 2 - \"deleted\")",
                                       "SUM(CASE WHEN \"isRobot\" = 1 THEN 1 ELSE 0 END)",
                                       "MIN(\"countryName\")"};
    rq_both(q, aggs[rnd(q->g, LS_ARRAY_LEN(aggs))]);
}

static void rq_where(struct rq *q)
{
    if (rnd(q->g, 5)) {
        rq_both(q, " WHERE ");
        rq_pred(q, 2);
    }
}

static void rq_statement(struct rq *q, bool *unordered)
{
    struct gen *g = q->g;
    *unordered = true;
    const char *k1 = rq_dims[rnd(g, LS_ARRAY_LEN(rq_dims))];
    const char *k2 = rq_dims[rnd(g, LS_ARRAY_LEN(rq_dims))];
    switch (rnd(g, 14)) {
    case 9: { /* expressions as keys and in aggregates, FILTER, DISTINCT */
        static const char *const kd[][2] = {
            {"TIMESTAMP_TO_MILLIS(TIME_FLOOR(__time, 'PT1H'))", "t / 3600000 * 3600000"},
            {"SUBSTRING(\"page\", 1, 6)", "substr(\"page\", 1, 6)"},
            {"COALESCE(\"countryName\", 'none')", "COALESCE(\"countryName\", 'none')"},
            {"UPPER(\"channel\")", "UPPER(\"channel\")"},
            {"\"added\" / 100", "\"added\" / 100"},
            {"\"deleted\" % 7", "\"deleted\" % 7"},
            {"CASE WHEN \"added\" > 500 THEN 'big' WHEN \"added\" > 100 THEN 'mid' ELSE NULL END",
             "CASE WHEN \"added\" > 500 THEN 'big' WHEN \"added\" > 100 THEN 'mid' ELSE NULL END"},
            {"LENGTH(\"user\")", "LENGTH(\"user\")"},
            {"CONCAT(\"channel\", '/', \"user\")", "\"channel\" || '/' || \"user\""},
        };
        uint32_t i = rnd(g, LS_ARRAY_LEN(kd));
        bool distinct = rnd(g, 4) == 0;
        buf_printf(&q->d, "SELECT %s%s AS k", distinct ? "DISTINCT " : "", kd[i][0]);
        buf_printf(&q->s, "SELECT %s%s AS k", distinct ? "DISTINCT " : "", kd[i][1]);
        if (!distinct) {
            rq_both(q, ", COUNT(*) FILTER (WHERE ");
            rq_pred(q, 1);
            rq_both(q, "), SUM(\"deleted\"), MIN(\"deleted\") FILTER (WHERE ");
            rq_pred(q, 1);
            rq_both(q, ")");
        }
        rq_both(q, " FROM wiki");
        rq_where(q);
        if (!distinct) {
            buf_printf(&q->d, " GROUP BY %s", kd[i][0]);
            buf_printf(&q->s, " GROUP BY %s", kd[i][1]);
        }
        break;
    }
    case 10: /* RIGHT and FULL joins of two grouped tables */
        rq_fmt(q, "SELECT x.\"user\", y.\"user\", x.c, y.s FROM (SELECT \"user\", COUNT(*) AS c "
                  "FROM wiki");
        rq_where(q);
        rq_fmt(q, " GROUP BY \"user\") x %s JOIN (SELECT \"user\", SUM(\"added\") AS s FROM wiki",
               rnd(g, 2) ? "RIGHT" : "FULL");
        rq_where(q);
        rq_both(q, " GROUP BY \"user\") y ON x.\"user\" = y.\"user\"");
        break;
    case 11: /* ranking and offset windows within partitions */
        rq_both(q, "SELECT \"channel\", \"isRobot\", COUNT(*) AS c, "
                   "DENSE_RANK() OVER (PARTITION BY \"isRobot\" ORDER BY COUNT(*) DESC), "
                   "LAG(COUNT(*)) OVER (PARTITION BY \"isRobot\" ORDER BY \"channel\"), "
                   "LEAD(SUM(\"added\"), 1, -1) OVER (PARTITION BY \"isRobot\" ORDER BY "
                   "\"channel\"), NTILE(2) OVER (PARTITION BY \"isRobot\" ORDER BY "
                   "\"channel\"), CUME_DIST() OVER (ORDER BY \"channel\", \"isRobot\"), "
                   "FIRST_VALUE(\"channel\") OVER (PARTITION BY \"isRobot\" ORDER BY "
                   "SUM(\"added\") DESC, \"channel\") FROM wiki");
        rq_where(q);
        rq_both(q, " GROUP BY \"channel\", \"isRobot\"");
        break;
    case 12: /* ORDER BY ... LIMIT ... OFFSET over two keys */
        rq_both(q, "SELECT \"channel\", \"user\", SUM(\"added\") AS s FROM wiki");
        rq_where(q);
        rq_fmt(q,
               " GROUP BY \"channel\", \"user\" ORDER BY s DESC, \"channel\", \"user\" "
               "LIMIT %u OFFSET %u",
               1 + rnd(g, 20), rnd(g, 30));
        *unordered = false;
        break;
    case 13: /* HAVING on an aggregate not selected, and a scalar subquery there */
        rq_fmt(q, "SELECT %s, COUNT(*) FROM wiki", k1);
        rq_where(q);
        rq_fmt(q, " GROUP BY %s HAVING SUM(\"added\") > (SELECT AVG(\"added\") * %u FROM wiki", k1,
               1 + rnd(g, 40));
        rq_where(q);
        rq_both(q, ")");
        break;
    case 0: /* aggregates over a filter */
        rq_both(q, "SELECT ");
        rq_agg(q);
        rq_both(q, ", ");
        rq_agg(q);
        rq_both(q, " FROM wiki");
        rq_where(q);
        break;
    case 1: /* GROUP BY one or two keys, HAVING */
        rq_fmt(q, "SELECT %s", k1);
        if (k2 != k1)
            rq_fmt(q, ", %s", k2);
        rq_both(q, ", ");
        rq_agg(q);
        rq_both(q, ", ");
        rq_agg(q);
        rq_both(q, " FROM wiki");
        rq_where(q);
        rq_fmt(q, " GROUP BY %s", k1);
        if (k2 != k1)
            rq_fmt(q, ", %s", k2);
        if (rnd(g, 3) == 0)
            rq_fmt(q, " HAVING COUNT(*) > %u", rnd(g, 30));
        break;
    case 2: { /* top-N: every key in ORDER BY, keys that are never NULL */
        static const char *const nn[] = {"\"channel\"", "\"user\"", "\"page\""};
        const char *k = nn[rnd(g, 3)];
        rq_fmt(q, "SELECT %s, COUNT(*) AS c, SUM(\"added\") AS s FROM wiki", k);
        rq_where(q);
        rq_fmt(q, " GROUP BY %s ORDER BY %s %s, %s LIMIT %u", k, rnd(g, 2) ? "c" : "s",
               rnd(g, 2) ? "DESC" : "ASC", k, 1 + rnd(g, 12));
        *unordered = false;
        break;
    }
    case 3: /* a join with a grouped derived table */
        rq_fmt(q,
               "SELECT a.\"channel\", COUNT(*), SUM(b.s), MAX(b.c) FROM wiki a %s JOIN "
               "(SELECT \"user\", SUM(\"added\") AS s, COUNT(*) AS c FROM wiki",
               rnd(g, 2) ? "LEFT" : "INNER");
        rq_where(q);
        rq_both(q, " GROUP BY \"user\") b ON a.\"user\" = b.\"user\"");
        q->qual = "a.";
        rq_where(q);
        q->qual = "";
        rq_both(q, " GROUP BY a.\"channel\"");
        break;
    case 4: /* WITH, grouped twice */
        rq_both(q, "WITH x AS (SELECT \"user\", COUNT(*) AS c FROM wiki");
        rq_where(q);
        rq_fmt(q, " GROUP BY \"user\") SELECT c, COUNT(*) FROM x WHERE c > %u GROUP BY c",
               rnd(g, 5));
        break;
    case 5: { /* UNION ALL of two aggregates of one type (the second part's may
               * be a count where the first is a sum: BIGINT both) */
        rq_both(q, "SELECT 'a', ");
        size_t at_d = q->d.len, at_s = q->s.len;
        rq_agg(q);
        char *agg_d = strndup(q->d.data + at_d, q->d.len - at_d);
        char *agg_s = strndup(q->s.data + at_s, q->s.len - at_s);
        rq_both(q, " FROM wiki");
        rq_where(q);
        buf_printf(&q->d, " UNION ALL SELECT 'b', %s FROM wiki", agg_d);
        buf_printf(&q->s, " UNION ALL SELECT 'b', %s FROM wiki", agg_s);
        rq_where(q);
        free(agg_d);
        free(agg_s);
        break;
    }
    case 6: /* windows over grouped rows (ties broken by the key) */
        rq_fmt(
            q,
            "SELECT \"channel\", SUM(\"added\") AS s, RANK() OVER (ORDER BY COUNT(*) DESC), "
            "SUM(SUM(\"added\")) OVER (ORDER BY \"channel\" ROWS BETWEEN %u PRECEDING AND "
            "CURRENT ROW), ROW_NUMBER() OVER (ORDER BY SUM(\"deleted\"), \"channel\") FROM wiki",
            rnd(g, 3));
        rq_where(q);
        rq_both(q, " GROUP BY \"channel\"");
        break;
    case 7: /* EXISTS and a scalar subquery */
        rq_both(q, "SELECT COUNT(*), SUM(\"added\") FROM wiki WHERE \"added\" > (SELECT AVG("
                   "\"added\") FROM wiki");
        rq_where(q);
        rq_both(q, ") AND EXISTS (SELECT 1 FROM wiki");
        rq_where(q);
        rq_both(q, ")");
        break;
    default: /* a derived table filtered on its aggregate */
        rq_fmt(q, "SELECT * FROM (SELECT %s AS k, COUNT(*) AS c, ", k1);
        rq_agg(q);
        rq_both(q, " AS v FROM wiki");
        rq_where(q);
        rq_fmt(q, " GROUP BY %s) WHERE c >= %u", k1, rnd(g, 10));
        break;
    }
}

/* "FROM wiki" of every statement as "FROM <table>" */
static void rq_retable(struct buf *b, const char *table)
{
    struct buf o;
    buf_init(&o, 0);
    const char *p = buf_cstr(b), *hit;
    while ((hit = strstr(p, "FROM wiki"))) {
        buf_append(&o, p, (size_t)(hit - p));
        buf_printf(&o, "FROM %s", table);
        p = hit + strlen("FROM wiki");
    }
    buf_puts(&o, p);
    buf_reset(b);
    buf_append(b, o.data, o.len);
    buf_free(&o);
}

/* Writes one random statement into q (both dialects); *unordered when its
 * rows come in no defined order. */
typedef void (*rq_make_fn)(struct rq *q, bool *unordered, const void *arg);

/*
 * Runs n random statements from make (LODESTAR_RANDOM_SQL=<n>,<seed>
 * overrides n and the seed; the generator starts at seed + seed_offset)
 * through run_case against sqlite, printing both texts of each that fails
 * (and every one with LODESTAR_RANDOM_SQL_PRINT).
 */
static void rq_run(const char *label, unsigned n, unsigned seed_offset, rq_make_fn make,
                   const void *arg)
{
    unsigned seed = 1;
    const char *e = getenv("LODESTAR_RANDOM_SQL");
    if (e && sscanf(e, "%u,%u", &n, &seed) < 1)
        n = 300;
    bool print = getenv("LODESTAR_RANDOM_SQL_PRINT") != NULL;
    struct gen g = {seed + seed_offset};
    struct tcase c;
    memset(&c, 0, sizeof c);
    buf_init(&c.sql, 0);
    buf_init(&c.request, 0);
    buf_init(&c.expect, 0);
    buf_init(&c.contains, 0);
    buf_init(&c.sqlite, 0);
    struct rq q = {.g = &g, .qual = ""};
    buf_init(&q.d, 0);
    buf_init(&q.s, 0);
    for (unsigned i = 0; i < n; i++) {
        case_reset(&c);
        buf_reset(&q.d);
        buf_reset(&q.s);
        bool unordered = true;
        make(&q, &unordered, arg);
        snprintf(c.file, sizeof c.file, "random over %s (seed %u)", label, seed);
        snprintf(c.name, sizeof c.name, "statement %u", i);
        buf_append(&c.sql, q.d.data, q.d.len);
        buf_append(&c.sqlite, q.s.data, q.s.len);
        c.unordered = unordered;
        long failed = check_failed_;
        if (print)
            fprintf(stderr, "%s\n", buf_cstr(&q.d));
        run_case(&c);
        if (check_failed_ != failed)
            fprintf(stderr, "  ours:   %s\n  sqlite: %s\n", buf_cstr(&q.d), buf_cstr(&q.s));
    }
    buf_free(&q.d);
    buf_free(&q.s);
    case_reset(&c);
    buf_free(&c.sql);
    buf_free(&c.request);
    buf_free(&c.expect);
    buf_free(&c.contains);
    buf_free(&c.sqlite);
}

/* rq_statement over the table named by arg (the generator writes wiki). */
static void make_table_statement(struct rq *q, bool *unordered, const void *arg)
{
    const char *table = arg;
    rq_statement(q, unordered);
    if (strcmp(table, "wiki") != 0) {
        rq_retable(&q->d, table);
        rq_retable(&q->s, table);
    }
}

static void test_random_queries(const char *table, unsigned n)
{
    rq_run(table, n, 0, make_table_statement, table);
}

/* Aggregation on every core: the same bytes as on one thread for every kind
 * of aggregate and grouping path over the nine views of `many` (scores are
 * multiples of 0.25, so double sums are exact in any order), and memory
 * limits that hold across the threads without failing a query that fits
 * on one. */
static void test_parallel_agg(void)
{
    static const char *const qs[] = {
        "SELECT COUNT(*), SUM(added), AVG(score), MIN(score), MAX(score), COUNT(DISTINCT \"user\"),"
        " EARLIEST(page), LATEST(page), MIN(__time), MAX(__time) FROM many",
        "SELECT channel, COUNT(*), SUM(added), AVG(delta), MIN(score), MAX(score) FROM many"
        " GROUP BY channel",
        "SELECT page, COUNT(*) AS n FROM many GROUP BY page ORDER BY n DESC, page LIMIT 7",
        "SELECT page, SUM(added) AS a FROM many GROUP BY page ORDER BY a DESC LIMIT 5",
        "SELECT \"user\", EARLIEST(page), LATEST(page), EARLIEST_BY(channel, __time),"
        " COUNT(DISTINCT page), AVG(score) FROM many GROUP BY 1",
        "SELECT channel, countryName, COUNT(*), SUM(delta), MAX(score) FROM many GROUP BY 1, 2",
        "SELECT TIME_FLOOR(__time, 'PT6H'), COUNT(*), AVG(score), LATEST(\"user\") FROM many"
        " GROUP BY 1",
        "SELECT isRobot, countryName, AVG(delta), MIN(score) FROM many WHERE page LIKE '%1%'"
        " GROUP BY 1, 2",
        "SELECT channel, COUNT(*) FROM many WHERE added > 900 GROUP BY 1 HAVING COUNT(*) > 10"
        " ORDER BY 2 DESC",
        "SELECT STRING_AGG(DISTINCT channel, ',') FROM many",
        "SELECT COUNT(*) FROM many WHERE score > 50",
        /* one view (a day's segment of three blocks): ranges of its blocks */
        "SELECT channel, COUNT(*), AVG(score), EARLIEST(page), LATEST(page) FROM many"
        " WHERE __time >= TIMESTAMP '2024-01-02 00:00:00' AND __time < TIMESTAMP '2024-01-03"
        " 00:00:00' GROUP BY 1",
        "SELECT page, COUNT(*) AS n FROM many WHERE __time >= TIMESTAMP '2024-01-06 00:00:00'"
        " AND __time < TIMESTAMP '2024-01-07 00:00:00' GROUP BY page ORDER BY n DESC, page"
        " LIMIT 5",
        "SELECT COUNT(*), COUNT(DISTINCT page), MIN(score), SUM(added) FROM many"
        " WHERE __time >= TIMESTAMP '2024-01-05 00:00:00' AND __time < TIMESTAMP '2024-01-06"
        " 00:00:00' AND page LIKE '%1%'",
        "SELECT \"user\", channel, COUNT(*) FROM many WHERE __time >= TIMESTAMP '2024-01-02"
        " 00:00:00' AND __time < TIMESTAMP '2024-01-03 00:00:00' GROUP BY 1, 2",
    };
    struct buf one, par;
    buf_init(&one, 0);
    buf_init(&par, 0);
    struct lerr err;
    uint64_t saved = query__agg_par_min_rows;
    for (size_t i = 0; i < LS_ARRAY_LEN(qs); i++) {
        query__agg_par_min_rows = UINT64_MAX; /* one thread */
        uint64_t runs = atomic_load(&query__agg_par_runs);
        int rc = mem_query(qs[i], NULL, &one, &err, NULL);
        CHECK_MSG(rc == 0 && atomic_load(&query__agg_par_runs) == runs, "%s: rc=%d %s", qs[i], rc,
                  err.msg);
        query__agg_par_min_rows = 0; /* every core */
        rc = mem_query(qs[i], NULL, &par, &err, NULL);
        CHECK_MSG(rc == 0 && atomic_load(&query__agg_par_runs) == runs + 1,
                  "%s: rc=%d, parallel runs %llu -> %llu: %s", qs[i], rc, (unsigned long long)runs,
                  (unsigned long long)atomic_load(&query__agg_par_runs), err.msg);
        CHECK_MSG(one.len == par.len && memcmp(one.data, par.data, one.len) == 0,
                  "%s:\n  one thread: %s\n  parallel:   %s", qs[i], buf_cstr(&one),
                  buf_cstr(&par));
    }

    /* the smallest context.maxQueryBytes one thread answers in (within 4 KiB) */
    const char *big = "SELECT page, \"user\", COUNT(*), EARLIEST(channel) FROM many GROUP BY 1, 2";
    query__agg_par_min_rows = UINT64_MAX;
    uint64_t lo = 4096, hi = 256u << 20; /* refused at lo, answered at hi */
    char ctx[80];
    while (hi - lo > 4096) {
        uint64_t mid = lo + (hi - lo) / 2;
        snprintf(ctx, sizeof ctx, "{\"maxQueryBytes\": %llu}", (unsigned long long)mid);
        if (mem_query(big, ctx, &one, &err, NULL) == 0)
            hi = mid;
        else
            lo = mid;
    }
    snprintf(ctx, sizeof ctx, "{\"maxQueryBytes\": %llu}", (unsigned long long)hi);
    int rc = mem_query(big, ctx, &one, &err, NULL);
    CHECK_MSG(rc == 0, "one thread at %llu bytes: %s", (unsigned long long)hi, err.msg);
    /* split over the cores each share is smaller: a share that refuses
     * sends the query back to one thread, with the same answer */
    query__agg_par_min_rows = 0;
    rc = mem_query(big, ctx, &par, &err, NULL);
    CHECK_MSG(rc == 0 && one.len == par.len && memcmp(one.data, par.data, one.len) == 0,
              "parallel at %llu bytes: rc=%d %s", (unsigned long long)hi, rc, err.msg);
    /* below what one thread needs: the same refusal, a 400 naming the limit */
    char msg1[sizeof err.msg];
    snprintf(ctx, sizeof ctx, "{\"maxQueryBytes\": %llu}", (unsigned long long)lo);
    query__agg_par_min_rows = UINT64_MAX;
    rc = mem_query(big, ctx, &one, &err, NULL);
    snprintf(msg1, sizeof msg1, "%s", err.msg);
    CHECK_MSG(rc == LERR_INVALID, "one thread at %llu bytes: rc=%d %s", (unsigned long long)lo, rc,
              err.msg);
    query__agg_par_min_rows = 0;
    rc = mem_query(big, ctx, &par, &err, NULL);
    char want[64];
    snprintf(want, sizeof want, "context.maxQueryBytes = %llu", (unsigned long long)lo);
    CHECK_MSG(rc == LERR_INVALID && strstr(err.msg, "query memory limit exceeded") &&
                  strstr(err.msg, want) && strcmp(err.msg, msg1) == 0,
              "parallel at %llu bytes: rc=%d %s (one thread: %s)", (unsigned long long)lo, rc,
              err.msg, msg1);
    CHECK_EQ_INT(lerr_http_status(err.code), 400);
    /* far below: refused by the threads' shares and again on one thread */
    rc = mem_query(big, "{\"maxQueryBytes\": 65536}", &par, &err, NULL);
    CHECK_MSG(rc == LERR_INVALID && strstr(err.msg, "context.maxQueryBytes = 65536"), "rc=%d %s",
              rc, err.msg);
    query__agg_par_min_rows = saved;
    buf_free(&one);
    buf_free(&par);
}

/* sk: the table the sketches' two paths are compared on. u is a string
 * of many values (NULL in 1 row of 20, '' in 1 of 50), g of three, n a
 * number. Day 0: a segment of 40,000 rows and 1,000 values of u (its
 * dictionary is small beside its rows: global sketches read its bitmaps);
 * day 1: a segment of 20,000 rows and 12,000 values (read by id), then
 * 3,000 realtime rows in the same chunk; day 2: 5,000 realtime rows.
 * Only test_sketch_by_dict sees it. */
static void build_sk(const char *root)
{
    static const struct storage_column cols[] = {
        {"u", SQL_STRING, STORAGE_DIMENSION, 0, {0}},
        {"g", SQL_STRING, STORAGE_DIMENSION, 0, {0}},
        {"n", SQL_LONG, STORAGE_DIMENSION, 0, {0}},
    };
    struct storage_schema sch = {STORAGE_DETAIL, STORAGE_GRAN_DAY, STORAGE_GRAN_MILLISECOND, cols,
                                 3};
    struct storage_table *t = open_table(root, "sk", &sch);
    static const struct {
        int64_t day;
        uint32_t rows, values;
        bool persist_after;
    } parts[] = {{0, 40000, 1000, true},
                 {1, 20000, 12000, true},
                 {1, 3000, 3000, false},
                 {2, 5000, 4000, false}};
    static const char *const gs[] = {"x", "y", "z"};
    struct gen gn = {7};
    for (size_t p = 0; p < LS_ARRAY_LEN(parts); p++) {
        uint32_t n = parts[p].rows;
        int64_t *time = calloc(n, sizeof *time);
        char(*us)[16] = calloc(n, sizeof *us);
        struct sql_value *cv[3];
        for (int c = 0; c < 3; c++)
            cv[c] = calloc(n, sizeof *cv[c]);
        for (uint32_t r = 0; r < n; r++) {
            time[r] = T0 + parts[p].day * DAY + (int64_t)rnd(&gn, (uint32_t)DAY);
            uint32_t k = rnd(&gn, 100);
            snprintf(us[r], sizeof us[r], "u%u", rnd(&gn, parts[p].values) + (uint32_t)p * 500);
            cv[0][r] = k < 5   ? sql_null(SQL_STRING)
                       : k < 7 ? sql_string("", 0)
                               : sql_string(us[r], strlen(us[r]));
            cv[1][r] = sql_string(gs[rnd(&gn, 3)], 1);
            cv[2][r] = sql_long(rnd(&gn, 1000));
        }
        append(t, time, n, cv, 3);
        if (parts[p].persist_after)
            persist(t);
        for (int c = 0; c < 3; c++)
            free(cv[c]);
        free(time);
        free(us);
    }
}

/* Sketches of a dictionary-encoded string updated once per (group, id)
 * (from the ids, or from the bitmaps) answer exactly what the per-row
 * updates answer: the same estimates and the same sketch bytes, with
 * NULLs and '' (an HLL skips it), WHERE, FILTER, groups of every key
 * kind, segments and realtime rows, on one thread and on several. */
static void test_sketch_by_dict(const char *root)
{
    build_sk(root); /* the last table, for this test only (info_schema.txt lists the others) */
    static const char *const qs[] = {
        "SELECT APPROX_COUNT_DISTINCT(u), APPROX_COUNT_DISTINCT_DS_HLL(u),"
        " APPROX_COUNT_DISTINCT_DS_THETA(u), DS_HLL(u), DS_THETA(u), DS_HLL(u, 10, 'HLL_8'),"
        " DS_HLL(u, 14, 'HLL_6'), DS_THETA(u, 1024), HLL_SKETCH_TO_STRING(DS_HLL(u)),"
        " COUNT(DISTINCT u), COUNT(*) FROM sk",
        "SELECT APPROX_COUNT_DISTINCT(u), DS_HLL(u), DS_THETA(u, 256) FROM sk WHERE __time <"
        " TIMESTAMP '2024-01-02 00:00:00'",
        "SELECT APPROX_COUNT_DISTINCT(u), DS_THETA(u), DS_THETA(u, 64) FROM sk WHERE n > 300",
        "SELECT DS_HLL(u), DS_THETA(u, 512) FROM sk WHERE g = 'y'",
        "SELECT DS_HLL(u), DS_THETA(u) FROM sk WHERE u > 'u5' OR u = ''",
        "SELECT DS_HLL(u) FILTER (WHERE n < 500), DS_THETA(u, 128) FILTER (WHERE g <> 'x'),"
        " APPROX_COUNT_DISTINCT(u) FILTER (WHERE u LIKE 'u1%'), DS_HLL(u), SUM(n) FROM sk",
        "SELECT g, DS_HLL(u), DS_THETA(u, 256), APPROX_COUNT_DISTINCT(u), COUNT(*) FROM sk"
        " GROUP BY g",
        "SELECT TIME_FLOOR(__time, 'PT6H'), DS_HLL(u), DS_THETA(u, 128) FROM sk GROUP BY 1",
        "SELECT g, n / 100, DS_HLL(u, 8), DS_THETA(u, 32) FILTER (WHERE n % 2 = 0) FROM sk"
        " GROUP BY 1, 2",
        "SELECT u, g, DS_HLL(g) FROM sk WHERE n < 20 GROUP BY 1, 2",
        "SELECT n, DS_HLL(u), APPROX_COUNT_DISTINCT_DS_THETA(u) FROM sk WHERE n < 50 GROUP BY n",
        "SELECT DS_HLL(u), DS_THETA(u) FROM sk WHERE u IS NULL OR u = ''",
        "SELECT DS_HLL(u), DS_THETA(u) FROM sk WHERE n > 5000",
    };
    static const char ctx[] = "{\"useApproximateCountDistinct\": true}";
    struct buf rows, ids;
    buf_init(&rows, 0);
    buf_init(&ids, 0);
    struct lerr err;
    uint64_t saved = query__agg_par_min_rows;
    uint64_t bm0 = query__sketch_bitmap_views, id0 = query__sketch_id_views;
    for (int par = 0; par < 2; par++) {
        query__agg_par_min_rows = par ? 0 : UINT64_MAX;
        for (size_t i = 0; i < LS_ARRAY_LEN(qs); i++) {
            query__sketch_by_dict = false;
            int rc = mem_query(qs[i], ctx, &rows, &err, NULL);
            CHECK_MSG(rc == 0, "%s (per row): %s", qs[i], err.msg);
            query__sketch_by_dict = true;
            rc = mem_query(qs[i], ctx, &ids, &err, NULL);
            CHECK_MSG(rc == 0, "%s (by id): %s", qs[i], err.msg);
            CHECK_MSG(rows.len == ids.len && memcmp(rows.data, ids.data, rows.len) == 0,
                      "%s%s:\n  per row: %.600s\n  by id:   %.600s", qs[i],
                      par ? " (several threads)" : "", buf_cstr(&rows), buf_cstr(&ids));
        }
    }
    query__agg_par_min_rows = saved;
    /* both ways of taking the ids ran */
    CHECK_MSG(query__sketch_bitmap_views > bm0 && query__sketch_id_views > id0,
              "views by bitmap %llu, by id %llu",
              (unsigned long long)(query__sketch_bitmap_views - bm0),
              (unsigned long long)(query__sketch_id_views - id0));
    /* the answers are those of the sketches, not empty ones: below its
     * 16384 nominal entries theta counts exactly the non-empty values */
    int rc = mem_query("SELECT APPROX_COUNT_DISTINCT_DS_THETA(u) FROM sk", ctx, &ids, &err, NULL);
    int64_t est = one_long(&ids);
    CHECK_MSG(rc == 0, "%s", err.msg);
    rc = mem_query("SELECT COUNT(DISTINCT u) FROM sk WHERE u <> ''", NULL, &rows, &err, NULL);
    int64_t exact = one_long(&rows);
    CHECK_MSG(rc == 0 && exact > 8000 && est == exact, "distinct u: theta %lld, exact %lld (%s)",
              (long long)est, (long long)exact, err.msg);
    /* EXPLAIN says which aggregates take the ids: string columns, not numbers */
    rc = mem_query(
        "EXPLAIN PLAN FOR SELECT DS_HLL(u), DS_THETA(n), APPROX_COUNT_DISTINCT(g) FROM sk", ctx,
        &ids, &err, NULL);
    const char *plan = buf_cstr(&ids);
    CHECK_MSG(rc == 0 &&
                  strstr(plan, "DS_HLL($1) [aggregator states, updated once per dictionary") &&
                  strstr(plan, "DS_THETA($3) [aggregator states]") &&
                  strstr(plan, "($2) [aggregator states, updated once per dictionary"),
              "%s %s", plan, err.msg);
    buf_free(&rows);
    buf_free(&ids);
    storage_table_free(tables[--ntables].t);
}

/* A filter over mvr for test_random_mv: a multi-value leaf holds when any
 * value does (the negated forms: none), and is unknown for a row without
 * values, as in Druid; sqlite's side says so with json_each. */
static void rmv_pred(struct rq *q, int depth)
{
    struct gen *g = q->g;
    static const char *const v[] = {"", "a", "b", "c", "d", "e", "z"};
    const char *x = v[rnd(g, 7)], *y = v[rnd(g, 7)];
    uint32_t k = rnd(g, depth > 0 ? 12 : 9);
    const char *any = "CASE WHEN mvr.tags IS NULL THEN NULL ELSE EXISTS (SELECT 1 FROM "
                      "json_each(mvr.tags) WHERE ";
    const char *none = "CASE WHEN mvr.tags IS NULL THEN NULL ELSE NOT EXISTS (SELECT 1 FROM "
                       "json_each(mvr.tags) WHERE ";
    switch (k) {
    case 0:
        buf_printf(&q->d, "tags = '%s'", x);
        buf_printf(&q->s, "%svalue = '%s') END", any, x);
        break;
    case 1:
        buf_printf(&q->d, "tags IN ('%s', '%s')", x, y);
        buf_printf(&q->s, "%svalue IN ('%s', '%s')) END", any, x, y);
        break;
    case 2:
        buf_printf(&q->d, "tags <> '%s'", x);
        buf_printf(&q->s, "%svalue = '%s') END", none, x);
        break;
    case 3:
        buf_printf(&q->d, "tags NOT IN ('%s', '%s')", x, y);
        buf_printf(&q->s, "%svalue IN ('%s', '%s')) END", none, x, y);
        break;
    case 4:
        buf_printf(&q->d, "tags LIKE '%s%%'", x);
        buf_printf(&q->s, "%svalue LIKE '%s%%') END", any, x);
        break;
    case 5: rq_fmt(q, "tags IS %sNULL", rnd(g, 2) ? "NOT " : ""); break;
    case 6: rq_fmt(q, "s = '%s'", rnd(g, 2) ? "x" : "y"); break;
    case 7: rq_fmt(q, "n %s %u", rnd(g, 2) ? "<" : ">=", rnd(g, 100)); break;
    case 8:
        buf_printf(&q->d, "tags > '%s'", x);
        buf_printf(&q->s, "%svalue > '%s') END", any, x);
        break;
    case 9:
    case 10:
        rq_both(q, "(");
        rmv_pred(q, depth - 1);
        rq_both(q, k == 9 ? " AND " : " OR ");
        rmv_pred(q, depth - 1);
        rq_both(q, ")");
        break;
    default:
        rq_both(q, "NOT (");
        rmv_pred(q, depth - 1);
        rq_both(q, ")");
        break;
    }
}

/* Random statements over the multi-value table mvr against sqlite (filters,
 * GROUP BY exploding the column, COUNT(DISTINCT) of its values). */
static void make_mv_statement(struct rq *q, bool *unordered, const void *arg)
{
    (void)arg;
    *unordered = true;
    uint32_t shape = rnd(q->g, 4);
    static const char *const heads[4][2] = {
        {"SELECT COUNT(*), SUM(n) FROM mvr", "SELECT COUNT(*), SUM(n) FROM mvr"},
        {"SELECT tags, COUNT(*), SUM(n) FROM mvr",
         "SELECT j.value, COUNT(*), SUM(n) FROM mvr LEFT JOIN json_each(mvr.tags) j"},
        {"SELECT COUNT(DISTINCT tags) FROM mvr",
         "SELECT COUNT(DISTINCT j.value) FROM mvr, json_each(mvr.tags) j"},
        {"SELECT s, tags, COUNT(*) FROM mvr",
         "SELECT s, j.value, COUNT(*) FROM mvr LEFT JOIN json_each(mvr.tags) j"},
    };
    buf_puts(&q->d, heads[shape][0]);
    buf_puts(&q->s, heads[shape][1]);
    if (rnd(q->g, 6)) {
        rq_both(q, " WHERE ");
        rmv_pred(q, 2);
    }
    if (shape == 1) {
        buf_puts(&q->d, " GROUP BY tags");
        buf_puts(&q->s, " GROUP BY j.value");
    } else if (shape == 3) {
        buf_puts(&q->d, " GROUP BY s, tags");
        buf_puts(&q->s, " GROUP BY s, j.value");
    }
}

static void test_random_mv(unsigned n) { rq_run("mvr", n, 1000, make_mv_statement, NULL); }

/* Runs body: merged from the split parts (part NULL; mangle: 1 cuts each
 * part's last byte, 2 cuts it to 20 bytes), or as one node's part into
 * part, planned as fp says. */
static int split_request(const char *body, int mangle, struct buf *part, const char *fp,
                         struct lerr *err)
{
    struct arena mem;
    arena_init(&mem, 4096, 0);
    struct query_request qr;
    struct buf out;
    buf_init(&out, 0);
    int rc = api_query_request_parse(body, strlen(body), &qr, &mem, err);
    CHECK_EQ_INT(rc, 0);
    qr.partial_out = part;
    qr.partial_fp = fp;
    split_body = body;
    split_mangle = mangle;
    if (!rc)
        rc = query_execute(&qr, &env, &out, NULL, err);
    split_body = NULL;
    split_mangle = 0;
    CHECK_MSG(out.len == 0 || rc == 0, "a failed query wrote a body");
    buf_free(&out);
    arena_destroy(&mem);
    return rc;
}

/* query_scan_images over tiny (12 rows, 3 with s = 'a', 4 before
 * 2024-01-02): the rows the filter selects, a cap only over an exact filter,
 * the columns asked for only, and a filter that does not compile refused. */
static void test_scan_images(void)
{
    struct storage_table *t = NULL;
    for (size_t i = 0; i < ntables; i++)
        if (strcmp(tables[i].name, "tiny") == 0)
            t = tables[i].t;
    CHECK(t != NULL);
    if (!t)
        return;
    static const struct {
        const char *where;
        int64_t limit;
        uint64_t want;
        int order_time;
    } cases[] = {
        {"(\"s\" IN ('a'))", -1, 3, 0},
        {"(\"s\" IN ('a'))", 2, 2, 0},
        {NULL, 5, 5, 0},
        {NULL, -1, 12, 0},
        {NULL, 0, 0, 0},
        {"(\"n\" + 1 = 3)", 1, 12, 0}, /* decided on no index: every row, no cap */
        {"FALSE", -1, 0, 0},
        {"NOT (\"__time\" >= MILLIS_TO_TIMESTAMP(1704153600000))", -1, 4, 0},
        {"(\"__time\" < MILLIS_TO_TIMESTAMP(1704153600000))", 2, 2, 0}, /* a time leaf: exact */
        {"NOT (\"n\" = 1 OR \"n\" = 2 OR \"n\" = 3)", -1, 7, 0},
        {"(\"__time\" >= MILLIS_TO_TIMESTAMP(1704153600000)) AND (\"s\" IS NULL)", -1, 1, 0},
        /* the first rows by time: latest or earliest, with a filter, none */
        {NULL, 3, 3, -1},
        {NULL, 2, 2, 1},
        {"(\"s\" IN ('a'))", 2, 2, -1},
        {NULL, 0, 0, -1},
        {NULL, 50, 12, 1},
        {"(\"n\" + 1 = 3)", 1, 12, -1}, /* not decided exactly: every row */
    };
    const char *cols[] = {"s", "n", "not_a_column"};
    struct storage_snapshot *all = storage_table_snapshot(t);
    struct lerr err;
    for (size_t i = 0; i < LS_ARRAY_LEN(cases); i++) {
        struct query_scan scan = {cases[i].where, cols, LS_ARRAY_LEN(cols), cases[i].limit,
                                  cases[i].order_time};
        struct images im = {0};
        lerr_init(&err);
        int rc = query_scan_images(all, &scan, split_tmp, keep_image, &im, &err);
        CHECK_MSG(rc == 0, "scan %zu: %s", i, err.msg);
        struct storage_cut *cut = storage_table_cut(t);
        storage_cut_no_realtime(cut);
        struct storage_snapshot *got =
            rc ? NULL : storage_cut_snapshot(t, cut, NULL, 0, im.p, im.n, im.count, &err);
        storage_cut_free(cut);
        uint64_t rows = 0;
        for (size_t v = 0; got && v < got->nviews; v++) {
            rows += storage_view_rows(got->views[v]);
            for (size_t c = 0; c < got->ncols; c++) {
                const char *name = got->cols[c].name;
                bool asked = !strcmp(name, "__time") || !strcmp(name, "s") || !strcmp(name, "n");
                CHECK_MSG(storage_view_has_column(got->views[v], c) == asked,
                          "scan %zu: column %s sent or not as asked", i, name);
            }
        }
        /* the first by time are the latest (or earliest) of the table's rows that match */
        int64_t lo = INT64_MAX, hi = INT64_MIN;
        for (size_t v = 0; got && v < got->nviews; v++) {
            int64_t a, b;
            storage_view_time_range(got->views[v], &a, &b);
            lo = a < lo ? a : lo;
            hi = b > hi ? b : hi;
        }
        if (cases[i].order_time < 0 && cases[i].want && !cases[i].where)
            CHECK_MSG(lo >= T0 + 2 * DAY + 6 * 3600000LL, "scan %zu: the latest rows", i);
        if (cases[i].order_time > 0 && cases[i].want && cases[i].want < 12)
            CHECK_MSG(hi <= T0 + 3600000LL, "scan %zu: the earliest rows", i);
        CHECK_MSG(rows == cases[i].want, "scan %zu (%s, limit %lld): %llu rows, want %llu", i,
                  cases[i].where ? cases[i].where : "every row", (long long)cases[i].limit,
                  (unsigned long long)rows, (unsigned long long)cases[i].want);
        storage_snapshot_free(got);
        free(im.p);
        free(im.n);
    }
    /* the rows the nodes send count against the query's memory limit: some limit
     * between what the query needs before them and its whole need refuses them */
    bool refused = false;
    int rc = 0;
    for (int kb = 20; kb <= 4000 && !refused; kb += 20) {
        char body[300];
        snprintf(body, sizeof body,
                 "{\"query\": \"SELECT COUNT(*) FROM (SELECT page, user FROM wiki WHERE "
                 "page <> 'x')\", \"context\": {\"maxQueryBytes\": %d}}",
                 kb * 1000);
        lerr_init(&err);
        rc = split_request(body, 0, NULL, NULL, &err);
        refused = rc == LERR_INVALID && strstr(err.msg, "the rows the other nodes sent");
        if (!rc)
            break;
    }
    CHECK_MSG(refused, "no memory limit refused the rows the nodes sent (last: %d %s)", rc,
              err.msg);
    /* a top-N over rows reads the segments itself (its N rows), not every row it selects,
     * unless it orders by __time first: then each node sends its first rows by time */
    int before = split_scanned;
    lerr_init(&err);
    rc = split_request("{\"query\": \"SELECT __time, channel FROM wiki WHERE channel <> 'x' "
                       "ORDER BY channel DESC, __time LIMIT 3\"}",
                       0, NULL, NULL, &err);
    CHECK_MSG(rc == 0 && split_scanned == before, "a top-N over rows: %d %s, %d scans", rc,
              err.msg, split_scanned - before);
    int capped = split_capped;
    lerr_init(&err);
    rc = split_request("{\"query\": \"SELECT __time, channel FROM wiki WHERE channel <> 'x' "
                       "ORDER BY __time DESC, channel LIMIT 3\"}",
                       0, NULL, NULL, &err);
    CHECK_MSG(rc == 0 && split_scanned == before + 1 && split_capped == capped + 1,
              "a top-N by __time: %d %s, %d scans", rc, err.msg, split_scanned - before);
    /* a filter another node cannot compile: a precise error, nothing sent */
    struct query_scan bad = {"\"nope\" = 1", cols, 2, -1, 0};
    struct images im = {0};
    lerr_init(&err);
    CHECK(query_scan_images(all, &bad, split_tmp, keep_image, &im, &err) == LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "does not compile here") && strstr(err.msg, "nope") && im.count == 0,
              "bad filter: %s", err.msg);
    storage_snapshot_free(all);
}

/* A part cut short, or of another plan, fails the query with its own error. */
static void test_split_damaged(void)
{
    static const char body[] =
        "{\"query\": \"SELECT channel, COUNT(*), SUM(added) FROM wiki GROUP BY channel\"}";
    for (int mangle = 1; mangle <= 2; mangle++) {
        struct lerr err;
        lerr_init(&err);
        int rc = split_request(body, mangle, NULL, NULL, &err);
        CHECK_MSG(rc == LERR_CORRUPT && strstr(err.msg, "part"), "a damaged part: rc=%d %s", rc,
                  err.msg);
    }
    /* a part of another plan (another fingerprint) is refused by the node running it */
    struct buf part;
    buf_init(&part, 0);
    struct lerr err;
    lerr_init(&err);
    int rc = split_request("{\"query\": \"SELECT channel, COUNT(*) FROM wiki GROUP BY 1\"}", 0,
                           &part, "0123456789abcdef", &err);
    CHECK_MSG(rc == LERR_CONFLICT && strstr(err.msg, "plans the query differently"),
              "another plan: rc=%d %s", rc, err.msg);
    /* and a part of a statement that is not one block over a table is refused */
    lerr_init(&err);
    rc = split_request(
        "{\"query\": \"SELECT COUNT(*) FROM (SELECT channel FROM wiki GROUP BY 1)\"}", 0, &part,
        NULL, &err);
    CHECK_MSG(rc == LERR_INVALID && strstr(err.msg, "straight over a table"), "subquery: rc=%d %s",
              rc, err.msg);
    buf_free(&part);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests/unit/sql_queries";
    char root[] = "/tmp/lodestar-test-query-XXXXXX";
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 2;
    }
    if (sqlite3_open(":memory:", &db) != SQLITE_OK)
        return 2;
    sqlite_exec("PRAGMA case_sensitive_like = ON");
    build_tiny(root);
    build_wiki(root);
    build_many(root);
    build_rollup(root);
    build_big(root);
    build_mv(root);
    build_arr(root);
    build_mvr(root);
    build_widened(root);

    test_memory();
    test_sketch_by_dict(root);
    test_parallel_agg();
    test_request_parse();
    test_request_parse_druid();
    test_sys_tables();
    test_snapshot_and_meta();
    test_random_queries("wiki", 300);
    test_random_mv(200);

    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "cannot open %s (run from the repository root)\n", dir);
        CHECK(0);
    } else {
        char *names[256];
        size_t n = 0;
        struct dirent *e;
        while ((e = readdir(d)) && n < 256)
            if (strlen(e->d_name) > 4 && strcmp(e->d_name + strlen(e->d_name) - 4, ".txt") == 0)
                names[n++] = strdup(e->d_name);
        closedir(d);
        qsort(names, n, sizeof *names, cmp_str);
        for (size_t i = 0; i < n; i++) {
            run_file(dir, names[i]);
            free(names[i]);
        }
        CHECK_MSG(n > 0, "no SQL test files in %s", dir);
        /* every LOOKUP of "colors" the files bind gave the provider's copy back */
        CHECK_MSG(lookup_releases >= 5, "lookup 'colors' released %d times", lookup_releases);
        /* LIKE leaves deciding each dictionary, and scanning leaves each
         * view, on several threads (16 ids, 1 block a thread, up to the
         * machine's cores): the same answers again */
        uint32_t like_min = query__like_par_min, scan_min = query__scan_par_min_blocks;
        query__like_par_min = 16;
        query__scan_par_min_blocks = 1;
        run_file(dir, "many.txt");
        run_file(dir, "wiki.txt");
        run_file(dir, "tiny.txt");
        run_file(dir, "parallel.txt");
        run_file(dir, "widened.txt");
        /* random statements over the table of many segments, split as above */
        test_random_queries("many", 50);
        query__like_par_min = like_min;
        query__scan_par_min_blocks = scan_min;
        /* every aggregation over two views or more on several threads, with
         * partial groups (or per-view id arrays) merged: the same answers */
        uint64_t agg_min = query__agg_par_min_rows;
        query__agg_par_min_rows = 0;
        run_file(dir, "aggregates.txt");
        run_file(dir, "grouping.txt");
        run_file(dir, "many.txt");
        run_file(dir, "wiki.txt");
        run_file(dir, "tiny.txt");
        run_file(dir, "rollup.txt");
        run_file(dir, "parallel.txt");
        run_file(dir, "multivalue.txt");
        run_file(dir, "sketches.txt");
        run_file(dir, "widened.txt");
        /* random statements, every aggregation on several threads */
        test_random_queries("wiki", 100);
        test_random_queries("many", 50);
        test_random_mv(50);
        query__agg_par_min_rows = agg_min;
    }

    /* every file again, each aggregate over a table split into the parts of
     * three nodes and merged (partial plans), with the same answers */
    if (d) {
        snprintf(split_tmp, sizeof split_tmp, "%s/images", root);
        CHECK(mkdir(split_tmp, 0700) == 0);
        split_mode(true);
        static const char *const files[] = {
            "aggregates.txt", "array_columns.txt", "arrays.txt", "errors.txt",
            "formats.txt",    "grouping.txt",      "many.txt",   "multivalue.txt",
            "parallel.txt",   "relational.txt",    "rollup.txt", "sketches.txt",
            "tiny.txt",       "widened.txt",       "wiki.txt",   "window.txt"};
        for (size_t i = 0; i < LS_ARRAY_LEN(files); i++)
            run_file(dir, files[i]);
        CHECK_MSG(split_ran > 100, "only %d statements were split into parts", split_ran);
        CHECK_MSG(split_scanned > 100 && split_capped >= 2,
                  "only %d scans were pushed down (%d with a cap)", split_scanned, split_capped);
        /* random statements against sqlite, their blocks split or their scans pushed down */
        int scanned = split_scanned;
        test_random_queries("wiki", 100);
        test_random_mv(50);
        CHECK_MSG(split_scanned - scanned > 20, "only %d random scans were pushed down",
                  split_scanned - scanned);
        test_split_damaged();
        test_scan_images();
        split_mode(false);
    }

    test_concurrent_appends(root);
    CHECK_MSG(query_memory_in_use() == 0, "queries left %llu bytes taken from the pool",
              (unsigned long long)query_memory_in_use());

    for (size_t i = 0; i < ntables; i++)
        storage_table_free(tables[i].t);
    sqlite3_close(db);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
    return check_summary();
}
