/*
 * catalog.c — the SQLite implementation of catalog.h.
 *
 * One connection per struct catalog, guarded by a mutex (catalog calls are
 * short; the data path never waits on them). WAL mode and a busy timeout let
 * another process (`lodestar apikey create`) write while the server runs.
 * The schema is versioned with PRAGMA user_version: migrations[] is applied
 * in order, each in its own transaction, and is only ever appended to.
 */
#include "catalog/catalog.h"
#include "util/vec.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct catalog {
    sqlite3 *db;
    pthread_mutex_t mu;
    int version;
};

static const char *const migrations[] = {
    /* 1: the project, keys, tables, connections, jobs, checkpoints */
    "CREATE TABLE project ("
    "  id TEXT PRIMARY KEY, name TEXT NOT NULL, is_default INTEGER NOT NULL,"
    "  created_ns INTEGER NOT NULL);"
    "CREATE TABLE api_key ("
    "  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, hash TEXT NOT NULL UNIQUE,"
    "  permissions TEXT NOT NULL, created_ns INTEGER NOT NULL);"
    "CREATE TABLE tbl ("
    "  name TEXT PRIMARY KEY, kind TEXT NOT NULL, doc TEXT NOT NULL,"
    "  created_ns INTEGER NOT NULL, modified_ns INTEGER NOT NULL);"
    "CREATE TABLE connection ("
    "  name TEXT PRIMARY KEY, kind TEXT NOT NULL, doc TEXT NOT NULL, secret TEXT,"
    "  created_ns INTEGER NOT NULL, modified_ns INTEGER NOT NULL);"
    "CREATE TABLE job ("
    "  id TEXT PRIMARY KEY, type TEXT NOT NULL, table_name TEXT NOT NULL,"
    "  connection_name TEXT NOT NULL, desired TEXT NOT NULL, status TEXT NOT NULL,"
    "  health TEXT NOT NULL, health_message TEXT NOT NULL, spec TEXT NOT NULL,"
    "  created_by TEXT NOT NULL, modified_by TEXT NOT NULL,"
    "  created_ns INTEGER NOT NULL, updated_ns INTEGER NOT NULL,"
    "  started_ns INTEGER NOT NULL, completed_ns INTEGER NOT NULL,"
    "  reset_generation INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX job_table ON job(table_name);"
    "CREATE INDEX job_connection ON job(connection_name);"
    "CREATE TABLE checkpoint ("
    "  table_name TEXT NOT NULL, stream TEXT NOT NULL, offsets TEXT NOT NULL,"
    "  updated_ns INTEGER NOT NULL, PRIMARY KEY (table_name, stream));",
    /* 2: segments and job counters, for persist and compaction */
    "CREATE TABLE segment ("
    "  id TEXT PRIMARY KEY, table_name TEXT NOT NULL, path TEXT NOT NULL,"
    "  chunk_start INTEGER NOT NULL, chunk_end INTEGER NOT NULL,"
    "  min_time INTEGER NOT NULL, max_time INTEGER NOT NULL,"
    "  rows INTEGER NOT NULL, bytes INTEGER NOT NULL, created_ns INTEGER NOT NULL);"
    "CREATE INDEX segment_table ON segment(table_name, chunk_start);"
    "CREATE TABLE job_counters ("
    "  job_id TEXT PRIMARY KEY, counters TEXT NOT NULL, updated_ns INTEGER NOT NULL);",
    /* 3: uploaded files for batch jobs (parenthesised: one element, as clang wants to see) */
    ("CREATE TABLE file ("
     "  name TEXT PRIMARY KEY, size INTEGER NOT NULL, created_ns INTEGER NOT NULL);"),
};

int catalog_latest_schema_version(void) { return (int)LS_ARRAY_LEN(migrations); }

static int db_fail(struct catalog *c, struct lerr *err, const char *what)
{
    return lerr_set(err, LERR_IO, "catalog: %s failed: %s", what, sqlite3_errmsg(c->db));
}

static int exec_sql(struct catalog *c, const char *sql, struct lerr *err)
{
    char *msg = NULL;
    if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        lerr_set(err, LERR_IO, "catalog: %s", msg ? msg : "statement failed");
        sqlite3_free(msg);
        return err->code;
    }
    return 0;
}

static int migrate(struct catalog *c, struct lerr *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return db_fail(c, err, "reading the schema version");
    int version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (version > catalog_latest_schema_version())
        return lerr_set(err, LERR_INVALID,
                        "catalog: schema version %d is newer than this binary knows (%d); "
                        "run a newer lodestar",
                        version, catalog_latest_schema_version());
    for (int v = version; v < catalog_latest_schema_version(); v++) {
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d;", v + 1);
        if (exec_sql(c, "BEGIN IMMEDIATE", err))
            return err->code;
        if (exec_sql(c, migrations[v], err) || exec_sql(c, pragma, err)) {
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
            return err->code;
        }
        if (exec_sql(c, "COMMIT", err))
            return err->code;
    }
    c->version = catalog_latest_schema_version();
    return 0;
}

int catalog_open(const char *path, struct catalog **out, struct lerr *err)
{
    struct catalog *c = calloc(1, sizeof *c);
    if (!c)
        return lerr_set(err, LERR_NOMEM, "catalog: out of memory");
    pthread_mutex_init(&c->mu, NULL);
    if (sqlite3_open_v2(path, &c->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        lerr_set(err, LERR_IO, "catalog: cannot open %s: %s", path,
                 c->db ? sqlite3_errmsg(c->db) : "out of memory");
        catalog_close(c);
        return err->code;
    }
    sqlite3_busy_timeout(c->db, 5000);
    if (exec_sql(c, "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; "
                    "PRAGMA synchronous=FULL;",
                 err) ||
        migrate(c, err)) {
        catalog_close(c);
        return err->code;
    }
    *out = c;
    return 0;
}

void catalog_close(struct catalog *c)
{
    if (!c)
        return;
    sqlite3_close(c->db);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

int catalog_schema_version(struct catalog *c) { return c->version; }

/* ---- statement helpers ------------------------------------------------ */

/*
 * A prepared statement with its arguments bound from a format string:
 * 's' text (NULL binds SQL NULL), 'i' int64. Returns NULL and sets err.
 */
static sqlite3_stmt *prep(struct catalog *c, struct lerr *err, const char *sql, const char *fmt,
                          ...)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK) {
        db_fail(c, err, "preparing a statement");
        return NULL;
    }
    va_list ap;
    va_start(ap, fmt);
    for (int i = 0; fmt[i]; i++) {
        int rc;
        if (fmt[i] == 's') {
            const char *s = va_arg(ap, const char *);
            rc = s ? sqlite3_bind_text(st, i + 1, s, -1, SQLITE_TRANSIENT)
                   : sqlite3_bind_null(st, i + 1);
        } else {
            rc = sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
        }
        if (rc != SQLITE_OK) {
            va_end(ap);
            db_fail(c, err, "binding a value");
            sqlite3_finalize(st);
            return NULL;
        }
    }
    va_end(ap);
    return st;
}

/* Steps a statement that returns no rows; maps a UNIQUE failure to CONFLICT. */
static int step_done(struct catalog *c, sqlite3_stmt *st, struct lerr *err, const char *what)
{
    int rc = sqlite3_step(st);
    int ext = sqlite3_extended_errcode(c->db);
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (ext == SQLITE_CONSTRAINT_PRIMARYKEY || ext == SQLITE_CONSTRAINT_UNIQUE)
        return lerr_set(err, LERR_CONFLICT, "%s already exists", what);
    return db_fail(c, err, what);
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

static void col_copy(sqlite3_stmt *st, int i, char *out, size_t cap)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    snprintf(out, cap, "%s", t ? (const char *)t : "");
}

/*
 * Steps st to its end, appending one element of `elem` bytes per row, filled
 * by fill(st, ctx, element). Finalizes st. On failure frees the elements
 * filled so far with free_elem (may be NULL) and returns the error.
 */
typedef void (*row_fill_fn)(sqlite3_stmt *st, const void *ctx, void *elem);
typedef void (*elem_free_fn)(void *elem);

static int collect_rows(struct catalog *c, sqlite3_stmt *st, size_t elem, row_fill_fn fill,
                        const void *ctx, elem_free_fn free_elem, void **items, size_t *n,
                        const char *what, struct lerr *err)
{
    char *arr = NULL;
    size_t cap = 0, count = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            char *p = vec_grow(arr, &cap, count + 1, elem, 16);
            if (!p) {
                rc = SQLITE_NOMEM;
                break;
            }
            arr = p;
        }
        fill(st, ctx, arr + count++ * elem);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        for (size_t i = 0; free_elem && i < count; i++)
            free_elem(arr + i * elem);
        free(arr);
        return rc == SQLITE_NOMEM ? lerr_set(err, LERR_NOMEM, "catalog: out of memory")
                                  : db_fail(c, err, what);
    }
    *items = arr;
    *n = count;
    return 0;
}

#define LOCKED(c, expr)                         \
    ({                                          \
        pthread_mutex_lock(&(c)->mu);           \
        int rc_ = (expr);                       \
        pthread_mutex_unlock(&(c)->mu);         \
        rc_;                                    \
    })

/* ---- project ----------------------------------------------------------- */

static int project_default_locked(struct catalog *c, struct catalog_project *out,
                                  struct lerr *err)
{
    sqlite3_stmt *st =
        prep(c, err, "SELECT id, name, created_ns FROM project WHERE is_default = 1", "");
    if (!st)
        return err->code;
    if (sqlite3_step(st) == SQLITE_ROW) {
        col_copy(st, 0, out->id, sizeof out->id);
        col_copy(st, 1, out->name, sizeof out->name);
        out->created_ns = sqlite3_column_int64(st, 2);
        sqlite3_finalize(st);
        return 0;
    }
    sqlite3_finalize(st);
    if (util_uuid_v4(out->id, err))
        return err->code;
    snprintf(out->name, sizeof out->name, "default");
    out->created_ns = util_now_ns();
    st = prep(c, err,
              "INSERT INTO project (id, name, is_default, created_ns) VALUES (?, ?, 1, ?)",
              "ssi", out->id, out->name, out->created_ns);
    return st ? step_done(c, st, err, "project") : err->code;
}

int catalog_project_default(struct catalog *c, struct catalog_project *out, struct lerr *err)
{
    return LOCKED(c, project_default_locked(c, out, err));
}

/* ---- API keys ----------------------------------------------------------- */

static int apikey_count_locked(struct catalog *c, int64_t *out, struct lerr *err)
{
    sqlite3_stmt *st = prep(c, err, "SELECT COUNT(*) FROM api_key", "");
    if (!st)
        return err->code;
    *out = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return 0;
}

int catalog_apikey_count(struct catalog *c, int64_t *out, struct lerr *err)
{
    return LOCKED(c, apikey_count_locked(c, out, err));
}

static int apikey_insert_locked(struct catalog *c, const struct catalog_apikey *k,
                                struct lerr *err)
{
    sqlite3_stmt *st = prep(c, err,
                            "INSERT INTO api_key (id, name, hash, permissions, created_ns) "
                            "VALUES (?, ?, ?, ?, ?)",
                            "ssssi", k->id, k->name, k->hash, k->permissions, k->created_ns);
    if (!st)
        return err->code;
    int rc = step_done(c, st, err, "API key");
    if (rc == LERR_CONFLICT) {
        lerr_init(err);
        lerr_set(err, LERR_CONFLICT, "an API key named '%s' already exists; choose another name",
                 k->name);
    }
    return rc;
}

int catalog_apikey_insert(struct catalog *c, const struct catalog_apikey *k, struct lerr *err)
{
    return LOCKED(c, apikey_insert_locked(c, k, err));
}

static int apikey_by_hash_locked(struct catalog *c, const char *hash, struct catalog_apikey *out,
                                 struct lerr *err)
{
    sqlite3_stmt *st = prep(c, err,
                            "SELECT id, name, hash, permissions, created_ns FROM api_key "
                            "WHERE hash = ?",
                            "s", hash);
    if (!st)
        return err->code;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? lerr_set(err, LERR_NOT_FOUND, "no such API key")
                                 : db_fail(c, err, "looking up an API key");
    }
    col_copy(st, 0, out->id, sizeof out->id);
    col_copy(st, 1, out->name, sizeof out->name);
    col_copy(st, 2, out->hash, sizeof out->hash);
    col_copy(st, 3, out->permissions, sizeof out->permissions);
    out->created_ns = sqlite3_column_int64(st, 4);
    sqlite3_finalize(st);
    return 0;
}

int catalog_apikey_by_hash(struct catalog *c, const char *hash, struct catalog_apikey *out,
                           struct lerr *err)
{
    return LOCKED(c, apikey_by_hash_locked(c, hash, out, err));
}

/* ---- documents ---------------------------------------------------------- */

static const char *doc_table(enum catalog_doc_type t)
{
    return t == CATALOG_TABLE ? "tbl" : "connection";
}

static const char *doc_noun(enum catalog_doc_type t)
{
    return t == CATALOG_TABLE ? "table" : "connection";
}

void catalog_doc_destroy(struct catalog_doc *d)
{
    free(d->doc);
    free(d->secret);
    d->doc = d->secret = NULL;
}

void catalog_doc_list_free(struct catalog_doc_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        catalog_doc_destroy(&l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static int doc_insert_locked(struct catalog *c, enum catalog_doc_type t,
                             const struct catalog_doc *d, struct lerr *err)
{
    char sql[256];
    if (t == CATALOG_TABLE)
        snprintf(sql, sizeof sql,
                 "INSERT INTO tbl (name, kind, doc, created_ns, modified_ns) "
                 "VALUES (?, ?, ?, ?, ?)");
    else
        snprintf(sql, sizeof sql,
                 "INSERT INTO connection (name, kind, doc, created_ns, modified_ns, secret) "
                 "VALUES (?, ?, ?, ?, ?, ?)");
    sqlite3_stmt *st = prep(c, err, sql, t == CATALOG_TABLE ? "sssii" : "sssiis", d->name,
                            d->kind, d->doc, d->created_ns, d->modified_ns, d->secret);
    if (!st)
        return err->code;
    int rc = step_done(c, st, err, doc_noun(t));
    if (rc == LERR_CONFLICT) {
        lerr_init(err);
        lerr_set(err, LERR_CONFLICT, "a %s named '%s' already exists; choose another name",
                 doc_noun(t), d->name);
    }
    return rc;
}

int catalog_doc_insert(struct catalog *c, enum catalog_doc_type t, const struct catalog_doc *d,
                       struct lerr *err)
{
    return LOCKED(c, doc_insert_locked(c, t, d, err));
}

static void doc_from_row(enum catalog_doc_type t, sqlite3_stmt *st, struct catalog_doc *out)
{
    col_copy(st, 0, out->name, sizeof out->name);
    col_copy(st, 1, out->kind, sizeof out->kind);
    out->doc = col_dup(st, 2);
    out->created_ns = sqlite3_column_int64(st, 3);
    out->modified_ns = sqlite3_column_int64(st, 4);
    out->secret = t == CATALOG_CONNECTION ? col_dup(st, 5) : NULL;
}

static sqlite3_stmt *doc_select(struct catalog *c, enum catalog_doc_type t, const char *name,
                                struct lerr *err)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT name, kind, doc, created_ns, modified_ns%s FROM %s %s",
             t == CATALOG_CONNECTION ? ", secret" : "", doc_table(t),
             name ? "WHERE name = ?" : "ORDER BY name");
    return name ? prep(c, err, sql, "s", name) : prep(c, err, sql, "");
}

static int doc_get_locked(struct catalog *c, enum catalog_doc_type t, const char *name,
                          struct catalog_doc *out, struct lerr *err)
{
    sqlite3_stmt *st = doc_select(c, t, name, err);
    if (!st)
        return err->code;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        doc_from_row(t, st, out);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return lerr_set(err, LERR_NOT_FOUND, "no %s named '%s'", doc_noun(t), name);
    return db_fail(c, err, "reading a document");
}

int catalog_doc_get(struct catalog *c, enum catalog_doc_type t, const char *name,
                    struct catalog_doc *out, struct lerr *err)
{
    return LOCKED(c, doc_get_locked(c, t, name, out, err));
}

static void doc_fill(sqlite3_stmt *st, const void *ctx, void *elem)
{
    doc_from_row(*(const enum catalog_doc_type *)ctx, st, elem);
}

static void doc_free(void *elem) { catalog_doc_destroy(elem); }

static int doc_list_locked(struct catalog *c, enum catalog_doc_type t,
                           struct catalog_doc_list *out, struct lerr *err)
{
    out->items = NULL;
    out->n = 0;
    sqlite3_stmt *st = doc_select(c, t, NULL, err);
    if (!st)
        return err->code;
    return collect_rows(c, st, sizeof *out->items, doc_fill, &t, doc_free,
                        (void **)&out->items, &out->n, "listing documents", err);
}

int catalog_doc_list(struct catalog *c, enum catalog_doc_type t, struct catalog_doc_list *out,
                     struct lerr *err)
{
    return LOCKED(c, doc_list_locked(c, t, out, err));
}

static int doc_update_locked(struct catalog *c, enum catalog_doc_type t,
                             const struct catalog_doc *d, struct lerr *err)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "UPDATE %s SET doc = ?, modified_ns = ?%s WHERE name = ?", doc_table(t),
             (t == CATALOG_CONNECTION && d->secret) ? ", secret = ?" : "");
    sqlite3_stmt *st = (t == CATALOG_CONNECTION && d->secret)
                           ? prep(c, err, sql, "siss", d->doc, d->modified_ns, d->secret, d->name)
                           : prep(c, err, sql, "sis", d->doc, d->modified_ns, d->name);
    if (!st)
        return err->code;
    int rc = step_done(c, st, err, doc_noun(t));
    if (rc == 0 && sqlite3_changes(c->db) == 0)
        return lerr_set(err, LERR_NOT_FOUND, "no %s named '%s'", doc_noun(t), d->name);
    return rc;
}

int catalog_doc_update(struct catalog *c, enum catalog_doc_type t, const struct catalog_doc *d,
                       struct lerr *err)
{
    return LOCKED(c, doc_update_locked(c, t, d, err));
}

/* The id of a live job using the table or connection, or "" when none. */
static int live_job_using(struct catalog *c, enum catalog_doc_type t, const char *name,
                          char id[37], struct lerr *err)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT id FROM job WHERE %s = ? AND status NOT IN "
             "('canceled', 'failed', 'succeeded') LIMIT 1",
             t == CATALOG_TABLE ? "table_name" : "connection_name");
    sqlite3_stmt *st = prep(c, err, sql, "s", name);
    if (!st)
        return err->code;
    id[0] = '\0';
    if (sqlite3_step(st) == SQLITE_ROW)
        col_copy(st, 0, id, 37);
    sqlite3_finalize(st);
    return 0;
}

static int doc_delete_locked(struct catalog *c, enum catalog_doc_type t, const char *name,
                             struct lerr *err)
{
    char job[37];
    if (exec_sql(c, "BEGIN IMMEDIATE", err))
        return err->code;
    if (live_job_using(c, t, name, job, err))
        goto fail;
    if (job[0]) {
        lerr_set(err, LERR_CONFLICT,
                 "%s '%s' is used by job %s, which is still live; cancel the job first "
                 "(PUT /v2/jobs/%s with {\"desiredExecutionStatus\": \"canceled\"})",
                 doc_noun(t), name, job, job);
        goto fail;
    }
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE name = ?", doc_table(t));
    sqlite3_stmt *st = prep(c, err, sql, "s", name);
    if (!st || step_done(c, st, err, doc_noun(t)))
        goto fail;
    if (sqlite3_changes(c->db) == 0) {
        lerr_set(err, LERR_NOT_FOUND, "no %s named '%s'", doc_noun(t), name);
        goto fail;
    }
    if (t == CATALOG_TABLE) {
        st = prep(c, err, "DELETE FROM checkpoint WHERE table_name = ?", "s", name);
        if (!st || step_done(c, st, err, "checkpoint"))
            goto fail;
        st = prep(c, err, "DELETE FROM segment WHERE table_name = ?", "s", name);
        if (!st || step_done(c, st, err, "segment"))
            goto fail;
    }
    if (exec_sql(c, "COMMIT", err))
        goto fail;
    return 0;
fail:
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return err->code;
}

int catalog_doc_delete(struct catalog *c, enum catalog_doc_type t, const char *name,
                       struct lerr *err)
{
    return LOCKED(c, doc_delete_locked(c, t, name, err));
}

/* ---- jobs -------------------------------------------------------------- */

void catalog_job_destroy(struct catalog_job *j)
{
    free(j->spec);
    free(j->created_by);
    free(j->modified_by);
    j->spec = j->created_by = j->modified_by = NULL;
}

void catalog_job_list_free(struct catalog_job_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        catalog_job_destroy(&l->items[i]);
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

bool catalog_job_status_live(const char *status)
{
    return strcmp(status, "canceled") != 0 && strcmp(status, "failed") != 0 &&
           strcmp(status, "succeeded") != 0;
}

#define JOB_COLUMNS                                                                         \
    "id, type, table_name, connection_name, desired, status, health, health_message, spec, " \
    "created_by, modified_by, created_ns, updated_ns, started_ns, completed_ns, "           \
    "reset_generation"

static void job_from_row(sqlite3_stmt *st, struct catalog_job *j)
{
    col_copy(st, 0, j->id, sizeof j->id);
    col_copy(st, 1, j->type, sizeof j->type);
    col_copy(st, 2, j->table_name, sizeof j->table_name);
    col_copy(st, 3, j->connection_name, sizeof j->connection_name);
    col_copy(st, 4, j->desired, sizeof j->desired);
    col_copy(st, 5, j->status, sizeof j->status);
    col_copy(st, 6, j->health, sizeof j->health);
    col_copy(st, 7, j->health_message, sizeof j->health_message);
    j->spec = col_dup(st, 8);
    j->created_by = col_dup(st, 9);
    j->modified_by = col_dup(st, 10);
    j->created_ns = sqlite3_column_int64(st, 11);
    j->updated_ns = sqlite3_column_int64(st, 12);
    j->started_ns = sqlite3_column_int64(st, 13);
    j->completed_ns = sqlite3_column_int64(st, 14);
    j->reset_generation = sqlite3_column_int64(st, 15);
}

static int job_insert_locked(struct catalog *c, const struct catalog_job *j, struct lerr *err)
{
    if (exec_sql(c, "BEGIN IMMEDIATE", err))
        return err->code;
    /* One writer per table: a live job of either kind holds it (rows and
     * checkpoints are persisted together per table, DESIGN §6). */
    {
        sqlite3_stmt *st = prep(c, err,
                                "SELECT id, type FROM job WHERE table_name = ? AND status NOT IN "
                                "('canceled', 'failed', 'succeeded') LIMIT 1",
                                "s", j->table_name);
        if (!st)
            goto fail;
        char other[37] = "", type[16] = "";
        if (sqlite3_step(st) == SQLITE_ROW) {
            col_copy(st, 0, other, sizeof other);
            col_copy(st, 1, type, sizeof type);
        }
        sqlite3_finalize(st);
        if (other[0]) {
            lerr_set_at(err, LERR_CONFLICT, "target.tableName",
                        "table '%s' already has a live %s job (%s); a table takes one live job "
                        "at a time: cancel that job first (or wait for a batch job to finish), "
                        "or target another table",
                        j->table_name, type, other);
            goto fail;
        }
    }
    sqlite3_stmt *st = prep(c, err,
                            "INSERT INTO job (" JOB_COLUMNS ") VALUES "
                            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                            "sssssssssssiiii", j->id, j->type, j->table_name,
                            j->connection_name, j->desired, j->status, j->health,
                            j->health_message, j->spec, j->created_by, j->modified_by,
                            j->created_ns, j->updated_ns, j->started_ns, j->completed_ns);
    if (!st || step_done(c, st, err, "job") || exec_sql(c, "COMMIT", err))
        goto fail;
    return 0;
fail:
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return err->code;
}

int catalog_job_insert(struct catalog *c, const struct catalog_job *j, struct lerr *err)
{
    return LOCKED(c, job_insert_locked(c, j, err));
}

static int job_get_locked(struct catalog *c, const char *id, struct catalog_job *out,
                          struct lerr *err)
{
    sqlite3_stmt *st = prep(c, err, "SELECT " JOB_COLUMNS " FROM job WHERE id = ?", "s", id);
    if (!st)
        return err->code;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        job_from_row(st, out);
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return lerr_set(err, LERR_NOT_FOUND, "no job with id '%s'", id);
    return db_fail(c, err, "reading a job");
}

int catalog_job_get(struct catalog *c, const char *id, struct catalog_job *out, struct lerr *err)
{
    return LOCKED(c, job_get_locked(c, id, out, err));
}

static void job_fill(sqlite3_stmt *st, const void *ctx, void *elem)
{
    (void)ctx;
    job_from_row(st, elem);
}

static void job_free(void *elem) { catalog_job_destroy(elem); }

static int job_list_locked(struct catalog *c, const char *where, const char *table,
                           struct catalog_job_list *out, struct lerr *err)
{
    out->items = NULL;
    out->n = 0;
    char sql[700];
    snprintf(sql, sizeof sql, "SELECT " JOB_COLUMNS " FROM job %s ORDER BY created_ns DESC, id",
             where);
    sqlite3_stmt *st = table ? prep(c, err, sql, "s", table) : prep(c, err, sql, "");
    if (!st)
        return err->code;
    return collect_rows(c, st, sizeof *out->items, job_fill, NULL, job_free,
                        (void **)&out->items, &out->n, "listing jobs", err);
}

int catalog_job_list(struct catalog *c, struct catalog_job_list *out, struct lerr *err)
{
    return LOCKED(c, job_list_locked(c, "", NULL, out, err));
}

int catalog_job_list_table(struct catalog *c, const char *table, struct catalog_job_list *out,
                           struct lerr *err)
{
    return LOCKED(c, job_list_locked(c, "WHERE table_name = ?", table, out, err));
}

int catalog_job_list_active(struct catalog *c, struct catalog_job_list *out, struct lerr *err)
{
    static const char *const where =
        "WHERE (desired = 'running' AND status IN ('pending', 'running', 'suspended')) "
        "OR (desired = 'suspended' AND status IN ('pending', 'running')) "
        "OR (desired = 'canceled' AND status NOT IN ('canceled', 'succeeded', 'failed'))";
    return LOCKED(c, job_list_locked(c, where, NULL, out, err));
}

static int job_update_state_locked(struct catalog *c, const struct catalog_job *j,
                                   struct lerr *err)
{
    sqlite3_stmt *st = prep(c, err,
                            "UPDATE job SET desired = ?, status = ?, health = ?, "
                            "health_message = ?, modified_by = ?, updated_ns = ?, "
                            "started_ns = ?, completed_ns = ? WHERE id = ?",
                            "sssssiiis", j->desired, j->status, j->health, j->health_message,
                            j->modified_by, j->updated_ns, j->started_ns, j->completed_ns,
                            j->id);
    if (!st || step_done(c, st, err, "job"))
        return err->code;
    if (sqlite3_changes(c->db) == 0)
        return lerr_set(err, LERR_NOT_FOUND, "no job with id '%s'", j->id);
    return 0;
}

int catalog_job_update_state(struct catalog *c, const struct catalog_job *j, struct lerr *err)
{
    return LOCKED(c, job_update_state_locked(c, j, err));
}

static int job_set_status_locked(struct catalog *c, const char *id, const char *status,
                                 const char *health, const char *msg, int64_t started_ns,
                                 int64_t completed_ns, struct lerr *err)
{
    sqlite3_stmt *st = prep(c, err,
                            "UPDATE job SET status = ?, health = ?, health_message = ?, "
                            "updated_ns = ?, "
                            "started_ns = CASE WHEN ? = 0 THEN started_ns ELSE ? END, "
                            "completed_ns = CASE WHEN ? = 0 THEN completed_ns ELSE ? END "
                            "WHERE id = ?",
                            "sssiiiiis", status, health, msg ? msg : "", util_now_ns(),
                            started_ns, started_ns, completed_ns, completed_ns, id);
    if (!st || step_done(c, st, err, "job"))
        return err->code;
    if (sqlite3_changes(c->db) == 0)
        return lerr_set(err, LERR_NOT_FOUND, "no job with id '%s'", id);
    return 0;
}

int catalog_job_set_status(struct catalog *c, const char *id, const char *status,
                           const char *health, const char *health_message, int64_t started_ns,
                           int64_t completed_ns, struct lerr *err)
{
    return LOCKED(c, job_set_status_locked(c, id, status, health, health_message, started_ns,
                                           completed_ns, err));
}

static int job_set_desired_locked(struct catalog *c, const char *id, const char *desired,
                                  const char *modified_by, struct lerr *err)
{
    sqlite3_stmt *st = prep(c, err,
                            "UPDATE job SET desired = ?, modified_by = ?, updated_ns = ?, "
                            "status = CASE WHEN ? = 'running' AND status IN ('suspended', "
                            "'failed') THEN 'pending' ELSE status END, "
                            "health = CASE WHEN ? = 'running' AND status IN ('suspended', "
                            "'failed') THEN 'ok' ELSE health END, "
                            "health_message = CASE WHEN ? = 'running' AND status IN "
                            "('suspended', 'failed') THEN '' ELSE health_message END "
                            "WHERE id = ?",
                            "ssissss", desired, modified_by, util_now_ns(), desired, desired,
                            desired, id);
    if (!st || step_done(c, st, err, "job"))
        return err->code;
    if (sqlite3_changes(c->db) == 0)
        return lerr_set(err, LERR_NOT_FOUND, "no job with id '%s'", id);
    return 0;
}

int catalog_job_set_desired(struct catalog *c, const char *id, const char *desired,
                            const char *modified_by, struct lerr *err)
{
    return LOCKED(c, job_set_desired_locked(c, id, desired, modified_by, err));
}

/* ---- checkpoints --------------------------------------------------------- */

static int job_reset_locked(struct catalog *c, const char *job_id, const char *table,
                            const char *stream, struct lerr *err)
{
    if (exec_sql(c, "BEGIN IMMEDIATE", err))
        return err->code;
    sqlite3_stmt *st =
        prep(c, err, "DELETE FROM checkpoint WHERE table_name = ? AND stream = ?", "ss", table,
             stream);
    if (!st || step_done(c, st, err, "checkpoint"))
        goto fail;
    st = prep(c, err,
              "UPDATE job SET reset_generation = reset_generation + 1, updated_ns = ? "
              "WHERE id = ?",
              "is", util_now_ns(), job_id);
    if (!st || step_done(c, st, err, "job"))
        goto fail;
    if (sqlite3_changes(c->db) == 0) {
        lerr_set(err, LERR_NOT_FOUND, "no job with id '%s'", job_id);
        goto fail;
    }
    if (exec_sql(c, "COMMIT", err))
        goto fail;
    return 0;
fail:
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return err->code;
}

int catalog_job_reset(struct catalog *c, const char *job_id, const char *table,
                      const char *stream, struct lerr *err)
{
    return LOCKED(c, job_reset_locked(c, job_id, table, stream, err));
}

static int checkpoint_get_locked(struct catalog *c, const char *table, const char *stream,
                                 char **out, struct lerr *err)
{
    sqlite3_stmt *st = prep(c, err,
                            "SELECT offsets FROM checkpoint WHERE table_name = ? AND stream = ?",
                            "ss", table, stream);
    if (!st)
        return err->code;
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? col_dup(st, 0) : NULL;
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return lerr_set(err, LERR_NOT_FOUND, "no checkpoint for table '%s' and stream '%s'",
                        table, stream);
    return db_fail(c, err, "reading a checkpoint");
}

int catalog_checkpoint_get(struct catalog *c, const char *table, const char *stream,
                           char **offsets_json, struct lerr *err)
{
    return LOCKED(c, checkpoint_get_locked(c, table, stream, offsets_json, err));
}

static int checkpoint_put_locked(struct catalog *c, const char *table, const char *stream,
                                 const char *offsets_json, struct lerr *err)
{
    sqlite3_stmt *st = prep(c, err,
                            "INSERT INTO checkpoint (table_name, stream, offsets, updated_ns) "
                            "VALUES (?, ?, ?, ?) ON CONFLICT (table_name, stream) DO UPDATE "
                            "SET offsets = excluded.offsets, updated_ns = excluded.updated_ns",
                            "sssi", table, stream, offsets_json, util_now_ns());
    return st ? step_done(c, st, err, "checkpoint") : err->code;
}

int catalog_checkpoint_put(struct catalog *c, const char *table, const char *stream,
                           const char *offsets_json, struct lerr *err)
{
    return LOCKED(c, checkpoint_put_locked(c, table, stream, offsets_json, err));
}

static int checkpoint_claim_locked(struct catalog *c, const char *table, const char *stream,
                                   int *dropped, struct lerr *err)
{
    sqlite3_stmt *st = prep(c, err, "DELETE FROM checkpoint WHERE table_name = ? AND stream <> ?",
                            "ss", table, stream);
    if (!st || step_done(c, st, err, "checkpoint"))
        return err->code;
    if (dropped)
        *dropped = sqlite3_changes(c->db);
    return 0;
}

int catalog_checkpoint_claim(struct catalog *c, const char *table, const char *stream,
                             int *dropped, struct lerr *err)
{
    return LOCKED(c, checkpoint_claim_locked(c, table, stream, dropped, err));
}

static int checkpoint_drop_stream_locked(struct catalog *c, const char *stream, struct lerr *err)
{
    sqlite3_stmt *st = prep(c, err, "DELETE FROM checkpoint WHERE stream = ?", "s", stream);
    return st ? step_done(c, st, err, "checkpoint") : err->code;
}

int catalog_checkpoint_drop_stream(struct catalog *c, const char *stream, struct lerr *err)
{
    return LOCKED(c, checkpoint_drop_stream_locked(c, stream, err));
}

/* ---- segments and commits ------------------------------------------------ */

void catalog_segment_list_free(struct catalog_segment_list *l)
{
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

static void segment_fill(sqlite3_stmt *st, const void *ctx, void *elem)
{
    (void)ctx;
    struct catalog_segment *g = elem;
    col_copy(st, 0, g->id, sizeof g->id);
    col_copy(st, 1, g->table_name, sizeof g->table_name);
    col_copy(st, 2, g->path, sizeof g->path);
    g->chunk_start = sqlite3_column_int64(st, 3);
    g->chunk_end = sqlite3_column_int64(st, 4);
    g->min_time = sqlite3_column_int64(st, 5);
    g->max_time = sqlite3_column_int64(st, 6);
    g->rows = sqlite3_column_int64(st, 7);
    g->bytes = sqlite3_column_int64(st, 8);
    g->created_ns = sqlite3_column_int64(st, 9);
}

static int segment_list_locked(struct catalog *c, const char *table,
                               struct catalog_segment_list *out, struct lerr *err)
{
    out->items = NULL;
    out->n = 0;
    const char *cols = "SELECT id, table_name, path, chunk_start, chunk_end, min_time, max_time, "
                       "rows, bytes, created_ns FROM segment ";
    char sql[400];
    snprintf(sql, sizeof sql, "%s%s ORDER BY table_name, chunk_start, created_ns, id", cols,
             table ? "WHERE table_name = ?" : "");
    sqlite3_stmt *st = table ? prep(c, err, sql, "s", table) : prep(c, err, sql, "");
    if (!st)
        return err->code;
    return collect_rows(c, st, sizeof *out->items, segment_fill, NULL, NULL,
                        (void **)&out->items, &out->n, "listing segments", err);
}

int catalog_segment_list(struct catalog *c, const char *table, struct catalog_segment_list *out,
                         struct lerr *err)
{
    return LOCKED(c, segment_list_locked(c, table, out, err));
}

/* The checkpoint compare-and-swap inside catalog_commit's transaction. */
static int checkpoint_cas(struct catalog *c, const struct catalog_commit *cm, struct lerr *err)
{
    sqlite3_stmt *st = prep(c, err,
                            "SELECT offsets FROM checkpoint WHERE table_name = ? AND stream = ?",
                            "ss", cm->table_name, cm->stream);
    if (!st)
        return err->code;
    char *cur = sqlite3_step(st) == SQLITE_ROW ? col_dup(st, 0) : NULL;
    sqlite3_finalize(st);
    bool same = (!cur && !cm->expected_offsets) ||
                (cur && cm->expected_offsets && strcmp(cur, cm->expected_offsets) == 0);
    free(cur);
    if (!same)
        return lerr_set(err, LERR_CONFLICT,
                        "the checkpoint of table '%s' on stream '%s' moved (a reset or another "
                        "writer); the batch is not committed and will be re-read",
                        cm->table_name, cm->stream);
    st = prep(c, err,
              "INSERT INTO checkpoint (table_name, stream, offsets, updated_ns) VALUES (?, ?, ?, ?) "
              "ON CONFLICT (table_name, stream) DO UPDATE SET offsets = excluded.offsets, "
              "updated_ns = excluded.updated_ns",
              "sssi", cm->table_name, cm->stream, cm->new_offsets, util_now_ns());
    return st ? step_done(c, st, err, "checkpoint") : err->code;
}

static int commit_locked(struct catalog *c, const struct catalog_commit *cm, struct lerr *err)
{
    if (exec_sql(c, "BEGIN IMMEDIATE", err))
        return err->code;
    for (size_t i = 0; i < cm->nadd; i++) {
        const struct catalog_segment *g = &cm->add[i];
        sqlite3_stmt *st = prep(c, err,
                                "INSERT INTO segment (id, table_name, path, chunk_start, "
                                "chunk_end, min_time, max_time, rows, bytes, created_ns) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                "sssiiiiiii", g->id, cm->table_name, g->path, g->chunk_start,
                                g->chunk_end, g->min_time, g->max_time, g->rows, g->bytes,
                                g->created_ns ? g->created_ns : util_now_ns());
        if (!st || step_done(c, st, err, "segment"))
            goto fail;
    }
    for (size_t i = 0; i < cm->nremove; i++) {
        sqlite3_stmt *st = prep(c, err, "DELETE FROM segment WHERE id = ? AND table_name = ?",
                                "ss", cm->remove_ids[i], cm->table_name);
        if (!st || step_done(c, st, err, "segment"))
            goto fail;
        if (sqlite3_changes(c->db) == 0) {
            lerr_set(err, LERR_CONFLICT, "segment %s of table '%s' is already gone",
                     cm->remove_ids[i], cm->table_name);
            goto fail;
        }
    }
    if (cm->stream && checkpoint_cas(c, cm, err))
        goto fail;
    if (cm->job_id) {
        sqlite3_stmt *st = prep(c, err,
                                "INSERT INTO job_counters (job_id, counters, updated_ns) "
                                "VALUES (?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET "
                                "counters = excluded.counters, updated_ns = excluded.updated_ns",
                                "ssi", cm->job_id, cm->job_counters, util_now_ns());
        if (!st || step_done(c, st, err, "job counters"))
            goto fail;
    }
    if (exec_sql(c, "COMMIT", err))
        goto fail;
    return 0;
fail:
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    return err->code;
}

int catalog_commit(struct catalog *c, const struct catalog_commit *cm, struct lerr *err)
{
    return LOCKED(c, commit_locked(c, cm, err));
}

static int job_counters_locked(struct catalog *c, const char *job_id, char **out,
                               struct lerr *err)
{
    sqlite3_stmt *st =
        prep(c, err, "SELECT counters FROM job_counters WHERE job_id = ?", "s", job_id);
    if (!st)
        return err->code;
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? col_dup(st, 0) : NULL;
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return lerr_set(err, LERR_NOT_FOUND, "no counters saved for job %s", job_id);
    return db_fail(c, err, "reading job counters");
}

int catalog_job_counters(struct catalog *c, const char *job_id, char **out, struct lerr *err)
{
    return LOCKED(c, job_counters_locked(c, job_id, out, err));
}

/* ---- uploaded files -------------------------------------------------------- */

static int file_put_locked(struct catalog *c, const char *name, int64_t size, struct lerr *err)
{
    sqlite3_stmt *st = prep(c, err,
                            "INSERT INTO file (name, size, created_ns) VALUES (?, ?, ?) "
                            "ON CONFLICT (name) DO UPDATE SET size = excluded.size, "
                            "created_ns = excluded.created_ns",
                            "sii", name, size, util_now_ns());
    return st ? step_done(c, st, err, "file") : err->code;
}

int catalog_file_put(struct catalog *c, const char *name, int64_t size, struct lerr *err)
{
    return LOCKED(c, file_put_locked(c, name, size, err));
}

static void file_fill(sqlite3_stmt *st, const void *ctx, void *elem)
{
    (void)ctx;
    struct catalog_file *f = elem;
    col_copy(st, 0, f->name, sizeof f->name);
    f->size = sqlite3_column_int64(st, 1);
    f->created_ns = sqlite3_column_int64(st, 2);
}

static int file_list_locked(struct catalog *c, const char *name, struct catalog_file **out,
                            size_t *n, struct lerr *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = name ? prep(c, err, "SELECT name, size, created_ns FROM file WHERE name = ?",
                                   "s", name)
                            : prep(c, err, "SELECT name, size, created_ns FROM file ORDER BY name",
                                   "");
    if (!st)
        return err->code;
    if (collect_rows(c, st, sizeof **out, file_fill, NULL, NULL, (void **)out, n,
                     "listing files", err))
        return err->code;
    if (name && *n == 0)
        return lerr_set(err, LERR_NOT_FOUND, "no uploaded file named '%s'", name);
    return 0;
}

int catalog_file_list(struct catalog *c, const char *name, struct catalog_file **out, size_t *n,
                      struct lerr *err)
{
    return LOCKED(c, file_list_locked(c, name, out, n, err));
}

static int file_delete_locked(struct catalog *c, const char *name, struct lerr *err)
{
    sqlite3_stmt *st = prep(c, err, "DELETE FROM file WHERE name = ?", "s", name);
    if (!st || step_done(c, st, err, "file"))
        return err->code;
    if (sqlite3_changes(c->db) == 0)
        return lerr_set(err, LERR_NOT_FOUND, "no uploaded file named '%s'", name);
    return 0;
}

int catalog_file_delete(struct catalog *c, const char *name, struct lerr *err)
{
    return LOCKED(c, file_delete_locked(c, name, err));
}
