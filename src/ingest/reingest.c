/*
 * reingest.c — a batch job whose rows come from another table: a sql job's
 * INSERT/REPLACE ... SELECT ... FROM other_table, and what remains of the
 * chunks a delete_data job with a condition rewrites. The query engine runs
 * the SELECT (query_rows, over snapshots, as the query API does); each result
 * row becomes an nd-json line, and chunks of lines go through the job's
 * pipeline like any batch text, counted the same way.
 *
 * The pipeline is compiled from the result's columns once they are known:
 * each column feeds the target column of its name; __time from the result's
 * __time; into an aggregate table a measure column takes its combining
 * aggregation over the selected value (longSum/doubleSum/count: SUM, min:
 * MIN, max: MAX, latest/earliest: LATEST/EARLIEST), so REPLACE ... SELECT
 * SUM(x) AS total ... GROUP BY feeds a longSum column "total" as a Druid
 * user expects, and rows with equal dimensions roll up further. A typed
 * ARRAY column (or a multi-value string) of the result tells the mapping so
 * (job_spec_mapping.array_elem, multi_value), and a column the job creates
 * for it keeps that type instead of the array's text. Under arrayIngestMode
 * "mvd" an array of numbers fails the job, as Druid's MSQ refuses it.
 *
 * Entry point (ingest_int.h): ingest__table_rows().
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "format/json.h"
#include "ingest/ingest_int.h"
#include "query/query.h"
#include "storage/db.h"
#include "util/time.h"

#define CHUNK_BYTES (1u << 20)

struct feed {
    struct runner *r;
    struct pipeline **pipe;
    struct buf text; /* nd-json lines not yet ingested */
    int64_t chunk_no;
    bool ready; /* the pipeline is compiled */
    struct lerr *err;
};

/* ---- the query's environment: the engine's tables ---------------------------------- */

static int open_table(void *ctx, const char *name, struct storage_snapshot **snap,
                      struct lerr *err)
{
    struct runner *r = ctx;
    if (r->rt->opts.open_table) /* every node's rows (a shared catalog) */
        return r->rt->opts.open_table(r->rt->opts.open_table_ctx, name, snap, err);
    *snap = storage_db_snapshot(r->rt->db, name, err);
    return *snap ? 0 : err->code;
}

static void close_table(void *ctx, struct storage_snapshot *snap)
{
    (void)ctx;
    storage_snapshot_free(snap);
}

static int list_tables(void *ctx, query_table_fn fn, void *arg, struct lerr *err)
{
    struct runner *r = ctx;
    struct catalog_doc_list l;
    if (catalog_doc_list(r->rt->cat, CATALOG_TABLE, &l, err))
        return err->code;
    int rc = 0;
    for (size_t i = 0; i < l.n && !rc; i++) {
        struct lerr e;
        lerr_init(&e);
        struct storage_snapshot *s = storage_db_snapshot(r->rt->db, l.items[i].name, &e);
        if (!s)
            continue;
        rc = fn(arg, l.items[i].name, s->cols, s->ncols);
        storage_snapshot_free(s);
    }
    catalog_doc_list_free(&l);
    return rc;
}

/* ---- mappings from the result's columns ------------------------------------------------ */

static const struct pipeline_table_col *target_col(const struct runner *r, const char *name)
{
    for (size_t i = 0; i < r->ptable.ncols; i++)
        if (strcmp(r->ptable.cols[i].name, name) == 0)
            return &r->ptable.cols[i];
    return NULL;
}

/* The aggregation a measure of the target takes over a selected value. */
static const char *combine(const char *measure_type)
{
    static const struct {
        const char *suffix, *fn;
    } map[] = {{"Sum", "SUM"},       {"Min", "MIN"},           {"Max", "MAX"},
               {"Latest", "LATEST"}, {"Earliest", "EARLIEST"}, {NULL, NULL}};
    if (strcmp(measure_type, "count") == 0)
        return "SUM";
    size_t n = strlen(measure_type);
    for (int k = 0; map[k].suffix; k++) {
        size_t m = strlen(map[k].suffix);
        if (n > m && strcmp(measure_type + n - m, map[k].suffix) == 0)
            return map[k].fn;
    }
    return NULL;
}

/* A quoted identifier for an expression: "a""b". */
static char *quoted(struct arena *a, const char *name)
{
    size_t n = strlen(name), k = 0;
    char *s = arena_alloc(a, 2 * n + 3);
    if (!s)
        return NULL;
    s[k++] = '"';
    for (size_t i = 0; i < n; i++) {
        s[k++] = name[i];
        if (name[i] == '"')
            s[k++] = '"';
    }
    s[k++] = '"';
    s[k] = '\0';
    return s;
}

/* Fills the job's input schema, format and mappings from the result's columns. */
static int build_spec(struct runner *r, const struct query_columns *cols, struct lerr *err)
{
    struct job_spec *js = &r->spec;
    struct arena *a = &js->mem;
    struct sql_field *fields = arena_zalloc(a, (cols->n + 1) * sizeof *fields);
    struct job_spec_mapping *maps = arena_zalloc(a, (cols->n + 1) * sizeof *maps);
    if (!fields || !maps)
        return lerr_set(err, LERR_NOMEM, "out of memory");
    bool has_time = false;
    for (size_t i = 0; i < cols->n; i++) {
        const char *name = cols->names[i];
        uint8_t t = cols->types[i];
        for (size_t k = 0; k < i; k++)
            if (strcmp(cols->names[k], name) == 0)
                return lerr_set(err, LERR_INVALID,
                                "the SELECT gives two columns named '%s'; name one of them "
                                "otherwise with AS",
                                name);
        uint8_t in = t == SQL_TIMESTAMP || t == SQL_BOOLEAN ? SQL_LONG
                     : t == SQL_NULL || t == SQL_ARRAY      ? SQL_STRING
                                                            : t;
        fields[i] = (struct sql_field){.name = name, .name_len = strlen(name), .type = in};
        char *q = quoted(a, name);
        if (!q)
            return lerr_set(err, LERR_NOMEM, "out of memory");
        maps[i].column = name;
        if (strcmp(name, "__time") == 0) {
            has_time = true;
            if (t != SQL_TIMESTAMP && t != SQL_LONG)
                return lerr_set(err, LERR_INVALID,
                                "the SELECT's __time is %s, not a timestamp; select a "
                                "timestamp AS __time (e.g. TIME_PARSE(x) AS __time)",
                                sql_type_sql_name(t));
            maps[i].expression = arena_printf(a, "MILLIS_TO_TIMESTAMP(%s)", q);
            continue;
        }
        const struct pipeline_table_col *tc = target_col(r, name);
        if (tc && tc->measure) {
            const char *fn = combine(tc->measure_type);
            if (!fn)
                return lerr_set(err, LERR_INVALID,
                                "column '%s' of table '%s' is a %s measure, which a SELECT's "
                                "values cannot feed; leave it out of the SELECT",
                                name, r->table->name, tc->measure_type);
            maps[i].expression = arena_printf(a, "%s(%s)", fn, q);
            maps[i].aggregation = true;
        } else {
            maps[i].expression = q;
            /* typed arrays and multi-value strings keep their kind */
            if (t == SQL_ARRAY) {
                maps[i].array_elem = cols->elems ? cols->elems[i] : SQL_NULL;
                maps[i].multi_value = cols->mv && cols->mv[i];
                int el = maps[i].array_elem;
                /* Druid's MSQ: arrays of numbers cannot be stored as strings */
                if (js->array_mvd && el && el != SQL_STRING)
                    return lerr_set(err, LERR_INVALID,
                                    "column '%s' is %s ARRAY, which arrayIngestMode \"mvd\" "
                                    "cannot store (only arrays of strings become multi-value "
                                    "strings); use arrayIngestMode \"array\", or select "
                                    "ARRAY_TO_STRING(\"%s\", ',') AS \"%s\"",
                                    name, sql_type_sql_name(el), name, name);
            }
        }
        if (!maps[i].expression)
            return lerr_set(err, LERR_NOMEM, "out of memory");
    }
    if (!has_time)
        return lerr_set(err, LERR_INVALID,
                        "the SELECT gives no __time column; select the rows' time AS __time "
                        "(e.g. SELECT __time, ... or TIME_FLOOR(__time, 'PT1H') AS __time)");
    js->input = (struct sql_schema){fields, cols->n};
    js->mappings = maps;
    js->nmappings = cols->n;
    memset(&js->format, 0, sizeof js->format);
    js->format.kind = FORMAT_NDJSON;
    js->has_format = true;
    js->filter = NULL;
    return 0;
}

/* ---- rows → nd-json → the pipeline ------------------------------------------------- */

static void put_value(struct buf *b, const struct sql_value *v)
{
    char num[40];
    if (v->is_null) {
        buf_append(b, "null", 4);
        return;
    }
    switch (v->type) {
    case SQL_LONG:
    case SQL_TIMESTAMP:
    case SQL_BOOLEAN:
        snprintf(num, sizeof num, "%lld", (long long)v->v.l);
        buf_puts(b, num);
        break;
    case SQL_DOUBLE:
    case SQL_FLOAT:
        if (!isfinite(v->v.d)) {
            buf_append(b, "null", 4);
        } else {
            snprintf(num, sizeof num, "%.17g", v->v.d);
            buf_puts(b, num);
        }
        break;
    case SQL_JSON: buf_append(b, v->v.s.p, v->v.s.n); break;
    case SQL_STRING: format_json_write_string(b, v->v.s.p, v->v.s.n); break;
    default: {
        struct buf t;
        buf_init(&t, 0);
        sql_value_to_text(v, &t, true);
        format_json_write_string(b, t.data ? t.data : "", t.len);
        buf_free(&t);
    }
    }
}

static int flush(struct feed *f)
{
    if (!f->text.len)
        return 0;
    struct runner *r = f->r;
    arena_reset(&r->batch);
    struct record rec = {.data = f->text.data, .len = f->text.len, .offset = f->chunk_no++};
    int rc = ingest__ingest_records(r, &rec, 1, f->err);
    f->text.len = 0;
    return rc;
}

static int on_row(void *arg, const struct query_columns *cols, const struct sql_value *row)
{
    struct feed *f = arg;
    struct runner *r = f->r;
    if (atomic_load(&r->job->stop))
        return lerr_set(f->err, LERR_UNAVAILABLE, "the job was canceled");
    if (!f->ready) {
        struct pipeline_opts po = {&r->spec, &r->ptable, util_now_ms(), NULL};
        if (build_spec(r, cols, f->err) || pipeline_new(&po, f->pipe, f->err))
            return f->err->code;
        pthread_mutex_lock(&r->job->mu);
        r->job->pipe = *f->pipe;
        pthread_mutex_unlock(&r->job->mu);
        f->ready = true;
    }
    struct buf *b = &f->text;
    buf_append(b, "{", 1);
    for (size_t i = 0; i < cols->n; i++) {
        if (i)
            buf_append(b, ",", 1);
        format_json_write_string(b, cols->names[i], strlen(cols->names[i]));
        buf_append(b, ":", 1);
        put_value(b, &row[i]);
    }
    buf_append(b, "}\n", 2);
    if (b->failed)
        return lerr_set(f->err, LERR_NOMEM, "out of memory");
    return b->len >= CHUNK_BYTES ? flush(f) : 0;
}

int ingest__table_rows(struct runner *r, struct pipeline **pipe, struct lerr *err)
{
    struct feed f = {.r = r, .pipe = pipe, .err = err};
    buf_init(&f.text, 0);
    struct query_request req;
    query_request_init(&req);
    req.sql = r->spec.source_query;
    req.sql_len = strlen(r->spec.source_query);
    req.timeout_ms = 0; /* a job runs as long as it needs */
    /* LOOKUP() has no lookups here: they live with the API (api/lookups.c) */
    struct query_env env = {.ctx = r,
                            .open_table = open_table,
                            .close_table = close_table,
                            .list_tables = list_tables};
    int rc = query_rows(&req, &env, on_row, &f, err);
    if (!rc)
        rc = flush(&f);
    buf_free(&f.text);
    return rc;
}
