/*
 * test_registries.c — the engine's named tables (src/storage/db.c), the push
 * log registry (src/source/pushreg.c) and the batch file source
 * (src/source/file.c): one handle per name, references that keep a dropped
 * table or a deleted connection's log alive until their last user is done,
 * files the describer does not know removed at open, columns added through
 * the description, and a batch text cut into chunks of whole rows (quoted
 * CSV newlines, the header repeated, gzip, a missing file named).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "source/pushreg.h"
#include "source_poll_test.h"
#include "storage/db.h"

static char g_root[256];

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* ---- storage_db --------------------------------------------------------------------- */

/* A describer over a fixed list: a table "t1" with one column, "t2" with two once
 * g_widened is set; "bad" has a type storage refuses. */
static int g_describes;
static bool g_widened;
static const char *g_t1_id = "00000000-0000-4000-8000-000000000001";

static int describe(void *ctx, const char *name, bool with_segments, struct arena *mem,
                    struct storage_table_desc *out, struct lerr *err)
{
    (void)ctx, (void)with_segments;
    g_describes++;
    memset(out, 0, sizeof *out);
    const char *id = strcmp(name, "t1") == 0   ? g_t1_id
                     : strcmp(name, "t2") == 0 ? "00000000-0000-4000-8000-000000000002"
                                               : NULL;
    if (!id)
        return lerr_set(err, LERR_NOT_FOUND, "table '%s' does not exist", name);
    snprintf(out->id, sizeof out->id, "%s", id);
    struct storage_column *cols = arena_zalloc(mem, 2 * sizeof *cols);
    cols[0] =
        (struct storage_column){.name = "page", .type = SQL_STRING, .kind = STORAGE_DIMENSION};
    cols[1] =
        (struct storage_column){.name = "added", .type = SQL_LONG, .kind = STORAGE_DIMENSION};
    out->schema = (struct storage_schema){.type = STORAGE_DETAIL,
                                          .partitioning = STORAGE_GRAN_DAY,
                                          .time_resolution = STORAGE_GRAN_MILLISECOND,
                                          .cols = cols,
                                          .ncols = g_widened ? 2 : 1};
    return 0;
}

static void test_db(void)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/db", g_root);
    struct storage_db *db = NULL;
    struct lerr err;
    lerr_init(&err);
    struct storage_db_opts o = {.describe = describe};
    CHECK_EQ_INT(storage_db_open(dir, &o, &db, &err), 0);
    if (!db)
        return;
    char tdir[400], stray[500];
    snprintf(tdir, sizeof tdir, "%s/tables/00000000-0000-4000-8000-000000000001", dir);
    mkdir(tdir, 0700);
    snprintf(stray, sizeof stray, "%s/stray.seg", tdir);
    write_file(stray, "not a segment the catalog knows");

    /* unknown table: the describer's error */
    lerr_init(&err);
    CHECK(storage_db_get(db, "nope", &err) == NULL);
    CHECK_EQ_INT(err.code, LERR_NOT_FOUND);
    lerr_init(&err);
    CHECK(storage_db_snapshot(db, "nope", &err) == NULL);
    CHECK_EQ_INT(err.code, LERR_NOT_FOUND);

    /* one handle per name; opening removes files the describer does not know */
    g_describes = 0;
    lerr_init(&err);
    struct storage_db_table *a = storage_db_get(db, "t1", &err);
    struct storage_db_table *b = storage_db_get(db, "t1", &err);
    CHECK(a != NULL && a == b);
    CHECK_EQ_INT(g_describes, 1);
    CHECK(!exists(stray));
    if (!a)
        return;
    CHECK_EQ_STR(a->name, "t1");
    CHECK_EQ_STR(a->id, "00000000-0000-4000-8000-000000000001");
    CHECK_EQ_INT(storage_table_find_column(a->st, "added", 5), -1);

    /* a column the description gained: added by sync (under the writer lock) */
    g_widened = true;
    storage_db_lock(db, "t1");
    storage_db_unlock(db, "t1");
    CHECK(storage_table_find_column(a->st, "added", 5) >= 1);

    struct storage_status st;
    lerr_init(&err);
    CHECK_EQ_INT(storage_db_status(db, "t1", &st, &err), 0);
    CHECK_EQ_INT(st.row_count, 0);
    struct storage_snapshot *snap = storage_db_snapshot(db, "t1", &err);
    CHECK(snap != NULL);

    /* dropped while a reference is held: gone from the registry and the disk at once,
     * the holder's handle stays valid until it puts it back */
    storage_db_put(db, b);
    storage_db_dropped(db, "t1", "00000000-0000-4000-8000-000000000001");
    CHECK(!exists(tdir));
    CHECK(a->st != NULL);
    storage_table_status(a->st, &st); /* still a live table: ASan would see a freed one */
    CHECK_EQ_INT(st.row_count, 0);
    g_describes = 0;
    struct storage_db_table *c = storage_db_get(db, "t1", &err); /* opens anew */
    CHECK(c != NULL && c != a);
    CHECK_EQ_INT(g_describes, 1);
    storage_db_put(db, a);
    storage_db_put(db, c);

    /* made again under the same name by another writer of the store: a holder of the old
     * table finds the new one (storage_db_refresh), and a second holder of the old one does
     * not drop the new one again; a table gone is not found */
    lerr_init(&err);
    struct storage_db_table *x = storage_db_get(db, "t1", &err),
                            *y = storage_db_get(db, "t1", &err);
    CHECK(x != NULL && x == y);
    g_t1_id = "00000000-0000-4000-8000-00000000000a";
    CHECK(x && storage_db_refresh(db, &x, g_t1_id, &err) == 0);
    CHECK(x != NULL && x != y && strcmp(x->id, g_t1_id) == 0);
    CHECK(y && storage_db_refresh(db, &y, g_t1_id, &err) == 0);
    CHECK(y == x);
    CHECK(storage_db_refresh(db, &y, g_t1_id, &err) == 0 && y == x); /* current: kept */
    struct storage_db_table *z = storage_db_get(db, "t1", &err);
    CHECK(z == x);
    CHECK(z && storage_db_refresh(db, &z, NULL, &err) == LERR_NOT_FOUND && z == NULL);
    storage_db_put(db, x);
    storage_db_put(db, y);
    storage_snapshot_free(snap);
    storage_db_close(db);
}

/* ---- the push registry ---------------------------------------------------------------- */

struct closer {
    struct source *src;
    int after_ms;
};

static void *close_later(void *arg)
{
    struct closer *c = arg;
    struct timespec ts = {0, (long)c->after_ms * 1000000L};
    nanosleep(&ts, NULL);
    source_close(c->src);
    return NULL;
}

static void test_pushreg(void)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/pr", g_root);
    mkdir(dir, 0700);
    struct pushreg *reg = NULL;
    struct lerr err;
    lerr_init(&err);
    CHECK_EQ_INT(pushreg_open(dir, 0, &reg, &err), 0);
    if (!reg)
        return;
    lerr_init(&err);
    CHECK(pushreg_get(reg, "../evil", &err) == NULL);
    CHECK_EQ_INT(err.code, LERR_INVALID);

    lerr_init(&err);
    struct source_pushlog *l1 = pushreg_get(reg, "events", &err);
    struct source_pushlog *l2 = pushreg_get(reg, "events", &err);
    CHECK(l1 != NULL && l1 == l2);
    pushreg_put(reg, l2);
    struct source_pushlog_entry e[3] = {{"a", 1, 1}, {"bb", 2, 2}, {"ccc", 3, 3}};
    int64_t first = -1;
    CHECK_EQ_INT(pushreg_append(reg, "events", e, 3, &first, &err), 0);
    CHECK_EQ_INT(first, 0);
    CHECK_EQ_INT(source_pushlog_end_offset(l1), 3);
    pushreg_put(reg, l1);

    /* a source holds the log; it reads what was appended */
    struct source *src = pushreg_source(reg, "events", &err);
    CHECK(src != NULL);
    struct source_offsets none;
    source_offsets_init(&none);
    CHECK_EQ_INT(source_assign(src, &none, SOURCE_OFFSET_EARLIEST, &err), 0);
    source_offsets_destroy(&none);
    struct source_batch bt;
    CHECK_EQ_INT(poll_src(src, 10, 100, &bt, &err), 0);
    CHECK_EQ_INT(bt.n, 3);
    if (bt.n == 3)
        CHECK(bt.records[2].len == 3 && memcmp(bt.records[2].data, "ccc", 3) == 0);

    /* trim is due once per period */
    CHECK(pushreg_trim_due(reg, "events", 60000));
    CHECK(!pushreg_trim_due(reg, "events", 60000));

    /* a drop waits for the reader, then deletes the directory */
    char ldir[400];
    snprintf(ldir, sizeof ldir, "%s/push/events", dir);
    CHECK(exists(ldir));
    struct closer c = {src, 150};
    pthread_t th;
    pthread_create(&th, NULL, close_later, &c);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    lerr_init(&err);
    CHECK_EQ_INT(pushreg_drop(reg, "events", &err), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pthread_join(th, NULL);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK_MSG(ms >= 100, "drop returned after %.0f ms, before the reader was done", ms);
    CHECK(!exists(ldir));

    /* the same name again is a new, empty log */
    lerr_init(&err);
    struct source_pushlog *l3 = pushreg_get(reg, "events", &err);
    CHECK(l3 != NULL);
    if (l3)
        CHECK_EQ_INT(source_pushlog_end_offset(l3), 0);
    pushreg_put(reg, l3);
    pushreg_close(reg);
}

/* ---- the file source --------------------------------------------------------------------- */

/* Reads every chunk; returns them concatenated (malloc'd) with the count in *n. */
static char *read_all(struct source *src, int *n, struct lerr *err)
{
    struct buf all;
    buf_init(&all, 0);
    *n = 0;
    for (;;) {
        struct source_batch b;
        if (poll_src(src, 1, 0, &b, err))
            break;
        if (b.end)
            break;
        for (size_t i = 0; i < b.n; i++) {
            CHECK_EQ_INT(b.records[i].offset, *n);
            buf_append(&all, b.records[i].data, b.records[i].len);
            buf_putc(&all, '|');
            (*n)++;
        }
    }
    buf_putc(&all, '\0');
    return all.data;
}

static void test_files(void)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/files", g_root);
    mkdir(dir, 0700);
    struct lerr err;
    lerr_init(&err);

    /* inline nd-json: one chunk, the last row without its newline kept */
    struct source_files_config ic = {.inline_data = "{\"a\":1}\n{\"a\":2}", .inline_len = 15};
    struct source *s = source_open_files(&ic, &err);
    int n = 0;
    char *all = read_all(s, &n, &err);
    CHECK_EQ_INT(err.code, 0);
    CHECK_EQ_INT(n, 1);
    CHECK_EQ_STR(all, "{\"a\":1}\n{\"a\":2}|");
    free(all);
    source_close(s);

    /* The chunk is built in the caller's arena: it outlives the source. */
    s = source_open_files(&ic, &err);
    struct arena mem;
    arena_init(&mem, 4096, 0);
    struct source_batch cb;
    CHECK_EQ_INT(source_poll(s, &mem, 1, 0, &cb, &err), 0);
    source_close(s);
    CHECK_EQ_INT(cb.n, 1);
    if (cb.n == 1) {
        CHECK(cb.records[0].len == 15 &&
              memcmp(cb.records[0].data, "{\"a\":1}\n{\"a\":2}", 15) == 0);
        CHECK(cb.records[0].topic_len == 6 && strcmp(cb.records[0].topic, "inline") == 0);
        CHECK(!cb.records[0].has_timestamp);
    }
    arena_destroy(&mem);

    /* a large CSV file with a header and a quoted newline in every row: several chunks,
     * each starting with the header, no row cut */
    char path[400];
    snprintf(path, sizeof path, "%s/big.csv", dir);
    FILE *f = fopen(path, "w");
    fputs("skip me\nname,text\n", f);
    int rows = 200000;
    for (int i = 0; i < rows; i++)
        fprintf(f, "r%d,\"line one\nline two of row %d\"\n", i, i);
    fclose(f);
    const char *names[] = {"big.csv"};
    struct source_files_config cc = {
        .dir = dir, .files = names, .nfiles = 1, .csv = true, .prefix_rows = 2};
    s = source_open_files(&cc, &err);
    lerr_init(&err);
    int chunks = 0, seen = 0;
    bool headers_ok = true, rows_ok = true;
    for (;;) {
        struct source_batch b;
        if (poll_src(s, 1, 0, &b, &err) || b.end)
            break;
        const char *p = b.records[0].data;
        size_t len = b.records[0].len;
        CHECK_EQ_STR(b.records[0].topic, "big.csv");
        headers_ok &= len > 18 && memcmp(p, "skip me\nname,text\n", 18) == 0;
        headers_ok &= p[len - 1] == '\n';
        for (size_t i = 0; i + 1 < len; i++)
            if (p[i] == '\n' && p[i + 1] == 'r')
                seen++;
        rows_ok &= len < (8u << 20);
        chunks++;
    }
    CHECK_EQ_INT(err.code, 0);
    CHECK_MSG(chunks >= 2, "%d chunks", chunks);
    CHECK(headers_ok);
    CHECK(rows_ok);
    CHECK_EQ_INT(seen, rows);
    struct source_partition *parts = NULL;
    size_t np = 0;
    CHECK_EQ_INT(source_partitions(s, &parts, &np, &err), 0);
    CHECK_EQ_INT(np, 1);
    if (np == 1)
        CHECK_EQ_INT(parts[0].next_offset, chunks);
    free(parts);
    source_close(s);

    /* gzip, then a missing file named in the error (files open in order, lazily) */
    snprintf(path, sizeof path, "%s/a.json.gz", dir);
    gzFile gz = gzopen(path, "wb");
    gzputs(gz, "{\"x\":1}\n{\"x\":2}\n");
    gzclose(gz);
    const char *two[] = {"a.json.gz", "missing.json"};
    struct source_files_config gc = {.dir = dir, .files = two, .nfiles = 2};
    s = source_open_files(&gc, &err);
    struct source_batch b;
    lerr_init(&err);
    CHECK_EQ_INT(poll_src(s, 1, 0, &b, &err), 0);
    CHECK(b.n == 1 && b.records[0].len == 16 &&
          memcmp(b.records[0].data, "{\"x\":1}\n{\"x\":2}\n", 16) == 0);
    CHECK_EQ_INT(poll_src(s, 1, 0, &b, &err), LERR_NOT_FOUND);
    CHECK_MSG(strstr(err.msg, "'missing.json'") && strstr(err.msg, "POST /v1/files"), "%s",
              err.msg);
    source_close(s);

    /* no files at all: the end at once */
    struct source_files_config ec = {.dir = dir, .files = names, .nfiles = 0};
    s = source_open_files(&ec, &err);
    lerr_init(&err);
    CHECK_EQ_INT(poll_src(s, 1, 0, &b, &err), 0);
    CHECK(b.end && b.n == 0);
    source_close(s);
}

static void rm_rf(const char *dir)
{
    struct lerr err;
    lerr_init(&err);
    util_remove_tree(dir, &err);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    snprintf(g_root, sizeof g_root, "/tmp/lodestar-test-registries-XXXXXX");
    if (!mkdtemp(g_root)) {
        perror("mkdtemp");
        return 1;
    }
    test_db();
    test_pushreg();
    test_files();
    rm_rf(g_root);
    poll_mem_destroy();
    return check_summary();
}
