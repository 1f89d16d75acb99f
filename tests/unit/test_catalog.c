/* test_catalog.c — the catalog over both implementations, SQLite (a file) then PostgreSQL (a real
 * server from pg_harness.h): migrations, CRUD, conflicts, live-job guards, checkpoints, and the
 * data path's changes to a table's schema (discovered columns, their widening); and each one's
 * errors for a store it cannot open. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "catalog/spec.h"
#include "catalog/tabledesc.h"
#include "check.h"
#include "pg_harness.h"

static char dir[] = "/tmp/lodestar-catalog-XXXXXX";
static char path[256]; /* the target: a file, or a postgresql:// URI */

static struct catalog *open_cat(void)
{
    struct catalog *c = NULL;
    struct lerr e;
    lerr_init(&e);
    CHECK_EQ_INT(catalog_open(path, &c, &e), 0);
    return c;
}

static void test_migrations_and_project(void)
{
    struct catalog *c = open_cat();
    CHECK_EQ_INT(catalog_schema_version(c), catalog_latest_schema_version());
    struct catalog_project p1, p2;
    struct lerr e;
    lerr_init(&e);
    CHECK_EQ_INT(catalog_project_default(c, &p1, &e), 0);
    CHECK_EQ_INT(catalog_project_default(c, &p2, &e), 0);
    CHECK_EQ_STR(p1.id, p2.id);
    catalog_close(c);
    c = open_cat(); /* reopening migrates nothing and keeps the project */
    CHECK_EQ_INT(catalog_project_default(c, &p2, &e), 0);
    CHECK_EQ_STR(p1.id, p2.id);
    catalog_close(c);
}

static void test_keys(void)
{
    struct catalog *c = open_cat();
    struct lerr e;
    lerr_init(&e);
    int64_t n = -1;
    CHECK_EQ_INT(catalog_apikey_count(c, &n, &e), 0);
    CHECK_EQ_INT(n, 0);
    struct catalog_apikey k = {.id = "11111111-1111-4111-8111-111111111111",
                               .name = "admin",
                               .hash = "abc",
                               .permissions = "ManageTables",
                               .created_ns = 5};
    CHECK_EQ_INT(catalog_apikey_insert(c, &k, &e), 0);
    CHECK_EQ_INT(catalog_apikey_insert(c, &k, &e), LERR_CONFLICT);
    CHECK(strstr(e.msg, "admin") != NULL);
    lerr_init(&e);
    struct catalog_apikey got;
    CHECK_EQ_INT(catalog_apikey_by_hash(c, "abc", &got, &e), 0);
    CHECK_EQ_STR(got.name, "admin");
    CHECK_EQ_STR(got.permissions, "ManageTables");
    CHECK_EQ_INT(catalog_apikey_by_hash(c, "nope", &got, &e), LERR_NOT_FOUND);
    CHECK_EQ_INT(got.last_used_ns, 0);

    /* list, get, touch, revoke; the last key with ManageApiKeys stays */
    struct catalog_apikey m1 = {.id = "22222222-2222-4222-8222-222222222222",
                                .name = "ops",
                                .hash = "def",
                                .permissions = "ViewTables,ManageApiKeys",
                                .description = "the operators",
                                .created_ns = 6};
    struct catalog_apikey m2 = m1;
    snprintf(m2.id, sizeof m2.id, "33333333-3333-4333-8333-333333333333");
    snprintf(m2.name, sizeof m2.name, "backup");
    snprintf(m2.hash, sizeof m2.hash, "ghi");
    lerr_init(&e);
    CHECK_EQ_INT(catalog_apikey_insert(c, &m1, &e), 0);
    CHECK_EQ_INT(catalog_apikey_insert(c, &m2, &e), 0);
    struct catalog_apikey *v = NULL;
    size_t nv = 0;
    CHECK_EQ_INT(catalog_apikey_list(c, &v, &nv, &e), 0);
    CHECK_EQ_INT(nv, 3);
    if (nv == 3) { /* by name */
        CHECK_EQ_STR(v[0].name, "admin");
        CHECK_EQ_STR(v[1].name, "backup");
        CHECK_EQ_STR(v[2].name, "ops");
        CHECK_EQ_STR(v[2].description, "the operators");
    }
    free(v);
    CHECK_EQ_INT(catalog_apikey_touch(c, m1.id, 777, &e), 0);
    CHECK_EQ_INT(catalog_apikey_get(c, m1.id, &got, &e), 0);
    CHECK_EQ_INT(got.last_used_ns, 777);
    CHECK_EQ_INT(catalog_apikey_get(c, "nope", &got, &e), LERR_NOT_FOUND);
    lerr_init(&e);
    CHECK_EQ_INT(catalog_apikey_delete(c, m1.id, &e), 0); /* m2 still manages keys */
    CHECK_EQ_INT(catalog_apikey_by_hash(c, "def", &got, &e), LERR_NOT_FOUND);
    lerr_init(&e);
    CHECK_EQ_INT(catalog_apikey_delete(c, m2.id, &e), LERR_CONFLICT); /* the last one */
    CHECK(strstr(e.msg, "last key with ManageApiKeys") != NULL);
    lerr_init(&e);
    CHECK_EQ_INT(catalog_apikey_delete(c, m1.id, &e), LERR_NOT_FOUND);
    lerr_init(&e);
    CHECK_EQ_INT(catalog_apikey_delete(c, k.id, &e), 0); /* admin here lacks ManageApiKeys */
    CHECK_EQ_INT(catalog_apikey_count(c, &n, &e), 0);
    CHECK_EQ_INT(n, 1);
    catalog_close(c);
}

/* A pending streaming job wanted running, as the API inserts one. */
static struct catalog_job streaming_job(const char *id, const char *table, const char *conn)
{
    struct catalog_job j = {.type = CATALOG_JOB_STREAMING,
                            .desired = CATALOG_JOB_RUNNING,
                            .status = CATALOG_JOB_PENDING,
                            .health = CATALOG_HEALTH_OK,
                            .spec = "{}",
                            .created_by = "{}",
                            .modified_by = "{}",
                            .created_ns = 10,
                            .updated_ns = 10};
    snprintf(j.id, sizeof j.id, "%s", id);
    snprintf(j.table_name, sizeof j.table_name, "%s", table);
    snprintf(j.connection_name, sizeof j.connection_name, "%s", conn);
    return j;
}

static void test_docs_and_jobs(void)
{
    struct catalog *c = open_cat();
    struct lerr e;
    lerr_init(&e);
    struct catalog_doc t = {.name = "wiki",
                            .kind = "detail",
                            .doc = "{\"name\":\"wiki\"}",
                            .created_ns = 1,
                            .modified_ns = 1};
    CHECK_EQ_INT(catalog_doc_insert(c, CATALOG_TABLE, &t, &e), 0);
    CHECK_EQ_INT(catalog_doc_insert(c, CATALOG_TABLE, &t, &e), LERR_CONFLICT);
    lerr_init(&e);
    struct catalog_doc conn = {.name = "k",
                               .kind = "kafka",
                               .doc = "{}",
                               .secret = "{\"p\":1}",
                               .created_ns = 2,
                               .modified_ns = 2};
    CHECK_EQ_INT(catalog_doc_insert(c, CATALOG_CONNECTION, &conn, &e), 0);
    /* the same name in another kind of document is fine */
    struct catalog_doc conn2 = conn;
    snprintf(conn2.name, sizeof conn2.name, "wiki");
    CHECK_EQ_INT(catalog_doc_insert(c, CATALOG_CONNECTION, &conn2, &e), 0);

    struct catalog_doc got = {0};
    CHECK_EQ_INT(catalog_doc_get(c, CATALOG_CONNECTION, "k", &got, &e), 0);
    CHECK_EQ_STR(got.secret, "{\"p\":1}");
    CHECK_EQ_STR(got.kind, "kafka");
    catalog_doc_destroy(&got);
    struct catalog_doc upd = {.name = "wiki", .doc = "{\"v\":2}", .modified_ns = 9};
    CHECK_EQ_INT(catalog_doc_update(c, CATALOG_TABLE, &upd, &e), 0);
    CHECK_EQ_INT(catalog_doc_get(c, CATALOG_TABLE, "wiki", &got, &e), 0);
    CHECK_EQ_STR(got.doc, "{\"v\":2}");
    CHECK_EQ_INT(got.modified_ns, 9);
    CHECK_EQ_INT(got.created_ns, 1);
    catalog_doc_destroy(&got);
    snprintf(upd.name, sizeof upd.name, "missing");
    CHECK_EQ_INT(catalog_doc_update(c, CATALOG_TABLE, &upd, &e), LERR_NOT_FOUND);
    lerr_init(&e);

    struct catalog_job j = streaming_job("22222222-2222-4222-8222-222222222222", "wiki", "k");
    CHECK_EQ_INT(catalog_job_insert(c, &j, NULL, NULL, NULL, &e), 0);
    struct catalog_job j2 = j;
    snprintf(j2.id, sizeof j2.id, "33333333-3333-4333-8333-333333333333");
    j2.type = CATALOG_JOB_BATCH;
    CHECK_EQ_INT(catalog_job_insert(c, &j2, NULL, NULL, NULL, &e),
                 LERR_CONFLICT); /* one live job per table */
    CHECK_EQ_STR(e.target, "target.tableName");
    CHECK(strstr(e.msg, "a live streaming job") != NULL); /* the stored type name */
    lerr_init(&e);
    CHECK_EQ_INT(catalog_doc_delete(c, CATALOG_TABLE, "wiki", &e), LERR_CONFLICT);
    lerr_init(&e);
    CHECK_EQ_INT(catalog_doc_delete(c, CATALOG_CONNECTION, "k", &e), LERR_CONFLICT);
    lerr_init(&e);

    CHECK_EQ_INT(catalog_checkpoint_put(c, "wiki", "events", "{\"0\":5}", &e), 0);
    CHECK_EQ_INT(catalog_checkpoint_put(c, "wiki", "events", "{\"0\":7}", &e), 0);
    char *off = NULL;
    CHECK_EQ_INT(catalog_checkpoint_get(c, "wiki", "events", &off, &e), 0);
    CHECK_EQ_STR(off, "{\"0\":7}");
    free(off);
    CHECK_EQ_INT(catalog_job_reset(c, j.id, "wiki", "events", NULL, &e), 0);
    CHECK_EQ_INT(catalog_checkpoint_get(c, "wiki", "events", &off, &e), LERR_NOT_FOUND);
    lerr_init(&e);
    struct catalog_job g = {0};
    CHECK_EQ_INT(catalog_job_get(c, j.id, &g, &e), 0);
    CHECK_EQ_INT(g.reset_generation, 1);
    CHECK_EQ_INT(g.type, CATALOG_JOB_STREAMING);
    g.status = CATALOG_JOB_CANCELED;
    g.desired = CATALOG_JOB_CANCELED;
    g.completed_ns = 99;
    CHECK_EQ_INT(catalog_job_update_state(c, &g, &e), 0);
    catalog_job_destroy(&g);
    CHECK_EQ_INT(catalog_job_insert(c, &j2, NULL, NULL, NULL, &e),
                 0); /* the table is free again */
    CHECK_EQ_INT(catalog_job_get(c, j2.id, &g, &e), 0);
    CHECK_EQ_INT(g.type, CATALOG_JOB_BATCH); /* the type round-trips through its stored name */
    catalog_job_destroy(&g);
    struct catalog_job_list l;
    CHECK_EQ_INT(catalog_job_list(c, &l, &e), 0);
    CHECK_EQ_INT(l.n, 2);
    catalog_job_list_free(&l);
    CHECK(!catalog_job_status_live(CATALOG_JOB_CANCELED));
    CHECK(catalog_job_status_live(CATALOG_JOB_SUSPENDED));
    /* the names the API and the store use, both ways */
    for (int i = 0; i < CATALOG_JOB__STATE_COUNT; i++)
        CHECK_EQ_INT(catalog_job_state_parse(catalog_job_state_name((enum catalog_job_state)i)),
                     i);
    CHECK_EQ_STR(catalog_job_state_name(CATALOG_JOB_SUCCEEDED), "succeeded");
    CHECK_EQ_STR(catalog_health_name(CATALOG_HEALTH_WARN), "warn");
    CHECK_EQ_INT(catalog_job_state_parse("paused"), -1);
    CHECK_EQ_INT(catalog_health_parse(NULL), -1);

    struct catalog_doc_list dl;
    CHECK_EQ_INT(catalog_doc_list(c, CATALOG_CONNECTION, &dl, &e), 0);
    CHECK_EQ_INT(dl.n, 2);
    catalog_doc_list_free(&dl);
    CHECK_EQ_INT(catalog_doc_delete(c, CATALOG_TABLE, "missing", &e), LERR_NOT_FOUND);
    catalog_close(c);
}

/* A streaming job's insert fixes its start in the same transaction: the table's
 * checkpoint of another stream is dropped, `start` is stored unless the table has
 * a checkpoint of the stream already, and a refused insert changes nothing. */
static void test_job_start(void)
{
    struct catalog *c = open_cat();
    struct lerr e;
    lerr_init(&e);
    struct catalog_doc t = {
        .name = "s", .kind = "detail", .doc = "{}", .created_ns = 1, .modified_ns = 1};
    CHECK_EQ_INT(catalog_doc_insert(c, CATALOG_TABLE, &t, &e), 0);
    struct catalog_doc conn = {
        .name = "ks", .kind = "kafka", .doc = "{}", .created_ns = 2, .modified_ns = 2};
    CHECK_EQ_INT(catalog_doc_insert(c, CATALOG_CONNECTION, &conn, &e), 0);
    struct catalog_job j = streaming_job("44444444-4444-4444-8444-444444444444", "s", "ks");
    CHECK_EQ_INT(catalog_checkpoint_put(c, "s", "other", "{\"x\":{\"0\":3}}", &e), 0);
    int dropped = -1;
    CHECK_EQ_INT(catalog_job_insert(c, &j, "ev", "{\"ev\":{\"0\":5,\"1\":9}}", &dropped, &e), 0);
    CHECK_EQ_INT(dropped, 1);
    char *off = NULL;
    CHECK_EQ_INT(catalog_checkpoint_get(c, "s", "ev", &off, &e), 0);
    CHECK_EQ_STR(off, "{\"ev\":{\"0\":5,\"1\":9}}");
    free(off);
    off = NULL;
    CHECK_EQ_INT(catalog_checkpoint_get(c, "s", "other", &off, &e), LERR_NOT_FOUND);
    lerr_init(&e);
    /* a second live job is refused, and its start is not stored */
    struct catalog_job j2 = j;
    snprintf(j2.id, sizeof j2.id, "55555555-5555-4555-8555-555555555555");
    CHECK_EQ_INT(catalog_job_insert(c, &j2, "ev", "{\"ev\":{\"0\":77}}", NULL, &e), LERR_CONFLICT);
    lerr_init(&e);
    CHECK_EQ_INT(catalog_checkpoint_get(c, "s", "ev", &off, &e), 0);
    CHECK_EQ_STR(off, "{\"ev\":{\"0\":5,\"1\":9}}");
    free(off);
    /* once the first is canceled, a new job resumes from the checkpoint: its start is not
     * stored over it */
    j.status = j.desired = CATALOG_JOB_CANCELED;
    CHECK_EQ_INT(catalog_job_update_state(c, &j, &e), 0);
    CHECK_EQ_INT(catalog_job_insert(c, &j2, "ev", "{\"ev\":{\"0\":77}}", &dropped, &e), 0);
    CHECK_EQ_INT(dropped, 0);
    CHECK_EQ_INT(catalog_checkpoint_get(c, "s", "ev", &off, &e), 0);
    CHECK_EQ_STR(off, "{\"ev\":{\"0\":5,\"1\":9}}");
    free(off);
    /* a reset replaces the checkpoint with where the job reads from now */
    CHECK_EQ_INT(catalog_job_reset(c, j2.id, "s", "ev", "{\"ev\":{\"0\":100}}", &e), 0);
    CHECK_EQ_INT(catalog_checkpoint_get(c, "s", "ev", &off, &e), 0);
    CHECK_EQ_STR(off, "{\"ev\":{\"0\":100}}");
    free(off);
    struct catalog_job g = {0};
    CHECK_EQ_INT(catalog_job_get(c, j2.id, &g, &e), 0);
    CHECK_EQ_INT(g.reset_generation, 1);
    catalog_job_destroy(&g);
    catalog_close(c);
}

/* Lookups: documents of their own kind; no job ever holds one, so a live job
 * whose connection or table has the lookup's name does not block its delete. */
static void test_lookups(void)
{
    struct catalog *c = open_cat();
    struct lerr e;
    lerr_init(&e);
    struct catalog_doc lk = {.name = "k",
                             .kind = "map",
                             .doc = "{\"name\":\"k\",\"map\":{\"a\":\"b\"}}",
                             .created_ns = 5,
                             .modified_ns = 5};
    CHECK_EQ_INT(catalog_doc_insert(c, CATALOG_LOOKUP, &lk, &e), 0);
    CHECK_EQ_INT(catalog_doc_insert(c, CATALOG_LOOKUP, &lk, &e), LERR_CONFLICT);
    CHECK(strstr(e.msg, "a lookup named 'k' already exists") != NULL);
    lerr_init(&e);
    struct catalog_doc got = {0};
    CHECK_EQ_INT(catalog_doc_get(c, CATALOG_LOOKUP, "k", &got, &e), 0);
    CHECK_EQ_STR(got.kind, "map");
    CHECK_EQ_STR(got.doc, lk.doc);
    CHECK(got.secret == NULL);
    catalog_doc_destroy(&got);
    struct catalog_doc upd = {.name = "k", .doc = "{\"map\":{}}", .modified_ns = 8};
    CHECK_EQ_INT(catalog_doc_update(c, CATALOG_LOOKUP, &upd, &e), 0);
    CHECK_EQ_INT(catalog_doc_get(c, CATALOG_LOOKUP, "k", &got, &e), 0);
    CHECK_EQ_STR(got.doc, "{\"map\":{}}");
    CHECK_EQ_INT(got.created_ns, 5);
    catalog_doc_destroy(&got);
    struct catalog_doc_list dl;
    CHECK_EQ_INT(catalog_doc_list(c, CATALOG_LOOKUP, &dl, &e), 0);
    CHECK_EQ_INT(dl.n, 1);
    catalog_doc_list_free(&dl);
    /* the job of test_docs_and_jobs (connection "k") is live: still not in the way */
    CHECK_EQ_INT(catalog_doc_delete(c, CATALOG_LOOKUP, "k", &e), 0);
    CHECK_EQ_INT(catalog_doc_get(c, CATALOG_LOOKUP, "k", &got, &e), LERR_NOT_FOUND);
    CHECK(strstr(e.msg, "no lookup named 'k'") != NULL);
    lerr_init(&e);
    CHECK_EQ_INT(catalog_doc_delete(c, CATALOG_LOOKUP, "k", &e), LERR_NOT_FOUND);
    catalog_close(c);
}

static void test_commit(void)
{
    struct catalog *c = open_cat();
    struct lerr e;
    lerr_init(&e);
    struct catalog_doc t = {.name = "seg_t", .kind = "detail", .doc = "{}"};
    CHECK_EQ_INT(catalog_doc_insert(c, CATALOG_TABLE, &t, &e), 0);
    struct catalog_segment segs[2] = {
        {.id = "s1",
         .path = "tables/seg_t/s1.seg",
         .chunk_start = 0,
         .chunk_end = 86400000,
         .min_time = 5,
         .max_time = 9,
         .rows = 10,
         .bytes = 100},
        {.id = "s2",
         .path = "tables/seg_t/s2.seg",
         .chunk_start = 0,
         .chunk_end = 86400000,
         .min_time = 1,
         .max_time = 3,
         .rows = 4,
         .bytes = 50},
    };
    struct catalog_commit cm = {.table_name = "seg_t",
                                .add = segs,
                                .nadd = 2,
                                .stream = "ev",
                                .expected_offsets = NULL,
                                .new_offsets = "{\"0\":10}",
                                .job_id = "j1",
                                .job_counters = "{\"numRowsProcessed\":14}"};
    CHECK_EQ_INT(catalog_commit(c, &cm, &e), 0);
    /* The same expected state again: the checkpoint moved, nothing is written. */
    struct catalog_segment s3 = {.id = "s3", .path = "p3", .rows = 1};
    struct catalog_commit stale = {.table_name = "seg_t",
                                   .add = &s3,
                                   .nadd = 1,
                                   .stream = "ev",
                                   .expected_offsets = NULL,
                                   .new_offsets = "{\"0\":11}"};
    CHECK_EQ_INT(catalog_commit(c, &stale, &e), LERR_CONFLICT);
    lerr_init(&e);
    struct catalog_segment_list l;
    CHECK_EQ_INT(catalog_segment_list(c, "seg_t", &l, &e), 0);
    CHECK_EQ_INT(l.n, 2);
    CHECK_EQ_STR(l.items[0].id, "s1");
    CHECK_EQ_INT(l.items[1].rows, 4);
    catalog_segment_list_free(&l);
    stale.expected_offsets = "{\"0\":10}"; /* now right: commits */
    CHECK_EQ_INT(catalog_commit(c, &stale, &e), 0);
    char *off = NULL, *cnt = NULL;
    CHECK_EQ_INT(catalog_checkpoint_get(c, "seg_t", "ev", &off, &e), 0);
    CHECK_EQ_STR(off, "{\"0\":11}");
    free(off);
    CHECK_EQ_INT(catalog_job_counters(c, "j1", &cnt, &e), 0);
    CHECK_EQ_STR(cnt, "{\"numRowsProcessed\":14}");
    free(cnt);
    /* Compaction: swap s1+s2 for s4 atomically; removing a missing id fails whole. */
    const char *rm[] = {"s1", "s2"};
    struct catalog_segment s4 = {.id = "s4", .path = "p4", .rows = 14};
    struct catalog_commit compact = {
        .table_name = "seg_t", .add = &s4, .nadd = 1, .remove_ids = rm, .nremove = 2};
    CHECK_EQ_INT(catalog_commit(c, &compact, &e), 0);
    CHECK_EQ_INT(catalog_commit(c, &compact, &e), LERR_CONFLICT);
    lerr_init(&e);
    CHECK_EQ_INT(catalog_segment_list(c, NULL, &l, &e), 0);
    CHECK_EQ_INT(l.n, 2); /* s3 and s4 */
    catalog_segment_list_free(&l);
    CHECK_EQ_INT(catalog_doc_delete(c, CATALOG_TABLE, "seg_t", &e), 0);
    CHECK_EQ_INT(catalog_segment_list(c, "seg_t", &l, &e), 0);
    CHECK_EQ_INT(l.n, 0); /* dropping a table drops its segments */
    catalog_segment_list_free(&l);
    catalog_close(c);
}

static void test_bad_file(void)
{
    char bad[300];
    snprintf(bad, sizeof bad, "%s/not-a-db", dir);
    FILE *f = fopen(bad, "w");
    fputs("this is not sqlite, just text long enough to be read as a header......", f);
    fclose(f);
    struct catalog *c = NULL;
    struct lerr e;
    lerr_init(&e);
    CHECK(catalog_open(bad, &c, &e) != 0);
    CHECK(strstr(e.msg, "catalog") != NULL);
    CHECK(c == NULL);
}

#define WIDEN(col, type, off) ((struct catalog_widening){col, type, "job-1", 0, off})

/* Columns discovery adds are marked, and only those widen (durably), with their causes. */
static void test_table_columns(void)
{
    struct catalog *c = open_cat();
    struct lerr e;
    lerr_init(&e);
    struct catalog_doc t = {.name = "flex",
                            .kind = "detail",
                            .doc = "{\"name\":\"flex\",\"schemaMode\":\"flexible\",\"schema\":"
                                   "[{\"name\":\"d\",\"dataType\":\"long\"}]}",
                            .created_ns = 1,
                            .modified_ns = 1};
    CHECK_EQ_INT(catalog_doc_insert(c, CATALOG_TABLE, &t, &e), 0);
    struct catalog_new_column add[] = {{.name = "x", .data_type = "long", .discovered = true},
                                       {.name = "m", .data_type = "string"}};
    CHECK_EQ_INT(catalog_table_add_columns(c, "flex", add, 2, &e), 0);
    /* another node adding the same columns (it saw the table before the first did) adds
     * nothing: a column is never listed twice */
    CHECK_EQ_INT(catalog_table_add_columns(c, "flex", add, 2, &e), 0);
    /* widened: the discovered one; refused: declared ones (by the user or a mapping) */
    CHECK_EQ_INT(catalog_table_widen_column(c, "flex", &WIDEN("x", "double", 10), &e), 0);
    /* the same widening from another node changes nothing more */
    CHECK_EQ_INT(catalog_table_widen_column(c, "flex", &WIDEN("x", "double", 12), &e), 0);
    CHECK_EQ_INT(catalog_table_widen_column(c, "flex", &WIDEN("d", "double", 1), &e),
                 LERR_INVALID);
    CHECK(strstr(e.msg, "column 'd' of table 'flex' is declared") != NULL);
    lerr_init(&e);
    CHECK_EQ_INT(catalog_table_widen_column(c, "flex", &WIDEN("m", "string", 1), &e),
                 LERR_INVALID);
    lerr_init(&e);
    CHECK_EQ_INT(catalog_table_widen_column(c, "flex", &WIDEN("nope", "string", 1), &e),
                 LERR_NOT_FOUND);
    lerr_init(&e);
    CHECK_EQ_INT(catalog_table_widen_column(c, "gone", &WIDEN("x", "string", 1), &e),
                 LERR_NOT_FOUND);
    lerr_init(&e);
    catalog_close(c);
    /* a reopened catalog has the change */
    c = open_cat();
    struct arena mem;
    arena_init(&mem, 4096, 0);
    struct table_spec ts;
    CHECK_EQ_INT(catalog_table_spec_load(c, "flex", &mem, &ts, &e), 0);
    CHECK_EQ_INT(ts.ncols, 3);
    if (ts.ncols == 3) {
        CHECK(!ts.cols[0].discovered && ts.cols[0].type == SQL_LONG);
        CHECK(ts.cols[1].discovered && ts.cols[1].type == SQL_DOUBLE);
        CHECK_EQ_STR(ts.cols[1].data_type, "double");
        CHECK(!ts.cols[2].discovered && ts.cols[2].type == SQL_STRING);
    }
    CHECK_EQ_INT(catalog_table_widen_column(c, "flex", &WIDEN("x", "string", 13), &e), 0);
    CHECK_EQ_INT(catalog_table_spec_load(c, "flex", &mem, &ts, &e), 0);
    CHECK(ts.ncols == 3 && ts.cols[1].type == SQL_STRING);
    arena_destroy(&mem);
    /* the causes, in order, on the column */
    struct catalog_doc d = {0};
    CHECK_EQ_INT(catalog_doc_get(c, CATALOG_TABLE, "flex", &d, &e), 0);
    const char *doc = d.doc ? d.doc : "";
    CHECK_MSG(strstr(doc, "\"typeChanges\":[{\"from\":\"long\",\"to\":\"double\"") &&
                  strstr(doc, "{\"from\":\"double\",\"to\":\"string\"") &&
                  strstr(doc, "\"jobId\":\"job-1\",\"partition\":0,\"offset\":13"),
              "%s", doc);
    catalog_doc_destroy(&d);
    catalog_close(c);
}

/* Node rows: join's rules (one live node per id and address, one secret), heartbeats, leave. */
static void test_nodes(void)
{
    struct catalog *c = open_cat();
    struct lerr e = {0};
    struct catalog_node a = {.id = "a",
                             .advertise = "http://h:1",
                             .version = "v",
                             .secret_check = "s1",
                             .started_ns = 1};
    CHECK_EQ_INT(catalog_node_join(c, &a, &e), 0);
    struct catalog_node b = a;
    snprintf(b.advertise, sizeof b.advertise, "http://h:2");
    lerr_init(&e);
    CHECK_EQ_INT(catalog_node_join(c, &b, &e), LERR_CONFLICT); /* the id is live elsewhere */
    CHECK_MSG(strstr(e.msg, "node id 'a' is already live at http://h:1"), "%s", e.msg);
    snprintf(b.id, sizeof b.id, "b");
    snprintf(b.secret_check, sizeof b.secret_check, "s2");
    lerr_init(&e);
    CHECK_EQ_INT(catalog_node_join(c, &b, &e), LERR_INVALID); /* another secret */
    CHECK_MSG(strstr(e.msg, "LODESTAR_CLUSTER_SECRET") && strstr(e.msg, "'a'"), "%s", e.msg);
    snprintf(b.secret_check, sizeof b.secret_check, "s1");
    lerr_init(&e);
    CHECK_EQ_INT(catalog_node_join(c, &b, &e), 0);
    CHECK_EQ_INT(catalog_node_join(c, &a, &e), 0); /* a restart at its address takes over */
    b.info = "{\"jobs\":[]}";
    CHECK_EQ_INT(catalog_node_heartbeat(c, &b, &e), 0);
    b.info = NULL; /* keeps the stored info */
    CHECK_EQ_INT(catalog_node_heartbeat(c, &b, &e), 0);
    struct catalog_node *all = NULL;
    size_t n = 0;
    CHECK_EQ_INT(catalog_node_list(c, &all, &n, &e), 0);
    CHECK_EQ_INT((int)n, 2);
    if (n == 2) {
        CHECK_EQ_STR(all[0].id, "a");
        CHECK_EQ_STR(all[0].info, "{}");
        CHECK_EQ_STR(all[1].info, "{\"jobs\":[]}");
        CHECK(all[1].heartbeat_ns > 0 && all[1].started_ns == 1);
    }
    catalog_node_list_free(all, n);
    CHECK_EQ_INT(catalog_node_leave(c, "a", &e), 0);
    CHECK_EQ_INT(catalog_node_leave(c, "a", &e), 0); /* absent is not an error */
    CHECK_EQ_INT(catalog_node_list(c, &all, &n, &e), 0);
    CHECK_EQ_INT((int)n, 1);
    catalog_node_list_free(all, n);
    CHECK_EQ_INT(catalog_node_leave(c, "b", &e), 0);
    catalog_close(c);
}

/* A PostgreSQL that cannot be opened: each case says what, where and how to fix it. */
static void test_bad_pg(const struct pgh *pg)
{
    struct catalog *c = NULL;
    struct lerr e;
    char uri[200];
    lerr_init(&e);
    snprintf(uri, sizeof uri, "postgresql://lodestar@127.0.0.1:%d/no_such_db", pg->port);
    CHECK_EQ_INT(catalog_open(uri, &c, &e), LERR_IO);
    CHECK_MSG(strstr(e.msg, "cannot connect to PostgreSQL at 127.0.0.1:") &&
                  strstr(e.msg, "database no_such_db") && strstr(e.msg, "does not exist") &&
                  strstr(e.msg, "createdb"),
              "%s", e.msg);
    CHECK(c == NULL);
    lerr_init(&e);
    int port = pgh__free_port(); /* nobody listens there */
    snprintf(uri, sizeof uri, "postgres://lodestar:secret@127.0.0.1:%d/x", port);
    CHECK_EQ_INT(catalog_open(uri, &c, &e), LERR_IO);
    CHECK_MSG(strstr(e.msg, "cannot connect to PostgreSQL") && strstr(e.msg, "refused") &&
                  strstr(e.msg, "--catalog") && !strstr(e.msg, "secret"),
              "%s", e.msg);
    lerr_init(&e);
    CHECK_EQ_INT(catalog_open("postgresql://lodestar@127.0.0.1:notaport/x", &c, &e), LERR_INVALID);
    CHECK_MSG(strstr(e.msg, "bad PostgreSQL URI") && strstr(e.msg, "postgresql://USER@HOST"), "%s",
              e.msg);
    lerr_init(&e);
    CHECK_EQ_INT(catalog_open("postgresql://u:hunter2@[::1/x", &c, &e), LERR_INVALID);
    CHECK_MSG(strstr(e.msg, "bad PostgreSQL URI") && !strstr(e.msg, "hunter2"), "%s", e.msg);
    lerr_init(&e);
}

static void run_all(void)
{
    test_migrations_and_project();
    test_keys();
    test_docs_and_jobs();
    test_job_start();
    test_lookups();
    test_commit();
    test_table_columns();
    test_nodes();
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/catalog.db", dir);
    run_all();
    test_bad_file();
    struct pgh pg;
    CHECK_MSG(pgh_start(&pg) == 0, "PostgreSQL did not start (see above)");
    if (pg.running && pgh_createdb(&pg, "catalog_unit", path, sizeof path) == 0) {
        run_all();
        test_bad_pg(&pg);
    }
    pgh_stop(&pg);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return check_summary();
}
