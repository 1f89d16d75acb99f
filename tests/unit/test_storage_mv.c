/*
 * test_storage_mv.c — multi-value string columns (storage type ARRAY): the
 * entry encoding (order by multiValueHandling, NULL elements, a scalar as
 * one value, [] and NULL as no values, corrupt entries refused), a detail
 * and an aggregate table read back from realtime buffers, from segments
 * after a persist, after compaction and after a reopen (lists kept in the
 * order given; rollup keys on the whole list; each value's rows are the
 * union of the bitmaps of the lists holding it),
 * and a segment whose list was damaged behind a valid checksum, which is
 * refused with a message naming the column and the list.
 */
#include "test_storage_common.h"

#include "storage/storage_int.h"

#define DAY 86400000LL
#define T0 (1700000000000LL - 1700000000000LL % DAY)

static struct sql_value arr(struct sql_value *items, uint32_t n)
{
    struct sql_value v = {.type = SQL_ARRAY};
    v.v.a.items = items;
    v.v.a.n = n;
    return v;
}

static struct sql_value s(const char *p) { return sql_string(p, strlen(p)); }

/* An entry's values as text: "a|b|~" (~ a NULL element), "-" for none. */
static void entry_text(const char *p, uint32_t n, char *out, size_t cap)
{
    struct sql_value it[16];
    int64_t k = p ? storage_mv_decode(p, n, it, 16) : 0;
    size_t o = 0;
    out[0] = 0;
    if (k < 0) {
        snprintf(out, cap, "corrupt");
        return;
    }
    if (k == 0) {
        snprintf(out, cap, "-");
        return;
    }
    for (int64_t i = 0; i < k && i < 16; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s%.*s", i ? "|" : "",
                              it[i].is_null ? 1 : (int)it[i].v.s.n,
                              it[i].is_null ? "~" : it[i].v.s.p);
}

static void test_encoding(void)
{
    struct arena mem;
    arena_init(&mem, 4096, 0);
    struct lerr err;
    lerr_init(&err);
    struct sql_value it[5] = {s("b"), s("a"), sql_null(SQL_STRING), s("b"), sql_long(7)};
    struct sql_value v = arr(it, 5);
    const char *p;
    uint32_t n;
    char text[128];
    static const char *const want[] = {"~|7|a|b|b", "~|7|a|b", "b|a|~|b|7"};
    for (int h = 0; h < 3; h++) {
        CHECK(storage_mv_encode(&v, h, &mem, &p, &n, &err) == 0);
        entry_text(p, n, text, sizeof text);
        CHECK_EQ_STR(text, want[h]);
    }
    struct sql_value one = s("x");
    CHECK(storage_mv_encode(&one, STORAGE_MV_SORTED_ARRAY, &mem, &p, &n, &err) == 0);
    entry_text(p, n, text, sizeof text);
    CHECK_EQ_STR(text, "x");
    struct sql_value empty = arr(it, 0), null = sql_null(SQL_ARRAY);
    CHECK(storage_mv_encode(&empty, 0, &mem, &p, &n, &err) == 0 && p == NULL && n == 0);
    CHECK(storage_mv_encode(&null, 0, &mem, &p, &n, &err) == 0 && p == NULL);
    /* '' is a value, not none */
    struct sql_value blank = s("");
    CHECK(storage_mv_encode(&blank, 0, &mem, &p, &n, &err) == 0 && n == 4);
    CHECK_EQ_INT(storage_mv_decode(p, n, NULL, 0), 1);

    /* damaged entries: a cut length, a length past the end */
    static const char cut[] = {1, 0, 0};
    static const char past[] = {9, 0, 0, 0, 'a', 'b'};
    CHECK_EQ_INT(storage_mv_decode(cut, sizeof cut, NULL, 0), -1);
    CHECK_EQ_INT(storage_mv_decode(past, sizeof past, NULL, 0), -1);

    /* a list past the limits is refused with a reason */
    uint32_t big = STORAGE_MV_MAX_ITEMS + 1;
    struct sql_value *many = calloc(big, sizeof *many);
    for (uint32_t i = 0; i < big; i++)
        many[i] = s("v");
    struct sql_value huge = arr(many, big);
    lerr_init(&err);
    CHECK(storage_mv_encode(&huge, 0, &mem, &p, &n, &err) == LERR_INVALID);
    CHECK_MSG(strstr(err.msg, "at most 65536") != NULL, "%s", err.msg);
    free(many);

    CHECK_EQ_INT(storage_mv_handling_parse("SORTED_SET"), STORAGE_MV_SORTED_SET);
    CHECK_EQ_INT(storage_mv_handling_parse("sorted"), -1);
    CHECK_EQ_STR(storage_mv_handling_name(STORAGE_MV_ARRAY), "ARRAY");
    arena_destroy(&mem);
}

/* ---- tables ---------------------------------------------------------------- */

enum { C_TAGS = 1, C_S, C_CNT, NCOLS };
#define NROWS 5000

/* Row i's tags: a list drawn from 6 values, in a scrambled order, some
 * rows with none ([] or NULL) or one value. */
static const char *const vals[] = {"a", "b", "c", "dd", "", "e"};
static int ntags(int i) { return i % 11 == 0 ? 0 : i % 7; }
static int tag_at(int i, int k) { return (i * 5 + k * 3) % 6; }

static struct sql_value tags_of(int i, struct sql_value *buf)
{
    int n = ntags(i);
    if (n == 0)
        return i % 2 ? sql_null(SQL_ARRAY) : arr(buf, 0);
    for (int k = 0; k < n; k++)
        buf[k] = s(vals[tag_at(i, k)]);
    if (n == 1 && i % 3 == 0)
        return buf[0]; /* a scalar is a one-value row */
    return arr(buf, (uint32_t)n);
}

/* What row i reads back as: its values in the order given, "a|b", or "-". */
static void want_text(int i, char *out, size_t cap)
{
    int n = ntags(i);
    const char *v[8];
    for (int k = 0; k < n; k++)
        v[k] = vals[tag_at(i, k)];
    size_t o = 0;
    out[0] = 0;
    if (n == 0)
        snprintf(out, cap, "-");
    for (int k = 0; k < n; k++)
        o += (size_t)snprintf(out + o, cap - o, "%s%s", k ? "|" : "", v[k]);
}

static void value_text(const struct sql_value *x, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = 0;
    if (x->is_null) {
        snprintf(out, cap, "-");
        return;
    }
    if (x->type != SQL_ARRAY) {
        snprintf(out, cap, "type %d", x->type);
        return;
    }
    for (uint32_t k = 0; k < x->v.a.n; k++)
        o += (size_t)snprintf(out + o, cap - o, "%s%.*s", k ? "|" : "", (int)x->v.a.items[k].v.s.n,
                              x->v.a.items[k].v.s.p);
}

/* Column col of every row of a view, arrays deep-copied into mem (a
 * scan's arrays live until its next read of the column). */
static struct sql_value *read_lists(const struct storage_view *v, size_t col, struct arena *mem)
{
    uint64_t n = storage_view_rows(v);
    struct sql_value *out = calloc(n ? n : 1, sizeof *out);
    struct storage_scan *sc = storage_scan_new(v);
    struct lerr err;
    lerr_init(&err);
    for (uint64_t r0 = 0; r0 < n; r0 += STORAGE_BLOCK_ROWS) {
        uint32_t m = (uint32_t)(n - r0 < STORAGE_BLOCK_ROWS ? n - r0 : STORAGE_BLOCK_ROWS);
        if (storage_scan_values(sc, col, r0, m, NULL, out + r0, &err) != 0) {
            CHECK_MSG(0, "scan %s: %s", storage_view_name(v), err.msg);
            free(out);
            out = NULL;
            break;
        }
        for (uint32_t k = 0; k < m; k++) {
            struct sql_value *x = &out[r0 + k];
            if (x->is_null || x->type != SQL_ARRAY)
                continue;
            struct sql_value *it = arena_alloc(mem, (x->v.a.n + 1) * sizeof *it);
            memcpy(it, x->v.a.items, x->v.a.n * sizeof *it);
            x->v.a.items = it;
        }
    }
    storage_scan_free(sc);
    return out;
}

static const struct storage_column detail_cols[] = {
    {.name = "tags", .type = SQL_ARRAY, .kind = STORAGE_DIMENSION},
    {.name = "s", .type = SQL_STRING, .kind = STORAGE_DIMENSION},
};

static void append_rows(struct storage_table *t, int from, int to)
{
    int n = to - from;
    struct sql_value *tv = calloc((size_t)n, sizeof *tv), *sv = calloc((size_t)n, sizeof *sv);
    struct sql_value *items = calloc((size_t)n * 8, sizeof *items);
    int64_t *time = calloc((size_t)n, sizeof *time);
    char(*sb)[16] = calloc((size_t)n, 16);
    for (int i = from; i < to; i++) {
        tv[i - from] = tags_of(i, items + (i - from) * 8);
        snprintf(sb[i - from], 16, "s%d", i % 3);
        sv[i - from] = s(sb[i - from]);
        time[i - from] = T0 + (i % 2) * DAY + i;
    }
    struct storage_batch_col bc[2] = {{.col = C_TAGS, .values = tv}, {.col = C_S, .values = sv}};
    struct storage_batch b = {.nrows = (uint32_t)n, .time = time, .ncols = 2, .cols = bc};
    struct lerr err;
    lerr_init(&err);
    CHECK_MSG(storage_table_append(t, &b, &err) == 0, "append: %s", err.msg);
    free(tv);
    free(sv);
    free(items);
    free(time);
    free(sb);
}

/* Every row of the table reads back as its sorted list; every value's
 * bitmap (segments) holds exactly the rows that list it. */
static void check_detail(struct storage_table *t, int nrows, const char *what)
{
    struct storage_snapshot *snap = storage_table_snapshot(t);
    CHECK(snap != NULL);
    if (!snap)
        return;
    CHECK_EQ_INT(snap->cols[C_TAGS].type, SQL_ARRAY);
    int seen = 0, bad = 0;
    struct arena mem;
    arena_init(&mem, 1 << 16, 0);
    for (size_t vi = 0; vi < snap->nviews; vi++) {
        const struct storage_view *v = snap->views[vi];
        uint64_t n = storage_view_rows(v);
        struct sql_value *tg = read_lists(v, C_TAGS, &mem);
        struct storage_scan *sc = storage_scan_new(v);
        int64_t *tm = calloc(n ? n : 1, sizeof *tm);
        struct lerr err;
        lerr_init(&err);
        for (uint64_t r0 = 0; r0 < n; r0 += STORAGE_BLOCK_ROWS) {
            uint32_t m = (uint32_t)(n - r0 < STORAGE_BLOCK_ROWS ? n - r0 : STORAGE_BLOCK_ROWS);
            CHECK(storage_scan_time(sc, r0, m, tm + r0, &err) == 0);
        }
        CHECK(!storage_view_dict_sorted(v, C_TAGS));
        uint32_t lo, hi;
        CHECK(!storage_view_dict_prefix(v, C_TAGS, "a", 1, &lo, &hi));
        for (uint64_t r = 0; tg && r < n; r++) {
            int i = (int)(tm[r] - T0 - (tm[r] - T0 >= DAY ? DAY : 0));
            char got[128], want[128];
            value_text(&tg[r], got, sizeof got);
            want_text(i, want, sizeof want);
            if (strcmp(got, want) != 0 && bad++ < 5)
                CHECK_MSG(0, "%s: %s row %d: got %s, want %s", what, storage_view_name(v), i, got,
                          want);
            seen++;
        }
        /* bitmaps: the id of each list; a value's rows = union over lists holding it */
        if (!storage_view_is_realtime(v) && tg) {
            uint32_t ds = storage_view_dict_size(v, C_TAGS);
            for (int val = 0; val < 6; val++) {
                uint64_t expect = 0, got = 0;
                for (uint64_t r = 0; r < n; r++) {
                    bool has = false;
                    for (uint32_t k = 0; !tg[r].is_null && k < tg[r].v.a.n; k++)
                        has |= strlen(vals[val]) == tg[r].v.a.items[k].v.s.n &&
                               memcmp(vals[val], tg[r].v.a.items[k].v.s.p,
                                      tg[r].v.a.items[k].v.s.n) == 0;
                    expect += has;
                }
                for (uint32_t id = 1; id < ds; id++) {
                    struct sql_value e = storage_view_dict_value(v, C_TAGS, id);
                    struct sql_value it[8];
                    int64_t k = storage_mv_decode(e.v.s.p, e.v.s.n, it, 8);
                    bool has = false;
                    for (int64_t q = 0; q < k && q < 8; q++)
                        has |= it[q].v.s.n == strlen(vals[val]) &&
                               memcmp(it[q].v.s.p, vals[val], it[q].v.s.n) == 0;
                    if (has)
                        got += roaring_bitmap_get_cardinality(
                            (const roaring_bitmap_t *)storage_view_bitmap(v, C_TAGS, id, &err));
                }
                CHECK_MSG(got == expect, "%s: value '%s': %llu rows by bitmaps, %llu listed", what,
                          vals[val], (unsigned long long)got, (unsigned long long)expect);
            }
            uint64_t nulls = 0;
            for (uint64_t r = 0; r < n; r++)
                nulls += tg[r].is_null;
            CHECK_EQ_INT(roaring_bitmap_get_cardinality(
                             (const roaring_bitmap_t *)storage_view_bitmap(v, C_TAGS, 0, &err)),
                         nulls);
        }
        free(tm);
        free(tg);
        storage_scan_free(sc);
    }
    CHECK_MSG(seen == nrows, "%s: %d rows, want %d", what, seen, nrows);
    arena_destroy(&mem);
    storage_snapshot_free(snap);
}

static void test_detail(void)
{
    char *dir = tst_mkdtemp();
    struct storage_schema sch = {
        .type = STORAGE_DETAIL, .partitioning = STORAGE_GRAN_DAY, .cols = detail_cols, .ncols = 2};
    struct storage_table *t;
    struct lerr err;
    lerr_init(&err);
    CHECK_MSG(storage_table_open(dir, "mv", &sch, NULL, &t, &err) == 0, "%s", err.msg);
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
    CHECK_MSG(storage_table_open(dir, "mv", &sch, &oo, &t, &err) == 0, "%s", err.msg);
    check_detail(t, NROWS, "reopened");
    storage_table_free(t);
    tst_rmtree(dir);
    free(dir);
}

/* Aggregate tables: the list is part of the key as given (the row
 * pipeline orders it by multiValueHandling first): [b,a] and [a,b] stay two
 * rows, [a] and the scalar a are one, [] and NULL one. */
static void test_rollup(void)
{
    uint64_t want_rows = 5;
    char *dir = tst_mkdtemp();
    struct storage_column cols[2] = {
        {.name = "tags", .type = SQL_ARRAY, .kind = STORAGE_DIMENSION},
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
    CHECK_MSG(storage_table_open(dir, "mvagg", &sch, NULL, &t, &err) == 0, "%s", err.msg);
    struct sql_value i0[2] = {s("b"), s("a")}, i1[2] = {s("a"), s("b")}, i2[2] = {s("a"), s("a")};
    struct sql_value i3[1] = {s("a")};
    struct sql_value tv[7] = {arr(i0, 2), arr(i1, 2),          arr(i2, 2), arr(i3, 1),
                              s("a"),     sql_null(SQL_ARRAY), arr(i3, 0)};
    int64_t time[7] = {T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4, T0 + 5, T0 + 6};
    size_t ss = sql_agg_state_size(&cols[1].agg);
    uint8_t *states = calloc(7, ss);
    struct arena mem;
    arena_init(&mem, 4096, 0);
    struct sql_value none = sql_null(SQL_NULL);
    for (int i = 0; i < 7; i++) {
        sql_agg_init(&cols[1].agg, states + ss * i);
        CHECK(sql_agg_add(&cols[1].agg, states + ss * i, &none, time[i], &mem));
    }
    struct storage_batch_col bc[2] = {{.col = 1, .values = tv}, {.col = 2, .states = states}};
    struct storage_batch b = {.nrows = 7, .time = time, .ncols = 2, .cols = bc};
    CHECK_MSG(storage_table_append(t, &b, &err) == 0, "%s", err.msg);
    struct storage_status st;
    storage_table_status(t, &st);
    CHECK_MSG(st.row_count == want_rows, "%llu rows, want %llu", (unsigned long long)st.row_count,
              (unsigned long long)want_rows);
    struct tst_catalog cat = {0};
    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    storage_table_status(t, &st);
    CHECK_EQ_INT(st.row_count, want_rows);
    storage_table_free(t);
    free(states);
    arena_destroy(&mem);
    tst_rmtree(dir);
    free(dir);
}

/* ---- a list damaged behind valid checksums --------------------------------- */

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc(*n);
    if (fread(p, 1, *n, f) != *n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    return p;
}

/* Replaces the CRC stored for part (off, len) in the footer, then the
 * footer's own CRC in the trailer. */
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

static void test_corrupt_list(void)
{
    /* one row, one short list: the plain dictionary layout is the smaller */
    char *dir = tst_mkdtemp();
    struct storage_schema sch = {
        .type = STORAGE_DETAIL, .partitioning = STORAGE_GRAN_DAY, .cols = detail_cols, .ncols = 2};
    struct storage_table *t;
    struct lerr err;
    lerr_init(&err);
    CHECK_MSG(storage_table_open(dir, "mv1", &sch, NULL, &t, &err) == 0, "%s", err.msg);
    struct tst_catalog cat = {0};
    append_rows(t, 1, 2);
    CHECK(storage_table_persist(t, tst_commit, &cat, &err) == 0);
    storage_table_free(t);
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, cat.names[0]);
    size_t n;
    uint8_t *file = slurp(path, &n);
    CHECK(file != NULL);
    if (!file)
        return;
    struct storage__seg *seg;
    CHECK_MSG(storage__seg_open_mem(file, n, cat.names[0], &seg, &err) == 0, "%s", err.msg);
    const struct storage__scol *c = &seg->cols[C_TAGS];
    CHECK_EQ_INT(c->def.type, SQL_ARRAY);
    CHECK_EQ_INT(c->enc, ST_ENC_STRING);
    struct storage__part pt = {.off = c->parts[ST_P_DICT].off,
                               .len = c->parts[ST_P_DICT].len,
                               .crc = c->parts[ST_P_DICT].crc};
    uint32_t cnt = c->dict_count;
    storage__seg_unref(seg);
    uint8_t *d = file + pt.off;
    CHECK_MSG(cnt == 1 && storage__get_u32(d + 4) == ST_DICT_PLAIN, "one plain entry: %u", cnt);
    /* the first list's first length now runs past its entry */
    uint8_t *first = d + 8 + ((size_t)cnt + 1) * 4;
    storage__put_u32(first, 1000);
    CHECK(reseal(file, n, pt.off, pt.len, pt.crc, util_crc32c(0, d, pt.len)));
    lerr_init(&err);
    int rc = storage_segment_verify_mem(file, n, cat.names[0], NULL, &err);
    CHECK_MSG(rc == LERR_CORRUPT, "rc %d: %s", rc, err.msg);
    CHECK_MSG(strstr(err.msg, "column 'tags', part 'dict'") != NULL &&
                  strstr(err.msg, "multi-value list 1 is not a whole list") != NULL,
              "%s", err.msg);
    /* and a table that knows the file leaves it out, naming it */
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(file, 1, n, f) == n);
    if (f)
        fclose(f);
    struct storage_open_opts oo = {.known = tst_known(&cat), .nknown = cat.n};
    CHECK_MSG(storage_table_open(dir, "mv1", &sch, &oo, &t, &err) == 0, "%s", err.msg);
    struct storage_snapshot *snap = storage_table_snapshot(t);
    CHECK(snap && snap->nviews == 0 && snap->nmissing == 1);
    if (snap && snap->nmissing == 1)
        CHECK_MSG(strstr(snap->missing[0].msg, "multi-value list") != NULL, "%s",
                  snap->missing[0].msg);
    storage_snapshot_free(snap);
    storage_table_free(t);
    free(file);
    tst_rmtree(dir);
    free(dir);
}

/* The fuzz target's seed of this encoding is a whole multi-value segment
 * (tests/fuzz/corpus/segment/: the fuzzer starts from it). */
static void test_fuzz_seed(void)
{
    size_t n;
    uint8_t *file = slurp("tests/fuzz/corpus/segment/seed5-multivalue.lseg", &n);
    CHECK_MSG(file != NULL, "the seed is read from the repository root");
    if (!file)
        return;
    struct lerr err;
    lerr_init(&err);
    struct storage__seg *seg;
    CHECK_MSG(storage__seg_open_mem(file, n, "seed5", &seg, &err) == 0, "%s", err.msg);
    if (!err.code) {
        CHECK_EQ_INT(seg->cols[C_TAGS].def.type, SQL_ARRAY);
        CHECK(storage__seg_verify_all(seg, &err) == 0);
        storage__seg_unref(seg);
    }
    free(file);
}

int main(void)
{
    log_set_level((enum log_level)(LOG_ERROR + 1));
    test_encoding();
    test_detail();
    test_rollup(); /* [b,a], [a,b], [a,a], [a] x2, none x2 */
    test_corrupt_list();
    test_fuzz_seed();
    return check_summary();
}
