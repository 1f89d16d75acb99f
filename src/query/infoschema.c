/*
 * infoschema.c — INFORMATION_SCHEMA.SCHEMATA, .TABLES and .COLUMNS as
 * in-memory tables built per query from query_env.list_tables, with Druid's
 * column names and values: TABLE_CATALOG 'druid', user tables in schema
 * 'druid' with TABLE_TYPE 'TABLE', these three in 'INFORMATION_SCHEMA' and
 * the sys tables in 'sys' as 'SYSTEM_TABLE'; COLUMNS.ORDINAL_POSITION counts
 * from 1, DATA_TYPE is the SQL type (VARCHAR, BIGINT, DOUBLE, FLOAT,
 * TIMESTAMP, COMPLEX<json>), and IS_NULLABLE is 'NO' only for __time. Tables
 * are listed by name.
 *
 * Druid's system tables, from query_env.list_segments and .list_tasks, with
 * Druid's column names and types (VARCHAR and BIGINT; booleans as 1/0):
 *   sys.segments  one row per segment: published segment files (version =
 *                 when the chunk's oldest segment was written) and realtime
 *                 buffers (is_realtime 1, is_published 0, size 0, version
 *                 NULL); segment_id as Druid writes it,
 *                 datasource_start_end_version[_partition]; start and end in
 *                 ISO-8601 (Druid's eternity bounds for ALL).
 *   sys.tasks     one row per ingestion job: status RUNNING (pending or
 *                 running), SUCCESS (succeeded, suspended) or FAILED (failed,
 *                 canceled); runner_status PENDING, RUNNING or NONE; duration
 *                 in ms once complete; error_msg of a failed job.
 * Columns Druid fills from its cluster (location, host, ports, compaction
 * state) are NULL: one server has none of them.
 *
 * Entry points: query__info_table(), query__sys_table().
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "query/query_int.h"

struct colspec {
    const char *name;
    uint8_t type;
};

static const struct colspec schemata_cols[] = {
    {"CATALOG_NAME", SQL_STRING},
    {"SCHEMA_NAME", SQL_STRING},
    {"SCHEMA_OWNER", SQL_STRING},
    {"DEFAULT_CHARACTER_SET_CATALOG", SQL_STRING},
    {"DEFAULT_CHARACTER_SET_SCHEMA", SQL_STRING},
    {"DEFAULT_CHARACTER_SET_NAME", SQL_STRING},
    {"SQL_PATH", SQL_STRING},
};

static const struct colspec tables_cols[] = {
    {"TABLE_CATALOG", SQL_STRING}, {"TABLE_SCHEMA", SQL_STRING}, {"TABLE_NAME", SQL_STRING},
    {"TABLE_TYPE", SQL_STRING},    {"IS_JOINABLE", SQL_STRING},  {"IS_BROADCAST", SQL_STRING},
};

static const struct colspec columns_cols[] = {
    {"TABLE_CATALOG", SQL_STRING},
    {"TABLE_SCHEMA", SQL_STRING},
    {"TABLE_NAME", SQL_STRING},
    {"COLUMN_NAME", SQL_STRING},
    {"ORDINAL_POSITION", SQL_LONG},
    {"COLUMN_DEFAULT", SQL_STRING},
    {"IS_NULLABLE", SQL_STRING},
    {"DATA_TYPE", SQL_STRING},
    {"CHARACTER_MAXIMUM_LENGTH", SQL_LONG},
    {"CHARACTER_OCTET_LENGTH", SQL_LONG},
    {"NUMERIC_PRECISION", SQL_LONG},
    {"NUMERIC_PRECISION_RADIX", SQL_LONG},
    {"NUMERIC_SCALE", SQL_LONG},
    {"DATETIME_PRECISION", SQL_LONG},
    {"CHARACTER_SET_NAME", SQL_STRING},
    {"COLLATION_NAME", SQL_STRING},
    {"JDBC_TYPE", SQL_LONG},
};

static const struct colspec segments_cols[] = {
    {"segment_id", SQL_STRING},  {"datasource", SQL_STRING},
    {"start", SQL_STRING},       {"end", SQL_STRING},
    {"size", SQL_LONG},          {"version", SQL_STRING},
    {"partition_num", SQL_LONG}, {"num_replicas", SQL_LONG},
    {"num_rows", SQL_LONG},      {"is_active", SQL_LONG},
    {"is_published", SQL_LONG},  {"is_available", SQL_LONG},
    {"is_realtime", SQL_LONG},   {"is_overshadowed", SQL_LONG},
    {"shard_spec", SQL_STRING},  {"dimensions", SQL_STRING},
    {"metrics", SQL_STRING},     {"last_compaction_state", SQL_STRING},
};

static const struct colspec tasks_cols[] = {
    {"task_id", SQL_STRING},      {"group_id", SQL_STRING},
    {"type", SQL_STRING},         {"datasource", SQL_STRING},
    {"created_time", SQL_STRING}, {"queue_insertion_time", SQL_STRING},
    {"status", SQL_STRING},       {"runner_status", SQL_STRING},
    {"duration", SQL_LONG},       {"location", SQL_STRING},
    {"host", SQL_STRING},         {"plaintext_port", SQL_LONG},
    {"tls_port", SQL_LONG},       {"error_msg", SQL_STRING},
};

struct systable {
    const char *name;
    const struct colspec *cols;
    size_t ncols;
};

/* The sys schema, by name (Druid's names are lower case). */
static const struct systable sys_tables[] = {
    {"segments", segments_cols, LS_ARRAY_LEN(segments_cols)},
    {"tasks", tasks_cols, LS_ARRAY_LEN(tasks_cols)},
};

static const struct systable systables[] = {
    {"COLUMNS", columns_cols, LS_ARRAY_LEN(columns_cols)},
    {"SCHEMATA", schemata_cols, LS_ARRAY_LEN(schemata_cols)},
    {"TABLES", tables_cols, LS_ARRAY_LEN(tables_cols)},
};

/* ---- building an in-memory table ---------------------------------------------- */

struct builder {
    struct query__memtable *t;
    size_t cap;
    struct query__ctx *x;
    int rc;
};

static int add_row(struct builder *b, const struct sql_value *row)
{
    struct query__memtable *t = b->t;
    if (t->nrows == b->cap) {
        size_t ncap = b->cap ? b->cap * 2 : 64;
        for (size_t c = 0; c < t->ncols; c++) {
            struct sql_value *nv = arena_alloc(&b->x->keep, ncap * sizeof *nv);
            if (!nv)
                return query__ctx_nomem(b->x, "INFORMATION_SCHEMA rows");
            if (t->nrows)
                memcpy(nv, t->cols[c], t->nrows * sizeof *nv);
            t->cols[c] = nv;
        }
        b->cap = ncap;
    }
    for (size_t c = 0; c < t->ncols; c++)
        if (!query__value_copy(&t->cols[c][t->nrows], &row[c], &b->x->keep))
            return query__ctx_nomem(b->x, "INFORMATION_SCHEMA rows");
    t->nrows++;
    return query__ctx_check(b->x);
}

static struct sql_value str(const char *s)
{
    return s ? sql_string(s, strlen(s)) : sql_null(SQL_STRING);
}

static struct sql_value lng(int64_t v, bool present)
{
    return present ? sql_long(v) : sql_null(SQL_LONG);
}

/* ---- the tables --------------------------------------------------------------- */

struct tinfo {
    const char *name;
    const struct storage_column *cols;
    size_t ncols;
};

struct tlist {
    struct tinfo *t;
    size_t n, cap;
    struct query__ctx *x;
};

static int collect_table(void *arg, const char *name, const struct storage_column *cols,
                         size_t ncols)
{
    struct tlist *l = arg;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 16;
        struct tinfo *nt = arena_alloc(&l->x->keep, ncap * sizeof *nt);
        if (!nt)
            return query__ctx_nomem(l->x, "the table list");
        if (l->n)
            memcpy(nt, l->t, l->n * sizeof *nt);
        l->t = nt;
        l->cap = ncap;
    }
    /* copy: the list outlives the callback */
    struct storage_column *cc = arena_alloc(&l->x->keep, (ncols ? ncols : 1) * sizeof *cc);
    char *nm = arena_strdup(&l->x->keep, name);
    if (!cc || !nm)
        return query__ctx_nomem(l->x, "the table list");
    for (size_t i = 0; i < ncols; i++) {
        cc[i] = cols[i];
        cc[i].name = arena_strdup(&l->x->keep, cols[i].name);
        if (!cc[i].name)
            return query__ctx_nomem(l->x, "the table list");
    }
    l->t[l->n++] = (struct tinfo){nm, cc, ncols};
    return 0;
}

static int cmp_tinfo(const void *a, const void *b)
{
    return strcmp(((const struct tinfo *)a)->name, ((const struct tinfo *)b)->name);
}

static int list_tables(const struct query_env *env, struct tlist *l, struct query__ctx *x)
{
    memset(l, 0, sizeof *l);
    l->x = x;
    if (!env || !env->list_tables)
        return 0;
    int rc = env->list_tables(env->ctx, collect_table, l, x->err);
    if (rc)
        return x->err->code ? x->err->code : rc;
    if (l->n > 1)
        qsort(l->t, l->n, sizeof *l->t, cmp_tinfo);
    return 0;
}

/* JDBC type codes (java.sql.Types) and Calcite's precisions. `elem`: a
 * stored ARRAY column's element type (storage_column.elem): a typed array
 * is "BIGINT ARRAY" and so on, a multi-value string (SQL_NULL) VARCHAR, as
 * Druid shows its multi-value dimensions. */
static void column_row(struct sql_value *row, const char *schema, const char *table,
                       const char *col, size_t ordinal, int type, int elem, bool nullable)
{
    if (type == SQL_ARRAY && elem == SQL_NULL)
        type = SQL_STRING;
    bool numeric = type == SQL_LONG || type == SQL_DOUBLE || type == SQL_FLOAT;
    bool chars = type == SQL_STRING;
    int64_t jdbc, precision = 0;
    // clang-format off
    switch (type) {
    case SQL_STRING: jdbc = 12; break;
    case SQL_LONG: jdbc = -5; precision = 19; break;
    case SQL_DOUBLE: jdbc = 8; precision = 15; break;
    case SQL_FLOAT: jdbc = 6; precision = 7; break;
    case SQL_TIMESTAMP: jdbc = 93; break;
    case SQL_BOOLEAN: jdbc = 16; break;
    case SQL_ARRAY: jdbc = 2003; break;
    default: jdbc = 1111; break;   /* OTHER: COMPLEX<json> */
    }
    // clang-format on
    row[0] = str("druid");
    row[1] = str(schema);
    row[2] = str(table);
    row[3] = str(col);
    row[4] = sql_long((int64_t)ordinal);
    row[5] = str(NULL);
    row[6] = str(nullable ? "YES" : "NO");
    row[7] = str(type == SQL_ARRAY ? storage_array_sql_name(elem) : sql_type_sql_name(type));
    row[8] = lng(0, false);
    row[9] = lng(0, false);
    row[10] = lng(precision, numeric);
    row[11] = lng(10, numeric);
    row[12] = lng(0, numeric);
    row[13] = lng(3, type == SQL_TIMESTAMP);
    row[14] = str(chars ? "UTF-16LE" : NULL);
    row[15] = str(chars ? "UTF-16LE$en_US$primary" : NULL);
    row[16] = sql_long(jdbc);
}

static int fill(const char *which, const struct tlist *l, struct builder *b)
{
    struct sql_value row[LS_ARRAY_LEN(columns_cols)];
    int rc = 0;
    if (!strcmp(which, "SCHEMATA")) {
        const char *names[] = {"druid", "INFORMATION_SCHEMA", "sys"};
        for (size_t i = 0; i < LS_ARRAY_LEN(names) && !rc; i++) {
            for (size_t c = 0; c < LS_ARRAY_LEN(schemata_cols); c++)
                row[c] = str(NULL);
            row[0] = str("druid");
            row[1] = str(names[i]);
            rc = add_row(b, row);
        }
        return rc;
    }
    if (!strcmp(which, "TABLES")) {
        for (size_t i = 0; i < l->n && !rc; i++) {
            const char *v[] = {"druid", "druid", l->t[i].name, "TABLE", "NO", "NO"};
            for (size_t c = 0; c < 6; c++)
                row[c] = str(v[c]);
            rc = add_row(b, row);
        }
        for (size_t i = 0; i < LS_ARRAY_LEN(systables) && !rc; i++) {
            const char *v[] = {
                "druid", "INFORMATION_SCHEMA", systables[i].name, "SYSTEM_TABLE", "NO", "NO"};
            for (size_t c = 0; c < 6; c++)
                row[c] = str(v[c]);
            rc = add_row(b, row);
        }
        for (size_t i = 0; i < LS_ARRAY_LEN(sys_tables) && !rc; i++) {
            const char *v[] = {"druid", "sys", sys_tables[i].name, "SYSTEM_TABLE", "NO", "NO"};
            for (size_t c = 0; c < 6; c++)
                row[c] = str(v[c]);
            rc = add_row(b, row);
        }
        return rc;
    }
    for (size_t i = 0; i < l->n && !rc; i++)
        for (size_t c = 0; c < l->t[i].ncols && !rc; c++) {
            const struct storage_column *sc = &l->t[i].cols[c];
            column_row(row, "druid", l->t[i].name, sc->name, c + 1, sc->type, sc->elem,
                       strcmp(sc->name, "__time") != 0);
            rc = add_row(b, row);
        }
    for (size_t i = 0; i < LS_ARRAY_LEN(systables) && !rc; i++)
        for (size_t c = 0; c < systables[i].ncols && !rc; c++) {
            column_row(row, "INFORMATION_SCHEMA", systables[i].name, systables[i].cols[c].name,
                       c + 1, systables[i].cols[c].type, SQL_STRING, true);
            rc = add_row(b, row);
        }
    for (size_t i = 0; i < LS_ARRAY_LEN(sys_tables) && !rc; i++)
        for (size_t c = 0; c < sys_tables[i].ncols && !rc; c++) {
            column_row(row, "sys", sys_tables[i].name, sys_tables[i].cols[c].name, c + 1,
                       sys_tables[i].cols[c].type, SQL_STRING, true);
            rc = add_row(b, row);
        }
    return rc;
}

/* Sets t's columns to those of `st`. */
static int start_table(const struct systable *st, struct query__memtable *t, struct query__ctx *x)
{
    t->ncols = st->ncols;
    t->fields = arena_alloc(&x->keep, t->ncols * sizeof *t->fields);
    t->cols = arena_zalloc(&x->keep, t->ncols * sizeof *t->cols);
    if (!t->fields || !t->cols)
        return query__ctx_nomem(x, "a system table");
    for (size_t c = 0; c < t->ncols; c++) {
        const struct colspec *cs = &st->cols[c];
        t->fields[c] = (struct sql_field){cs->name, strlen(cs->name), cs->type, NULL, 0};
    }
    return 0;
}

int query__info_table(const char *name, const struct query_env *env, struct query__memtable *t,
                      struct query__ctx *x)
{
    memset(t, 0, sizeof *t);
    size_t which = LS_ARRAY_LEN(systables);
    const char *names[LS_ARRAY_LEN(systables) + 1];
    for (size_t i = 0; i < LS_ARRAY_LEN(systables); i++) {
        names[i] = systables[i].name;
        if (strcasecmp(name, systables[i].name) == 0)
            which = i;
    }
    names[LS_ARRAY_LEN(systables)] = NULL;
    if (which == LS_ARRAY_LEN(systables)) {
        const char *hint = util_closest(name, strlen(name), names);
        return lerr_set(x->err, LERR_NOT_FOUND,
                        "table 'INFORMATION_SCHEMA.%s' not found%s%s%s: it has COLUMNS, "
                        "SCHEMATA and TABLES",
                        name, hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
    }
    int rc = start_table(&systables[which], t, x);
    if (rc)
        return rc;
    struct tlist l;
    rc = list_tables(env, &l, x);
    if (rc)
        return rc;
    struct builder b = {t, 0, x, 0};
    return fill(systables[which].name, &l, &b);
}

/* ---- sys.segments and sys.tasks ------------------------------------------------ */

/* ISO-8601 with milliseconds; Druid's eternity bounds for an unbounded chunk. */
static const char *iso(int64_t ms, char out[40])
{
    if (ms == INT64_MIN)
        return "-146136543-09-08T08:23:32.096Z";
    if (ms == INT64_MAX)
        return "146140482-04-24T15:36:27.903Z";
    util_format_iso_ms(ms, out);
    return out;
}

static int segment_row(void *arg, const struct query_segment *s)
{
    struct builder *b = arg;
    char start[40], end[40], version[40], id[1200], shard[96];
    const char *st = iso(s->start_ms, start), *en = iso(s->end_ms, end);
    const char *ver = s->realtime ? NULL : iso(s->version_ms, version);
    /* Druid's SegmentId: datasource_start_end_version, then _partition when not 0 */
    if (ver && s->partition)
        snprintf(id, sizeof id, "%s_%s_%s_%s_%lld", s->table, st, en, ver,
                 (long long)s->partition);
    else
        snprintf(id, sizeof id, "%s_%s_%s_%s", s->table, st, en, ver ? ver : "realtime");
    snprintf(shard, sizeof shard, "{\"type\":\"numbered\",\"partitionNum\":%lld,\"partitions\":0}",
             (long long)s->partition);
    struct sql_value row[LS_ARRAY_LEN(segments_cols)] = {
        str(id),
        str(s->table),
        str(st),
        str(en),
        sql_long(s->bytes),
        str(ver),
        sql_long(s->partition),
        sql_long(s->available ? 1 : 0),
        sql_long(s->rows),
        sql_long(s->published || s->realtime ? 1 : 0), /* is_active */
        sql_long(s->published),
        sql_long(s->available),
        sql_long(s->realtime),
        sql_long(0), /* is_overshadowed: replaced segments leave the catalog at once */
        str(shard),
        str(s->dimensions),
        str(s->metrics),
        str(NULL),
    };
    return add_row(b, row);
}

/* Druid's task status and runner status for a job's status. */
static void task_status(const char *status, const char **st, const char **runner)
{
    if (!strcmp(status, "pending")) {
        *st = "RUNNING";
        *runner = "PENDING";
    } else if (!strcmp(status, "running")) {
        *st = "RUNNING";
        *runner = "RUNNING";
    } else if (!strcmp(status, "failed") || !strcmp(status, "canceled")) {
        *st = "FAILED";
        *runner = "NONE";
    } else {
        *st = "SUCCESS"; /* succeeded, suspended: stopped cleanly */
        *runner = "NONE";
    }
}

static int task_row(void *arg, const struct query_task *t)
{
    struct builder *b = arg;
    char created[40];
    const char *st, *runner;
    task_status(t->status, &st, &runner);
    bool done = t->completed_ms && t->started_ms && !strcmp(runner, "NONE");
    iso(t->created_ms, created);
    struct sql_value row[LS_ARRAY_LEN(tasks_cols)] = {
        str(t->id),
        str(t->id),
        str(t->type),
        str(t->table),
        str(created),
        str(created),
        str(st),
        str(runner),
        lng(t->completed_ms - t->started_ms, done),
        str(NULL),
        str(NULL),
        lng(0, false),
        lng(0, false),
        str(!strcmp(st, "FAILED") ? t->error : NULL),
    };
    return add_row(b, row);
}

int query__sys_table(const char *name, const struct query_env *env, struct query__memtable *t,
                     struct query__ctx *x)
{
    memset(t, 0, sizeof *t);
    size_t which = LS_ARRAY_LEN(sys_tables);
    const char *names[LS_ARRAY_LEN(sys_tables) + 1];
    for (size_t i = 0; i < LS_ARRAY_LEN(sys_tables); i++) {
        names[i] = sys_tables[i].name;
        if (strcasecmp(name, sys_tables[i].name) == 0)
            which = i;
    }
    names[LS_ARRAY_LEN(sys_tables)] = NULL;
    if (which == LS_ARRAY_LEN(sys_tables)) {
        const char *hint = util_closest(name, strlen(name), names);
        return lerr_set(x->err, LERR_NOT_FOUND,
                        "table 'sys.%s' not found%s%s%s: schema sys has segments and tasks", name,
                        hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
    }
    int rc = start_table(&sys_tables[which], t, x);
    if (rc)
        return rc;
    struct builder b = {t, 0, x, 0};
    if (which == 0 && env && env->list_segments)
        rc = env->list_segments(env->ctx, segment_row, &b, x->err);
    else if (which == 1 && env && env->list_tasks)
        rc = env->list_tasks(env->ctx, task_row, &b, x->err);
    if (rc && !x->err->code)
        lerr_set(x->err, rc, "listing sys.%s failed", sys_tables[which].name);
    return rc ? x->err->code : 0;
}
