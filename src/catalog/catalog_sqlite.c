/*
 * catalog_sqlite.c — the SQLite implementation of the catalog operations
 * (catalog_int.h): rows in and out, nothing more; the rules live in
 * catalog.c. Entry point: catalog_sqlite_ops.
 *
 * One connection per handle (catalog.c serialises its use). WAL mode and a
 * busy timeout let other connections — other handles, other processes
 * (`lodestar apikey create`) — read and write the same file at the same
 * time; every write transaction is BEGIN IMMEDIATE, so it holds the write
 * lock from its first read, and what it read cannot change before it
 * commits. Nothing read is kept between calls. The schema is versioned with
 * PRAGMA user_version: migrations[] is applied in order, each in its own
 * transaction, and is only ever appended to.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog_int.h"
#include "util/vec.h"

struct catalog_store {
    sqlite3 *db;
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
    /* 4: lookups for SQL's LOOKUP(): the key → value map is in doc */
    ("CREATE TABLE lookup ("
     "  name TEXT PRIMARY KEY, kind TEXT NOT NULL, doc TEXT NOT NULL,"
     "  created_ns INTEGER NOT NULL, modified_ns INTEGER NOT NULL);"),
    /* 5: API keys managed through the API: a description, when last used */
    ("ALTER TABLE api_key ADD COLUMN description TEXT NOT NULL DEFAULT '';"
     "ALTER TABLE api_key ADD COLUMN last_used_ns INTEGER NOT NULL DEFAULT 0;"),
    /* 6: the servers sharing this catalog (their heartbeats and what they hold) */
    ("CREATE TABLE node ("
     "  id TEXT PRIMARY KEY, advertise TEXT NOT NULL, version TEXT NOT NULL,"
     "  secret_check TEXT NOT NULL, started_ns INTEGER NOT NULL,"
     "  heartbeat_ns INTEGER NOT NULL, info TEXT NOT NULL);"),
    /* 7: leases of stream partitions (which node reads which; the epoch fences commits) */
    ("CREATE TABLE lease ("
     "  table_name TEXT NOT NULL, stream TEXT NOT NULL, part TEXT NOT NULL,"
     "  node_id TEXT NOT NULL, epoch INTEGER NOT NULL, acquired_ns INTEGER NOT NULL,"
     "  expires_ns INTEGER NOT NULL, PRIMARY KEY (table_name, stream, part));"),
    /* 8: the commit counter and each segment's commit number and streaming writer
     * (a query across nodes takes a consistent cut of the segments by it) */
    ("ALTER TABLE segment ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE segment ADD COLUMN writer TEXT NOT NULL DEFAULT '';"
     "CREATE TABLE commit_seq (one INTEGER PRIMARY KEY CHECK (one = 1), seq INTEGER NOT NULL);"
     "INSERT INTO commit_seq VALUES (1, 0);"),
};

static int latest_version(void) { return (int)LS_ARRAY_LEN(migrations); }

static int db_fail(struct catalog_store *c, struct lerr *err, const char *what)
{
    return lerr_set(err, LERR_IO, "catalog: %s failed: %s", what, sqlite3_errmsg(c->db));
}

static int exec_sql(struct catalog_store *c, const char *sql, struct lerr *err)
{
    char *msg = NULL;
    if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        lerr_set(err, LERR_IO, "catalog: %s", msg ? msg : "statement failed");
        sqlite3_free(msg);
        return err->code;
    }
    return 0;
}

/*
 * Migrates to the latest version. The version is read inside the write
 * transaction that applies the next migration: two processes opening a
 * new file at once apply each migration once.
 */
static int read_version(struct catalog_store *c, int *out, struct lerr *err)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
        return db_fail(c, err, "reading the schema version");
    *out = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    return 0;
}

static int migrate(struct catalog_store *c, int *out, struct lerr *err)
{
    int version;
    if (read_version(c, &version, err))
        return err->code;
    if (version == latest_version()) { /* the usual case: no write lock taken */
        *out = version;
        return 0;
    }
    for (;;) {
        if (exec_sql(c, "BEGIN IMMEDIATE", err))
            return err->code;
        if (read_version(c, &version, err)) {
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
            return err->code;
        }
        if (version > latest_version()) {
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
            return lerr_set(err, LERR_INVALID,
                            "catalog: schema version %d is newer than this binary knows (%d); "
                            "run a newer lodestar",
                            version, latest_version());
        }
        if (version == latest_version()) {
            if (exec_sql(c, "COMMIT", err))
                return err->code;
            *out = version;
            return 0;
        }
        char pragma[64];
        snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d;", version + 1);
        if (exec_sql(c, migrations[version], err) || exec_sql(c, pragma, err)) {
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
            return err->code;
        }
        if (exec_sql(c, "COMMIT", err))
            return err->code;
    }
}

static void sq_close(struct catalog_store *c)
{
    if (!c)
        return;
    sqlite3_close(c->db);
    free(c);
}

static int sq_open(const char *path, struct catalog_store **out, int *version, struct lerr *err)
{
    struct catalog_store *c = calloc(1, sizeof *c);
    if (!c)
        return lerr_set(err, LERR_NOMEM, "catalog: out of memory");
    if (sqlite3_open_v2(path, &c->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK) {
        lerr_set(err, LERR_IO, "catalog: cannot open %s: %s", path,
                 c->db ? sqlite3_errmsg(c->db) : "out of memory");
        sq_close(c);
        return err->code;
    }
    sqlite3_busy_timeout(c->db, 5000);
    if (exec_sql(c,
                 "PRAGMA journal_mode=WAL; PRAGMA foreign_keys=ON; "
                 "PRAGMA synchronous=FULL;",
                 err) ||
        migrate(c, version, err)) {
        sq_close(c);
        return err->code;
    }
    *out = c;
    return 0;
}

static int sq_begin(struct catalog_store *c, struct lerr *err)
{
    return exec_sql(c, "BEGIN IMMEDIATE", err);
}

/* A deferred transaction: one snapshot (WAL) for its reads, no write lock. */
static int sq_begin_read(struct catalog_store *c, struct lerr *err)
{
    return exec_sql(c, "BEGIN", err);
}

static int sq_commit(struct catalog_store *c, struct lerr *err)
{
    return exec_sql(c, "COMMIT", err);
}

static void sq_rollback(struct catalog_store *c)
{
    sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- statement helpers ------------------------------------------------ */

/*
 * A prepared statement with its arguments bound from a format string:
 * 's' text (NULL binds SQL NULL), 'i' int64. Returns NULL and sets err.
 */
static sqlite3_stmt *prep(struct catalog_store *c, struct lerr *err, const char *sql,
                          const char *fmt, ...)
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

/*
 * Steps a statement that returns no rows; maps a UNIQUE failure to CONFLICT.
 * *changed (may be NULL) gets the rows it changed.
 */
static int step_done(struct catalog_store *c, sqlite3_stmt *st, struct lerr *err, const char *what,
                     int64_t *changed)
{
    int rc = sqlite3_step(st);
    int ext = sqlite3_extended_errcode(c->db);
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE) {
        if (changed)
            *changed = sqlite3_changes(c->db);
        return 0;
    }
    if (ext == SQLITE_CONSTRAINT_PRIMARYKEY || ext == SQLITE_CONSTRAINT_UNIQUE)
        return lerr_set(err, LERR_CONFLICT, "%s already exists", what);
    return db_fail(c, err, what);
}

/* prep + step_done */
#define RUN(c, err, what, changed, sql, ...)                               \
    ({                                                                     \
        sqlite3_stmt *st_ = prep((c), (err), (sql), __VA_ARGS__);          \
        st_ ? step_done((c), st_, (err), (what), (changed)) : (err)->code; \
    })

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
 * Steps a statement that returns at most one row: *found says whether it
 * did, and fill(st, out) copies it. Finalizes st.
 */
static int step_one(struct catalog_store *c, sqlite3_stmt *st,
                    void (*fill)(sqlite3_stmt *, void *), void *out, bool *found, const char *what,
                    struct lerr *err)
{
    if (!st)
        return err->code;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        fill(st, out);
    sqlite3_finalize(st);
    *found = rc == SQLITE_ROW;
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return 0;
    return db_fail(c, err, what);
}

/*
 * Steps st to its end, appending one element of `elem` bytes per row, filled
 * by fill(st, ctx, element). Finalizes st. On failure frees the elements
 * filled so far with free_elem (may be NULL) and returns the error.
 */
typedef void (*row_fill_fn)(sqlite3_stmt *st, const void *ctx, void *elem);
typedef void (*elem_free_fn)(void *elem);

static int collect_rows(struct catalog_store *c, sqlite3_stmt *st, size_t elem, row_fill_fn fill,
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

/* ---- project and keys ---------------------------------------------------- */

static void project_fill(sqlite3_stmt *st, void *elem)
{
    struct catalog_project *p = elem;
    col_copy(st, 0, p->id, sizeof p->id);
    col_copy(st, 1, p->name, sizeof p->name);
    p->created_ns = sqlite3_column_int64(st, 2);
}

static int sq_project_get_default(struct catalog_store *c, struct catalog_project *out,
                                  bool *found, struct lerr *err)
{
    sqlite3_stmt *st =
        prep(c, err, "SELECT id, name, created_ns FROM project WHERE is_default = 1", "");
    return step_one(c, st, project_fill, out, found, "reading the project", err);
}

static int sq_project_insert(struct catalog_store *c, const struct catalog_project *p,
                             struct lerr *err)
{
    return RUN(c, err, "project", NULL,
               "INSERT INTO project (id, name, is_default, created_ns) VALUES (?, ?, 1, ?)", "ssi",
               p->id, p->name, p->created_ns);
}

static int sq_apikey_count(struct catalog_store *c, int64_t *out, struct lerr *err)
{
    sqlite3_stmt *st = prep(c, err, "SELECT COUNT(*) FROM api_key", "");
    if (!st)
        return err->code;
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : db_fail(c, err, "counting API keys");
}

static int sq_apikey_insert(struct catalog_store *c, const struct catalog_apikey *k,
                            struct lerr *err)
{
    return RUN(c, err, "API key", NULL,
               "INSERT INTO api_key (id, name, hash, permissions, created_ns, description) "
               "VALUES (?, ?, ?, ?, ?, ?)",
               "ssssis", k->id, k->name, k->hash, k->permissions, k->created_ns, k->description);
}

#define APIKEY_COLS "id, name, hash, permissions, created_ns, description, last_used_ns"

static void apikey_fill(sqlite3_stmt *st, void *elem)
{
    struct catalog_apikey *k = elem;
    col_copy(st, 0, k->id, sizeof k->id);
    col_copy(st, 1, k->name, sizeof k->name);
    col_copy(st, 2, k->hash, sizeof k->hash);
    col_copy(st, 3, k->permissions, sizeof k->permissions);
    k->created_ns = sqlite3_column_int64(st, 4);
    col_copy(st, 5, k->description, sizeof k->description);
    k->last_used_ns = sqlite3_column_int64(st, 6);
}

static int sq_apikey_by_hash(struct catalog_store *c, const char *hash, struct catalog_apikey *out,
                             bool *found, struct lerr *err)
{
    sqlite3_stmt *st =
        prep(c, err, "SELECT " APIKEY_COLS " FROM api_key WHERE hash = ?", "s", hash);
    return step_one(c, st, apikey_fill, out, found, "looking up an API key", err);
}

static void apikey_row(sqlite3_stmt *st, const void *ctx, void *elem)
{
    (void)ctx;
    apikey_fill(st, elem);
}

static int sq_apikey_list(struct catalog_store *c, const char *id, struct catalog_apikey **out,
                          size_t *n, struct lerr *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st =
        id ? prep(c, err, "SELECT " APIKEY_COLS " FROM api_key WHERE id = ?", "s", id)
           : prep(c, err, "SELECT " APIKEY_COLS " FROM api_key ORDER BY name", "");
    if (!st)
        return err->code;
    return collect_rows(c, st, sizeof **out, apikey_row, NULL, NULL, (void **)out, n,
                        "listing API keys", err);
}

static int sq_apikey_delete(struct catalog_store *c, const char *id, int64_t *changed,
                            struct lerr *err)
{
    return RUN(c, err, "API key", changed, "DELETE FROM api_key WHERE id = ?", "s", id);
}

static int sq_apikey_touch(struct catalog_store *c, const char *id, int64_t now_ns,
                           struct lerr *err)
{
    return RUN(c, err, "API key", NULL, "UPDATE api_key SET last_used_ns = ? WHERE id = ?", "is",
               now_ns, id);
}

/* ---- documents ---------------------------------------------------------- */

static const char *doc_table(enum catalog_doc_type t)
{
    return t == CATALOG_TABLE ? "tbl" : t == CATALOG_LOOKUP ? "lookup" : "connection";
}

static const char *doc_noun(enum catalog_doc_type t)
{
    return t == CATALOG_TABLE ? "table" : t == CATALOG_LOOKUP ? "lookup" : "connection";
}

static int sq_doc_insert(struct catalog_store *c, enum catalog_doc_type t,
                         const struct catalog_doc *d, struct lerr *err)
{
    if (t != CATALOG_CONNECTION) {
        char sql[160];
        snprintf(
            sql, sizeof sql,
            "INSERT INTO %s (name, kind, doc, created_ns, modified_ns) VALUES (?, ?, ?, ?, ?)",
            doc_table(t));
        return RUN(c, err, doc_noun(t), NULL, sql, "sssii", d->name, d->kind, d->doc,
                   d->created_ns, d->modified_ns);
    }
    return RUN(c, err, doc_noun(t), NULL,
               "INSERT INTO connection (name, kind, doc, created_ns, modified_ns, secret) "
               "VALUES (?, ?, ?, ?, ?, ?)",
               "sssiis", d->name, d->kind, d->doc, d->created_ns, d->modified_ns, d->secret);
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

static sqlite3_stmt *doc_select(struct catalog_store *c, enum catalog_doc_type t, const char *name,
                                struct lerr *err)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT name, kind, doc, created_ns, modified_ns%s FROM %s %s",
             t == CATALOG_CONNECTION ? ", secret" : "", doc_table(t),
             name ? "WHERE name = ?" : "ORDER BY name");
    return name ? prep(c, err, sql, "s", name) : prep(c, err, sql, "");
}

static void table_doc_fill(sqlite3_stmt *st, void *elem) { doc_from_row(CATALOG_TABLE, st, elem); }

static void conn_doc_fill(sqlite3_stmt *st, void *elem)
{
    doc_from_row(CATALOG_CONNECTION, st, elem);
}

static int sq_doc_get(struct catalog_store *c, enum catalog_doc_type t, const char *name,
                      struct catalog_doc *out, bool *found, struct lerr *err)
{
    return step_one(c, doc_select(c, t, name, err),
                    t == CATALOG_CONNECTION ? conn_doc_fill : table_doc_fill, out, found,
                    "reading a document", err);
}

static void doc_fill(sqlite3_stmt *st, const void *ctx, void *elem)
{
    doc_from_row(*(const enum catalog_doc_type *)ctx, st, elem);
}

static void doc_free(void *elem) { catalog_doc_destroy(elem); }

static int sq_doc_list(struct catalog_store *c, enum catalog_doc_type t,
                       struct catalog_doc_list *out, struct lerr *err)
{
    out->items = NULL;
    out->n = 0;
    sqlite3_stmt *st = doc_select(c, t, NULL, err);
    if (!st)
        return err->code;
    return collect_rows(c, st, sizeof *out->items, doc_fill, &t, doc_free, (void **)&out->items,
                        &out->n, "listing documents", err);
}

static int sq_doc_update(struct catalog_store *c, enum catalog_doc_type t,
                         const struct catalog_doc *d, int64_t *changed, struct lerr *err)
{
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE %s SET doc = ?, modified_ns = ?%s WHERE name = ?",
             doc_table(t), (t == CATALOG_CONNECTION && d->secret) ? ", secret = ?" : "");
    if (t == CATALOG_CONNECTION && d->secret)
        return RUN(c, err, doc_noun(t), changed, sql, "siss", d->doc, d->modified_ns, d->secret,
                   d->name);
    return RUN(c, err, doc_noun(t), changed, sql, "sis", d->doc, d->modified_ns, d->name);
}

static int sq_doc_delete(struct catalog_store *c, enum catalog_doc_type t, const char *name,
                         int64_t *changed, struct lerr *err)
{
    char sql[128];
    snprintf(sql, sizeof sql, "DELETE FROM %s WHERE name = ?", doc_table(t));
    return RUN(c, err, doc_noun(t), changed, sql, "s", name);
}

/* ---- jobs -------------------------------------------------------------- */

#define JOB_COLUMNS                                                                          \
    "id, type, table_name, connection_name, desired, status, health, health_message, spec, " \
    "created_by, modified_by, created_ns, updated_ns, started_ns, completed_ns, "            \
    "reset_generation"

static void job_from_row(sqlite3_stmt *st, struct catalog_job *j)
{
    col_copy(st, 0, j->id, sizeof j->id);
    /* A type this version does not know (written by a newer one) reads as batch: the
     * runtime then only fails it if it was running, as for a batch job cut short. */
    int v = catalog_job_type_parse((const char *)sqlite3_column_text(st, 1));
    j->type = v < 0 ? CATALOG_JOB_BATCH : (enum catalog_job_type)v;
    col_copy(st, 2, j->table_name, sizeof j->table_name);
    col_copy(st, 3, j->connection_name, sizeof j->connection_name);
    /* A name this version does not know (written by a newer one) reads as failed/error:
     * the runtime then leaves the job alone. */
    v = catalog_job_state_parse((const char *)sqlite3_column_text(st, 4));
    j->desired = v < 0 ? CATALOG_JOB_SUSPENDED : (enum catalog_job_state)v;
    v = catalog_job_state_parse((const char *)sqlite3_column_text(st, 5));
    j->status = v < 0 ? CATALOG_JOB_FAILED : (enum catalog_job_state)v;
    v = catalog_health_parse((const char *)sqlite3_column_text(st, 6));
    j->health = v < 0 ? CATALOG_HEALTH_ERROR : (enum catalog_health)v;
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

struct live_job {
    char *id, *type;
};

static void live_fill(sqlite3_stmt *st, void *elem)
{
    struct live_job *l = elem;
    col_copy(st, 0, l->id, 37);
    col_copy(st, 1, l->type, 16);
}

static int sq_job_live_using(struct catalog_store *c, enum catalog_doc_type t, const char *name,
                             char id[37], char type[16], struct lerr *err)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT id, type FROM job WHERE %s = ? AND status NOT IN "
             "('canceled', 'failed', 'succeeded') LIMIT 1",
             t == CATALOG_TABLE ? "table_name" : "connection_name");
    id[0] = type[0] = '\0';
    struct live_job l = {id, type};
    bool found;
    return step_one(c, prep(c, err, sql, "s", name), live_fill, &l, &found, "finding live jobs",
                    err);
}

static int sq_job_insert(struct catalog_store *c, const struct catalog_job *j, struct lerr *err)
{
    return RUN(c, err, "job", NULL,
               "INSERT INTO job (" JOB_COLUMNS ") VALUES "
               "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
               "sssssssssssiiii", j->id, catalog_job_type_name(j->type), j->table_name,
               j->connection_name, catalog_job_state_name(j->desired),
               catalog_job_state_name(j->status), catalog_health_name(j->health),
               j->health_message, j->spec, j->created_by, j->modified_by, j->created_ns,
               j->updated_ns, j->started_ns, j->completed_ns);
}

static void job_get_fill(sqlite3_stmt *st, void *elem) { job_from_row(st, elem); }

static int sq_job_get(struct catalog_store *c, const char *id, struct catalog_job *out,
                      bool *found, struct lerr *err)
{
    return step_one(c, prep(c, err, "SELECT " JOB_COLUMNS " FROM job WHERE id = ?", "s", id),
                    job_get_fill, out, found, "reading a job", err);
}

static void job_fill(sqlite3_stmt *st, const void *ctx, void *elem)
{
    (void)ctx;
    job_from_row(st, elem);
}

static void job_free(void *elem) { catalog_job_destroy(elem); }

static int sq_job_list(struct catalog_store *c, enum catalog_job_filter f, const char *table,
                       struct catalog_job_list *out, struct lerr *err)
{
    static const char *const active =
        "WHERE (desired = 'running' AND status IN ('pending', 'running', 'suspended')) "
        "OR (desired = 'suspended' AND status IN ('pending', 'running')) "
        "OR (desired = 'canceled' AND status NOT IN ('canceled', 'succeeded', 'failed'))";
    out->items = NULL;
    out->n = 0;
    const char *where = f == CATALOG_JOBS_ACTIVE     ? active
                        : f == CATALOG_JOBS_OF_TABLE ? "WHERE table_name = ?"
                                                     : "";
    char sql[700];
    snprintf(sql, sizeof sql, "SELECT " JOB_COLUMNS " FROM job %s ORDER BY created_ns DESC, id",
             where);
    sqlite3_stmt *st = f == CATALOG_JOBS_OF_TABLE ? prep(c, err, sql, "s", table)
                                                  : prep(c, err, sql, "");
    if (!st)
        return err->code;
    return collect_rows(c, st, sizeof *out->items, job_fill, NULL, job_free, (void **)&out->items,
                        &out->n, "listing jobs", err);
}

static int sq_job_update_state(struct catalog_store *c, const struct catalog_job *j,
                               int64_t *changed, struct lerr *err)
{
    return RUN(c, err, "job", changed,
               "UPDATE job SET desired = ?, status = ?, health = ?, "
               "health_message = ?, modified_by = ?, updated_ns = ?, "
               "started_ns = ?, completed_ns = ? WHERE id = ?",
               "sssssiiis", catalog_job_state_name(j->desired), catalog_job_state_name(j->status),
               catalog_health_name(j->health), j->health_message, j->modified_by, j->updated_ns,
               j->started_ns, j->completed_ns, j->id);
}

static int sq_job_set_status(struct catalog_store *c, const char *id,
                             enum catalog_job_state status, enum catalog_health health,
                             const char *msg, int64_t started_ns, int64_t completed_ns,
                             int64_t now, int64_t *changed, struct lerr *err)
{
    return RUN(c, err, "job", changed,
               "UPDATE job SET status = ?, health = ?, health_message = ?, "
               "updated_ns = ?, "
               "started_ns = CASE WHEN ? = 0 THEN started_ns ELSE ? END, "
               "completed_ns = CASE WHEN ? = 0 THEN completed_ns ELSE ? END "
               "WHERE id = ?",
               "sssiiiiis", catalog_job_state_name(status), catalog_health_name(health),
               msg ? msg : "", now, started_ns, started_ns, completed_ns, completed_ns, id);
}

static int sq_job_set_desired(struct catalog_store *c, const char *id,
                              enum catalog_job_state desired_state, const char *modified_by,
                              int64_t now, int64_t *changed, struct lerr *err)
{
    const char *desired = catalog_job_state_name(desired_state);
    return RUN(c, err, "job", changed,
               "UPDATE job SET desired = ?, modified_by = ?, updated_ns = ?, "
               "status = CASE WHEN ? = 'running' AND status IN ('suspended', "
               "'failed') THEN 'pending' ELSE status END, "
               "health = CASE WHEN ? = 'running' AND status IN ('suspended', "
               "'failed') THEN 'ok' ELSE health END, "
               "health_message = CASE WHEN ? = 'running' AND status IN "
               "('suspended', 'failed') THEN '' ELSE health_message END "
               "WHERE id = ?",
               "ssissss", desired, modified_by, now, desired, desired, desired, id);
}

static int sq_job_bump_reset(struct catalog_store *c, const char *id, int64_t now,
                             int64_t *changed, struct lerr *err)
{
    return RUN(c, err, "job", changed,
               "UPDATE job SET reset_generation = reset_generation + 1, updated_ns = ? "
               "WHERE id = ?",
               "is", now, id);
}

static void text_fill(sqlite3_stmt *st, void *elem) { *(char **)elem = col_dup(st, 0); }

static int sq_job_counters_get(struct catalog_store *c, const char *job_id, char **out,
                               bool *found, struct lerr *err)
{
    *out = NULL;
    return step_one(
        c, prep(c, err, "SELECT counters FROM job_counters WHERE job_id = ?", "s", job_id),
        text_fill, out, found, "reading job counters", err);
}

static void node_counters_fill(sqlite3_stmt *st, const void *ctx, void *elem)
{
    size_t skip = *(const size_t *)ctx;
    struct catalog_node_counters *x = elem;
    const unsigned char *k = sqlite3_column_text(st, 0);
    snprintf(x->node, sizeof x->node, "%s",
             k && strlen((const char *)k) > skip ? (const char *)k + skip : "");
    x->counters = col_dup(st, 1);
}

static void node_counters_free1(void *elem)
{
    free(((struct catalog_node_counters *)elem)->counters);
}

static int sq_job_counters_nodes(struct catalog_store *c, const char *job_id,
                                 struct catalog_node_counters **out, size_t *n, struct lerr *err)
{
    char pat[200];
    snprintf(pat, sizeof pat, "%s@%%", job_id);
    size_t skip = strlen(job_id) + 1;
    sqlite3_stmt *st = prep(c, err,
                            "SELECT job_id, counters FROM job_counters WHERE job_id LIKE ? "
                            "ORDER BY job_id",
                            "s", pat);
    if (!st)
        return err->code;
    return collect_rows(c, st, sizeof **out, node_counters_fill, &skip, node_counters_free1,
                        (void **)out, n, "reading job counters", err);
}

static int sq_job_counters_put(struct catalog_store *c, const char *job_id, const char *counters,
                               int64_t now, struct lerr *err)
{
    return RUN(c, err, "job counters", NULL,
               "INSERT INTO job_counters (job_id, counters, updated_ns) "
               "VALUES (?, ?, ?) ON CONFLICT (job_id) DO UPDATE SET "
               "counters = excluded.counters, updated_ns = excluded.updated_ns",
               "ssi", job_id, counters, now);
}

/* ---- checkpoints --------------------------------------------------------- */

static int sq_checkpoint_get(struct catalog_store *c, const char *table, const char *stream,
                             char **out, bool *found, struct lerr *err)
{
    *out = NULL;
    return step_one(c,
                    prep(c, err,
                         "SELECT offsets FROM checkpoint WHERE table_name = ? AND stream = ?",
                         "ss", table, stream),
                    text_fill, out, found, "reading a checkpoint", err);
}

static int sq_checkpoint_put(struct catalog_store *c, const char *table, const char *stream,
                             const char *offsets, int64_t now, struct lerr *err)
{
    return RUN(c, err, "checkpoint", NULL,
               "INSERT INTO checkpoint (table_name, stream, offsets, updated_ns) "
               "VALUES (?, ?, ?, ?) ON CONFLICT (table_name, stream) DO UPDATE "
               "SET offsets = excluded.offsets, updated_ns = excluded.updated_ns",
               "sssi", table, stream, offsets, now);
}

/*
 * Read, compare and write in one write transaction: inside the caller's
 * (catalog_commit), or a transaction of its own. BEGIN IMMEDIATE holds the
 * write lock, so no other connection can move the row in between.
 */
static int sq_checkpoint_cas(struct catalog_store *c, const char *table, const char *stream,
                             const char *expected, const char *offsets, int64_t now, bool *swapped,
                             struct lerr *err)
{
    bool own = sqlite3_get_autocommit(c->db) != 0;
    if (own && sq_begin(c, err))
        return err->code;
    char *cur = NULL;
    bool found;
    *swapped = false;
    if (sq_checkpoint_get(c, table, stream, &cur, &found, err))
        goto fail;
    bool same = (!found && !expected) || (found && expected && cur && strcmp(cur, expected) == 0);
    free(cur);
    if (same) {
        if (sq_checkpoint_put(c, table, stream, offsets, now, err))
            goto fail;
        *swapped = true;
    }
    if (own && sq_commit(c, err))
        goto fail;
    return 0;
fail:
    *swapped = false;
    if (own)
        sq_rollback(c);
    return err->code;
}

static int sq_checkpoint_delete(struct catalog_store *c, const char *table, const char *stream,
                                bool other_streams, int64_t *changed, struct lerr *err)
{
    if (table && stream)
        return RUN(c, err, "checkpoint", changed,
                   other_streams ? "DELETE FROM checkpoint WHERE table_name = ? AND stream <> ?"
                                 : "DELETE FROM checkpoint WHERE table_name = ? AND stream = ?",
                   "ss", table, stream);
    if (table)
        return RUN(c, err, "checkpoint", changed, "DELETE FROM checkpoint WHERE table_name = ?",
                   "s", table);
    return RUN(c, err, "checkpoint", changed,
               other_streams ? "DELETE FROM checkpoint WHERE stream <> ?"
                             : "DELETE FROM checkpoint WHERE stream = ?",
               "s", stream);
}

/* ---- segments ------------------------------------------------------------ */

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
    g->seq = sqlite3_column_int64(st, 10);
    col_copy(st, 11, g->writer, sizeof g->writer);
}

static int sq_segment_list(struct catalog_store *c, const char *table,
                           struct catalog_segment_list *out, struct lerr *err)
{
    out->items = NULL;
    out->n = 0;
    const char *cols = "SELECT id, table_name, path, chunk_start, chunk_end, min_time, max_time, "
                       "rows, bytes, created_ns, seq, writer FROM segment ";
    char sql[400];
    snprintf(sql, sizeof sql, "%s%s ORDER BY table_name, chunk_start, created_ns, id", cols,
             table ? "WHERE table_name = ?" : "");
    sqlite3_stmt *st = table ? prep(c, err, sql, "s", table) : prep(c, err, sql, "");
    if (!st)
        return err->code;
    return collect_rows(c, st, sizeof *out->items, segment_fill, NULL, NULL, (void **)&out->items,
                        &out->n, "listing segments", err);
}

static int sq_segment_insert(struct catalog_store *c, const char *table,
                             const struct catalog_segment *g, int64_t created_ns, struct lerr *err)
{
    return RUN(c, err, "segment", NULL,
               "INSERT INTO segment (id, table_name, path, chunk_start, "
               "chunk_end, min_time, max_time, rows, bytes, created_ns, seq, writer) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               "sssiiiiiiiis", g->id, table, g->path, g->chunk_start, g->chunk_end, g->min_time,
               g->max_time, g->rows, g->bytes, created_ns, g->seq, g->writer);
}

static void i64_fill(sqlite3_stmt *st, void *elem)
{
    *(int64_t *)elem = sqlite3_column_int64(st, 0);
}

static int sq_commit_seq(struct catalog_store *c, bool bump, int64_t *out, struct lerr *err)
{
    *out = 0;
    if (bump && RUN(c, err, "commit_seq", NULL, "UPDATE commit_seq SET seq = seq + 1", ""))
        return err->code;
    bool found;
    return step_one(c, prep(c, err, "SELECT seq FROM commit_seq", ""), i64_fill, out, &found,
                    "reading the commit counter", err);
}

static int sq_segment_delete(struct catalog_store *c, const char *table, const char *id,
                             int64_t *changed, struct lerr *err)
{
    if (id)
        return RUN(c, err, "segment", changed,
                   "DELETE FROM segment WHERE id = ? AND table_name = ?", "ss", id, table);
    return RUN(c, err, "segment", changed, "DELETE FROM segment WHERE table_name = ?", "s", table);
}

/* ---- uploaded files -------------------------------------------------------- */

static int sq_file_put(struct catalog_store *c, const char *name, int64_t size, int64_t now,
                       struct lerr *err)
{
    return RUN(c, err, "file", NULL,
               "INSERT INTO file (name, size, created_ns) VALUES (?, ?, ?) "
               "ON CONFLICT (name) DO UPDATE SET size = excluded.size, "
               "created_ns = excluded.created_ns",
               "sii", name, size, now);
}

static void file_fill(sqlite3_stmt *st, const void *ctx, void *elem)
{
    (void)ctx;
    struct catalog_file *f = elem;
    col_copy(st, 0, f->name, sizeof f->name);
    f->size = sqlite3_column_int64(st, 1);
    f->created_ns = sqlite3_column_int64(st, 2);
}

static int sq_file_list(struct catalog_store *c, const char *name, struct catalog_file **out,
                        size_t *n, struct lerr *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st =
        name ? prep(c, err, "SELECT name, size, created_ns FROM file WHERE name = ?", "s", name)
             : prep(c, err, "SELECT name, size, created_ns FROM file ORDER BY name", "");
    if (!st)
        return err->code;
    return collect_rows(c, st, sizeof **out, file_fill, NULL, NULL, (void **)out, n,
                        "listing files", err);
}

static int sq_file_delete(struct catalog_store *c, const char *name, int64_t *changed,
                          struct lerr *err)
{
    return RUN(c, err, "file", changed, "DELETE FROM file WHERE name = ?", "s", name);
}

/* ---- cluster nodes ---------------------------------------------------------- */

static int sq_node_put(struct catalog_store *c, const struct catalog_node *n, struct lerr *err)
{
    return RUN(c, err, "node", NULL,
               "INSERT INTO node (id, advertise, version, secret_check, started_ns, heartbeat_ns, "
               "info) VALUES (?, ?, ?, ?, ?, ?, COALESCE(?, '{}')) "
               "ON CONFLICT (id) DO UPDATE SET advertise = excluded.advertise, "
               "version = excluded.version, secret_check = excluded.secret_check, "
               "started_ns = excluded.started_ns, heartbeat_ns = excluded.heartbeat_ns, "
               "info = COALESCE(?, node.info)",
               "ssssiiss", n->id, n->advertise, n->version, n->secret_check, n->started_ns,
               n->heartbeat_ns, n->info, n->info);
}

static void node_fill(sqlite3_stmt *st, const void *ctx, void *elem)
{
    (void)ctx;
    struct catalog_node *n = elem;
    col_copy(st, 0, n->id, sizeof n->id);
    col_copy(st, 1, n->advertise, sizeof n->advertise);
    col_copy(st, 2, n->version, sizeof n->version);
    col_copy(st, 3, n->secret_check, sizeof n->secret_check);
    n->started_ns = sqlite3_column_int64(st, 4);
    n->heartbeat_ns = sqlite3_column_int64(st, 5);
    n->info = col_dup(st, 6);
}

static void node_free(void *elem) { free(((struct catalog_node *)elem)->info); }

static int sq_node_list(struct catalog_store *c, struct catalog_node **out, size_t *n,
                        struct lerr *err)
{
    *out = NULL;
    *n = 0;
    sqlite3_stmt *st = prep(c, err,
                            "SELECT id, advertise, version, secret_check, started_ns, "
                            "heartbeat_ns, info FROM node ORDER BY id",
                            "");
    if (!st)
        return err->code;
    return collect_rows(c, st, sizeof **out, node_fill, NULL, node_free, (void **)out, n,
                        "listing nodes", err);
}

static int sq_node_delete(struct catalog_store *c, const char *id, int64_t *changed,
                          struct lerr *err)
{
    return RUN(c, err, "node", changed, "DELETE FROM node WHERE id = ?", "s", id);
}

/* ---- leases ------------------------------------------------------------------ */

#define LEASE_COLS "table_name, stream, part, node_id, epoch, acquired_ns, expires_ns"

static void lease_fill(sqlite3_stmt *st, const void *ctx, void *elem)
{
    (void)ctx;
    struct catalog_lease *l = elem;
    memset(l, 0, sizeof *l);
    col_copy(st, 0, l->table_name, sizeof l->table_name);
    col_copy(st, 1, l->stream, sizeof l->stream);
    col_copy(st, 2, l->part, sizeof l->part);
    col_copy(st, 3, l->node_id, sizeof l->node_id);
    l->epoch = sqlite3_column_int64(st, 4);
    l->acquired_ns = sqlite3_column_int64(st, 5);
    l->expires_ns = sqlite3_column_int64(st, 6);
}

static int sq_lease_list(struct catalog_store *c, const char *table, const char *stream,
                         const char *part, struct catalog_lease **out, size_t *n, struct lerr *err)
{
    *out = NULL;
    *n = 0;
    const char *order = " ORDER BY table_name, stream, part";
    char sql[300];
    sqlite3_stmt *st;
    if (!table) {
        snprintf(sql, sizeof sql, "SELECT " LEASE_COLS " FROM lease%s", order);
        st = prep(c, err, sql, "");
    } else if (!stream) {
        snprintf(sql, sizeof sql, "SELECT " LEASE_COLS " FROM lease WHERE table_name = ?%s",
                 order);
        st = prep(c, err, sql, "s", table);
    } else if (!part) {
        snprintf(sql, sizeof sql,
                 "SELECT " LEASE_COLS " FROM lease WHERE table_name = ? AND stream = ?%s", order);
        st = prep(c, err, sql, "ss", table, stream);
    } else {
        st = prep(c, err,
                  "SELECT " LEASE_COLS
                  " FROM lease WHERE table_name = ? AND stream = ? AND part = ?",
                  "sss", table, stream, part);
    }
    if (!st)
        return err->code;
    return collect_rows(c, st, sizeof **out, lease_fill, NULL, NULL, (void **)out, n,
                        "listing leases", err);
}

static int sq_lease_put(struct catalog_store *c, const struct catalog_lease *l, struct lerr *err)
{
    return RUN(c, err, "lease", NULL,
               "INSERT INTO lease (" LEASE_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?) "
               "ON CONFLICT (table_name, stream, part) DO UPDATE SET node_id = excluded.node_id, "
               "epoch = excluded.epoch, acquired_ns = excluded.acquired_ns, "
               "expires_ns = excluded.expires_ns",
               "ssssiii", l->table_name, l->stream, l->part, l->node_id, l->epoch, l->acquired_ns,
               l->expires_ns);
}

static int sq_lease_delete(struct catalog_store *c, const char *table, const char *stream,
                           int64_t *changed, struct lerr *err)
{
    if (stream)
        return RUN(c, err, "lease", changed,
                   "DELETE FROM lease WHERE table_name = ? AND stream = ?", "ss", table, stream);
    return RUN(c, err, "lease", changed, "DELETE FROM lease WHERE table_name = ?", "s", table);
}

const struct catalog_ops catalog_sqlite_ops = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .latest_schema_version = latest_version,
    .begin = sq_begin,
    .begin_read = sq_begin_read,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .project_get_default = sq_project_get_default,
    .project_insert = sq_project_insert,
    .apikey_count = sq_apikey_count,
    .apikey_insert = sq_apikey_insert,
    .apikey_by_hash = sq_apikey_by_hash,
    .apikey_list = sq_apikey_list,
    .apikey_delete = sq_apikey_delete,
    .apikey_touch = sq_apikey_touch,
    .doc_insert = sq_doc_insert,
    .doc_get = sq_doc_get,
    .doc_list = sq_doc_list,
    .doc_update = sq_doc_update,
    .doc_delete = sq_doc_delete,
    .job_live_using = sq_job_live_using,
    .job_insert = sq_job_insert,
    .job_get = sq_job_get,
    .job_list = sq_job_list,
    .job_update_state = sq_job_update_state,
    .job_set_status = sq_job_set_status,
    .job_set_desired = sq_job_set_desired,
    .job_bump_reset = sq_job_bump_reset,
    .job_counters_get = sq_job_counters_get,
    .job_counters_put = sq_job_counters_put,
    .job_counters_nodes = sq_job_counters_nodes,
    .checkpoint_get = sq_checkpoint_get,
    .checkpoint_put = sq_checkpoint_put,
    .checkpoint_cas = sq_checkpoint_cas,
    .checkpoint_delete = sq_checkpoint_delete,
    .segment_list = sq_segment_list,
    .segment_insert = sq_segment_insert,
    .commit_seq = sq_commit_seq,
    .segment_delete = sq_segment_delete,
    .file_put = sq_file_put,
    .file_list = sq_file_list,
    .file_delete = sq_file_delete,
    .node_put = sq_node_put,
    .node_list = sq_node_list,
    .node_delete = sq_node_delete,
    .lease_list = sq_lease_list,
    .lease_put = sq_lease_put,
    .lease_delete = sq_lease_delete,
};
