/*
 * test_storage_array.c — typed ARRAY columns (Druid's ARRAY<STRING>,
 * ARRAY<LONG>, ARRAY<DOUBLE>): the entry encoding (order and duplicates
 * kept, NULL elements kept, the empty array distinct from NULL, elements
 * cast to the element type, corrupt entries and lists past the limits
 * refused), the dataType names, the schema checks, a detail table read back
 * from realtime buffers, after a persist, after compaction and after a
 * reopen, an aggregate table rolling up on whole arrays, and a segment whose
 * array was damaged behind a valid checksum (refused, naming the column and
 * the entry). The segment fuzzer's seed of typed arrays is kept whole here
 * (LODESTAR_WRITE_SEED=1 rewrites it from this test's table).
 */
#include "test_storage_common.h"

#include "storage/storage_int.h"

#define DAY 86400000LL
#define T0 (1700000000000LL - 1700000000000LL % DAY)
#define SEED "tests/fuzz/corpus/segment/seed6-arrays.lseg"

static struct sql_value arr(struct sql_value *items, uint32_t n)
{
    struct sql_value v = {.type = SQL_ARRAY};
    v.v.a.items = items;
    v.v.a.n = n;
    return v;
}

static struct sql_value s(const char *p) { return sql_string(p, strlen(p)); }

/* An array value as text: "[1,~,3]" (~ a NULL element), "null", "[]". */
static void value_text(const struct sql_value *x, char *out, size_t cap)
{
    size_t o = 0;
    if (x->is_null) {
        snprintf(out, cap, "null");
        return;
    }
    if (x->type != SQL_ARRAY) {
        snprintf(out, cap, "type %d", x->type);
        return;
    }
    o += (size_t)snprintf(out + o, cap - o, "[");
    for (uint32_t k = 0; k < x->v.a.n && o < cap; k++) {
        const struct sql_value *e = &x->v.a.items[k];
        const char *sep = k ? "," : "";
        if (e->is_null)
            o += (size_t)snprintf(out + o, cap - o, "%s~", sep);
        else if (e->type == SQL_LONG)
            o += (size_t)snprintf(out + o, cap - o, "%s%lld", sep, (long long)e->v.l);
        else if (e->type == SQL_DOUBLE)
            o += (size_t)snprintf(out + o, cap - o, "%s%.17g", sep, e->v.d);
        else if (e->type == SQL_STRING)
            o += (size_t)snprintf(out + o, cap - o, "%s'%.*s'", sep, (int)e->v.s.n, e->v.s.p);
        else
            o += (size_t)snprintf(out + o, cap - o, "%s?%d", sep, e->type);
    }
    if (o < cap)
        snprintf(out + o, cap - o, "]");
}

static void entry_text(int elem, const char *p, uint32_t n, char *out, size_t cap)
{
    if (!p) {
        snprintf(out, cap, "null");
        return;
    }
    struct sql_value it[16];
    int64_t k = storage_array_decode(elem, p, n, it, 16);
    if (k < 0 || k > 16) {
        snprintf(out, cap, "corrupt");
        return;
    }
    struct sql_value v = arr(it, (uint32_t)k);
    value_text(&v, out, cap);
}

static void test_encoding(void)
{
    struct arena mem;
    arena_init(&mem, 4096, 0);
    struct lerr err;
    lerr_init(&err);
    const char *p;
    uint32_t n;
    char text[256];

    /* longs: order and duplicates kept, NULL elements kept, text cast */
    struct sql_value li[6] = {sql_long(3), sql_long(-1), sql_null(SQL_LONG),
                              sql_long(3), s("42"),      sql_double(2.0)};
    struct sql_value lv = arr(li, 6);
    CHECK(storage_array_encode(&lv, SQL_LONG, &mem, &p, &n, &err) == 0);
    CHECK_EQ_INT(n, 6 * 4 + 5 * 8);
    entry_text(SQL_LONG, p, n, text, sizeof text);
    CHECK_EQ_STR(text, "[3,-1,~,3,42,2]");
    /* an element that is no number, a nested array or JSON: a NULL element */
    struct sql_value inner[1] = {sql_long(1)};
    struct sql_value bad[3] = {s("abc"), arr(inner, 1), sql_long(INT64_MIN)};
    struct sql_value bv = arr(bad, 3);
    CHECK(storage_array_encode(&bv, SQL_LONG, &mem, &p, &n, &err) == 0);
    entry_text(SQL_LONG, p, n, text, sizeof text);
    CHECK_EQ_STR(text, "[~,~,-9223372036854775808]");
    /* doubles keep every bit */
    struct sql_value di[3] = {sql_double(0.1), sql_double(-0.0), sql_long(7)};
    struct sql_value dv = arr(di, 3);
    CHECK(storage_array_encode(&dv, SQL_DOUBLE, &mem, &p, &n, &err) == 0);
    entry_text(SQL_DOUBLE, p, n, text, sizeof text);
    CHECK_EQ_STR(text, "[0.10000000000000001,-0,7]");
    struct sql_value back[3];
    CHECK_EQ_INT(storage_array_decode(SQL_DOUBLE, p, n, back, 3), 3);
    CHECK(signbit(back[1].v.d));
    /* strings: '' is an element, numbers as their text */
    struct sql_value si[4] = {s("b"), s(""), sql_null(SQL_STRING), sql_long(5)};
    struct sql_value sv = arr(si, 4);
    CHECK(storage_array_encode(&sv, SQL_STRING, &mem, &p, &n, &err) == 0);
    entry_text(SQL_STRING, p, n, text, sizeof text);
    CHECK_EQ_STR(text, "['b','',~,'5']");
    /* a scalar is a one-element array; NULL and [] differ */
    struct sql_value one = sql_long(9), null = sql_null(SQL_ARRAY), empty = arr(li, 0);
    CHECK(storage_array_encode(&one, SQL_LONG, &mem, &p, &n, &err) == 0);
    entry_text(SQL_LONG, p, n, text, sizeof text);
    CHECK_EQ_STR(text, "[9]");
    CHECK(storage_array_encode(&null, SQL_LONG, &mem, &p, &n, &err) == 0 && p == NULL);
    CHECK(storage_array_encode(&empty, SQL_LONG, &mem, &p, &n, &err) == 0 && p != NULL && n == 0);
    CHECK_EQ_INT(storage_array_decode(SQL_LONG, p, 0, NULL, 0), 0);

    /* damaged entries: a cut length, a length past the end, a number of 4 bytes */
    static const char cut[] = {1, 0, 0};
    static const char past[] = {9, 0, 0, 0, 'a', 'b'};
    static const char short_num[] = {4, 0, 0, 0, 1, 2, 3, 4};
    CHECK_EQ_INT(storage_array_decode(SQL_STRING, cut, sizeof cut, NULL, 0), -1);
    CHECK_EQ_INT(storage_array_decode(SQL_STRING, past, sizeof past, NULL, 0), -1);
    CHECK_EQ_INT(storage_array_decode(SQL_LONG, short_num, sizeof short_num, NULL, 0), -1);
    CHECK_EQ_INT(storage_array_decode(SQL_STRING, short_num, sizeof short_num, NULL, 0), 1);
    CHECK_EQ_INT(storage_array_decode(SQL_FLOAT, short_num, sizeof short_num, NULL, 0), -1);

    /* past the limits: a reason */
    uint32_t big = STORAGE_MV_MAX_ITEMS + 1;
    struct sql_value *many = calloc(big, sizeof *many);
    for (uint32_t i = 0; i < big; i++)
        many[i] = sql_long(i);
    struct sql_value huge = arr(many, big);
    lerr_init(&err);
    CHECK(storage_array_encode(&huge, SQL_LONG, &mem, &p, &n, &err) == LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "an array of 65537 elements; at most 65536") != NULL, "%s", err.msg);
    char *blob = malloc(STORAGE_MV_MAX_BYTES / 2);
    memset(blob, 'x', STORAGE_MV_MAX_BYTES / 2);
    struct sql_value two[2] = {sql_string(blob, STORAGE_MV_MAX_BYTES / 2),
                               sql_string(blob, STORAGE_MV_MAX_BYTES / 2)};
    struct sql_value wide = arr(two, 2);
    lerr_init(&err);
    CHECK(storage_array_encode(&wide, SQL_STRING, &mem, &p, &n, &err) == LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "at most 16777216 bytes") != NULL, "%s", err.msg);
    free(blob);
    free(many);
    lerr_init(&err);
    CHECK(storage_array_encode(&sv, SQL_FLOAT, &mem, &p, &n, &err) == LERR_INVALID);

    /* the table API's names */
    CHECK_EQ_INT(storage_array_type_parse("ARRAY<STRING>", 13), SQL_STRING);
    CHECK_EQ_INT(storage_array_type_parse("array<long>", 11), SQL_LONG);
    CHECK_EQ_INT(storage_array_type_parse("ARRAY< DOUBLE >", 15), SQL_DOUBLE);
    CHECK_EQ_INT(storage_array_type_parse("ARRAY<FLOAT>", 12), -1);
    CHECK_EQ_INT(storage_array_type_parse("ARRAY<>", 7), -1);
    CHECK_EQ_INT(storage_array_type_parse("ARRAY<LONG", 10), -1);
    CHECK_EQ_INT(storage_array_type_parse("array", 5), -1);
    CHECK_EQ_STR(storage_array_type_name(SQL_LONG), "ARRAY<LONG>");
    CHECK_EQ_STR(storage_array_sql_name(SQL_STRING), "VARCHAR ARRAY");
    CHECK_EQ_STR(storage_array_sql_name(SQL_DOUBLE), "DOUBLE ARRAY");
    arena_destroy(&mem);
}

/* ---- schemas --------------------------------------------------------------- */

static void test_schema(void)
{
    struct lerr err;
    lerr_init(&err);
    struct storage_column bad_elem = {
        .name = "a", .type = SQL_ARRAY, .kind = STORAGE_DIMENSION, .elem = SQL_FLOAT};
    CHECK(storage__column_check(STORAGE_DETAIL, &bad_elem, 0, &err) == LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "elements are string, long or double, not float") != NULL, "%s",
              err.msg);
    lerr_init(&err);
    struct storage_column scalar = {
        .name = "a", .type = SQL_LONG, .kind = STORAGE_DIMENSION, .elem = SQL_LONG};
    CHECK(storage__column_check(STORAGE_DETAIL, &scalar, 0, &err) == LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "only an ARRAY column has an element type") != NULL, "%s", err.msg);
    /* a multi-value string and the typed arrays are four different columns */
    struct storage_column mv = {.name = "a", .type = SQL_ARRAY, .kind = STORAGE_DIMENSION};
    struct storage_column al = mv, as = mv;
    al.elem = SQL_LONG;
    as.elem = SQL_STRING;
    CHECK(storage__column_compatible(&al, &al));
    CHECK(!storage__column_compatible(&al, &as));
    CHECK(!storage__column_compatible(&mv, &as));
    CHECK(!storage__column_compatible(&as, &mv));
}

/* ---- tables ---------------------------------------------------------------- */

enum { C_AL = 1, C_AD, C_AS, NCOLS };
#define NROWS 6000

static const struct storage_column detail_cols[] = {
    {.name = "al", .type = SQL_ARRAY, .kind = STORAGE_DIMENSION, .elem = SQL_LONG},
    {.name = "ad", .type = SQL_ARRAY, .kind = STORAGE_DIMENSION, .elem = SQL_DOUBLE},
    {.name = "as", .type = SQL_ARRAY, .kind = STORAGE_DIMENSION, .elem = SQL_STRING},
};

static const char *const words[] = {"b", "a", "", "ccc", "a"};

/* Row i's value of column col: NULL, [] or a few elements (some NULL),
 * in a scrambled order with duplicates. Items go to buf (8 slots). */
static struct sql_value row_value(int col, int i, struct sql_value *buf)
{
    if (i % 13 == col)
        return sql_null(SQL_ARRAY);
    if (i % 17 == col)
        return arr(buf, 0);
    int n = 1 + (i * 7 + col) % 5;
    for (int k = 0; k < n; k++) {
        int x = (i * 3 + k * 5 + col) % 9;
        if (x == 8)
            buf[k] = sql_null(col == C_AS ? SQL_STRING : col == C_AL ? SQL_LONG : SQL_DOUBLE);
        else if (col == C_AL)
            buf[k] = sql_long((int64_t)x * 1000000007LL - 4);
        else if (col == C_AD)
            buf[k] = sql_double(x / 4.0 - 1);
        else
            buf[k] = s(words[x % 5]);
    }
    return arr(buf, (uint32_t)n);
}

static void append_rows(struct storage_table *t, int from, int to)
{
    int n = to - from;
    struct sql_value *vals[3], *items[3];
    for (int c = 0; c < 3; c++) {
        vals[c] = calloc((size_t)n, sizeof *vals[c]);
        items[c] = calloc((size_t)n * 8, sizeof *items[c]);
    }
    int64_t *time = calloc((size_t)n, sizeof *time);
    for (int i = from; i < to; i++) {
        for (int c = 0; c < 3; c++)
            vals[c][i - from] = row_value(C_AL + c, i, items[c] + (i - from) * 8);
        time[i - from] = T0 + (i % 2) * DAY + i;
    }
    struct storage_batch_col bc[3] = {{.col = C_AL, .values = vals[0]},
                                      {.col = C_AD, .values = vals[1]},
                                      {.col = C_AS, .values = vals[2]}};
    struct storage_batch b = {.nrows = (uint32_t)n, .time = time, .ncols = 3, .cols = bc};
    struct lerr err;
    lerr_init(&err);
    CHECK_MSG(storage_table_append(t, &b, &err) == 0, "append: %s", err.msg);
    for (int c = 0; c < 3; c++) {
        free(vals[c]);
        free(items[c]);
    }
    free(time);
}

/* Every row reads back as the array appended, element for element. */
static void check_detail(struct storage_table *t, int nrows, const char *what)
{
    struct storage_snapshot *snap = storage_table_snapshot(t);
    CHECK(snap != NULL);
    if (!snap)
        return;
    int seen = 0, bad = 0;
    for (size_t vi = 0; vi < snap->nviews; vi++) {
        const struct storage_view *v = snap->views[vi];
        uint64_t n = storage_view_rows(v);
        CHECK_EQ_INT(storage_view_column_elem(v, C_AL), SQL_LONG);
        CHECK_EQ_INT(storage_view_column_elem(v, C_AD), SQL_DOUBLE);
        CHECK_EQ_INT(storage_view_column_elem(v, C_AS), SQL_STRING);
        struct storage_scan *sc = storage_scan_new(v);
        int64_t *tm = calloc(n ? n : 1, sizeof *tm);
        struct lerr err;
        lerr_init(&err);
        for (uint64_t r0 = 0; r0 < n; r0 += STORAGE_BLOCK_ROWS) {
            uint32_t m = (uint32_t)(n - r0 < STORAGE_BLOCK_ROWS ? n - r0 : STORAGE_BLOCK_ROWS);
            CHECK(storage_scan_time(sc, r0, m, tm + r0, &err) == 0);
            for (int c = C_AL; c <= C_AS; c++) {
                struct sql_value got[STORAGE_BLOCK_ROWS];
                if (storage_scan_values(sc, (size_t)c, r0, m, NULL, got, &err) != 0) {
                    CHECK_MSG(0, "%s: scan: %s", what, err.msg);
                    break;
                }
                for (uint32_t k = 0; k < m; k++) {
                    int64_t d = tm[r0 + k] - T0;
                    int i = (int)(d >= DAY ? d - DAY : d);
                    struct sql_value buf[8];
                    struct sql_value want = row_value(c, i, buf);
                    char g[256], w[256];
                    value_text(&got[k], g, sizeof g);
                    value_text(&want, w, sizeof w);
                    if (strcmp(g, w) != 0 && bad++ < 5)
                        CHECK_MSG(0, "%s: %s row %d col %d: got %s, want %s", what,
                                  storage_view_name(v), i, c, g, w);
                }
            }
        }
        seen += (int)n;
        free(tm);
        storage_scan_free(sc);
    }
    CHECK_MSG(seen == nrows, "%s: %d rows, want %d", what, seen, nrows);
    storage_snapshot_free(snap);
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(*n ? *n : 1);
    if (fread(p, 1, *n, f) != *n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    return p;
}

static void test_detail(void)
{
    char *dir = tst_mkdtemp();
    struct storage_schema sch = {
        .type = STORAGE_DETAIL, .partitioning = STORAGE_GRAN_DAY, .cols = detail_cols, .ncols = 3};
    struct storage_table *t;
    struct lerr err;
    lerr_init(&err);
    CHECK_MSG(storage_table_open(dir, "arr", &sch, NULL, &t, &err) == 0, "%s", err.msg);
    struct tst_catalog cat = {0};
    append_rows(t, 0, NROWS / 2);
    check_detail(t, NROWS / 2, "realtime");
    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    check_detail(t, NROWS / 2, "persisted");
    append_rows(t, NROWS / 2, NROWS);
    check_detail(t, NROWS, "segments + realtime");
    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    bool did = true;
    for (int k = 0; did && k < 5; k++)
        CHECK_MSG(storage_table_compact(t, NULL, tst_commit, &cat, &did, &err) == 0, "%s",
                  err.msg);
    CHECK_EQ_INT(cat.n, 2);
    check_detail(t, NROWS, "compacted");
    storage_table_free(t);
    struct storage_open_opts oo = {.known = tst_known(&cat), .nknown = cat.n, .verify_all = true};
    CHECK_MSG(storage_table_open(dir, "arr", &sch, &oo, &t, &err) == 0, "%s", err.msg);
    check_detail(t, NROWS, "reopened");
    storage_table_free(t);
    tst_rmtree(dir);
    free(dir);
}

/* Aggregate tables: the whole array in its order is the key: [1,2] twice is
 * one row, [2,1] another, [] and NULL two more. */
static void test_rollup(void)
{
    char *dir = tst_mkdtemp();
    struct storage_column cols[2] = {
        {.name = "al", .type = SQL_ARRAY, .kind = STORAGE_DIMENSION, .elem = SQL_LONG},
        {.name = "cnt", .kind = STORAGE_MEASURE},
    };
    CHECK(sql_agg_for_measure("count", &cols[1].agg));
    struct storage_schema sch = {.type = STORAGE_AGGREGATE,
                                 .partitioning = STORAGE_GRAN_DAY,
                                 .time_resolution = STORAGE_GRAN_DAY,
                                 .cols = cols,
                                 .ncols = 2};
    struct storage_table *t;
    struct lerr err;
    lerr_init(&err);
    CHECK_MSG(storage_table_open(dir, "arragg", &sch, NULL, &t, &err) == 0, "%s", err.msg);
    struct sql_value i0[2] = {sql_long(1), sql_long(2)}, i1[2] = {sql_long(2), sql_long(1)};
    struct sql_value i2[2] = {s("1"), sql_double(2)};
    struct sql_value tv[6] = {arr(i0, 2), arr(i1, 2),          arr(i2, 2),
                              arr(i0, 0), sql_null(SQL_ARRAY), arr(i1, 0)};
    int64_t time[6] = {T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4, T0 + 5};
    size_t ss = sql_agg_state_size(&cols[1].agg);
    uint8_t *states = calloc(6, ss);
    struct arena mem;
    arena_init(&mem, 4096, 0);
    struct sql_value none = sql_null(SQL_NULL);
    for (int i = 0; i < 6; i++) {
        sql_agg_init(&cols[1].agg, states + ss * i);
        CHECK(sql_agg_add(&cols[1].agg, states + ss * i, &none, time[i], &mem));
    }
    struct storage_batch_col bc[2] = {{.col = 1, .values = tv}, {.col = 2, .states = states}};
    struct storage_batch b = {.nrows = 6, .time = time, .ncols = 2, .cols = bc};
    CHECK_MSG(storage_table_append(t, &b, &err) == 0, "%s", err.msg);
    struct tst_catalog cat = {0};
    for (int round = 0; round < 2; round++) {
        struct storage_snapshot *snap = storage_table_snapshot(t);
        char seen[512] = "";
        for (size_t vi = 0; snap && vi < snap->nviews; vi++) {
            const struct storage_view *v = snap->views[vi];
            uint64_t n = storage_view_rows(v);
            struct storage_scan *sc = storage_scan_new(v);
            struct sql_value got[8], cnt[8];
            CHECK(n <= 8);
            CHECK(storage_scan_values(sc, 1, 0, (uint32_t)n, NULL, got, &err) == 0);
            CHECK(storage_scan_values(sc, 2, 0, (uint32_t)n, NULL, cnt, &err) == 0);
            /* rows in key order: the NULL id first, then entries by bytes */
            for (uint64_t r = 0; r < n && r < 8; r++) {
                char g[64];
                value_text(&got[r], g, sizeof g);
                size_t o = strlen(seen);
                snprintf(seen + o, sizeof seen - o, "%s%s=%lld", o ? " " : "", g,
                         (long long)cnt[r].v.l);
            }
            storage_scan_free(sc);
        }
        storage_snapshot_free(snap);
        /* each key once, with its count (order: realtime insertion, segment sort) */
        CHECK_MSG(strstr(seen, "[1,2]=2") && strstr(seen, "[2,1]=1") && strstr(seen, "[]=2") &&
                      strstr(seen, "null=1"),
                  "round %d: %s", round, seen);
        int keys = 0;
        for (const char *q = seen; (q = strchr(q, '=')); q++)
            keys++;
        CHECK_MSG(keys == 4, "round %d: %d keys: %s", round, keys, seen);
        CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    }
    storage_table_free(t);
    free(states);
    arena_destroy(&mem);
    tst_rmtree(dir);
    free(dir);
}

/* ---- an array damaged behind valid checksums ------------------------------- */

static bool reseal(uint8_t *file, size_t n, uint64_t off, uint64_t len, uint32_t old_crc,
                   uint32_t new_crc)
{
    uint64_t foff = storage__get_u64(file + n - 32), flen = storage__get_u64(file + n - 24);
    uint8_t pat[20];
    storage__put_u64(pat, off);
    storage__put_u64(pat + 8, len);
    storage__put_u32(pat + 16, old_crc);
    for (uint64_t i = foff; i + 20 <= foff + flen; i++)
        if (memcmp(file + i, pat, 20) == 0) {
            storage__put_u32(file + i + 16, new_crc);
            storage__put_u32(file + n - 16, util_crc32c(0, file + foff, flen));
            return true;
        }
    return false;
}

static void test_corrupt_and_seed(void)
{
    char *dir = tst_mkdtemp();
    struct storage_schema sch = {
        .type = STORAGE_DETAIL, .partitioning = STORAGE_GRAN_DAY, .cols = detail_cols, .ncols = 3};
    struct storage_table *t;
    struct lerr err;
    lerr_init(&err);
    CHECK_MSG(storage_table_open(dir, "arr1", &sch, NULL, &t, &err) == 0, "%s", err.msg);
    struct tst_catalog cat = {0};
    append_rows(t, 2, 3); /* one row: [2000000010,~,...] in a plain dictionary */
    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    storage_table_free(t);
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, cat.names[0]);
    size_t n;
    uint8_t *file = slurp(path, &n);
    CHECK(file != NULL);
    if (!file)
        return;
    if (getenv("LODESTAR_WRITE_SEED")) {
        FILE *f = fopen(SEED, "wb");
        CHECK(f && fwrite(file, 1, n, f) == n);
        if (f)
            fclose(f);
    }
    struct storage__seg *seg;
    CHECK_MSG(storage__seg_open_mem(file, n, cat.names[0], &seg, &err) == 0, "%s", err.msg);
    const struct storage__scol *c = &seg->cols[C_AL];
    CHECK_EQ_INT(c->def.type, SQL_ARRAY);
    CHECK_EQ_INT(c->def.elem, SQL_LONG);
    CHECK_EQ_INT(seg->cols[C_AS].def.elem, SQL_STRING);
    struct storage__part pt = {.off = c->parts[ST_P_DICT].off,
                               .len = c->parts[ST_P_DICT].len,
                               .crc = c->parts[ST_P_DICT].crc};
    uint32_t cnt = c->dict_count;
    storage__seg_unref(seg);
    uint8_t *d = file + pt.off;
    CHECK_MSG(cnt == 1 && storage__get_u32(d + 4) == ST_DICT_PLAIN, "one plain entry: %u", cnt);
    /* the first element of the first array is a number of 4 bytes now */
    uint8_t *first = d + 8 + ((size_t)cnt + 1) * 4;
    CHECK_EQ_INT(storage__get_u32(first), 8);
    storage__put_u32(first, 4);
    CHECK(reseal(file, n, pt.off, pt.len, pt.crc, util_crc32c(0, d, pt.len)));
    lerr_init(&err);
    int rc = storage_segment_verify_mem(file, n, cat.names[0], NULL, &err);
    CHECK_MSG(rc == LERR_CORRUPT, "rc %d: %s", rc, err.msg);
    CHECK_MSG(strstr(err.msg, "column 'al', part 'dict'") != NULL &&
                  strstr(err.msg, "array 1 is not a whole array of long") != NULL,
              "%s", err.msg);
    free(file);
    tst_rmtree(dir);
    free(dir);

    /* the checked-in seed opens and verifies whole */
    file = slurp(SEED, &n);
    CHECK_MSG(file != NULL, "the seed " SEED " is read from the repository root");
    if (!file)
        return;
    lerr_init(&err);
    CHECK_MSG(storage__seg_open_mem(file, n, "seed6", &seg, &err) == 0, "%s", err.msg);
    if (!err.code) {
        CHECK_EQ_INT(seg->cols[C_AD].def.elem, SQL_DOUBLE);
        CHECK(storage__seg_verify_all(seg, &err) == 0);
        storage__seg_unref(seg);
    }
    free(file);
}

int main(void)
{
    log_set_level((enum log_level)(LOG_ERROR + 1));
    test_encoding();
    test_schema();
    test_detail();
    test_rollup();
    test_corrupt_and_seed();
    return check_summary();
}
